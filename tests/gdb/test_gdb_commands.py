"""fj without a QEMU: loading, help, and the one-line errors before 'target remote'."""
import re

from fjqemu import ROOT
from fjqemu.gdbrun import gdb_command, run_batch

COMMANDS = ("mode", "seg", "ivt", "gdt", "idt", "pt", "vga", "context", "transitions",
            "tour", "reset")


def test_help_and_not_connected_errors(build):
    farjump = ROOT / "gdb" / "farjump.py"
    cmds = [f"source {farjump}",                    # sourced twice: must be harmless
            "help fj"]
    cmds += [f"help fj {c}" for c in COMMANDS]
    cmds += [f"fj {c}" for c in ("mode", "seg", "ivt", "gdt --json", "idt", "pt",
                                 "vga", "context", "tour", "reset")]
    cmds += ["fj pt --json &kernel_main", "fj nosuch", "x/2i stage1_start",
             "show fj-show-csip", "set fj-context on", "show fj-context",
             "show fj-timeout", "show fj-disassembler"]
    rc, out, err = run_batch(gdb_command(*cmds), timeout=30)
    both = out + err
    assert "Traceback" not in both and "Python Exception" not in both, both
    assert out.count("farjump: 'fj' commands loaded") == 1
    # help fj lists every command with a one-line description
    listing = out[out.index("List of fj subcommands"):]
    for c in COMMANDS:
        assert re.search(rf"^fj {c} -- \S", listing, re.M), c
    # each has full help with usage
    assert out.count("Usage: fj ") == len(COMMANDS)
    errors = [line for line in err.splitlines() if line.startswith("fj ")]
    for c in ("mode", "seg", "ivt", "gdt", "idt", "pt", "vga", "context", "tour", "reset"):
        assert any(line.startswith(f"fj {c}: not connected to QEMU") for line in errors), \
            (c, err)
    assert "fj: unknown command 'nosuch'" in err
    # the disassembler falls back to GDB's builtin without a target (64-bit decode)
    assert re.search(r"<stage1_start\+?\d*>:\s+xchg", out), out
    assert "Showing CS:IP in real-mode disassembly is on." in out
    assert "The fj context panel on every stop is on." in out
