"""The GDB workbench against a real QEMU: one GDB session (tests/gdb/driver.py) walks
stage1_start -> stage2_start -> pm_entry -> lm_entry -> kernel_main -> Hello World,
then runs 'fj tour --reset'. Each test checks one aspect of its recorded output."""
import re

import pytest

STOPS = ("stage1_start", "stage2_start", "pm_entry", "lm_entry", "kernel_main")
EXPECTED_MODE = {"stage1_start": ("real", 16), "stage2_start": ("real", 16),
                 "pm_entry": ("protected", 32), "lm_entry": ("long", 64),
                 "kernel_main": ("long", 64)}

SEG_RE = re.compile(r"^(ES|CS|SS|DS|FS|GS|LDT|TR)\s*=([0-9a-f]{4}) ([0-9a-f]{8,16}) "
                    r"([0-9a-f]{8}) ([0-9a-f]{8})", re.M)
GDT_RE = re.compile(r"^GDT=\s+([0-9a-f]{8,16}) ([0-9a-f]{8})", re.M)
MEM_RE = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16}) ([0-9a-f]{16}) ([-u])([-r])([-w])\s*$",
                    re.M)


def ok(r):
    assert "error" not in r, r.get("error")
    assert "json" in r, f"not JSON: {r.get('json_error')}: {r.get('out', '')[:300]}"
    return r["json"]


def one_line_error(r, *words):
    assert "error" in r, f"expected an error, got: {r.get('out', '')[:300]}"
    msg = r["error"]
    assert "\n" not in msg.strip() and "Traceback" not in msg, msg
    for w in words:
        assert w in msg, msg


def qemu_segments(text):
    return {m.group(1).lower(): (int(m.group(2), 16), int(m.group(3), 16),
                                 int(m.group(4), 16), int(m.group(5), 16))
            for m in SEG_RE.finditer(text)}


def test_session_clean(walk):
    assert "Traceback" not in walk["_stdout"] + walk["_stderr"]
    assert "Python Exception" not in walk["_stdout"] + walk["_stderr"]
    assert set(walk["stops"]) == set(STOPS)


@pytest.mark.parametrize("stop", STOPS)
def test_mode_at_transition(walk, stop):
    mode = ok(walk["stops"][stop]["mode"])
    assert (mode["mode"], mode["bits"]) == EXPECTED_MODE[stop]
    assert mode["paging"] is (stop in ("lm_entry", "kernel_main"))
    assert mode["pae"] is (stop in ("lm_entry", "kernel_main"))


def test_disassembly_16bit_at_stage1(walk):
    text = walk["stops"]["stage1_start"]["x3i"]["out"]
    lines = text.strip().splitlines()
    assert len(lines) == 3
    assert re.search(r"xchg\s+bx, bx", lines[0]), text
    assert re.search(r"ljmp\s+0:0x7c[0-9a-f]{2}", lines[1]), text
    assert "; 0000:7c00" in lines[0]                       # CS:IP comment in real mode
    att = walk["stops"]["stage1_start"]["x3i_att"]["out"]
    assert re.search(r"xchgw?\s+%bx,\s*%bx", att), att       # follows disassembly-flavor


def test_disassembly_32bit_at_pm_entry(walk):
    text = walk["stops"]["pm_entry"]["x12i"]["out"]
    assert re.search(r"mov\s+ax, 0x10", text), text
    assert re.search(r"mov\s+ds, eax", text), text
    assert re.search(r"mov\s+esp, 0x7000", text), text   # STACK_TOP
    assert "; 0000:" not in text                            # no CS:IP outside real mode


def test_disassembly_64bit_at_lm_entry(walk):
    # GDB's builtin decoder (Intel flavor: no space after the comma); NASM assembles
    # 'mov rsp, 0x7c00' as 'mov esp, 0x7c00', so the 64-bit tells are rax/rbp/rsp
    text = walk["stops"]["lm_entry"]["x12i"]["out"]
    assert re.search(r"jmp\s+rax", text), text
    assert "; 0000:" not in text
    text = walk["stops"]["kernel_main"]["x3i"]["out"]
    assert re.search(r"push\s+rbp", text) and re.search(r"mov\s+rbp,\s*rsp", text), text


