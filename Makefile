# farjump: two-stage BIOS loader + 64-bit C kernel, and the tools to watch it boot.
#
#   make            build build/disk.img (and every stage as an ELF with DWARF)
#   make run        install what is missing, build, boot in QEMU
#   make test       install what is missing, build, run the test suite
#   make help       every target

# Debian's Python: GDB embeds it and the Debian test packages live there.
PYTHON  ?= /usr/bin/python3
QEMU    ?= qemu-system-x86_64
NASM    ?= nasm
CC      := gcc
LD      := ld
OBJCOPY := objcopy
B       := build

# Physical memory layout, one list for NASM and C (see docs/boot.md).
LAYOUT := \
	BOOTINFO_ADDR=0x5000 \
	BOOT_LAYOUT=0x7dae \
	STACK_TOP=0x7000 \
	STAGE2_ADDR=0x8000 \
	STAGE2_END=0x10000 \
	PT_BASE=0x10000 \
	PT_END=0x20000 \
	KERNEL_BUF=0x20000 \
	KERNEL_BUF_END=0x90000 \
	KERNEL_PHYS_MIN=0x100000 \
	IDENTITY_MAP_END=0x40000000
LAYOUT_DEFS := $(addprefix -D,$(LAYOUT))

NASMFLAGS := -f elf64 -g -F dwarf -w+all $(LAYOUT_DEFS) -I boot/

# Shared by the kernel and the long-mode part of stage 2.
CFLAGS_BASE := -std=c11 -ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie \
	-fno-stack-protector -fcf-protection=none -mno-red-zone -mgeneral-regs-only \
	-fno-asynchronous-unwind-tables -fno-omit-frame-pointer \
	-Wall -Wextra -Werror -g -Os -MMD -MP -I src $(LAYOUT_DEFS)
KERNEL_CFLAGS := $(CFLAGS_BASE) -mcmodel=kernel
LOADER_CFLAGS := $(CFLAGS_BASE) -mcmodel=small
LDFLAGS := -m elf_x86_64 -nostdlib -z max-page-size=0x1000 -z noexecstack --build-id=none

