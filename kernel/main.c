/* The kernel's C entry: report what the loader handed over, then say hello. */
#include <stddef.h>
#include <stdint.h>

#include "bochs.h"
#include "bootinfo.h"
#include "bootpath.h"
#include "console.h"
#include "cpus.h"
#include "cpu.h"
#include "fault_hooks.h"
#include "fbcon.h"
#include "gdt.h"
#include "idt.h"
#include "kprintf.h"
#include "stack.h"
#include "timeline.h"
#include "vga.h"

void kernel_main(struct boot_info *bi);

/* kernel.ld: virtual addresses of the image's first and one-past-last byte. */
extern char __kernel_start[], __kernel_end[];

static const char *a20_method_name(unsigned method)
{
    switch (method) {
    case A20_ALREADY: return "already enabled";
    case A20_BIOS: return "BIOS INT 15h AX=2401h";
    case A20_KBC: return "8042 keyboard controller";
    case A20_FAST: return "fast A20 (port 92h)";
    default: return "unknown";
    }
}

/* ACPI address range types (ACPI 6.x Table 15-312, as E820 reports them). */
static const char *e820_type_name(uint32_t type, char *buf, size_t size)
{
    switch (type) {
    case 1: return "usable";
    case 2: return "reserved";
    case 3: return "ACPI reclaimable";
    case 4: return "ACPI NVS";
    case 5: return "bad";
    default:
        ksnprintf(buf, size, "unknown %u", (unsigned)type);
        return buf;
    }
}

static void print_memory_map(const struct boot_info *bi)
{
    uint32_t count = bi->e820_count;
    if (count > BOOTINFO_E820_MAX) {
        kprintf("e820: %u entries reported, only %u stored\n", (unsigned)count,
                (unsigned)BOOTINFO_E820_MAX);
        count = BOOTINFO_E820_MAX;
    }
    kprintf("memory map (%s, %u entries):\n", boot_path_memory_map(bi), (unsigned)count);

    uint64_t usable = 0;
    for (uint32_t i = 0; i < count; i++) {
        /* Copy out of the packed struct: no unaligned member pointers. */
        uint64_t base = bi->e820[i].base;
        uint64_t length = bi->e820[i].length;
        uint32_t type = bi->e820[i].type;
        char name[24];
        kprintf("  0x%016llx-0x%016llx  %10llu KiB  %s\n", (unsigned long long)base,
                (unsigned long long)(base + length - (length ? 1 : 0)),
                (unsigned long long)(length >> 10), e820_type_name(type, name, sizeof name));
        if (type == 1)
            usable += length;
    }
    kprintf("usable memory: %llu KiB\n", (unsigned long long)(usable >> 10));
}

static void print_boot_info(const struct boot_info *bi)
{
    kprintf("boot drive 0x%02x, A20: %s, NX: %s\n", (unsigned)bi->boot_drive,
            a20_method_name(bi->a20_method), bi->nx ? "on" : "off");
    if (bi->size != sizeof(struct boot_info))
        kprintf("warning: boot_info size %u, kernel expects %u\n", (unsigned)bi->size,
                (unsigned)sizeof(struct boot_info));
    kprintf("kernel: physical 0x%llx-0x%llx, entry %p\n",
            (unsigned long long)bi->kernel_phys_start, (unsigned long long)bi->kernel_phys_end,
            (void *)(uintptr_t)bi->kernel_entry);
    kprintf("kernel: virtual  %p-%p\n", (void *)__kernel_start, (void *)__kernel_end);
    print_memory_map(bi);
}

void kernel_main(struct boot_info *bi)
{
    BOCHS_BREAK(); /* the fifth transition stop: stage1, stage2, pm, lm, kernel_main */
    timeline_kernel_main(bi); /* TSC stamp into boot_info (bi is checked there) */
    fbcon_init(bi); /* no VGA text mode (UEFI): the console draws on the framebuffer */
    console_init(0);
    /* Exceptions first: from here on any fault gets a panic screen, and a stack
     * overflow a #DF on its own stack rather than a triple fault (reset). */
    gdt_init();
    idt_init();
    stack_guard_init();
    /* The loader maps .text and .rodata read-only, but with CR0.WP clear ring 0 may
     * write to read-only pages anyway (SDM Vol 3A §4.6.1): set it so they are. */
    write_cr0(read_cr0() | CR0_WP);

    vga_set_color(VGA_LIGHT_CYAN, VGA_BLACK);
    if (bi != NULL && bi->magic == BOOTINFO_MAGIC) {
        char name[40];
        kprintf("farjump kernel, booted by %s\n", boot_path_name(bi, name, sizeof name));
    } else {
        kprintf("farjump kernel\n");
    }
    vga_set_color(VGA_LIGHT_GREY, VGA_BLACK);

    if (bi == NULL) {
        vga_set_color(VGA_LIGHT_RED, VGA_BLACK);
        kprintf("boot_info: NULL pointer in RDI, no boot information\n");
        vga_set_color(VGA_LIGHT_GREY, VGA_BLACK);
    } else if (bi->magic != BOOTINFO_MAGIC) {
        vga_set_color(VGA_LIGHT_RED, VGA_BLACK);
        kprintf("boot_info at %p: bad magic 0x%08x (expected 0x%08x), ignoring it\n",
                (void *)bi, (unsigned)bi->magic, (unsigned)BOOTINFO_MAGIC);
        vga_set_color(VGA_LIGHT_GREY, VGA_BLACK);
    } else {
        print_boot_info(bi);
    }

    fault_inject(); /* a deliberate exception in the build/fault/ test kernels, else nothing */

    vga_set_color(VGA_LIGHT_GREEN, VGA_BLACK);
    kprintf("Hello World!\n");
    vga_set_color(VGA_LIGHT_GREY, VGA_BLACK);
    timeline_hello(bi);
    /* -smp N: the other CPUs, each to long mode (nothing with one CPU). Before the
     * timeline report, so that 'break timeline_print' in GDB means "every CPU is online"
     * (docs/smp.md); the timeline's last stamp (hello) is already taken. */
    smp_start_aps(bi);
    timeline_print(bi);

    BOCHS_BREAK();
    halt_forever();
}
