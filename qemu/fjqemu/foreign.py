"""Foreign guests from Debian's packages, for the tests and docs/your-kernel.md.

grub_iso(): a GRUB BIOS boot ISO made by Debian's grub-mkrescue (grub-pc-bin, xorriso,
mtools) from tests/guests/grub/grub.cfg, cached as build/foreign/grub.iso.

linux_bzimage(): Debian's kernel image (the package linux-image-amd64 depends on),
fetched with `apt-get download`, its boot/vmlinuz-* taken out of `dpkg-deb --fsys-tarfile`
(never installed), cached as
build/foreign/vmlinuz. Every subprocess is bounded.

`make foreign` (python3 -m fjqemu.foreign) fetches both, for docs/your-kernel.md's
sessions: `make debug KERNEL=build/foreign/vmlinuz ...`, `make debug
CDROM=build/foreign/grub.iso`.
"""
from __future__ import annotations

import contextlib
import fcntl
import glob
import io
import subprocess
import sys
import tarfile
from pathlib import Path

from . import BUILD, FjError

FOREIGN = BUILD / "foreign"


def _run(args, timeout: float, cwd=None) -> str:
    try:
        r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FjError(f"{args[0]} did not finish in {timeout:g} s") from None
    except FileNotFoundError:
        raise FjError(f"{args[0]} not found") from None
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["?"]
        raise FjError(f"{' '.join(map(str, args[:3]))} failed: {last[0]}")
    return r.stdout


@contextlib.contextmanager
def _locked():
    """One fetcher at a time (tests on two workers and the doc capture may ask at once):
    an flock on build/foreign/.lock, held while a file is checked and made."""
    FOREIGN.mkdir(parents=True, exist_ok=True)
    with open(FOREIGN / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def linux_package() -> str:
    """The real package behind linux-image-amd64 (e.g. linux-image-6.1.0-57-amd64)."""
    for line in _run(["apt-cache", "depends", "linux-image-amd64"], 60).splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split(":", 1)[1].strip()
    raise FjError("apt-cache does not know linux-image-amd64 (run apt-get update)")


def linux_bzimage() -> Path:
    """build/foreign/vmlinuz: Debian's bzImage, downloaded and unpacked once."""
    with _locked():
        return _linux_bzimage()


def _linux_bzimage() -> Path:
    target = FOREIGN / "vmlinuz"
    if target.is_file():
        return target
    FOREIGN.mkdir(parents=True, exist_ok=True)
    pkg = linux_package()
    debs = glob.glob(str(FOREIGN / f"{pkg}_*.deb"))
    if not debs:
        _run(["apt-get", "download", pkg], 600, cwd=FOREIGN)
        debs = glob.glob(str(FOREIGN / f"{pkg}_*.deb"))
    if not debs:
        raise FjError(f"apt-get download {pkg} left no .deb in {FOREIGN}")
    # only ./boot/vmlinuz-* out of the package's tar (dpkg-deb -x would unpack every module)
    try:
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", debs[0]], capture_output=True,
                             timeout=300, check=True).stdout
    except (subprocess.SubprocessError, FileNotFoundError) as e:
        raise FjError(f"dpkg-deb --fsys-tarfile {debs[0]} failed: {e}") from None
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        member = next((m for m in tf.getmembers()
                       if m.isfile() and m.name.lstrip("./").startswith("boot/vmlinuz-")), None)
        if member is None:
            raise FjError(f"{debs[0]} holds no boot/vmlinuz-*")
        tmp = target.with_suffix(".part")
        tmp.write_bytes(tf.extractfile(member).read())
    tmp.replace(target)
    Path(debs[0]).unlink()          # the kernel is all the tests need: 8 MB, not 70
    return target


def grub_iso() -> Path:
    """build/foreign/grub.iso: GRUB for BIOS, booting tests/guests/grub/grub.cfg."""
    with _locked():
        return _grub_iso()


def _grub_iso() -> Path:
    from . import ROOT
    target = FOREIGN / "grub.iso"
    cfg = ROOT / "tests" / "guests" / "grub" / "grub.cfg"
    if target.is_file() and target.stat().st_mtime >= cfg.stat().st_mtime:
        return target
    tree = FOREIGN / "grub-tree"
    (tree / "boot" / "grub").mkdir(parents=True, exist_ok=True)
    (tree / "boot" / "grub" / "grub.cfg").write_bytes(cfg.read_bytes())
    _run(["grub-mkrescue", "-o", str(target), str(tree)], 300)
    return target


def main() -> int:
    """make foreign: fetch (once) Debian's kernel and make the GRUB ISO; one line each."""
    from . import ROOT
    for what, get in (("Debian's Linux bzImage (linux-image-amd64's kernel)", linux_bzimage),
                      ("a GRUB BIOS ISO (Debian's grub-mkrescue, tests/guests/grub/grub.cfg)",
                       grub_iso)):
        try:
            path = get()
        except FjError as e:
            print(f"foreign: {e}", file=sys.stderr)
            return 1
        print(f"foreign: {path.relative_to(ROOT)}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
