/* The kernel's own symbol table in its .ksymtab section: written after linking by the
 * host tool (qemu/fjqemu/ksymtab.py), read by the panic screen (kernel/symbols.c).
 *
 * Little endian, every offset from the start of the section:
 *   header   struct ksym_header
 *   entries  count x struct ksym, sorted by address
 *   strings  NUL-terminated names
 * The section is KSYMTAB_SIZE bytes, reserved by kernel/ksymtab.asm. */
#ifndef FARJUMP_KSYMTAB_H
#define FARJUMP_KSYMTAB_H

#include <stdint.h>

#define KSYMTAB_MAGIC 0x59534a46u /* "FJSY" in memory order */
#define KSYMTAB_SIZE 16384        /* the tool fails the build if the table outgrows it */

struct ksym_header {
    uint32_t magic;   /* KSYMTAB_MAGIC */
    uint32_t count;   /* entries */
    uint32_t strings; /* offset of the names */
    uint32_t used;    /* bytes used, header included */
};

struct ksym {
    uint64_t address;
    uint32_t size;
    uint32_t name; /* offset of the NUL-terminated name */
};

#endif
