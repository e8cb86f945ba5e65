/* Mapping the kernel's segments with 4 KiB pages: the one page-table writer that every
 * boot path uses (stage 2's loader for the BIOS path, kernel/multiboot.c for Multiboot),
 * so the kernel runs with the same page permissions however it was booted. Tables are
 * reached through the identity map (a table's physical address is its pointer). */
#ifndef FARJUMP_PAGEMAP_H
#define FARJUMP_PAGEMAP_H

#include <stdint.h>

/* Page tables are handed out from [next, end), one zeroed 4 KiB page each. */
struct pt_pool {
    uint64_t next, end;
};

enum pagemap_status {
    PAGEMAP_OK = 0,
    PAGEMAP_NO_MEMORY, /* the pool is used up */
    PAGEMAP_LARGE,     /* an upper level already maps the address with a large page */
    PAGEMAP_TWICE,     /* the 4 KiB page is already mapped */
};

/* ELF p_flags bits (System V gABI). */
#define PAGEMAP_PF_X 1u
#define PAGEMAP_PF_W 2u

/* The leaf flags for a segment with ELF p_flags `pflags`: writable only with PF_W,
 * execute-disable without PF_X when `nx` (EFER.NXE is set). */
uint64_t pagemap_flags(uint32_t pflags, int nx);

/* Map virtual [vaddr, vaddr + memsz) to physical paddr.. (same offset within a page)
 * under the PML4 at physical `pml4`, with leaf `flags` (PTE_P added). Upper levels are
 * P|W without NX so that the leaf alone decides (SDM Vol 3A §4.6). On failure returns the
 * status and sets *bad_va to the address that failed. */
enum pagemap_status pagemap_range(struct pt_pool *pool, uint64_t pml4, uint64_t vaddr,
                                  uint64_t paddr, uint64_t memsz, uint64_t flags,
                                  uint64_t *bad_va);

/* Stage 2's identity map (boot/stage2.asm, build_identity_map), for the loaders that do
 * not run stage 2: PML4 at pt_base, PDPT at +1000h, PD at +2000h, virtual = physical for
 * 0..IDENTITY_MAP_END with 2 MiB pages, P|W. Further tables come from pt_base + 3000h. */
void pagemap_identity(uint64_t pt_base);

#endif
