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
from ..machine import Machine, MachineError, parse_symbols
from ..procs import die_with_parent, end_group, kill_group, killpg
from ..vm import QemuError, QemuVM
from .config import (BOCHS_TIMEOUT, CONTINUE_TIMEOUT, FETCH_TIMEOUT,
                     FOREIGN_CONTINUE_TIMEOUT, FOREIGN_GDB_TIMEOUT, GDB_TIMEOUT, IMG, MARK,
                     REPLAY_GDB_TIMEOUT, SH_TIMEOUT, SHOWN_BUILD, SHOWN_IMG, CaptureError)
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


# ---- GDB sessions ---------------------------------------------------------------------------
def sessions(blocks: list[Block]) -> list[list[Block]]:
    """The doc's gdb blocks by session: a block whose first line is '$ make debug ...'
    starts one; the blocks after it, up to the next such block, run in it (blocks before
    the first one: a plain 'make debug' session)."""
    out = []
    for b in blocks:
        if b.session_start or not out:
            out.append([])
        out[-1].append(b)
    return out


def session_machine(b: Block | None) -> Machine | None:
    """What '$ make debug VAR=VALUE ...' boots, as make debug would (fjqemu.machine), with
    the doc's paths relative to the repository; None for farjump's own disk (SMP= at
    most), which runs as before."""
    v = dict(b.session) if b is not None else {}
    smp = int(v.pop("SMP", 1))
    if not v:
        return None

    def path(var):
        return ROOT / v[var] if v.get(var) else None

    image = path("IMAGE")
    if image is None and not v.get("CDROM") and not v.get("KERNEL"):
        image = IMAGE
    try:
        m = Machine(image=image, cdrom=path("CDROM"), kernel=path("KERNEL"),
                    append=v.get("APPEND") or None, initrd=path("INITRD"),
                    arch=v.get("ARCH") or "x86_64", smp=smp if smp != 1 else None,
                    symbols=[(ROOT / p, off) for p, off in parse_symbols(v.get("SYMBOLS"))])
        m.check()
    except MachineError as e:
        raise CaptureError(f"{b.label}: {b.session_line}: {e}") from None
    if not m.foreign:
        raise CaptureError(f"{b.label}: {b.session_line}: only farjump's own disk "
                           f"(with SMP=) or a guest farjump did not write is supported")
    return m


def capture_gdb(blocks: list[Block], vm, paths: Paths, machine: Machine | None = None,
                env: dict | None = None) -> None:
    if not blocks:
        return
    foreign = machine is not None
    cfg = {"blocks": [{"name": b.name, "cmds": b.cmds} for b in blocks],
           "subst": paths.subst, "mark": MARK,
           "timeout": FOREIGN_CONTINUE_TIMEOUT if foreign else CONTINUE_TIMEOUT}
    # What scripts/debug (make debug) runs, in batch form, then the walkthrough's commands:
    # for farjump's own boot GDB with its symbols runs to stage1_start; for any other guest
    # GDB sets the architecture, loads only the SYMBOLS and stays at the reset vector.
    cmds = [f"set disassembly-flavor {DEFAULT_SYNTAX}"]
    if not foreign:
        cmds += ["tbreak stage1_start", "continue"]
    try:
        run = run_driver(DRIVER, port=vm.gdb_port, config=cfg,
                         timeout=(FOREIGN_GDB_TIMEOUT if foreign else
                                  REPLAY_GDB_TIMEOUT if env else GDB_TIMEOUT),
                         cmds=cmds, workdir=paths.tmp, spawner=spawn,
                         symbols=not foreign, env=env,
                         setup=machine.gdb_setup() if foreign else ())
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
            out += [b.session_line] + clean(paths.to_shown(pre))
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


def capture_sh(blocks: list[Block], paths: Paths, timeout: float = SH_TIMEOUT) -> None:
    for b in blocks:
        out = []
        for cmd in b.cmds:
            # Standard error into the same pipe: the doc shows the lines in the order a
            # terminal would (make run's own lines around the guest's COM1).
            p = spawn(["bash", "-c", paths.to_real(cmd)], cwd=ROOT,
                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True)
            try:
                stdout, _ = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(p)           # the shell and whatever it started
                p.communicate()
                raise CaptureError(f"{b.label}: '{cmd}' did not finish in {timeout:g} s")
            # 'timeout N CMD' ending CMD after N s (status 124) is what was asked for.
            if p.returncode != 0 and not (p.returncode == 124 and cmd.startswith("timeout ")):
                raise CaptureError(f"{b.label}: '{cmd}' exited with status {p.returncode}:\n"
                                   f"{stdout[-3000:]}")
            out.append(f"$ {cmd}")
            out += cut_lines(b, cmd, clean(paths.to_shown(stdout)))
        b.out = out


