; farjump stage 1: the 512-byte MBR.
;
; The BIOS loads this sector at 0000:7C00 (or 07C0:0000 on some BIOSes) and jumps to it in
; real mode with DL = boot drive. Stage 1 only loads stage 2, whose place on the disk it
; reads from the boot_layout table that fjqemu.image fills in, and jumps to it.

%include "common.inc"

        bits 16
        section .text

global stage1_start
stage1_start:
        xchg bx, bx                     ; Bochs magic breakpoint (see common.inc)
        ; A far jump sets CS=0 whatever segment the BIOS used, so IP equals the linear
        ; address and GDB's $pc, breakpoints and symbols all agree.
        jmp 0x0000:normalised

normalised:
        cli                             ; no interrupt between the SS and SP loads
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, STACK_TOP               ; grows down from 7000h: not in this code's page
        sti
        cld

        ; A disk that fjqemu.image did not write (no 'FJ' in the layout table) ends in
        ; the same message as a stage 2 without its magic, whatever is left in memory.
        cmp word [layout + boot_layout.magic], LAYOUT_MAGIC
        jne bad_stage2
        mov eax, [layout + boot_layout.stage2_lba]
        mov cx, [layout + boot_layout.stage2_sectors]
        ; More sectors than STAGE2_ADDR..STAGE2_END holds would read over the IVT and this
        ; code (the segment wraps at 0xffff sectors): a damaged table, same message.
        cmp cx, (STAGE2_END - STAGE2_ADDR) / 512
        ja bad_stage2
        mov di, STAGE2_ADDR >> 4
        call read_sectors               ; DL = boot drive, kept in dsk_drive
        jc read_failed

        cmp dword [STAGE2_ADDR + stage2_header.magic], STAGE2_MAGIC
        jne bad_stage2

        mov dl, [dsk_drive]             ; stage 2 receives the boot drive the same way we did
        jmp 0x0000:STAGE2_ADDR

bad_stage2:
        mov si, msg_bad_stage2
        jmp fail
read_failed:
        mov si, msg_read_failed
        call print
        call print_hex8                 ; AH = BIOS status
        mov si, msg_newline
fail:
        call print
        xchg bx, bx                     ; Bochs magic breakpoint (see common.inc)
.halt:
        cli
        hlt
        jmp .halt

; print: SI = NUL-terminated string, through the BIOS teletype (INT 10h AH=0Eh, page 0)
; and port E9h (Bochs port_e9_hack, QEMU -debugcon).
print:
        pusha
.loop:
        lodsb
        test al, al
        jz .done
        out 0xe9, al                    ; Bochs/QEMU debug console: the message survives
        mov ah, 0x0e                    ; even where nobody sees the screen
        xor bx, bx
        int 0x10
        jmp .loop
.done:
        popa
        ret

; print_hex8: AH as two hex digits.
print_hex8:
        pusha
        mov cx, 2
        mov dl, ah
.digit:
        rol dl, 4
        mov al, dl
        and al, 0x0f
        cmp al, 10                      ; nibble -> '0'-'9' / 'A'-'F' without a table:
        sbb al, 0x69                    ; the classic CMP/SBB/DAS sequence
        das
        out 0xe9, al
        mov ah, 0x0e
        xor bx, bx
        int 0x10
        loop .digit
        popa
        ret

%define DISK_VARS_AT STAGE1_VARS      ; disk.inc's variables outside the sector
%include "disk.inc"
        section .text                   ; back from disk.inc's 'absolute'

; Messages are short: stage 1 has 430 bytes for code and text. docs/troubleshooting.md
; explains each one.
msg_retry:       db "retry", 13, 10, 0
msg_read_failed: db "disk error 0x", 0
msg_bad_stage2:  db "no stage2", 13, 10, 0
msg_newline      equ $ - 3              ; the CR LF NUL above: 3 bytes saved

        times (BOOT_LAYOUT - 0x7c00) - ($ - $$) db 0
global layout:data boot_layout_size
layout:
        istruc boot_layout
        iend
        times 510 - ($ - $$) db 0
        ; A symbol of its own, so that GDB names 0x7dfe boot_signature, not layout+80.
global boot_signature:data 2
boot_signature:
        dw 0xaa55
