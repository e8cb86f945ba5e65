"""Assemble farjump's raw hard-disk image: a library (build) and a command.

    python3 -m fjqemu.image --stage1 build/stage1.bin --stage2 build/stage2.bin \\
        --kernel build/kernel.disk.elf -o build/disk.img [--floppy]

Layout (LBA = 512-byte sector):
    0                  stage 1 (the MBR), with its boot_layout table filled in
    1 .. 1+S-1         stage 2, S = ceil(size / 512) sectors
    1+S ..             the kernel ELF file, as is
    .. end             zeros, up to 1.44 MB with --floppy, else up to a whole number of
                       16-head, 63-sector cylinders so that Bochs can work out the
                       geometry of the flat image itself

The boot_layout table (contracts/boot_layout.h) sits at BOOT_LAYOUT inside the MBR; its
place, magic and fields come from farjump_contracts (generated from the header).
"""
from __future__ import annotations

import argparse
import os
import sys
import zlib

import farjump_contracts as fc

SECTOR = 512
CYLINDER = 16 * 63 * SECTOR
FLOPPY = 1474560  # 3.5" 1.44 MB: 80 cylinders, 2 heads, 18 sectors per track
LAYOUT_OFFSET = fc.BOOT_LAYOUT_MBR_OFFSET


def sectors(n: int) -> int:
    return (n + SECTOR - 1) // SECTOR


def pack_layout(**values: int | bytes) -> bytes:
    """struct boot_layout with the given fields (the rest zero), from BOOT_LAYOUT_FIELDS."""
    out = bytearray(fc.BOOT_LAYOUT_SIZE)
    for name, offset, size in fc.BOOT_LAYOUT_FIELDS:
        value = values.pop(name, 0)
        if isinstance(value, bytes):
            if len(value) != size:
                raise ValueError(f"boot_layout.{name} is {size} bytes, got {len(value)}")
            out[offset:offset + size] = value
        else:
            if not 0 <= value < 1 << (8 * size):
                raise ValueError(f"boot_layout.{name} = {value} does not fit in {size} bytes")
            out[offset:offset + size] = value.to_bytes(size, "little")
    if values:
        raise ValueError(f"boot_layout has no field {', '.join(values)}")
    return bytes(out)


def unpack_layout(mbr: bytes) -> dict[str, int | bytes]:
    """The boot_layout table of an MBR (or an image) as {field: value}; magic as bytes."""
    table = mbr[LAYOUT_OFFSET:LAYOUT_OFFSET + fc.BOOT_LAYOUT_SIZE]
    out: dict[str, int | bytes] = {}
    for name, offset, size in fc.BOOT_LAYOUT_FIELDS:
        raw = table[offset:offset + size]
        out[name] = raw if name == "magic" else int.from_bytes(raw, "little")
    return out


def check_sizes(stage2: bytes, kernel: bytes) -> None:
    """What stage 2 and the loader would refuse at boot, refused at build time with the
    same words: a stage 2 larger than STAGE2_ADDR..STAGE2_END (the link script checks its
    own), a kernel file larger than the buffer stage 2 reads it into."""
    room = fc.STAGE2_END - fc.STAGE2_ADDR
    if len(stage2) > room:
        raise ValueError(f"stage 2 is 0x{len(stage2):x} bytes; it must fit in 0x{room:x} "
                         "(STAGE2_ADDR..STAGE2_END)")
    room = fc.KERNEL_BUF_END - fc.KERNEL_BUF
    if len(kernel) > room:
        raise ValueError(f"kernel file is 0x{len(kernel):x} bytes; the loader reads at most "
                         f"0x{room:x} (KERNEL_BUF..KERNEL_BUF_END)")


