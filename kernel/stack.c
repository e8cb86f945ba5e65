/* Guard page for the kernel stack.
 *
 * The loader maps the kernel's .bss with 4 KiB pages, so the guard page has its own
 * PTE. We find it by walking the live tables from CR3; the loader keeps its tables in
 * low memory (PT_BASE..PT_END), which stays identity mapped, so a table's physical
 * address is also a usable pointer. */
#include "stack.h"

#include <stddef.h>

#include "cpu.h"
#include "kprintf.h"
#include "layout.h"
#include "paging.h"


_Static_assert(STACK_GUARD_SIZE == 4096, "the guard is exactly one 4 KiB PTE");

/* Entry `index` of the table at physical `table`, or NULL when that table is not in
 * the identity map (then dereferencing it would fault). */
static volatile uint64_t *table_entry(uint64_t table, unsigned index)
{
    if (table >= IDENTITY_MAP_END)
        return NULL;
    return (volatile uint64_t *)(uintptr_t)(table + index * sizeof(uint64_t));
}

void stack_guard_init(void)
{
    uint64_t va = (uint64_t)(uintptr_t)kernel_stack_guard;
    uint64_t table = read_cr3() & PTE_ADDR_MASK;
    static const char *const level_names[] = { "PML4E", "PDPTE", "PDE", "PTE" };
    /* 4-level paging: bits 47:39, 38:30, 29:21, 20:12 index PML4, PDPT, PD, PT (§4.5). */
    for (int level = 0; level < 4; level++) {
        unsigned shift = 39 - 9 * (unsigned)level;
        volatile uint64_t *e = table_entry(table, (unsigned)(va >> shift) & 511);
        if (e == NULL) {
            kprintf("warning: stack guard: page table at 0x%llx is above the identity map, "
                    "stack overflows will not be caught\n", (unsigned long long)table);
            return;
        }
        uint64_t entry = *e;
        if (!(entry & PTE_P)) {
            kprintf("warning: stack guard: %s for %p not present, no guard page\n",
                    level_names[level], (void *)kernel_stack_guard);
            return;
        }
        if (level == 3) {
            *e = entry & ~PTE_P;
            invlpg(kernel_stack_guard);
            return;
        }
        if (entry & PTE_PS) {
            kprintf("warning: stack guard: %s for %p maps a large page, no guard page\n",
                    level_names[level], (void *)kernel_stack_guard);
            return;
        }
        table = entry & PTE_ADDR_MASK;
    }
}
