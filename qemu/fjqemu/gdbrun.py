"""THE one GDB command line, and the protocol of the drivers that run inside GDB.

Command line (gdb_command): GDB always runs in the repository root. With farjump, GDB
reads gdb/farjump.gdb (farjump's commands and every stage's symbols) exactly as `make
debug` does; without (a plain-GDB reference), only gdb/symbols.gdb (the symbols). Then
`target remote` to a QEMU gdbstub, commands (-ex), and driver scripts (-x).

Driver protocol (run_driver): a driver is a Python file run inside GDB with -x. It reads
its configuration from the JSON file named by $FJ_IN (always with "root": the repository
and, when connected, "port": the gdbstub port, plus whatever the caller adds) and writes
its result as JSON to the file named by $FJ_OUT. Nothing else is passed through the
environment. A driver that writes no result has failed; GDB's output says why.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import ROOT, FjError
from .procs import communicate, spawn

GDB = os.environ.get("GDB", "gdb")
FARJUMP_GDB = ROOT / "gdb" / "farjump.gdb"
SYMBOLS_GDB = ROOT / "gdb" / "symbols.gdb"


class GdbError(RuntimeError):
    """GDB did not finish in time, or a driver wrote no result."""


SYNTAXES = ("intel", "att")
DEFAULT_SYNTAX = "intel"      # every source is NASM


def session_syntax() -> str:
    """The disassembly flavor of a session at the terminal: Intel (every source is NASM)
    unless $FJ_SYNTAX says att. A bad value is refused by the caller (FjError)."""
    value = os.environ.get("FJ_SYNTAX", DEFAULT_SYNTAX).strip().lower() or DEFAULT_SYNTAX
    if value not in SYNTAXES:
        raise FjError(f"$FJ_SYNTAX is {value[:20]!r}; want intel or att")
    return value


def gdb_command(*cmds, batch: bool = True, farjump: bool = True, symbols: bool = True,
                port: int | None = None, scripts=(), setup=(), extra=(),
                kernel=None) -> list[str]:
    """GDB's argument list. batch: -nx -batch (no ~/.gdbinit, exit at the end); else -q
    for a person at the terminal, in Intel syntax (session_syntax). setup: commands
    before `target remote` (the architecture and foreign symbol files, fjqemu.machine).
    kernel: another kernel ELF than build/kernel.elf for the symbols (a build/fault/
    image's). Run it with cwd=ROOT."""
    cmd = [GDB, "-nx", "-batch"] if batch else [GDB, "-q"]
    if farjump and symbols:
        cmd += ["-x", str(FARJUMP_GDB)]
    elif farjump:
        cmd += ["-ex", f"source {ROOT / 'gdb' / 'farjump.py'}"]
    elif symbols:
        cmd += ["-x", str(SYMBOLS_GDB)]
    if kernel is not None and symbols:
        # 'file' replaces the main symbol file (build/kernel.elf) and keeps the stages'.
        cmd += ["-ex", "set confirm off", "-ex", f"file {kernel}", "-ex", "set confirm on"]
    if not batch:
        cmd += ["-ex", f"set disassembly-flavor {session_syntax()}"]
    for c in setup:
        cmd += ["-ex", c]
    if port is not None:
        cmd += ["-ex", f"target remote 127.0.0.1:{port}"]
    for c in cmds:
        cmd += ["-ex", c]
    for s in scripts:
        cmd += ["-x", str(s)]
    return cmd + list(extra)


def run_batch(args: list[str], timeout: float, env: dict | None = None, spawner=spawn):
    """Run a batch GDB in its own process group, bounded: (status, stdout, stderr).
    Raises GdbError (with GDB's last output) when it does not finish in `timeout` s."""
    try:
        p = spawner(args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True, env=env)
    except FileNotFoundError:
        raise GdbError(f"'{args[0]}' not found (set GDB=..., or 'make deps' installs gdb)") \
            from None
    out, err, timed_out = communicate(p, timeout)
    if timed_out:
        raise GdbError(f"GDB did not finish in {timeout:g} s:\n{out[-3000:]}\n{err[-3000:]}")
    return p.returncode, out, err


@dataclass
class DriverRun:
    status: int
    stdout: str
    stderr: str
    result: dict | None        # what the driver wrote to $FJ_OUT, None if nothing

    def tail(self, n: int = 3000) -> str:
        return f"(status {self.status})\n{self.stdout[-n:]}\n{self.stderr[-n:]}"


def run_driver(driver, *, port: int | None = None, config: dict | None = None,
               timeout: float = 45, farjump: bool = True, symbols: bool = True,
               cmds=(), workdir=None, spawner=spawn, env: dict | None = None,
               setup=()) -> DriverRun:
    """One batch GDB running `driver` (-x, after `cmds`) under the protocol above; `env`:
    more environment (QemuVM.gdb_env()); `setup`: commands before `target remote`
    (Machine.gdb_setup(): a foreign guest's architecture and symbols)."""
    with tempfile.TemporaryDirectory(prefix="fjgdb-", dir=workdir) as tmp:
        cfg_path, out_path = Path(tmp) / "in.json", Path(tmp) / "out.json"
        cfg = {"root": str(ROOT), **({"port": port} if port is not None else {}),
               **(config or {})}
        cfg_path.write_text(json.dumps(cfg))
        env = dict(os.environ, **(env or {}), FJ_IN=str(cfg_path), FJ_OUT=str(out_path))
        args = gdb_command(*cmds, farjump=farjump, symbols=symbols, port=port,
                           scripts=[driver], setup=setup)
        status, out, err = run_batch(args, timeout, env, spawner)
        result = json.loads(out_path.read_text()) if out_path.exists() else None
    return DriverRun(status, out, err, result)
