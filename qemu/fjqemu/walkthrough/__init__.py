"""Capture the session outputs shown in the docs from the current build, and write or check them.

    scripts/walkthrough --write     re-capture; rewrite the docs' capture blocks and docs/img/*.png
    scripts/walkthrough --check     re-capture; compare with the docs (exit 1 and a diff on mismatch)
    ... [--doc FILE]...             only these docs (default: docs/walkthrough.md, docs/gdb.md,
                                    docs/bochs.md, README.md, docs/smp.md,
                                    docs/your-kernel.md and docs/time-travel.md)

Each doc is a template: prose by hand, and blocks marked

    <!-- capture: KIND NAME [fails="CMD|CMD"] [cut="CMD=N|CMD=N"] [loose] -->
    ```
    (the commands, and what they printed)
    ```

whose commands are read back from the block itself, run for real, and the block refilled.
The docs are captured independently and at the same time (each with its own QEMU, GDB
session and Bochs run); within one doc:

  gdb    lines '(gdb) CMD'. The gdb blocks of the doc, in doc order, are one GDB session
         against one QEMU, started as 'make debug' starts it (QEMU paused at the reset
         vector, GDB with gdb/farjump.gdb, 'tbreak stage1_start', 'continue'). A block
         whose first line is '$ make debug [VAR=VALUE...]' starts a session (the blocks
         after it, up to the next such block, run in it; the sessions run one after the
         other) and gets what GDB printed before the first command (it may have no
         command). The VARs are make debug's machine options (fjqemu.machine): SMP=N gives
         farjump's boot N CPUs (docs/smp.md); IMAGE=, CDROM=, KERNEL=, APPEND=, INITRD=,
         ARCH=, SYMBOLS= boot a guest farjump did not write, as make debug does
         (docs/your-kernel.md): GDB sets the architecture, loads only the SYMBOLS and
         stays at the reset vector (no 'tbreak stage1_start'); a reset or shutdown
         pauses that guest; 'continue' is bounded by 90 s there, the session by 240 s.
         '$ make replay' instead makes the session a replay of build/record, as make
         replay opens it (QEMU replaying, $FJ_REPLAY for GDB): the doc's sh blocks
         before its first gdb block (its '$ make record') run first (docs/time-travel.md).
  bochs  lines '<bochs:N> CMD'. All bochs blocks of the doc are one scripts/bochs-run boot
         (the transcript is split at the commands); the first block also gets what Bochs
         printed before its first prompt, and may have no command (only that).
  qmp    lines '-> {JSON}': sent to the same QEMU over QMP after the GDB session ended
         (the guest has then printed Hello World! and halted); '<- ' is the reply. With
         several sessions, to the first one's QEMU, which must be farjump's.
  sh     lines '$ CMD': run with bash in the repository root ('timeout N CMD' may end
         with status 124: that is the timeout it asked for), after the doc's Bochs run (so
         they can read what it wrote); but sh blocks before the doc's first gdb block run
         before any session (they may fetch what it boots: '$ make foreign'; 900 s,
         the others 120 s). Standard output and error in one pipe, in the order a
         terminal shows them; terminal control sequences (OVMF's on COM1) dropped.

cut="CMD=N" shows only the first N lines of what CMD printed (each time the block runs it),
then a line '[... K more lines ...]'.

Every command must work: a GDB command that raises an error (unless the marker lists it in
fails="...", one entry per occurrence; it must then fail), a non-zero exit status, a Bochs
run that stops early or a QMP error makes both --write and --check fail (for that doc;
the others are still written or checked). Every QEMU, GDB, Bochs and shell run is
bounded by a timeout.

--check compares after normalising what legitimately varies between builds and machines:
addresses inside stage 2, the kernel's virtual range and its physical range (any value in
the same range matches; also 16- to 20-digit decimal numbers, as JSON prints addresses),
symbol+offset offsets, source line numbers, Bochs tick counts, make run's 'after N s',
the TSC rate ('TSC at N MHz'), the UEFI loader's 'ImageBase 0x... (N bytes)',
sizes like '12K', the instruction bytes Bochs prints after ';', the repository's
absolute path, the gdbstub port and the data words of stage 2's header (its CRC-32s change
with every stage 2 or kernel build). In a block marked
'loose' every number matches any number (for sizes and sector counts). Images (check.IMAGES): --write
renders docs/img/fj-vga.png (the doc's 'fj vga --png build/walkthrough/fj-vga.png', copied:
a reader following the doc never overwrites the tracked file), docs/img/qemu-screen.png
(QMP screendump, PPM converted with Pillow) and docs/img/boot-{multiboot,grub,uefi}.png
(the doc's 'make run BOOT=... SCREENSHOT=build/walkthrough/boot-....png', copied); --check
renders them into a temporary directory and checks that they are sane images (720x400 VGA
text; the UEFI framebuffer at least 640x400), not blank.
"""
# The package: config (paths, limits), template (the doc's capture blocks), capture (running
# the commands: QEMU, GDB, Bochs, shell), check (comparison and images), __main__ (the CLI).
from .check import compare, normalise
from .config import DOC, DOCS, CaptureError, shown_name
from .template import Block, clean, cut_lines, parse, render

__all__ = ["Block", "CaptureError", "DOC", "DOCS", "clean", "compare", "cut_lines",
           "normalise", "parse", "render", "shown_name"]
