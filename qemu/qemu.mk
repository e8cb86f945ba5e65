# The targets that run what was built: QEMU, GDB, Bochs, the tests and the benchmarks.
# Included by the top-level Makefile, which defines B, PYTHON and the targets all and deps.
# Each recipe runs a module of the host package qemu/fjqemu (python3 -m fjqemu.X).
#
#   make run            boot in QEMU: a window with $DISPLAY, curses on a terminal, else a
#                       headless run that ends by itself (IMAGE=..., TIMEOUT=..., SMP=N)
#   make test           the whole pytest suite (pytest.ini: markers, paths)
#   make unit           the pure tests only (decoders, host tools): no emulator, seconds
#   make bench          benchmarks (docs/performance.md); BENCH_ARGS='--runs 3 --only sizes'
#   make debug          QEMU paused + GDB attached, farjump loaded, at stage1_start
#   make debug-server   QEMU paused with its gdbstub; prints the port (GDBPORT=...)
#   make gdb            GDB attached to 'make debug-server' (GDBPORT=... or build/gdb-port)
#   make why            boot, and explain a triple fault (IMAGE=..., TIMEOUT=..., WHY_ARGS=--json)
#   make record         record one boot into build/record (IMAGE=..., TIMEOUT=...)
#   make replay         open build/record like make debug; the reverse-* commands work
#   make foreign        Debian's Linux and a GRUB ISO in build/foreign (docs/your-kernel.md)
#   make bochs          Bochs with its debugger, stopping at every magic breakpoint
#   make build/bochs.sym  symbol file for Bochs (make bochs loads it)

.PHONY: stress run test unit bench debug debug-server gdb bochs why record replay foreign

# BOOT=bios|multiboot|grub|uefi: the way in for make run / make debug (docs/boot.md):
# farjump's disk image, QEMU -kernel build/kernel.elf, GRUB's ISO, or OVMF with build/efi.img.
BOOT ?= bios
BOOT_FILE_bios := $(B)/disk.img
BOOT_FILE_multiboot := $(B)/kernel.elf
BOOT_FILE_grub := $(B)/farjump.iso
BOOT_FILE_uefi := $(B)/efi.img
BOOT_FILE = $(or $(BOOT_FILE_$(BOOT)),$(error BOOT=$(BOOT): one of bios multiboot grub uefi))

CONTRACTS_PY := $(B)/gen/farjump_contracts.py

# Any guest (qemu/fjqemu/machine.py, docs/your-kernel.md): IMAGE= (raw disk), CDROM= (ISO),
# KERNEL= APPEND= INITRD= (QEMU -kernel), ARCH=i386, SMP=N, SYMBOLS=a.elf,b.elf@OFFSET; and
# farjump's own kernel by BOOT=... (its file is built first unless IMAGE/CDROM/KERNEL say
# otherwise).
MACHINE_ARGS = --boot '$(BOOT)' $(if $(IMAGE),--image '$(IMAGE)') $(if $(CDROM),--cdrom '$(CDROM)') \
	$(if $(KERNEL),--kernel '$(KERNEL)') $(if $(APPEND),--append '$(APPEND)') \
	$(if $(INITRD),--initrd '$(INITRD)') $(if $(ARCH),--arch '$(ARCH)') \
	$(if $(SMP),--smp '$(SMP)') $(if $(SYMBOLS),--symbols '$(SYMBOLS)')
MACHINE_FILES = $(if $(IMAGE)$(CDROM)$(KERNEL),,$(BOOT_FILE)) $(filter $(B)/fault/%.img,$(IMAGE))

# TIMEOUT=...: seconds a headless (scripted) run may take. SCREENSHOT=FILE: headless, and
# the screen saved to FILE (PNG; .ppm for PPM) when the run ends.
run: deps all $(MACHINE_FILES)
	@$(HOSTPY) fjqemu.run $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(SCREENSHOT),--screenshot '$(SCREENSHOT)') $(MACHINE_ARGS)

# Guests farjump did not write, from Debian's packages (fjqemu.foreign): build/foreign/vmlinuz
# (linux-image-amd64's kernel) and build/foreign/grub.iso; fetched once, then cached.
foreign: deps
	@$(HOSTPY) fjqemu.foreign

# Boot IMAGE (default build/disk.img); when it triple-faults, explain why (docs/time-travel.md).
# A test image named by IMAGE= (build/fault/NAME.img, build/triple/NAME.img) is built first.
IMAGE_FILE = $(filter $(B)/fault/%.img $(B)/triple/%.img,$(IMAGE))
why: deps all $(CONTRACTS_PY) $(IMAGE_FILE)
	@$(HOSTPY) fjqemu.why $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(WHY_ARGS) $(or $(IMAGE),$(B)/disk.img)

# Record one boot (docs/time-travel.md); replay it with GDB attached.
record: deps all $(CONTRACTS_PY) $(IMAGE_FILE)
	@$(HOSTPY) fjqemu.record $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(or $(IMAGE),$(B)/disk.img)

replay: deps all $(CONTRACTS_PY)
	@$(HOSTPY) fjqemu.replay

# Two pytest-xdist workers (the machines are 2 cores); each test file stays on one worker,
# so a module's shared QEMU or GDB session is started once. TEST_JOBS=0: one process.
TEST_JOBS ?= 2
test: deps all $(CONTRACTS_PY)
	$(PYTHON) -m pytest -m "not stress" $(if $(filter-out 0,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile)

# Long runs (pytest.ini: stress), kept out of make test for their length.
stress: deps all $(CONTRACTS_PY)
	$(PYTHON) -m pytest -m stress

unit: $(CONTRACTS_PY)
	$(PYTHON) -m pytest -q -m unit

bench: deps all $(CONTRACTS_PY)
	@$(HOSTPY) fjqemu.bench $(BENCH_ARGS)

# IMAGE=build/fault/NAME.img is built first, and GDB loads its kernel's symbols
# (build/fault/kernel-NAME.elf) instead of build/kernel.elf.
debug: deps all $(MACHINE_FILES)
	@$(HOSTPY) fjqemu.debug $(MACHINE_ARGS)

debug-server: deps all $(MACHINE_FILES)
	@$(HOSTPY) fjqemu.debug --server $(MACHINE_ARGS)

gdb: deps all
	@$(HOSTPY) fjqemu.debug --attach $(MACHINE_ARGS)

# BOOT=grub: GRUB from build/farjump.iso on a CD-ROM drive (Multiboot 2).
bochs: deps all $(B)/bochs.sym $(if $(filter grub,$(BOOT)),$(B)/farjump.iso)
	@$(HOSTPY) fjqemu.bochsdebug --boot $(BOOT) $(B)/disk.img $(B)/bochs.sym

# "ADDRESS NAME" per line, as Bochs's debug_symbols/ldsym read it: the debugger then shows
# stage1_start+2 instead of a bare address. Bochs names an address after the nearest symbol
# below it, so three markers keep VGA memory and BIOS code from showing up as
# stage2_end+<huge offset>: VGA_TEXT (0xb8000), BIOS_ROM (0xe0000), BIOS_ROM_HIGH (0xfffe0000).
$(B)/bochs.sym: $(B)/stage1.elf $(B)/stage2.elf $(B)/kernel.elf qemu/qemu.mk
	{ printf '%016x %s\n' 0xb8000 VGA_TEXT 0xe0000 BIOS_ROM 0xfffe0000 BIOS_ROM_HIGH; \
	  nm --defined-only $(filter %.elf,$^) | awk 'NF == 3 && $$2 ~ /^[TtDdBbRr]$$/ { print $$1, $$3 }'; \
	} | sort -u > $@
