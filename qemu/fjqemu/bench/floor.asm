; Benchmark floor: the least a BIOS boot can do. Assembled by make bench (qemu/fjqemu/bench/boot.py).
        bits 16
        org 0x7c00
        mov si, uart            ; program COM1 as stage 2 does: 115200 8N1, FIFOs on
.uart:  lodsw                   ; (QEMU sends without it; Bochs's UART needs a divisor)
        cmp al, 0xff
        je .send
        mov dx, 0x3f8
        add dl, al
        mov al, ah
        out dx, al
        jmp .uart
.send:  mov dx, 0x3f8           ; COM1 data register
        mov al, '!'
        out dx, al
        cli
.halt:  hlt
        jmp .halt
uart:   db 1, 0x00, 3, 0x80, 0, 0x01, 1, 0x00, 3, 0x03, 2, 0xc7, 4, 0x0b, 0xff, 0
        times 510 - ($ - $$) db 0
        dw 0xaa55
