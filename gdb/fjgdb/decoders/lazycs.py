"""Capstone, imported on first use.

``import capstone`` costs about half a second (Debian's capstone imports distutils, which
pulls in setuptools), and farjump needs it only to decode 16- and 32-bit code (GDB's own
disassembler does 64-bit code), to scan stacks in NASM code and to look for mode
switches. So nothing imports it at start-up: :func:`capstone` does, the first time.
Pure (no ``gdb``).
"""
from __future__ import annotations

import importlib.util

_module = None
_tried = False


def capstone():
    """The capstone module (imported now if it was not yet), None if not installed."""
    global _module, _tried
    if not _tried:
        _tried = True
        try:
            import capstone as cs
        except ImportError:      # pragma: no cover - python3-capstone is a dependency
            cs = None
        _module = cs
    return _module


_found: bool | None = None


def available() -> bool:
    """Whether capstone is installed, without importing it (asked once: the unwinder
    asks at every frame)."""
    global _found
    if _tried:
        return _module is not None
    if _found is None:
        try:
            _found = importlib.util.find_spec("capstone") is not None
        except (ImportError, ValueError):
            _found = False
    return _found


def loaded() -> bool:
    """Whether capstone has been imported (tests: start-up must not import it)."""
    return _tried and _module is not None
