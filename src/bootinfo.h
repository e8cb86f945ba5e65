/* The boot-information struct: the contract between the loader and the kernel.
 *
 * Stage 2 fills it at BOOTINFO_ADDR (real mode: boot drive, A20, E820; long mode:
 * kernel range and entry) and passes its address to the kernel in RDI. The NASM
 * side writes it through `struc boot_info` in boot/stage2.asm; boot/loader.c
 * checks with _Static_assert that both agree on the offsets. */
#ifndef FARJUMP_BOOTINFO_H
#define FARJUMP_BOOTINFO_H

#include <stdint.h>

#define BOOTINFO_MAGIC 0x494a4246u /* "FJBI" in memory order */
#define BOOTINFO_E820_MAX 64

/* ACPI 3.0 address range descriptor as INT 15h E820 returns it (24 bytes). */
struct e820_entry {
    uint64_t base;
    uint64_t length;
    uint32_t type; /* 1 usable, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad */
    uint32_t ext;  /* ACPI 3.0 extended attributes */
} __attribute__((packed));

enum a20_method {
    A20_ALREADY = 0, /* the firmware left it on */
    A20_BIOS = 1,    /* INT 15h AX=2401h */
    A20_KBC = 2,     /* 8042 output port, command D1h */
    A20_FAST = 3,    /* system control port A (92h) bit 1 */
};

struct boot_info {
    uint32_t magic;      /* BOOTINFO_MAGIC */
    uint32_t size;       /* sizeof(struct boot_info) */
    uint8_t boot_drive;  /* BIOS drive number from DL (80h = first hard disk) */
    uint8_t a20_method;  /* enum a20_method */
    uint8_t nx;          /* 1 when CPUID says NX exists and EFER.NXE is set */
    uint8_t reserved0;
    uint32_t e820_count; /* valid entries in e820[] */
    uint64_t kernel_phys_start; /* lowest byte of the kernel's PT_LOAD segments */
    uint64_t kernel_phys_end;   /* one past the highest byte (BSS included) */
    uint64_t kernel_entry;      /* ELF e_entry (higher-half virtual address) */
    struct e820_entry e820[BOOTINFO_E820_MAX];
} __attribute__((packed));

#endif
