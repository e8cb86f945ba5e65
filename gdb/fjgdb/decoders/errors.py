"""The one error type raised by every decoder on malformed input."""


class DecodeError(ValueError):
    """Input cannot be decoded (wrong length, reserved bits, bad text...)."""


class NonCanonicalError(DecodeError):
    """A linear address is not canonical (bits 63:47 not all equal)."""


class FontError(DecodeError):
    """A PSF console font is missing or malformed."""
