"""THE one QEMU command line: every caller (make run, make debug, the QemuVM harness of the
tests and the doc capture, the benchmarks) builds its qemu-system-x86_64 arguments here,
so the disk, memory and reset options cannot drift apart.

The disk is always opened with snapshot=on and without QEMU's image lock: the machine is
shared, other runs may boot the same image at the same time, and the guest's writes go to a
temporary overlay, never to build/disk.img.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
QEMU_IMG = os.environ.get("QEMU_IMG", "qemu-img")
MEMORY = "128M"
# Debian's OVMF (package ovmf): the UEFI firmware for BOOT=uefi.
OVMF = os.environ.get("OVMF", "/usr/share/ovmf/OVMF.fd")

# The ways into the kernel (make run BOOT=...; docs/boot.md), each with what QEMU boots:
#   bios       build/disk.img, farjump's stage 1 + stage 2 (-drive)
#   multiboot  build/kernel.elf through QEMU's own Multiboot 1 loader (-kernel)
#   grub       build/farjump.iso, GRUB loading kernel.elf by Multiboot 2 (CD-ROM drive)
#   uefi       build/efi.img, a FAT disk with farjump's UEFI loader, under OVMF (-bios)
BOOTS = ("bios", "multiboot", "grub", "uefi")


def qemu_opt(value) -> str:
    """A value inside a QEMU option list: commas doubled (QEMU's escape)."""
    return str(value).replace(",", ",,")


def drive_option(image, *, floppy: bool = False, blkdebug=None) -> str:
    if blkdebug:
        # blkdebug (QEMU docs/devel/blkdebug.txt) between the raw format and the file: it
        # fails the reads its config file names (error injection).
        drive = (f"driver=raw,file.driver=blkdebug,file.config={qemu_opt(blkdebug)},"
                 f"file.image.filename={qemu_opt(image)},snapshot=on")
    else:
        drive = f"format=raw,file={qemu_opt(image)},snapshot=on,file.locking=off"
    return drive + (",if=floppy" if floppy else "")


def boot_media(boot: str, image, *, floppy: bool = False, blkdebug=None) -> list[str]:
    """The options that give QEMU what to boot for boot path `boot` (BOOTS)."""
    if boot == "bios":
        return ["-drive", drive_option(image, floppy=floppy, blkdebug=blkdebug)]
    if floppy or blkdebug:
        raise ValueError(f"floppy and blkdebug are for the bios boot path, not {boot!r}")
    if boot == "multiboot":
        return ["-kernel", str(image)]
    if boot == "grub":
        return ["-drive", f"format=raw,media=cdrom,readonly=on,file={qemu_opt(image)},"
                          "file.locking=off"]
    if boot == "uefi":
        return ["-bios", OVMF, "-drive", drive_option(image)]
    raise ValueError(f"unknown boot path {boot!r} (one of {', '.join(BOOTS)})")


ARCHES = ("x86_64", "i386")


def qemu_binary(arch: str = "x86_64") -> str:
    """qemu-system-x86_64 ($QEMU overrides it) or qemu-system-i386."""
    if arch not in ARCHES:
        raise ValueError(f"ARCH={arch}: must be one of {', '.join(ARCHES)}")
    return QEMU if arch == "x86_64" else f"qemu-system-{arch}"


@dataclass(frozen=True)
class RecordReplay:
    """QEMU's deterministic record/replay of one boot (docs/time-travel.md;
    shared/notes on QEMU 7.2): mode "record" or "replay", the event log (rrfile), the
    persistent qcow2 overlay over the raw image that holds the disk writes and the
    snapshot `snapshot` taken at the start (what replay_seek goes back to)."""
    mode: str
    rrfile: Path
    overlay: Path
    snapshot: str = "start"


def rr_options(rr: RecordReplay) -> list[str]:
    """-icount with rr, no network, and the disk behind blkreplay (without it the replay
    hangs before stage 2: SeaBIOS's disk reads are not replayed)."""
    return ["-icount", f"shift=auto,rr={rr.mode},rrfile={qemu_opt(rr.rrfile)},"
                       f"rrsnapshot={qemu_opt(rr.snapshot)}",
            "-net", "none",
            "-drive", f"file={qemu_opt(rr.overlay)},if=none,id=img-direct",
            "-drive", "driver=blkreplay,if=none,image=img-direct,id=img-blkreplay",
            "-device", "ide-hd,drive=img-blkreplay"]


def qemu_img_overlay(image, overlay) -> list[str]:
    """qemu-img's arguments for a new qcow2 overlay over the raw `image` (record)."""
    return [QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", str(Path(image).resolve()),
            "-F", "raw", str(overlay)]


def qemu_command(image, *, boot: str = "bios", memory: str = MEMORY,
                 display: str | None = "none", serial: str | None = None,
                 monitor: str | None = "none", qmp: Path | None = None, reboot: bool = False,
                 cpu: str | None = None, floppy: bool = False, blkdebug=None,
                 gdb_port: int | None = None, debugcon: Path | None = None,
                 smp: int | None = 1, paused: bool = True, wait_for_gdb: bool = False,
                 arch: str = "x86_64", cdrom=None, kernel=None, append: str | None = None,
                 initrd=None, int_log: Path | None = None, stop_on_fault: bool = False,
                 gdb_qmp: Path | None = None, rr: RecordReplay | None = None,
                 extra=()) -> list[str]:
    """The argument list for one QEMU boot of `image` by boot path `boot` (BOOTS); `image`
    None boots no disk (only cdrom or kernel).

    display: "none", "curses", or None for QEMU's default (a window).
    serial: a QEMU chardev for COM1 ("stdio", "file:PATH"), None for QEMU's default.
    monitor: "none" or None (QEMU's default: on the window's console).
    qmp: a Unix socket path for QMP (server, not waiting).
    reboot: False adds -no-reboot (a triple fault or reset ends QEMU instead of looping).
    gdb_port: a gdbstub on 127.0.0.1:PORT, started paused (-S) unless paused=False.
    wait_for_gdb: farjump's UEFI loader waits for GDB at its start and says its ImageBase
    on COM1 (fw_cfg file opt/farjump/wait-for-gdb; boot/uefi.c).
    debugcon: port E9h written to this file.
    smp: CPUs (-smp N only when N > 1, so one CPU boots with exactly today's command).
    arch: "x86_64" or "i386" (qemu-system-i386).
    cdrom: an ISO image, booted from when there is no disk (read-only, never locked).
    kernel/append/initrd: QEMU's -kernel (a Linux bzImage, a Multiboot ELF) and its
    command line and initrd.
    int_log: QEMU's exception log (-d int,cpu_reset) written to this file (make why).
    stop_on_fault: a triple fault (or any reset or shutdown) pauses the VM instead of
        ending or resetting it (-action reboot=shutdown,shutdown=pause): the CPU stays on
        the faulting instruction for QMP and GDB (QMP set-action can undo it for a reset).
    gdb_qmp: a second QMP socket, for farjump's GDB commands ($FJ_QMP: fj reset's
        set-action around system_reset under stop_on_fault).
    rr: record or replay this boot (RecordReplay); the disk is then rr's overlay over
        `image` behind blkreplay instead of the snapshot=on drive.
    """
    cmd = [qemu_binary(arch)]
    if rr is not None:
        cmd += rr_options(rr)
    elif image is not None:
        cmd += boot_media(boot, image, floppy=floppy, blkdebug=blkdebug)
    if cdrom is not None:
        cmd += ["-drive", f"media=cdrom,format=raw,readonly=on,file.locking=off,"
                          f"file={qemu_opt(cdrom)}"]
        if image is None:
            cmd += ["-boot", "d"]
    if kernel is not None:
        cmd += ["-kernel", str(kernel)]
        if append:
            cmd += ["-append", append]
        if initrd is not None:
            cmd += ["-initrd", str(initrd)]
    cmd += ["-m", memory]
    if display is not None:
        cmd += ["-display", display]
    if serial is not None:
        cmd += ["-serial", serial]
    if qmp is not None:
        cmd += ["-qmp", f"unix:{qemu_opt(qmp)},server=on,wait=off"]
    if gdb_qmp is not None:
        cmd += ["-qmp", f"unix:{qemu_opt(gdb_qmp)},server=on,wait=off"]
    if monitor is not None:
        cmd += ["-monitor", monitor]
    if not reboot:
        cmd.append("-no-reboot")
    if cpu:
        cmd += ["-cpu", cpu]
    if smp and smp != 1:
        cmd += ["-smp", str(smp)]
    if floppy:
        cmd += ["-boot", "a"]
    if gdb_port is not None:
        cmd += (["-S"] if paused else []) + ["-gdb", f"tcp:127.0.0.1:{gdb_port}"]
    if wait_for_gdb:
        cmd += ["-fw_cfg", "name=opt/farjump/wait-for-gdb,string=1"]
    if debugcon is not None:
        cmd += ["-debugcon", f"file:{qemu_opt(debugcon)}"]
    if int_log is not None:
        cmd += ["-d", "int,cpu_reset", "-D", str(int_log)]
    if stop_on_fault:
        cmd += ["-action", "reboot=shutdown,shutdown=pause"]
    return cmd + list(extra)


def x_display_problem(display: str, timeout: float = 2.0) -> str | None:
    """Why the X server named by $DISPLAY cannot be reached, or None if it can (or the
    name is not one this understands). QEMU's GTK display would otherwise hang on a TCP
    timeout or say only "gtk initialization failed"."""
    import re
    import socket
    m = re.fullmatch(r"(?:unix)?(?P<host>[^:/]*):(?P<num>\d+)(?:\.\d+)?", display)
    if not m:
        return None
    host, num = m.group("host"), int(m.group("num"))
    if host in ("", "unix"):
        sock = f"/tmp/.X11-unix/X{num}"
        if os.path.exists(sock):
            return None
        return f"no X server socket {sock}"
    try:
        with socket.create_connection((host, 6000 + num), timeout=timeout):
            return None
    except OSError as e:
        return f"no X server at {host}:{6000 + num} ({e.strerror or e})"
