"""make why (python3 -m fjqemu.why): boot an image and, when it triple-faults, say why.

    python3 -m fjqemu.why [--json] [--timeout S] [--outdir DIR] [--elf ELF ...] [IMAGE]

QEMU runs headless with its exception log on (-d int,cpu_reset -D DIR/int.log), -no-reboot,
and -action reboot=shutdown,shutdown=pause, so a triple fault leaves the CPU paused on the
faulting instruction. Then the log's exception chain and the paused CPU (QMP: info
registers, memory through the CPU's paging) go to fjgdb.decoders.triple, which explains
each fault, the rule that escalated it and the state that matters; nested faults QEMU logs
no line for are rebuilt from IDTR/GDTR, the mode and the gates. The faulting instruction
is named by symbol and source line from the ELF of the stage it ran in: IMAGE's own ELF
beside it (NAME.elf) if there is one, else build/stage1.elf, build/stage2.elf and the
kernel's (build/kernel.elf; build/fault/kernel-NAME.elf for build/fault/NAME.img).

Without a triple fault it says how the boot ended: the CPU halted with interrupts off,
the guest reset or powered off, or the time limit (--timeout, $TIMEOUT, default 30 s).
Status: 0 when it could tell, 1 when it could not (no image, QEMU failed), 124 on timeout.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.qemuregs import parse_info_registers
from fjgdb.decoders.triple import Explanation, explain, mode_of, parse_log
from fjgdb.render.why import render_text

from . import BUILD, IMAGE, ROOT
from .elf import Elf, ElfError
from .imagecheck import image_problem
from .vm import QemuError, QemuVM

PROG = "why"


def say(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def default_elfs(image: Path) -> list[Path]:
    """The ELFs whose symbols name addresses in a boot of `image` (see the docstring)."""
    own = image.with_suffix(".elf")
    kernel = BUILD / "kernel.elf"
    if image.parent.name == "fault":
        kernel = image.parent / f"kernel-{image.stem}.elf"
    elfs = [own] if own.is_file() else []
    return elfs + [BUILD / "stage1.elf", BUILD / "stage2.elf", kernel]


def locate(addr: int, elfs: list[Path]) -> dict | None:
    """{stage, elf, symbol, file, line} of the first ELF with a section holding `addr`."""
    for path in elfs:
        try:
            elf = Elf.read(path)
        except ElfError:
            continue
        if not any(s.type in ("SHT_PROGBITS", "SHT_NOBITS") and s.addr and s.addr <= addr < s.addr + s.size
                   for s in elf.sections):
            continue
        syms = [s for s in elf.symbols() if s.name and s.type in ("STT_FUNC", "STT_NOTYPE",
                "STT_OBJECT") and s.section not in ("SHN_ABS", "SHN_UNDEF") and s.value <= addr]
        best = max(syms, key=lambda s: (s.value, "." not in s.name), default=None)
        symbol = None
        if best:
            off = addr - best.value
            symbol = best.name + (f"+{off:#x}" if off else "")
        file = line = None
        try:
            r = subprocess.run(["addr2line", "-e", str(path), hex(addr)], capture_output=True,
                               text=True, timeout=10)
            where = r.stdout.strip().rsplit(":", 1)
            if r.returncode == 0 and len(where) == 2 and where[0] != "??":
                file, line = shown_source(where[0]), int(where[1].split()[0])
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
        return {"stage": path.stem, "elf": str(path), "symbol": symbol, "file": file,
                "line": line}
    return None


def shown_source(file: str) -> str:
    """A source path from addr2line as the repository names it (boot/stage2.asm): relative
    to the tree, and without the doubled folder NASM's compile directory gives outside GDB
    (boot//boot/stage2.asm)."""
    try:
        parts = Path(os.path.normpath(file)).relative_to(ROOT).parts
    except ValueError:
        return file
    for i in range(len(parts)):
        if (ROOT.joinpath(*parts[i:])).is_file():
            return str(Path(*parts[i:]))
    return str(Path(*parts))


def disassemble(code: bytes | None, addr: int, bits: int) -> str | None:
    if not code:
        return None
    try:
        import capstone
    except ImportError:
        return f"bytes {code[:8].hex(' ')} (capstone missing: 'make deps')"
    mode = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32, 64: capstone.CS_MODE_64}[bits]
    for insn in capstone.Cs(capstone.CS_ARCH_X86, mode).disasm(code, addr):
        return f"{insn.mnemonic} {insn.op_str}".strip() + f"   ({insn.bytes.hex(' ')})"
    return f"bytes {code[:8].hex(' ')} (not an instruction)"