@pytest.mark.parametrize("stop", STOPS)
def test_seg_matches_qemu(walk, stop):
    d = walk["stops"][stop]
    seg = ok(d["seg"])
    raw = qemu_segments(d["info_registers"]["out"])
    assert set(raw) == {"es", "cs", "ss", "ds", "fs", "gs", "ldt", "tr"}
    for name, (sel, base, limit, flags) in raw.items():
        s = seg[name]
        assert (s["selector"], s["base"], s["limit"], s["flags"]) == \
            (sel, base, limit, flags), name
        assert s["db"] == bool(flags >> 22 & 1) and s["long"] == bool(flags >> 21 & 1)
        assert s["present"] == bool(flags >> 15 & 1) and s["dpl"] == (flags >> 13 & 3)
    cs = raw["cs"]
    assert seg["linear_pc"] == cs[1] + d["pc"]


@pytest.mark.parametrize("stop", ("pm_entry", "lm_entry", "kernel_main"))
def test_gdt_matches_qemu(walk, stop):
    d = walk["stops"][stop]
    gdt = ok(d["gdt"])
    text = d["info_registers"]["out"]
    m = GDT_RE.search(text)
    assert (gdt["base"], gdt["limit"]) == (int(m.group(1), 16), int(m.group(2), 16))
    entries = {e["index"]: e for e in gdt["entries"]}
    assert entries[0]["type"] == "null"
    assert len(gdt["entries"]) == (gdt["limit"] + 1) // 8
    segments = qemu_segments(text)
    assert set(segments) == {"es", "cs", "ss", "ds", "fs", "gs", "ldt", "tr"}, text
    for name, (sel, base, limit, flags) in segments.items():
        if name in ("ldt", "tr") or sel == 0:
            continue
        e = entries[sel >> 3]
        assert name in e["loaded_in"]
        assert e["type"] == ("code" if name == "cs" else "data")
        assert e["present"] and e["dpl"] == flags >> 13 & 3
        assert e["db"] == bool(flags >> 22 & 1), name
        assert e["long"] == bool(flags >> 21 & 1), name
        if not (name == "cs" and e["long"]):         # 64-bit CS: base/limit ignored
            assert (e["base"], e["limit"]) == (base, limit), name


def test_gdt_before_lgdt_is_one_line(walk):
    one_line_error(walk["stops"]["stage1_start"]["gdt"], "fj gdt:", "GDTR limit 0")


def _merge(spans):
    out = []
    for start, end, attrs in sorted(spans):
        if out and out[-1][1] == start and out[-1][2] == attrs:
            out[-1] = (out[-1][0], end, attrs)
        else:
            out.append((start, end, attrs))
    return out


def test_pt_matches_info_mem(walk):
    d = walk["stops"]["kernel_main"]
    pt = ok(d["pt"])
    assert pt["cr3"] == ok(d["mode"])["cr3"]
    assert pt["physical_reads"] is True        # QEMU 7.2's PhyMemMode packet
    mine = _merge((r["virt"], r["virt"] + r["size"], (r["user"], r["writable"]))
                  for r in pt["ranges"])
    qemu = _merge((int(m.group(1), 16), int(m.group(2), 16),
                   (m.group(4) == "u", m.group(6) == "w"))
                  for m in MEM_RE.finditer(d["info_mem"]["out"]))
    assert qemu, d["info_mem"]["out"]
    assert mine == qemu
    # the layout the loader promises: 1 GiB identity map, kernel text read-only
    assert mine[0][:2] == (0, 1 << 30)


def test_pt_fast_paths_equal_the_plain_path(walk):
    """At lm_entry and kernel_main (same CR3, tables changed by the loader in between):
    `fj pt --json` and `fj pt $pc --json` through /proc/PID/mem, through the gdbstub only
    and the plain path (info registers, GDB's reads, one decode per entry) agree, also
    when repeated (the memo) after a stop-like cache drop and within the stop."""
    for stop in ("lm_entry", "kernel_main"):
        d = walk["stops"][stop]
        ways = d["pt_ways"]
        first = ok(d["pt"])
        for way in ("gdbstub", "off", "on", "same"):
            assert ok(ways[way]) == first, (stop, way)
        walks = [ok(ways[w + "_walk"]) for w in ("gdbstub", "off", "on")]
        assert walks[0] == walks[1] == walks[2] and walks[0]["fault"] is None, (stop, walks)
        assert "guest RAM read from /proc/" in ways["show"]["out"], ways["show"]
        # farjump's tables lie in its identity map: read without PhyMemMode, checked
        assert ways["gdbstub_reads"]["identity"] >= 3, (stop, ways["gdbstub_reads"])
        assert ways["gdbstub_reads"]["physical"] == 0, (stop, ways["gdbstub_reads"])
    # the loader mapped the kernel in between, under the same CR3
    lm, km = (ok(walk["stops"][s]["pt"]) for s in ("lm_entry", "kernel_main"))
    assert lm["cr3"] == km["cr3"] and lm["ranges"] != km["ranges"]


