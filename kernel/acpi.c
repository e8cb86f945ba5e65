/* ACPI table lookup (ACPI 6.x §5.2): RSDP -> XSDT or RSDT -> the table with a given
 * signature. The RSDP is the one the loader gave (boot_info.acpi_rsdp: UEFI's configuration
 * table, Multiboot 2's ACPI tag), else the one found in the BIOS areas. */
#include "acpi.h"

#include <stddef.h>

#include "layout.h"
#include "string.h"

static int checksum_ok(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += p[i];
    return sum == 0;
}

uint32_t acpi_rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t given_rsdp; /* acpi_use_rsdp() */

void acpi_use_rsdp(uint64_t phys)
{
    given_rsdp = phys;
}

/* An RSDP at p: signature and the ACPI 1.0 checksum over its first 20 bytes (§5.2.5.3). */
static int rsdp_ok(const uint8_t *p)
{
    return memcmp(p, "RSD PTR ", 8) == 0 && checksum_ok(p, 20);
}

/* The loader's RSDP if it is one, else the RSDP ("RSD PTR ", 16-byte aligned) in the
 * EBDA's first KiB or in E0000h-FFFFFh. */
static const uint8_t *find_rsdp(void)
{
    if (given_rsdp != 0 && given_rsdp + 36 <= IDENTITY_MAP_END &&
        rsdp_ok((const uint8_t *)given_rsdp))
        return (const uint8_t *)given_rsdp;
    uintptr_t bda_ebda = 0x40e; /* BIOS data area: EBDA segment */
    __asm__("" : "+r"(bda_ebda)); /* a computed pointer: GCC flags constants below 4 KiB */
    uint64_t ebda = (uint64_t)*(const volatile uint16_t *)bda_ebda << 4;
    uint64_t ranges[2][2] = { { ebda, ebda + 1024 }, { 0xe0000, 0x100000 } };
    for (int r = 0; r < 2; r++) {
        if (r == 0 && (ebda < 0x80000 || ebda >= 0xa0000))
            continue; /* no plausible EBDA pointer */
        for (uint64_t a = ranges[r][0]; a + 20 <= ranges[r][1]; a += 16) {
            const uint8_t *p = (const uint8_t *)a;
            if (rsdp_ok(p))
                return p;
        }
    }
    return NULL;
}

const uint8_t *acpi_table(const char *signature, uint32_t min_len)
{
    const uint8_t *rsdp = find_rsdp();
    if (rsdp == NULL)
        return NULL;
    /* ACPI 2.0+ (revision >= 2, length and extended checksum over 36 bytes): the XSDT
     * with 64-bit entries, when it is in reach; else the RSDT with 32-bit ones. */
    const char *sig = "RSDT";
    unsigned width = 4;
    uint64_t root = acpi_rd32(rsdp + 16);
    if (rsdp[15] >= 2 && acpi_rd32(rsdp + 20) >= 36 && checksum_ok(rsdp, 36)) {
        uint64_t xsdt = acpi_rd32(rsdp + 24) | (uint64_t)acpi_rd32(rsdp + 28) << 32;
        if (xsdt != 0 && xsdt + 36 <= IDENTITY_MAP_END) {
            root = xsdt;
            sig = "XSDT";
            width = 8;
        }
    }
    if (root == 0 || root + 36 > IDENTITY_MAP_END)
        return NULL;
    const uint8_t *t = (const uint8_t *)root;
    uint32_t len = acpi_rd32(t + 4);
    if (memcmp(t, sig, 4) != 0 || len < 36 || root + len > IDENTITY_MAP_END)
        return NULL;
    for (uint32_t off = 36; off + width <= len; off += width) {
        uint64_t addr = acpi_rd32(t + off);
        if (width == 8)
            addr |= (uint64_t)acpi_rd32(t + off + 4) << 32;
        if (addr == 0 || addr + 8 > IDENTITY_MAP_END)
            continue;
        const uint8_t *f = (const uint8_t *)addr;
        uint32_t flen = acpi_rd32(f + 4);
        if (memcmp(f, signature, 4) != 0 || flen < min_len || addr + flen > IDENTITY_MAP_END)
            continue;
        return f;
    }
    return NULL;
}
