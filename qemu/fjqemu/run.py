"""make run (python3 -m fjqemu.run): boot a farjump disk image in QEMU.

For a person: with $DISPLAY a window and COM1 on this terminal; without, the VGA text
screen drawn in this terminal (curses) and COM1 in the image's directory's serial.log.
When QEMU ends, the last line says how (you quit it, or the guest reset: a triple fault?).

Scripted (no $DISPLAY and standard input or output not a terminal, or --headless): no
display, COM1 on standard output, and the run ends by itself. The last line says how:
  - the CPU halted with interrupts off (a clean end; status 0, or 1 after a kernel panic),
  - the guest reset or triple-faulted (-no-reboot ends QEMU; status 1),
  - the guest powered off (status 0),
  - the time limit passed (--timeout, default 30 s, `make run TIMEOUT=...`; status 124).

    python3 -m fjqemu.run [--boot bios|multiboot|grub|uefi] [--headless] [--timeout S]
                          [--screenshot FILE] [IMAGE] [-- extra QEMU options...]

--boot (make run BOOT=...) picks the way in (fjqemu.bootpaths): IMAGE is then the kernel
ELF, the ISO or the FAT image instead of the disk image.

--screenshot FILE (make run SCREENSHOT=FILE) makes the run headless and, when it ends with
QEMU still there (the guest halted, or the time limit), saves the screen as QEMU shows it
(QMP screendump: VGA text, or UEFI's framebuffer) to FILE: PNG, or PPM if FILE ends in .ppm.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import IMAGE, FjError, split_passthrough
from .cmdline import QEMU, qemu_command, x_display_problem
from .bootpaths import IMAGES, boot_problem
from .machine import Machine, MachineError
from .sessions import session_logs
from . import terminal
from .procs import die_with_parent
from .vm import QemuError, QemuVM

PROG = "run"
EXPLAIN = ("make debug, then 'fj transitions' and 'fj context', show where it stopped "
           "(docs/troubleshooting.md)")


def say(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def shown_path(path) -> str:
    """A path as the user would type it: relative when it is under the current directory."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def halted_with_interrupts_off(regs: str) -> bool:
    """`info registers` of a CPU that sits in HLT with EFLAGS.IF clear: it stays there."""
    m = re.search(r"\b[ER]FL=([0-9a-fA-F]+)", regs)      # 32-bit EFL, 64-bit RFL
    return "HLT=1" in regs and m is not None and not int(m.group(1), 16) & 0x200


def ended_by_guest(reason: str | None, what: str, serial: str) -> tuple[str, int]:
    """The last line and exit status for a QEMU that ended without being asked to."""
    if reason == "guest-shutdown":
        return f"the guest powered off after {what}", 0
    return (f"the guest reset (triple fault?) after {what}; QEMU ended (-no-reboot). "
            f"COM1: {serial}. {EXPLAIN}", 1)


def save_screen(vm, file: Path, tmp: str) -> str:
    """QEMU's screen (QMP screendump, a PPM) saved to `file` (PNG unless it ends in .ppm);
    the line that says so."""
    from PIL import Image
    ppm = Path(tmp).resolve() / "screen.ppm"     # QEMU runs in a directory of its own
    try:
        vm.qmp("screendump", filename=str(ppm))
        with Image.open(ppm) as im:
            size = f"{im.size[0]}x{im.size[1]}"
            if file.suffix.lower() == ".ppm":
                im.save(file)
            else:
                im.convert("RGB").save(file, format="PNG", optimize=True)
    except QemuError as e:
        return f"no screenshot: {e}"
    except OSError as e:
        return f"cannot write the screenshot {file}: {e.strerror or e}"
    return f"the screen ({size}) is in {file}"


def headless(image: Path | None, timeout: float, extra: list[str], machine=None,
             screenshot: Path | None = None) -> int:
    """Boot with no display, COM1 copied to standard output, until the guest ends; the
    screen saved to `screenshot` at the end if QEMU is still there."""
    out = sys.stdout.buffer
    with tempfile.TemporaryDirectory(prefix="fjrun-") as tmp:
        vm = QemuVM(image, workdir=tmp, extra=extra,
                    **(machine.qemu_kwargs() if machine else {}))
        try:
            vm.start()
        except QemuError as e:
            say(str(e).strip().splitlines()[-1] if str(e).strip() else "QEMU did not start")
            return 1
        t0, sent = time.monotonic(), 0
        try:
            while True:
                data = vm.serial_path.read_bytes()
                if len(data) > sent:
                    out.write(data[sent:])
                    out.flush()
                    sent = len(data)
                took = f"{time.monotonic() - t0:.1f} s"
                if vm.proc.poll() is not None:
                    vm.drain_events()
                    msg, status = ended_by_guest(vm.shutdown_reason(), took, "above")
                    break
                try:
                    regs = vm.hmp("info registers")
                except QemuError:
                    time.sleep(0.02)    # QEMU is going: the next round sees it gone
                    continue
                if halted_with_interrupts_off(regs):
                    text = vm.serial_path.read_bytes()
                    out.write(text[sent:])
                    if b" KERNEL PANIC:" in text:
                        msg, status = (f"the kernel panicked and halted after {took} "
                                       f"(COM1 above). {EXPLAIN}", 1)
                    else:
                        msg, status = (f"the guest halted with interrupts off after {took} "
                                       "(a clean end)", 0)
                    break
                if time.monotonic() - t0 > timeout:
                    msg, status = (f"TIMEOUT: the guest still ran after {timeout:g} s "
                                   "(TIMEOUT=... allows more); QEMU stopped", 124)
                    break
                time.sleep(0.05)
            if screenshot is not None:
                shot = (save_screen(vm, screenshot, tmp) if vm.proc.poll() is None
                        else "no screenshot: QEMU had ended")
        finally:
            vm.close()
    out.flush()
    say(msg)
    if screenshot is not None:
        say(shot)
    return status


