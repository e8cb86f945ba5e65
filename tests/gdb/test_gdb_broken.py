"""fj commands in broken CPU states, against real GDB and a real QEMU: one clear line
saying what is wrong, never a Python traceback, and GDB keeps working afterwards.

The states are created for real in a booting guest by tests/gdb/broken_driver.py (one
GDB session, one QEMU): the reset state, stage1_start before any GDT, stage 2's lgdt
loading a garbage and then an unreadable GDTR (an o32 lgdt with a base beyond guest RAM),
protected mode with that GDTR, kernel_main with garbage in the GDT and IDT, CR3 written
outside guest RAM, a PML4 entry pointing outside guest RAM, reserved bits in a PML4
entry and a PDE, an unreadable IDTR loaded by idt_init's own lidt, and 'fj reset' on a
QEMU started with -no-reboot.
"""
import json
import re
from pathlib import Path

import pytest

from fjqemu.gdbrun import gdb_command, run_batch, run_driver
from fjqemu.vm import QemuVM
from gdbchecks import clean, error, ok

@pytest.fixture(scope="module")
def broken(build):
    with QemuVM(build / "disk.img", gdb=True) as vm:     # -no-reboot: fj reset ends it
        run = run_driver(Path(__file__).with_name("broken_driver.py"), port=vm.gdb_port,
                         timeout=40)
    if run.result is None:
        pytest.fail(f"broken_driver wrote no results {run.tail(4000)}")
    r = run.result
    r["_stdout"], r["_stderr"] = run.stdout, run.stderr
    return r


def test_whole_session_has_no_traceback(broken):
    clean(broken["_stdout"] + broken["_stderr"])
    assert broken["kernel_reached"], "the repaired boot did not reach kernel_main"


def test_reset_state(broken):
    error(broken, "reset_gdt", exact="fj gdt: GDTR limit 0xffff at base 0x0 is the reset "
                                     "value: no GDT loaded yet (real mode)")
    error(broken, "reset_idt", "real mode", "fj ivt")
    error(broken, "reset_pt", "paging is off (CR0.PG=0")
    ok(broken, "reset_mode", "mode     real, 16-bit code")


def test_before_gdtr_is_set(broken):
    error(broken, "stage1_gdt", exact="fj gdt: GDTR limit 0 (base 0x0): no GDT loaded yet "
                                      "(real mode)")
    error(broken, "stage1_pt_addr", "paging is off")
    ok(broken, "stage1_seg", "CS:IP 0000:7c00")


def test_paging_off(broken):
    error(broken, "stage2_pt", exact="fj pt: paging is off (CR0.PG=0, CR0=0x10): "
                                     "linear = physical")
    error(broken, "stage2_pt_json", "paging is off")
    error(broken, "pm_unreadable_pt", "paging is off (CR0.PG=0, CR0=0x11)")
    ok(broken, "stage2_ivt", "c000:")


def after_lgdt(broken) -> int:
    """The instruction after stage 2's `lgdt [gdt_descriptor]` (5 bytes: 0f 01 16 disp16)."""
    return broken["lgdt_pc"] + 5


def test_gdtr_pointing_at_garbage(broken):
    assert broken["lgdt_bytes"].startswith("fa0f0116"), broken["lgdt_bytes"]
    text = ok(broken, "garbage_gdt", "GDT base=0x8000 limit=0x27 (5 slots)",
              "note: real mode: the CPU does not use this GDT until CR0.PE=1")
    # real mode: no segment register was loaded from this table, nothing to disagree with
    assert "warning" not in text and len(text.splitlines()) == 1 + 2 + 5, text
    doc = json.loads(ok(broken, "garbage_gdt_json"))
    assert doc["base"] == 0x8000 and len(doc["entries"]) == 5
    ok(broken, "garbage_seg", "CS:IP 0000:%04x" % after_lgdt(broken))
    ok(broken, "garbage_mode", "mode     real")
    # long mode: the loader's GDT overwritten with garbage at kernel_main
    # the loaded CS (0x18) no longer matches the garbage in its slot
    ok(broken, "garbage_kernel_gdt", "warning: CS=0x0018: GDT entry 3 disagrees with the "
       "loaded cache", "GDT base=0x%x" % broken["kernel_gdtr"][0])
    doc = json.loads(ok(broken, "garbage_kernel_gdt_json"))
    assert any(m.startswith("CS=0x0018") for m in doc["mismatches"]), doc["mismatches"]


