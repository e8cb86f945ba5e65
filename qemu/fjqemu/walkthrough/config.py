"""Where the walkthrough's docs and artefacts are, and its time limits."""
from __future__ import annotations

import os
from pathlib import Path

from .. import ROOT

DOC = ROOT / "docs" / "walkthrough.md"
# docs/smp.md deletes every breakpoint before it continues an AP (QEMU 7.2's step-over on an
# AP, docs/gdb.md "Limits"); docs/your-kernel.md boots Debian's Linux and GRUB (make foreign);
# docs/time-travel.md records a boot and replays it.
DOCS = (DOC, ROOT / "docs" / "gdb.md", ROOT / "docs" / "bochs.md", ROOT / "README.md",
        ROOT / "docs" / "smp.md", ROOT / "docs" / "your-kernel.md",
        ROOT / "docs" / "time-travel.md")
IMG = ROOT / "docs" / "img"

MAKE = os.environ.get("MAKE", "make")
MARK = "\x02fj-walkthrough\x03 "
GDB_TIMEOUT = 60        # the whole GDB session
REPLAY_GDB_TIMEOUT = 300  # ... when it is a replay ('$ make replay'): each backward move replays
CONTINUE_TIMEOUT = 15   # one 'continue' inside it
# A session on a guest farjump did not write ('$ make debug KERNEL=...'): Debian's Linux
# boots for several seconds under TCG before it reaches what the doc shows.
FOREIGN_GDB_TIMEOUT = 240
FOREIGN_CONTINUE_TIMEOUT = 90
BOCHS_TIMEOUT = 60
SH_TIMEOUT = 120       # one shell command (an OVMF boot takes seconds, more on a busy machine)
# sh blocks before a doc's first gdb block fetch what its sessions boot ('$ make foreign'
# downloads Debian's kernel package the first time).
FETCH_TIMEOUT = 900
# Artefacts: the doc shows these paths; --check writes to a temporary directory instead.
SHOWN_IMG = "docs/img/"
SHOWN_BUILD = "build/walkthrough/"


class CaptureError(RuntimeError):
    """A command of the walkthrough did not work."""


def shown_name(doc: Path) -> str:
    try:
        return str(doc.relative_to(ROOT))
    except ValueError:
        return str(doc)
