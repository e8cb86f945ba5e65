"""Where the boot's time goes: the guest's own timeline (TSC stamps in struct boot_info),
read back through QMP after one QEMU boot and decoded with fjgdb's decoder."""
from __future__ import annotations

from .. import IMAGE
from ..vm import QemuVM
from .common import PROCESS_TIMEOUT, Row


def boot_timeline() -> dict:
    """One QEMU boot; struct boot_info's TSC stamps read back through QMP and decoded."""
    from fjgdb.decoders.timeline import BOOTINFO_ADDR, BOOTINFO_SIZE, decode_timeline
    with QemuVM(IMAGE) as vm:
        vm.wait_serial("stage2_start to here", timeout=PROCESS_TIMEOUT)
        raw = vm.read_phys(BOOTINFO_ADDR, BOOTINFO_SIZE)
    return decode_timeline(raw).to_dict()


def print_timeline(doc: dict, rows: list[Row]) -> None:
    hz = doc["tsc_hz"]
    print(f"\nwhere a QEMU boot's time goes (guest TSC stamps in boot_info; TSC "
          f"{hz / 1e6:.0f} MHz by the ACPI PM timer; the QEMU TCG guest TSC is the host's):")
    total = doc["total_us"] or 0
    for s in doc["steps"]:
        us = s["us"] or 0
        share = f"{100 * us / total:4.0f}%" if total else ""
        print(f"  {s['to']:<12} {s['cycles']:>10} cycles {us:8.0f} us {share}  {s['what']}")
    print(f"  {'total':<12} {doc['total_cycles']:>10} cycles {total:8.0f} us        "
          "stage2_start to Hello World!")
    boot = next((r for r in rows if r.name == "qemu-boot" and r.ratio), None)
    if boot:
        extra = (boot.subject_s - boot.reference_s) * 1e6
        print(f"  boot minus floor (qemu-boot medians): {extra:.0f} us, of which "
              f"{total:.0f} us after stage2_start; the rest ({extra - total:.0f} us) is stage 1 "
              "reading stage 2 and what the floor does not do")
