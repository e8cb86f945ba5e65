"""make replay (python3 -m fjqemu.replay): open a recording (make record) like make debug.

    python3 -m fjqemu.replay [--dir DIR] [-- extra GDB options...]

QEMU replays DIR (default build/record/) paused with its gdbstub (-icount rr=replay, the
recording's overlay behind blkreplay), and GDB attaches with farjump loaded and stops at
stage1_start; input may be piped as with make debug. $FJ_REPLAY names DIR/recording.json,
so farjump's reverse-step, -next, -stepi, -nexti, -finish and -continue replace GDB's
(QEMU 7.2's own hang; see gdb/fjgdb/integrations/reverse.py). GDB loads the recorded
image's kernel symbols as make debug IMAGE=... does. Quitting GDB ends QEMU.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import BUILD, ROOT, split_passthrough
from .cmdline import QEMU, qemu_command
from .debug import kernel_symbols
from .gdbrun import GDB, gdb_command
from .procs import die_with_parent, end_group
from .record import INFO, rr_in
from .vm import free_tcp_port

PROG = "replay"


def say(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def replay_command(outdir: Path, port: int, serial: Path) -> list[str]:
    return qemu_command(outdir / "unused.img", display="none", monitor="none",
                        serial=f"file:{serial}", gdb_port=port, stop_on_fault=True,
                        rr=rr_in(outdir, "replay"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="make replay", description=__doc__.split("\n\n")[0],
                                 epilog="See the module docstring (qemu/fjqemu/replay.py).")
    ap.add_argument("--dir", default=str(BUILD / "record"),
                    help="the recording (default: build/record, what make record writes)")
    argv, extra = split_passthrough(list(sys.argv[1:] if argv is None else argv))
    args = ap.parse_args(argv)
    outdir = Path(args.dir).resolve()
    info = outdir / INFO
    try:
        rec = json.loads(info.read_text())
    except (OSError, ValueError):
        say(f"no recording in {outdir} (no readable {INFO}): run 'make record' first")
        return 1
    say(f"replaying {rec.get('image')} ({rec.get('icount')} instructions; the recorded boot "
        f"ended because {rec.get('ended_text')})")
    port = free_tcp_port()
    with tempfile.TemporaryDirectory(prefix="fjreplay-") as tmp:
        log = Path(tmp) / "qemu.log"
        try:
            with open(log, "wb") as out:
                proc = subprocess.Popen(replay_command(outdir, port, outdir / "replay-serial.log"),
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                        start_new_session=True, preexec_fn=die_with_parent)
        except FileNotFoundError:
            say(f"'{QEMU}' not found ('make deps' installs qemu-system-x86)")
            return 1
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            time.sleep(0.3)
            if proc.poll() is not None:
                say(f"QEMU exited at start: {log.read_text(errors='replace').strip()}")
                return 1
            env = dict(os.environ, FJ_REPLAY=str(info))
            image = Path(rec["image"]) if rec.get("image") else None
            cmd = gdb_command("tbreak stage1_start", "continue", batch=False, port=port,
                              extra=extra, kernel=kernel_symbols(image))
            try:
                rc = subprocess.call(cmd, cwd=ROOT, env=env)
            except FileNotFoundError:
                say(f"'{GDB}' not found ('make deps' installs gdb)")
                return 1
            status = proc.poll()
            if status is not None and status != 0:
                # QEMU ended under GDB (a crash, a kill, or a replay run past its end):
                # say so, with what it printed, rather than leave GDB's "Remote
                # communication error" unexplained.
                how = f"signal {-status}" if status < 0 else f"status {status}"
                said = log.read_text(errors="replace").strip()
                say(f"QEMU exited during the replay ({how})" + (f": {said[-1500:]}" if said else
                    ", printing nothing") + "; 'make replay' starts it again")
            return rc
        finally:
            signal.signal(signal.SIGINT, old)
            end_group(proc)


if __name__ == "__main__":
    sys.exit(main())
