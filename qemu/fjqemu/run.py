"""make run (python3 -m fjqemu.run): boot a farjump disk image in QEMU for a person to watch.

With $DISPLAY: a window, COM1 on this terminal. Without: the VGA text screen drawn in this
terminal (curses), COM1 in the image's directory's serial.log.

    python3 -m fjqemu.run [IMAGE] [extra QEMU options...]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from . import IMAGE
from .cmdline import QEMU, qemu_command

PROG = "run"


def fail(msg: str, *more: str) -> int:
    print(f"{PROG}: {msg}", file=sys.stderr)
    for line in more:
        print(f"     {line}", file=sys.stderr)
    return 1


def exec_qemu(cmd: list[str]) -> int:
    sys.stdout.flush()
    try:
        os.execvp(cmd[0], cmd)
    except OSError as e:
        return fail(f"cannot start '{QEMU}': {e.strerror} (set QEMU=..., or 'make deps' "
                    "installs qemu-system-x86)")


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    image = Path(args.pop(0)) if args else IMAGE
    if not image.is_file():
        return fail(f"no disk image at {image} (run 'make' first)")
    if os.environ.get("DISPLAY"):
        print(f"{PROG}: booting {image} in a QEMU window; COM1 follows here. "
              "Close the window to quit.")
        return exec_qemu(qemu_command(image, display=None, monitor=None, serial="stdio",
                                      extra=args))
    if not sys.stdout.isatty():
        return fail("no $DISPLAY and no terminal for the curses display; use 'make test'",
                    "for a headless boot, or run this from a terminal.")
    log = image.parent / "serial.log"
    print(f"{PROG}: booting {image} with the curses display; COM1 goes to {log}.")
    print("     To quit: Esc then 2 for the QEMU monitor, type 'quit' and Enter.")
    sys.stdout.flush()
    time.sleep(2)
    return exec_qemu(qemu_command(image, display="curses", monitor=None,
                                  serial=f"file:{log}", extra=args))


if __name__ == "__main__":
    sys.exit(main())
