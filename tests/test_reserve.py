"""Tests of ``ditp_model.timeline.reserve``: reserve advice for rolling selection (issue 8, item 2).

Layers (STYLE.md §6):

1. a hand-solved case (two seen applications, one later arrival) where every
   ratio is worked out in a comment;
2. the threshold filter and the seen set (cut-off day included, ineligible
   and unscored applications out);
3. properties on random small cases: under max total score the two-step
   total never beats the all-at-once optimum (ratio ≤ 1); under the merit
   order the money stays within the envelope; reproducibility with the same seed;
4. validation errors, the figure, and the replay table on the sample data.

Cases are built in code by :mod:`allocation_cases` (call defaults: floor
70 000 €, cap 120 000 €, no cut).  Expected values are worked out here.
"""

from __future__ import annotations

import dataclasses

import random
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

import ditp_model
from allocation_cases import Project, make_evaluation
from ditp_model.rules.allocation import AllocationParams
from ditp_model.timeline.reserve import reserve_advice, reserve_advice_figure, reserve_replay_table, seen_pool

ROOT = Path(__file__).resolve().parents[1]

# ====================================================================== 1. hand-solved case
#
# Envelope 200 k€.  Seen by 15 September: A (80 points, 100 k€) and B (40 points, 100 k€).
# One later arrival, a bootstrap copy of A (80, 100 k€) or of B (40, 100 k€).
# Hindsight optimum (two awards fit): later = A' -> A + A' = 160; later = B' -> A + B (or A + B') = 120.
#
# (reserve 0, threshold 0): now A + B = 120, 200 k€ spent, nothing later.
#     ratio 120/160 = 0.75 (later A') or 120/120 = 1 (later B').
# (reserve 100 k€, threshold 0): now A (80) within 100 k€; later the arrival within 100 k€:
#     160/160 or 120/120 -> ratio 1 always (the reserve is exactly enough).
# (reserve 0, threshold 50): B is below the threshold, now A alone (100 k€); later the arrival: ratio 1.
# (reserve 200 k€, threshold 0): nothing now; later the arrival alone: 80/160 = 0.5 or 40/120 = 1/3.
# With q the share of simulations where the arrival is A': mean hindsight = 120 + 40 q.
# Every request is 100 k€: the merit order (the call's rule) funds the two best, so "hindsight" (the decision
# all at once) is the optimum above.  All-at-once laureates the two steps leave out ("missed"):
# (0, 0): A' when it comes (A + A' all at once), else none (A + B, B before its copy B'): mean q.
# (200 k€, 0): the arrival alone; all at once A + A' (misses A) or A + B (misses A and B): mean q + 2 (1 - q).
HAND = [
    Project("A", 80.0, 100_000, submitted="2021-09-10 09:00"),
    Project("B", 40.0, 100_000, submitted="2021-09-15 18:30"),  # the cut-off day is included
    Project("C", 99.0, 100_000, submitted="2021-09-12 09:00", eligible=False),
    Project("D", None, 100_000, submitted="2021-09-12 09:00"),  # not scored
    Project("E", 95.0, 100_000, submitted="2021-09-16 09:00"),  # after the cut-off: not seen
]
PAIRS = dict(reserves=[0, 100_000, 200_000], thresholds=[0, 50])
#: The call's rule (merit order), without its quality thresholds (B scores 40 < 50): the cases are about reserves.
P = AllocationParams(check_alternatives=False, min_score=0.0, min_criterion=())


@pytest.fixture(scope="module")
def hand():
    return make_evaluation(HAND, envelope_eur=200_000)


