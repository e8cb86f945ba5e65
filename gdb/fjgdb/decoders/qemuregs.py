"""Parse QEMU's monitor ``info registers`` text (x86, QEMU 7.2).

The format comes from x86_cpu_dump_state() and cpu_x86_dump_seg_cache()
in target/i386/cpu-dump.c. QEMU prints two layouts:

* CS.L=1 with EFER.LMA=1 (64-bit code): ``RAX=%016x`` ... ``RIP=%016x
  RFL=%08x``, segments ``CS =0008 %016x %08x %08x``;
* otherwise: ``EAX=%08x`` ... ``EIP=%08x EFL=%08x``, segments
  ``CS =f000 %08x %08x %08x``.

GDT/IDT/CR2/CR3 are printed 64 bits wide whenever EFER.LMA=1 (so also in
compatibility mode), 32 bits otherwise. ``EFER=`` follows the DR lines;
FPU/SSE lines and anything else after it are ignored. Monitor echo, the
``(qemu)`` prompt and ANSI escape sequences around the dump are tolerated.
With several ``CPU#n`` blocks (``info registers -a``) :func:`parse_info_registers` takes
the first and :func:`parse_info_registers_all` all of them, by CPU index. QEMU 7.2 heads
each block, also the one CPU of a plain ``info registers``, with ``CPU#n`` (the monitor's
current CPU, cpu_index n): ``cpu`` records it (None when there is no header), so a caller
can check that QEMU answered for the CPU it asked about.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from .descriptors import SegmentCache, segment_from_cache
from .errors import DecodeError

SEGMENT_NAMES = ("es", "cs", "ss", "ds", "fs", "gs", "ldt", "tr")
GPRS_64 = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8",
           "r9", "r10", "r11", "r12", "r13", "r14", "r15")
GPRS_32 = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_START = re.compile(r"^[ \t]*[RE]AX=[0-9a-fA-F]+", re.M)
_CPU = re.compile(r"^[ \t]*CPU#(\d+)", re.M)
_TOKEN = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9]*)[ ]*=[ ]*"
                    r"([0-9a-fA-F]+)(?![0-9A-Za-z])")
_SEG = re.compile(r"^[ \t]*(ES|CS|SS|DS|FS|GS|LDT|TR) ?=([0-9a-fA-F]{4}) "
                  r"([0-9a-fA-F]{8}|[0-9a-fA-F]{16}) ([0-9a-fA-F]{8}) "
                  r"([0-9a-fA-F]{8})\b", re.M)
_DTR = re.compile(r"^[ \t]*(GDT|IDT)= +([0-9a-fA-F]{8}|[0-9a-fA-F]{16}) "
                  r"([0-9a-fA-F]{8})\b", re.M)
_EFER_LMA = 1 << 10


@dataclass(frozen=True)
class QemuRegisters:
    """One CPU's state from ``info registers``.

    ``gprs`` uses the printed names in lower case (rax..r15 in the 64-bit
    layout, eax..esp otherwise). ``rip``/``rflags`` hold RIP/EIP and
    RFL/EFL whichever layout was printed. ``long_format`` is True for the
    64-bit (``RAX=``) layout. ``efer`` is 0 if no EFER line was printed.
    """

    gprs: dict[str, int]
    rip: int
    rflags: int
    cpl: int
    halted: bool
    segments: dict[str, SegmentCache]
    gdt_base: int
    gdt_limit: int
    idt_base: int
    idt_limit: int
    cr0: int
    cr2: int
    cr3: int
    cr4: int
    efer: int
    long_format: bool
    smm: bool = False
    a20: bool = True
    dr: dict[str, int] = field(default_factory=dict)
    cpu: int | None = None          # the CPU#n header above the block, if any

    @property
    def eip(self) -> int:
        return self.rip

    @property
    def eflags(self) -> int:
        return self.rflags

    @property
    def cs(self) -> SegmentCache:
        return self.segments["cs"]

    def reg(self, name: str) -> int:
        """A GPR by 64- or 32-bit name; 'eax' works in the 64-bit layout
        (low half) and 'rax' in the 32-bit one (zero-extended)."""
        name = name.lower()
        if name in self.gprs:
            return self.gprs[name]
        if name.startswith("e") and "r" + name[1:] in self.gprs:
            return self.gprs["r" + name[1:]] & 0xFFFFFFFF
        if name.startswith("r") and "e" + name[1:] in self.gprs:
            return self.gprs["e" + name[1:]]
        if name in ("rip", "eip"):
            return self.rip
        raise KeyError(name)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["gprs"] = dict(self.gprs)
        d["dr"] = dict(self.dr)
        d["segments"] = {k: v.to_dict() for k, v in self.segments.items()}
        return d


def _block(text: str) -> str:
    """The text of the first CPU's dump, from its EAX=/RAX= line on."""
    text = _ANSI.sub("", text).replace("\r", "")
    m = _START.search(text)
    if not m:
        raise DecodeError("not QEMU 'info registers' output: no EAX=/RAX= line")
    rest = text[m.start():]
    nxt = _CPU.search(rest)
    return rest[:nxt.start()] if nxt else rest


