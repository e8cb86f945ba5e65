/* GDT selectors (index * 8, TI = 0, RPL = 0). Stage 2's GDT (boot/stage2.asm) has the
 * first four; the kernel's (kernel/gdt.c) keeps them at the same places, so nothing that
 * remembers a selector (IDT gates, GDB's view, the boot tests) changes, and adds its TSS. */
#ifndef FARJUMP_SELECTORS_H
#define FARJUMP_SELECTORS_H

#define SEL_CODE32 0x08
#define SEL_DATA32 0x10
#define SEL_CODE64 0x18
#define SEL_DATA64 0x20
#define SEL_TSS 0x28 /* kernel only: a 16-byte system descriptor, slots 5 and 6 */

#endif
