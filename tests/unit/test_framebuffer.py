"""decoders/framebuffer: boot_info's fb_* fields and the pixels in both byte orders."""
import pytest

import farjump_contracts as fc
from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.framebuffer import decode_framebuffer, to_rgb

OFF = {name: (off, size) for name, off, size in fc.BOOTINFO_FIELDS}


def boot_info(**fields):
    data = bytearray(fc.BOOTINFO_SIZE)
    fields.setdefault("magic", fc.BOOTINFO_MAGIC)
    for name, value in fields.items():
        off, size = OFF[name]
        data[off:off + size] = value.to_bytes(size, "little")
    return bytes(data)


def test_vga_text_paths_have_no_framebuffer():
    assert decode_framebuffer(boot_info()) is None


def test_no_boot_info_is_said():
    with pytest.raises(DecodeError, match="BOOTINFO_MAGIC"):
        decode_framebuffer(bytes(fc.BOOTINFO_SIZE))


@pytest.mark.parametrize("fmt,pixel,rgb", [(fc.FB_RGBX, b"\x10\x20\x30\x00", b"\x10\x20\x30"),
                                           (fc.FB_BGRX, b"\x10\x20\x30\x00", b"\x30\x20\x10")])
def test_pixels_in_either_byte_order(fmt, pixel, rgb):
    fb = decode_framebuffer(boot_info(fb_addr=0x80000000, fb_width=2, fb_height=2,
                                      fb_pitch=12, fb_bpp=32, fb_format=fmt,
                                      boot_path=fc.BOOT_PATH_UEFI))
    assert fb.to_dict()["boot_path"] == "UEFI" and fb.size == 24
    pad = b"\xee" * 4                  # the pitch is wider than the picture
    assert to_rgb(fb, (pixel * 2 + pad) * 2) == rgb * 4


def test_undrawable_framebuffers_are_refused():
    with pytest.raises(DecodeError, match="only 32-bit"):
        decode_framebuffer(boot_info(fb_width=2, fb_height=2, fb_pitch=8, fb_bpp=16,
                                     fb_format=fc.FB_RGBX))
    with pytest.raises(DecodeError, match="usable size"):
        decode_framebuffer(boot_info(fb_width=4, fb_height=2, fb_pitch=8, fb_bpp=32,
                                     fb_format=fc.FB_BGRX))