KERNEL_C   := $(wildcard src/*.c)
KERNEL_ASM := $(wildcard src/*.asm)
KERNEL_OBJ := $(KERNEL_ASM:src/%.asm=$(B)/kernel/%.o) $(KERNEL_C:src/%.c=$(B)/kernel/%.o)
# The loader reuses the kernel's console, VGA, serial and kprintf code (built for low addresses).
LOADER_SHARED := console vga serial kprintf string
LOADER_OBJ := $(B)/boot/stage2.o $(B)/boot/loader.o $(LOADER_SHARED:%=$(B)/boot/%.o)

.PHONY: all deps clean help FORCE
all: $(B)/disk.img

# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

# Every object depends on the flags and layout it was built with: $(B)/flags changes
# (and so rebuilds them) only when those do. Recursive (=): the kernel section adds flags.
BUILD_FLAGS = $(NASMFLAGS) | $(LOADER_CFLAGS) | $(KERNEL_CFLAGS) | $(LDFLAGS)
$(B)/flags: FORCE
	@mkdir -p $(B)
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@

help:
	@echo 'make              build build/disk.img (stage1/stage2/kernel ELFs with DWARF beside it)'
	@echo 'make run          install missing packages, build, boot in QEMU (window with $$DISPLAY, curses otherwise)'
	@echo '                  no $$DISPLAY and no terminal: headless, COM1 on stdout, ends by itself (IMAGE=, TIMEOUT=)'
	@echo 'make test         install missing packages, build, run the pytest suite'
	@echo 'make unit         the pure tests only (decoders, host tools; no emulator, a few seconds)'
	@echo 'make debug        QEMU paused + GDB attached with farjump loaded, stopped at stage1_start'
	@echo 'make debug-server QEMU paused with its gdbstub, for "make gdb" in a second terminal'
	@echo 'make gdb          GDB with farjump loaded, attached to "make debug-server"'
	@echo 'make bochs        boot in Bochs with its debugger, stopping at every magic breakpoint (docs/bochs.md)'
	@echo 'make bench        benchmarks, as ratios against references measured in the same run (docs/performance.md)'
	@echo 'make deps         install the Debian packages farjump needs (apt-get)'
	@echo 'make clean        remove build/'

deps:
	@scripts/install-deps

# ---- stage 1: 512-byte MBR ------------------------------------------------------------
$(B)/boot/stage1.o: boot/stage1.asm boot/disk.inc boot/common.inc | $(B)/boot
	$(NASM) $(NASMFLAGS) -o $@ $(abspath $<)

$(B)/stage1.elf: $(B)/boot/stage1.o boot/stage1.ld
	$(LD) $(LDFLAGS) -T boot/stage1.ld -o $@ $<

# ---- stage 2: real -> protected -> long mode, then the C ELF loader --------------------
$(B)/boot/stage2.o: boot/stage2.asm boot/disk.inc boot/common.inc | $(B)/boot
	$(NASM) $(NASMFLAGS) -o $@ $(abspath $<)

$(B)/boot/loader.o: boot/loader.c | $(B)/boot
	$(CC) $(LOADER_CFLAGS) -c -o $@ $<

$(B)/boot/%.o: src/%.c | $(B)/boot
	$(CC) $(LOADER_CFLAGS) -c -o $@ $<

$(B)/stage2.elf: $(LOADER_OBJ) boot/stage2.ld
	$(LD) $(LDFLAGS) --no-warn-rwx-segments $(addprefix --defsym=,$(LAYOUT)) \
		-T boot/stage2.ld -o $@ $(LOADER_OBJ)

# ---- kernel ----------------------------------------------------------------------------
# No tail calls: a JMP to another function leaves no frame behind, so the panic's
# frame-pointer stack trace would silently skip the caller (Linux does the same).
KERNEL_CFLAGS += -fno-optimize-sibling-calls

$(B)/kernel/%.o: src/%.asm | $(B)/kernel
	$(NASM) $(NASMFLAGS) -o $@ $(abspath $<)

$(B)/kernel/%.o: src/%.c | $(B)/kernel
	$(CC) $(KERNEL_CFLAGS) -c -o $@ $<

# The kernel carries its own symbol table for the panic screen (src/symbols.c). Link
# once with the .ksymtab section reserved (src/ksymtab.asm, fixed size), write the table
# from that ELF's symbols, copy it into the section in place (same size, so no address
# moves), then check that the symbols are unchanged and the table matches them.
# Temporary names carry the shell's PID, so two makes racing in one tree (tests run in
# parallel) do not move each other's half-written files.
# $(call fill_ksymtab,LINKED.elf,FINAL.elf)
define fill_ksymtab
	$(PYTHON) scripts/ksymtab $(1) -o $(1:.elf=.ksymtab).$$$$ && \
	$(OBJCOPY) --update-section .ksymtab=$(1:.elf=.ksymtab).$$$$ $(1) $(2).$$$$ && \
	rm $(1:.elf=.ksymtab).$$$$ && \
	$(PYTHON) scripts/ksymtab --check $(2).$$$$ --against $(1) && \
	mv $(2).$$$$ $(2) || { rm -f $(1:.elf=.ksymtab).$$$$ $(2).$$$$; exit 1; }
endef

$(B)/kernel/kernel.linked.elf: $(KERNEL_OBJ) src/kernel.ld
	$(LD) $(LDFLAGS) -T src/kernel.ld -o $@ $(KERNEL_OBJ)

$(B)/kernel.elf: $(B)/kernel/kernel.linked.elf scripts/ksymtab
	$(call fill_ksymtab,$<,$@)

# The disk carries only what the loader reads (scripts/diskelf: ELF and program headers,
# PT_LOAD bytes packed without page padding or trailing zeros; no DWARF, no section
# headers): every sector costs boot time (docs/performance.md). GDB reads the symbols
# from build/kernel.elf.
$(B)/kernel.disk.elf: $(B)/kernel.elf scripts/diskelf
	$(PYTHON) scripts/diskelf $< -o $@

# ---- kernel variants that fault on purpose (tests/test_panic.py), built only on demand --
# make build/fault/NAME.img: the kernel with src/fault.c compiled with -DFJ_FAULT=NAME
# (dashes -> underscores), so kernel_main raises that exception; fault.c explains each.
FAULTS := divide invalid-opcode pf-unmapped pf-rodata pf-nx gp-noncanonical gp-selector \
	gp-idt stack-overflow bad-rbp nested
FAULT_BASE_OBJ := $(filter-out $(B)/kernel/fault.o,$(KERNEL_OBJ))

.PHONY: faults
faults: $(FAULTS:%=$(B)/fault/%.img)

# Static pattern rules, limited to FAULTS: with a plain fault-%.o rule (whose one
# prerequisite matches any stem) make would try to remake the included .d files through
# its built-in "%: %.o" rule.
$(FAULTS:%=$(B)/fault/fault-%.o): $(B)/fault/fault-%.o: src/fault.c | $(B)/fault
	$(CC) $(KERNEL_CFLAGS) -DFJ_FAULT=$(subst -,_,$*) -c -o $@ $<

$(FAULTS:%=$(B)/fault/linked-%.elf): $(B)/fault/linked-%.elf: $(FAULT_BASE_OBJ) \
		$(B)/fault/fault-%.o src/kernel.ld
	$(LD) $(LDFLAGS) -T src/kernel.ld -o $@ $(FAULT_BASE_OBJ) $(B)/fault/fault-$*.o

# kernel-NAME.elf keeps DWARF for GDB; kernel-NAME.disk.elf goes on the disk.
$(FAULTS:%=$(B)/fault/kernel-%.elf): $(B)/fault/kernel-%.elf: $(B)/fault/linked-%.elf \
		scripts/ksymtab
	$(call fill_ksymtab,$<,$@)

$(FAULTS:%=$(B)/fault/%.img): $(B)/fault/%.img: $(B)/stage1.bin $(B)/stage2.bin \
		$(B)/fault/kernel-%.elf scripts/mkimage scripts/diskelf
	$(PYTHON) scripts/diskelf $(B)/fault/kernel-$*.elf -o $(B)/fault/kernel-$*.disk.elf
	$(PYTHON) scripts/mkimage --stage1 $(B)/stage1.bin --stage2 $(B)/stage2.bin \
		--kernel $(B)/fault/kernel-$*.disk.elf -o $@

$(B)/fault:
	@mkdir -p $@

-include $(wildcard $(B)/fault/*.d)

# ---- flat binaries and the disk image ----------------------------------------------------
$(B)/%.bin: $(B)/%.elf
	$(OBJCOPY) -O binary $< $@

$(B)/disk.img: $(B)/stage1.bin $(B)/stage2.bin $(B)/kernel.disk.elf scripts/mkimage
	$(PYTHON) scripts/mkimage --stage1 $(B)/stage1.bin --stage2 $(B)/stage2.bin \
		--kernel $(B)/kernel.disk.elf -o $@

$(B)/boot/stage1.o $(LOADER_OBJ) $(KERNEL_OBJ) $(B)/kernel/kernel.linked.elf \
		$(FAULTS:%=$(B)/fault/fault-%.o): $(B)/flags

$(B)/boot $(B)/kernel:
	@mkdir -p $@

clean:
	rm -rf $(B)

-include $(wildcard $(B)/boot/*.d $(B)/kernel/*.d)

# run, test, unit, bench, debug, debug-server, gdb, bochs: beside the host side they drive.
include qemu/qemu.mk