def test_gdtr_pointing_at_unreadable_memory(broken):
    exact = ("fj gdt: cannot read the GDT at 0x7fff0000 (0x28 bytes): guest memory "
             "unreadable")
    for key in ("unreadable_gdt", "unreadable_gdt_json", "pm_unreadable_gdt"):
        error(broken, key, exact=exact)
    # what does not need the table works (QEMU's descriptor caches)
    ok(broken, "unreadable_seg", "CS:IP 0000:%04x" % after_lgdt(broken))
    ok(broken, "unreadable_mode", "mode     real, 16-bit code")
    ok(broken, "unreadable_context", "GDTR=0x7fff0000/0x27")
    ok(broken, "unreadable_x2i", "; 0000:%04x" % after_lgdt(broken))
    ok(broken, "pm_unreadable_mode", "mode     protected, 16-bit code")
    # then mov eax, cr0 (3 bytes); or eax, 1 (o32, 4); mov cr0, eax (3)
    ok(broken, "pm_unreadable_seg", "CS:EIP 0000:%08x" % (after_lgdt(broken) + 10))
    ok(broken, "pm_unreadable_idt", "note: IDTR still holds the real-mode IVT")
    ok(broken, "repaired_gdt", "GDT base=0x")      # GDB and the guest carry on


def test_pc_in_unreadable_memory(broken):
    ctx = ok(broken, "pc_unreadable_context", "CS:EIP 0000:7fff0000",
             "=> 0x7fff0000", "(cannot disassemble: Cannot access memory at address "
             "0x7fff0000)")
    assert ctx.count("\n") == 4, ctx
    assert broken["pc_unreadable_x2i"].get("error", "").startswith(
        "Cannot access memory at address 0x7fff0000"), broken["pc_unreadable_x2i"]
    ok(broken, "pc_unreadable_mode", "pc       CS:EIP 0000:7fff0000")


def test_stepping_with_the_panel_in_broken_states(broken):
    for key, n in (("unreadable_stepi", 3), ("idtr_bad_stepi", 3)):
        steps = broken[key]
        assert len(steps) == n
        for s in steps:
            assert "error" not in s, s
            clean(s["out"])
            assert s["out"].count("--- fj: ") == 1, s["out"]
    assert "CR0 0x10 -> 0x11 (+PE)" in broken["unreadable_stepi"][2]["out"]
    assert "protected, 16-bit code" in broken["unreadable_stepi"][2]["out"]


def test_idt_garbage_and_unreadable(broken):
    ok(broken, "garbage_kernel_idt", "note: 4 of 32 gates are malformed",
       "IDT base=0x%x" % broken["kernel_idtr"][0])
    ok(broken, "garbage_kernel_idt_all", "!! ")
    exact = ("fj idt: cannot read the IDT at 0xffff800000000000 (0x1000 bytes): guest "
             "memory unreadable (not mapped? see 'fj pt 0xffff800000000000')")
    for key in ("idtr_bad_idt", "idtr_bad_idt_json", "idtr_bad_after"):
        error(broken, key, exact=exact)
    ok(broken, "idtr_bad_mode", "long (64-bit)")
    ok(broken, "idtr_bad_gdt", "64-bit TSS")
    assert json.loads(ok(broken, "final_mode"))["mode"] == "long"


def test_cr3_outside_ram(broken):
    assert broken["cr3_written"] == 0x7FF00000          # QEMU's gdbstub took the write
    exact = ("fj pt: CR3 0x7ff00000 points outside guest RAM (which ends at 0x8000000): "
             "cannot read the PML4")
    for key in ("cr3_pt", "cr3_pt_addr", "cr3_pt_json"):
        error(broken, key, exact=exact)
    error(broken, "cr3_idt", "cannot read the IDT at 0x", "not mapped?")
    error(broken, "cr3_gdt", "cannot read the GDT at 0x", "not mapped?")
    ok(broken, "cr3_mode", "CR3=0x7ff00000")
    ok(broken, "cr3_seg", "CS=0018")
    ctx = ok(broken, "cr3_context", "(cannot disassemble: Cannot access memory")
    assert ctx.count("\n") == 4, ctx                   # header, 1 insn, regs, changed
    ok(broken, "cr3_vga", "farjump stage 2")           # physical reads still work
    ok(broken, "cr3_restored", "=> phys 0x")


def test_pml4_entry_outside_ram(broken):
    walk = ok(broken, "pml4_out_walk", "PML4[256]", "= 0x000000007ff00003")
    assert walk.strip().splitlines()[-1] == (
        "=> fault: cannot read PDPT at 0x7ff00000: outside guest RAM (which ends at "
        "0x8000000); PML4 entry 256 points there"), walk
    ok(broken, "pml4_out_pt", "!! cannot read PDPT at 0x7ff00000: outside guest RAM")
    doc = json.loads(ok(broken, "pml4_out_walk_json"))
    assert doc["phys"] is None and "PML4 entry 256" in doc["fault"]