def row(advice: pd.DataFrame, reserve: int, threshold: float) -> pd.Series:
    sel = advice[(advice["reserve_eur"] == reserve) & (advice["threshold"] == threshold)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_hand_case_many_simulations(hand):
    adv = reserve_advice(hand, "2021-09-15", 1, n_sims=40, seed=7, params=P, **PAIRS)
    assert len(adv) == 6
    assert adv[["reserve_eur", "threshold"]].values.tolist() == [[0, 0], [0, 50], [100_000, 0], [100_000, 50],
                                                                 [200_000, 0], [200_000, 50]]
    q = (row(adv, 0, 0)["mean_hindsight_score"] - 120) / 40
    assert 0 < q < 1  # both arrivals occur in 40 seeded draws
    r00 = row(adv, 0, 0)
    assert (r00["now_candidates"], r00["now_funded"], r00["now_awarded_eur"], r00["now_score"]) == (2, 2, 200_000, 120.0)
    assert r00["mean_total_score"] == pytest.approx(120.0)
    assert r00["mean_ratio"] == pytest.approx(0.75 * q + 1.0 * (1 - q))
    assert r00["mean_missed"] == pytest.approx(q) and r00["mean_awarded_eur"] == 200_000
    assert r00["mean_hindsight_awarded_eur"] == 200_000 and r00["rule"] == "merit_order"
    assert (r00["p10_ratio"], r00["p90_ratio"]) == (pytest.approx(0.75), pytest.approx(1.0))
    for reserve, threshold in [(100_000, 0), (0, 50), (100_000, 50)]:
        r = row(adv, reserve, threshold)
        assert r["now_funded"] == 1 and r["now_awarded_eur"] == 100_000 and r["now_score"] == 80.0
        assert r["mean_ratio"] == pytest.approx(1.0)
        assert r["p10_ratio"] == pytest.approx(1.0) and r["p90_ratio"] == pytest.approx(1.0)
        assert r["mean_total_score"] == pytest.approx(r["mean_hindsight_score"])
    r = row(adv, 200_000, 0)
    assert r["now_funded"] == 0 and r["now_awarded_eur"] == 0
    assert r["mean_ratio"] == pytest.approx(0.5 * q + (1 / 3) * (1 - q))
    assert r["mean_total_score"] == pytest.approx(80 * q + 40 * (1 - q))
    assert r["mean_missed"] == pytest.approx(q + 2 * (1 - q)) and r["mean_awarded_eur"] == 100_000
    assert set(adv["seed"]) == {7} and set(adv["n_sims"]) == {40} and set(adv["expected_later"]) == {1}
    assert adv.attrs["seed"] == 7 and adv.attrs["seen"] == 2 and adv.attrs["envelope_eur"] == 200_000
    assert adv.attrs["rule"] == "merit_order"
    for c in ("reserve_eur", "now_funded", "now_awarded_eur", "seed", "mean_awarded_eur", "mean_hindsight_awarded_eur"):
        assert adv[c].dtype == "int64"


def test_hand_case_one_simulation_is_one_of_the_two_worlds(hand):
    r = row(reserve_advice(hand, "2021-09-15", 1, n_sims=1, seed=3, params=P, **PAIRS), 0, 0)
    if r["mean_hindsight_score"] == pytest.approx(160.0):
        assert r["mean_ratio"] == pytest.approx(0.75)
    else:
        assert r["mean_hindsight_score"] == pytest.approx(120.0)
        assert r["mean_ratio"] == pytest.approx(1.0)


def test_no_later_application(hand):
    # Nothing later: the hindsight optimum is A + B = 120.  Reserve 100 k€ funds A only: 80/120.
    adv = reserve_advice(hand, "2021-09-15", 0, [0, 100_000], [0], n_sims=3, seed=1, params=P)
    assert row(adv, 0, 0)["mean_ratio"] == pytest.approx(1.0)
    r = row(adv, 100_000, 0)
    assert r["mean_ratio"] == pytest.approx(2 / 3) and r["mean_hindsight_score"] == pytest.approx(120.0)


# ====================================================================== 2. seen set and thresholds


def test_seen_pool_takes_the_cutoff_day_and_fundable_applications_only(hand):
    pool = seen_pool(hand, "2021-09-15", P)
    assert pool["application_id"].tolist() == ["A", "B"]
    assert pool["score_units"].tolist() == [800_000, 400_000] and pool["upper_eur"].tolist() == [100_000, 100_000]
    assert seen_pool(hand, "2021-09-14", P)["application_id"].tolist() == ["A"]
    assert seen_pool(hand, "2021-09-16", P)["application_id"].tolist() == ["E", "A", "B"]
    # a quality threshold of 50/100 leaves B (40) out: not fundable, not seen
    assert seen_pool(hand, "2021-09-15", dataclasses.replace(P, min_score=50.0))["application_id"].tolist() == ["A"]


@pytest.mark.parametrize("threshold, expected", [(0, 3), (40.0, 3), (40.0001, 2), (80, 2), (80.5, 1), (95, 1), (96, 0)])
def test_threshold_keeps_seen_scores_at_or_above_it(threshold, expected):
    ev = make_evaluation([Project("A", 80.0, 100_000, submitted="2021-09-10"),
                          Project("B", 40.0, 90_000, submitted="2021-09-11"),
                          Project("E", 95.0, 80_000, submitted="2021-09-12")], envelope_eur=1_000_000)
    adv = reserve_advice(ev, "2021-09-15", 0, [0], [threshold], n_sims=1, seed=0, params=P)
    r = adv.iloc[0]
    assert r["now_candidates"] == expected
    # the envelope fits everything: every candidate at or above the threshold is funded now
    funded = {3: 270_000, 2: 180_000, 1: 80_000, 0: 0}[expected]
    assert r["now_funded"] == expected and r["now_awarded_eur"] == funded


# ====================================================================== 3. properties


def random_case(rng: random.Random):
    n = rng.randint(2, 7)
    projects = [Project(f"P{k}", round(rng.uniform(10, 95), 2), rng.choice([70_000, 85_000, 100_000, 120_000]),
                        submitted=rng.choice(["2021-09-10", "2021-09-20", "2021-10-01"])) for k in range(n)]
    if not any(p.submitted == "2021-09-10" for p in projects):
        projects[0] = Project("P0", projects[0].score, projects[0].requested, submitted="2021-09-10")
    return make_evaluation(projects, envelope_eur=rng.choice([150_000, 250_000, 400_000]))


@pytest.mark.parametrize("seed", range(6))
def test_two_steps_never_beat_the_hindsight_optimum(seed):
    """Max total score (an optimisation rule, for comparison): the all-at-once optimum bounds the two steps."""
    rng = random.Random(seed)
    ev = random_case(rng)
    envelope = ev.rules.funding.envelope_eur
    reserves = sorted({0, rng.randrange(0, envelope + 1, 1000), envelope})
    params = AllocationParams(check_alternatives=False, rule="max_total_score", min_score=0.0, min_criterion=())
    adv = reserve_advice(ev, "2021-09-15", rng.randint(0, 5), reserves, [0, rng.uniform(10, 95)], n_sims=8, seed=seed,
                         params=params)
    assert set(adv["rule"]) == {"max_total_score"}
    assert (adv["p10_ratio"] <= adv["mean_ratio"] + 1e-12).all()
    assert (adv["mean_ratio"] <= adv["p90_ratio"] + 1e-12).all()
    assert (adv["p90_ratio"] <= 1.0 + 1e-12).all() and (adv["p10_ratio"] >= 0).all()
    assert (adv["mean_total_score"] <= adv["mean_hindsight_score"] + 1e-9).all()
    assert (adv["now_awarded_eur"] <= envelope - adv["reserve_eur"]).all()
    assert (adv["now_funded"] <= adv["now_candidates"]).all()


@pytest.mark.parametrize("seed", range(4))
def test_merit_order_simulation_spends_within_the_envelope(seed):
    """Merit order: nothing is maximised, so only what holds for every decision is asserted."""
    rng = random.Random(seed)
    ev = random_case(rng)
    envelope = ev.rules.funding.envelope_eur
    reserves = sorted({0, rng.randrange(0, envelope + 1, 1000), envelope})
    adv = reserve_advice(ev, "2021-09-15", rng.randint(0, 5), reserves, [0, rng.uniform(10, 95)], n_sims=5, seed=seed,
                         params=P)
    assert set(adv["rule"]) == {"merit_order"}
    assert (adv["now_awarded_eur"] <= envelope - adv["reserve_eur"]).all()
    assert (adv["now_awarded_eur"] <= adv["mean_awarded_eur"]).all() and (adv["mean_awarded_eur"] <= envelope).all()
    assert (adv["mean_hindsight_awarded_eur"] <= envelope).all() and (adv["mean_missed"] >= 0).all()
    assert (adv["p10_ratio"] <= adv["mean_ratio"] + 1e-12).all() and (adv["mean_ratio"] <= adv["p90_ratio"] + 1e-12).all()


def test_same_seed_same_advice_other_seed_other_draws():
    ev = make_evaluation([Project("A", 80.0, 100_000, submitted="2021-09-10"),
                          Project("B", 50.0, 120_000, submitted="2021-09-11"),
                          Project("C", 30.0, 70_000, submitted="2021-09-12")], envelope_eur=300_000)
    args = (ev, "2021-09-15", 3, [0, 100_000], [0, 60])
    a = reserve_advice(*args, n_sims=15, seed=11, params=P)
    pd.testing.assert_frame_equal(a, reserve_advice(*args, n_sims=15, seed=11, params=P))
    assert a.attrs == reserve_advice(*args, n_sims=15, seed=11, params=P).attrs
    b = reserve_advice(*args, n_sims=15, seed=12, params=P)
    assert set(b["seed"]) == {12}
    assert a["mean_hindsight_score"].iloc[0] != b["mean_hindsight_score"].iloc[0]
    # the draws do not depend on the grid (common random numbers)
    c = reserve_advice(ev, "2021-09-15", 3, [100_000], [60], n_sims=15, seed=11, params=P)
    pd.testing.assert_series_equal(c.iloc[0], row(a, 100_000, 60), check_names=False)


# ====================================================================== 4. errors, figure, sample data


@pytest.mark.parametrize("kwargs, message", [
    (dict(reserves=[300_000]), "réserve"),
    (dict(reserves=[-1]), "réserve"),
    (dict(reserves=[1.5]), "réserve"),
    (dict(thresholds=[float("nan")]), "seuil"),
    (dict(expected_later=-1), "expected_later"),
    (dict(n_sims=0), "simulation"),
    (dict(seed=None), "graine"),
    (dict(params=AllocationParams(reserve_eur=1000)), "reserve_eur"),
    (dict(params=AllocationParams(max_awards=2)), "nombre maximal"),
    (dict(seen_cutoff="2021-09-01"), "aucune candidature"),
])
def test_bad_arguments_are_refused_in_french(hand, kwargs, message):
    args = dict(seen_cutoff="2021-09-15", expected_later=1, reserves=[0], thresholds=[0], n_sims=2, seed=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        reserve_advice(hand, **args)


def test_figure_has_one_line_per_threshold(hand):
    fig = reserve_advice_figure(reserve_advice(hand, "2021-09-15", 1, n_sims=4, seed=7, params=P, **PAIRS))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2
    assert "graine 7" in ax.get_title()


def test_replay_table_on_sample_data():
    inputs = ditp_model.load_inputs(ROOT / "data" / "appel_2021.toml", ROOT / "data" / "candidatures_exemple.csv",
                                    ROOT / "data" / "evaluations_exemple.csv")
    ev = ditp_model.evaluate(inputs)
    t = reserve_replay_table(ev, [0, 900_000])
    assert t["reserve_eur"].tolist() == [0, 900_000]
    assert (t["awarded_eur"] <= 3_000_000).all()
    assert t["score_gap"].tolist() == pytest.approx((t["all_at_once_total_score"] - t["waves_total_score"]).tolist())
    assert t["gap_closed"].iloc[0] == 0.0
    assert t["gap_closed"].iloc[1] == pytest.approx(1 - t["score_gap"].iloc[1] / t["score_gap"].iloc[0])
