"""The test guest tests/guests/modes under real QEMU and GDB: real mode at CS=1020h (fj
break SEG:OFF, the disassembler against objdump -m i8086), 32-bit paging with 4 MiB and
PSE-36 pages, PAE in protected mode, 4-level with a 1 GiB page in compatibility mode,
5-level paging and CPL 3, each `fj pt` checked against QEMU's own `info tlb`, `info mem`
and `gva2gpa`; and the same guest under qemu-system-i386 (GDB architecture i386, then
i8086). One QEMU and one GDB per architecture."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from fjqemu import ROOT
from fjqemu.gdbrun import run_driver
from fjqemu.vm import QemuVM

DRIVER = Path(__file__).with_name("script_driver.py")
GUEST = ROOT / "build" / "guests"


@pytest.fixture(scope="module")
def guest(build):
    subprocess.run(["make", "-s", "build/guests/modes.img"], cwd=ROOT, check=True,
                   timeout=60, stdout=subprocess.DEVNULL)
    return GUEST / "modes.img"


def session(image, commands, *, arch="x86_64", cpu=None, setup=()):
    with QemuVM(image, gdb=True, cpu=cpu, arch=arch) as vm:
        run = run_driver(DRIVER, config={"port": vm.gdb_port, "setup": list(setup),
                                         "commands": commands},
                         timeout=60, symbols=False)
    if run.result is None:
        pytest.fail(f"driver wrote no results {run.tail(4000)}")
    return run.result


def out(r, key):
    assert "out" in r[key], (key, r[key])
    return r[key]["out"]


def tlb(text):
    """QEMU's `info tlb`: {virt: (phys, flags)} (x86: 'VIRT: PHYS FLAGS')."""
    pages = {}
    for m in re.finditer(r"^([0-9a-f]+): ([0-9a-f]+) (\S+)", text, re.M):
        pages[int(m.group(1), 16)] = (int(m.group(2), 16), m.group(3))
    return pages


def mem(text):
    """QEMU's `info mem`: [(start, end, user, writable)]."""
    return [(int(a, 16), int(b, 16), f[0] == "u", f[2] == "w")
            for a, b, f in re.findall(r"^([0-9a-f]+)-([0-9a-f]+) [0-9a-f]+ (\S{3})", text,
                                      re.M)]


def pages_of(doc):
    """fj pt --json ranges expanded to {virt page: (phys, range)} (one entry per page
    of each range's page size, as `info tlb` lists them)."""
    pages = {}
    for r in doc["ranges"]:
        for off in range(0, r["size"], r["page_size"]):
            pages[r["virt"] + off] = (r["phys"] + off, r)
    return pages


def merged(doc):
    """Ranges merged as `info mem` merges them: contiguous virtual, same u/w."""
    runs = []
    for r in doc["ranges"]:
        key = (r["user"], r["writable"])
        if runs and runs[-1][1] == r["virt"] and runs[-1][2:] == key:
            runs[-1] = (runs[-1][0], r["virt"] + r["size"], *key)
        else:
            runs.append((r["virt"], r["virt"] + r["size"], *key))
    return runs


def check_against_tlb(doc, tlb_text, high=None):
    """Every page fj pt lists is in QEMU's info tlb with the same physical address and
    the same NX/user/writable bits, and nothing else is. *high*: {virt: gva2gpa text}
    for pages above 4 GiB (QEMU's 32-bit info tlb drops PSE-36 bits 39:32)."""
    ours, qemu = pages_of(doc), tlb(tlb_text)
    assert ours and set(ours) == set(qemu), (sorted(ours), sorted(qemu))
    for virt, (phys, r) in ours.items():
        qphys, flags = qemu[virt]
        if phys >> 32 and high and virt in high:
            assert f"gpa: 0x{phys:x}" in high[virt], (virt, high[virt])
        else:
            assert qphys & ((1 << 52) - 1) == phys, (hex(virt), hex(phys), hex(qphys))
        assert ("X" in flags) == r["nx"], (hex(virt), flags, r)
        assert flags[-2] == ("U" if r["user"] else "-"), (hex(virt), flags, r)
        assert flags[-1] == ("W" if r["writable"] else "-"), (hex(virt), flags, r)


