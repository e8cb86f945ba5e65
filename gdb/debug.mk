# make debug / debug-server / gdb (included by the Makefile). See docs/gdb.md.
#   make debug                QEMU paused + GDB attached, farjump loaded, at stage1_start
#   make debug-server         QEMU paused with its gdbstub; prints the port (GDBPORT=...)
#   make gdb                  GDB attached to 'make debug-server' (GDBPORT=... or build/gdb-port)

debug: deps all
	@$(PYTHON) scripts/debug --image $(B)/disk.img

debug-server: deps all
	@$(PYTHON) scripts/debug --server --image $(B)/disk.img

gdb: deps all
	@$(PYTHON) scripts/debug --attach
