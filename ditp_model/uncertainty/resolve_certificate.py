"""The certificate of :class:`~ditp_model.uncertainty.resolve.ScoreResolver`: a lexicographic optimum proven without a MILP solve.

A mixin of :class:`~ditp_model.uncertainty.resolve.ScoreResolver` (its steps
« bound, fix, enumerate, meet in the middle », described in that class's
docstring), kept in its own module so that the resolver reads in named parts:
the LP relaxation's duals bound every portfolio in exact integers
(:meth:`_bound`), projects whose penalty exceeds the gap are fixed
(:meth:`_fix`), and the portfolios left are enumerated (:meth:`_enumerate`) or
joined by meeting in the middle (:meth:`_meet_in_the_middle`).  It uses the
resolver's arrays and HiGHS objects (``self._lp``, ``self._h``, ``self._upper``…).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ditp_model.rules.allocation import AllocationError

__all__ = ["CertificateSteps"]

#: Most partial portfolios kept by one enumeration (times the number of rules, see ``_enumerate``).
_ENUM_CELLS = 6_000_000
_ENUM_MAX = 250_000


class CertificateSteps:
    """Certificate steps of :class:`~ditp_model.uncertainty.resolve.ScoreResolver` (mixin)."""

    def _feasible(self, x: np.ndarray) -> bool:
        act = self._M[:, :self.n] @ x
        return bool(((act >= self._rlo) | ~self._fin_lo).all() and ((act <= self._rhi) | ~self._fin_hi).all())

    def _bound(self, c: np.ndarray, y: np.ndarray):
        """Exact Lagrangian bound for multipliers ``y`` (rounded to multiples of 2**-k); None if too large for int64.

        Returns ``(L, d, D)``: for every portfolio x satisfying the rows,
        ``D · value(x) ≤ L − Σ_j |d_j| · |x_j − [d_j > 0]|`` (all exact integers).
        """
        cmax = int(np.abs(c).max(initial=0))
        ymax = float(np.abs(y).max(initial=0.0))
        m, n = self._M.shape
        for k in range(30, -1, -1):
            D = 2**k
            Y = int(ymax * D) + 2
            col = D * cmax + Y * self._colabs
            if Y <= 2**60 and col <= 2**60 and m * Y * self._rowb + n * col <= 2**61:
                break
        else:
            return None
        yi = np.rint(y * D).astype(np.int64)
        yi[(yi > 0) & ~self._fin_hi] = 0  # a multiplier only on the side where the row has a bound
        yi[(yi < 0) & ~self._fin_lo] = 0
        rows = int(np.where(yi > 0, yi * self._rhi, yi * self._rlo).sum())
        d = D * c - yi @ self._M
        return rows + int(d[d > 0].sum()), d, D

    def _certified(self, levels: list[np.ndarray], what: str):
        """Levels 1–3 proven by the Lagrangian bound and an exact enumeration.

        Returns ``(funded, method)``, ``"tie"`` (two portfolios equal at every
        level), None (no usable bound: plain HiGHS path), or, when there are
        too many portfolios to enumerate, the column values of the level-1
        MILP solve already made, with the projects the bound settles fixed in
        the MILP (the HiGHS path goes on from there; the caller frees them).
        """
        import highspy

        c, spend, tie = levels
        n = self.n
        lp = self._lp
        lp.clearSolver()
        lp.changeColsCost(n, self._cols, c.astype(np.float64))
        lp.run()
        if lp.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = lp.getSolution()
        y = np.asarray(sol.row_dual, dtype=np.float64)
        x_lp = np.asarray(sol.col_value, dtype=np.float64)
        if not (np.isfinite(y).all() and np.isfinite(x_lp).all()):
            return None
        bounds = [b for b in (self._bound(c, y), self._bound(c, -y)) if b is not None]
        if not bounds:
            return None
        L, d, D = min(bounds, key=lambda b: Fraction(b[0], b[2]))
        penalty = np.abs(d)
        favoured = (d > 0).astype(np.int64)
        # The best portfolio known: the committee's optimum, or the LP solution rounded down and completed greedily.
        x_best = max((x for x in (self._ref_x, self._greedy(c, x_lp)) if x is not None), key=lambda x: int(c @ x))

        def gap_of(x) -> int:  # every portfolio at least as good as x has Σ penalties ≤ gap
            g = L - D * int(c @ x)
            if g < 0:
                raise AllocationError(f"{what} : borne de Lagrange inférieure à une solution réalisable (calcul à revoir)")
            return g

        gap = gap_of(x_best)
        ranked = np.sort(penalty[penalty <= gap])
        budget = min(gap, int(ranked[min(15, len(ranked) - 1)])) if len(ranked) else gap
        while True:  # iterative deepening: each better portfolio found narrows the gap
            out = self._enumerate(c, spend, tie, penalty, favoured, budget, L, D)
            if isinstance(out, np.ndarray):
                return out, "certified"
            if out == "tie":
                return "tie"
            if isinstance(out, tuple):  # ("grow", a better portfolio)
                out, x = out
                if int(c @ x) > int(c @ x_best):
                    x_best, gap = x, gap_of(x)
            if out == "grow" and budget < gap:
                budget = min(gap, 2 * budget + 1)
            elif out == "grow":
                return None  # cannot happen: x_best lies within the gap
            else:
                break
        # Too many portfolios: one MILP solve for level 1, the projects the bound settles fixed (reduced-cost fixing).
        self._fix(penalty > gap, favoured)
        self._h.clearSolver()
        level1 = self._run(levels[0], x_best.astype(np.float64), f"{what}, niveau 1")[0]
        x1, _ = self._read_back(level1, what)
        if not self._feasible(x1):
            raise AllocationError(f"{what} : la solution du solveur ne respecte pas les règles (vérification en entiers)")
        if int(c @ x1) < int(c @ x_best):
            raise AllocationError(f"{what} : optimum du niveau 1 inférieur à une solution connue (vérification en entiers)")
        gap = gap_of(x1)
        out = self._meet_in_the_middle(c, spend, tie, penalty, favoured, gap, int(c @ x1))
        if isinstance(out, np.ndarray):
            return out, "highs+certified"
        if out == "tie":
            return "tie"
        self._fix(penalty > gap, favoured)  # the narrower gap fixes more projects for levels 2 and 3
        return level1

    def _fix(self, mask: np.ndarray, favoured: np.ndarray) -> None:
        """Fix the masked projects of the MILP at their favoured value (undone by :meth:`_unfix`)."""
        idx = np.flatnonzero(mask).astype(np.int32)
        if len(idx):
            v = favoured[idx].astype(np.float64)
            self._h.changeColsBounds(len(idx), idx, v, v)
            self._fixed = True

    def _unfix(self) -> None:
        if getattr(self, "_fixed", False):
            self._h.changeColsBounds(self.n, self._cols[:self.n], np.zeros(self.n), np.ones(self.n))
            self._fixed = False

    def _greedy(self, c: np.ndarray, x_lp: np.ndarray):
        """The LP solution rounded down, then completed in decreasing score per euro while every rule holds."""
        x = (x_lp >= 1 - 1e-9).astype(np.int64)
        if not self._feasible(x):
            return None
        M = self._M
        act = M @ x
        for j in np.argsort(-(c / np.maximum(self._upper, 1)), kind="stable"):
            if x[j] or c[j] <= 0:
                continue
            new = act + M[:, j]
            if ((new >= self._rlo) | ~self._fin_lo).all() and ((new <= self._rhi) | ~self._fin_hi).all():
                x[j], act = 1, new
        return x

    def _cap(self) -> int:
        return min(_ENUM_MAX, _ENUM_CELLS // (self._M.shape[0] + 4))

    def _expand(self, items, penalty, sign, keys, budget: int, act0, val0):
        """Every subset of `items` whose penalties sum to at most `budget` (items in increasing penalty).

        Each subset is a set of projects flipped from the favoured portfolio;
        returns ``(penalty sums, row activities, level values, parent, item)``
        with entry 0 the empty subset (activities `act0`, values `val0`), each
        entry being its parent plus one item, or None when there are more than
        :meth:`_cap` subsets.
        """
        M, cap = self._M, self._cap()
        pen = np.empty(cap, dtype=np.int64)
        act = np.empty((cap, M.shape[0]), dtype=np.int64)
        val = np.empty((3, cap), dtype=np.int64)
        parent = np.empty(cap, dtype=np.int64)
        item = np.empty(cap, dtype=np.int64)
        pen[0], act[0], val[:, 0], parent[0], item[0] = 0, act0, val0, -1, -1
        k = 1
        for j in items:
            ok = np.flatnonzero(pen[:k] <= budget - penalty[j])
            kn = k + len(ok)
            if kn > cap:
                return None
            pen[k:kn] = pen[ok] + penalty[j]
            act[k:kn] = act[ok] + sign[j] * M[:, j]
            val[:, k:kn] = val[:, ok] + (sign[j] * keys[:, j])[:, None]
            parent[k:kn], item[k:kn] = ok, j
            k = kn
        return pen[:k], act[:k], val[:, :k], parent[:k], item[:k]

    def _within_rows(self, act: np.ndarray) -> np.ndarray:
        return ((act >= self._rlo) | ~self._fin_lo).all(axis=1) & ((act <= self._rhi) | ~self._fin_hi).all(axis=1)

    def _enumerate(self, c, spend, tie, penalty, favoured, budget: int, L: int, D: int):
        """Every portfolio whose penalties sum to at most `budget`, valued exactly at levels 1–3.

        Returns the optimal funded vector, ``"tie"``, ``"grow"`` or ``("grow",
        best portfolio found)`` (the budget does not yet prove the optimum) or
        ``"overflow"`` (too many portfolios).
        """
        items = np.flatnonzero(penalty <= budget)
        items = items[np.argsort(penalty[items], kind="stable")]
        x0 = favoured
        keys = np.stack([c, spend, tie])
        out = self._expand(items, penalty, 1 - 2 * favoured, keys, budget, self._M @ x0, keys @ x0)
        if out is None:
            return "overflow"
        _, act, val, parent, item = out
        feasible = self._within_rows(act)
        if not feasible.any():
            return "grow"
        sel = feasible
        v1 = int(val[0][sel].max())
        if L - D * v1 > budget:  # a better portfolio may lie beyond the budget: return the best found
            return "grow", self._flip(x0, item, parent, int(np.flatnonzero(feasible & (val[0] == v1))[0]))
        for lev in range(3):
            top = val[lev][sel].max()
            sel = sel & (val[lev] == top)
        if int(sel.sum()) > 1:
            return "tie"
        return self._flip(x0, item, parent, int(np.flatnonzero(sel)[0]))

    def _meet_in_the_middle(self, c, spend, tie, penalty, favoured, gap: int, v_star: int):
        """Every portfolio of level-1 value exactly `v_star` (the optimum), levels 2–3 settled in integers.

        The projects free within the gap are split in two halves; the subsets
        of each half within the gap are listed, and pairs whose values add up
        to `v_star` are joined (sorting and binary search), then checked
        against every rule (Horowitz & Sahni, "Computing partitions with
        applications to the knapsack problem", J. ACM 21(2), 1974).  Returns
        the optimal funded vector, ``"tie"`` or ``"overflow"``.
        """
        free = np.flatnonzero(penalty <= gap)
        free = free[np.argsort(penalty[free], kind="stable")]
        x0, sign, keys = favoured, 1 - 2 * favoured, np.stack([c, spend, tie])
        m = self._M.shape[0]
        halves = []
        for items in (free[0::2], free[1::2]):
            out = self._expand(items, penalty, sign, keys, gap, np.zeros(m, dtype=np.int64), np.zeros(3, dtype=np.int64))
            if out is None:
                return "overflow"
            halves.append(out)
        (_, act_a, val_a, par_a, it_a), (_, act_b, val_b, par_b, it_b) = halves
        base_act, base_val = self._M @ x0, keys @ x0
        need = v_star - int(base_val[0]) - val_a[0]  # the value each subset of the second half must bring
        order = np.argsort(val_b[0], kind="stable")
        sorted_b = val_b[0][order]
        lo, hi = np.searchsorted(sorted_b, need, "left"), np.searchsorted(sorted_b, need, "right")
        counts = hi - lo
        total = int(counts.sum())
        if total > self._cap():
            return "overflow"
        ia = np.repeat(np.arange(len(counts)), counts)
        ib = order[np.repeat(lo, counts) + np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)]
        sel = self._within_rows(base_act + act_a[ia] + act_b[ib])
        if not sel.any():
            return "overflow"  # cannot happen: the level-1 solution is among them
        for lev in (1, 2):
            v = val_a[lev][ia] + val_b[lev][ib]
            sel = sel & (v == v[sel].max())
        if int(sel.sum()) > 1:
            return "tie"
        w = int(np.flatnonzero(sel)[0])
        x = self._flip(x0, it_a, par_a, int(ia[w]))
        return self._flip(x, it_b, par_b, int(ib[w]))

    @staticmethod
    def _flip(x0: np.ndarray, item: np.ndarray, parent: np.ndarray, w: int) -> np.ndarray:
        """The portfolio of enumeration entry `w`: `x0` with the entry's projects flipped."""
        x = x0.copy()
        while w > 0:
            j = item[w]
            x[j] = 1 - x[j]
            w = int(parent[w])
        return x
