/* Interrupt descriptor table and CPU exception handling. */
#ifndef FARJUMP_IDT_H
#define FARJUMP_IDT_H

#include "frame.h"

/* Install gates for vectors 0-31 (the rest not present) and load IDTR. */
void idt_init(void);
/* Load the IDT idt_init filled (an AP, kernel/smp.c, shares the boot CPU's). */
void idt_load(void);

/* Called from isr_common with the frame above; shows the panic screen and halts
 * (panic.c). `break exception_handler` in GDB stops at every exception. */
void exception_handler(struct interrupt_frame *frame);

#endif
