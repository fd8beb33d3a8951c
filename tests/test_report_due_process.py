"""``ditp-model report --conflits FICHIER`` end to end (issue 13, « Done when »), and the ``conflicts`` report parameter.

One report is produced for the module (papermill + nbconvert + WeasyPrint, entry gaps left out) on the sample with
the sample declarations ``data/conflits_exemple.csv``, one application imposed and one excluded, each with its
reason.  What the report says is checked against values computed here from the input files with the standard
library (``csv``), never against the tool's own helpers: the reviews under a declared conflict (and their line in
the reviews file), the applications left with fewer reviews than the call's minimum, the main list (count and total)
and the reserve list in call-up order, read back from ``allocation.csv`` and compared with the annex of
``rapport.pdf`` (text extracted with pypdf) and of ``rapport.html`` (table ``procedure`` parsed with ``html.parser``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tomllib
from collections import Counter
from html.parser import HTMLParser

import pytest

from ditp_model.cli import main as main_for_tests
from ditp_model.inputs.tables import read_output_csv
from ditp_model.outputs import record, report

from helpers import DATA, RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

CONFLICTS = DATA / "conflits_exemple.csv"
WEIGHTS = "impact=0.5,openness=0.3,collective=0.2"
LOCK_IN = ("P014", "Seul projet ultramarin classé au-dessus des seuils")
LOCK_OUT = ("P098", "Financé par ailleurs (plan de relance 2021)")


def _flat(text: str) -> str:
    """Every run of white space (line breaks, no-break and narrow no-break spaces) as one space."""
    return re.sub(r"[\s\u00a0\u202f]+", " ", text).strip()


def _eur(n: int) -> str:
    """Whole euros as the report writes them, with plain spaces after :func:`_flat`: ``2 927 710 €``."""
    return f"{n:,}".replace(",", " ") + " €"


class _ProcedureTable(HTMLParser):
    """The body rows of ``<table id="procedure">`` as lists of cell texts."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._in = False
        self._row = None
        self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == "procedure":
            self._in = True
        elif self._in and tag == "tr":
            self._row = []
        elif self._in and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if not self._in:
            return
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(_flat("".join(self._cell)))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._in = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _expected_from_inputs():
    """From the input files alone: excluded reviews (reviewer, application) -> file line, and review counts after exclusion."""
    with open(CONFLICTS, encoding="utf-8", newline="") as f:
        declared = {(r["person_id"], r["application_id"]) for r in csv.DictReader(f)}
    excluded, counts = {}, Counter()
    with open(SAMPLE_REVIEWS, encoding="utf-8", newline="") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):  # line 1 is the header
            if (r["reviewer_id"], r["application_id"]) in declared:
                excluded[(r["reviewer_id"], r["application_id"])] = line
            else:
                counts[r["application_id"]] += 1
    with open(SAMPLE_APPLICATIONS, encoding="utf-8", newline="") as f:
        ids = [r["application_id"] for r in csv.DictReader(f)]
    return declared, excluded, {a: counts.get(a, 0) for a in ids}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    out = tmp_path_factory.mktemp("rapport_conflits") / "out"
    code = main_for_tests(["report", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS),
                           "--reviews", str(SAMPLE_REVIEWS), "--weights", WEIGHTS, "--conflits", str(CONFLICTS),
                           "--lock-in", f"{LOCK_IN[0]}={LOCK_IN[1]}", "--lock-out", f"{LOCK_OUT[0]}={LOCK_OUT[1]}",
                           "--no-gaps", "--provisoire", "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def pdf_pages(published) -> list[str]:
    from pypdf import PdfReader

    return [_flat(p.extract_text() or "") for p in PdfReader(published / "rapport.pdf").pages]


@pytest.fixture(scope="module")
def annex_pdf(pdf_pages) -> str:
    """The text of the printed « Annexe de procédure », from its heading to the « Annexe technique »."""
    text = " ".join(pdf_pages)
    start = text.index("Annexe de procédure Déports")
    return text[start:text.index("Annexe technique", start)]


def test_manifest_records_the_declarations_and_verify_replays_them(published):
    m = json.loads((published / "manifest.json").read_text(encoding="utf-8"))
    assert m["input_files"]["conflicts"]["sha256"] == hashlib.sha256(CONFLICTS.read_bytes()).hexdigest()
    assert m["parameters"]["lock_reasons"] == {LOCK_IN[0]: LOCK_IN[1], LOCK_OUT[0]: LOCK_OUT[1]}
    v = record.verify(published / "manifest.json")
    assert v.identical, v.text_fr()
    # Without the declarations the scores differ: verify given another (empty) declarations file says what changed.
    empty = published.parent / "aucune_declaration.csv"
    empty.write_text("person_id,application_id,nature,role,declared_on\n", encoding="utf-8")
    assert not record.verify(published / "manifest.json", conflicts=empty).identical


def test_annex_lists_conflicts_and_excluded_reviews(published, annex_pdf):
    declared, excluded, _ = _expected_from_inputs()
    assert excluded, "the sample declarations must exclude at least one review"
    html_rows = _ProcedureTable((published / "rapport.html").read_text(encoding="utf-8")).rows
    conflict_rows = {(r[1], r[2]): r for r in html_rows if r and r[0] == "Conflits d'intérêts déclarés"}
    assert set(conflict_rows) == {(a, p) for p, a in declared}
    for (reviewer, app), line in excluded.items():
        row = conflict_rows[(app, reviewer)]
        assert f"avis écarté (ligne {line} du fichier des évaluations)" in row[3]
        assert f"{app} {reviewer} évaluateur {reviewer}" in annex_pdf
        assert f"avis écarté (ligne {line} du fichier des évaluations), compté comme manquant" in annex_pdf
    with open(CONFLICTS, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            assert _flat(r["nature"]) in annex_pdf  # the nature of every declared link


def test_annex_lists_held_applications(published, annex_pdf):
    _, _, counts = _expected_from_inputs()
    minimum = tomllib.loads(RULES_PATH.read_text(encoding="utf-8"))["scoring"]["min_reviews"]
    table = read_output_csv(published / "allocation.csv")
    eligible = set(table.loc[table["eligible"], "application_id"])
    held = {a: n for a, n in counts.items() if n < minimum and a in eligible}
    assert held, "the sample has applications awaiting reviews (P047, P072)"
    shown = set(re.findall(r"(P\d{3}) en attente d'évaluation", annex_pdf))
    assert shown == set(held)
    for a, n in held.items():
        assert f"{a} en attente d'évaluation : {n} avis valable{'s' if n >= 2 else ''} sur {minimum} requis, il en manque {minimum - n}" in annex_pdf


def test_annex_lists_every_lock_reason(published, annex_pdf, pdf_pages):
    table = read_output_csv(published / "allocation.csv")
    award = dict(zip(table["application_id"], table["award_eur"]))
    assert award[LOCK_IN[0]] > 0 and award[LOCK_OUT[0]] == 0
    assert f"{LOCK_IN[0]} imposé par le comité : financé {_eur(int(award[LOCK_IN[0]]))} {LOCK_IN[1]}" in annex_pdf
    assert f"{LOCK_OUT[0]} exclu par le comité : non financé {LOCK_OUT[1]}" in annex_pdf
    assert "MOTIF NON RENSEIGNÉ" not in annex_pdf
    assert all("PROVISOIRE" in p for p in pdf_pages)  # P047 / P072 could still enter: every page says so


def test_annex_recalls_the_main_and_reserve_lists(published, annex_pdf, pdf_pages):
    table = read_output_csv(published / "allocation.csv")
    funded = table[table["funded"]]
    assert (f"liste principale : {len(funded)} dossiers financés pour {_eur(int(funded['award_eur'].sum()))}"
            in annex_pdf)
    reserve = table[table["reserve_rank"].notna()].sort_values("reserve_rank")
    assert len(reserve) and list(reserve["reserve_rank"].astype(int)) == list(range(1, len(reserve) + 1))
    order = " ; ".join(f"{k}. {a} ({_eur(int(w))})" for k, (a, w) in
                       enumerate(zip(reserve["application_id"], reserve["award_cap_eur"]), 1))
    assert f"liste complémentaire : {len(reserve)} dossiers, appelés dans cet ordre avec le montant que chacun " \
           f"recevrait : {order}" in annex_pdf
    # The reserve list's own section, in the body, lists the same applications in the same order.
    # (on landscape pages since the reserve list has ten columns; it may run over two pages: read the section whole)
    first = next(i for i, p in enumerate(pdf_pages)
                 if p.startswith("PROVISOIRE Liste complémentaire") or " Liste complémentaire Dossiers appelés" in p)
    body = " ".join(pdf_pages[first:first + 3])
    body = body[body.index("Situation"):]
    body = body[:body.index("9. Si l'on maximisait")] if "9. Si l'on maximisait" in body else body
    assert re.findall(r"\b(\d+)\s+(P\d{3})\b", body)[:len(reserve)] == \
        [(str(k), a) for k, a in enumerate(reserve["application_id"], 1)]
    # Every funded application is in the decision; none of the reserve list is funded.
    assert not set(reserve["application_id"]) & set(funded["application_id"])


# --------------------------------------------------------------------------- the parameter, without running the notebook


def test_conflicts_parameter_is_a_checked_path():
    p = report.validate_parameters(conflicts=str(CONFLICTS))
    assert p.conflicts == str(CONFLICTS.resolve()) and p.notebook_parameters()["conflicts"] == p.conflicts
    assert report.validate_parameters().conflicts is None
    with pytest.raises(report.ReportParameterError) as exc:
        report.validate_parameters(conflicts="absent.csv")
    assert "« conflicts » (Déclarations de conflits d'intérêts) : fichier introuvable" in str(exc.value)
    with pytest.raises(report.ReportParameterError) as exc:
        report.validate_parameters(conflicts=7)
    assert "« conflicts »" in str(exc.value) and "reçu l'entier 7" in str(exc.value)


def test_conflits_flag_reaches_the_report_parameters(tmp_path):
    import argparse

    from ditp_model.cli import report as cli_report

    parser = argparse.ArgumentParser()
    cli_report.register(parser.add_subparsers())
    args = parser.parse_args(["report", "--conflits", str(CONFLICTS), "--out", str(tmp_path)])
    assert cli_report.report_values(args)["conflicts"] == str(CONFLICTS)


def test_declaration_naming_an_unknown_reviewer_stops_the_report_in_french(tmp_path, capsys):
    bad = tmp_path / "conflits.csv"
    bad.write_text("person_id,application_id,nature,role,declared_on\nR99,P027,Lien familial,évaluateur,08/11/2021\n",
                   encoding="utf-8")
    out = tmp_path / "out"
    code = main_for_tests(["report", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS),
                           "--reviews", str(SAMPLE_REVIEWS), "--conflits", str(bad), "--provisoire", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert not any((out / n).exists() for n in ("rapport.html", "rapport.pdf", "manifest.json", "decisions.jsonl"))
    assert "conflits.csv" in err and "R99" in err and "ligne 2" in err


def test_conflits_inside_out_with_an_output_name_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "allocation.csv").write_text("x", encoding="utf-8")
    code = main_for_tests(["report", "--conflits", str(out / "allocation.csv"), "--out", str(out)])
    assert code == 2 and "--conflits" in capsys.readouterr().err
