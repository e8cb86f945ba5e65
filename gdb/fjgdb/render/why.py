"""Text of a triple-fault explanation (make why, fj why), from decoders.triple.Explanation."""
from __future__ import annotations

from ..decoders.triple import Explanation


def _where(e: Explanation) -> str:
    pc = f"{e.cs:04x}:{e.pc:x} (linear 0x{e.linear_pc:x})"
    loc = e.location
    if loc:
        sym = loc.get("symbol") or "?"
        line = f", {loc['file']}:{loc['line']}" if loc.get("file") else ""
        return f"{pc} in {loc['stage']}: {sym}{line}"
    return f"{pc} (no farjump stage holds this address)"


def _state(e: Explanation) -> list[str]:
    s = e.state
    return [f"state         {s['mode']} mode   CR0=0x{s['cr0']:x} CR3=0x{s['cr3']:x} "
            f"CR4=0x{s['cr4']:x} EFER=0x{s['efer']:x}",
            f"              GDTR base 0x{s['gdtr'][0]:x} limit 0x{s['gdtr'][1]:x}   "
            f"IDTR base 0x{s['idtr'][0]:x} limit 0x{s['idtr'][1]:x}   "
            f"RSP=0x{s['rsp']:x} RFLAGS=0x{s['rflags']:x}"]


def render_text(e: Explanation, ended: str | None = None) -> str:
    """The explanation as lines; `ended`: how the boot ended when it did not fault."""
    if not e.triple:
        lines = [ended or "no triple fault",
                 f"ended at      {_where(e)}"]
        if e.instruction:
            lines.append(f"instruction   {e.instruction}")
        return "\n".join(lines + _state(e))
    first = e.steps[0]
    ec = f", error code 0x{first.error_code:x} ({first.error_text})" \
        if first.error_code is not None else \
        (" (no error code: real mode pushes none)" if e.mode == "real" else " (no error code)")
    lines = ["triple fault: the CPU shut down",
             f"first fault   {first.name} (vector {first.vector}){ec}"]
    if e.cr2 is not None:
        lines.append(f"              CR2=0x{e.cr2:x}")
    lines.append(f"              {first.reason}" + (" [rebuilt]" if first.source == "rebuilt"
                                                   else ""))
    lines.append(f"at            {_where(e)}")
    if e.instruction:
        lines.append(f"instruction   {e.instruction}")
    for s in e.steps[1:]:
        ec = f"(0x{s.error_code:x}: {s.error_text})" if s.error_code is not None \
            and s.vector != 8 else ""
        src = " [rebuilt: QEMU logs no line for it]" if s.source == "rebuilt" else ""
        lines.append(f"then          {s.name.split()[0]}{ec} {s.reason}{src}")
        if s.escalation:
            lines.append(f"  rule        {s.escalation}")
    lines += _state(e)
    lines += [f"note          {n}" for n in e.notes]
    return "\n".join(lines)
