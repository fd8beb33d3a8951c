"""The report says « provisoire » from the data, never from its parameter (trial 2, D1).

Notebook 04 run directly keeps its default ``provisional = False``; on the sample, P047 (no review) and P072
(one review) still await reviews and could enter the list, so the decision is provisional.  What the report
says is checked on the HTML of the sections the notebook displays.  The applications awaiting reviews are
counted here from the input files with the standard library (``csv``, ``tomllib``), not with the package; the
best case of P047 is recomputed by hand (every missing review at the scale's maximum).
"""

from __future__ import annotations

import csv
import re
import tomllib
from html import unescape
from pathlib import Path

import pytest

from ditp_model.outputs import report
from ditp_model.outputs import report_sections as sections

from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

WEIGHTS = "impact=0.5,openness=0.3,collective=0.2"


def _text(html: str) -> str:
    """Visible text of an HTML fragment, white space collapsed."""
    return re.sub(r"[\s\u00a0\u202f]+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _held_by_hand() -> set[str]:
    """Applications with fewer reviews than the call's ``min_reviews``, counted from the CSV files."""
    need = tomllib.loads(RULES_PATH.read_text(encoding="utf-8"))["scoring"]["min_reviews"]
    with SAMPLE_REVIEWS.open(encoding="utf-8", newline="") as f:
        counts: dict[str, int] = {}
        for r in csv.DictReader(f):
            counts[r["application_id"]] = counts.get(r["application_id"], 0) + 1
    with SAMPLE_APPLICATIONS.open(encoding="utf-8", newline="") as f:
        ids = [r["application_id"] for r in csv.DictReader(f)]
    return {a for a in ids if counts.get(a, 0) < need}


def _without(src: Path, dst: Path, ids: set[str]) -> Path:
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    dst.write_text("".join([lines[0], *(x for x in lines[1:] if x.split(",", 1)[0] not in ids)]), encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def sample_run():
    """The sample as notebook 04 runs it directly: parameter ``provisional`` left at its default (False)."""
    return report.run_report(report.validate_parameters(weights=WEIGHTS, gaps=False))


def _session_rows(run) -> dict[str, str]:
    """Section 3 as {parameter: value}."""
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", sections.session_html(run))
    return {unescape(a): unescape(b) for a, b, _ in rows}


def test_held_applications_of_the_sample_are_P047_and_P072(sample_run):
    # Hand count from the files: both are eligible (neither is among the ineligible reasons of the report).
    held = _held_by_hand() & set(sample_run.table.loc[sample_run.table["eligible"], "application_id"])
    assert held == {"P047", "P072"}
    # P047 has no review: at its best case every review criterion is at 1 (5/5); its collective index is the data's.
    t = sample_run.evaluation.table.set_index("application_id")
    best = 100 * (0.5 * 1.0 + 0.3 * 1.0 + 0.2 * float(t.at["P047", "collective_score"]))
    top = float(sample_run.table["score"].max())
    assert best > top  # it would be ranked first: within reach whatever the envelope left
    assert "P047" in sample_run.provisional.within_reach


def test_notebook_default_parameter_still_shows_a_provisional_decision(sample_run):
    assert sample_run.params.provisional is False
    from ditp_model.outputs.report_pdf import WATERMARK_CSS

    header = sections.header_html(sample_run)
    # on screen (the flag), on every printed page (running header) and as the watermark
    assert "PROVISOIRE — décision proposée, pas encore arrêtée par le comité" in _text(header)
    assert "— <b>PROVISOIRE</b></div>" in header and WATERMARK_CSS in header
    summary = _text(sections.summary_html(sample_run))
    assert "arrêter la liste" not in summary
    assert "Décision provisoire : P047, P072, en attente d'évaluation, pourraient encore entrer" in summary
    assert "Décision provisoire oui : P047, P072" in summary  # the key figures table
    rows = _session_rows(sample_run)
    assert rows["Décision provisoire"].startswith("oui : P047, P072")
    annex = {a: b for a, _, b, _ in sections._parameter_rows(sample_run)}
    assert annex["Décision provisoire acceptée par l'appelant (--provisoire)"] == "non"
    assert sample_run.manifest["report"]["provisional"] is True
    assert sample_run.manifest["report"]["provisional_accepted"] is False
    assert sample_run.manifest["provisional"] is True


def test_accepting_changes_only_the_acceptance_row(sample_run):
    accepted = report.run_report(report.validate_parameters(weights=WEIGHTS, gaps=False, provisional=True))
    assert _text(sections.summary_html(accepted)) == _text(sections.summary_html(sample_run))
    assert _session_rows(accepted)["Décision provisoire"] == _session_rows(sample_run)["Décision provisoire"]
    annex = {a: b for a, _, b, _ in sections._parameter_rows(accepted)}
    assert annex["Décision provisoire acceptée par l'appelant (--provisoire)"] == "oui"


def test_a_final_decision_is_never_marked_provisional_by_the_parameter(tmp_path):
    held = {"P047", "P072"}
    params = report.validate_parameters(
        weights=WEIGHTS, gaps=False, provisional=True, call=str(RULES_PATH),
        applications=str(_without(SAMPLE_APPLICATIONS, tmp_path / "candidatures.csv", held)),
        reviews=str(_without(SAMPLE_REVIEWS, tmp_path / "evaluations.csv", held)))
    run = report.run_report(params)
    assert not run.is_provisional
    from ditp_model.outputs.report_pdf import WATERMARK_CSS

    header = sections.header_html(run)
    assert "PROVISOIRE" not in header and WATERMARK_CSS not in header
    summary = _text(sections.summary_html(run))
    assert f"Le comité est invité à arrêter la liste des {int(run.table['funded'].sum())} lauréats" in summary
    assert _session_rows(run)["Décision provisoire"] == "non : aucun dossier en attente d'évaluation"
    assert run.manifest["report"]["provisional"] is False and run.manifest["report"]["provisional_accepted"] is True


def test_stored_notebook_04_shows_the_sample_as_provisional():
    """Notebook 04 as stored (run directly, ``provisional = False``): what a reader of the notebook sees."""
    import json

    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "04_rapport.ipynb").read_text("utf-8"))
    src = "".join(nb["cells"][0]["source"])
    assert "\nprovisional = False" in src
    shown = _text(" ".join("".join(o.get("data", {}).get("text/html", "")) for c in nb["cells"] if c["cell_type"] == "code"
                           for o in c.get("outputs", [])))
    assert "PROVISOIRE — décision proposée, pas encore arrêtée par le comité" in shown
    assert "Décision provisoire oui : P047, P072" in shown and "arrêter la liste" not in shown
    assert "Décision provisoire acceptée par l'appelant (--provisoire) provisional non" in shown
