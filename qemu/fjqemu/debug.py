"""QEMU paused with a gdbstub, and GDB attached with farjump loaded (python3 -m fjqemu.debug,
or scripts/debug).

  scripts/debug            (make debug) QEMU + GDB, stopped at stage1_start; quitting GDB
                           ends QEMU
  scripts/debug --server   (make debug-server) QEMU only; prints the port, writes it to
                           build/gdb-port and waits (Ctrl-C ends QEMU)
  scripts/debug --attach   (make gdb) GDB only, attached to a running debug-server; runs
                           to stage1_start if the guest is still at the reset vector, else
                           stays where the guest stopped (an earlier GDB ran it)

Port: $GDBPORT, else 1234 if free (else any free port) for --server; --attach uses
$GDBPORT, else build/gdb-port, else 1234. Without $DISPLAY QEMU runs with
'-display none'; COM1 goes to build/serial.log, QEMU's own output to build/qemu.log (a
session started while another runs: build/session-PID/, and only the first writes
build/gdb-port).
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from . import BUILD, ROOT, FjError
from .cmdline import QEMU, qemu_command, x_display_problem
from .gdbrun import GDB, gdb_command
from .imagecheck import image_problem
from .procs import die_with_parent, end_group
from .sessions import SessionLogs, session_logs

PORT_FILE = BUILD / "gdb-port"
ATTACH = Path(__file__).with_name("gdb_attach.py")   # run inside GDB by 'make gdb'
QEMU_PROC: subprocess.Popen | None = None   # set as soon as QEMU starts; stopped on the way out


def fail(msg: str) -> "NoReturn":  # noqa: F821
    print(f"debug: {msg}", file=sys.stderr)
    sys.exit(1)


def read_port(text: str, source: str) -> int:
    """A TCP port number from $GDBPORT or build/gdb-port; a clear error otherwise."""
    words = text.split()
    if len(words) == 1 and words[0].isdigit() and 1 <= int(words[0]) <= 65535:
        return int(words[0])
    if not words:
        fail(f"{source} is empty; want a port number (1-65535)")
    fail(f"{source} holds {text.strip()[:40]!r}, not a port number (1-65535)")


def env_port() -> int | None:
    if os.environ.get("GDBPORT"):
        return read_port(os.environ["GDBPORT"], "$GDBPORT")
    return None


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def stub_busy(port: int, wait: float = 2.0) -> bool:
    """True when the listener on `port` does not answer a GDB packet within `wait` s: QEMU's
    gdbstub serves one GDB at a time and leaves a second connection unanswered. (A free
    stub answers; the probe's disconnect leaves the guest as it was.)"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
            s.sendall(b"+$?#3f")            # ack, then "why did you stop?"
            s.recv(64)
            return False
    except socket.timeout:
        return True
    except OSError:
        return False                        # refused or reset: GDB itself will say


def pick_port() -> int:
    port = env_port()
    if port is not None:
        return port
    if port_free(1234):
        return 1234
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_qemu(image: Path, port: int, logs: SessionLogs) -> subprocess.Popen:
    global QEMU_PROC
    if not image.exists():
        fail(f"no disk image at {image} (run 'make')")
    problem = image_problem(image)
    if problem:
        fail(problem)
    if logs.own_dir:
        print(f"debug: another session uses build/serial.log; this one's COM1 goes to "
              f"{logs.serial}, QEMU's output to {logs.qemu}", flush=True)
    # A reset resets (no -no-reboot): 'fj tour --reset' and 'monitor system_reset' work.
    # Without $DISPLAY: no window and no monitor; with it, QEMU's window and its monitor.
    headless = not os.environ.get("DISPLAY")
    problem = None if headless else x_display_problem(os.environ["DISPLAY"])
    if problem:
        fail(f"$DISPLAY is {os.environ['DISPLAY']} but {problem}; unset it to run QEMU "
             "without a window: env -u DISPLAY make debug")
    # A triple fault pauses the CPU on the faulting instruction (stop_on_fault) and QEMU's
    # exception log goes to int.log, for 'fj why'; fj reset still resets (through the
    # second QMP socket, $FJ_QMP: see gdb_env).
    cmd = qemu_command(image, display="none" if headless else None,
                       monitor="none" if headless else None,
                       serial=f"file:{logs.serial}", reboot=True, gdb_port=port,
                       stop_on_fault=True, int_log=logs.dir / "int.log",
                       gdb_qmp=gdb_qmp_socket(port))
    log_path = logs.qemu
    try:
        with open(log_path, "wb") as log:
            # Its own session: Ctrl-C in GDB must not reach QEMU. die_with_parent: QEMU
            # ends when this process dies, even by SIGKILL.
            QEMU_PROC = proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, preexec_fn=die_with_parent)
    except FileNotFoundError:
        fail(f"'{QEMU}' not found (set QEMU=..., or 'make deps' installs qemu-system-x86)")
    except OSError as e:
        fail(f"cannot write {log_path}: {e.strerror}")
    deadline = time.monotonic() + 10
    while port_free(port):
        if proc.poll() is not None:
            lines = log_path.read_text(errors="replace").strip().splitlines()
            fail(f"QEMU exited at start (status {proc.returncode})"
                 + (f": {lines[-1].strip()}" if lines else "") + f"; see {log_path}")
        if time.monotonic() > deadline:
            fail(f"QEMU's gdbstub did not open port {port}; see {log_path}")
        time.sleep(0.05)
    return proc


