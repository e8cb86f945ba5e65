"""Is a disk image bootable at all? Checked before make run, make debug and the Bochs
drivers boot it: an empty file, one without the 55 AA boot signature, or a farjump image
whose layout table points past its end would otherwise sit at "Continuing." under GDB,
show iPXE's network boot in QEMU, or crash Bochs."""
from __future__ import annotations

from pathlib import Path

SECTOR = 512


def image_problem(path: Path) -> str | None:
    """What makes `path` unbootable, in words, or None."""
    if not path.exists():
        return f"no disk image at {path} (run 'make' first)"
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            mbr = f.read(SECTOR)
    except OSError as e:
        return f"cannot read {path}: {e.strerror}"
    if size == 0:
        return f"{path} is empty (0 bytes): not a disk image"
    if size < SECTOR:
        return f"{path} is {size} bytes, shorter than one 512-byte sector"
    if mbr[510:512] != b"\x55\xaa":
        return (f"{path} has no boot signature (55 AA at offset 510, found "
                f"{mbr[510:512].hex(' ')}): the BIOS would not boot it")
    try:            # the layout table as contracts/boot_layout.h defines it (build/gen)
        from .image import fc, unpack_layout
    except ImportError:
        return (f"cannot check {path}'s layout table: build/gen/farjump_contracts.py is "
                "missing; run 'make' first")
    table = unpack_layout(mbr)
    if table["magic"] != fc.LAYOUT_MAGIC:
        return None             # another boot sector: nothing more to check
    s2_lba, s2_sectors = table["stage2_lba"], table["stage2_sectors"]
    k_lba, k_bytes = table["kernel_lba"], table["kernel_bytes"]
    s2_end = (s2_lba + s2_sectors) * SECTOR
    k_end = k_lba * SECTOR + k_bytes
    if s2_sectors == 0 or s2_end > size:
        return (f"{path}: its layout table puts stage 2 at sectors {s2_lba}.."
                f"{s2_lba + s2_sectors - 1}, past the end of the {size}-byte file")
    if k_bytes == 0 or k_end > size:
        return (f"{path}: its layout table puts the kernel ({k_bytes} bytes) at sector "
                f"{k_lba}, past the end of the {size}-byte file")
    return None
