"""The fj commands: one module per command, named after it, registered from :data:`COMMANDS`.

A command parses its arguments (:mod:`.base`), asks the target layer for the CPU at this
stop or for guest memory (:mod:`fjgdb.target`), decodes (:mod:`fjgdb.decoders`) and
prints what :mod:`fjgdb.render` makes of it. Shared helpers live in :mod:`.base`.
"""
from __future__ import annotations

from .brk import FjBreak, FjTbreak
from .context import FjContext
from .cpus import FjCpus
from .fb import FjFb
from .gdt import FjGdt
from .idt import FjIdt
from .ivt import FjIvt
from .mode import FjMode
from .pt import FjPt
from .reset import FjReset
from .seg import FjSeg
from .timeline import FjTimeline
from .tour import FjTour
from .transitions import FjTransitions
from .vga import FjVga
from .why import FjWhy

#: Every fj command, in the order 'help fj' documents them.
COMMANDS = (FjMode, FjSeg, FjCpus, FjIvt, FjGdt, FjIdt, FjPt, FjVga, FjFb, FjContext,
            FjTransitions, FjTour, FjReset, FjTimeline, FjBreak, FjTbreak, FjWhy)
