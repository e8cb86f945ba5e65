"""The layers of gdb/fjgdb import only downward (see gdb/fjgdb/__init__.py):
decoders import nothing of fjgdb but decoders and never gdb; render imports decoders;
target imports decoders; commands and integrations may import all of them."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "gdb" / "fjgdb"
ALLOWED = {
    "decoders": {"decoders"},
    "render": {"decoders", "render"},
    "target": {"decoders", "target"},
    "commands": {"decoders", "render", "target", "commands"},
    "integrations": {"decoders", "render", "target", "commands", "integrations"},
}


def imports(path: Path):
    """(fjgdb layer or top-level module, line) of every import in *path*."""
    layer = path.relative_to(PKG).parts[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.module.split(".")[0], node.lineno
            elif node.level == 1:
                yield layer if node.module is None or path.parent != PKG else \
                    node.module.split(".")[0], node.lineno
            else:
                yield (node.module or "").split(".")[0], node.lineno


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_downward(layer):
    bad = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for name, line in imports(path):
            if name == "gdb" and layer in ("decoders", "render"):
                bad.append(f"{path.name}:{line} imports gdb")
            if name in ALLOWED and name not in ALLOWED[layer]:
                bad.append(f"{path.name}:{line} imports fjgdb.{name}")
    assert not bad, bad


def test_no_module_over_400_lines_without_a_reason():
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        if text.count("\n") > 400:
            assert "Why over 400 lines:" in text[:2000], f"{path} is long and says not why"
