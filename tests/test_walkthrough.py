"""The docs' session outputs (docs/walkthrough.md, docs/gdb.md, docs/bochs.md, README.md,
docs/smp.md, docs/your-kernel.md) against a fresh capture
(scripts/walkthrough), the docs' capture blocks, and the comparison's rules.
scripts/walkthrough's own runs that must fail, and --write: test_walkthrough_runs.py (a
module of its own, so that it can run beside the capture here)."""
import re
import subprocess
from pathlib import Path

import pytest

from fjqemu import walkthrough as wt

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "walkthrough"
DOC = ROOT / "docs" / "walkthrough.md"
DOCS = {"docs/walkthrough.md": DOC, "docs/gdb.md": ROOT / "docs" / "gdb.md",
        "docs/bochs.md": ROOT / "docs" / "bochs.md", "README.md": ROOT / "README.md",
        "docs/smp.md": ROOT / "docs" / "smp.md",
        "docs/your-kernel.md": ROOT / "docs" / "your-kernel.md",
        "docs/time-travel.md": ROOT / "docs" / "time-travel.md"}


@pytest.fixture(scope="module", autouse=True)
def built():
    """What scripts/walkthrough builds before a capture (the image, the ELF files,
    build/bochs.sym, the ISO, the UEFI disk and the test images the docs name), for the
    --no-build runs below."""
    from fjqemu.walkthrough.__main__ import build
    try:
        build()
    except SystemExit as e:
        pytest.fail(str(e))


