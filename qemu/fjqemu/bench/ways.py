"""The other ways in against farjump's own BIOS boot (issue 14): seconds from starting QEMU
to "Hello World!" on COM1 booted by QEMU's -kernel (Multiboot 1), by GRUB from the ISO
(Multiboot 2) and by OVMF with farjump's UEFI loader, each as a ratio to build/disk.img's
boot measured alternately in the same run. No target: these are measurements to compare,
not goals (the issue measured about 0.8x, 4x and 24x)."""
from __future__ import annotations

import subprocess

from .. import IMAGE, ROOT
from ..bootpaths import IMAGES, NAMES
from .boot import qemu_boot_seconds
from .common import PROCESS_TIMEOUT, BenchError, Row, alternate, ratio_row

HELLO = b"Hello World!"
# OVMF alone takes about 5 s under TCG: fewer runs keep make bench short.
MAX_RUNS = {"multiboot": None, "grub": None, "uefi": 3}
MAKE = {"grub": "iso", "uefi": "efi"}


def bench_way(boot: str, runs: int) -> Row:
    if boot in MAKE:
        r = subprocess.run(["make", "-s", MAKE[boot]], cwd=ROOT, capture_output=True,
                           text=True, timeout=PROCESS_TIMEOUT)
        if r.returncode != 0:
            raise BenchError(f"make {MAKE[boot]} failed: {(r.stderr or r.stdout).strip()[-300:]}")
    runs = min(runs, MAX_RUNS[boot] or runs)
    row = Row(f"{boot}-boot", f"boot to 'Hello World!' on COM1 by {NAMES[boot]} (QEMU TCG)",
              "farjump's BIOS boot of build/disk.img, the same way")
    xs, ys = alternate(lambda: qemu_boot_seconds(IMAGES[boot], HELLO, boot),
                       lambda: qemu_boot_seconds(IMAGE, HELLO), runs, f"{boot} boot")
    return ratio_row(row, xs, ys)


def bench_ways(runs: int) -> list[Row]:
    return [bench_way(boot, runs) for boot in ("multiboot", "grub", "uefi")]
