"""GDB + QEMU fixtures: one batch GDB session walks the whole boot (module scope)."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gdbharness import ROOT, ResettableVM, gdb_args, run_gdb  # noqa: E402


@pytest.fixture(scope="module")
def walk(build, tmp_path_factory):
    """Results of tests/gdb/driver.py: one GDB session through every transition."""
    out_file = tmp_path_factory.mktemp("fjgdb") / "walk.json"
    with ResettableVM(build / "disk.img", gdb=True) as vm:
        env = dict(os.environ, FJ_ROOT=str(ROOT), FJ_PORT=str(vm.gdb_port),
                   FJ_OUT=str(out_file))
        rc, out, err = run_gdb(gdb_args(connect_port=vm.gdb_port,
                                        script=Path(__file__).with_name("driver.py")),
                               timeout=50, env=env)
        serial = vm.serial()
    if not out_file.exists():
        pytest.fail(f"driver wrote no results (rc {rc}):\n{out[-4000:]}\n{err[-4000:]}")
    r = json.loads(out_file.read_text())
    r["_stdout"], r["_stderr"], r["_serial"] = out, err, serial
    return r
