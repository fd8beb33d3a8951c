"""Tests of ``ditp_model.rules.lagrange`` and of the optimisation rules decided on the problem it shrinks.

What is checked, each time against a second method:

1. a hand case: the LP duals of a plain knapsack are worked out by hand, so are the candidates the bound fixes;
2. the bound itself, by enumeration of every portfolio (hypothesis, derandomised): for the LP duals *and* for
   arbitrary multipliers, no portfolio is worth more than ``L``, and every portfolio worth at least ``v``
   takes the values ``fixings(v)`` gives;
3. the exact enumeration (``enumerate_best``) against enumeration here: it sees exactly the portfolios worth
   at least the target, and picks the brute force's decision;
4. decisions with the smallest core (one free candidate in the heuristic step, so that the bound does the
   work), settled by the enumeration or, with the enumeration declining, by the MILP on the reduced problem,
   against the brute force of :mod:`allocation_cases` (value, spend, named tie-break, ties flagged);
5. decisions with the reduction against decisions of the full problem (reduction switched off) on
   generated calls of 40–80 applications with regional rules: same funded set, same awards, same tie flag.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ditp_model.rules.lagrange as lagrange
import ditp_model.rules.optimise as optimise
from ditp_model.rules.allocation import GroupRule, SolveStatus, allocate, build, check, solve

from allocation_cases import Opt, Project, capped_request, make_evaluation, respects_rules, units
from test_allocation import _params, check_against_brute_force, random_case

P = Project
D = lagrange.DENOMINATOR


def lp_duals(cands) -> dict[str, float]:
    """The LP relaxation's duals by rule key, read as ``_reduced_level_one`` reads them."""
    lp = build(cands, relax=True)
    assert solve(lp, "highs", 60).status is SolveStatus.OPTIMAL
    names = {k: name for k, (name, _) in lp.rules.items()} | {"valid_cut_count": "valid_cut_count"}
    rows = {k: lp.problem.get_constraint_by_name(v) for k, v in names.items()}
    return {k: r.pi for k, r in rows.items() if r is not None and r.pi is not None}


def tight_bound(cands, duals) -> lagrange.Bound:
    return min(lagrange.lagrangian_bound(cands, duals), lagrange.lagrangian_bound(cands, {k: -v for k, v in duals.items()}),
               key=lambda b: b.scaled_bound)


# ---------------------------------------------------------------------------------------------- 1. by hand

def test_hand_knapsack_fixings():
    # Envelope 300 000 €; five requests of 100 000 € (floor 70 000 €, so ℓ = u = 100 000 € and the count cut is
    # Σx ≤ 3).  Scores 90, 80, 70, 60, 50.  LP optimum = integer optimum {A, B, C}: 240 points, so L − v* = 0.
    # Any optimal dual prices a candidate at t = y_E·100 000 + y_count with 60 ≤ t/10⁴ ≤ 70 points, so the reduced
    # costs are 90−t > 0 (A), 80−t > 0 (B), 50−t < 0 (E): with no slack, A and B are fixed at 1, E at 0; C and D
    # (reduced cost 0 at one end of the range) may stay free.
    ps = [P("A", 90, 100_000), P("B", 80, 100_000), P("C", 70, 100_000), P("D", 60, 100_000), P("E", 50, 100_000)]
    cands = check(make_evaluation(ps, envelope_eur=300_000), Opt())
    bound = tight_bound(cands, lp_duals(cands))
    assert bound.value_bound() == 240 * 10_000
    ids = list(cands.table["application_id"])
    fixed = {ids[k]: v for k, v in bound.fixings(240 * 10_000).items()}
    assert fixed["A"] == 1 and fixed["B"] == 1 and fixed["E"] == 0
    assert set(fixed) <= {"A", "B", "C", "D", "E"} and fixed.get("C", 1) == 1 and fixed.get("D", 0) == 0
    # a value above the bound: no portfolio reaches it, nothing is claimed
    assert bound.fixings(240 * 10_000 + 1) == {}


def test_locked_candidate_is_never_fixed_by_the_bound():
    # E (50 points) is locked in: funded whatever its reduced cost; the bound counts it as funded and never lists it.
    ps = [P("A", 90, 100_000), P("B", 80, 100_000), P("C", 70, 100_000), P("E", 50, 100_000)]
    cands = check(make_evaluation(ps, envelope_eur=300_000), Opt(lock_in=frozenset({"E"})))
    bound = tight_bound(cands, lp_duals(cands))
    ids = list(cands.table["application_id"])
    # optimum with E funded: E + the two best (A, B) = 220 points
    assert bound.value_bound() >= 220 * 10_000
    assert "E" not in {ids[k] for k in bound.fixings(220 * 10_000)}


# ---------------------------------------------------------------------------------------------- 2. enumeration

def feasible_portfolios(case, objective: str):
    """Every feasible funded set of the case's candidates with its value (integer units), computed here."""
    projects, envelope, lock_in, lock_out, rules, max_awards = case
    cands = [p for p in projects if p.eligible and p.score is not None and p.id not in lock_out
             and capped_request(p, 120_000, 200_000) >= 70_000]
    award = {p.id: capped_request(p, 120_000, 200_000) for p in cands}
    out = []
    for r in range(len(cands) + 1):
        for combo in itertools.combinations(cands, r):
            ids = frozenset(p.id for p in combo)
            if respects_rules(combo, award, envelope, lock_in, rules, max_awards, envelope):
                value = sum(units(p.score) * (1 if objective == "total_score" else award[p.id]) for p in combo)
                out.append((ids, value))
    return out


def check_bound(case, objective: str, duals: dict) -> None:
    projects, envelope = case[0], case[1]
    cands = check(make_evaluation(projects, envelope_eur=envelope), _params(case, objective=objective))
    if not lagrange.applies(cands):
        return
    bound = lagrange.lagrangian_bound(cands, duals)
    ids = list(cands.table["application_id"])
    portfolios = feasible_portfolios(case, objective)
    for funded, value in portfolios:
        assert D * value <= bound.scaled_bound
        assert bound.penalty([a in funded for a in ids]) <= bound.scaled_bound - D * value
    for _, v in portfolios:  # every threshold a known portfolio reaches
        claims = bound.fixings(v)
        for funded, value in portfolios:
            if value >= v:
                assert all((ids[k] in funded) == bool(x) for k, x in claims.items()), (v, value, funded, claims)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_case(max_n=8), st.sampled_from(["total_score", "score_weighted_award"]))
def test_bound_with_lp_duals_holds_for_every_portfolio(case, objective):
    projects, envelope = case[0], case[1]
    cands = check(make_evaluation(projects, envelope_eur=envelope), _params(case, objective=objective))
    if not lagrange.applies(cands):
        return
    lp = build(cands, relax=True)
    if solve(lp, "highs", 60).status is not SolveStatus.OPTIMAL:
        assert not feasible_portfolios(case, objective)  # an infeasible relaxation: no portfolio at all
        return
    duals = lp_duals(cands)
    check_bound(case, objective, duals)
    check_bound(case, objective, {k: -v for k, v in duals.items()})


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_case(max_n=8), st.sampled_from(["total_score", "score_weighted_award"]),
       st.lists(st.floats(-50.0, 50.0, allow_nan=False), min_size=12, max_size=12))
def test_bound_with_any_multipliers_holds_for_every_portfolio(case, objective, mults):
    # multipliers of the size the LP gives (score units per euro on a euro row, per award on a count row), either sign
    keys = ["envelope", "max_awards", "valid_cut_count"] + [f"group_{m}:{j}" for j in range(2) for m in ("min", "max")]
    per_euro, per_award = (0.4, 4e4) if objective == "total_score" else (4e4, 4e9)
    duals = {k: m * (per_euro if k == "envelope" or k.startswith("group_max") else per_award) for k, m in zip(keys, mults)}
    check_bound(case, objective, duals)


# ---------------------------------------------------------------------------------------------- 3. enumeration

@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_case(max_n=8), st.sampled_from(["total_score", "score_weighted_award"]), st.integers(0, 10**6))
def test_enumeration_sees_every_portfolio_worth_the_target(case, objective, pick):
    projects, envelope = case[0], case[1]
    cands = check(make_evaluation(projects, envelope_eur=envelope), _params(case, objective=objective))
    portfolios = feasible_portfolios(case, objective)
    if not lagrange.applies(cands) or not portfolios:
        return
    lp = build(cands, relax=True)
    assert solve(lp, "highs", 60).status is SolveStatus.OPTIMAL
    bound = tight_bound(cands, lp_duals(cands))
    target = sorted(v for _, v in portfolios)[pick % len(portfolios)]  # the value of some feasible portfolio
    exact = lagrange.enumerate_best(cands, bound, bound.fixings(target), target)
    assert exact is not None
    worth = [(f, v) for f, v in portfolios if v >= target]
    assert exact.portfolios == len(worth)  # every portfolio worth the target, and nothing else
    ids = list(cands.table["application_id"])
    best_value = max(v for _, v in worth)
    spend = {p.id: capped_request(p, 120_000, 200_000) for p in projects}
    top = [f for f, v in worth if v == best_value]
    best_spend = max(sum(spend[a] for a in f) for f in top)
    lexi = max((f for f in top if sum(spend[a] for a in f) == best_spend), key=lambda f: tuple(a in f for a in ids))
    assert exact.value == best_value and exact.tied == (len(top) > 1)
    assert {a for a, x in zip(ids, exact.funded) if x} == lexi


# ---------------------------------------------------------------------------------------------- 4. brute force

@pytest.fixture(params=["enumeration", "milp"])
def tiny_core(request, monkeypatch):
    """One free candidate in the heuristic step, so the proven fixings decide what is left; then either the
    exact enumeration settles it or (enumeration declining) the MILP on the reduced problem."""
    monkeypatch.setattr(optimise, "REDUCE_FROM", 0)  # small cases too (by default the full MILP decides them)
    monkeypatch.setattr(optimise, "CORE_SIZES", (1,))
    if request.param == "milp":
        monkeypatch.setattr(lagrange, "enumerate_best", lambda *a, **k: None)
    return request.param


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(random_case())
def test_reduced_problem_matches_brute_force(tiny_core, case):
    check_against_brute_force(case)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(random_case(max_n=7, rules=False))
def test_reduced_problem_matches_brute_force_score_weighted_award(tiny_core, case):
    check_against_brute_force(case, objective="score_weighted_award")


def test_small_calls_keep_the_full_milp(monkeypatch):
    # Below REDUCE_FROM candidates the reduction does not run (the full MILP is fast there): no relaxation is solved.
    relaxations = []
    real = optimise.milp.solve

    def spy(model, *a, **k):
        relaxations.append(not model.problem.isMIP())
        return real(model, *a, **k)

    monkeypatch.setattr(optimise.milp, "solve", spy)
    ps = [P("A", 90, 100_000), P("B", 80, 100_000), P("C", 70, 100_000)]
    a = allocate(make_evaluation(ps, envelope_eur=200_000), Opt())
    assert set(a.funded_ids) == {"A", "B"} and not any(relaxations)
    monkeypatch.setattr(optimise, "REDUCE_FROM", 0)
    relaxations.clear()
    assert set(allocate(make_evaluation(ps, envelope_eur=200_000), Opt()).funded_ids) == {"A", "B"}
    assert relaxations[0]  # with the threshold lowered, the relaxation comes first


def test_ties_are_settled_on_the_reduced_problem(tiny_core):
    # Envelope 200 000 €.  P0 70 / 120 000, P1 60 / 100 000, P2 50 / 100 000, P3 40 / 80 000, P4 10 / 100 000.
    # {P0, P3} and {P1, P2}: 110 points and 200 000 € each (levels 1 and 2 tie); the named rule prefers P0's.
    # P4 is far below: the bound fixes it at 0, and the tie-break never asks about it.
    ps = [P("P0", 70, 120_000), P("P1", 60, 100_000), P("P2", 50, 100_000), P("P3", 40, 80_000), P("P4", 10, 100_000)]
    a = allocate(make_evaluation(ps, envelope_eur=200_000), Opt())
    assert a.is_optimal and a.other_optimal_portfolios is True
    assert set(a.funded_ids) == {"P0", "P3"} and a.total_awarded_eur == 200_000


# ---------------------------------------------------------------------------------------------- 5. full problem

def generated_call(n: int, seed: int):
    """n applications over the three test regions, scores with two decimals (ties likely), requests in 1 000 €."""
    rng = random.Random(seed)
    regions = ["Bretagne", "Corse", "Normandie"]
    ps = [P(f"G{k:03d}", rng.choice([round(rng.uniform(30, 95), 2), float(rng.randint(40, 90))]),
            rng.choice([rng.randint(70, 130) * 1_000, 100_000, 120_000]), large=rng.random() < 0.15,
            region=rng.choice(regions), submitted=rng.choice(["2021-09-10", "2021-09-20", "2021-10-01"]))
          for k in range(n)]
    envelope = sum(min(p.requested, 200_000 if p.large else 120_000) for p in ps) * rng.choice([30, 45]) // 100
    rules = (GroupRule("region", "Corse", min_count=rng.randint(1, 4), max_share=0.4),
             GroupRule("region", "Bretagne", max_share=0.45), GroupRule("region", "Normandie", min_count=2))
    return make_evaluation(ps, envelope_eur=envelope), rules


@pytest.mark.parametrize("settle", ["enumeration", "milp"])
@pytest.mark.parametrize("rule", ["max_total_score", "max_score_weighted_award"])
@pytest.mark.parametrize("n, seed", [(40, 1), (60, 2), (80, 3)])
def test_reduction_gives_the_full_problems_decision(monkeypatch, settle, rule, n, seed):
    ev, rules = generated_call(n, seed)
    params = Opt(rule=rule, group_rules=rules)
    monkeypatch.setattr(optimise, "REDUCE_FROM", 0)
    monkeypatch.setattr(optimise, "CORE_SIZES", (4,))
    fixed_counts = []
    real_fixings = lagrange.Bound.fixings

    def spy(self, value):
        out = real_fixings(self, value)
        fixed_counts.append(len(out))
        return out

    monkeypatch.setattr(lagrange.Bound, "fixings", spy)
    if settle == "milp":
        monkeypatch.setattr(lagrange, "enumerate_best", lambda *a, **k: None)
    reduced = allocate(ev, params)
    assert fixed_counts and fixed_counts[0] > 0  # the bound fixed candidates: the comparison is not of two full solves
    monkeypatch.setattr(lagrange, "applies", lambda cands: False)
    full = allocate(ev, params)
    assert reduced.status is full.status is SolveStatus.OPTIMAL
    assert reduced.decisions.equals(full.decisions)
    assert reduced.other_optimal_portfolios == full.other_optimal_portfolios
    assert reduced.objective == full.objective


@pytest.mark.parametrize("rule", ["max_total_score", "max_score_weighted_award"])
def test_reduction_without_the_alternative_check(monkeypatch, rule):
    # check_alternatives=False: no enumeration, the MILP levels run on the reduced problem; value and spend are the full
    # problem's (the funded set may differ only between portfolios tied at every level, so it is not compared), and no
    # tie flag is given.
    ev, rules = generated_call(60, 5)
    params = Opt(rule=rule, group_rules=rules, check_alternatives=False)
    monkeypatch.setattr(optimise, "REDUCE_FROM", 0)
    monkeypatch.setattr(optimise, "CORE_SIZES", (4,))
    enumerated = []
    monkeypatch.setattr(lagrange, "enumerate_best", lambda *a, **k: enumerated.append(1))
    reduced = allocate(ev, params)
    assert not enumerated
    monkeypatch.setattr(lagrange, "applies", lambda cands: False)
    full = allocate(ev, params)
    assert reduced.is_optimal and full.is_optimal
    assert reduced.objective == full.objective and reduced.total_awarded_eur == full.total_awarded_eur
    assert reduced.other_optimal_portfolios is None and full.other_optimal_portfolios is None


@pytest.mark.parametrize("rule", ["max_total_score", "max_score_weighted_award"])
def test_enumeration_at_the_optimum_after_the_milp_level_one(monkeypatch, rule):
    # The enumeration declines at the first portfolio's value (forced here); the MILP finds the level-1 optimum on the
    # reduced problem, and the enumeration at that value then decides: same decision as the full problem.
    ev, rules = generated_call(80, 3)
    params = Opt(rule=rule, group_rules=rules)
    monkeypatch.setattr(optimise, "REDUCE_FROM", 0)
    monkeypatch.setattr(optimise, "CORE_SIZES", (2,))
    calls = []
    real = lagrange.enumerate_best

    def declines_first(*a, **k):
        calls.append(a[3])
        return None if len(calls) == 1 else real(*a, **k)

    monkeypatch.setattr(lagrange, "enumerate_best", declines_first)
    reduced = allocate(ev, params)
    assert len(calls) == 2 and calls[1] >= calls[0]  # the second try is at the optimum's value
    monkeypatch.setattr(lagrange, "applies", lambda cands: False)
    full = allocate(ev, params)
    assert reduced.decisions.equals(full.decisions)
    assert reduced.other_optimal_portfolios == full.other_optimal_portfolios and reduced.objective == full.objective
