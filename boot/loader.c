/* Stage 2's C part: check the kernel ELF64 file that the real-mode code read into
 * KERNEL_BUF, copy its PT_LOAD segments to their physical addresses, and map them at
 * their higher-half virtual addresses with 4 KiB pages and per-segment permissions.
 *
 * Runs in 64-bit long mode on the identity map that stage2.asm built (0..IDENTITY_MAP_END,
 * 2 MiB pages), with interrupts off. Every check that fails says what failed, with the
 * numbers it expected and found, stops Bochs (magic breakpoint) and halts: no reboot loop.
 * All segments are checked before the first one is copied. A small IDT turns a CPU
 * exception (a loader bug, or a kernel that faults before it loads its own IDT) into a
 * message instead of a triple fault. docs/troubleshooting.md explains every message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "bochs.h"
#include "boot_layout.h"
#include "bootinfo.h"
#include "console.h"
#include "cpu.h"
#include "exceptions.h"
#include "kprintf.h"
#include "layout.h"
#include "pagemap.h"
#include "paging.h"
#include "selectors.h"
#include "string.h"

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
    PT_LOAD = 1, PF_X = PAGEMAP_PF_X, PF_W = PAGEMAP_PF_W,
};

#define HIGHER_HALF KERNEL_VMA

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

/* ---- CPU exceptions ------------------------------------------------------------------
 * 64-bit IDT gates (SDM Vol 3A §6.14.1) for vectors 0-31, each to a 16-byte stub that
 * pushes a dummy error code where the CPU pushes none, then the vector. Interrupts stay
 * off, so only exceptions arrive here. */
struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t ist, type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi, reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate");

#define EXCEPTION_STUB_SIZE 16
#define STR_(x) #x
#define STR(x) STR_(x)

static struct idt_gate loader_idt[EXCEPTION_VECTORS];
extern const char loader_exception_stubs[];

/* The error-code vectors come from the exception table (contracts/exceptions.h) as a
 * bit mask, written into the assembler's .if. */
__asm__(".pushsection .text\n"
        ".balign 16\n"
        ".globl loader_exception_stubs\n"
        "loader_exception_stubs:\n"
        ".irp v,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
        ".balign 16\n"
        ".if !((" STR(EXCEPTION_ERROR_CODES) " >> \\v) & 1)\n"
        "pushq $0\n"
        ".endif\n"
        "pushq $\\v\n"
        "jmp loader_exception_common\n"
        ".endr\n"
        "loader_exception_common:\n"
        "mov %rsp, %rdi\n"
        "and $-16, %rsp\n"
        "call loader_exception\n"
        ".popsection\n");

/* frame: vector, error code, then what the CPU pushed: RIP, CS, RFLAGS, RSP, SS. */
/* Set on the first exception: a fault while reporting one (e.g. in kprintf) must not
 * recurse down the stack into a triple fault. */
static struct {
    int reporting;
} loader_fault;

__attribute__((noreturn, used)) void loader_exception(const uint64_t *frame)
{
    if (loader_fault.reporting) {
        static const char msg[] = "\nloader: CPU exception while reporting an exception; halted\n";
        for (const char *p = msg; *p; p++) {
            __asm__ volatile("outb %0, $0xe9" ::"a"(*p));               /* debug console */
            __asm__ volatile("outb %0, %1" ::"a"(*p), "Nd"((uint16_t)0x3f8)); /* COM1 */
        }
        for (;;)
            __asm__ volatile("cli; hlt");
    }
    loader_fault.reporting = 1;
    uint64_t cr2 = read_cr2();
    uint64_t v = frame[0];
    fail("CPU exception %lu (%s %s) at RIP 0x%lx, error code 0x%lx, CR2 0x%lx, RSP 0x%lx%s",
         v, exception_mnemonic(v), exception_name(v), frame[2], frame[1], cr2, frame[5],
         frame[2] >= HIGHER_HALF ? " (in the kernel, before it loaded its own IDT)" : "");
}

