"""fj context: the context panel (also printed at every stop with 'set fj-context on',
see fjgdb.integrations.panel)."""
from __future__ import annotations

from ..render.cpu import csip_text, panel_lines
from ..target.code import next_instructions
from ..target.state import STATE
from ..decoders.snapshot import changes
from ..target.errors import FjError
from .base import FjCommand, cpu_label, emit_json, out


class Panel:
    """The panel remembers each CPU at its previous panel, to say what changed."""

    def __init__(self):
        self.last = {}       # cpu_index -> CpuSnapshot at that CPU's previous panel

    def render(self, count: int = 5, want_doc: bool = False) -> tuple[str, dict | None]:
        """The panel's text, and with *want_doc* its JSON document (else None: the panel
        at every stop prints only the text)."""
        snap = STATE.snapshot()
        m = snap.mode
        sym = STATE.symbolize(snap.linear_pc)
        insns = next_instructions(count, snap.pc)
        cpu = STATE.selected_cpu()
        last = self.last.get(cpu)
        first = last is None
        ch = changes(last, snap, with_mode=False)
        self.last[cpu] = snap
        doc = None
        if want_doc:
            doc = {"mode": m.mode, "bits": m.bits, "submode": m.submode, "paging": m.paging,
                   "csip": csip_text(snap), "pc": snap.pc, "linear_pc": snap.linear_pc,
                   "symbol": sym, "instructions": [i.to_dict() for i in insns],
                   "changed": ch, "cr0": snap.cr0, "cr3": snap.cr3, "cr4": snap.cr4,
                   "efer": snap.efer}
        lines = panel_lines(snap, sym, insns, ch, first)
        label = cpu_label()
        if label:
            lines = [label] + list(lines)
        return "\n".join(lines), doc


PANEL = Panel()


class FjContext(FjCommand):
    """Context panel: mode, CS:IP and linear PC, next instructions, changed registers.

Usage: fj context [-n COUNT] [--json]
COUNT instructions, 1..50 (default 5).
The instructions come from the mode-aware disassembler. "changed" lists which of
CR0/CR3/CR4/EFER/GDTR/IDTR/CS changed since the previous panel (old -> new).
'set fj-context on' prints the panel at every stop."""

    name = "context"
    cpu_header = False      # the panel says which CPU itself

    def add_arguments(self, parser):
        parser.add_argument("-n", type=int, default=5)

    def run(self, opts, from_tty):
        if not 1 <= opts.n <= 50:
            raise FjError(f"-n must be 1..50 instructions, not {opts.n}")
        text, doc = PANEL.render(opts.n, want_doc=opts.json)
        if opts.json:
            emit_json(doc)
        else:
            out(text)
