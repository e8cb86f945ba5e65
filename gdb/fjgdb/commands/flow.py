"""Commands that follow the boot: fj context, fj transitions, fj tour, fj reset."""
from __future__ import annotations

import contextlib
import os
import signal
import threading

import gdb

from .base import FjCommand, emit_json, error_line, one_line, out
from .cmds import bit_change, csip_text
from .state import STATE, FjError

TRANSITIONS = ("stage1_start", "stage2_start", "pm_entry", "lm_entry", "kernel_main")
WATCHED = ("cr0", "cr3", "cr4", "efer")


class TimeoutParam(gdb.Parameter):
    """Seconds 'fj tour' waits for each stop before interrupting the guest (default 10).

0 means wait forever."""

    set_doc = "Set how long fj tour waits for each transition."
    show_doc = "Show how long fj tour waits for each transition."

    def __init__(self):
        super().__init__("fj-timeout", gdb.COMMAND_RUNNING, gdb.PARAM_ZUINTEGER)
        self.value = 10

    def get_show_string(self, svalue):
        return f"fj tour waits {svalue} s for each stop (0 = forever)."


class ContextParam(gdb.Parameter):
    """Print the fj context panel (mode, CS:IP, next instructions, changed control
registers) every time the guest stops. Default off."""

    set_doc = "Set whether the fj context panel is printed on every stop."
    show_doc = "Show whether the fj context panel is printed on every stop."

    def __init__(self):
        super().__init__("fj-context", gdb.COMMAND_DATA, gdb.PARAM_BOOLEAN)
        self.value = False

    def get_show_string(self, svalue):
        return f"The fj context panel on every stop is {svalue}."


# ---- snapshots and what changed -------------------------------------------------------------
def snapshot(name: str | None = None) -> dict:
    q = STATE.qemu()
    m = STATE.mode()
    pc = q.rip
    lin = STATE.linear_pc()
    return {
        "stop": name, "reached": True, "pc": pc, "linear_pc": lin,
        "symbol": STATE.symbolize(lin),
        "mode": m.mode, "bits": m.bits, "submode": m.submode,
        "paging": m.paging, "pae": m.pae, "nxe": m.nxe, "lme": m.lme, "lma": m.lma,
        "a20": q.a20, "cpl": q.cpl, "halted": q.halted,
        "cs": q.cs.selector, "csip": csip_text(q, m),
        "cr0": q.cr0, "cr3": q.cr3, "cr4": q.cr4, "efer": q.efer,
        "gdt_base": q.gdt_base, "gdt_limit": q.gdt_limit,
        "idt_base": q.idt_base, "idt_limit": q.idt_limit,
        "gdt_loaded": q.gdt_limit != 0,
    }


def snapshot_of(q) -> dict:
    """The comparable part of a snapshot from QemuRegisters (for the panel)."""
    return {"cr0": q.cr0, "cr3": q.cr3, "cr4": q.cr4, "efer": q.efer,
            "gdt_base": q.gdt_base, "gdt_limit": q.gdt_limit,
            "idt_base": q.idt_base, "idt_limit": q.idt_limit, "cs": q.cs.selector}


def changes(old: dict | None, new: dict) -> dict:
    """{"cr0": [old, new], "gdtr": [[base, limit], [base, limit]], "mode": [...], ...}."""
    if old is None:
        return {}
    ch = {}
    if "mode" in old and "mode" in new and \
            (old["mode"], old["bits"]) != (new["mode"], new["bits"]):
        ch["mode"] = [f"{old['mode']}/{old['bits']}", f"{new['mode']}/{new['bits']}"]
    for reg in WATCHED:
        if old[reg] != new[reg]:
            ch[reg] = [old[reg], new[reg]]
    for t in ("gdt", "idt"):
        o = [old[f"{t}_base"], old[f"{t}_limit"]]
        n = [new[f"{t}_base"], new[f"{t}_limit"]]
        if o != n:
            ch[f"{t}r"] = [o, n]
    if old["cs"] != new["cs"]:
        ch["cs"] = [old["cs"], new["cs"]]
    if "paging" in old and old["paging"] != new["paging"]:
        ch["paging"] = [old["paging"], new["paging"]]
    return ch


def format_changes(ch: dict) -> str:
    parts = []
    for key, (o, n) in ch.items():
        if key in WATCHED:
            parts.append(f"{key.upper()} 0x{o:x} -> 0x{n:x}{bit_change(key, o, n)}")
        elif key in ("gdtr", "idtr"):
            parts.append(f"{key.upper()} 0x{o[0]:x}/0x{o[1]:x} -> 0x{n[0]:x}/0x{n[1]:x}")
        elif key == "cs":
            parts.append(f"CS 0x{o:04x} -> 0x{n:04x}")
        elif key == "paging":
            parts.append(f"paging {'on' if o else 'off'} -> {'on' if n else 'off'}")
        else:
            parts.append(f"{key} {o} -> {n}")
    return "; ".join(parts) if parts else "nothing"


# ---- fj context ----------------------------------------------------------------------------
class Panel:
    def __init__(self):
        self.last = None     # comparable snapshot at the previous panel

    def render(self, count: int = 5) -> tuple[str, dict]:
        q = STATE.qemu()
        m = STATE.mode()
        lin = STATE.linear_pc()
        sym = STATE.symbolize(lin)
        insns = []
        frame = gdb.newest_frame()
        arch = frame.architecture()
        addr = int(frame.pc())
        for _ in range(count):     # one at a time: unreadable memory ends the list there
            try:
                d = arch.disassemble(addr)[0]
            except gdb.error as e:
                insns.append({"addr": addr, "length": 0, "symbol": None,
                              "asm": f"(cannot disassemble: {one_line(e)})"})
                break
            insns.append({"addr": d["addr"], "length": d["length"], "asm": d["asm"],
                          "symbol": STATE.symbolize(d["addr"])})
            addr = d["addr"] + max(1, d["length"])
        now = snapshot_of(q)
        first = self.last is None
        ch = changes(self.last, now)
        self.last = now
        doc = {"mode": m.mode, "bits": m.bits, "submode": m.submode, "paging": m.paging,
               "csip": csip_text(q, m), "pc": q.rip, "linear_pc": lin, "symbol": sym,
               "instructions": insns, "changed": ch,
               "cr0": q.cr0, "cr3": q.cr3, "cr4": q.cr4, "efer": q.efer}
        lines = [f"--- fj: {m} | {csip_text(q, m)} | linear 0x{lin:x}"
                 + (f" <{sym}>" if sym else "") + " ---"]
        for i, d in enumerate(insns):
            where = f"<{d['symbol']}>" if d["symbol"] else ""
            lines.append(f"{'=>' if i == 0 else '  '} 0x{d['addr']:x} {where:24} {d['asm']}")
        lines.append(f"CR0=0x{q.cr0:x} CR3=0x{q.cr3:x} CR4=0x{q.cr4:x} EFER=0x{q.efer:x} "
                     f"GDTR=0x{q.gdt_base:x}/0x{q.gdt_limit:x}")
        lines.append("changed since last stop: "
                     + ("(first panel)" if first else format_changes(ch)))
        return "\n".join(lines), doc


PANEL = Panel()


class FjContext(FjCommand):
    """Context panel: mode, CS:IP and linear PC, next instructions, changed registers.

Usage: fj context [-n COUNT] [--json]
The instructions come from the mode-aware disassembler. "changed" lists which of
CR0/CR3/CR4/EFER/GDTR/IDTR/CS changed since the previous panel (old -> new).
'set fj-context on' prints the panel at every stop."""

    name = "context"

    def add_arguments(self, parser):
        parser.add_argument("-n", type=int, default=5)

    def run(self, opts, from_tty):
        text, doc = PANEL.render(max(1, min(opts.n, 50)))
        if opts.json:
            emit_json(doc)
        else:
            out(text)


def on_stop_panel(param: ContextParam):
    def handler(event):
        if not param.value or TOUR_ACTIVE[0]:
            return
        try:
            STATE.require_connected()
            text, _ = PANEL.render()
            out(text)
        except Exception as e:   # noqa: BLE001 - never a traceback from an event
            try:
                out(error_line("fj context", e))
            except Exception:   # noqa: BLE001
                pass
    return handler


