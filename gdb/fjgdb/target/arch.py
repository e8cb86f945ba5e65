"""Which x86 architecture GDB is using, and what its own disassembler and unwinder decode.

qemu-system-x86_64's gdbstub makes GDB use ``i386:x86-64`` (registers rip/rsp, builtin
decoding 64-bit); qemu-system-i386's makes it ``i386`` (eip/esp, 32-bit), and a user may
``set architecture i8086`` there (eip/esp, builtin decoding 16-bit). GDB refuses i386 and
i8086 on an x86-64 target (docs/gdb.md).
"""
from __future__ import annotations

import gdb

#: every x86 architecture name GDB 13 knows (``set architecture``)
X86_ARCHES = ("i386:x86-64", "i386:x86-64:intel", "i386:x64-32", "i386:x64-32:intel",
              "i386", "i386:intel", "i8086")


def builtin_bits(arch_name: str) -> int:
    """The code width GDB's own disassembler decodes for *arch_name*."""
    if "x86-64" in arch_name or "x64-32" in arch_name:
        return 64
    return 16 if arch_name == "i8086" else 32


def pc_sp_names(arch_name: str) -> tuple[str, str]:
    """GDB's names of the PC and stack-pointer registers under *arch_name*."""
    return ("rip", "rsp") if builtin_bits(arch_name) == 64 else ("eip", "esp")


def current_arch_name() -> str | None:
    """The architecture of the selected frame (or GDB's default), None if unknown."""
    try:
        return gdb.selected_frame().architecture().name()
    except gdb.error:
        try:
            return gdb.selected_inferior().architecture().name()
        except (gdb.error, AttributeError):
            return None
