/* Small CPU helpers for the kernel and the loader. */
#ifndef FARJUMP_CPU_H
#define FARJUMP_CPU_H

#include <stdint.h>

/* Interrupts off, then HLT forever. HLT can still wake on NMI or SMI, hence the loop. */
__attribute__((noreturn)) static inline void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt" ::: "memory");
}

/* CR2 holds the linear address that caused the last page fault (SDM Vol 3A §4.7). */
static inline uint64_t read_cr2(void)
{
    uint64_t value;
    __asm__ volatile("mov %%cr2, %0" : "=r"(value));
    return value;
}

/* Control registers for the panic screen: CR0 (PE/PG/WP...), CR3 (page-table root),
 * CR4 (PAE/PGE...), SDM Vol 3A §2.5. */
static inline uint64_t read_cr0(void)
{
    uint64_t value;
    __asm__ volatile("mov %%cr0, %0" : "=r"(value));
    return value;
}

static inline void write_cr0(uint64_t value)
{
    __asm__ volatile("mov %0, %%cr0" : : "r"(value) : "memory");
}

#define CR0_WP (1ull << 16) /* write protect: read-only pages bind ring 0 too (§2.5) */

static inline uint64_t read_cr3(void)
{
    uint64_t value;
    __asm__ volatile("mov %%cr3, %0" : "=r"(value));
    return value;
}

/* Writing CR3, even with its own value, flushes the non-global TLB entries (§4.10.4.1). */
static inline void write_cr3(uint64_t value)
{
    __asm__ volatile("mov %0, %%cr3" : : "r"(value) : "memory");
}

static inline uint64_t read_cr4(void)
{
    uint64_t value;
    __asm__ volatile("mov %%cr4, %0" : "=r"(value));
    return value;
}

/* Drop one page's translation from the TLB after changing its PTE (SDM Vol 3A §4.10.4). */
static inline void invlpg(const void *addr)
{
    __asm__ volatile("invlpg (%0)" : : "r"(addr) : "memory");
}

static inline uint16_t read_cs(void)
{
    uint16_t value;
    __asm__ volatile("mov %%cs, %0" : "=r"(value));
    return value;
}

#endif
