/* Stage 2's C part: check the kernel ELF64 file that the real-mode code read into
 * KERNEL_BUF, copy its PT_LOAD segments to their physical addresses, and map them at
 * their higher-half virtual addresses with 4 KiB pages and per-segment permissions.
 *
 * Runs in 64-bit long mode on the identity map that stage2.asm built (0..IDENTITY_MAP_END,
 * 2 MiB pages), with interrupts off. Every check that fails says what failed, stops Bochs
 * (magic breakpoint) and halts: no reboot loop. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "bochs.h"
#include "bootinfo.h"
#include "console.h"
#include "kprintf.h"
#include "string.h"

/* struc boot_layout in boot/common.inc: the table scripts/mkimage writes into the MBR. */
struct boot_layout {
    uint16_t magic;
    uint32_t stage2_lba;
    uint16_t stage2_sectors;
    uint32_t kernel_lba;
    uint32_t kernel_bytes;
} __attribute__((packed));

/* struc boot_info in boot/common.inc must match src/bootinfo.h. */
_Static_assert(offsetof(struct boot_info, boot_drive) == 8, "boot_info layout");
_Static_assert(offsetof(struct boot_info, e820_count) == 12, "boot_info layout");
_Static_assert(offsetof(struct boot_info, kernel_phys_start) == 16, "boot_info layout");
_Static_assert(offsetof(struct boot_info, kernel_entry) == 32, "boot_info layout");
_Static_assert(offsetof(struct boot_info, e820) == 40, "boot_info layout");
_Static_assert(sizeof(struct e820_entry) == 24, "e820 entry");

/* ELF64 (System V gABI; x86-64 psABI for EM_X86_64). */
struct elf64_ehdr {
    unsigned char e_ident[16];
    uint16_t e_type, e_machine;
    uint32_t e_version;
    uint64_t e_entry, e_phoff, e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
};

struct elf64_phdr {
    uint32_t p_type, p_flags;
    uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
};

enum {
    ELFCLASS64 = 2, ELFDATA2LSB = 1, ET_EXEC = 2, EM_X86_64 = 62,
    PT_LOAD = 1, PF_X = 1, PF_W = 2,
};

/* 4-level paging entry bits (SDM Vol 3A §4.5, Tables 4-14 to 4-20). */
#define PTE_P (1ul << 0)
#define PTE_W (1ul << 1)
#define PTE_PS (1ul << 7)
#define PTE_NX (1ul << 63)
#define PTE_ADDR 0x000ffffffffff000ul
#define PAGE_SIZE 0x1000ul

#define HIGHER_HALF 0xffffffff80000000ul

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;
    kprintf("\nloader: ");
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
    kprintf("\nloader: halted.\n");
    for (;;) {
        BOCHS_BREAK();
        __asm__ volatile("cli; hlt");
    }
}

/* Page tables for the kernel come from PT_BASE+3000h (after the identity map's PML4,
 * PDPT and PD) up to PT_END. */
struct pt_pool {
    uint64_t next;
};

static uint64_t *pt_alloc(struct pt_pool *pool)
{
    if (pool->next + PAGE_SIZE > PT_END)
        fail("out of page-table memory (PT_BASE..PT_END = 0x%x..0x%x)", PT_BASE, PT_END);
    uint64_t *table = (uint64_t *)pool->next;
    pool->next += PAGE_SIZE;
    memset(table, 0, PAGE_SIZE);
    return table;
}

static uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

/* Map one 4 KiB page. Upper levels are P|W without NX so that the leaf alone decides
 * (the effective permission is the most restrictive over all levels, SDM §4.6). */
static void map_page(struct pt_pool *pool, uint64_t virt, uint64_t phys, uint64_t flags)
{
    uint64_t *table = (uint64_t *)(read_cr3() & PTE_ADDR);
    for (int shift = 39; shift > 12; shift -= 9) {
        uint64_t *entry = &table[(virt >> shift) & 511];
        if (!(*entry & PTE_P))
            *entry = (uint64_t)pt_alloc(pool) | PTE_P | PTE_W;
        else if (*entry & PTE_PS)
            fail("virtual 0x%lx is already mapped by a large page", virt);
        table = (uint64_t *)(*entry & PTE_ADDR);
    }
    uint64_t *pte = &table[(virt >> 12) & 511];
    if (*pte & PTE_P)
        fail("virtual 0x%lx is mapped twice (overlapping segments?)", virt);
    *pte = (phys & PTE_ADDR) | flags | PTE_P;
}

/* Is [start, end) inside one usable (type 1) E820 range? */
static int e820_usable(const struct boot_info *bi, uint64_t start, uint64_t end)
{
    for (uint32_t i = 0; i < bi->e820_count && i < BOOTINFO_E820_MAX; i++) {
        const struct e820_entry *e = &bi->e820[i];
        if (e->type == 1 && start >= e->base && end <= e->base + e->length)
            return 1;
    }
    return 0;
}

