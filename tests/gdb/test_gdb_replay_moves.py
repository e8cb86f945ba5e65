"""A run of 50 consecutive backward moves of every kind farjump builds, in a replay of the
boot: each must finish and go back (issue 13); and the 'H' watchpoint's reverse-continue
on a machine whose cores are all busy. A module of its own: each move restarts the
replay, so the runs take a while."""
import os
import subprocess

import pytest

from replayrun import record, replay_run

MOVES = 50

# make stress, not make test: together about 2 minutes (every backward move replays the
# boot from its start, reverse-step/next two or three times).
pytestmark = pytest.mark.stress
LOADED_RUNS = 3


@pytest.fixture(scope="module")
def recording(build, tmp_path_factory):
    return record(build, tmp_path_factory.mktemp("record"))


@pytest.fixture(scope="module")
def replay(build, recording):
    return replay_run(build, recording, {"moves": MOVES, "scenarios": False})


@pytest.fixture
def busy_cores():
    """Every core busy with a `yes > /dev/null` of its own while the test runs."""
    procs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
             for _ in range(os.cpu_count() or 2)]
    yield
    for p in procs:
        p.kill()
        p.wait()


def test_reverse_continue_to_a_watchpoint_on_a_busy_machine(build, recording, busy_cores):
    """With QEMU's replay_seek (which starts the machine itself) this aborted QEMU in 3 to
    4 of 5 runs with both cores busy: the break fired before GDB's continue arrived, the
    continue ran to the end of the recording, and the next seek went 'shutdown' ->
    'running'. replay_run fails on any QEMU exit."""
    for _ in range(LOADED_RUNS):
        r = replay_run(build, recording, {"watch_h": True, "moves": 0})
        assert r["h_addr"], r["_out"][-1500:]
        assert "the last hit before" in r["rc_out"], r["rc_out"]
        assert "put_char" in r["bt"] or "vga_write" in r["bt"], r["bt"]
        assert r["h_byte"] == ord("H")


def test_fifty_backward_moves_never_hang(replay):
    assert replay.get("done"), (replay["moves"], replay["_out"][-1500:],
                                f"QEMU status {replay['_qemu_status']}: {replay['_qemu_log'][-1500:]}")
    moves = replay["moves"]
    assert len(moves) == MOVES
    assert not [m for m in moves if m["error"]], [(m["cmd"], m["before"], m["after"], m["where"][:40]) for m in moves][:30]
    assert all(m["after"] < m["before"] for m in moves), moves
    assert {m["cmd"] for m in moves} == {
        "reverse-continue", "reverse-finish", "reverse-next", "reverse-step", "rsi",
        "reverse-nexti", "reverse-stepi 3", "rni", "rs", "rn"}
    # reverse-finish lands on the CALL of the function it was in, never far off
    for m in moves:
        if m["cmd"] == "reverse-finish":
            assert "call" in m["insn"], m
