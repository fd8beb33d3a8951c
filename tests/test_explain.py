"""Explanations: entry gaps and exit margins against brute force, funding line, shadow price, keeps-out reasons."""

from __future__ import annotations

import math
import random

import pytest

from allocation_cases import Opt, Project, Rule, brute_force, make_evaluation, units
from ditp_model.rules.allocation import GroupRule, NotOptimalError, allocate
from ditp_model.rules.explain import envelope_shadow_price, explain


def _case():
    # Envelope 300 000 €.  Optimum by hand: B + C + D = 100 + 100 + 90 k€ = 290 k€, 60 + 55 + 50 = 165 points.
    # A (80 points, 120 k€) with any two of B, C, D: 120 + 100 + 100 = 320 k€ > 300 k€; A + D + (B or C) = 310 k€ > 300 k€;
    # A + one other: 80 + 60 = 140 < 165.  So A is out, entry gap 165 − 140 = 25.
    return [Project("A", 80, 120_000, "2021-09-01"), Project("B", 60, 100_000, "2021-09-02"),
            Project("C", 55, 100_000, "2021-09-03"), Project("D", 50, 90_000, "2021-09-04"),
            Project("X", 90, 100_000, eligible=False)]


def test_hand_case_gaps_margins_and_funding_line():
    ev = make_evaluation(_case(), envelope_eur=300_000)
    alloc = allocate(ev, Opt())
    e = explain(ev, alloc).table.set_index("application_id")
    assert sorted(alloc.funded_ids) == ["B", "C", "D"]
    # A forced in: best is A + B (140 points).  Gap 165 − 140 = 25.
    assert e.at["A", "entry_gap"] == pytest.approx(25.0)
    assert "enveloppe" in e.at["A", "keeps_out"]
    # B forced out: A + C (135) or C + D (105) or A + D (130): best 135, margin 165 − 135 = 30.
    assert e.at["B", "exit_margin"] == pytest.approx(30.0)
    # C forced out: A + B = 140, margin 25.  D forced out: A + B = 140, margin 25.
    assert e.at["C", "exit_margin"] == pytest.approx(25.0)
    assert e.at["D", "exit_margin"] == pytest.approx(25.0)
    assert math.isnan(e.at["X", "entry_gap"]) and "non éligible" in e.at["X", "keeps_out"]
    ex = explain(ev, alloc)
    assert ex.lowest_funded == ("D", 50.0)
    assert ex.highest_unfunded == ("A", 80.0)


def test_keeps_out_names_group_rule_and_max_awards():
    projects = [Project("A", 80, 100_000, region="Corse"), Project("B", 70, 100_000, region="Corse"),
                Project("C", 60, 100_000, region="Bretagne")]
    ev = make_evaluation(projects, envelope_eur=1_000_000)
    # Corse at most 10 % of 1 M€ = 100 000 €: only one Corsican project.
    alloc = allocate(ev, Opt(group_rules=(GroupRule("region", "Corse", max_share=0.1),)))
    e = explain(ev, alloc).table.set_index("application_id")
    assert sorted(alloc.funded_ids) == ["A", "C"]
    assert "region = Corse" in e.at["B", "keeps_out"]
    assert "enveloppe" not in e.at["B", "keeps_out"]
    # Forcing B in means dropping A (same group): 70 + 60 = 130 against 140.
    assert e.at["B", "entry_gap"] == pytest.approx(10.0)
    alloc = allocate(ev, Opt(max_awards=2))
    e = explain(ev, alloc).table.set_index("application_id")
    assert "nombre maximal de lauréats (2)" in e.at["C", "keeps_out"]


def test_locked_in_exit_margin_is_infinite_and_lock_out_named():
    ev = make_evaluation(_case(), envelope_eur=300_000)
    alloc = allocate(ev, Opt(lock_in=frozenset({"A"}), lock_out=frozenset({"B"})))
    e = explain(ev, alloc).table.set_index("application_id")
    assert e.at["A", "exit_margin"] == math.inf
    assert "verrou" in e.at["B", "keeps_out"]


@pytest.mark.parametrize("seed", range(25))
def test_gaps_and_margins_match_brute_force(seed):
    rng = random.Random(seed)
    n = rng.randint(3, 8)
    projects = [Project(f"P{k}", round(rng.uniform(20, 90), 2), rng.randrange(70_000, 120_001, 1_000),
                        f"2021-09-{rng.randint(1, 28):02d}", region=rng.choice(["Bretagne", "Corse"])) for k in range(n)]
    envelope = rng.randrange(150_000, 600_000, 10_000)
    rules = ()
    if rng.random() < 0.4:
        rules = (Rule("region", "Corse", max_share=0.5),)
    ev = make_evaluation(projects, envelope_eur=envelope)
    alloc = allocate(ev, Opt(group_rules=tuple(GroupRule(r.column, r.value, max_share=r.max_share) for r in rules)))
    best = brute_force(projects, envelope, rules=rules)
    assert units(alloc.objective) == best.value
    e = explain(ev, alloc).table.set_index("application_id")
    for p in projects:
        if p.id in alloc.funded_ids:
            other = brute_force(projects, envelope, rules=rules, lock_out=frozenset({p.id}))
            expected = (best.value - other.value) / 10_000 if other.feasible else math.inf
            assert e.at[p.id, "exit_margin"] == pytest.approx(expected, abs=1e-9), p.id
        else:
            forced = brute_force(projects, envelope, rules=rules, lock_in=frozenset({p.id}))
            if forced.feasible:
                assert e.at[p.id, "entry_gap"] == pytest.approx((best.value - forced.value) / 10_000, abs=1e-9), p.id
                assert e.at[p.id, "entry_gap"] >= 0
            else:
                assert math.isnan(e.at[p.id, "entry_gap"]) and "impossible" in e.at[p.id, "keeps_out"]


def test_shadow_price_matches_finite_difference_of_lp_relaxation():
    # LP relaxation of the hand case, sorted by score per euro: D 50/90k (0.556/k€), B 0.6/k€, C 0.55/k€, A 0.667/k€.
    # Greedy fractional knapsack: A (120k) + B (100k) + 80k of D or C.  Ratios: A 0.6667, B 0.6, D 0.5556, C 0.55.
    # The fractional item is D: one more 1 000 € buys 50/90 = 0.5556 points.
    ev = make_evaluation(_case(), envelope_eur=300_000)
    alloc = allocate(ev, Opt())
    assert envelope_shadow_price(alloc) == pytest.approx(50 / 90, rel=1e-6)


def test_explain_refuses_non_optimal():
    ev = make_evaluation([Project("A", 50, 100_000)], envelope_eur=1_000_000)
    alloc = allocate(ev, Opt(lock_in=frozenset({"A"}), envelope_eur=50_000))
    with pytest.raises(NotOptimalError):
        explain(ev, alloc)
