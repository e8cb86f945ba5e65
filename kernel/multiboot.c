/* The Multiboot way in, part 2 (part 1 is kernel/mb_entry.asm): in 64-bit mode on the
 * temporary map, turn the loader's boot information into farjump's struct boot_info at
 * BOOTINFO_ADDR, build the page tables the BIOS path builds (stage 2's identity map at
 * PT_BASE, the kernel's segments with 4 KiB pages through common/pagemap.c: text RX,
 * rodata R, data RW+NX), switch to them and jump to _start like stage 2 does.
 *
 * Everything the loader left is read before anything is written: GRUB may put its boot
 * information anywhere, PT_BASE and BOOTINFO_ADDR included. */
#include <stddef.h>
#include <stdint.h>

#include "bootinfo.h"
#include "cpu.h"
#include "layout.h"
#include "multiboot.h"
#include "pagemap.h"
#include "paging.h"
#include "serial.h"
#include "string.h"

__attribute__((noreturn)) void multiboot_main(uint32_t magic, uint32_t info);

/* kernel.ld: each permission class, virtual addresses. */
extern char __kernel_start[], __text_end[], __rodata_start[], __ksymtab_end[],
    __data_start[], __kernel_end[];
extern char _start[];

#define EFER_MSR 0xc0000080u
#define EFER_NXE (1u << 11)

static struct boot_info mb_bi; /* built here, then copied to BOOTINFO_ADDR */

/* Multiboot 2's ACPI tag holds a copy of the RSDP inside the boot information, which is
 * overwritten below: the copy is kept here, in the kernel's own memory, and
 * boot_info.acpi_rsdp points at it (its physical address, inside the identity map). */
static uint8_t mb_rsdp[36];

static uint64_t phys(const void *p)
{
    return (uint64_t)(uintptr_t)p - KERNEL_VMA;
}

