/* Small CPU helpers for the kernel (not the loader). */
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

static inline uint16_t read_cs(void)
{
    uint16_t value;
    __asm__ volatile("mov %%cs, %0" : "=r"(value));
    return value;
}

static inline uint64_t read_rflags(void)
{
    uint64_t value;
    __asm__ volatile("pushfq; pop %0" : "=r"(value) : : "memory");
    return value;
}

#endif
