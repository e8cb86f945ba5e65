; farjump stage 2: real mode -> 32-bit protected mode -> 64-bit long mode.
;
; Stage 1 jumps here (0000:STAGE2_ADDR) with DL = boot drive. In real mode, stage 2 fills
; the boot_info struct (drive, A20, E820 map), checks the CPU, and reads the kernel ELF
; file into KERNEL_BUF with the BIOS. Then it enters protected mode, builds an identity
; map of the first GiB, enters long mode and calls the C loader (boot/loader.c), which
; checks and loads the ELF and maps it in the higher half. Every mode switch happens at a
; global label: stage2_start, pm_entry, lm_entry, kernel_jump.

%include "common.inc"

extern loader_main
extern stage2_end                       ; boot/stage2.ld: the end of stage 2's bytes

COM1            equ 0x3f8

; TIMELINE_STAMP event: boot_info.timeline_tsc[event] = TSC, and its bit in
; timeline_recorded (struct boot_info, contracts/bootinfo.h). Clobbers EAX and EDX; usable in
; real and protected mode (absolute addresses below 64 KiB).
%macro TIMELINE_STAMP 1
        rdtsc
        mov [BOOTINFO_ADDR + boot_info.timeline_tsc + 8 * %1], eax
        mov [BOOTINFO_ADDR + boot_info.timeline_tsc + 8 * %1 + 4], edx
        or byte [BOOTINFO_ADDR + boot_info.timeline_recorded], 1 << %1
%endmacro

EFER_MSR        equ 0xc0000080

        section .stage2 progbits alloc exec write align=16
        bits 16

global stage2_start
stage2_start:
        xchg bx, bx                     ; Bochs magic breakpoint (see common.inc)
        jmp short stage2_main
        ; The rest of struct stage2_header (contracts/boot_layout.h): the image builder
        ; fills in the CRC-32s. A data object of its own, so that GDB's disassembler
        ; (fjgdb's, and the TUI asm window through it) shows it as data, not code.
global stage2_header_data:data (stage2_header_size - STAGE2_MAGIC_OFFSET)
stage2_header_data:
        dd STAGE2_MAGIC                 ; at offset 4, checked by stage 1
        dd 0                            ; CRC-32 of stage 2 after the header
        dd 0                            ; CRC-32 of the kernel file (the loader checks it)
%if $ - stage2_start != stage2_header_size
%error "stage 2's header does not match struct stage2_header"
%endif

stage2_main:
        ; Stage 1 left DS = ES = SS = 0 and SP = STACK_TOP; keep both.
        cld
        ; The CRC first, while stage 2's bytes are still those read from the disk (its
        ; variables change below); the verdict is reported once COM1 and the screen work.
        call stage2_crc32
        cmp eax, [STAGE2_ADDR + stage2_header.stage2_crc32]
        setne [stage2_corrupted]
        mov [boot_drive], dl
        rdtsc                           ; the first timeline stamp (stage 1 has no room)
        mov ebx, eax                    ; kept until boot_info is zeroed
        mov esi, edx
        mov di, BOOTINFO_ADDR
        mov cx, boot_info_size
        xor al, al
        rep stosb
        mov dword [BOOTINFO_ADDR + boot_info.magic], BOOTINFO_MAGIC
        mov dword [BOOTINFO_ADDR + boot_info.size], boot_info_size
        mov dl, [boot_drive]
        mov [BOOTINFO_ADDR + boot_info.boot_drive], dl
        mov [BOOTINFO_ADDR + boot_info.timeline_tsc + 8 * TL_STAGE2_START], ebx
        mov [BOOTINFO_ADDR + boot_info.timeline_tsc + 8 * TL_STAGE2_START + 4], esi
        or byte [BOOTINFO_ADDR + boot_info.timeline_recorded], 1 << TL_STAGE2_START

        call serial_init
        mov si, msg_banner
        call print
        cmp byte [stage2_corrupted], 0
        jne .corrupted

        call enable_a20
        call read_e820
        call check_long_mode
        TIMELINE_STAMP TL_A20_E820
        call load_kernel
        TIMELINE_STAMP TL_KERNEL_READ

        ; Protected mode (SDM Vol 3A §9.9.1): interrupts off for good (the real-mode IVT
        ; means nothing once PE=1 and there is no IDT), load the GDT, set CR0.PE, then a far
        ; jump, which reloads CS from the GDT and flushes the real-mode prefetch.
        mov si, msg_to_pm
        call print
        cli
        lgdt [gdt_descriptor]
        mov eax, cr0
        or eax, 1                       ; CR0.PE
        mov cr0, eax
        jmp dword SEL_CODE32:pm_entry

