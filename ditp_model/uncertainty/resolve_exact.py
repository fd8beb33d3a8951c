"""The merit order and the ranking rule of :class:`~ditp_model.uncertainty.resolve.ScoreResolver`: exact integers, no solver.

A mixin of :class:`~ditp_model.uncertainty.resolve.ScoreResolver`, kept in its
own module so that the resolver reads in named parts: the candidates active
for a score vector (:meth:`_active`), the ranking rule's greedy pass
(:meth:`_ranking_exact`), the merit order's search (:meth:`_merit_exact`, on
:func:`~ditp_model.rules.allocation.merit_search`) re-checked by prefix sums
(:meth:`_merit_complaints`), and the fallback to
:func:`~ditp_model.rules.allocation.allocate` itself (:meth:`_fallback`).
Results are built by the resolver's ``_draw``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ditp_model.rules.allocation import SCORE_UNIT, AllocationError, SolveStatus, allocate

__all__ = ["ExactRuleSteps"]


class ExactRuleSteps:
    """Exact merit-order and ranking-rule steps of :class:`~ditp_model.uncertainty.resolve.ScoreResolver` (mixin)."""

    def _prepare_exact(self) -> None:
        """Fixed data of the exact path (rank-independent): awards, locks, group rules, limits."""
        p = self.params
        t = self.candidates.table
        self._band = int(self.candidates.tie_band_units)
        self._caps = [(t[r.column].to_numpy() == r.value, int(r.cap_eur(self.candidates.available_eur)))
                      for r in p.group_rules if r.max_share is not None]
        self._mins = [(t[r.column].to_numpy() == r.value, int(r.min_count)) for r in p.group_rules if r.min_count]

    def _active(self, units: np.ndarray) -> np.ndarray:
        """Candidates of this score vector: all, or those at or above the overall threshold when applied per draw."""
        if self._min_units is None:
            return np.ones(self.n, dtype=bool)
        return units >= self._min_units

    def _exact_rule(self, units: np.ndarray, what: str) -> ResolvedDraw:
        """The merit order (or the ranking rule) for one score vector, in exact integers; see :meth:`merit_search`."""
        active = self._active(units)
        if (self._locked & ~active).any():  # as check() on the re-scored evaluation: a lock that cannot be funded
            bad = [a for a, k, ok in zip(self.candidate_ids, self._locked, active) if k and not ok]
            raise ValueError(f"{what} : dossier(s) imposé(s) mais impossibles à financer : " + " ; ".join(
                f"{a} (non finançable : note globale sous le seuil de {self._min_units / SCORE_UNIT:g})" for a in bad))
        order = np.lexsort((self._second, -units))
        order = order[active[order]]
        if self.rule == "ranking":
            x, exempt = self._ranking_exact(order), self._locked[order]
        else:
            x, exempt = self._merit_exact(order, units)
        if x is None:  # infeasible locks or rules, or a search too long: allocate() decides (and explains)
            return self._fallback(units, what)
        funded = np.zeros(self.n, dtype=np.int64)
        funded[order] = x
        awards = self._upper * funded
        problems = self._violations(funded, np.zeros(self.n, dtype=np.int64), awards)
        if self.rule == "ranking" and problems:
            return self._fallback(units, what)  # the ranking rule breaks a group rule: allocate() reports it
        if self.rule == "merit_order":
            problems += [f"{self.candidate_ids[order[j]]} : réclamation fondée (ordre de mérite non respecté)"
                         for j in self._merit_complaints(order, units, x, exempt)]
        if problems:
            raise AllocationError(f"{what} : la décision ne respecte pas les règles (vérification en entiers) : "
                                  + " ; ".join(problems))
        flags = funded.astype(bool)
        flags.flags.writeable = False
        awards.flags.writeable = False
        return self._draw(flags, awards, 0, "exact")

    def _ranking_exact(self, order: np.ndarray) -> np.ndarray:
        """The ranking rule (``ranking_variant``), locks first, in rank order (see :func:`~ditp_model.rules.allocation.ranking_decisions`)."""
        p = self.params
        u = self._upper[order]
        locked = self._locked[order]
        caps = [(mask[order], cap) for mask, cap in self._caps]
        x = locked.astype(np.int64)
        spent = int(u[locked].sum())
        gspent = [int(u[locked & m].sum()) for m, _ in caps]
        count = int(locked.sum())
        for k in range(len(order)):
            if locked[k]:
                continue
            uk = int(u[k])
            fits = (spent + uk <= self.candidates.available_eur
                    and (p.max_awards is None or count < p.max_awards)
                    and all(not m[k] or g + uk <= cap for (m, cap), g in zip(caps, gspent)))
            if fits:
                x[k] = 1
                spent += uk
                count += 1
                gspent = [g + uk if m[k] else g for (m, _), g in zip(caps, gspent)]
            elif p.ranking_variant == "stop":
                break
        return x

    def _merit_exact(self, order: np.ndarray, units: np.ndarray):
        """Merit order with locks and minimum-count rules, as :func:`~ditp_model.rules.allocation.allocate` decides it.

        Locks first; a minimum-count rule not met is met by funding first the
        best-ranked unfunded members of its group, repeated until every
        minimum holds (as ``allocate()`` does).  Returns ``(x, exempt)`` in rank
        order (``exempt``: the applications funded first), or ``(None, None)``
        when the locks or rules cannot be met or the search is too long.
        """
        su = units[order]
        reach = np.searchsorted(-su, -(su - self._band), side="right") - 1
        locked = self._locked[order]
        mins = [(np.flatnonzero(mask[order]), k) for mask, k in self._mins]
        forced = np.zeros(len(order), dtype=bool)
        for _ in range(len(order) + 1):
            first = locked | forced
            x = self._merit_search(self._upper[order], reach, first, [(m[order], cap) for m, cap in self._caps],
                             self.candidates.available_eur, self.params.max_awards)
            if x is None:
                return None, None
            added = False
            for members, k in mins:
                unfunded = [j for j in members if not x[j]]
                short = k - (len(members) - len(unfunded))
                if short > len(unfunded):
                    return None, None  # too few candidates in the group: allocate() names the rule
                if short > 0:
                    forced[unfunded[:short]] = True
                    added = True
            if not added:
                return np.asarray(x, dtype=np.int64), first
        return None, None

    def _merit_complaints(self, order: np.ndarray, units: np.ndarray, x: np.ndarray, exempt: np.ndarray) -> list[int]:
        """Rank positions of unfunded candidates with a valid complaint, recomputed from the awards with prefix sums."""
        su = units[order]
        reach = np.searchsorted(-su, -(su - self._band), side="right") - 1
        u = self._upper[order]
        aw = u * x
        claim = np.where(exempt, 0, aw)
        pre = np.cumsum(claim) + int(aw[exempt].sum())
        cnt = np.cumsum(np.where(exempt, 0, x)) + int(x[exempt].sum())
        room = self.candidates.available_eur - pre[reach] >= u
        if self.params.max_awards is not None:
            room &= cnt[reach] < self.params.max_awards
        for mask, cap in self._caps:
            m = mask[order]
            gpre = np.cumsum(np.where(m, claim, 0)) + int(aw[exempt & m].sum())
            room &= ~m | (cap - gpre[reach] >= u)
        return np.flatnonzero(room & (x == 0) & ~exempt).tolist()

    def _fallback(self, units: np.ndarray, what: str) -> ResolvedDraw:
        """One draw through :func:`~ditp_model.rules.allocation.allocate` (the same model, rebuilt with PuLP)."""
        scores = self.evaluation.scores.copy()
        new = dict(zip(self.candidate_ids, units / SCORE_UNIT))
        scores["score"] = [new.get(a, s) for a, s in zip(scores["application_id"], scores["score"])]
        params = self.params
        active = self._active(units)
        if self.mode != "highs":
            # The candidate set of this score vector, fixed explicitly: the resolver's candidates above the
            # overall threshold of this draw (when applied per draw), every other application locked out.
            keep = {a for a, ok in zip(self.candidate_ids, active) if ok}
            params = replace(params, min_score=0.0, lock_out=params.lock_out | (set(scores["application_id"]) - keep))
        alloc = allocate(replace(self.evaluation, scores=scores), params)
        if alloc.status is not SolveStatus.OPTIMAL:
            raise AllocationError(f"{what} : {alloc.status.label_fr}. {alloc.message}")
        expected = sorted(a for a, ok in zip(self.candidate_ids, active) if ok)
        if list(alloc.candidates.table["application_id"].sort_values()) != expected:
            raise AllocationError(f"{what} : les candidats diffèrent de ceux du modèle")
        d = alloc.decisions.set_index("application_id").reindex(self.candidate_ids)
        funded = d["funded"].fillna(False).to_numpy(dtype=bool)
        awards = d["award_eur"].fillna(0).to_numpy(dtype=np.int64)
        if self.params.objective is None:
            value = 0
        elif self.params.objective == "total_score":
            value = int(units[funded].sum())
        else:
            value = int((units * awards).sum())
        return self._draw(funded, awards, value, "allocate")
