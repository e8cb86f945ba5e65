"""Running the guest: continue with a timeout, interrupt, reset, internal breakpoints."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import gdb
from farjump_contracts import STAGE1_ADDR

from .errors import FjError
from .qmp import qmp, qmp_path
from .state import STATE


@contextlib.contextmanager
def quiet(enabled: bool):
    """While enabled, GDB's own stdout (stop messages of 'continue', which neither
    to_string nor 'set logging redirect' capture in GDB 13) goes to /dev/null, so that
    --json output stays one JSON document."""
    if not enabled:
        yield
        return
    gdb.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        gdb.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class Progress:
    """While a slow command works: after `after` s, and then every `every` s, a line
    '<what>: still working (N s; Ctrl-C stops it)' on the terminal. Written straight to
    file descriptor 2 from its own thread: the command's gdb.execute(..., to_string=True)
    captures GDB's streams, and quiet() sends fd 1 away. $FJ_PROGRESS_AFTER overrides
    `after` (tests)."""

    def __init__(self, what: str, after: float = 2.0, every: float = 5.0):
        self.what, self.every = what, every
        try:
            self.after = float(os.environ.get("FJ_PROGRESS_AFTER") or after)
        except ValueError:          # a test knob set wrong: the default, not a traceback
            self.after = after
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def _tick(self):
        start = time.monotonic()
        wait = self.after
        while not self._done.wait(wait):
            took = time.monotonic() - start
            try:
                os.write(2, f"{self.what}: still working ({took:.0f} s; Ctrl-C stops "
                            "it)\n".encode())
            except OSError:
                return
            wait = self.every

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()


def continue_with_timeout(timeout: float) -> str:
    """'continue'; interrupt the guest after *timeout* s (0: never). Returns "stopped",
    "timeout", or "interrupted" when the user pressed Ctrl-C (GDB stops the guest with
    SIGINT and 'continue' returns as for any other stop)."""
    fired = threading.Event()
    sigint = []

    def fire():
        fired.set()
        gdb.post_event(_interrupt)

    def on_stop(event):
        if isinstance(event, gdb.SignalEvent) and event.stop_signal == "SIGINT":
            sigint.append(event)

    timer = threading.Timer(timeout, fire) if timeout > 0 else None
    if timer:
        timer.daemon = True
        timer.start()
    gdb.events.stop.connect(on_stop)
    try:
        gdb.execute("continue", to_string=True)
    except KeyboardInterrupt:
        sigint.append(None)
    finally:
        gdb.events.stop.disconnect(on_stop)
        if timer:
            timer.cancel()
    if fired.is_set():
        return "timeout"
    return "interrupted" if sigint else "stopped"


def _interrupt():
    thread = gdb.selected_thread()
    if thread is not None and thread.is_running():
        try:
            gdb.execute("interrupt", to_string=True)
        except gdb.error:
            os.kill(os.getpid(), signal.SIGINT)


def reset_guest() -> None:
    """QEMU 'system_reset', then GDB re-reads the registers; FjError if QEMU is gone."""
    gone = FjError("QEMU exited instead of resetting the guest (started with -no-reboot?); "
                   "restart it and reconnect, e.g. 'make debug'")
    STATE.require_connected()
    try:
        if qmp_path():
            # make debug pauses on a triple fault (-action reboot=shutdown,shutdown=pause),
            # which would turn system_reset into a pause too. SeaBIOS, finding it has run
            # before, then resets the machine once more itself (8042 pulse, then a triple
            # fault on purpose): the pause on faults comes back only at the boot sector.
            qmp(("set-action", {"reboot": "reset"}), ("system_reset", {}))
            _RestoreStopOnFault()
        else:
            STATE.monitor("system_reset")
        gdb.execute("maintenance flush register-cache", to_string=True)
        gdb.selected_frame()           # re-reads the registers: fails if QEMU is gone
    except (FjError, gdb.error):
        if not STATE.connected():
            STATE.forget_connection()
            raise gone from None
        raise
    if not STATE.connected():
        STATE.forget_connection()
        raise gone
    STATE.invalidate()


class _RestoreStopOnFault(gdb.Breakpoint):
    """Internal and silent, at the boot sector (STAGE1_ADDR): once there, QMP set-action
    reboot=shutdown again (a triple fault pauses), and the breakpoint goes."""

    def __init__(self):
        super().__init__(f"*0x{STAGE1_ADDR:x}", internal=True)
        self.silent = True

    def stop(self):
        try:
            qmp(("set-action", {"reboot": "shutdown"}))
        except FjError:
            pass
        gdb.post_event(self.delete)
        return False


def add_to_hook(command: str, line: str) -> bool:
    """Add `line` to hook-COMMAND, the commands GDB runs before COMMAND: define the hook if
    there is none, extend farjump's own (every line a 'fj-' or 'maintenance fj-' command),
    and leave a hook of the user's alone (False: then farjump's line does not run)."""
    try:
        text = gdb.execute(f"show user hook-{command}", to_string=True)
    except gdb.error:
        text = ""
    lines = [ln.strip() for ln in text.splitlines()[1:] if ln.strip()]
    if any(not ln.startswith(("fj-", "maintenance fj-")) for ln in lines):
        return False
    if line not in lines:
        body = "\n".join(lines + [line])
        gdb.execute(f"define hook-{command}\n{body}\nend", to_string=True)
    return True


def breakpoints_by_location() -> dict:
    """Existing user breakpoints by their location string (the first of each)."""
    existing = {}
    for bp in gdb.breakpoints():
        if bp.location:
            existing.setdefault(bp.location, bp)
    return existing


def breakpoint(location: str, internal: bool = False):
    """A new breakpoint (internal ones are silent: the tour prints its own stops)."""
    bp = gdb.Breakpoint(location, internal=internal)
    if internal:
        bp.silent = True
    return bp