def test_pt_gdbstub_checks_its_linear_reads(walk):
    """With the PML4's page mapped 2 MiB away from itself, the gdbstub way's first,
    linear reads are not the tables: it reads them again with PhyMemMode, gives the plain
    path's answer (the moved 2 MiB included), and does not try linear reads again for
    that CR3; put back, the map is the one of before."""
    r = walk["stops"]["kernel_main"]["pt_not_identity"]
    plain = ok(r["off"])
    assert ok(r["gdbstub"]) == plain and ok(r["gdbstub_again"]) == plain
    assert any(x["virt"] == 0 and x["phys"] == 0x200000 for x in plain["ranges"]), plain
    assert r["gdbstub_reads"]["identity"] >= 1 and r["gdbstub_reads"]["physical"] >= 3, r
    again = r["gdbstub_again_reads"]
    assert set(again) == {"identity", "physical"}, again
    assert again["identity"] == 0 and again["physical"] >= 3, r
    assert ok(r["restored"]) == ok(walk["stops"]["kernel_main"]["pt"])


def test_pt_walk_of_kernel_main(walk):
    d = walk["stops"]["kernel_main"]
    w = ok(d["pt_addr"])
    km = d["pc"]
    assert w["vaddr"] <= km and w["fault"] is None
    m = re.search(r"kernel: physical (0x[0-9a-f]+)", walk["_serial"])
    assert m, walk["_serial"]
    assert w["phys"] == w["vaddr"] - 0xFFFFFFFF80100000 + int(m.group(1), 16)
    assert w["page_size"] == 4096 and not w["writable"] and not w["nx"]
    assert [s["level_name"] for s in w["steps"]] == ["PML4", "PDPT", "PD", "PT"]


def test_pt_errors_are_one_line(walk):
    one_line_error(walk["errors"]["pt_real"], "fj pt:", "paging is off")
    one_line_error(walk["stops"]["kernel_main"]["pt_noncanon"], "fj pt:", "canonical")
    one_line_error(walk["errors"]["idt_real"], "fj idt:", "fj ivt")
    one_line_error(walk["errors"]["bad_option"], "fj mode:", "--bogus")


def test_vga_after_hello_world(walk):
    assert walk["after_hello_continue"] == "stopped"
    v = ok(walk["vga"])
    assert (v["cols"], v["rows"]) == (80, 25)
    assert any("Hello World!" in line for line in v["lines"])
    text = walk["vga_text"]["out"]
    assert "Hello World!" in text and "\x1b[" not in text


def test_idt_and_ivt(walk):
    idt = ok(walk["idt"])
    assert idt["long_mode"] is True
    gates = {g["vector"]: g for g in idt["gates"]}
    assert gates[14]["present"] and gates[14]["selector"] == 0x18
    assert gates[14]["symbol"]                          # the kernel's #PF stub has a name
    ivt = ok(walk["ivt"])
    assert [e["vector"] for e in ivt["entries"]] == [0x10]
    assert ivt["entries"][0]["segment"] != 0            # SeaBIOS/VGA BIOS INT 10h


def test_source_level_stepping(walk):
    s = walk["steps"]
    assert "call read_sectors" in s["list"]["out"]
    assert "starts at address" in s["stage1_info_line"]["out"]
    # 'next' over a call in 16-bit code ends on the next line, not inside the callee
    assert s["stage1_before"]["line"] == s["stage1_call_line"]
    assert s["stage1_after_next"]["file"].endswith("stage1.asm")
    assert s["stage1_after_next"]["line"] == s["stage1_call_line"] + 1
    # the same in 32-bit protected mode
    assert s["pm_after_next"]["file"].endswith("stage2.asm")
    assert s["pm_after_next"]["line"] > s["pm_call_line"]
    assert "#0  pm_entry" in s["pm_bt"]["out"] and "#1" not in s["pm_bt"]["out"]
    # pm_entry is entered by a jump: bt ends there quietly (integrations/backtrace.py)
    assert "Backtrace stopped" not in s["pm_bt"]["out"], s["pm_bt"]["out"]
    assert s["kernel_next"]["file"].endswith("main.c")