.corrupted:
        mov si, msg_corrupted
        call print
        mov eax, [STAGE2_ADDR + stage2_header.stage2_crc32]
        call print_hex32
        mov si, msg_corrupted_tail
        jmp fatal

; stage2_crc32: CRC-32 (IEEE 802.3, reflected, as zlib.crc32) of STAGE2_ADDR +
; stage2_header_size .. stage2_end, bit by bit: a 1 KiB table would cost more than the
; ~12 KiB it checks. Out: EAX. Clobbers CX, ESI. Addresses stay below 64 KiB (DS = 0).
stage2_crc32:
        mov esi, STAGE2_ADDR + stage2_header_size
        mov eax, 0xffffffff
.byte:
        xor al, [esi]
        mov cx, 8
.bit:
        shr eax, 1
        jnc .next_bit
        xor eax, 0xedb88320             ; the polynomial, reflected
.next_bit:
        loop .bit
        inc esi
        cmp esi, stage2_end
        jb .byte
        not eax
        ret

; ---- A20 ------------------------------------------------------------------------------
; With A20 off, address bit 20 is forced to 0 and FFFF:0510 aliases 0000:0500.

; a20_check: ZF=1 when A20 is off (a write through FFFF:0510 shows up at 0000:0500).
a20_check:
        push es
        push ax
        mov ax, 0xffff
        mov es, ax
        mov al, [0x0500]
        mov ah, [es:0x0510]
        push ax
        mov byte [0x0500], 0x00
        mov byte [es:0x0510], 0xff
        cmp byte [0x0500], 0xff
        pop ax
        mov [es:0x0510], ah             ; restore both bytes (MOV and POP keep ZF)
        mov [0x0500], al
        pop ax
        pop es
        ret

enable_a20:
        call a20_check
        jnz .on                         ; A20_ALREADY: boot_info.a20_method stays 0
        mov byte [BOOTINFO_ADDR + boot_info.a20_method], A20_BIOS
        mov ax, 0x2401                  ; INT 15h AX=2401h: enable A20 gate
        int 0x15
        call a20_check
        jnz .on
        mov byte [BOOTINFO_ADDR + boot_info.a20_method], A20_KBC
        call kbc_wait
        mov al, 0xd1                    ; 8042 command: write output port
        out 0x64, al
        call kbc_wait
        mov al, 0xdf                    ; output port: bit 1 = A20 on, bit 0 = no reset
        out 0x60, al
        call kbc_wait
        call a20_check
        jnz .on
        mov byte [BOOTINFO_ADDR + boot_info.a20_method], A20_FAST
        in al, 0x92
        or al, 0x02                     ; port 92h bit 1: fast A20
        and al, 0xfe                    ; bit 0 would reset the machine
        out 0x92, al
        call a20_check
        jnz .on
        mov si, msg_a20
        jmp fatal
.on:
        ret

; kbc_wait: until the 8042 input buffer is empty (status bit 1 clear), bounded.
kbc_wait:
        mov cx, 0xffff
.poll:
        in al, 0x64
        test al, 0x02
        loopnz .poll
        ret

; ---- E820 -----------------------------------------------------------------------------
; INT 15h EAX=E820h (ACPI spec, "System Address Map Interfaces"): one 24-byte entry per
; call, EBX = continuation (0 after the last), CF set on a call past the end. boot_info has
; room for BOOTINFO_E820_MAX entries; the rest are still counted (into a scratch entry), so
; e820_count says how many the BIOS reported and the kernel can warn that some are missing.
E820_COUNT_LIMIT equ 1024               ; a BIOS whose list never ends must not hang the boot
read_e820:
        mov di, BOOTINFO_ADDR + boot_info.e820
        xor ebx, ebx
        xor bp, bp
.next:
        mov dword [di + 20], 1          ; ACPI 3.0 attribute "valid", for 20-byte replies
        mov eax, 0xe820
        mov edx, 'PAMS'                 ; 534D4150h, "SMAP"
        mov ecx, E820_ENTRY_SIZE
        int 0x15
        jc .end
        cmp eax, 'PAMS'
        jne .end
        mov eax, [di + 8]               ; drop zero-length entries
        or eax, [di + 12]
        jz .skip
        inc bp
        add di, E820_ENTRY_SIZE
        cmp bp, BOOTINFO_E820_MAX
        jb .skip
        mov di, e820_scratch            ; boot_info is full: count the rest, keep none
