# farjump: load the workbench and every stage's symbols into GDB.
# Run GDB from the repository root, then:  source gdb/farjump.gdb
# ('make debug' and 'make gdb' do this; qemu/fjqemu/gdbrun.py builds every GDB command line).
set confirm off
source gdb/farjump.py
source gdb/symbols.gdb
set confirm on
