"""make bochs (python3 -m fjqemu.bochsdebug): boot a disk image in Bochs with its internal
debugger, for a person at the keyboard.

With $DISPLAY (and Debian's bochs-x): an X window plus the GTK debugger window
(options="gui_debug"). Without: the <bochs:N> debugger prompt in this terminal, and the VGA
text screen (bochs-term) on a new pseudo-terminal that Bochs names in the line
'Bochs connected to screen "/dev/pts/N"': run `cat /dev/pts/N` in a second terminal to see
it. Port E9h output appears in this terminal in both cases. Bochs stops at every magic
breakpoint; type `c` to go on, `quit` to leave. BOCHS_DISPLAY (and BOCHS_DISPLAY_OPTIONS)
choose the display yourself.

    python3 -m fjqemu.bochsdebug [--boot grub] [IMAGE [SYMBOLS]] [extra bochsrc lines...]

--boot grub (make bochs BOOT=grub): boot build/farjump.iso from a CD-ROM drive instead, GRUB
loading the kernel by Multiboot 2 (the first stop is then kernel_main's).
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import NoReturn

from . import BOCHSRC, BUILD, ROOT
from .bochs import BOCHS, cdrom_lines
from .imagecheck import image_problem

PROG = "bochs-debug"
PLUGINS = Path("/usr/lib/x86_64-linux-gnu/bochs/plugins")


def fail(msg: str) -> "NoReturn":  # noqa: F821
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    boot = "bios"
    if args[:1] == ["--boot"] and len(args) > 1:
        boot = args[1]
        del args[:2]
        if boot not in ("bios", "grub"):
            fail(f"BOOT={boot}: Bochs boots bios (the disk image) or grub (the ISO)")
    iso = BUILD / "farjump.iso"
    if boot == "grub" and not iso.is_file():
        fail(f"no {iso} (run 'make iso' first)")
    # IMAGE and SYMBOLS are relative to where this was started; Bochs runs in the root.
    img = sym = None
    if args:
        if not Path(args[0]).is_file():
            fail(f"no disk image at {args[0]}")
        img = Path(args.pop(0)).resolve()
    if args:
        if not Path(args[0]).is_file():
            fail(f"no symbol file at {args[0]} (make build/bochs.sym makes one)")
        sym = Path(args.pop(0)).resolve()
    img = img or BUILD / "disk.img"
    sym = sym or BUILD / "bochs.sym"
    if not img.is_file():
        fail(f"no disk image at {img} (run 'make' first)")
    problem = image_problem(img)
    if problem:
        fail(problem)
    bochs = shutil.which(BOCHS)
    if bochs is None:
        fail(f"{BOCHS} not found (make deps installs Debian's bochs packages)")

    env = dict(os.environ)
    display = env.get("BOCHS_DISPLAY")
    if not display:
        if env.get("DISPLAY") and (PLUGINS / "libbx_x_gui.so").exists():
            display = "x"
            env.setdefault("BOCHS_DISPLAY_OPTIONS", "gui_debug")
        else:
            if env.get("DISPLAY"):
                print(f"{PROG}: $DISPLAY is set but Bochs's X display is not installed\n"
                      f"             (apt-get install bochs-x); using the terminal display.",
                      file=sys.stderr)
            display = "term"
    env["BOCHS_DISPLAY"] = display
    env.setdefault("BOCHS_DISPLAY_OPTIONS", "")
    if display == "term" and not (sys.stdin.isatty() and sys.stdout.isatty()):
        fail("no $DISPLAY and no terminal for Bochs's term display and debugger\n"
             "             prompt; for a headless, scripted boot use scripts/bochs-run.")

    lines = [f'ata0-master: type=disk, path="{img}", mode=volatile'] + args
    if boot == "grub":
        lines += cdrom_lines(iso)
    if sym.is_file():
        lines.insert(0, f'debug_symbols: file="{sym}"')
    print(f"{PROG}: booting {img} in Bochs ({display} display). It stops at every magic\n"
          "             breakpoint: stage1_start, stage2_start, pm_entry, lm_entry, kernel_main,\n"
          "             after \"Hello World!\". Type c to go on, quit to leave. COM1: "
          "build/bochs-serial.log,\n"
          "             transcript: build/bochs-debugger.log, Bochs log: build/bochs.log.")
    if display == "x":
        print("             If no window opens (X server unreachable): BOCHS_DISPLAY=term make bochs")
    if display == "term":
        print("             The guest's screen: 'cat /dev/pts/N' in another terminal, N from the\n"
              "             line 'Bochs connected to screen \"/dev/pts/N\"' below.")
    sys.stdout.flush()
    if display == "term":
        time.sleep(1)
    os.chdir(ROOT)
    os.execve(bochs, [bochs, "-q", "-f", str(BOCHSRC), *lines], env)


if __name__ == "__main__":
    sys.exit(main())