def every_way(key, cmd):
    """*cmd* (an fj pt --json) again under each `set fj-pt-fast`, and once more after
    dropping the per-stop cache as a stop does (the memo re-reads and compares the
    tables): [key_gdbstub, key_off, key_again, key_same] must all equal *key*'s."""
    return [(f"{key}_set_gdbstub", "set fj-pt-fast gdbstub"), (f"{key}_gdbstub", cmd),
            (f"{key}_set_off", "set fj-pt-fast off"), (f"{key}_off", cmd),
            (f"{key}_set_on", "set fj-pt-fast on"),
            (f"{key}_stop", "python from fjgdb.target.state import STATE; STATE.invalidate()"),
            (f"{key}_again", cmd), (f"{key}_same", cmd)]


def same_every_way(r, key):
    """The fast paths' JSON is the plain path's, and the direct reads were used."""
    doc = r[key]["json"]
    for way in ("gdbstub", "off", "again", "same"):
        assert r[f"{key}_{way}"].get("json") == doc, (key, way, r[f"{key}_{way}"])
    return doc


def direct_reads(r, key="show_fast"):
    text = out(r, key)
    assert "guest RAM read from /proc/" in text and "checked against the gdbstub" in text, \
        text


X86_64 = [
    ("break_rm", "fj break 1020:0000"),
    ("cont_rm", "continue"),
    ("x8i", "x/8i $pc"),
    ("mode_rm", "fj mode --json"),
    ("tbreak_typed", "fj tbreak 1020:0004"),      # the CS:IP of the call, as x/i shows it
    ("cont_typed", "continue"),
    ("break_func", "fj break &rm_func"),
    ("cont_func", "continue"),
    ("bt_rm", "bt"),
    ("info_breaks", "info breakpoints"),
    ("b1", "break paging32_on"), ("c1", "continue"), ("w1", "info symbol $pc"),
    ("pt32", "fj pt --json"), *every_way("pt32", "fj pt --json"), ("pt32_text", "fj pt"),
    ("walk32", "fj pt 0xc00010 --json"), *every_way("walk32", "fj pt 0xc00010 --json"),
    ("tlb32", "monitor info tlb"), ("mem32", "monitor info mem"),
    ("gva32", "monitor gva2gpa 0xc00000"),
    ("b2", "break pae_on"), ("c2", "continue"), ("w2", "info symbol $pc"),
    ("ptpae", "fj pt --json"), *every_way("ptpae", "fj pt --json"),
    ("tlbpae", "monitor info tlb"), ("mempae", "monitor info mem"),
    ("walkpae", "fj pt 0x201234 --json"), *every_way("walkpae", "fj pt 0x201234 --json"),
    ("gdtpae", "fj gdt --json"),
    ("b3", "break compat_on"), ("c3", "continue"), ("w3", "info symbol $pc"),
    ("mode4", "fj mode --json"), ("pt4", "fj pt --json"), *every_way("pt4", "fj pt --json"),
    ("tlb4", "monitor info tlb"),
    ("mem4", "monitor info mem"),
    ("b4", "break la57_on"), ("c4", "continue"), ("w4", "info symbol $pc"),
    ("mode5", "fj mode --json"), ("pt5", "fj pt --json"), *every_way("pt5", "fj pt --json"),
    ("tlb5", "monitor info tlb"),
    ("walk5", "fj pt 0xffffffffc0001234 --json"),
    *every_way("walk5", "fj pt 0xffffffffc0001234 --json"),
    ("gva5", "monitor gva2gpa 0xffffffffc0001234"),
    ("show_fast", "show fj-pt-fast"),
    # a table written through GDB in the same stop (PML5[511], identity-mapped through
    # PML5[0]'s 1 GiB page): the memo must see it; then put back
    ("pml5_clear", "set {unsigned int}0x28ff8 = 0"), ("pt5_cleared", "fj pt --json"),
    *every_way("pt5_cleared", "fj pt --json"),
    ("pml5_restore", "set {unsigned int}0x28ff8 = 0x29003"), ("pt5_restored", "fj pt --json"),
    ("b5", "break user_code"), ("c5", "continue"), ("w5", "info symbol $pc"),
    ("mode_user", "fj mode --json"), ("regs_user", "monitor info registers"),
    # the guest ran on, tables unchanged, another stop: the memo's result, re-checked
    ("pt5_user", "fj pt --json"), *every_way("pt5_user", "fj pt --json"),
    ("gdt_user", "fj gdt --json"),
]


