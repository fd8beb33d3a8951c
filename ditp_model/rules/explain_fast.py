"""Entry gaps and exit margins of a plain knapsack decision without a solver (issue 18).

:func:`ditp_model.rules.explain.forced_optima` asks, for every candidate, the level-1 optimum with
that candidate forced to the opposite of its decision: one MILP re-solve each (about 99 on the
sample).  When the decision is a plain 0/1 knapsack — an optimisation rule, no award cut, no lock, no
group rule, no maximum number of awards — each forced optimum is computed here exactly, in Python
integers, by a small branch and bound (items by decreasing value per euro, Dantzig's bound rounded
down, since every value is an integer: Martello and Toth, *Knapsack Problems*, 1990, ch. 2).  Each
search starts from a good portfolio (the decision itself, repaired, and a greedy filling), so the
bound cuts most branches at once.  Anything else returns ``None`` and the MILP re-solves run as before.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import cmp_to_key

__all__ = ["NODE_LIMIT", "knapsack_optimum", "forced_optima_exact"]

#: Search nodes allowed for one forced optimum before giving up (then the MILP re-solves run).
NODE_LIMIT = 200_000


def knapsack_optimum(costs: list[int], values: list[int], budget: int, start: int = 0,
                     node_limit: int | None = None) -> int | None:
    """Largest ``Σ values[k] x_k`` with ``Σ costs[k] x_k ≤ budget``, ``x`` in {0, 1}, exactly.

    Parameters
    ----------
    costs, values : list of int
        Costs (whole euros, ≥ 0) and values (integer units, any sign) of the items.
    budget : int
        Euros available (≥ 0).
    start : int
        Value of a portfolio known to fit (the search looks for better; 0, the empty one, by default).
    node_limit : int, optional
        Nodes allowed (default :data:`NODE_LIMIT`).

    Returns
    -------
    int or None
        The optimum, or ``None`` when the search gave up.
    """
    limit = NODE_LIMIT if node_limit is None else node_limit
    base = sum(v for c, v in zip(costs, values) if c == 0 and v > 0)
    items = [k for k, (c, v) in enumerate(zip(costs, values)) if 0 < c <= budget and v > 0]
    items.sort(key=cmp_to_key(lambda a, b: values[b] * costs[a] - values[a] * costs[b]))
    vc = [values[k] for k in items]
    cc = [costs[k] for k in items]
    m = len(items)
    pc, pv = [0] * (m + 1), [0] * (m + 1)
    for i in range(m):
        pc[i + 1] = pc[i] + cc[i]
        pv[i + 1] = pv[i] + vc[i]
    best = max(start - base, 0)
    take: list[int] = []
    value, room, i, nodes = 0, budget, 0, 0
    while True:
        nodes += 1
        if nodes > limit:
            return None
        if i < m:
            j = bisect_right(pc, pc[i] + room) - 1
            up = value + pv[j] - pv[i] + (vc[j] * (room - (pc[j] - pc[i])) // cc[j] if j < m else 0)
            if up > best:
                if cc[i] <= room:
                    take.append(i)
                    value += vc[i]
                    room -= cc[i]
                i += 1
                continue
        if value > best:
            best = value
        if not take:
            break
        last = take.pop()
        value -= vc[last]
        room += cc[last]
        i = last + 1
    return base + best


def _greedy(costs, values, budget, order, fixed_in=(), skip=-1) -> int:
    """Value of the greedy filling (``order``), after the items of ``fixed_in``; ``skip`` left out."""
    room = budget - sum(costs[k] for k in fixed_in)
    total = sum(values[k] for k in fixed_in)
    for k in order:
        if k != skip and k not in fixed_in and values[k] > 0 and costs[k] <= room:
            room -= costs[k]
            total += values[k]
    return total


def forced_optima_exact(allocation) -> dict | None:
    """The level-1 optimum with each candidate forced to the opposite of its decision, without a solver.

    Same result as :func:`ditp_model.rules.explain.forced_optima` (application id -> (status,
    objective in integer units: score units, or score units × euros for
    ``max_score_weighted_award``)), or ``None`` when the decision is not a plain knapsack or a
    search gives up.
    """
    from ditp_model.rules.allocation import OPTIMISATION_OBJECTIVES, SolveStatus

    cands = allocation.candidates
    t, p = cands.table, cands.params
    if cands.rule not in OPTIMISATION_OBJECTIVES or p.group_rules or p.max_awards is not None:
        return None
    if len(t) == 0 or bool((t["max_cut_steps"] > 0).any()) or bool(t["locked_in"].any()):
        return None
    if any(int(lo) != int(up) for lo, up in zip(t["lower_eur"], t["upper_eur"])):
        return None
    ids = [str(a) for a in t["application_id"]]
    costs = [int(u) for u in t["upper_eur"]]
    units = [int(s) for s in t["score_units"]]
    values = units if OPTIMISATION_OBJECTIVES[cands.rule] == "total_score" else [s * c for s, c in zip(units, costs)]
    budget = int(cands.available_eur)
    funded_of = dict(zip(allocation.decisions["application_id"], allocation.decisions["funded"]))
    funded = [k for k, a in enumerate(ids) if funded_of.get(a, False)]
    decided = sum(values[k] for k in funded)
    order = sorted(range(len(ids)), key=cmp_to_key(lambda a, b: values[b] * costs[a] - values[a] * costs[b]))
    out = {}
    for k, aid in enumerate(ids):
        rest_c = costs[:k] + costs[k + 1:]
        rest_v = values[:k] + values[k + 1:]
        if k in funded:  # forced out: the best portfolio without it
            start = max(decided - values[k], _greedy(costs, values, budget, order, skip=k))
            best = knapsack_optimum(rest_c, rest_v, budget, start)
        elif costs[k] > budget:
            out[aid] = (SolveStatus.INFEASIBLE, None)
            continue
        else:  # forced in: its value plus the best portfolio in what remains
            room = budget - costs[k]
            start = _greedy(costs, values, budget, order, fixed_in=(k,)) - values[k]
            best = knapsack_optimum(rest_c, rest_v, room, start)
            best = None if best is None else best + values[k]
        if best is None:
            return None
        out[aid] = (SolveStatus.OPTIMAL, best)
    return out
