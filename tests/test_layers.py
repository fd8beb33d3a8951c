"""The package's layers (docs/architecture.md, STYLE.md item 12): imports go one way, and no circle.

Read from the source with ``ast`` (nothing is imported), so an import inside a function counts
as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ditp_model"

#: Lowest first: a module may import its own layer's modules and the layers before it, never a later one.
LAYERS = (
    ("ditp_model", "ditp_model.french", "ditp_model.lockfile", "ditp_model.privacy", "ditp_model.publication"),
    ("ditp_model.inputs",),
    ("ditp_model.scoring",),
    ("ditp_model.rules",),
    ("ditp_model.uncertainty",),
    ("ditp_model.timeline",),
    ("ditp_model.outputs", "ditp_model.templates"),  # templates/: the letter template and the script that builds it
    ("ditp_model.session",),
    ("ditp_model.cli",),
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Internal modules that `name` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # ``import ditp_model.x.y as z`` or an attribute: its module
                t = t.rpartition(".")[0]
            if t.split(".")[0] == "ditp_model" and t != name:
                found.add(t)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    best = None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if module == prefix or (prefix != "ditp_model" and module.startswith(prefix + ".")):
                best = i
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS and to docs/architecture.md"
    return best


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_imports_go_down_the_layers():
    wrong = sorted(f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
                   for a, deps in GRAPH.items() for b in deps if _layer(b) > _layer(a))
    assert wrong == []


def test_nothing_imports_the_interfaces():
    for top in ("ditp_model.cli", "ditp_model.session"):
        wrong = sorted(f"{a} imports {b}" for a, deps in GRAPH.items() for b in deps
                       if (b == top or b.startswith(top + ".")) and not (a == top or a.startswith(top + ".")))
        assert wrong == [], top


def test_no_import_circle():
    """Depth-first search for a back edge; the circle found is named."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []
    circles = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(GRAPH.get(m, ())):
            if state.get(d) == 1:
                circles.append(" -> ".join(path[path.index(d):] + [d]))
            elif d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert circles == []


def test_the_checker_sees_lazy_imports(tmp_path):
    """A function-level import is an import: the checker must not miss it."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from ditp_model.outputs.report import produce_report\n", encoding="utf-8")
    assert _imports("ditp_model.rules.m", src) == {"ditp_model.outputs.report"}