def with_crcs(stage2: bytes, kernel: bytes) -> bytes:
    """stage 2 with the CRC-32s of its own bytes after the header and of the kernel file
    written into its header (struct stage2_header): stage 2 and the loader check them."""
    fields = {name: (off, size) for name, off, size in fc.STAGE2_HEADER_FIELDS}
    out = bytearray(stage2)
    for name, crc in (("stage2_crc32", zlib.crc32(stage2[fc.STAGE2_HEADER_SIZE:])),
                      ("kernel_crc32", zlib.crc32(kernel))):
        off, size = fields[name]
        out[off:off + size] = crc.to_bytes(size, "little")
    return bytes(out)


def build(stage1: bytes, stage2: bytes, kernel: bytes, floppy: bool = False,
          checked: bool = True) -> bytes:
    """The image. checked=False skips check_sizes: for tests of the boot-time checks."""
    if len(stage1) != SECTOR or stage1[510:] != b"\x55\xaa":
        raise ValueError(f"stage 1 must be 512 bytes ending in 55 aa (got {len(stage1)} bytes)")
    if checked:
        check_sizes(stage2, kernel)
    s2_sectors = sectors(len(stage2))
    if s2_sectors >= 1 << 16:
        raise ValueError("stage 2 is too large for the layout table")
    kernel_lba = 1 + s2_sectors
    end = LAYOUT_OFFSET + fc.BOOT_LAYOUT_SIZE
    if any(stage1[LAYOUT_OFFSET:end]):
        # stage1.asm reserves the table with zeros at BOOT_LAYOUT (contracts/layout.h);
        # anything else there means the two disagree and the table would overwrite code.
        raise ValueError(f"stage 1 has no empty layout table at offset {LAYOUT_OFFSET:#x} "
                         "(was it built from the same contracts/layout.h?)")
    if stage2[fc.STAGE2_MAGIC_OFFSET:fc.STAGE2_MAGIC_OFFSET + len(fc.STAGE2_MAGIC)] \
            == fc.STAGE2_MAGIC:
        stage2 = with_crcs(stage2, kernel)
    mbr = bytearray(stage1)
    mbr[LAYOUT_OFFSET:end] = pack_layout(magic=fc.LAYOUT_MAGIC, stage2_lba=1,
                                         stage2_sectors=s2_sectors, kernel_lba=kernel_lba,
                                         kernel_bytes=len(kernel))
    image = bytes(mbr) + stage2.ljust(s2_sectors * SECTOR, b"\0") + kernel
    if floppy:
        if len(image) > FLOPPY:
            raise ValueError(f"{len(image)} bytes do not fit on a 1.44 MB floppy")
        return image.ljust(FLOPPY, b"\0")
    size = max(len(image), 2 * CYLINDER)
    size = -(-size // CYLINDER) * CYLINDER
    return image.ljust(size, b"\0")


def write_atomically(path, data: bytes) -> None:
    """A temporary and a rename: a parallel make never sees half a file, and a failed
    write leaves no temporary behind."""
    tmp = f"{path}.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        # Name the file the user asked for, not the temporary.
        what = "is a directory" if os.path.isdir(path) else e.strerror or str(e)
        raise OSError(f"cannot write {path}: {what}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m fjqemu.image",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--stage1", required=True, help="512-byte stage 1 (build/stage1.bin)")
    ap.add_argument("--stage2", required=True, help="flat stage 2 (build/stage2.bin)")
    ap.add_argument("--kernel", required=True, help="kernel ELF file to put on the disk")
    ap.add_argument("--floppy", action="store_true",
                    help="a 1.44 MB floppy image (the BIOS then reads it with CHS calls)")
    ap.add_argument("--unchecked", action="store_true",
                    help="skip the size checks (to test the ones stage 2 makes at boot)")
    ap.add_argument("-o", "--output", required=True, help="image to write")
    args = ap.parse_args(argv)
    try:
        parts = []
        for name in (args.stage1, args.stage2, args.kernel):
            with open(name, "rb") as f:
                parts.append(f.read())
        write_atomically(args.output, build(*parts, floppy=args.floppy,
                                            checked=not args.unchecked))
    except (OSError, ValueError) as e:
        print(f"image: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
