"""QEMU paused with a gdbstub, and GDB attached with farjump loaded (python3 -m fjqemu.debug,
or scripts/debug).

  scripts/debug            (make debug) QEMU + GDB, stopped at stage1_start; quitting GDB
                           ends QEMU
  scripts/debug --boot multiboot|grub   (make debug BOOT=...) the kernel booted by QEMU's
                           -kernel or by GRUB, stopped at mb_entry (fjqemu.bootpaths)
  scripts/debug --boot uefi   OVMF runs until farjump's UEFI loader says its ImageBase on
                           COM1 and waits; GDB then loads build/uefi.so there and stops at
                           uefi_main
  scripts/debug --server   (make debug-server) QEMU only; prints the port, writes it to
                           build/gdb-port and waits (Ctrl-C ends QEMU)
  scripts/debug --attach   (make gdb) GDB only, attached to a running debug-server; runs
                           to stage1_start if the guest is still at the reset vector, else
                           stays where the guest stopped (an earlier GDB ran it)

--image IMAGE (make debug IMAGE=...): boot another image; for build/fault/NAME.img GDB
loads build/fault/kernel-NAME.elf's symbols instead of build/kernel.elf.

Any other guest (docs/your-kernel.md): --image, --cdrom, --kernel/--append/--initrd,
--arch i386, --smp N, --symbols a.elf,b.elf@OFFSET (make debug IMAGE= CDROM= KERNEL=
APPEND= ARCH= SMP= SYMBOLS=; fjqemu/machine.py): GDB then loads only those symbols and
stops at the reset vector. --attach takes them too (make gdb ARCH= SYMBOLS=).

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

from . import BUILD, ROOT, FjError, split_passthrough
from .cmdline import QEMU, qemu_command, x_display_problem
from .gdbrun import GDB, gdb_command, session_syntax
from .bootpaths import boot_problem, gdb_entry_commands, uefi_image_base
from .elf import ElfError
from .machine import Machine, MachineError, matching_kernel
from .procs import die_with_parent, end_group
from .sessions import SessionLogs, session_logs

PORT_FILE = BUILD / "gdb-port"
ATTACH = Path(__file__).with_name("gdb_attach.py")   # run inside GDB by 'make gdb'
QEMU_PROC: subprocess.Popen | None = None   # set as soon as QEMU starts; stopped on the way out
GDB_PROC: subprocess.Popen | None = None    # GDB under 'make debug'; ended on the way out too


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


def start_qemu(machine: Machine, port: int, logs: SessionLogs) -> subprocess.Popen:
    global QEMU_PROC
    image, boot = machine.image, machine.boot
    if image is not None and not machine.kernel and not machine.cdrom:
        problem = boot_problem(boot, image)
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
    sweep_stale_qmp_sockets()
    cmd = qemu_command(image, display="none" if headless else None,
                       monitor="none" if headless else None,
                       serial=f"file:{logs.serial}", reboot=True, gdb_port=port,
                       paused=boot != "uefi", wait_for_gdb=boot == "uefi",
                       stop_on_fault=True, int_log=logs.dir / "int.log",
                       gdb_qmp=gdb_qmp_socket(port), **machine.qemu_kwargs())
    if machine.foreign:
        print(f"debug: {machine.describe()}; COM1 goes to {logs.serial}", flush=True)
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


def kernel_symbols(image: Path | None, boot: str = "bios") -> Path | None:
    """The kernel ELF (with DWARF) that goes with `image`: build/fault/NAME.img ->
    kernel-NAME.elf beside it. None for build/disk.img (GDB's default build/kernel.elf)
    and, with a note, for an image without one; None for the other ways in (BOOT=...),
    whose files are the kernel itself or carry build/kernel.elf."""
    if image is None or boot != "bios":
        return None
    try:
        if image.resolve() == (BUILD / "disk.img").resolve():
            return None
    except OSError:
        return None
    elf = matching_kernel(image)
    if elf is not None:
        return elf
    print(f"debug: no kernel-{image.stem}.elf beside {image}: GDB loads build/kernel.elf's symbols, "
          f"which may not match that image's kernel", file=sys.stderr)
    return None


UEFI_WAIT = 90   # seconds for OVMF to reach farjump's UEFI loader (about 5 s under TCG)


def wait_uefi_base(proc: subprocess.Popen, serial: Path) -> int:
    """The ImageBase the waiting UEFI loader wrote to COM1 (bounded)."""
    deadline = time.monotonic() + UEFI_WAIT
    while True:
        try:
            base = uefi_image_base(serial.read_text(errors="replace"))
        except OSError:
            base = None
        if base is not None:
            return base
        if proc.poll() is not None:
            fail(f"QEMU exited before the UEFI loader reported its ImageBase; see {serial}")
        if time.monotonic() > deadline:
            fail(f"the UEFI loader did not report its ImageBase on COM1 within {UEFI_WAIT} s "
                 f"(OVMF did not boot build/efi.img?); see {serial}")
        time.sleep(0.1)


def gdb_args(port: int, stop_at_stage1, extra: list[str], machine: Machine | None = None,
             image_base: int | None = None, kernel: Path | None = None) -> list[str]:
    if machine is not None and machine.foreign:
        # farjump's commands without farjump's symbols; stopped at the reset vector
        return gdb_command(batch=False, symbols=False, port=port,
                           setup=machine.gdb_setup(), extra=extra)
    boot = machine.boot if machine is not None else "bios"
    if stop_at_stage1 == "if-at-reset":
        cmds = []
        if boot in ("multiboot", "grub"):       # mb_entry's symbols; gdb_attach stops there
            try:
                cmds = gdb_entry_commands(boot)[:1] + ["set $fj_multiboot = 1"]
            except ElfError as e:
                fail(str(e))
        return gdb_command(*cmds, batch=False, port=port, scripts=[ATTACH], extra=extra,
                           kernel=kernel)
    try:
        cmds = gdb_entry_commands(boot, image_base=image_base) if stop_at_stage1 else []
    except ElfError as e:
        fail(str(e))
    return gdb_command(*cmds, batch=False, port=port, extra=extra, kernel=kernel)


def gdb_qmp_socket(port: int) -> Path:
    """The QMP socket for GDB of the QEMU whose gdbstub is on `port`: outside build/ (a
    socket left behind would break copying the tree), found again from the port by make
    gdb."""
    return Path(tempfile.gettempdir()) / f"farjump-{os.getuid()}-gdb-qmp-{port}.sock"


def sweep_stale_qmp_sockets() -> int:
    """Remove this user's gdb_qmp_socket files that no QEMU listens on any more (a session
    ended by SIGKILL cannot remove its own). Returns how many went."""
    gone = 0
    for path in Path(tempfile.gettempdir()).glob(f"farjump-{os.getuid()}-gdb-qmp-*.sock"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(0.5)
            s.connect(str(path))
        except ConnectionRefusedError:      # a socket file nobody listens on: stale
            try:
                path.unlink()
                gone += 1
            except OSError:
                pass
        except OSError:                     # busy, not a socket, ...: leave it alone
            pass
        finally:
            s.close()
    return gone


def gdb_env(logs_dir: Path, port: int) -> dict:
    """The environment of farjump's GDB for a QEMU started by start_qemu: fj why reads
    QEMU's exception log ($FJ_INTLOG), fj reset uses the second QMP socket ($FJ_QMP)."""
    return dict(os.environ, FJ_INTLOG=str(logs_dir / "int.log"),
                FJ_QMP=str(gdb_qmp_socket(port)))


