"""The GDB connection to QEMU's gdbstub: is there one, the monitor, raw packets."""
from __future__ import annotations

import gdb

from .errors import FjError, NotConnected

QEMU_GONE = ("QEMU is gone (its gdbstub connection closed); what fj knew of the CPU was "
             "dropped: restart QEMU and reconnect, e.g. 'make debug'")


class Connection:
    """Mixed into :class:`fjgdb.target.state.State`."""

    @staticmethod
    def connection():
        inf = gdb.selected_inferior()
        conn = getattr(inf, "connection", None)
        if conn is None or inf.pid == 0 or gdb.selected_thread() is None:
            return None
        return conn

    def require_connected(self, allow_running: bool = False):
        """The remote connection, or FjError. *allow_running* is for the disassembler and
        unwinder, which GDB calls while it handles a stop, before the thread is marked
        stopped (the target itself is stopped then)."""
        conn = self.connection()
        if conn is None:
            raise NotConnected("not connected to QEMU (run 'target remote HOST:PORT', "
                               "or use 'make debug')")
        if conn.type not in ("remote", "extended-remote"):
            raise NotConnected(f"the target is '{conn.type}', not QEMU's gdbstub "
                               "(target remote HOST:PORT)")
        thread = gdb.selected_thread()
        if not allow_running and thread is not None and thread.is_running():
            raise FjError("the guest is running (continue &); stop it first with "
                          "'interrupt'")
        return conn

    def connected(self, allow_running: bool = False) -> bool:
        try:
            self.require_connected(allow_running)
            return True
        except FjError:
            return False

    def monitor(self, command: str, allow_running: bool = False) -> str:
        """A QEMU monitor command's output (``monitor CMD`` through the gdbstub)."""
        self.require_connected(allow_running)
        try:
            return gdb.execute(f"monitor {command}", to_string=True)
        except gdb.error as e:
            raise FjError(f"QEMU monitor command '{command}' failed: {e}")

    def check_alive(self) -> None:
        """While GDB holds a stopped QEMU connection, one cheap packet ('qC') proves that
        QEMU is still there: GDB only notices a dead QEMU at its next packet, and until
        then the per-stop cache would show the dead machine as live. If it is gone, the
        cache is dropped and NotConnected says so. Nothing is sent otherwise."""
        inf = gdb.selected_inferior()
        conn = getattr(inf, "connection", None)
        thread = gdb.selected_thread()
        if conn is None or inf.pid == 0 or thread is None or thread.is_running() \
                or conn.type not in ("remote", "extended-remote"):
            return
        self.packet(conn, "qC")

    def packet(self, conn, text: str) -> str:
        """Send one remote-protocol packet; NotConnected (and the cache dropped) if QEMU
        is gone."""
        try:
            reply = conn.send_packet(text)
        except RuntimeError:            # "Connection no longer exists": GDB dropped it
            self.forget_connection()
            raise NotConnected(QEMU_GONE) from None
        except gdb.error:
            if self.connection() is None or not conn.is_valid():
                self.forget_connection()
                raise NotConnected(QEMU_GONE) from None
            raise
        return reply.decode("latin-1") if isinstance(reply, bytes) else str(reply)
