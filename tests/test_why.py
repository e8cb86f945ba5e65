"""make why (fjqemu.why) on real boots: each test guest of tests/guests/triple and the
kernel's triple_pf fault variant triple-faults in its own mode, and the explanation must
name the first fault, the instruction with its symbol and source line, each nested fault's
reason and the escalation rule. The normal image does not fault: where the boot ended."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMAGES = {"real": "build/triple/real.img", "pm": "build/triple/pm-selector.img",
          "lm": "build/triple/lm-selector.img", "kernel": "build/fault/triple-pf.img"}


@pytest.fixture(scope="module")
def triples(build):
    r = subprocess.run(["make", "-s", "triples"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return {k: ROOT / v for k, v in IMAGES.items()}


def why(tmp_path, *args, timeout=90):
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'qemu'}:{ROOT / 'gdb'}:{ROOT / 'build/gen'}")
    r = subprocess.run(["/usr/bin/python3", "-m", "fjqemu.why", "--outdir", str(tmp_path),
                        "--timeout", "40", *map(str, args)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_real_mode(triples, tmp_path):
    out = why(tmp_path, triples["real"])
    assert "triple fault" in out.splitlines()[0]
    assert "first fault   #GP General Protection (vector 13) (no error code: real mode" in out
    assert "while delivering INT 3 (#BP): IDT limit" in out
    assert "in real: real_fault, " in out and "tests/guests/triple/real.asm:24" in out
    assert "instruction   int3" in out
    assert "state         real mode" in out


@pytest.mark.parametrize("which, mode, target", [("pm", "protected", "pm_entry"),
                                                 ("lm", "compatibility", "lm_entry")])
def test_bad_selector_far_jump(triples, tmp_path, which, mode, target, build):
    data = json.loads(why(tmp_path, "--json", triples[which]))
    assert data["triple"] and data["ended"] == "triple fault" and data["mode"] == mode
    first, nested, df, last = data["steps"]
    assert (first["vector"], first["error_code"]) == (13, 0x40)
    assert "past the GDT limit 0x27" in first["reason"]
    loc = data["location"]
    assert loc["stage"] == "stage2" and loc["file"].endswith("boot/stage2.asm")
    # the source line is the far jump to `target` (only its selector was patched)
    src = (ROOT / "boot/stage2.asm").read_text().splitlines()[loc["line"] - 1]
    assert src.split(";")[0].split() == ["jmp", "dword", f"SEL_CODE32:{target}"] \
        if which == "pm" else src.split(";")[0].split() == ["jmp", f"SEL_CODE64:{target}"]
    assert data["instruction"].startswith("ljmp 0x40:")
    assert nested["source"] == "rebuilt" and nested["error_code"] == 13 * 8 + 3
    assert "Table 6-5" in nested["escalation"] and df["vector"] == 8
    assert last["during"] == 8 and "triple fault" in last["escalation"]
    assert data["state"]["gdtr"][1] == 0x27


def test_kernel_empty_idt_page_fault(triples, tmp_path):
    out = why(tmp_path, triples["kernel"])
    assert "first fault   #PF Page Fault (vector 14), error code 0x0 (not present, read" in out
    assert "CR2=0xbadc0de0000" in out
    assert "in kernel-triple-pf: fault_pf_unmapped+" in out and "fault/fault.c:" in out
    assert "then          #GP(0x73: IDT index 14, external event) while delivering #PF: " \
        "IDT limit" in out
    assert "#GP (contributory) while delivering #PF (page fault): #DF" in out
    assert "state         64-bit mode" in out and "IDTR base 0x0 limit 0x0" in out


def test_no_fault_says_where_the_boot_ended(build, tmp_path):
    data = json.loads(why(tmp_path, "--json", build / "disk.img"))
    assert data["triple"] is False and data["ended"] == "halted" and data["steps"] == []
    assert data["location"]["stage"] == "kernel"
    assert data["location"]["symbol"].startswith("kernel_main")


def test_missing_image_is_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'qemu'}:{ROOT / 'gdb'}:{ROOT / 'build/gen'}")
    r = subprocess.run(["/usr/bin/python3", "-m", "fjqemu.why", str(tmp_path / "none.img")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no disk image" in r.stderr
