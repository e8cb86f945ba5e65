"""make record (python3 -m fjqemu.record): record one boot of an image for make replay.

    python3 -m fjqemu.record [--timeout S] [--outdir DIR] [IMAGE]

QEMU records deterministically (-icount shift=auto,rr=record, -net none, the disk through
blkreplay over a new qcow2 overlay, a snapshot "start" for going back) into DIR (default
build/record/): boot.rr (the event log), overlay.qcow2 (the disk and the snapshot),
serial.log (COM1), int.log (QEMU's exception log) and recording.json (the image, how the
boot ended, the last instruction count). The boot is recorded until the CPU halts with
interrupts off, the guest triple-faults (QEMU pauses: -action reboot=shutdown,
shutdown=pause, as a reset while recording hangs QEMU 7.2), or the time limit passes
(--timeout, $TIMEOUT, default 30 s); then QEMU quits in order (QMP quit), which is what
finishes the recording. The last line says which.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from . import BUILD, IMAGE
from .cmdline import RecordReplay, qemu_img_overlay
from .imagecheck import image_problem
from .vm import QemuError, QemuVM
from .why import watch

PROG = "record"
INFO = "recording.json"


def say(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def shown(path: Path) -> str:
    """`path` relative to the working directory when it is below it (build/record)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def icount(text: str) -> int | None:
    """The instruction count in 'info replay' output."""
    m = re.search(r"instruction count = (\d+)", text)
    return int(m.group(1)) if m else None


def rr_in(outdir: Path, mode: str) -> RecordReplay:
    return RecordReplay(mode, outdir / "boot.rr", outdir / "overlay.qcow2")


def record(image: Path, outdir: Path, timeout: float) -> dict:
    outdir.mkdir(parents=True, exist_ok=True)
    for name in ("boot.rr", "overlay.qcow2", INFO, "int.log"):
        (outdir / name).unlink(missing_ok=True)
    rr = rr_in(outdir, "record")
    try:
        subprocess.run(qemu_img_overlay(image, rr.overlay), check=True, timeout=30,
                       capture_output=True, text=True)
    except FileNotFoundError:
        raise QemuError("'qemu-img' not found ('make deps' installs qemu-utils)") from None
    except subprocess.CalledProcessError as e:
        raise QemuError(f"qemu-img failed: {e.stderr.strip()}") from None
    with QemuVM(image, workdir=outdir, rr=rr, stop_on_fault=True,
                int_log=outdir / "int.log") as vm:
        how = watch(vm, timeout)
        vm.qmp("stop")
        end = icount(vm.hmp("info replay"))
        pc = vm.hmp("info registers")
    ended = {"halted": "the CPU halted with interrupts off", "timeout":
             f"the time limit ({timeout:g} s) passed", "shutdown": "the guest triple-faulted "
             "(or asked for a reset or power-off): QEMU paused it"}[how]
    m = re.search(r"[RE]IP=([0-9a-f]+)", pc)
    info = {"image": str(image.resolve()), "ended": how, "ended_text": ended,
            "icount": end, "pc": int(m.group(1), 16) if m else None,
            "snapshot": rr.snapshot}
    (outdir / INFO).write_text(json.dumps(info, indent=1) + "\n")
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="make record", description=__doc__.split("\n\n")[0],
                                 epilog="See the module docstring (qemu/fjqemu/record.py).")
    ap.add_argument("image", nargs="?", default=str(IMAGE),
                    help="disk image (default: build/disk.img)")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("TIMEOUT") or 30),
                    help="seconds the boot may take (default: $TIMEOUT or 30)")
    ap.add_argument("--outdir", default=str(BUILD / "record"),
                    help="where the recording goes (default: build/record)")
    args = ap.parse_args(argv)
    if args.timeout <= 0:
        ap.error("--timeout must be positive")
    image = Path(args.image)
    problem = image_problem(image)
    if problem:
        say(problem)
        return 1
    try:
        info = record(image, Path(args.outdir), args.timeout)
    except QemuError as e:
        say(str(e))
        return 1
    say(f"recorded {image} into {shown(Path(args.outdir))}: {info['icount']} instructions; the boot "
        f"ended because {info['ended_text']}. 'make replay' opens it.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted; QEMU stopped")
        sys.exit(130)