.skip:
        cmp bp, E820_COUNT_LIMIT
        jae .end
        test ebx, ebx
        jnz .next
.end:
        test bp, bp
        jz .none
        mov [BOOTINFO_ADDR + boot_info.e820_count], bp
        mov si, msg_e820
        call print
        mov ax, bp
        call print_hex16
        mov si, msg_newline
        jmp print
.none:
        mov si, msg_no_e820
        jmp fatal

; ---- CPU check --------------------------------------------------------------------------
check_long_mode:
        ; CPUID exists when EFLAGS.ID (bit 21) can be flipped (SDM Vol 2A, CPUID).
        pushfd
        pop eax
        mov ecx, eax
        xor eax, 1 << 21
        push eax
        popfd
        pushfd
        pop eax
        push ecx
        popfd
        xor eax, ecx
        jz .no_cpuid
        mov eax, 0x80000000             ; highest extended leaf
        cpuid
        cmp eax, 0x80000001
        jb .no_long_mode
        mov eax, 0x80000001
        cpuid
        test edx, 1 << 29               ; CPUID.80000001H:EDX[29] = Intel 64 (long mode)
        jz .no_long_mode
        test edx, 1 << 20               ; CPUID.80000001H:EDX[20] = NX (execute disable)
        jz .done
        mov byte [BOOTINFO_ADDR + boot_info.nx], 1
.done:
        ret
.no_cpuid:
        mov si, msg_no_cpuid
        jmp fatal
.no_long_mode:
        mov si, msg_no_long_mode
        jmp fatal

; ---- kernel file -------------------------------------------------------------------------
load_kernel:
        mov ecx, [BOOT_LAYOUT + boot_layout.kernel_bytes]
        test ecx, ecx
        jz .missing
        cmp ecx, KERNEL_BUF_END - KERNEL_BUF
        ja .too_big
        mov si, msg_loading
        call print
        mov eax, ecx
        call print_hex32
        mov si, msg_newline
        call print
        add ecx, 511
        shr ecx, 9
        mov eax, [BOOT_LAYOUT + boot_layout.kernel_lba]
        mov di, KERNEL_BUF >> 4
        mov dl, [boot_drive]
        call read_sectors
        jc .read_error
        mov si, msg_read_lba
        cmp byte [dsk_chunk], 1         ; read_sectors fell back to one CHS sector per call
        jne .report
        mov si, msg_read_chs
.report:
        jmp print
.missing:
        mov si, msg_no_kernel
        jmp fatal
.too_big:
        mov si, msg_too_big
        call print
        mov eax, ecx
        call print_hex32
        mov si, msg_too_big_tail
        call print
        mov eax, KERNEL_BUF_END - KERNEL_BUF
        call print_hex32
        mov si, msg_newline
        jmp fatal
.read_error:
        mov si, msg_read_error
        call print
        mov al, ah
        call print_hex8
        mov si, msg_read_error_lba
        call print
        mov eax, [dsk_dap.lba]          ; the first sector of the call that failed
        call print_hex32
        mov si, msg_newline
        jmp fatal

; disk_retry_msg: read_sectors (disk.inc) calls this before it resets the disk and tries
; again, with AH = the BIOS status of the failed call.
disk_retry_msg:
        pusha
        mov bl, ah
        mov si, msg_retry
        call print
        mov eax, [dsk_dap.lba]
        call print_hex32
        mov si, msg_retry_status
        call print
        mov al, bl
        call print_hex8
        mov si, msg_retry_attempt
        call print
        mov al, DISK_TRIES              ; dsk_tries already counts this failure
        sub al, [dsk_tries]
        add al, '0'
        call putc
        mov si, msg_retry_tail
        call print
        popa
        ret

; ---- output: BIOS screen and COM1 -------------------------------------------------------
serial_init:
        mov si, uart_setup
.next:
        lodsw                           ; AL = register offset, AH = value
        cmp al, 0xff
        je .done
        mov dx, COM1
        add dl, al
        mov al, ah
        out dx, al
        jmp .next
.done:
        ret

; 16550 set-up, (offset, value) pairs: no interrupts, DLAB, divisor 1 (115200 baud), 8N1,
; FIFOs on and cleared, DTR/RTS/OUT2.
uart_setup:
        db 1, 0x00, 3, 0x80, 0, 0x01, 1, 0x00, 3, 0x03, 2, 0xc7, 4, 0x0b, 0xff, 0

