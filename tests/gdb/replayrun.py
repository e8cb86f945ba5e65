"""A recording of farjump's boot and a GDB session replaying it (replay_driver.py), shared
by test_gdb_replay.py and test_gdb_replay_moves.py."""
import os
import subprocess
from pathlib import Path

import pytest

from fjqemu.gdbrun import run_driver
from fjqemu.record import INFO, rr_in
from fjqemu.vm import QemuVM

ROOT = Path(__file__).resolve().parents[2]


def record(build, out: Path, image: Path | None = None,
           ended: str = "the CPU halted with interrupts off") -> Path:
    """make record of `image` (build/disk.img) into `out` (bounded)."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'qemu'}:{ROOT / 'gdb'}:{ROOT / 'build/gen'}")
    r = subprocess.run(["/usr/bin/python3", "-m", "fjqemu.record", "--outdir", str(out),
                        str(image or build / "disk.img")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"the boot ended because {ended}" in r.stderr
    return out


def replay_run(build, recording: Path, config: dict, image: Path | None = None) -> dict:
    """replay_driver.py in a replay of `recording`, with `config` ($FJ_IN). The result
    also has "_out" (GDB's output), "_qemu_log" (what QEMU printed), "_qemu_status"
    (None while QEMU still ran when GDB was done: it did not exit part-way) and
    "_retried" (the status of a first QEMU that aborted, or None).

    QEMU 7.2's replay aborts now and then on a seek on a busy machine (SIGABRT, nothing
    printed: docs/time-travel.md, 'What is known'); the session is then run once more in a
    fresh replay, and a second abort fails the test."""
    first = _replay_once(build, recording, config, image)
    if first["_qemu_status"] is None or first["_qemu_status"] >= 0:
        return first
    print(f"replayrun: QEMU aborted (status {first['_qemu_status']}); once more")
    again = _replay_once(build, recording, config, image)
    if again["_qemu_status"] is not None and again["_qemu_status"] < 0:
        pytest.fail(f"QEMU aborted twice (status {first['_qemu_status']}, then "
                    f"{again['_qemu_status']}): {again['_qemu_log'][-1500:]}")
    again["_retried"] = first["_qemu_status"]
    return again


def _replay_once(build, recording: Path, config: dict, image: Path | None) -> dict:
    workdir = recording / "replay-vm"
    workdir.mkdir(exist_ok=True)
    with QemuVM(image or build / "disk.img", gdb=True, stop_on_fault=True,
                rr=rr_in(recording, "replay"), workdir=workdir) as vm:
        run = run_driver(Path(__file__).with_name("replay_driver.py"), port=vm.gdb_port,
                         timeout=600, env={"FJ_REPLAY": str(recording / INFO)},
                         config=config)
        status = vm.proc.poll()
        log = vm.log_path.read_text(errors="replace")
    if run.result is None:
        if status is not None and status < 0:
            return {"_out": run.stdout + run.stderr, "_qemu_log": log,
                    "_qemu_status": status, "_retried": None}
        pytest.fail(f"driver wrote no results {run.tail(4000)}\nQEMU (status {status}): "
                    f"{log[-2000:]}")
    run.result["_out"] = run.stdout + run.stderr
    run.result["_qemu_log"] = log
    run.result["_qemu_status"] = status
    run.result["_retried"] = None
    return run.result