def code_bits(regs) -> int:
    mode = mode_of(regs).name
    if mode == "real":
        return 16
    if mode == "64-bit":
        return 64
    return 32 if regs.cs.db else 16


def watch(vm: QemuVM, timeout: float) -> str:
    """Run until the CPU is paused by a shutdown (a triple fault or reset), halts with
    interrupts off, or `timeout` passes: "shutdown", "halted" or "timeout"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = vm.qmp("query-status")["status"]
        if status in ("shutdown", "guest-panicked", "internal-error"):
            return "shutdown"
        regs = vm.hmp("info registers")
        if "HLT=1" in regs and not parse_info_registers(regs).rflags & 0x200:
            return "halted"
        time.sleep(0.1)
    return "timeout"


def run(image: Path, timeout: float, outdir: Path, elfs: list[Path]) -> tuple[str, Explanation,
                                                                            str | None]:
    outdir.mkdir(parents=True, exist_ok=True)
    log = outdir / "int.log"
    log.unlink(missing_ok=True)
    with QemuVM(image, workdir=outdir, int_log=log, stop_on_fault=True) as vm:
        how = watch(vm, timeout)
        vm.qmp("stop")
        regs = parse_info_registers(vm.hmp("info registers"))
        text = log.read_text(errors="replace") if log.exists() else ""
        chain = parse_log(text)
        linear = regs.cs.base + regs.rip
        code = vm.read_virt(linear, 15)
        e = explain(chain, regs, vm.read_virt, code)
        reason = vm.shutdown_reason()
    ended = None
    if chain is None:
        ended = {"halted": "no triple fault: the CPU halted with interrupts off",
                 "timeout": f"no triple fault: still running after {timeout:g} s",
                 "shutdown": f"no triple fault: the guest ended the run ({reason or 'shutdown'})"
                 }[how]
    e = Explanation(**{**e.__dict__, "instruction": disassemble(code, linear, code_bits(regs)),
                       "location": locate(linear, elfs)})
    return how, e, ended


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="make why", description=__doc__.split("\n\n")[0],
                                 epilog="See the module docstring (qemu/fjqemu/why.py).")
    ap.add_argument("image", nargs="?", default=str(IMAGE),
                    help="disk image (default: build/disk.img)")
    ap.add_argument("--json", action="store_true", help="the explanation as JSON")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("TIMEOUT") or 30),
                    help="seconds the boot may take (default: $TIMEOUT or 30)")
    ap.add_argument("--outdir", default=str(BUILD / "why"),
                    help="where QEMU's logs go (default: build/why)")
    ap.add_argument("--elf", action="append", default=None,
                    help="an ELF to name addresses with (repeatable; default: see above)")
    args = ap.parse_args(argv)
    if args.timeout <= 0:
        ap.error("--timeout must be positive")
    image = Path(args.image)
    problem = image_problem(image)
    if problem:
        say(problem)
        return 1
    elfs = [Path(p) for p in args.elf] if args.elf else default_elfs(image)
    try:
        how, e, ended = run(image, args.timeout, Path(args.outdir), elfs)
    except (QemuError, DecodeError) as err:
        say(str(err))
        return 1
    if args.json:
        print(json.dumps({"image": str(image), "ended": how if not e.triple else "triple fault",
                          "log": str(Path(args.outdir) / "int.log"), **e.to_dict()}, indent=1))
    else:
        print(render_text(e, ended))
        print(f"log           {shown_source(str(Path(args.outdir).resolve() / 'int.log'))}")
    return 124 if how == "timeout" and not e.triple else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted; QEMU stopped")
        sys.exit(130)