; print: SI = NUL-terminated string, to the screen with one BIOS call for the whole
; string (INT 10h AH=13h "write string" at the cursor, which handles CR/LF and scrolling
; as the teletype does), then to COM1. One call instead of one per character: under
; QEMU each INT 10h costs ~8 us (docs/performance.md).
print:
        pusha
        mov di, si
        xor cx, cx
.len:
        cmp byte [di], 0
        je .have_len
        inc di
        inc cx
        jmp .len
.have_len:
        jcxz .done
        push cx
        mov ah, 0x03                    ; cursor position of page 0 -> DH = row, DL = column
        xor bh, bh
        int 0x10
        pop cx
        push es
        push ds
        pop es                          ; ES:BP = the string (DS = 0)
        mov bp, si
        mov ax, 0x1301                  ; write string, attribute in BL, move the cursor
        mov bx, 0x0007                  ; page 0, light grey on black
        int 0x10
        pop es
.serial:
        lodsb
        test al, al
        jz .done
        call serial_putc
        jmp .serial
.done:
        popa
        ret

; putc: AL to the BIOS teletype (INT 10h AH=0Eh) and to COM1.
putc:
        pusha
        push ax
        mov ah, 0x0e
        xor bx, bx
        int 0x10
        pop ax
        call serial_putc
        popa
        ret

; serial_putc: AL to COM1.
serial_putc:
        pusha
        push ax
        mov dx, COM1 + 5
        mov cx, 0xffff                  ; bounded: a missing UART must not hang the boot
.wait:
        in al, dx
        test al, 0x20                   ; LSR.THRE: transmitter holding register empty
        loopz .wait
        pop ax
        mov dx, COM1
        out dx, al
        popa
        ret

print_hex32:                            ; EAX
        ror eax, 16
        call print_hex16
        ror eax, 16
print_hex16:                            ; AX
        xchg al, ah
        call print_hex8
        xchg al, ah
print_hex8:                             ; AL
        pusha
        mov cx, 2
        mov dl, al
.digit:
        rol dl, 4
        mov al, dl
        and al, 0x0f
        cmp al, 10                      ; nibble -> ASCII hex: CMP/SBB/DAS
        sbb al, 0x69
        das
        call putc
        loop .digit
        popa
        ret

; fatal: SI = message. Print it, stop Bochs here, halt. No reboot loop.
fatal:
        call print
        mov si, msg_halted
        call print
        xchg bx, bx                     ; Bochs magic breakpoint (see common.inc)
.halt:
        cli
        hlt
        jmp .halt

%define DISK_RETRY_HOOK                 ; disk_retry_msg below says more than "retry"
%include "disk.inc"

boot_drive:       db 0
stage2_corrupted: db 0                  ; 1: stage2_crc32 disagreed with the header
e820_scratch:     times E820_ENTRY_SIZE db 0 ; E820 entries past BOOTINFO_E820_MAX land here

msg_banner:       db "farjump stage 2", 13, 10, 0
msg_corrupted:    db "stage 2 corrupted: its CRC-32 is not 0x", 0
msg_corrupted_tail: db ", the one the image builder recorded (a bad disk read or a damaged image)", 13, 10, 0
msg_e820:         db "stage 2: E820 entries 0x", 0
msg_loading:      db "stage 2: reading kernel, bytes 0x", 0
msg_read_lba:     db "stage 2: kernel read with INT 13h AH=42h (LBA)", 13, 10, 0
msg_read_chs:     db "stage 2: kernel read with INT 13h AH=02h (CHS, no extensions)", 13, 10, 0
msg_to_pm:        db "stage 2: entering protected mode", 13, 10, 0
msg_retry:        db "stage 2: disk read at LBA 0x", 0
msg_retry_status: db " failed, BIOS error 0x", 0
msg_retry_attempt: db " (attempt ", 0
msg_retry_tail:   db " of ", '0' + DISK_TRIES, "), retrying", 13, 10, 0
msg_read_error:   db "stage 2: cannot read the kernel, BIOS error 0x", 0
msg_read_error_lba: db " at LBA 0x", 0
msg_no_kernel:    db "stage 2: no kernel on the disk (layout says 0 bytes)", 13, 10, 0
msg_too_big:      db "stage 2: kernel file is 0x", 0
msg_too_big_tail: db " bytes; the loader reads at most 0x", 0
msg_a20:          db "stage 2: cannot enable A20 (tried BIOS 2401h, 8042, port 92h)", 13, 10, 0
msg_no_e820:      db "stage 2: no memory map (INT 15h E820h unsupported)", 13, 10, 0
msg_no_cpuid:     db "stage 2: this CPU has no CPUID; farjump needs an x86-64 CPU", 13, 10, 0
msg_no_long_mode: db "stage 2: this CPU has no long mode (CPUID 80000001h EDX bit 29 clear); farjump needs an x86-64 CPU", 13, 10, 0
msg_halted:       db "halted.", 13, 10, 0
msg_newline:      db 13, 10, 0

