"""scripts/walkthrough's runs besides the docs' check (test_walkthrough.py, which this module
can run beside): proof that --check can fail (an altered output line, a command that no
longer works, a bad marker), --write, and a session on a guest farjump did not write."""
import re
import subprocess
from pathlib import Path

import pytest

from fjqemu import walkthrough as wt
from test_walkthrough import built, run  # noqa: F401 (built: autouse, as there)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "walkthrough.md"


def test_a_foreign_session_stays_at_the_reset_vector(tmp_path):
    """'$ make debug ARCH=i386 KERNEL=...': QEMU boots that guest, GDB has no farjump
    symbols and stays at F000:FFF0 (no tbreak stage1_start); a second session in the same
    doc is farjump's own again."""
    doc = tmp_path / "t.md"
    doc.write_text("<!-- capture: gdb foreign -->\n```\n$ make debug ARCH=i386 "
                   "KERNEL=build/foreign/vmlinuz\n(gdb) fj mode\n```\n\n"
                   "<!-- capture: gdb own -->\n```\n$ make debug\n(gdb) fj mode\n```\n")
    if not (ROOT / "build" / "foreign" / "vmlinuz").is_file():
        r = subprocess.run(["make", "-s", "foreign"], cwd=ROOT, capture_output=True,
                           text=True, timeout=900)
        assert r.returncode == 0, r.stdout + r.stderr
    p = run("--write", "--no-build", "--doc", str(doc))
    assert p.returncode == 0, p.stdout + p.stderr
    foreign, own = wt.parse(doc.read_text(), str(doc))
    body = "\n".join(foreign.body)
    assert 'The target architecture is set to "i386".' in body, body
    assert "pc       CS:IP f000:fff0 -> linear 0xfffffff0" in body, body
    assert "stage1_start" not in body
    assert "stage1_start () at boot/stage1.asm" in "\n".join(own.body)
    assert "pc       CS:IP 0000:7c00" in "\n".join(own.body)



def test_check_fails_on_a_doc_with_an_altered_line(tmp_path):
    """Three docs in one run: two altered (each reported), one intact (still matches). Of
    docs/walkthrough.md, its blocks up to the altered one (the first GDB session's; the
    whole doc is test_walkthrough.py's to check)."""
    text = DOC.read_text()
    old = "pc       CS:EIP 0008:"
    assert old in text
    end = text.find("<!-- capture:", text.index(old))
    assert end > 0
    doc = tmp_path / "walkthrough.md"
    doc.write_text(text[:end].replace(old, "pc       CS:EIP 0010:", 1))
    readme = tmp_path / "README.md"
    rtext = (ROOT / "README.md").read_text()
    assert "mode     real, 16-bit code" in rtext
    readme.write_text(rtext.replace("mode     real, 16-bit code", "mode     long, 64-bit code"))
    bochs = tmp_path / "bochs.md"
    bochs.write_text((ROOT / "docs" / "bochs.md").read_text())
    p = run("--check", "--no-build", "--doc", str(doc), "--doc", str(readme), "--doc", str(bochs))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "- pc       CS:EIP 0010:" in p.stdout
    assert "+ pc       CS:EIP 0008:" in p.stdout
    assert "gdb to-pm" in p.stdout
    assert "- mode     long, 64-bit code" in p.stdout
    assert "gdb brief" in p.stdout
    assert f"{doc} is out of date" in p.stderr
    assert f"{readme} is out of date" in p.stderr
    assert f"{bochs}: 7 blocks match a fresh capture" in p.stdout


BROKEN = """\
<!-- capture: gdb start -->
```
(gdb) fj mode
(gdb) {cmd}
```
"""


def check_fails(tmp_path, text: str):
    """scripts/walkthrough --check of a doc holding *text*: it must fail (status 1)."""
    doc = tmp_path / "broken.md"
    doc.write_text(text)
    p = run("--check", "--no-build", "--doc", str(doc))
    assert p.returncode == 1, p.stdout + p.stderr
    return p


@pytest.mark.parametrize("cmd", ["fj nosuchcommand", "fj gdt --bogus", "x/i nosuchsymbol"])
def test_check_fails_when_a_gdb_command_fails(tmp_path, cmd):
    p = check_fails(tmp_path, BROKEN.format(cmd=cmd))
    assert f"'{cmd}' failed" in p.stderr, p.stderr


def test_check_fails_when_an_expected_failure_works(tmp_path):
    p = check_fails(tmp_path,
                    '<!-- capture: gdb start fails="fj mode" -->\n```\n(gdb) fj mode\n```\n')
    assert "expected to fail" in p.stderr


def test_check_fails_when_a_shell_command_fails(tmp_path):
    p = check_fails(tmp_path, "<!-- capture: sh s -->\n```\n$ ls build/no-such-file\n```\n")
    assert "exited with status" in p.stderr


def test_check_fails_when_a_bochs_command_is_unknown(tmp_path):
    check_fails(tmp_path, "<!-- capture: bochs b -->\n```\n<bochs:1> c\n<bochs:2> frobnicate\n"
                "<bochs:3> quit\n```\n")


def test_write_fills_a_template(tmp_path):
    doc = tmp_path / "t.md"
    doc.write_text("intro\n\n<!-- capture: gdb start -->\n```\n(gdb) fj mode\n```\n\nend\n")
    p = run("--write", "--no-build", "--doc", str(doc))
    assert p.returncode == 0, p.stdout + p.stderr
    text = doc.read_text()
    assert re.search(r"\(gdb\) fj mode\nmode +real, 16-bit code", text), text
    assert text.startswith("intro\n") and text.endswith("\nend\n")
    # a second --check of what was written passes
    p = run("--check", "--no-build", "--doc", str(doc))
    assert p.returncode == 0, p.stdout + p.stderr


def test_bad_markers_are_reported(tmp_path):
    for text in ("<!-- capture: gdb x -->\nno fence\n",
                 "<!-- capture: nosuchkind x -->\n```\n```\n",
                 "<!-- capture: gdb x -->\n```\nno commands\n```\n",
                 '<!-- capture: gdb x cut="fj ivt=3" -->\n```\n(gdb) fj mode\n```\n',
                 '<!-- capture: gdb x cut="fj mode" -->\n```\n(gdb) fj mode\n```\n'):
        doc = tmp_path / "bad.md"
        doc.write_text(text)
        p = run("--check", "--no-build", "--doc", str(doc))
        assert p.returncode != 0
        assert "walkthrough:" in p.stderr
