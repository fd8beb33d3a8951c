"""The merit-order decision without award cuts by exact search in integers (no solver).

:func:`merit_search` is a depth-first search in rank order that gives the same
decision as the MILP of :mod:`~ditp_model.rules.milp` (proven: it is the
definition, enumerated); the MILP decides only when awards can be cut or the
search gives up after :data:`MERIT_SEARCH_NODES` nodes.
:mod:`~ditp_model.uncertainty.resolve` re-uses it for the fast re-solve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ditp_model.rules.base import Candidates
from ditp_model.rules.recheck import _capped_groups, merit_reach


#: Most nodes of one exact merit search before the MILP decides instead.
MERIT_SEARCH_NODES = 200_000


def merit_search(upper, reach, first, caps, available: int, max_awards: int | None, *,
                 max_nodes: int = MERIT_SEARCH_NODES):
    """The merit-order decision without award cuts, by exact depth-first search in rank order (integers only).

    Among the portfolios that fund every application of `first` (locks, and
    the applications funded first for a minimum-count rule), respect the
    envelope, the groups' caps and the maximum number of awards, and leave no
    valid complaint at δ (DESIGN.md, "The decision rules": an unfunded *j*
    complains when its award fits in the envelope, the count and its groups'
    caps once the money of the applications scoring at least s_j − δ, and of
    `first`, is counted), the one that spends most, then the greatest funded
    vector in rank order (position by position, best placed first: the named
    tie-break of :func:`~ditp_model.rules.allocation.allocate`).

    The search decides the applications in rank order, "funded" before "not
    funded", so portfolios are met in decreasing rank order.  A branch is cut
    when an unfunded application's complaint is certain — its last ex aequo
    ``reach[j]`` is decided and the complaint is valid, or even funding every
    undecided application up to ``reach[j]`` would leave room for it — or when
    it cannot spend more than the best portfolio found (the first found at a
    given spend is the greatest in rank order).  With δ = 0, no exact score
    tie and no cut, the search is the ranking rule with skip, locks first (one
    path, n steps).  Iterative (no recursion limit).

    Parameters
    ----------
    upper : sequence of int
        Award of each application (rank order): the capped request.
    reach : sequence of int
        Last rank position scoring at least s_j − δ (:func:`merit_reach`).
    first : sequence of bool
    caps : list of (mask, cap)
        Maximum-share rules: membership (rank order) and cap in euros.
    available : int
    max_awards : int or None
    max_nodes : int

    Returns
    -------
    list of int or None
        0/1 per rank position; None when no portfolio satisfies the rules or
        the search exceeds `max_nodes`.
    """
    u = [int(v) for v in upper]
    m = len(u)
    first = [bool(v) for v in first]
    reach = [int(r) for r in reach]
    # Presolve: an application that would fit even if everything scoring at least s_j − δ were funded must be
    # funded (leaving it out is a certain complaint).  These form a prefix of the rank order (reach and the
    # cumulated requests only grow); they are decided before the search, like `first`.
    base = sum(u[j] for j in range(m) if first[j])
    n_base = sum(first)
    gbase = [sum(u[j] for j in range(m) if first[j] and mask[j]) for mask, _ in caps]
    cum, gcum, acc, gacc = [], [], 0, [0] * len(caps)
    for j in range(m):
        if not first[j]:
            acc += u[j]
            for g, (mask, _) in enumerate(caps):
                if mask[j]:
                    gacc[g] += u[j]
        cum.append(acc)
        gcum.append(list(gacc))
    for j in range(m):
        if first[j]:
            continue
        r = reach[j]
        if base + cum[r] > available or (max_awards is not None and n_base + r + 1 > max_awards):
            break
        if any(mask[j] and gbase[g] + gcum[r][g] > int(c) for g, (mask, c) in enumerate(caps)):
            break
        first[j] = True
    checks = [[] for _ in range(m)]
    for j in range(m):
        if not first[j]:
            checks[reach[j]].append(j)
    groups_of = [[g for g, (mask, _) in enumerate(caps) if mask[j]] for j in range(m)]
    cap = [int(c) for _, c in caps]
    spent = sum(u[j] for j in range(m) if first[j])
    count = sum(first)
    gspent = [sum(u[j] for j in range(m) if first[j] and mask[j]) for mask, _ in caps]
    if spent > available or (max_awards is not None and count > max_awards) or any(g > c for g, c in zip(gspent, cap)):
        return None
    # suffix[k]: money of the undecided (not `first`) applications at positions ≥ k
    suffix = [0] * (m + 1)
    for k in range(m - 1, -1, -1):
        suffix[k] = suffix[k + 1] + (0 if first[k] else u[k])
    # smallest undecided request at positions ≥ k: when even it does not fit, nothing more can be funded
    minsuffix = [0] * (m + 1)
    minsuffix[m] = available + 1
    for k in range(m - 1, -1, -1):
        minsuffix[k] = minsuffix[k + 1] if first[k] else min(minsuffix[k + 1], u[k])
    x = [1 if f else 0 for f in first]
    best_spend, best_x = -1, None
    pending: list[int] = []  # unfunded, complaint not yet judged

    def complains(j: int) -> bool:
        """j's complaint is valid now (its reach is decided)."""
        uj = u[j]
        if available - spent < uj:
            return False
        if max_awards is not None and count >= max_awards:
            return False
        return all(cap[g] - gspent[g] >= uj for g in groups_of[j])

    # the same per capped group: money of the undecided members at positions ≥ k
    gsuffix = []
    for mask, _ in caps:
        gs_ = [0] * (m + 1)
        for k in range(m - 1, -1, -1):
            gs_[k] = gs_[k + 1] + (u[k] if mask[k] and not first[k] else 0)
        gsuffix.append(gs_)

    def surely_complains(j: int, k: int) -> bool:
        """Even funding every undecided application up to reach[j] leaves room for j (envelope, count, its groups)."""
        r = reach[j]
        uj = u[j]
        if available - spent - (suffix[k + 1] - suffix[r + 1]) < uj:
            return False
        if max_awards is not None and count + (r - k) >= max_awards:
            return False
        return all(cap[g] - gspent[g] - (gsuffix[g][k + 1] - gsuffix[g][r + 1]) >= uj for g in groups_of[j])

    def ok(k: int) -> bool:
        for j in checks[k]:
            if not x[j] and complains(j):
                return False
        # pending is in rank order, hence in order of reach: the ones still to judge are at its end
        for idx in range(len(pending) - 1, -1, -1):
            j = pending[idx]
            if reach[j] <= k:
                break
            if surely_complains(j, k):
                return False
        return True

    nodes = 0
    # frames: [k, stage, funded_here, pending_len]
    stack = [[0, 0, False, 0]]
    while stack:
        fr = stack[-1]
        k, stage = fr[0], fr[1]
        if stage == 0:
            nodes += 1
            if nodes > max_nodes:
                return None
            if k == m:
                if spent > best_spend:
                    best_spend, best_x = spent, list(x)
                stack.pop()
                continue
            if min(available, spent + suffix[k]) <= best_spend:
                stack.pop()
                continue
            if minsuffix[k] > available - spent or (max_awards is not None and count >= max_awards):
                # nothing more can be funded: every later application stays unfunded, and none of them can
                # complain (no room); the applications passed over earlier are judged on the final money
                if spent > best_spend and all(reach[j] < k or not complains(j) for j in pending):
                    best_spend, best_x = spent, list(x)
                stack.pop()
                continue
            fr[3] = len(pending)
            if first[k]:
                fr[1] = 3
                if ok(k):
                    stack.append([k + 1, 0, False, 0])
                continue
            fr[1] = 1
            uk = u[k]
            gs = groups_of[k]
            if spent + uk <= available and (max_awards is None or count < max_awards) and all(gspent[g] + uk <= cap[g] for g in gs):
                x[k] = 1
                spent += uk
                count += 1
                for g in gs:
                    gspent[g] += uk
                fr[2] = True
                if ok(k):
                    stack.append([k + 1, 0, False, 0])
            continue
        if stage == 1:
            if fr[2]:
                uk = u[k]
                x[k] = 0
                spent -= uk
                count -= 1
                for g in groups_of[k]:
                    gspent[g] -= uk
                fr[2] = False
            fr[1] = 2
            if reach[k] > k:
                pending.append(k)
            if ok(k):
                stack.append([k + 1, 0, False, 0])
            continue
        if stage == 2:
            del pending[fr[3]:]
        stack.pop()
    return best_x


