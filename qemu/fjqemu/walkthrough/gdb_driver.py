"""Runs inside GDB for scripts/walkthrough (capture.py): types the walkthrough's GDB
commands, records what each one printed.

    gdb -nx -batch -x gdb/farjump.gdb -ex "target remote ..." ... -x gdb_driver.py

Protocol (fjqemu.gdbrun): $FJ_IN (JSON: {"blocks": [{"name", "cmds": [...]}], "subst": {shown: real},
"timeout": seconds per 'continue', "mark"}), $FJ_OUT (result JSON: {"errors": {"B:I": message}}).
Before command I of block B it prints the line MARK + "B:I" to GDB's standard output and
then runs the command as typed, so that everything it prints, including what GDB prints
asynchronously when the guest stops, lands in order after its marker; the caller splits
GDB's standard output at the markers. A command that fails is recorded in "errors" (what
GDB would print on its standard error). A command's text is what the doc shows; before it
runs, each key of "subst" in it is replaced by its value (docs/img/ -> a temporary
directory during --check); the caller applies the reverse to the output.
"""
import json
import os
import threading
import traceback

try:
    import gdb
    gdb.execute         # python3 -m from the repository imports the gdb/ directory instead
except (ImportError, AttributeError):
    raise SystemExit("walkthrough/gdb_driver.py runs inside GDB ('scripts/walkthrough' starts it); not on its own")

if "FJ_IN" not in os.environ:     # sourced in GDB by hand: no configuration, one line
    raise SystemExit("walkthrough/gdb_driver.py is run by 'scripts/walkthrough' (its configuration comes in $FJ_IN), "
                     "not by hand")
CFG = json.load(open(os.environ["FJ_IN"]))
SUBST = CFG.get("subst", {})
TIMEOUT = float(CFG.get("timeout", 10))


def to_real(text):
    for shown, real in SUBST.items():
        text = text.replace(shown, real)
    return text


def bounded_continue(cmd):
    """'continue' (or 'c'), interrupting the guest after TIMEOUT s so that a breakpoint
    that is never reached cannot hang the capture."""
    fired = threading.Event()

    def interrupt():
        th = gdb.selected_thread()
        if th is not None and th.is_running():
            gdb.execute("interrupt", to_string=True)

    def fire():
        fired.set()
        gdb.post_event(interrupt)

    timer = threading.Timer(TIMEOUT, fire)
    timer.daemon = True
    timer.start()
    try:
        gdb.execute(cmd, from_tty=False)
    finally:
        timer.cancel()
    if fired.is_set():
        raise gdb.error(f"'{cmd}' did not stop within {TIMEOUT:.0f} s (interrupted)")


def run(cmd):
    """None, or the error message."""
    real = to_real(cmd)
    try:
        if real.split()[0] in ("continue", "c", "next", "n", "step", "s", "finish"):
            bounded_continue(real)
        else:
            gdb.execute(real, from_tty=False)
        return None
    except gdb.error as e:
        return str(e)
    except Exception:   # noqa: BLE001 -- reported, never hidden
        return "Python: " + traceback.format_exc()


MARK = CFG["mark"]
errors = {}
gdb.execute("set pagination off")
gdb.execute("set width 0")
gdb.execute("set height 0")
for b, block in enumerate(CFG["blocks"]):
    for i, cmd in enumerate(block["cmds"]):
        gdb.flush()
        gdb.write(f"{MARK}{b}:{i}\n")
        gdb.flush()
        err = run(cmd)
        gdb.flush()
        if err is not None:
            errors[f"{b}:{i}"] = err
gdb.write(f"{MARK}end\n")
gdb.flush()
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump({"errors": errors}, f)