def test_stepping_stays_fast(walk):
    assert walk["stepi_5_monitor_reads"] <= 5       # at most one 'info registers' per stop


def test_context_panel(walk):
    c = ok(walk["stops"]["pm_entry"]["context"])
    assert (c["mode"], c["bits"]) == ("protected", 32)
    assert len(c["instructions"]) == 5
    assert "cr0" in c["changed"] and "gdtr" in c["changed"]   # since stage2_start
    c = ok(walk["stops"]["lm_entry"]["context"])
    assert {"cr0", "cr3", "efer"} <= set(c["changed"])


def test_tour_from_reset(walk):
    tour = ok(walk["tour"])
    assert [t["stop"] for t in tour] == list(STOPS)
    assert all(t["reached"] for t in tour)
    for t in tour:
        assert (t["mode"], t["bits"]) == EXPECTED_MODE[t["stop"]]
    by = {t["stop"]: t for t in tour}
    assert by["stage1_start"]["changed"] is None
    assert not by["stage1_start"]["gdt_loaded"] and by["pm_entry"]["gdt_loaded"]
    assert {"cr0", "gdtr", "mode"} <= set(by["pm_entry"]["changed"])
    assert {"cr0", "cr3", "cr4", "efer", "paging"} <= set(by["lm_entry"]["changed"])
    assert by["lm_entry"]["efer"] & (1 << 10)                     # LMA


def test_tour_does_not_hang(walk):
    text = walk["tour_timeout"]["out"]
    assert "not reached within 1.5 s" in text, text
    assert "stage1_start" in walk["tour_standing"]["out"]
    assert "kernel_main: long mode" in walk["tour_standing"]["out"]
    assert ok(walk["mode_after_timeout"])["halted"] is True      # cli; hlt


def test_stage2_header_is_shown_as_data(walk):
    """The FJS2 magic and the CRCs after it are data: x/i shows them as dd words and
    decodes stage2_main from its first byte (it used to swallow its first instruction)."""
    lines = walk["stage2_x6i"]["out"].strip().splitlines()
    assert re.search(r"<stage2_header_data>:\s+dd\s+0x32534a46", lines[2]), lines
    assert re.search(r"<stage2_header_data\+8>:\s+dd\s+0x[0-9a-f]{8}", lines[4]), lines
    assert re.search(r"<stage2_main>:\s+cld", lines[5]), lines


def test_boot_signature_has_its_own_symbol(walk):
    out = walk["boot_signature"]["out"]
    assert re.search(r"0x7dfe <boot_signature>:\s+0x55\s+0xaa", out), out


def test_backtraces_in_64bit_code_end_at_the_asm_entry(walk):
    """bt in the loader's C (stage 2, 64-bit) and in the kernel ends at the NASM label the
    CPU jumped to, without a bogus '0x0 in ?? ()' frame after it."""
    for key, frames in (("loader_bt", ("check_header", "loader_main", "lm_entry")),
                        ("kernel_bt", ("kernel_main", "_start"))):
        out = walk["steps"][key]["out"]
        names = re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(", out, re.M)
        assert tuple(names) == frames, out
        assert "?? ()" not in out, out
        assert "Backtrace stopped" not in out, out      # integrations/backtrace.py


def test_backtrace_from_an_inner_block_of_inlined_c_reaches_start(walk):
    """A stop in put_char (inlined into vga_write, in one of its lexical blocks) unwinds
    through the kernel's printing to kernel_main and _start."""
    out = walk["steps"]["deep_bt"]["out"]
    names = re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(", out, re.M)
    assert names[:2] == ["put_char", "vga_write"], out
    assert names[-3:] == ["kprintf", "kernel_main", "_start"], out
    assert "error reading variable" not in out and "?? ()" not in out, out
    assert "Backtrace stopped" not in out, out


def test_a_corrupt_stack_still_says_where_the_backtrace_stopped(walk):
    out = walk["steps"]["corrupt_bt"]["out"]
    assert out.startswith("#0  put_char"), out
    assert "Backtrace stopped: memory error while unwinding ('bt -no-filters' says where)" \
        in out, out
