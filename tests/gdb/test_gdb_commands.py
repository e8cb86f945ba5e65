"""fj without a QEMU: loading, help, and the one-line errors before 'target remote'."""
import re

from fjqemu import ROOT
from fjqemu.gdbrun import gdb_command, run_batch

COMMANDS = ("mode", "seg", "ivt", "gdt", "idt", "pt", "vga", "context", "transitions",
            "tour", "reset", "cpus", "break", "tbreak")


def test_help_and_not_connected_errors(build):
    farjump = ROOT / "gdb" / "farjump.py"
    cmds = [f"source {farjump}",                    # sourced twice: must be harmless
            "help fj"]
    cmds += [f"help fj {c}" for c in COMMANDS]
    cmds += [f"fj {c}" for c in ("mode", "seg", "ivt", "gdt --json", "idt", "pt",
                                 "vga", "context", "tour", "reset", "cpus", "cpus --json",
                                 "break 1020:0000", "tbreak 0x7c00")]
    cmds += ["fj pt --json &kernel_main", "fj nosuch", "x/2i stage1_start",
             "show fj-show-csip", "set fj-context on", "show fj-context",
             "show fj-timeout", "show fj-disassembler", "show fj-pt-fast",
             "set fj-pt-fast bogus", "help set fj-pt-fast"]
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
    for c in ("mode", "seg", "ivt", "gdt", "idt", "pt", "vga", "context", "tour", "reset",
              "cpus", "break", "tbreak"):
        assert any(line.startswith(f"fj {c}: not connected to QEMU") for line in errors), \
            (c, err)
    assert "fj: unknown command 'nosuch'" in err
    # the disassembler falls back to GDB's builtin without a target (64-bit decode)
    assert re.search(r"<stage1_start\+?\d*>:\s+xchg", out), out
    assert "Showing CS:IP in real-mode disassembly is on." in out
    assert "The fj context panel on every stop is on." in out
    # fj pt's ways: a setting for tests and benchmarks, nothing known before a connection
    assert "fj pt: fast paths on; not known yet (no fj pt on this connection)." in out
    assert 'Undefined item: "bogus".' in err
    assert "How fj pt reads and decodes page tables." in out


def test_missing_contracts_is_one_line(tmp_path):
    """Without build/gen/farjump_contracts.py (no 'make' yet) sourcing farjump.py says so
    in one line instead of a traceback; nothing is registered."""
    import os
    import shutil
    shutil.copytree(ROOT / "gdb", tmp_path / "gdb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    rc, out, err = run_batch(gdb_command(f"source {tmp_path / 'gdb' / 'farjump.py'}", "fj mode",
                                       farjump=False, symbols=False), timeout=30, env=env)
    both = out + err
    assert "Traceback" not in both and "Python Exception" not in both, both
    assert out.count("farjump: build/gen/farjump_contracts.py is missing: run 'make' "
                     "first") == 1, both
    assert "commands loaded" not in out
    assert 'Undefined command: "fj"' in err


def test_transitions_without_symbols_say_so_with_their_prefix(build):
    """Issue 15 item 11: no transition symbol at all is an error line; some missing is
    said with the command's prefix."""
    rc, out, err = run_batch(gdb_command("fj transitions", symbols=False), timeout=30)
    assert "Traceback" not in out + err
    assert "fj transitions: none of the transition symbols is loaded (stage1_start, " \
           "stage2_start, pm_entry, lm_entry, kernel_main): file build/kernel.elf" in err, err
    rc, out, err = run_batch(gdb_command("file build/kernel.elf", "fj transitions",
                                         symbols=False), timeout=30)
    assert "fj transitions: missing symbols (not loaded?): stage1_start, stage2_start, " \
           "pm_entry, lm_entry" in out, out + err
    assert re.search(r"^set breakpoint \d+ at 0x[0-9a-f]+ <kernel_main>$", out, re.M), out


def test_stale_contracts_is_one_line(tmp_path):
    """A build/gen/farjump_contracts.py from an older build (a name missing) or a broken
    one: one line saying to run make again, no traceback."""
    import os
    import shutil
    shutil.copytree(ROOT / "gdb", tmp_path / "gdb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    gen = tmp_path / "build" / "gen"
    gen.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for text, want in (("BOOTINFO_ADDR = 0x5000\n", "is out of date (cannot import name"),
                       ("def (:\n", "cannot be loaded (SyntaxError")):
        (gen / "farjump_contracts.py").write_text(text)
        rc, out, err = run_batch(gdb_command(f"source {tmp_path / 'gdb' / 'farjump.py'}",
                                           farjump=False, symbols=False), timeout=30, env=env)
        assert "Traceback" not in out + err and "Python Exception" not in out + err, out + err
        lines = [ln for ln in out.splitlines() if ln.startswith("farjump:")]
        assert len(lines) == 1 and lines[0].startswith(
            "farjump: build/gen/farjump_contracts.py " + want), out
        assert lines[0].endswith("run 'make' again"), lines
