"""make record and make replay, and farjump's reverse execution in the replay: one backward
move over every mode transition of the boot (fj mode right after each), watch -l on the VGA
cell of the 'H' of Hello World! then reverse-continue to the kernel code that wrote it, and
Ctrl-C during a backward move (the run of consecutive backward moves:
test_gdb_replay_moves.py; every run bounded)."""
import json
import re
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
    # every move longer than 0.05 s says it is still working (target/run.Progress)
    return replay_run(build, recording, {"moves": 0}, env={"FJ_PROGRESS_AFTER": "0.05"})


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


def line_no(info_line):
    return int(info_line.split("Line ")[1].split()[0])


@pytest.mark.parametrize("name", ["pm", "lm"])
def test_reverse_step_over_the_far_jump(replay, name):
    """reverse-step from the first line after a far jump: back to the line of the jump
    (a line of its own: the same count as reverse-stepi)."""
    t = replay["transitions"][name]
    assert "ERROR" not in t["step_out"], t["step_out"]
    assert t["step"]["count"] == t["before"]["count"]
    assert t["step"]["mode"]["mode"] == t["before"]["mode"]["mode"]


def test_reverse_next_and_step_in_stage2_nasm(replay):
    r = replay
    assert "ERROR" not in r["nasm_next_out"], r["nasm_next_out"]
    assert "ERROR" not in r["nasm_step_out"], r["nasm_step_out"]
    assert r["nasm_from"]["where"].startswith("stage2_main")
    # reverse-next: over 'call print' (and its BIOS call) to the start of that line
    assert line_no(r["nasm_next_line"]) == r["nasm_cli"] - 1
    assert r["nasm_next"]["where"].startswith("stage2_main")
    assert r["nasm_next"]["count"] < r["nasm_from"]["count"] - 10
    assert "call" in open("boot/stage2.asm").read().splitlines()[r["nasm_cli"] - 2]
    # reverse-step: into print, on its last line (the RET), just before the CLI
    assert r["nasm_again"]["count"] == r["nasm_from"]["count"]
    assert r["nasm_step"]["where"].startswith("print"), r["nasm_step"]
    assert r["nasm_step"]["count"] == r["nasm_from"]["count"] - 1
    assert r["nasm_step"]["mode"]["mode"] == "real"


def test_reverse_next_and_step_in_kernel_c(replay):
    r = replay
    for k in ("c_next_out", "c_next2_out", "c_step_out"):
        assert "ERROR" not in r[k], r[k]
    assert r["c_from"]["where"].startswith("kernel_main")
    # reverse-next: over kprintf and boot_path_name, to the banner's line in kernel_main
    assert line_no(r["c_next_line"]) == r["c_banner"]
    assert r["c_next"]["where"].startswith("kernel_main")
    assert r["c_next"]["count"] < r["c_from"]["count"] - 100
    # once more: a line before it, still in kernel_main
    assert line_no(r["c_next2_line"]) < r["c_banner"]
    assert r["c_next2"]["where"].startswith("kernel_main")
    assert r["c_next2"]["count"] < r["c_next"]["count"]
    # reverse-step: into kprintf, its last line, called from kernel_main
    assert r["c_step"]["where"].startswith("kprintf"), r["c_step"]
    assert r["c_step"]["count"] < r["c_from"]["count"]
    assert r["c_step"]["count"] > r["c_next"]["count"]
    assert "kernel_main" in r["c_step_bt"].split("\n", 2)[1], r["c_step_bt"]


def test_ctrl_c_stops_a_backward_move_and_the_replay_goes_on(replay):
    out = replay["int_out"]
    assert out.startswith("ERROR") and "interrupted at instruction count" in out, out
    at = replay["int_at"]["count"]
    assert f"interrupted at instruction count {at} " in out, (out, at)
    assert 1 < at < replay["int_before"] - 100       # part-way (20 ms into the run)
    assert "ERROR" not in replay["int_next_out"], replay["int_next_out"]
    assert replay["int_next"]["count"] == at - 1, replay["int_next"]



def test_a_backward_move_says_it_is_still_working(replay):
    """A long recording replays for a while at every backward move: after a moment (2 s;
    0.05 s here) the move says so on the terminal, with how to stop it."""
    assert re.search(r"^reverse-continue: still working \(\d+ s; Ctrl-C stops it\)$",
                     replay["_out"], re.M), replay["_out"][-3000:]
