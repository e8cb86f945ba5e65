/* Starting the other CPUs (kernel/smp.c, kernel/ap/trampoline.asm, docs/boot.md "The other
 * CPUs"). The boot CPU copies the trampoline to AP_TRAMPOLINE, fills struct ap_params at
 * AP_PARAMS and sends INIT-SIPI-SIPI with vector AP_SIPI_VECTOR: the AP starts in real mode
 * at AP_SIPI_VECTOR:0000 = linear AP_TRAMPOLINE. Plain integer constants: gen.c exports
 * them to NASM, ld and Python. */
#ifndef FARJUMP_SMP_H
#define FARJUMP_SMP_H

#include <stdint.h>

#define AP_TRAMPOLINE 0x1000      /* a free page below 1 MiB (SIPI: page-aligned, < 1 MiB) */
#define AP_SIPI_VECTOR 0x01       /* AP_TRAMPOLINE >> 12: CS = 0100h, IP = 0 at the SIPI */
#define AP_PARAMS 0x1f00          /* struct ap_params, the last 256 bytes of that page */
#define AP_TRAMPOLINE_END 0x2000
#define AP_MAX_CPUS 16            /* CPUs the kernel starts (the boot CPU included) */
#define AP_STACK_SIZE 0x2000      /* each AP's stack in the kernel's .bss */

/* What the AP needs that the trampoline cannot know: the boot CPU's paging and mode
 * registers (copied, so the AP runs on the same page tables), its stack and its C entry.
 * The trampoline reads it; the AP writes `arrived` when it reaches ap_lm_entry. */
struct ap_params {
    uint64_t cr0;       /* the boot CPU's CR0 (PE, PG, WP ...) */
    uint64_t cr3;       /* PML4: below 4 GiB (PT_BASE), so a 32-bit MOV CR3 loads it */
    uint64_t cr4;       /* PAE (and whatever else the boot CPU has on) */
    uint64_t efer;      /* LME, and NXE when the page tables use NX */
    uint64_t entry;     /* ap_entry's virtual address (kernel, higher half) */
    uint64_t stack_top; /* this AP's stack (kernel virtual address) */
    uint32_t cpu;       /* this AP's number (the boot CPU is 0): ap_main's argument */
    uint32_t arrived;   /* 0 before the SIPI; the AP writes 1 in long mode */
};

#endif
