; Space for the kernel's own symbol table, filled in after linking.
;
; The table lists the kernel's final addresses, which exist only once the kernel is
; linked; putting the table into the kernel must not move them. So the space is
; reserved here with a fixed size, the kernel is linked once, fjqemu.ksymtab writes
; the table from `nm` of that ELF, and `objcopy --update-section` copies it into this
; section in place: same size, same address, nothing else moves (the Makefile checks
; that the symbols are unchanged afterwards). Format: symbols.c.

bits 64

%include "contracts.inc"        ; KSYMTAB_SIZE (contracts/ksymtab.h)

section .ksymtab progbits alloc noexec nowrite align=8

global ksymtab
ksymtab:
    times KSYMTAB_SIZE db 0     ; all zero = no table yet (magic 0): symbols.c prints raw addresses