; ---- GDT --------------------------------------------------------------------------------
; Flat segments (SDM Vol 3A §3.4.5). The high dword's flags nibble: G=1 (limit in 4 KiB
; units), D=1 for 32-bit segments, L=1 (and D=0) for the 64-bit code segment (§5.2.1).
        align 8
gdt:
        dq 0                            ; selector 0 must not be used (§3.4.2)
        dq 0x00cf9a000000ffff           ; 08h: 32-bit code, execute/read, base 0, 4 GiB
        dq 0x00cf92000000ffff           ; 10h: 32-bit data, read/write, base 0, 4 GiB
        dq 0x00af9a000000ffff           ; 18h: 64-bit code (L=1)
        dq 0x00cf92000000ffff           ; 20h: data for long mode (base and limit ignored)
gdt_end:

gdt_descriptor:
        dw gdt_end - gdt - 1
        dq gdt                          ; 8 bytes, so LGDT in 64-bit mode could use it too

; ---- protected mode ------------------------------------------------------------------------
        bits 32
global pm_entry
pm_entry:
        xchg bx, bx                     ; Bochs magic breakpoint (see common.inc)
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov esp, STACK_TOP
        TIMELINE_STAMP TL_PM_ENTRY

        call build_identity_map

        ; Long mode (SDM Vol 3A §9.8.5): CR4.PAE, CR3 = PML4, EFER.LME, then CR0.PG, which
        ; with LME set activates IA-32e mode (EFER.LMA=1). NXE only when CPUID has NX,
        ; else the WRMSR would fault.
        mov eax, cr4
        or eax, 1 << 5                  ; CR4.PAE
        mov cr4, eax
        mov eax, PT_BASE
        mov cr3, eax
        mov ecx, EFER_MSR
        rdmsr
        or eax, 1 << 8                  ; EFER.LME
        cmp byte [BOOTINFO_ADDR + boot_info.nx], 0
        je .no_nx
        or eax, 1 << 11                 ; EFER.NXE
.no_nx:
        wrmsr
        mov eax, cr0
        or eax, 1 << 31                 ; CR0.PG
        mov cr0, eax
        jmp SEL_CODE64:lm_entry         ; loads the L=1 code segment: 64-bit mode

; build_identity_map: PML4 at PT_BASE, PDPT at +1000h, PD at +2000h mapping virtual =
; physical for 0..IDENTITY_MAP_END with 2 MiB pages (PDE.PS, SDM Vol 3A §4.5.4). The C
; loader takes further tables from PT_BASE+3000h..PT_END.
%if IDENTITY_MAP_END > 0x40000000
%error "IDENTITY_MAP_END: one PD maps 1 GiB; a larger identity map needs more PDs"
%endif
build_identity_map:
        mov edi, PT_BASE
        mov ecx, 3 * 4096 / 4
        xor eax, eax
        rep stosd
        mov dword [PT_BASE], PT_BASE + 0x1000 + PTE_P + PTE_W
        mov dword [PT_BASE + 0x1000], PT_BASE + 0x2000 + PTE_P + PTE_W
        mov edi, PT_BASE + 0x2000
        mov eax, PTE_P | PTE_W | PTE_PS                         ; 2 MiB pages
        mov ecx, IDENTITY_MAP_END >> 21
.fill:
        mov [edi], eax
        add eax, 0x200000
        add edi, 8
        loop .fill
        ret

; ---- long mode -----------------------------------------------------------------------------
        bits 64
global lm_entry
lm_entry:
        xchg bx, bx                     ; Bochs magic breakpoint (see common.inc)
        mov ax, SEL_DATA64
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov rsp, STACK_TOP              ; 16-byte aligned, as the SysV ABI wants before CALL
        mov edi, BOOTINFO_ADDR
        call loader_main                ; returns the kernel entry, or halts with a message
        mov edi, BOOTINFO_ADDR          ; the kernel gets struct boot_info * in RDI
global kernel_jump
kernel_jump:
        jmp rax
