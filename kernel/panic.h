/* The panic screen: what every CPU exception ends in. */
#ifndef FARJUMP_PANIC_H
#define FARJUMP_PANIC_H

#include "frame.h"

/* Full-screen report on VGA (and the same lines as plain text on COM1): vector and
 * name, decoded error code, CR2, RIP with its symbol, all registers, control
 * registers and a stack trace; then a Bochs magic breakpoint and halt with
 * interrupts off. A fault inside the panic prints one line and halts. */
__attribute__((noreturn)) void panic_exception(const struct interrupt_frame *f);

#endif
