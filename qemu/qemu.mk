# The targets that run what was built: QEMU, GDB, Bochs, the tests and the benchmarks.
# Included by the top-level Makefile, which defines B, PYTHON and the targets all and deps.
# Each recipe runs a module of the host package qemu/fjqemu (python3 -m fjqemu.X).
#
#   make run            boot in QEMU: a window with $DISPLAY, curses on a terminal, else a
#                       headless run that ends by itself (IMAGE=..., TIMEOUT=...)
#   make test           the whole pytest suite (pytest.ini: markers, paths)
#   make unit           the pure tests only (decoders, host tools): no emulator, seconds
#   make bench          benchmarks (docs/performance.md); BENCH_ARGS='--runs 3 --only sizes'
#   make debug          QEMU paused + GDB attached, farjump loaded, at stage1_start
#   make debug-server   QEMU paused with its gdbstub; prints the port (GDBPORT=...)
#   make gdb            GDB attached to 'make debug-server' (GDBPORT=... or build/gdb-port)
#   make why            boot, and explain a triple fault (IMAGE=..., TIMEOUT=..., WHY_ARGS=--json)
#   make record         record one boot into build/record (IMAGE=..., TIMEOUT=...)
#   make replay         open build/record like make debug; reverse-stepi/-continue work
#   make bochs          Bochs with its debugger, stopping at every magic breakpoint
#   make build/bochs.sym  symbol file for Bochs (make bochs loads it)

.PHONY: run test unit bench debug debug-server gdb bochs why record replay

CONTRACTS_PY := $(B)/gen/farjump_contracts.py

# IMAGE=...: boot another image; TIMEOUT=...: seconds a headless (scripted) run may take.
run: deps all
	@$(HOSTPY) fjqemu.run $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(or $(IMAGE),$(B)/disk.img)

# Boot IMAGE (default build/disk.img); when it triple-faults, explain why (docs/time-travel.md).
why: deps all $(CONTRACTS_PY)
	@$(HOSTPY) fjqemu.why $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(WHY_ARGS) $(or $(IMAGE),$(B)/disk.img)

# Record one boot (docs/time-travel.md); replay it with GDB attached.
record: deps all $(CONTRACTS_PY)
	@$(HOSTPY) fjqemu.record $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(or $(IMAGE),$(B)/disk.img)

replay: deps all $(CONTRACTS_PY)
	@$(HOSTPY) fjqemu.replay

test: deps all $(CONTRACTS_PY)
	$(PYTHON) -m pytest

unit: $(CONTRACTS_PY)
	$(PYTHON) -m pytest -q -m unit

bench: deps all $(CONTRACTS_PY)
	@$(HOSTPY) fjqemu.bench $(BENCH_ARGS)

debug: deps all
	@$(HOSTPY) fjqemu.debug --image $(or $(IMAGE),$(B)/disk.img)

debug-server: deps all
	@$(HOSTPY) fjqemu.debug --server --image $(B)/disk.img

gdb: deps all
	@$(HOSTPY) fjqemu.debug --attach

bochs: deps all $(B)/bochs.sym
	@$(HOSTPY) fjqemu.bochsdebug $(B)/disk.img $(B)/bochs.sym

# "ADDRESS NAME" per line, as Bochs's debug_symbols/ldsym read it: the debugger then shows
# stage1_start+2 instead of a bare address. Bochs names an address after the nearest symbol
# below it, so three markers keep VGA memory and BIOS code from showing up as
# stage2_end+<huge offset>: VGA_TEXT (0xb8000), BIOS_ROM (0xe0000), BIOS_ROM_HIGH (0xfffe0000).
$(B)/bochs.sym: $(B)/stage1.elf $(B)/stage2.elf $(B)/kernel.elf qemu/qemu.mk
	{ printf '%016x %s\n' 0xb8000 VGA_TEXT 0xe0000 BIOS_ROM 0xfffe0000 BIOS_ROM_HIGH; \
	  nm --defined-only $(filter %.elf,$^) | awk 'NF == 3 && $$2 ~ /^[TtDdBbRr]$$/ { print $$1, $$3 }'; \
	} | sort -u > $@
