; Test guest, stage: linked at linear 0x10200 (tests/guests/modes/link.ld) and entered in
; real mode at 1020:0000. It walks every paging mode, stopping nowhere: the tests break at
; the global labels. Each mode transition is at a global label; the SDM sections say why.
;   rm_entry      real mode, CS=1020h (IP = label - 0x10200)
;   pm32_entry    32-bit protected mode, no paging (SDM Vol. 3A §10.9.1)
;   paging32_on   32-bit paging, 4 MiB pages (CR4.PSE), PSE-36, a 4 KiB table (§4.3)
;   pae_on        PAE paging in protected mode, PDPT not page-aligned, NX (§4.4)
;   compat_on     IA-32e compatibility mode, 4-level paging, a 1 GiB page (§10.8.5)
;   lm64_on       64-bit mode
;   la57_on       5-level paging (CR4.LA57, changed only with paging off: §4.1.2), compat
;   la57_64       64-bit mode under 5-level paging
;   user_code     CPL 3, 64-bit (iretq, §6.14.1)
;   no_long       the end without long mode (qemu-system-i386)
bits 16
section .text
global rm_entry, rm_func, pm32_entry, paging32_on, pae_on, compat_on, lm64_on, back32
global la57_on, la57_64, to_user, user_code, no_long, gdt
BASE equ 0x10200
rm_entry:
        mov ax, cs
        mov ds, ax
        call rm_func
        cli
        lgdt [gdtr - BASE]              ; DS = CS = 1020h: the operand is an offset
        mov eax, cr0
        or eax, 1                       ; CR0.PE (§10.9.1)
        mov cr0, eax
        jmp dword 0x08:pm32_entry       ; far jump loads CS from the GDT
rm_func:
        mov bx, 0x1234
        ret

bits 32
pm32_entry:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov fs, ax
        mov gs, ax
        mov esp, 0x7c00
        mov edi, 0x20000                ; every table lives in 0x20000..0x2bfff
        mov ecx, 0xc000 / 4
        xor eax, eax
        rep stosd
        ; 32-bit paging (§4.3): PD at 0x20000
        mov dword [0x20000 + 0 * 4], 0x00000000 | 0x83         ; 4 MiB, P W PS
        mov dword [0x20000 + 1 * 4], 0x00400000 | 0x183        ; 4 MiB, P W PS G
        mov dword [0x20000 + 2 * 4], 0x21000 | 0x07            ; -> PT, P W U
        mov dword [0x20000 + 3 * 4], 0x00c00000 | (1 << 13) | 0x81  ; PSE-36: 0x1_00c00000
        mov dword [0x21000 + 0 * 4], 0xb8000 | 0x07            ; 0x800000 -> VGA, user
        mov dword [0x21000 + 1 * 4], 0x01000 | 0x05            ; 0x801000 -> 0x1000, user r/o
        mov eax, cr4
        or eax, 0x10 | 0x80             ; CR4.PSE (4 MiB pages), CR4.PGE
        mov cr4, eax
        mov eax, 0x20000
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000              ; CR0.PG
        mov cr0, eax
paging32_on:
        nop
        mov eax, cr0
        and eax, 0x7fffffff             ; paging off to switch to PAE (§4.1.2)
        mov cr0, eax
        xor ebp, ebp                    ; NX bit (high dword) if the CPU has it
        mov eax, 0x80000000
        cpuid
        cmp eax, 0x80000001
        jb .no_nx
        mov eax, 0x80000001
        cpuid
        bt edx, 20
        jnc .no_nx
        mov ebp, 0x80000000
        mov ecx, 0xc0000080             ; IA32_EFER.NXE (§4.1.1)
        rdmsr
        or eax, 0x800
        wrmsr
