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


def replay_run(build, recording: Path, config: dict, image: Path | None = None,
               env: dict | None = None) -> dict:
    """replay_driver.py in a replay of `recording`, with `config` ($FJ_IN). The result
    also has "_out" (GDB's output), "_qemu_log" (what QEMU printed) and "_qemu_status"
    (None while QEMU still ran when GDB was done: it did not exit part-way). QEMU exiting
    during the session fails the test: farjump's moves never start the machine behind
    GDB's back (integrations/replay.py seek), which is what made QEMU 7.2 abort on busy machines."""
    workdir = recording / "replay-vm"
    workdir.mkdir(exist_ok=True)
    with QemuVM(image or build / "disk.img", gdb=True, stop_on_fault=True,
                rr=rr_in(recording, "replay"), workdir=workdir) as vm:
        run = run_driver(Path(__file__).with_name("replay_driver.py"), port=vm.gdb_port,
                         timeout=600, env={"FJ_REPLAY": str(recording / INFO), **(env or {})},
                         config=config)
        status = vm.proc.poll()
        log = vm.log_path.read_text(errors="replace")
    if status is not None:
        pytest.fail(f"QEMU exited during the replay (status {status}): {log[-2000:]}\n"
                    f"GDB: {run.tail(4000)}")
    if run.result is None:
        pytest.fail(f"driver wrote no results {run.tail(4000)}\nQEMU: {log[-2000:]}")
    run.result["_out"] = run.stdout + run.stderr
    run.result["_qemu_log"] = log
    run.result["_qemu_status"] = status
    return run.result
