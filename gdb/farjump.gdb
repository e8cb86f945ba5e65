# farjump: load the workbench and every stage's symbols into GDB.
# Run GDB from the repository root, then:  source gdb/farjump.gdb
# (scripts/debug does this for 'make debug' and 'make gdb').
set confirm off
source gdb/farjump.py
# kernel.elf is the main symbol file; the stages are linked where they run, so no
# addresses are needed.
file build/kernel.elf
add-symbol-file build/stage1.elf
add-symbol-file build/stage2.elf
set confirm on