static const struct elf64_ehdr *check_header(const uint8_t *file, uint64_t size)
{
    const struct elf64_ehdr *eh = (const struct elf64_ehdr *)file;
    if (size < sizeof(*eh))
        fail("kernel file is %lu bytes, too small for an ELF header", size);
    if (memcmp(eh->e_ident, "\x7f" "ELF", 4) != 0)
        fail("kernel is not an ELF file (starts %02x %02x %02x %02x, want 7f 45 4c 46)",
             file[0], file[1], file[2], file[3]);
    if (eh->e_ident[4] != ELFCLASS64)
        fail("kernel is a %s ELF (EI_CLASS %u); farjump needs ELFCLASS64",
             eh->e_ident[4] == 1 ? "32-bit" : "bad", eh->e_ident[4]);
    if (eh->e_ident[5] != ELFDATA2LSB)
        fail("kernel ELF is not little-endian (EI_DATA %u)", eh->e_ident[5]);
    if (eh->e_machine != EM_X86_64)
        fail("kernel ELF is for machine %u, not x86-64 (62)", eh->e_machine);
    if (eh->e_type != ET_EXEC)
        fail("kernel ELF type is %u, not an executable (ET_EXEC 2)", eh->e_type);
    if (eh->e_phentsize != sizeof(struct elf64_phdr) || eh->e_phnum == 0)
        fail("kernel ELF has %u program headers of %u bytes (want >0 of %lu)",
             eh->e_phnum, eh->e_phentsize, sizeof(struct elf64_phdr));
    if (eh->e_phoff > size || (uint64_t)eh->e_phnum * eh->e_phentsize > size - eh->e_phoff)
        fail("kernel program headers (offset 0x%lx, %u entries) run past the end of the "
             "%lu-byte file: truncated?", eh->e_phoff, eh->e_phnum, size);
    return eh;
}

static void check_segment(const struct boot_info *bi, const struct elf64_phdr *ph, unsigned i,
                          uint64_t size)
{
    if (ph->p_filesz > ph->p_memsz)
        fail("segment %u: file size 0x%lx larger than memory size 0x%lx", i, ph->p_filesz,
             ph->p_memsz);
    if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
        fail("segment %u: file bytes 0x%lx..0x%lx lie outside the %lu-byte kernel file: "
             "truncated?", i, ph->p_offset, ph->p_offset + ph->p_filesz, size);
    uint64_t end = ph->p_paddr + ph->p_memsz;
    if (ph->p_paddr < KERNEL_PHYS_MIN || end < ph->p_paddr || end > IDENTITY_MAP_END)
        fail("segment %u: physical 0x%lx..0x%lx is outside the memory the loader may use "
             "(0x%x..0x%x)", i, ph->p_paddr, end, KERNEL_PHYS_MIN, IDENTITY_MAP_END);
    if (ph->p_vaddr < HIGHER_HALF || ph->p_vaddr + ph->p_memsz < ph->p_vaddr)
        fail("segment %u: virtual 0x%lx is not in the higher half (0x%lx and up)", i,
             ph->p_vaddr, HIGHER_HALF);
    if ((ph->p_vaddr ^ ph->p_paddr) & (PAGE_SIZE - 1))
        fail("segment %u: virtual 0x%lx and physical 0x%lx differ within a page", i,
             ph->p_vaddr, ph->p_paddr);
    if (!e820_usable(bi, ph->p_paddr, end))
        fail("not enough memory: segment %u needs physical 0x%lx..0x%lx, which the E820 map "
             "does not report as usable RAM", i, ph->p_paddr, end);
}

static void load_segment(struct pt_pool *pool, const struct boot_info *bi, const uint8_t *file,
                         const struct elf64_phdr *ph)
{
    memcpy((void *)ph->p_paddr, file + ph->p_offset, ph->p_filesz);
    memset((void *)(ph->p_paddr + ph->p_filesz), 0, ph->p_memsz - ph->p_filesz); /* BSS */

    uint64_t flags = 0;
    if (ph->p_flags & PF_W)
        flags |= PTE_W;
    if (!(ph->p_flags & PF_X) && bi->nx)
        flags |= PTE_NX;
    uint64_t first = ph->p_vaddr & ~(PAGE_SIZE - 1);
    for (uint64_t va = first; va < ph->p_vaddr + ph->p_memsz; va += PAGE_SIZE)
        map_page(pool, va, ph->p_paddr - (ph->p_vaddr - va), flags);
}

uint64_t loader_main(struct boot_info *bi)
{
    const struct boot_layout *layout = (const struct boot_layout *)BOOT_LAYOUT;
    const uint8_t *file = (const uint8_t *)KERNEL_BUF;
    uint64_t size = layout->kernel_bytes;
    struct pt_pool pool = { PT_BASE + 3 * PAGE_SIZE };

    console_init(1);
    kprintf("stage 2: long mode; checking the kernel ELF (%lu bytes)\n", size);

    const struct elf64_ehdr *eh = check_header(file, size);
    const struct elf64_phdr *ph = (const struct elf64_phdr *)(file + eh->e_phoff);
    uint64_t lo = UINT64_MAX, hi = 0;
    int entry_ok = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        check_segment(bi, &ph[i], i, size);
        load_segment(&pool, bi, file, &ph[i]);
        if (ph[i].p_paddr < lo)
            lo = ph[i].p_paddr;
        if (ph[i].p_paddr + ph[i].p_memsz > hi)
            hi = ph[i].p_paddr + ph[i].p_memsz;
        if ((ph[i].p_flags & PF_X) && eh->e_entry >= ph[i].p_vaddr &&
            eh->e_entry < ph[i].p_vaddr + ph[i].p_memsz)
            entry_ok = 1;
    }
    if (hi == 0)
        fail("kernel ELF has no PT_LOAD segment");
    if (!entry_ok)
        fail("kernel entry 0x%lx is not inside an executable segment", eh->e_entry);

    /* New mappings only; reloading CR3 still drops any stale translation (SDM §4.10.4.1). */
    __asm__ volatile("mov %0, %%cr3" ::"r"(read_cr3()) : "memory");

    bi->kernel_phys_start = lo;
    bi->kernel_phys_end = hi;
    bi->kernel_entry = eh->e_entry;
    kprintf("stage 2: kernel at physical 0x%lx..0x%lx, entry 0x%lx\n", lo, hi, eh->e_entry);
    return eh->e_entry;
}
