"""The stop-event hook that prints the fj context panel at every stop (set fj-context on)."""
from __future__ import annotations

from ..commands.base import error_line, out
from ..commands.context import PANEL
from ..commands.tour import TOUR_ACTIVE
from ..target.state import STATE
from .params import ContextParam


def on_stop_panel(param: ContextParam):
    """A gdb.events.stop handler; never raises (one line instead)."""
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
