"""Which operating mode the CPU is in, from control registers and CS.

References (Intel SDM Vol. 3A):
  * §2.2 Modes of Operation, Figure 2-3 (transitions among modes)
  * §2.5 Control Registers (CR0.PE bit 0, CR0.WP bit 16, CR0.PG bit 31;
    CR4.PSE bit 4, CR4.PAE bit 5, CR4.LA57 bit 12)
  * §2.2.1 / Table 2-1: IA32_EFER (SCE 0, LME 8, LMA 10, NXE 11)
  * §5.2.1 Code-Segment Descriptor in 64-bit Mode (L and D bits)
  * §20.2 Virtual-8086 mode (EFLAGS.VM bit 17)

The mode is never guessed from a selector value: only CR0.PE, EFER.LMA,
EFLAGS.VM and the cached CS.L / CS.D bits decide.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .descriptors import SegmentCache


@dataclass(frozen=True)
class CpuMode:
    """``bits`` is the default operand/address size of the code running
    now; it is None only when CS is unknown (``cs=None``) in protected or
    IA-32e mode. ``submode`` is "64-bit" or "compatibility" in IA-32e mode,
    else None."""

    mode: str
    bits: int | None
    submode: str | None
    pe: bool
    paging: bool
    wp: bool
    pae: bool
    pse: bool
    la57: bool
    lme: bool
    lma: bool
    nxe: bool

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        name = self.mode if self.submode is None \
            else f"{self.mode} ({self.submode})"
        bits = f"{self.bits}-bit" if self.bits else "?-bit"
        paging = "off"
        if self.paging:
            paging = ("5-level" if self.la57 else "4-level") if self.lma \
                else ("PAE" if self.pae else "32-bit")
        return f"{name}, {bits} code, paging {paging}"


def cpu_mode(cr0: int, cr4: int, efer: int, cs: SegmentCache | None,
             eflags: int = 0) -> CpuMode:
    """Classify the CPU mode (see module docstring for the rules)."""
    bit = lambda v, n: bool(v >> n & 1)  # noqa: E731
    flags = dict(pe=bit(cr0, 0), paging=bit(cr0, 31), wp=bit(cr0, 16),
                 pae=bit(cr4, 5), pse=bit(cr4, 4), la57=bit(cr4, 12),
                 lme=bit(efer, 8), lma=bit(efer, 10), nxe=bit(efer, 11))
    if not flags["pe"]:
        return CpuMode("real", 16, None, **flags)
    if flags["lma"]:
        if cs is None:
            return CpuMode("long", None, None, **flags)
        if cs.long:
            return CpuMode("long", 64, "64-bit", **flags)
        return CpuMode("long", 32 if cs.db else 16, "compatibility", **flags)
    if bit(eflags, 17):
        return CpuMode("virtual-8086", 16, None, **flags)
    if cs is None:
        return CpuMode("protected", None, None, **flags)
    return CpuMode("protected", 32 if cs.db else 16, None, **flags)
