"""A boot farjump did not write: Debian's Linux bzImage under QEMU's -kernel (console=
ttyS0), no symbols. fj break 1020:0000 stops in the real-mode setup code as that
breakpoint's hit; fj tour finds startup_32's CS reload and startup_64 (0x100200, the
64-bit entry of the compressed kernel's head_64.S) by itself; QEMU's own registers agree.
One QEMU, one GDB; the kernel is cached in build/foreign (fjqemu.foreign)."""
import pytest

from fjqemu import FjError
from fjqemu.foreign import linux_bzimage
from fjqemu.gdbrun import run_driver
from fjqemu.machine import Machine
from test_guest_modes import DRIVER, out

COMMANDS = [("break_rm", "fj break 1020:0000"), ("cont", "continue"),
            ("mode_rm", "fj mode --json"), ("x3i", "x/3i $pc"),
            ("regs_rm", "monitor info registers"),
            ("delete", "delete"), ("timeline", "fj timeline"),
            ("tour", "fj tour --timeout 60 --json"),
            ("regs_end", "monitor info registers"), ("mode_end", "fj mode --json")]


@pytest.fixture(scope="module")
def linux(build):
    try:
        kernel = linux_bzimage()
    except FjError as e:
        pytest.fail(f"cannot fetch Debian's kernel: {e}")
    from fjqemu.vm import QemuVM
    m = Machine(kernel=kernel, append="console=ttyS0")
    with QemuVM(None, gdb=True, memory="256M", **m.qemu_kwargs()) as vm:
        run = run_driver(DRIVER, config={"port": vm.gdb_port, "setup": m.gdb_setup(),
                                         "commands": COMMANDS},
                         timeout=120, symbols=False)
    if run.result is None:
        pytest.fail(f"driver wrote no results {run.tail(4000)}")
    return run.result


def test_real_mode_setup_at_1020(linux):
    r = linux
    stop = out(r, "cont")
    assert "Breakpoint 1, 1020:0000 (linear 0x10200)" in stop and "SIGTRAP" not in stop
    assert "CS =1020 00010200" in out(r, "regs_rm")
    assert r["mode_rm"]["json"]["mode"] == "real"
    assert "; 1020:0000" in out(r, "x3i")           # jmp to start_of_setup
    assert "not booted by farjump's loader" in r["timeline"]["error"]


def test_tour_finds_startup_32_and_startup_64(linux):
    stops = linux["tour"]["json"]
    end = stops.pop()
    assert end["reason"] == "64-bit mode reached: no further mode to find", end
    modes = [(s["mode"], s["bits"]) for s in stops]
    assert modes[:1] == [("real", 16)] or ("protected", 16) in modes, modes
    assert ("protected", 32) in modes and modes[-1] == ("long", 64)
    # startup_32 (0x100000): its lretl reloads CS, with its own GDT
    s32 = [s for s in stops if 0x100000 <= s["linear_pc"] < 0x100100]
    assert s32 and s32[0]["bits"] == 32 and "changed" in s32[0]
    assert s32[0]["instruction"]["text"].startswith("retf")
    # startup_64: the 64-bit entry 0x200 bytes into the compressed kernel
    last = stops[-1]
    assert last["linear_pc"] == 0x100200 and last["lma"] and last["paging"]
    regs = out(linux, "regs_end")
    assert "RIP=0000000000100200" in regs and "CS =0010" in regs
    assert linux["mode_end"]["json"]["bits"] == 64
