"""fj vga: the VGA text screen as text, ANSI or a PNG."""
from __future__ import annotations

from ..decoders.errors import DecodeError
from ..decoders.framebuffer import boot_path_name, decode_framebuffer, has_boot_info
from ..decoders.timeline import BOOTINFO_ADDR, BOOTINFO_SIZE
from ..decoders.vga import decode_text
from ..render.png import render_png
from ..render.vga import ansi_lines
from ..target.errors import FjError, NotConnected
from ..target.state import STATE
from .base import FjCommand, color_default, emit_json, out

VGA_TEXT_ADDR = 0xB8000      # mode 3 text buffer (physical)


def framebuffer_in_use():
    """The framebuffer boot_info says the screen is, or None (VGA text, or no boot_info
    yet: before the kernel's loader ran, the screen is the BIOS's VGA text)."""
    try:
        data = STATE.read_phys(BOOTINFO_ADDR, BOOTINFO_SIZE)
        return decode_framebuffer(data) if has_boot_info(data) else None
    except (FjError, DecodeError):
        return None


class FjVga(FjCommand):
    """The 80x25 VGA text screen (physical 0xb8000), as text or a PNG.

Usage: fj vga [--color|--no-color] [--png FILE] [--json]
ANSI colours by default when GDB styles output to a terminal; plain text otherwise.
--png FILE renders the screen with a PSF console font (9x16 cells like real VGA).
When boot_info says the screen is a framebuffer (UEFI), it says so: fj fb renders that.
JSON: {"cols", "rows", "lines": [...], "text", "png": FILE|null}"""

    name = "vga"

    def add_arguments(self, parser):
        parser.add_argument("--png")
        g = parser.add_mutually_exclusive_group()
        g.add_argument("--color", dest="color", action="store_true", default=None)
        g.add_argument("--no-color", dest="color", action="store_false")

    def run(self, opts, from_tty):
        STATE.require_connected()       # its errors as every command says them
        fb = framebuffer_in_use()
        if fb is not None:
            raise FjError(f"the screen is a framebuffer, not VGA text: {fb.describe()} "
                          f"(boot_info: booted by {boot_path_name(fb.boot_path)}); "
                          "fj fb --png FILE renders it")
        try:
            data = STATE.read_phys(VGA_TEXT_ADDR, 80 * 25 * 2)
        except NotConnected:
            raise
        except FjError:
            raise FjError("cannot read the VGA text buffer at physical 0xb8000: guest "
                          "memory unreadable") from None
        screen = decode_text(data)
        if opts.png:
            try:
                render_png(screen, opts.png)
            except OSError as e:
                raise FjError(f"cannot write {opts.png}: {e.strerror or e}") from None
        if opts.json:
            emit_json({"cols": screen.cols, "rows": screen.rows, "lines": screen.lines(),
                       "text": screen.text(), "png": opts.png})
            return
        color = color_default() if opts.color is None else opts.color
        if color:
            out("\n".join(ansi_lines(screen)))
        else:
            out(screen.text())
        if opts.png:
            out(f"(PNG written to {opts.png})")
