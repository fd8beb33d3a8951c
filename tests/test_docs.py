"""The documentation does not rot (trial 2, D11): what README.md, data/README.md and docs/architecture.md name exists.

* every module, function and file they name in code (``ditp_model.timeline.followup``, ``inputs/schema.py``,
  ``data/jalons_exemple.csv``…) exists where they say — read from the source with ``ast``, nothing imported;
* README's table of notebooks lists every notebook of ``notebooks/``;
* docs/architecture.md's table « Modules de plus de 800 lignes » names exactly the modules over 800 lines
  (counted here), and each gives its reason at its top (STYLE.md), without a line count that would rot;
* ``make run`` is the first command of README's Windows section, as README says.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ditp_model"
DOCS = {"README.md": ROOT / "README.md", "data/README.md": ROOT / "data" / "README.md",
        "docs/architecture.md": ROOT / "docs" / "architecture.md"}


def _module_file(dotted: list[str]) -> Path | None:
    path = ROOT.joinpath(*dotted)
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def resolves(dotted_name: str) -> bool:
    """``ditp_model.a.b`` (a module) or ``ditp_model.a.b.name`` (a top-level name of it; ``.attr`` after it is free)."""
    parts = dotted_name.split(".")
    for k in range(len(parts), 0, -1):
        path = _module_file(parts[:k])
        if path is not None:
            return k == len(parts) or parts[k] in _top_level_names(path)
    return False


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_dotted_name_in_the_docs_exists(doc):
    text = DOCS[doc].read_text(encoding="utf-8")
    names = {m for span in code_spans(text) for m in re.findall(r"\bditp_model(?:\.\w+)+", span)}
    bad = sorted(n for n in names if not resolves(n))
    assert not bad, f"{doc} nomme ce qui n'existe pas : {bad}"


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_file_path_in_the_docs_exists(doc):
    """A path in code (``ditp_model/inputs/schema.py``, ``rules/held.py``, ``data/jalons_exemple.csv``): in the
    repository, or in the package (docs/architecture.md writes module paths from ``ditp_model/``)."""
    text = DOCS[doc].read_text(encoding="utf-8")
    paths = set()
    for span in code_spans(text):
        for word in span.split():
            word = word.strip("(),;:")
            if re.fullmatch(r"[\w.-]+(?:/[\w.-]+)+\.(py|md|csv|toml|ipynb|xlsx|ods|json|docx|cfg|yml)", word) \
                    and not word.startswith(("../", "resultats/", "rapport/", "import/", "scenarios/")):
                paths.add(word)
    assert paths, f"{doc} : aucun chemin lu (le motif de ce test ne trouve plus rien)"
    bad = sorted(p for p in paths if not (ROOT / p).exists() and not (PACKAGE / p).exists())
    assert not bad, f"{doc} nomme des fichiers absents : {bad}"


def test_readme_lists_every_notebook():
    text = DOCS["README.md"].read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `(\d\d_[\w]+\.ipynb)` \|", text, flags=re.M))
    on_disk = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert table == on_disk, f"README, table des notebooks : manque {sorted(on_disk - table)}, en trop {sorted(table - on_disk)}"


def _over_800() -> dict[str, Path]:
    return {p.relative_to(PACKAGE).as_posix(): p for p in PACKAGE.rglob("*.py")
            if len(p.read_text(encoding="utf-8").splitlines()) > 800}


def test_the_table_of_long_modules_names_exactly_the_modules_over_800_lines():
    text = DOCS["docs/architecture.md"].read_text(encoding="utf-8")
    section = text[text.index("## Modules de plus de 800 lignes"):]
    rows = re.findall(r"^\| `([\w/]+\.py)` \| (.+) \|$", section, flags=re.M)
    listed = {m for m, _why in rows}
    long = _over_800()
    assert listed == set(long), (f"docs/architecture.md, « Modules de plus de 800 lignes » : ajouter {sorted(set(long) - listed)}, "
                                 f"retirer {sorted(listed - set(long))}")
    for module, why in rows:
        assert not re.search(r"≈|\d\s?\d{3}\b", why), f"{module} : pas de nombre de lignes dans le tableau (il change à chaque modification)"
        doc = ast.get_docstring(ast.parse(long[module].read_text(encoding="utf-8"))) or ""
        assert "800" in doc, f"{module} : plus de 800 lignes sans la raison écrite en tête (STYLE.md)"


def test_make_run_is_the_first_windows_command():
    """README: « `make run` correspond à la première ligne » of the Windows commands."""
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    variables = dict(re.findall(r"^(\w+)\s*\?=\s*(\S+)\s*$", make, flags=re.M))
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", make, flags=re.M).group(1)
    recipe = " ".join(line.strip().rstrip("\\") for line in recipe.splitlines())
    recipe = re.sub(r"\$\((\w+)\)", lambda m: "" if m.group(1) == "BIN" else variables[m.group(1)], recipe)
    make_argv = shlex.split(recipe.replace("/ditp-model", "ditp-model", 1))
    readme = DOCS["README.md"].read_text(encoding="utf-8")
    windows = readme[readme.index("## Sous Windows"):]
    first = next(line.strip() for line in windows.splitlines() if line.strip().startswith("ditp-model "))
    assert shlex.split(first) == make_argv
    assert "`make run` correspond à la première ligne" in windows
