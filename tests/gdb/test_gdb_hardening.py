"""What a careless user does in GDB (issue 15, GDB side), against real GDB and QEMU:
one GDB session (tests/gdb/hardening_driver.py), judged here."""
from pathlib import Path

import pytest

from fjqemu.gdbrun import gdb_command, run_batch, run_driver
from fjqemu.vm import QemuVM
from gdbchecks import clean, error, ok


@pytest.fixture(scope="module")
def hard(build, tmp_path_factory):
    # reboot=True: 'monitor system_reset' (fj reset) resets the guest instead of ending QEMU.
    with QemuVM(build / "disk.img", gdb=True, reboot=True) as vm:
        # --timeout 0 waits forever: if Ctrl-C were ignored, this would time out
        run = run_driver(Path(__file__).with_name("hardening_driver.py"), port=vm.gdb_port,
                         config={"qemu_pid": vm.proc.pid}, timeout=40)
    if run.result is None:
        pytest.fail(f"hardening_driver wrote no results {run.tail(4000)}")
    r = run.result
    r["_stdout"], r["_stderr"] = run.stdout, run.stderr
    return r


def test_session_has_no_traceback(hard):
    clean(hard["_stdout"] + hard["_stderr"])


def test_tour_rejects_negative_and_non_finite_timeouts(hard):
    error(hard, "tour_negative",
          exact="fj tour: --timeout must be 0 (wait forever) or more seconds, not -1")
    error(hard, "tour_nan",
          exact="fj tour: --timeout must be 0 (wait forever) or more seconds, not nan")
    assert "error" in hard["set_timeout_negative"]      # PARAM_ZUINTEGER: GDB refuses it


def test_ctrl_c_ends_the_tour_with_progress(hard):
    out = ok(hard, "tour_ctrl_c", "waiting for stage1_start (Ctrl-C ends the tour) ...")
    lines = out.splitlines()
    assert lines[0].startswith("waiting for ")
    assert "== kernel_main: not reached: interrupted (Ctrl-C); stopped at 0x" in out, out
    assert lines[-1] == "tour: 0/5 stops reached (interrupted)", out
    ok(hard, "mode_after_ctrl_c", "mode     long (64-bit)")


def test_qemu_gone_drops_the_cache(hard):
    """QEMU killed while GDB sits at a stop: no dead machine shown as live, no internal
    error; one line saying QEMU is gone, then 'not connected'."""
    ok(hard, "seg_before_kill", "linear PC")
    ok(hard, "pt_before_kill", "0xffffffff80100000")
    # fj pt first: what it remembers of this stop (and its open /proc/PID/mem) must not
    # answer for a dead QEMU
    error(hard, "pt_dead", exact="fj pt: QEMU is gone (its gdbstub connection closed); what "
          "fj knew of the CPU was dropped: restart QEMU and reconnect, e.g. 'make debug'")
    for key in ("mode_dead", "seg_dead", "vga_dead"):
        error(hard, key, ": not connected to QEMU (run 'target remote HOST:PORT'")


def test_arguments_are_checked_first_and_exactly(hard):
    """Item 11: the argument is judged before the CPU state; no silent clamping or
    wrap-around; a float is not an address."""
    error(hard, "pt_zz", "fj pt: cannot evaluate '0xzz'")
    error(hard, "pt_float", exact="fj pt: '1.5' is not an integer")
    error(hard, "ivt_minus", exact="fj ivt: vector -1 out of range 0..255")
    error(hard, "ivt_float", exact="fj ivt: '1.5' is not an integer")
    for key, n in (("ctx_0", 0), ("ctx_minus", -5), ("ctx_big", 100000)):
        error(hard, key, exact=f"fj context: -n must be 1..50 instructions, not {n}")
    out = ok(hard, "ctx_2")
    assert sum(1 for line in out.splitlines() if line.startswith(("=> 0x", "   0x"))) == 2
    ok(hard, "ivt_16", " 16  0x10  ")


def test_timeline_says_what_is_really_wrong(hard):
    """Item 11: an address outside RAM or without a boot_info is not 'stage 2 has not
    written it yet'; after fj reset the previous boot's timeline is not shown as this
    one's."""
    error(hard, "tl_far", exact="fj timeline: 0x800000000000 is outside guest RAM (which ends "
                          "at 0x8000000): no boot_info there")
    error(hard, "tl_beyond", "fj timeline: 0x7ffff00 is outside guest RAM")
    error(hard, "tl_wrong", "fj timeline: no boot_info at physical 0x100 (magic 0x")
    ok(hard, "tl_boot1", "boot timeline:")
    ok(hard, "reset", "reset: CS:IP f000:fff0")
    for key in ("tl_after_reset", "tl_after_reset_json"):
        error(hard, key, exact="fj timeline: the boot_info at 0x5000 is the previous boot's "
                         "(memory survives fj reset): this boot's stage 2 has not written "
                         "it yet")
    # the tour below boots to kernel_main again: then it is this boot's
    ok(hard, "tl_boot2", "boot timeline:")


def test_running_guest_gets_the_same_line_everywhere(build):
    """Item 11: with the guest running in the background ('continue &'), every command,
    fj vga included, says so in the same words, with the remedy that works there."""
    with QemuVM(build / "disk.img", gdb=True, reboot=True) as vm:
        cmds = ["continue &", "fj vga", "fj mode", "fj pt", "interrupt"]
        rc, out, err = run_batch(gdb_command(*cmds, port=vm.gdb_port), timeout=30)
    clean(out + err)
    want = "the guest is running (continue &); stop it first with 'interrupt'"
    for c in ("vga", "mode", "pt"):
        assert f"fj {c}: {want}\n" in err, err


@pytest.mark.parametrize("case", ["no-sectors", "256-heads"])
def test_stage1_chs_path_checks_the_bios_geometry(build, tmp_path, case):
    """Issue 15 item 19: stage 1's CHS path divides by the geometry INT 13h AH=08h gives.
    GDB makes the BIOS's answer 0 sectors per track (then stage 1 says 'disk error 0x07'
    instead of hanging in a divide-error loop) or 256 heads (DH = 255: read as 256, a
    floppy's first sectors are still found and stage 2 starts)."""
    from fjqemu import image
    from fjqemu.elf import Elf
    img = tmp_path / "floppy.img"          # SeaBIOS: no INT 13h extensions for a floppy
    img.write_bytes(image.build((build / "stage1.bin").read_bytes(),
                                (build / "stage2.bin").read_bytes(),
                                (build / "kernel.disk.elf").read_bytes(), floppy=True))
    at = next(s.value for s in Elf.read(build / "stage1.elf").symbols()
              if s.name == "read_sectors.geometry")
    patch = ("set $ecx = $ecx & ~0x3f" if case == "no-sectors"
             else "set $edx = ($edx & ~0xff00) | 0xff00")
    with QemuVM(img, gdb=True, floppy=True, debugcon=True) as vm:
        cmds = [f"break *0x{at:x}", "continue", patch, "delete", "detach"]
        rc, out, err = run_batch(gdb_command(*cmds, farjump=False, symbols=False,
                                             port=vm.gdb_port), timeout=30)
        assert f"Breakpoint 1, 0x{at:016x}" in out, out + err
        if case == "no-sectors":
            vm.wait_halted(timeout=20)
            assert vm.debugcon().endswith("disk error 0x07\r\n"), vm.debugcon()
            assert "farjump stage 2" not in vm.serial()
        else:
            serial = vm.wait_serial("farjump stage 2", timeout=20)
            assert "disk error" not in vm.debugcon() + serial
