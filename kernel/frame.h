/* The interrupt frame: what the exception stubs (isr.asm) leave on the stack. Its own
 * header so that the panic (which reads it) does not depend on the IDT code (which calls
 * the panic). */
#ifndef FARJUMP_FRAME_H
#define FARJUMP_FRAME_H

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

#endif
