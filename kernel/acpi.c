/* ACPI table lookup (ACPI 6.x §5.2): RSDP -> RSDT -> the table with a given signature. */
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

/* The RSDP ("RSD PTR ", 16-byte aligned) in the EBDA's first KiB or in E0000h-FFFFFh. */
static const uint8_t *find_rsdp(void)
{
    uintptr_t bda_ebda = 0x40e; /* BIOS data area: EBDA segment */
    __asm__("" : "+r"(bda_ebda)); /* a computed pointer: GCC flags constants below 4 KiB */
    uint64_t ebda = (uint64_t)*(const volatile uint16_t *)bda_ebda << 4;
    uint64_t ranges[2][2] = { { ebda, ebda + 1024 }, { 0xe0000, 0x100000 } };
    for (int r = 0; r < 2; r++) {
        if (r == 0 && (ebda < 0x80000 || ebda >= 0xa0000))
            continue; /* no plausible EBDA pointer */
        for (uint64_t a = ranges[r][0]; a + 20 <= ranges[r][1]; a += 16) {
            const uint8_t *p = (const uint8_t *)a;
            if (memcmp(p, "RSD PTR ", 8) == 0 && checksum_ok(p, 20))
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
    uint64_t rsdt = acpi_rd32(rsdp + 16);
    if (rsdt == 0 || rsdt + 36 > IDENTITY_MAP_END)
        return NULL;
    const uint8_t *t = (const uint8_t *)rsdt;
    uint32_t len = acpi_rd32(t + 4);
    if (memcmp(t, "RSDT", 4) != 0 || len < 36 || rsdt + len > IDENTITY_MAP_END)
        return NULL;
    for (uint32_t off = 36; off + 4 <= len; off += 4) {
        uint64_t addr = acpi_rd32(t + off);
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
