"""Runs inside GDB (gdb -nx -batch -x broken_driver.py): creates broken CPU states for real
in a booting guest and records what every fj command says in each. Dumps JSON.

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN (JSON: root, port), $FJ_OUT (result file). The session is connected to a
QEMU started with -no-reboot (tests/gdb/test_gdb_broken.py judges the results).
Order: reset state, stage1_start, stage2_start, stage 2's lgdt with a garbage and then an
unreadable GDTR (repaired afterwards so the boot goes on), kernel_main with a garbage
GDT/IDT, CR3 outside RAM, a PML4 entry outside RAM, reserved bits in paging entries, an
unreadable IDTR loaded by idt_init's lidt, and finally 'fj reset' which ends QEMU.
"""
import json
import os
import re
import time

import gdb

CFG = json.load(open(os.environ["FJ_IN"]))
ROOT = CFG["root"]
R = {}
INF = gdb.selected_inferior()


def run(cmd):
    try:
        return {"out": gdb.execute(cmd, to_string=True)}
    except gdb.error as e:
        return {"error": str(e)}


def js(cmd):
    return json.loads(gdb.execute(cmd, to_string=True))


def rd(addr, n):
    return INF.read_memory(addr, n).tobytes()


def wr(addr, data):
    INF.write_memory(addr, data)


def u64(addr):
    return int.from_bytes(rd(addr, 8), "little")


def wr64(addr, value):
    wr(addr, value.to_bytes(8, "little"))


def pc():
    return int(gdb.parse_and_eval("$pc")) & 0xFFFFFFFFFFFFFFFF


def line_of(path, pattern):
    with open(os.path.join(ROOT, path)) as f:
        for n, line in enumerate(f, 1):
            if re.search(pattern, line):
                return n
    raise RuntimeError(f"{pattern!r} not in {path}")


def stepi_n(key, n):
    R[key] = [run("stepi") for _ in range(n)]


def survey(prefix, cmds):
    for key, cmd in cmds.items():
        R[f"{prefix}_{key}"] = run(cmd)


T0 = time.monotonic()
gdb.execute("set pagination off")
gdb.execute("set python print-stack full")    # an escaped exception would show a Traceback

# ---- at the reset vector: GDTR/IDTR hold their reset values, paging off ---------------
survey("reset", {"gdt": "fj gdt", "idt": "fj idt", "pt": "fj pt", "mode": "fj mode"})

# ---- stage1_start: the BIOS left GDTR limit 0 ------------------------------------------
gdb.execute("tbreak stage1_start")
gdb.execute("continue")
survey("stage1", {"gdt": "fj gdt", "pt_addr": "fj pt 0x7c00", "seg": "fj seg"})

# ---- stage2_start: paging off ------------------------------------------------------------
gdb.execute("tbreak stage2_start")
gdb.execute("continue")
survey("stage2", {"pt": "fj pt", "pt_json": "fj pt --json", "ivt": "fj ivt 0x10"})

# ---- stage 2's lgdt: GDTR pointing at garbage, then at unreadable memory ---------------
lgdt_line = line_of("boot/stage2.asm", r"^\s*lgdt \[gdt_descriptor\]")
gdb.execute(f"tbreak boot/stage2.asm:{lgdt_line}")
gdb.execute("continue")
LGDT = pc()
insn = rd(LGDT - 1, 6)
R["lgdt_bytes"] = insn.hex()
R["lgdt_pc"] = LGDT
assert insn[0] == 0xFA and insn[1:4] == b"\x0f\x01\x16", insn.hex()  # cli; lgdt [disp16]
DESC = int.from_bytes(insn[4:6], "little")
desc_orig = rd(DESC, 6)
stage2 = int(gdb.parse_and_eval("(long)&stage2_start"))
# (a) garbage: 5 "descriptors" that are stage 2's own code
wr(DESC, (0x27).to_bytes(2, "little") + stage2.to_bytes(4, "little"))
gdb.execute("stepi", to_string=True)
survey("garbage", {"gdt": "fj gdt", "gdt_json": "fj gdt --json", "seg": "fj seg",
                   "mode": "fj mode"})
# (b) unreadable: o32 lgdt (0x66 over the cli) loads a 32-bit base beyond guest RAM
wr(LGDT - 1, b"\x66")
wr(DESC, (0x27).to_bytes(2, "little") + (0x7FFF0000).to_bytes(4, "little"))
gdb.execute(f"set $pc = {LGDT - 1}")
gdb.execute("stepi", to_string=True)
survey("unreadable", {"gdt": "fj gdt", "gdt_json": "fj gdt --json", "seg": "fj seg",
                      "mode": "fj mode", "context": "fj context", "x2i": "x/2i $pc"})
# (c) step into protected mode (mov eax, cr0; or eax, 1; mov cr0, eax) with that GDTR,
# the context panel on at every stop; the far jump after would fault, so stop before it
gdb.execute("set fj-context on")
stepi_n("unreadable_stepi", 3)
gdb.execute("set fj-context off")
survey("pm_unreadable", {"gdt": "fj gdt", "mode": "fj mode", "seg": "fj seg",
                         "idt": "fj idt", "pt": "fj pt"})
