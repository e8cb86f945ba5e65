"""Bochs boots the GRUB ISO too (issue 14, make bochs BOOT=grub): GRUB loads the kernel by
Multiboot 2 and the kernel says so on COM1, the first magic breakpoint being kernel_main's
(stage 1 and stage 2 never ran)."""
import subprocess
from pathlib import Path

from fjqemu.bochs import cdrom_lines

ROOT = Path(__file__).resolve().parents[2]


def test_bochs_boots_the_grub_iso(build, iso, tmp_path):
    rc = tmp_path / "run.rc"
    rc.write_text("c\nc\nquit\n")           # to kernel_main's break, to the end's, out
    out = tmp_path / "run.log"
    r = subprocess.run([str(ROOT / "scripts" / "bochs-run"), "-rc", str(rc), "-o", str(out),
                        "--timeout", "60", *cdrom_lines(iso)], cwd=ROOT, capture_output=True,
                       text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    serial = (tmp_path / "run.serial.log").read_text(errors="replace")
    assert "farjump kernel, booted by Multiboot 2 / GRUB" in serial
    assert "Hello World!" in serial
    first_stop = out.read_text(errors="replace").split("Magic breakpoint", 1)[1][:300]
    assert "ffffffff801" in first_stop, first_stop
