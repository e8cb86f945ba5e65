; Test guest, boot sector: loads the stage (STAGE_SECTORS sectors after this one) to
; 1020:0000 (linear 0x10200, where Linux's setup code runs too) and far-jumps there, so
; the stage runs in real mode with CS=1020h, not 0 (tests/guests/modes/README.md).
bits 16
org 0x7c00
boot_start:
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7c00
        mov si, dap
        mov ah, 0x42                    ; INT 13h extended read (EDD): DL = boot drive
        int 0x13
        jc boot_fail
        jmp 0x1020:0x0000               ; real mode, CS=1020h: a CS base of 0x10200
boot_fail:
        hlt
        jmp boot_fail
dap:    db 0x10, 0
        dw STAGE_SECTORS
        dw 0x0000, 0x1020               ; offset, segment
        dq 1                            ; LBA
        times 510 - ($ - $$) db 0
        dw 0xaa55
