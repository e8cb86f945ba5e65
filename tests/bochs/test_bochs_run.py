"""scripts/bochs-run: help, clear errors, a bounded run (timeout kills the process group),
and a command file without `quit`. Plus `make bochs` driven through a pseudo-terminal."""
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = [str(ROOT / "scripts" / "bochs-run")]


def run(args, timeout=90, **kw):
    # Longer than bochs-run's own --timeout (60 s), so that bochs-run, not this kill,
    # ends a hung Bochs (it runs in its own process group).
    return subprocess.run(RUN + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, **kw)


def test_help():
    r = run(["--help"])
    assert r.returncode == 0
    for word in ("-rc", "--output", "--image", "--timeout", "quit", "124"):
        assert word in r.stdout


def test_missing_command_file(tmp_path):
    r = run(["-rc", str(tmp_path / "nope.rc"), "-o", str(tmp_path / "out.log")])
    assert r.returncode == 2
    assert "no debugger command file at" in r.stderr and "nope.rc" in r.stderr


def test_missing_image(tmp_path, build):
    rc = tmp_path / "x.rc"
    rc.write_text("quit\n")
    r = run(["-rc", str(rc), "--image", str(tmp_path / "none.img"), "-o",
             str(tmp_path / "out.log")])
    assert r.returncode == 2 and "no disk image at" in r.stderr


def test_command_file_is_required():
    r = run([])
    assert r.returncode == 2 and "-rc" in r.stderr


def test_timeout_kills_the_process_group(tmp_path, build):
    """Seven `c`: the seventh never returns (the kernel's final cli; hlt). bochs-run must
    kill Bochs's whole process group, say so, and exit 124, within the time limit."""
    rc = tmp_path / "hang.rc"
    rc.write_text("c\n" * 7 + "quit\n")
    proc = subprocess.Popen(RUN + ["-rc", str(rc), "-o", str(tmp_path / "out.log"),
                                   "--timeout", "2"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 124, err
    assert "TIMEOUT" in err and "killed its process group" in err
    # The group is gone: its id (= Bochs's pid) was printed; nothing may remain in it.
    pgid = int(err.split("process group (")[1].split(")")[0])
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    # Six magic breakpoints were reached before the hang.
    assert (tmp_path / "out.log").read_text().count("Magic breakpoint") == 6


def test_command_file_without_quit(tmp_path, build):
    rc = tmp_path / "noquit.rc"
    rc.write_text("c\n")
    r = run(["-rc", str(rc), "-o", str(tmp_path / "out.log")])
    assert r.returncode == 1
    assert "ended without `quit`" in r.stderr


def test_good_run_writes_all_outputs(tmp_path, build):
    rc = tmp_path / "ok.rc"
    rc.write_text("c\n" * 6 + "quit\n")
    out = tmp_path / "run.log"
    r = run(["-rc", str(rc), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert out.read_text().count("Magic breakpoint") == 6
    assert "Hello World!" in (tmp_path / "run.serial.log").read_text(errors="replace")
    assert (tmp_path / "run.bochs.log").stat().st_size > 0
    assert not (ROOT / "build" / "disk.img.lock").exists()   # mode=volatile takes no lock


def test_make_bochs_in_a_terminal(build):
    """`make bochs` without $DISPLAY: the debugger prompt in the terminal, stopping at each
    magic breakpoint; `quit` ends it. Driven through a pseudo-terminal, bounded."""
    pid, fd = pty.fork()
    if pid == 0:   # child: make bochs with a terminal and no X
        env = {k: v for k, v in os.environ.items()
               if k not in ("DISPLAY", "BOCHS_DISPLAY", "BOCHS_DISPLAY_OPTIONS")}
        env["TERM"] = "xterm"
        os.chdir(ROOT)
        os.execvpe("make", ["make", "-s", "bochs"], env)
    buf = b""
    try:
        deadline = time.monotonic() + 60

        def wait_for(n_prompts):
            nonlocal buf
            while buf.count(b"<bochs:") < n_prompts:
                assert time.monotonic() < deadline, buf[-2000:].decode(errors="replace")
                r, _, _ = select.select([fd], [], [], 0.5)
                if r:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        data = b""
                    assert data, buf[-2000:].decode(errors="replace")
                    buf += data

        for i in range(1, 7):
            wait_for(i)
            os.write(fd, b"c\r")
        wait_for(7)
        os.write(fd, b"quit\r")
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, "make bochs did not end after quit"
            time.sleep(0.05)
        pid = 0
    finally:
        if pid:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    text = buf.decode(errors="replace")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, text[-2000:]
    assert text.count("Magic breakpoint") == 6
    for label in ("stage1_start+2", "stage2_start+2", "pm_entry+3", "lm_entry+3"):
        assert f"({label})" in text
    assert "Bochs connected to screen" in text
