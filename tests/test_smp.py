"""farjump's own kernel with several CPUs (-smp N, real QEMU, bounded): every AP walks
real -> protected -> long mode through the trampoline, prints "CPU n online" on COM1 and
on the VGA screen, and halts in long mode; one CPU boots exactly as before."""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fjqemu.vm import QemuVM

ROOT = Path(__file__).resolve().parent.parent
BOOT_TIMEOUT = 30
VGA = 0xB8000

# QEMU's own view, parsed here without fjgdb: CPU#n blocks of 'info registers -a'.
BLOCK_RE = re.compile(r"^CPU#(\d+)\s*$", re.M)


def qemu_cpus(text):
    """{cpu_index: block text} of 'info registers -a'."""
    heads = list(BLOCK_RE.finditer(text))
    return {int(h.group(1)): text[h.end():heads[i + 1].start() if i + 1 < len(heads) else None]
            for i, h in enumerate(heads)}


def long_mode_halted(block):
    """EFER.LMA set, CS.L set (64-bit code), HLT=1: where an AP ends."""
    efer = int(re.search(r"EFER=([0-9a-f]+)", block).group(1), 16)
    cs_flags = int(re.search(r"^CS =[0-9a-f]{4} [0-9a-f]+ [0-9a-f]{8} ([0-9a-f]{8})",
                             block, re.M).group(1), 16)
    return bool(efer & 1 << 10), bool(cs_flags & 1 << 21), "HLT=1" in block


@pytest.fixture(scope="module")
def smp4(build):
    with QemuVM(build / "disk.img", smp=4) as vm:
        vm.wait_serial("CPU 3 online", timeout=BOOT_TIMEOUT)
        vm.wait_halted(timeout=BOOT_TIMEOUT)        # the boot CPU, after starting them all
        # The last AP sets its flag a few instructions before its HLT: wait (bounded)
        # until QEMU shows every CPU halted, or take what it shows then.
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            regs = vm.hmp("info registers -a")
            if regs.count("HLT=1") >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raw = vm.read_phys(VGA, 80 * 25 * 2)
        serial = vm.serial().replace("\r\n", "\n")
    screen = [bytes(raw[r * 160:(r + 1) * 160:2]).decode("cp437").rstrip() for r in range(25)]
    return serial, regs, screen


def test_every_ap_prints_online_once_in_order(smp4):
    serial = smp4[0]
    lines = [line for line in serial.splitlines() if re.match(r"CPU \d+ online", line)]
    assert lines == ["CPU 0 online (APIC ID 0, boot CPU), starting 3 more",
                     "CPU 1 online (APIC ID 1, long mode)",
                     "CPU 2 online (APIC ID 2, long mode)",
                     "CPU 3 online (APIC ID 3, long mode)"], serial[-600:]
    assert "smp:" not in serial                     # no AP given up on
    assert serial.index("Hello World!") < serial.index("CPU 1 online") < \
        serial.index("  total ")        # the timeline report comes after the CPUs


def test_online_lines_on_the_vga_screen(smp4):
    screen = smp4[2]
    for n in (1, 2, 3):
        assert f"CPU {n} online (APIC ID {n}, long mode)" in screen, "\n".join(screen)


def test_every_cpu_halts_in_long_mode(smp4):
    cpus = qemu_cpus(smp4[1])
    assert sorted(cpus) == [0, 1, 2, 3]
    for n, block in cpus.items():
        assert long_mode_halted(block) == (True, True, True), (n, block[:400])


def test_one_cpu_boots_as_before(build):
    with QemuVM(build / "disk.img") as vm:
        vm.wait_serial("Hello World!", timeout=BOOT_TIMEOUT)
        vm.wait_halted(timeout=BOOT_TIMEOUT)
        serial = vm.serial()
        assert "-smp" not in vm.command()
        assert len(qemu_cpus(vm.hmp("info registers -a"))) == 1
    assert "online" not in serial and "smp:" not in serial


def test_make_run_smp(build):
    """make run SMP=4, headless: the same module and options the Makefile runs."""
    r = subprocess.run([sys.executable, "-m", "fjqemu.run", "--headless", "--timeout", "30",
                        "--smp", "4", str(build / "disk.img")], cwd=ROOT,
                       capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}/qemu:{ROOT}/gdb:{ROOT}/build/gen"})
    assert r.returncode == 0, r.stderr
    assert "CPU 3 online (APIC ID 3, long mode)" in r.stdout
    bad = subprocess.run([sys.executable, "-m", "fjqemu.run", "--smp", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}/qemu:{ROOT}/gdb:{ROOT}/build/gen"})
    assert bad.returncode == 2 and "SMP must be a CPU count from 1 to 255" in bad.stderr


def test_make_debug_smp(build):
    """make debug SMP=4 passes --smp 4 to scripts/debug's module, which gives GDB one
    thread per CPU: fj cpus lists them, CPU 0 at stage1_start, the APs parked by SeaBIOS."""
    dry = subprocess.run(["make", "-n", "debug", "debug-server", "run", "SMP=4"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    recipes = [line for line in dry.stdout.splitlines()
               if re.search(r"fjqemu\.(run|debug)\b", line)]
    assert len(recipes) == 3 and all(re.search(r"--smp '?4'?", line) for line in recipes), dry.stdout
    r = subprocess.run([str(ROOT / "scripts" / "debug"), "--smp", "4", "--", "-batch",
                        "-ex", "fj cpus"], cwd=ROOT, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if re.match(r"[* ] CPU \d", line)]
    assert len(rows) == 4, r.stdout
    assert rows[0].startswith("* CPU 0  thread 1  real") and "<stage1_start>" in rows[0]
    assert all(f"CPU {n}  thread {n + 1}  protected" in rows[n] for n in (1, 2, 3))
