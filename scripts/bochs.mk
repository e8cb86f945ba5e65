# make bochs: boot build/disk.img in Bochs with its internal debugger (bochsrc, docs/bochs.md).
# Included by the top-level Makefile, which defines B, PYTHON and the targets all and deps.
#
#   make bochs              X window + GTK debugger with $DISPLAY, the terminal otherwise;
#                           stops at every magic breakpoint (type c to go on, quit to leave)
#   make build/bochs.sym    symbol file for Bochs (make bochs loads it)
#   scripts/bochs-run -h    headless, scripted Bochs boots for regression tests

.PHONY: bochs

bochs: deps all $(B)/bochs.sym
	@scripts/bochs-debug $(B)/disk.img $(B)/bochs.sym

# "ADDRESS NAME" per line, as Bochs's debug_symbols/ldsym read it: the debugger then shows
# stage1_start+2 instead of a bare address. Bochs names an address after the nearest symbol
# below it, so three markers keep VGA memory and BIOS code from showing up as
# stage2_end+<huge offset>: VGA_TEXT (0xb8000), BIOS_ROM (0xe0000), BIOS_ROM_HIGH (0xfffe0000).
$(B)/bochs.sym: $(B)/stage1.elf $(B)/stage2.elf $(B)/kernel.elf scripts/bochs.mk
	{ printf '%016x %s\n' 0xb8000 VGA_TEXT 0xe0000 BIOS_ROM 0xfffe0000 BIOS_ROM_HIGH; \
	  nm --defined-only $(filter %.elf,$^) | awk 'NF == 3 && $$2 ~ /^[TtDdBbRr]$$/ { print $$1, $$3 }'; \
	} | sort -u > $@