@pytest.fixture(scope="module")
def x86_64(guest):
    return session(guest, X86_64, cpu="qemu64,+la57,+pdpe1gb",
                   setup=[f"file {GUEST / 'modes.elf'}"])


def objdump(mode, start, stop):
    """(offset, mnemonic) of each instruction objdump decodes in *mode*."""
    text = subprocess.run(["objdump", "-D", "-b", "binary", "-m", mode,
                           f"--start-address={start}", f"--stop-address={stop}",
                           str(GUEST / "modes.bin")], capture_output=True, text=True,
                          timeout=30, check=True).stdout
    return [(int(a, 16), m) for a, m in re.findall(r"^\s+([0-9a-f]+):\s+(?:[0-9a-f]{2} )+"
                                                   r"\s*(\w+)", text, re.M)]


def test_real_mode_breakpoint_at_cs_1020(x86_64):
    r = x86_64
    assert "Breakpoint 1 at 1020:0000 = linear 0x10200 <rm_entry>" in out(r, "break_rm")
    stop = out(r, "cont_rm")
    assert "Breakpoint 1, 1020:0000 (linear 0x10200) <rm_entry>" in stop
    assert "SIGTRAP" not in stop
    assert r["mode_rm"]["json"]["mode"] == "real"
    # the typed-back CS:IP of the call (from the disassembly's comments) is hit
    assert "; 1020:0004" in out(r, "x8i")
    assert "Temporary breakpoint 2, 1020:0004 (linear 0x10204)" in out(r, "cont_typed")
    assert "SIGTRAP" not in out(r, "cont_typed")
    # a linear address inside the running CS is planned as 1020:OFF
    assert "at 1020:001f = linear 0x1021f <rm_func>" in out(r, "break_func")
    assert "Breakpoint 3, 1020:001f (linear 0x1021f) <rm_func>" in out(r, "cont_func")
    # the 16-bit unwinder: rm_func's caller is the instruction after the call (IP 7)
    assert re.search(r"#1\s+0x0+7 in", out(r, "bt_rm")), out(r, "bt_rm")
    # continuing from an fj breakpoint does not trap again: the next stop is paging32_on
    assert "paging32_on" in out(r, "w1")


def test_real_mode_disassembly_matches_objdump_i8086(x86_64):
    ours = re.findall(r"0x([0-9a-f]+)[^:]*:\s+(\w+)[^;\n]*; 1020:([0-9a-f]{4})",
                      out(x86_64, "x8i"))
    assert len(ours) == 8, out(x86_64, "x8i")
    ref = objdump("i8086", 0, 0x40)[:8]
    assert [int(a, 16) for a, _, _ in ours] == [a for a, _ in ref]
    assert [int(ip, 16) for _, _, ip in ours] == [a for a, _ in ref]
    for (_, mine, _), (_, theirs) in zip(ours, ref):
        assert mine.rstrip("wl") == theirs.rstrip("wl") or mine[:3] == theirs[:3], \
            (mine, theirs)


