"""Shared fixtures (the build, made once per session) and the test tiers.

Every test gets the marker of its tier (pytest.ini lists them) from where it lives, unless
it carries one itself: tests/unit -> unit, tests/gdb -> gdb, tests/bochs -> bochs, and the
top-level files as TIERS says.
"""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
TIERS = {"unit": "unit", "gdb": "gdb", "bochs": "bochs",
         "test_build.py": "build", "test_kprintf_host.py": "unit",
         "test_boot_qemu.py": "qemu", "test_loader_errors.py": "qemu",
         "test_panic.py": "qemu", "test_timeline.py": "qemu",
         "test_host_sessions.py": "qemu", "test_smp.py": "qemu",
         "test_ways.py": "qemu", "test_why.py": "qemu", "test_walkthrough.py": "docs",
         "test_walkthrough_runs.py": "docs"}
MARKERS = frozenset(TIERS.values())
# The longest files, longest first (one make test's run, file by file): they run first, so
# that make test's two workers (--dist loadfile: a file stays on one worker) never start
# one of them while the other worker is already done. The rest keep their order.
LONGEST = ["test_walkthrough.py", "gdb/test_gdb_replay.py", "test_host_sessions.py",
           "test_ways.py", "test_walkthrough_runs.py", "gdb/test_gdb_fastpath.py",
           "gdb/test_foreign_grub.py", "test_build.py"]


def pytest_collection_modifyitems(config, items):
    tests = Path(__file__).resolve().parent
    rank = {}
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(tests)
        rank[item] = LONGEST.index(rel.as_posix()) if rel.as_posix() in LONGEST else len(LONGEST)
        if any(m.name in MARKERS for m in item.iter_markers()):
            continue
        tier = TIERS.get(rel.parts[0])
        if tier is None:
            raise pytest.UsageError(f"{rel}: no test tier (add it to TIERS in tests/conftest.py)")
        item.add_marker(getattr(pytest.mark, tier))
    items.sort(key=rank.__getitem__)        # stable: within a rank, the order collected


@pytest.fixture(scope="session")
def build():
    """The build directory after `make` (a no-op when `make test` already built)."""
    r = subprocess.run(["make", "-s", "all"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        pytest.fail(f"make failed:\n{r.stdout}\n{r.stderr}")
    return BUILD


@pytest.fixture(scope="session")
def iso(build):
    """build/farjump.iso (GRUB, Multiboot 2) after `make iso`."""
    r = subprocess.run(["make", "-s", "iso"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        pytest.fail(f"make iso failed:\n{r.stdout}\n{r.stderr}")
    return BUILD / "farjump.iso"


@pytest.fixture(scope="session")
def efi(build):
    """build/efi.img (FAT: farjump's UEFI loader and the kernel, for OVMF) after `make efi`."""
    r = subprocess.run(["make", "-s", "efi"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        pytest.fail(f"make efi failed:\n{r.stdout}\n{r.stderr}")
    return BUILD / "efi.img"
