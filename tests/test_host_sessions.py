"""The host tools' sessions (qemu/fjqemu): QEMU never outlives the tool that started it,
whatever ends that tool."""
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(w) for w in text.split()]


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@pytest.fixture
def debug_server(build):
    """scripts/debug --server on a free port: (process, QEMU's pid, port)."""
    port = free_port()
    p = subprocess.Popen([str(ROOT / "scripts" / "debug"), "--server"], cwd=ROOT,
                         env=dict(os.environ, GDBPORT=str(port)), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    qemu = None
    try:
        line = p.stdout.readline()          # printed once QEMU listens
        assert line.startswith("debug-server: QEMU paused"), line + p.stderr.read()
        kids = children(p.pid)
        assert len(kids) == 1, kids
        qemu = kids[0]
        yield p, qemu, port
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        if qemu is not None and not gone(qemu, 0):
            try:
                os.kill(qemu, signal.SIGKILL)
            except ProcessLookupError:
                pass
        port_file = ROOT / "build" / "gdb-port"
        if port_file.exists() and port_file.read_text().strip() == str(port):
            port_file.unlink()       # left by the SIGKILLed server


def test_qemu_dies_with_a_killed_debug_server(debug_server):
    p, qemu, port = debug_server
    os.kill(p.pid, signal.SIGKILL)       # no chance to clean up: only the kernel can help
    p.wait(timeout=10)
    assert gone(qemu), "QEMU outlived its SIGKILLed parent"


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGTERM])
def test_sigquit_ends_debug_like_sigterm(debug_server, sig):
    p, qemu, port = debug_server
    os.kill(p.pid, sig)
    assert p.wait(timeout=15) == 128 + sig
    assert gone(qemu, 5), "QEMU still runs"
    assert not (ROOT / "build" / "gdb-port").exists() or \
        (ROOT / "build" / "gdb-port").read_text().strip() != str(port)


# ---- make run without a terminal: a scripted boot that ends by itself ----------------------
def boot_sector(tmp_path: Path, name: str, body: str) -> Path:
    """A disk image whose boot sector is `body` (NASM, 16-bit, at 0x7c00)."""
    src = tmp_path / f"{name}.asm"
    src.write_text("bits 16\norg 0x7c00\n" + body +
                   "\ntimes 510 - ($ - $$) db 0\ndw 0xaa55\n")
    img = tmp_path / f"{name}.img"
    subprocess.run(["nasm", "-f", "bin", "-o", str(img), str(src)], check=True, timeout=30)
    img.write_bytes(img.read_bytes().ljust(64 * 512, b"\0"))
    return img


