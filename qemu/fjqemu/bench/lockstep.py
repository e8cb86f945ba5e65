"""Several GDB sessions of a benchmark side by side, stepping one chunk at a time in turn.

Run one after the other, three configurations that each take a few seconds see different
machines when the load changes in between (this 2-core machine is shared): two runs of
the same code gave panel ratios of 1.25 and 1.44. Here every configuration has its own
fresh QEMU and batch GDB, all started together; each driver (gdb_driver.py, "lockstep")
waits at a FIFO for "go", steps one chunk and answers with a JSON line on another FIFO.
The chunks go round the configurations in a rotating order, so each configuration's
chunk k runs within a fraction of a second of the others' and a load change falls on
all of them alike. Only one session steps at a time; the others wait in a read.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from .. import IMAGE, ROOT
from ..gdbrun import gdb_command
from ..procs import kill_group, spawn
from ..vm import QemuVM
from .common import PROCESS_TIMEOUT, BenchError


@dataclass
class _Session:
    mode: str
    proc: subprocess.Popen
    folder: Path
    done_fd: int
    go_fd: int | None = None
    buffer: bytes = b""
    chunks: list = field(default_factory=list)
    advanced: int = 0

    def failure(self, what: str) -> BenchError:
        log = (self.folder / "gdb.log").read_text(errors="replace")[-1200:]
        return BenchError(f"GDB ({self.mode}) {what}: {log.strip()}")

    def connect(self, deadline: float) -> None:
        """Open the "go" FIFO for writing once the driver has opened it for reading (it
        opens "done" for writing first: from then on, an end of file there means it has
        stopped)."""
        while True:
            try:
                self.go_fd = os.open(self.folder / "go", os.O_WRONLY | os.O_NONBLOCK)
                return
            except OSError:          # ENXIO: no reader yet
                if self.proc.poll() is not None:
                    raise self.failure(f"ended (status {self.proc.returncode}) before "
                                       "it reached the stepping loop") from None
                if time.monotonic() > deadline:
                    raise self.failure("did not reach the stepping loop in time") from None
                time.sleep(0.05)

    def chunk(self, timeout: float) -> dict:
        """One chunk: "go", then the driver's JSON line."""
        os.write(self.go_fd, b"go\n")
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.failure(f"did not finish a chunk in {timeout:g} s")
            ready, _, _ = select.select([self.done_fd], [], [], min(left, 1.0))
            if ready:
                data = os.read(self.done_fd, 4096)
                if not data:        # the driver closed its end: it has stopped
                    raise self.failure("stopped answering in the middle of a chunk")
                self.buffer += data
            elif self.proc.poll() is not None:
                raise self.failure(f"ended (status {self.proc.returncode}) "
                                   "in the middle of a chunk")
        line, self.buffer = self.buffer.split(b"\n", 1)
        answer = json.loads(line)
        self.chunks.append(answer)
        self.advanced = answer["advanced"]
        return answer


def lockstep(driver: Path, modes: list[str], steps: int, chunk: int,
             farjump=lambda mode: True) -> dict[str, dict]:
    """One round: a fresh QEMU and batch GDB running *driver* per mode, stepped in turn,
    *chunk* instructions at a time, until each has advanced *steps* times (or stopped
    advancing). Returns each driver's result ($FJ_OUT) by mode."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fjbench-")))
        sessions = []
        for mode in modes:
            vm = stack.enter_context(QemuVM(IMAGE, gdb=True))
            folder = tmp / mode
            folder.mkdir()
            os.mkfifo(folder / "go")
            os.mkfifo(folder / "done")
            (folder / "in.json").write_text(json.dumps({
                "root": str(ROOT), "port": vm.gdb_port, "mode": mode, "n": steps,
                "lockstep": {"go": str(folder / "go"), "done": str(folder / "done"),
                             "chunk": chunk}}))
            env = dict(os.environ, FJ_IN=str(folder / "in.json"),
                       FJ_OUT=str(folder / "out.json"))
            log = stack.enter_context(open(folder / "gdb.log", "w"))
            # the reader end first: the driver's open() for writing then does not block
            done_fd = os.open(folder / "done", os.O_RDONLY | os.O_NONBLOCK)
            stack.callback(os.close, done_fd)
            proc = spawn(gdb_command(farjump=farjump(mode), port=vm.gdb_port,
                                     scripts=[driver]),
                         cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, env=env)
            stack.callback(kill_group, proc)
            sessions.append(_Session(mode, proc, folder, done_fd))
        deadline = time.monotonic() + PROCESS_TIMEOUT
        for s in sessions:
            s.connect(deadline)
            stack.callback(os.close, s.go_fd)
        turn = 0
        while any(s.advanced < steps for s in sessions):
            order = sessions[turn % len(sessions):] + sessions[:turn % len(sessions)]
            before = [s.advanced for s in order]
            for s in order:
                if s.advanced < steps:
                    s.chunk(PROCESS_TIMEOUT)
            if [s.advanced for s in order] == before:
                break            # none advanced (a halted CPU): the drivers say so
            turn += 1
        results = {}
        for s in sessions:
            try:
                os.write(s.go_fd, b"stop\n")
            except OSError:          # the driver has gone already: its log says why
                pass
        for s in sessions:
            try:
                s.proc.wait(timeout=PROCESS_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise s.failure("did not exit after its last chunk") from None
            out = s.folder / "out.json"
            if not out.exists():
                raise s.failure(f"wrote no result (status {s.proc.returncode})")
            results[s.mode] = json.loads(out.read_text())
        return results
