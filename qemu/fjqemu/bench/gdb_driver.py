"""Runs inside one batch GDB for make bench (qemu/fjqemu/bench/gdbbench.py): times fj
commands and stepping (time.perf_counter). Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN gives
"mode" (decode, step-on, step-off, step-plain), "n", "warmup" (stepi before the timed
ones) and, for the step modes, "lockstep" ({"go", "done": FIFOs, "chunk"}: step a chunk
per "go" line, answer with a JSON line; gdbbench.py); the result goes to $FJ_OUT."""
import hashlib
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
WARMUP = int(CFG.get("warmup", 20))
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
    # The same work in every configuration, whatever the timing: stepi until the PC has
    # changed N times. QEMU sometimes reports a step that did not advance (more often on a
    # loaded machine); such a stepi is one more gdbstub round trip, counted in "stepis",
    # and the time is compared per stepi. A REP string instruction also stays at its PC,
    # the same number of times in every configuration.
    if MODE != "step-plain":
        gdb.execute("set fj-context " + ("on" if MODE == "step-on" else "off"))
    pc_of = lambda: int(gdb.parse_and_eval("$pc"))   # noqa: E731
    moved, last, tries = 0, pc_of(), 0
    while moved < WARMUP and tries < 4 * WARMUP:   # one-time costs (imports, symbol
        gdb.execute("stepi", to_string=True)       # tables) are not per step
        tries += 1
        if pc_of() != last:
            moved, last = moved + 1, pc_of()
    R["start_pc"] = pc_of()
    outs = []
    S = {"stepis": 0, "advanced": 0, "last": R["start_pc"]}
    trace = hashlib.sha256()
    limit = 2 * N + 100      # a guest stuck at one PC (a halted CPU) ends the run

    def run_until(goal: int) -> float:
        """stepi until the PC has changed *goal* times since the start; the seconds."""
        t = time.perf_counter()
        while S["advanced"] < goal and S["stepis"] < limit:
            outs.append(gdb.execute("stepi", to_string=True))
            S["stepis"] += 1
            pc = pc_of()
            if pc != S["last"]:
                S["advanced"] += 1
                S["last"] = pc
                trace.update(pc.to_bytes(8, "little"))
        return time.perf_counter() - t

    lock = CFG.get("lockstep")
    if lock is None:
        R["seconds"] = run_until(N)
    else:
        # Lockstep (gdbbench.py): the benchmark runs the configurations side by side and
        # lets one step a chunk at a time ("go" in, the chunk's figures out), so that a
        # change in the machine's load falls on all of them alike.
        chunks = []
        # "done" first: the benchmark holds its reading end open already, and once this
        # side waits at "go", an end of file on "done" means this driver has stopped
        with open(lock["done"], "w") as done, open(lock["go"]) as go:
            for line in go:
                if line.strip() != "go":
                    break
                before = S["stepis"]
                seconds = run_until(min(N, S["advanced"] + int(lock["chunk"])))
                chunks.append([seconds, S["stepis"] - before])
                done.write(json.dumps({"seconds": seconds, "stepis": S["stepis"] - before,
                                       "advanced": S["advanced"]}) + "\n")
                done.flush()
        R["chunks"] = chunks
        R["seconds"] = sum(c[0] for c in chunks)
    R["stepis"], R["advanced"], R["end_pc"] = S["stepis"], S["advanced"], S["last"]
    R["trace"] = trace.hexdigest()[:16]
    R["panels"] = sum(o.count("--- fj:") for o in outs)
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f)
