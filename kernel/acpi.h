/* ACPI tables the kernel reads (the timeline's FADT, smp.c's MADT), found from the RSDP
 * through the XSDT or RSDT. Only tables inside the identity map (below IDENTITY_MAP_END) are
 * returned: their physical address is then a usable pointer. */
#ifndef FARJUMP_ACPI_H
#define FARJUMP_ACPI_H

#include <stdint.h>

/* The first table with this 4-character signature whose length is at least min_len, or
 * NULL (no RSDP, no such table, or not in the identity map). */
const uint8_t *acpi_table(const char *signature, uint32_t min_len);

/* The RSDP the loader gave (boot_info.acpi_rsdp, a physical address; 0: none, search the
 * BIOS areas). A pointer that holds no valid RSDP is ignored the same way. */
void acpi_use_rsdp(uint64_t phys);

/* A little-endian 32-bit field at p (tables are packed: no alignment). */
uint32_t acpi_rd32(const uint8_t *p);

#endif
