"""Robustness of the decision: weight Monte Carlo, stability intervals, envelope sweep, near-optimal portfolios.

Expected values are computed independently of the package: by hand (the weight
at which two composite scores cross), from the drawn weights themselves (which
of two mirror projects wins a draw) or by enumerating every subset of a small
case (``allocation_cases`` for the optimisation rule; the merit-order
definition and the ranking rule with skip written again in this file).
Every analysis follows the committee's rule (merit order by default); the
cases about an optimisation objective name it (``rule="max_total_score"``).
The hand cases lift the call's quality thresholds (``min_score=0``, no
criterion minimum): they are about weights, not thresholds.  Weight-dependent cases are written as CSV files
and read through ``load_inputs`` + ``evaluate`` so that scores really change
with the weights.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pandas as pd
import pytest
from matplotlib.figure import Figure

from allocation_cases import Project, brute_force, capped_request, make_evaluation, units
from helpers import RULES_PATH, app_row, write_applications, write_reviews
from ditp_model import load_inputs
from ditp_model.rules.allocation import AllocationParams
from ditp_model.scoring.pipeline import evaluate
from ditp_model.uncertainty.robustness import (
    envelope_sweep,
    envelope_sweep_figure,
    near_optimal_portfolios,
    stability_intervals,
    weight_monte_carlo,
    weights_along,
)
from ditp_model.scoring.aggregate import Weights

#: Quality thresholds lifted (the hand cases are about weights, not thresholds).
NO_THRESHOLDS = {"min_score": 0.0, "min_criterion": ()}
FAST = AllocationParams(check_alternatives=False, **NO_THRESHOLDS)
OPT = {"rule": "max_total_score", **NO_THRESHOLDS}


def csv_evaluation(folder, apps: list[tuple[str, int, str]], marks: dict[str, tuple], weights: Weights | None = None):
    """Evaluation of applications ``(id, requested €, submitted)`` each reviewed by R1 and R2 with the same
    four marks (impact_reform, impact_replicability, openness_codesign, openness_methods; scale 0–5).

    Lone ministries in Île-de-France: the computed collective criterion is 0 for all.
    Raw means (no reviewer correction).
    """
    a = write_applications(folder / "candidatures.csv",
                           [app_row(i, requested_eur=r, expense_services_eur=r, submitted_at=d) for i, r, d in apps])
    r = write_reviews(folder / "evaluations.csv", [(i, rev, *marks[i]) for i, _, _ in apps for rev in ("R1", "R2")])
    return evaluate(load_inputs(RULES_PATH, a, r), weights, normalisation="raw_mean")


# --------------------------------------------------------------------------- weight Monte Carlo


@pytest.fixture(scope="module")
def mc_case(tmp_path_factory):
    """A dominates everything; B (impact) and C (openness) mirror each other; D cannot fit beside A.

    Envelope 200 k€: A + B or A + C (180 k€); D asks 115 k€, so A + D = 205 k€ does not fit,
    and A, funded in every draw, leaves D out of every draw.
    """
    folder = tmp_path_factory.mktemp("mc")
    apps = [("A", 90_000, "2021-09-01"), ("B", 90_000, "2021-09-02"), ("C", 90_000, "2021-09-03"),
            ("D", 115_000, "2021-09-04")]
    marks = {"A": (5, 5, 5, 5), "B": (4, 4, 1, 1), "C": (1, 1, 4, 4), "D": (2, 2, 2, 2)}
    ev = csv_evaluation(folder, apps, marks)
    return ev, replace_params(envelope_eur=200_000)


def replace_params(**kw) -> AllocationParams:
    return AllocationParams(check_alternatives=False, **{**NO_THRESHOLDS, **kw})


def test_monte_carlo_always_never_and_swing(mc_case):
    ev, params = mc_case
    mc = weight_monte_carlo(ev, params, n_draws=40, concentration=2.0, seed=7, progress=False)
    t = mc.table.set_index("application_id")
    assert (mc.seed, mc.n_draws, mc.concentration) == (7, 40, 2.0)
    assert t.at["A", "p_funded"] == 1.0 and t.at["A", "robustness_fr"] == "toujours financé"
    assert t.at["A", "expected_award_eur"] == 90_000
    assert t.at["D", "p_funded"] == 0.0 and t.at["D", "robustness_fr"] == "jamais financé"
    assert t.at["D", "expected_award_eur"] == 0
    # B beats C exactly when the drawn impact share exceeds the openness share (0.8 w_i + 0.2 w_o vs 0.2 w_i + 0.8 w_o).
    n_b = int((mc.draws["impact"] > mc.draws["openness"]).sum())
    assert 0 < n_b < 40, "the case must swing at this concentration"
    assert t.at["B", "n_funded"] == n_b and t.at["C", "n_funded"] == 40 - n_b
    assert t.at["B", "robustness"] == "swing" and t.at["C", "robustness_fr"] == "incertain"
    # mean award in whole euros, halves rounded up: 90 000 × n_b / 40
    assert t.at["B", "expected_award_eur"] == math.floor(Fraction(90_000 * n_b, 40) + Fraction(1, 2))
    assert t["expected_award_eur"].dtype == "int64"
    assert bool(t.at["B", "funded_at_weights"]) and not bool(t.at["C", "funded_at_weights"])
    assert mc.draws.sum(axis=1).sub(1).abs().max() < 1e-12


def test_monte_carlo_seeded_runs_identical_and_zero_weight_stays_zero(mc_case):
    ev, params = mc_case
    ev0 = ev.with_weights(Weights.of(impact=0.6, openness=0.4, collective=0.0))
    one = weight_monte_carlo(ev0, params, n_draws=8, concentration=5.0, seed=123, progress=False)
    two = weight_monte_carlo(ev0, params, n_draws=8, concentration=5.0, seed=123, progress=False)
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.draws, two.draws)
    assert (one.draws["collective"] == 0).all()
    other = weight_monte_carlo(ev0, params, n_draws=8, concentration=5.0, seed=124, progress=False)
    assert not one.draws.equals(other.draws)
    unseeded = weight_monte_carlo(ev0, params, n_draws=2, progress=False)
    assert isinstance(unseeded.seed, int)  # a fresh seed is recorded, so the run can be repeated
    again = weight_monte_carlo(ev0, params, n_draws=2, seed=unseeded.seed, progress=False)
    pd.testing.assert_frame_equal(unseeded.draws, again.draws)


@pytest.mark.parametrize("kw", [{"n_draws": 0}, {"n_draws": 2.5}, {"concentration": 0.0}, {"concentration": float("nan")}])
def test_monte_carlo_rejects_bad_arguments(mc_case, kw):
    ev, params = mc_case
    with pytest.raises(ValueError):
        weight_monte_carlo(ev, params, **{"n_draws": 2, **kw}, seed=1, progress=False)


# --------------------------------------------------------------------------- stability intervals


@pytest.fixture(scope="module")
def two_projects(tmp_path_factory):
    """A: impact 5, openness 0; B: impact 0, openness 5; 100 k€ each, envelope 150 k€: one of them.

    Collective is 0 for both.  Composite (share of 100 points) with the impact share t and the
    others in proportion (openness 0.3/0.5 of the rest): A = t, B = 0.6 (1 − t), equal at t = 0.375.
    With the openness share t: A = (5/7)(1 − t), B = t, equal at t = 5/12.
    A was submitted first, so it wins an exact tie.
    """
    folder = tmp_path_factory.mktemp("stab")
    ev = csv_evaluation(folder, [("A", 100_000, "2021-09-01"), ("B", 100_000, "2021-09-02")],
                        {"A": (5, 5, 0, 0), "B": (0, 0, 5, 5)})
    return ev, replace_params(envelope_eur=150_000)


def test_stability_intervals_hand_computed(two_projects):
    ev, params = two_projects
    s = stability_intervals(ev, params, tol=0.001).set_index("criterion")
    assert list(s.index) == ["impact", "openness", "collective"]
    assert s.at["impact", "weight"] == pytest.approx(0.5)
    # impact: A funded from 0.375 up to 1
    assert 0.375 - 1e-9 <= s.at["impact", "low"] <= 0.375 + 0.001
    assert s.at["impact", "high"] == 1.0
    assert s.at["impact", "below_enters"] == ("B",) and s.at["impact", "below_leaves"] == ("A",)
    assert s.at["impact", "above_enters"] == () and s.at["impact", "above_leaves"] == ()
    # openness: A funded from 0 up to 5/12
    assert s.at["openness", "low"] == 0.0
    assert 5 / 12 - 0.001 <= s.at["openness", "high"] <= 5 / 12 + 1e-9
    assert s.at["openness", "above_enters"] == ("B",) and s.at["openness", "above_leaves"] == ("A",)
    # collective: A is ahead (or tied and earlier) at every share
    assert (s.at["collective", "low"], s.at["collective", "high"]) == (0.0, 1.0)

    # the call's labels travel with the table, and the figure names the criteria with them (trial 2, D8)
    raw = stability_intervals(ev, params, tol=0.001)
    labels = {c.name: c.label for c in ev.rules.criteria}
    assert raw.attrs["criterion_labels"] == labels
    from ditp_model.outputs.plots import stability_intervals_figure

    ticks = [t.get_text().split("\n")[0] for t in stability_intervals_figure(raw).axes[0].get_yticklabels()]
    assert ticks == [labels["impact"], labels["openness"], labels["collective"]] and "impact" not in ticks


def test_weights_along_keeps_proportions():
    w = weights_along(Weights.of(impact=0.5, openness=0.3, collective=0.2), "impact", 0.8).as_dict()
    assert w["impact"] == pytest.approx(0.8)
    assert w["openness"] == pytest.approx(0.12) and w["collective"] == pytest.approx(0.08)
    alone = weights_along(Weights.of(impact=1.0, openness=0.0, collective=0.0), "impact", 0.4).as_dict()
    assert alone["openness"] == pytest.approx(0.3) and alone["collective"] == pytest.approx(0.3)
    with pytest.raises(ValueError):
        weights_along(Weights.of(impact=1.0, openness=0.0, collective=0.0), "impact", 1.2)
    with pytest.raises(ValueError):
        weights_along(Weights.of(impact=1.0, openness=0.0, collective=0.0), "budget", 0.2)


# --------------------------------------------------------------------------- envelope sweep


SWEEP_PROJECTS = [
    Project("P1", 81.0, 120_000), Project("P2", 77.5, 70_000), Project("P3", 74.0, 95_000),
    Project("P4", 69.25, 110_000), Project("P5", 66.0, 80_000), Project("P6", 52.5, 75_000),
]


def test_envelope_sweep_matches_brute_force():
    ev = make_evaluation(SWEEP_PROJECTS)
    table = envelope_sweep(ev, AllocationParams(envelope_eur=300_000, **OPT), lo=0.5, hi=1.5, steps=11)
    assert list(table["envelope_eur"]) == list(range(150_000, 450_001, 30_000))
    previous: set = set()
    for row in table.itertuples():
        b = brute_force(SWEEP_PROJECTS, row.envelope_eur)
        assert units(row.total_score) == b.value and row.total_awarded_eur == b.spend
        assert frozenset(row.funded) in b.best and row.n_funded == len(row.funded)
        assert set(row.funded) == (previous | set(row.entered)) - set(row.left)
        assert not set(row.entered) & previous and set(row.left) <= previous
        awards = {p.id: capped_request(p, 120_000, 200_000) for p in SWEEP_PROJECTS}
        assert row.entered_award_eur == tuple(awards[i] for i in row.entered)
        previous = set(row.funded)
    assert table["total_score"].is_monotonic_increasing
    assert table["total_awarded_eur"].dtype == "int64"


def test_envelope_sweep_figure_and_bad_bounds():
    ev = make_evaluation(SWEEP_PROJECTS)
    table = envelope_sweep(ev, replace_params(envelope_eur=300_000), steps=3)
    fig = envelope_sweep_figure(table, reference_eur=300_000)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "Enveloppe (M€)"
    # French numbers on the axes: a decimal comma in M€, never a decimal point (trial 2, D8)
    fig.canvas.draw()
    xt = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert xt and all("." not in x for x in xt) and any("," in x for x in xt)
    with pytest.raises(ValueError):
        envelope_sweep(ev, FAST, lo=1.2, hi=0.8)
    with pytest.raises(ValueError):
        envelope_sweep(ev, FAST, steps=0)


# --------------------------------------------------------------------------- near-optimal portfolios


NEAR_PROJECTS = [
    Project("A", 80.0, 100_000), Project("B", 79.5, 100_000), Project("C", 79.0, 100_000),
    Project("D", 77.0, 100_000), Project("E", 20.0, 70_000), Project("F", 30.0, 75_000),
    Project("G", 90.0, 250_000, eligible=False),
]


def enumerate_within(projects: list[Project], envelope: int, within: Fraction) -> set[frozenset]:
    """Every feasible funded set (full capped requests) with value ≥ (1 − within) × optimum, by enumeration."""
    cands = [p for p in projects if p.eligible and p.score is not None and capped_request(p, 120_000, 200_000) >= 70_000]
    feasible = []
    for r in range(len(cands) + 1):
        for combo in itertools.combinations(cands, r):
            if sum(capped_request(p, 120_000, 200_000) for p in combo) <= envelope:
                feasible.append((frozenset(p.id for p in combo), sum(units(p.score) for p in combo)))
    best = max(v for _, v in feasible)
    return {s for s, v in feasible if v >= (1 - within) * best}


@pytest.mark.parametrize("within", [0.01, 0.02])
def test_near_optimal_portfolios_equal_brute_force(within):
    ev = make_evaluation(NEAR_PROJECTS)
    res = near_optimal_portfolios(ev, replace_params(envelope_eur=300_000, **OPT), within=within, max_portfolios=100)
    expected = enumerate_within(NEAR_PROJECTS, 300_000, Fraction(str(within)))
    got = [frozenset(f) for f in res.table["funded"]]
    assert len(got) == len(set(got)), "portfolios must be distinct"
    assert set(got) == expected and res.complete
    assert len(expected) == (2 if within == 0.01 else 4)  # ABC, ABD (1 %); and ACD, BCD (2 %)
    assert got[0] == frozenset("ABC") and res.table.at[0, "gap_pct"] == 0.0
    assert res.optimum == pytest.approx(238.5)
    assert (res.table["total_score"] >= (1 - within) * 238.5 - 1e-9).all()
    assert res.table["total_score"].is_monotonic_decreasing
    row = next(r for r in res.table.to_dict("records") if frozenset(r["funded"]) == frozenset("ABD"))
    assert row["enters"] == ("D",) and row["leaves"] == ("C",)
    assert row["gap_pct"] == pytest.approx(100 * 2 / 238.5)


def test_near_optimal_portfolios_truncated_and_bad_arguments():
    ev = make_evaluation(NEAR_PROJECTS)
    res = near_optimal_portfolios(ev, replace_params(envelope_eur=300_000, **OPT), within=0.02, max_portfolios=2)
    assert len(res.table) == 2 and not res.complete
    alone = near_optimal_portfolios(ev, replace_params(envelope_eur=300_000, **OPT), within=0.0, max_portfolios=1)
    assert len(alone.table) == 1 and alone.complete  # no tie at the optimum
    with pytest.raises(ValueError):
        near_optimal_portfolios(ev, FAST, within=1.5)
    with pytest.raises(ValueError):
        near_optimal_portfolios(ev, FAST, max_portfolios=0)


# --------------------------------------------------------------------------- under the merit order (the default rule)


def ranking_with_skip(projects: list[Project], envelope: int) -> list[str]:
    """The ranking rule with skip, written here: rank order (score, submission, id), fund what fits."""
    cands = sorted((p for p in projects if p.eligible and p.score is not None),
                   key=lambda p: (-units(p.score), pd.Timestamp(p.submitted), p.id))
    left, out = envelope, []
    for p in cands:
        u = capped_request(p, 120_000, 200_000)
        if u <= left:
            out.append(p.id)
            left -= u
    return out


def merit_consistent_sets(projects: list[Project], envelope: int, delta: float) -> dict[frozenset, int]:
    """Every funded set (full capped requests) within the envelope with no valid complaint at δ, with its spend.

    The definition (issue 12): an unfunded j complains when its award fits in the unspent envelope plus the
    awards of the laureates scoring more than δ below it.
    """
    cands = [p for p in projects if p.eligible and p.score is not None and capped_request(p, 120_000, 200_000) >= 70_000]
    award = {p.id: capped_request(p, 120_000, 200_000) for p in cands}
    out = {}
    for r in range(len(cands) + 1):
        for combo in itertools.combinations(cands, r):
            ids = {p.id for p in combo}
            spend = sum(award[i] for i in ids)
            if spend > envelope:
                continue
            complaint = False
            for j in cands:
                if j.id in ids:
                    continue
                claimable = sum(award[k.id] for k in combo if units(k.score) < units(j.score) - units(delta))
                if envelope - spend + claimable >= award[j.id]:
                    complaint = True
            if not complaint:
                out[frozenset(ids)] = spend
    return out


MERIT_PROJECTS = [
    Project("A", 80.0, 100_000, submitted="2021-09-01"), Project("B", 79.7, 120_000, submitted="2021-09-02"),
    Project("C", 79.4, 90_000, submitted="2021-09-03"), Project("D", 65.0, 70_000, submitted="2021-09-04"),
    Project("E", 60.0, 110_000, submitted="2021-09-05"), Project("F", 55.0, 75_000, submitted="2021-09-06"),
]


def test_envelope_sweep_under_merit_order_at_delta_0_is_the_ranking_rule_with_skip():
    ev = make_evaluation(MERIT_PROJECTS)
    table = envelope_sweep(ev, replace_params(envelope_eur=300_000, tie_band_points=0.0), lo=0.5, hi=1.5, steps=11)
    for row in table.itertuples():
        assert list(row.funded) == ranking_with_skip(MERIT_PROJECTS, row.envelope_eur), row.envelope_eur


@pytest.mark.parametrize("delta", [0.0, 0.5, 20.0])
def test_envelope_sweep_under_merit_order_spends_most_among_merit_consistent_sets(delta):
    ev = make_evaluation(MERIT_PROJECTS)
    table = envelope_sweep(ev, replace_params(envelope_eur=300_000, tie_band_points=delta), lo=0.5, hi=1.5, steps=6)
    for row in table.itertuples():
        sets = merit_consistent_sets(MERIT_PROJECTS, row.envelope_eur, delta)
        assert frozenset(row.funded) in sets
        assert row.total_awarded_eur == max(sets.values())


@pytest.mark.parametrize("delta, within", [(0.5, 0.05), (0.5, 0.3), (0.0, 0.3), (20.0, 0.2)])
def test_alternatives_under_merit_order_are_the_merit_consistent_sets(delta, within):
    """Under the merit order the alternatives are the other merit-consistent portfolios at δ (those that
    differ inside the ex aequo band), spending at least (1 − within) of the decision; enumerated here."""
    ev = make_evaluation(MERIT_PROJECTS)
    res = near_optimal_portfolios(ev, replace_params(envelope_eur=300_000, tie_band_points=delta), within=within,
                                  max_portfolios=50)
    sets = merit_consistent_sets(MERIT_PROJECTS, 300_000, delta)
    best = max(sets.values())
    expected = {s for s, v in sets.items() if v >= (1 - Fraction(str(within))) * best}
    got = [frozenset(f) for f in res.table["funded"]]
    assert len(got) == len(set(got)) and set(got) == expected and res.complete
    assert res.rule == "merit_order" and res.optimum == best == res.table.at[0, "total_awarded_eur"]
    assert res.table["total_awarded_eur"].is_monotonic_decreasing
    if delta == 0.0:  # δ = 0 and no tie: one merit-consistent portfolio, the ranking rule with skip
        assert got == [frozenset(ranking_with_skip(MERIT_PROJECTS, 300_000))]
        assert "seule possible" in res.summary_fr()
    if delta == 0.5 and within == 0.3:
        # A, B, C are ex aequo (within 0.5 point of each other); 300 k€ holds two of them with D or F
        assert len(got) > 1 and "bande d'ex aequo" in res.summary_fr()


def test_monte_carlo_under_merit_order_equals_the_ranking_rule_per_draw(mc_case):
    """δ = 0: in each draw the merit order is the ranking rule with skip on that draw's scores."""
    ev, params = mc_case
    params = replace_params(envelope_eur=200_000, tie_band_points=0.0)
    mc = weight_monte_carlo(ev, params, n_draws=30, concentration=2.0, seed=3, progress=False)
    counts = {a: 0 for a in "ABCD"}
    requested = {"A": 90_000, "B": 90_000, "C": 90_000, "D": 115_000}
    submitted = {"A": 1, "B": 2, "C": 3, "D": 4}
    for w in mc.draws.to_dict("records"):
        scores = {a: ev.with_weights(Weights.of(**w)).scores.set_index("application_id").at[a, "score"] for a in "ABCD"}
        left = 200_000
        for a in sorted("ABCD", key=lambda a: (-round(scores[a], 4), submitted[a])):
            if requested[a] <= left:
                counts[a] += 1
                left -= requested[a]
    assert {a: int(n) for a, n in mc.table.set_index("application_id")["n_funded"].items()} == counts


