"""Why the CPU triple-faulted: QEMU's `-d int` log and the CPU state in, an explanation out.

Pure: text, numbers and a memory reader (``read(linear, size) -> bytes | None``) in, frozen
dataclasses out. Used by `make why` (qemu/fjqemu/why.py, the log of a real boot) and by
`fj why` (the live state of a CPU stopped on the triple fault).

What QEMU 7.2 logs (measured, docs/time-travel.md): every exception raised goes through
check_exception ("check_exception old: 0xOLD new 0xNEW", old = the exception being delivered,
0xffffffff for none); an exception actually delivered in protected or long mode gets a
"v=VV e=EEEE ... IP=CS:RIP pc=... [CR2=...]" line and a register dump; a fault raised while
delivering another one never gets its own v= line or error code; real mode gets no v= lines.
So the nested faults' causes are rebuilt here from the mode, IDTR, GDTR and the gates, the
way the CPU checks them (SDM Vol 3A §6.12.1, §6.14.1, §20.1.4), and said as rebuilt.

References (Intel SDM Vol 3A): Table 6-4 and 6-5 (classes; conditions for generating a
double fault), §6.13 (error code), §6.15 (Interrupt 8: a fault while delivering #DF is a
shutdown), §6.15 Interrupt 14 (page-fault error code), §3.4.2 (selectors).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from collections.abc import Callable

from .descriptors import decode_descriptor
from .errors import DecodeError
from .idt import decode_gate, exception_info
from .qemuregs import QemuRegisters, parse_info_registers

Reader = Callable[[int, int], "bytes | None"]

CONTRIBUTORY = frozenset({0, 10, 11, 12, 13})       # Table 6-4
PAGE_FAULT, DOUBLE_FAULT = 14, 8

_CHECK = re.compile(r"^check_exception old: 0x([0-9a-f]+) new 0x([0-9a-f]+)", re.M)
_V = re.compile(r"^ *\d+: v=([0-9a-f]{2}) e=([0-9a-f]{4}) i=(\d) cpl=(\d) "
                r"IP=([0-9a-f]{4}):([0-9a-f]+) pc=([0-9a-f]+) SP=[0-9a-f]{4}:([0-9a-f]+)"
                r"(?: CR2=([0-9a-f]+))?", re.M)
_TRIPLE = re.compile(r"^Triple fault", re.M)


def vector_name(v: int) -> str:
    info = exception_info(v)
    if info is None:
        return f"vector {v}"
    return f"{'#' if info.mnemonic[0] != '-' else ''}{info.mnemonic.lstrip('#')}" \
        if info.mnemonic != "-" else f"vector {v}"


def vector_title(v: int) -> str:
    info = exception_info(v)
    return f"{vector_name(v)} {info.name}" if info else vector_name(v)


@dataclass(frozen=True)
class Logged:
    """One v= line: an exception QEMU began to deliver."""
    vector: int
    error_code: int
    software: bool
    cs: int
    ip: int
    pc: int
    sp: int
    cr2: int | None
    regs: QemuRegisters | None


@dataclass(frozen=True)
class Chain:
    """The exceptions of the last triple fault in a log, in order: ``raised`` the vector
    of each (check_exception's new), ``during`` the one being delivered when it came (None
    for the first), ``logged`` the v= line for it, if any."""
    raised: tuple[int, ...]
    during: tuple[int | None, ...]
    logged: tuple[Logged | None, ...]
    triple: bool


def parse_log(text: str) -> Chain | None:
    """The exception chain that ended in QEMU's last "Triple fault" line; None if the
    log has none (the boot did not triple-fault, or -d int was not on)."""
    ends = list(_TRIPLE.finditer(text))
    if not ends:
        return None
    end = ends[-1].start()
    checks = [m for m in _CHECK.finditer(text, 0, end)]
    start = None
    for m in reversed(checks):
        if int(m.group(1), 16) == 0xFFFFFFFF:
            start = m
            break
    if start is None:
        raise DecodeError("the log has a triple fault but no check_exception line for "
                          "its first fault (was it cut?)")
    raised, during, logged = [], [], []
    spans = [m for m in checks if m.start() >= start.start()]
    for i, m in enumerate(spans):
        old, new = int(m.group(1), 16), int(m.group(2), 16)
        if old != 0xFFFFFFFF and raised and old != raised[-1] and old == DOUBLE_FAULT:
            # QEMU delivered #DF in between (its v=08 line follows the previous check).
            raised.append(DOUBLE_FAULT)
            during.append(raised[-2])
            logged.append(None)
        raised.append(new)
        during.append(None if old == 0xFFFFFFFF else old)
        logged.append(None)
    # attach each v= line to the exception it delivers
    for m in _V.finditer(text, start.start(), end):
        v = int(m.group(1), 16)
        nxt = text.find("\ncheck_exception", m.end())
        dump = text[m.end():nxt if 0 <= nxt < end else end]
        try:
            regs = parse_info_registers(dump)
        except (DecodeError, ValueError, KeyError):
            regs = None
        entry = Logged(v, int(m.group(2), 16), m.group(3) == "1", int(m.group(5), 16),
                       int(m.group(6), 16), int(m.group(7), 16), int(m.group(8), 16),
                       int(m.group(9), 16) if m.group(9) else None, regs)
        for i in range(len(raised)):
            if raised[i] == v and logged[i] is None:
                logged[i] = entry
                break
    return Chain(tuple(raised), tuple(during), tuple(logged), True)


def escalation(first: int, second: int) -> str:
    """What the CPU does with `second` raised while delivering `first` (Table 6-5)."""
    if first == DOUBLE_FAULT and (second in CONTRIBUTORY or second == PAGE_FAULT):
        return "shutdown"
    if first in CONTRIBUTORY and second in CONTRIBUTORY:
        return "double fault"
    if first == PAGE_FAULT and (second in CONTRIBUTORY or second == PAGE_FAULT):
        return "double fault"
    return "serial"


def escalation_rule(first: int, second: int) -> str:
    kind = escalation(first, second)
    cls = lambda v: ("contributory" if v in CONTRIBUTORY else "page fault" if v == PAGE_FAULT
                     else "double fault" if v == DOUBLE_FAULT else "benign")
    a, b = vector_name(first), vector_name(second)
    if kind == "shutdown":
        return (f"{b} while delivering {a}: a fault during a double fault's delivery shuts "
                "the processor down, a triple fault (SDM Vol 3A §6.15, Interrupt 8)")
    if kind == "double fault":
        return (f"{b} ({cls(second)}) while delivering {a} ({cls(first)}): #DF "
                "(SDM Vol 3A Table 6-5, Conditions for Generating a Double Fault)")
    return (f"{b} ({cls(second)}) while delivering {a} ({cls(first)}): handled serially "
            "(Table 6-5)")


def selector_text(sel: int) -> str:
    return (f"selector 0x{sel:x} ({'LDT' if sel & 4 else 'GDT'} index {sel >> 3}, "
            f"RPL {sel & 3})")


def error_code_text(vector: int, ec: int) -> str:
    """An error code in words (§6.13; #PF: Interrupt 14)."""
    if vector == PAGE_FAULT:
        bits = [("not present" if not ec & 1 else "protection violation"),
                "write" if ec & 2 else "read", "user" if ec & 4 else "supervisor"]
        bits += [n for b, n in ((8, "reserved bit set"), (16, "instruction fetch"),
                                (32, "protection key"), (64, "shadow stack")) if ec & b]
        return ", ".join(bits)
    if ec == 0:
        return "0 (no selector: e.g. a non-canonical address, a null selector, a limit)"
    table = "IDT" if ec & 2 else ("LDT" if ec & 4 else "GDT")
    ext = ", external event" if ec & 1 else ""
    return f"{table} index {ec >> 3}{ext}"


@dataclass(frozen=True)
class Mode:
    name: str        # "real", "protected", "compatibility", "64-bit"
    gate_size: int   # 4 (IVT entry), 8, 16


def mode_of(regs: QemuRegisters) -> Mode:
    if not regs.cr0 & 1:
        return Mode("real", 4)
    if regs.efer & (1 << 10):
        return Mode("64-bit" if regs.cs.long else "compatibility", 16)
    return Mode("protected", 8)


def _descriptor_problem(sel: int, regs: QemuRegisters, read: Reader, long_mode: bool,
                        code: bool) -> tuple[int, int, str] | None:
    """The fault (vector, error code, reason) of loading `sel` as a code segment (code)
    or an ordinary segment, or None when the descriptor passes."""
    if sel & ~3 == 0:
        return 13, 0, f"null {selector_text(sel)}"
    if sel & 4:
        return 13, sel & ~3, f"{selector_text(sel)} names the LDT, and there is none"
    index = sel >> 3
    if index * 8 + 7 > regs.gdt_limit:
        n = (regs.gdt_limit + 1) // 8
        return 13, sel & ~3, (f"bad selector: {selector_text(sel)} is past the GDT limit "
                              f"0x{regs.gdt_limit:x} (GDTR base 0x{regs.gdt_base:x}, {n} "
                              "entries)")
    raw = read(regs.gdt_base + index * 8, 8)
    if raw is None:
        return None
    try:
        d = decode_descriptor(raw, index, False)
    except DecodeError:
        return None
    if code and (d.type != "code"):
        return 13, sel & ~3, (f"{selector_text(sel)}: GDT entry {index} is {d.type_name}, "
                              "not a code segment")
    if not d.present:
        return 11, sel & ~3, f"{selector_text(sel)}: GDT entry {index} is not present"
    if code and long_mode and not d.long:
        return 13, sel & ~3, (f"{selector_text(sel)}: GDT entry {index} is not a 64-bit "
                              "code segment (L=0), which a gate needs in IA-32e mode")
    return None


@dataclass(frozen=True)
class Rebuilt:
    """Why delivering `vector` failed, rebuilt from the state: the fault it gives."""
    vector: int
    fault: int | None
    error_code: int | None
    reason: str


def delivery_problem(vector: int, regs: QemuRegisters, read: Reader,
                     external: bool = True) -> Rebuilt:
    """Rebuild what goes wrong delivering `vector` through IDTR (SDM §6.12.1, §20.1.4)."""
    mode = mode_of(regs)
    size = mode.gate_size
    where = f"IDTR base 0x{regs.idt_base:x} limit 0x{regs.idt_limit:x}"
    idt_ec = (vector << 3) | 2 | int(external)
    if vector * size + size - 1 > regs.idt_limit:
        return Rebuilt(vector, 13, None if mode.name == "real" else idt_ec,
                       f"IDT limit: vector {vector}'s {size}-byte entry at +0x{vector * size:x}"
                       f" ends past the limit ({where}, {mode.name} mode)")
    if mode.name == "real":
        return Rebuilt(vector, None, None, f"the IVT entry of vector {vector} is within "
                       f"the limit ({where}): the fault came from the stack or the handler")
    raw = read(regs.idt_base + vector * size, size)
    if raw is None:
        return Rebuilt(vector, 14, None, f"IDT entry {vector} at linear 0x"
                       f"{regs.idt_base + vector * size:x} is not mapped ({where})")
    gate = decode_gate(raw, vector, size == 16)
    what = f"IDT entry {vector} (raw 0x{gate.raw:0{size * 2}x}, {where}, {mode.name} mode)"
    if gate.gate_type == "empty":
        return Rebuilt(vector, 13, idt_ec, f"gate not present: {what} is all zero")
    if gate.gate_type in ("reserved", "call"):
        kind = ("S=1: a code or data descriptor, not a system gate" if gate.raw >> 44 & 1
                else f"type 0x{gate.type_bits:x}: no interrupt, trap"
                f"{'' if size == 16 else ' or task'} gate")
        return Rebuilt(vector, 13, idt_ec, f"not a gate: {what} has {kind}")
    if not gate.present:
        return Rebuilt(vector, 11, idt_ec, f"gate not present: {what} has P=0")
    if gate.gate_type == "task":
        return Rebuilt(vector, None, None, f"{what} is a task gate: not rebuilt")
    bad = _descriptor_problem(gate.selector, regs, read, size == 16, True)
    if bad:
        fault, ec, why = bad
        return Rebuilt(vector, fault, ec | int(external), f"the gate's {why}")
    return Rebuilt(vector, None, None, f"{what} is a valid {gate.gate_type} gate to "
                   f"0x{gate.selector:x}:0x{gate.offset:x}: the fault came from the stack "
                   "(RSP/IST/TSS) or later")


@dataclass(frozen=True)
class Step:
    """One exception of the chain, explained."""
    vector: int
    name: str
    error_code: int | None
    error_text: str | None
    during: int | None
    reason: str
    source: str                  # "log" (QEMU's v= line) or "rebuilt"
    escalation: str | None       # the rule that turned it into the next step

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Explanation:
    triple: bool
    steps: tuple[Step, ...]
    mode: str
    pc: int
    cs: int
    linear_pc: int
    cr2: int | None
    state: dict
    instruction: str | None = None
    location: dict | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["steps"] = [s.to_dict() for s in self.steps]
        return d


def _first_reason(vector: int, ec: int | None, regs: QemuRegisters, read: Reader,
                  insn: bytes | None) -> str:
    if vector == PAGE_FAULT:
        return f"page fault at CR2=0x{regs.cr2:x} ({error_code_text(14, ec or 0)})"
    if vector == 13 and ec:
        if not ec & 2 and not ec & 4:
            bad = _descriptor_problem(ec & ~3, regs, read, mode_of(regs).name != "protected"
                                      and mode_of(regs).name != "real", True)
            if bad:
                return bad[2]
        return f"#GP({error_code_text(13, ec)})"
    if vector == 13:
        return "#GP(0)"
    return vector_title(vector)


def _software_int(insn: bytes | None) -> int | None:
    if not insn:
        return None
    if insn[0] == 0xCC:
        return 3
    if insn[0] == 0xCD and len(insn) > 1:
        return insn[1]
    if insn[0] == 0xCE:
        return 4
    return None


def explain(chain: Chain | None, regs: QemuRegisters, read: Reader,
            insn: bytes | None = None) -> Explanation:
    """The explanation of `chain` given the CPU state at the first fault (`regs`: QEMU's
    state stopped on the faulting instruction, or the first v= line's dump), guest memory
    (`read`, linear addresses) and the faulting instruction's bytes (`insn`)."""
    mode = mode_of(regs)
    cs = regs.cs.selector
    state = {"mode": mode.name, "cr0": regs.cr0, "cr2": regs.cr2, "cr3": regs.cr3,
             "cr4": regs.cr4, "efer": regs.efer, "gdtr": [regs.gdt_base, regs.gdt_limit],
             "idtr": [regs.idt_base, regs.idt_limit], "rsp": regs.reg("rsp"),
             "rflags": regs.rflags}
    base = dict(triple=bool(chain and chain.triple), mode=mode.name, pc=regs.rip, cs=cs,
                linear_pc=regs.cs.base + regs.rip, cr2=None, state=state)
    if chain is None:
        return Explanation(steps=(), **base)
    steps, notes = [], []
    for i, vec in enumerate(chain.raised):
        during, lg = chain.during[i], chain.logged[i]
        info = exception_info(vec)
        ec = lg.error_code if lg and info and info.has_error_code else None
        rule = None
        if during is None:
            sw = _software_int(insn)
            if sw is not None and vec == 13 and lg is None:
                rb = delivery_problem(sw, regs, read, external=False)
                reason = f"while delivering INT {sw} ({vector_name(sw)}): {rb.reason}"
                ec, src = rb.error_code, "rebuilt"
            else:
                reason = _first_reason(vec, ec, regs, read, insn)
                src = "log" if lg else "rebuilt"
                if lg is None and mode.name != "real":
                    notes.append("QEMU logged no v= line for the first fault")
        elif vec == DOUBLE_FAULT and i >= 2 and chain.during[i - 1] is not None:
            reason = (f"{vector_name(chain.raised[i - 1])} while delivering "
                      f"{vector_name(chain.during[i - 1])} became a double fault")
            src = "log" if lg else "rebuilt"
        else:
            rb = delivery_problem(during, regs, read)
            reason, ec, src = f"while delivering {vector_name(during)}: {rb.reason}", \
                rb.error_code, "rebuilt"
            rule = escalation_rule(during, vec)
            if rb.fault is not None and rb.fault != vec:
                notes.append(f"rebuilt fault {vector_name(rb.fault)} differs from the "
                             f"logged {vector_name(vec)} while delivering {vector_name(during)}")
        if vec == DOUBLE_FAULT:
            ec = 0
        steps.append(Step(vec, vector_title(vec), ec,
                          error_code_text(vec, ec) if ec is not None else None,
                          during, reason, src, rule))
    first_log = chain.logged[0]
    cr2 = (first_log.cr2 if first_log and first_log.cr2 is not None else regs.cr2) \
        if chain.raised and chain.raised[0] == PAGE_FAULT else None
    base["cr2"] = cr2
    return Explanation(steps=tuple(steps), notes=tuple(notes), **base)
