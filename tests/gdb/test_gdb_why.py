"""fj why and fj reset in a make-debug-like session (QEMU with stop_on_fault, its exception
log and a QMP socket for GDB): the triple fault of each test guest stops GDB on the
faulting instruction, fj why explains it as make why does, bt and fj mode work there, and
fj reset resets (and the next triple fault stops again)."""
import json
import subprocess
from pathlib import Path

import pytest

from fjqemu.gdbrun import run_driver
from fjqemu.vm import QemuVM

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("why_driver.py")


@pytest.fixture(scope="module")
def triples(build):
    r = subprocess.run(["make", "-s", "triples"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return build


def session(image, tmp_path, remove=(), add=(), file=None):
    with QemuVM(image, gdb=True, reboot=True, stop_on_fault=True, gdb_qmp=True,
                int_log=tmp_path / "int.log") as vm:
        run = run_driver(DRIVER, port=vm.gdb_port, timeout=120, env=vm.gdb_env(),
                         config={"file": str(file) if file else None, "remove": [str(f) for f in remove],
                                 "add": [str(f) for f in add]})
    if run.result is None:
        pytest.fail(f"driver wrote no results {run.tail(4000)}")
    return run.result


def common(r, pc):
    assert r["first_stop"] == "stopped" and "shutdown" in r["status"], r
    assert r["pc"] == pc
    assert r["why"].startswith("triple fault: the CPU shut down")
    assert "Traceback" not in r["why"] + r["bt"] + r["mode"]
    assert "ERROR" not in r["reset"] and "f000:fff0" in r["reset"]
    assert "shutdown" not in r["status_after_reset"]
    assert r["why_after_reset"].startswith("no triple fault: VM status: paused")
    assert r["second_stop"] == "stopped" and "shutdown" in r["status_again"]
    assert r["pc_again"] == pc


def test_pm_selector(triples, tmp_path):
    r = session(triples / "triple/pm-selector.img", tmp_path)
    common(r, 0x80AF)
    d = json.loads(r["why_json"])
    assert d["mode"] == "protected" and d["steps"][0]["error_code"] == 0x40
    assert "past the GDT limit 0x27" in d["steps"][0]["reason"]
    assert d["location"]["stage"] == "stage2" and d["location"]["symbol"].startswith("stage2")
    assert d["location"]["file"].endswith("stage2.asm")
    assert [s["vector"] for s in d["steps"]] == [13, 13, 8, 13]
    assert "stage2_main" in r["bt"]
    assert "protected" in r["mode"]


def test_lm_selector(triples, tmp_path):
    r = session(triples / "triple/lm-selector.img", tmp_path)
    d = json.loads(r["why_json"])
    common(r, r["pc"])
    assert d["mode"] == "compatibility" and d["steps"][0]["error_code"] == 0x40
    assert d["location"]["symbol"].startswith("pm_entry")
    assert "16-byte" not in d["steps"][1]["reason"] and "compatibility mode" in \
        d["steps"][1]["reason"]


def test_kernel_pf(triples, tmp_path):
    r = session(triples / "fault/triple-pf.img", tmp_path,
                file=triples / "fault/kernel-triple-pf.elf")
    d = json.loads(r["why_json"])
    common(r, r["pc"])
    assert d["steps"][0]["vector"] == 14 and d["cr2"] == 0xBADC0DE0000
    assert d["location"]["symbol"].startswith("fault_pf_unmapped")
    assert d["location"]["file"].endswith("fault.c")
    assert "IDT limit" in d["steps"][1]["reason"]
    assert "fault_triple_pf" in r["bt"] and "kernel_main" in r["bt"]


def test_real_mode(triples, tmp_path):
    r = session(triples / "triple/real.img", tmp_path, remove=[triples / "stage1.elf"],
                add=[triples / "triple/real.elf"])
    common(r, 0x7C14)
    d = json.loads(r["why_json"])
    assert d["mode"] == "real" and "while delivering INT 3" in d["steps"][0]["reason"]
    assert d["location"]["symbol"] == "real_fault"
    assert d["location"]["file"].endswith("real.asm") and d["location"]["line"] == 24