# ---- fj transitions ------------------------------------------------------------------------
class FjTransitions(FjCommand):
    """Set breakpoints at every mode transition of the boot.

Usage: fj transitions [--json]
stage1_start (real mode, 0x7c00), stage2_start (real mode), pm_entry (first 32-bit
instruction), lm_entry (first 64-bit instruction), kernel_main. Existing breakpoints
at the same place are reused. Says which were set and which symbols are missing
(load the ELFs: add-symbol-file build/stage1.elf, build/stage2.elf, file build/kernel.elf)."""

    name = "transitions"

    def run(self, opts, from_tty):
        done, missing = [], []
        existing = {}
        for bp in gdb.breakpoints():
            if bp.location:
                existing.setdefault(bp.location, bp)
        for name in TRANSITIONS:
            addr = STATE.resolve(name)
            if addr is None:
                missing.append(name)
                continue
            bp = existing.get(name)
            new = bp is None
            if new:
                bp = gdb.Breakpoint(name)
            done.append({"name": name, "address": addr, "number": bp.number, "new": new})
        if opts.json:
            emit_json({"breakpoints": done, "missing": missing})
            return
        for d in done:
            out(f"{'set' if d['new'] else 'kept'} breakpoint {d['number']} at "
                f"0x{d['address']:x} <{d['name']}>")
        if missing:
            out("missing symbols (not loaded?): " + ", ".join(missing))


# ---- running with a timeout ----------------------------------------------------------------
TOUR_ACTIVE = [False]


@contextlib.contextmanager
def quiet(enabled: bool):
    """While enabled, GDB's own stdout (stop messages of 'continue', which neither
    to_string nor 'set logging redirect' capture in GDB 13) goes to /dev/null, so that
    --json output stays one JSON document."""
    if not enabled:
        yield
        return
    gdb.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        gdb.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def continue_with_timeout(timeout: float) -> str:
    """'continue'; interrupt the guest after *timeout* s. Returns "stopped" or "timeout"."""
    fired = threading.Event()

    def fire():
        fired.set()
        gdb.post_event(_interrupt)

    timer = threading.Timer(timeout, fire) if timeout > 0 else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        gdb.execute("continue", to_string=True)
    finally:
        if timer:
            timer.cancel()
    return "timeout" if fired.is_set() else "stopped"


def _interrupt():
    thread = gdb.selected_thread()
    if thread is not None and thread.is_running():
        try:
            gdb.execute("interrupt", to_string=True)
        except gdb.error:
            os.kill(os.getpid(), signal.SIGINT)


def reset_guest():
    gone = FjError("QEMU exited instead of resetting the guest (started with -no-reboot?); "
                   "restart it and reconnect, e.g. 'make debug'")
    STATE.require_connected()
    try:
        STATE.monitor("system_reset")
        gdb.execute("maintenance flush register-cache", to_string=True)
        gdb.selected_frame()           # re-reads the registers: fails if QEMU is gone
    except (FjError, gdb.error):
        if not STATE.connected():
            STATE.forget_connection()
            raise gone from None
        raise
    if not STATE.connected():
        STATE.forget_connection()
        raise gone
    STATE.invalidate()
    PANEL.last = None


# ---- fj reset ------------------------------------------------------------------------------
class FjReset(FjCommand):
    """Reset the guest (QEMU 'system_reset') and refresh GDB's registers.

Usage: fj reset [--json]
The CPU restarts at f000:fff0 and stays stopped. Use this rather than a bare
'monitor system_reset', after which GDB would keep showing stale registers."""

    name = "reset"

    def run(self, opts, from_tty):
        reset_guest()
        snap = snapshot("reset")
        if opts.json:
            emit_json(snap)
        else:
            out(f"reset: {snap['csip']} (linear 0x{snap['linear_pc']:x}), {snap['mode']} mode")


