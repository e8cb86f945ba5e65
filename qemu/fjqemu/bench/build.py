"""Build benchmarks: a clean `make` against the toolchain's floor, and each stage's size
against the room the memory layout (farjump_contracts, generated from contracts/) gives it."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from .. import BUILD, ROOT
from .common import PROCESS_TIMEOUT, BenchError, Row, alternate, ratio_row

MAKE = os.environ.get("MAKE", "make")


def make_seconds(target_dir: Path) -> float:
    shutil.rmtree(target_dir, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([MAKE, "-s", f"B={target_dir}", "all"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=PROCESS_TIMEOUT * 5)
    return time.perf_counter() - t0


def toolchain_floor_seconds(work: Path) -> float:
    """Assemble, link and flatten one tiny file: what the toolchain costs per step."""
    work.mkdir(parents=True, exist_ok=True)
    src = work / "t.asm"
    src.write_text("bits 64\nglobal _start\n_start: hlt\n")
    t0 = time.perf_counter()
    for cmd in (["nasm", "-f", "elf64", "-g", "-F", "dwarf", "-o", str(work / "t.o"), str(src)],
                ["ld", "-o", str(work / "t.elf"), str(work / "t.o")],
                ["objcopy", "-O", "binary", str(work / "t.elf"), str(work / "t.bin")]):
        subprocess.run(cmd, check=True, timeout=PROCESS_TIMEOUT)
    return time.perf_counter() - t0


def bench_build(runs: int) -> Row:
    runs = max(1, min(runs, 3))   # a clean build takes seconds: fewer runs
    with tempfile.TemporaryDirectory(prefix="fjbench-") as tmp:
        tmp = Path(tmp)
        row = Row("build", "clean `make` (all stages, kernel, disk image)",
                  "one nasm + ld + objcopy of a one-line file")
        xs, ys = alternate(lambda: make_seconds(tmp / "b"),
                           lambda: toolchain_floor_seconds(tmp / "t"), runs, "clean build")
    row.note = f"absolute: {statistics.median(xs):.2f} s"
    return ratio_row(row, xs, ys)


def bench_sizes() -> list[Row]:
    try:
        import farjump_contracts as layout
    except ImportError:
        raise BenchError("no build/gen/farjump_contracts.py (run 'make gen')") from None
    rows = []
    stage1 = (BUILD / "stage1.bin").stat().st_size
    rows.append(Row("size-stage1", "stage 1 bytes", "one sector", subject_s=stage1,
                    reference_s=512, ratio=stage1 / 512, target=1.0, unit="B", runs=1))
    stage2 = (BUILD / "stage2.bin").stat().st_size
    room = layout.STAGE2_END - layout.STAGE2_ADDR
    rows.append(Row("size-stage2", "stage 2 bytes", "room for it (STAGE2_ADDR..STAGE2_END)",
                    subject_s=stage2, reference_s=room, ratio=stage2 / room, target=1.0,
                    unit="B", runs=1))
    kernel = (BUILD / "kernel.disk.elf").stat().st_size
    buf = layout.KERNEL_BUF_END - layout.KERNEL_BUF
    rows.append(Row("size-kernel", "kernel ELF bytes on disk", "loader's buffer (KERNEL_BUF..KERNEL_BUF_END)",
                    subject_s=kernel, reference_s=buf, ratio=kernel / buf, target=1.0,
                    unit="B", runs=1))
    return rows
