"""The « Robustesse » tab of the committee panel and its two figures.

Every expectation is computed independently of the panel: the weight Monte Carlo
is re-run with :func:`ditp_model.uncertainty.robustness.weight_monte_carlo` for the same
weights, parameters and seed; classes, order and the funding line are derived
from that table here; the figures are checked through their matplotlib artists.
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from ditp_model import evaluate
from ditp_model.outputs import plots
from ditp_model.uncertainty import robustness as rob
from ditp_model.rules.allocation import AllocationParams
from ditp_model.outputs.notebook import sample_inputs
from ditp_model.french import format_points
from ditp_model.uncertainty.robustness import ROBUSTNESS_CLASSES_FR, stability_intervals, weight_monte_carlo
from ditp_model.scoring.aggregate import Weights
from ditp_model.session.widgets import CommitteePanel, PanelState, robustness_counts, robustness_stale_reason, uncertain_table_fr

LIVE = AllocationParams(check_alternatives=False)
N_DRAWS = 20


class Cells(HTMLParser):
    """Text of every ``<td>`` by class, and the ``data-*`` of the class cards, from the tab's HTML."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: list[list[str]] = []
        self.cards: dict[str, str] = {}
        self._cell: list[str] | None = None
        self._card: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []
        elif tag == "div" and "ditp-mc-count" in (a.get("class") or "").split():
            self._card = a["data-class"]
        elif tag == "b" and self._card is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "b" and self._card is not None and self._cell is not None:
            self.cards[self._card] = "".join(self._cell).strip()
            self._cell, self._card = None, None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def inputs():
    return sample_inputs()


@pytest.fixture(scope="module")
def expected(inputs):
    """The Monte Carlo as the package computes it for the call's weights and parameters, seed 2021."""
    return weight_monte_carlo(evaluate(inputs), LIVE, n_draws=N_DRAWS, concentration=50.0, seed=2021, progress=False)


@pytest.fixture(scope="module")
def ran(inputs, tmp_path_factory):
    """A panel (charts on) whose « Lancer l'analyse » button was clicked with 20 draws; the progress values seen."""
    panel = CommitteePanel(inputs, scenario_dir=tmp_path_factory.mktemp("scenarios"))
    panel.mc_draws.value = N_DRAWS
    seen: list[int] = []
    panel.mc_progress.observe(lambda c: seen.append(c["new"]), names="value")
    panel.mc_button.click()
    return panel, seen


def small_panel(inputs, tmp_path, n_draws: int = 4) -> CommitteePanel:
    """A panel without charts, analysed once with a few draws."""
    panel = CommitteePanel(inputs, charts=False, scenario_dir=tmp_path / "scenarios")
    panel.mc_draws.value = n_draws
    panel.mc_button.click()
    assert panel.robustness is not None and panel.robustness_error is None
    return panel


def widgets_in(widget) -> list:
    """The widget and all its descendants."""
    out = [widget]
    for c in getattr(widget, "children", ()):
        out += widgets_in(c)
    return out


def expected_order(table: pd.DataFrame) -> pd.DataFrame:
    """Candidates by decreasing score, funded first among equal scores, then id (the figure's rows, top to bottom)."""
    t = table[table["candidate"]].reset_index(drop=True)
    key = list(zip(-t["score"], ~t["funded_at_weights"], t["application_id"]))
    return t.iloc[sorted(range(len(t)), key=key.__getitem__)].reset_index(drop=True)


# --------------------------------------------------------------------------- the tab


