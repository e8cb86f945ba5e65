"""Comparing a fresh capture with the doc (after normalising what legitimately varies
between builds and machines), and checking the rendered images."""
from __future__ import annotations

import difflib
import re
import shutil

from .capture import Paths
from .config import SHOWN_BUILD, SHOWN_IMG
from .template import Block

# ---- images --------------------------------------------------------------------------------------
# In docs/img/, each with the size it must have (None: any, at least 640x400). fj-vga.png is
# the doc's 'fj vga --png build/walkthrough/fj-vga.png', qemu-screen.png its QMP screendump;
# boot-*.png are 'make run BOOT=... SCREENSHOT=build/walkthrough/boot-*.png' (the UEFI one
# is the GOP framebuffer, whose size is the firmware's choice).
IMAGES = {"fj-vga.png": (720, 400), "qemu-screen.png": (720, 400),
          "boot-multiboot.png": (720, 400), "boot-grub.png": (720, 400),
          "boot-uefi.png": None}
SCREENDUMP = "qemu-screen.png"      # converted from build/walkthrough/qemu-screen.ppm


def make_images(paths: Paths, required: bool) -> list[str]:
    """Convert the screendump PPM to PNG; check the images (all of them if required).
    Returns problems."""
    from PIL import Image
    problems = []
    ppm = paths.real(SHOWN_BUILD + "qemu-screen.ppm")
    png_dir = paths.real(SHOWN_IMG)
    if ppm.exists():
        with Image.open(ppm) as im:
            im.convert("RGB").save(png_dir / SCREENDUMP, optimize=True)
    # The reader's commands write into build/ (never over the tracked docs/img/ files);
    # the tool copies them to the image directory the doc shows.
    for name in IMAGES:
        made = paths.real(SHOWN_BUILD + name)
        if name != SCREENDUMP and made.exists():
            shutil.copyfile(made, png_dir / name)
    for name, size in IMAGES.items():
        f = png_dir / name
        if not f.exists():
            if required:
                problems.append(f"image {name} was not produced (is its command in the doc?)")
            continue
        with Image.open(f) as im:
            colours = im.convert("RGB").getcolors(1 << 16)
            if size is not None and im.size != size:
                problems.append(f"image {name}: size {im.size}, want {size[0]}x{size[1]}")
            elif size is None and (im.size[0] < 640 or im.size[1] < 400):
                problems.append(f"image {name}: size {im.size}, want at least 640x400")
            elif colours is not None and len(colours) < 2:
                problems.append(f"image {name}: blank")
    return problems


# ---- comparison ------------------------------------------------------------------------------------
STAGE2 = (0x8008, 0x10000)
KVIRT = (0xffffffff80100000, 0xffffffff80400000)
KPHYS = (0x100000, 0x400000)

TOKEN_RE = re.compile(r"""
    (?P<path>(?:/[\w.+-]+)+?/(?=(?:boot|common|contracts|kernel|src|gdb|qemu|build|docs
                                   |scripts|tests)(?:[/:"\s]|$)))
  | (?P<port>(?<=127\.0\.0\.1:)\d+)
  | (?P<data>(?<=\bdd)\s+0x[0-9a-f]+(?=\s+;\s*data$))
  | (?P<symoff>(?<=[\w.])\+(?:0x)?[0-9a-f]+\b)
  | (?P<tick>(?<=t=)\d+|^\d{11}(?=:)|(?<=\(0\)\.\[)\d+)
  | (?P<line>(?<=\.asm:)\d+|(?<=\.c:)\d+|(?<=\.inc:)\d+|(?<=line\ )\d+|^\d+(?=\ {2,}\S))
  | (?P<size>\b\d+K\b)
  | (?P<secs>(?<=\ after\ )\d+(?:\.\d+)?(?=\ s\b))
  | (?P<mhz>(?<=TSC\ at\ )\d+(?=\ MHz\b))
  | (?P<imagebase>(?<=ImageBase\ )0x[0-9a-f]+\ \(\d+\ bytes\))
  | (?P<bytes>(?<=;\ )[0-9a-f]+$)
  | (?P<segoff>\b[0-9a-f]{4}:[0-9a-f]{4,16}\b)
  | (?P<reg>\b[0-9a-f]{8}_[0-9a-f]{8}\b)
  | (?P<hex>\b0x[0-9a-fA-F]+\b)
  | (?P<bigdec>\b\d{16,20}\b)
""", re.X)
# In a loose block: any number, any hex word with a digit, and any two-digit hex byte.
LOOSE_RE = re.compile(r"\b(?:0x[0-9a-fA-F]+|[0-9a-fA-F]*\d[0-9a-fA-F]*|[0-9a-fA-F]{2})\b")


def region(v: int) -> str | None:
    for name, (lo, hi) in (("stage2", STAGE2), ("kvirt", KVIRT), ("kphys", KPHYS)):
        if lo <= v < hi:
            return name
    return None


def addr_key(text: str) -> str:
    v = int(text.replace("_", ""), 16)
    r = region(v)
    return f"<{r}>" if r else f"0x{v:x}"


def normalise(line: str, loose: bool = False) -> str:
    """The line with what may vary replaced by placeholders, whitespace collapsed."""
    def sub(m):
        k = m.lastgroup
        t = m.group()
        if k == "hex" or k == "reg":
            return addr_key(t)
        if k == "bigdec":
            return addr_key(f"{int(t):x}")
        if k == "segoff":
            seg, off = t.split(":")
            return f"{seg}:{addr_key(off)}"
        return f"<{k}>"
    line = TOKEN_RE.sub(sub, line)
    if loose:
        line = LOOSE_RE.sub("<n>", line)
    return " ".join(line.split())


def compare(old: list[str], new: list[str], loose: bool = False, first: int = 1) -> list[str]:
    """A readable diff of the lines that differ after normalisation ([] if none). `first`
    is the doc's line number of old[0], for the headers."""
    a = [normalise(x, loose) for x in old]
    b = [normalise(x, loose) for x in new]
    if a == b:
        return []
    out = []
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        where = (f"doc lines {first + i1}-{first + i2 - 1}" if i2 > i1
                 else f"after doc line {first + i1 - 1}")
        out.append(f"@@ {where} @@")
        out += [f"- {x}" for x in old[i1:i2]]
        out += [f"+ {x}" for x in new[j1:j2]]
    return out


def check_blocks(blocks: list[Block]) -> list[str]:
    """One entry per block that differs: a header line and the diff."""
    report = []
    for b in blocks:
        d = compare(b.body, b.out, b.loose, first=b.body_start + 1)
        if d:
            report.append("\n".join([f"--- {b.label}: the doc differs from a fresh capture "
                                      f"(- doc, + now):"] + d))
    return report


