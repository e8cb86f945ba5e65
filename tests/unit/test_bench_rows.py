"""make bench's row logic without emulators (fjqemu.bench, with a stand-in GDB session)."""
import fjqemu.bench.gdbbench as gb


def fake_sessions(ends):
    """gdb_session() stand-in: each call ends at the next PC of `ends`."""
    it = iter(ends)

    def session(mode, n):
        return {"start_pc": 0xffffffff80100000, "end_pc": next(it), "seconds": 1.0,
                "panels": n}
    return session


def test_gdb_step_tolerates_runs_that_end_apart(monkeypatch):
    """QEMU sometimes reports a step that did not advance: the row says so, in hex, and
    the benchmark does not fail."""
    monkeypatch.setattr(gb, "gdb_session",
                        fake_sessions([0xffffffff80100e0a, 0xffffffff80100e0a,
                                       0xffffffff80100e07]))
    on, off = gb.bench_gdb_step(1)
    assert on.ratio == 1.0 and off.ratio == 1.0
    assert "0xffffffff80100000 -> 0xffffffff80100e07/0xffffffff80100e0a" in on.subject
    assert "runs ended at 2 different PCs" in on.note


def test_gdb_step_same_code_says_nothing_more(monkeypatch):
    monkeypatch.setattr(gb, "gdb_session", fake_sessions([0xffffffff80100e0a] * 3))
    on, _ = gb.bench_gdb_step(1)
    assert "(0xffffffff80100000 -> 0xffffffff80100e0a, 64-bit code)" in on.subject
    assert on.note == "seconds per run of 2000 stepi"
