"""Figures of a decision: built from a portfolio table, French labels, rendered without a display."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from ditp_model import evaluate
from ditp_model.outputs import plots
from ditp_model.rules.allocation import AllocationParams
from ditp_model.outputs.notebook import sample_inputs
from ditp_model.session.widgets import PanelState, compute_outcome


def tiny() -> pd.DataFrame:
    """Five candidates, hand-made: three funded (A, B in Bretagne; D in Corse), C and E not."""
    return pd.DataFrame({
        "application_id": ["A", "B", "C", "D", "E"],
        "score": [80.0, 70.0, 65.0, 60.0, 40.0],
        "funded": [True, True, False, True, False],
        "award_eur": pd.array([100_000, 90_000, 0, 120_000, 0], dtype="int64"),
        "region": ["Bretagne", "Bretagne", "Corse", "Corse", "Normandie"],
        "lead_org_type": ["ministry", "local_authority", "ministry", "state_operator", "ministry"],
        "maturity": ["deployment", "scoping", "testing", "scoping", "prototyping"],
        "lock": ["", "in", "out", "", ""],
    })


@pytest.fixture(scope="module")
def sample_portfolio():
    ev = evaluate(sample_inputs())
    return compute_outcome(ev, PanelState(ev.weights, AllocationParams(check_alternatives=False))).portfolio


def test_awards_by_group_hand_checked():
    g = plots.awards_by_group(tiny(), "region")
    assert list(g["group"]) == ["Bretagne", "Corse", "Normandie"]  # by decreasing award, then name
    assert list(g["n_funded"]) == [2, 1, 0] and list(g["award_eur"]) == [190_000, 120_000, 0]
    assert list(g["n_candidates"]) == [2, 2, 1]
    assert g["award_eur"].dtype == "int64"
    m = plots.awards_by_group(tiny(), "maturity")
    assert list(m["group"]) == ["scoping", "testing", "prototyping", "deployment"]  # natural order
    assert list(m["label"]) == ["Cadrage", "Test", "Prototypage", "Déploiement"]
    t = plots.awards_by_group(tiny(), "lead_org_type", order=["ministry", "association"])
    assert list(t["label"]) == ["Administration centrale", "Association"] and list(t["award_eur"]) == [100_000, 0]


def test_funding_line_score():
    assert plots.funding_line_score(tiny()) == 60.0
    assert plots.funding_line_score(tiny().assign(funded=False)) is None


@pytest.mark.parametrize("build", [plots.awards_by_region_figure, plots.awards_by_org_type_figure,
                                   plots.awards_by_maturity_figure, plots.score_line_figure])
def test_every_figure_builds_on_the_sample(sample_portfolio, build):
    fig = build(sample_portfolio)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title(loc="left")
    assert plots.figure_svg(fig).startswith("<?xml")


def test_group_figure_text(sample_portfolio):
    fig = plots.awards_by_region_figure(sample_portfolio, reference=sample_portfolio, reference_label="référence (état initial)")
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Montants attribués par région"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Île-de-France"  # the largest award first
    notes = [t.get_text() for t in ax.texts]
    top = plots.awards_by_group(sample_portfolio, "region").iloc[0]
    assert notes[0] == f"{top['n_funded']} · {plots._keur(top['award_eur'])}"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["état affiché", "référence (état initial)"]


def test_score_figure_marks_the_funding_line_and_locks():
    fig = plots.score_line_figure(tiny())
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[:3] == ["financé (3)", "non financé (2)", "ligne de financement : 60,00 points (dernier financé)"]
    assert texts[3:] == ["imposé par le comité", "exclu par le comité"]
    notes = [t.get_text() for t in ax.texts]
    assert any(t.startswith("1 dossier(s) finançable(s) au-dessus de la ligne non financé(s)") for t in notes)  # C: 65 > 60
    assert [ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_linestyle() == "--"] == [60.0]


def test_score_figure_sets_apart_the_applications_below_a_quality_threshold():
    """C (65 points) is below a quality threshold: not fundable, so not a fundable application left above the line."""
    t = tiny().assign(fundable=[True, True, False, True, True], lock="")
    fig = plots.score_line_figure(t)
    ax = fig.axes[0]
    texts = [x.get_text() for x in ax.get_legend().get_texts()]
    assert texts == ["financé (3)", "non financé (1)", "non finançable : sous un seuil de qualité (1)",
                     "ligne de financement : 60,00 points (dernier financé)"]
    assert [x.get_text() for x in ax.texts] == [""]  # nobody fundable above the line is left out
    colours = [tuple(round(c, 3) for c in fc) for fc in ax.collections[0].get_facecolor()]
    from matplotlib.colors import to_rgba
    expected = [plots.FUNDED_COLOUR, plots.FUNDED_COLOUR, plots.NOT_FUNDABLE_COLOUR, plots.FUNDED_COLOUR, plots.UNFUNDED_COLOUR]
    assert colours == [tuple(round(c, 3) for c in to_rgba(x)) for x in expected]  # A B C D E by score


def test_sample_portfolio_marks_the_non_fundable(sample_portfolio):
    """The panel's portfolio carries the call's quality thresholds (50/100 overall, 2,5/5 on impact and openness)."""
    ev = evaluate(sample_inputs())
    t = ev.table[ev.table["eligible"] & ev.table["scored"]]
    low = (t["score"].round(4) < 50) | ((5 * t["impact_score"]).round(4) < 2.5) | ((5 * t["openness_score"]).round(4) < 2.5)
    nf = sample_portfolio[~sample_portfolio["fundable"]]
    assert set(nf["application_id"]) == set(t.loc[low, "application_id"]) and len(nf)
    assert not nf["funded"].any()


def test_charts_update_in_place():
    chart = plots.ScoreLineChart()
    fig = chart.update(tiny())
    assert chart.update(tiny().assign(lock="")) is fig  # same figure, new content
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["financé (3)", "non financé (2)", "ligne de financement : 60,00 points (dernier financé)"]
    more = tiny().assign(funded=True, award_eur=pd.array([100_000, 90_000, 80_000, 120_000, 70_000], dtype="int64"))
    chart.update(more.assign(lock=""))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2] == ["financé (5)", "non financé (0)"]
    assert [t.get_text() for t in fig.axes[0].texts] == [""]  # nobody above the line left out
    groups = plots.GroupAwardsChart("region", ["Bretagne", "Corse", "Normandie"], with_reference=True)
    g = groups.update(tiny(), reference=more, reference_label="référence (A)")
    assert [round(b.get_width()) for b in groups.ax.patches] == [190, 120, 0]
    assert list(groups._ref.get_xdata()) == [190.0, 200.0, 70.0]
    assert [t.get_text() for t in groups.ax.texts] == ["2 · 190\u00a0k€", "1 · 120\u00a0k€", "0"]
    assert g.legends[0].get_texts()[1].get_text() == "référence (A)"
    groups.update(more)
    assert [round(b.get_width()) for b in groups.ax.patches] == [190, 200, 70] and not groups._ref.get_visible()


def test_no_funded_application_still_draws():
    nothing = tiny().assign(funded=False, award_eur=pd.array([0] * 5, dtype="int64"))
    for build in (plots.awards_by_region_figure, plots.score_line_figure):
        assert plots.figure_png(build(nothing)).startswith(b"\x89PNG")


def test_render_to_png(sample_portfolio, tmp_path):
    path = tmp_path / "montants_par_region.png"
    data = plots.figure_png(plots.awards_by_region_figure(sample_portfolio, reference=sample_portfolio), dpi=100)
    path.write_bytes(data)
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and path.stat().st_size > 10_000
    score = tmp_path / "notes_et_ligne.png"
    score.write_bytes(plots.figure_png(plots.score_line_figure(sample_portfolio)))
    assert score.stat().st_size > 10_000