def run_module(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'qemu'}:{ROOT / 'build/gen'}")
    env.pop("DISPLAY", None)
    return subprocess.run(["/usr/bin/python3", "-m", "fjqemu.run", *args], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def test_make_run_without_a_terminal_ends_at_the_halt(build):
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    r = subprocess.run(["make", "-s", "run"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Hello World!" in r.stdout                     # COM1 on standard output
    assert last_line(r.stderr).startswith(
        "run: the guest halted with interrupts off after "), r.stderr


def test_headless_run_says_the_guest_reset(build, tmp_path):
    """A triple fault (an interrupt with an empty IVT) ends QEMU under -no-reboot."""
    img = boot_sector(tmp_path, "triple", "cli\nlidt [idtr]\nint3\nidtr: dw 0\ndd 0")
    r = run_module("--timeout", "20", str(img))
    assert r.returncode == 1, r.stderr
    assert last_line(r.stderr).startswith("run: the guest reset (triple fault?) after "), \
        r.stderr
    assert "fj transitions" in last_line(r.stderr)


def test_headless_run_times_out(build, tmp_path):
    img = boot_sector(tmp_path, "spin", "spin: jmp spin")
    t0 = time.monotonic()
    r = run_module("--timeout", "1", str(img))
    assert r.returncode == 124, r.stderr
    assert last_line(r.stderr).startswith("run: TIMEOUT: the guest still ran after 1 s"), \
        r.stderr
    assert time.monotonic() - t0 < 20


def test_run_rejects_a_missing_image_and_unknown_options(build, tmp_path):
    r = run_module(str(tmp_path / "nope.img"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"run: no disk image at {tmp_path / 'nope.img'} (run 'make' first)"
    r = run_module("--bogus")
    assert r.returncode == 2 and "unrecognized arguments: --bogus" in r.stderr
    assert "Traceback" not in r.stderr


# ---- sessions side by side ------------------------------------------------------------------
def test_a_second_debug_server_leaves_the_first_ones_logs_alone(debug_server, tmp_path):
    first, _qemu, port = debug_server
    serial = ROOT / "build" / "serial.log"
    with open(serial, "a") as f:             # the first QEMU is paused: nothing else writes
        f.write("first session's COM1\n")
    assert (ROOT / "build" / "gdb-port").read_text().strip() == str(port)
    port2 = free_port()
    p = subprocess.Popen([str(ROOT / "scripts" / "debug"), "--server"], cwd=ROOT,
                         env=dict(os.environ, GDBPORT=str(port2)), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        note = p.stdout.readline()
        own = ROOT / "build" / f"session-{p.pid}"
        assert note.startswith("debug: another session uses build/serial.log; this one's "
                               f"COM1 goes to {own / 'serial.log'}"), note + p.stderr.read()
        line = p.stdout.readline()
        assert line.startswith(f"debug-server: QEMU paused with its gdbstub on "
                               f"127.0.0.1:{port2} (GDBPORT={port2} make gdb"), line
        assert (own / "serial.log").exists()
        assert serial.read_text() == "first session's COM1\n"
        assert (ROOT / "build" / "gdb-port").read_text().strip() == str(port)
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(timeout=15) == 128 + signal.SIGTERM
        assert (ROOT / "build" / "gdb-port").read_text().strip() == str(port)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        shutil.rmtree(ROOT / "build" / f"session-{p.pid}", ignore_errors=True)


def test_make_gdb_says_when_a_gdb_is_already_attached(debug_server):
    _p, _qemu, port = debug_server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as first:
        first.sendall(b"+$?#3f")             # the first "GDB": served by the stub
        assert first.recv(64)
        t0 = time.monotonic()
        r = subprocess.run([str(ROOT / "scripts" / "debug"), "--attach"], cwd=ROOT,
                           env=dict(os.environ, GDBPORT=str(port)), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.startswith(f"debug: port {port} does not answer: a GDB is already "
                               "attached"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 10


def test_make_gdb_attaches_to_a_free_server(debug_server):
    """The probe must not disturb a free server: GDB then runs to stage1_start."""
    _p, _qemu, port = debug_server
    r = subprocess.run([str(ROOT / "scripts" / "debug"), "--attach", "--", "-batch",
                        "-ex", "info symbol $pc"], cwd=ROOT,
                       env=dict(os.environ, GDBPORT=str(port)), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "stage1_start" in r.stdout, r.stdout


def test_gdb_side_scripts_say_where_they_run():
    for script in ("qemu/fjqemu/gdb_attach.py", "qemu/fjqemu/bench/gdb_driver.py",
                   "qemu/fjqemu/walkthrough/gdb_driver.py"):
        r = subprocess.run(["/usr/bin/python3", str(ROOT / script)], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert "runs inside GDB" in r.stderr


def test_gdb_side_scripts_run_by_hand_say_so_in_one_line():
    """Issue 15 item 16: python3 on farjump.py, 'python3 -m' on a driver (which imports
    the repository's gdb/ directory as 'gdb'), and a driver sourced in GDB without its
    $FJ_IN configuration: one line each, no traceback."""
    from fjqemu.gdbrun import gdb_command, run_batch
    runs = [["/usr/bin/python3", "gdb/farjump.py"]]
    runs += [["/usr/bin/python3", "-m", m] for m in
             ("fjqemu.gdb_attach", "fjqemu.bench.gdb_driver", "fjqemu.walkthrough.gdb_driver")]
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'qemu'}:{ROOT / 'build/gen'}")
    for cmd in runs:
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert "runs inside GDB" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    env.pop("FJ_IN", None)
    for script in ("qemu/fjqemu/bench/gdb_driver.py", "qemu/fjqemu/walkthrough/gdb_driver.py"):
        rc, out, err = run_batch(gdb_command(farjump=False, symbols=False,
                                             scripts=[ROOT / script]), timeout=30, env=env)
        assert rc == 1 and "Traceback" not in out + err, out + err
        assert "not by hand" in err and len(err.strip().splitlines()) == 1, err


def test_make_run_on_a_terminal_quits_with_ctrl_bracket(build):
    """make run without $DISPLAY on a terminal: the curses screen, and Ctrl-] typed as such
    quits; the last line says how QEMU ended. Driven through a pseudo-terminal, bounded."""
    pid, fd = pty.fork()
    if pid == 0:
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env["TERM"] = "xterm"
        os.chdir(ROOT)
        os.execvpe("make", ["make", "-s", "run"], env)
    buf = b""
    status = None
    try:
        deadline = time.monotonic() + 60

        def read_until(pred):
            nonlocal buf
            while not pred():
                assert time.monotonic() < deadline, buf[-2000:].decode(errors="replace")
                r, _, _ = select.select([fd], [], [], 0.5)
                if r:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        return
                    buf += data

        read_until(lambda: b"Hello World!" in buf)
        assert b"To quit: Ctrl-] (Ctrl and ]), any time." in buf
        os.write(fd, b"\x1d")
        read_until(lambda: b"you quit it" in buf)
        while status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                break
            assert time.monotonic() < deadline, "make run did not end after Ctrl-]"
            time.sleep(0.05)
    finally:
        if status is None:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    text = buf.decode(errors="replace")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, text[-2000:]
    assert re.search(r"run: QEMU ended after \d+ s \(you quit it with Ctrl-\]\)", text), \
        text[-1000:]


@pytest.mark.parametrize("cmd,name", [(["scripts/debug", "--server"], "debug"),
                                      (["/usr/bin/python3", "-m", "fjqemu.run"], "run")])
def test_an_unreachable_x_display_is_said_at_once(build, cmd, name):
    port = free_port()          # nothing listens there: an X server "display" that is gone
    env = dict(os.environ, DISPLAY=f"127.0.0.1:{port - 6000}" if port > 6000 else ":97",
               PYTHONPATH=f"{ROOT / 'qemu'}:{ROOT / 'build/gen'}", GDBPORT=str(free_port()))
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith(f"{name}: $DISPLAY is {env['DISPLAY']} but no X server"), r.stderr
    assert f"env -u DISPLAY make {name}" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 15


# ---- unbootable images are refused before booting -------------------------------------------
def bad_images(tmp_path: Path) -> dict:
    good = (ROOT / "build" / "disk.img").read_bytes()
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    nosig = tmp_path / "nosig.img"
    nosig.write_bytes(good[:510] + b"\0\0" + good[512:])
    short = tmp_path / "short.img"
    short.write_bytes(good[:30 * 512])     # the kernel (from sector 24) runs past the end
    return {empty: "is empty (0 bytes): not a disk image",
            nosig: "has no boot signature (55 AA at offset 510, found 00 00)",
            short: "its layout table puts the kernel"}


@pytest.mark.parametrize("tool", ["run", "debug", "bochs-run"])
def test_unbootable_images_are_refused(build, tmp_path, tool):
    rc = tmp_path / "quit.rc"
    rc.write_text("quit\n")
    for img, words in bad_images(tmp_path).items():
        cmd = {"run": ["/usr/bin/python3", "-m", "fjqemu.run", str(img)],
               "debug": [str(ROOT / "scripts" / "debug"), "--server", "--image", str(img)],
               "bochs-run": [str(ROOT / "scripts" / "bochs-run"), "-rc", str(rc), "-o",
                             str(tmp_path / "out.log"), "--image", str(img)]}[tool]
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env.update(PYTHONPATH=f"{ROOT / 'qemu'}:{ROOT / 'build/gen'}", GDBPORT=str(free_port()))
        r = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode in (1, 2), (img, r.stderr)
        assert words in r.stderr and str(img) in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.bochs
def test_bochs_dies_with_a_killed_bochs_run(build, tmp_path):
    if shutil.which("bochs") is None:
        pytest.fail("bochs is not installed (make deps installs it)")
    rc = tmp_path / "run.rc"
    rc.write_text("c\n" * 7 + "quit\n")      # the 7th c never returns: the kernel halts
    p = subprocess.Popen([str(ROOT / "scripts" / "bochs-run"), "-rc", str(rc), "-o",
                          str(tmp_path / "out.log"), "--timeout", "60"], cwd=ROOT,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    bochs = None
    try:
        # Bochs itself: not the subshells of scripts/bochs-run's first line, which come
        # and go before it execs Python (a test that killed bochs-run then checked one of
        # those, and passed while the Bochs it started ran on)
        deadline = time.monotonic() + 20
        while bochs is None:
            assert time.monotonic() < deadline and p.poll() is None, "Bochs did not start"
            time.sleep(0.05)
            bochs = next((c for c in children(p.pid) if comm(c) in ("bochs", "bochs-bin")),
                         None)
        time.sleep(0.5)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        assert gone(bochs), "Bochs outlived its SIGKILLed bochs-run"
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        if bochs is not None and not gone(bochs, 0):
            os.killpg(bochs, signal.SIGKILL)


def test_ctrl_backslash_at_the_gdb_prompt_ends_gdb_and_qemu(build):
    """make debug's GDB prompt, Ctrl-\\ typed (SIGQUIT to the terminal's foreground group):
    scripts/debug, its GDB (which itself ignores SIGQUIT) and QEMU all end. Through a
    pseudo-terminal, bounded."""
    port = free_port()
    pid, fd = pty.fork()
    if pid == 0:
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env.update(TERM="xterm", GDBPORT=str(port))
        os.chdir(ROOT)
        os.execvpe(str(ROOT / "scripts" / "debug"), ["scripts/debug"], env)
    buf = b""
    status = None
    kids: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while b"(gdb) " not in buf:
            assert time.monotonic() < deadline, buf[-2000:].decode(errors="replace")
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                assert data, buf[-2000:].decode(errors="replace")
                buf += data
        # scripts/debug execs python3 -m fjqemu.debug: its children are QEMU and GDB.
        kids = children(pid)
        assert len(kids) == 2, kids
        os.write(fd, b"\x1c")
        while status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                break
            assert time.monotonic() < deadline, "scripts/debug did not end after Ctrl-\\"
            try:
                select.select([fd], [], [], 0.2)
                buf += os.read(fd, 65536)
            except OSError:
                time.sleep(0.05)
    finally:
        if status is None:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
        for k in kids:
            if not gone(k, 0):
                os.kill(k, signal.SIGKILL)
    for k in kids:
        assert gone(k, 10), f"process {k} outlived Ctrl-\\ at the GDB prompt"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signal.SIGQUIT, status
    assert b"GDB and QEMU stopped" in buf, buf[-1000:].decode(errors="replace")


def test_make_debug_with_a_fault_image_loads_its_kernel_symbols(build):
    """make debug IMAGE=build/fault/NAME.img builds that image and GDB gets its kernel's
    symbols (build/fault/kernel-NAME.elf: fault_divide exists only there). GDB runs in
    batch mode here (extra GDB arguments after '--')."""
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["GDBPORT"] = str(free_port())
    r = subprocess.run(["make", "-s", "debug", "IMAGE=build/fault/divide.img"], cwd=ROOT,
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=300)
    # make debug's GDB read EOF and quit; now the same module with a batch GDB:
    assert (ROOT / "build" / "fault" / "kernel-divide.elf").is_file(), r.stdout + r.stderr
    cmd = ["/usr/bin/python3", "-m", "fjqemu.debug", "--image", "build/fault/divide.img",
           "--", "-batch", "-ex", "info line fault_divide", "-ex", "info symbol 0x8010"]
    r = subprocess.run(cmd, cwd=ROOT, env=dict(env, PYTHONPATH=f"{ROOT / 'qemu'}:{ROOT / 'build/gen'}"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert re.search(r'Line \d+ of "tests/guests/fault/fault.c"', out), out[-2000:]
    assert "stage2_main in section .text" in out, out[-2000:]      # the stages' too


def test_tui_asm_window_shows_data_as_data_and_follows_fj_reset(build):
    """Issue 15 item 12, in GDB's TUI through a pseudo-terminal read by a terminal emulator
    (pyte): at stage2_main the asm window shows stage 2's header as 'dd' words and
    stage2_main's first instruction; after 'fj reset' it shows the reset vector's jump."""
    import fcntl
    import struct
    import termios

    import pyte
    rows, cols = 40, 150
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    port = free_port()
    pid, fd = pty.fork()
    if pid == 0:
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env.update(TERM="xterm", GDBPORT=str(port))
        os.chdir(ROOT)
        os.execvpe(str(ROOT / "scripts" / "debug"), ["scripts/debug"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    deadline = time.monotonic() + 90

    def text() -> str:
        return "\n".join(screen.display)

    def read_until(pred):
        while not pred():
            assert time.monotonic() < deadline, text()
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                assert data, text()
                stream.feed(data)

    try:
        read_until(lambda: "(gdb)" in text())
        os.write(fd, b"set style enabled off\nbreak stage2_main\ncontinue\n")
        read_until(lambda: "Breakpoint 2, stage2_main" in text())
        os.write(fd, b"layout asm\n")
        read_until(lambda: "<stage2_main+1>" in text())
        assert re.search(r"0x8010 <stage2_main>\s+cld", text()), text()
        # scroll the asm window up over the header: the TUI disassembles backwards
        os.write(fd, b"focus asm\n")
        read_until(lambda: "Focus set to asm window" in text())
        for _ in range(3):
            os.write(fd, b"\x1bOA")         # Up, as xterm sends it in keypad mode
        read_until(lambda: "<stage2_header_data>" in text())
        tui = text()
        assert re.search(r"0x8004 <stage2_header_data>\s+dd\s+0x32534a46", tui), tui
        assert re.search(r"0x800c <stage2_header_data\+8>\s+dd\s+0x", tui), tui
        assert re.search(r"0x8010 <stage2_main>\s+cld", tui), tui
        os.write(fd, b"focus cmd\n")
        os.write(fd, b"fj reset\n")
        read_until(lambda: re.search(r"0xfff0\s+ljmp\s+0xf000:0xe05b", text()))
        assert "<stage2_main>" not in text(), text()
        os.write(fd, b"quit\n")
        read_until(lambda: "Quit anyway? (y or n)" in text())
        os.write(fd, b"y\n")
        status = None
        while status is None:
            assert time.monotonic() < deadline, text()
            done, st = os.waitpid(pid, os.WNOHANG)
            status = st if done else None
            try:
                select.select([fd], [], [], 0.2)
                os.read(fd, 65536)
            except OSError:
                time.sleep(0.05)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    finally:
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)
