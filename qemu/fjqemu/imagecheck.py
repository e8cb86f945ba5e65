"""Is a disk image bootable at all? Checked before make run, make debug and the Bochs
drivers boot it: an empty file, one without the 55 AA boot signature, or a farjump image
whose layout table points past its end would otherwise sit at "Continuing." under GDB,
show iPXE's network boot in QEMU, or crash Bochs."""
from __future__ import annotations

import struct
from pathlib import Path

SECTOR = 512
LAYOUT_OFFSET = 0x1ae       # boot_layout in the MBR (BOOT_LAYOUT 0x7dae - 0x7c00)
# u16 magic 'FJ', u32 stage2_lba, u16 stage2_sectors, u32 kernel_lba, u32 kernel_bytes
LAYOUT = struct.Struct("<2sIHII")

try:                        # the generated contracts, when the build has them
    import farjump_contracts as _c
    LAYOUT_OFFSET = getattr(_c, "BOOT_LAYOUT", 0x7dae) - 0x7c00
except ImportError:
    pass


def image_problem(path: Path) -> str | None:
    """What makes `path` unbootable, in words, or None."""
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
    magic, s2_lba, s2_sectors, k_lba, k_bytes = LAYOUT.unpack_from(mbr, LAYOUT_OFFSET)
    if magic != b"FJ":
        return None             # another boot sector: nothing more to check
    s2_end = (s2_lba + s2_sectors) * SECTOR
    k_end = k_lba * SECTOR + k_bytes
    if s2_sectors == 0 or s2_end > size:
        return (f"{path}: its layout table puts stage 2 at sectors {s2_lba}.."
                f"{s2_lba + s2_sectors - 1}, past the end of the {size}-byte file")
    if k_bytes == 0 or k_end > size:
        return (f"{path}: its layout table puts the kernel ({k_bytes} bytes) at sector "
                f"{k_lba}, past the end of the {size}-byte file")
    return None
