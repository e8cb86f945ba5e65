"""What `make run` / `make debug` boot: farjump's disk, or anything else (docs/your-kernel.md).

  IMAGE=disk.img        a raw disk image (default: build/disk.img)
  CDROM=boot.iso        an ISO image (booted from when there is no IMAGE)
  KERNEL=bzImage        QEMU's -kernel (a Linux bzImage, a Multiboot ELF), APPEND= its
                        command line (e.g. console=ttyS0), INITRD= its initrd
  ARCH=i386             qemu-system-i386 instead of qemu-system-x86_64
  SMP=N                 N CPUs
  SYMBOLS=a.elf,b.elf@0x100000   ELF files whose symbols GDB loads (FILE@OFFSET: the
                        file's addresses moved by OFFSET, for a relocated image)
  BOOT=bios|multiboot|grub|uefi  farjump's own kernel by another way in (docs/boot.md);
                        its file (build/kernel.elf, farjump.iso, efi.img) is the default IMAGE

A boot is *foreign* when anything but farjump's own disk (build/disk.img, a
build/fault/NAME.img with its kernel-NAME.elf beside it, or BOOT='s file) is given: GDB then loads only
the SYMBOLS (never farjump's) and stops at the reset vector instead of stage1_start.
GDB's quirk handled here: a 32-bit ELF loaded before `target remote` switches GDB to
i386, and qemu-system-x86_64's 64-bit register packet then breaks the connection
("Remote 'g' packet reply is too long"); the architecture is therefore set (i386:x86-64,
or i386 with ARCH=i386) before any symbol file is read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import os

from . import BUILD
from .bootpaths import IMAGES
from .cmdline import ARCHES, BOOTS

DEFAULT_IMAGE = BUILD / "disk.img"


class MachineError(ValueError):
    """A machine option that cannot work, in one line."""


def parse_symbols(text: str | None) -> list[tuple[Path, int]]:
    """"a.elf,b.elf@0x1000" -> [(a.elf, 0), (b.elf, 0x1000)] (comma or space separated)."""
    out = []
    for item in (text or "").replace(",", " ").split():
        path, _, off = item.partition("@")
        try:
            offset = int(off, 0) if off else 0
        except ValueError:
            raise MachineError(f"SYMBOLS: '{item}': the offset after @ is not a number "
                               "(FILE@0x100000)") from None
        out.append((Path(path), offset))
    return out


def cpu_count(text) -> int:
    """--smp N (argparse type): 1..255 CPUs, as QEMU takes them."""
    import argparse
    try:
        n = int(str(text), 10)
    except ValueError:
        n = 0
    if not 1 <= n <= 255:
        raise argparse.ArgumentTypeError(f"SMP must be a CPU count from 1 to 255, not {text!r}")
    return n


def matching_kernel(image: Path | None) -> Path | None:
    """The kernel ELF (with DWARF) built with a farjump image other than build/disk.img:
    build/fault/NAME.img -> kernel-NAME.elf beside it; None if there is none."""
    if image is None:
        return None
    elf = image.with_name(f"kernel-{image.stem}.elf")
    return elf.resolve() if elf.is_file() else None


def elf_class(path: Path) -> int | None:
    """32 or 64 for an ELF file, None for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(5)
    except OSError:
        return None
    if head[:4] != b"\x7fELF" or len(head) < 5:
        return None
    return {1: 32, 2: 64}.get(head[4])


