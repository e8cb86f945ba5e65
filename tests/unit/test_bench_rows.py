"""make bench's row logic without emulators (fjqemu.bench, with a stand-in GDB session)."""
import fjqemu.bench.gdbbench as gb

START = 0xffffffff80100000
END = 0xffffffff80100e0a


def fake_sessions(runs):
    """gdb_session() stand-in: each call gives the next (stepis, seconds, trace, panels)."""
    it = iter(runs)

    def session(mode, n):
        stepis, seconds, trace, panels = next(it)
        return {"start_pc": START, "end_pc": END, "seconds": seconds, "stepis": stepis,
                "advanced": n, "trace": trace,
                "panels": stepis if panels is None else panels}
    return session


def test_gdb_step_counts_steps_that_did_not_advance(monkeypatch):
    """QEMU sometimes reports a step that did not advance: every configuration still
    steps the same N instructions, the extra stepi are counted, the time is per stepi,
    the addresses are in hex and the benchmark does not fail."""
    monkeypatch.setattr(gb, "gdb_session", fake_sessions(
        [(2002, 2.002, "t", None), (2000, 1.0, "t", None), (2001, 1.0005, "t", None)]))
    on, off = gb.bench_gdb_step(1)
    assert round(on.ratio, 6) == 2.0 and round(off.ratio, 6) == 1.0
    assert f"0x{START:x} -> 0x{END:x}" in on.subject
    assert "3 of 6003 stepi did not advance" in on.note
    assert on.target == 1.5


def test_gdb_step_same_work_says_nothing_more(monkeypatch):
    monkeypatch.setattr(gb, "gdb_session", fake_sessions([(2000, 1.0, "t", None)] * 3))
    on, _ = gb.bench_gdb_step(1)
    assert f"(0x{START:x} -> 0x{END:x}, 64-bit code)" in on.subject
    assert on.note == "seconds per 2000 stepi"


def test_gdb_step_reports_other_paths_and_missing_panels(monkeypatch):
    monkeypatch.setattr(gb, "gdb_session", fake_sessions(
        [(2000, 1.0, "a", 1999), (2000, 1.0, "b", None), (2000, 1.0, "a", None)]))
    on, _ = gb.bench_gdb_step(1)
    assert "did not all step the same instructions" in on.note
    assert "context panels missing: 1999 for 2000 stepi" in on.note
