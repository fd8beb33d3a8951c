"""The light decision route of ``ditp-model pabulib`` (issue 18): exact, in integers, without pandas or a solver.

A Pabulib instance is decided by :func:`ditp_model.rules.pabulib.allocate_pabulib` (the allocation
engine: pandas, PuLP, HiGHS).  Its decision is the lexicographic optimum, over funded sets ``x``
within the budget ``B`` (costs ``c_k``, integer score units ``s_k``, projects at positions
``k = 0 … N−1`` in the order "higher score, then id"), of

1. the total score ``V = Σ s_k x_k``;
2. the money spent ``W = Σ c_k x_k``;
3. the tie-break weight ``T = Σ (N − k) x_k``;

and, here, 4. the funded vector read in position order, greatest first (the named tie-break of
:data:`~ditp_model.scoring.aggregate.TIE_BREAK_RULE`), which settles what level 3 leaves open.

Settled inside one objective in exact integer units: because ``0 ≤ W ≤ B``, ``0 ≤ T ≤ N(N+1)/2``
and the funded vector read as a binary number ``L = Σ 2^(N−1−k) x_k`` lies in ``[0, 2^N)``, the
single integer objective ``Z = ((V·(B+1) + W)·(T_max+1) + T)·2^N + L`` orders funded sets exactly as
the four levels do, and distinct sets have distinct ``Z``: the optimum is unique, with no tie left
to prove.  ``Z`` is maximised by depth-first branch and bound on the 0/1 knapsack (items by
decreasing ``z_k / c_k``, Dantzig's bound from prefix sums: Martello and Toth, *Knapsack Problems*,
1990, ch. 2), in Python integers: no rounding anywhere.  The search gives up after a number of nodes
(:data:`NODE_LIMIT`) and then the caller runs the engine.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from decimal import Decimal
from functools import cmp_to_key

from ditp_model.inputs.pabulib_light import LightInstance
from ditp_model.inputs.pabulib_text import _decimal_places, _fmt, _scaled

__all__ = ["NODE_LIMIT", "best_funded_set", "allocate_pabulib_light"]

#: Nodes of the branch and bound before it gives up, up to 1,000 projects; above, scaled down in
#: proportion (a node costs more with longer integers), so that giving up costs about 2 s here and the
#: engine then decides (measured: 1,000 synthetic approval projects need 1.1 million nodes, 2 s; 10,000
#: are not settled within 8 million nodes, so 200,000 nodes, about 2 s, are spent before the engine).
NODE_LIMIT = 2_000_000

#: Name given in the ``solver`` field of the result.
EXACT_NAME = "recherche exacte en entiers, séparation et évaluation"


def best_funded_set(costs: list[int], units: list[int], budget: int,
                    node_limit: int | None = None) -> list[int] | None:
    """The lexicographic optimum (score, spend, tie-break weight, funded vector) of a 0/1 knapsack.

    Parameters
    ----------
    costs : list of int
        Cost of each item, in whole units (≥ 0), in position order (position 0 is placed first).
    units : list of int
        Score of each item in integer units (any sign), same order.
    budget : int
        Budget, same units as ``costs`` (≥ 0).
    node_limit : int, optional
        Search nodes allowed (default :data:`NODE_LIMIT`, scaled down above 1,000 items).

    Returns
    -------
    list of int or None
        Positions funded, increasing; ``None`` when the search gave up (no decision).
    """
    n = len(costs)
    node_limit = NODE_LIMIT * 1000 // max(n, 1000) if node_limit is None else node_limit
    t_max = n * (n + 1) // 2
    m_w, m_t, m_l = budget + 1, t_max + 1, 1 << n
    z = [((s * m_w + c) * m_t + (n - k)) * m_l + (1 << (n - 1 - k)) for k, (c, s) in enumerate(zip(costs, units))]
    forced = [k for k in range(n) if costs[k] == 0 and z[k] > 0]
    free = [k for k in range(n) if 0 < costs[k] <= budget and z[k] > 0]

    def by_ratio(a: int, b: int) -> int:  # z_a / c_a against z_b / c_b, exactly
        left, right = z[a] * costs[b], z[b] * costs[a]
        return -1 if left > right else (1 if left < right else 0)

    free.sort(key=cmp_to_key(by_ratio))
    zc = [z[k] for k in free]
    cc = [costs[k] for k in free]
    m = len(free)
    sc = [units[k] for k in free]
    m_v = m_w * m_t * m_l  # weight of one score unit in z
    pc, pz, ps = [0] * (m + 1), [0] * (m + 1), [0] * (m + 1)
    for i in range(m):
        pc[i + 1] = pc[i] + cc[i]
        pz[i + 1] = pz[i] + zc[i]
        ps[i + 1] = ps[i] + sc[i]

    def bound(i: int, room: int, value: int, best: int) -> bool:
        """Whether items i … m−1, within ``room``, may lift ``value`` above ``best`` (Dantzig's bounds).

        Two bounds from the same LP relaxation: on the score alone, rounded down (scores are integers:
        a branch whose score cannot reach the best score is cut even when its fractional bound exceeds it),
        then on ``Z``.  The order by ``z/c`` refines the order by ``s/c`` (the score's weight in ``z``
        exceeds what the lower levels can add), so both are the LP optimum along one order.
        """
        j = bisect_right(pc, pc[i] + room) - 1  # items i … j−1 fit whole
        rest = room - (pc[j] - pc[i])
        v_up = (value // m_v) + ps[j] - ps[i] + (sc[j] * rest // cc[j] if j < m else 0)
        if v_up < best // m_v:
            return False
        return value + pz[j] - pz[i] + (zc[j] * rest // cc[j] if j < m else 0) > best

    # Depth-first search: take item i when it fits, else skip it; backtrack on bound.
    best_value, best_take = 0, []  # the empty set (Z = 0) to start: every free item has z > 0
    take: list[int] = []  # indices (in `free`) taken on the current path
    value, room, i, nodes = 0, budget, 0, 0
    while True:
        nodes += 1
        if nodes > node_limit:
            return None
        descend = i < m and bound(i, room, value, best_value)
        if descend:
            if cc[i] <= room:
                take.append(i)
                value += zc[i]
                room -= cc[i]
            i += 1
            continue
        if value > best_value:  # a feasible set (a leaf, or a node whose bound failed)
            best_value, best_take = value, list(take)
        if not take:
            break
        last = take.pop()  # its "skip" branch
        value -= zc[last]
        room += cc[last]
        i = last + 1  # the top of the loop bounds this branch and backtracks again when it cannot win
    chosen = sorted(forced + [free[k] for k in best_take])
    return chosen


def allocate_pabulib_light(instance: LightInstance, node_limit: int | None = None) -> dict | None:
    """Decide a Pabulib instance read by :func:`~ditp_model.inputs.pabulib_light.read_pabulib_light`.

    Same result as :func:`ditp_model.rules.pabulib.allocate_pabulib` (same keys and values; the
    ``solver`` field names this exact search), or ``None`` when this route declines: a score with
    more than four decimals, scores whose floating-point images would not order or scale as the
    engine's, or the search giving up; the caller then runs the engine.

    Returns
    -------
    dict or None
        ``file``, ``status`` (``optimal``), ``selected`` (ids in file order), ``total_cost`` (str,
        exact), ``total_score`` (str, exact), ``budget``, ``currency``, ``vote_type``,
        ``score_rule``, ``solver``, ``seconds``.
    """
    ids, scores = instance.project_ids, instance.scores
    places = max((_decimal_places(v) for v in scores.values()), default=0)
    if places > 4:
        return None
    unit = 10**places
    # The engine orders by the float score then the id, and scales float scores: decline where that differs.
    distinct = set(scores.values())
    if len({float(v) for v in distinct}) != len(distinct):
        return None
    units_of = {pid: _scaled(scores[pid], places) for pid in ids}
    if any(abs(u) >= 2**52 or u != round(float(scores[pid]) * unit) for pid, u in units_of.items()):
        return None
    cost_places = max((_decimal_places(v) for v in (*instance.costs, instance.budget)), default=0)
    costs_of = {pid: _scaled(c, cost_places) for pid, c in zip(ids, instance.costs)}
    budget = _scaled(instance.budget, cost_places)
    order = sorted(ids, key=lambda p: (-scores[p], p))
    t0 = time.perf_counter()
    chosen = best_funded_set([costs_of[p] for p in order], [units_of[p] for p in order], budget, node_limit)
    seconds = time.perf_counter() - t0
    if chosen is None:
        return None
    funded = {order[k] for k in chosen}
    spent = sum(costs_of[p] for p in funded)
    if spent > budget or any(costs_of[p] < 0 for p in funded):  # re-checked in integers
        raise RuntimeError(f"recherche exacte : dépense {spent} au-delà du budget {budget}")
    selected = [p for p in ids if p in funded]
    return {"file": str(instance.path), "status": "optimal", "solver": EXACT_NAME,
            "budget": _fmt(instance.budget), "currency": instance.currency, "vote_type": instance.vote_type,
            "score_rule": instance.score_rule, "seconds": round(seconds, 4), "selected": selected,
            "total_cost": _fmt(Decimal(spent) / 10**cost_places),
            "total_score": _fmt(sum((scores[p] for p in selected), Decimal(0)))}
