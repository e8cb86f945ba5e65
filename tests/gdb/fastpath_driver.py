"""Runs inside GDB (tests/gdb/test_gdb_fastpath.py): steps through mode transitions with
the context panel on and, at every stop, compares what fj shows through the per-stop
cache's fast path (target/fastpath.py: GDB's registers + the previous stop's descriptor
caches, code windows kept over a stepi) with the plain path: the same commands with
`fj-always-refresh` (one 'monitor info registers' at this stop, every window and GDB
frame dropped), then the fast path's state is put back so that the next stop takes it
again.

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN (JSON: "port", "setup": commands before 'target
remote' (none when gdbrun already connected), "segments": [{"start": [commands], "steps":
N, "symbol": where "continue" must stop}], "all_threads": compare every thread at every
stop, "stale_gprs": ask a fast snapshot's general registers after the next stepi,
"other_thread_gprs": ask them with another thread selected);
$FJ_OUT: {"stops", "mismatches", "fast", "monitor", "modes", "segments", "stale_gprs"}.
"""
import json
import os
import re

import gdb

from fjgdb.commands.context import PANEL
from fjgdb.target import code as code_mod
from fjgdb.target.run import continue_with_timeout
from fjgdb.target.errors import FjError
from fjgdb.target.fastpath import LazyGprs
from fjgdb.target.state import STATE

CFG = json.load(open(os.environ["FJ_IN"]))
R = {"stops": 0, "mismatches": [], "modes": [], "segments": [], "errors": []}
PANEL_RE = re.compile(r"^(?:CPU \d+ \(thread.*\n)?--- fj:.*?^changed since last stop:.*$",
                      re.M | re.S)


def run(cmd):
    try:
        return gdb.execute(cmd, to_string=True)
    except gdb.error as e:
        return f"error: {e}"


def js(cmd):
    text = run(cmd)
    try:
        return json.loads(text)
    except ValueError:
        return text


def capture():
    snap = None
    try:
        snap = STATE.snapshot().regs.to_dict()
    except Exception as e:   # noqa: BLE001 - recorded, compared
        snap = f"error: {e}"
    return {"mode": js("fj mode --json"), "seg": js("fj seg --json"), "x": run("x/3i $pc"),
            "bt": run("bt 2"), "regs": snap}


def capture_slow(panel_last):
    """The plain path at this stop, without disturbing the fast path's state."""
    saved = (STATE._snaps, STATE._base, STATE._code, STATE._last_stop, dict(PANEL.last),
             code_mod._DECODED)
    code_mod._DECODED = {}            # the panel's disassembly cache: not on this path
    STATE.always_refresh = True
    STATE._snaps, STATE._qemu_errors, STATE._code, STATE.scan_cache = {}, {}, {}, {}
    gdb.invalidate_cached_frames()
    try:
        PANEL.last = dict(panel_last)
        panel = run("fj context").strip()
        return panel, capture()
    finally:
        STATE.always_refresh = False
        STATE._snaps, STATE._base, STATE._code, STATE._last_stop = saved[:4]
        PANEL.last = saved[4]
        code_mod._DECODED = saved[5]
        gdb.invalidate_cached_frames()


def compare(where, panel_fast, panel_last):
    if panel_fast is None:        # another thread: its panel as 'fj context' shows it
        kept = dict(PANEL.last)
        PANEL.last = dict(panel_last)
        panel_fast = run("fj context").strip()
        PANEL.last = kept
    fast = capture()
    panel_slow, slow = capture_slow(panel_last)
    if panel_fast != panel_slow:
        R["mismatches"].append({"at": where, "what": "panel", "fast": panel_fast[:800],
                                "plain": panel_slow[:800]})
    for key in fast:
        if fast[key] != slow[key]:
            R["mismatches"].append({"at": where, "what": key, "fast": str(fast[key])[:800],
                                    "plain": str(slow[key])[:800]})
    mode = fast["mode"]
    if isinstance(mode, dict):
        name = f"{mode.get('mode')}/{mode.get('submode')}/{mode.get('bits')}"
        if not R["modes"] or R["modes"][-1] != name:
            R["modes"].append(name)


def pc():
    return int(gdb.parse_and_eval("$pc")) & (2**64 - 1)


def go(cmds, symbol):
    """Run a segment's start commands; a 'continue' is bounded and, with several vCPUs,
    repeated past QEMU's spurious second SIGTRAP until the pc is at *symbol*."""
    want = None
    if symbol:
        want = int(gdb.parse_and_eval(f"(long) &{symbol}")) & (2**64 - 1)
    for cmd in cmds:
        if cmd != "continue":
            run(cmd)
            continue
        for _ in range(4):
            status = continue_with_timeout(30)
            if status != "stopped" or want is None or pc() == want:
                break
        if status != "stopped":
            R["errors"].append(f"{cmds}: {status}")
            return False
    return True


def step_segment(seg):
    done = 0
    same = 0
    last_pc = pc()
    while done < seg["steps"]:
        panel_last = dict(PANEL.last)
        out = gdb.execute("stepi", to_string=True)
        done += 1
        R["stops"] += 1
        m = PANEL_RE.search(out)
        panel_fast = m.group(0).strip() if m else f"(no panel in: {out[-300:]})"
        where = f"{seg.get('name', '')} step {done} pc 0x{pc():x}"
        compare(where, panel_fast, panel_last)
        if CFG.get("all_threads") and STATE.cpu_count() > 1:
            here = gdb.selected_thread().num
            for t in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
                if t.num != here:
                    gdb.execute(f"thread {t.num}", to_string=True)
                    compare(f"{where} thread {t.num}", None, dict(PANEL.last))
            gdb.execute(f"thread {here}", to_string=True)
        same = same + 1 if pc() == last_pc else 0
        last_pc = pc()
        if same >= 3:            # a REP string instruction: run to its end
            nxt = re.findall(r"0x([0-9a-f]+)", run("x/2i $pc").splitlines()[-1])
            if nxt:
                run(f"tbreak *0x{nxt[0]}")
                continue_with_timeout(30)
            same = 0


def lazy_snapshot():
    """stepi until the snapshot is a fast-path one (general registers not read yet)."""
    for _ in range(20):
        run("stepi")
        snap = STATE.snapshot()
        if isinstance(snap.regs.gprs, LazyGprs):
            return snap
    return None


def stale_gprs():
    """A fast-path snapshot's general registers (read from GDB when first asked for),
    asked for only after the guest has run again: refused, not another stop's."""
    snap = lazy_snapshot()
    if snap is None:
        return "no fast-path snapshot in 20 stepi"
    run("stepi")
    try:
        return f"answered: rax=0x{snap.regs.gprs['rax']:x}"
    except FjError as e:
        return str(e)


def other_thread_gprs():
    """The same asked for with another CPU's thread selected: refused, not that CPU's;
    asked again with its own thread selected: answered, as GDB has them."""
    snap = lazy_snapshot()
    if snap is None:
        return {"error": "no fast-path snapshot in 20 stepi"}
    here = gdb.selected_thread().num
    other = next(t.num for t in gdb.selected_inferior().threads() if t.num != here)
    gdb.execute(f"thread {other}", to_string=True)
    try:
        r = {"other": f"answered: rax=0x{snap.regs.gprs['rax']:x}"}
    except FjError as e:
        r = {"other": str(e)}
    gdb.execute(f"thread {here}", to_string=True)
    r["own"] = snap.regs.gprs["rbx"]
    r["gdb"] = int(gdb.parse_and_eval("$rbx")) & (2**64 - 1)
    return r


def main():
    for cmd in CFG.get("setup", []):
        run(cmd)
    if "port" in CFG and CFG.get("connect"):
        run(f"target remote 127.0.0.1:{CFG['port']}")
    run("set pagination off")
    run("set confirm off")
    run("set fj-context on")
    f0, m0 = STATE.fast_snapshots, STATE.monitor_reads
    for seg in CFG["segments"]:
        if not go(seg.get("start", []), seg.get("symbol")):
            continue
        if seg.get("thread"):
            run(f"thread {seg['thread']}")
        R["segments"].append({"name": seg.get("name"), "pc": pc(),
                              "thread": gdb.selected_thread().num})
        step_segment(seg)
        R["segments"][-1]["end"] = pc()
    R["fast"] = STATE.fast_snapshots - f0
    R["monitor"] = STATE.monitor_reads - m0
    if CFG.get("stale_gprs"):
        R["stale_gprs"] = stale_gprs()
    if CFG.get("other_thread_gprs"):
        R["other_thread_gprs"] = other_thread_gprs()
    R["mismatches"] = R["mismatches"][:20]


try:
    main()
except Exception as e:   # noqa: BLE001 - the test reports it
    R["errors"].append(f"{type(e).__name__}: {e}")
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f)
