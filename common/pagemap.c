/* The kernel's 4 KiB mappings (pagemap.h). */
#include "pagemap.h"

#include "layout.h"
#include "paging.h"
#include "string.h"

uint64_t pagemap_flags(uint32_t pflags, int nx)
{
    uint64_t flags = 0;
    if (pflags & PAGEMAP_PF_W)
        flags |= PTE_W;
    if (!(pflags & PAGEMAP_PF_X) && nx)
        flags |= PTE_NX;
    return flags;
}

static uint64_t *pt_alloc(struct pt_pool *pool)
{
    if (pool->next + PAGE_SIZE > pool->end)
        return 0;
    uint64_t *table = (uint64_t *)(uintptr_t)pool->next;
    pool->next += PAGE_SIZE;
    memset(table, 0, PAGE_SIZE);
    return table;
}

static enum pagemap_status map_page(struct pt_pool *pool, uint64_t pml4, uint64_t virt,
                                    uint64_t phys, uint64_t flags)
{
    uint64_t *table = (uint64_t *)(uintptr_t)(pml4 & PTE_ADDR_MASK);
    /* 4-level paging: bits 47:39, 38:30, 29:21 index PML4, PDPT, PD (§4.5). */
    for (int shift = 39; shift > 12; shift -= 9) {
        uint64_t *entry = &table[(virt >> shift) & 511];
        if (!(*entry & PTE_P)) {
            uint64_t *next = pt_alloc(pool);
            if (!next)
                return PAGEMAP_NO_MEMORY;
            *entry = (uint64_t)(uintptr_t)next | PTE_P | PTE_W;
        } else if (*entry & PTE_PS) {
            return PAGEMAP_LARGE;
        }
        table = (uint64_t *)(uintptr_t)(*entry & PTE_ADDR_MASK);
    }
    uint64_t *pte = &table[(virt >> 12) & 511];
    if (*pte & PTE_P)
        return PAGEMAP_TWICE;
    *pte = (phys & PTE_ADDR_MASK) | flags | PTE_P;
    return PAGEMAP_OK;
}

enum pagemap_status pagemap_range(struct pt_pool *pool, uint64_t pml4, uint64_t vaddr,
                                  uint64_t paddr, uint64_t memsz, uint64_t flags,
                                  uint64_t *bad_va)
{
    uint64_t first = vaddr & ~(PAGE_SIZE - 1);
    for (uint64_t va = first; va < vaddr + memsz; va += PAGE_SIZE) {
        enum pagemap_status st = map_page(pool, pml4, va, paddr - (vaddr - va), flags);
        if (st != PAGEMAP_OK) {
            *bad_va = va;
            return st;
        }
    }
    return PAGEMAP_OK;
}

void pagemap_identity(uint64_t pt_base)
{
    uint64_t *pml4 = (uint64_t *)(uintptr_t)pt_base, *pdpt = pml4 + 512, *pd = pdpt + 512;
    memset(pml4, 0, 3 * PAGE_SIZE);
    pml4[0] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_W;
    pdpt[0] = (uint64_t)(uintptr_t)pd | PTE_P | PTE_W;
    for (uint64_t i = 0; i < IDENTITY_MAP_END / LARGE_PAGE_SIZE; i++)
        pd[i] = i * LARGE_PAGE_SIZE | PTE_P | PTE_W | PTE_PS;
}