def test_the_tab_is_there_with_its_defaults_and_nothing_runs_at_start(inputs, tmp_path, monkeypatch):
    calls = []
    real = rob.weight_monte_carlo
    monkeypatch.setattr(rob, "weight_monte_carlo", lambda *a, **k: calls.append(1) or real(*a, **k))
    panel = CommitteePanel(inputs, charts=False, scenario_dir=tmp_path)
    assert panel.tabs.titles == ("Décision", "Robustesse")
    assert panel.tabs.selected_index == 0  # the decision stays what one sees first
    decision = widgets_in(panel.tabs.children[0])
    assert any(panel.table_html in getattr(w, "parts", ()) for w in decision)  # the funded table, in the first tab
    assert panel.table_html.value and panel.table_html.value in "".join(getattr(w, "value", "") for w in decision)
    # the « Robustesse » tab is built when it is first opened: nothing of it exists before
    assert not panel.robustness_tab_built and panel.tabs.children[1].children == ()
    panel.tabs.selected_index = 1  # what a click on the tab's title does
    assert panel.robustness_tab_built
    flat = widgets_in(panel.tabs.children[1])
    for w in (panel.mc_draws, panel.mc_concentration, panel.mc_seed, panel.mc_button, panel.mc_progress,
              panel.mc_progress_label, panel.mc_counts_html, panel.mc_table_html):
        assert w in flat
    assert panel.mc_image not in flat  # charts off: no empty figure frame
    assert (panel.mc_draws.value, panel.mc_concentration.value, panel.mc_seed.value) == (200, 50.0, 2021)
    assert panel.mc_button.description == "Lancer l'analyse"
    assert panel.robustness is None and panel.robustness_stale is None
    assert panel._mc_result_box.layout.display == "none"  # nothing shown before a first run
    panel.tabs.selected_index = 0
    panel.tabs.selected_index = 1  # opened again: the same widgets, not a second copy
    assert widgets_in(panel.tabs.children[1]) == flat
    # moving sliders never runs the Monte Carlo (too slow): only the button does
    panel.set_weights(openness=0.45)
    panel.envelope_slider.value = 2_500_000
    assert calls == [] and panel.robustness is None


def test_button_gives_the_counts_of_weight_monte_carlo(ran, expected):
    panel, _ = ran
    mc = panel.robustness
    assert (mc.seed, mc.n_draws, mc.concentration) == (2021, N_DRAWS, 50.0)
    pd.testing.assert_frame_equal(mc.table, expected.table)
    cand = expected.table[expected.table["candidate"]]
    want = {code: int((cand["robustness"] == code).sum()) for code in ROBUSTNESS_CLASSES_FR}
    assert sum(want.values()) == int(expected.table["candidate"].sum())
    shown = Cells(panel.mc_counts_html.value).cards
    assert {k: int(v) for k, v in shown.items()} == want
    assert robustness_counts(expected.table) == want
    assert 0 < want["swing"] < sum(want.values())  # the sample has uncertain applications: the table is exercised
    used = panel.mc_used_html.value
    assert 'data-seed="2021"' in used and f'data-draws="{N_DRAWS}"' in used and "graine <b>2021</b>" in used
    assert 'data-weights="impact=0.5,openness=0.3,collective=0.2"' in used
    assert panel._mc_result_box.layout.display is None and panel.mc_error_html.value == ""


def test_uncertain_table_lists_the_swing_applications(ran, expected):
    panel, _ = ran
    t = expected.table
    swing = t[t["candidate"] & (t["robustness"] == "swing")]
    swing = swing.assign(_p=-swing["p_funded"], _s=-swing["score"]).sort_values(["_p", "_s", "application_id"])
    rows = [r for r in Cells(panel.mc_table_html.value).rows if r]
    assert [r[0] for r in rows] == list(swing["application_id"])
    for r, (_, x) in zip(rows, swing.iterrows()):
        assert r[1] == x["title"]
        assert r[2] == format_points(x["score"])
        pct = round(100 * x["p_funded"], 9)  # 100 × 0.55 is 55.000000000000007 in binary
        assert r[3] == (f"{pct:.0f} %" if pct == round(pct) else f"{pct:.1f} %".replace(".", ","))
        euros = int(x["expected_award_eur"])
        assert re.sub(r"\s", "", r[4]) == f"{euros}€"
        assert r[5] == ("financé" if x["funded_at_weights"] else "non financé")
    fr = uncertain_table_fr(t)
    assert list(fr.columns) == ["Dossier", "Intitulé", "Note", "Probabilité d'être financé", "Montant espéré",
                                "Aux pondérations du comité"]
    assert list(fr["Dossier"]) == list(swing["application_id"])