def test_stability_under_merit_order_matches_a_fine_scan_with_the_ranking_rule(mc_case):
    """δ = 0: along each criterion's weight, the first change of the funded set found by a scan of step 0.0005
    (scores linear in the share: interpolated between the two ends, computed with with_weights; the ranking rule
    with skip written here) is where stability_intervals puts the end."""
    ev, _ = mc_case
    params = replace_params(envelope_eur=200_000, tie_band_points=0.0)
    s = stability_intervals(ev, params, tol=0.001).set_index("criterion")
    requested = {"A": 90_000, "B": 90_000, "C": 90_000, "D": 115_000}
    submitted = {"A": 1, "B": 2, "C": 3, "D": 4}

    ends = {(name, t): ev.with_weights(weights_along(ev.weights, name, t)).scores.set_index("application_id")["score"]
            for name in ev.weights.as_dict() for t in (0.0, 1.0)}

    def funded(name, t):
        sc = (1 - t) * ends[(name, 0.0)] + t * ends[(name, 1.0)]
        left, out = 200_000, set()
        for a in sorted("ABCD", key=lambda a: (-round(sc[a], 4), submitted[a])):
            if requested[a] <= left:
                out.add(a)
                left -= requested[a]
        return out

    for name, w0 in ev.weights.normalised().items():
        current = funded(name, w0)
        for side, sign in (("low", -1), ("high", 1)):
            t, end = w0, (0.0 if sign < 0 else 1.0)
            while 0.0 <= t + sign * 0.0005 <= 1.0:
                if funded(name, t + sign * 0.0005) != current:
                    end = t
                    break
                t += sign * 0.0005
            assert abs(s.at[name, side] - end) <= 0.0015, (name, side, s.at[name, side], end)
