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

# Host tools run as modules of the one host package (qemu/fjqemu; gdb/ for the decoders the
# bench reuses); build/gen holds the
# contracts generated from contracts/*.h (farjump_contracts.py).
HOSTPY := PYTHONPATH="$(CURDIR)/qemu:$(CURDIR)/gdb:$(abspath $(B))/gen" $(PYTHON) -m

# Generated from contracts/*.h (the memory layout, boot_layout, boot_info, the exception
# table, paging bits, selectors): contracts/gen.c compiled to assembly, whose markers
# fjqemu.gencontracts turns into NASM, ld and Python (asm-offsets style).
GEN := $(B)/gen/contracts.inc $(B)/gen/layout.ld $(B)/gen/farjump_contracts.py

# NASM gets its sources relative to the repository (quoted: a checkout path may hold a
# space), like GCC: GDB shows boot/stage2.asm as it shows boot/loader.c. (NASM's
# DW_AT_comp_dir is the source's own directory, so tools other than GDB, which
# gdb/farjump.py points at the repository, must be run from the repository root.)
NASMFLAGS := -f elf64 -g -F dwarf -w+all -I boot/ -I $(B)/gen/

# Shared by the kernel and the long-mode part of stage 2. The kernel adds kernel/ to the
# include path, the loader boot/: neither sees the other's headers.
CFLAGS_BASE := -std=c11 -ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie \
	-fno-stack-protector -fcf-protection=none -mno-red-zone -mgeneral-regs-only \
	-fno-asynchronous-unwind-tables -fno-omit-frame-pointer \
	-Wall -Wextra -Werror -g -Os -MMD -MP -I common -I contracts
KERNEL_CFLAGS := $(CFLAGS_BASE) -mcmodel=kernel -I kernel
LOADER_CFLAGS := $(CFLAGS_BASE) -mcmodel=small -I boot
LDFLAGS := -m elf_x86_64 -nostdlib -z max-page-size=0x1000 -z noexecstack --build-id=none \
	-L $(B)/gen