def test_progress_reaches_the_total(ran):
    panel, seen = ran
    assert seen[-N_DRAWS:] == list(range(1, N_DRAWS + 1))  # one step per draw, in order
    assert panel.mc_progress.value == panel.mc_progress.max == N_DRAWS
    assert panel.mc_progress_label.value.startswith(f"terminé : {N_DRAWS} tirages en ")


def test_figure_in_the_tab(ran, expected):
    panel, _ = ran
    assert panel.mc_image in widgets_in(panel.tabs.children[1])
    svg = bytes(panel.mc_image.value).decode("utf-8")
    assert panel.mc_image.format == "svg+xml" and svg.startswith("<?xml")
    assert "Probabilité d'être financé" in svg or "Probabilit&#233; d&#39;&#234;tre financ&#233;" in svg
    # the candidates are the fundable applications (above the quality thresholds), not every ranked one (trial 2, D12)
    assert f"({int(expected.table['candidate'].sum())} dossiers finançables)" in svg


def test_result_is_marked_stale_when_weights_or_parameters_change(inputs, tmp_path):
    panel = small_panel(inputs, tmp_path)
    counts = panel.mc_counts_html.value
    assert panel.robustness_stale is None and panel.mc_stale_html.value == ""
    panel.set_weights(openness=0.45)
    assert panel.robustness_stale == "résultat calculé pour d'autres pondérations — relancer"
    assert "relancer" in panel.mc_stale_html.value and "ditp-stale" in panel._mc_result_box._dom_classes
    assert panel.mc_counts_html.value == counts  # the old result stays on display, marked
    panel.set_weights(openness=0.3)
    assert panel.robustness_stale is None and panel.mc_stale_html.value == ""
    assert "ditp-stale" not in panel._mc_result_box._dom_classes
    panel.set_weights(impact=1.0, openness=0.6, collective=0.4)  # same normalised weights: same analysis
    assert panel.robustness_stale is None
    panel.envelope_slider.value = 2_500_000
    assert "autres paramètres" in panel.robustness_stale and "relancer" in panel.mc_stale_html.value
    with panel.batch():
        panel.envelope_slider.value = 3_000_000
        panel.weight_sliders["collective"].value = 0.2
        panel.weight_sliders["impact"].value = 0.5
        panel.weight_sliders["openness"].value = 0.35
    assert panel.robustness_stale == "résultat calculé pour d'autres pondérations — relancer"
    panel.mc_button.click()  # re-run: up to date
    assert panel.robustness_stale is None and panel.mc_stale_html.value == ""
    assert panel.robustness_state.weights == Weights.of(impact=0.5, openness=0.35, collective=0.2)


def test_stale_reason_pure():
    a = PanelState(Weights.of(impact=0.5, openness=0.3, collective=0.2), LIVE)
    assert robustness_stale_reason(a, a) is None
    assert robustness_stale_reason(a, PanelState(Weights.of(impact=1.0, openness=0.6, collective=0.4), LIVE)) is None
    # each draw is decided by the rule on display: another rule makes the result out of date
    assert "autres paramètres" in robustness_stale_reason(a, PanelState(a.weights, LIVE, rule="ranking"))
    b = PanelState(Weights.of(impact=0.5, openness=0.35, collective=0.2), AllocationParams(check_alternatives=False,
                                                                                          envelope_eur=2_000_000))
    assert "pondérations et d'autres paramètres" in robustness_stale_reason(a, b)