def _first_fits(cands: Candidates) -> bool:
    """The locked-in candidates alone respect the envelope, the maximum number of awards and the groups' caps (integers)."""
    t = cands.table
    first = t["locked_in"].to_numpy(bool)
    lower = t["lower_eur"].to_numpy(np.int64)
    if int(lower[first].sum()) > cands.available_eur:
        return False
    if cands.params.max_awards is not None and int(first.sum()) > cands.params.max_awards:
        return False
    return all(int(lower[members][first[members]].sum()) <= c for _, members, c in _capped_groups(cands))


def _merit_by_search(cands: Candidates) -> pd.DataFrame | None:
    """The merit-order decision by :func:`merit_search` (no cuts), or None when the search cannot decide it."""
    t = cands.table
    if bool((t["max_cut_steps"] > 0).any()):
        return None
    caps = [(np.isin(np.arange(len(t)), members), c) for _, members, c in _capped_groups(cands)]
    x = merit_search(t["upper_eur"].tolist(), merit_reach(cands).tolist(), t["locked_in"].tolist(), caps,
                     cands.available_eur, cands.params.max_awards)
    if x is None:
        return None
    awards = [int(u) * v for u, v in zip(t["upper_eur"], x)]
    return pd.DataFrame({"application_id": t["application_id"], "funded": [bool(v) for v in x],
                         "award_eur": pd.array(awards, dtype="int64"), "cut_steps": 0})
