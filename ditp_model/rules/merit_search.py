"""The merit-order decision without award cuts by exact search in integers (no solver).

:func:`merit_search` is a depth-first search in rank order that gives the same
decision as the MILP of :mod:`~ditp_model.rules.milp` (proven: it is the
definition, enumerated); the MILP decides only when awards can be cut or the
search gives up after :data:`MERIT_SEARCH_NODES` nodes.
:mod:`~ditp_model.uncertainty.resolve` re-uses it for the fast re-solve.

The rule's second criterion (spend most, to the euro) is a subset-sum problem
in the ex aequo band; the search proves it with a subset-sum bound
(:class:`_SubsetSumBound`: bitsets of the sums that the undecided applications
can still reach), which is what decides a national call of 10,000 applications
with δ = 0.5 (``benchmarks/RESULTS_national.md``).
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np
import pandas as pd

from ditp_model.rules.base import Candidates
from ditp_model.rules.recheck import _capped_groups, merit_reach


#: Most nodes of one exact merit search before the MILP decides instead.
MERIT_SEARCH_NODES = 200_000


#: Memory for the subset-sum bitsets of one search (64-bit words: 2**24 words = 128 MiB); the least recently
#: used windows are dropped beyond it (and rebuilt if needed again); a window that alone would not fit is not
#: built (that branch is not cut by the bound).
BITSET_WORDS = 2 ** 24

#: Nodes visited before the subset-sum bound is used: a search that ends sooner (the sample: about a hundred) does
#: not pay for its bitsets; the bound cuts only, so when it starts changes no decision.
BOUND_AFTER_NODES = 2_000

#: Unfunded applications (not yet judged) examined at a node to choose the anchor of the bound: the cheapest whose
#: complaint only money can excuse.
ANCHOR_SCAN = 32


def _shift_or(a: np.ndarray, shift: int) -> np.ndarray:
    """``a | (a << shift)`` on a bitset packed in uint64 words (bit i of the set = bit i % 64 of word i // 64), same length."""
    nw = len(a)
    q, r = divmod(shift, 64)
    out = a.copy()
    if q >= nw:
        return out
    if r == 0:
        out[q:] |= a[:nw - q]
    else:
        out[q:] |= a[:nw - q] << np.uint64(r)
        if q + 1 < nw:
            out[q + 1:] |= a[:nw - q - 1] >> np.uint64(64 - r)
    return out


def _any_bit(a: np.ndarray, lo: int, hi: int) -> bool:
    """Some bit of the packed bitset `a` is set in ``[lo, hi]`` (inclusive; bits past the end count as unset)."""
    lo, hi = max(lo, 0), min(hi, 64 * len(a) - 1)
    if lo > hi:
        return False
    wl, wh, bl, bh = lo >> 6, hi >> 6, lo & 63, hi & 63
    if wl == wh:
        return (int(a[wl]) >> bl) & ((2 << (bh - bl)) - 1) != 0
    if int(a[wl]) >> bl or int(a[wh]) & ((2 << bh) - 1):
        return True
    return wh > wl + 1 and bool(a[wl + 1:wh].any())


class _SubsetSumBound:
    """The subset-sum test of :func:`merit_search`: can a completion still spend more than the best portfolio found?

    Holds, built lazily:

    * :meth:`window`: the subset sums of the applications of a window
      ``[k, r]`` that can still be funded (not `first`, in no group whose cap
      leaves less than the smallest award: a *closed* group), one chain of
      packed bitsets (uint64 words) per window end r and set of closed groups,
      built from r down to the positions the search asks for and truncated to
      the money that can still be spent; least recently used chains dropped
      beyond :data:`BITSET_WORDS`;
    * :meth:`tail`: the subset sums below the largest award of the fundable
      applications after a position (Python integers as bitsets, kept every
      :data:`TAIL_CHECKPOINT` positions from the end);
    * :meth:`good`: for each money R left after a window, whether a valid
      completion can spend all of it but less than a given gap
      (:meth:`_steps` gives the argument).

    ``steps`` counts the applications added to a bitset (the search counts
    them as nodes).
    """

    TAIL_CHECKPOINT = 8

    def __init__(self, u: list[int], reach: list[int], first: list[bool], gmask: list[int]):
        self.u, self.reach, self.first, self.m, self.gmask = u, reach, first, len(u), gmask
        self.u_arr = np.asarray(u, np.int64)
        self.first_arr = np.asarray(first, bool)
        self.gmask_arr = np.asarray(gmask, np.int64)
        self.top = max(u, default=0)  # the tail sums that matter are below the largest award
        self.chains: dict[tuple[int, int], list] = {}  # (r, closed) -> [words, lowest k built, {k: bitset}, words held]
        self.words = 0
        self.tail_points: dict[int, dict[int, int]] = {}  # closed -> {p: subset sums (< top) of the fundable after p}
        self.tail_ints: dict[tuple[int, int], int] = {}
        self.step_cache: dict[tuple[int, int, int], list] = {}
        self.good_cache: dict[tuple[int, int, int, int], np.ndarray] = {}
        self.steps = 0
        self.clock = 0
        self.used: dict[tuple[int, int], int] = {}

    def _skip(self, j: int, closed: int) -> bool:
        return self.first[j] or bool(self.gmask[j] & closed)

    def window(self, r: int, k: int, need: int, closed: int) -> np.ndarray | None:
        """Subset sums of the fundable applications at positions k … r (not `first`, no closed group), exact on ``[0, need]``.

        None when the chain would not fit in :data:`BITSET_WORDS` (the caller then cuts nothing).
        """
        key = (r, closed)
        words = need // 64 + 1
        ch = self.chains.get(key)
        if ch is not None and ch[0] >= words and ch[1] <= k:
            self.clock += 1
            self.used[key] = self.clock
            return ch[2][k]
        if words * (r - k + 2) > BITSET_WORDS:
            return None
        self.clock += 1
        self.used[key] = self.clock
        if ch is None or ch[0] < words:
            if ch is not None:
                self.words -= ch[3]
            start = np.zeros(words, np.uint64)
            start[0] = 1
            ch = self.chains[key] = [words, r + 1, {r + 1: start}, words]
            self.words += words
        nw, low, sets, _ = ch
        cur = sets[low]
        for j in range(low - 1, k - 1, -1):
            if not self._skip(j, closed):
                cur = _shift_or(cur, self.u[j])
                self.steps += 1
                ch[3] += nw
                self.words += nw
            sets[j] = cur
        ch[1] = min(low, k)
        if self.words > BITSET_WORDS:
            for old in sorted(self.chains, key=self.used.get):
                if old == key or self.words <= BITSET_WORDS // 2:
                    continue
                self.words -= self.chains.pop(old)[3]
        return sets[k]

    def tail(self, p: int, closed: int) -> int:
        """Subset sums below ``top`` of the fundable applications after position p (bit b of a Python integer)."""
        got = self.tail_ints.get((p, closed))
        if got is not None:
            return got
        points = self.tail_points.setdefault(closed, {self.m - 1: 1})
        q = min(q for q in points if q >= p)
        s = points[q]
        mask = (1 << self.top) - 1
        for j in range(q, p, -1):
            if not self._skip(j, closed):
                s |= (s << self.u[j]) & mask
                self.steps += 1
            if (j - 1) % self.TAIL_CHECKPOINT == 0:
                points[j - 1] = s
        if len(self.tail_ints) > 1024:
            self.tail_ints.clear()
        self.tail_ints[(p, closed)] = s
        return s

    def _steps(self, r: int, closed: int, others: int, limit: int) -> list[tuple[int, int, int]]:
        """``(lo, hi, sums)``: for R in ``[lo, hi]`` left after r (R ≤ `limit`), the money a valid completion can spend after r.

        q0(R), the first application after r that is fundable, whose complaint
        only money can excuse (none of its groups in `others`; ``others == -1``:
        the count may excuse any) and that fits in R: left unfunded, it
        complains unless something within its ex aequo band ``(r, reach[q0]]``
        is funded; funded, it is such an application.  So the money after r is
        a subset sum using at least one application of ``(r, reach[q0]]`` that
        fits in R (``sums``).  Without such a q0: any subset sum.  The steps
        are the records of the smallest eligible award after r.
        """
        key = (r, closed, others)
        got = self.step_cache.get(key)
        if got is not None and got[0] >= limit:
            return got[1]
        reach = self.reach
        wmask = (1 << (limit + 1)) - 1
        fund = ~self.first_arr & ((self.gmask_arr & closed) == 0)
        out, cur = [], self.top
        if others != -1 and r + 1 < self.m:
            elig = fund[r + 1:] & ((self.gmask_arr[r + 1:] & others) == 0)
            vals = np.where(elig, self.u_arr[r + 1:], self.top + 1)
            prev = np.minimum.accumulate(np.concatenate(([self.top + 1], vals)))[:-1]
            for q in (np.flatnonzero(vals < prev) + r + 1).tolist():
                hi, uq = min(cur - 1, limit), self.u[q]
                cur = uq
                if uq > limit:
                    continue
                mask = (1 << (hi + 1)) - 1
                far, near = self.tail(reach[q], closed) & mask, 0
                span = slice(r + 1, reach[q] + 1)
                for j in (np.flatnonzero(fund[span] & (self.u_arr[span] <= hi)) + r + 1).tolist():
                    near = (near | ((near | far) << self.u[j])) & mask
                    self.steps += 1
                out.append((uq, hi, near))
        out.append((0, min(cur - 1, limit), self.tail(r, closed) & wmask))
        if len(self.step_cache) > 4096:
            self.step_cache.clear()
        self.step_cache[key] = (limit, out)
        return out

    def good(self, r: int, closed: int, others: int, gap: int, limit: int) -> np.ndarray:
        """0/1 (uint8) per R in ``[0, top)``: with R left after r, a valid completion can leave less than `gap` unspent."""
        gap = min(gap, self.top + 1)
        key = (r, closed, others, gap)
        got = self.good_cache.get(key)
        if got is not None and len(got) > limit:
            return got
        g, wmask = 0, (1 << (limit + 1)) - 1
        for lo, hi, sums in self._steps(r, closed, others, limit):
            hi = min(hi, limit)
            if hi < lo:
                continue
            sums &= (1 << (hi + 1)) - 1
            width = 1  # smear: bit R set when some sum lies in [R − gap + 1, R]
            while width < gap:
                step = min(width, gap - width)
                sums = (sums | (sums << step)) & wmask
                width += step
            g |= (sums >> lo) << lo & ((1 << (hi + 1)) - 1)
        raw = np.frombuffer(g.to_bytes((limit + 8) // 8 + 1, "little"), np.uint8)
        got = np.unpackbits(raw, bitorder="little")[:limit + 1]
        if len(self.good_cache) > 256:
            self.good_cache.clear()
        self.good_cache[key] = got
        return got

    def can_improve(self, k: int, r1: int, u1: int, spent: int, available: int, best: int, closed: int,
                    others: int) -> bool:
        """Necessary condition for a completion spending in ``[best + 1, available]`` when the unfunded *j1* can only be excused by money.

        The portfolio must then spend T ≥ available − u1 + 1 through ``r1``
        (reach of *j1*), T = spent + a subset sum of the fundable applications
        in ``[k, r1]``, and leave R = available − T < u1, of which a valid
        completion after ``r1`` spends all but less than available − best
        (:meth:`good`).
        """
        lo_t = max(available - u1 + 1, spent)
        need = available - spent
        win = self.window(r1, k, need, closed)
        if win is None:
            return True
        r_max = available - lo_t
        if not _any_bit(win, need - r_max, need):
            return False
        a = need - r_max  # bits of A in [need − r_max, need], i.e. R = need − A from r_max down to 0
        wl, wh = a >> 6, need >> 6
        bits = np.unpackbits(win[wl:wh + 1].view(np.uint8), bitorder="little")[a - 64 * wl:need - 64 * wl + 1]
        return bool((bits[::-1] & self.good(r1, closed, others, available - best, r_max)[:r_max + 1]).any())


def merit_search(upper, reach, first, caps, available: int, max_awards: int | None, *,
                 max_nodes: int = MERIT_SEARCH_NODES, subset_sum_bound: bool = True,
                 bound_after: int = BOUND_AFTER_NODES):
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

    **Subset-sum bound** (`subset_sum_bound`, default on; off only to compare).
    At a node (positions before k decided, `spent` including `first`, best
    spend found B), take an unfunded application j1 not yet judged whose
    complaint neither the count nor a cap can excuse whatever is decided from k
    on (even funding every undecided application up to ``reach[j1]`` keeps the
    count below the maximum and leaves its groups room for it).  In any valid
    completion its complaint then fails for money: T, the money spent through
    ``reach[j1]``, is at least E − u_j1 + 1 (E = `available`), so the money
    left after it, R = E − T, is below u_j1.  T − spent is a subset sum of the
    undecided applications of ``[k, reach[j1]]`` that can still be funded
    (not in a group whose cap leaves less than the smallest award); and if an
    application q0 after ``reach[j1]`` fits in R and only money can excuse it,
    the first such q0 forces a laureate within its own band ``(reach[j1],
    reach[q0]]`` (left unfunded, q0 complains unless money is spent there), so
    the money b spent after ``reach[j1]`` is a subset sum using one of those.
    A completion spending more than B needs T + b in [B + 1, E]; when no such
    pair exists (bitsets, :class:`_SubsetSumBound`), the branch is cut.  Every
    condition is necessary, so the cut removes no portfolio that could spend
    more than B: the first portfolio found at the final best spend is still
    the greatest in rank order, and the decision is the one the search without
    the bound returns (``tests/test_merit_search_bound.py`` checks both against
    the definition enumerated).  The anchor j1 is, among the first
    :data:`ANCHOR_SCAN` unfunded applications not yet judged, the one with the
    smallest award (the earliest on a tie) whose complaint only money can
    excuse: the smaller u_j1, the less money can be left after its band
    (measured on the national call: as many cuts as with the first one added,
    at half the time).  The bound does not require the undecided applications
    of the window cheaper than R to be funded: one whose own band ends after
    ``reach[j1]`` can be excused by money spent after it
    (``tests/test_merit_search_bound.py``, a case by hand); the valid part of
    that condition (the window's applications whose reach is ``reach[j1]``)
    forced nothing on the national call that needs it (``RESULTS_national.md``).

    A *node* is a position visited by the search (cut or not; the head of the
    rank order funded before the search — `first` and the presolved prefix —
    is not visited) or an application added to one of the bound's bitsets;
    `max_nodes` counts both.

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
        Nodes (see above) before the search gives up.
    subset_sum_bound : bool
        Use the subset-sum bound (same decision; False only to compare or measure).
    bound_after : int
        Nodes visited before the bound is used (:data:`BOUND_AFTER_NODES`; 0: from the start, as the tests do).

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
    # undecided positions at ≥ k (an upper bound of the awards still possible between two positions)
    usuf = [0] * (m + 1)
    for k in range(m - 1, -1, -1):
        usuf[k] = usuf[k + 1] + (0 if first[k] else 1)
    gmask = [sum(1 << g for g in gs) for gs in groups_of]
    umin, top = min(u, default=0), max(u, default=0)
    # group masks are 64-bit integers in the bound's arrays: beyond 62 capped groups, no bound (the search stays exact)
    use_bound = subset_sum_bound and len(caps) <= 62
    bound = None  # built when the search has visited `bound_after` nodes
    preach: list[int] = []  # reach of each pending application (nondecreasing, like pending)

    def room_besides_money(j: int, lo: int) -> bool:
        """Even if every undecided application in ``[lo, reach[j]]`` is funded, j still fits the count and its groups' caps.

        Then, whatever is decided from `lo` on, j's complaint can only fail for lack of money.
        """
        r = reach[j]
        if max_awards is not None and count + usuf[lo] - usuf[r + 1] >= max_awards:
            return False
        return all(cap[g] - gspent[g] - (gsuffix[g][lo] - gsuffix[g][r + 1]) >= u[j] for g in groups_of[j])

    def can_improve(k: int) -> bool:
        """The subset-sum bound at a node (position k next): False when no completion spends more than the best found."""
        lo = bisect_left(preach, k)
        anchor = None
        for idx in range(lo, min(lo + ANCHOR_SCAN, len(pending))):
            j = pending[idx]
            if (anchor is None or u[j] < u[anchor]) and room_besides_money(j, k):
                anchor = j
        if anchor is None:
            return True
        closed = sum(1 << g for g in range(len(cap)) if cap[g] - gspent[g] < umin)
        return bound.can_improve(k, reach[anchor], u[anchor], spent, available, best_spend, closed, others(k, anchor))

    def others(k: int, j: int) -> int:
        """Groups whose cap may excuse a complaint after reach[j] when j is an anchor (-1: the count may).

        Through any position after r = reach[j], a completion seen by the bound
        has spent at most the envelope minus the money so far in [k, r] and
        less than u_j after r; a group is safe when its cap leaves at least the
        largest award above that.
        """
        r = reach[j]
        if max_awards is not None and (umin <= 0 or count + usuf[k] - usuf[r + 1] + (u[j] - 1) // umin >= max_awards):
            return -1
        left = available - spent
        return sum(1 << g for g in range(len(cap))
                   if cap[g] - gspent[g] - min(gsuffix[g][k] - gsuffix[g][r + 1], left) - (u[j] - 1) < top)

    def surely_complains(j: int, k: int) -> bool:
        """Even funding every undecided application up to reach[j] leaves room for j (envelope, count, its groups)."""
        if available - spent - (suffix[k + 1] - suffix[reach[j] + 1]) < u[j]:
            return False
        return room_besides_money(j, k + 1)

    def ok(k: int) -> bool:
        for j in checks[k]:
            if not x[j] and complains(j):
                return False
        # pending is in rank order, hence in order of reach: the ones still to judge are at its end
        room = available - spent
        for idx in range(len(pending) - 1, -1, -1):
            j = pending[idx]
            if reach[j] <= k:
                break
            if u[j] <= room and surely_complains(j, k):  # more than the money left: no certain complaint
                return False
        return True

    nodes = 0
    # the head of the rank order funded before the search (`first` and the presolved prefix) holds no decision and
    # no complaint to judge: the search starts after it
    start = next((k for k in range(m) if not first[k]), m)
    # frames: [k, stage, funded_here, pending_len]
    stack = [[start, 0, False, 0]]
    while stack:
        fr = stack[-1]
        k, stage = fr[0], fr[1]
        if stage == 0:
            nodes += 1
            if nodes + (bound.steps if bound else 0) > max_nodes:
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
            if use_bound and pending and nodes > bound_after:
                if bound is None:
                    bound = _SubsetSumBound(u, reach, first, gmask)
                if not can_improve(k):
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
                preach.append(reach[k])
            if ok(k):
                stack.append([k + 1, 0, False, 0])
            continue
        if stage == 2:
            del pending[fr[3]:]
            del preach[fr[3]:]
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
