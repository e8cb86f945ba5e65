/* 4-level paging entry bits (SDM Vol 3A §4.5, Tables 4-14 to 4-20), for stage 2's
 * identity map, the loader's kernel mappings and the kernel's stack guard. */
#ifndef FARJUMP_PAGING_H
#define FARJUMP_PAGING_H

#define PTE_P (1ull << 0)           /* present */
#define PTE_W (1ull << 1)           /* writable */
#define PTE_U (1ull << 2)           /* user */
#define PTE_PWT (1ull << 3)         /* write-through */
#define PTE_PCD (1ull << 4)         /* cache disable */
#define PTE_A (1ull << 5)           /* accessed */
#define PTE_D (1ull << 6)           /* dirty (leaf) */
#define PTE_PS (1ull << 7)          /* large page (PDPTE, PDE) */
#define PTE_PAT (1ull << 7)         /* PAT bit of a 4 KiB PTE: the same bit as PS */
#define PTE_G (1ull << 8)           /* global (leaf) */
#define PTE_PAT_LARGE (1ull << 12)  /* PAT bit of a 2 MiB / 1 GiB page */
#define PTE_NX (1ull << 63)         /* execute disable, with EFER.NXE */
#define PTE_ADDR_MASK 0x000ffffffffff000ull /* bits 51:12: next table or page frame */

#define PAGE_SIZE 0x1000ull
#define LARGE_PAGE_SIZE 0x200000ull

#endif
