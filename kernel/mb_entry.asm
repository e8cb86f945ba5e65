; The kernel's Multiboot way in: the Multiboot 1 and Multiboot 2 headers, and mb_entry,
; the 32-bit entry both loaders jump to (QEMU's -kernel for Multiboot 1, GRUB's
; multiboot2 for Multiboot 2). docs/boot.md, "Multiboot", tells the whole hand-off.
;
; The kernel is linked in the higher half (KERNEL_VMA + physical), but a Multiboot loader
; enters in 32-bit protected mode with paging off (Multiboot spec §3.2, Multiboot2 spec
; §3.3): the code here up to mb_high runs at its physical address, so every address it
; uses is written `symbol - KERNEL_VMA`. It builds a temporary map (identity 0..1 GiB and
; the same 1 GiB at KERNEL_VMA, 2 MiB pages, in this file's .bss), enters long mode and
; calls multiboot_main (kernel/multiboot.c) in the higher half; that builds boot_info and the
; kernel's real page tables exactly as the BIOS path has them, then jumps to _start.

bits 32

%define PHYS(x) ((x) - KERNEL_VMA)
EFER_MSR        equ 0xc0000080
COM1            equ 0x3f8

extern __kernel_start, __data_end, __kernel_end, kernel_stack_top, multiboot_main

; ---- headers -----------------------------------------------------------------------------
; kernel.ld puts .multiboot right after _start, at the start of the file's first PT_LOAD
; (file offset 1000h): inside the first 8 KiB (Multiboot 1) and 32 KiB (Multiboot 2).
section .multiboot progbits alloc exec nowrite align=8

%include "contracts.inc"

; Multiboot 1 (spec §3.1.1-3.1.3). Flag bit 16 (the "a.out kludge"): the load addresses
; are here, so the loader copies the file as a flat image (QEMU refuses a 64-bit ELF
; otherwise). That works because each PT_LOAD's file offset minus its physical address
; is the same (the link uses -z max-page-size=0x1000 and page-aligned segments).
global mb1_header
mb1_header:
        dd MB1_HEADER_MAGIC
        dd MB1_HEADER_FLAGS
        dd (-(MB1_HEADER_MAGIC + MB1_HEADER_FLAGS)) & 0xffffffff
        dd PHYS(mb1_header)             ; header_addr: where this header lands
        dd PHYS(__kernel_start)         ; load_addr: the first PT_LOAD (.text)
        dd PHYS(__data_end)             ; load_end_addr: end of the file's bytes (.data)
        dd PHYS(__kernel_end)           ; bss_end_addr: the loader zeroes up to here
        dd PHYS(mb_entry)               ; entry_addr

; Multiboot 2 (spec §3.1). GRUB loads the ELF's PT_LOAD segments at their physical
; addresses itself; the entry address tag is needed because e_entry (_start) is a 64-bit
; virtual address that a 32-bit loader cannot jump to.
        align 8
global mb2_header
mb2_header:
        dd MB2_HEADER_MAGIC
        dd MB2_ARCH_I386
        dd mb2_header_end - mb2_header  ; header_length
        dd (-(MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))) & 0xffffffff
        dw MB2_HEADER_TAG_ENTRY, 0      ; entry address tag, not optional
        dd 12
        dd PHYS(mb_entry)
        align 8                         ; tags are 8-byte aligned
        dw MB2_HEADER_TAG_END, 0
        dd 8
mb2_header_end:

; ---- 32-bit entry ------------------------------------------------------------------------
; In .multiboot too: NASM's DWARF describes one section per file well enough for GDB
; (source lines at mb_entry), and this code runs only once, before the kernel.

