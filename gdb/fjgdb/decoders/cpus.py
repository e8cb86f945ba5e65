"""What each vCPU is doing, from QEMU's registers: ``fj cpus``.

Pure (no ``gdb``): :class:`~fjgdb.decoders.qemuregs.QemuRegisters` in, plain values out;
unit-tested in tests/unit/test_cpus.py.

The run state QEMU 7.2 lets us tell apart (its ``HLT=`` flag is cs->halted):

* ``running``: not halted;
* ``halted``: stopped in HLT (or a shutdown state) somewhere it got to by running;
* ``waiting for SIPI``: halted in the state INIT leaves (SDM Vol 3A §9.1.1, Table 9-1):
  real mode, CS = F000h with base FFFF0000h, IP = FFF0h. QEMU keeps an AP that has had
  INIT but no SIPI yet (and every AP before the BIOS wakes it) halted in exactly that
  state, and no code can execute HLT there (the reset vector is the first instruction),
  so the match is unambiguous for QEMU; it says nothing about real hardware.
"""
from __future__ import annotations

from .qemuregs import QemuRegisters

RESET_CS_BASE = 0xFFFF0000
RESET_IP = 0xFFF0
RESET_SELECTOR = 0xF000
CR0_PE = 1


def run_state(q: QemuRegisters) -> str:
    """"running", "halted" or "waiting for SIPI" (see the module docstring)."""
    if not q.halted:
        return "running"
    if (not q.cr0 & CR0_PE and q.cs.selector == RESET_SELECTOR
            and q.cs.base == RESET_CS_BASE and q.rip == RESET_IP):
        return "waiting for SIPI"
    return "halted"


def cpu_of_thread(thread_id: int) -> int:
    """QEMU's gdbstub numbers its threads cpu_index + 1 (p1.1 is CPU#0)."""
    if thread_id < 1:
        raise ValueError(f"QEMU thread ids start at 1, not {thread_id}")
    return thread_id - 1
