"""The screen as boot_info describes it (contracts/bootinfo.h, fb_*): VGA text, or a
linear framebuffer of 32-bit pixels (UEFI's GOP) with its address, size, pitch and byte
order. Pure: bytes in, a :class:`Framebuffer` (or None for VGA text) and RGB bytes out.
"""
from __future__ import annotations

from dataclasses import dataclass

from farjump_contracts import (BOOT_PATH_BIOS, BOOT_PATH_MULTIBOOT1, BOOT_PATH_MULTIBOOT2,
                                BOOT_PATH_UEFI, BOOTINFO_FIELDS, BOOTINFO_MAGIC, FB_BGRX,
                                FB_NONE, FB_RGBX)

from .errors import DecodeError

_FIELDS = {name: (off, size) for name, off, size in BOOTINFO_FIELDS}
FORMATS = {FB_RGBX: "RGBX", FB_BGRX: "BGRX"}
BOOT_PATHS = {BOOT_PATH_BIOS: "the farjump BIOS loader", BOOT_PATH_MULTIBOOT1: "Multiboot 1",
              BOOT_PATH_MULTIBOOT2: "Multiboot 2 / GRUB", BOOT_PATH_UEFI: "UEFI"}


def field(data: bytes, name: str) -> int:
    off, size = _FIELDS[name]
    if len(data) < off + size:
        raise DecodeError(f"boot_info: {len(data)} bytes, {name} needs {off + size}")
    return int.from_bytes(data[off:off + size], "little")


@dataclass(frozen=True)
class Framebuffer:
    addr: int
    width: int
    height: int
    pitch: int
    bpp: int
    format: int
    boot_path: int

    @property
    def format_name(self) -> str:
        return FORMATS.get(self.format, f"format {self.format}")

    @property
    def size(self) -> int:
        return self.pitch * self.height

    def describe(self) -> str:
        return (f"{self.width}x{self.height}, {self.bpp} bits per pixel {self.format_name}, "
                f"pitch {self.pitch} bytes, at physical 0x{self.addr:x}")

    def to_dict(self) -> dict:
        return {"addr": self.addr, "width": self.width, "height": self.height,
                "pitch": self.pitch, "bpp": self.bpp, "format": self.format_name,
                "boot_path": boot_path_name(self.boot_path)}


def boot_path_name(path: int) -> str:
    return BOOT_PATHS.get(path, f"an unknown loader (boot_path {path})")


def has_boot_info(data: bytes) -> bool:
    return len(data) >= 4 and field(data, "magic") == BOOTINFO_MAGIC


def decode_framebuffer(data: bytes) -> Framebuffer | None:
    """The framebuffer boot_info (its bytes) describes; None when the screen is VGA text.
    DecodeError when the bytes are no boot_info or describe a framebuffer farjump cannot
    draw (only 32-bit RGBX/BGRX)."""
    if not has_boot_info(data):
        raise DecodeError("no boot_info (BOOTINFO_MAGIC missing): the kernel's loader has "
                          "not run yet")
    fmt = field(data, "fb_format")
    if fmt == FB_NONE:
        return None
    fb = Framebuffer(field(data, "fb_addr"), field(data, "fb_width"),
                     field(data, "fb_height"), field(data, "fb_pitch"), field(data, "fb_bpp"),
                     fmt, field(data, "boot_path"))
    if fmt not in FORMATS or fb.bpp != 32:
        raise DecodeError(f"boot_info describes a {fb.bpp}-bit framebuffer in format {fmt}; "
                          "only 32-bit RGBX and BGRX are decoded")
    if fb.width == 0 or fb.height == 0 or fb.pitch < fb.width * 4:
        raise DecodeError(f"boot_info's framebuffer is {fb.width}x{fb.height} with pitch "
                          f"{fb.pitch}: not a usable size")
    return fb


def to_rgb(fb: Framebuffer, pixels: bytes) -> bytes:
    """The framebuffer's bytes (fb.size of them) as packed 24-bit RGB rows."""
    if len(pixels) < fb.size:
        raise DecodeError(f"{len(pixels)} bytes of framebuffer, {fb.size} needed")
    r, b = (0, 2) if fb.format == FB_RGBX else (2, 0)
    out = bytearray(fb.width * fb.height * 3)
    for y in range(fb.height):
        row = pixels[y * fb.pitch:y * fb.pitch + fb.width * 4]
        o = y * fb.width * 3
        out[o:o + fb.width * 3:3] = row[r::4]
        out[o + 1:o + fb.width * 3:3] = row[1::4]
        out[o + 2:o + fb.width * 3:3] = row[b::4]
    return bytes(out)


__all__ = ["Framebuffer", "FORMATS", "boot_path_name", "decode_framebuffer", "field",
           "has_boot_info", "to_rgb"]
