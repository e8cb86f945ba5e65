"""The one type for "the CPU at this stop": :class:`CpuSnapshot`.

Built by the target layer (:meth:`fjgdb.target.state.State.snapshot`, the per-stop cache)
once per stop from QEMU's ``info registers``
(:class:`~fjgdb.decoders.qemuregs.QemuRegisters`); every command, the context panel, the
tour, the disassembler and the unwinder read it. Pure like every decoder (no ``gdb``):
unit-tested in tests/unit/test_snapshot.py.
"""
from __future__ import annotations

from dataclasses import dataclass

from .descriptors import SegmentCache
from .mode import CpuMode, cpu_mode
from .qemuregs import QemuRegisters

#: Control registers whose changes are reported (panel, tour).
WATCHED = ("cr0", "cr3", "cr4", "efer")


@dataclass(frozen=True)
class CpuSnapshot:
    """QEMU's registers at one stop, the mode they put the CPU in and the linear PC."""

    regs: QemuRegisters
    mode: CpuMode
    linear_pc: int

    # the fields everything asks for, by name
    @property
    def pc(self) -> int:
        return self.regs.rip

    @property
    def cs(self) -> SegmentCache:
        return self.regs.cs

    @property
    def segments(self) -> dict[str, SegmentCache]:
        return self.regs.segments

    @property
    def real(self) -> bool:
        """Real or virtual-8086 mode: segment*16 addressing."""
        return self.mode.mode in ("real", "virtual-8086")

    @property
    def long_mode(self) -> bool:
        return self.mode.lma

    @property
    def cr0(self) -> int:
        return self.regs.cr0

    @property
    def cr3(self) -> int:
        return self.regs.cr3

    @property
    def cr4(self) -> int:
        return self.regs.cr4

    @property
    def efer(self) -> int:
        return self.regs.efer

    @property
    def a20(self) -> bool:
        return self.regs.a20

    @property
    def cpl(self) -> int:
        return self.regs.cpl

    @property
    def halted(self) -> bool:
        return self.regs.halted

    @property
    def gdt_base(self) -> int:
        return self.regs.gdt_base

    @property
    def gdt_limit(self) -> int:
        return self.regs.gdt_limit

    @property
    def idt_base(self) -> int:
        return self.regs.idt_base

    @property
    def idt_limit(self) -> int:
        return self.regs.idt_limit

    def comparable(self, with_mode: bool = True) -> dict:
        """What :func:`changes` compares (with the mode and paging for the tour)."""
        q = self.regs
        d = {"cr0": q.cr0, "cr3": q.cr3, "cr4": q.cr4, "efer": q.efer,
             "gdt_base": q.gdt_base, "gdt_limit": q.gdt_limit,
             "idt_base": q.idt_base, "idt_limit": q.idt_limit, "cs": q.cs.selector}
        if with_mode:
            d.update(mode=self.mode.mode, bits=self.mode.bits, paging=self.mode.paging)
        return d


def linear_pc(q: QemuRegisters, m: CpuMode) -> int:
    """CS.base + IP in 16/32-bit code (A20 wrap in real mode), RIP in 64-bit code."""
    if m.bits == 64:
        return q.rip
    lin = (q.cs.base + q.rip) & 0xFFFFFFFF
    if m.mode == "real" and not q.a20:
        lin &= ~(1 << 20)
    return lin


def build_snapshot(q: QemuRegisters) -> CpuSnapshot:
    m = cpu_mode(q.cr0, q.cr4, q.efer, q.cs, q.rflags)
    return CpuSnapshot(regs=q, mode=m, linear_pc=linear_pc(q, m))


def stepped_snapshot(old: CpuSnapshot, gprs, rip: int, rflags: int) -> CpuSnapshot:
    """*old* after a step that changed only the general registers, RIP and RFLAGS (the
    per-stop cache's fast path): the same as ``build_snapshot(dataclasses.replace(
    old.regs, gprs=..., rip=..., rflags=...))``, at a fraction of the cost (it runs at
    every stop of the context panel): the fields are copied as they are, and the mode is
    the old one unless EFLAGS.VM changed (CR0, CR4, EFER and CS are the same)."""
    q = object.__new__(QemuRegisters)
    q.__dict__.update(old.regs.__dict__, gprs=gprs, rip=rip, rflags=rflags)
    m = old.mode if not (rflags ^ old.regs.rflags) >> 17 & 1 else \
        cpu_mode(q.cr0, q.cr4, q.efer, q.cs, rflags)
    return CpuSnapshot(regs=q, mode=m, linear_pc=linear_pc(q, m))


def changes(old: CpuSnapshot | None, new: CpuSnapshot, with_mode: bool = True) -> dict:
    """{"cr0": [old, new], "gdtr": [[base, limit], [base, limit]], "mode": [...], ...};
    *with_mode* also compares the mode/width and paging (the tour; the panel does not)."""
    if old is None:
        return {}
    o, n = old.comparable(with_mode), new.comparable(with_mode)
    ch = {}
    if with_mode and (o["mode"], o["bits"]) != (n["mode"], n["bits"]):
        ch["mode"] = [f"{o['mode']}/{o['bits']}", f"{n['mode']}/{n['bits']}"]
    for reg in WATCHED:
        if o[reg] != n[reg]:
            ch[reg] = [o[reg], n[reg]]
    for t in ("gdt", "idt"):
        ov = [o[f"{t}_base"], o[f"{t}_limit"]]
        nv = [n[f"{t}_base"], n[f"{t}_limit"]]
        if ov != nv:
            ch[f"{t}r"] = [ov, nv]
    if o["cs"] != n["cs"]:
        ch["cs"] = [o["cs"], n["cs"]]
    if with_mode and o["paging"] != n["paging"]:
        ch["paging"] = [o["paging"], n["paging"]]
    return ch
