"""The errors the target layer raises; commands show them as one line."""


class FjError(Exception):
    """A one-line user-facing error (the command name is prefixed later)."""


class NotConnected(FjError):
    """No QEMU gdbstub connection (or the guest is gone)."""
