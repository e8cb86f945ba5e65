# Every stage's symbols (sourced by gdb/farjump.gdb; alone for a plain-GDB reference run).
# Run GDB from the repository root. kernel.elf is the main symbol file; the stages are
# linked where they run, so no addresses are needed.
set confirm off
file build/kernel.elf
add-symbol-file build/stage1.elf
add-symbol-file build/stage2.elf
add-symbol-file build/ap_trampoline.elf