def test_32bit_paging_with_4m_and_pse36(x86_64):
    r = x86_64
    doc = r["pt32"]["json"]
    assert doc["format"] == "32-bit" and doc["problems"] == []
    sizes = {x["virt"]: x["page_size"] for x in doc["ranges"]}
    assert sizes[0] == sizes[0x400000] == 4 << 20 and sizes[0x800000] == 4096
    check_against_tlb(doc, out(r, "tlb32"), high={0xC00000: out(r, "gva32")})
    assert merged(doc) == mem(out(r, "mem32"))
    w = r["walk32"]["json"]
    assert w["phys"] == 0x1_00C00010 and [s["level_name"] for s in w["steps"]] == ["PD"]
    assert "(32-bit paging)" in out(r, "pt32_text")
    same_every_way(r, "pt32")
    same_every_way(r, "walk32")


def test_pae_in_protected_mode(x86_64):
    r = x86_64
    doc = r["ptpae"]["json"]
    assert doc["format"] == "PAE" and doc["cr3"] == 0x22020 and doc["problems"] == []
    check_against_tlb(doc, out(r, "tlbpae"))
    assert merged(doc) == mem(out(r, "mempae"))
    w = r["walkpae"]["json"]
    assert w["phys"] == 0x1234 and w["nx"] and w["user"] and not w["writable"]
    assert [s["level_name"] for s in w["steps"]] == ["PDPT", "PD", "PT"]
    assert r["gdtpae"]["json"]["mismatches"] == []
    same_every_way(r, "ptpae")
    same_every_way(r, "walkpae")


def test_4level_1g_page_in_compatibility_mode(x86_64):
    r = x86_64
    m = r["mode4"]["json"]
    assert (m["mode"], m["submode"], m["bits"]) == ("long", "compatibility", 32)
    doc = r["pt4"]["json"]
    assert doc["format"] == "4-level" and doc["ranges"][0]["page_size"] == 1 << 30
    check_against_tlb(doc, out(r, "tlb4"))
    assert merged(doc) == mem(out(r, "mem4"))
    same_every_way(r, "pt4")


def test_5level_paging(x86_64):
    r = x86_64
    assert r["mode5"]["json"]["la57"]
    doc = r["pt5"]["json"]
    assert doc["format"] == "5-level"
    assert doc["ranges"][-1]["virt"] == 0xFFFFFFFFC0000000
    check_against_tlb(doc, out(r, "tlb5"))     # `info mem` is broken under LA57
    w = r["walk5"]["json"]
    assert [s["level_name"] for s in w["steps"]] == ["PML5", "PML4", "PDPT", "PD"]
    assert f"gpa: 0x{w['phys']:x}" in out(r, "gva5")
    same_every_way(r, "pt5")
    same_every_way(r, "walk5")
    direct_reads(r)


def test_fj_pt_fast_paths_see_a_table_change(x86_64):
    """PML5[511] cleared through GDB within one stop: every way drops the higher half;
    put back, the first answer returns; one stop later (user_code: the CPU may have set
    accessed bits since) every way agrees again."""
    r = x86_64
    full = r["pt5"]["json"]
    cleared = same_every_way(r, "pt5_cleared")
    assert cleared["ranges"] and cleared["ranges"] != full["ranges"]
    assert all(x["virt"] < 1 << 56 for x in cleared["ranges"])
    assert any(x["virt"] >= 1 << 56 for x in full["ranges"])
    assert r["pt5_restored"]["json"] == full
    same_every_way(r, "pt5_user")


def test_cpl3(x86_64):
    r = x86_64
    m = r["mode_user"]["json"]
    assert (m["mode"], m["bits"]) == ("long", 64) and "CPL=3" in out(r, "regs_user")
    assert r["gdt_user"]["json"]["mismatches"] == []