.no_nx:
        ; PAE (§4.4): PDPT at 0x22020 (CR3 bits 31:5), PD 0x23000, PT 0x24000
        mov dword [0x22020 + 0 * 8], 0x23000 | 0x01            ; PDPTE: P only
        mov dword [0x23000 + 0 * 8], 0x00000000 | 0x83         ; 2 MiB, P W PS
        mov dword [0x23000 + 1 * 8], 0x24000 | 0x07            ; -> PT
        mov dword [0x23000 + 2 * 8], 0x00400000 | 0x183        ; 2 MiB, P W PS G, NX
        mov dword [0x23000 + 2 * 8 + 4], ebp
        mov dword [0x24000 + 0 * 8], 0xb8000 | 0x07            ; 0x200000 -> VGA
        mov dword [0x24000 + 1 * 8], 0x01000 | 0x05            ; 0x201000 -> 0x1000, NX
        mov dword [0x24000 + 1 * 8 + 4], ebp
        mov eax, cr4
        or eax, 0x20                    ; CR4.PAE
        mov cr4, eax
        mov eax, 0x22020
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
pae_on:
        nop
        mov eax, 0x80000000             ; long mode? (CPUID 80000001h EDX.LM)
        cpuid
        cmp eax, 0x80000001
        jb no_long
        mov eax, 0x80000001
        cpuid
        bt edx, 29
        jnc no_long
        mov eax, cr0
        and eax, 0x7fffffff
        mov cr0, eax
        ; 4-level (§4.5): PML4 0x25000, PDPT 0x26000 (a 1 GiB page), PD 0x27000
        mov dword [0x25000 + 0 * 8], 0x26000 | 0x07
        mov dword [0x26000 + 0 * 8], 0x00000000 | 0x87         ; 1 GiB, P W U PS
        mov dword [0x26000 + 1 * 8], 0x27000 | 0x07
        mov dword [0x27000 + 0 * 8], 0x00200000 | 0x83         ; 0x40000000 -> 2 MiB
        mov dword [0x27000 + 1 * 8], 0x24000 | 0x07            ; -> the PAE PT (4 KiB)
        mov eax, 0x25000
        mov cr3, eax
        mov ecx, 0xc0000080
        rdmsr
        or eax, 0x100                   ; EFER.LME (§10.8.5)
        wrmsr
        mov eax, cr0
        or eax, 0x80000000              ; CR0.PG with LME: IA-32e mode, CS still 32-bit
        mov cr0, eax
compat_on:
        nop
        jmp 0x18:lm64_on                ; a 64-bit CS (L=1): 64-bit mode

bits 64
lm64_on:
        nop
        mov eax, 7                      ; LA57? (CPUID.(EAX=7,ECX=0):ECX[16])
        xor ecx, ecx
        cpuid
        bt ecx, 16
        jnc to_user
        push 0x08                       ; back to compatibility mode: paging may only be
        lea rax, [rel back32]           ; turned off there (§10.8.5.4)
        push rax
        retfq

bits 32
back32:
        mov eax, cr0
        and eax, 0x7fffffff             ; paging off: IA-32e mode ends (LMA=0)
        mov cr0, eax
        ; 5-level (§4.5): PML5 0x28000; [0] -> the 4-level PML4, [511] -> 0x29000 ->
        ; PDPT 0x2a000 -> PD 0x2b000: 0xffffffffc0000000 -> 0x200000 (2 MiB)
        mov dword [0x28000 + 0 * 8], 0x25000 | 0x07
        mov dword [0x28000 + 511 * 8], 0x29000 | 0x03
        mov dword [0x29000 + 511 * 8], 0x2a000 | 0x03
        mov dword [0x2a000 + 511 * 8], 0x2b000 | 0x03
        mov dword [0x2b000 + 0 * 8], 0x00200000 | 0x83
        mov eax, cr4
        or eax, 1 << 12                 ; CR4.LA57
        mov cr4, eax
        mov eax, 0x28000
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
la57_on:
        nop
        jmp 0x18:la57_64

bits 64
la57_64:
        nop
to_user:
        push 0x23                       ; SS: user data, RPL 3
        push 0x9000                     ; RSP
        push 0x002                      ; RFLAGS
        push 0x2b                       ; CS: user 64-bit code, RPL 3
        lea rax, [rel user_code]
        push rax
        iretq                           ; to CPL 3 (§6.14.1)
user_code:
        pause
        jmp user_code

bits 32
no_long:
        hlt
        jmp no_long

align 8
gdt:    dq 0
        dq 0x00cf9a000000ffff           ; 0x08 code 32-bit
        dq 0x00cf92000000ffff           ; 0x10 data
        dq 0x00af9a000000ffff           ; 0x18 code 64-bit
        dq 0x00cff2000000ffff           ; 0x20 user data (DPL 3)
        dq 0x00affa000000ffff           ; 0x28 user code 64-bit (DPL 3)
gdt_end:
gdtr:   dw gdt_end - gdt - 1
        dd gdt
