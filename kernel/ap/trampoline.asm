; The application processors' way to long mode (docs/boot.md, "The other CPUs").
;
; kernel/smp.c copies this code to AP_TRAMPOLINE (contracts/smp.h) and sends each AP
; INIT-SIPI-SIPI with vector AP_SIPI_VECTOR. An AP leaves wait-for-SIPI in real mode
; with CS = vector << 8 = 0100h and IP = 0 (SDM Vol 3A §9.4.4.1, §10.6.1), so
; ap_start runs at linear AP_TRAMPOLINE. From there it walks the boot CPU's journey:
; real mode -> 32-bit protected mode -> long mode, each step at a global label, then
; calls the kernel's ap_entry (kernel/smp.c) on the stack struct ap_params gives it.
;
; Built as its own ELF linked at AP_TRAMPOLINE (kernel/ap/trampoline.ld) so that GDB
; loads its symbols and DWARF lines where the code runs (gdb/symbols.gdb); the flat copy
; (build/ap_trampoline.bin) is what the kernel carries (kernel/ap_blob.asm).

%include "contracts.inc"

        section .text
        bits 16

global ap_start
ap_start:
        ; CS = 0100h, IP = 0 here: GDB (which reports IP as the pc in real mode) would
        ; show pc 0. A far jump to CS = 0 makes IP the linear address, as in stage 1, so
        ; that every later real-mode pc is the address the symbols name.
        cli
        jmp 0:ap_real_cs0

global ap_real_cs0
ap_real_cs0:
        xor ax, ax
        mov ds, ax                      ; DS = 0: every address below is linear
        ; No stack is needed before long mode: no CALL, no PUSH, interrupts off.
        lgdt [ap_gdt_descriptor]
        ; Protected mode (SDM Vol 3A §9.9.1): CR0.PE, then a far jump to reload CS with a
        ; 32-bit code descriptor and flush the prefetched real-mode instructions.
        mov eax, cr0
        or eax, 1                       ; CR0.PE
        mov cr0, eax
        jmp dword SEL_CODE32:ap_pm_entry

        bits 32
global ap_pm_entry
ap_pm_entry:
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov ss, ax
        ; Long mode (SDM Vol 3A §9.8.5) with the boot CPU's own values: CR4 (PAE), CR3
        ; (the kernel's page tables, which keep low memory identity mapped, so this code
        ; goes on running when paging comes on), EFER (LME, and NXE: the tables use NX,
        ; which without NXE is a reserved bit), then CR0 with PG: EFER.LMA becomes 1.
        mov eax, [AP_PARAMS + ap_params.cr4]
        mov cr4, eax
        mov eax, [AP_PARAMS + ap_params.cr3]
        mov cr3, eax
        mov ecx, 0xc0000080             ; IA32_EFER
        mov eax, [AP_PARAMS + ap_params.efer]
        mov edx, [AP_PARAMS + ap_params.efer + 4]
        wrmsr
        mov eax, [AP_PARAMS + ap_params.cr0]
        mov cr0, eax
        ; Still in compatibility mode (CS is the 32-bit descriptor): a far jump to the
        ; L=1 descriptor enters 64-bit mode.
        jmp SEL_CODE64:ap_lm_entry

        bits 64
global ap_lm_entry
ap_lm_entry:
        mov ax, SEL_DATA64
        mov ds, ax
        mov es, ax
        mov ss, ax
        xor eax, eax
        mov fs, ax
        mov gs, ax
        mov rsp, [AP_PARAMS + ap_params.stack_top]
        xor ebp, ebp                    ; the outermost frame (GDB's backtrace stops here)
        mov edi, [AP_PARAMS + ap_params.cpu]
        ; Tell the boot CPU that this AP reached long mode (it waits for it, bounded).
        mov dword [AP_PARAMS + ap_params.arrived], 1
        mov rax, [AP_PARAMS + ap_params.entry]
        call rax                        ; ap_entry(cpu), kernel/smp.c: does not return
.halt:
        cli
        hlt
        jmp .halt

        align 8
ap_gdt:
        ; The boot CPU's selectors (contracts/selectors.h), flat: base 0, 4 GiB.
        dq 0                            ; 00h: null
        dq 0x00cf9a000000ffff           ; 08h: 32-bit code, execute/read
        dq 0x00cf92000000ffff           ; 10h: 32-bit data, read/write
        dq 0x00af9a000000ffff           ; 18h: 64-bit code (L=1)
        dq 0x00cf92000000ffff           ; 20h: data for long mode
ap_gdt_end:

ap_gdt_descriptor:
        dw ap_gdt_end - ap_gdt - 1
        dd ap_gdt                       ; the real-mode LGDT reads a 24-bit base here
