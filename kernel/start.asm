; Kernel entry. Stage 2 jumps here (ELF e_entry) in 64-bit long mode with
; interrupts off and RDI = physical address of struct boot_info (bootinfo.h).

bits 64
default rel

section .text.entry progbits alloc exec nowrite align=16

global _start
extern kernel_main

_start:
    ; The loader's stack sits in low memory that the kernel will not keep
    ; track of; move to our own. RIP-relative LEA: no 64-bit absolute needed.
    lea rsp, [kernel_stack_top]
    ; RBP = 0 marks the outermost frame, so GDB and future backtraces stop here.
    xor ebp, ebp
    ; The SysV ABI promises DF = 0 at every call; the loader made no such promise.
    cld
    ; RDI still holds the boot_info pointer: it is kernel_main's first argument.
    ; RSP is 16-byte aligned here, so after CALL pushes the return address the
    ; callee sees the RSP = 8 (mod 16) the ABI expects.
    call kernel_main

    ; kernel_main should never return; if it does, park the CPU. HLT can wake
    ; on NMI/SMI, hence the loop.
.halt:
    cli
    hlt
    jmp .halt

section .bss nobits alloc noexec write align=4096

; A 4 KiB guard page, then the 16 KiB stack. stack_guard_init (stack.c) unmaps the
; guard page, so running off the bottom of the stack faults at once instead of
; silently overwriting whatever .bss lies below. align=4096 puts the guard page on a
; page boundary (the linker keeps input section alignment), so it covers nothing else.
; (No ALIGNB: NASM 2.16's ALIGNB macro trips its own -w+all.)
global kernel_stack_guard, kernel_stack, kernel_stack_top
kernel_stack_guard:
    resb 4096
kernel_stack:
    resb 16384
kernel_stack_top:
