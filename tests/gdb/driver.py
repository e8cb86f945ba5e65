"""Runs inside GDB (gdb -nx -batch -x driver.py): walks the boot once and dumps JSON.

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN (JSON: root, port), $FJ_OUT (result file).
Every command's output (or its error) is recorded; tests/gdb/test_*.py judge them.
"""
import json
import os
import re
import time

import gdb

CFG = json.load(open(os.environ["FJ_IN"]))
ROOT = CFG["root"]
R = {"stops": {}, "steps": {}, "errors": {}}


def run(cmd):
    try:
        return {"out": gdb.execute(cmd, to_string=True)}
    except gdb.error as e:
        return {"error": str(e)}


def js(cmd):
    r = run(cmd)
    if "out" in r:
        try:
            r["json"] = json.loads(r["out"])
        except ValueError as e:
            r["json_error"] = str(e)
    return r


def line_of(path, pattern, after=0):
    with open(os.path.join(ROOT, path)) as f:
        for n, line in enumerate(f, 1):
            if re.search(pattern, line):
                return n + after
    raise RuntimeError(f"{pattern!r} not in {path}")


def cur_line():
    sal = gdb.selected_frame().find_sal()
    return {"file": sal.symtab.filename if sal.symtab else None, "line": sal.line,
            "pc": int(gdb.selected_frame().pc())}


def pt_every_way():
    """fj pt (dump and the walk of $pc) under each `set fj-pt-fast`, the fast one again
    after dropping the per-stop cache as a stop does, and the fast one again in the same
    stop; the test compares them with "pt" (the first, fast, call at this stop). At
    lm_entry and kernel_main CR3 is the same and the loader has changed the tables in
    between: the memo of the first must not answer for the second."""
    from fjgdb.target.memory import PageTableReader
    from fjgdb.target.state import STATE
    ways = {}
    for way in ("gdbstub", "off", "on"):
        gdb.execute(f"set fj-pt-fast {way}")
        if way == "on":
            STATE.invalidate()
        before = dict(PageTableReader.STATS)
        ways[way] = js("fj pt --json")
        ways[way + "_reads"] = {k: v - before[k] for k, v in PageTableReader.STATS.items()}
        ways[way + "_walk"] = js("fj pt $pc --json")
    ways["same"] = js("fj pt --json")
    ways["show"] = run("show fj-pt-fast")
    return ways


def pt_not_identity():
    """fj pt through the gdbstub reads linear = physical first and keeps the answer only
    if it maps every table it read at its own address. For a moment, the page that maps
    the PML4's linear address (CR3's, in the identity map) points 2 MiB higher (written
    with PhyMemMode): the reads there are not the tables; the gdbstub way must find that
    out, read them again with PhyMemMode and agree with the plain path, and not try
    again for this CR3."""
    from fjgdb.target.memory import PageTableReader
    from fjgdb.target.state import STATE
    pml4 = js("fj pt --json")["json"]["cr3"] & ~0xFFF
    leaf = js(f"fj pt 0x{pml4:x} --json")["json"]["steps"][-1]["entry_addr"]

    def physical(action):
        gdb.execute("maint packet Qqemu.PhyMemMode:1", to_string=True)
        try:
            return action()
        finally:
            gdb.execute("maint packet Qqemu.PhyMemMode:0", to_string=True)
    old = physical(lambda: int(gdb.parse_and_eval(f"*(unsigned long *) 0x{leaf:x}")))
    physical(lambda: gdb.execute(f"set {{unsigned long}} 0x{leaf:x} = 0x{old + 0x200000:x}"))
    res = {"leaf": leaf, "old": old}
    try:
        for way in ("gdbstub", "off", "gdbstub_again"):
            gdb.execute(f"set fj-pt-fast {way.split('_')[0]}")
            STATE.invalidate()
            before = dict(PageTableReader.STATS)
            res[way] = js("fj pt --json")
            res[way + "_reads"] = {k: v - before[k] for k, v in PageTableReader.STATS.items()}
    finally:
        physical(lambda: gdb.execute(f"set {{unsigned long}} 0x{leaf:x} = 0x{old:x}"))
        gdb.execute("set fj-pt-fast on")
    res["restored"] = js("fj pt --json")
    return res


def collect(name):
    d = {"mode": js("fj mode --json"), "x3i": run("x/3i $pc"), "x12i": run("x/12i $pc"),
         "seg": js("fj seg --json"),
         "gdt": js("fj gdt --json"), "info_registers": run("monitor info registers"),
         "pt": js("fj pt --json"), "context": js("fj context --json"),
         "pc": int(gdb.parse_and_eval("$pc"))}
    if name in ("lm_entry", "kernel_main"):
        d["pt_ways"] = pt_every_way()
    if name == "kernel_main":
        d["info_mem"] = run("monitor info mem")
        d["pt_addr"] = js("fj pt &kernel_main --json")
        d["pt_noncanon"] = run("fj pt 0x0000800000000000")
        d["pt_not_identity"] = pt_not_identity()
        d["idt_before_init"] = run("fj idt")
    R["stops"][name] = d


T0 = time.monotonic()
gdb.execute("set disassembly-flavor intel")
gdb.execute("set pagination off")
for name in ("stage1_start", "stage2_start", "pm_entry", "lm_entry", "kernel_main"):
    gdb.execute(f"break {name}")

# stage 1: real mode, plus source-level stepping over a call
gdb.execute("continue")
collect("stage1_start")
gdb.execute("set disassembly-flavor att")
R["stops"]["stage1_start"]["x3i_att"] = run("x/3i $pc")
gdb.execute("set disassembly-flavor intel")
R["errors"]["pt_real"] = run("fj pt")
R["errors"]["idt_real"] = run("fj idt")
R["errors"]["bad_option"] = run("fj mode --bogus")
call = line_of("boot/stage1.asm", r"^\s*call read_sectors")
R["steps"]["list"] = run(f"list {call},{call + 1}")
gdb.execute(f"tbreak boot/stage1.asm:{call}")
gdb.execute("continue")
R["steps"]["stage1_before"] = cur_line()
R["steps"]["stage1_info_line"] = run("info line")
gdb.execute("next")
R["steps"]["stage1_after_next"] = cur_line()
R["steps"]["stage1_call_line"] = call
rs_bp = gdb.Breakpoint("read_sectors")
R["steps"]["stage1_step"] = run("step")

for name in ("stage2_start", "pm_entry"):
    gdb.execute("continue")
    while cur_line()["file"] and "disk.inc" in cur_line()["file"]:   # read_sectors bp
        gdb.execute("continue")
    if name == "stage2_start":
        rs_bp.delete()
        # stage 2's header is data: decoding resumes at stage2_main; 0x7dfe is named
        R["stage2_x6i"] = run("x/6i stage2_start")
        R["boot_signature"] = run("x/2xb 0x7dfe")
    collect(name)

# protected mode: next over 'call build_identity_map'
call = line_of("boot/stage2.asm", r"^\s*call build_identity_map")
gdb.execute(f"tbreak boot/stage2.asm:{call}")
gdb.execute("continue")
R["steps"]["pm_bt"] = run("bt")
gdb.execute("next")
R["steps"]["pm_after_next"] = cur_line()
R["steps"]["pm_call_line"] = call

for name in ("lm_entry", "kernel_main"):
    gdb.execute("continue")
    collect(name)
    if name == "lm_entry":      # bt in the loader's C, called from lm_entry (jumped to)
        gdb.execute("tbreak check_header")
        gdb.execute("continue")
        R["steps"]["loader_bt"] = run("bt")
R["steps"]["kernel_bt"] = run("bt")
gdb.execute("next")
R["steps"]["kernel_next"] = cur_line()
# bt deep in the kernel's C, in a lexical block of an inlined function (put_char in
# vga_write): the unwinder once took such a block for NASM code and ended bt there
gdb.execute("tbreak put_char")
gdb.execute("continue")
R["steps"]["deep_bt"] = run("bt")
# a real corrupt stack still says so (farjump's frame filter keeps back only its own
# outermost frames' "previous frame identical")
gdb.execute("set $fj_rbp = $rbp")
gdb.execute("set $rbp = 0xdead0000")
R["steps"]["corrupt_bt"] = run("bt")
gdb.execute("set $rbp = $fj_rbp")

# after Hello World: the line after the kprintf, reached with a bounded continue
hello = line_of("kernel/main.c", r'kprintf\("Hello World!')
gdb.execute(f"tbreak kernel/main.c:{hello + 1}")
from fjgdb.target.run import continue_with_timeout   # noqa: E402
R["after_hello_continue"] = continue_with_timeout(10)
R["vga"] = js("fj vga --json")
R["vga_text"] = run("fj vga --no-color")
R["idt"] = js("fj idt --json")
R["ivt"] = js("fj ivt 0x10 --json")
from fjgdb.target.state import STATE   # noqa: E402
n0 = STATE.monitor_reads
t = time.monotonic()
for _ in range(5):
    gdb.execute("stepi", to_string=True)
R["stepi_5_seconds"] = time.monotonic() - t
R["stepi_5_monitor_reads"] = STATE.monitor_reads - n0

# the tour, from a reset, as a scripted regression boot
gdb.execute("delete")
R["tour"] = js("fj tour --reset --timeout 10 --json")
R["tour_standing"] = run("fj tour --timeout 2")   # at kernel_main: only that one
gdb.execute("stepi", to_string=True)
t = time.monotonic()
R["tour_timeout"] = run("fj tour --timeout 1.5")  # nothing left to reach: times out
R["tour_timeout_seconds"] = time.monotonic() - t
R["mode_after_timeout"] = js("fj mode --json")
R["wall"] = time.monotonic() - T0
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f, indent=1)
