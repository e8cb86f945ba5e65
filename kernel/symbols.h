/* The kernel's own symbol table (fjqemu.ksymtab): address -> name+offset. */
#ifndef FARJUMP_SYMBOLS_H
#define FARJUMP_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symbol {
    const char *name;
    uint64_t address; /* start of the symbol */
    uint64_t size;    /* 0 for assembly labels, which nm gives no size */
};

/* The symbol containing addr: the nearest at or below it, if addr is inside it (or,
 * for a label without size, before the next symbol). False when there is none or the
 * table is missing. */
bool symbol_lookup(uint64_t addr, struct symbol *out);

/* "name+0x12/0x40" (or "name+0x12" for labels), "?" when unknown. Returns buf.
 * For a return address pass return_address: the name is looked up for addr - 1, the
 * CALL itself, since a call to a noreturn function can be the last instruction of its
 * function and the return address then already belongs to the next one. */
const char *symbol_format(uint64_t addr, bool return_address, char *buf, size_t size);

#endif