@pytest.mark.parametrize("control, value, message", [
    ("mc_draws", 0, "nombre de tirages 0 : un entier d'au moins 1 est attendu"),
    ("mc_concentration", 0.0, "concentration 0,00 : un nombre strictement positif est attendu"),
    ("mc_concentration", -3.0, "concentration -3,00 : un nombre strictement positif est attendu"),
    ("mc_seed", -1, "graine -1 : un entier positif ou nul est attendu"),
])
def test_invalid_settings_show_a_french_message_and_keep_the_previous_result(inputs, tmp_path, control, value, message):
    panel = small_panel(inputs, tmp_path)
    before = panel.robustness
    shown = (panel.mc_counts_html.value, panel.mc_table_html.value, panel.mc_used_html.value)
    progress = (panel.mc_progress.value, panel.mc_progress.max, panel.mc_progress_label.value)
    getattr(panel, control).value = value
    assert panel.run_robustness() is False
    err = panel.mc_error_html.value
    assert "Analyse impossible" in err and message.replace("'", "&#x27;") in err and "Traceback" not in err
    assert "reste celui de l'analyse précédente" in err
    assert panel.robustness_error == message
    assert panel.robustness is before
    assert (panel.mc_counts_html.value, panel.mc_table_html.value, panel.mc_used_html.value) == shown
    assert (panel.mc_progress.value, panel.mc_progress.max, panel.mc_progress_label.value) == progress
    assert not panel.mc_button.disabled
    getattr(panel, control).value = {"mc_draws": 4, "mc_concentration": 50.0, "mc_seed": 2021}[control]
    assert panel.run_robustness() is True and panel.mc_error_html.value == "" and panel.robustness_error is None


def test_invalid_panel_settings_are_refused_before_any_draw(inputs, tmp_path):
    panel = small_panel(inputs, tmp_path)
    before = panel.robustness
    panel.floor_slider.value = panel.cap_slider.value + 10_000  # the decision tab shows an error
    assert panel.last_error is not None
    assert panel.run_robustness() is False
    assert "les corriger avant de lancer l'analyse" in panel.robustness_error and panel.robustness is before


def test_unexpected_error_is_shown_and_logged(inputs, tmp_path, monkeypatch, caplog):
    panel = small_panel(inputs, tmp_path)
    before = panel.robustness

    def boom(*args, **kwargs):
        raise RuntimeError("panne simulée")

    monkeypatch.setattr(rob, "weight_monte_carlo", boom)
    with caplog.at_level(logging.ERROR, logger="ditp_model.session.widgets"):
        assert panel.run_robustness() is False
    assert "erreur inattendue (RuntimeError) : panne simulée" in panel.mc_error_html.value
    assert any("robustesse" in r.getMessage() for r in caplog.records)
    assert panel.robustness is before and not panel.mc_button.disabled


def test_the_run_uses_the_displayed_parameters(inputs, tmp_path):
    """Envelope and a lock-out set on the left are those of the analysis (independent re-run)."""
    panel = CommitteePanel(inputs, charts=False, scenario_dir=tmp_path)
    panel.envelope_slider.value = 2_500_000
    out = panel.current.portfolio["application_id"].iloc[0]
    panel.lock_out(out)
    panel.mc_draws.value, panel.mc_seed.value, panel.mc_concentration.value = 5, 7, 30.0
    assert panel.run_robustness()
    params = AllocationParams(check_alternatives=False, envelope_eur=2_500_000, lock_out=frozenset({out}))
    want = weight_monte_carlo(evaluate(inputs), params, n_draws=5, concentration=30.0, seed=7, progress=False)
    pd.testing.assert_frame_equal(panel.robustness.table, want.table)
    assert not panel.robustness.table.set_index("application_id").loc[out, "candidate"]


# --------------------------------------------------------------------------- funding-probability figure


def bars_of(fig):
    ax = fig.axes[0]
    return ax, list(ax.containers[0])


