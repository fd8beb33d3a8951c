"""Re-deciding for many score vectors under the committee's rule: exact integers for the merit order, one model for an objective.

**Merit order and ranking rule** (the committee's rules, ``params.rule`` or
the call's ``[selection] rule``): no solver.  Without award cuts
(``min_share = 1``, the call's default) the merit-order decision of a score
vector is computed exactly in integers by :func:`merit_search`: the
applications in rank order, locks first, a depth-first search over
"funded / not funded" that cuts a branch as soon as an unfunded application
has a valid complaint at δ or the branch cannot spend more than the best
portfolio found; the first portfolio found at the best spend is the greatest
in rank order, i.e. the named tie-break of
:func:`~ditp_model.rules.allocation.allocate`.  With δ = 0 and no exact score tie
the search never branches: it is the ranking rule with skip, locks first
(microseconds).  Minimum-count rules are met as ``allocate()`` meets them
(the best-ranked unfunded members of the group funded first, repeated).
The ranking rule itself is a greedy pass.  Every result is re-checked in
integers (bounds, envelope, locks, group rules, maximum number of awards,
and the merit order by prefix sums, independently of the search); locks or
rules that no portfolio satisfies, a search longer than
:data:`MERIT_SEARCH_NODES`, or award cuts send the draw to
:func:`~ditp_model.rules.allocation.allocate` itself.  With
``per_draw_thresholds=True`` the overall quality threshold (``min_score``)
is applied to each score vector (an application may be fundable in one draw
and not in another), as ``allocate()`` on the re-scored evaluation does.

**Optimisation rules** (``max_total_score``, ``max_score_weighted_award``,
for comparison): one model, only the objective changes.

A weight Monte Carlo (:func:`ditp_model.uncertainty.robustness.weight_monte_carlo`) solves the
allocation of :mod:`ditp_model.rules.allocation` once per weight draw.  The candidates
(eligible, scored, not locked out, fundable), their award bounds, the envelope,
the locks and the portfolio rules do not depend on the weights: only the
composite scores change, and with them the objective and the tie-break order.
:class:`ScoreResolver` therefore builds the model once (``check`` and ``build``
of :mod:`ditp_model.rules.allocation`), hands it once to two in-process HiGHS objects
(``highspy``: the MILP and its LP relaxation), and for each score vector only
changes the objective coefficients (``changeColsCost``).  The cost of building
a PuLP problem per draw disappears, and so, in the usual case, does the MILP
solve itself: HiGHS spends 10–30 ms per MILP on these small models, mostly
fixed set-up, three times per draw (one per level).

The levels are those of :func:`ditp_model.rules.allocation.allocate` with
``check_alternatives=False`` (DESIGN.md, "The allocation model"):

1. value: ``Σ s_i x_i`` (``total_score``) or ``Σ s_i a_i`` (``score_weighted_award``),
   ``s_i`` the score in units of 10**-SCORE_DECIMALS point;
2. money spent ``Σ a_i``;
3. the tie-break weight ``Σ (N − p_i) x_i``, ``p_i`` the position of the
   candidate in the order "higher score, earlier submission, id"
   (:data:`~ditp_model.scoring.aggregate.TIE_BREAK_RULE`), recomputed for every draw;
4. only when awards can be cut: ``Σ p_i c_i`` (the lowest-placed are cut first).

Without award cuts (``min_share = 1``) a draw is usually settled by a
certificate in exact integer arithmetic: the LP relaxation's duals bound the
value of every portfolio and show that only a few projects can differ from the
LP's choice in any portfolio at least as good as a known one; those portfolios
are enumerated and compared at levels 1–3 in integers (see
:class:`ScoreResolver`).  Otherwise the levels are solved by HiGHS one after the
other on the shared model, each optimum kept as a constraint ``expr ≥ optimum
− 0.5`` for the next (exact: every coefficient is an integer), as ``allocate()``
does.  Either way every result is re-checked in exact integer arithmetic
(bounds, whole steps, envelope, locks, group rules, maximum number of awards),
and a HiGHS status other than a proven optimum (infeasible, time limit, solver
failure) raises :class:`~ditp_model.rules.allocation.AllocationError`: "optimal" is
never taken on trust alone.

Parallel runs: :meth:`ScoreResolver.solve_many` splits the draws in chunks and
sends them to joblib worker processes (``n_jobs``) or to a Dask distributed
cluster (``scheduler="tcp://host:port"``); each worker builds its own resolver
from the evaluation and the parameters (HiGHS objects cannot be pickled) and
keeps it for the next chunk of the same resolver.  Each draw starts from
cleared solvers and the same starting point, so its result does not depend on
the chunk, the worker or the draws solved before it: the matrices are the same
whatever ``n_jobs`` or the cluster.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from ditp_model.rules import allocation as _allocation
from ditp_model.rules.allocation import (
    INTEGRALITY_TOL,
    SCORE_UNIT,
    AllocationError,
    AllocationParams,
    SolveStatus,
    quiet_highs_banner,
    allocate,
    build,
    check,
    diagnose_infeasibility,
    quality_thresholds,
)
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.french import format_eur
from ditp_model.scoring.aggregate import SCORE_DECIMALS

__all__ = ["ScoreResolver", "ResolvedDraw", "composite_score_matrix", "merit_search"]

#: Largest relative MIP gap accepted as a proven optimum (the same rule as :func:`ditp_model.rules.allocation.solve`).
_MAX_GAP = 1e-9


# --------------------------------------------------------------------------- scores for many weight vectors


def composite_score_matrix(evaluation: Evaluation, weights, names=None) -> np.ndarray:
    """Composite scores of every application for many weight vectors at once.

    The same floating-point operations, in the same order, as
    :func:`ditp_model.scoring.aggregate.score_applications` called through
    :meth:`Evaluation.with_weights` for each row: the weights are normalised
    by their sum (added in `names` order, as :meth:`Weights.normalised`), the
    criterion scores (0–1, ``<criterion>_score`` columns of
    ``evaluation.scores``, which do not depend on the weights) are added in the
    call's criterion order skipping zero weights, and ``100 × composite`` is
    rounded to :data:`~ditp_model.scoring.aggregate.SCORE_DECIMALS` decimals.  The result
    is therefore bit for bit the ``score`` column that ``with_weights`` gives.

    Parameters
    ----------
    evaluation : Evaluation
    weights : array_like, shape (n_draws, n_criteria)
        Non-negative weights, one row per draw (need not sum to 1).
    names : sequence of str, optional
        Criterion of each column; default the order of ``evaluation.weights``.

    Returns
    -------
    numpy.ndarray, shape (n_draws, n_applications)
        Composite points (0–100), columns in the order of ``evaluation.table``;
        NaN where the application is not scored (too few reviews, or no usable
        mark on a criterion with a positive weight).

    Raises
    ------
    ValueError
        Names that are not the call's criteria, or a row with a negative,
        non-finite or all-zero weight (French message).
    """
    rules = evaluation.rules
    names = list(evaluation.weights.as_dict()) if names is None else list(names)
    if sorted(names) != sorted(rules.criterion_names) or len(set(names)) != len(names):
        raise ValueError(f"pondérations pour {', '.join(names) or '(aucun critère)'} ; "
                         f"critères de l'appel : {', '.join(rules.criterion_names)}")
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[1] != len(names):
        raise ValueError(f"matrice de pondérations de forme {w.shape} : ({len(names)} colonnes attendues, une par critère)")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("pondérations : des nombres positifs ou nuls sont attendus")
    total = np.zeros(len(w))
    for k in range(len(names)):  # Weights.normalised(): sum(...) left to right
        total = total + w[:, k]
    if (total <= 0).any():
        raise ValueError("toutes les pondérations d'un tirage sont nulles : au moins un critère doit compter")
    share = w / total[:, None]
    scores = evaluation.scores.set_index("application_id").loc[evaluation.table["application_id"]]
    composite = np.zeros((len(w), len(scores)))
    for crit in rules.criteria:  # score_applications: composite = composite + w * vals when w > 0
        vals = scores[f"{crit.name}_score"].to_numpy(dtype=float)
        wk = share[:, names.index(crit.name)]
        composite = np.where((wk > 0)[:, None], composite + wk[:, None] * vals[None, :], composite)
    enough = scores["n_reviews"].to_numpy() >= rules.scoring.min_reviews
    scored = enough[None, :] & np.isfinite(composite)
    with np.errstate(invalid="ignore"):
        return np.where(scored, np.round(100.0 * composite, SCORE_DECIMALS), np.nan)


# --------------------------------------------------------------------------- result of one draw

@dataclass(frozen=True)
class ResolvedDraw:
    """The allocation of one score vector (arrays aligned with :attr:`ScoreResolver.candidate_ids`).

    Attributes
    ----------
    candidate_ids : tuple of str
    funded : numpy.ndarray of bool, shape (n_candidates,)
    award_eur : numpy.ndarray of int64, shape (n_candidates,)
        Whole euros, 0 when not funded.
    value_units : int
        Level-1 value in exact integers: score units (points × 10**SCORE_DECIMALS),
        or score units × euros for ``score_weighted_award``; 0 for the merit
        order and the ranking rule (nothing is maximised).
    method : str
        ``"exact"`` (merit order or ranking rule in integers, no solver),
        ``"certified"`` (bound and enumeration, no MILP solve), ``"highs+certified"``
        (one MILP solve for the level-1 optimum, then the certificate),
        ``"highs"`` (the levels solved one by one by HiGHS) or ``"allocate"``
        (fallback: :func:`~ditp_model.rules.allocation.allocate` itself), see
        :class:`ScoreResolver`.
    """

    candidate_ids: tuple[str, ...]
    funded: np.ndarray
    award_eur: np.ndarray
    value_units: int
    method: str = "highs"

    @property
    def funded_ids(self) -> list[str]:
        """Funded application ids, in the order of ``candidate_ids``."""
        return [a for a, f in zip(self.candidate_ids, self.funded) if f]

    @property
    def total_awarded_eur(self) -> int:
        return int(self.award_eur.sum())


# --------------------------------------------------------------------------- merit order without a solver

# The exact search lives with the rule (allocation.merit_search); re-exported here for the resolver.
MERIT_SEARCH_NODES = _allocation.MERIT_SEARCH_NODES


def merit_search(*args, **kwargs):
    """See :func:`ditp_model.rules.allocation.merit_search` (kept here so the resolver's fallback can be exercised in tests)."""
    return _allocation.merit_search(*args, **kwargs)


# --------------------------------------------------------------------------- the resolver

#: Most partial portfolios kept by one enumeration (times the number of rules, see ``_enumerate``).
_ENUM_CELLS = 6_000_000
_ENUM_MAX = 250_000


def _status_fr(status) -> str:
    import highspy

    S = highspy.HighsModelStatus
    if status in (S.kInfeasible, S.kUnboundedOrInfeasible):
        return SolveStatus.INFEASIBLE.label_fr
    if status == S.kTimeLimit:
        return "limite de temps atteinte, optimum non prouvé"
    if status in (S.kIterationLimit, S.kSolutionLimit, S.kInterrupt, S.kObjectiveBound, S.kObjectiveTarget):
        return SolveStatus.FEASIBLE.label_fr
    return f"{SolveStatus.ERROR.label_fr} (statut HiGHS {status.name})"


class ScoreResolver:
    """The committee's decision rule applied to many score vectors: exact integers (merit order), or one model (objectives).

    For every score vector the result (funded set and awards) is that of
    ``allocate(evaluation_with_these_scores, replace(params, check_alternatives=False))``
    under the rule of `params` (default: the call's, the merit order): the
    same candidates, bounds and rules; for an optimisation rule the same
    lexicographic levels (value, money spent, tie-break weight
    ``Σ (N − p_i) x_i``, then cuts), the tie-break positions ``p_i``
    recomputed from the new scores.

    How a draw is decided (:attr:`ResolvedDraw.method`):

    ``"exact"`` (merit order without award cuts; ranking rule)
        :func:`merit_search` (or the ranking rule's greedy pass) in integers,
        no solver; see the module docstring.  Equal to ``allocate()``'s
        decision, ties included (the named tie-break is applied exactly).

    ``"certified"`` (no award cut, i.e. ``min_share = 1``, the call's default)
        The LP relaxation of level 1 is solved (HiGHS, same objective change);
        its row duals *y* give, in exact integer arithmetic (*y* rounded to a
        dyadic rational, which keeps the bound valid), the Lagrangian bound
        ``value(x) ≤ L(y) − Σ_j |d_j| · |x_j − b_j|`` for every feasible
        portfolio *x*, with ``d = c − Aᵀy`` the reduced costs and ``b_j`` the
        bound favoured by ``d_j`` (reduced-cost fixing: Nemhauser & Wolsey,
        *Integer and Combinatorial Optimization*, 1988, II.5; Wolsey, *Integer
        Programming*, 1998, 7.3).  Every portfolio at least as good as a known
        feasible one (the committee's optimum, or a greedy completion of the
        LP solution) differs from *b* only on projects whose penalty ``|d_j|``
        fits in the gap; all those portfolios are enumerated, checked against
        every rule and valued at levels 1–3 in integers, the gap being
        narrowed as better portfolios appear.  The lexicographic optimum is
        thus proven without a MILP solve and independently of floating-point
        tolerances.  When two portfolios tie at all three levels (a tie
        ``allocate()`` leaves to the solver), the draw is recomputed by
        :func:`~ditp_model.rules.allocation.allocate` itself, so that even then the
        result is the one ``allocate()`` gives.
    ``"highs+certified"``
        When too many portfolios fit in the gap, one MILP solve (HiGHS, on the
        shared model, with the projects whose penalty exceeds the gap fixed at
        their favoured value: reduced-cost fixing, which keeps every portfolio
        at least as good as the best known) gives the level-1 optimum *v*;
        that narrows the gap, and every portfolio of value exactly *v* is then
        listed by meeting in the middle (the free projects in two halves,
        subsets joined on their values) and compared at levels 2–3 in integers.
    ``"highs"``
        Otherwise, and whenever awards can be cut: the levels solved by HiGHS
        one after the other on the shared model (with the fixings of the
        narrowest gap when there is a bound), each level's optimum kept as a
        constraint ``expr ≥ optimum − 0.5`` for the next, exactly like
        :func:`~ditp_model.rules.allocation.allocate`.  The result is the same as
        ``allocate()``'s whenever the lexicographic optimum is unique; two
        portfolios equal at every level are not detected on this path, and
        ``allocate()`` and this class may then each return a different one of
        the two (both optimal, both satisfying every rule).
    ``"allocate"``
        Fallback: the draw computed by :func:`~ditp_model.rules.allocation.allocate`
        (ties found by the certificate, every draw when ``solver="cbc"`` under
        an optimisation rule or when the merit order may cut awards, and
        merit-order draws whose locks or rules cannot be met or whose search
        is too long).

    Every result is re-checked in exact integer arithmetic (bounds, whole
    steps, envelope, locks, group rules, maximum number of awards, and each
    level's value against the optimum reported); a HiGHS status other than a
    proven optimum raises :class:`~ditp_model.rules.allocation.AllocationError`.
    ``check_alternatives`` is always treated as False (the exact named
    tie-break of ``check_alternatives=True`` needs extra solves per draw).

    Parameters
    ----------
    evaluation : Evaluation
        Eligibility and scores; its own scores fix only the order of
        :attr:`candidate_ids` and the solver's starting point.
    params : AllocationParams, optional
    certify : bool
        False: never use the certificate, always the HiGHS levels (slower; for
        checks and comparisons).
    per_draw_thresholds : bool
        Merit order and ranking rule (exact path): the candidates include the
        applications below the overall quality threshold at the evaluation's
        scores, and the threshold is applied to each score vector (what a
        weight Monte Carlo needs: composite scores, and so the threshold
        test, move with the weights).  False (default): the candidates are
        fixed, those of :func:`~ditp_model.rules.allocation.check` at the
        evaluation's scores.  :attr:`per_draw_thresholds` says whether it
        applies (never on the HiGHS path).

    Attributes
    ----------
    candidate_ids : list of str
        The candidates, in the tie-break order at the evaluation's own scores:
        the order of every score vector and of every result array.
    candidates : Candidates
        The checked candidates (:func:`ditp_model.rules.allocation.check`).
    params : AllocationParams
        ``params`` with ``check_alternatives=False``.
    last_methods : numpy.ndarray of str or None
        After :meth:`solve_many`: the method of each row.
    rule : str
        The decision rule applied.
    mode : {"exact", "highs", "allocate"}
        How draws are decided (see above).

    Raises
    ------
    ValueError
        Bad parameters (French message, from :func:`~ditp_model.rules.allocation.check`).
    AllocationError
        Rules that no allocation satisfies (the message names the rules in
        conflict), or a first solve that is not a proven optimum.

    Examples
    --------
    >>> r = ScoreResolver(evaluation, AllocationParams())              # doctest: +SKIP
    >>> draw = r.solve(scores)                                          # doctest: +SKIP
    >>> funded, awards = r.solve_many(score_matrix, n_jobs=2)           # doctest: +SKIP
    """

    def __init__(self, evaluation: Evaluation, params: AllocationParams | None = None, *, certify: bool = True,
                 per_draw_thresholds: bool = False):
        self.evaluation = evaluation
        self.params = replace(params or AllocationParams(), check_alternatives=False)
        self.certify = bool(certify)
        self.candidates = check(evaluation, self.params)
        self.rule = self.candidates.rule
        self._min_units = None
        if self.rule in ("merit_order", "ranking"):
            exact = self.rule == "ranking" or not (self.candidates.table["max_cut_steps"].to_numpy() > 0).any()
            if exact and per_draw_thresholds:
                overall, _ = quality_thresholds(evaluation, self.params)
                loose = check(evaluation, replace(self.params, min_score=0.0))
                if overall > 0 and not (loose.table["max_cut_steps"].to_numpy() > 0).any():
                    self.candidates = loose  # the overall threshold is applied to each score vector
                    self._min_units = int((Decimal(str(overall)) * SCORE_UNIT).to_integral_value(rounding=ROUND_CEILING))
            self.mode = "exact" if exact else "allocate"
        else:
            self.mode = "highs" if self.params.solver == "highs" else "allocate"
        self.per_draw_thresholds = self._min_units is not None
        t = self.candidates.table
        self.candidate_ids = t["application_id"].astype(str).tolist()
        self._ids = tuple(self.candidate_ids)
        self.n = len(t)
        self.fast = self.mode == "highs"
        self.token = uuid.uuid4().hex
        self.last_methods = None
        self._upper = t["upper_eur"].to_numpy(dtype=np.int64)
        self._lower = t["lower_eur"].to_numpy(dtype=np.int64)
        self._max_cut = t["max_cut_steps"].to_numpy(dtype=np.int64)
        self._locked = t["locked_in"].to_numpy(dtype=bool)
        self._step = int(self.candidates.step_eur)
        self._groups = []
        for r in self.params.group_rules:
            members = t[r.column].to_numpy() == r.value
            cap = r.cap_eur(self.candidates.available_eur) if r.max_share is not None else None
            self._groups.append((r, members, cap))
        # Second and third keys of the tie-break order: earlier submission, then id (a fixed rank).
        apps = evaluation.applications.set_index("application_id")
        sub = pd.DataFrame({"submitted_at": apps.loc[self.candidate_ids, "submitted_at"].to_numpy(),
                            "application_id": self.candidate_ids})
        order = sub.sort_values(["submitted_at", "application_id"], kind="mergesort").index.to_numpy()
        self._second = np.empty(self.n, dtype=np.int64)
        self._second[order] = np.arange(self.n)
        self._h = self._lp = None
        self._cut_of = np.zeros(0, dtype=np.int64)
        self._exact = False
        if self.mode == "exact":
            self._prepare_exact()
        if self.fast and self.n:
            self._build_highs()
        elif self.n:  # rules that no decision satisfies are refused here, named, as on the HiGHS path
            units = self.candidates.table["score_units"].to_numpy(dtype=np.int64)
            self._solve_units(units, "allocation aux notes du comité")

    # ----------------------------------------------------------------- pickling: rebuilt from its inputs

    def __reduce__(self):
        return (_rebuild, (self.evaluation, self.params, self.certify, self.per_draw_thresholds))

    # ----------------------------------------------------------------- model

    def _build_highs(self) -> None:
        """Translate the level-1 PuLP model of :func:`~ditp_model.rules.allocation.build` once into HiGHS objects."""
        import highspy

        model = build(self.candidates)
        self._cut_of = np.array([k for k, ci in enumerate(model.c) if ci is not None], dtype=np.int64)
        n, m = self.n, len(self._cut_of)
        self.ncol = n + m
        column = {xi.name: k for k, xi in enumerate(model.x)}
        column.update({model.c[k].name: n + j for j, k in enumerate(self._cut_of)})
        lower = np.zeros(self.ncol)
        upper = np.zeros(self.ncol)
        for var in [*model.x, *(model.c[k] for k in self._cut_of)]:
            lower[column[var.name]] = var.lowBound
            upper[column[var.name]] = var.upBound
        starts, index, value, row_lo, row_hi = [], [], [], [], []
        constraints = model.problem.constraints  # a list through a call in PuLP ≥ 3.3, a dict before
        for con in (constraints() if callable(constraints) else list(constraints.values())):
            starts.append(len(index))
            for var, coef in con.items():
                if coef != 0:
                    index.append(column[var.name])
                    value.append(float(coef))
            lb, ub = con.getLb(), con.getUb()
            row_lo.append(-highspy.kHighsInf if lb is None else float(lb))
            row_hi.append(highspy.kHighsInf if ub is None else float(ub))
        quiet_highs_banner()
        self._cols = np.arange(self.ncol, dtype=np.int32)
        self._base_rows = len(row_lo)
        self._h = self._new_highs(lower, upper, row_lo, row_hi, starts, index, value, integer=True)
        # The rows as exact integers, for the certificate (no cut column: every column binary).
        M = np.zeros((len(row_lo), self.ncol), dtype=np.int64)
        ok = m == 0 and (lower == 0).all() and (upper == 1).all()
        for i, (a, b) in enumerate(zip(starts, [*starts[1:], len(index)])):
            for j, v in zip(index[a:b], value[a:b]):
                ok = ok and float(v).is_integer() and abs(v) < 2**40
                M[i, j] += int(v)
        lo, hi = np.array(row_lo), np.array(row_hi)
        fin_lo, fin_hi = np.isfinite(lo), np.isfinite(hi)
        ok = ok and all(float(v).is_integer() and abs(v) < 2**50 for v in [*lo[fin_lo], *hi[fin_hi]])
        self._exact = bool(ok) and self.certify
        if self._exact:
            self._M = M
            self._fin_lo, self._fin_hi = fin_lo, fin_hi
            self._rlo = np.where(fin_lo, lo, 0).astype(np.int64)
            self._rhi = np.where(fin_hi, hi, 0).astype(np.int64)
            self._colabs = int(np.abs(M).sum(axis=0).max()) if M.size else 0
            self._rowb = int(max(np.abs(self._rlo).max(initial=0), np.abs(self._rhi).max(initial=0)))
            self._lp = self._new_highs(lower, upper, row_lo, row_hi, starts, index, value, integer=False)
        # A fixed starting point for every draw: the level-1 optimum at the evaluation's own scores.
        units = self.candidates.table["score_units"].to_numpy(dtype=np.int64)
        try:
            col, _ = self._run(self._level_costs(units, self._positions(units))[0], None, "allocation aux notes du comité")
        except AllocationError as e:
            if SolveStatus.INFEASIBLE.label_fr in str(e):
                sentences, _ = diagnose_infeasibility(self.candidates, "highs", self.params.time_limit_s)
                raise AllocationError(sentences[0]) from None
            raise
        self._start = col
        self._ref_x = self._read_back(col, "allocation aux notes du comité")[0] if self._exact else None
        if self._exact and not self._feasible(self._ref_x):
            raise AllocationError("allocation aux notes du comité : la solution du solveur ne respecte pas les règles "
                                  "(vérification en entiers)")

    def _new_highs(self, lower, upper, row_lo, row_hi, starts, index, value, *, integer: bool):
        import highspy

        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("time_limit", float(self.params.time_limit_s))
        h.addCols(self.ncol, np.zeros(self.ncol), lower, upper, 0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        if integer:
            h.changeColsIntegrality(self.ncol, self._cols, np.array([highspy.HighsVarType.kInteger] * self.ncol))
        if row_lo:
            h.addRows(len(row_lo), np.array(row_lo), np.array(row_hi), len(index), np.array(starts, dtype=np.int32),
                      np.array(index, dtype=np.int32), np.array(value, dtype=np.float64))
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        return h

    def _positions(self, units: np.ndarray) -> np.ndarray:
        """Tie-break position of each candidate: higher score, earlier submission, id."""
        order = np.lexsort((self._second, -units))
        pos = np.empty(self.n, dtype=np.int64)
        pos[order] = np.arange(self.n)
        return pos

    def _level_costs(self, units: np.ndarray, pos: np.ndarray) -> list[np.ndarray]:
        """Exact integer objective of each level on the columns (x then c), as int64 arrays."""
        n, cut = self.n, self._cut_of
        zc = np.zeros(len(cut), dtype=np.int64)
        if self.params.objective == "total_score":
            value = np.concatenate([units, zc])
        else:
            value = np.concatenate([units * self._upper, -units[cut] * self._step])
        spend = np.concatenate([self._upper, np.full(len(cut), -self._step, dtype=np.int64)])
        tie = np.concatenate([n - pos, zc])
        levels = [value, spend, tie]
        if len(cut):
            levels.append(np.concatenate([np.zeros(n, dtype=np.int64), pos[cut]]))
        return levels

    def _run(self, cost: np.ndarray, start, what: str) -> tuple[np.ndarray, float]:
        """Set the objective, solve the MILP, accept only a proven optimum; returns the column values and the objective."""
        import highspy

        h = self._h
        h.changeColsCost(self.ncol, self._cols, cost.astype(np.float64))
        if start is not None:
            h.setSolution(self.ncol, self._cols, np.asarray(start, dtype=np.float64))
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        if status != highspy.HighsModelStatus.kOptimal:
            raise AllocationError(f"{what} : {_status_fr(status)} ; aucune décision n'est produite")
        gap = float(info.mip_gap)
        if not (gap <= _MAX_GAP) or info.primal_solution_status != 2:  # 2: kSolutionStatusFeasible
            raise AllocationError(f"{what} : {SolveStatus.FEASIBLE.label_fr} (écart {gap:.2%}) ; aucune décision n'est produite")
        col = np.asarray(h.getSolution().col_value, dtype=np.float64)
        if col.shape != (self.ncol,) or not np.isfinite(col).all():
            raise AllocationError(f"{what} : solution illisible après résolution")
        return col, float(info.objective_function_value)

    # ----------------------------------------------------------------- one draw

    def _units(self, scores) -> np.ndarray:
        s = np.asarray(scores, dtype=float)
        if s.shape != (self.n,):
            raise ValueError(f"vecteur de notes de forme {s.shape} : ({self.n},) attendu, aligné sur candidate_ids")
        if not np.isfinite(s).all():
            bad = [a for a, v in zip(self.candidate_ids, s) if not math.isfinite(v)]
            raise ValueError(f"notes manquantes ou non finies pour {', '.join(bad[:5])}{' …' if len(bad) > 5 else ''} : "
                             "chaque candidat doit avoir une note")
        return np.rint(np.round(s, SCORE_DECIMALS) * SCORE_UNIT).astype(np.int64)

    def solve(self, scores) -> ResolvedDraw:
        """The allocation for one score vector.

        Parameters
        ----------
        scores : array_like of float, shape (n_candidates,)
            Composite scores in points (0–100), aligned with
            :attr:`candidate_ids`; rounded to
            :data:`~ditp_model.scoring.aggregate.SCORE_DECIMALS` decimals as the
            pipeline does.

        Returns
        -------
        ResolvedDraw

        Raises
        ------
        ValueError
            A vector of the wrong shape or with a missing score.
        AllocationError
            A solve that is not a proven optimum, or a result failing the exact integer re-check.
        """
        return self._solve_units(self._units(scores), "tirage")

    def _solve_units(self, units: np.ndarray, what: str) -> ResolvedDraw:
        if not self.n:
            return ResolvedDraw(self._ids, np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64), 0, "certified")
        if self.mode == "exact":
            return self._exact_rule(units, what)
        if not self.fast:
            return self._fallback(units, what)
        pos = self._positions(units)
        levels = self._level_costs(units, pos)
        if not self._exact:
            return self._highs_levels(levels, what)
        try:
            outcome = self._certified(levels, what)
            if isinstance(outcome, str):  # "tie"
                return self._fallback(units, what)
            if isinstance(outcome, tuple):
                x, method = outcome
                return self._finish(x, np.zeros(self.n, dtype=np.int64), levels, None, method, what)
            return self._highs_levels(levels, what, outcome)
        finally:
            self._unfix()

    def _highs_levels(self, levels: list[np.ndarray], what: str, level1: np.ndarray | None = None) -> ResolvedDraw:
        """The levels solved one after the other by HiGHS, each optimum kept as a constraint (as in ``allocate``).

        `level1`: the column values of the level-1 solve just made by
        :meth:`_certified` (from a cleared solver, with the projects its bound
        settles fixed): the levels go on from there.
        """
        h = self._h
        if level1 is None:
            h.clearSolver()  # every draw from the same state: results independent of the draws solved before
        start, optima, added = self._start, [], 0
        try:
            for k, cost in enumerate(levels):
                if k == 0 and level1 is not None:
                    col = level1
                else:
                    col, _ = self._run(cost, start, f"{what}, niveau {k + 1}")
                funded, cuts = self._read_back(col, what)
                optimum = int(cost @ np.concatenate([funded, cuts[self._cut_of]]))  # exact, in integers
                optima.append(optimum)
                if k < len(levels) - 1:
                    nz = np.flatnonzero(cost).astype(np.int32)
                    h.addRow(optimum - 0.5, _inf(), len(nz), nz, cost[nz].astype(np.float64))
                    added += 1
                start = col
        finally:
            if added:
                h.deleteRows(added, np.arange(self._base_rows, self._base_rows + added, dtype=np.int32))
        return self._finish(funded, cuts, levels, optima, "highs", what)

    def _finish(self, funded, cuts, levels, optima, method: str, what: str) -> ResolvedDraw:
        """Awards, the exact integer re-check, and each level's value against that level's own optimum."""
        awards = self._upper * funded - self._step * cuts
        problems = self._violations(funded, cuts, awards)
        columns = np.concatenate([funded, cuts[self._cut_of]])
        for k, optimum in enumerate(optima or ()):
            exact = int(levels[k] @ columns)
            if exact != optimum:
                problems.append(f"niveau {k + 1} : valeur {exact} au lieu de l'optimum {optimum} de ce niveau")
        if problems:
            raise AllocationError(f"{what} : la solution ne respecte pas les règles (vérification en entiers) : "
                                  + " ; ".join(problems))
        flags = funded.astype(bool)
        flags.flags.writeable = False
        awards.flags.writeable = False
        return ResolvedDraw(self._ids, flags, awards, int(levels[0] @ columns), method)

    # ----------------------------------------------------------------- the certificate (no MILP solve)

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

    def _read_back(self, col: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
        """Funded flags and cut steps as integers, after the tolerance check of :func:`~ditp_model.rules.allocation.read_back`."""
        r = np.rint(col)
        off = np.abs(col - r)
        if off.size and off.max() > INTEGRALITY_TOL:
            k = int(off.argmax())
            name = f"x[{self.candidate_ids[k]}]" if k < self.n else f"c[{self.candidate_ids[self._cut_of[k - self.n]]}]"
            raise AllocationError(f"{what} : {name} = {col[k]!r} n'est pas entier (tolérance {INTEGRALITY_TOL})")
        ints = r.astype(np.int64) + 0
        funded = ints[:self.n]
        cuts = np.zeros(self.n, dtype=np.int64)
        cuts[self._cut_of] = ints[self.n:]
        return funded, cuts

    def _violations(self, funded: np.ndarray, cuts: np.ndarray, awards: np.ndarray) -> list[str]:
        """The checks of :func:`~ditp_model.rules.allocation.verify_awards`, vectorised, in exact integers (French)."""
        v: list[str] = []
        ids = self.candidate_ids
        for k in np.flatnonzero((funded != 0) & (funded != 1)):
            v.append(f"{ids[k]} : indicateur de financement {int(funded[k])}")
        f = funded == 1
        for k in np.flatnonzero((cuts < 0) | (cuts > self._max_cut * f)):
            v.append(f"{ids[k]} : {int(cuts[k])} pas de réduction hors de [0 ; {int(self._max_cut[k] * f[k])}]")
        for k in np.flatnonzero(f & ((awards < self._lower) | (awards > self._upper))):
            v.append(f"{ids[k]} : montant {format_eur(int(awards[k]))} hors de [{format_eur(int(self._lower[k]))} ; "
                     f"{format_eur(int(self._upper[k]))}]")
        for k in np.flatnonzero(f & ((self._upper - awards) % self._step != 0)):
            v.append(f"{ids[k]} : réduction de {int(self._upper[k] - awards[k])} € qui n'est pas un multiple du pas de {self._step} €")
        for k in np.flatnonzero(~f & (awards != 0)):
            v.append(f"{ids[k]} : non financé mais montant {format_eur(int(awards[k]))}")
        for k in np.flatnonzero(self._locked & ~f):
            v.append(f"{ids[k]} : imposé par le comité mais non financé")
        total = int(awards.sum())
        if total > self.candidates.available_eur:
            v.append(f"total attribué {format_eur(total)} supérieur à l'enveloppe disponible "
                     f"{format_eur(self.candidates.available_eur)}")
        for r, members, cap in self._groups:
            count = int(f[members].sum())
            spent = int(awards[members].sum())
            if r.min_count is not None and count < r.min_count:
                v.append(f"règle « {r.label_fr()} » non respectée : {count} lauréat(s)")
            if cap is not None and spent > cap:
                v.append(f"règle « {r.label_fr()} » non respectée : {format_eur(spent)}")
        if self.params.max_awards is not None and int(f.sum()) > self.params.max_awards:
            v.append(f"{int(f.sum())} lauréats pour un maximum de {self.params.max_awards}")
        return v

    # ----------------------------------------------------------------- merit order and ranking rule: exact, no solver

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
        return ResolvedDraw(self._ids, flags, awards, 0, "exact")

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
            x = merit_search(self._upper[order], reach, first, [(m[order], cap) for m, cap in self._caps],
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
        return ResolvedDraw(self._ids, funded, awards, value, "allocate")

    # ----------------------------------------------------------------- many draws

    def _solve_block(self, units: np.ndarray, first: int = 0, hook=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Solve rows of integer score units; ``hook(k)`` after each row.  Returns funded, awards and methods."""
        funded = np.zeros(units.shape, dtype=bool)
        awards = np.zeros(units.shape, dtype=np.int64)
        methods = np.empty(len(units), dtype=object)
        for k in range(len(units)):
            d = self._solve_units(units[k], f"tirage {first + k + 1}")
            funded[k] = d.funded
            awards[k] = d.award_eur
            methods[k] = d.method
            if hook is not None:
                hook(k + 1)
        return funded, awards, methods

    def solve_many(self, score_matrix, *, n_jobs: int = 1, scheduler=None, progress: bool | None = None,
                   on_progress=None, chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The allocation for every row of a score matrix, in process, over processes or on a Dask cluster.

        Parameters
        ----------
        score_matrix : array_like of float, shape (n_draws, n_candidates)
            One score vector per row (points, aligned with :attr:`candidate_ids`).
        n_jobs : int
            1: in this process.  More: joblib worker processes (loky backend)
            over chunks of rows; -1: one per core.
        scheduler : str, optional
            Address of a Dask distributed scheduler (``"tcp://host:port"``): the
            chunks are sent to its workers (``n_jobs`` is then ignored).  A
            ``distributed.Client`` is accepted too (left open).
        progress : bool, optional
            tqdm progress bar (``tqdm.auto``: the notebook flavour in Jupyter);
            default only when stderr is a terminal.
        on_progress : callable, optional
            ``on_progress(done, total)``: after each row in process, after each
            chunk otherwise; ``done`` ends at ``n_draws``.
        chunk_size : int, optional
            Rows per chunk sent to a worker; default about four chunks per worker.

        Returns
        -------
        funded : numpy.ndarray of bool, shape (n_draws, n_candidates)
        awards : numpy.ndarray of int64, shape (n_draws, n_candidates)
            Whole euros.  Row ``d`` is the result of row ``d`` whatever
            ``n_jobs``, the scheduler or the chunks.

        Raises
        ------
        ValueError
            A matrix of the wrong shape, a missing score, bad ``n_jobs`` or ``chunk_size``.
        AllocationError
            A row whose solve is not a proven optimum or fails the exact re-check
            (the message names the row, ``tirage <d + 1>``).
        ImportError
            ``scheduler`` given but Dask distributed is not installed.
        """
        S = np.asarray(score_matrix, dtype=float)
        if S.ndim != 2 or S.shape[1] != self.n:
            raise ValueError(f"matrice de notes de forme {S.shape} : (n_tirages, {self.n}) attendue, colonnes alignées sur candidate_ids")
        if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0 or n_jobs < -1:
            raise ValueError(f"n_jobs = {n_jobs!r} : 1 (ce processus), un nombre de processus, ou -1 (un par cœur)")
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"chunk_size = {chunk_size!r} : un nombre entier de tirages d'au moins 1 est attendu")
        n_draws = len(S)
        units = np.zeros(S.shape, dtype=np.int64)
        for d in range(n_draws):
            try:
                units[d] = self._units(S[d])
            except ValueError as e:
                raise ValueError(f"tirage {d + 1} : {e}") from None
        sink = ProgressSink(n_draws, progress, on_progress, "allocations")
        try:
            if scheduler is not None:
                funded, awards, methods = self._many_dask(units, scheduler, chunk_size, sink)
            elif n_jobs != 1 and n_draws > 1:
                funded, awards, methods = self._many_joblib(units, n_jobs, chunk_size, sink)
            else:
                funded, awards, methods = self._solve_block(units, 0, sink.advance_to)
        finally:
            sink.close()
        self.last_methods = methods
        return funded, awards

    def _chunks(self, n_draws: int, workers: int, chunk_size: int | None) -> list[tuple[int, int]]:
        size = chunk_size or max(1, math.ceil(n_draws / (4 * max(1, workers))))
        return [(a, min(a + size, n_draws)) for a in range(0, n_draws, size)]

    def _many_joblib(self, units, n_jobs, chunk_size, sink):
        from joblib import Parallel, delayed

        workers = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
        chunks = self._chunks(len(units), workers, chunk_size)
        funded = np.zeros(units.shape, dtype=bool)
        awards = np.zeros(units.shape, dtype=np.int64)
        methods = np.empty(len(units), dtype=object)
        opts = (self.certify, self.per_draw_thresholds)
        tasks = (delayed(_solve_chunk)(self.evaluation, self.params, opts, self.token, units[a:b], a)
                 for a, b in chunks)
        results = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")(tasks)
        for (a, b), (f, w, how) in zip(chunks, results):
            funded[a:b], awards[a:b], methods[a:b] = f, w, how
            sink.advance_by(b - a)
        return funded, awards, methods

    def _many_dask(self, units, scheduler, chunk_size, sink):
        try:
            import distributed
        except ImportError:
            raise ImportError("calcul sur une grappe Dask demandé (scheduler) mais le paquet « distributed » n'est pas installé : "
                              "pip install 'ditp-allocation[cluster]' (ou pip install distributed), ou bien n_jobs "
                              "pour des processus locaux") from None
        own = isinstance(scheduler, str)
        if not own and not hasattr(scheduler, "submit"):
            raise ValueError(f"scheduler = {scheduler!r} : une adresse d'ordonnanceur Dask est attendue, "
                             "par ex. « tcp://127.0.0.1:8786 »")
        try:
            client = distributed.Client(scheduler, set_as_default=False) if own else scheduler
        except OSError as e:
            raise OSError(f"ordonnanceur Dask injoignable à l'adresse {scheduler} : {e}") from None
        try:
            workers = max(1, sum(client.nthreads().values()))
            chunks = self._chunks(len(units), workers, chunk_size)
            [payload] = client.scatter([(self.evaluation, self.params, (self.certify, self.per_draw_thresholds))],
                                      broadcast=True, hash=False)
            futures = [client.submit(_solve_chunk_payload, payload, self.token, units[a:b], a, pure=False) for a, b in chunks]
            funded = np.zeros(units.shape, dtype=bool)
            awards = np.zeros(units.shape, dtype=np.int64)
            methods = np.empty(len(units), dtype=object)
            try:
                for (a, b), fut in zip(chunks, futures):
                    funded[a:b], awards[a:b], methods[a:b] = fut.result()
                    sink.advance_by(b - a)
            finally:
                for fut in futures:
                    fut.cancel()
                del payload
        finally:
            if own:
                client.close()
        return funded, awards, methods


def _inf() -> float:
    import highspy

    return highspy.kHighsInf


# --------------------------------------------------------------------------- workers

_LOCAL = threading.local()


def _rebuild(evaluation: Evaluation, params: AllocationParams, certify: bool,
             per_draw_thresholds: bool = False) -> ScoreResolver:
    return ScoreResolver(evaluation, params, certify=certify, per_draw_thresholds=per_draw_thresholds)


def _worker_resolver(evaluation: Evaluation, params: AllocationParams, opts, token: str) -> ScoreResolver:
    """This worker's resolver for `token`, built once and kept for the next chunks (one per thread).

    `opts`: ``certify``, or ``(certify, per_draw_thresholds)``.
    """
    certify, per_draw = opts if isinstance(opts, tuple) else (opts, False)
    cached = getattr(_LOCAL, "resolver", None)
    if cached is None or cached[0] != token:
        _LOCAL.resolver = None  # free the previous one first
        _LOCAL.resolver = (token, ScoreResolver(evaluation, params, certify=certify, per_draw_thresholds=per_draw))
    return _LOCAL.resolver[1]


def _solve_chunk(evaluation: Evaluation, params: AllocationParams, opts, token: str, units: np.ndarray,
                 first: int):
    """Solve a chunk of rows (integer score units) in a worker; rows numbered from `first`."""
    return _worker_resolver(evaluation, params, opts, token)._solve_block(units, first)


def _solve_chunk_payload(payload, token: str, units: np.ndarray, first: int):
    evaluation, params, opts = payload
    return _solve_chunk(evaluation, params, opts, token, units, first)


# --------------------------------------------------------------------------- progress


class ProgressSink:
    """A tqdm bar (``tqdm.auto``) and an ``on_progress(done, total)`` hook fed with the number of draws done.

    Parameters
    ----------
    total : int
    progress : bool or None
        Show the bar; ``None``: only when stderr is a terminal.
    on_progress : callable or None
    desc : str
    """

    def __init__(self, total: int, progress: bool | None, on_progress, desc: str):
        self.total, self.done, self.on_progress = total, 0, on_progress
        self.bar = None
        show = sys.stderr.isatty() if progress is None else progress
        if show:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # tqdm is optional: no bar
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=desc, leave=False)
        self._t0 = time.perf_counter()

    def advance_to(self, done: int) -> None:
        if done <= self.done:
            return
        if self.bar is not None:
            self.bar.update(done - self.done)
        self.done = done
        if self.on_progress is not None:
            self.on_progress(done, self.total)

    def advance_by(self, k: int) -> None:
        self.advance_to(self.done + k)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
