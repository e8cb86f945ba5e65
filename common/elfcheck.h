/* The kernel ELF's checks that every loader makes (stage 2's loader, boot/loader.c, and
 * the UEFI loader, boot/uefi.c): the ELF64 header, each PT_LOAD segment against the memory
 * layout (contracts/layout.h), and overlaps. A check that fails calls elf_fail, which each
 * loader defines (print the message, halt); docs/troubleshooting.md explains each message. */
#ifndef FARJUMP_ELFCHECK_H
#define FARJUMP_ELFCHECK_H

#include <stdint.h>

/* ELF64 (System V gABI; x86-64 psABI for EM_X86_64). */
struct elf64_ehdr {
    unsigned char e_ident[16];
    uint16_t e_type, e_machine;
    uint32_t e_version;
    uint64_t e_entry, e_phoff, e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
};

struct elf64_phdr {
    uint32_t p_type, p_flags;
    uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
};

enum {
    ELFCLASS64 = 2, ELFDATA2LSB = 1, ET_EXEC = 2, EM_X86_64 = 62,
    PT_LOAD = 1, PF_X = 1, PF_W = 2, /* = PAGEMAP_PF_X, PAGEMAP_PF_W (pagemap.h) */
};

/* Print "loader: <message>" and stop; defined by each loader. */
__attribute__((noreturn, format(printf, 1, 2))) void elf_fail(const char *fmt, ...);

/* The header of the `size`-byte file at `file`: ELF64, little-endian, x86-64, ET_EXEC,
 * program headers inside the file. */
const struct elf64_ehdr *elf_check_header(const uint8_t *file, uint64_t size);

/* Segment `i`: its bytes inside the file, physical KERNEL_PHYS_MIN..IDENTITY_MAP_END,
 * virtual in the higher half, the same offset within a page. */
void elf_check_segment(const struct elf64_phdr *ph, unsigned i, uint64_t size);

/* A PT_LOAD with bytes in memory. */
int elf_loadable(const struct elf64_phdr *ph);

/* Segments copied on top of each other would silently corrupt the kernel. */
void elf_check_overlaps(const struct elf64_phdr *ph, unsigned n);

/* Everything about the kernel file's segments, before any is copied: each PT_LOAD passes
 * elf_check_segment and then the caller's own `extra` check (may be NULL; `ctx` is passed
 * on), there is at least one, the entry lies inside an executable one, and none overlap.
 * Sets *lo and *hi to the physical span to load (hi one past the end). */
void elf_check_segments(const struct elf64_ehdr *eh, uint64_t size,
                        void (*extra)(const struct elf64_phdr *ph, unsigned i, const void *ctx),
                        const void *ctx, uint64_t *lo, uint64_t *hi);

#endif