def interactive(image: Path | None, display: str | None, serial: str, extra: list[str],
                machine=None) -> int:
    """QEMU in a window or on the terminal; afterwards, say how it ended."""
    with tempfile.TemporaryDirectory(prefix="fjrun-") as tmp:
        qmp = Path(tmp) / "qmp.sock"
        cmd = qemu_command(image, display=display, monitor=None, serial=serial, qmp=qmp,
                           extra=extra, **(machine.qemu_kwargs() if machine else {}))
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C belongs to QEMU
        master = slave = None
        if display == "curses":     # on a pseudo-terminal relayed by terminal.relay()
            master, slave = terminal.open_pty()
        try:
            proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                    preexec_fn=die_with_parent)
        except OSError as e:
            signal.signal(signal.SIGINT, old)
            say(f"cannot start '{QEMU}': {e.strerror} (set QEMU=..., or 'make deps' "
                "installs qemu-system-x86)")
            return 1
        finally:
            if slave is not None:
                os.close(slave)
        vm = QemuVM.attach(proc, qmp, workdir=tmp)
        t0 = time.monotonic()
        quit_typed = False
        try:
            if master is not None:
                quit_typed = terminal.relay(master, lambda: vm.quit())
                os.close(master)
            status = proc.wait()
        finally:
            signal.signal(signal.SIGINT, old)
        vm.drain_events()
        reason = vm.shutdown_reason()
        took = f"{time.monotonic() - t0:.0f} s"
        vm.detach()
    if status != 0:
        say(f"QEMU exited with status {status} after {took}; its message is above")
        return 1
    if reason in ("guest-reset", "guest-shutdown"):
        msg, code = ended_by_guest(reason, took, serial.removeprefix("file:")
                                   if serial.startswith("file:") else "above")
        say(msg)
        return code
    how = f"you quit it with {terminal.QUIT_NAME}" if quit_typed else "you quit it"
    say(f"QEMU ended after {took} ({how})")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="make run", description=__doc__.split("\n\n")[0],
                                 epilog="See the module docstring (qemu/fjqemu/run.py).")
    ap.add_argument("image_pos", nargs="?", metavar="image",
                    help="what to boot (default: build/disk.img, or BOOT's file: "
                         "build/kernel.elf, build/farjump.iso, build/efi.img); or --image")
    Machine.add_arguments(ap)
    ap.add_argument("--headless", action="store_true",
                    help="no display, COM1 on standard output, end by itself")
    ap.add_argument("--screenshot", type=Path, metavar="FILE",
                    help="headless; at the end save the screen to FILE (PNG, or PPM if "
                         "FILE ends in .ppm)")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("TIMEOUT") or 30),
                    help="seconds a headless run may take (default: $TIMEOUT or 30)")
    argv, extra = split_passthrough(list(sys.argv[1:] if argv is None else argv))
    args = ap.parse_args(argv)
    if args.timeout <= 0:
        ap.error("--timeout must be positive")
    args.image = args.image or args.image_pos
    if args.image is None and not args.cdrom and not args.kernel:
        default = IMAGES.get(args.boot, IMAGES["bios"])
        args.image = str(default)
        if not default.is_file():
            say(f"no {'disk image' if args.boot == 'bios' else 'BOOT=' + args.boot + ' file'} "
                f"at {default} (run 'make' first)")
            return 1
    try:
        machine = Machine.from_args(args, default_image=None)
    except MachineError as e:
        say(str(e))
        return 1
    image = machine.image
    problem = boot_problem(machine.boot, image) if image is not None and not machine.kernel \
        and not machine.cdrom else None
    if problem:
        say(problem)
        return 1
    what = machine.describe() if machine.foreign else shown_path(image)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    if args.screenshot is not None:
        try:
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            say(f"SCREENSHOT={args.screenshot}: cannot make its directory: {e.strerror or e}")
            return 1
    if args.headless or args.screenshot or (not os.environ.get("DISPLAY") and not tty):
        # SCREENSHOT= says so whatever the terminal: the docs capture this line.
        why = ("SCREENSHOT= is set" if args.screenshot is not None
               else "no $DISPLAY or no terminal")
        say(f"booting {what} headless ({why}); COM1 follows, the run "
            f"ends when the guest halts or resets, or after {args.timeout:g} s")
        return headless(image, args.timeout, extra, machine, args.screenshot)
    if os.environ.get("DISPLAY"):
        problem = x_display_problem(os.environ["DISPLAY"])
        if problem:
            say(f"$DISPLAY is {os.environ['DISPLAY']} but {problem}; unset it to boot on this "
                "terminal: env -u DISPLAY make run")
            return 1
        say(f"booting {what} in a QEMU window; COM1 follows here. Close the window to quit.")
        return interactive(image, None, "stdio", extra, machine)
    try:
        logs = session_logs((image or IMAGE).parent)   # held until QEMU ends
    except FjError as e:
        say(str(e))
        return 1
    log = logs.serial
    if logs.own_dir:
        say(f"another session uses {(image or IMAGE).parent / 'serial.log'}; this one has "
            "its own.")
    say(f"booting {what} with the curses display; COM1 goes to {log}.")
    say(f"To quit: {terminal.QUIT_NAME} (Ctrl and ]), any time.")
    time.sleep(2)
    return interactive(image, "curses", f"file:{log}", extra, machine)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted; QEMU stopped")
        sys.exit(130)
