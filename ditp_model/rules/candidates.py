"""Step « check » of every decision rule: from an evaluation and the parameters to the checked candidates.

:func:`check` applies the committee's parameters over the call's values
(envelope, floor, caps, step, minimum share, quality thresholds, ex aequo band
δ), sets every application that cannot be a candidate aside with a French
reason (not eligible, not scored, locked out, below a quality threshold:
:func:`threshold_failures`, or a fundable amount below the floor), and puts the
candidates in rank order (:func:`~ditp_model.scoring.aggregate.rank_order`)
with each one's bounds ℓ_i and u_i in whole euros.  :func:`candidates_from_table`
does the same for a plain table that is not a call (a Pabulib instance).
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal

import numpy as np
import pandas as pd

from ditp_model.french import format_eur, format_number, plural_fr
from ditp_model.rules.base import GROUP_COLUMNS, SCORE_UNIT, AllocationParams, Candidates
from ditp_model.scoring.aggregate import rank_order, tie_band_from_reviews
from ditp_model.scoring.pipeline import Evaluation


def candidates_from_table(table: pd.DataFrame, available_eur: int, params: AllocationParams | None = None,
                          *, score_unit: int = SCORE_UNIT) -> Candidates:
    """Candidates from a plain table, for inputs that are not a call (e.g. a Pabulib instance).

    Parameters
    ----------
    table : pandas.DataFrame
        ``application_id`` (str), ``score`` (float), ``requested_eur``,
        ``award_floor_eur``, ``award_cap_eur`` (int, whole units of money).
        Every row is a candidate; awards are the capped request (no cuts).
    available_eur : int
        The budget, in the same units.
    score_unit : int
        Scores are multiplied by this and rounded to integers for the
        objective; use 1 for integer scores such as vote counts.

    Raises
    ------
    ValueError
        A non-integer score when ``score_unit`` is 1, or a floor above the capped request.
    """
    params = params or AllocationParams()
    order = table.sort_values(["score", "application_id"], ascending=[False, True], kind="mergesort")
    upper = [min(int(r), int(c)) for r, c in zip(order["requested_eur"], order["award_cap_eur"])]
    lower = [max(int(f), u if params.min_share in (None, 1.0) else 0) for f, u in zip(order["award_floor_eur"], upper)]
    units = [s * score_unit for s in order["score"]]
    if any(abs(u - round(u)) > 1e-9 for u in units):
        raise ValueError("notes non entières dans l'unité choisie : augmenter score_unit")
    t = pd.DataFrame({
        "application_id": order["application_id"].astype(str).to_numpy(),
        "score": order["score"].astype(float).to_numpy(),
        "score_units": [int(round(u)) for u in units],
        "upper_eur": upper, "lower_eur": lower, "max_cut_steps": 0,
        "locked_in": order["application_id"].isin(params.lock_in).to_numpy(),
        **{c: "" for c in GROUP_COLUMNS},
    })
    return Candidates(t, int(available_eur), int(available_eur), 0, 0, 1, params, {}, score_unit,
                      params.rule or "max_total_score")


class ImpossibleLockError(ValueError):
    """Applications imposed by the committee (lock in) that cannot be funded: not eligible, not scored, below a
    quality threshold, excluded, or a capped request below the floor.

    Attributes
    ----------
    reasons : dict
        Application id -> why it cannot be funded (French), by id.  The command line names, for each, the row of
        the locks file or the option that imposed it (:func:`ditp_model.cli.common.located_lock_error`).
    """

    def __init__(self, reasons: dict[str, str]):
        self.reasons = dict(reasons)
        super().__init__("dossier(s) imposé(s) mais impossibles à financer : "
                         + " ; ".join(f"{a} ({why})" for a, why in self.reasons.items()))


def check(evaluation: Evaluation, params: AllocationParams | None = None) -> Candidates:
    """Check the parameters against the data and compute each candidate's bounds.

    Raises
    ------
    ValueError
        Unknown ids in locks or rules, a locked-in application that is not
        eligible or not scored (:class:`ImpossibleLockError`), committed +
        reserve above the envelope (French).
    """
    params = params or AllocationParams()
    rules = evaluation.rules
    f = rules.funding
    envelope = f.envelope_eur if params.envelope_eur is None else params.envelope_eur
    floor = f.award_floor_eur if params.award_floor_eur is None else params.award_floor_eur
    cap = f.award_cap_eur if params.award_cap_eur is None else params.award_cap_eur
    ext_cap = f.extended_cap.award_cap_eur if params.extended_cap_eur is None else params.extended_cap_eur
    step = f.amount_step_eur if params.amount_step_eur is None else params.amount_step_eur
    min_share = f.min_share if params.min_share is None else params.min_share
    if floor > cap:
        raise ValueError(f"plancher {format_eur(floor)} supérieur au plafond {format_eur(cap)}")
    available = envelope - params.committed_eur - params.reserve_eur
    if available < 0:
        raise ValueError(f"engagements ({format_eur(params.committed_eur)}) et réserve ({format_eur(params.reserve_eur)}) "
                         f"dépassent l'enveloppe de {format_eur(envelope)}")
    t = evaluation.table
    ids = set(t["application_id"])
    unknown = sorted((params.lock_in | params.lock_out) - ids)
    if unknown:
        from ditp_model.inputs.schema import Suggester

        near = Suggester(sorted(ids))  # « p047 » -> « P047 » (trial 1, S2)
        shown = [a + (f" ({near(a).removeprefix(' ; ')})" if near(a) else "") for a in unknown]
        raise ValueError(f"verrou sur un dossier inconnu : {', '.join(shown)}")
    excluded: dict[str, str] = {}
    for row in t.itertuples():
        if not (row.eligible and row.scored):
            excluded[row.application_id] = not_ranked_reason_fr(row)
        elif row.application_id in params.lock_out:
            excluded[row.application_id] = "exclu par le comité (verrou)"
    not_fundable = {a: why for a, why in threshold_failures(evaluation, params).items() if a not in excluded}
    excluded.update(not_fundable)
    cand = t[~t["application_id"].isin(excluded)].copy()
    order = rank_order(cand["application_id"], t["score"], evaluation.applications)
    cand = cand.set_index("application_id").loc[order].reset_index()
    large = cand["large_collective"].to_numpy()
    cap_i = [ext_cap if lg else cap for lg in large]
    upper = [min(int(r), int(c)) for r, c in zip(cand["requested_eur"], cap_i)]
    share = Decimal(str(min_share))  # exact: ⌈0.7 × 100 000⌉ is 70 000, whatever binary floating point says
    lower = [max(floor, int((share * u).to_integral_value(rounding=ROUND_CEILING))) for u in upper]
    for aid, u, lo in zip(cand["application_id"], upper, lower):
        if u < lo:  # a request (capped) below the floor cannot be funded
            excluded[aid] = f"montant finançable {format_eur(u)} inférieur au plancher {format_eur(lo)}"
    keep = [u >= lo for u, lo in zip(upper, lower)]
    table = pd.DataFrame({
        "application_id": cand["application_id"],
        "score": cand["score"].astype(float),
        "score_units": [int(round(s * SCORE_UNIT)) for s in cand["score"]],
        "upper_eur": upper,
        "lower_eur": lower,
        "max_cut_steps": [(u - lo) // step for u, lo in zip(upper, lower)],
        "locked_in": cand["application_id"].isin(params.lock_in).to_numpy(),
        **{c: cand[c].to_numpy() for c in GROUP_COLUMNS},
    })
    table = table[np.array(keep, dtype=bool)].reset_index(drop=True)
    bad = sorted(a for a in params.lock_in if a in excluded)
    if bad:
        raise ImpossibleLockError({a: excluded[a] for a in bad})
    for r in params.group_rules:
        if r.value not in set(t[r.column]):
            raise ValueError(f"règle de portefeuille sur un groupe absent des données : {r.column} = {r.value}")
    rule = params.rule or rules.selection.rule
    band, band_source = _tie_band(evaluation, params)
    return Candidates(table, available, envelope, params.committed_eur, params.reserve_eur, step, params, excluded,
                      SCORE_UNIT, rule, int(round(band * SCORE_UNIT)), band_source, not_fundable)


def not_ranked_reason_fr(row) -> str:
    """Why an application is not ranked, hence can be neither a candidate nor locked in ("" when it is ranked).

    The one wording for the command line (an impossible ``--lock-in``, through :func:`check`) and the committee's
    panel (a refused lock): « non éligible : <its motives> », or the scoring flag of an application awaiting reviews
    (« avis insuffisants (0 avis pour 2 requis) : dossier non classé »).

    Parameters
    ----------
    row : namedtuple or mapping
        A row of :attr:`~ditp_model.scoring.pipeline.Evaluation.table`: ``eligible``, ``reasons``, ``scored``,
        ``score_flag``.
    """
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    if not get("eligible"):
        return f"non éligible : {get('reasons')}"
    if not get("scored"):
        return str(get("score_flag"))
    return ""


def _tie_band(evaluation: Evaluation, params: AllocationParams) -> tuple[float, str]:
    """δ in points and a French sentence saying where it comes from."""
    declared = evaluation.rules.selection.tie_band_points
    value = declared if params.tie_band_points is None else params.tie_band_points
    origin = "déclarée dans les règles de l'appel" if params.tie_band_points is None else "fixée par le comité"
    if value == "auto":
        band = tie_band_from_reviews(evaluation.reviews, evaluation.rules, evaluation.weights,
                                     normalisation=evaluation.normalisation)
        return band, (f"{origin} : « auto », écart-type médian de la différence de deux notes composites, "
                      f"calculé à partir des évaluations ({format_number(band, 2)} {plural_fr(band, 'point')})")
    return float(value), f"{origin} ({format_number(float(value), 2)} {plural_fr(float(value), 'point')})"


def tie_band_fr(points: float, source: str) -> str:
    """δ and where it comes from, the value written once: « 0,50 point — déclarée dans les règles de l'appel ».

    `source` is :attr:`~ditp_model.rules.base.Candidates.tie_band_source` (or a manifest's ``tie_band_source``),
    whose closing « (0,50 points) » is dropped (trial 2, S6: « 0,50 point(s) — déclarée … (0,50 points) »).
    """
    origin = re.sub(r"\s*\([^()]*points?\)\s*$", "", source or "")
    return f"{format_number(float(points), 2)} {plural_fr(float(points), 'point')}" + (f" — {origin}" if origin else "")


def quality_thresholds(evaluation: Evaluation, params: AllocationParams | None = None) -> tuple[float, dict[str, float]]:
    """The quality thresholds in force: (overall minimum in points, {criterion: minimum on the review scale}).

    The committee's values in `params` replace the call's ``[selection]`` values.
    """
    params = params or AllocationParams()
    sel = evaluation.rules.selection
    overall = sel.min_score if params.min_score is None else params.min_score
    per = dict(sel.min_criterion) if params.min_criterion is None else dict(params.min_criterion)
    return float(overall), per


def threshold_failures(evaluation: Evaluation, params: AllocationParams | None = None) -> dict[str, str]:
    """Eligible, scored applications below a quality threshold -> French reason (« non finançable »).

    An application is not fundable when its composite score is below the
    overall minimum, or its mean on a reviewed criterion (on the review scale,
    e.g. 0–5) is below that criterion's minimum (Horizon Europe practice:
    thresholds per criterion and overall; DESIGN.md).  Values are compared
    rounded to 4 decimals, so the test is exact and reproducible.  Each value
    is written against its threshold by :func:`ditp_model.french.format_against`:
    with the decimals the comparison needs (« impact 2,496/5 sous le seuil de
    2,50 », never « 2,50/5 sous le seuil de 2,50 »).

    Raises
    ------
    ValueError
        A threshold on an unknown or computed criterion (French).
    """
    from ditp_model.french import format_against, format_number as _fmt

    overall, per = quality_thresholds(evaluation, params)
    rules = evaluation.rules
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    for name in per:
        if name not in rules.criterion_names or rules.criterion(name).source != "reviews":
            raise ValueError(f"seuil sur « {name} » : critère inconnu ou non noté par les évaluateurs "
                             f"(critères notés : {', '.join(c.name for c in rules.criteria if c.source == 'reviews')})")
    out: dict[str, str] = {}
    t = evaluation.table
    for row in t[t["eligible"] & t["scored"]].itertuples():
        why = []
        if overall > 0 and round(float(row.score), 4) < overall:
            shown, limit = format_against(round(float(row.score), 4), overall)
            why.append(f"note globale {shown}/100 sous le seuil de {limit}")
        for name, minimum in per.items():
            value = lo + float(getattr(row, f"{name}_score")) * (hi - lo)
            if round(value, 4) < minimum:
                label = rules.criterion(name).label.lower()
                shown, limit = format_against(round(value, 4), minimum)
                why.append(f"{label} {shown}/{_fmt(hi, 0)} sous le seuil de {limit}")
        if why:
            out[row.application_id] = "non finançable : " + " ; ".join(why)
    return out
