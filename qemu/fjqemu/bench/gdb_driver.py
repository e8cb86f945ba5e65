"""Runs inside one batch GDB for make bench (qemu/fjqemu/bench/gdbbench.py): times fj
commands and stepping (time.perf_counter). Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN gives
"mode" (decode, step-on, step-off, step-plain) and "n"; the result goes to $FJ_OUT."""
import json
import os
import time

try:
    import gdb
    gdb.execute         # python3 -m from the repository imports the gdb/ directory instead
except (ImportError, AttributeError):
    raise SystemExit("bench/gdb_driver.py runs inside GDB ('make bench' starts it); not on its own")

if "FJ_IN" not in os.environ:     # sourced in GDB by hand: no configuration, one line
    raise SystemExit("bench/gdb_driver.py is run by 'make bench' (its configuration comes in $FJ_IN), "
                     "not by hand")
CFG = json.load(open(os.environ["FJ_IN"]))
MODE, N = CFG["mode"], int(CFG["n"])
R = {"mode": MODE}
gdb.execute("set confirm off")
gdb.execute("set pagination off")
gdb.execute("tbreak kernel_main")
gdb.execute("continue", to_string=True)
R["start_pc"] = int(gdb.parse_and_eval("$pc"))


def timed(cmd, before=None):
    if before is not None:
        before()
    t = time.perf_counter()
    gdb.execute(cmd, to_string=True)
    return time.perf_counter() - t


if MODE == "decode":
    from fjgdb.target.state import STATE
    pairs = (("fj gdt", "monitor info registers"),)      # fj pt: pt_driver.py
    for a, b in pairs:        # warm-up: one-time costs (imports, symbol tables, probes)
        STATE.invalidate()
        gdb.execute(a, to_string=True)
        gdb.execute(b, to_string=True)
    reads = STATE.monitor_reads
    for a, b in pairs:
        xs, ys = [], []
        for _ in range(N):
            # What a stop does: drop fj's per-stop cache, so every timed call asks QEMU
            # for the registers again and walks/reads the tables afresh.
            xs.append(timed(a, STATE.invalidate))
            ys.append(timed(b))
        R[a], R[b] = xs, ys
    R["monitor_reads_per_fj_call"] = (STATE.monitor_reads - reads) / N
else:                         # step-on, step-off, step-plain
    if MODE != "step-plain":
        gdb.execute("set fj-context " + ("on" if MODE == "step-on" else "off"))
    outs = []
    t = time.perf_counter()
    for _ in range(N):
        outs.append(gdb.execute("stepi", to_string=True))
    R["seconds"] = time.perf_counter() - t
    R["end_pc"] = int(gdb.parse_and_eval("$pc"))
    R["panels"] = sum(o.count("--- fj:") for o in outs)
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f)
