"""QEMU's curses display on a pseudo-terminal that this process relays to the user's
terminal, so that one key typed as such quits (QEMU's own Esc-2 must arrive within ~25 ms,
which typing by hand rarely manages, and Ctrl-C goes to the guest)."""
from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import struct
import sys
import termios
import tty

QUIT_KEY = b"\x1d"          # Ctrl-]: as telnet; no guest needs it
QUIT_NAME = "Ctrl-]"


def copy_winsize(src_fd: int, dst_fd: int) -> None:
    try:
        size = fcntl.ioctl(src_fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(dst_fd, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def open_pty() -> tuple[int, int]:
    """(master, slave), the slave as large as this terminal."""
    master, slave = os.openpty()
    copy_winsize(sys.stdin.fileno(), slave)
    return master, slave


def relay(master: int, on_quit) -> bool:
    """Copy the user's keys to `master` and its output to the user's terminal (raw mode)
    until the other side closes; the quit key calls on_quit() instead of being sent.
    Returns True if the user typed the quit key."""
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    saved = termios.tcgetattr(stdin)
    old_winch = signal.signal(signal.SIGWINCH,
                              lambda *_: copy_winsize(stdin, master))
    quit_typed = False
    try:
        tty.setraw(stdin)
        while True:
            try:
                ready, _, _ = select.select([stdin, master], [], [], 0.5)
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:
                    if e.errno == errno.EIO:      # QEMU closed the terminal: it ended
                        break
                    raise
                if not data:
                    break
                os.write(stdout, data)
            if stdin in ready:
                keys = os.read(stdin, 1024)
                if QUIT_KEY in keys:
                    quit_typed = True
                    keys = keys.split(QUIT_KEY, 1)[0]
                if keys:
                    os.write(master, keys)
                if quit_typed:
                    on_quit()           # QEMU ends; its terminal closes; the loop ends
    finally:
        termios.tcsetattr(stdin, termios.TCSAFLUSH, saved)
        signal.signal(signal.SIGWINCH, old_winch)
    return quit_typed
