"""Drive a headless QEMU for tests, benchmarks and captures.

One QemuVM is one qemu-system-x86_64 process with:
  - COM1 written to a file (serial.log in the VM's work directory),
  - QMP on a Unix socket, used to read guest physical memory (pmemsave) and to run
    monitor commands (human-monitor-command),
  - optionally a gdbstub on a free local TCP port, started paused (-S),
  - optionally port E9h (-debugcon) written to a file (debugcon.log), and the disk behind
    QEMU's blkdebug driver, which fails the reads a config file names (error injection).
Every wait has a timeout, and leaving the `with` block always ends the process.
"""
from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .cmdline import QEMU, qemu_command
from .procs import die_with_parent, kill_group


class QemuError(RuntimeError):
    """QEMU did not start, died, or did not do what was waited for in time."""


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuVM:
    def __init__(self, image, *, memory: str = "128M", extra=(), gdb: bool = False,
                 workdir=None, cpu: str | None = None, floppy: bool = False,
                 debugcon: bool = False, blkdebug=None, reboot: bool = False,
                 smp: int | None = 1, boot: str = "bios", paused: bool = True,
                 wait_for_gdb: bool = False, arch: str = "x86_64", kernel=None,
                 append: str | None = None, cdrom=None, initrd=None, int_log=None,
                 stop_on_fault: bool = False, gdb_qmp: bool = False, rr=None):
        self.image = Path(image) if image is not None else None
        self.boot = boot
        self.paused = paused
        self.wait_for_gdb = wait_for_gdb
        self.machine = dict(arch=arch, kernel=kernel, append=append, cdrom=cdrom,
                            initrd=initrd)
        self.memory = memory
        self.extra = list(extra)
        self.gdb_port = free_tcp_port() if gdb else None
        self.cpu = cpu
        self.floppy = floppy
        self.blkdebug = Path(blkdebug) if blkdebug else None
        self.reboot = reboot
        self.smp = smp
        self.int_log = Path(int_log) if int_log else None
        self.stop_on_fault = stop_on_fault
        self.rr = rr                    # cmdline.RecordReplay, or None
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="fjqemu-")
        self.workdir = Path(workdir or self._tmp.name)
        self.serial_path = self.workdir / "serial.log"
        self.qmp_path = self.workdir / "qmp.sock"
        # a second QMP socket for GDB's fj commands ($FJ_QMP), this one being the harness's
        self.gdb_qmp_path = self.workdir / "gdb-qmp.sock" if gdb_qmp else None
        self.debugcon_path = self.workdir / "debugcon.log" if debugcon else None
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "qemu.log"
        self._qmp: socket.socket | None = None
        self._qmp_buf = b""
        self.events: list[dict] = []    # QMP events seen so far (SHUTDOWN, RESET, ...)

    # ---- life cycle -----------------------------------------------------------------
    def command(self) -> list[str]:
        return qemu_command(self.image, boot=self.boot, memory=self.memory, display="none",
                            serial=f"file:{self.serial_path}", qmp=self.qmp_path,
                            monitor="none", reboot=self.reboot, cpu=self.cpu,
                            floppy=self.floppy, blkdebug=self.blkdebug,
                            gdb_port=self.gdb_port, debugcon=self.debugcon_path,
                            smp=self.smp, paused=self.paused,
                            wait_for_gdb=self.wait_for_gdb, int_log=self.int_log,
                            stop_on_fault=self.stop_on_fault, gdb_qmp=self.gdb_qmp_path,
                            rr=self.rr, extra=self.extra, **self.machine)

    def start(self, timeout: float = 10.0) -> "QemuVM":
        if self.image is not None and not self.image.exists():
            raise QemuError(f"no disk image at {self.image} (run 'make')")
        self.serial_path.write_bytes(b"")
        if self.debugcon_path:
            self.debugcon_path.write_bytes(b"")
        # QEMU's own messages go to a file: a pipe nobody reads would block a chatty QEMU.
        self.log_path = self.workdir / "qemu.log"
        with open(self.log_path, "wb") as log:
            try:
                self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True,
                                             preexec_fn=die_with_parent)
            except FileNotFoundError:
                raise QemuError(f"'{QEMU}' not found (set QEMU=..., or 'make deps' "
                                "installs qemu-system-x86)") from None
        try:
            self._connect_qmp(timeout)
        except BaseException:
            self.close()      # never leave a half-started QEMU behind
            raise
        return self

    @classmethod
    def attach(cls, proc: subprocess.Popen, qmp_path, workdir) -> "QemuVM":
        """A QemuVM for a QEMU started elsewhere (make run's window or terminal) with
        `-qmp unix:QMP_PATH,...`: only its QMP client (events, quit). No QMP is fine."""
        vm = cls(Path(workdir) / "unused.img", workdir=workdir)
        vm.qmp_path, vm.proc = Path(qmp_path), proc
        try:
            vm._connect_qmp(10)
        except (QemuError, OSError):
            vm._qmp = None
        return vm

    def gdb_env(self) -> dict:
        """What a GDB with farjump attached to this QEMU needs in its environment
        (make debug sets the same): $FJ_QMP, $FJ_INTLOG."""
        env = {}
        if self.gdb_qmp_path:
            env["FJ_QMP"] = str(self.gdb_qmp_path)
        if self.int_log:
            env["FJ_INTLOG"] = str(self.int_log)
        return env

    def quit(self) -> None:
        """Ask QEMU to quit (QMP); it then ends by itself."""
        if self._qmp is not None:
            try:
                self.qmp("quit")
            except (QemuError, OSError, ValueError):
                pass

    def detach(self) -> None:
        """Close the QMP connection of an attach()ed QemuVM; QEMU is not touched."""
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None

    def _connect_qmp(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise QemuError(f"QEMU exited at start (status {self.proc.returncode}): "
                                f"{self.log_path.read_text(errors='replace')}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(self.qmp_path))
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise QemuError("QEMU's QMP socket did not appear in time")
                time.sleep(0.02)
        s.settimeout(timeout)
        self._qmp = s
        self._qmp_read()  # greeting
        self.qmp("qmp_capabilities")

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            if self._qmp:
                try:
                    self.qmp("quit")
                except (QemuError, OSError, ValueError):
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)
        if self._qmp:
            self._qmp.close()
            self._qmp = None
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def wait_halted(self, timeout: float = 10.0) -> str:
        """Wait until the CPU sits in HLT (`info registers` says HLT=1); return that text."""
        deadline = time.monotonic() + timeout
        while True:
            regs = self.hmp("info registers")
            if "HLT=1" in regs:
                return regs
            if time.monotonic() > deadline:
                raise QemuError(f"the CPU did not halt within {timeout:.0f} s")
            time.sleep(0.02)

    def __enter__(self) -> "QemuVM":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- QMP --------------------------------------------------------------------------
    def _qmp_read(self) -> dict:
        while b"\n" not in self._qmp_buf:
            try:
                chunk = self._qmp.recv(65536)
            except socket.timeout:
                raise QemuError("QMP did not answer in time")
            except OSError as e:
                raise QemuError(f"QMP connection lost ({e.strerror or e}); QEMU exited?") \
                    from None
            if not chunk:
                raise QemuError("QMP connection closed (QEMU exited?)")
            self._qmp_buf += chunk
        line, self._qmp_buf = self._qmp_buf.split(b"\n", 1)
        return json.loads(line)

    def qmp(self, execute: str, **arguments):
        msg = {"execute": execute}
        if arguments:
            msg["arguments"] = arguments
        try:
            self._qmp.sendall(json.dumps(msg).encode() + b"\n")
        except OSError as e:           # QEMU went away (a guest reset under -no-reboot...)
            raise QemuError(f"QMP connection lost ({e.strerror or e}); QEMU exited?") from None
        while True:
            reply = self._qmp_read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QemuError(f"QMP {execute}: {reply['error'].get('desc')}")
            return reply.get("return")

    def drain_events(self, timeout: float = 2.0) -> list[dict]:
        """After QEMU has exited: read what is left on the QMP socket (QEMU sends SHUTDOWN
        before it goes); return every event seen."""
        if self._qmp is None:
            return self.events
        self._qmp.settimeout(timeout)
        try:
            while True:
                reply = self._qmp_read()
                if "event" in reply:
                    self.events.append(reply)
        except (QemuError, OSError, ValueError):
            pass
        return self.events

    def shutdown_reason(self) -> str | None:
        """The reason of QEMU's SHUTDOWN event ("guest-reset", "guest-shutdown",
        "host-qmp-quit", ...), None if there was none."""
        for e in self.events:
            if e.get("event") == "SHUTDOWN":
                return e.get("data", {}).get("reason")
        return None

    def hmp(self, command_line: str) -> str:
        """A monitor command (as typed at the (qemu) prompt) and its text output."""
        return self.qmp("human-monitor-command", **{"command-line": command_line})

    def read_phys(self, addr: int, size: int) -> bytes:
        """Guest physical memory, read by QEMU itself (not by the guest)."""
        path = self.workdir / f"mem-{addr:x}-{size:x}.bin"
        self.qmp("pmemsave", val=addr, size=size, filename=str(path))
        data = path.read_bytes()
        path.unlink()
        return data

    def read_virt(self, addr: int, size: int, cpu: int = 0) -> bytes | None:
        """Guest memory at a linear (virtual) address, through CPU `cpu`'s paging (QMP
        memsave); None when QEMU cannot read it (not mapped)."""
        path = self.workdir / f"virt-{addr:x}-{size:x}.bin"
        try:   # QMP's val is an int64: kernel addresses go as their two's complement
            self.qmp("memsave", val=addr - (1 << 64) if addr >> 63 else addr, size=size, filename=str(path), **{"cpu-index": cpu})
        except QemuError:
            return None
        data = path.read_bytes()
        path.unlink()
        return data if len(data) == size else None

    # ---- serial ---------------------------------------------------------------------------
    def serial(self) -> str:
        return self.serial_path.read_bytes().decode("latin-1")

    def debugcon(self) -> str:
        """What the guest wrote to port E9h (needs debugcon=True)."""
        if not self.debugcon_path:
            raise QemuError("this QemuVM was made without debugcon=True")
        return self.debugcon_path.read_bytes().decode("latin-1")

    def wait_serial(self, text: str, timeout: float = 30.0) -> str:
        """Wait until COM1 output contains `text`; return all output so far."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.serial()
            if text in out:
                return out
            if self.proc.poll() is not None:
                raise QemuError(f"QEMU exited (status {self.proc.returncode}) before COM1 "
                                f"said {text!r}; COM1 so far:\n{out}")
            if time.monotonic() > deadline:
                raise QemuError(f"COM1 did not say {text!r} within {timeout:.0f} s; "
                                f"COM1 so far:\n{out}")
            time.sleep(0.02)
