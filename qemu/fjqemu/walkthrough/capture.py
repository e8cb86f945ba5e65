"""Running a doc's commands for real: one GDB session against one QEMU (gdb blocks), QMP
to the same QEMU (qmp blocks), one scripts/bochs-run boot (bochs blocks), bash (sh blocks).
Every child runs in its own process group, registered so that Ctrl-C ends all of them."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from .. import IMAGE, ROOT
from ..gdbrun import DEFAULT_SYNTAX, GdbError, run_driver
from ..procs import die_with_parent, end_group, kill_group, killpg
from ..record import INFO as RECORD_INFO, rr_in
from ..vm import QemuError, QemuVM
from .config import (BOCHS_TIMEOUT, CONTINUE_TIMEOUT, GDB_TIMEOUT, IMG, MARK,
                     REPLAY_GDB_TIMEOUT, SH_TIMEOUT,
                     SHOWN_BUILD, SHOWN_IMG, CaptureError)
from .template import PROMPT, Block, clean, cut_lines

DRIVER = Path(__file__).with_name("gdb_driver.py")

# ---- child processes ---------------------------------------------------------------------------
# Every GDB, shell and scripts/bochs-run started here runs in its own session (process group),
# and every QEMU is a registered QemuVM, so that Ctrl-C can end all of them. Once STOP is set
# (Ctrl-C) nothing new is started. is a registered QemuVM, so that Ctrl-C can end all of them. Once STOP is set
# (Ctrl-C) nothing new is started.
STOP = threading.Event()
_LOCK = threading.Lock()
CHILDREN: list = []     # subprocess.Popen, each the leader of its own process group
VMS: list = []          # QemuVM


def spawn(args, **kw) -> subprocess.Popen:
    """subprocess.Popen in a new session, registered for kill_children()."""
    with _LOCK:
        if STOP.is_set():
            raise CaptureError("interrupted")
        p = subprocess.Popen(args, start_new_session=True, preexec_fn=die_with_parent, **kw)
        CHILDREN.append(p)
    return p


def kill_children(sig: int) -> None:
    with _LOCK:
        children, vms = list(CHILDREN), list(VMS)
    for p in children:
        killpg(p, sig)
    for vm in vms:
        proc = getattr(vm, "proc", None)
        if proc is not None and proc.poll() is None:
            killpg(proc, signal.SIGKILL)



class Paths:
    """Where artefacts go. The doc shows docs/img/NAME and build/walkthrough/NAME; --write
    puts them there (absolute paths, so that GDB's and QEMU's working directories do not
    matter), --check into a temporary directory. subst maps the shown prefix to the real
    one; outputs are mapped back."""

    def __init__(self, tmp: Path, write: bool):
        self.tmp = tmp
        if write:
            img, bld = IMG, ROOT / SHOWN_BUILD
        else:
            img, bld = tmp / "img", tmp / "build"
        img.mkdir(parents=True, exist_ok=True)
        bld.mkdir(parents=True, exist_ok=True)
        self.subst = {SHOWN_IMG: f"{img}/", SHOWN_BUILD: f"{bld}/"}

    def real(self, shown: str) -> Path:
        return Path(self.to_real(shown))

    def to_real(self, text: str) -> str:
        for k, v in self.subst.items():
            text = re.sub(r"(?<![\w/.])" + re.escape(k), lambda _m, v=v: v, text)
        return text

    def to_shown(self, text: str) -> str:
        for k, v in self.subst.items():
            text = text.replace(v, k)
        return text


def capture_gdb(blocks: list[Block], vm, paths: Paths, env: dict | None = None) -> None:
    if not blocks:
        return
    cfg = {"blocks": [{"name": b.name, "cmds": b.cmds} for b in blocks],
           "subst": paths.subst, "timeout": CONTINUE_TIMEOUT, "mark": MARK}
    # What scripts/debug (make debug) runs, in batch form, then the walkthrough's commands.
    try:
        run = run_driver(DRIVER, port=vm.gdb_port, config=cfg,
                         timeout=REPLAY_GDB_TIMEOUT if env else GDB_TIMEOUT,
                         cmds=[f"set disassembly-flavor {DEFAULT_SYNTAX}",
                               "tbreak stage1_start", "continue"], workdir=paths.tmp,
                         spawner=spawn, env=env)
    except GdbError as e:
        raise CaptureError(str(e)[:4000]) from None
    stdout, stderr = run.stdout, run.stderr
    if run.result is None:
        raise CaptureError(f"GDB session failed (status {run.status}):\n"
                           + stdout[-2000:] + stderr[-3000:])
    errors = run.result["errors"]
    # Split GDB's stdout at the markers.
    parts = stdout.split(MARK)
    pre, chunks = parts[0], {}
    for part in parts[1:]:
        key, _, text = part.partition("\n")
        chunks[key] = text
    if "end" not in chunks:
        raise CaptureError("GDB session ended early:\n" + stdout[-2000:] + stderr[-3000:])
    problems = []
    for bi, b in enumerate(blocks):
        expect_fail = list(b.fails)
        out = []
        if b.session_start:
            out += ["$ make replay" if b.replay else
                    "$ make debug" + (f" SMP={b.smp}" if b.smp != 1 else "")] \
                + clean(paths.to_shown(pre))
        for ci, cmd in enumerate(b.cmds):
            key = f"{bi}:{ci}"
            text = paths.to_shown(chunks.get(key, ""))
            err = errors.get(key)
            lines = clean(text)
            if err is not None:
                lines += clean(paths.to_shown(err))
            out.append(f"(gdb) {cmd}")
            out += cut_lines(b, cmd, lines)
            must_fail = cmd in expect_fail
            if must_fail:
                expect_fail.remove(cmd)
            if "Traceback (most recent call last)" in text or (err or "").startswith("Python:"):
                problems.append(f"{b.label}: '{cmd}' raised a Python exception:\n{text}{err}")
            elif err is not None and not must_fail:
                problems.append(f"{b.label}: '{cmd}' failed: {err}")
            elif err is None and must_fail:
                problems.append(f"{b.label}: '{cmd}' was expected to fail (fails=...) "
                                f"but did not")
        for c in expect_fail:
            problems.append(f"{b.label}: fails=... names '{c}', which the block does not run")
        b.out = out
    if problems:
        raise CaptureError("\n".join(problems))


def wait_halted(vm, timeout: float = 20.0) -> None:
    """Until the kernel sits in its final 'cli; hlt' (after Hello World! and whatever it
    prints next), so that the screen no longer changes."""
    try:
        vm.wait_serial("Hello World!", timeout=timeout)
    except QemuError as e:
        raise CaptureError(f"QEMU: {e}")
    deadline = time.monotonic() + timeout
    while "HLT=1" not in vm.hmp("info registers"):
        if time.monotonic() > deadline:
            raise CaptureError(f"QEMU: the guest did not halt within {timeout:.0f} s")
        time.sleep(0.05)


def capture_qmp(blocks: list[Block], vm, paths: Paths) -> None:
    if not blocks:
        return
    wait_halted(vm)
    for b in blocks:
        out = []
        for cmd in b.cmds:
            try:
                msg = json.loads(paths.to_real(cmd))
            except ValueError as e:
                raise CaptureError(f"{b.label}: not JSON: {cmd} ({e})")
            try:
                ret = vm.qmp(msg["execute"], **msg.get("arguments", {}))
            except QemuError as e:
                raise CaptureError(f"{b.label}: {cmd}: {e}")
            out += [f"-> {cmd}", "<- " + paths.to_shown(json.dumps({"return": ret}))]
        b.out = out


def capture_bochs(blocks: list[Block], paths: Paths) -> None:
    if not blocks:
        return
    cmds = [c for b in blocks for c in b.cmds]
    rc = paths.tmp / "bochs.rc"
    rc.write_text("".join(paths.to_real(c) + "\n" for c in cmds))
    log = paths.tmp / "bochs.log"
    args = [str(ROOT / "scripts" / "bochs-run"), "-rc", str(rc), "-o", str(log),
            "--symbols", str(ROOT / "build" / "bochs.sym"), "--timeout", str(BOCHS_TIMEOUT)]
    # In its own session: on timeout its whole process group is ended (SIGTERM makes
    # bochs-run kill Bochs, which runs in a session of its own).
    p = spawn(args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = p.communicate(timeout=BOCHS_TIMEOUT + 15)
    except subprocess.TimeoutExpired:
        end_group(p, grace=10)
        p.communicate()
        raise CaptureError("scripts/bochs-run did not return in time")
    text = log.read_text(errors="replace") if log.exists() else ""
    if p.returncode != 0:
        raise CaptureError(f"scripts/bochs-run failed (status {p.returncode}):\n"
                           f"{stdout[-1500:]}{stderr[-1500:]}\n{text[-1500:]}")
    lines = text.split("\n")
    # Split the transcript: each command appears on its own line, in order.
    pos, starts = 0, []
    for c in cmds:
        real = paths.to_real(c)
        while pos < len(lines) and lines[pos].strip() != real.strip():
            pos += 1
        if pos >= len(lines):
            raise CaptureError(f"Bochs transcript has no command {c!r} (did Bochs stop "
                               f"early?):\n{text[-2000:]}")
        starts.append(pos)
        pos += 1
    starts.append(len(lines))
    n, ci = 0, 0
    for bi, b in enumerate(blocks):
        if bi and not b.cmds:
            raise CaptureError(f"{b.label}: no commands (only the first bochs block may have "
                               f"none: it shows what Bochs printed before the first prompt)")
        out = clean(paths.to_shown("\n".join(lines[:starts[0]]))) if bi == 0 else []
        for c in b.cmds:
            n += 1
            out.append(f"<bochs:{n}> {c}")
            body = "\n".join(lines[starts[ci] + 1:starts[ci + 1]])
            out += cut_lines(b, c, clean(paths.to_shown(body)))
            for bad in ("syntax error", "unknown command", "Error:"):
                if bad in body:
                    raise CaptureError(f"{b.label}: Bochs: {c!r}: {body.strip()[:300]}")
            ci += 1
        b.out = out


def capture_sh(blocks: list[Block], paths: Paths) -> None:
    for b in blocks:
        out = []
        for cmd in b.cmds:
            p = spawn(["bash", "-c", paths.to_real(cmd)], cwd=ROOT,
                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
            try:
                stdout, stderr = p.communicate(timeout=SH_TIMEOUT)
            except subprocess.TimeoutExpired:
                kill_group(p)           # the shell and whatever it started
                p.communicate()
                raise CaptureError(f"{b.label}: '{cmd}' did not finish in {SH_TIMEOUT} s")
            # 'timeout N CMD' ending CMD after N s (status 124) is what was asked for.
            if p.returncode != 0 and not (p.returncode == 124 and cmd.startswith("timeout ")):
                raise CaptureError(f"{b.label}: '{cmd}' exited with status {p.returncode}:\n"
                                   f"{stdout[-1500:]}{stderr[-1500:]}")
            out.append(f"$ {cmd}")
            out += cut_lines(b, cmd, clean(paths.to_shown(stdout + stderr)))
        b.out = out


def replay_vm(paths: Paths) -> tuple:
    """'$ make replay': QEMU replaying build/record (what the doc's '$ make record' block
    wrote) as make replay starts it, and GDB's $FJ_REPLAY."""
    rec = ROOT / "build" / "record"
    try:
        info = json.loads((rec / RECORD_INFO).read_text())
    except (OSError, ValueError):
        raise CaptureError("'$ make replay' with no recording in build/record: the doc "
                           "needs a '$ make record' sh block before it") from None
    vm = QemuVM(Path(info["image"]), gdb=True, stop_on_fault=True,
                rr=rr_in(rec, "replay"), workdir=paths.tmp / "qemu")
    return vm, {"FJ_REPLAY": str(rec / RECORD_INFO)}