@dataclass
class Machine:
    image: Path | None = None
    cdrom: Path | None = None
    kernel: Path | None = None
    append: str | None = None
    initrd: Path | None = None
    arch: str = "x86_64"
    smp: int | None = None
    symbols: list = field(default_factory=list)
    boot: str = "bios"

    @classmethod
    def add_arguments(cls, ap) -> None:
        ap.add_argument("--image", help="raw disk image (default: build/disk.img unless "
                                        "--cdrom or --kernel is given)")
        ap.add_argument("--cdrom", help="ISO image")
        ap.add_argument("--kernel", help="QEMU -kernel: a Linux bzImage or Multiboot ELF")
        ap.add_argument("--append", help="the -kernel command line (e.g. console=ttyS0)")
        ap.add_argument("--initrd", help="the -kernel initrd")
        ap.add_argument("--arch", default="x86_64", help="x86_64 (default) or i386")
        ap.add_argument("--smp", type=cpu_count, metavar="N",
                        help="number of CPUs (GDB shows each as a thread: thread N+1 = CPU N)")
        ap.add_argument("--symbols", help="ELF files for GDB: a.elf,b.elf@OFFSET")
        ap.add_argument("--boot", default=os.environ.get("BOOT") or "bios", choices=BOOTS,
                        help="farjump's way in (default: $BOOT or bios; docs/boot.md)")

    @classmethod
    def from_args(cls, args, default_image: Path | None = DEFAULT_IMAGE) -> "Machine":
        image = args.image
        if image is None and not args.cdrom and not args.kernel:
            image = default_image if args.boot == "bios" else IMAGES[args.boot]
        m = cls(image=Path(image) if image else None,
                cdrom=Path(args.cdrom) if args.cdrom else None,
                kernel=Path(args.kernel) if args.kernel else None,
                append=args.append or None, initrd=Path(args.initrd) if args.initrd else None,
                arch=args.arch or "x86_64", smp=args.smp,
                symbols=parse_symbols(args.symbols), boot=args.boot)
        m.check()
        return m

    def check(self) -> None:
        if self.arch not in ARCHES:
            raise MachineError(f"ARCH={self.arch}: must be one of {', '.join(ARCHES)}")
        if self.smp is not None and not 1 <= self.smp <= 255:
            raise MachineError(f"SMP={self.smp}: must be 1..255")
        if self.boot != "bios" and (self.cdrom or self.kernel or self.arch != "x86_64"):
            raise MachineError(f"BOOT={self.boot} boots farjump's own kernel; leave it out "
                               "with CDROM=, KERNEL= or ARCH=")
        if self.append and not self.kernel:
            raise MachineError("APPEND= needs KERNEL= (it is the -kernel command line)")
        if self.image is not None and not self.image.is_file():
            what = "disk image" if self.boot == "bios" else f"BOOT={self.boot} file"
            raise MachineError(f"no {what} at {self.image} (run 'make' first)")
        for what, path in (("CDROM", self.cdrom), ("KERNEL", self.kernel),
                           ("INITRD", self.initrd)):
            if path is not None and not path.is_file():
                raise MachineError(f"{what}={path}: no such file")
        for path, _ in self.symbols:
            if not path.is_file():
                raise MachineError(f"SYMBOLS: {path}: no such file")
            if elf_class(path) is None:
                raise MachineError(f"SYMBOLS: {path} is not an ELF file (for a Linux "
                                   "kernel use its vmlinux, not the bzImage)")

    @property
    def foreign(self) -> bool:
        """Anything but farjump's own kernel alone (module docstring)."""
        if self.cdrom or self.kernel or self.symbols or self.arch != "x86_64":
            return True
        if self.image is None:
            return True
        if self.boot != "bios":
            return self.image.resolve() != IMAGES[self.boot].resolve()
        return (self.image.resolve() != DEFAULT_IMAGE.resolve()
                and matching_kernel(self.image) is None)

    def qemu_kwargs(self) -> dict:
        return dict(arch=self.arch, cdrom=self.cdrom, kernel=self.kernel,
                    append=self.append, initrd=self.initrd, smp=self.smp, boot=self.boot)

    def describe(self) -> str:
        parts = [str(p) for p in (self.image, self.cdrom) if p]
        if self.kernel:
            parts.append(f"-kernel {self.kernel}"
                         + (f" -append '{self.append}'" if self.append else ""))
        return " + ".join(parts) + (f" (qemu-system-{self.arch}"
                                    + (f", {self.smp} CPUs" if self.smp else "") + ")")

    def gdb_setup(self) -> list[str]:
        """GDB commands before `target remote`: the architecture first (the 32-bit ELF
        quirk, module docstring), then the symbol files."""
        cmds = ["set architecture " + ("i386:x86-64" if self.arch == "x86_64" else "i386")]
        for path, offset in self.symbols:
            cmd = f"add-symbol-file {path.resolve()}"
            if offset:
                cmd += f" -o 0x{offset:x}"
            cmds.append(cmd)
        return cmds
