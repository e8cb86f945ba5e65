"""Runs inside one batch GDB for make bench's gdb-pt rows (qemu/fjqemu/bench/ptbench.py):
times `fj pt` (or a peer's page-table command) at kernel_main against `monitor info mem`,
alternately, with time.perf_counter. Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN gives "n"
and either "ways" (farjump: `set fj-pt-fast` values to time) or "peer" (a GDB script to
source, e.g. gef.py) with "peer_cmd"; the result goes to $FJ_OUT."""
import json
import os
import time

try:
    import gdb
    gdb.execute         # python3 -m from the repository imports the gdb/ directory instead
except (ImportError, AttributeError):
    raise SystemExit("bench/pt_driver.py runs inside GDB ('make bench' starts it); not on its own")

if "FJ_IN" not in os.environ:     # sourced in GDB by hand: no configuration, one line
    raise SystemExit("bench/pt_driver.py is run by 'make bench' (its configuration comes in "
                     "$FJ_IN), not by hand")
CFG = json.load(open(os.environ["FJ_IN"]))
N = int(CFG["n"])
R = {}
gdb.execute("set confirm off")
gdb.execute("set pagination off")
if CFG.get("peer"):
    t = time.perf_counter()
    gdb.execute(f"source {CFG['peer']}", to_string=True)
    R["peer_load_seconds"] = time.perf_counter() - t
    for cmd in CFG.get("peer_setup", []):
        gdb.execute(cmd, to_string=True)
gdb.execute("tbreak kernel_main", to_string=True)
gdb.execute("continue", to_string=True)
R["pc"] = int(gdb.parse_and_eval("$pc"))


def timed(cmd, before=None):
    if before is not None:
        before()
    t = time.perf_counter()
    text = gdb.execute(cmd, to_string=True)
    return time.perf_counter() - t, text


if CFG.get("peer"):
    cmd = CFG["peer_cmd"]
    R["peer_output"] = timed(cmd)[1][-3000:]      # warm-up, and what it says
    timed("monitor info mem")
    xs, ys = [], []
    for _ in range(N):
        xs.append(timed(cmd)[0])
        ys.append(timed("monitor info mem")[0])
    R["subject"], R["reference"] = xs, ys
else:
    from fjgdb.commands import pt
    from fjgdb.target.memory import PageTableReader
    from fjgdb.target.state import STATE

    def after_stop():
        """What a stop does: fj's per-stop state is dropped (fj pt's memo is kept: it
        checks the tables' bytes again) and GDB builds the frames again, which runs the
        unwinders with that fresh state (GDB does it to report the stop). Without the
        second part the first later command that flushes GDB's frames (any monitor
        command: the reference) would pay the unwinder's per-stop work instead."""
        STATE.invalidate()
        gdb.invalidate_cached_frames()
        frame = gdb.newest_frame()
        try:
            frame.older()
        except gdb.error:
            pass

    def fresh():
        """A stop, and no earlier walk to compare with: the whole walk again."""
        after_stop()
        pt._MEMO.clear()

    # way name -> (set fj-pt-fast value, what happens before each timed call)
    WAYS = {"proc": ("on", fresh), "gdbstub": ("gdbstub", fresh),
            "repeat": ("on", after_stop), "plain": ("off", fresh)}
    # timed in this order: "repeat" right after "proc", whose fresh walk it repeats
    ways = [w for w in ("proc", "repeat", "gdbstub", "plain") if w in CFG["ways"]]
    outputs = {}
    for way in ways:                      # warm-up: per-connection probes, imports
        gdb.execute(f"set fj-pt-fast {WAYS[way][0]}")
        outputs[way] = timed("fj pt", WAYS[way][1])[1]
        timed("monitor info mem")
    samples = {w: ([], []) for w in ways}
    memo = {w: dict.fromkeys(pt.MEMO_STATS, 0) for w in ways}   # how each way answered
    reads = {w: dict.fromkeys(PageTableReader.STATS, 0) for w in ways}   # gdbstub reads
    for _ in range(N):
        for way in ways:
            gdb.execute(f"set fj-pt-fast {WAYS[way][0]}")
            before = dict(pt.MEMO_STATS)
            before_reads = dict(PageTableReader.STATS)
            samples[way][0].append(timed("fj pt", WAYS[way][1])[0])
            for k in memo[way]:
                memo[way][k] += pt.MEMO_STATS[k] - before[k]
            for k in reads[way]:
                reads[way][k] += PageTableReader.STATS[k] - before_reads[k]
            samples[way][1].append(timed("monitor info mem")[0])
    R["memo"] = memo
    R["reads"] = reads
    gdb.execute("set fj-pt-fast on")
    R["ways"] = {w: {"subject": xs, "reference": ys} for w, (xs, ys) in samples.items()}
    R["same_output"] = len(set(outputs.values())) == 1
    R["lines"] = len(next(iter(outputs.values()), "").splitlines())
    R["show"] = gdb.execute("show fj-pt-fast", to_string=True).strip()
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f)
