"""What the committee panel computes, tested without ipywidgets (issue 17 item 3, issue 15, issue 18 item 3).

The decision of every state is checked against ``allocate`` run independently
(scores from a fresh ``evaluate``, not the panel's re-weighting); the envelope
parser against amounts written by hand; « ce qui a changé » against set
differences of the independent decisions.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from babel.numbers import format_currency, format_decimal

from ditp_model import Weights, evaluate
from ditp_model.french import format_eur, format_number
from ditp_model.outputs.notebook import sample_inputs
from ditp_model.rules.allocation import AllocationParams, allocate
from ditp_model.rules.explain import optimum_comparison
from ditp_model.scoring.aggregate import score_applications
from ditp_model.session.changes import describe_change, parameter_changes
from ditp_model.session.controls import (ApplicationFinder, envelope_ceiling, envelope_slider_range, parse_envelope,
                                         state_from_controls)
from ditp_model.session.state import PanelState, SessionComputer, compute_outcome, robustness_stale_reason
from ditp_model.session.views import PanelCharts

ROOT = Path(__file__).resolve().parents[1]
LIVE = AllocationParams(check_alternatives=False)
NNBSP, NBSP = "\u202f", "\u00a0"

#: Raw slider settings (impact, openness, collective) spread over the simplex, the call's first.
WEIGHT_SETTINGS = [(0.5, 0.3, 0.2), (0.2, 0.6, 0.2), (0.7, 0.1, 0.2), (0.35, 0.35, 0.3), (0.1, 0.1, 0.8)]


@pytest.fixture(scope="module")
def inputs():
    return sample_inputs()


@pytest.fixture(scope="module")
def base(inputs):
    return evaluate(inputs)


@pytest.fixture(scope="module")
def computer(base):
    return SessionComputer(base)


def _w(i, o, c) -> Weights:
    return Weights.of(impact=i, openness=o, collective=c)


def test_logic_modules_load_without_ipywidgets():
    code = ("import sys; import ditp_model.session.state, ditp_model.session.changes, ditp_model.session.controls, "
            "ditp_model.session.views; print('ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- the envelope typed by a person

@pytest.mark.parametrize("text, euros", [
    ("2,5 M€", 2_500_000), ("2.5 M", 2_500_000), ("2,5 m€", 2_500_000), ("2,5 millions d'euros", 2_500_000),
    ("3 millions", 3_000_000), ("300 k€", 300_000), ("1,2 Md€", 1_200_000_000), ("2,755 M€", 2_755_000),
    ("2 500 000 €", 2_500_000), ("2500000", 2_500_000), (" 3000000 ", 3_000_000), ("0", 0),
    (f"2{NNBSP}500{NNBSP}000{NBSP}€", 2_500_000),  # what the field shows after a valid entry (format_eur)
    ("2 500 000,00 €", 2_500_000),
])
def test_envelope_french_amounts(text, euros):
    assert parse_envelope(text) == euros


@pytest.mark.parametrize("text, reason", [
    ("-5", "montant négatif"), ("-2,5 M€", "montant négatif"), ("2,5555555 M€", "centimes"),
    ("1e9", "notation scientifique"), ("1,23E+05", "notation scientifique"), ("120,000", "ambigu"),
    ("deux millions", "n'est pas un montant"), ("", "enveloppe vide"), ("2,5 M€ 3", "montant"),
    ("12,5 €", "centimes"),
])
def test_envelope_refused_in_french(text, reason):
    with pytest.raises(ValueError) as exc:
        parse_envelope(text)
    assert reason in str(exc.value)
    if text:
        assert f"« {text.strip()} »" in str(exc.value)  # the message quotes what was typed


def test_envelope_above_the_ceiling_is_refused_never_clamped():
    with pytest.raises(ValueError) as exc:
        parse_envelope("50 M€", ceiling_eur=30_000_000)
    msg = str(exc.value)
    assert f"50{NNBSP}000{NNBSP}000{NBSP}€" in msg and f"30{NNBSP}000{NNBSP}000{NBSP}€" in msg
    assert parse_envelope("30 M€", ceiling_eur=30_000_000) == 30_000_000  # the ceiling itself is accepted


def test_envelope_slider_range_extends_never_clamps():
    assert envelope_slider_range(3_000_000, 11_119_760) == (0, 11_119_760, 10_000)
    assert envelope_slider_range(20_000_000, 11_119_760) == (0, 20_000_000, 10_000)
    assert envelope_ceiling(11_119_760) == 111_197_600 and envelope_ceiling(0) == 1_000_000


# --------------------------------------------------------------------------- controls -> state

def test_state_from_controls(base):
    s = state_from_controls(LIVE, weights={"impact": 0.5, "openness": 0.30000000001, "collective": 0.2},
                            rule=("ranking", "stop"), envelope_eur=2_500_000, award_floor_eur=70_000, award_cap_eur=120_000,
                            min_share=1.0, lock_in=["P044"], group_rules=(), max_awards=20, min_score=50.0,
                            min_criterion={"impact": 2.5, "openness": 0.0}, scale_min=0.0, tie_band=0.5)
    expected = PanelState(_w(0.5, 0.3, 0.2), replace(
        LIVE, envelope_eur=2_500_000, award_floor_eur=70_000, award_cap_eur=120_000, min_share=1.0, lock_in=frozenset({"P044"}),
        lock_out=frozenset(), group_rules=(), max_awards=20, rule="ranking", ranking_variant="stop", min_score=50.0,
        min_criterion=(("impact", 2.5),), tie_band_points=0.5))
    assert s == expected  # openness threshold at the bottom of the scale: no threshold; weights rounded as shown


def test_state_from_controls_refuses_floor_above_cap():
    with pytest.raises(ValueError) as exc:
        state_from_controls(LIVE, weights={"impact": 1.0, "openness": 0.0, "collective": 0.0}, rule=("merit_order", "skip"),
                            envelope_eur=3_000_000, award_floor_eur=130_000, award_cap_eur=120_000, min_share=1.0)
    assert f"plancher 130{NNBSP}000{NBSP}€ supérieur au plafond 120{NNBSP}000{NBSP}€" in str(exc.value)


# --------------------------------------------------------------------------- decisions: exactly allocate's

@pytest.mark.parametrize("raw", WEIGHT_SETTINGS)
def test_outcome_is_exactly_allocate(inputs, computer, raw):
    weights = _w(*raw)
    out = computer.outcome_for(PanelState(weights, LIVE))
    fresh = evaluate(inputs, weights)  # scored from the reviews, not re-weighted
    pd.testing.assert_frame_equal(out.evaluation.scores, fresh.scores)
    d = allocate(fresh, AllocationParams()).decisions  # default parameters, alternatives checked
    d = d[d["funded"]]
    assert out.awards == dict(zip(d["application_id"], (int(a) for a in d["award_eur"])))
    assert out.awarded_eur == int(d["award_eur"].sum()) and out.unspent_eur == 3_000_000 - out.awarded_eur


@pytest.mark.parametrize("raw", WEIGHT_SETTINGS[1:4])
def test_comparison_on_one_model_equals_a_fresh_optimum(computer, raw):
    out = computer.outcome_for(PanelState(_w(*raw), LIVE))
    assert out.comparison is not None
    assert out.comparison == optimum_comparison(out.evaluation, out.allocation, "max_total_score")


def test_reweighting_equals_scoring_from_the_reviews(inputs, base):
    for raw in WEIGHT_SETTINGS + [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]:
        w = _w(*raw)
        fresh = score_applications(inputs.applications, inputs.reviews, inputs.rules, w, base.eligibility)
        pd.testing.assert_frame_equal(base.with_weights(w).scores, fresh)


def test_table_is_a_copy(base):
    t = base.table
    t["score"] = -1.0
    assert (base.table["score"] != -1.0).any()


def test_computer_remembers_decisions(computer):
    state = PanelState(_w(0.45, 0.35, 0.2), LIVE)
    assert not computer.knows(state)
    a = computer.outcome_for(state, "A")
    assert computer.knows(state)
    b = computer.outcome_for(state, "B")
    assert b.allocation is a.allocation and (a.name, b.name) == ("A", "B")


# --------------------------------------------------------------------------- what changed

def test_describe_change_from_independent_decisions(inputs, base):
    old_state = PanelState(_w(0.5, 0.3, 0.2), LIVE)
    new_state = PanelState(_w(0.5, 0.6, 0.2), replace(LIVE, envelope_eur=2_500_000, lock_in=frozenset({"P044"})))
    old = compute_outcome(base.with_weights(old_state.weights), old_state)
    new = compute_outcome(base.with_weights(new_state.weights), new_state)
    funded = {}
    for key, (w, p) in {"old": (old_state.weights, AllocationParams()),
                        "new": (new_state.weights, AllocationParams(envelope_eur=2_500_000, lock_in=frozenset({"P044"})))}.items():
        ev = evaluate(inputs, w)
        d = allocate(ev, p).decisions
        ranks = ev.table.set_index("application_id")["rank"]
        funded[key] = sorted(d.loc[d["funded"], "application_id"], key=lambda a: ranks[a])
    enters = [a for a in funded["new"] if a not in funded["old"]]
    leaves = [a for a in funded["old"] if a not in funded["new"]]
    text = describe_change(old, new)
    for a in enters + leaves:
        assert a in text.split(" : ")[0]
    assert parameter_changes(old, new) == ["ouverture 0,30 → 0,60",
                                           f"enveloppe 3{NNBSP}000{NNBSP}000{NBSP}€ → 2{NNBSP}500{NNBSP}000{NBSP}€",
                                           "P044 imposé"]
    assert text.endswith(" : " + ", ".join(parameter_changes(old, new)))
    assert describe_change(new, new) == "aucun dossier n'entre ni ne sort (paramètres identiques)"


def test_robustness_staleness():
    a = PanelState(_w(0.5, 0.3, 0.2), LIVE)
    assert robustness_stale_reason(a, PanelState(_w(1.0, 0.6, 0.4), LIVE)) is None  # same normalised weights
    assert "pondérations" in robustness_stale_reason(a, PanelState(_w(0.5, 0.35, 0.2), LIVE))
    assert "paramètres" in robustness_stale_reason(a, PanelState(_w(0.5, 0.3, 0.2), replace(LIVE, envelope_eur=2_000_000)))
    both = robustness_stale_reason(a, PanelState(_w(0.2, 0.3, 0.2), replace(LIVE, max_awards=5)))
    assert "pondérations et d'autres paramètres" in both


# --------------------------------------------------------------------------- search

def test_application_finder(base):
    f = ApplicationFinder(base.table)
    assert f.resolve("p044") == "P044" and f.resolve(f.tag_of["P044"]) == "P044"
    assert f.resolve("SIMPLIFIER la sortie") == "P044"
    t = base.table
    with pytest.raises(ValueError, match="aucun dossier éligible et classé"):
        f.resolve("zzz introuvable")
    common = "les"  # in many titles
    n = int(t.loc[t["eligible"] & t["scored"]].apply(
        lambda r: common in f"{r.application_id} · {r.title} · {r.lead_org}".casefold(), axis=1).sum())
    assert n > 1
    with pytest.raises(ValueError, match=f"correspond à {n} dossiers"):
        f.resolve(common)
    ineligible = t.loc[~t["eligible"], "application_id"].iloc[0]
    with pytest.raises(ValueError, match="verrou impossible"):
        f.tag(ineligible)


# --------------------------------------------------------------------------- charts and French numbers

def test_charts_redrawn_only_when_their_data_change(computer):
    charts = PanelCharts()
    a = computer.outcome_for(PanelState(_w(0.5, 0.3, 0.2), LIVE))
    first = charts.update(a.portfolio, a.portfolio, "référence")
    assert set(first) == {"region", "lead_org_type", "maturity", "score"}
    assert charts.update(a.portfolio, a.portfolio, "référence") == {}
    # same decision, other scores: only the score chart
    moved = a.portfolio.assign(score=a.portfolio["score"] + 0.01)
    assert set(charts.update(moved, a.portfolio, "référence")) == {"score"}
    # one laureate fewer: its group charts change too
    one_less = moved.copy()
    k = one_less.index[one_less["funded"]][0]
    one_less.loc[k, ["funded", "award_eur"]] = [False, 0]
    assert set(charts.update(one_less, a.portfolio, "référence")) == {"region", "lead_org_type", "maturity", "score"}


def test_remembered_french_numbers_equal_babel():
    for x in [0, 1, 72.5, 1.005, 2.675, 1234567.891, -3.25, np.float64(64.77), np.int64(3), 1.0]:
        for digits in (0, 1, 2):
            fmt = "#,##0" + ("." + "0" * digits if digits else "")
            assert format_number(x, digits) == format_decimal(x, format=fmt, locale="fr_FR")
    for a in [0, 70_000, 2_997_710, np.int64(120_000), 1_200_000_000]:
        assert format_eur(a) == format_currency(int(a), "EUR", format="#,##0\u00a0¤", locale="fr_FR", currency_digits=False)
    assert format_number(1, 2) == "1,00" and format_number(1.0, 0) == "1"  # 1 and 1.0 kept apart in the memory


def test_score_chart_svg_draws_what_the_decision_says(computer):
    import xml.dom.minidom

    from ditp_model.outputs import plots
    from ditp_model.session.views import score_chart_svg

    out = computer.outcome_for(PanelState(_w(0.5, 0.3, 0.2), replace(LIVE, lock_in=frozenset({"P106"}),
                                                                        lock_out=frozenset({"P044"}))))
    p = out.portfolio
    svg = score_chart_svg(p)
    doc = xml.dom.minidom.parseString(svg.encode("utf-8"))  # a well-formed document
    fills = [r.getAttribute("fill") for r in doc.getElementsByTagName("rect")]
    n_funded = int(p["funded"].sum())
    below = int((~p["funded"] & ~p["fundable"]).sum())
    assert fills.count(plots.FUNDED_COLOUR) == n_funded + 1  # the bars, and the legend's square
    assert fills.count(plots.NOT_FUNDABLE_COLOUR) == below + 1
    assert fills.count(plots.UNFUNDED_COLOUR) == len(p) - n_funded - below + 1
    texts = [t.firstChild.data for t in doc.getElementsByTagName("text") if t.firstChild is not None]
    line = min(p.loc[p["funded"], "score"])
    assert f"ligne de financement : {format_number(line, 2)} points (dernier financé)" in texts
    assert f"financé ({n_funded})" in texts and "imposé par le comité" in texts and "exclu par le comité" in texts
    assert svg.startswith("<?xml")


def test_group_chart_svg_shows_each_groups_awards(computer):
    import xml.dom.minidom

    from ditp_model.outputs import plots
    from ditp_model.session.views import group_chart_svg

    ref = computer.outcome_for(PanelState(_w(0.5, 0.3, 0.2), LIVE)).portfolio
    p = computer.outcome_for(PanelState(_w(0.2, 0.7, 0.2), LIVE)).portfolio
    groups = sorted(set(p["maturity"]))
    svg = group_chart_svg(p, "maturity", groups, ref, "référence (état initial)")
    doc = xml.dom.minidom.parseString(svg.encode("utf-8"))
    texts = [t.firstChild.data for t in doc.getElementsByTagName("text") if t.firstChild is not None]
    bars = [r for r in doc.getElementsByTagName("rect") if r.getAttribute("fill") == plots.FUNDED_COLOUR][:len(groups)]
    widths = [float(r.getAttribute("width")) for r in bars]
    for g, width in zip(groups, widths):
        funded = p[(p["maturity"] == g) & p["funded"]]
        total = int(funded["award_eur"].sum())
        note = f"{len(funded)} · {format_number(total / 1000, 0)}\u00a0k€" if len(funded) else "0"
        assert note in texts
        if total:  # bar lengths proportional to the amounts (0.1 px rounding)
            first = p[(p["maturity"] == groups[0]) & p["funded"]]["award_eur"].sum()
            assert width / widths[0] == pytest.approx(total / first, abs=0.01)
    assert "Montants attribués par maturité" in texts and "référence (état initial)" in texts


def test_state_from_controls_defaults_are_the_calls_thresholds_and_band(base):
    # trial 2, S5: a caller who leaves out the thresholds and δ keeps the call's, as AllocationParams does
    f = base.rules.funding
    s = state_from_controls(LIVE, weights=base.weights.as_dict(), rule=("merit_order", "skip"), envelope_eur=f.envelope_eur,
                            award_floor_eur=f.award_floor_eur, award_cap_eur=f.award_cap_eur, min_share=f.min_share)
    assert s.params.min_score is None and s.params.min_criterion is None and s.params.tie_band_points is None
    out = compute_outcome(base, s)
    sel = base.rules.selection
    # below the call's thresholds, by hand from the table (criterion scores 0–1 mapped to the review scale)
    lo, hi = base.rules.scoring.scale_min, base.rules.scoring.scale_max
    t = base.table[base.table["eligible"] & base.table["scored"]]
    below = {r.application_id for r in t.itertuples()
             if round(r.score, 4) < sel.min_score
             or any(round(lo + getattr(r, f"{k}_score") * (hi - lo), 4) < v for k, v in dict(sel.min_criterion).items())}
    assert below and set(out.not_fundable) == below and not below & set(out.funded_ids)
    assert out.allocation.candidates.tie_band_points == pytest.approx(float(sel.tie_band_points))
    # the same decision as allocate with the call's values
    assert out.funded_ids == allocate(base, LIVE).funded_ids


def test_finder_refuses_a_lock_with_the_command_lines_reason(base):
    from ditp_model.rules.candidates import check

    f = ApplicationFinder(base.table)
    t = base.table.set_index("application_id")
    held = t.index[t["eligible"] & ~t["scored"]][0]
    with pytest.raises(ValueError) as exc:
        f.tag(held)
    assert str(exc.value) == f"dossier {held} : verrou impossible ({t.at[held, 'score_flag']})"
    with pytest.raises(ValueError, match=f"{held} \\({re.escape(t.at[held, 'score_flag'])}\\)"):
        check(base, AllocationParams(lock_in=frozenset({held})))
    with pytest.raises(ValueError, match="aucun dossier de ce numéro"):
        f.tag("P999")
