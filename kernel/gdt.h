/* The kernel's own GDT with a 64-bit TSS, so that #DF can switch to a known-good stack. */
#ifndef FARJUMP_GDT_H
#define FARJUMP_GDT_H

/* Selectors: contracts/selectors.h, the same as the loader's GDT. */
#include "selectors.h"

/* Interrupt stack table slot for #DF (1-7 are valid; 0 in a gate means "no switch"). */
#define IST_DOUBLE_FAULT 1

/* Load the GDT, reload CS/DS/ES/SS/FS/GS with its selectors and load TR. Call before
 * idt_init: the gates take the current CS. */
void gdt_init(void);

/* The stack #DF runs on (through IST1), for messages about where a panic ran. */
#define DOUBLE_FAULT_STACK_SIZE 8192
extern unsigned char double_fault_stack[DOUBLE_FAULT_STACK_SIZE];

#endif