def parse_info_registers(text: str) -> QemuRegisters:
    """Parse the text of ``info registers`` (see module docstring)."""
    if not isinstance(text, str):
        raise DecodeError("info registers text must be str")
    clean = _ANSI.sub("", text).replace("\r", "")
    m = _START.search(clean)
    header = None
    if m:
        heads = list(_CPU.finditer(clean, 0, m.start()))
        header = int(heads[-1].group(1)) if heads else None
    return dataclasses.replace(_parse_block(_block(text)), cpu=header)


def parse_info_registers_all(text: str) -> dict[int, QemuRegisters]:
    """Parse ``info registers -a``: every ``CPU#n`` block, keyed by n (cpu_index), in the
    order printed. A dump without CPU#n headers is one CPU of unknown index: refused."""
    if not isinstance(text, str):
        raise DecodeError("info registers text must be str")
    clean = _ANSI.sub("", text).replace("\r", "")
    heads = list(_CPU.finditer(clean))
    if not heads:
        raise DecodeError("not QEMU 'info registers -a' output: no CPU#n header")
    cpus: dict[int, QemuRegisters] = {}
    for i, h in enumerate(heads):
        n = int(h.group(1))
        end = heads[i + 1].start() if i + 1 < len(heads) else len(clean)
        if n in cpus:
            raise DecodeError(f"'info registers -a' lists CPU#{n} twice")
        try:
            cpus[n] = dataclasses.replace(_parse_block(_block(clean[h.end():end])), cpu=n)
        except DecodeError as e:
            raise DecodeError(f"CPU#{n}: {e}") from None
    return cpus


def _parse_block(block: str) -> QemuRegisters:
    tokens: dict[str, str] = {}
    for m in _TOKEN.finditer(block):
        tokens.setdefault(m.group(1), m.group(2))
    long_format = "RAX" in tokens
    names = GPRS_64 if long_format else GPRS_32
    missing = [n.upper() for n in names if n.upper() not in tokens]
    ip_name, fl_name = ("RIP", "RFL") if long_format else ("EIP", "EFL")
    for key in (ip_name, fl_name, "CPL", "CR0", "CR2", "CR3", "CR4"):
        if key not in tokens:
            missing.append(key)
    segs = {m.group(1).lower(): m for m in _SEG.finditer(block)}
    missing += [n.upper() for n in SEGMENT_NAMES if n not in segs]
    dtrs: dict[str, re.Match] = {}
    for m in _DTR.finditer(block):
        dtrs.setdefault(m.group(1), m)
    missing += [n for n in ("GDT", "IDT") if n not in dtrs]
    if missing:
        raise DecodeError("not QEMU 'info registers' output: missing "
                          + ", ".join(missing))

    def num(key: str, default: int = 0) -> int:
        return int(tokens[key], 16) if key in tokens else default

    efer = num("EFER")
    lma = bool(efer & _EFER_LMA)
    segments = {}
    for name in SEGMENT_NAMES:
        m = segs[name]
        segments[name] = segment_from_cache(
            name, int(m.group(2), 16), int(m.group(3), 16),
            int(m.group(4), 16), int(m.group(5), 16), long_mode=lma)
    dr = {f"dr{i}": int(tokens[f"DR{i}"], 16)
          for i in (0, 1, 2, 3, 6, 7) if f"DR{i}" in tokens}
    return QemuRegisters(
        gprs={n: int(tokens[n.upper()], 16) for n in names},
        rip=num(ip_name), rflags=num(fl_name), cpl=num("CPL") & 3,
        halted=num("HLT") == 1, segments=segments,
        gdt_base=int(dtrs["GDT"].group(2), 16),
        gdt_limit=int(dtrs["GDT"].group(3), 16),
        idt_base=int(dtrs["IDT"].group(2), 16),
        idt_limit=int(dtrs["IDT"].group(3), 16),
        cr0=num("CR0"), cr2=num("CR2"), cr3=num("CR3"), cr4=num("CR4"),
        efer=efer, long_format=long_format, smm=num("SMM") == 1,
        a20=num("A20", 1) == 1, dr=dr)
