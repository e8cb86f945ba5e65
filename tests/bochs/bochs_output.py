"""Parsers for the text Bochs 2.7's internal debugger prints (as Debian builds it).

Formats were taken from real transcripts of farjump boots (docs/bochs.md shows them) and
Bochs's bx_debug/dbg_main.cc. Each parser raises ValueError on text it does not recognise,
so a Bochs upgrade that changes a format fails loudly instead of checking nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

HEX = r"0x[0-9a-fA-F]+"

#: farjump's magic breakpoints, in boot order, the ELF each is in and its code size.
STOP_NAMES = ("stage1_start", "stage2_start", "pm_entry", "lm_entry", "kernel_main", "final")
ELF_OF = {"stage1_start": "stage1.elf", "stage2_start": "stage2.elf", "pm_entry": "stage2.elf",
          "lm_entry": "stage2.elf", "kernel_main": "kernel.elf", "final": "kernel.elf"}
BITS_OF = {"stage1_start": 16, "stage2_start": 16, "pm_entry": 32, "lm_entry": 64,
           "kernel_main": 64, "final": 64}


# ---- transcript -> one block of output per command ------------------------------------------

def split_transcript(text: str, commands: list[str]) -> list[tuple[str, str]]:
    """Cut a debugger_log transcript into (command, output) pairs.

    The transcript echoes each command line read from the -rc file; *commands* is that file's
    list of lines, in order. Everything before the first command (the "Next at t=0" banner)
    is returned as the output of the pseudo-command "".
    """
    lines = text.splitlines()
    out: list[tuple[str, list[str]]] = [("", [])]
    k = 0
    for line in lines:
        if k < len(commands) and line.strip() == commands[k].strip():
            out.append((commands[k], []))
            k += 1
        else:
            out[-1][1].append(line)
    if k != len(commands):
        raise ValueError(f"transcript stops after {k} of {len(commands)} commands; next "
                         f"expected: {commands[k]!r}")
    return [(cmd, "\n".join(body)) for cmd, body in out]


# ---- stops ----------------------------------------------------------------------------------

@dataclass
class Stop:
    """Where `c` stopped: '(0) [0x000000007c02] 0000:7c02 (stage1_start+2): jmpf ...'."""
    magic: bool
    linear: int
    cs: int
    ip: int
    label: str            # "stage1_start+2" with symbols loaded, "unk. ctxt" without
    disasm: str
    ticks: int
    mode_switches: list[tuple[str, str]] = field(default_factory=list)


_STOP = re.compile(r"^\(0\) \[(0x[0-9a-f]+)\] ([0-9a-f]{4}):([0-9a-f]+) \(([^)]*)\): (.*)$",
                   re.M)
_SWITCH = re.compile(r"^\d+: switched from '([^']+)' to '([^']+)'$", re.M)


def parse_continue(text: str) -> Stop:
    m = _STOP.search(text)
    t = re.search(r"^Next at t=(\d+)$", text, re.M)
    if not m or not t:
        raise ValueError(f"no stop in output of c:\n{text}")
    return Stop(magic="(0) Magic breakpoint" in text, linear=int(m.group(1), 16),
                cs=int(m.group(2), 16), ip=int(m.group(3), 16), label=m.group(4).strip(),
                disasm=m.group(5).strip(), ticks=int(t.group(1)),
                mode_switches=_SWITCH.findall(text))


# ---- r ------------------------------------------------------------------------------------

def parse_r(text: str) -> dict[str, int]:
    regs = {}
    for name, hi, lo in re.findall(r"^(r[a-z0-9]+)\s*: ([0-9a-f]{8})_([0-9a-f]{8})$", text,
                                   re.M):
        regs[name] = int(hi + lo, 16)
    m = re.search(r"^eflags (0x[0-9a-f]+)", text, re.M)
    if "rip" not in regs or not m:
        raise ValueError(f"not 'r' output:\n{text}")
    regs["eflags"] = int(m.group(1), 16)
    return regs


# ---- sreg ---------------------------------------------------------------------------------

@dataclass
class SegReg:
    name: str
    selector: int
    dh: int            # the cached descriptor's high dword, as Bochs rebuilds it
    dl: int            # ... and its low dword
    valid: int
    description: str | None   # the tab-indented line Bochs prints for code/data segments

    @property
    def raw(self) -> int:
        return self.dh << 32 | self.dl


def parse_sreg(text: str) -> tuple[dict[str, SegReg], dict[str, tuple[int, int]]]:
    """({'es': SegReg, ...}, {'gdtr': (base, limit), 'idtr': (base, limit)})."""
    segs: dict[str, SegReg] = {}
    tables: dict[str, tuple[int, int]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(rf"^(es|cs|ss|ds|fs|gs|ldtr|tr):({HEX}), dh=({HEX}), dl=({HEX}), "
                     rf"valid=(\d+)$", line)
        if m:
            desc = None
            if i + 1 < len(lines) and lines[i + 1].startswith("\t"):
                desc = lines[i + 1].strip()
            segs[m.group(1)] = SegReg(m.group(1), int(m.group(2), 16), int(m.group(3), 16),
                                      int(m.group(4), 16), int(m.group(5)), desc)
            continue
        m = re.match(rf"^(gdtr|idtr):base=({HEX}), limit=({HEX})$", line)
        if m:
            tables[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    if len(segs) != 8 or len(tables) != 2:
        raise ValueError(f"not 'sreg' output:\n{text}")
    return segs, tables


# ---- creg ---------------------------------------------------------------------------------

def _flag_words(words: str) -> dict[str, bool]:
    """'PG CD NW ac wp' -> {'PG': True, 'CD': True, 'NW': True, 'AC': False, 'WP': False}."""
    return {w.upper(): w.isupper() for w in words.split()}


def parse_creg(text: str) -> dict:
    out: dict = {}
    for reg in ("CR0", "CR4", "EFER"):
        m = re.search(rf"^{reg}=({HEX}): (.*)$", text, re.M)
        if not m:
            raise ValueError(f"no {reg} in 'creg' output:\n{text}")
        out[reg] = (int(m.group(1), 16), _flag_words(m.group(2)))
    m = re.search(rf"^CR3=({HEX})$", text, re.M)
    if not m:
        raise ValueError(f"no CR3 in 'creg' output:\n{text}")
    out["CR3"] = int(m.group(1), 16)
    m = re.search(rf"^CR2=page fault laddr=({HEX})$", text, re.M)
    out["CR2"] = int(m.group(1), 16) if m else None
    return out


# ---- descriptors as bx_dbg_print_descriptor / bx_dbg_print_descriptor64 print them ----------

def parse_descriptor_text(text: str) -> dict:
    """One descriptor as Bochs describes it, as a dict of the fields it shows.

    kind: "code", "data", "undefined" (Bochs's '???'), "system" (a named system type),
    "s=1 in 64-bit table" (bx_dbg_print_descriptor64 refuses S=1 entries).
    """
    text = " ".join(text.split())
    text = re.sub(r" \([A-Za-z_.$][\w.$]*\+[0-9a-f]+\)$", "", text)  # " (isr_stub_0+0)"
    m = re.match(rf"^Code segment, base=({HEX}), limit=({HEX}), (Execute/Read|Execute-Only), "
                 r"(Conforming|Non-Conforming)(, Accessed)?, (16|32|64)-bit$", text)
    if m:
        return {"kind": "code", "base": int(m.group(1), 16), "limit": int(m.group(2), 16),
                "readable": m.group(3) == "Execute/Read",
                "conforming": m.group(4) == "Conforming", "accessed": bool(m.group(5)),
                "bits": int(m.group(6))}
    m = re.match(rf"^Data segment, base=({HEX}), limit=({HEX}), (Read/Write|Read-Only)"
                 r"(, Expand-down)?(, Accessed)?$", text)
    if m:
        return {"kind": "data", "base": int(m.group(1), 16), "limit": int(m.group(2), 16),
                "writable": m.group(3) == "Read/Write", "expand_down": bool(m.group(4)),
                "accessed": bool(m.group(5))}
    m = re.match(rf"^\?\?\? descriptor hi=({HEX}), lo=({HEX})$", text)
    if m:
        return {"kind": "undefined", "raw": int(m.group(1), 16) << 32 | int(m.group(2), 16)}
    m = re.match(rf"^\?\?\? descriptor dword2 hi=({HEX}), lo=({HEX}) dword1 hi=({HEX}), "
                 rf"lo=({HEX})$", text)
    if m:
        v = [int(g, 16) for g in m.groups()]
        return {"kind": "undefined", "raw": v[0] << 96 | v[1] << 64 | v[2] << 32 | v[3]}
    if text == "bx_dbg_print_descriptor64: only system entries displayed in 64bit mode":
        return {"kind": "s=1 in 64-bit table"}
    m = re.match(r"^((?:16|32|64)-Bit (?:TSS \((?:Available|available|Busy)\)|Call Gate|"
                 r"Interrupt Gate|Trap Gate)|Task Gate|LDT)\s*(.*)$", text)
    if m:
        name, rest = m.group(1), m.group(2)
        d = {"kind": "system", "name": name}
        g = re.match(rf"^target=({HEX}):(?:0x)?([0-9a-f]+), DPL=(\d)$", rest)
        t = re.match(rf"^at ({HEX}), length ({HEX})$", rest)
        if g:
            d.update(selector=int(g.group(1), 16), offset=int(g.group(2), 16),
                     dpl=int(g.group(3)))
        elif t:
            d.update(base=int(t.group(1), 16), raw_limit=int(t.group(2), 16))
        elif rest:
            raise ValueError(f"unrecognised Bochs system descriptor text: {text!r}")
        return d
    raise ValueError(f"unrecognised Bochs descriptor text: {text!r}")


def _table_entries(text: str, prefix: str) -> list[tuple[int, str]]:
    """[(number, description)] of 'GDT[0x0008]=...' / 'IDT[0x00]=...' lines (joined with
    the continuation lines Bochs prints for undefined 64-bit entries)."""
    entries: list[tuple[int, list[str]]] = []
    for line in text.splitlines():
        m = re.match(rf"^{prefix}\[(0x[0-9a-f]+)\]=(.*)$", line)
        if m:
            entries.append((int(m.group(1), 16), [m.group(2)]))
        elif entries and re.match(r"^\s*(descriptor )?dword[12] ", line):
            entries[-1][1].append(line)
    return [(n, " ".join(parts)) for n, parts in entries]


def parse_info_gdt(text: str) -> tuple[int, int, list[tuple[int, dict]]]:
    """(base, limit, [(selector, fields)])."""
    m = re.search(rf"^Global Descriptor Table \(base=({HEX}), limit=(\d+)\):$", text, re.M)
    if not m:
        raise ValueError(f"not 'info gdt' output:\n{text}")
    return (int(m.group(1), 16), int(m.group(2)),
            [(sel, parse_descriptor_text(d)) for sel, d in _table_entries(text, "GDT")])


def parse_info_idt(text: str) -> tuple[int, int, list[tuple[int, dict]]]:
    """(base, limit, [(vector, fields)])."""
    m = re.search(rf"^Interrupt Descriptor Table \(base=({HEX}), limit=(\d+)\):$", text, re.M)
    if not m:
        raise ValueError(f"not 'info idt' output:\n{text}")
    return (int(m.group(1), 16), int(m.group(2)),
            [(vec, parse_descriptor_text(d)) for vec, d in _table_entries(text, "IDT")])


def parse_info_ivt(text: str) -> list[tuple[int, int, int, int]] | None:
    """[(vector, segment, offset, linear)], or None when Bochs refused (protected mode)."""
    if "cpu in protected mode, use info idt" in text:
        return None
    rows = [(int(v, 16), int(s, 16), int(o, 16), int(l, 16)) for v, s, o, l in re.findall(
        r"^INT# ([0-9a-f]{2}) > ([0-9A-F]{4}):([0-9A-F]{4}) \((0x[0-9a-f]+)\)", text, re.M)]
    if not rows:
        raise ValueError(f"not 'info ivt' output:\n{text}")
    return rows


# ---- paging -------------------------------------------------------------------------------

@dataclass
class PageOutput:
    entries: list[tuple[str, int, dict[str, bool]]]   # (level, value, {flag: set})
    linear_page: int | None
    physical_page: int | None                           # None: "not available"


_LEVEL = {"PML4": 4, "PDPE": 3, "PDE": 2, "PTE": 1}


def parse_page(text: str) -> PageOutput:
    entries = []
    for level, value, flags in re.findall(rf"^\s*(PML4|PDPE|PDE|PTE): ({HEX})\s+(.*)$", text,
                                          re.M):
        entries.append((level, int(value, 16), _page_flags(flags)))
    m = re.search(rf"^linear page ({HEX}) maps to physical page ({HEX})$", text, re.M)
    if m:
        return PageOutput(entries, int(m.group(1), 16), int(m.group(2), 16))
    if re.search(rf"^physical address not available for linear {HEX}$", text, re.M):
        return PageOutput(entries, None, None)
    raise ValueError(f"not 'page' output:\n{text}")


def _page_flags(words: str) -> dict[str, bool]:
    """Bochs's dbg_print_paging_pte flags: upper case = set. U/S and W/R are pairs."""
    out = {}
    for w in words.split():
        if w in ("U", "S"):
            out["US"] = w == "U"
        elif w in ("W", "R"):
            out["RW"] = w == "W"
        else:
            out[w.upper()] = w.isupper()
    return out


def parse_info_tab(text: str) -> tuple[int, list[tuple[int, int, int, int]]]:
    """(cr3, [(virt_first, virt_last, phys_first, phys_last)])."""
    m = re.search(rf"^cr3: ({HEX})$", text, re.M)
    if not m:
        raise ValueError(f"not 'info tab' output:\n{text}")
    rows = [tuple(int(x, 16) for x in r) for r in re.findall(
        rf"^({HEX})-({HEX}) -> ({HEX})-({HEX})$", text, re.M)]
    return int(m.group(1), 16), rows
