"""Runs inside GDB against farjump's own boot with -smp 4 (tests/gdb/test_gdb_smp.py).

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN (JSON: root, port), $FJ_OUT (result file).
Stops at the first AP's ap_start (real mode, CS = SIPI vector << 8) and ap_lm_entry,
then where the boot CPU has started every AP; at each records fj cpus, QEMU's
'info registers -a', and per thread fj mode / fj seg. The tests judge.
"""
import json
import os

import gdb

from fjgdb.target.run import continue_with_timeout

CFG = json.load(open(os.environ["FJ_IN"]))
R = {"stops": {}}


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


def per_thread():
    """fj mode / fj seg / $pc for every thread, then back to the thread that stopped."""
    stopped = gdb.selected_thread().num
    d = {}
    for t in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
        gdb.execute(f"thread {t.num}", to_string=True)
        d[str(t.num)] = {"mode": js("fj mode --json"), "seg": js("fj seg --json"),
                         "mode_text": run("fj mode"), "pc": int(gdb.parse_and_eval("$pc")),
                         "x1i": run("x/1i $pc"), "bt": run("bt 5"),
                         "pt": run("fj pt --json")}
        gdb.execute("set fj-pt-fast off")           # the plain path: info registers
        d[str(t.num)]["pt_plain"] = run("fj pt --json")
        gdb.execute("set fj-pt-fast on")
    gdb.execute(f"thread {stopped}", to_string=True)
    return d


def collect(name, status):
    R["stops"][name] = {
        "status": status, "thread": gdb.selected_thread().num,
        "pc": int(gdb.parse_and_eval("$pc")),
        "cpus": js("fj cpus --json"), "cpus_text": run("fj cpus"),
        "info_registers_all": run("monitor info registers -a"),
        "mode": js("fj mode --json"), "context": run("fj context"),
        "threads": per_thread()}


def cont_to(symbol):
    """Continue until the pc is at *symbol* (bounded). With several vCPUs QEMU sometimes
    reports a second SIGTRAP at the breakpoint just deleted (a stop GDB then shows as a
    signal, not as a breakpoint hit); those are counted and continued past."""
    want = int(gdb.parse_and_eval(f"(long) &{symbol}")) & 0xFFFFFFFFFFFFFFFF
    R.setdefault("spurious", {})[symbol] = 0
    for _ in range(4):
        status = continue_with_timeout(30)
        if status != "stopped" or int(gdb.parse_and_eval("$pc")) & (2**64 - 1) == want:
            return status
        R["spurious"][symbol] += 1
    return "wrong place"


gdb.execute("set pagination off")
R["transitions"] = js("fj transitions --json")
gdb.execute("delete")
gdb.execute("break ap_start")
collect("ap_start", continue_with_timeout(30))
# After the far jump to CS = 0 the pc is the linear address again, so an ordinary
# breakpoint on the next label hits (on the same AP: the others wait for INIT-SIPI).
gdb.execute("delete")
gdb.execute("break ap_real_cs0")
R["stops"]["ap_start"]["cont"] = cont_to("ap_real_cs0")
R["stops"]["ap_start"]["after_jump"] = {"mode": js("fj mode --json"),
                                         "thread": gdb.selected_thread().num,
                                         "pc": int(gdb.parse_and_eval("$pc")),
                                         "frame": run("frame")}
gdb.execute("break ap_pm_entry")
collect("ap_pm_entry", cont_to("ap_pm_entry"))
gdb.execute("delete")
gdb.execute("break ap_lm_entry")
collect("ap_lm_entry", cont_to("ap_lm_entry"))
gdb.execute("delete")
gdb.execute("break ap_main")
collect("ap_main", cont_to("ap_main"))
gdb.execute("delete")
# The boot CPU returns from smp_start_aps only when every AP has printed its line, and
# calls timeline_print next.
gdb.execute("break timeline_print")
collect("all_online", continue_with_timeout(60))
gdb.execute("delete")
R["tour"] = js("fj tour --reset --timeout 60 --json")
R["tour_text"] = run("fj tour --reset --timeout 60")
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f)