def capture(blocks: list[Block], paths: Paths) -> None:
    by = {k: [b for b in blocks if b.kind == k] for k in PROMPT}
    failure = []
    replay = any(b.replay for b in by["gdb"])
    first_gdb = min((b.body_start for b in by["gdb"]), default=None)
    # A replay needs its recording: the sh blocks before the first gdb block (the doc's
    # '$ make record') run first, the others with Bochs meanwhile, in a thread (they do
    # not need QEMU).
    before = [b for b in by["sh"] if replay and b.body_start < first_gdb]
    capture_sh(before, paths)

    def others():
        try:
            capture_bochs(by["bochs"], paths)
            capture_sh([b for b in by["sh"] if b not in before], paths)
        except CaptureError as e:
            failure.append(e)

    th = threading.Thread(target=others)
    th.start()
    try:
        if by["gdb"] or by["qmp"]:
            # QEMU as 'make debug' starts it: paused at the reset vector, a reset resets
            # (no -no-reboot), 128 MiB; the image is opened read-only (snapshot=on).
            (paths.tmp / "qemu").mkdir()
            # '$ make debug SMP=N' starts the doc's session: N CPUs, as make debug SMP=N.
            smp = max([b.smp for b in by["gdb"] if b.session_start], default=1)
            env = None
            if replay:
                vm, env = replay_vm(paths)
            else:
                vm = QemuVM(IMAGE, gdb=True, reboot=True, smp=smp,
                            workdir=paths.tmp / "qemu")
            with _LOCK:
                if STOP.is_set():
                    raise CaptureError("interrupted")
                VMS.append(vm)
            try:
                with vm:
                    if by["gdb"]:
                        capture_gdb(by["gdb"], vm, paths, env)
                    else:
                        vm.qmp("cont")
                    capture_qmp(by["qmp"], vm, paths)
            except QemuError as e:
                raise CaptureError(f"QEMU: {e}") from None
    finally:
        th.join()
    if failure:
        raise failure[0]

