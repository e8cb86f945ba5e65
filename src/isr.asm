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

; Vectors for which the CPU pushes an error code: #DF 8, #TS 10, #NP 11, #SS 12,
; #GP 13, #PF 14, #AC 17, #CP 21, and AMD's #VC 29 and #SX 30.
%macro ISR_NOERR 1
global isr_stub_%1
isr_stub_%1:
    push qword 0            ; dummy error code
    push qword %1           ; vector
    jmp isr_common
%endmacro

%macro ISR_ERR 1
global isr_stub_%1
isr_stub_%1:
    push qword %1           ; vector (the CPU already pushed the error code)
    jmp isr_common
%endmacro

ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR   8
ISR_NOERR 9
ISR_ERR   10
ISR_ERR   11
ISR_ERR   12
ISR_ERR   13
ISR_ERR   14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR   17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR   21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_ERR   29
ISR_ERR   30
ISR_NOERR 31

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
%rep 32
    dq isr_stub_ %+ i
%assign i i + 1
%endrep