# common/: the C that stage 2's loader and the kernel both link (console, VGA, COM1,
# kprintf, string functions), built once per stage for its own addresses.
COMMON_C   := $(wildcard common/*.c)
KERNEL_C   := $(wildcard kernel/*.c)
KERNEL_ASM := $(wildcard kernel/*.asm)
# The loaders' ELF checks (common/elfcheck.c) are no part of the kernel.
KERNEL_OBJ := $(KERNEL_ASM:kernel/%.asm=$(B)/kernel/%.o) $(KERNEL_C:kernel/%.c=$(B)/kernel/%.o) \
	$(patsubst common/%.c,$(B)/kernel/common/%.o,$(filter-out common/elfcheck.c,$(COMMON_C)))
# The framebuffer console's 8x16 font (kernel/fbcon.c), converted from a PSF font of
# Debian's console-setup-linux (fjqemu.psffont).
FONT ?= /usr/share/consolefonts/Lat15-VGA16.psf.gz
KERNEL_OBJ += $(B)/kernel/font8x16.o
LOADER_OBJ := $(B)/boot/stage2.o $(B)/boot/loader.o $(COMMON_C:common/%.c=$(B)/boot/common/%.o)

.PHONY: all gen deps clean help FORCE
all: $(B)/disk.img $(B)/ap_trampoline.elf

# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

# Every object depends on the flags it was built with: $(B)/flags changes (and so
# rebuilds them) only when those do. Recursive (=): the kernel section adds flags.
BUILD_FLAGS = $(NASMFLAGS) | $(LOADER_CFLAGS) | $(KERNEL_CFLAGS) | $(LDFLAGS)
$(B)/flags: FORCE
	@mkdir -p $(B)
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@

# A link depends on its object list too, not only on the objects that exist: deleting a
# source must relink without it. Each list file changes only when the list does.
$(B)/kernel/objects: FORCE | $(B)/kernel
	@echo '$(KERNEL_OBJ)' | cmp -s - $@ || echo '$(KERNEL_OBJ)' > $@
$(B)/boot/objects: FORCE | $(B)/boot
	@echo '$(LOADER_OBJ)' | cmp -s - $@ || echo '$(LOADER_OBJ)' > $@

help:
	@echo 'make              build build/disk.img (stage1/stage2/kernel ELFs with DWARF beside it)'
	@echo 'make run          install missing packages, build, boot in QEMU (window with $$DISPLAY, curses otherwise)'
	@echo '                  no $$DISPLAY and no terminal: headless, COM1 on stdout, ends by itself (IMAGE=, TIMEOUT=)'
	@echo 'make test         install missing packages, build, run the pytest suite'
	@echo 'make unit         the pure tests only (decoders, host tools; no emulator, a few seconds)'
	@echo 'make stress       long runs kept out of make test (pytest.ini: minutes each)'
	@echo 'make debug        QEMU paused + GDB attached with farjump loaded, stopped at stage1_start'
	@echo '                  BOOT=multiboot|grub|uefi (make run too): QEMU -kernel, GRUB, OVMF (docs/boot.md)'
	@echo 'make debug-server QEMU paused with its gdbstub, for "make gdb" in a second terminal'
	@echo 'make gdb          GDB with farjump loaded, attached to "make debug-server"'
	@echo 'make why          boot and explain a triple fault: each fault, why, the rule, the state (IMAGE=, WHY_ARGS=--json)'
	@echo 'make record       record one boot into build/record (IMAGE=, TIMEOUT=); make replay opens it'
	@echo 'make replay       the recording in GDB like make debug, with reverse-stepi and reverse-continue'
	@echo 'make bochs        boot in Bochs with its debugger, stopping at every magic breakpoint (docs/bochs.md)'
	@echo 'make foreign      Debian'"'"'s Linux bzImage and a GRUB ISO in build/foreign, for make debug KERNEL=/CDROM= (docs/your-kernel.md)'
	@echo 'make bench        benchmarks, as ratios against references measured in the same run (docs/performance.md)'
	@echo 'make iso          build/farjump.iso: GRUB booting build/kernel.elf by Multiboot 2'
	@echo 'make efi          build/efi.img: a FAT disk with farjump'"'"'s UEFI loader and the kernel (OVMF)'
	@echo 'make gen          only the files generated from contracts/ (build/gen)'
	@echo 'make deps         install the Debian packages farjump needs (apt-get)'
	@echo 'make clean        remove build/'

deps:
	@scripts/install-deps

# ---- contracts: build/gen from contracts/*.h ---------------------------------------------
gen: $(GEN)

$(B)/gen/gen.s: contracts/gen.c $(B)/flags | $(B)/gen
	$(CC) $(CFLAGS_BASE) -S -o $@ $<

# One run writes all three (a grouped target).
$(GEN) &: $(B)/gen/gen.s qemu/fjqemu/gencontracts.py
	$(HOSTPY) fjqemu.gencontracts $< --outdir $(B)/gen
	@touch $(GEN)

# ---- stage 1: 512-byte MBR ------------------------------------------------------------
$(B)/boot/stage1.o: boot/stage1.asm boot/disk.inc boot/common.inc $(B)/gen/contracts.inc | $(B)/boot
	$(NASM) $(NASMFLAGS) -o $@ "$<"

$(B)/stage1.elf: $(B)/boot/stage1.o boot/stage1.ld $(B)/gen/layout.ld
	$(LD) $(LDFLAGS) -T boot/stage1.ld -o $@ $<

# ---- stage 2: real -> protected -> long mode, then the C ELF loader --------------------
$(B)/boot/stage2.o: boot/stage2.asm boot/disk.inc boot/common.inc $(B)/gen/contracts.inc | $(B)/boot
	$(NASM) $(NASMFLAGS) -o $@ "$<"

$(B)/boot/loader.o: boot/loader.c | $(B)/boot
	$(CC) $(LOADER_CFLAGS) -c -o $@ $<

$(B)/boot/common/%.o: common/%.c | $(B)/boot/common
	$(CC) $(LOADER_CFLAGS) -c -o $@ $<

$(B)/stage2.elf: $(LOADER_OBJ) $(B)/boot/objects boot/stage2.ld $(B)/gen/layout.ld
	$(LD) $(LDFLAGS) --no-warn-rwx-segments -T boot/stage2.ld -o $@ $(LOADER_OBJ)

# ---- kernel ----------------------------------------------------------------------------
# No tail calls: a JMP to another function leaves no frame behind, so the panic's
# frame-pointer stack trace would silently skip the caller (Linux does the same).
KERNEL_CFLAGS += -fno-optimize-sibling-calls

$(B)/kernel/%.o: kernel/%.asm $(B)/gen/contracts.inc | $(B)/kernel
	$(NASM) $(NASMFLAGS) -o $@ "$<"

$(B)/kernel/%.o: kernel/%.c | $(B)/kernel
	$(CC) $(KERNEL_CFLAGS) -c -o $@ $<

$(B)/kernel/common/%.o: common/%.c | $(B)/kernel/common
	$(CC) $(KERNEL_CFLAGS) -c -o $@ $<

$(B)/gen/font8x16.c: qemu/fjqemu/psffont.py | $(B)/gen
	$(HOSTPY) fjqemu.psffont $(FONT) -o $@

$(B)/kernel/font8x16.o: $(B)/gen/font8x16.c | $(B)/kernel
	$(CC) $(KERNEL_CFLAGS) -c -o $@ $<

# The kernel carries its own symbol table for the panic screen (kernel/symbols.c). Link
# once with the .ksymtab section reserved (kernel/ksymtab.asm, fixed size), write the
# table from that ELF's symbols, copy it into the section in place (same size, so no
# address moves), then check that the symbols are unchanged and the table matches them.
# Temporary names carry the shell's PID, so two makes racing in one tree (tests run in
# parallel) do not move each other's half-written files.
# $(call fill_ksymtab,LINKED.elf,FINAL.elf)
define fill_ksymtab
	$(HOSTPY) fjqemu.ksymtab $(1) -o $(1:.elf=.ksymtab).$$$$ && \
	$(OBJCOPY) --update-section .ksymtab=$(1:.elf=.ksymtab).$$$$ $(1) $(2).$$$$ && \
	rm $(1:.elf=.ksymtab).$$$$ && \
	$(HOSTPY) fjqemu.ksymtab --check $(2).$$$$ --against $(1) && \
	mv $(2).$$$$ $(2) || { rm -f $(1:.elf=.ksymtab).$$$$ $(2).$$$$; exit 1; }
endef

KSYMTAB_TOOL := qemu/fjqemu/ksymtab.py qemu/fjqemu/elf.py $(B)/gen/farjump_contracts.py
IMAGE_TOOLS := qemu/fjqemu/image.py qemu/fjqemu/diskelf.py qemu/fjqemu/elf.py \
	$(B)/gen/farjump_contracts.py

$(B)/kernel/kernel.linked.elf: $(KERNEL_OBJ) $(B)/kernel/objects kernel/kernel.ld \
		$(B)/gen/layout.ld
	$(LD) $(LDFLAGS) -T kernel/kernel.ld -o $@ $(KERNEL_OBJ)

$(B)/kernel.elf: $(B)/kernel/kernel.linked.elf $(KSYMTAB_TOOL)
	$(call fill_ksymtab,$<,$@)

# The disk carries only what the loader reads (fjqemu.diskelf: ELF and program headers,
# PT_LOAD bytes packed without page padding or trailing zeros; no DWARF, no section
# headers): every sector costs boot time (docs/performance.md). GDB reads the symbols
# from build/kernel.elf.
$(B)/kernel.disk.elf: $(B)/kernel.elf $(IMAGE_TOOLS)
	$(HOSTPY) fjqemu.diskelf $< -o $@

# ---- the AP trampoline: its own ELF at AP_TRAMPOLINE (GDB's symbols), its flat copy in the
# kernel (kernel/ap_blob.asm incbins build/ap_trampoline.bin) ---------------------------
$(B)/kernel/ap_trampoline.o: kernel/ap/trampoline.asm $(B)/gen/contracts.inc $(B)/flags | $(B)/kernel
	$(NASM) $(NASMFLAGS) -o $@ "$(abspath $<)"

$(B)/ap_trampoline.elf: $(B)/kernel/ap_trampoline.o kernel/ap/trampoline.ld $(B)/gen/layout.ld
	$(LD) $(LDFLAGS) -T kernel/ap/trampoline.ld -o $@ $<

# Its own rule (not a target-specific NASMFLAGS, which make would pass on to the
# prerequisites and so to build/flags): NASM finds the .bin on the include path.
$(B)/kernel/ap_blob.o: kernel/ap_blob.asm $(B)/ap_trampoline.bin $(B)/gen/contracts.inc | $(B)/kernel
	$(NASM) $(NASMFLAGS) -I "$(abspath $(B))/" -o $@ "$(abspath $<)"

# ---- kernel variants that fault on purpose (tests/test_panic.py), built only on demand --
# make build/fault/NAME.img: the kernel linked with tests/guests/fault/fault.c compiled
# with -DFJ_FAULT=NAME (dashes -> underscores), whose fault_inject (a weak empty hook in
# the kernel) raises that exception; fault.c explains each.
FAULT_SRC := tests/guests/fault/fault.c
FAULTS := divide invalid-opcode pf-unmapped pf-rodata pf-nx gp-noncanonical gp-selector \
	gp-idt gp-idt-low stack-overflow bad-rbp nested triple-pf

.PHONY: faults
faults: $(FAULTS:%=$(B)/fault/%.img)

# Static pattern rules, limited to FAULTS: with a plain fault-%.o rule (whose one
# prerequisite matches any stem) make would try to remake the included .d files through
# its built-in "%: %.o" rule.
$(FAULTS:%=$(B)/fault/fault-%.o): $(B)/fault/fault-%.o: $(FAULT_SRC) | $(B)/fault
	$(CC) $(KERNEL_CFLAGS) -DFJ_FAULT=$(subst -,_,$*) -c -o $@ $<

$(FAULTS:%=$(B)/fault/linked-%.elf): $(B)/fault/linked-%.elf: $(KERNEL_OBJ) \
		$(B)/kernel/objects $(B)/fault/fault-%.o kernel/kernel.ld $(B)/gen/layout.ld
	$(LD) $(LDFLAGS) -T kernel/kernel.ld -o $@ $(KERNEL_OBJ) $(B)/fault/fault-$*.o

# kernel-NAME.elf keeps DWARF for GDB; kernel-NAME.disk.elf goes on the disk.
$(FAULTS:%=$(B)/fault/kernel-%.elf): $(B)/fault/kernel-%.elf: $(B)/fault/linked-%.elf \
		$(KSYMTAB_TOOL)
	$(call fill_ksymtab,$<,$@)

$(FAULTS:%=$(B)/fault/%.img): $(B)/fault/%.img: $(B)/stage1.bin $(B)/stage2.bin \
		$(B)/fault/kernel-%.elf $(IMAGE_TOOLS)
	$(HOSTPY) fjqemu.diskelf $(B)/fault/kernel-$*.elf -o $(B)/fault/kernel-$*.disk.elf
	$(HOSTPY) fjqemu.image --stage1 $(B)/stage1.bin --stage2 $(B)/stage2.bin \
		--kernel $(B)/fault/kernel-$*.disk.elf -o $@

$(B)/fault:
	@mkdir -p $@

# ---- images that triple-fault on purpose (tests/test_why.py, docs/time-travel.md) -------
# make build/triple/NAME.img. pm-selector, lm-selector: farjump's stage 2 with a bad
# selector in the far jump into protected / long mode (tests/guests/triple/patch_selector.py);
# real: a boot sector that triple-faults in real mode (tests/guests/triple/real.asm).
# The kernel case is build/fault/triple-pf.img.
TRIPLE := pm-selector lm-selector real
.PHONY: triples
triples: $(TRIPLE:%=$(B)/triple/%.img) $(B)/fault/triple-pf.img

$(B)/triple/stage2-%.bin: $(B)/stage2.elf $(B)/stage2.bin tests/guests/triple/patch_selector.py | $(B)/triple
	$(PYTHON) tests/guests/triple/patch_selector.py $* $(B)/stage2.elf $(B)/stage2.bin -o $@

$(B)/triple/%-selector.img: $(B)/stage1.bin $(B)/triple/stage2-%.bin $(B)/kernel.disk.elf $(IMAGE_TOOLS)
	$(HOSTPY) fjqemu.image --stage1 $(B)/stage1.bin --stage2 $(B)/triple/stage2-$*.bin \
		--kernel $(B)/kernel.disk.elf -o $@

$(B)/triple/real.o: tests/guests/triple/real.asm | $(B)/triple
	$(NASM) -f elf64 -g -F dwarf -w+all -o $@ "$(abspath $<)"

$(B)/triple/real.elf: $(B)/triple/real.o tests/guests/triple/real.ld
	$(LD) $(LDFLAGS) -T tests/guests/triple/real.ld -o $@ $<

$(B)/triple/real.img: $(B)/triple/real.elf
	$(OBJCOPY) -O binary $< $@

$(B)/triple:
	@mkdir -p $@

-include $(wildcard $(B)/fault/*.d)

# ---- other ways in: a GRUB ISO (Multiboot 2) ------------------------------------------------
# build/kernel.elf itself also boots with QEMU's -kernel (Multiboot 1): docs/boot.md.
.PHONY: iso
iso: $(B)/farjump.iso

$(B)/farjump.iso: $(B)/kernel.elf boot/grub.cfg
	@command -v grub-mkrescue >/dev/null || scripts/install-deps
	rm -rf $(B)/iso && mkdir -p $(B)/iso/boot/grub
	cp $(B)/kernel.elf $(B)/iso/boot/kernel.elf
	cp boot/grub.cfg $(B)/iso/boot/grub/grub.cfg
	grub-mkrescue -o $@ $(B)/iso 2>$(B)/grub-mkrescue.log || { cat $(B)/grub-mkrescue.log >&2; exit 1; }

# ---- UEFI: farjump's UEFI loader (gnu-efi) and a FAT image for OVMF -----------------------
# boot/uefi.c and the common/ code it shares with the BIOS loader, position-independent as
# gnu-efi wants; linked to build/uefi.so (ELF with DWARF: GDB's symbols, at the ImageBase
# found at run time), converted to the PE file build/BOOTX64.EFI.
EFI_INC := /usr/include/efi
EFI_LIB := /usr/lib
UEFI_CFLAGS := -std=gnu11 -ffreestanding -fno-builtin -fpic -fshort-wchar -fno-stack-protector \
	-fcf-protection=none -mno-red-zone -mgeneral-regs-only -fno-asynchronous-unwind-tables \
	-fno-omit-frame-pointer -DGNU_EFI_USE_MS_ABI -Wall -Wextra -Werror -g -Os -MMD -MP \
	-I $(EFI_INC) -I $(EFI_INC)/x86_64 -I common -I contracts
UEFI_OBJ := $(B)/uefi/uefi.o $(patsubst %,$(B)/uefi/common/%.o,console kprintf serial string \
	vga pagemap elfcheck)

.PHONY: efi
efi: $(B)/efi.img

$(B)/uefi/uefi.o: boot/uefi.c $(B)/flags | $(B)/uefi/common $(GEN)
	@test -f $(EFI_INC)/efi.h || scripts/install-deps
	$(CC) $(UEFI_CFLAGS) -c -o $@ $<

$(B)/uefi/common/%.o: common/%.c $(B)/flags | $(B)/uefi/common $(GEN)
	$(CC) $(UEFI_CFLAGS) -c -o $@ $<

# gnu-efi's libefi (init.o, which InitializeLib needs) defines memset and memcpy too:
# ours become weak there, so the link takes libefi's.
$(B)/uefi/common/string.o: common/string.c $(B)/flags | $(B)/uefi/common $(GEN)
	$(CC) $(UEFI_CFLAGS) -c -o $@ $<
	$(OBJCOPY) --weaken-symbol=memset --weaken-symbol=memcpy $@

$(B)/uefi.so: $(UEFI_OBJ)
	$(LD) -nostdlib -znocombreloc -shared -Bsymbolic -T $(EFI_LIB)/elf_x86_64_efi.lds \
		$(EFI_LIB)/crt0-efi-x86_64.o $(UEFI_OBJ) -L $(EFI_LIB) -lefi -lgnuefi -o $@

$(B)/BOOTX64.EFI: $(B)/uefi.so
	$(OBJCOPY) -j .text -j .sdata -j .data -j .rodata -j .dynamic -j .dynsym -j .rel \
		-j .rela -j '.rel.*' -j '.rela.*' -j .reloc --target efi-app-x86_64 \
		--subsystem=10 $< $@

# A FAT disk without partition table (UEFI reads it as one volume): the removable-media
# path EFI/BOOT/BOOTX64.EFI that OVMF boots, and the unmodified kernel ELF beside it.
# $(call efi_image,KERNEL.elf,OUT.img)
define efi_image
	rm -f $(2).tmp
	dd if=/dev/zero of=$(2).tmp bs=1M count=8 status=none
	mformat -i $(2).tmp -v FARJUMP ::
	mmd -i $(2).tmp ::/EFI ::/EFI/BOOT
	mcopy -i $(2).tmp $(B)/BOOTX64.EFI ::/EFI/BOOT/BOOTX64.EFI
	mcopy -i $(2).tmp $(1) ::/kernel.elf
	mv $(2).tmp $(2)
endef

$(B)/efi.img: $(B)/BOOTX64.EFI $(B)/kernel.elf
	$(call efi_image,$(B)/kernel.elf,$@)

# A fault kernel (see "kernel variants that fault on purpose") under UEFI: the panic screen
# on the framebuffer (tests/test_ways.py).
$(FAULTS:%=$(B)/fault/%.efi.img): $(B)/fault/%.efi.img: $(B)/BOOTX64.EFI $(B)/fault/kernel-%.elf
	$(call efi_image,$(B)/fault/kernel-$*.elf,$@)

$(B)/uefi/common:
	@mkdir -p $@

-include $(wildcard $(B)/uefi/*.d $(B)/uefi/common/*.d)

# ---- flat binaries and the disk image ----------------------------------------------------
$(B)/%.bin: $(B)/%.elf
	$(OBJCOPY) -O binary $< $@

$(B)/disk.img: $(B)/stage1.bin $(B)/stage2.bin $(B)/kernel.disk.elf $(IMAGE_TOOLS)
	$(HOSTPY) fjqemu.image --stage1 $(B)/stage1.bin --stage2 $(B)/stage2.bin \
		--kernel $(B)/kernel.disk.elf -o $@

# C objects include the contract headers directly (their .d files track them); the
# generated files must exist before anything that includes or links them is built.
$(B)/boot/stage1.o $(LOADER_OBJ) $(KERNEL_OBJ) $(B)/kernel/kernel.linked.elf \
		$(FAULTS:%=$(B)/fault/fault-%.o): $(B)/flags | $(GEN)

$(B)/boot $(B)/kernel $(B)/gen $(B)/boot/common $(B)/kernel/common:
	@mkdir -p $@

clean:
	rm -rf $(B)

-include $(wildcard $(B)/boot/*.d $(B)/kernel/*.d $(B)/boot/common/*.d $(B)/kernel/common/*.d $(B)/gen/*.d)

# run, test, unit, bench, debug, debug-server, gdb, bochs: beside the host side they drive.
include qemu/qemu.mk

# ---- test guests for every paging mode and real mode at CS != 0 (tests/guests/modes) ------
# build/guests/modes.img: boot sector + the stage linked at 0x10200; modes.elf (64-bit ELF)
# and modes32.elf (the same symbols as a 32-bit ELF, for qemu-system-i386) give GDB symbols.
MODES := tests/guests/modes
$(B)/guests/modes.elf: $(MODES)/stage.asm $(MODES)/link.ld
	@mkdir -p $(@D)
	$(NASM) -f elf64 -g -F dwarf -w+all -o $(B)/guests/modes.o $<
	$(LD) -m elf_x86_64 --build-id=none -T $(MODES)/link.ld -o $@ $(B)/guests/modes.o

$(B)/guests/modes32.elf: $(B)/guests/modes.elf
	$(OBJCOPY) -O elf32-i386 $< $@

$(B)/guests/modes.img: $(B)/guests/modes.elf $(B)/guests/modes32.elf $(MODES)/boot.asm
	$(OBJCOPY) -O binary $< $(B)/guests/modes.bin
	$(NASM) -f bin -DSTAGE_SECTORS=$$(( ($$(stat -c %s $(B)/guests/modes.bin) + 511) / 512 )) \
		-o $(B)/guests/modes.boot $(MODES)/boot.asm
	cat $(B)/guests/modes.boot $(B)/guests/modes.bin > $@
	truncate -s 64K $@
