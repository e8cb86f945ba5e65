"""Runs inside GDB against a QEMU replaying a recording (tests/gdb/test_gdb_replay.py), with
$FJ_REPLAY set as make replay sets it: backward moves over every mode transition, the
watchpoint on the VGA cell of the 'H' of Hello World!, and a run of backward moves.

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN (JSON: root, port, scenarios: false for the
moves alone, watch_h: true for the 'H' watchpoint alone, moves: how many backward moves
in the run), $FJ_OUT (result).
"""
import json
import os
import re
import signal
import threading
import time

import gdb

CFG = json.load(open(os.environ["FJ_IN"]))
R = {"transitions": {}, "moves": []}


def run(cmd):
    try:
        return gdb.execute(cmd, to_string=True)
    except gdb.error as e:
        return f"ERROR: {e}"


def count():
    return int(re.search(r"instruction count = (\d+)",
                         gdb.execute("monitor info replay", to_string=True)).group(1))


def here():
    return {"pc": int(gdb.parse_and_eval("$pc")) & (2**64 - 1), "count": count(),
            "where": run("info symbol $pc").strip(), "mode": json.loads(run("fj mode --json"))}


def stop_at(spec):
    """A temporary breakpoint at `spec`, and on to it; what continue printed."""
    gdb.execute(f"tbreak {spec}", to_string=True)
    return run("continue")


def move(key, cmd, then="info line *$pc", suffix="line"):
    """R[key + '_out']: what `cmd` printed; R[key]: where it landed; R[key + '_' +
    suffix]: what `then` printed there."""
    R[f"{key}_out"] = run(cmd)
    R[key] = here()
    R[f"{key}_{suffix}"] = run(then)


def save():
    with open(os.environ["FJ_OUT"], "w") as f:
        json.dump(R, f)


gdb.execute("set pagination off")
gdb.execute("set confirm off")
def source_line(path, text, after=None):
    """The number of the first line of `path` (under root) that is `text` (stripped),
    after the first line holding `after` if given."""
    lines = open(os.path.join(CFG["root"], path)).read().splitlines()
    start = next(i for i, ln in enumerate(lines) if after in ln) if after else 0
    return next(i for i in range(start, len(lines)) if lines[i].strip() == text) + 1


def nasm_lines():
    """reverse-next and reverse-step in stage 2's NASM (real mode): from the CLI after
    'call print' (print makes a BIOS call), back over the call, then into print."""
    cli = source_line("boot/stage2.asm", "cli", after="mov si, msg_to_pm")
    R["nasm_cli"] = cli
    stop_at(f"boot/stage2.asm:{cli}")
    R["nasm_from"] = here()
    move("nasm_next", "reverse-next")
    stop_at(f"boot/stage2.asm:{cli}")
    R["nasm_again"] = here()
    move("nasm_step", "reverse-step")
    save()


def c_lines():
    """reverse-next and reverse-step in the kernel's C: from the line after the kprintf
    of the kernel's banner, back over kprintf (and boot_path_name), then into kprintf."""
    after = source_line("kernel/main.c", "vga_set_color(VGA_LIGHT_GREY, VGA_BLACK);",
                        after="farjump kernel, booted by")
    R["c_banner"] = source_line("kernel/main.c", 'kprintf("farjump kernel, booted by %s\\n", '
                                'boot_path_name(bi, name, sizeof name));')
    R["c_after"] = after
    stop_at(f"kernel/main.c:{after}")
    R["c_from"] = here()
    move("c_next", "reverse-next")
    move("c_next2", "reverse-next")
    stop_at(f"kernel/main.c:{after}")
    move("c_step", "reverse-step", then="bt", suffix="bt")
    save()


def watch_h():
    """On to just after Hello World! (the H is on the screen), not to the end of the
    recording (a forward run that reaches it ends QEMU); a watchpoint on the VGA cell of
    the 'H', then reverse-continue to the code that wrote it."""
    R["to_end"] = stop_at("timeline_hello")
    R["end"] = count()
    vga = bytes(gdb.selected_inferior().read_memory(0xB8000, 4000))
    at = vga[0::2].find(b"Hello World!")
    R["h_addr"] = 0xB8000 + 2 * at if at >= 0 else None
    if R["h_addr"]:
        R["watch"] = run(f"watch -l *(char *)0x{R['h_addr']:x}")
        t = time.monotonic()
        R["rc_out"] = run("reverse-continue")
        R["rc_seconds"] = time.monotonic() - t
        R["rc_here"] = here()
        R["bt"] = run("bt")
        R["h_byte"] = bytes(gdb.selected_inferior().read_memory(R["h_addr"], 1))[0]
        R["h_before"] = None
        run("delete")
    save()


