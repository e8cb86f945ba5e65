"""GDB + QEMU fixtures: one batch GDB session walks the whole boot (module scope)."""
from pathlib import Path

import pytest

from fjqemu.gdbrun import run_driver
from fjqemu.vm import QemuVM


@pytest.fixture(scope="module")
def walk(build):
    """Results of tests/gdb/driver.py: one GDB session through every transition."""
    # reboot=True: 'monitor system_reset' (fj tour --reset) resets the guest instead of
    # ending QEMU.
    with QemuVM(build / "disk.img", gdb=True, reboot=True) as vm:
        run = run_driver(Path(__file__).with_name("driver.py"), port=vm.gdb_port, timeout=50)
        serial = vm.serial()
    if run.result is None:
        pytest.fail(f"driver wrote no results {run.tail(4000)}")
    r = run.result
    r["_stdout"], r["_stderr"], r["_serial"] = run.stdout, run.stderr, serial
    return r