# the PC pointing at unreadable memory (beyond guest RAM): the panel and the
# disassembler say so instead of failing
gdb.execute("set $pc = 0x7fff0000")
survey("pc_unreadable", {"context": "fj context", "x2i": "x/2i $pc", "mode": "fj mode"})
# repair: the original descriptor and cli, run the real lgdt again, boot on
wr(DESC, desc_orig)
wr(LGDT - 1, b"\xfa")
gdb.execute(f"set $pc = {LGDT}")
gdb.execute("stepi", to_string=True)
R["repaired_gdt"] = run("fj gdt")

# ---- kernel_main ----------------------------------------------------------------------------
gdb.execute("tbreak kernel_main")
gdb.execute("continue")
R["kernel_reached"] = pc() == int(gdb.parse_and_eval("(long)&kernel_main")) \
    & 0xFFFFFFFFFFFFFFFF
survey("kernel", {"noncanon": "fj pt 0x0000800000000000",
                  "noncanon_json": "fj pt 0x800000000000 --json",
                  "badexpr": "fj pt no_such_symbol", "ok_walk": "fj pt &kernel_main"})

# garbage GDT and IDT contents (the loader's, in use at kernel_main; restored after)
gdtr = js("fj gdt --json")
idtr = js("fj idt --json")
R["kernel_gdtr"], R["kernel_idtr"] = [gdtr["base"], gdtr["limit"]], \
    [idtr["base"], idtr["limit"]]
gdt_orig = rd(gdtr["base"], 40)
idt_orig = rd(idtr["base"], 64)
wr(gdtr["base"], bytes((0x5A + 37 * i) & 0xFF for i in range(40)))
wr(idtr["base"], bytes((0xC3 + 71 * i) & 0xFF for i in range(64)))
survey("garbage_kernel", {"gdt": "fj gdt", "idt": "fj idt", "idt_all": "fj idt --all",
                          "gdt_json": "fj gdt --json"})
wr(gdtr["base"], gdt_orig)
wr(idtr["base"], idt_orig)

# CR3 outside guest RAM (QEMU's gdbstub lets GDB write CR3; CR3's type is a flags
# struct, hence the cast)
cr3 = int(gdb.parse_and_eval("(long)$cr3"))
gdb.execute("set $cr3 = (void *) 0x7ff00000")
R["cr3_written"] = int(gdb.parse_and_eval("(long)$cr3"))
survey("cr3", {"pt": "fj pt", "pt_addr": "fj pt &kernel_main", "pt_json": "fj pt --json",
               "mode": "fj mode", "seg": "fj seg", "idt": "fj idt", "gdt": "fj gdt",
               "context": "fj context", "vga": "fj vga --no-color"})
gdb.execute(f"set $cr3 = (void *) {cr3}")
R["cr3_restored"] = run("fj pt &kernel_main")

# a PML4 entry (an unused one, 256) pointing outside guest RAM
PML4 = cr3 & ~0xFFF
e256 = u64(PML4 + 256 * 8)
wr64(PML4 + 256 * 8, 0x7FF00003)
survey("pml4_out", {"walk": "fj pt 0xffff800000001000", "pt": "fj pt",
                    "walk_json": "fj pt 0xffff800000001000 --json"})
wr64(PML4 + 256 * 8, e256)

# reserved bits: PS in a PML4 entry (1), bit 13 in the 2 MiB PDE that maps 0x20000000
pde = js("fj pt 0x20000000 --json")["steps"][-1]
R["pde_addr"] = pde["entry_addr"]
e1 = u64(PML4 + 8)
wr64(PML4 + 8, (u64(PML4) & ~0xFFF) | 0x83)
wr64(pde["entry_addr"], pde["entry"]["value"] | 1 << 13)
survey("rsvd", {"walk_pd": "fj pt 0x20000000", "walk_pml4": "fj pt 0x8000000000",
                "pt": "fj pt", "walk_json": "fj pt 0x20000000 --json"})
wr64(pde["entry_addr"], pde["entry"]["value"])
wr64(PML4 + 8, e1)
R["rsvd_restored"] = run("fj pt 0x20000000")

# IDTR loaded with an unreadable (canonical, unmapped) base by idt_init's own lidt
dis = gdb.execute("disassemble idt_init", to_string=True)
m = re.search(r"^\s*(0x[0-9a-f]+) <\+\d+>:\s+lidt", dis, re.M)
gdb.execute(f"tbreak *{m.group(1)}")
gdb.execute("continue")
ptr = int(gdb.parse_and_eval("(long)&ptr")) & 0xFFFFFFFFFFFFFFFF
wr64(ptr + 2, 0xFFFF800000000000)
gdb.execute("stepi", to_string=True)
survey("idtr_bad", {"idt": "fj idt", "idt_json": "fj idt --json", "mode": "fj mode",
                    "gdt": "fj gdt"})
gdb.execute("set fj-context on")
stepi_n("idtr_bad_stepi", 3)
gdb.execute("set fj-context off")
R["idtr_bad_after"] = run("fj idt")
R["final_mode"] = run("fj mode --json")

# 'fj reset' on a QEMU started with -no-reboot: QEMU exits; then not connected
R["reset_noreboot"] = run("fj reset")
R["after_exit"] = run("fj mode")
R["after_exit_context"] = run("fj context")
R["wall"] = time.monotonic() - T0
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f, indent=1)
