"""make bench's row logic without emulators (fjqemu.bench, with a stand-in GDB session)."""
import pytest

import fjqemu.bench.gdbbench as gb
import fjqemu.bench.ptbench as pb
from fjqemu.bench.common import BenchError

START = 0xffffffff80100000
END = 0xffffffff80100e0a


def fake_sessions(runs):
    """lockstep() stand-in: each round gives the next (stepis, seconds, trace, panels) of
    the three configurations, in the order on, off, plain."""
    it = iter(runs)

    def rounds(driver, modes, n, chunk, farjump):
        assert modes == ["step-on", "step-off", "step-plain"] and chunk > 0
        assert [farjump(m) for m in modes] == [True, True, False]
        out = {}
        for mode in modes:
            stepis, seconds, trace, panels = next(it)
            out[mode] = {"start_pc": START, "end_pc": END, "seconds": seconds,
                         "stepis": stepis, "advanced": n, "trace": trace,
                         "panels": stepis if panels is None else panels}
        return out
    return rounds


def test_gdb_step_counts_steps_that_did_not_advance(monkeypatch):
    """QEMU sometimes reports a step that did not advance: every configuration still
    steps the same N instructions, the extra stepi are counted, the time is per stepi,
    the addresses are in hex and the benchmark does not fail."""
    monkeypatch.setattr(gb, "lockstep", fake_sessions(
        [(2002, 2.002, "t", None), (2000, 1.0, "t", None), (2001, 1.0005, "t", None)]))
    on, off = gb.bench_gdb_step(1)
    assert round(on.ratio, 6) == 2.0 and round(off.ratio, 6) == 1.0
    assert f"0x{START:x} -> 0x{END:x}" in on.subject
    assert "3 of 6003 stepi did not advance" in on.note
    assert on.target == 1.5


def test_gdb_step_same_work_says_nothing_more(monkeypatch):
    monkeypatch.setattr(gb, "lockstep", fake_sessions([(2000, 1.0, "t", None)] * 3))
    on, _ = gb.bench_gdb_step(1)
    assert f"(0x{START:x} -> 0x{END:x}, 64-bit code)" in on.subject
    assert on.note == ("seconds per 2000 stepi; ratio: the median of the rounds' own "
                       "ratios (the times: medians)")


def test_gdb_step_ratio_is_the_median_of_the_rounds_ratios(monkeypatch):
    """Each round's configurations ran in lockstep; rounds may see different machines:
    round ratios 2.0, 1.2, 2.0 give 2.0 (the medians of each side would give 1.5)."""
    monkeypatch.setattr(gb, "lockstep", fake_sessions(
        [(2000, 2.0, "t", None), (2000, 2.0, "t", None), (2000, 1.0, "t", None),
         (2000, 3.0, "t", None), (2000, 3.0, "t", None), (2000, 2.5, "t", None),
         (2000, 4.0, "t", None), (2000, 4.0, "t", None), (2000, 2.0, "t", None)]))
    on, off = gb.bench_gdb_step(3)
    assert on.ratio == pytest.approx(2.0) and off.ratio == pytest.approx(2.0)
    assert (on.subject_s, on.reference_s) == (3.0, 2.0)


def test_gdb_step_reports_other_paths_and_missing_panels(monkeypatch):
    monkeypatch.setattr(gb, "lockstep", fake_sessions(
        [(2000, 1.0, "a", 1999), (2000, 1.0, "b", None), (2000, 1.0, "a", None)]))
    on, _ = gb.bench_gdb_step(1)
    assert "did not all step the same instructions" in on.note
    assert "context panels missing: 1999 for 2000 stepi" in on.note


# ---- gdb-pt (fjqemu.bench.ptbench) ---------------------------------------------------------
def pt_result(same=True, show="fj pt: fast paths on; guest RAM read from /proc/7/mem"):
    ways = {"proc": (2.0, 1.0), "gdbstub": (9.0, 3.0), "repeat": (0.5, 1.0),
            "plain": (30.0, 1.0)}
    return {"ways": {w: {"subject": [s] * 3, "reference": [r] * 3}
                     for w, (s, r) in ways.items()},
            "same_output": same, "lines": 6, "show": show,
            "memo": {w: {"same stop": 0, "compared": 10 * (w == "repeat"),
                         "walked": 10 * (w != "repeat")} for w in ways}}


def test_gdb_pt_rows_against_one_pooled_reference(monkeypatch):
    monkeypatch.setattr(pb, "pt_session", lambda config, farjump: pt_result())
    monkeypatch.delenv("FJ_PEERS", raising=False)
    rows = pb.bench_gdb_pt(1)
    assert [r.name for r in rows] == ["gdb-pt", "gdb-pt-gdbstub", "gdb-pt-repeat",
                                      "gdb-pt-plain"]
    assert [r.target for r in rows] == [3.0, 10.0, 1.0, None]
    # the reference is the median of all twelve `info mem` samples (1, 1, 1, 3 x3): 1.0
    assert [r.ratio for r in rows] == [2.0, 9.0, 0.5, 30.0]
    assert "3.00 against the `info mem` right after each" in rows[1].note
    assert [r.met for r in rows] == [True, True, True, None]


def memo_broken():
    r = pt_result()
    r["memo"]["repeat"] = {"same stop": 0, "compared": 0, "walked": 10}
    return r


@pytest.mark.parametrize("result, words", [
    (pt_result(same=False), "printed different tables"),
    (memo_broken(), "repeat way did not measure what it says"),
    (pt_result(show="fj pt: fast paths on; through the gdbstub: no"), "did not read /proc")])
def test_gdb_pt_refuses_a_run_that_is_not_what_it_claims(monkeypatch, result, words):
    monkeypatch.setattr(pb, "pt_session", lambda config, farjump: result)
    with pytest.raises(BenchError, match=words):
        pb.bench_gdb_pt(1)


def test_gdb_pt_peer_rows(monkeypatch, tmp_path):
    """$FJ_PEERS: a row per peer file present, measured the same way; one that does not
    run is a row that says so, not a failed benchmark; farjump's row says how it
    compares."""
    (tmp_path / "gef.py").write_text("# stand-in\n")
    (tmp_path / "bata24-gef.py").write_text("# stand-in\n")

    def session(config, farjump):
        if "peer" not in config:
            return pt_result()
        assert not farjump
        if config["peer"].endswith("bata24-gef.py"):
            raise BenchError("GDB (gdb-pt): Python Exception ...")
        return {"subject": [4.0] * 3, "reference": [1.0] * 3,
                "peer_output": "0x0 0x40000000 rwx\n", "peer_load_seconds": 0.5}

    monkeypatch.setattr(pb, "pt_session", session)
    monkeypatch.setenv("FJ_PEERS", str(tmp_path))
    rows = {r.name: r for r in pb.bench_gdb_pt(1)}
    assert rows["peer-gef-vmmap"].ratio == 4.0
    assert rows["peer-bata24-pagewalk"].ratio is None
    assert "did not run" in rows["peer-bata24-pagewalk"].subject
    assert "faster than every peer measured" in rows["gdb-pt"].note


def test_gdbstub_note_says_how_the_tables_were_read():
    assert "all 12 at linear = physical" in pb.gdbstub_reads({"identity": 12, "physical": 0})
    assert "all 14 with PhyMemMode" in pb.gdbstub_reads({"identity": 0, "physical": 14})
    assert "1 read at linear = physical" in pb.gdbstub_reads({"identity": 1, "physical": 6})
    assert "none read" in pb.gdbstub_reads({})