I386 = [
    ("arch", "show architecture"),
    ("break_rm", "fj break 1020:0000"), ("cont_rm", "continue"),
    ("x4i", "x/4i $pc"),
    ("b1", "break pm32_entry"), ("c1", "continue"), ("w1", "info symbol $pc"),
    ("x4i_pm", "x/4i $pc"),
    ("i8086", "set architecture i8086"),
    ("x4i_pm_8086", "x/4i $pc"),
    ("mode_pm", "fj mode --json"),
    ("i386", "set architecture i386"),
    ("b2", "break pae_on"), ("c2", "continue"), ("w2", "info symbol $pc"),
    ("ptpae", "fj pt --json"), *every_way("ptpae", "fj pt --json"),
    ("tlbpae", "monitor info tlb"), ("show_fast", "show fj-pt-fast"),
    ("seg", "fj seg --json"),
    ("b3", "break no_long"), ("c3", "continue"), ("w3", "info symbol $pc"),
]


@pytest.fixture(scope="module")
def i386(guest):
    return session(guest, I386, arch="i386", setup=[f"file {GUEST / 'modes32.elf'}"])


def test_qemu_system_i386(i386):
    r = i386
    assert "i386" in out(r, "arch")
    assert "Breakpoint 1, 1020:0000 (linear 0x10200) <rm_entry>" in out(r, "cont_rm")
    # real mode under GDB's i386 architecture: 16-bit decoding, with CS:IP
    x = out(r, "x4i")
    assert "; 1020:0000" in x and "; 1020:0004" in x and "call" in x, x
    ref = objdump("i386", 0x23, 0x40)
    pm = re.findall(r"0x([0-9a-f]+) <[^>]*>:\s+(\w+)", out(r, "x4i_pm"))
    assert [int(a, 16) - 0x10200 for a, _ in pm] == [a for a, _ in ref[:4]]
    # under i8086 GDB decodes 16-bit: the disassembler decodes the 32-bit code anyway
    pm86 = re.findall(r"0x([0-9a-f]+) <[^>]*>:\s+(\w+)", out(r, "x4i_pm_8086"))
    assert [a for a, _ in pm86] == [a for a, _ in pm], (out(r, "x4i_pm_8086"))
    assert r["mode_pm"]["json"]["bits"] == 32
    doc = r["ptpae"]["json"]
    assert doc["format"] == "PAE"
    ours, qemu = pages_of(doc), tlb(out(r, "tlbpae"))
    assert set(ours) == set(qemu)
    same_every_way(r, "ptpae")
    direct_reads(r)
    assert r["seg"]["json"]["cs"]["selector"] == 8
    assert "no_long" in out(r, "w3")


# ---- a 32-bit ELF's symbols against qemu-system-x86_64 (make debug SYMBOLS=) -----------
QUIRK = [("break_rm", "fj break &rm_entry"), ("cont", "continue"),
         ("sym", "info symbol 0x10200"), ("arch", "show architecture")]


def test_32bit_symbols_against_x86_64(guest):
    from fjqemu.machine import Machine
    m = Machine(image=guest, symbols=[(GUEST / "modes32.elf", 0)])
    setup = m.gdb_setup()
    assert setup[0] == "set architecture i386:x86-64"      # before the symbol file
    r = session(guest, QUIRK, setup=setup)
    assert "out" in r["_connect"], r["_connect"]
    assert "Breakpoint 1, 1020:0000 (linear 0x10200) <rm_entry>" in out(r, "cont")
    assert "rm_entry" in out(r, "sym") and "i386:x86-64" in out(r, "arch")
    # the quirk itself: without the architecture set first, the connection breaks
    bad = session(guest, [("arch", "show architecture")],
                  setup=[f"file {GUEST / 'modes32.elf'}"])
    assert "error" in bad["_connect"] and "too long" in bad["_connect"]["error"], bad


