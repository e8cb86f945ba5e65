/* Interrupt descriptor table and CPU exception handling. */
#ifndef FARJUMP_IDT_H
#define FARJUMP_IDT_H

#include <stdint.h>

/* The stack as isr.asm leaves it, lowest address first: the general registers
 * (pushed by isr_common, RAX first, so R15 ends up lowest), the vector and
 * error code (pushed by the stub; error_code is 0 when the CPU pushes none),
 * then what the CPU pushes on every 64-bit interrupt (SDM Vol 3A §6.14.2). */
struct interrupt_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector;
    uint64_t error_code;
    uint64_t rip;
    uint64_t cs;
    uint64_t rflags;
    uint64_t rsp;
    uint64_t ss;
};

/* Install gates for vectors 0-31 (the rest not present) and load IDTR. */
void idt_init(void);

/* Called from isr_common with the frame above; shows the panic screen and halts
 * (panic.c). `break exception_handler` in GDB stops at every exception. */
void exception_handler(struct interrupt_frame *frame);

/* "#PF", "Page Fault" style names from SDM Vol 3A Table 6-1 ("-", "Reserved"
 * for reserved vectors and anything >= 32). */
const char *exception_mnemonic(uint64_t vector);
const char *exception_name(uint64_t vector);

#endif
