/* The kernel stack (start.asm): its bounds, and the guard page below it. */
#ifndef FARJUMP_STACK_H
#define FARJUMP_STACK_H

#include <stdbool.h>
#include <stdint.h>

#define STACK_GUARD_SIZE 4096

extern unsigned char kernel_stack_guard[], kernel_stack[], kernel_stack_top[];

/* Unmap the guard page below the kernel stack (a 4 KiB PTE in the loader's page
 * tables). Prints a warning and leaves it mapped when the tables are not as expected. */
void stack_guard_init(void);

/* Whether [addr, addr + size) lies inside the usable kernel stack (guard excluded):
 * the stack walk dereferences a frame pointer only after this says yes. */
static inline bool stack_contains(uint64_t addr, uint64_t size)
{
    uint64_t lo = (uint64_t)(uintptr_t)kernel_stack, hi = (uint64_t)(uintptr_t)kernel_stack_top;
    return addr >= lo && addr <= hi && size <= hi - addr;
}

/* Whether addr is in the guard page: a #PF/#DF there means a kernel stack overflow. */
static inline bool stack_in_guard(uint64_t addr)
{
    uint64_t lo = (uint64_t)(uintptr_t)kernel_stack_guard;
    return addr >= lo && addr - lo < STACK_GUARD_SIZE;
}

#endif
