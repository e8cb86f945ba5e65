/* Debugger hook for Bochs. */
#ifndef FARJUMP_BOCHS_H
#define FARJUMP_BOCHS_H

/* Bochs magic breakpoint: with `magic_break: enabled=1` in the bochsrc, Bochs
 * stops in its debugger on `xchg bx, bx`. Everywhere else (QEMU, real CPUs) it
 * swaps BX with itself, a no-op. */
#define BOCHS_BREAK() __asm__ volatile("xchg %%bx, %%bx" ::: "memory")

#endif
