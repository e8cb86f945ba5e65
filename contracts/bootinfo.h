/* The boot-information struct: the contract between stage 2, the loader and the kernel.
 *
 * Stage 2 fills it at BOOTINFO_ADDR (real mode: boot drive, A20, E820; long mode:
 * kernel range and entry) and passes its address to the kernel in RDI. The NASM side
 * writes it through `struc boot_info` in build/gen/contracts.inc, and the host tools read
 * it through build/gen/farjump_contracts.py, both generated from this file
 * (contracts/gen.c). */
#ifndef FARJUMP_BOOTINFO_H
#define FARJUMP_BOOTINFO_H

#include <stdint.h>

#include "layout.h"

#define BOOTINFO_MAGIC 0x494a4246u /* "FJBI" in memory order */
#define BOOTINFO_E820_MAX 64
#define BOOTINFO_TIMELINE_MAX 8

/* Boot timeline events: where stage 2, the loader and the kernel read the TSC, in order.
 * TIMELINE_EVENT(index, ENUM_NAME, short_name, what happens between the previous event
 * and this one). Stage 2 stamps the first four (real and protected mode), the loader
 * TL_LM_ENTRY at loader_main's entry (right after lm_entry) and TL_ELF_LOADED when it is
 * done, the kernel TL_KERNEL_MAIN at kernel_main's first statement and TL_HELLO once
 * "Hello World!" is printed. */
#define TIMELINE_TABLE(TIMELINE_EVENT)                                                \
    TIMELINE_EVENT(0, TL_STAGE2_START, stage2_start, "")                             \
    TIMELINE_EVENT(1, TL_A20_E820, a20_e820, "COM1, A20, E820, CPU check")           \
    TIMELINE_EVENT(2, TL_KERNEL_READ, kernel_read, "kernel file read (INT 13h)")     \
    TIMELINE_EVENT(3, TL_PM_ENTRY, pm_entry, "GDT, to protected mode")               \
    TIMELINE_EVENT(4, TL_LM_ENTRY, lm_entry, "identity map, to long mode")           \
    TIMELINE_EVENT(5, TL_ELF_LOADED, elf_loaded, "ELF checked, copied, mapped")      \
    TIMELINE_EVENT(6, TL_KERNEL_MAIN, kernel_main, "jump to the kernel, _start")     \
    TIMELINE_EVENT(7, TL_HELLO, hello, "console, GDT/IDT, report")

enum timeline_event {
#define TIMELINE_ENUM_(index, id, short_name, text) id = index,
    TIMELINE_TABLE(TIMELINE_ENUM_)
#undef TIMELINE_ENUM_
};

static inline uint64_t bootinfo_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* ACPI 3.0 address range descriptor as INT 15h E820 returns it (24 bytes). */
struct e820_entry {
    uint64_t base;
    uint64_t length;
    uint32_t type; /* 1 usable, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad */
    uint32_t ext;  /* ACPI 3.0 extended attributes */
} __attribute__((packed));

/* How stage 2 turned A20 on (boot_info.a20_method). */
enum a20_method {
    A20_ALREADY = 0, /* the firmware left it on */
    A20_BIOS = 1,    /* INT 15h AX=2401h */
    A20_KBC = 2,     /* 8042 output port, command D1h */
    A20_FAST = 3,    /* system control port A (92h) bit 1 */
};

/* Who loaded the kernel (boot_info.boot_path). Stage 2 zeroes boot_info: BIOS is 0. */
enum boot_path {
    BOOT_PATH_BIOS = 0,       /* farjump's own stage 1 + stage 2 */
    BOOT_PATH_MULTIBOOT1 = 1, /* a Multiboot 1 loader (QEMU -kernel) -> kernel/multiboot.asm */
    BOOT_PATH_MULTIBOOT2 = 2, /* a Multiboot 2 loader (GRUB) -> kernel/multiboot.asm */
    BOOT_PATH_UEFI = 3,       /* farjump's UEFI loader */
};

/* The screen when it is a framebuffer (boot_info.fb_format): 32-bit pixels, the byte order
 * UEFI's GOP names PixelRedGreenBlueReserved8BitPerColor (RGBX: red in byte 0) or
 * PixelBlueGreenRedReserved8BitPerColor (BGRX). FB_NONE: VGA text mode at 0xb8000. */
enum fb_format {
    FB_NONE = 0,
    FB_RGBX = 1,
    FB_BGRX = 2,
};

struct boot_info {
    uint32_t magic;      /* BOOTINFO_MAGIC */
    uint32_t size;       /* sizeof(struct boot_info) */
    uint8_t boot_drive;  /* BIOS drive number from DL (80h = first hard disk) */
    uint8_t a20_method;  /* enum a20_method */
    uint8_t nx;          /* 1 when CPUID says NX exists and EFER.NXE is set */
    uint8_t boot_path;   /* enum boot_path */
    uint32_t e820_count; /* valid entries in e820[] */
    uint64_t kernel_phys_start; /* lowest byte of the kernel's PT_LOAD segments */
    uint64_t kernel_phys_end;   /* one past the highest byte (BSS included) */
    uint64_t kernel_entry;      /* ELF e_entry (higher-half virtual address) */
    struct e820_entry e820[BOOTINFO_E820_MAX];
    /* Boot timeline (offset 0x628): the TSC (RDTSC) at each transition, in the order of
     * enum timeline_event. Stage 1 has no room for it (2 bytes free), so the first
     * stamp is stage 2's. Bit N of timeline_recorded is set once timeline_tsc[N] holds
     * a stamp. tsc_hz is the TSC rate the kernel measured against the ACPI PM timer
     * (0 until it has, or when there is no ACPI PM timer). */
    uint32_t timeline_recorded;
    uint32_t timeline_reserved;
    uint64_t tsc_hz;
    uint64_t timeline_tsc[BOOTINFO_TIMELINE_MAX];
    /* Framebuffer (UEFI's GOP): all zero (FB_NONE) on the paths with VGA text mode. The
     * UEFI loader maps it identity (physical = virtual), writable, NX. */
    uint64_t fb_addr;    /* physical address of pixel (0, 0) */
    uint32_t fb_width;   /* pixels */
    uint32_t fb_height;  /* pixels */
    uint32_t fb_pitch;   /* bytes from one line to the next */
    uint8_t fb_bpp;      /* bits per pixel (32) */
    uint8_t fb_format;   /* enum fb_format */
    uint16_t fb_reserved;
    /* ACPI (ACPI 6.4 §5.2.5): the physical address of an RSDP the loader was given, below
     * IDENTITY_MAP_END: UEFI's configuration table (the ACPI 2.0 entry, else the 1.0 one),
     * or Multiboot 2's ACPI tag (its copy of the RSDP, kept in the kernel's data). 0: none
     * given; the kernel then searches the BIOS areas (EBDA, E0000h-FFFFFh), as on the BIOS
     * path and under QEMU's -kernel. */
    uint64_t acpi_rsdp;
} __attribute__((packed));

/* Record timeline event `ev` (enum timeline_event) now. */
static inline void bootinfo_stamp(struct boot_info *bi, unsigned ev)
{
    bi->timeline_tsc[ev] = bootinfo_rdtsc();
    bi->timeline_recorded |= 1u << ev;
}

#endif