# ---- fj tour -------------------------------------------------------------------------------
class FjTour(FjCommand):
    """Run the boot through every mode transition, reporting what changed at each.

Usage: fj tour [--reset] [--timeout SECONDS] [--json]
Continues to stage1_start, stage2_start, pm_entry, lm_entry and kernel_main in turn
(temporary internal breakpoints, removed afterwards) and prints at each stop the mode,
CS:IP, control registers, GDTR and what changed since the previous stop. A stop already
passed is reported as skipped; if none is reached within the timeout (fj-timeout,
default 10 s) the guest is interrupted and the tour ends saying where it was.
--reset first resets the guest (fj reset), for a complete tour from the BIOS.
--json prints one JSON list of per-stop states (for a scripted regression boot)."""

    name = "tour"

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true")
        parser.add_argument("--timeout", type=float)

    def run(self, opts, from_tty):
        STATE.require_connected()
        timeout = opts.timeout if opts.timeout is not None \
            else float(gdb.parameter("fj-timeout") or 0)
        stops = [(n, STATE.resolve(n)) for n in TRANSITIONS]
        results = []
        emit = (lambda r: None) if opts.json else self._print
        if opts.reset:
            reset_guest()
        prev = None
        bps = {}
        TOUR_ACTIVE[0] = True
        try:
            with quiet(opts.json):
                for name, addr in stops:
                    if addr is None:
                        r = {"stop": name, "reached": False,
                             "reason": "symbol not loaded"}
                        results.append(r)
                        emit(r)
                        continue
                    bps[name] = gdb.Breakpoint(name, internal=True)
                    bps[name].silent = True
                pending = [n for n, a in stops if a is not None]
                # standing on a stop already (e.g. after 'break stage1_start; continue')?
                here = STATE.linear_pc()
                while pending:
                    hit = next((n for n in pending if bps[n].hit_count), None)
                    if hit is None and here is not None:
                        hit = next((n for n in pending if STATE.resolve(n) == here), None)
                    if hit is None:
                        how = continue_with_timeout(timeout)
                        STATE.invalidate()
                        if STATE.connected() and how == "stopped":
                            here = STATE.linear_pc()
                            continue
                        where = snapshot(None) if STATE.connected() else {}
                        for n in pending:
                            r = {"stop": n, "reached": False,
                                 "reason": (f"not reached within {timeout:g} s"
                                            if how == "timeout" else "guest gone"),
                                 "interrupted_at": where.get("symbol"),
                                 "interrupted_pc": where.get("linear_pc"),
                                 "halted": where.get("halted")}
                            results.append(r)
                            emit(r)
                        break
                    idx = pending.index(hit)
                    for skipped in pending[:idx]:
                        r = {"stop": skipped, "reached": False,
                             "reason": "already passed before the tour started"}
                        results.append(r)
                        emit(r)
                    snap = snapshot(hit)
                    snap["changed"] = changes(prev, snap) if prev is not None else None
                    prev = snap
                    results.append(snap)
                    emit(snap)
                    for n in pending[:idx + 1]:
                        bps.pop(n).delete()
                    pending = pending[idx + 1:]
                    here = None
        finally:
            TOUR_ACTIVE[0] = False
            for bp in bps.values():
                if bp.is_valid():
                    bp.delete()
        if opts.json:
            emit_json(results)
        else:
            reached = sum(1 for r in results if r.get("reached"))
            out(f"tour: {reached}/{len(results)} stops reached")

    @staticmethod
    def _print(r):
        if not r.get("reached"):
            extra = ""
            if r.get("interrupted_pc") is not None:
                extra = (f"; interrupted at 0x{r['interrupted_pc']:x}"
                         + (f" <{r['interrupted_at']}>" if r.get("interrupted_at") else "")
                         + (" (CPU halted)" if r.get("halted") else ""))
            out(f"== {r['stop']}: not reached: {r['reason']}{extra}")
            return
        bits = f"{r['bits']}-bit" if r["bits"] else "?-bit"
        out(f"== {r['stop']}: {r['mode']} mode, {bits} code, paging "
            f"{'on' if r['paging'] else 'off'} | {r['csip']} | linear 0x{r['linear_pc']:x}")
        out(f"   CR0=0x{r['cr0']:x} CR3=0x{r['cr3']:x} CR4=0x{r['cr4']:x} EFER=0x{r['efer']:x}"
            f" GDTR=0x{r['gdt_base']:x}/0x{r['gdt_limit']:x} A20={'on' if r['a20'] else 'off'}")
        out("   changed: " + ("(first stop)" if r["changed"] is None
                              else format_changes(r["changed"])))