static void install_idt(void)
{
    for (unsigned v = 0; v < EXCEPTION_VECTORS; v++) {
        uint64_t stub = (uint64_t)loader_exception_stubs + v * EXCEPTION_STUB_SIZE;
        loader_idt[v] = (struct idt_gate){
            .offset_lo = (uint16_t)stub, .selector = SEL_CODE64,
            .type_attr = 0x8e, /* present, DPL 0, 64-bit interrupt gate */
            .offset_mid = (uint16_t)(stub >> 16), .offset_hi = (uint32_t)(stub >> 32),
        };
    }
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = { sizeof(loader_idt) - 1, (uint64_t)loader_idt };
    __asm__ volatile("lidt %0" ::"m"(idtr) : "memory");
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

/* One past the highest usable (type 1) byte in the E820 map. */
static uint64_t e820_usable_top(const struct boot_info *bi)
{
    uint64_t top = 0;
    for (uint32_t i = 0; i < bi->e820_count && i < BOOTINFO_E820_MAX; i++) {
        const struct e820_entry *e = &bi->e820[i];
        if (e->type == 1 && e->base + e->length > top)
            top = e->base + e->length;
    }
    return top;
}

static const char *machine_name(unsigned m)
{
    switch (m) {
    case 3: return "i386";
    case 8: return "MIPS";
    case 20: return "PowerPC";
    case 40: return "ARM";
    case 50: return "IA-64";
    case 183: return "AArch64";
    case 243: return "RISC-V";
    default: return "unknown";
    }
}

/* CRC-32 (IEEE 802.3, reflected, as zlib.crc32), bit by bit: small, and fast enough for
 * the ~20 KiB kernel file. */
static uint32_t crc32(const uint8_t *p, uint64_t n)
{
    uint32_t crc = 0xffffffffu;
    while (n--) {
        crc ^= *p++;
        for (int bit = 0; bit < 8; bit++)
            crc = crc >> 1 ^ (0xedb88320u & -(crc & 1));
    }
    return ~crc;
}

static const struct elf64_ehdr *check_header(const uint8_t *file, uint64_t size)
{
    const struct elf64_ehdr *eh = (const struct elf64_ehdr *)file;
    const struct stage2_header *s2 = (const struct stage2_header *)STAGE2_ADDR;
    if (size > KERNEL_BUF_END - KERNEL_BUF) /* stage 2 checked this; the layout may lie */
        fail("kernel file is 0x%lx bytes; the loader reads at most 0x%x (KERNEL_BUF..KERNEL_BUF_END)",
             size, KERNEL_BUF_END - KERNEL_BUF);
    uint32_t crc = crc32(file, size);
    if (crc != s2->kernel_crc32)
        fail("kernel file corrupted: its CRC-32 is 0x%08x, the image builder recorded 0x%08x "
             "(a bad disk read or a damaged image)", crc, s2->kernel_crc32);
    if (size < sizeof(*eh))
        fail("kernel file is %lu bytes, too small for an ELF header (%lu bytes)", size,
             sizeof(*eh));
    if (memcmp(eh->e_ident, "\x7f" "ELF", 4) != 0)
        fail("kernel is not an ELF file (starts %02x %02x %02x %02x, want 7f 45 4c 46)",
             file[0], file[1], file[2], file[3]);
    if (eh->e_ident[4] != ELFCLASS64)
        fail("kernel is a %s ELF (EI_CLASS %u); farjump needs ELFCLASS64 (2)",
             eh->e_ident[4] == 1 ? "32-bit" : "bad", eh->e_ident[4]);
    if (eh->e_ident[5] != ELFDATA2LSB)
        fail("kernel ELF is not little-endian (EI_DATA %u, want 1)", eh->e_ident[5]);
    if (eh->e_machine != EM_X86_64)
        fail("kernel ELF is for machine %u (%s), not x86-64 (e_machine 62)", eh->e_machine,
             machine_name(eh->e_machine));
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
    if (ph->p_filesz != 0 && ph->p_offset >= size)
        fail("segment %u: p_offset 0x%lx is past the end of the kernel file (0x%lx bytes), "
             "so its 0x%lx bytes are not in the file: bad p_offset?", i, ph->p_offset, size,
             ph->p_filesz);
    if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
        fail("segment %u: file bytes 0x%lx..0x%lx, but the kernel file ends at 0x%lx "
             "(0x%lx bytes missing): truncated?", i, ph->p_offset,
             ph->p_offset + ph->p_filesz, size, ph->p_offset + ph->p_filesz - size);
    uint64_t end = ph->p_paddr + ph->p_memsz;
    if (ph->p_paddr < KERNEL_PHYS_MIN || end < ph->p_paddr || end > IDENTITY_MAP_END)
        fail("segment %u: physical 0x%lx..0x%lx is outside the memory the loader may use "
             "(0x%x..0x%x): it %s", i, ph->p_paddr, end, KERNEL_PHYS_MIN, IDENTITY_MAP_END,
             ph->p_paddr < KERNEL_PHYS_MIN
                 ? "starts below KERNEL_PHYS_MIN (1 MiB; below is the loader's own memory)"
                 : "ends above IDENTITY_MAP_END (the 1 GiB identity map)");
    if (ph->p_vaddr < HIGHER_HALF || ph->p_vaddr + ph->p_memsz < ph->p_vaddr)
        fail("segment %u: virtual 0x%lx is not in the higher half (0x%lx and up)", i,
             ph->p_vaddr, HIGHER_HALF);
    if ((ph->p_vaddr ^ ph->p_paddr) & (PAGE_SIZE - 1))
        fail("segment %u: virtual 0x%lx and physical 0x%lx differ within a page", i,
             ph->p_vaddr, ph->p_paddr);
    if (!e820_usable(bi, ph->p_paddr, end)) {
        uint64_t top = e820_usable_top(bi);
        if (end > top)
            fail("not enough memory: segment %u needs physical 0x%lx..0x%lx, i.e. RAM up to "
                 "%lu KiB, but usable RAM in the E820 map ends at 0x%lx (%lu KiB)", i, ph->p_paddr,
                 end, (end + 1023) / 1024, top, top / 1024);
        fail("segment %u: physical 0x%lx..0x%lx is not inside one usable E820 range "
             "(reserved memory or a hole below the top of RAM 0x%lx)", i, ph->p_paddr, end,
             top);
    }
}

static int loadable(const struct elf64_phdr *ph)
{
    return ph->p_type == PT_LOAD && ph->p_memsz != 0;
}

/* Segments copied on top of each other would silently corrupt the kernel. */
static void check_overlaps(const struct elf64_phdr *ph, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = i + 1; j < n; j++)
            if (loadable(&ph[i]) && loadable(&ph[j]) &&
                ph[i].p_paddr < ph[j].p_paddr + ph[j].p_memsz &&
                ph[j].p_paddr < ph[i].p_paddr + ph[i].p_memsz)
                fail("segments %u and %u overlap in physical memory (0x%lx..0x%lx and "
                     "0x%lx..0x%lx)", i, j, ph[i].p_paddr, ph[i].p_paddr + ph[i].p_memsz,
                     ph[j].p_paddr, ph[j].p_paddr + ph[j].p_memsz);
}

