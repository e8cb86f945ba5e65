"""What every command shares: the ``fj`` prefix, the FjCommand base class (option
parsing, --json, --help), JSON output and one-line errors."""
from __future__ import annotations

import argparse
import os
import shlex

import gdb

from ..decoders.errors import DecodeError
from ..render.json import to_json
from ..target.errors import FjError
from ..target.state import STATE


class _ArgError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _ArgError(message)

    def exit(self, status=0, message=None):
        raise _ArgError(message or "bad arguments")


def one_line(msg) -> str:
    """*msg* as a single line (GDB and QEMU messages sometimes span several)."""
    parts = [p.strip() for p in str(msg).splitlines() if p.strip()]
    return "; ".join(parts)


def error_line(where: str, exc: BaseException) -> str:
    """The one line shown for *exc* raised by command *where* ("fj pt")."""
    if isinstance(exc, (FjError, DecodeError, gdb.error, gdb.GdbError)):
        msg = one_line(exc)
        return msg if msg.startswith("fj ") else f"{where}: {msg}"
    if isinstance(exc, KeyboardInterrupt):
        return f"{where}: interrupted"
    first = one_line(exc)
    return f"{where}: internal error: {type(exc).__name__}: {first}".rstrip(": ")


def cpu_label() -> str | None:
    """"CPU 1 (thread 2 of 4)" for GDB's selected thread when there are several CPUs,
    None with one: every per-CPU answer says which CPU it describes."""
    n = STATE.cpu_count()
    if n <= 1:
        return None
    cpu = STATE.selected_cpu()
    return f"CPU {cpu} (thread {cpu + 1} of {n})"


def emit_json(doc, per_cpu: bool = True) -> None:
    """One JSON document; with several CPUs a per-CPU dict gains "cpu" (the selected
    thread's cpu_index) and "cpus" (how many)."""
    if per_cpu and isinstance(doc, dict) and "cpu" not in doc and STATE.cpu_count() > 1:
        doc = {"cpu": STATE.selected_cpu(), "cpus": STATE.cpu_count(), **doc}
    gdb.write(to_json(doc) + "\n", gdb.STDOUT)
    gdb.flush()


def out(text: str = "") -> None:
    gdb.write(text + "\n")


class FjPrefix(gdb.Command):
    """farjump: x86 boot debugging commands for QEMU's gdbstub.

Every command accepts --json (one JSON document on stdout) and fails with one line.
Related settings: fj-context, fj-show-csip, fj-disassembler, fj-timeout.
Type "help fj COMMAND" for the full description of a command."""

    def __init__(self):
        super().__init__("fj", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)

    def invoke(self, arg, from_tty):
        if arg.strip():
            raise gdb.GdbError(f"fj: unknown command '{arg.split()[0]}'; try 'help fj'")
        gdb.execute("help fj")


class FjCommand(gdb.Command):
    """Base class: subclasses set ``name``, a docstring and implement ``run``."""

    name = ""
    #: text output starts with "CPU n (thread n+1 of N)" when there are several CPUs
    cpu_header = True

    def __init__(self):
        super().__init__("fj " + self.name, gdb.COMMAND_DATA)
        self.parser = _Parser(prog="fj " + self.name, add_help=False)
        self.parser.add_argument("--json", action="store_true")
        self.add_arguments(self.parser)
        self._defaults: argparse.Namespace | None = None

    def add_arguments(self, parser) -> None:
        pass

    def run(self, opts, from_tty) -> None:
        raise NotImplementedError

    def _parse(self, argv: list[str]) -> argparse.Namespace:
        """The options; without arguments a copy of the defaults, parsed once (argparse
        takes ~50 us, as much as a repeated 'fj pt' costs otherwise)."""
        if argv:
            return self.parser.parse_args(argv)
        if self._defaults is None:
            self._defaults = self.parser.parse_args([])    # a required argument: raises
        return argparse.Namespace(**vars(self._defaults))

    def check_alive(self) -> None:
        """Before running: is QEMU still there (one packet; a command may know better)."""
        STATE.check_alive()

    def invoke(self, arg, from_tty):
        where = f"fj {self.name}"
        try:
            try:
                argv = shlex.split(arg) if arg.strip() else []
            except ValueError as e:
                raise _ArgError(str(e))
            if "--help" in argv or "-h" in argv:
                gdb.execute(f"help fj {self.name}")
                return
            opts = self._parse(argv)
            self.check_alive()
            label = cpu_label() if self.cpu_header and not opts.json else None
            if label:
                out(label)
            self.run(opts, from_tty)
        except _ArgError as e:
            raise gdb.GdbError(f"{where}: {one_line(e)} (see 'help fj {self.name}')")
        except (gdb.GdbError, FjError, DecodeError, gdb.error, KeyboardInterrupt) as e:
            raise gdb.GdbError(error_line(where, e))
        except Exception as e:  # noqa: BLE001 - never a traceback at the prompt
            raise gdb.GdbError(error_line(where, e))


def color_default() -> bool:
    """ANSI colours when GDB styles its output and stdout is a terminal."""
    try:
        return bool(gdb.parameter("style enabled")) and os.isatty(1)
    except Exception:   # noqa: BLE001
        return False
