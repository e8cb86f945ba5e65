/* How the kernel was booted, in words (bootpath.h). */
#include "bootpath.h"

#include "kprintf.h"

const char *boot_path_name(const struct boot_info *bi, char *buf, unsigned size)
{
    switch (bi->boot_path) {
    case BOOT_PATH_BIOS: return "the farjump BIOS loader";
    case BOOT_PATH_MULTIBOOT1: return "Multiboot 1";
    case BOOT_PATH_MULTIBOOT2: return "Multiboot 2 / GRUB";
    case BOOT_PATH_UEFI: return "UEFI";
    default:
        ksnprintf(buf, size, "an unknown loader (boot_path %u)", (unsigned)bi->boot_path);
        return buf;
    }
}

const char *boot_path_memory_map(const struct boot_info *bi)
{
    switch (bi->boot_path) {
    case BOOT_PATH_MULTIBOOT1: return "Multiboot 1 memory map";
    case BOOT_PATH_MULTIBOOT2: return "Multiboot 2 memory map";
    case BOOT_PATH_UEFI: return "UEFI GetMemoryMap";
    default: return "BIOS E820";
    }
}