def test_probability_figure_on_the_sample(expected):
    t = expected.table
    fig = plots.funding_probability_figure(t)
    ax, bars = bars_of(fig)
    order = expected_order(t)
    assert len(bars) == int(t["candidate"].sum()) == len(order)
    ticks = [x.get_text() for x in ax.get_yticklabels()]
    assert [x.split(" ")[0] for x in ticks] == list(order["application_id"])
    assert [b.get_width() for b in bars] == pytest.approx(list(order["p_funded"]))
    ys = [b.get_y() + b.get_height() / 2 for b in bars]
    assert ys == sorted(ys) and ax.yaxis_inverted()  # first row (best score) on top
    colours = {c: to_rgba(plots.CLASS_COLOURS[c]) for c in ROBUSTNESS_CLASSES_FR}
    assert [b.get_facecolor() for b in bars] == [colours[c] for c in order["robustness"]]
    # the funding line: just below the lowest-scored candidate funded at the committee's weights
    funded_rows = np.flatnonzero(order["funded_at_weights"].to_numpy())
    last = int(funded_rows.max())
    assert order.loc[last, "score"] == order.loc[order["funded_at_weights"], "score"].min()
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == "funding-line"]
    y = line.get_ydata()[0]
    assert ys[last] < y < ys[last + 1]
    assert not order.loc[last + 1:, "funded_at_weights"].any()
    bold = [x.get_fontweight() == "bold" for x in ax.get_yticklabels()]
    assert bold == list(order["funded_at_weights"])
    legend = [x.get_text() for lg in fig.legends for x in lg.get_texts()]
    counts = robustness_counts(t)
    assert legend[:3] == [f"{ROBUSTNESS_CLASSES_FR[c]} ({counts[c]})" for c in ("always", "swing", "never")]
    score = format_points(order.loc[last, "score"])
    assert legend[3] == f"ligne de financement : {score} points (dernier financé)"
    assert ax.get_xlabel() == "Probabilité d'être financé"
    assert plots.figure_png(fig).startswith(b"\x89PNG")


def tiny_posterior() -> pd.DataFrame:
    """Six hand-made rows: two scores tie (F funded, E not), one row is not a candidate, one has no score."""
    return pd.DataFrame({
        "application_id": ["A", "B", "C", "D", "E", "F", "X", "Y"],
        "score": [80.0, 75.0, 70.0, 50.0, 60.0, 60.0, 90.0, np.nan],
        "funded_at_weights": [True, False, True, False, False, True, False, False],
        "candidate": [True, True, True, True, True, True, False, True],
        "p_post": [0.97, 0.40, 0.88, 0.02, 0.08, 0.95, 0.0, 0.0],
    })


def test_probability_figure_is_generic_with_a_grey_zone():
    t = tiny_posterior()
    fig = plots.funding_probability_figure(t, probability="p_post", classes=None, grey_zone=(0.1, 0.9),
                                           title="Probabilité a posteriori d'être financé",
                                           class_labels={"always": "financé", "swing": "tirage au sort", "never": "non financé"})
    ax, bars = bars_of(fig)
    ids = [x.get_text().split(" ")[0] for x in ax.get_yticklabels()]
    assert ids == ["A", "B", "C", "F", "E", "D"]  # by score; F before E at 60 (funded first); X and Y left out
    p = dict(zip(t["application_id"], t["p_post"]))
    assert [b.get_width() for b in bars] == pytest.approx([p[a] for a in ids])
    cls = ["always" if p[a] >= 0.9 else "never" if p[a] <= 0.1 else "swing" for a in ids]
    assert [b.get_facecolor() for b in bars] == [to_rgba(plots.CLASS_COLOURS[c]) for c in cls]
    assert list(plots.probability_classes([p[a] for a in ids], (0.1, 0.9))) == cls
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == "funding-line"]
    ys = [b.get_y() + b.get_height() / 2 for b in bars]
    assert ys[ids.index("F")] < line.get_ydata()[0] < ys[ids.index("E")]
    (zone,) = [a for a in ax.patches if a.get_gid() == "grey-zone"]
    xs = zone.get_patch_transform().transform(zone.get_path().vertices)[:, 0]  # Rectangle (mpl ≥ 3.9) or Polygon
    assert (min(xs), max(xs)) == pytest.approx((0.1, 0.9))
    legend = [x.get_text() for lg in fig.legends for x in lg.get_texts()]
    assert legend == ["financé (2)", "tirage au sort (2)", "non financé (2)",
                      "ligne de financement : 60,00 points (dernier financé)", "zone grise : 10\u00a0% à 90\u00a0%"]
    assert fig.get_suptitle() == "Probabilité a posteriori d'être financé"
    with pytest.raises(ValueError, match="zone grise"):
        plots.funding_probability_figure(t, probability="p_post", grey_zone=(0.9, 0.1))


