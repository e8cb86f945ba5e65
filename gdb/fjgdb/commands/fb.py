"""fj fb: the framebuffer boot_info describes (UEFI's GOP), as facts or a PNG."""
from __future__ import annotations

from ..decoders.errors import DecodeError
from ..decoders.framebuffer import boot_path_name, decode_framebuffer, field, to_rgb
from ..decoders.timeline import BOOTINFO_ADDR, BOOTINFO_SIZE
from ..target.errors import FjError, NotConnected
from ..target.state import STATE
from .base import FjCommand, emit_json, out


def read_framebuffer_info():
    """(boot_info bytes, Framebuffer or None) from guest memory; FjError when unreadable
    or not there yet."""
    try:
        data = STATE.read_phys(BOOTINFO_ADDR, BOOTINFO_SIZE)
    except NotConnected:
        raise
    except FjError:
        raise FjError(f"cannot read boot_info at physical 0x{BOOTINFO_ADDR:x}") from None
    try:
        return data, decode_framebuffer(data)
    except DecodeError as e:
        raise FjError(str(e)) from None


class FjFb(FjCommand):
    """The framebuffer of struct boot_info (UEFI's GOP): its format, or a PNG of it.

Usage: fj fb [--png FILE] [--json]
Address, size, pitch and byte order come from boot_info at physical 0x5000 (the UEFI
loader fills them; the BIOS and Multiboot paths leave VGA text mode, then this says so:
use fj vga). --png FILE reads the pixels from guest memory and writes them as a PNG.
JSON: {"addr", "width", "height", "pitch", "bpp", "format", "boot_path", "png"}"""

    name = "fb"

    def add_arguments(self, parser):
        parser.add_argument("--png")

    def run(self, opts, from_tty):
        STATE.require_connected()
        data, fb = read_framebuffer_info()
        if fb is None:
            raise FjError(f"no framebuffer: booted by {boot_path_name(field(data, 'boot_path'))}"
                          ", the screen is VGA text (fj vga shows it)")
        if opts.png:
            try:
                pixels = STATE.read_phys(fb.addr, fb.size)
            except NotConnected:
                raise
            except FjError:
                raise FjError(f"cannot read the framebuffer at physical 0x{fb.addr:x} "
                              f"({fb.size} bytes)") from None
            from PIL import Image  # lazy: only --png needs Pillow
            try:
                Image.frombytes("RGB", (fb.width, fb.height), to_rgb(fb, pixels)).save(
                    opts.png, format="PNG")
            except OSError as e:
                raise FjError(f"cannot write {opts.png}: {e.strerror or e}") from None
        if opts.json:
            emit_json({**fb.to_dict(), "png": opts.png})
            return
        out(f"framebuffer {fb.describe()} (booted by {boot_path_name(fb.boot_path)})")
        if opts.png:
            out(f"(PNG written to {opts.png})")
