"""Pure decoders for x86 architectural structures.

Every module here takes bytes/ints and returns frozen dataclasses; none of
them imports ``gdb``. Bad input raises :class:`errors.DecodeError`.
"""

from .errors import DecodeError, FontError, NonCanonicalError

__all__ = ["DecodeError", "FontError", "NonCanonicalError"]
