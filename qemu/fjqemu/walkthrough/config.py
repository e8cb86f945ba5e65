"""Where the walkthrough's docs and artefacts are, and its time limits."""
from __future__ import annotations

import os
from pathlib import Path

from .. import ROOT

DOC = ROOT / "docs" / "walkthrough.md"
DOCS = (DOC, ROOT / "docs" / "gdb.md", ROOT / "docs" / "bochs.md", ROOT / "README.md",
        ROOT / "docs" / "time-travel.md")
# Captured only when named (--doc): QEMU 7.2 sometimes re-reports an AP's breakpoint, so a
# fresh capture of it does not always match (docs/smp.md says so).
SMP_DOC = ROOT / "docs" / "smp.md"
IMG = ROOT / "docs" / "img"

MAKE = os.environ.get("MAKE", "make")
MARK = "\x02fj-walkthrough\x03 "
GDB_TIMEOUT = 60        # the whole GDB session
REPLAY_GDB_TIMEOUT = 300  # ... when it is a replay ('$ make replay'): each backward move replays
CONTINUE_TIMEOUT = 15   # one 'continue' inside it
BOCHS_TIMEOUT = 60
SH_TIMEOUT = 60
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
