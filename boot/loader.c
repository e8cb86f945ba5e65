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
#include "elfcheck.h"
#include "exceptions.h"
#include "kprintf.h"
#include "layout.h"
#include "pagemap.h"
#include "paging.h"
#include "selectors.h"
#include "string.h"

#define HIGHER_HALF KERNEL_VMA

__attribute__((noreturn, format(printf, 1, 2))) void elf_fail(const char *fmt, ...)
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
    elf_fail("CPU exception %lu (%s %s) at RIP 0x%lx, error code 0x%lx, CR2 0x%lx, RSP 0x%lx%s",
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

/* CRC-32 (IEEE 802.3, reflected, as zlib.crc32), a byte at a time through a 1 KiB table
 * built on first use: 2048 bit steps once instead of 8 per byte of the ~30 KiB kernel file
 * (about a million instructions fewer, which Bochs's instruction counts show). */
static uint32_t crc32(const uint8_t *p, uint64_t n)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int bit = 0; bit < 8; bit++)
                c = c >> 1 ^ (0xedb88320u & -(c & 1));
            table[i] = c;
        }
    }
    uint32_t crc = 0xffffffffu;
    while (n--)
        crc = crc >> 8 ^ table[(crc ^ *p++) & 0xff];
    return ~crc;
}

/* What only this loader checks (the file's size and CRC-32 that stage 2 and the image
 * builder recorded), then the checks every loader makes (common/elfcheck.c). */
static const struct elf64_ehdr *check_header(const uint8_t *file, uint64_t size)
{
    const struct stage2_header *s2 = (const struct stage2_header *)STAGE2_ADDR;
    if (size > KERNEL_BUF_END - KERNEL_BUF) /* stage 2 checked this; the layout may lie */
        elf_fail("kernel file is 0x%lx bytes; the loader reads at most 0x%x (KERNEL_BUF..KERNEL_BUF_END)",
                 size, KERNEL_BUF_END - KERNEL_BUF);
    uint32_t crc = crc32(file, size);
    if (crc != s2->kernel_crc32)
        elf_fail("kernel file corrupted: its CRC-32 is 0x%08x, the image builder recorded 0x%08x "
                 "(a bad disk read or a damaged image)", crc, s2->kernel_crc32);
    return elf_check_header(file, size);
}

/* elf_check_segments' extra check here: the segment in usable RAM (E820). */
static void check_usable(const struct elf64_phdr *ph, unsigned i, const void *ctx)
{
    const struct boot_info *bi = ctx;
    uint64_t end = ph->p_paddr + ph->p_memsz;
    if (!e820_usable(bi, ph->p_paddr, end)) {
        uint64_t top = e820_usable_top(bi);
        if (end > top)
            elf_fail("not enough memory: segment %u needs physical 0x%lx..0x%lx, i.e. RAM up to "
                     "%lu KiB, but usable RAM in the E820 map ends at 0x%lx (%lu KiB)", i, ph->p_paddr,
                     end, (end + 1023) / 1024, top, top / 1024);
        elf_fail("segment %u: physical 0x%lx..0x%lx is not inside one usable E820 range "
                 "(reserved memory or a hole below the top of RAM 0x%lx)", i, ph->p_paddr, end,
                 top);
    }
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
        elf_fail("out of page-table memory (PT_BASE..PT_END = 0x%x..0x%x)", PT_BASE, PT_END);
    case PAGEMAP_LARGE:
        elf_fail("virtual 0x%lx is already mapped by a large page", va);
    case PAGEMAP_TWICE:
        elf_fail("virtual 0x%lx is mapped twice (overlapping segments?)", va);
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
    uint64_t lo, hi;
    elf_check_segments(eh, size, check_usable, bi, &lo, &hi);

    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (elf_loadable(&ph[i]))
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
