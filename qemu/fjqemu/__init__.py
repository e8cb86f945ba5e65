"""fjqemu: farjump's host side (everything that starts QEMU, GDB or Bochs for a person,
a test, a benchmark or the doc capture).

    cmdline   THE one QEMU command-line builder
    vm        QemuVM: one headless QEMU with QMP, COM1 in a file, optional gdbstub
    gdbrun    THE one GDB command-line builder and the in-GDB driver protocol
    procs     THE one process-group killer (and bounded waits)
    bochs     the Bochs driver: scripted headless runs and the interactive debugger
    run       make run          debug   make debug / debug-server / gdb
    bench/    make bench        walkthrough/   scripts/walkthrough (doc capture)

Run as `PYTHONPATH=qemu:build/gen /usr/bin/python3 -m fjqemu.X` (the Makefile's HOSTPY).
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]      # the repository
BUILD = ROOT / "build"
IMAGE = BUILD / "disk.img"
QEMU_DIR = ROOT / "qemu"
BOCHSRC = QEMU_DIR / "bochsrc"


class FjError(Exception):
    """A failure to report to the user as one line (the program name, then str(e))."""


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """A command line split at its first '--': (our arguments, what goes to the program we
    start: QEMU for make run, GDB for make debug and make replay)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []
