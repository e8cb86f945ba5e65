; Exception entry stubs for vectors 0-31 (SDM Vol 3A §6.12, §6.14).
;
; In 64-bit mode the CPU aligns RSP to 16 bytes and pushes SS, RSP, RFLAGS, CS,
; RIP, and for some vectors an error code (SDM Vol 3A §6.14.2, Table 6-1). Each
; stub makes the stack uniform by pushing a dummy error code where the CPU does
; not, then the vector number, then jumps to isr_common, which pushes the
; general registers. The result is struct interrupt_frame in idt.h, lowest
; address (last push) first.

bits 64
default rel

section .text

extern exception_handler

%include "contracts.inc"

; One stub per vector. EXCEPTION_ERROR_CODES (bit v: the CPU pushes an error code for
; vector v) comes from the one exception table, contracts/exceptions.h.
%assign v 0
%rep EXCEPTION_VECTORS
global isr_stub_%[v]
isr_stub_%[v]:
%if (EXCEPTION_ERROR_CODES >> v) & 1 == 0
    push qword 0            ; dummy error code: the CPU pushes none for this vector
%endif
    push qword v            ; vector
    jmp isr_common
%assign v v + 1
%endrep

global isr_common
isr_common:
    ; Push order must match struct interrupt_frame read backwards (idt.h).
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15

    cld                     ; SysV ABI: DF = 0 on entry to C; the interrupted code may have set it
    mov rdi, rsp            ; argument: struct interrupt_frame *
    ; 22 qwords were pushed onto a 16-byte aligned RSP, so RSP is aligned
    ; already; align anyway so a future change to the frame cannot break the
    ; ABI. RBX is callee-saved, so it survives the call.
    mov rbx, rsp
    and rsp, -16
    call exception_handler
    mov rsp, rbx

    ; Only reached once a handler returns (none does yet): restore and resume.
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16             ; vector and error code
    iretq

; Stub addresses for idt_init, indexed by vector.
section .rodata
global isr_stub_table
align 8
isr_stub_table:
%assign i 0
%rep EXCEPTION_VECTORS
    dq isr_stub_%[i]
%assign i i + 1
%endrep