# ---- fj tour / fj transitions without symbols (a boot farjump did not write) ----------
FOREIGN = [("break_rm", "fj break 1020:0000"), ("cont", "continue"),
           ("transitions", "fj transitions --json"), ("delete", "delete"),
           ("timeline", "fj timeline"),
           ("tour", "fj tour --timeout 20 --json")]


def test_tour_without_symbols(guest):
    r = session(guest, FOREIGN, cpu="qemu64,+la57,+pdpe1gb")
    t = r["transitions"]["json"]
    assert t["found_by"] == "sweep"
    found = {b["address"]: b["name"] for b in t["breakpoints"]}
    assert found[0x10214].startswith("mov cr0") and found[0x10217].startswith("ljmp")
    assert "not booted by farjump's loader" in r["timeline"]["error"]
    stops = r["tour"]["json"]
    end = stops.pop()
    assert end["reason"] == "64-bit mode reached: no further mode to find", end
    seen = [(s["mode"], s["bits"], s["paging"], s["linear_pc"]) for s in stops]
    for want in [("protected", 16, False, 0x10217), ("protected", 32, False, 0x10223),
                 ("protected", 32, True, 0x1029e), ("long", 32, True, 0x103c0),
                 ("long", 64, True, 0x103c8)]:
        assert want in seen, (want, seen)
    # each reported instruction is what objdump decodes there, in the mode it ran in
    for s in stops:
        insn = s["instruction"]
        mode = {16: "i8086", 32: "i386", 64: "i386:x86-64"}
        off = insn["addr"] - 0x10200
        before_bits = 16 if insn["addr"] < 0x10223 else 32 if insn["addr"] < 0x103c8 or \
            0x103e4 <= insn["addr"] < 0x10447 else 64
        ref = objdump(mode[before_bits], off, off + insn["size"])
        assert ref and ref[0][1][:3] in insn["text"].replace("retfq", "lretq")[:5] + \
            "lre", (insn, ref)
        assert s["linear_pc"] != insn["addr"]          # reported after the instruction ran


# ---- fj pt's fallback: GDB reaches QEMU through a TCP relay (a port forward) -----------
class Relay:
    """A TCP relay in this process: 127.0.0.1:port -> QEMU's gdbstub. The process at the
    other end of GDB's socket is then this one, not QEMU: fj pt must find that out and
    read through the gdbstub."""

    def __init__(self, target_port):
        import socket
        import threading
        self.target_port = target_port
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.server.settimeout(30)
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        import select
        import socket
        try:
            client, _ = self.server.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        pair = {client: upstream, upstream: client}
        with client, upstream:
            while True:
                ready, _, _ = select.select(list(pair), [], [], 60)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)

    def close(self):
        self.server.close()
        self.thread.join(timeout=5)


RELAYED = [("b1", "break pae_on"), ("c1", "continue"), ("pt", "fj pt --json"),
           ("show", "show fj-pt-fast"), ("off", "set fj-pt-fast off"),
           ("pt_plain", "fj pt --json")]


def test_fj_pt_falls_back_to_the_gdbstub_behind_a_relay(guest):
    with QemuVM(guest, gdb=True, cpu="qemu64,+la57,+pdpe1gb") as vm:
        relay = Relay(vm.gdb_port)
        try:
            run = run_driver(DRIVER, config={"port": relay.port, "commands": RELAYED,
                                             "setup": [f"file {GUEST / 'modes.elf'}"]},
                             timeout=60, symbols=False)
        finally:
            relay.close()
    assert run.result is not None, run.tail(3000)
    r = run.result
    assert "Traceback" not in run.stdout + run.stderr
    doc = r["pt"]["json"]
    assert doc["format"] == "PAE" and doc["ranges"] and doc == r["pt_plain"]["json"]
    assert out(r, "show").strip() == (
        "fj pt: fast paths on; through the gdbstub: the process at the gdbstub's end of "
        f"the connection (pid {os.getpid()}) does not map guest RAM where gpa2hva says: not "
        "QEMU (a relay or port forward?).")