def test_reserved_bits(broken):
    walk = ok(broken, "rsvd_walk_pd", "RSVD=0x2000")
    assert walk.strip().splitlines()[-1] == \
        "=> fault: PD entry 256 has reserved bits 0x2000 set", walk
    walk = ok(broken, "rsvd_walk_pml4", "RSVD=0x80")
    assert walk.strip().splitlines()[-1] == \
        "=> fault: PML4 entry 1 has reserved bits 0x80 set", walk
    pt = ok(broken, "rsvd_pt")
    assert re.search(r"^!! PD\[256\] at 0x[0-9a-f]+ \(virt 0x20000000\) = "
                     r"0x0000000020002083: reserved bits 0x2000 set$", pt, re.M), pt
    assert re.search(r"^!! PML4\[1\] at 0x[0-9a-f]+ \(virt 0x8000000000\) = "
                     r"0x[0-9a-f]{16}: reserved bits 0x80 set$", pt, re.M), pt
    doc = json.loads(ok(broken, "rsvd_walk_json"))
    assert doc["steps"][-1]["entry"]["reserved_bits_set"] == 0x2000
    ok(broken, "rsvd_restored", "=> phys 0x20000000")


def test_non_canonical_and_bad_expression(broken):
    exact = ("fj pt: 0x800000000000 is not a canonical address (bits 63:47 must all be "
             "equal)")
    error(broken, "kernel_noncanon", exact=exact)
    error(broken, "kernel_noncanon_json", exact=exact)
    error(broken, "kernel_badexpr", "cannot evaluate 'no_such_symbol'")
    ok(broken, "kernel_ok_walk", "<kernel_main>", "=> phys 0x")


def test_reset_without_reboot_then_not_connected(broken):
    error(broken, "reset_noreboot", "fj reset: QEMU exited instead of resetting")
    error(broken, "after_exit", "fj mode: not connected to QEMU")
    error(broken, "after_exit_context", "fj context: not connected to QEMU")


def test_errors_reach_stderr_as_one_line_each(build):
    """The real terminal output: each failing command prints exactly its one line on
    stderr, nothing on stdout, and the next command still runs."""
    cmds = ["fj gdt", "fj pt", "fj pt 0x800000000000", "fj idt", "fj ivt 300",
            "fj gdt --bogus", "fj vga --png /nonexistent/dir/x.png", "fj mode"]
    with QemuVM(build / "disk.img", gdb=True) as vm:
        rc, out, err = run_batch(gdb_command("set python print-stack full", *cmds,
                                             port=vm.gdb_port), timeout=30)
    clean(out + err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == [
        "fj gdt: GDTR limit 0xffff at base 0x0 is the reset value: no GDT loaded yet "
        "(real mode)",
        "fj pt: paging is off (CR0.PG=0, CR0=0x60000010): linear = physical",
        "fj pt: paging is off (CR0.PG=0, CR0=0x60000010): linear = physical",
        "fj idt: real mode: IDTR (base 0x0, limit 0xffff) locates the IVT; use 'fj ivt'",
        "fj ivt: vector 300 out of range 0..255",
        "fj gdt: unrecognized arguments: --bogus (see 'help fj gdt')",
        "fj vga: cannot write /nonexistent/dir/x.png: No such file or directory",
    ], err
    assert "mode     real, 16-bit code" in out                 # the last one still ran


def test_not_connected_everything(build):
    """No target: every command and setting, the disassembler and the panel."""
    cmds = ["set python print-stack full"]
    cmds += [f"fj {c}" for c in ("mode", "seg", "ivt", "ivt 3", "gdt", "idt", "pt",
                                 "pt 0x800000000000", "pt &kernel_main", "vga",
                                 "vga --png /tmp/x.png", "context", "context --json",
                                 "tour --timeout 1", "reset")]
    cmds += ["fj transitions", "set fj-context on", "set fj-disassembler 16",
             "x/2i stage1_start", "set fj-disassembler 32", "x/2i pm_entry",
             "set fj-disassembler auto", "x/2i stage1_start", "set fj-show-csip off",
             "info registers rip", "echo still-alive\\n"]
    rc, out, err = run_batch(gdb_command(*cmds), timeout=30)
    clean(out + err)
    errors = [ln for ln in err.splitlines() if ln.startswith("fj ")]
    assert len(errors) == 15, err
    for ln in errors:
        assert re.match(r"^fj [a-z]+: not connected to QEMU \(run 'target remote "
                        r"HOST:PORT', or use 'make debug'\)$", ln), ln
    assert "set breakpoint 1 at 0x7c00 <stage1_start>" in out, out
    # forced widths work without a target (AT&T: GDB's default flavor)
    assert re.search(r"<stage1_start>:\s+xchgw\s+%bx, %bx\s+\S+ <stage1_start\+2>:\s+ljmpw",
                     out), out
    assert re.search(r"<pm_entry\+3>:\s+movw\s+\$0x10, %ax", out), out
    assert "still-alive" in out
