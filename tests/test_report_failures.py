"""Reports and decision tables (issue 15): a failing report notebook is kept, reviewers left uncorrected are
reported, applications tied on score carry the ex aequo mark at the funding line.

Expected values are built here by hand: which reviewer has too few reviews
(the reviews file is edited in the test), which applications are tied (all
given the same score), which are funded (30 requests of 100 000 € in
3 000 000 €).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from allocation_cases import Project, make_evaluation
from ditp_model.cli import main
from ditp_model.outputs import report
from ditp_model.outputs.report_sections import uncorrected_reviewers_html
from ditp_model.rules.allocation import AllocationParams, allocate, ranking_rule
from ditp_model.rules.explain import explain
from ditp_model.rules.manifest import decision_table
from ditp_model.scoring.aggregate import uncorrected_reviewers
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

# --------------------------------------------------------------------------- a failing report notebook


def _failing_notebook(path: Path, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("output_dir = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print('avant')"), nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, str(path))
    return path


def test_a_failing_report_notebook_is_kept_beside_a_french_message(tmp_path, capsys):
    nb = _failing_notebook(tmp_path / "rapport_casse.ipynb", "raise RuntimeError('échec volontaire du rapport')")
    out = tmp_path / "rapport"
    code = main(["report", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews",
                 str(SAMPLE_REVIEWS), "--notebook", str(nb), "--provisoire", "--out", str(out)])
    err = capsys.readouterr().err
    kept = tmp_path / "rapport_rapport_echec.ipynb"
    assert code == 5
    assert "le notebook du rapport a échoué — aucun rapport publié" in err
    assert f"Notebook exécuté conservé pour le diagnostic (cellule en erreur comprise) : {kept}" in err
    executed = nbformat.read(str(kept), as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["evalue"] == "échec volontaire du rapport"
    assert not out.exists() or not any(out.iterdir())  # nothing published, no empty folder left either


def test_failed_notebook_path_is_beside_the_folder():
    p = report.failed_notebook_path(Path("resultats") / "rapport")
    assert p.name == "rapport_rapport_echec.ipynb" and p.parent == (Path("resultats")).resolve()


# --------------------------------------------------------------------------- reviewers left uncorrected


@pytest.fixture
def few_reviews(tmp_path):
    """The sample reviews with two of them given to a new reviewer R99: R99 has 2 reviews, fewer than the call's 3."""
    rows = list(csv.reader(SAMPLE_REVIEWS.read_text(encoding="utf-8").splitlines()))
    header, body = rows[0], rows[1:]
    col = header.index("reviewer_id")
    app = header.index("application_id")
    body[0][col] = "R99"
    body[5][col] = "R99"
    expected = [body[0][app], body[5][app]]
    path = tmp_path / "evaluations.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *body])
    return path, expected


def test_uncorrected_reviewer_listed_with_its_applications(few_reviews):
    from ditp_model.inputs.io import load_inputs
    from ditp_model.scoring.pipeline import evaluate

    path, apps = few_reviews
    ev = evaluate(load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, path))
    t = uncorrected_reviewers(ev.reviews, ev.rules, "reviewer_zscore")
    assert t.to_dict("records") == [{"reviewer_id": "R99", "n_reviews": 2, "min_reviews": 3, "applications": ", ".join(apps)}]
    assert len(uncorrected_reviewers(ev.reviews, ev.rules, "raw_mean")) == 0  # no correction: nobody left out of it
    # The additive model (the default) leaves the same reviewer uncorrected: its own fit does not estimate R99's leniency.
    from ditp_model.scoring.reviewer_effects import fit_reviewer_effects

    fx = fit_reviewer_effects(ev.reviews, ev.rules)
    assert list(fx.estimated[~fx.estimated].index) == ["R99"] and (fx.leniency.loc["R99"] == 0).all()
    assert uncorrected_reviewers(ev.reviews, ev.rules, "reviewer_effects").equals(t)
    sample = evaluate(load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS))
    assert len(uncorrected_reviewers(sample.reviews, sample.rules, "reviewer_zscore")) == 0  # 27 or 28 reviews each


@pytest.mark.parametrize("command", ["allocate", "score"])
def test_uncorrected_reviewer_in_the_command_line_summary(few_reviews, tmp_path, capsys, command):
    path, apps = few_reviews
    provisional = ["--provisoire"] if command == "allocate" else []  # the sample decision is provisional (issue 13)
    assert main([command, "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews", str(path),
                 *provisional, "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert f"Évaluateurs non corrigés (moins de 3 avis" in text and f"R99 (2 avis : {', '.join(apps)})" in text


def test_uncorrected_reviewer_table_for_the_report(few_reviews):
    path, apps = few_reviews
    run = report.run_report(report.validate_parameters(call=str(RULES_PATH), applications=str(SAMPLE_APPLICATIONS),
                                                       reviews=str(path), gaps=False))
    html = uncorrected_reviewers_html(run)
    assert 'id="evaluateurs-non-corriges"' in html and "<td>R99</td>" in html and f"<td>{', '.join(apps)}</td>" in html
    assert run.evaluation.normalisation == "reviewer_effects" and "La correction par évaluateur (modèle additif)" in html
    sample = report.run_report(report.validate_parameters(gaps=False))
    assert uncorrected_reviewers_html(sample) == ""


# --------------------------------------------------------------------------- 40 applications tied on score

TIED = [Project(f"T{k:02d}", 70.0, 100_000) for k in range(40)]


@pytest.mark.parametrize("delta", [0.0, 0.5])
def test_forty_applications_tied_across_the_line_all_carry_the_mark(delta):
    ev = make_evaluation([Project("H", 90.0, 100_000), *TIED, Project("L", 40.0, 100_000)], envelope_eur=3_000_000)
    a = allocate(ev, AllocationParams(tie_band_points=delta))
    e = explain(ev, a)
    t = decision_table(ev, a, ranking_rule(ev), e).set_index("application_id")
    # H first (100 000 €), then 29 of the 40 tied fit in the remaining 2 900 000 €; 11 tied and L are left out
    assert int(t["funded"].sum()) == 30 and bool(t.at["H", "funded"]) and not bool(t.at["L", "funded"])
    assert set(t.index[t["ex_aequo"]]) == {p.id for p in TIED}
    if delta == 0:
        assert "notes identiques" in e.ex_aequo_fr()
    assert "ex aequo" in e.funding_line_fr()


def test_tied_applications_all_funded_carry_no_mark():
    ev = make_evaluation([*TIED, Project("L", 40.0, 100_000)], envelope_eur=4_100_000)
    a = allocate(ev, AllocationParams(tie_band_points=0.0))
    t = decision_table(ev, a, ranking_rule(ev), explain(ev, a))
    assert bool(t["funded"].all()) and not bool(t["ex_aequo"].any())  # no line runs through them: nothing to settle
