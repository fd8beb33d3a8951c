"""Tests of ``ditp_model.timeline.waves``: rolling selection in waves (issue 8, item 1).

Layers (STYLE.md §6):

1. hand-solved two-wave cases, the solution worked out in a comment above each;
2. the rule « une décision de vague est définitive »: earlier awards locked and
   unchanged, rejected applications out, late applications wait, locks and
   the maximum number of awards across waves;
3. random small cases: under max total score, every wave against brute-force
   enumeration (:func:`allocation_cases.brute_force`, no solver), the total
   within the envelope, and the waves never above the all-at-once optimum;
   under the merit order at δ = 0, every wave and the all-at-once decision
   against the ranking rule with skip written in the test;
4. the chain of manifest hashes;
5. the sample data replayed in weekly waves.

Cases are built in code by :mod:`allocation_cases`; expected values are worked
out here, never copied from the code's output.  Call defaults
(data/appel_2021.toml): floor 70 000 €, cap 120 000 €, step 1 000 €, no cut.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import random
from pathlib import Path

import pandas as pd
import pytest

import ditp_model
from allocation_cases import Project, brute_force, make_evaluation, units
from ditp_model.rules.allocation import AllocationError, AllocationParams, GroupRule, NotOptimalError, SolveStatus
from ditp_model.timeline.waves import (
    WaveDecision,
    compare_with_all_at_once,
    replay_weekly,
    run_wave,
    wave_manifest,
    waves_table,
    weekly_cutoffs,
)

ROOT = Path(__file__).resolve().parents[1]
#: No quality threshold (the call's are 50/100 overall, 2.5/5 per criterion): for cases about something else.
NO_THRESHOLDS = dict(min_score=0.0, min_criterion=())


def canonical_sha256(manifest: dict) -> str:
    """SHA-256 of canonical JSON, computed here independently of the package."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


# ====================================================================== 1. hand-solved two-wave cases

# Envelope 200 000 €.  A (80 points, 100 k€, 10 Sept), B (60, 100 k€, 12 Sept),
# C (99, 100 k€, 11 Sept, not eligible), D (90, 100 k€, 20 Sept).
# Wave 1, cut-off 15 Sept: candidates A, B, C.
#   * no reserve: 200 k€ available, A + B fit -> A, B funded (140 points).
#     Wave 2, cut-off 15 Oct: committed 200 k€, 0 € left -> D not funded.
#     Waves: 140 points.  All at once: A + D (170 points).  Gap 30 points.
#   * reserve 100 k€: 100 k€ available, A (80) beats B (60) -> A funded.
#     Wave 2: committed 100 k€, 100 k€ available, candidate D only -> D funded.
#     Waves: 170 points, the all-at-once optimum.
HAND = [
    Project("A", 80.0, 100_000, submitted="2021-09-10"),
    Project("B", 60.0, 100_000, submitted="2021-09-12"),
    Project("C", 99.0, 100_000, submitted="2021-09-11", eligible=False),
    Project("D", 90.0, 100_000, submitted="2021-09-20"),
]


@pytest.fixture(scope="module")
def hand():
    return make_evaluation(HAND, envelope_eur=200_000)


def test_two_waves_without_reserve(hand):
    w1 = run_wave(hand, "2021-09-15")
    assert w1.k == 1 and w1.cutoff == dt.date(2021, 9, 15)
    assert set(w1.candidate_ids) == {"A", "B", "C"}
    assert w1.after_cutoff_ids == ("D",)
    assert w1.awards_eur == {"A": 100_000, "B": 100_000}
    assert w1.funded_ids == ("A", "B")  # tie-break order: higher score first
    assert (w1.committed_before_eur, w1.reserve_eur, w1.awarded_eur, w1.remaining_eur) == (0, 0, 200_000, 0)
    assert w1.score_units == units(80) + units(60)
    assert w1.previous_manifest_sha256 is None and w1.status is SolveStatus.OPTIMAL
    w2 = run_wave(hand, dt.date(2021, 10, 15), [w1])
    assert w2.k == 2 and w2.candidate_ids == ("D",)
    assert w2.committed_before_eur == 200_000 and w2.available_eur == 0
    assert w2.awards_eur == {} and w2.earlier_awards_eur == {"A": 100_000, "B": 100_000}
    cmp = compare_with_all_at_once(hand, [w1, w2])
    assert cmp["waves_total_score"] == pytest.approx(140.0)
    assert cmp["all_at_once_total_score"] == pytest.approx(170.0)
    assert cmp["score_gap"] == pytest.approx(30.0)
    # the merit order (the call's rule) maximises nothing: no value to compare, the rule is named
    assert cmp["rule"] == "merit_order" and cmp["objective"] is None
    assert cmp["waves_value_units"] is None and cmp["all_at_once_value_units"] is None
    assert cmp["waves_funded"] == ["A", "B"] and cmp["all_at_once_funded"] == ["A", "D"]
    assert cmp["only_in_waves"] == ["B"] and cmp["only_in_all_at_once"] == ["D"]
    assert cmp["passed_over"] == ["D"]  # D (90) scores above B (60), the lowest laureate of the waves
    assert cmp["award_differs"] == {}
    assert cmp["waves_awarded_eur"] == cmp["all_at_once_awarded_eur"] == 200_000
    assert {w1.rule, w2.rule} == {"merit_order"}


def test_an_optimisation_rule_compares_values(hand):
    """Max total score (comparison only): same portfolios here, and the level-1 values (140 and 170 points)."""
    params = AllocationParams(rule="max_total_score")
    w1 = run_wave(hand, "2021-09-15", params=params)
    w2 = run_wave(hand, "2021-10-15", [w1], params=params)
    cmp = compare_with_all_at_once(hand, [w1, w2], params)
    assert cmp["rule"] == "max_total_score" and cmp["objective"] == "total_score"
    assert cmp["waves_value_units"] == units(140) and cmp["all_at_once_value_units"] == units(170)
    # waves decided under one rule are not compared under another
    with pytest.raises(ValueError, match="comparer sous la même règle"):
        compare_with_all_at_once(hand, [w1, w2])


def test_two_waves_with_reserve_reach_the_optimum(hand):
    w1 = run_wave(hand, "2021-09-15", reserve_eur=100_000)
    assert w1.reserve_eur == 100_000 and w1.available_eur == 100_000
    assert w1.awards_eur == {"A": 100_000}
    w2 = run_wave(hand, "2021-10-15", [w1])
    assert w2.committed_before_eur == 100_000 and w2.reserve_eur == 0
    assert w2.awards_eur == {"D": 100_000}
    cmp = compare_with_all_at_once(hand, [w1, w2])
    assert cmp["waves_funded"] == cmp["all_at_once_funded"] == ["A", "D"]
    assert cmp["waves_total_score"] == cmp["all_at_once_total_score"] == pytest.approx(170.0)
    assert cmp["only_in_waves"] == [] and cmp["only_in_all_at_once"] == [] and cmp["passed_over"] == []
    table = waves_table([w1, w2])
    assert table["wave"].tolist() == [1, 2]
    assert table["candidates"].tolist() == [3, 1]
    assert table["funded"].tolist() == [1, 1]
    assert table["awarded_eur"].tolist() == [100_000, 100_000]
    assert table["committed_before_eur"].tolist() == [0, 100_000]
    assert table["reserve_eur"].tolist() == [100_000, 0]
    assert table["remaining_eur"].tolist() == [100_000, 0]
    assert table["cumulative_funded"].tolist() == [1, 2]
    assert table["total_score"].tolist() == [80.0, 90.0]
    assert str(table["awarded_eur"].dtype) == "int64"


# ====================================================================== 2. the rule of the waves


def test_rejected_application_is_out_for_good(hand):
    # Reserve 100 k€ in wave 1: B is examined and not funded.  Without D, wave 2
    # has 100 k€ and no candidate: B is not reconsidered (the decision is final).
    ev = make_evaluation([p for p in HAND if p.id != "D"], envelope_eur=200_000)
    w1 = run_wave(ev, "2021-09-15", reserve_eur=100_000)
    w2 = run_wave(ev, "2021-10-15", [w1])
    assert w2.candidate_ids == () and w2.awards_eur == {} and w2.available_eur == 100_000
    assert "B" in w2.allocation.candidates.params.lock_out
    with pytest.raises(ValueError, match="déjà examiné"):
        run_wave(ev, "2021-10-15", [w1], params=AllocationParams(lock_in=frozenset({"B"})))


def test_application_after_cutoff_is_not_funded_in_that_wave():
    # Envelope 3 M€: money is no constraint.  D (95 points) is submitted on 16 Sept
    # at 09:00, E on 15 Sept at 18:30 (the cut-off day counts whole).
    ev = make_evaluation([Project("A", 50.0, 100_000, submitted="2021-09-01 00:00"),
                          Project("D", 95.0, 100_000, submitted="2021-09-16 09:00"),
                          Project("E", 70.0, 100_000, submitted="2021-09-15 18:30")])
    w1 = run_wave(ev, "2021-09-15")
    assert set(w1.awards_eur) == {"A", "E"} and w1.after_cutoff_ids == ("D",)
    assert "D" not in w1.funded_ids
    w1b = run_wave(ev, "2021-09-16")
    assert set(w1b.awards_eur) == {"A", "D", "E"}


def test_earlier_award_is_never_changed_by_a_later_wave():
    # Cuts allowed (min_share 0.5), envelope 250 000 €.  Wave 1 (15 Sept): A alone,
    # 60 points, 100 k€ asked -> funded in full (level 2: spend as much as possible).
    # Wave 2 (15 Oct): B (90, 120 k€) and C (80, 120 k€), 150 k€ available; each can
    # be cut down to max(70 000, 60 000) = 70 000 € -> both funded, 150 000 € spent.
    # All at once would cut A too (340 k€ asked for 250 k€); the waves never do.
    projects = [Project("A", 60.0, 100_000, submitted="2021-09-10"),
                Project("B", 90.0, 120_000, submitted="2021-09-20"),
                Project("C", 80.0, 120_000, submitted="2021-09-25")]
    ev = make_evaluation(projects, envelope_eur=250_000, min_share=0.5)
    w1 = run_wave(ev, "2021-09-15")
    assert w1.awards_eur == {"A": 100_000}
    w2 = run_wave(ev, "2021-10-15", [w1])
    assert w2.earlier_awards_eur == {"A": 100_000}
    assert set(w2.awards_eur) == {"B", "C"} and w2.awarded_eur == 150_000
    assert all(70_000 <= a <= 120_000 for a in w2.awards_eur.values())
    assert w2.committed_before_eur + w2.awarded_eur == 250_000
    cmp = compare_with_all_at_once(ev, [w1, w2])
    assert cmp["waves_funded"] == cmp["all_at_once_funded"] == ["A", "B", "C"]
    assert cmp["waves_awarded_eur"] == cmp["all_at_once_awarded_eur"] == 250_000
    # a history whose earlier awards were altered is refused
    forged = dataclasses.replace(w2, earlier_awards_eur={"A": 90_000})
    with pytest.raises(AllocationError, match="à l'identique"):
        run_wave(ev, "2021-10-20", [w1, forged])
    # earlier awards over the envelope are refused, in exact integers
    over = dataclasses.replace(w1, awards_eur={"A": 250_001})
    with pytest.raises(AllocationError, match="plus que l'enveloppe"):
        run_wave(ev, "2021-10-15", [over])
    # the same application funded in two waves is refused
    twice = dataclasses.replace(w2, awards_eur={"A": 1_000})
    with pytest.raises(AllocationError, match="deux fois"):
        run_wave(ev, "2021-10-20", [w1, twice])


def test_locks_and_max_awards_across_waves():
    # Envelope 3 M€.  lock_in D (20 points, 16 Sept): not a wave-1 candidate, so no
    # error in wave 1; funded in wave 2.  max_awards = 2 is for the whole call:
    # wave 1 funds A and B (2 laureates), so wave 2 may fund only the locked D if
    # there were room; with max 3 it funds D and nothing else.
    ev = make_evaluation([Project("A", 80.0, 100_000, submitted="2021-09-01"),
                          Project("B", 70.0, 100_000, submitted="2021-09-02"),
                          Project("D", 20.0, 100_000, submitted="2021-09-16"),
                          Project("E", 90.0, 100_000, submitted="2021-09-17")])
    params = AllocationParams(lock_in=frozenset({"D"}), max_awards=3, **NO_THRESHOLDS)  # D (20) is under the call's 50
    w1 = run_wave(ev, "2021-09-15", params=params)
    assert set(w1.awards_eur) == {"A", "B"}
    w2 = run_wave(ev, "2021-10-15", [w1], params=params)
    assert set(w2.awards_eur) == {"D"}  # D imposed, third and last laureate; E left out
    w2b = run_wave(ev, "2021-10-15", [w1], params=AllocationParams(max_awards=2, **NO_THRESHOLDS))
    assert w2b.awards_eur == {}


def test_reserve_is_capped_at_what_remains(hand):
    w1 = run_wave(hand, "2021-09-15", reserve_eur=10**9)
    assert w1.reserve_requested_eur == 10**9 and w1.reserve_eur == 200_000
    assert w1.awards_eur == {} and w1.remaining_eur == 200_000


def test_infeasible_wave_has_no_decision_and_stops_the_chain(hand):
    # A and B imposed, 200 k€ asked, only 100 k€ available after the reserve.
    params = AllocationParams(lock_in=frozenset({"A", "B"}))
    w1 = run_wave(hand, "2021-09-15", reserve_eur=100_000, params=params)
    assert w1.status is SolveStatus.INFEASIBLE and not w1.is_optimal
    assert w1.awards_eur == {} and w1.manifest_sha256 is None
    with pytest.raises(ValueError, match="pas de décision"):
        run_wave(hand, "2021-10-15", [w1])
    with pytest.raises(NotOptimalError):
        wave_manifest(hand, w1, None)
    with pytest.raises(NotOptimalError, match="vague 1"):
        replay_weekly(hand, "2021-09-15", "2021-09-20", reserve_fn=lambda k, c: 100_000, params=params)


@pytest.mark.parametrize("kwargs, message", [
    ({"params": AllocationParams(committed_eur=1_000)}, "fixés par les vagues"),
    ({"params": AllocationParams(reserve_eur=1_000)}, "fixés par les vagues"),
    ({"params": AllocationParams(group_rules=(GroupRule("region", "Bretagne", min_count=1),))}, "par groupe"),
    ({"reserve_eur": -1}, "entier d'euros"),
    ({"reserve_eur": 1.5}, "entier d'euros"),
    ({"cutoff": "pas une date"}, "illisible"),
])
def test_bad_parameters_are_refused_in_french(hand, kwargs, message):
    args = {"cutoff": "2021-09-15", **kwargs}
    with pytest.raises(ValueError, match=message):
        run_wave(hand, **args)


def test_history_must_be_in_order(hand):
    w1 = run_wave(hand, "2021-09-15")
    with pytest.raises(ValueError, match="antérieure"):
        run_wave(hand, "2021-09-14", [w1])
    with pytest.raises(ValueError, match="numérotées"):
        run_wave(hand, "2021-10-15", [dataclasses.replace(w1, k=2)])
    with pytest.raises(ValueError, match="enveloppe"):
        run_wave(hand, "2021-10-15", [w1], params=AllocationParams(envelope_eur=300_000))


def test_weekly_cutoffs():
    assert weekly_cutoffs() == [dt.date(2021, 9, 15), dt.date(2021, 9, 22), dt.date(2021, 9, 29), dt.date(2021, 10, 6),
                                dt.date(2021, 10, 13), dt.date(2021, 10, 15)]
    assert weekly_cutoffs("2021-09-15", "2021-09-29") == [dt.date(2021, 9, 15), dt.date(2021, 9, 22), dt.date(2021, 9, 29)]
    assert weekly_cutoffs("2021-10-15", "2021-10-15") == [dt.date(2021, 10, 15)]
    with pytest.raises(ValueError, match="postérieure"):
        weekly_cutoffs("2021-10-16", "2021-10-15")


# ====================================================================== 3. random cases against brute force

DATES = ["2021-09-05", "2021-09-14", "2021-09-15", "2021-09-21", "2021-09-30", "2021-10-08"]
CUTOFFS = ["2021-09-15", "2021-09-22", "2021-10-01", "2021-10-15"]


def random_case(rng: random.Random):
    n = rng.randint(3, 7)
    projects = [Project(f"P{k}", rng.choice([50.0, 60.0, 70.0, float(rng.randint(0, 100))]) if rng.random() > 0.1 else None,
                        rng.choice([70_000, 90_000, 100_000, 120_000, 130_000, rng.randint(60, 130) * 1_000]),
                        submitted=rng.choice(DATES), eligible=rng.random() > 0.1) for k in range(n)]
    envelope = rng.choice([150_000, 200_000, 300_000, 450_000])
    cutoffs = sorted(rng.sample(CUTOFFS, rng.randint(1, 3)))
    reserves = [rng.choice([0, 0, 100_000, 200_000]) for _ in cutoffs]
    return projects, envelope, cutoffs, reserves


@pytest.mark.parametrize("seed", range(60))
def test_random_waves_against_brute_force(seed):
    """Max total score (an optimisation rule, for comparison): each wave is a brute-force optimum."""
    rng = random.Random(seed)
    projects, envelope, cutoffs, reserves = random_case(rng)
    ev = make_evaluation(projects, envelope_eur=envelope)
    params = AllocationParams(rule="max_total_score", **NO_THRESHOLDS)
    waves: list[WaveDecision] = []
    considered: set[str] = set()
    for cutoff, reserve in zip(cutoffs, reserves):
        w = run_wave(ev, cutoff, waves, reserve, params)
        pool = [p for p in projects if pd.Timestamp(p.submitted) <= pd.Timestamp(cutoff) and p.id not in considered]
        assert set(w.candidate_ids) == {p.id for p in pool}
        committed = sum(a for v in waves for a in v.awards_eur.values())
        assert w.committed_before_eur == committed
        assert w.reserve_eur == min(reserve, envelope - committed)
        expected = brute_force(pool, envelope - committed - w.reserve_eur)
        assert expected.feasible
        assert frozenset(w.awards_eur) in expected.best
        assert w.awarded_eur == expected.spend and w.score_units == expected.value
        # earlier awards unchanged
        assert w.earlier_awards_eur == {a: x for v in waves for a, x in v.awards_eur.items()}
        considered |= {p.id for p in pool}
        waves.append(w)
    total = sum(w.awarded_eur for w in waves)
    assert total <= envelope
    funded = [a for w in waves for a in w.awards_eur]
    assert len(funded) == len(set(funded))
    best = brute_force(projects, envelope)
    assert sum(w.score_units for w in waves) <= best.value
    # the comparison is with what could be funded by the last cut-off (later applications were never open)
    best = brute_force([p for p in projects if pd.Timestamp(p.submitted) <= pd.Timestamp(cutoffs[-1])], envelope)
    cmp = compare_with_all_at_once(ev, waves, params)
    assert cmp["all_at_once_value_units"] == best.value
    assert cmp["waves_value_units"] <= cmp["all_at_once_value_units"]


def skip_rule(pool, available: int) -> dict:
    """The ranking rule with skip, written here: score (desc), submission, id; capped request (120 k€), floor 70 k€."""
    fundable = [p for p in pool if p.eligible and p.score is not None and min(p.requested, 120_000) >= 70_000]
    awards = {}
    for p in sorted(fundable, key=lambda p: (-p.score, pd.Timestamp(p.submitted), p.id)):
        u = min(p.requested, 120_000)
        if u <= available:
            awards[p.id] = u
            available -= u
    return awards


@pytest.mark.parametrize("seed", range(40))
def test_random_waves_under_the_merit_order_at_delta_zero(seed):
    """Merit order at δ = 0 (no cut): each wave, and the all-at-once decision, is the ranking rule with skip.

    Scores made distinct (+0.01 point × position): two equal scores are ex aequo even at δ = 0, and the merit
    order then settles them by spending, not by the submission date as the ranking rule does.
    """
    rng = random.Random(seed)
    projects, envelope, cutoffs, reserves = random_case(rng)
    projects = [p if p.score is None else dataclasses.replace(p, score=p.score + 0.01 * k) for k, p in enumerate(projects)]
    ev = make_evaluation(projects, envelope_eur=envelope)
    params = AllocationParams(tie_band_points=0.0, **NO_THRESHOLDS)
    waves: list[WaveDecision] = []
    considered: set[str] = set()
    for cutoff, reserve in zip(cutoffs, reserves):
        w = run_wave(ev, cutoff, waves, reserve, params)
        pool = [p for p in projects if pd.Timestamp(p.submitted) <= pd.Timestamp(cutoff) and p.id not in considered]
        committed = sum(a for v in waves for a in v.awards_eur.values())
        assert w.rule == "merit_order"
        assert w.awards_eur == skip_rule(pool, envelope - committed - min(reserve, envelope - committed))
        considered |= {p.id for p in pool}
        waves.append(w)
    seen = [p for p in projects if pd.Timestamp(p.submitted) <= pd.Timestamp(cutoffs[-1])]
    once = skip_rule(seen, envelope)
    cmp = compare_with_all_at_once(ev, waves, params)
    assert cmp["rule"] == "merit_order" and cmp["all_at_once_funded"] == sorted(once)
    assert cmp["all_at_once_awarded_eur"] == sum(once.values())
    score = {p.id: p.score for p in projects}
    in_waves = {a for w in waves for a in w.awards_eur}
    lowest = min((score[a] for a in in_waves), default=None)
    assert cmp["passed_over"] == sorted(a for a in once if a not in in_waves and lowest is not None and score[a] > lowest)


# ====================================================================== 4. the chain of manifests


def test_manifests_chain(hand):
    w1 = run_wave(hand, "2021-09-15", reserve_eur=100_000)
    w2 = run_wave(hand, "2021-09-22", [w1])
    w3 = run_wave(hand, "2021-10-15", [w1, w2])
    m1 = wave_manifest(hand, w1, None)
    m2 = wave_manifest(hand, w2, m1)
    m3 = wave_manifest(hand, w3, m2)
    assert m1["wave"]["previous_manifest_sha256"] is None
    assert m2["wave"]["previous_manifest_sha256"] == canonical_sha256(m1) == w2.previous_manifest_sha256
    assert m3["wave"]["previous_manifest_sha256"] == canonical_sha256(m2) == w3.previous_manifest_sha256
    assert canonical_sha256(m3) == w3.manifest_sha256
    assert [m["wave"]["k"] for m in (m1, m2, m3)] == [1, 2, 3]
    assert m2["wave"]["cutoff"] == "2021-09-22"
    assert (m2["wave"]["committed_before_eur"], m2["wave"]["reserve_eur"]) == (100_000, 0)
    assert m2["wave"]["awards_eur"] == {"D": 100_000} and m2["wave"]["earlier_awards_eur"] == {"A": 100_000}
    assert m3["wave"]["candidates"] == [] and m3["wave"]["remaining_eur"] == 0
    # the report's manifest is kept whole
    assert m2["total_awarded_eur"] == 100_000 and m2["funded_count"] == 1 and m2["solver"]["status"] == "optimal"
    assert set(m2["parameters"]["lock_out"]) == {"A", "B", "C"}
    json.dumps(m3, allow_nan=False)
    # a wrong or missing link is refused
    with pytest.raises(ValueError, match="n'est pas celui"):
        wave_manifest(hand, w3, m1)
    forged = json.loads(json.dumps(m1))
    forged["wave"]["reserve_eur"] = 0
    with pytest.raises(ValueError, match="n'est pas celui"):
        wave_manifest(hand, w2, forged)
    with pytest.raises(ValueError, match="requis"):
        wave_manifest(hand, w2, None)
    with pytest.raises(ValueError, match="vague 1"):
        wave_manifest(hand, w1, m1)
    # a wave whose chain is broken cannot be continued
    with pytest.raises(ValueError, match="chaîne"):
        run_wave(hand, "2021-10-20", [w1, dataclasses.replace(w2, previous_manifest_sha256="0" * 64)])


# ====================================================================== 5. the sample data


@pytest.fixture(scope="module")
def sample_evaluation():
    inputs = ditp_model.load_inputs(ROOT / "data" / "appel_2021.toml", ROOT / "data" / "candidatures_exemple.csv",
                                    ROOT / "data" / "evaluations_exemple.csv")
    return ditp_model.evaluate(inputs)


@pytest.mark.parametrize("reserve", [None, 600_000, lambda k, cutoff: max(0, 1_500_000 - 300_000 * (k - 1))],
                         ids=["no_reserve", "constant_reserve", "decreasing_reserve"])
def test_weekly_replay_on_sample_data(sample_evaluation, reserve):
    ev = sample_evaluation
    waves = replay_weekly(ev, reserve_fn=reserve)
    if isinstance(reserve, int):  # a constant reserve is kept at every wave but the last
        assert [w.reserve_requested_eur for w in waves] == [600_000] * 5 + [0]
    assert [w.cutoff.isoformat() for w in waves] == ["2021-09-15", "2021-09-22", "2021-09-29", "2021-10-06",
                                                     "2021-10-13", "2021-10-15"]
    envelope = 3_000_000
    total = sum(w.awarded_eur for w in waves)
    assert total <= envelope
    dates = dict(zip(ev.applications["application_id"], pd.to_datetime(ev.applications["submitted_at"]).dt.date))
    considered = [a for w in waves for a in w.candidate_ids]
    assert len(considered) == len(set(considered))
    assert set(considered) == {a for a, d in dates.items() if d <= dt.date(2021, 10, 15)}
    for w in waves:
        assert all(dates[a] <= w.cutoff for a in w.awards_eur)
    table = waves_table(waves)
    assert table["committed_before_eur"].tolist() == [0, *table["awarded_eur"].cumsum().tolist()[:-1]]
    assert (table["remaining_eur"] == envelope - table["committed_before_eur"] - table["awarded_eur"]).all()
    cmp = compare_with_all_at_once(ev, waves)
    # the same rule (the call's merit order) for the waves and the all-at-once decision
    assert cmp["rule"] == "merit_order" and {w.rule for w in waves} == {"merit_order"}
    assert cmp["waves_awarded_eur"] == total and cmp["all_at_once_awarded_eur"] <= envelope
    # deciding early passes over better-ranked applications the all-at-once decision funds
    t = ev.table.set_index("application_id")["score"]
    lowest = min(t[a] for a in cmp["waves_funded"])
    assert cmp["passed_over"] == sorted(a for a in cmp["only_in_all_at_once"] if t[a] > lowest)
    assert set(cmp["waves_funded"]) - set(cmp["only_in_waves"]) == set(cmp["all_at_once_funded"]) - set(cmp["only_in_all_at_once"])


def test_comparison_leaves_out_applications_after_the_last_cutoff():
    """A replay stopped early is compared with what could have been funded by its last cut-off."""
    from allocation_cases import Project, make_evaluation

    from ditp_model.timeline.waves import compare_with_all_at_once, run_wave

    # Envelope 200 000: A (60, 100 k€, 1 Sept) and B (50, 100 k€, 2 Sept) seen; C (90, 100 k€, 20 Sept) comes later.
    ev = make_evaluation([Project("A", 60, 100_000, "2021-09-01"), Project("B", 50, 100_000, "2021-09-02"),
                          Project("C", 90, 100_000, "2021-09-20")], envelope_eur=200_000)
    w1 = run_wave(ev, "2021-09-10")
    assert sorted(w1.funded_ids) == ["A", "B"]
    cmp = compare_with_all_at_once(ev, [w1])
    # C was submitted after the only cut-off: the all-at-once optimum by then is also {A, B}: no gap.
    assert cmp["all_at_once_funded"] == ["A", "B"] and cmp["score_gap"] == 0
