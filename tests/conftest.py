"""Shared fixtures: the build (made once per session) and the QEMU harness."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "gdb"))
# Temporary until pytest.ini gives `pythonpath = qemu gdb build/gen`: the host package
# and the contracts `make` generates (farjump_contracts).
sys.path.insert(0, str(ROOT / "qemu"))
sys.path.insert(0, str(BUILD / "gen"))
if not (BUILD / "gen" / "farjump_contracts.py").exists():
    subprocess.run(["make", "-s", "gen"], cwd=ROOT, check=True, timeout=300)


@pytest.fixture(scope="session")
def build():
    """The build directory after `make` (a no-op when `make test` already built)."""
    r = subprocess.run(["make", "-s", "all"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        pytest.fail(f"make failed:\n{r.stdout}\n{r.stderr}")
    return BUILD
