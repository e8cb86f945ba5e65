"""The ways into the kernel (make run BOOT=..., make debug BOOT=...; docs/boot.md): what
each boots, how to build it, whether a file can be booted that way, and where GDB stops
first.

    bios       build/disk.img     farjump's stage 1 + stage 2      GDB stops at stage1_start
    multiboot  build/kernel.elf   QEMU -kernel (Multiboot 1)       GDB stops at mb_entry
    grub       build/farjump.iso  GRUB, multiboot2 (Multiboot 2)   GDB stops at mb_entry
    uefi       build/efi.img      OVMF + farjump's UEFI loader     GDB stops at uefi_main

mb_entry (kernel/mb_entry.asm) runs at physical addresses although kernel.elf links it
in the higher half: GDB gets its object file a second time, placed at the physical
addresses, so its source lines show where it runs. The UEFI loader runs wherever the
firmware put it: asked by QEMU's fw_cfg (cmdline wait_for_gdb), it says its ImageBase on
COM1 and waits; GDB then adds build/uefi.so's symbols at that base and releases it.
"""
from __future__ import annotations

import re
from pathlib import Path

from . import BUILD, ROOT
from .cmdline import BOOTS
from .elf import Elf, ElfError
from .imagecheck import image_problem

IMAGES = {"bios": BUILD / "disk.img", "multiboot": BUILD / "kernel.elf",
          "grub": BUILD / "farjump.iso", "uefi": BUILD / "efi.img"}
MAKE = {"bios": "make", "multiboot": "make", "grub": "make iso", "uefi": "make efi"}
NAMES = {"bios": "the farjump BIOS loader", "multiboot": "Multiboot 1",
         "grub": "Multiboot 2 / GRUB", "uefi": "UEFI"}
MB_ENTRY_OBJ = BUILD / "kernel" / "mb_entry.o"
UEFI_SO = BUILD / "uefi.so"
UEFI_WAITING = re.compile(r"UEFI loader: ImageBase 0x([0-9a-f]+); waiting for GDB")
KERNEL_VMA = 0xffffffff80000000
try:                        # the generated contracts, when the build has them
    import farjump_contracts as _c
    KERNEL_VMA = getattr(_c, "KERNEL_VMA", KERNEL_VMA)
except ImportError:
    pass

MB1_MAGIC = (0x1badb002).to_bytes(4, "little")
MB2_MAGIC = (0xe85250d6).to_bytes(4, "little")


def check_boot(boot: str) -> str | None:
    if boot not in BOOTS:
        return f"unknown boot path {boot!r}: one of {', '.join(BOOTS)}"
    return None


def boot_problem(boot: str, path: Path) -> str | None:
    """What keeps `path` from booting by `boot`, in words, or None."""
    problem = check_boot(boot)
    if problem:
        return problem
    if not path.is_file():
        return f"no {path} for BOOT={boot} (run '{MAKE[boot]}' first)"
    if boot == "bios":
        return image_problem(path)
    try:
        with open(path, "rb") as f:
            head = f.read(0x8800)
    except OSError as e:
        return f"cannot read {path}: {e.strerror}"
    if boot == "multiboot":
        if head[:4] != b"\x7fELF":
            return f"{path} is not an ELF file: QEMU -kernel wants build/kernel.elf"
        if not any(head[i:i + 4] == MB1_MAGIC for i in range(0, min(len(head), 8192), 4)):
            return f"{path} has no Multiboot 1 header in its first 8 KiB"
    elif boot == "grub" and head[0x8001:0x8006] != b"CD001":
        return f"{path} is not an ISO 9660 image (no CD001 at 8001h); 'make iso' builds one"
    elif boot == "uefi" and len(head) < 512:
        return f"{path} is too small for a FAT image"
    return None


def mb_entry_sections(kernel: Path = BUILD / "kernel.elf") -> dict[str, int]:
    """Physical addresses of mb_entry.o's sections inside `kernel`: each section's first
    symbol (mb1_header opens .multiboot, mb_pml4 .bss) less KERNEL_VMA."""
    syms = {s.name: s.value for s in Elf.read(kernel).symbols()}
    firsts = {".multiboot": "mb1_header", ".bss": "mb_pml4"}
    missing = [name for name in firsts.values() if name not in syms]
    if missing:
        raise ElfError(f"{kernel}: no symbol {', '.join(missing)} (a kernel without "
                       "kernel/mb_entry.asm?)")
    return {sec: syms[name] - KERNEL_VMA for sec, name in firsts.items()}


def uefi_image_base(serial: str) -> int | None:
    """The UEFI loader's ImageBase from what it wrote to COM1 while it waits for GDB."""
    m = UEFI_WAITING.search(serial)
    return int(m.group(1), 16) if m else None


def gdb_entry_commands(boot: str, kernel: Path = BUILD / "kernel.elf",
                       image_base: int | None = None) -> list[str]:
    """GDB commands that load what `boot` runs first and stop there (for uefi: at
    uefi_main, given the ImageBase the waiting loader reported)."""
    if boot == "bios":
        return ["tbreak stage1_start", "continue"]
    if boot in ("multiboot", "grub"):
        secs = mb_entry_sections(kernel)
        where = " ".join(f"-s {name} {addr:#x}" for name, addr in secs.items())
        obj = MB_ENTRY_OBJ.relative_to(ROOT)
        return [f"add-symbol-file {obj} {where}", "tbreak mb_entry", "continue"]
    if boot == "uefi":
        if image_base is None:
            raise ValueError("the UEFI loader's ImageBase is needed (uefi_image_base)")
        so = UEFI_SO.relative_to(ROOT)
        return [f"add-symbol-file {so} -o {image_base:#x}", "set var uefi_gdb_wait = 0",
                "tbreak uefi_main", "continue"]
    raise ValueError(f"unknown boot path {boot!r}")
