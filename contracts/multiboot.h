/* Multiboot 1 (Multiboot Specification 0.6.96) and Multiboot 2 (Multiboot2 Specification
 * 2.0) as far as farjump uses them: the header magic numbers and flags that
 * kernel/mb_entry.asm writes into the kernel's headers, and the boot-information layouts
 * kernel/multiboot.c reads. NASM gets the constants through build/gen/contracts.inc. */
#ifndef FARJUMP_MULTIBOOT_H
#define FARJUMP_MULTIBOOT_H

#include <stdint.h>

/* ---- Multiboot 1 (spec §3.1) --------------------------------------------------------- */
#define MB1_HEADER_MAGIC 0x1badb002u
#define MB1_BOOT_MAGIC 0x2badb002u       /* EAX at the kernel's entry */
#define MB1_HEADER_SEARCH 8192           /* the header lies in the file's first 8 KiB */
#define MB1_FLAG_MEMINFO (1u << 1)       /* ask for mem_* and the memory map */
#define MB1_FLAG_AOUT_KLUDGE (1u << 16)  /* the header carries the load addresses */
/* QEMU's -kernel refuses a 64-bit ELF unless the header carries the addresses (bit 16):
 * it then loads the file as a flat image from header_addr - load_addr before the header. */
#define MB1_HEADER_FLAGS (MB1_FLAG_MEMINFO | MB1_FLAG_AOUT_KLUDGE)

/* Boot information flags (spec §3.3). */
#define MB1_INFO_MEM (1u << 0)
#define MB1_INFO_BOOTDEV (1u << 1)
#define MB1_INFO_MMAP (1u << 6)

struct mb1_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper; /* KiB below 1 MiB, KiB from 1 MiB to the first hole */
    uint32_t boot_device;          /* BIOS drive number in bits 31:24 */
    uint32_t cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
} __attribute__((packed));

/* One memory-map entry; `size` does not count itself (the next entry is size + 4 on). */
struct mb1_mmap_entry {
    uint32_t size;
    uint64_t base_addr, length;
    uint32_t type;
} __attribute__((packed));

/* ---- Multiboot 2 (spec §3.1) --------------------------------------------------------- */
#define MB2_HEADER_MAGIC 0xe85250d6u
#define MB2_BOOT_MAGIC 0x36d76289u        /* EAX at the kernel's entry */
#define MB2_HEADER_SEARCH 32768           /* the header lies in the file's first 32 KiB */
#define MB2_ARCH_I386 0                   /* 32-bit protected mode entry */
#define MB2_HEADER_TAG_END 0
#define MB2_HEADER_TAG_ENTRY 3            /* entry address: e_entry is a 64-bit virtual one */

/* Boot information: a u32 total_size, a u32 reserved, then 8-byte aligned tags. */
#define MB2_TAG_END 0
#define MB2_TAG_BOOTDEV 5
#define MB2_TAG_MMAP 6
#define MB2_TAG_FRAMEBUFFER 8
#define MB2_TAG_ACPI_OLD 14              /* a copy of the ACPI 1.0 RSDP (20 bytes) */
#define MB2_TAG_ACPI_NEW 15              /* a copy of the ACPI 2.0+ RSDP (36 bytes) */

struct mb2_info {
    uint32_t total_size, reserved;
} __attribute__((packed));

struct mb2_tag {
    uint32_t type, size;
} __attribute__((packed));

struct mb2_tag_bootdev {
    uint32_t type, size;
    uint32_t biosdev, partition, sub_partition;
} __attribute__((packed));

/* The entries have E820's layout (struct e820_entry, bootinfo.h). */
struct mb2_tag_mmap {
    uint32_t type, size;
    uint32_t entry_size, entry_version;
} __attribute__((packed));

#endif