def ctrl_c_in_a_move():
    """Ctrl-C (SIGINT to GDB) 20 ms after a backward move has resumed the replay: the move
    stops, says where, and the replay goes on (a reverse-stepi from there)."""
    def on_cont(_event):
        gdb.events.cont.disconnect(on_cont)
        threading.Timer(0.02, lambda: os.kill(os.getpid(), signal.SIGINT)).start()

    R["int_before"] = count()
    gdb.events.cont.connect(on_cont)
    R["int_out"] = run("reverse-stepi 100")
    R["int_at"] = here()
    R["int_next_out"] = run("reverse-stepi")
    R["int_next"] = here()
    save()


def scenarios():
    """One backward move over each transition, reverse-finish/reverse-nexti in the kernel,
    the watchpoint on the 'H'."""
    # ---- one backward move over each transition -------------------------------------------
    for name, stop in (("stage2", "stage2_start"), ("pm", "pm_entry"), ("lm", "lm_entry"),
                       ("kernel", "kernel_main")):
        if name == "pm":
            nasm_lines()                            # in stage 2, before its far jump
        stop_at(stop)
        after = here()
        out = run("reverse-stepi")
        R["transitions"][name] = {"after": after, "out": out, "before": here(),
                                  "line": run("info line *$pc")}
        run("stepi")                                # forward again, onto the stop
        R["transitions"][name]["forward"] = here()
        if name in ("pm", "lm"):                    # the same back over the far jump by line
            R["transitions"][name]["step_out"] = run("reverse-step")
            R["transitions"][name]["step"] = here()
            run("stepi")
    save()
    # ---- reverse-finish and reverse-nexti in the kernel ------------------------------------
    stop_at("kprintf")                          # the loader's or the kernel's first kprintf
    R["finish_from"] = here()
    R["finish_out"] = run("reverse-finish")
    R["finish_here"] = here()
    R["finish_insn"] = run("x/i $pc")
    run("stepi")                                # into kprintf again
    R["finish_forward"] = here()
    run("finish")                               # back in the caller, after the call
    R["nexti_from"] = here()
    R["nexti_out"] = run("reverse-nexti")
    R["nexti_here"] = here()
    R["nexti_insn"] = run("x/i $pc")
    save()
    c_lines()
    watch_h()
    ctrl_c_in_a_move()


def fault():
    """A replay of a boot that triple-faulted: continue stops on the faulting instruction
    (the end of the recording), forward moves are refused there, one backward move goes
    back from it and stepi comes back onto it."""
    gdb.execute(f"file {CFG['kernel']}", to_string=True)    # as make replay does
    R["fault_cont"] = run("continue")
    R["fault_at"] = here()
    R["fault_stepi"] = run("stepi")
    R["fault_continue"] = run("continue")
    R["fault_after_refusal"] = here()
    R["fault_back_out"] = run("reverse-stepi")
    R["fault_back"] = here()
    run("stepi")
    R["fault_again"] = here()
    R["fault_status"] = run("monitor info status")
    save()


if CFG.get("fault"):
    fault()
    CFG["moves"] = 0
elif CFG.get("watch_h"):
    watch_h()
elif CFG.get("scenarios", True):
    scenarios()
else:
    # the moves alone: they start after Hello World!, with the boot's kprintf calls behind
    stop_at("timeline_hello")

# ---- a run of backward moves of every kind farjump has --------------------------------
run("break kprintf")      # the loader and the kernel print: enough hits to go back to
# every kind: reverse-continue goes back to the previous kprintf, reverse-finish out of it
# to its caller, the others move around there (and reverse-step into an earlier callee)
kinds = ["reverse-continue", "reverse-finish", "reverse-next", "reverse-step", "rsi",
         "reverse-nexti", "reverse-stepi 3", "rni", "rs", "rn"]
for i in range(CFG["moves"]):
    before = count()
    out = run(kinds[i % len(kinds)])
    R["moves"].append({"cmd": kinds[i % len(kinds)], "before": before, "after": count(),
                       "insn": run("x/i $pc").strip(),
                       "where": run("info symbol $pc").strip(),
                       "error": out if out.startswith("ERROR") else None})
    save()
R["done"] = True
save()