def test_probability_figure_without_anyone_funded_has_no_line():
    t = tiny_posterior().assign(funded_at_weights=False)
    fig = plots.funding_probability_figure(t, probability="p_post", classes=None)
    ax, bars = bars_of(fig)
    assert len(bars) == 6 and not [ln for ln in ax.get_lines() if ln.get_gid() == "funding-line"]
    # without a grey zone, only 0 and 1 are sure: every row here is uncertain
    assert {b.get_facecolor() for b in bars} == {to_rgba(plots.CLASS_COLOURS["swing"])}


def test_probability_figure_grows_with_the_number_of_candidates(expected):
    small = plots.funding_probability_figure(tiny_posterior(), probability="p_post", classes=None)
    big = plots.funding_probability_figure(expected.table)
    n = int(expected.table["candidate"].sum())
    assert big.get_figheight() - small.get_figheight() == pytest.approx(0.15 * (n - 6))
    row_px = big.get_figheight() * big.dpi / n
    assert row_px >= 12  # each id on its own line, legible at 7 points


# --------------------------------------------------------------------------- stability-interval figure


@pytest.fixture(scope="module")
def intervals(inputs):
    return stability_intervals(evaluate(inputs), LIVE, tol=0.05)


def test_stability_figure_one_bar_per_criterion_with_the_tables_ends(intervals, inputs):
    labels = {c.name: c.label for c in inputs.rules.criteria}
    fig = plots.stability_intervals_figure(intervals, labels=labels)
    ax, bars = bars_of(fig)
    assert len(bars) == len(intervals) == len(inputs.rules.criteria)
    for bar, (_, row) in zip(bars, intervals.iterrows()):
        assert bar.get_x() == pytest.approx(row["low"])
        assert bar.get_x() + bar.get_width() == pytest.approx(row["high"])
        assert row["low"] <= row["weight"] <= row["high"]
    (marks,) = [ln for ln in ax.get_lines() if ln.get_gid() == "committee-weights"]
    assert list(marks.get_xdata()) == pytest.approx(list(intervals["weight"]))
    assert list(marks.get_ydata()) == pytest.approx([b.get_y() + b.get_height() / 2 for b in bars])
    assert ax.get_xlim() == (0.0, 1.0)
    ticks = [x.get_text() for x in ax.get_yticklabels()]
    assert [x.split("\n")[0] for x in ticks] == [labels[c] for c in intervals["criterion"]]
    texts = [x.get_text() for x in ax.texts]
    for _, row in intervals.iterrows():
        for end in ("low", "high"):
            assert f"{row[end]:.2f}".replace(".", ",") in texts
        for side, where, end in (("below", "en dessous de", "low"), ("above", "au-dessus de", "high")):
            changed = row[f"{side}_enters"] + row[f"{side}_leaves"]
            note = f"{where} {row[end]:.2f}".replace(".", ",")
            assert any(note in x for x in texts) == bool(changed)
            for a in changed:
                assert any(a in x for x in texts)
    assert "pondération normalisée" in ax.get_xlabel()
    assert plots.figure_png(fig).startswith(b"\x89PNG")
