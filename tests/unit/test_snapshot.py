"""CpuSnapshot, the one "CPU at this stop" type, and what changed between two of them."""
import dataclasses
import os

import pytest

from fjgdb.decoders.qemuregs import parse_info_registers
from fjgdb.decoders.snapshot import (CpuSnapshot, build_snapshot, changes, linear_pc,
                                    stepped_snapshot)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def snap(name: str) -> CpuSnapshot:
    with open(os.path.join(FIXTURES, f"info_registers_{name}.txt")) as f:
        return build_snapshot(parse_info_registers(f.read()))


def test_reset_state_is_real_mode_at_the_reset_vector():
    s = snap("real_reset")
    assert s.mode.mode == "real" and s.mode.bits == 16 and s.real
    assert s.pc == 0xFFF0 and s.cs.selector == 0xF000
    assert s.linear_pc == 0xFFFFFFF0          # CS cache base 0xffff0000 + IP
    assert not s.long_mode and s.cr0 == 0x60000010 and s.efer == 0


def test_long_mode_linear_pc_is_rip():
    s = snap("long64_ovmf")
    assert s.mode.mode == "long" and s.mode.bits == 64 and s.long_mode and not s.real
    assert s.linear_pc == s.pc == 0x7F1058A
    assert (s.cr0, s.cr3, s.efer) == (0x80010033, 0x7801000, 0xD00)


def test_snapshot_is_frozen():
    s = snap("real_reset")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.linear_pc = 0


def test_a20_off_wraps_real_mode_linear_pc():
    s = snap("real_reset")
    q = dataclasses.replace(s.regs, a20=False)
    assert linear_pc(q, s.mode) == 0xFFEFFFF0


def test_changes_with_and_without_the_mode():
    real, long = snap("real_reset"), snap("long64_ovmf")
    assert changes(None, real) == {}
    assert changes(real, real) == {}
    ch = changes(real, long)
    assert list(ch)[0] == "mode" and ch["mode"] == ["real/16", "long/64"]
    assert ch["cr0"] == [0x60000010, 0x80010033] and ch["paging"] == [False, True]
    assert ch["cs"] == [0xF000, 0x18]
    panel = changes(real, long, with_mode=False)
    assert "mode" not in panel and "paging" not in panel
    assert panel["cr0"] == ch["cr0"] and panel["efer"] == [0, 0xD00]


@pytest.mark.parametrize("name", ["real_reset", "prot32_seabios", "long64_ovmf"])
@pytest.mark.parametrize("rflags_xor", [0, 0x8D5, 1 << 17])
def test_stepped_snapshot_is_build_snapshot_of_the_replaced_registers(name, rflags_xor):
    """The fast path's cheap copy (stepped_snapshot) against the obvious way: replace the
    fields and classify again; EFLAGS.VM set or cleared classifies again."""
    old = snap(name)
    gprs = {k: (v * 7 + 3) & 0xFFFFFFFF for k, v in old.regs.gprs.items()}
    rip, rflags = (old.pc + 5) & 0xFFFF, old.regs.rflags ^ rflags_xor
    want = build_snapshot(dataclasses.replace(old.regs, gprs=gprs, rip=rip, rflags=rflags))
    got = stepped_snapshot(old, gprs, rip, rflags)
    assert got == want and got.regs.to_dict() == want.regs.to_dict()
    assert old.pc != rip and old.regs.gprs != gprs        # the old one is untouched


def test_stepped_snapshot_classifies_again_when_vm_changes():
    old = snap("prot32_seabios")
    new = stepped_snapshot(old, dict(old.regs.gprs), old.pc, old.regs.rflags | 1 << 17)
    assert old.mode.mode == "protected" and new.mode.mode == "virtual-8086"
