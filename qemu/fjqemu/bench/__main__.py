"""make bench (python3 -m fjqemu.bench): farjump benchmarks; every figure is a ratio against
a reference measured in the same run.

Machines are small and noisy, so each benchmark alternates its subject (A) and its reference
(B) run by run, and compares medians. The table goes to the terminal, the numbers to
build/bench.json.

    make bench [BENCH_ARGS='--runs N --only NAME[,NAME] --json FILE']

Benchmarks (docs/performance.md says what each measures and why):
  qemu-boot   boot to "Hello World!" on COM1 in QEMU (TCG) vs a bare boot sector (boot.py)
  bochs-boot  the same in Bochs (headless, magic breakpoints off) vs the same floor (boot.py)
  gdb-decode  `fj gdt` at kernel_main vs QEMU's `monitor info registers` (gdbbench.py)
  gdb-pt      `fj pt` at kernel_main (direct reads, gdbstub only, repeated, plain) vs
              `monitor info mem`; $FJ_PEERS: other plugins' page-table commands (ptbench.py)
  gdb-step    2000 stepi from kernel_main: context panel on / off vs plain GDB (gdbbench.py)
  gdb-start   GDB start-up with farjump sourced vs a bare GDB (gdbbench.py)
  build       clean `make` vs one nasm + ld + objcopy (build.py)
  sizes       stage 1, stage 2 and the kernel file vs the room they have (build.py)
  ways        boot by Multiboot 1, GRUB (Multiboot 2) and UEFI vs the BIOS boot (ways.py)
  timeline    where a real QEMU boot's time goes: the guest's own TSC stamps (timeline.py)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .. import BUILD
from ..bochs import BOCHS
from ..cmdline import QEMU
from ..gdbrun import GDB
from .boot import bench_bochs_boot, bench_qemu_boot
from .build import bench_build, bench_sizes
from .common import BenchError, Row
from .gdbbench import bench_gdb_decode, bench_gdb_start, bench_gdb_step
from .ptbench import bench_gdb_pt
from .timeline import boot_timeline, print_timeline
from .ways import bench_ways


BENCHES = {
    "qemu-boot": lambda runs: [bench_qemu_boot(runs)],
    "bochs-boot": lambda runs: [bench_bochs_boot(runs)],
    "gdb-decode": bench_gdb_decode,
    "gdb-pt": bench_gdb_pt,
    "gdb-step": bench_gdb_step,
    "gdb-start": bench_gdb_start,
    "build": lambda runs: [bench_build(runs)],
    "sizes": lambda runs: bench_sizes(),
    "ways": bench_ways,
    "timeline": lambda runs: [],      # a section, not a row: see main()
}


def fmt_value(v, unit):
    if v is None:
        return "-"
    if unit == "B":
        return f"{int(v)} B"
    return f"{v * 1000:.2f} ms" if v < 0.01 else f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def bochs_version() -> str | None:
    """Bochs has no --version: the installed Debian package's version, else "unknown"."""
    if shutil.which(BOCHS) is None:
        return None
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "bochs"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def tool_versions() -> dict:
    versions = {}
    for name, cmd in (("qemu", [QEMU, "--version"]), ("bochs", None), ("gdb", [GDB, "--version"])):
        if cmd is None:
            versions[name] = bochs_version()
            continue
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
            versions[name] = out.splitlines()[0].strip() if out else None
        except (OSError, subprocess.SubprocessError):
            versions[name] = None
    return versions


def print_table(rows: list[Row]) -> None:
    head = f"{'benchmark':<13} {'subject':>11} {'reference':>11} {'ratio':>7} {'target':>7}  {'':<4} what"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
        target = f"<={r.target:.2f}" if r.target is not None else "-"
        met = {True: "ok", False: "MISS", None: ""}[r.met]
        print(f"{r.name:<13} {fmt_value(r.subject_s, r.unit):>11} {fmt_value(r.reference_s, r.unit):>11} "
              f"{ratio:>7} {target:>7}  {met:<4} {r.subject} vs {r.reference}"
              + (f" ({r.note})" if r.note else ""))


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def main(argv=None) -> int:
    try:
        return bench_main(argv)
    except KeyboardInterrupt:   # each benchmark has already ended the processes it started
        print("\nbench: interrupted", file=sys.stderr)
        return 130


def bench_main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench", description="farjump benchmarks (ratios against references "
                                 "measured in the same run)")
    ap.add_argument("--runs", type=positive_int, default=10,
                    help="runs of each side, at least 1 (default 10)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHES)}")
    ap.add_argument("--json", default=str(BUILD / "bench.json"), help="where to write the numbers")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"bench: unknown benchmark {', '.join(unknown)} (have: {', '.join(BENCHES)})",
              file=sys.stderr)
        return 2
    if not (BUILD / "disk.img").exists():
        print("bench: build/disk.img is missing: run 'make' first", file=sys.stderr)
        return 2

    rows: list[Row] = []
    failed = []
    timeline = None
    t0 = time.perf_counter()
    for name in names:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            if name == "timeline":
                timeline = boot_timeline()
            else:
                rows += BENCHES[name](args.runs)
        except (BenchError, subprocess.SubprocessError, OSError, RuntimeError, ValueError,
                KeyError) as e:   # RuntimeError: fjqemu.vm.QemuError; ValueError: DecodeError
            failed.append(name)
            rows.append(Row(name, "failed", "-", note=f"{type(e).__name__}: {e}"))
    print_table(rows)
    if timeline is not None:
        print_timeline(timeline, rows)
    total = time.perf_counter() - t0
    print(f"\n{len(rows)} rows in {total:.1f} s on {platform.node()} ({os.cpu_count()} cores, "
          f"{cpu_model()}); JSON in {args.json}")
    doc = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": platform.node(),
           "cpus": os.cpu_count(), "cpu_model": cpu_model(), "kernel": platform.release(),
           "tools": tool_versions(), "runs": args.runs, "seconds": total,
           "rows": [dict(asdict(r), met=r.met) for r in rows], "timeline": timeline}
    try:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    except OSError as e:
        print(f"bench: cannot write {args.json}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