def replay_vm(workdir: Path) -> tuple:
    """'$ make replay': QEMU replaying build/record (what the doc's '$ make record' block
    wrote) as make replay starts it, and GDB's $FJ_REPLAY."""
    # Here, not at the top: fjqemu.record needs fjgdb's decoders (make why's), which the
    # GDB-side driver of this package (run by hand: one line, no traceback) must not.
    from ..record import INFO as RECORD_INFO, rr_in
    rec = ROOT / "build" / "record"
    try:
        info = json.loads((rec / RECORD_INFO).read_text())
    except (OSError, ValueError):
        raise CaptureError("'$ make replay' with no recording in build/record: the doc "
                           "needs a '$ make record' sh block before it") from None
    vm = QemuVM(Path(info["image"]), gdb=True, stop_on_fault=True,
                rr=rr_in(rec, "replay"), workdir=workdir)
    return vm, {"FJ_REPLAY": str(rec / RECORD_INFO)}


def run_session(blocks: list[Block], qmp: list[Block], paths: Paths, n: int) -> None:
    """One QEMU as 'make debug' (or '$ make replay': make replay) starts it, the session's
    gdb blocks in one GDB, then the qmp blocks (if any) to the same QEMU."""
    start = blocks[0] if blocks and blocks[0].session_start else None
    machine = None if start is not None and start.replay else session_machine(start)
    workdir = paths.tmp / f"qemu-{n}"
    workdir.mkdir()
    env = None
    if start is not None and start.replay:
        vm, env = replay_vm(workdir)
    elif machine is None:
        # farjump's disk: paused at the reset vector, a reset resets (no -no-reboot),
        # 128 MiB, the image opened read-only (snapshot=on); '$ make debug SMP=N': N CPUs.
        vm = QemuVM(IMAGE, gdb=True, reboot=True, smp=start.smp if start else 1,
                    workdir=workdir)
    else:
        # Any other guest, as make debug boots it (fjqemu.machine): also a reset or
        # shutdown pauses the guest where it is (make debug's stop_on_fault).
        if qmp:
            raise CaptureError(f"{qmp[0].label}: qmp blocks need farjump's own session")
        vm = QemuVM(machine.image, gdb=True, reboot=True, stop_on_fault=True,
                    workdir=workdir, **machine.qemu_kwargs())
    if qmp and env is not None:
        raise CaptureError(f"{qmp[0].label}: qmp blocks need farjump's own session")
    with _LOCK:
        if STOP.is_set():
            raise CaptureError("interrupted")
        VMS.append(vm)
    try:
        with vm:
            if blocks:
                capture_gdb(blocks, vm, paths, machine, env)
            else:
                vm.qmp("cont")
            capture_qmp(qmp, vm, paths)
    except QemuError as e:
        raise CaptureError(f"QEMU: {e}") from None


def capture(blocks: list[Block], paths: Paths) -> None:
    by = {k: [b for b in blocks if b.kind == k] for k in PROMPT}
    # sh blocks before the doc's first gdb block run first: they may fetch what a session
    # boots ('$ make foreign', docs/your-kernel.md) or record what it replays ('$ make
    # record', docs/time-travel.md).
    first_gdb = min((b.marker_line for b in by["gdb"]), default=None)
    early = [b for b in by["sh"] if first_gdb is not None and b.marker_line < first_gdb]
    capture_sh(early, paths, FETCH_TIMEOUT)
    # Bochs and the other shell commands do not need QEMU: they run meanwhile, in a thread.
    failure = []

    def others():
        try:
            capture_bochs(by["bochs"], paths)
            capture_sh([b for b in by["sh"] if all(b is not e for e in early)], paths)
        except CaptureError as e:
            failure.append(e)

    th = threading.Thread(target=others)
    th.start()
    try:
        # One QEMU and GDB per session, one after the other; qmp blocks go to the first.
        groups = sessions(by["gdb"]) or ([[]] if by["qmp"] else [])
        for n, group in enumerate(groups):
            run_session(group, by["qmp"] if n == 0 else [], paths, n)
    finally:
        th.join()
    if failure:
        raise failure[0]

