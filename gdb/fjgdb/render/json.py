"""JSON text of a command's document (--json): one line, keys in the order built."""
from __future__ import annotations

import json


def to_json(doc) -> str:
    return json.dumps(doc, sort_keys=False)
