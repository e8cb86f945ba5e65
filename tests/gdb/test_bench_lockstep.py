"""make bench's gdb-step rows (qemu/fjqemu/bench/lockstep.py): three fresh QEMU + GDB
sessions side by side, stepped 100 instructions at a time in turn. Nothing is timed
here: one round must give both rows, with every configuration stepping the same 2000
instructions and a context panel at every stop of the farjump one."""
import json
import subprocess

from fjqemu import ROOT


def test_gdb_step_rows_in_lockstep(build, tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([str(ROOT / "scripts/bench"), "--runs", "1", "--only", "gdb-step",
                        "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=150)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    rows = {row["name"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"gdb-step-on", "gdb-step-off"}, rows
    on = rows["gdb-step-on"]
    assert on["ratio"] and on["ratio"] > 0 and on["target"] == 1.5, on
    for bad in ("did not all step the same", "context panels missing", "stopped advancing"):
        assert bad not in on["note"], on["note"]
    assert "2000 stepi from kernel_main (0x" in on["subject"], on["subject"]