def run_gdb(port: int, stop_at_stage1, extra: list[str], machine: Machine | None = None,
            image_base: int | None = None, kernel: Path | None = None,
            logs_dir: Path = BUILD) -> int:
    # GDB owns the terminal and Ctrl-C; this process only waits for it.
    global GDB_PROC
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # Same process group as this one (GDB needs the terminal): a Ctrl-\\ at its prompt
        # reaches both; GDB itself ignores SIGQUIT, so end_gdb() ends it on the way out.
        GDB_PROC = subprocess.Popen(gdb_args(port, stop_at_stage1, extra, machine,
                                            image_base, kernel), cwd=ROOT,
                                    env=gdb_env(logs_dir, port))
        return GDB_PROC.wait()
    except FileNotFoundError:
        fail(f"'{GDB}' not found (set GDB=..., or 'make deps' installs gdb)")
    finally:
        signal.signal(signal.SIGINT, old)


def end_gdb() -> None:
    """End GDB if it still runs (this process was signalled while GDB had the terminal):
    SIGTERM (GDB quits cleanly and gives the terminal back), SIGKILL after 5 s."""
    if GDB_PROC is None or GDB_PROC.poll() is not None:
        return
    GDB_PROC.terminate()
    try:
        GDB_PROC.wait(timeout=5)
    except subprocess.TimeoutExpired:
        GDB_PROC.kill()
        GDB_PROC.wait(timeout=10)


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
    Machine.add_arguments(ap)
    argv, extra = split_passthrough(sys.argv[1:])
    args = ap.parse_args(argv)
    if not args.server:
        try:
            session_syntax()        # a bad $FJ_SYNTAX is said before anything starts
        except FjError as e:
            fail(str(e))
    try:
        if args.attach:   # GDB only: what matters is the architecture and the symbols
            machine = Machine.from_args(args) if (args.image or args.cdrom or args.kernel
                                                  or args.symbols or args.arch != "x86_64"
                                                  or args.boot != "bios") \
                else None
        else:
            machine = Machine.from_args(args)
    except MachineError as e:
        fail(str(e))

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
        if machine is not None and machine.boot == "uefi":
            fail("make gdb with BOOT=uefi is not supported: use make debug BOOT=uefi")
        return run_gdb(port, "if-at-reset", extra, machine,
                       kernel=kernel_symbols(machine.image, machine.boot) if machine else None)

    port = pick_port()
    if not port_free(port):
        fail(f"port {port} is in use (set GDBPORT=...)")

    def on_signal(signum, _frame):
        # Only unwind here: the finally below stops GDB and QEMU. (Waiting for them inside
        # the handler could deadlock with an interrupted Popen.wait().)
        if signum == signal.SIGQUIT and GDB_PROC is not None:
            print("\ndebug: quit (Ctrl-\\): GDB and QEMU stopped", file=sys.stderr)
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
        proc = start_qemu(machine, port, logs)
        if args.server and machine.boot == "uefi":
            fail("make debug-server with BOOT=uefi is not supported: use make debug BOOT=uefi")
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
        base = None
        if machine.boot == "uefi":
            print("debug: OVMF is booting (about 5 s) until farjump's UEFI loader waits for "
                  "GDB...", flush=True)
            base = wait_uefi_base(proc, logs.serial)
            print(f"debug: UEFI loader at ImageBase 0x{base:x}", flush=True)
        return run_gdb(port, True, extra, machine, base,
                       kernel_symbols(machine.image, machine.boot), logs.dir)
    except KeyboardInterrupt:
        print("debug: interrupted; QEMU stopped", file=sys.stderr)
        return 130
    finally:
        # Ignore further Ctrl-C/SIGTERM while QEMU is being stopped.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_IGN)
        end_gdb()
        end_group(QEMU_PROC)
        gdb_qmp_socket(port).unlink(missing_ok=True)
        if wrote_port:
            PORT_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
