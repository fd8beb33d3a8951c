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

:class:`ScoreResolver` reads in named parts: the model and one draw here; the
certificate (bound, fixing, enumeration, meeting in the middle) in
:mod:`ditp_model.uncertainty.resolve_certificate`; the merit order and ranking
rule in exact integers, with the fallback to ``allocate()``, in
:mod:`ditp_model.uncertainty.resolve_exact`; many draws (joblib, Dask) and the
progress bar at the end of this module.

Why this module is longer than 800 lines: the resolver's guarantee (« the
result is ``allocate()``'s ») rests on its integer re-check, its HiGHS levels
and its parallel runs staying side by side with the long docstrings that state
what each path proves; the two parts that stand alone are already in their own
modules.
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

import numpy as np
import pandas as pd

from ditp_model.french import format_number
from ditp_model.rules import allocation as _allocation
from ditp_model.rules.allocation import (
    INTEGRALITY_TOL,
    SCORE_UNIT,
    AllocationError,
    AllocationParams,
    SolveStatus,
    quiet_highs_banner,
    build,
    check,
    diagnose_infeasibility,
    quality_thresholds,
)
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.uncertainty.resolve_certificate import CertificateSteps
from ditp_model.uncertainty.resolve_exact import ExactRuleSteps
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


class ScoreResolver(CertificateSteps, ExactRuleSteps):
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
            raise AllocationError(f"{what} : {SolveStatus.FEASIBLE.label_fr} (écart {format_number(100 * gap, 2)} %) ; aucune décision n'est produite")
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

    def _draw(self, funded, awards, value: int, method: str) -> ResolvedDraw:
        return ResolvedDraw(self._ids, funded, awards, value, method)

    @staticmethod
    def _merit_search(*args, **kwargs):
        return merit_search(*args, **kwargs)  # looked up here at each call (tests replace it)

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
