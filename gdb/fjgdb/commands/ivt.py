"""fj ivt: the real-mode interrupt vector table."""
from __future__ import annotations

from ..decoders.realmode import decode_ivt
from ..render.realmode import format_ivt
from ..target.errors import FjError
from ..target.state import STATE
from .base import FjCommand, emit_json, out


class FjIvt(FjCommand):
    """Real-mode interrupt vector table at physical 0 (vector, seg:off, linear, symbol).

Usage: fj ivt [N] [--all] [--json]
Without N: all 256 vectors (--all also shows 0000:0000 entries, hidden by default).
With N: only vector N (0-255, any GDB expression). Read from physical memory, so it
works in every mode (outside real mode the CPU does not use it).
JSON: {"entries": [{"vector", "segment", "offset", "linear", "symbol"}], "real_mode": bool}"""

    name = "ivt"

    def add_arguments(self, parser):
        parser.add_argument("vector", nargs="?")
        parser.add_argument("--all", action="store_true")

    def run(self, opts, from_tty):
        data = STATE.read_phys(0, 1024)
        entries = decode_ivt(data)
        if opts.vector is not None:
            n = STATE.eval_int(opts.vector)
            if not 0 <= n <= 255:
                raise FjError(f"vector {n} out of range 0..255")
            entries = [entries[n]]
        real = STATE.snapshot().mode.mode == "real"
        if opts.json:
            emit_json({"real_mode": real, "entries": [
                dict(e.to_dict(), symbol=STATE.symbolize(e.linear)) for e in entries]})
            return
        if not real:
            out("note: the CPU is not in real mode; it does not use this table now")
        out(format_ivt(entries, symbolize=STATE.symbolize,
                       show_zero=opts.all or opts.vector is not None))
