/* Physical memory layout: the one list stage 1, stage 2, the loader, the kernel, the link
 * scripts and the host tools share (docs/boot.md draws it). NASM, ld and Python get it
 * through build/gen/ (contracts/gen.c); C includes this file. Plain integer constants
 * only: the generator evaluates each one. */
#ifndef FARJUMP_LAYOUT_H
#define FARJUMP_LAYOUT_H

#define STAGE1_ADDR 0x7c00            /* where the BIOS loads the MBR */
#define BOOTINFO_ADDR 0x5000          /* struct boot_info (bootinfo.h) */
#define BOOT_LAYOUT 0x7dae            /* struct boot_layout inside the MBR (boot_layout.h) */
#define STACK_TOP 0x7000              /* stage 1 and 2 stack, grows down */
#define STAGE1_VARS 0x7e00            /* stage 1's disk variables, past the MBR (no byte left in it) */
#define STAGE2_ADDR 0x8000            /* stage 2 runs here ... */
#define STAGE2_END 0x10000            /* ... and must end here: its real-mode code uses DS = 0 */
#define PT_BASE 0x10000               /* page tables: identity map, then the kernel's */
#define PT_END 0x20000
#define KERNEL_BUF 0x20000            /* stage 2 reads the kernel file here ... */
#define KERNEL_BUF_END 0x90000        /* ... below the EBDA */
#define KERNEL_PHYS_MIN 0x100000      /* no kernel segment below 1 MiB */
#define IDENTITY_MAP_END 0x40000000   /* stage 2 identity-maps 0..1 GiB with 2 MiB pages */

/* The kernel's link addresses: physical load address and the higher-half offset. */
#define KERNEL_PHYS 0x100000
#define KERNEL_VMA 0xffffffff80000000

#endif