; EAX = boot magic (2BADB002h Multiboot 1, 36D76289h Multiboot 2), EBX = physical address of
; the boot information; flat 32-bit CS/DS, paging off, interrupts off, A20 on; no stack.
global mb_entry
mb_entry:
        cli
        cld
        mov edi, eax                    ; multiboot_main(magic, info): SysV RDI, RSI
        mov esi, ebx
        ; Long mode needs CPUID 80000001h EDX bit 29 (SDM Vol 3A §9.8.5).
        mov eax, 0x80000000
        cpuid
        cmp eax, 0x80000001
        jb mb_no_long_mode
        mov eax, 0x80000001
        cpuid
        test edx, 1 << 29
        jz mb_no_long_mode
        mov ebp, edx                    ; bit 20: NX exists

        ; Temporary tables, zeroed first (the loader zeroed .bss, but be sure).
        push edi
        mov edi, PHYS(mb_pml4)
        mov ecx, 4 * 4096 / 4
        xor eax, eax
        rep stosd
        pop edi
        ; PML4[0] -> PDPT_lo, PML4[511] -> PDPT_hi; PDPT_lo[0] and PDPT_hi[510] -> the one PD
        ; of 2 MiB pages for 0..1 GiB: virtual 0.. and KERNEL_VMA.. both reach physical 0..
        mov dword [PHYS(mb_pml4)], PHYS(mb_pdpt_lo) + PTE_P + PTE_W
        mov dword [PHYS(mb_pml4) + 511 * 8], PHYS(mb_pdpt_hi) + PTE_P + PTE_W
        mov dword [PHYS(mb_pdpt_lo)], PHYS(mb_pd) + PTE_P + PTE_W
        mov dword [PHYS(mb_pdpt_hi) + ((KERNEL_VMA >> 30) & 511) * 8], PHYS(mb_pd) + PTE_P + PTE_W
        mov ebx, PHYS(mb_pd)
        mov eax, PTE_P | PTE_W | PTE_PS
        mov ecx, IDENTITY_MAP_END >> 21
.fill:
        mov [ebx], eax
        add eax, 0x200000
        add ebx, 8
        loop .fill

        ; A GDT with a 64-bit code segment at SEL_CODE64 (the kernel loads its own later).
        lgdt [PHYS(mb_gdtr)]
        ; Long mode (SDM Vol 3A §9.8.5): CR4.PAE, CR3, EFER.LME (and NXE when CPUID has
        ; NX, as stage 2 does), then CR0.PG activates IA-32e mode.
        mov eax, cr4
        or eax, 1 << 5                  ; CR4.PAE
        mov cr4, eax
        mov eax, PHYS(mb_pml4)
        mov cr3, eax
        mov ecx, EFER_MSR
        rdmsr
        or eax, 1 << 8                  ; EFER.LME
        test ebp, 1 << 20
        jz .no_nx
        or eax, 1 << 11                 ; EFER.NXE
.no_nx:
        wrmsr
        mov eax, cr0
        or eax, (1 << 31) | 1           ; CR0.PG (and PE, already set)
        mov cr0, eax
        jmp SEL_CODE64:PHYS(mb_long)    ; loads the L=1 code segment: 64-bit mode

; No long mode: say so on COM1 (the loader left it usable or not at all) and halt.
mb_no_long_mode:
        mov esi, PHYS(mb_msg_no_lm)
        mov dx, COM1
.next:
        lodsb
        test al, al
        jz .halt
        out dx, al
        jmp .next
.halt:
        hlt
        jmp .halt

; ---- 64-bit, still at the physical address -------------------------------------------------
bits 64
global mb_long
mb_long:
        mov ax, SEL_DATA64
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov rax, mb_high                ; an absolute 64-bit address: into the higher half
        jmp rax

; ---- 64-bit, higher half ---------------------------------------------------------------
global mb_high
mb_high:
        mov rsp, kernel_stack_top       ; _start moves to the same stack again
        xor ebp, ebp                    ; the outermost frame for backtraces
        mov edi, edi                    ; zero-extend: the SDM does not promise the upper
        mov esi, esi                    ; halves across mode switches (SDM Vol 1 §3.4.1.1)
        call multiboot_main             ; does not return
.halt:
        cli
        hlt
        jmp .halt

mb_msg_no_lm:
        db "farjump: this CPU has no long mode (CPUID 80000001h EDX bit 29); halted", 13, 10, 0

        align 8
mb_gdt:
        dq 0
        ; Accessed bits preset (9Bh/93h): loading a selector then writes nothing to this
        ; read-only page (SDM Vol 3A §3.4.5.1).
        dq 0x00cf9b000000ffff           ; SEL_CODE32
        dq 0x00cf93000000ffff           ; SEL_DATA32
        dq 0x00af9b000000ffff           ; SEL_CODE64: L=1
        dq 0x00cf93000000ffff           ; SEL_DATA64
mb_gdt_end:
mb_gdtr:
        dw mb_gdt_end - mb_gdt - 1
        dd PHYS(mb_gdt)                 ; LGDT in 32-bit mode reads a 32-bit base

section .bss nobits alloc noexec write align=4096
mb_pml4:        resb 4096
mb_pdpt_lo:     resb 4096
mb_pdpt_hi:     resb 4096
mb_pd:          resb 4096
