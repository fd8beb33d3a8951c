"""One module per decision rule, same signature (issue 17; pabutools' ``rules/`` is the model).

Each rule module's function takes the checked candidates and returns an ``Allocation``; the registry
(``RULES``, ``get_rule``) and ``allocate`` reach the same function.  The portfolios below are worked out
by hand (the example of ``rules/optimise.py``'s docstring).
"""

from __future__ import annotations

import inspect

import pytest

from allocation_cases import Project, make_evaluation
from ditp_model.rules import merit_order, optimise, ranking
from ditp_model.rules.allocation import RULES, AllocationParams, allocate, get_rule
from ditp_model.rules.base import Allocation, Candidates
from ditp_model.rules.candidates import check

# Envelope 200 000 €, floor 70 000 €, awards = requests (min_share 1).  A: 90 points, 200 000 € (a large
# collective bid, so its cap is the extended 200 000 €); B and C: 60 points, 100 000 € each.
#   max_total_score:          {B, C} = 120 points against A alone = 90;
#   max_score_weighted_award: {A} = 90 × 200 000 against {B, C} = 60 × 100 000 × 2 (18 000 against 12 000 points·k€);
#   ranking (skip or stop):   A fits (200 000 €), then nothing is left for B or C;
#   merit_order (δ = 0):      {A}: B and C cannot claim money from anyone scoring below them (nobody does),
#                             while under {B, C} A would claim their 200 000 € (a valid complaint).
CASE = [Project("A", 90, 200_000, large=True), Project("B", 60, 100_000), Project("C", 60, 100_000)]
BY_HAND = {"max_total_score": ["B", "C"], "max_score_weighted_award": ["A"], "ranking": ["A"], "merit_order": ["A"]}
FUNCTION = {"merit_order": merit_order.decide_merit_order, "ranking": ranking.decide_ranking,
            "max_total_score": optimise.decide_optimisation, "max_score_weighted_award": optimise.decide_optimisation}


def test_every_rule_has_a_module_function():
    assert set(FUNCTION) == set(RULES) == set(BY_HAND)


@pytest.mark.parametrize("name", sorted(FUNCTION))
def test_same_signature(name):
    sig = inspect.signature(FUNCTION[name])
    assert [p.name for p in sig.parameters.values()] == ["cands"]
    hints = inspect.get_annotations(FUNCTION[name], eval_str=True)
    assert hints == {"cands": Candidates, "return": Allocation}


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_module_registry_and_allocate_give_the_hand_portfolio(name):
    ev = make_evaluation(CASE, envelope_eur=200_000)
    params = AllocationParams(rule=name)
    direct = FUNCTION[name](check(ev, params))
    assert direct.is_optimal and direct.rule == name
    assert sorted(direct.funded_ids) == BY_HAND[name]
    assert direct.total_awarded_eur == 200_000
    assert sorted(get_rule(name).decide(ev).funded_ids) == BY_HAND[name]
    assert sorted(allocate(ev, params).funded_ids) == BY_HAND[name]
