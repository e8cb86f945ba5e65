/* How the kernel was booted (boot_info.boot_path), in words for the banner. */
#ifndef FARJUMP_BOOTPATH_H
#define FARJUMP_BOOTPATH_H

#include "bootinfo.h"

/* "the farjump BIOS loader", "Multiboot 1", "Multiboot 2 / GRUB", "UEFI", or
 * "an unknown loader (boot_path N)" written into buf. */
const char *boot_path_name(const struct boot_info *bi, char *buf, unsigned size);

/* Where the memory map came from: "BIOS E820", "Multiboot 1 memory map", ... */
const char *boot_path_memory_map(const struct boot_info *bi);

#endif
