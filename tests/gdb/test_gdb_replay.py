"""make record and make replay, and farjump's reverse execution in the replay: one backward
move over every mode transition of the boot (fj mode right after each), watch -l on the VGA
cell of the 'H' of Hello World! then reverse-continue to the kernel code that wrote it, and
a run of consecutive backward moves that must all finish (every run bounded)."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from fjqemu.gdbrun import run_driver
from fjqemu.record import INFO, rr_in
from fjqemu.vm import QemuVM

ROOT = Path(__file__).resolve().parents[2]
MOVES = 50


@pytest.fixture(scope="module")
def recording(build, tmp_path_factory):
    out = tmp_path_factory.mktemp("record")
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'qemu'}:{ROOT / 'gdb'}:{ROOT / 'build/gen'}")
    r = subprocess.run(["/usr/bin/python3", "-m", "fjqemu.record", "--outdir", str(out),
                        str(build / "disk.img")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "the boot ended because the CPU halted with interrupts off" in r.stderr
    return out


@pytest.fixture(scope="module")
def replay(build, recording):
    with QemuVM(build / "disk.img", gdb=True, stop_on_fault=True,
                rr=rr_in(recording, "replay")) as vm:
        run = run_driver(Path(__file__).with_name("replay_driver.py"), port=vm.gdb_port,
                         timeout=600, env={"FJ_REPLAY": str(recording / INFO)},
                         config={"moves": MOVES})
    if run.result is None:
        pytest.fail(f"driver wrote no results {run.tail(4000)}")
    run.result["_out"] = run.stdout + run.stderr
    return run.result


def test_recording_says_how_it_ended(recording):
    info = json.loads((recording / INFO).read_text())
    assert info["ended"] == "halted" and info["icount"] > 1_000_000
    assert (recording / "boot.rr").stat().st_size > 0


def stage2_line(line_text):
    return int(line_text.split("Line ")[1].split()[0])


@pytest.mark.parametrize("name, mode_before, mode_after, line_has", [
    ("stage2", "real", "real", "jmp"),
    ("pm", "protected", "protected", "jmp dword SEL_CODE32:pm_entry"),
    ("lm", "long", "long", "jmp SEL_CODE64:lm_entry"),
    ("kernel", "long", "long", None)])
def test_reverse_stepi_over_each_transition(replay, name, mode_before, mode_after, line_has):
    t = replay["transitions"][name]
    assert "ERROR" not in t["out"], t["out"]
    assert t["before"]["count"] == t["after"]["count"] - 1
    assert t["before"]["pc"] != t["after"]["pc"]
    assert t["forward"]["pc"] == t["after"]["pc"]          # stepi forward lands back
    assert t["before"]["mode"]["mode"] == mode_before
    if line_has:
        src, line = t["line"].split('"')[1], stage2_line(t["line"])
        assert line_has in Path(src).read_text().splitlines()[line - 1]
    if name == "pm":            # PE=1 but CS still the real-mode 16-bit one
        assert t["before"]["mode"]["bits"] == 16 and t["after"]["mode"]["bits"] == 32
    if name == "lm":            # IA-32e: compatibility mode until the far jump
        assert t["before"]["mode"]["submode"] == "compatibility"
        assert t["after"]["mode"]["submode"] == "64-bit"


def test_watchpoint_on_the_h_then_reverse_continue(replay):
    assert replay["h_addr"], "no Hello World! on the VGA screen at the end of the replay"
    assert "ERROR" not in replay["rc_out"], replay["rc_out"]
    here = replay["rc_here"]
    assert here["count"] < replay["end"]
    assert replay["h_byte"] == ord("H")
    assert here["pc"] >> 32 == 0xFFFFFFFF, here        # kernel code (higher half)
    bt = replay["bt"]
    assert "kernel_main" in bt and "kprintf" in bt, bt


def test_fifty_backward_moves_never_hang(replay):
    assert replay.get("done"), (replay["moves"], replay["_out"][-1500:])
    moves = replay["moves"]
    assert len(moves) == MOVES
    assert not [m for m in moves if m["error"]], [(m["cmd"], m["before"], m["after"], m["where"][:40]) for m in moves][:30]
    assert all(m["after"] < m["before"] for m in moves), moves
    assert {m["cmd"] for m in moves} == {"reverse-stepi", "reverse-continue",
                                         "reverse-stepi 3", "rsi", "reverse-nexti", "rni"}


def test_reverse_finish_lands_on_the_call(replay):
    assert "ERROR" not in replay["finish_out"], replay["finish_out"]
    assert replay["finish_here"]["count"] < replay["finish_from"]["count"]
    assert "call" in replay["finish_insn"] and "kprintf" in replay["finish_insn"]
    assert replay["finish_here"]["count"] == replay["finish_forward"]["count"] - 1
    assert replay["finish_forward"]["where"].startswith("kprintf in section")


def test_reverse_nexti_steps_back_over_the_call(replay):
    assert "ERROR" not in replay["nexti_out"], replay["nexti_out"]
    assert "call" in replay["nexti_insn"] and "kprintf" in replay["nexti_insn"]
    assert replay["nexti_here"]["count"] < replay["nexti_from"]["count"] - 1
