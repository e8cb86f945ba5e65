; The AP trampoline's flat image (build/ap_trampoline.bin, from kernel/ap/trampoline.asm
; linked at AP_TRAMPOLINE): kernel/smp.c copies these bytes to AP_TRAMPOLINE before it
; sends the SIPIs. GDB gets the trampoline's symbols from build/ap_trampoline.elf.

section .rodata progbits alloc noexec nowrite align=16

global ap_trampoline_blob, ap_trampoline_blob_end
ap_trampoline_blob:
        incbin "ap_trampoline.bin"
ap_trampoline_blob_end:
