"""Entry gaps and exit margins without re-solves (issue 18): ``rules/explain_fast.py``.

The MILP re-solves of :func:`ditp_model.rules.explain.forced_optima` (HiGHS, the implementation before
issue 18) are kept as the reference: with the exact route switched off they run as before, and both
must give the same forced optima and the same explanation table, on the sample for both optimisation
rules and on random small calls.  The branch and bound itself is checked against enumeration.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pandas as pd
import pytest

from allocation_cases import Opt, Project, make_evaluation
from ditp_model.inputs.io import load_inputs
from ditp_model.rules import explain_fast
from ditp_model.rules.allocation import allocate, get_rule
from ditp_model.rules.explain import explain, forced_optima
from ditp_model.rules.explain_fast import forced_optima_exact, knapsack_optimum
from ditp_model.scoring.pipeline import evaluate

ROOT = Path(__file__).resolve().parents[1]


def _enumerate(costs, values, budget):
    return max(sum(v for v, xi in zip(values, x) if xi) for x in itertools.product((0, 1), repeat=len(costs))
               if sum(c for c, xi in zip(costs, x) if xi) <= budget)


def test_knapsack_optimum_matches_enumeration():
    rng = random.Random(3)
    for _ in range(500):
        n = rng.randint(0, 11)
        costs = [rng.choice([0, rng.randint(1, 9), rng.randint(1, 40)]) for _ in range(n)]
        values = [rng.choice([0, rng.randint(-5, 30), rng.randint(1, 10**6)]) for _ in range(n)]
        budget = rng.randint(0, 60)
        best = _enumerate(costs, values, budget)
        assert knapsack_optimum(costs, values, budget) == best
        start = rng.randint(0, best)  # any value of a fitting portfolio is at most the optimum
        assert knapsack_optimum(costs, values, budget, start) == best


def test_knapsack_optimum_gives_up_within_its_node_limit():
    assert knapsack_optimum([3, 4, 5, 6], [3, 4, 5, 6], 10, node_limit=1) is None


def _reference(allocation, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(explain_fast, "forced_optima_exact", lambda allocation: None)
        return forced_optima(allocation)


def _same_explanations(ev, alloc, monkeypatch):
    exact = forced_optima_exact(alloc)
    assert exact is not None
    assert exact == _reference(alloc, monkeypatch)
    new = explain(ev, alloc).table
    with monkeypatch.context() as m:
        m.setattr(explain_fast, "forced_optima_exact", lambda allocation: None)
        old = explain(ev, alloc).table
    pd.testing.assert_frame_equal(new, old, check_exact=True)


@pytest.fixture(scope="module")
def sample():
    inputs = load_inputs(ROOT / "data" / "appel_2021.toml", ROOT / "data" / "candidatures_exemple.csv",
                         ROOT / "data" / "evaluations_exemple.csv")
    return evaluate(inputs)


@pytest.mark.parametrize("rule", ["max_total_score", "max_score_weighted_award"])
def test_sample_explanations_are_those_of_the_re_solves(sample, rule, monkeypatch):
    _same_explanations(sample, get_rule(rule).decide(sample), monkeypatch)


@pytest.mark.parametrize("seed", range(12))
def test_random_calls_explanations_are_those_of_the_re_solves(seed, monkeypatch):
    rng = random.Random(100 + seed)
    n = rng.randint(3, 14)
    projects = [Project(f"P{k}", round(rng.uniform(20, 90), rng.choice([0, 2, 4])),
                        rng.randrange(70_000, 120_001, rng.choice([1, 1_000])),
                        f"2021-09-{rng.randint(1, 28):02d}") for k in range(n)]
    ev = make_evaluation(projects, envelope_eur=rng.randrange(100_000, 900_000, 5_000))
    objective = rng.choice(["total_score", "score_weighted_award"])
    _same_explanations(ev, allocate(ev, Opt(objective=objective)), monkeypatch)


def test_declines_what_is_not_a_plain_knapsack(sample):
    from ditp_model.rules.allocation import AllocationParams

    alloc = get_rule("max_total_score").decide(sample, AllocationParams(rule="max_total_score", max_awards=20))
    assert forced_optima_exact(alloc) is None
    alloc = get_rule("max_total_score").decide(sample, AllocationParams(rule="max_total_score", min_share=0.8))
    assert forced_optima_exact(alloc) is None
