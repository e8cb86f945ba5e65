/* Symbol lookup in the table fjqemu.ksymtab writes into the .ksymtab section (layout:
 * contracts/ksymtab.h). The panic path reads this, so every offset is checked against
 * the section size before use: a corrupt table gives "?" instead of a second fault. */
#include "symbols.h"

#include "kprintf.h"
#include "ksymtab.h"

/* ksymtab.asm. The end comes from the section: the linker script keeps it exactly. */
extern const unsigned char ksymtab[];
extern const unsigned char __ksymtab_end[];

static const struct ksym_header *table(void)
{
    const struct ksym_header *h = (const struct ksym_header *)ksymtab;
    uint64_t capacity = (uint64_t)(__ksymtab_end - ksymtab);
    if (h->magic != KSYMTAB_MAGIC || h->used > capacity || h->strings > h->used ||
        sizeof *h + (uint64_t)h->count * sizeof(struct ksym) > h->strings)
        return NULL;
    return h;
}

static const char *name_at(const struct ksym_header *h, uint32_t offset)
{
    if (offset < h->strings || offset >= h->used)
        return "?";
    /* The name must end inside the table. */
    for (uint32_t i = offset; i < h->used; i++)
        if (ksymtab[i] == '\0')
            return (const char *)ksymtab + offset;
    return "?";
}

bool symbol_lookup(uint64_t addr, struct symbol *out)
{
    const struct ksym_header *h = table();
    if (h == NULL || h->count == 0)
        return false;
    const struct ksym *syms = (const struct ksym *)(ksymtab + sizeof *h);

    /* Binary search for the last entry with address <= addr. */
    uint32_t lo = 0, hi = h->count; /* answer in [lo, hi) */
    if (syms[0].address > addr)
        return false;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (syms[mid].address <= addr)
            lo = mid;
        else
            hi = mid;
    }
    const struct ksym *s = &syms[lo];
    uint64_t offset = addr - s->address;
    if (s->size != 0 ? offset >= s->size
                     : lo + 1 >= h->count || addr >= syms[lo + 1].address)
        return false; /* past the end of the symbol: in padding or outside the kernel */
    out->name = name_at(h, s->name);
    out->address = s->address;
    out->size = s->size;
    return true;
}

const char *symbol_format(uint64_t addr, bool return_address, char *buf, size_t size)
{
    struct symbol sym;
    if (!symbol_lookup(return_address ? addr - 1 : addr, &sym))
        ksnprintf(buf, size, "?");
    else if (sym.size)
        ksnprintf(buf, size, "%s+0x%llx/0x%llx", sym.name,
                  (unsigned long long)(addr - sym.address), (unsigned long long)sym.size);
    else
        ksnprintf(buf, size, "%s+0x%llx", sym.name, (unsigned long long)(addr - sym.address));
    return buf;
}
