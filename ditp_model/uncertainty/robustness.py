"""How robust is the funding decision: weights, envelope and the alternatives the rule leaves open.

Four analyses, each a pure function of an :class:`~ditp_model.scoring.pipeline.Evaluation`
and :class:`~ditp_model.rules.allocation.AllocationParams` (plus a recorded seed where
randomness is involved), each re-deciding with the committee's decision rule
(``params.rule``, default the call's: the merit order, DESIGN.md "The decision
rules"); no analysis calls a particular objective by itself:

* :func:`weight_monte_carlo` - weights drawn from a Dirichlet distribution
  centred on the committee's weights; per application, the probability of being
  funded, the expected award and a class "toujours financé" / "incertain" /
  "jamais financé" (one model for all draws, :mod:`ditp_model.uncertainty.resolve`; in
  parallel over processes or a Dask cluster);
* :func:`stability_intervals` - for each criterion, the range of its
  (normalised) weight over which the funded set does not change, the other
  weights keeping their proportions;
* :func:`envelope_sweep` and :func:`envelope_sweep_figure` - the funded set as
  the envelope goes from 50 % to 150 % of the call's;
* :func:`near_optimal_portfolios` - the other portfolios the rule leaves
  open: under the merit order, the other merit-consistent portfolios at δ
  (they differ inside the ex aequo band, and in what the remainder funds)
  spending at least 99 % (or any share) of the decision; under an
  optimisation rule, every funded set whose value is within 1 % of the
  optimum; found with no-good cuts.

Weights are always read normalised (they sum to 1, :meth:`Weights.normalised`);
scores are composite points (0–100); amounts are whole euros (``int``).

Per-member weights are in :mod:`ditp_model.uncertainty.members`; review uncertainty (the
SNSF Bayesian model, ``../shared/methods/expected-rank.md``) in
:mod:`ditp_model.scoring.review_model`, and the probability of funding under the money
envelope, the grey zone and its lottery in :mod:`ditp_model.uncertainty.grey_zone`.

Why this module is slightly longer than 800 lines (about 830): its four
analyses share the re-decision with the committee's rule, the progress bar and
the recorded seeds; each is a named function, and the fast re-solve they stand
on already lives in :mod:`ditp_model.uncertainty.resolve`.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pulp

from ditp_model.rules.allocation import (
    Allocation,
    AllocationError,
    AllocationParams,
    Candidates,
    SolveStatus,
    allocate,
    allocate_candidates,
    build,
    check,
    quality_thresholds,
    read_back,
    solve,
    verify_awards,
)
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.french import format_number
from ditp_model.uncertainty.resolve import ProgressSink, ScoreResolver, composite_score_matrix
from ditp_model.scoring.aggregate import Weights

if TYPE_CHECKING:  # matplotlib is imported by envelope_sweep_figure only
    from matplotlib.figure import Figure

__all__ = [
    "ROBUSTNESS_CLASSES_FR",
    "WeightMonteCarlo",
    "weight_monte_carlo",
    "weights_along",
    "stability_intervals",
    "envelope_sweep",
    "envelope_sweep_figure",
    "NearOptimalPortfolios",
    "near_optimal_portfolios",
]

#: Grid step of the dense check of :func:`stability_intervals` under the merit order (normalised weight).
STABILITY_CHECK_STEP = 0.01

#: Class of an application under weight uncertainty: code -> French label.
ROBUSTNESS_CLASSES_FR = {"always": "toujours financé", "swing": "incertain", "never": "jamais financé"}


def progress_bar(iterable, total: int, progress: bool | None, desc: str):
    """Wrap `iterable` in a tqdm bar when asked (``None``: only when stderr is a terminal)."""
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False)


def _solved(alloc: Allocation, what: str) -> Allocation:
    """Refuse a result that is not a proven optimum (status first, STYLE.md 2)."""
    if alloc.status is not SolveStatus.OPTIMAL:
        raise AllocationError(f"{what} : {alloc.status.label_fr}. {alloc.message}")
    return alloc


def _weights_from(names: list[str], values) -> Weights:
    return Weights(tuple((n, float(v)) for n, v in zip(names, values)))


# --------------------------------------------------------------------------- weight Monte Carlo


@dataclass(frozen=True)
class WeightMonteCarlo:
    """Result of :func:`weight_monte_carlo` (immutable; the seed makes it reproducible).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per application, in input order: ``application_id``, ``title``,
        ``candidate`` (bool: a candidate of the decision — eligible, scored, fundable
        (above the quality thresholds), not locked out),
        ``funded_at_weights`` (bool: funded with the committee's own weights),
        ``score`` (composite points at the committee's weights, NaN when not
        scored), ``score_p05``, ``score_p95`` (5th and 95th percentiles of the
        composite score over the draws, points), ``n_funded`` (int, draws in
        which it is funded), ``p_funded`` (float, ``n_funded / n_draws``),
        ``expected_award_eur`` (int: the mean award over all draws, 0 € in a
        draw where it is not funded, rounded to the nearest euro, halves up),
        ``robustness`` (``always`` / ``swing`` / ``never``) and
        ``robustness_fr`` (its French label, :data:`ROBUSTNESS_CLASSES_FR`).
    seed : int
        Seed of ``numpy.random.default_rng``.
    n_draws : int
    concentration : float
        Dirichlet concentration κ (α = κ · w).
    weights : dict
        The committee's normalised weights, criterion -> share.
    draws : pandas.DataFrame
        The drawn normalised weights, one row per draw, one column per criterion.
    seconds : float
        Wall time.
    """

    table: pd.DataFrame
    seed: int
    n_draws: int
    concentration: float
    weights: dict
    draws: pd.DataFrame
    seconds: float


def weight_monte_carlo(evaluation: Evaluation, params: AllocationParams | None = None, n_draws: int = 200,
                       concentration: float = 50.0, seed: int | None = None, *,
                       progress: bool | None = None, on_progress=None, n_jobs: int = 1,
                       scheduler: str | None = None) -> WeightMonteCarlo:
    """Probability of being funded when the weights are uncertain (Monte Carlo over Dirichlet draws).

    Each draw takes normalised weights ``w' ~ Dirichlet(κ · w)`` where ``w`` are
    the committee's normalised weights and κ the `concentration`: the mean of
    ``w'`` is ``w`` and the variance of each share is ``w_c (1 − w_c) / (κ + 1)``
    (so κ = 50 gives a standard deviation of about 7 points on a weight of
    50 %).  A criterion with weight 0 keeps weight 0 (it is left out of the
    Dirichlet).  Each draw re-scores the applications and re-decides with the
    committee's rule (``params.rule``, default the merit order) and
    ``check_alternatives=False``; every other parameter (envelope, locks,
    portfolio rules, quality thresholds, δ) is kept.  The overall quality
    threshold is applied to each draw's scores (an application near 50 points
    may be fundable in one draw and not in another); a δ declared « auto » is
    computed once, at the committee's weights, and held for every draw.

    All weights are drawn first (the same seeded sequence, one Dirichlet draw
    after the other), all composite scores computed at once
    (:func:`~ditp_model.uncertainty.resolve.composite_score_matrix`, bit for bit what
    :meth:`Evaluation.with_weights` gives), then every allocation is solved on
    :class:`~ditp_model.uncertainty.resolve.ScoreResolver` (for each draw the funded set
    and awards of :func:`~ditp_model.rules.allocation.allocate`: under the merit
    order computed exactly in integers without a solver, about 1 ms a draw on
    the sample; under an optimisation rule on one model built once), in this
    process, over ``n_jobs`` processes or on a Dask cluster
    (``benchmarks/RESULTS_montecarlo.md``).  A draw that changes which
    applications are scored (a criterion whose weight falls to exactly 0
    while some application has no mark on it), or, under an optimisation
    rule, which applications pass the overall quality threshold, goes through
    :meth:`Evaluation.with_weights` and :func:`~ditp_model.rules.allocation.allocate`
    instead.  For a given seed the result does not depend on ``n_jobs`` or the
    cluster.

    Parameters
    ----------
    evaluation : Evaluation
    params : AllocationParams, optional
    n_draws : int
        Number of weight vectors drawn.
    concentration : float
        κ > 0; larger means draws closer to the committee's weights.
    seed : int, optional
        Seed of ``numpy.random.default_rng``; when omitted, a fresh one is drawn
        from the operating system and recorded in the result.
    progress : bool, optional
        tqdm progress bar (``tqdm.auto``; default: only when stderr is a terminal).
    on_progress : callable, optional
        ``on_progress(done, total)`` called as draws complete (after each draw
        in this process, after each chunk of draws in parallel; ``done`` ends
        at ``n_draws``): a hook for a progress widget (committee panel).
    n_jobs : int
        Worker processes (joblib, loky backend); 1: in this process; -1: one per core.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``"tcp://host:port"``) to
        spread the draws over its workers instead (needs the ``cluster``
        extra: ``pip install 'ditp-allocation[cluster]'``).

    Returns
    -------
    WeightMonteCarlo

    Raises
    ------
    ValueError
        ``n_draws`` below 1, a non-positive concentration or a bad ``n_jobs`` (French message).
    AllocationError
        A draw whose allocation is not a proven optimum.
    ImportError
        ``scheduler`` given without Dask distributed installed.

    Notes
    -----
    The Dirichlet as a model of weight uncertainty around a point estimate is
    the usual choice in stochastic multicriteria acceptability analysis
    (Lahdelma, Hokkanen & Salminen, "SMAA - Stochastic multiobjective
    acceptability analysis", EJOR 106(1), 1998, which samples uniformly on the
    simplex, i.e. κ·w = 1); here centred on the committee's weights.
    """
    if not isinstance(n_draws, int) or isinstance(n_draws, bool) or n_draws < 1:
        raise ValueError(f"n_draws = {n_draws!r} : un nombre entier de tirages d'au moins 1 est attendu")
    if not (isinstance(concentration, (int, float)) and math.isfinite(concentration) and concentration > 0):
        raise ValueError(f"concentration = {concentration!r} : un nombre strictement positif est attendu")
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs = {n_jobs!r} : 1 (ce processus), un nombre de processus, ou -1 (un par cœur)")
    t0 = time.perf_counter()
    params = params or AllocationParams()
    fast = replace(params, check_alternatives=False)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    rng = np.random.default_rng(seed)
    base = evaluation.weights.normalised()
    names = list(base)
    w = np.array([base[n] for n in names])
    positive = w > 0
    table = evaluation.table
    ids = table["application_id"].tolist()
    pos = {a: k for k, a in enumerate(ids)}
    reference = _solved(allocate(evaluation, fast), "allocation aux pondérations du comité")
    candidates = set(reference.candidates.table["application_id"])
    funded_ref = set(reference.funded_ids)
    declared = params.tie_band_points if params.tie_band_points is not None else evaluation.rules.selection.tie_band_points
    if declared == "auto":  # δ computed once, at the committee's weights, and held for every draw
        fast = replace(fast, tie_band_points=reference.candidates.tie_band_points)
    drawn = np.zeros((n_draws, len(names)))
    for d in range(n_draws):  # one draw after the other: the seeded sequence of earlier versions
        drawn[d, positive] = rng.dirichlet(concentration * w[positive])
    scores = composite_score_matrix(evaluation, drawn, names)
    # A draw that changes which applications are scored changes the candidates: the slow path for it.  So does
    # one that moves an application across the overall quality threshold, unless the resolver applies the
    # threshold to each draw itself (merit order and ranking rule: exact path).
    scored = table["scored"].to_numpy(dtype=bool)
    changed = np.isfinite(scores) != scored[None, :]
    resolver = ScoreResolver(evaluation, fast, per_draw_thresholds=True)
    overall, _ = quality_thresholds(evaluation, fast)
    if overall > 0 and not resolver.per_draw_thresholds:
        eligible = (table["eligible"].to_numpy(dtype=bool) & scored)[None, :]
        with np.errstate(invalid="ignore"):
            above = np.round(scores, 4) >= overall
            above_ref = np.round(table["score"].to_numpy(dtype=float), 4) >= overall
        changed |= eligible & (above != above_ref[None, :])
    slow = np.flatnonzero(changed.any(axis=1))
    quick = np.setdiff1d(np.arange(n_draws), slow)
    n_funded = np.zeros(len(ids), dtype=np.int64)
    award_sum = [0] * len(ids)  # Python ints: exact
    sink = ProgressSink(n_draws, progress, on_progress, "pondérations")
    try:
        if len(quick):
            cols = np.array([pos[a] for a in resolver.candidate_ids], dtype=np.int64)
            funded, awards = resolver.solve_many(scores[np.ix_(quick, cols)], n_jobs=n_jobs, scheduler=scheduler,
                                                 progress=False, on_progress=lambda done, total: sink.advance_to(done))
            n_funded[cols] += funded.sum(axis=0)
            for k, s in zip(cols, awards.sum(axis=0, dtype=object)):
                award_sum[k] += int(s)
        for d in slow:
            ev = evaluation.with_weights(_weights_from(names, drawn[d]))
            scores[d] = ev.scores.set_index("application_id").loc[ids, "score"].to_numpy(dtype=float)
            dec = _solved(allocate(ev, fast), f"tirage {d + 1}").decisions
            for aid, f, a in zip(dec["application_id"], dec["funded"], dec["award_eur"]):
                if f:
                    n_funded[pos[aid]] += 1
                    award_sum[pos[aid]] += int(a)
            sink.advance_by(1)
    finally:
        sink.close()
    robust = np.where(n_funded == n_draws, "always", np.where(n_funded == 0, "never", "swing"))
    with np.errstate(all="ignore"):
        all_nan = np.isnan(scores).all(axis=0)
        p05 = np.where(all_nan, np.nan, np.nanpercentile(np.where(all_nan, 0.0, scores), 5, axis=0))
        p95 = np.where(all_nan, np.nan, np.nanpercentile(np.where(all_nan, 0.0, scores), 95, axis=0))
    out = pd.DataFrame({
        "application_id": ids,
        "title": table["title"].tolist(),
        "candidate": [a in candidates for a in ids],
        "funded_at_weights": [a in funded_ref for a in ids],
        "score": table["score"].astype(float).to_numpy(),
        "score_p05": np.round(p05, 4),
        "score_p95": np.round(p95, 4),
        "n_funded": pd.array(n_funded, dtype="int64"),
        "p_funded": n_funded / n_draws,
        "expected_award_eur": pd.array([(2 * s + n_draws) // (2 * n_draws) for s in award_sum], dtype="int64"),
        "robustness": robust,
        "robustness_fr": [ROBUSTNESS_CLASSES_FR[r] for r in robust],
    })
    return WeightMonteCarlo(out, int(seed), n_draws, float(concentration), dict(base),
                            pd.DataFrame(drawn, columns=names), time.perf_counter() - t0)


# --------------------------------------------------------------------------- stability intervals


def weights_along(weights: Weights, criterion: str, t: float) -> Weights:
    """Normalised weights with `criterion` at share `t` and the others keeping their proportions.

    The others share ``1 − t`` in proportion to their current weights; when
    they are all zero (the criterion holds everything), they share it equally.

    Raises
    ------
    ValueError
        Unknown criterion or `t` outside [0, 1].
    """
    w = weights.normalised()
    if criterion not in w:
        raise ValueError(f"critère inconnu « {criterion} » ; critères : {', '.join(w)}")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"part {t} hors de [0 ; 1]")
    others = [n for n in w if n != criterion]
    rest = sum(w[n] for n in others)
    out = {}
    for n in w:
        if n == criterion:
            out[n] = t
        elif rest > 0:
            out[n] = (1.0 - t) * w[n] / rest
        else:
            out[n] = (1.0 - t) / len(others)
    return _weights_from(list(out), list(out.values()))


def stability_intervals(evaluation: Evaluation, params: AllocationParams | None = None, tol: float = 0.001) -> pd.DataFrame:
    """For each criterion, the range of its weight over which the funded set does not change.

    The criterion's normalised weight *t* moves over [0, 1], the others sharing
    ``1 − t`` in their current proportions (:func:`weights_along`).  Every
    composite score is then linear in *t*.  Each end of the interval around
    the current weight is found by bisection (one decision per step, with the
    committee's rule) to within `tol`.  Under an optimisation rule the value
    of any given portfolio is linear in *t* and the optimum is the upper
    envelope of these lines, so each funded set is optimal on one interval of
    *t* (up to exact ties).  Under the merit order the decision depends only
    on the ranks, on which pairs are within δ of each other and on who passes
    the quality threshold; these change where two score lines cross, where
    they are δ apart or where one crosses the threshold.  A funded set can
    then come back after a change: besides the bisection, every point of a
    grid of step :data:`STABILITY_CHECK_STEP` (0.01) between the current
    weight and the end found is decided (exactly, in integers:
    :class:`~ditp_model.uncertainty.resolve.ScoreResolver`), and the first change met
    going outwards is bracketed again; a change and its return both narrower
    than the grid step can still go unseen.  A δ declared « auto » is
    computed once, at the committee's weights.

    Parameters
    ----------
    evaluation : Evaluation
    params : AllocationParams, optional
        The committee's rule and settings; decisions use ``check_alternatives=False``.
    tol : float
        Width of the bracket on each breakpoint (normalised weight, 0–1).

    Returns
    -------
    pandas.DataFrame
        One row per criterion (call order): ``criterion``, ``weight`` (current
        normalised weight), ``low``, ``high`` (the funded set is the current one
        for every share in [low, high], checked at both ends; the change happens
        less than `tol` beyond an end unless that end is 0 or 1),
        ``below_enters``, ``below_leaves`` (tuples of application ids: what
        changes just below ``low``, at ``low − tol`` or less), ``above_enters``,
        ``above_leaves`` (just above ``high``).  ``attrs["criterion_labels"]``:
        criterion -> the call's French label, used by
        :func:`ditp_model.outputs.plots.stability_intervals_figure`.

    Raises
    ------
    ValueError
        A non-positive `tol`.
    AllocationError
        An allocation that is not a proven optimum.
    """
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"tol = {tol!r} : une précision entre 0 et 1 (exclus) est attendue")
    params = params or AllocationParams()
    fast = replace(params, check_alternatives=False)
    base = evaluation.weights
    declared = params.tie_band_points if params.tie_band_points is not None else evaluation.rules.selection.tie_band_points
    if declared == "auto":  # δ computed once, at the committee's weights, and held along every line
        fast = replace(fast, tie_band_points=check(evaluation, fast).tie_band_points)
    # Merit order and ranking rule: each point decided exactly in integers (ScoreResolver, thresholds applied to
    # each point's scores), which makes the dense check below cheap.
    resolver = ScoreResolver(evaluation, fast, per_draw_thresholds=True)
    overall, _ = quality_thresholds(evaluation, fast)
    exact = resolver.mode == "exact" and (resolver.per_draw_thresholds or overall <= 0)
    names = list(base.as_dict())
    ids = evaluation.table["application_id"].tolist()
    cols = [ids.index(a) for a in resolver.candidate_ids]
    scored = evaluation.table["scored"].to_numpy(dtype=bool)

    def funded_at(name: str, t: float) -> frozenset:
        w = weights_along(base, name, t)
        if exact:
            raw = w.as_dict()
            scores = composite_score_matrix(evaluation, [[raw[n] for n in names]], names)[0]
            if (np.isfinite(scores) == scored).all():  # same applications scored: same candidates
                return frozenset(resolver.solve(scores[cols]).funded_ids)
        ev = evaluation.with_weights(w)
        return frozenset(_solved(allocate(ev, fast), f"pondération {name} = {t:.4f}").funded_ids)

    def bisect(name: str, current: frozenset, same: float, diff: float, diff_set: frozenset):
        while abs(diff - same) > tol:
            mid = (same + diff) / 2
            s = funded_at(name, mid)
            if s == current:
                same = mid
            else:
                diff, diff_set = mid, s
        return same, diff_set

    rows = []
    for name, w0 in base.normalised().items():
        current = funded_at(name, w0)
        ends = {}
        for side, limit in (("below", 0.0), ("above", 1.0)):
            other = funded_at(name, limit) if limit != w0 else current
            same, diff_set = (limit, other) if other == current else bisect(name, current, w0, limit, other)
            if exact:
                # Under the merit order a funded set can come back after a change: every point of a grid of step
                # CHECK_STEP between the current weight and the end found is decided too, and the first change
                # met going outwards is bracketed again.
                sign = 1.0 if limit > w0 else -1.0
                previous = w0
                for k in range(1, int(abs(same - w0) / STABILITY_CHECK_STEP) + 1):
                    t = w0 + sign * k * STABILITY_CHECK_STEP
                    s = funded_at(name, t)
                    if s != current:
                        same, diff_set = bisect(name, current, previous, t, s)
                        break
                    previous = t
            if diff_set == current:
                ends[side] = (limit, (), ())
            else:
                ends[side] = (same, tuple(sorted(diff_set - current)), tuple(sorted(current - diff_set)))
        rows.append({"criterion": name, "weight": w0, "low": ends["below"][0], "high": ends["above"][0],
                     "below_enters": ends["below"][1], "below_leaves": ends["below"][2],
                     "above_enters": ends["above"][1], "above_leaves": ends["above"][2]})
    out = pd.DataFrame(rows)
    out.attrs["criterion_labels"] = {c.name: c.label for c in evaluation.rules.criteria}
    return out


# --------------------------------------------------------------------------- envelope sweep


def envelope_sweep(evaluation: Evaluation, params: AllocationParams | None = None, lo: float = 0.5, hi: float = 1.5,
                   steps: int = 21) -> pd.DataFrame:
    """The funded set as the envelope goes from `lo` to `hi` times the call's.

    Parameters
    ----------
    evaluation : Evaluation
    params : AllocationParams, optional
        The reference envelope is ``params.envelope_eur`` when set, else the
        call's; commitments, reserve, locks and rules are kept.
    lo, hi : float
        Shares of the reference envelope (0 ≤ lo ≤ hi).
    steps : int
        Number of envelopes, evenly spaced (each rounded to the nearest euro).

    Returns
    -------
    pandas.DataFrame
        One row per envelope, increasing: ``share``, ``envelope_eur`` (int),
        ``available_eur`` (int: minus commitments and reserve), ``n_funded``,
        ``total_score`` (points), ``total_awarded_eur`` (int), ``funded``
        (tuple of ids, tie-break order), ``entered``, ``left`` (tuples of ids
        versus the previous row; the first row compares with nothing funded),
        ``entered_award_eur`` (tuple of int, the awards of ``entered``).

    Raises
    ------
    ValueError
        Bad bounds, or an envelope below commitments and reserve.
    AllocationError
        An allocation that is not a proven optimum.
    """
    if not (0 <= lo <= hi) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"balayage de {lo} à {hi} en {steps} pas : 0 ≤ lo ≤ hi et au moins 1 pas attendus")
    params = params or AllocationParams()
    ref = evaluation.rules.funding.envelope_eur if params.envelope_eur is None else params.envelope_eur
    rows = []
    previous: set = set()
    for share in np.linspace(lo, hi, steps):
        env = int(round(float(share) * ref))
        a = _solved(allocate(evaluation, replace(params, envelope_eur=env)), f"enveloppe de {env} €")
        d = a.decisions
        funded = a.funded_ids
        awards = dict(zip(d["application_id"], (int(x) for x in d["award_eur"])))
        entered = tuple(x for x in funded if x not in previous)
        rows.append({"share": float(share), "envelope_eur": env, "available_eur": a.candidates.available_eur,
                     "n_funded": len(funded), "total_score": a.total_score, "total_awarded_eur": a.total_awarded_eur,
                     "funded": tuple(funded), "entered": entered,
                     "left": tuple(sorted(previous - set(funded))),
                     "entered_award_eur": tuple(awards[x] for x in entered)})
        previous = set(funded)
    out = pd.DataFrame(rows)
    for c in ("envelope_eur", "available_eur", "n_funded", "total_awarded_eur"):
        out[c] = out[c].astype("int64")
    return out


def envelope_sweep_figure(table: pd.DataFrame, *, reference_eur: int | None = None, width: float = 8.0) -> Figure:
    """Total score and number of laureates against the envelope (object API, no pyplot).

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`envelope_sweep`.
    reference_eur : int, optional
        The call's envelope, marked by a vertical line.
    width : float
        Figure width in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    # imported here, not at the top: the committee's panel imports this module and is shown without matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(width, 0.55 * width), dpi=96)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    # French numbers on the axes: « 2,5 » M€ (decimal comma), « 2 500 » points (grouped)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v, 1)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v, 0)))
    x = table["envelope_eur"].to_numpy() / 1e6
    ax.step(x, table["total_score"], where="post", color="#1f4e79", marker="o", markersize=3,
            label="somme des notes des lauréats")
    ax.set_xlabel("Enveloppe (M€)")
    ax.set_ylabel("Somme des notes des lauréats (points)", color="#1f4e79")
    ax.tick_params(labelsize=8)
    ax2 = ax.twinx()
    ax2.step(x, table["n_funded"], where="post", color="#c55a11", linestyle="--", label="lauréats")
    ax2.set_ylabel("Nombre de lauréats", color="#c55a11")
    ax2.tick_params(labelsize=8)
    if reference_eur is not None:
        ax.axvline(reference_eur / 1e6, color="grey", linewidth=0.8, linestyle=":")
        ax.annotate(f"enveloppe de l'appel\n{format_number(reference_eur / 1e6, 2)} M€", (reference_eur / 1e6, 0.02),
                    xycoords=("data", "axes fraction"), fontsize=8, ha="left", color="grey")
    ax.set_title("Lauréats selon l'enveloppe", fontsize=10)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- near-optimal portfolios


@dataclass(frozen=True)
class NearOptimalPortfolios:
    """Result of :func:`near_optimal_portfolios`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per distinct funded set, the committee's decision first
        (``portfolio`` 0), then the others: ``portfolio`` (int),
        ``total_score`` (points: the sum of the laureates' scores; for
        ``max_score_weighted_award``, the model's value, score points × euros),
        ``gap_pct`` (percent below the decision: in value for an optimisation
        rule, in money spent for the merit order), ``n_funded``,
        ``total_awarded_eur`` (int), ``funded`` (tuple of ids, rank order),
        ``enters``, ``leaves`` (tuples of ids versus the decision).
        Optimisation rules: by decreasing value, decreasing spend, then
        funded ids.  Merit order: by decreasing spend, then funded ids.
    optimum : float
        Value of the decision (optimisation rules, same unit as
        ``total_score``); money spent by the decision (merit order, euros).
    threshold : float
        Smallest value admitted: ⌈(1 − within) · optimum⌉ (in score units
        converted to points for an optimisation rule; in euros for the merit order).
    within : float
    complete : bool
        True when the solver proved there is no other portfolio within the
        tolerance; False when `max_portfolios` stopped the search first.
    rule : str
        The decision rule the portfolios follow.
    tie_band_points : float
        δ of the merit order (0 for the other rules).
    """

    table: pd.DataFrame
    optimum: float
    threshold: float
    within: float
    complete: bool
    rule: str = "max_total_score"
    tie_band_points: float = 0.0

    def summary_fr(self) -> str:
        """One French sentence saying what the other portfolios are."""
        others = len(self.table) - 1
        more = "" if self.complete else " (liste limitée : il peut y en avoir d'autres)"
        if self.rule == "ranking":
            return "La règle du classement ne laisse aucun choix : un seul portefeuille."
        if self.rule == "merit_order":
            if not others:
                return (f"Aucun autre portefeuille ne respecte l'ordre de mérite à {format_number(self.tie_band_points, 2)} "
                        f"point(s) près (bande d'ex aequo) en dépensant au moins {format_number(100 * (1 - self.within), 0)} % "
                        "du montant de la décision : à ce niveau de dépense, la décision est la seule possible.")
            return (f"{others} autre(s) portefeuille(s) respecte(nt) aussi l'ordre de mérite à "
                    f"{format_number(self.tie_band_points, 2)} point(s) près (bande d'ex aequo) et dépense(nt) au moins "
                    f"{format_number(100 * (1 - self.within), 0)} % du montant de la décision{more} : ils échangent des "
                    "dossiers ex aequo à la ligne de financement, et ce qu'ils financent sur le reliquat ; "
                    "la décision est celui qui dépense le plus, puis départagé par la règle annoncée.")
        return (f"{others} autre(s) portefeuille(s) à moins de {format_number(100 * self.within, 0)} % de l'optimum"
                f"{more} (comparaison seulement : règle d'optimisation).")


def _fill_awards(cands: Candidates, funded: dict) -> pd.DataFrame:
    """For a fixed funded set, the awards that spend most (level 2 of the model); verified."""
    m = build(cands, force=funded)
    m.problem.setObjective(pulp.lpSum(m.award_expr))
    info = solve(m, cands.params.solver, cands.params.time_limit_s)
    if info.status is not SolveStatus.OPTIMAL:
        raise AllocationError(f"montants d'un portefeuille proche de l'optimum : {info.status.label_fr}")
    return read_back(m, cands)


def near_optimal_portfolios(evaluation: Evaluation, params: AllocationParams | None = None, within: float = 0.01,
                            max_portfolios: int = 10) -> NearOptimalPortfolios:
    """The other portfolios the committee's rule leaves open (no-good cuts).

    **Merit order** (the default rule): the alternatives are the other
    merit-consistent portfolios at δ that respect every hard rule and spend
    at least ⌈(1 − within) · spend⌉ of the decision (by definition none
    passes over an application scoring more than δ above one of its
    laureates: they differ inside the ex aequo band, and in what the
    remainder of the envelope funds).  The decision is the first row; the
    others come by decreasing spend.  Each is a solve of the merit-order
    model of the decision (its locks and minimum-count exceptions kept) with
    the objective "money spent" and one no-good cut per portfolio already
    found, and is re-checked in integers, merit order included
    (:func:`~ditp_model.rules.allocation.verify_awards`).  With δ = 0 and no tie
    there is no other portfolio (the ranking rule with skip is the only
    merit-consistent one); the ranking rule leaves no choice either.

    **Optimisation rules** (comparison): the distinct funded sets whose value
    is within `within` of the optimum.  The optimum comes from
    :func:`~ditp_model.rules.allocation.allocate` (named tie-break).  Then the level-1 model is built once
    (:func:`~ditp_model.rules.allocation.build`) with the constraint ``value ≥
    ⌈(1 − within) · optimum⌉`` and, for every funded set *S* already found, the
    no-good cut ``Σ_{i∈S} (1 − x_i) + Σ_{i∉S} x_i ≥ 1`` (Balas & Jeroslow,
    "Canonical cuts on the unit hypercube", SIAM J. Appl. Math. 23(1), 1972);
    each solve returns the best remaining funded set, until the model is
    infeasible (all found) or `max_portfolios` are listed.  When awards can be
    cut, each set's awards are those spending the most.  Every portfolio is
    re-checked in integer arithmetic (:func:`~ditp_model.rules.allocation.verify_awards`).

    Parameters
    ----------
    evaluation : Evaluation
    params : AllocationParams, optional
    within : float
        Relative tolerance, e.g. 0.01 (1 %) or 0.05 (5 %): on the value
        (optimisation rules) or on the money spent (merit order).
    max_portfolios : int
        Most portfolios listed, the optimum included.

    Returns
    -------
    NearOptimalPortfolios

    Raises
    ------
    ValueError
        `within` outside [0, 1) or `max_portfolios` below 1.
    AllocationError
        A solve that is not proven optimal or infeasible, or a portfolio failing the integer re-check.
    """
    if not (isinstance(within, (int, float)) and 0 <= within < 1):
        raise ValueError(f"within = {within!r} : une tolérance entre 0 et 1 (exclu) est attendue, par ex. 0.01")
    if not isinstance(max_portfolios, int) or max_portfolios < 1:
        raise ValueError(f"max_portfolios = {max_portfolios!r} : au moins 1")
    params = params or AllocationParams()
    cands = check(evaluation, params)
    opt = _solved(allocate_candidates(cands), "décision de référence")
    if cands.rule in ("merit_order", "ranking"):
        return _merit_alternatives(opt, within, max_portfolios)
    t = cands.table
    ids = list(t["application_id"])
    units = dict(zip(ids, (int(s) for s in t["score_units"])))

    def value_units(dec: pd.DataFrame) -> int:
        if params.objective == "total_score":
            return sum(units[a] for a, f in zip(dec["application_id"], dec["funded"]) if f)
        return sum(units[a] * int(w) for a, w in zip(dec["application_id"], dec["award_eur"]))

    best = opt.decisions
    v_opt = value_units(best)
    threshold = int(((Decimal(1) - Decimal(str(within))) * v_opt).to_integral_value(rounding=ROUND_CEILING))
    found = [best]
    model = build(cands)
    model.problem.addConstraint(model.value_expr >= threshold - 0.5, "near_optimal")
    complete = False
    while len(found) < max_portfolios:
        s = set(found[-1].loc[found[-1]["funded"], "application_id"])
        model.problem.addConstraint(pulp.lpSum(1 - xi if aid in s else xi for xi, aid in zip(model.x, ids)) >= 1,
                                    f"nogood_{len(found):04d}")
        info = solve(model, params.solver, params.time_limit_s)
        if info.status is SolveStatus.INFEASIBLE:
            complete = True
            break
        if info.status is not SolveStatus.OPTIMAL:
            raise AllocationError(f"recherche de portefeuilles proches de l'optimum : {info.status.label_fr}")
        dec = read_back(model, cands)
        if any(m > 0 for m in t["max_cut_steps"]):
            dec = _fill_awards(cands, dict(zip(dec["application_id"], dec["funded"].astype(int))))
        found.append(dec)
    else:
        # the list is full: say whether anything is left
        s = set(found[-1].loc[found[-1]["funded"], "application_id"])
        model.problem.addConstraint(pulp.lpSum(1 - xi if aid in s else xi for xi, aid in zip(model.x, ids)) >= 1, "nogood_last")
        info = solve(model, params.solver, params.time_limit_s)
        complete = info.status is SolveStatus.INFEASIBLE
    rows = []
    opt_set = set(best.loc[best["funded"], "application_id"])
    for dec in found:
        bad = verify_awards(dec, cands)
        if bad:
            raise AllocationError("portefeuille proche de l'optimum qui ne respecte pas les règles : " + " ; ".join(bad))
        v = value_units(dec)
        if v < threshold:
            raise AllocationError(f"portefeuille de valeur {v} sous le seuil {threshold}")
        funded = [a for a, f in zip(dec["application_id"], dec["funded"]) if f]
        rows.append({"total_score": v / cands.score_unit,
                     "gap_pct": 100.0 * (v_opt - v) / v_opt if v_opt else 0.0,
                     "n_funded": len(funded), "total_awarded_eur": int(dec["award_eur"].sum()),
                     "funded": tuple(funded),
                     "enters": tuple(a for a in funded if a not in opt_set),
                     "leaves": tuple(a for a in ids if a in opt_set and a not in set(funded))})
    head, rest = rows[:1], rows[1:]
    rest.sort(key=lambda r: (-r["total_score"], -r["total_awarded_eur"], r["funded"]))
    out = pd.DataFrame(head + rest)
    out.insert(0, "portfolio", range(len(out)))
    for c in ("n_funded", "total_awarded_eur"):
        out[c] = out[c].astype("int64")
    return NearOptimalPortfolios(out, v_opt / cands.score_unit, int(threshold) / cands.score_unit, float(within), complete,
                                 cands.rule)


def _merit_alternatives(opt: Allocation, within: float, max_portfolios: int) -> NearOptimalPortfolios:
    """The other merit-consistent portfolios at δ spending at least ⌈(1 − within) · spend⌉ (no-good cuts).

    The merit-order model of the decision (:func:`~ditp_model.rules.allocation.build`
    on the decision's candidates: its locks and the applications funded first
    for a minimum-count rule stay funded first) with the objective "money
    spent" and the constraint ``Σ a ≥ ⌈(1 − within) · spend⌉``; each solve
    returns the remaining portfolio that spends most, excluded by a no-good
    cut for the next.  Under the ranking rule the decision is the only portfolio.
    """
    cands = opt.candidates
    t = cands.table
    ids = list(t["application_id"])
    su = dict(zip(ids, (int(v) for v in t["score_units"])))
    best = opt.decisions
    spend_opt = int(best["award_eur"].sum())
    threshold = int(((Decimal(1) - Decimal(str(within))) * spend_opt).to_integral_value(rounding=ROUND_CEILING))
    found = [best]
    complete = True
    if cands.rule == "merit_order" and len(t):
        model = build(cands)
        model.problem.setObjective(pulp.lpSum(model.award_expr))
        model.problem.addConstraint(pulp.lpSum(model.award_expr) >= threshold - 0.5, "near_spend")
        complete = False
        while True:
            s = set(found[-1].loc[found[-1]["funded"], "application_id"])
            model.problem.addConstraint(pulp.lpSum(1 - xi if aid in s else xi for xi, aid in zip(model.x, ids)) >= 1,
                                        f"nogood_{len(found):04d}")
            info = solve(model, cands.params.solver, cands.params.time_limit_s)
            if info.status is SolveStatus.INFEASIBLE:
                complete = True
                break
            if info.status is not SolveStatus.OPTIMAL:
                raise AllocationError(f"recherche d'autres portefeuilles conformes à l'ordre de mérite : {info.status.label_fr}")
            if len(found) == max_portfolios:
                break
            dec = read_back(model, cands)
            if any(m > 0 for m in t["max_cut_steps"]):
                dec = _fill_awards(cands, dict(zip(dec["application_id"], dec["funded"].astype(int))))
            found.append(dec)
    rows = []
    opt_set = set(best.loc[best["funded"], "application_id"])
    for dec in found:
        bad = verify_awards(dec, cands)  # the envelope, the bounds, the rules and the merit order, in integers
        if bad:
            raise AllocationError("portefeuille qui ne respecte pas les règles ou l'ordre de mérite : " + " ; ".join(bad))
        spend = int(dec["award_eur"].sum())
        if spend < threshold:
            raise AllocationError(f"portefeuille de {spend} € sous le seuil de {threshold} €")
        funded = [a for a, f in zip(dec["application_id"], dec["funded"]) if f]
        rows.append({"total_score": sum(su[a] for a in funded) / cands.score_unit,
                     "gap_pct": 100.0 * (spend_opt - spend) / spend_opt if spend_opt else 0.0,
                     "n_funded": len(funded), "total_awarded_eur": spend,
                     "funded": tuple(funded),
                     "enters": tuple(a for a in funded if a not in opt_set),
                     "leaves": tuple(a for a in ids if a in opt_set and a not in set(funded))})
    head, rest = rows[:1], rows[1:]
    rest.sort(key=lambda r: (-r["total_awarded_eur"], r["funded"]))
    out = pd.DataFrame(head + rest)
    out.insert(0, "portfolio", range(len(out)))
    for c in ("n_funded", "total_awarded_eur"):
        out[c] = out[c].astype("int64")
    return NearOptimalPortfolios(out, float(spend_opt), float(threshold), float(within), complete, cands.rule,
                                 cands.tie_band_points)
