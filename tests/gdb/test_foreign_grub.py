"""A GRUB BIOS ISO from Debian's grub-mkrescue, booted from CD-ROM with no symbols: from
the boot sector at 0:7c00, fj tour finds GRUB's switch to protected mode and the round
trip each BIOS call makes (32-bit protected -> 16-bit protected -> real -> protected)."""
import pytest

from fjqemu import FjError
from fjqemu.foreign import grub_iso
from fjqemu.gdbrun import run_driver
from fjqemu.machine import Machine
from fjqemu.vm import QemuVM
from test_guest_modes import DRIVER, out

COMMANDS = [("break", "fj break 0:7c00"), ("cont", "continue"), ("delete", "delete"),
            ("tour", "fj tour --timeout 60 --json")]   # 60: GRUB under TCG on a busy machine


def test_grub_bios_call_round_trip(build):
    try:
        iso = grub_iso()
    except FjError as e:
        pytest.fail(f"cannot make the GRUB image (make deps installs grub-pc-bin, xorriso, "
                    f"mtools): {e}")
    m = Machine(cdrom=iso)
    with QemuVM(None, gdb=True, **m.qemu_kwargs()) as vm:
        run = run_driver(DRIVER, config={"port": vm.gdb_port, "setup": m.gdb_setup(),
                                         "commands": COMMANDS}, timeout=150, symbols=False)
    r = run.result
    assert r is not None, run.tail()
    assert "Breakpoint 1, 0000:7c00 (linear 0x7c00)" in out(r, "cont")
    stops = r["tour"]["json"]
    stops.pop()
    seq = [(s["mode"], s["bits"]) for s in stops]
    want = [("protected", 32), ("protected", 16), ("real", 16), ("real", 16),
            ("protected", 16), ("protected", 32)]
    assert any(seq[i:i + len(want)] == want for i in range(len(seq))), seq
    # the real-mode stop right after 'mov cr0' still has the 16-bit protected CS cached
    i = seq.index(("real", 16), seq.index(("protected", 16)))
    assert stops[i]["instruction"]["text"].startswith("mov cr0")