def run(*args, timeout=240):
    return subprocess.run([str(SCRIPT), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def block(name, doc=DOC):
    for b in wt.parse(doc.read_text(), str(doc)):
        if b.name == name:
            return b
    raise AssertionError(f"no block {name!r} in {doc}")


def commands(doc):
    return [c for b in wt.parse(doc.read_text(), str(doc)) for c in b.cmds]


# ---- the real thing -------------------------------------------------------------------------
def test_docs_match_a_fresh_capture():
    """All seven docs, by default, in one run (docs/your-kernel.md boots Debian's Linux
    three times, about 35-65 s; the docs are captured at the same time)."""
    assert [wt.shown_name(d) for d in wt.DOCS] == list(DOCS)
    p = run("--check", timeout=420)
    assert p.returncode == 0, f"{p.stdout}\n{p.stderr}"
    for shown in DOCS:
        assert re.search(rf"^walkthrough: {re.escape(shown)}: \d+ blocks match a fresh "
                         rf"capture$", p.stdout, re.M), (shown, p.stdout)


FENCE = re.compile(r"^```")
PROMPT_LINE = re.compile(r"^(\(gdb\) |\$ |<bochs:\d+> |-> )")
BOCHS_OUTPUT = re.compile(r"^(Next at t=|\(0\)|<bochs:|\d{11}: )")


def unmarked_transcripts(text):
    """Fenced blocks that are not capture blocks but show a session: a prompt line and some
    output, or Bochs's output. (Blocks of commands only, e.g. what to type, are fine.)"""
    lines, found, i = text.split("\n"), [], 0
    while i < len(lines):
        if not FENCE.match(lines[i]):
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not FENCE.match(lines[end]):
            end += 1
        body = lines[i + 1:end]
        marked = i > 0 and lines[i - 1].startswith("<!-- capture:")
        prompts = [ln for ln in body if PROMPT_LINE.match(ln)]
        output = [ln for ln in body if ln.strip() and not PROMPT_LINE.match(ln)]
        if not marked and ((prompts and output) or any(BOCHS_OUTPUT.match(ln) for ln in body)):
            found.append(f"line {i + 1}: {body[:3]}")
        i = end + 1
    return found


@pytest.mark.parametrize("shown", list(DOCS))
def test_every_session_output_is_a_capture_block(shown):
    assert unmarked_transcripts(DOCS[shown].read_text()) == []
    assert wt.parse(DOCS[shown].read_text(), shown)


def test_smp_doc_is_a_template_of_a_four_cpu_session():
    """docs/smp.md: one session, started as 'make debug SMP=4'; every continue follows a
    delete (QEMU 7.2's step-over on an AP, docs/gdb.md 'Limits')."""
    text = DOCS["docs/smp.md"].read_text()
    blocks = wt.parse(text, "docs/smp.md")
    assert blocks[0].session_start and blocks[0].smp == 4 and blocks[0].session == {"SMP": "4"}
    assert not any(b.session_start for b in blocks[1:]) and all(b.kind == "gdb" for b in blocks)
    assert wt.parse("<!-- capture: gdb x -->\n```\n$ make debug\n```\n")[0].smp == 1
    cmds = commands(DOCS["docs/smp.md"])
    conts = [i for i, c in enumerate(cmds) if c == "continue"]
    assert len(conts) == 5
    for i in conts[1:]:         # each after the first continues from a stop at a breakpoint
        assert "delete" in cmds[i - 2:i], cmds[:i + 1]


def test_your_kernel_doc_shows_linux_grub_and_i386_sessions():
    """docs/your-kernel.md: Debian's files fetched first (make foreign, an sh block before
    the sessions), then three sessions on guests farjump did not write."""
    doc = DOCS["docs/your-kernel.md"]
    blocks = wt.parse(doc.read_text(), "docs/your-kernel.md")
    assert blocks[0].kind == "sh" and blocks[0].cmds == ["make foreign"]
    starts = [b.session for b in blocks if b.session_start]
    assert starts == [{"KERNEL": "build/foreign/vmlinuz", "SMP": "2",
                       "APPEND": "console=ttyS0 nokaslr panic=-1 isolcpus=1"},
                      {"CDROM": "build/foreign/grub.iso"},
                      {"KERNEL": "build/foreign/vmlinuz", "ARCH": "i386"}]
    text = "\n".join(ln for b in blocks for ln in b.body)
    assert "stage1_start" not in text          # no farjump symbols, no tbreak stage1_start
    cmds = commands(doc)
    for c in ("fj break 1020:0000", "fj mode", "x/4i $pc", "fj tbreak 1020:006c",
              "fj transitions", "fj tour --timeout 60", "fj gdt", "fj pt", "fj cpus",
              "fj pt 0xffffffff81000000", "thread 2", "fj break 0:7c00",
              "fj tour --timeout 30", "fj seg"):
        assert c in cmds, c
    # what the captures must show: Linux's setup code, its mode changes, GRUB's round trip
    assert "Breakpoint 1, 1020:0000 (linear 0x10200)" in text
    assert "RIP=0x100200" in text and "ended: 64-bit mode reached" in text
    assert "changed: mode protected/16 -> real/16; CR0 0x11 -> 0x10 (-PE)" in text
    assert "CPU 1  thread 2  long      64-bit" in text
    assert 'The target architecture is set to "i386".' in text


def test_session_lines_take_make_debugs_machine_options():
    b = wt.parse("<!-- capture: gdb x -->\n```\n$ make debug KERNEL=k APPEND='a b' "
                 "SMP=2\n```\n")[0]
    assert b.session_start and b.smp == 2
    assert b.session == {"KERNEL": "k", "APPEND": "a b", "SMP": "2"}
    assert b.session_line == "$ make debug KERNEL=k APPEND='a b' SMP=2"
    for bad in ("$ make debug FOO=1", "$ make debug SMP=x", "$ make debug KERNEL",
                "$ make debug ARCH=i386 ARCH=x86_64", "$ make debug APPEND='open"):
        with pytest.raises(SystemExit):
            wt.parse(f"<!-- capture: gdb x -->\n```\n{bad}\n```\n")


def test_time_travel_doc_is_a_replay_after_a_recording():
    """docs/time-travel.md's GDB session is '$ make replay', after a '$ make record' block."""
    blocks = wt.parse((ROOT / "docs" / "time-travel.md").read_text(), "docs/time-travel.md")
    gdb = [b for b in blocks if b.kind == "gdb"]
    assert gdb[0].session_start and gdb[0].replay and not any(b.replay for b in gdb[1:])
    record = [b for b in blocks if b.kind == "sh" and b.cmds == ["make record"]]
    assert record and record[0].body_start < gdb[0].body_start
    assert not wt.parse("<!-- capture: gdb x -->\n```\n$ make debug\n```\n")[0].replay


def test_unmarked_transcripts_are_found():
    text = "```\n(gdb) fj mode\nmode     real\n```\n```\n(gdb) source x\n```\n"
    assert len(unmarked_transcripts(text)) == 1
    assert unmarked_transcripts("<!-- capture: gdb x -->\n" + text.split("```\n```")[0]
                                + "```\n") == []
    assert unmarked_transcripts("```\nc\n(0) Magic breakpoint\n```\n")


def test_gdb_doc_covers_every_command():
    doc = DOCS["docs/gdb.md"]
    cmds = commands(doc)
    for c in ("help fj", "fj transitions", "fj mode", "fj seg", "fj ivt", "fj gdt", "fj idt",
              "fj pt", "fj pt &kernel_main", "fj context", "set fj-context on", "bt", "finish",
              "next", "fj vga --png build/walkthrough/fj-vga.png", "fj mode --json",
              "fj tour --reset", "fj tour --timeout 2 --json", "fj timeline",
              "fj timeline --json"):
        assert c in cmds, c
    # help fj lists every fj command, and each one appears in the doc
    helped = re.findall(r"^fj (\w+) -- ", "\n".join(block("help", doc).body), re.M)
    assert "timeline" in helped
    for name in helped:
        assert any(c.split()[:2] == ["fj", name] for c in cmds), name
    assert block("timeline", doc).loose
    assert "### fj timeline" in doc.read_text()


def test_bochs_doc_and_readme_are_captured():
    bochs = wt.parse(DOCS["docs/bochs.md"].read_text(), "docs/bochs.md")
    assert {b.kind for b in bochs} == {"bochs", "sh"}
    cmds = [c for b in bochs for c in b.cmds]
    for c in ("show mode", "info ivt 0x10 0x13", "sreg", "info gdt", "creg", "page 0x7c00",
              "info idt 0 2", "info tab", "xp /16bx 0xb8000", "quit"):
        assert c in cmds, c
    assert cmds.count("c") == 6                 # the six magic breakpoints
    assert bochs[0].cmds == [] and bochs[0].body[0] == "Next at t=0"
    readme = wt.parse(DOCS["README.md"].read_text(), "README.md")
    assert [b.kind for b in readme] == ["gdb"] and readme[0].session_start
    assert readme[0].cmds == ["fj mode", "break pm_entry", "continue", "x/3i $pc", "next"]


def test_doc_covers_every_step():
    blocks = wt.parse(DOC.read_text())
    kinds = {b.kind for b in blocks}
    assert kinds == {"gdb", "bochs", "qmp", "sh"}
    cmds = [c for b in blocks for c in b.cmds]
    for c in ("fj mode", "fj seg", "fj gdt", "fj pt", "fj pt _start", "fj ivt 0x13",
              "fj vga --png build/walkthrough/fj-vga.png", "x/i $pc", "sreg", "creg",
              "info tab"):
        assert c in cmds, c
    text = DOC.read_text()
    # Following the walkthrough never writes into the tracked docs/ (issue 15 item 12).
    assert not [c for c in cmds if "docs/" in c], cmds
    for img in ("img/fj-vga.png", "img/qemu-screen.png", "img/boot-multiboot.png",
                "img/boot-grub.png", "img/boot-uefi.png"):
        assert f"]({img})" in text
        assert (ROOT / "docs" / img).stat().st_size > 1000
    # Every way in is booted for real in its section (issue 14), with its screen.
    for way in ("multiboot", "grub", "uefi"):
        b = block(f"boot-{way}")
        timeout = " TIMEOUT=90" if way == "uefi" else ""
        assert b.cmds == [f"make run BOOT={way}{timeout} "
                          f"SCREENSHOT=build/walkthrough/boot-{way}.png"], b.cmds
        assert "Hello World!" in b.body and not b.loose


# ---- the check can fail ------------------------------------------------------------------------
def test_compare_reports_an_altered_output_line():
    b = block("to-pm")
    body = list(b.body)
    i = next(n for n, ln in enumerate(body) if "CR0=0x11 " in ln)
    altered = body[:i] + [body[i].replace("CR0=0x11 ", "CR0=0x13 ")] + body[i + 1:]
    diff = wt.compare(body, altered)
    assert any(d.startswith("- ") and "CR0=0x11" in d for d in diff), diff
    assert any(d.startswith("+ ") and "CR0=0x13" in d for d in diff), diff
    assert wt.compare(body, body) == []
    # a missing line and an extra line are mismatches too
    assert wt.compare(body, body[:-1])
    assert wt.compare(body, body + ["extra"])


def test_compare_tolerates_what_moves_with_code_size():
    doc = ["=> 0x8722 <pm_entry>:   xchg   bx, bx",
           "Temporary breakpoint 5, pm_entry () at /home/me/fj/boot/stage2.asm:409",
           "409             xchg bx, bx",
           "Next at t=16420174",
           "(0) [0x000000008725] 0008:0000000000008725 (pm_entry+3): mov ax, 0x0010 ; 66b81000",
           "0xffffffff80100000  0xffffffff80102fff  0x0000000000100000     12K    4K  r-x s ---",
           "kernel: physical 0x100000-0x112098, entry 0xffffffff80100000"]
    now = ["=> 0x878a <pm_entry>:   xchg   bx, bx",
           "Temporary breakpoint 5, pm_entry () at /work/main/boot/stage2.asm:463",
           "463             xchg bx, bx",
           "Next at t=16455992",
           "(0) [0x00000000878d] 0008:000000000000878d (pm_entry+3): mov ax, 0x0010 ; 66b81000",
           "0xffffffff80100000  0xffffffff80103fff  0x0000000000100000     16K    4K  r-x s ---",
           "kernel: physical 0x100000-0x1130a8, entry 0xffffffff80100000"]
    assert wt.compare(doc, now) == []
    # ...but not what must not change: a register value, a symbol, the mode, a selector
    for a, b in (("CR0=0x11 CR3=0x0", "CR0=0x13 CR3=0x0"),
                 ("=> 0x8722 <pm_entry>:", "=> 0x8722 <lm_entry>:"),
                 ("mode     protected, 32-bit code", "mode     real, 16-bit code"),
                 ("cs   0x0008     1", "cs   0x0010     2"),
                 ("GDT base=0x8758 limit=0x27 (5 slots)", "GDT base=0x8758 limit=0x2f (6 slots)")):
        assert wt.compare([a], [b]), (a, b)


def test_compare_tolerates_run_times_and_the_uefi_loader_base():
    """What make run BOOT=... prints that varies between runs or builds: the run's time,
    the TSC rate, the UEFI loader's ImageBase and size. Nothing else on those lines."""
    doc = ["run: the guest halted with interrupts off after 0.3 s (a clean end)",
           "boot timeline (TSC at 2096 MHz by the ACPI PM timer; stage 1 untimed):",
           "UEFI loader: ImageBase 0x6128000 (139264 bytes)"]
    now = ["run: the guest halted with interrupts off after 12 s (a clean end)",
           "boot timeline (TSC at 3400 MHz by the ACPI PM timer; stage 1 untimed):",
           "UEFI loader: ImageBase 0x6126000 (143360 bytes)"]
    assert wt.compare(doc, now) == []
    for a, b in ((doc[0], doc[0].replace("a clean end", "status 1")),
                 (doc[1], doc[1].replace("by the ACPI PM timer", "rate unknown")),
                 (doc[2], doc[2].replace("ImageBase", "image base")),
                 ("UEFI loader: ACPI 2.0 RSDP at 0x777e014", "UEFI loader: ACPI 1.0 RSDP at 0x777e014"),
                 ("kernel_read  36510117 cycles 17418 us", "kernel_read  36510117 cycles 1741 us")):
        assert wt.compare([a], [b]), (a, b)


def test_clean_drops_terminal_control_sequences():
    """OVMF clears the screen on COM1 (ESC [2J ...): the doc shows what a terminal shows."""
    assert wt.clean("\x1b[2J\x1b[01;01H\x1b[=3hBdsDxe: loading\r\nx\x1b[0m y\r\n") == \
        ["BdsDxe: loading", "x y"]


def test_compare_tolerates_addresses_printed_in_decimal():
    """JSON prints addresses as decimal numbers: kernel addresses in 16-20 digits."""
    doc = '{"cr0": 2147549201, "cs_selector": 24, "linear_pc": 18446744071563121231}'
    now = '{"cr0": 2147549201, "cs_selector": 24, "linear_pc": 18446744071563127344}'
    assert wt.compare([doc], [now]) == []
    assert wt.compare([doc], [now.replace("2147549201", "2147549203")])
    assert wt.compare([doc], [now.replace('"cs_selector": 24', '"cs_selector": 16')])


def test_cut_shows_the_first_lines():
    b = wt.parse('<!-- capture: gdb x cut="fj ivt=2" -->\n```\n(gdb) fj ivt\n'
                 '(gdb) fj mode\n```\n')[0]
    assert b.cut == {"fj ivt": 2}
    lines = [f"l{i}" for i in range(10)]
    assert wt.cut_lines(b, "fj ivt", lines) == ["l0", "l1", "[... 8 more lines ...]"]
    assert wt.cut_lines(b, "fj mode", lines) == lines
    assert wt.cut_lines(b, "fj ivt", lines[:3]) == lines[:3]    # never '1 more line'


def test_loose_blocks_ignore_numbers_only():
    assert wt.compare(["  hello  5325658 cycles  2051 us"], ["  hello  7325658 cycles  51 us"],
                      loose=True) == []
    assert wt.compare(["  hello  5325658 cycles"], ["  bye  5325658 cycles"], loose=True)