/* No console yet: one line on COM1, then halt. */
__attribute__((noreturn)) static void mb_fail(const char *msg)
{
    serial_init();
    static const char prefix[] = "\r\nfarjump (multiboot): ";
    serial_write(prefix, sizeof prefix - 1);
    serial_write(msg, strlen(msg));
    serial_write("; halted\r\n", 10);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

static void add_range(struct boot_info *bi, uint64_t base, uint64_t length, uint32_t type)
{
    if (bi->e820_count < BOOTINFO_E820_MAX)
        bi->e820[bi->e820_count] = (struct e820_entry){ base, length, type, 1 };
    bi->e820_count++; /* counted past the table: the kernel warns "only 64 stored" */
}

/* Multiboot 1 (spec §3.3): the memory map when flag 6 says there is one, else the two
 * sizes of flag 0 turned into two usable ranges. */
static void from_mb1(struct boot_info *bi, const struct mb1_info *mbi)
{
    bi->boot_path = BOOT_PATH_MULTIBOOT1;
    if (mbi->flags & MB1_INFO_BOOTDEV)
        bi->boot_drive = (uint8_t)(mbi->boot_device >> 24);
    if (mbi->flags & MB1_INFO_MMAP) {
        uint64_t p = mbi->mmap_addr, end = p + mbi->mmap_length;
        while (p + sizeof(struct mb1_mmap_entry) <= end) {
            const struct mb1_mmap_entry *e = (const struct mb1_mmap_entry *)(uintptr_t)p;
            add_range(bi, e->base_addr, e->length, e->type);
            p += e->size + sizeof(e->size);
        }
    } else if (mbi->flags & MB1_INFO_MEM) {
        add_range(bi, 0, (uint64_t)mbi->mem_lower << 10, 1);
        add_range(bi, 0x100000, (uint64_t)mbi->mem_upper << 10, 1);
    } else {
        mb_fail("the Multiboot 1 loader gave no memory information (flags bits 0 and 6 clear)");
    }
}

/* Multiboot 2 (spec §3.6): tags, 8-byte aligned, up to an end tag. */
static void from_mb2(struct boot_info *bi, const struct mb2_info *mbi)
{
    bi->boot_path = BOOT_PATH_MULTIBOOT2;
    uint64_t p = (uint64_t)(uintptr_t)mbi + sizeof(*mbi);
    uint64_t end = (uint64_t)(uintptr_t)mbi + mbi->total_size;
    int have_mmap = 0;
    while (p + sizeof(struct mb2_tag) <= end) {
        const struct mb2_tag *tag = (const struct mb2_tag *)(uintptr_t)p;
        if (tag->type == MB2_TAG_END || tag->size < sizeof(*tag))
            break;
        if (tag->type == MB2_TAG_BOOTDEV) {
            bi->boot_drive = (uint8_t)((const struct mb2_tag_bootdev *)tag)->biosdev;
        } else if (tag->type == MB2_TAG_MMAP) {
            const struct mb2_tag_mmap *m = (const struct mb2_tag_mmap *)tag;
            if (m->entry_size < sizeof(struct e820_entry))
                mb_fail("Multiboot 2 memory map entries smaller than 24 bytes");
            for (uint64_t e = p + sizeof(*m); e + m->entry_size <= p + tag->size;
                 e += m->entry_size) {
                const struct e820_entry *r = (const struct e820_entry *)(uintptr_t)e;
                add_range(bi, r->base, r->length, r->type);
            }
            have_mmap = 1;
        } else if ((tag->type == MB2_TAG_ACPI_NEW ||
                    (tag->type == MB2_TAG_ACPI_OLD && bi->acpi_rsdp == 0)) &&
                   tag->size >= sizeof(*tag) + 20) {
            /* The ACPI 2.0 copy wins over the 1.0 one, whichever comes first. */
            uint32_t n = tag->size - sizeof(*tag);
            memcpy(mb_rsdp, (const uint8_t *)tag + sizeof(*tag), n < 36 ? n : 36);
            bi->acpi_rsdp = phys(mb_rsdp);
        }
        p += (tag->size + 7) & ~7u;
    }
    if (!have_mmap)
        mb_fail("the Multiboot 2 loader gave no memory map tag");
}

/* One permission class of the kernel, as the BIOS loader maps a PT_LOAD segment. */
static void map_class(struct pt_pool *pool, const char *start, const char *end,
                      uint32_t pflags, int nx)
{
    uint64_t bad = 0;
    switch (pagemap_range(pool, PT_BASE, (uint64_t)(uintptr_t)start, phys(start),
                          (uint64_t)(end - start), pagemap_flags(pflags, nx), &bad)) {
    case PAGEMAP_OK:
        return;
    case PAGEMAP_NO_MEMORY:
        mb_fail("out of page-table memory (PT_BASE..PT_END)");
    case PAGEMAP_LARGE:
    case PAGEMAP_TWICE:
        mb_fail("a kernel page is mapped twice");
    }
}

void multiboot_main(uint32_t magic, uint32_t info)
{
    struct boot_info *bi = &mb_bi;
    memset(bi, 0, sizeof(*bi));
    bi->magic = BOOTINFO_MAGIC;
    bi->size = sizeof(*bi);
    bi->a20_method = A20_ALREADY; /* both specs hand over with A20 on */
    bi->nx = (rdmsr(EFER_MSR) & EFER_NXE) != 0;
    if (info >= IDENTITY_MAP_END)
        mb_fail("boot information above the 1 GiB identity map");
    if (magic == MB1_BOOT_MAGIC)
        from_mb1(bi, (const struct mb1_info *)(uintptr_t)info);
    else if (magic == MB2_BOOT_MAGIC)
        from_mb2(bi, (const struct mb2_info *)(uintptr_t)info);
    else
        mb_fail("EAX holds no Multiboot magic: not entered by a Multiboot loader");
    bi->kernel_phys_start = phys(__kernel_start);
    bi->kernel_phys_end = phys(__kernel_end);
    bi->kernel_entry = (uint64_t)(uintptr_t)_start;

    /* From here on the loader's memory is overwritten. */
    memcpy((void *)BOOTINFO_ADDR, bi, sizeof(*bi));

    pagemap_identity(PT_BASE); /* stage 2's identity map, as build_identity_map has it */

    /* The kernel's pages, from the same pool the BIOS loader uses. */
    struct pt_pool pool = { PT_BASE + 3 * PAGE_SIZE, PT_END };
    map_class(&pool, __kernel_start, __text_end, PAGEMAP_PF_X, bi->nx);
    map_class(&pool, __rodata_start, __ksymtab_end, 0, bi->nx);
    map_class(&pool, __data_start, __kernel_end, PAGEMAP_PF_W, bi->nx);
    write_cr3(PT_BASE);

    /* As stage 2's kernel_jump: RDI = boot_info. */
    __asm__ volatile("jmp *%0" ::"r"(_start), "D"((uint64_t)BOOTINFO_ADDR) : "memory");
    __builtin_unreachable();
}