static void load_segment(struct pt_pool *pool, const struct boot_info *bi, const uint8_t *file,
                         const struct elf64_phdr *ph)
{
    memcpy((void *)ph->p_paddr, file + ph->p_offset, ph->p_filesz);
    memset((void *)(ph->p_paddr + ph->p_filesz), 0, ph->p_memsz - ph->p_filesz); /* BSS */

    uint64_t va = 0;
    switch (pagemap_range(pool, read_cr3(), ph->p_vaddr, ph->p_paddr, ph->p_memsz,
                          pagemap_flags(ph->p_flags, bi->nx), &va)) {
    case PAGEMAP_OK:
        return;
    case PAGEMAP_NO_MEMORY:
        fail("out of page-table memory (PT_BASE..PT_END = 0x%x..0x%x)", PT_BASE, PT_END);
    case PAGEMAP_LARGE:
        fail("virtual 0x%lx is already mapped by a large page", va);
    case PAGEMAP_TWICE:
        fail("virtual 0x%lx is mapped twice (overlapping segments?)", va);
    }
}

uint64_t loader_main(struct boot_info *bi)
{
    const struct boot_layout *layout = (const struct boot_layout *)BOOT_LAYOUT;
    const uint8_t *file = (const uint8_t *)KERNEL_BUF;
    uint64_t size = layout->kernel_bytes;
    /* Page tables for the kernel come from PT_BASE+3000h (after the identity map's PML4,
     * PDPT and PD) up to PT_END. */
    struct pt_pool pool = { PT_BASE + 3 * PAGE_SIZE, PT_END };

    /* memset/memcpy use REP string instructions, and ten BIOS calls ran since stage 2's
     * CLD: clear DF here rather than trust them (the kernel's _start does the same). */
    __asm__ volatile("cld" ::: "memory");

    bootinfo_stamp(bi, TL_LM_ENTRY); /* here, not in lm_entry: its code stays as it was */
    console_init(1);
    install_idt();
    kprintf("stage 2: long mode; checking the kernel ELF (%lu bytes)\n", size);

    /* Check everything first, so that a bad file changes no memory above 1 MiB. */
    const struct elf64_ehdr *eh = check_header(file, size);
    const struct elf64_phdr *ph = (const struct elf64_phdr *)(file + eh->e_phoff);
    uint64_t lo = UINT64_MAX, hi = 0;
    int entry_ok = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (!loadable(&ph[i]))
            continue;
        check_segment(bi, &ph[i], i, size);
        if (ph[i].p_paddr < lo)
            lo = ph[i].p_paddr;
        if (ph[i].p_paddr + ph[i].p_memsz > hi)
            hi = ph[i].p_paddr + ph[i].p_memsz;
        if ((ph[i].p_flags & PF_X) && eh->e_entry >= ph[i].p_vaddr &&
            eh->e_entry < ph[i].p_vaddr + ph[i].p_memsz)
            entry_ok = 1;
    }
    if (hi == 0)
        fail("kernel ELF has no PT_LOAD segment (e_phnum %u)", eh->e_phnum);
    if (!entry_ok)
        fail("kernel entry 0x%lx is not inside an executable (PF_X) PT_LOAD segment",
             eh->e_entry);
    check_overlaps(ph, eh->e_phnum);

    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (loadable(&ph[i]))
            load_segment(&pool, bi, file, &ph[i]);

    /* New mappings only; reloading CR3 still drops any stale translation (SDM §4.10.4.1). */
    write_cr3(read_cr3());

    bi->kernel_phys_start = lo;
    bi->kernel_phys_end = hi;
    bi->kernel_entry = eh->e_entry;
    kprintf("stage 2: kernel at physical 0x%lx..0x%lx, entry 0x%lx\n", lo, hi, eh->e_entry);
    bootinfo_stamp(bi, TL_ELF_LOADED);
    return eh->e_entry;
}
