"""scripts/bochs-run (python3 -m fjqemu.bochs): boot a disk image in Bochs headless, driven by a file of Bochs debugger commands.

A bounded, scripted Bochs session for regression boots: Bochs runs with qemu/bochsrc, its "term" display on a pseudo-terminal nobody reads, standard input from
/dev/null and in its own session and process group (so it cannot take over the terminal
this runs in). The debugger's transcript (every command from the file and its output) goes
to the output file. When the time limit is reached, the whole process group is killed
(SIGKILL: Bochs's term display ignores SIGTERM) and the exit status is 124.

The command file is what you would type at the <bochs:N> prompt, one command per line,
e.g.
    c                      # run to the first magic breakpoint (stage1_start)
    r
    sreg
    c                      # ... and so on, one `c` per magic breakpoint
    writemem "vga.bin" 0xb8000 4000
    quit
End it with `quit`. Under `c` the kernel's final `cli; hlt` runs for ever, so stop at the
last magic breakpoint (just before the halt) and quit there. A file that runs out without
`quit` makes Bochs read standard input, which is /dev/null here: Bochs then exits with
status 1, and this script says so.

Exit status: 0 when Bochs exited normally (the file reached `quit`); 124 on timeout; 2 for
bad arguments (missing image, command file, bochsrc, or no bochs); otherwise Bochs's own
non-zero status (1 for a PANIC such as a triple fault, or a command file without `quit`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import threading
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

from . import BOCHSRC, FjError, ROOT
from .imagecheck import image_problem
from .procs import die_with_parent, kill_group

PROG = "bochs-run"
BOCHS = os.environ.get("BOCHS", "bochs")


class Terminated(Exception):
    """SIGTERM or SIGHUP arrived (args[0] is the signal number)."""


def die(msg: str, status: int = 2) -> "NoReturn":  # noqa: F821
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(status)


def bochsrc_quote(path: Path) -> str:
    """A path as a bochsrc value (quoted; Bochs has no escape for '"')."""
    text = str(path)
    if '"' in text:
        raise FjError(f'path contains a double quote, which a bochsrc cannot express: {text}')
    return f'"{text}"'


def bochs_command(bochs: str, bochsrc: Path, rc: Path, image: Path, *, serial: Path,
                  log: Path, debugger_log: Path, symbols: Path | None = None,
                  options=()) -> list[str]:
    """THE headless Bochs command line (scripts/bochs-run, make bench): bochsrc lines on
    the command line are read after the bochsrc file and override it."""
    q = bochsrc_quote
    cmd = [bochs, "-q", "-f", str(bochsrc.resolve()), "-rc", str(rc.resolve()),
           f"ata0-master: type=disk, path={q(image.resolve())}, mode=volatile",
           f"com1: enabled=1, mode=file, dev={q(serial.resolve())}",
           f"log: {q(log.resolve())}",
           f"debugger_log: {q(debugger_log.resolve())}",
           # Nobody can answer "ask" here: a PANIC (e.g. a triple fault) ends the run.
           "panic: action=fatal"]
    if symbols:
        cmd.append(f"debug_symbols: file={q(symbols.resolve())}")
    return cmd + list(options)


def cdrom_lines(iso: Path) -> list[str]:
    """bochsrc lines that put `iso` in a CD-ROM drive (secondary ATA master) and boot from
    it: GRUB from build/farjump.iso (make bochs BOOT=grub)."""
    return ["ata1: enabled=1, ioaddr1=0x170, ioaddr2=0x370, irq=15",
            f"ata1-master: type=cdrom, path={bochsrc_quote(iso.resolve())}, status=inserted",
            "boot: cdrom"]


# The term display with no options: Bochs's screen goes to a pseudo-terminal (drained).
HEADLESS_ENV = {"BOCHS_DISPLAY": "term", "BOCHS_DISPLAY_OPTIONS": ""}


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="scripts/bochs-run",
        description="Boot a disk image in Bochs without a display, run a file of Bochs "
                    "debugger commands (-rc), and write the debugger's output to a file. "
                    "Bounded in time: on timeout the whole Bochs process group is killed "
                    "and the exit status is 124.",
        epilog="Example: scripts/bochs-run -rc my.rc -o build/my-run.log --timeout 30\n"
               "Extra arguments are bochsrc lines, read after the bochsrc (later wins), e.g.\n"
               "  scripts/bochs-run -rc my.rc -o out.log 'megs: 128'\n"
               "End the command file with `quit`: `c` after the kernel's final `cli; hlt`\n"
               "never returns. See docs/bochs.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-rc", "--rc", dest="rc", metavar="CMDFILE", required=True,
                   help="file of Bochs debugger commands, one per line (required)")
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="debugger transcript: the commands and their output "
                        "(default: build/bochs-run.log)")
    p.add_argument("--image", metavar="IMG", default=None,
                   help="raw hard-disk image to boot (default: build/disk.img); opened "
                        "read-only, Bochs's writes go to a deleted redo log")
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=60.0,
                   help="kill Bochs after this many seconds (default: 60)")
    p.add_argument("--serial", metavar="FILE", default=None,
                   help="COM1 output (default: OUTPUT with .serial.log)")
    p.add_argument("--log", metavar="FILE", default=None,
                   help="Bochs's own log (default: OUTPUT with .bochs.log)")
    p.add_argument("--console", metavar="FILE", default=None,
                   help="Bochs's standard output and error: port E9h output, PANIC "
                        "messages (default: OUTPUT with .console.log)")
    p.add_argument("--symbols", metavar="FILE", default=None,
                   help='Bochs symbol file ("ADDRESS NAME" lines, e.g. build/bochs.sym from '
                        "'make build/bochs.sym'): addresses then print as symbol+offset")
    p.add_argument("--bochsrc", metavar="FILE", default=str(BOCHSRC),
                   help="Bochs configuration (default: qemu/bochsrc)")
    p.add_argument("--bochs", metavar="PROGRAM", default=BOCHS,
                   help="Bochs executable (default: $BOCHS or bochs)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print nothing on success")
    p.add_argument("options", nargs="*", metavar="BOCHSRC_LINE",
                   help="extra bochsrc lines, applied after the bochsrc")
    return p.parse_args(argv)


def derived(output: Path, suffix: str) -> Path:
    name = output.name
    stem = name[:-len(output.suffix)] if output.suffix else name
    return output.with_name(stem + suffix)


def tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def drain_screen(console: Path, proc: subprocess.Popen) -> None:
    """Read (and drop) the term display's curses output.

    With the debugger compiled in, Bochs's term display draws the screen on a new
    pseudo-terminal and prints 'Bochs connected to screen "/dev/pts/N"'. Nobody reads that
    terminal in a headless run, and a guest that prints enough would fill its buffer and
    block Bochs, so read it until Bochs closes it.
    """
    pattern = re.compile(r'Bochs connected to screen "([^"]+)"')
    deadline = time.monotonic() + 30
    name = None
    while name is None and proc.poll() is None and time.monotonic() < deadline:
        try:
            m = pattern.search(console.read_text(errors="replace"))
        except OSError:
            m = None
        if m:
            name = m.group(1)
        else:
            time.sleep(0.02)
    if name is None:
        return
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return
    try:
        while os.read(fd, 65536):
            pass
    except OSError:  # EIO once Bochs closes the master side
        pass
    finally:
        os.close(fd)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)

    rc = Path(args.rc)
    if not rc.is_file():
        die(f"no debugger command file at {rc}")
    image = Path(args.image) if args.image else ROOT / "build" / "disk.img"
    if not image.is_file():
        hint = " (run 'make' first)" if args.image is None else ""
        die(f"no disk image at {image}{hint}")
    problem = image_problem(image)
    if problem:
        die(problem)
    bochsrc = Path(args.bochsrc)
    if not bochsrc.is_file():
        die(f"no bochsrc at {bochsrc}")
    if args.symbols and not Path(args.symbols).is_file():
        die(f"no symbol file at {args.symbols} (make build/bochs.sym makes one)")
    if args.timeout <= 0:
        die("--timeout must be positive")
    bochs = shutil.which(args.bochs)
    if bochs is None:
        die(f"'{args.bochs}' not found on PATH (install Debian's bochs, bochsbios, vgabios, "
            "bochs-term: make deps)")

    output = Path(args.output) if args.output else ROOT / "build" / "bochs-run.log"
    if args.output is None:
        output.parent.mkdir(exist_ok=True)      # build/, next to the default image
    serial = Path(args.serial) if args.serial else derived(output, ".serial.log")
    log = Path(args.log) if args.log else derived(output, ".bochs.log")
    console = Path(args.console) if args.console else derived(output, ".console.log")
    # Output files go into existing directories only: a mistyped path is an error, not a
    # new directory.
    for f, opt in ((output, "-o"), (serial, "--serial" if args.serial else "-o"),
                   (log, "--log" if args.log else "-o"),
                   (console, "--console" if args.console else "-o")):
        if f.is_dir():
            die(f"{opt}: {f} is a directory; give a file name")
        if not f.parent.is_dir():
            die(f"{opt}: no directory {f.parent} for {f}")
    # Stale files from an earlier run must not pass for this run's results. (COM1's file is
    # only created at the first byte the guest sends.)
    for f in (output, serial, log):
        try:
            f.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            die(f"cannot remove the old {f}: {e.strerror}")

    try:
        cmd = bochs_command(bochs, bochsrc, rc, image, serial=serial, log=log,
                            debugger_log=output,
                            symbols=Path(args.symbols) if args.symbols else None,
                            options=args.options)
    except FjError as e:
        die(str(e))
    env = dict(os.environ, **HEADLESS_ENV)

    # SIGTERM and SIGHUP end the run as Ctrl-C does: Bochs's process group is killed too
    # (it is in a session of its own, which a signal to this process's group misses).
    def on_signal(signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        raise Terminated(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    start = time.monotonic()
    try:
        con = open(console, "wb")
    except OSError as e:
        die(f"cannot write {console}: {e.strerror}")
    with con:
        # start_new_session: setsid(), so Bochs (and anything it starts) has its own
        # process group to kill and no controlling terminal to take over.
        proc = None
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=con, stderr=con,
                                    env=env, start_new_session=True,
                                    preexec_fn=die_with_parent)
            threading.Thread(target=drain_screen, args=(console, proc), daemon=True).start()
            status = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            print(f"{PROG}: TIMEOUT: Bochs was still running after {args.timeout:g} s; "
                  f"killed its process group ({proc.pid}).", file=sys.stderr)
            print(f"{PROG}: a `c` that never returns is the usual cause: after the kernel's "
                  "final `cli; hlt` nothing stops Bochs. Stop at the last magic breakpoint "
                  "and `quit`.", file=sys.stderr)
            last = tail(output, 6)
            if last:
                print(f"{PROG}: last debugger output ({output}):\n{last}", file=sys.stderr)
            return 124
        except (KeyboardInterrupt, Terminated) as e:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if proc is not None:
                kill_group(proc)
                print(f"{PROG}: interrupted; killed Bochs's process group ({proc.pid})",
                      file=sys.stderr)
            return 128 + e.args[0] if isinstance(e, Terminated) else 130
    elapsed = time.monotonic() - start

    transcript = output.read_text(errors="replace") if output.is_file() else ""
    if status != 0:
        print(f"{PROG}: Bochs exited with status {status} after {elapsed:.1f} s",
              file=sys.stderr)
        con_text = console.read_text(errors="replace") if console.is_file() else ""
        if "Bochs is exiting with the following message:" in con_text:
            msg = con_text.split("Bochs is exiting with the following message:", 1)[1]
            msg = msg.strip().strip("=").strip().splitlines()[0]
            print(f"{PROG}: Bochs said: {msg}", file=sys.stderr)
        if "fgets() returned ERROR" in transcript:
            print(f"{PROG}: the command file ended without `quit` (Bochs then read "
                  "standard input, which is /dev/null). Add `quit` as its last line.",
                  file=sys.stderr)
        if "ERROR in source file causes exit" in transcript or "syntax error" in transcript:
            print(f"{PROG}: Bochs rejected a line of {rc}; see {output}", file=sys.stderr)
        last = tail(output, 6)
        if last:
            print(f"{PROG}: last debugger output ({output}):\n{last}", file=sys.stderr)
        print(f"{PROG}: Bochs's log: {log}; console: {console}", file=sys.stderr)
        return status if status > 0 else 1

    if not args.quiet:
        print(f"{PROG}: done in {elapsed:.1f} s. Debugger output: {output}")
        print(f"{PROG}: COM1: {serial}; Bochs log: {log}; console (port E9h): {console}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
