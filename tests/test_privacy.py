"""No reviewer identity leaves the secretariat unless it asks (``--with-reviewer-ids``): trial 1, item 5.

Two reviewers of a part of the sample are renamed with e-mail addresses (as a secretariat that keys
reviewers by e-mail would write them), and both declare a conflict of interest (so their identity
reaches the procedure annex, the manifest and the console).  Every command that a secretariat runs
on them — ``score``, ``allocate``, ``report``, ``lettres``, ``desistement``, ``verify`` — is run; then
every byte it printed and every file it wrote (CSV, XLSX and DOCX members, PDF text, HTML, Markdown,
JSON) is searched for the addresses.  A control run with ``--with-reviewer-ids`` shows that the search
finds them when they are there, so the test can fail.  The pseudonym a reviewer gets is the same in
the console, the workbook and the manifest.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from ditp_model.cli import main
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS, read_rows, write_rows

pypdf = pytest.importorskip("pypdf")
openpyxl = pytest.importorskip("openpyxl")

#: The sample's reviewer ids renamed, and the two applications they declare a conflict on (both reviewed them).
RENAMED = {"R09": "marie.curie@exemple.fr", "R04": "jean.moulin@exemple.fr"}
CONFLICTS = {"marie.curie@exemple.fr": "P027", "jean.moulin@exemple.fr": "P093"}
KEEP = {f"P{k:03d}" for k in range(1, 31)} | {"P093"}




def file_text(path: Path) -> str:
    """Everything a person could read in `path`: zip members (XLSX, DOCX), PDF text, or the bytes as text."""
    data = path.read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(path) as z:
            return "\n".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist())
    if data[:4] == b"%PDF":
        return "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(str(path)).pages) + data.decode(
            "latin-1")  # the metadata too
    return data.decode("utf-8", errors="replace")


def leaks(text: str) -> list[str]:
    return sorted({who for who in CONFLICTS if who in text or who.split("@")[0] in text})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The inputs with e-mail ids, then every command run on them; returns (root, {command: stdout + stderr})."""
    root = tmp_path_factory.mktemp("identites")
    data = root / "donnees"
    data.mkdir()
    write_rows(data / "candidatures.csv", [r for r in read_rows(SAMPLE_APPLICATIONS) if r["application_id"] in KEEP])
    reviews = [dict(r, reviewer_id=RENAMED.get(r["reviewer_id"], r["reviewer_id"])) for r in read_rows(SAMPLE_REVIEWS)
               if r["application_id"] in KEEP]
    for who, app in CONFLICTS.items():
        assert any(r["reviewer_id"] == who and r["application_id"] == app for r in reviews)  # a review to set aside
    write_rows(data / "evaluations.csv", reviews)
    write_rows(data / "conflits.csv", [{"person_id": who, "application_id": app, "nature": "Co-encadrement d'une thèse",
                                    "role": "évaluateur", "declared_on": "08/11/2021"} for who, app in CONFLICTS.items()])
    common = ["--call", str(RULES_PATH), "--applications", str(data / "candidatures.csv"), "--reviews",
              str(data / "evaluations.csv"), "--conflits", str(data / "conflits.csv"), "--normalisation", "reviewer_zscore"]
    said = {}

    def run(name, argv, code=0):  # capsys is function-scoped: the module fixture captures by itself
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
        said[name] = out.getvalue() + err.getvalue()
        assert rc == code, said[name]

    run("score", ["score", *common, "--out", str(root / "score")])
    run("allocate", ["allocate", *common, "--envelope", "800000", "--provisoire", "--out", str(root / "allocate")])
    run("report", ["report", *common, "--envelope", "800000", "--provisoire", "--no-gaps", "--out", str(root / "rapport")])
    manifest = root / "rapport" / "manifest.json"
    run("lettres", ["lettres", "--manifest", str(manifest), "--pdf", "html", "--provisoire", "--date", "2026-12-03"])
    funded = next(d["application_id"] for d in json.loads(manifest.read_text(encoding="utf-8"))["decisions"] if d["funded"])
    run("desistement", ["desistement", "--manifest", str(manifest), funded, "--motif", "courrier du porteur"])
    run("verify", ["verify", str(manifest)])
    run("controle", ["allocate", *common, "--envelope", "800000", "--provisoire", "--with-reviewer-ids",
                     "--out", str(root / "controle")])
    return root, said


def test_no_command_prints_a_reviewer_identity(runs):
    _, said = runs
    shown = {name: leaks(text) for name, text in said.items() if name != "controle"}
    assert shown == {name: [] for name in shown}
    assert "évaluateur R" in said["allocate"]  # the procedure lines are printed, with pseudonyms


def test_no_output_file_holds_a_reviewer_identity(runs):
    root, _ = runs
    files = [p for folder in ("score", "allocate", "rapport") for p in sorted((root / folder).rglob("*")) if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".csv", ".xlsx", ".json", ".html", ".pdf", ".md", ".docx", ".jsonl"} <= kinds  # every kind was written
    found = {p.relative_to(root).as_posix(): leaks(file_text(p)) for p in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_search_finds_identities_when_the_secretariat_asks_for_them(runs):
    root, said = runs
    assert leaks(said["controle"]) == sorted(CONFLICTS)
    assert leaks(file_text(root / "controle" / "allocation.xlsx")) == sorted(CONFLICTS)
    assert json.loads((root / "controle" / "manifest.json").read_text(encoding="utf-8"))["reviewer_identities"] is True


def test_a_reviewer_has_one_pseudonym_in_console_workbook_and_manifest(runs):
    root, said = runs
    m = json.loads((root / "allocate" / "manifest.json").read_text(encoding="utf-8"))
    by_app = {e["application_id"]: e["reviewer_id"] for e in m["excluded_reviews"]}
    assert set(by_app) == set(CONFLICTS.values()) and all(re.fullmatch(r"R\d+", v) for v in by_app.values())
    assert len(set(by_app.values())) == 2
    assert {d["application_id"]: d["person_id"] for d in m["conflicts"]} == by_app
    book = openpyxl.load_workbook(root / "allocate" / "allocation.xlsx")
    cells = [" ".join(str(c) for c in row if c is not None) for row in book["Procédure"].iter_rows(values_only=True)]
    scores = list(book["Notes par évaluateur"].iter_rows(values_only=True))
    book.close()
    for app, pseudonym in by_app.items():
        assert any(app in line and f"évaluateur {pseudonym} " in line for line in cells), (app, pseudonym)
        assert re.search(rf"{app} : évaluateur {pseudonym} \(déclaré le 08/11/2021\) : avis écarté", said["allocate"])
    # the scores by reviewer: the same pseudonyms, and no other id than pseudonyms
    ids = {str(row[1]) for row in scores[1:] if row[1] is not None}
    assert ids and all(re.fullmatch(r"R\d+", i) for i in ids)
