"""make record and make replay, and farjump's reverse execution in the replay: one backward
move over every mode transition of the boot (fj mode right after each), watch -l on the VGA
cell of the 'H' of Hello World! then reverse-continue to the kernel code that wrote it, and
(the run of consecutive backward moves: test_gdb_replay_moves.py; every run bounded)."""
import json
from pathlib import Path

import pytest

from fjqemu.record import INFO
from replayrun import record, replay_run


@pytest.fixture(scope="module")
def recording(build, tmp_path_factory):
    return record(build, tmp_path_factory.mktemp("record"))


@pytest.fixture(scope="module")
def replay(build, recording):
    """Every scenario but the run of moves (tests/gdb/test_gdb_replay_moves.py has those,
    in a module of their own so that they run beside these)."""
    return replay_run(build, recording, {"moves": 0})


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
    assert replay["h_addr"], "no Hello World! on the VGA screen after timeline_hello in the replay"
    assert "ERROR" not in replay["rc_out"], replay["rc_out"]
    here = replay["rc_here"]
    assert here["count"] < replay["end"]
    assert replay["h_byte"] == ord("H")
    assert here["pc"] >> 32 == 0xFFFFFFFF, here        # kernel code (higher half)
    bt = replay["bt"]
    assert "kernel_main" in bt and "kprintf" in bt, bt


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