def gdb_args(port: int, stop_at_stage1, extra: list[str]) -> list[str]:
    if stop_at_stage1 == "if-at-reset":
        return gdb_command(batch=False, port=port, scripts=[ATTACH], extra=extra)
    cmds = ["tbreak stage1_start", "continue"] if stop_at_stage1 else []
    return gdb_command(*cmds, batch=False, port=port, extra=extra)


def gdb_qmp_socket(port: int) -> Path:
    """The QMP socket for GDB of the QEMU whose gdbstub is on `port`: outside build/ (a
    socket left behind would break copying the tree), found again from the port by make
    gdb."""
    return Path(tempfile.gettempdir()) / f"farjump-{os.getuid()}-gdb-qmp-{port}.sock"


def gdb_env(logs_dir: Path, port: int) -> dict:
    """The environment of farjump's GDB for a QEMU started by start_qemu: fj why reads
    QEMU's exception log ($FJ_INTLOG), fj reset uses the second QMP socket ($FJ_QMP)."""
    return dict(os.environ, FJ_INTLOG=str(logs_dir / "int.log"),
                FJ_QMP=str(gdb_qmp_socket(port)))


def run_gdb(port: int, stop_at_stage1, extra: list[str], logs_dir: Path = BUILD) -> int:
    # GDB owns the terminal and Ctrl-C; this process only waits for it.
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(gdb_args(port, stop_at_stage1, extra), cwd=ROOT,
                               env=gdb_env(logs_dir, port))
    except FileNotFoundError:
        fail(f"'{GDB}' not found (set GDB=..., or 'make deps' installs gdb)")
    finally:
        signal.signal(signal.SIGINT, old)


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/debug", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Arguments after '--' go to GDB, e.g. "
                                        "scripts/debug -- -tui")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--server", action="store_true",
                   help="start QEMU only (make debug-server); Ctrl-C ends it")
    g.add_argument("--attach", action="store_true",
                   help="start GDB only, attached to a running debug-server (make gdb)")
    ap.add_argument("--image", default=str(BUILD / "disk.img"),
                    help="disk image to boot (default: build/disk.img)")
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    args = ap.parse_args(argv)

    if args.attach:
        port = env_port()
        if port is None and PORT_FILE.exists():
            try:
                text = PORT_FILE.read_text(errors="replace")
            except OSError as e:
                fail(f"cannot read {PORT_FILE}: {e.strerror}")
            port = read_port(text, str(PORT_FILE))
        if port is None:
            port = 1234
        if port_free(port):
            fail(f"nothing listens on port {port}; start 'make debug-server' first")
        if stub_busy(port):
            fail(f"port {port} does not answer: a GDB is already attached to that QEMU "
                 f"(a 'make debug' or 'make gdb' in another terminal?); quit that GDB first, "
                 f"or start another 'make debug-server'")
        return run_gdb(port, "if-at-reset", extra)

    port = pick_port()
    if not port_free(port):
        fail(f"port {port} is in use (set GDBPORT=...)")

    def on_signal(signum, _frame):
        # Only unwind here: the finally below stops QEMU. (Waiting for QEMU inside the
        # handler could deadlock with an interrupted Popen.wait().)
        raise SystemExit(128 + signum)

    # SIGQUIT (Ctrl-\\ at the GDB prompt) too: it would otherwise end this process without
    # the finally below.
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, on_signal)
    try:
        logs = session_logs()
    except FjError as e:
        fail(str(e))
    wrote_port = False
    try:
        start_qemu(Path(args.image), port, logs)
        if args.server:
            where = f"also in {PORT_FILE}"
            if logs.own_dir:
                where = f"GDBPORT={port} make gdb: build/gdb-port is another session's"
            else:
                try:
                    PORT_FILE.write_text(f"{port}\n")
                    wrote_port = True
                except OSError as e:
                    where = f"cannot write {PORT_FILE}: {e.strerror}; use GDBPORT={port}"
            print(f"debug-server: QEMU paused with its gdbstub on 127.0.0.1:{port} "
                  f"({where}).")
            print("debug-server: run 'make gdb' in another terminal; Ctrl-C here ends QEMU.",
                  flush=True)
            try:
                QEMU_PROC.wait()
            except KeyboardInterrupt:
                pass        # the documented way to end the server
            return 0
        return run_gdb(port, True, extra, logs.dir)
    except KeyboardInterrupt:
        print("debug: interrupted; QEMU stopped", file=sys.stderr)
        return 130
    finally:
        # Ignore further Ctrl-C/SIGTERM while QEMU is being stopped.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_IGN)
        end_group(QEMU_PROC)
        gdb_qmp_socket(port).unlink(missing_ok=True)
        if wrote_port:
            PORT_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
