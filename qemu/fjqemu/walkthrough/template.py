"""The doc as a template: prose by hand, and capture blocks (a marker line and a fence)
whose commands are read back, run, and refilled."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field


MARKER_RE = re.compile(r"^<!-- capture: (\w+) ([\w.-]+)((?:\s+[^>]*?)?)\s*-->\s*$")
FENCE_RE = re.compile(r"^```")
PROMPT = {"gdb": re.compile(r"^\(gdb\) (.*)$"),
          "bochs": re.compile(r"^<bochs:\d+> (.*)$"),
          "qmp": re.compile(r"^-> (.*)$"),
          "sh": re.compile(r"^\$ (.*)$")}


@dataclass
class Block:
    kind: str
    name: str
    fails: list                 # commands that must fail: each entry is one occurrence
    loose: bool
    cut: dict                   # command -> how many output lines to show
    marker_line: int            # 0-based index in the doc
    doc: str
    body_start: int             # first line inside the fence
    body_end: int               # the closing fence
    body: list
    cmds: list = field(default_factory=list)
    session_start: bool = False  # '$ make debug [VAR=VALUE...]' first line of a gdb block
    smp: int = 1                # N of '$ make debug SMP=N': the session's QEMU has N CPUs
    session: dict = field(default_factory=dict)  # its VAR=VALUE words (SESSION_VARS)
    session_line: str = ""      # that first line, as the doc writes it
    replay: bool = False        # '$ make replay': the session replays build/record
    out: list | None = None     # the fresh capture

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name} ({self.doc}:{self.marker_line + 1})"


# What a doc's '$ make debug VAR=VALUE ...' may set: the machine options of make debug
# (fjqemu.machine; docs/your-kernel.md). Anything else is refused.
SESSION_VARS = ("IMAGE", "CDROM", "KERNEL", "APPEND", "INITRD", "ARCH", "SMP", "SYMBOLS")


def session_vars(words: str, where: str) -> dict:
    """'KERNEL=build/foreign/vmlinuz APPEND='console=ttyS0' SMP=2' -> {VAR: VALUE}, as the
    shell and make would read them."""
    try:
        items = shlex.split(words)
    except ValueError as e:
        raise SystemExit(f"walkthrough: {where}: bad '$ make debug' line: {e}")
    out = {}
    for item in items:
        var, eq, value = item.partition("=")
        if not eq or var not in SESSION_VARS or var in out:
            raise SystemExit(f"walkthrough: {where}: '$ make debug' takes VAR=VALUE words, "
                             f"each once, with VAR one of {', '.join(SESSION_VARS)}; "
                             f"not {item!r}")
        if var == "SMP" and not re.fullmatch(r"[1-9][0-9]?", value):
            raise SystemExit(f"walkthrough: {where}: SMP={value}: want 1 to 99 CPUs")
        out[var] = value
    return out


def parse(text: str, doc: str = "docs/walkthrough.md") -> list[Block]:
    lines = text.split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = MARKER_RE.match(lines[i])
        if not m and lines[i].startswith("<!-- capture:"):
            raise SystemExit(f"walkthrough: {doc}:{i + 1}: bad capture marker "
                             f"(want '<!-- capture: KIND NAME [options] -->')")
        if not m:
            i += 1
            continue
        kind, name, opts = m.group(1), m.group(2), m.group(3) or ""
        if kind not in PROMPT:
            raise SystemExit(f"walkthrough: {doc}:{i + 1}: unknown kind {kind!r}")
        if i + 1 >= len(lines) or not FENCE_RE.match(lines[i + 1]):
            raise SystemExit(f"walkthrough: {doc}:{i + 1}: the capture marker "
                             f"must be followed by a ``` fence")
        end = i + 2
        while end < len(lines) and not FENCE_RE.match(lines[end]):
            end += 1
        if end >= len(lines):
            raise SystemExit(f"walkthrough: {doc}:{i + 1}: unclosed fence")
        fm = re.search(r'fails="([^"]*)"', opts)
        cut = {}
        cm = re.search(r'cut="([^"]*)"', opts)
        for entry in cm.group(1).split("|") if cm else ():
            c, eq, n = entry.rpartition("=")
            if not eq or not n.strip().isdigit() or not c.strip():
                raise SystemExit(f"walkthrough: {doc}:{i + 1}: bad cut entry {entry!r} "
                                 f"(want CMD=N)")
            cut[c.strip()] = int(n)
        b = Block(kind, name, [c.strip() for c in fm.group(1).split("|")] if fm else [],
                  bool(re.search(r"\bloose\b", opts)), cut, i, doc, i + 2, end,
                  lines[i + 2:end])
        b.cmds = [pm.group(1) for ln in b.body if (pm := PROMPT[kind].match(ln))]
        first = b.body[0].strip() if kind == "gdb" and b.body else ""
        if first == "$ make debug" or first.startswith("$ make debug "):
            b.session_start = True
            b.session_line = first
            b.session = session_vars(first[len("$ make debug"):], f"{doc}:{i + 3}")
            b.smp = int(b.session.get("SMP", 1))
        elif first == "$ make replay":
            b.session_start = b.replay = True
            b.session_line = first
        if not b.cmds and not b.session_start and kind != "bochs":
            raise SystemExit(f"walkthrough: {b.label}: no commands in the block")
        for c in cut:
            if c not in b.cmds:
                raise SystemExit(f"walkthrough: {b.label}: cut=... names '{c}', which the "
                                 f"block does not run")
        if any(n.name == name and n.kind == kind for n in blocks):
            raise SystemExit(f"walkthrough: {b.label}: duplicate block name")
        blocks.append(b)
        i = end + 1
    return blocks


def render(text: str, blocks: list[Block]) -> str:
    lines = text.split("\n")
    for b in sorted(blocks, key=lambda b: b.body_start, reverse=True):
        lines[b.body_start:b.body_end] = b.out
    return "\n".join(lines)


def cut_lines(b: Block, cmd: str, lines: list[str]) -> list[str]:
    """What the doc shows of one command's output: all of it, or the first N lines if the
    block's marker says cut="CMD=N"."""
    n = b.cut.get(cmd)
    if n is None or len(lines) <= n + 1:
        return lines
    return lines[:n] + [f"[... {len(lines) - n} more lines ...]"]


# Terminal control sequences (CSI ... final byte), as OVMF writes them on COM1: a terminal
# shows nothing for them, the doc neither.
CSI_RE = re.compile(r"\x1b\[[0-9;=?]*[@-~]")


def clean(text: str) -> list[str]:
    """Output text as doc lines: tabs expanded, no trailing blanks, no ``` fences, no
    terminal control sequences."""
    out = []
    for ln in CSI_RE.sub("", text).replace("\r", "").split("\n"):
        ln = ln.expandtabs(8).rstrip()
        out.append(("\u200b" + ln) if ln.startswith("```") else ln)
    while out and not out[-1]:
        out.pop()
    return out


