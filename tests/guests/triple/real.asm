; A real-mode triple fault, for `make why` and `fj why` (tests/test_why.py): a boot
; sector that loads an IDTR of limit 0 and raises #BP.
;
; In real mode the IDTR still bounds the interrupt table (SDM Vol 3A §20.1.4): a vector
; whose 4-byte entry ends past the limit is a #GP; delivering that #GP fails the same way,
; which is a double fault (#GP is contributory, Table 6-5); delivering the #DF fails too,
; and the CPU shuts down: a triple fault. SeaBIOS reboots the machine exactly like this.
        bits 16
        section .text

global real_start
real_start:
        jmp 0x0000:normalised           ; CS=0, so IP is the linear address (as stage 1)

normalised:
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7000
        lidt [empty_idtr]               ; limit 0: no vector fits
global real_fault
real_fault:
        int3                            ; #BP -> #GP (IDT limit) -> #DF -> triple fault
        hlt

empty_idtr:
        dw 0                            ; limit
        dd 0                            ; base

        times 510 - ($ - $$) db 0
        dw 0xaa55
