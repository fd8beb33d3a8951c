"""Reserve advice for rolling selection (issue 8, item 2).

When a committee decides "au fil de l'eau", money awarded now is no longer
there for the applications still to come.  Two levers limit the loss: a
**reserve** kept for later, and a **score threshold** below which a seen
application is not funded now.  :func:`reserve_advice` estimates, for a grid
of (reserve, threshold) pairs, how close a decision now followed by one later
wave comes to the hindsight optimum (every application known).

Every decision of the simulation follows the committee's decision rule
(``params.rule``, default the call's: the merit order, with the call's ex
aequo band), like the real decision.

Model of one simulation (documented assumptions):

1. *Seen applications*: those submitted on or before ``seen_cutoff`` (the
   whole day), eligible, scored and fundable (:func:`ditp_model.rules.allocation.check`:
   above the quality thresholds, not locked out, capped request at least the
   floor).  Each is a pair (composite score, capped request ``u_i``).
2. *Later arrivals resemble the seen ones*: ``expected_later`` pairs drawn with
   replacement (bootstrap) from the seen pairs with
   ``numpy.random.default_rng(seed)``.  All draws are made up front
   (``n_sims × expected_later`` indices), so every (reserve, threshold) pair
   is evaluated on the same simulated arrivals (common random numbers) and the
   draws do not depend on the grid.
3. *Now*: among the seen applications with score ≥ threshold, the decision of
   the rule within ``budget − reserve`` (``budget`` = the envelope).  The seen
   applications not funded now are out for good (the wave rule
   :data:`ditp_model.timeline.waves.WAVE_RULE`).
4. *A single later wave*: the later arrivals decided by the rule within what
   remains (``budget`` minus what was awarded now: the reserve plus what the
   first step left unspent).
5. *All at once*: the decision of the rule on seen + simulated applications
   within ``budget`` (what the committee would decide knowing everything).
6. What is measured, each against the all-at-once decision: the total score
   of the laureates (ratio two-step / all at once), the money spent, and the
   number of all-at-once laureates the two steps leave out (``missed``).
   Under the merit order the all-at-once decision maximises nothing, so the
   score ratio may exceed 1; under ``max_total_score`` (comparison only) it
   is at most 1, checked in exact integers.

Awards are the capped request in whole euros (no cut, the call's default
``min_share = 1``).  Every decision is :func:`ditp_model.rules.allocation.allocate_candidates`
on a plain table (:func:`ditp_model.rules.allocation.candidates_from_table`), so the
awards are re-checked in integers; use ``AllocationParams(check_alternatives=False)``
for speed.

:func:`reserve_replay_table` is the other view, on the real calendar:
:func:`ditp_model.timeline.waves.replay_weekly` with constant reserves compared with the
all-at-once decision under the same rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ditp_model.rules.allocation import (SCORE_UNIT, AllocationError, AllocationParams, NotOptimalError, allocate_candidates,
                         candidates_from_table, check)
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.french import format_number
from ditp_model.timeline.waves import _as_date, _submission_dates, compare_with_all_at_once, replay_weekly

__all__ = ["DEFAULT_SEED", "seen_pool", "reserve_advice", "reserve_replay_table", "reserve_advice_figure"]

#: Published default seed of the simulations.
DEFAULT_SEED = 2021

ADVICE_COLUMNS = ["reserve_eur", "threshold", "now_candidates", "now_funded", "now_awarded_eur", "now_score",
                  "mean_total_score", "mean_hindsight_score", "mean_ratio", "p10_ratio", "p90_ratio",
                  "mean_awarded_eur", "mean_hindsight_awarded_eur", "mean_missed", "n_sims", "expected_later", "seed",
                  "rule"]


def _check_params(params: AllocationParams) -> None:
    if params.committed_eur or params.reserve_eur:
        raise ValueError("committed_eur et reserve_eur doivent rester à 0 : la réserve est un argument de reserve_advice "
                         "(reserves)")
    if params.group_rules or params.max_awards is not None or params.lock_in:
        raise ValueError("règles de portefeuille, nombre maximal de lauréats et dossiers imposés ne sont pas pris en "
                         "charge par la simulation : les retirer des paramètres")


def seen_pool(evaluation: Evaluation, seen_cutoff, params: AllocationParams | None = None) -> pd.DataFrame:
    """The applications seen by `seen_cutoff` (inclusive) that could be funded.

    Returns
    -------
    pandas.DataFrame
        ``application_id``, ``score`` (points), ``score_units`` (int, exact),
        ``upper_eur`` (capped request, int euros), in tie-break order:
        eligible, scored, not locked out, capped request at least the floor.
    """
    params = params or AllocationParams()
    cutoff = _as_date(seen_cutoff)
    dates = _submission_dates(evaluation)
    t = check(evaluation, params).table
    keep = [dates[a] <= cutoff for a in t["application_id"]]
    out = t.loc[keep, ["application_id", "score", "score_units", "upper_eur"]].reset_index(drop=True)
    out["score_units"] = out["score_units"].astype("int64")
    out["upper_eur"] = out["upper_eur"].astype("int64")
    return out


def _plain_candidates(ids: Sequence[str], units: Sequence[int], upper: Sequence[int], available: int,
                      params: AllocationParams, rule: str, tie_band_units: int):
    table = pd.DataFrame({"application_id": list(ids), "score": [u / SCORE_UNIT for u in units],
                          "requested_eur": [int(u) for u in upper], "award_floor_eur": [int(u) for u in upper],
                          "award_cap_eur": [int(u) for u in upper]})
    cands = candidates_from_table(table, int(available), params)
    return replace(cands, rule=rule, tie_band_units=int(tie_band_units))


def _decide(ids: Sequence[str], units: Sequence[int], upper: Sequence[int], available: int, params: AllocationParams,
            rule: str, tie_band_units: int) -> tuple[frozenset, int, int]:
    """The decision of `rule` on a plain table: (funded ids, total score in score units, awarded euros)."""
    if not len(ids) or available <= 0:
        return frozenset(), 0, 0
    alloc = allocate_candidates(_plain_candidates(ids, units, upper, available, params, rule, tie_band_units))
    if not alloc.is_optimal:
        raise NotOptimalError(f"simulation de réserve : {alloc.message}")
    d = alloc.decisions
    value_of = dict(zip(ids, (int(u) for u in units)))
    funded = frozenset(d.loc[d["funded"], "application_id"])
    return funded, sum(value_of[a] for a in funded), int(d["award_eur"].sum())


def reserve_advice(evaluation: Evaluation, seen_cutoff, expected_later: int, reserves: Sequence[int],
                   thresholds: Sequence[float], n_sims: int = 50, seed: int = DEFAULT_SEED,
                   params: AllocationParams | None = None) -> pd.DataFrame:
    """Decide now or keep a reserve?  Simulated two-step decisions against the hindsight optimum.

    See the module docstring for the model and its assumptions (later
    arrivals resemble the seen ones; a single later wave).

    Parameters
    ----------
    evaluation : Evaluation
    seen_cutoff : date, datetime or ISO str
        Applications submitted on or before this day are seen.
    expected_later : int
        Number of later applications to simulate (≥ 0).
    reserves : sequence of int
        Reserves in whole euros, each between 0 and the envelope.
    thresholds : sequence of float
        Minimum composite score (points) to be funded now; 0 funds any seen application.
    n_sims : int
        Number of simulations (≥ 1).
    seed : int
        Seed of ``numpy.random.default_rng`` (recorded in the result).
    params : AllocationParams, optional
        Envelope, bounds, lock-outs, decision rule, quality thresholds, ex
        aequo band, solver; no reserve, commitment, lock-in, group rule or
        maximum number of awards.  Default ``AllocationParams(check_alternatives=False)``.

    Returns
    -------
    pandas.DataFrame
        One row per (reserve, threshold), reserves then thresholds in the
        given order: ``reserve_eur``, ``threshold``, ``now_candidates`` (seen
        applications at or above the threshold), ``now_funded``,
        ``now_awarded_eur`` (int), ``now_score`` (points), then over the
        simulations ``mean_total_score`` (laureates' scores, now + later),
        ``mean_hindsight_score`` (the all-at-once decision's), ``mean_ratio``,
        ``p10_ratio``, ``p90_ratio`` (ratio = two-step total / all-at-once
        total; percentiles by linear interpolation, ``numpy.percentile``),
        ``mean_awarded_eur`` and ``mean_hindsight_awarded_eur`` (money spent,
        int, mean rounded half up), ``mean_missed`` (all-at-once laureates
        the two steps leave out), and ``n_sims``, ``expected_later``,
        ``seed``, ``rule`` (the decision rule).  ``attrs`` holds the
        parameters (seed, cut-off, envelope, seen count, rule).

    Raises
    ------
    ValueError
        Bad arguments (French message), or no seen application to resample from.
    AllocationError, NotOptimalError
        A decision that is not a proven optimum, two steps spending more than
        the envelope, or (rule ``max_total_score``) a two-step total above the
        all-at-once optimum (impossible unless a solve is wrong).
    """
    params = params or AllocationParams(check_alternatives=False)
    _check_params(params)
    if not isinstance(expected_later, (int, np.integer)) or isinstance(expected_later, bool) or expected_later < 0:
        raise ValueError(f"expected_later = {expected_later!r} : un nombre entier de candidatures positif ou nul est attendu")
    if not isinstance(n_sims, (int, np.integer)) or isinstance(n_sims, bool) or n_sims < 1:
        raise ValueError(f"n_sims = {n_sims!r} : au moins une simulation")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"graine {seed!r} : un entier est attendu (publié avec le résultat)")
    budget = int(evaluation.rules.funding.envelope_eur if params.envelope_eur is None else params.envelope_eur)
    reserves = list(reserves)
    thresholds = [float(t) for t in thresholds]
    if not reserves or not thresholds:
        raise ValueError("au moins une réserve et un seuil")
    for r in reserves:
        if not isinstance(r, (int, np.integer)) or isinstance(r, bool) or not 0 <= r <= budget:
            raise ValueError(f"réserve {r!r} : un montant entier d'euros entre 0 et l'enveloppe ({budget} €) est attendu")
    for t in thresholds:
        if not math.isfinite(t):
            raise ValueError(f"seuil {t!r} : une note finie est attendue")

    cands0 = check(evaluation, params)
    rule, tie = cands0.rule, cands0.tie_band_units
    seen = seen_pool(evaluation, seen_cutoff, params)
    if expected_later and not len(seen):
        raise ValueError(f"aucune candidature finançable déposée au {_as_date(seen_cutoff).isoformat()} : "
                         "rien à rééchantillonner pour simuler les suivantes")
    s_ids = seen["application_id"].tolist()
    s_units = seen["score_units"].tolist()
    s_upper = seen["upper_eur"].tolist()
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(seen), size=(n_sims, expected_later)) if expected_later else np.zeros((n_sims, 0), int)
    later_ids = [f"~later{j:04d}" for j in range(expected_later)]  # sort after every real id on ties

    # Step "now": deterministic, one decision per pair.
    now: dict[tuple[int, float], tuple[frozenset, int, int, int]] = {}
    for r in reserves:
        for t in thresholds:
            tu = int(round(t * SCORE_UNIT))
            keep = [k for k, u in enumerate(s_units) if u >= tu]
            f, v, spent = _decide([s_ids[k] for k in keep], [s_units[k] for k in keep], [s_upper[k] for k in keep],
                                  budget - int(r), params, rule, tie)
            now[(int(r), t)] = (f, v, spent, len(keep))

    ratios = {key: [] for key in now}
    totals = {key: [] for key in now}
    spends = {key: [] for key in now}
    missed = {key: [] for key in now}
    hindsights, hindsight_spends = [], []
    for s in range(n_sims):
        l_units = [s_units[k] for k in draws[s]]
        l_upper = [s_upper[k] for k in draws[s]]
        h_set, h, h_spent = _decide(s_ids + later_ids, s_units + l_units, s_upper + l_upper, budget, params, rule, tie)
        hindsights.append(h)
        hindsight_spends.append(h_spent)
        later_cache: dict[int, tuple[frozenset, int, int]] = {}
        for key, (f_now, v, spent, _) in now.items():
            remaining = budget - spent
            if remaining not in later_cache:
                later_cache[remaining] = _decide(later_ids, l_units, l_upper, remaining, params, rule, tie)
            f_later, v_later, spent_later = later_cache[remaining]
            total = v + v_later
            if rule == "max_total_score" and total > h:
                raise AllocationError(f"simulation {s} : total en deux temps ({total / SCORE_UNIT} points) supérieur "
                                      f"à l'optimum rétrospectif ({h / SCORE_UNIT} points)")
            if spent + spent_later > budget:
                raise AllocationError(f"simulation {s} : {spent + spent_later} € attribués en deux temps pour "
                                      f"une enveloppe de {budget} €")
            totals[key].append(total)
            ratios[key].append(total / h if h else 1.0)
            spends[key].append(spent + spent_later)
            missed[key].append(len(h_set - f_now - f_later))

    def whole(values) -> int:  # mean of whole euros, rounded half up to whole euros
        return (2 * sum(int(v) for v in values) + len(values)) // (2 * len(values))

    rows = []
    for (r, t), (f_now, v, spent, n_cand) in now.items():
        rat = np.asarray(ratios[(r, t)], dtype=float)
        rows.append({"reserve_eur": r, "threshold": t, "now_candidates": n_cand, "now_funded": len(f_now),
                     "now_awarded_eur": spent, "now_score": v / SCORE_UNIT,
                     "mean_total_score": float(np.mean(totals[(r, t)])) / SCORE_UNIT,
                     "mean_hindsight_score": float(np.mean(hindsights)) / SCORE_UNIT, "mean_ratio": float(rat.mean()),
                     "p10_ratio": float(np.percentile(rat, 10)), "p90_ratio": float(np.percentile(rat, 90)),
                     "mean_awarded_eur": whole(spends[(r, t)]), "mean_hindsight_awarded_eur": whole(hindsight_spends),
                     "mean_missed": float(np.mean(missed[(r, t)])),
                     "n_sims": int(n_sims), "expected_later": int(expected_later), "seed": int(seed), "rule": rule})
    out = pd.DataFrame(rows, columns=ADVICE_COLUMNS)
    for c in ("reserve_eur", "now_candidates", "now_funded", "now_awarded_eur", "mean_awarded_eur",
              "mean_hindsight_awarded_eur", "n_sims", "expected_later", "seed"):
        out[c] = out[c].astype("int64")
    out.attrs.update({"seed": int(seed), "n_sims": int(n_sims), "expected_later": int(expected_later),
                      "seen_cutoff": _as_date(seen_cutoff).isoformat(), "seen": len(seen), "envelope_eur": budget, "rule": rule,
                      "assumptions": "later arrivals resemble the seen ones (bootstrap); a single later wave"})
    return out


def reserve_replay_table(evaluation: Evaluation, reserves: Sequence[int], start="2021-09-15", end="2021-10-15",
                         params: AllocationParams | None = None) -> pd.DataFrame:
    """The real calendar replayed in weekly waves with constant reserves, against the all-at-once decision.

    Each reserve is kept at every wave but the last (:func:`ditp_model.timeline.waves.replay_weekly`); waves and the
    all-at-once decision follow the same rule (``params.rule``, default the call's).

    Returns
    -------
    pandas.DataFrame
        One row per reserve (given order): ``reserve_eur``, ``funded``
        (count), ``awarded_eur`` (int), ``waves_total_score``,
        ``all_at_once_total_score``, ``score_gap`` (points), ``gap_closed``
        (share of the no-reserve gap closed; NaN when there is no such gap),
        ``only_in_waves``, ``only_in_all_at_once`` (ids, comma-separated).
    """
    params = params or AllocationParams(check_alternatives=False)
    base = compare_with_all_at_once(evaluation, replay_weekly(evaluation, start, end, None, params), params)
    rows = []
    for r in reserves:
        cmp = base if r == 0 else compare_with_all_at_once(evaluation, replay_weekly(evaluation, start, end, int(r), params),
                                                          params)
        gap0 = base["score_gap"]
        rows.append({"reserve_eur": int(r), "funded": len(cmp["waves_funded"]), "awarded_eur": int(cmp["waves_awarded_eur"]),
                     "waves_total_score": cmp["waves_total_score"], "all_at_once_total_score": cmp["all_at_once_total_score"],
                     "score_gap": cmp["score_gap"],
                     "gap_closed": (gap0 - cmp["score_gap"]) / gap0 if gap0 > 0 else math.nan,
                     "only_in_waves": ", ".join(cmp["only_in_waves"]),
                     "only_in_all_at_once": ", ".join(cmp["only_in_all_at_once"])})
    out = pd.DataFrame(rows, columns=["reserve_eur", "funded", "awarded_eur", "waves_total_score", "all_at_once_total_score",
                                      "score_gap", "gap_closed", "only_in_waves", "only_in_all_at_once"])
    for c in ("reserve_eur", "funded", "awarded_eur"):
        out[c] = out[c].astype("int64")
    return out


def reserve_advice_figure(advice: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Mean ratio to the hindsight optimum against the reserve, one line per threshold, P10–P90 band.

    Parameters
    ----------
    advice : pandas.DataFrame
        From :func:`reserve_advice`.
    """
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(7.0, 4.0), dpi=96)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    # French numbers on the axes: « 1 000 » k€ (grouped), « 97 » %
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v, 0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v, 0)))
    for t, g in advice.groupby("threshold", sort=True):
        g = g.sort_values("reserve_eur")
        x = g["reserve_eur"].to_numpy() / 1000
        line, = ax.plot(x, 100 * g["mean_ratio"].to_numpy(), marker="o", label=f"seuil {t:g} points".replace(".", ","))
        ax.fill_between(x, 100 * g["p10_ratio"].to_numpy(), 100 * g["p90_ratio"].to_numpy(), color=line.get_color(),
                        alpha=0.15, linewidth=0)
    ax.set_xlabel("Réserve gardée pour la vague suivante (k€)", fontsize=9)
    ax.set_ylabel("Score des lauréats / décision en une fois (%)", fontsize=9)
    seed = advice["seed"].iloc[0] if len(advice) else None
    ax.set_title(title or f"Conseil de réserve : moyenne et intervalle 10 %–90 % (graine {seed})", fontsize=10)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
