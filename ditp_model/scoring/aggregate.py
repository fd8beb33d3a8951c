"""Review aggregation, the collective index and the weighted composite score.

Pipeline (each a pure function):

1. :func:`normalise_reviews` - optional per-reviewer correction of harsh and
   lenient reviewers (z-scores mapped back onto the scale).
2. :func:`aggregate_reviews` - per application and sub-criterion, the mean of
   the available scores; the number of reviews.
3. :func:`collective_index` - the "collective" criterion computed from the
   data: partners, regions, kinds of organisation.
4. :func:`score_applications` - criterion scores on 0–1 and the composite
   score on 0–100 from :class:`Weights`, with the rank.

Determinism: reviews are sorted by (application, reviewer) before any sum, so
the result does not depend on row order, and the composite score is rounded to
:data:`SCORE_DECIMALS` decimals so that ties are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ditp_model.inputs.call import CallRules, weights_sum_problem
from ditp_model.inputs.schema import normalise_header
from ditp_model.scoring.reviewer_effects import NORMALISATIONS, normalise_reviewer_effects

__all__ = [
    "Weights",
    "SCORE_DECIMALS",
    "TIE_BREAK_RULE",
    "parse_weights",
    "normalise_reviews",
    "uncorrected_reviewers",
    "uncorrected_reviewers_fr",
    "aggregate_reviews",
    "collective_features",
    "collective_index",
    "score_applications",
    "tie_band_from_reviews",
    "reviews_as_aggregated",
]

#: Composite scores are rounded to this many decimals (score points); ties are exact.
SCORE_DECIMALS = 4

#: The named tie-break rule used for ranks and for the allocation's last objective level.
TIE_BREAK_RULE = "score_then_submission_then_id"
TIE_BREAK_RULE_FR = "la note la plus élevée, puis le dépôt le plus ancien, puis l'identifiant (ordre alphabétique)"


@dataclass(frozen=True)
class Weights:
    """Criterion weights (non-negative; normalised to sum 1 when used).

    Immutable: a change makes a new object (``w.replace(openness=0.35)``).

    Parameters
    ----------
    values : tuple of (str, float)
        ``(criterion name, weight)`` pairs, in the call's criterion order.

    Raises
    ------
    ValueError
        A negative or non-finite weight, or all weights zero (French message).
    """

    values: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    def __post_init__(self):
        for name, w in self.values:
            if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise ValueError(f"pondération « {name} » = {w} : une pondération est un nombre positif ou nul")
        if self.values and sum(w for _, w in self.values) <= 0:
            raise ValueError("toutes les pondérations sont nulles : au moins un critère doit compter")

    @classmethod
    def of(cls, **weights: float) -> "Weights":
        """``Weights.of(impact=0.5, openness=0.3, collective=0.2)``."""
        return cls(tuple((k, float(v)) for k, v in weights.items()))

    @classmethod
    def from_rules(cls, rules: CallRules) -> "Weights":
        """The call's default weights."""
        return cls(tuple((c.name, float(c.weight)) for c in rules.criteria))

    def as_dict(self) -> dict[str, float]:
        """Raw weights by criterion."""
        return dict(self.values)

    def normalised(self) -> dict[str, float]:
        """Weights divided by their sum (they then sum to 1)."""
        total = sum(w for _, w in self.values)
        return {k: w / total for k, w in self.values}

    def replace(self, **changes: float) -> "Weights":
        """A new `Weights` with some values changed; unknown names are an error."""
        d = self.as_dict()
        unknown = set(changes) - set(d)
        if unknown:
            raise ValueError(f"critère(s) inconnu(s) : {', '.join(sorted(unknown))}")
        d.update({k: float(v) for k, v in changes.items()})
        return replace(self, values=tuple(d.items()))

    def check_against(self, rules: CallRules) -> None:
        """Raise ValueError unless the weights name exactly the call's criteria."""
        names, expected = set(self.as_dict()), set(rules.criterion_names)
        if names != expected:
            raise ValueError(
                f"pondérations pour {', '.join(sorted(names)) or '(aucun critère)'} ; "
                f"critères de l'appel : {', '.join(rules.criterion_names)}"
            )

    def describe_fr(self, rules: CallRules | None = None) -> str:
        """``Impact 50 %, Ouverture 30 %, Candidature collective 20 %`` (normalised; the call's labels when given)."""
        labels = {c.name: c.label for c in rules.criteria} if rules is not None else {}
        return ", ".join(f"{labels.get(k, k)} {round(100 * w)} %" for k, w in self.normalised().items())


def parse_weights(text: str, rules: CallRules) -> Weights:
    """Parse ``"impact=0.5,openness=0.3,collective=0.2"`` (decimal comma accepted in values with ``;``).

    A criterion is named by its key or by its label in the call rules, as the
    report shows it (``ouverture=30`` for ``openness``, ``"candidature
    collective"=20``), ignoring case and accents.

    Every criterion of the call must be named (write ``collective=0`` to
    leave one out): a forgotten criterion silently set to 0 would change the
    decision without anyone noticing.

    The weights add up to 1 (parts: ``impact=0.5,…``) or to 100 (percentages:
    ``impact=50,…``), within 0.1 %: the rule of the call file too
    (:func:`ditp_model.inputs.call.weights_sum_problem`).  Weights adding up to
    anything else (``impact=0.6,openness=0.3,collective=0.2``) are refused, not
    rescaled: the committee voted 60 %, a decision at 55 % would be wrong.

    Raises
    ------
    ValueError
        Malformed pair, unknown, repeated or missing criterion, negative or
        non-numeric weight, all zero, a sum other than 1 or 100.
    """
    d = {c: 0.0 for c in rules.criterion_names}
    # A criterion is named by its key (``openness``) or its French label (« Ouverture »), case and accents folded.
    aliases = {normalise_header(c.label): c.name for c in rules.criteria}
    aliases.update({normalise_header(c.name): c.name for c in rules.criteria})
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()] if "=" in text else []
    if not parts:
        raise ValueError(f"pondérations « {text} » : écrire par ex. impact=0.5,openness=0.3,collective=0.2")
    # "impact=0,5;openness=0,3" : a decimal comma splits a value; rejoin digits.
    merged: list[str] = []
    for p in parts:
        if "=" not in p and merged:
            merged[-1] += "." + p.strip()
        else:
            merged.append(p)
    seen: set[str] = set()
    for p in merged:
        if "=" not in p:
            raise ValueError(f"pondération « {p} » : écrire critère=valeur")
        k, v = (x.strip() for x in p.split("=", 1))
        k = aliases.get(normalise_header(k.strip("\"'")), k)
        if k not in d:
            known = ", ".join(f"{c.name} (« {c.label} »)" for c in rules.criteria)
            raise ValueError(f"critère inconnu « {k} » ; critères de l'appel : {known}")
        if k in seen:
            raise ValueError(f"pondération « {k} » donnée deux fois : n'en garder qu'une")
        seen.add(k)
        try:
            d[k] = float(v)
        except ValueError:
            raise ValueError(f"pondération « {k} = {v} » : un nombre est attendu") from None
    for k in seen:  # a bad value is named before a missing criterion
        if not math.isfinite(d[k]) or d[k] < 0:
            raise ValueError(f"pondération « {k} » = {d[k]} : une pondération est un nombre positif ou nul")
    missing = [c for c in rules.criterion_names if c not in seen]
    if missing:
        raise ValueError(f"pondérations « {text} » : critère(s) sans pondération : {', '.join(missing)} ; "
                         f"les nommer tous (écrire {missing[0]}=0 pour l'écarter), par ex. "
                         f"{','.join(f'{c}={w:g}' for c, w in ((c.name, c.weight) for c in rules.criteria))}")
    problem = weights_sum_problem(d, percentages=True)
    if problem:
        raise ValueError(f"pondérations « {text} » : {problem}")
    return Weights(tuple(d.items()))


def _sorted_reviews(reviews: pd.DataFrame) -> pd.DataFrame:
    return reviews.sort_values(["application_id", "reviewer_id"], kind="mergesort").reset_index(drop=True)


def normalise_reviews(reviews: pd.DataFrame, rules: CallRules) -> pd.DataFrame:
    """Correct harsh and lenient reviewers by per-reviewer standardisation.

    For each sub-criterion *c* with overall mean *μ_c* and standard deviation
    *σ_c* (population, over all available scores), a score *s* given by
    reviewer *r* whose own scores on *c* have mean *m_rc* and deviation *d_rc*
    becomes::

        μ_c + σ_c · (s − m_rc) / d_rc      when d_rc > 0 (z-score mapped back onto the scale)
        s − m_rc + μ_c                     when d_rc = 0 (constant reviewer: location shift only)
        s                                  when r reviewed fewer than ``normalisation_min_reviews``
                                           applications (too few to estimate leniency)

    and is clipped to the call's scale.  No division by zero, no NaN beyond
    the blank scores.  This is the classic per-reviewer z-score
    standardisation of panel scores; its weakness (it assumes every reviewer
    saw a comparable mix of applications) is why the model-based SNSF
    approach (``../shared/methods/expected-rank.md``) is offered in the
    robustness module.

    Parameters
    ----------
    reviews : pandas.DataFrame
        As from :func:`ditp_model.inputs.io.read_reviews`.
    rules : CallRules

    Returns
    -------
    pandas.DataFrame
        Same rows, sorted by (application_id, reviewer_id), score columns
        corrected (points), plus ``reviewer_corrected`` (bool).
    """
    out = _sorted_reviews(reviews)
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    counts = out.groupby("reviewer_id")["application_id"].transform("count")
    enough = counts >= rules.scoring.normalisation_min_reviews
    for col in rules.review_columns:
        s = out[col]
        mu, sigma = s.mean(), s.std(ddof=0)
        g = s.groupby(out["reviewer_id"])
        m = g.transform("mean")
        d = g.transform(lambda x: x.std(ddof=0))
        if not math.isfinite(mu):
            continue  # no score at all on this sub-criterion
        z = np.where(d > 0, mu + (sigma if sigma > 0 else 0.0) * (s - m) / d.where(d > 0, 1.0), s - m + mu)
        adj = np.where(enough & m.notna(), z, s)
        out[col] = np.clip(adj, lo, hi)
        out.loc[s.isna(), col] = np.nan
    out["reviewer_corrected"] = enough
    return out


def reviews_as_aggregated(reviews: pd.DataFrame, rules: CallRules, normalisation: str | None = None) -> pd.DataFrame:
    """The reviews as the scores see them: raw (sorted), z-scored, or with the reviewer effects removed.

    Parameters
    ----------
    reviews : pandas.DataFrame
        As read; not modified.
    rules : CallRules
    normalisation : {"raw_mean", "reviewer_zscore", "reviewer_effects"}, optional
        Default: the rules file's ``scoring.normalisation``.

    Returns
    -------
    pandas.DataFrame
        Sorted by (application_id, reviewer_id).

    Raises
    ------
    ValueError
        Unknown normalisation (French message).
    """
    method = normalisation or rules.scoring.normalisation
    if method not in NORMALISATIONS:
        raise ValueError(f"normalisation « {method} » inconnue : {', '.join(NORMALISATIONS)}")
    if method == "reviewer_zscore":
        return normalise_reviews(reviews, rules)
    if method == "reviewer_effects":
        return normalise_reviewer_effects(reviews, rules)
    return _sorted_reviews(reviews)


def uncorrected_reviewers(reviews: pd.DataFrame, rules: CallRules, normalisation: str) -> pd.DataFrame:
    """Reviewers whose scores :func:`normalise_reviews` leaves uncorrected: too few reviews to estimate their leniency.

    Under ``reviewer_zscore`` and ``reviewer_effects`` (both leave a reviewer with fewer reviews
    than the call's ``scoring.normalisation_min_reviews`` uncorrected); ``raw_mean`` corrects
    nobody, so nobody is left out of a correction.

    Returns
    -------
    pandas.DataFrame
        One row per such reviewer, in order of first appearance:
        ``reviewer_id``, ``n_reviews`` (int), ``min_reviews`` (int, the
        threshold) and ``applications`` (ids reviewed, ``", "``-joined).
        Empty (same columns) when every reviewer is corrected.
    """
    cols = ["reviewer_id", "n_reviews", "min_reviews", "applications"]
    need = int(rules.scoring.normalisation_min_reviews)
    if normalisation not in ("reviewer_zscore", "reviewer_effects") or not len(reviews):
        return pd.DataFrame({c: pd.Series([], dtype="int64" if c in ("n_reviews", "min_reviews") else object) for c in cols})
    rows = []
    for rid, group in reviews.groupby("reviewer_id", sort=False):
        if len(group) < need:
            rows.append((str(rid), len(group), need, ", ".join(str(a) for a in group["application_id"])))
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({"n_reviews": "int64", "min_reviews": "int64"})


def uncorrected_reviewers_fr(table: pd.DataFrame) -> str:
    """One French sentence naming the reviewers left uncorrected (empty when none): for the command-line summaries."""
    if not len(table):
        return ""
    need = int(table["min_reviews"].iloc[0])
    parts = [f"{r} ({n} avis : {apps})" for r, n, apps in zip(table["reviewer_id"], table["n_reviews"], table["applications"])]
    return (f"Évaluateurs non corrigés (moins de {need} avis : sévérité ou indulgence non estimable, notes prises telles "
            f"quelles) : {' ; '.join(parts)}.")


def aggregate_reviews(reviews: pd.DataFrame, rules: CallRules, applications_ids) -> pd.DataFrame:
    """Mean of the available scores per application and sub-criterion.

    Parameters
    ----------
    reviews : pandas.DataFrame
        Raw or normalised reviews.
    rules : CallRules
    applications_ids : sequence of str
        Every application (those without review get ``n_reviews`` 0 and NaN scores).

    Returns
    -------
    pandas.DataFrame
        Index ``application_id`` in the given order; columns: one per
        sub-criterion (mean points, NaN when nobody scored it) and
        ``n_reviews`` (int, reviews with at least one score).
    """
    cols = list(rules.review_columns)
    r = _sorted_reviews(reviews)
    has_any = r[cols].notna().any(axis=1)
    means = r.groupby("application_id")[cols].mean()
    n = r[has_any].groupby("application_id").size()
    out = means.reindex(list(applications_ids))
    out["n_reviews"] = n.reindex(out.index).fillna(0).astype("int64")
    out.index.name = "application_id"
    return out


def collective_features(applications: pd.DataFrame, rules: CallRules) -> pd.DataFrame:
    """Partners, regions and kinds of organisation of each bid; large collective bid flag.

    Returns
    -------
    pandas.DataFrame
        Same row order: ``application_id``, ``n_partners`` (int),
        ``n_regions`` (int, distinct regions, lead's region included),
        ``n_org_types`` (int, distinct kinds among lead and partners),
        ``large_collective`` (bool: ``n_partners >= extended_cap.min_partners``
        or ``n_regions >= extended_cap.min_regions``), ``award_cap_eur`` (int,
        the extended cap for a large collective bid, else the ordinary cap).
    """
    ext = rules.funding.extended_cap
    rows = []
    for app in applications.itertuples(index=False):
        n_p = len(app.partners)
        n_r = len({app.region, *app.regions_covered})
        n_t = len({app.lead_org_type, *app.partner_types})
        large = n_p >= ext.min_partners or n_r >= ext.min_regions
        rows.append((app.application_id, n_p, n_r, n_t, large, ext.award_cap_eur if large else rules.award_cap_eur))
    return pd.DataFrame(rows, columns=["application_id", "n_partners", "n_regions", "n_org_types", "large_collective", "award_cap_eur"])


def collective_index(features: pd.DataFrame, rules: CallRules) -> pd.Series:
    """The computed "collective" criterion on 0–1.

    Mean of three components, each capped at 1 (rules file, ``[criteria.collective]``)::

        partners  = n_partners / partners_full
        regions   = (n_regions − 1) / (regions_full − 1)
        org types = (n_org_types − 1) / (org_types_full − 1)

    A lone applicant in one region scores 0; a bid with ``partners_full``
    partners over ``regions_full`` regions and ``org_types_full`` kinds of
    organisation scores 1.  Source: the call favours "collective bids: several
    participants, territories or kinds of organisation" (DESIGN.md); the
    saturation points are assumptions of the rules file.

    Returns
    -------
    pandas.Series
        Float in [0, 1], indexed like `features`.
    """
    c = rules.criterion("collective")
    p = np.minimum(features["n_partners"] / c.partners_full, 1.0)
    r = np.minimum((features["n_regions"] - 1) / (c.regions_full - 1), 1.0)
    t = np.minimum((features["n_org_types"] - 1) / (c.org_types_full - 1), 1.0)
    return ((p + r + t) / 3.0).astype(float)


def score_applications(
    applications: pd.DataFrame,
    reviews: pd.DataFrame,
    rules: CallRules,
    weights: Weights,
    eligibility: pd.DataFrame | None = None,
    *,
    normalisation: str | None = None,
) -> pd.DataFrame:
    """Criterion scores, composite score and rank of every application.

    Parameters
    ----------
    applications, reviews : pandas.DataFrame
        From :mod:`ditp_model.inputs.io`.
    rules : CallRules
    weights : Weights
        Must name the call's criteria; normalised to sum 1.
    eligibility : pandas.DataFrame, optional
        From :func:`ditp_model.scoring.eligibility.check_eligibility`; ranks are given
        to eligible, scored applications only (all scored ones if omitted).
    normalisation : {"raw_mean", "reviewer_zscore", "reviewer_effects"}, optional
        Default: the rules file's ``scoring.normalisation``
        (``reviewer_effects``: :mod:`ditp_model.scoring.reviewer_effects`).

    Returns
    -------
    pandas.DataFrame
        One row per application, in input order: ``application_id``;
        ``n_reviews``; one column per sub-criterion (mean points on the call's
        scale); ``<criterion>_score`` per criterion (0–1); ``n_partners``,
        ``n_regions``, ``n_org_types``, ``large_collective``, ``award_cap_eur``;
        ``scored`` (bool: at least ``min_reviews`` reviews); ``score_flag``
        (French text, "" when fine); ``score`` (composite, 0–100 points,
        rounded to :data:`SCORE_DECIMALS`, NaN when not scored, never 0 for
        lack of reviews); ``rank`` (Int64, 1 = best, by :data:`TIE_BREAK_RULE`;
        missing for ineligible or unscored applications).

    Raises
    ------
    ValueError
        Weights not matching the call's criteria.
    """
    weights.check_against(rules)
    revs = reviews_as_aggregated(reviews, rules, normalisation)
    ids = applications["application_id"].tolist()
    agg = aggregate_reviews(revs, rules, ids)
    feats = collective_features(applications, rules)
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    out = pd.DataFrame({"application_id": ids})
    out["n_reviews"] = agg["n_reviews"].to_numpy()
    for col in rules.review_columns:
        out[col] = agg[col].to_numpy()
    for crit in rules.criteria:
        if crit.source == "computed":
            vals = collective_index(feats, rules).to_numpy()
        else:
            sub = (agg[list(crit.review_columns)] - lo) / (hi - lo)
            vals = sub.mean(axis=1, skipna=True).to_numpy()
        out[f"{crit.name}_score"] = vals
    for c in ("n_partners", "n_regions", "n_org_types", "large_collective", "award_cap_eur"):
        out[c] = feats[c].to_numpy()
    return recompose_scores(out, rules, weights, applications, eligibility)


def recompose_scores(scores: pd.DataFrame, rules: CallRules, weights: Weights, applications: pd.DataFrame,
                     eligibility: pd.DataFrame | None = None) -> pd.DataFrame:
    """The composite score and rank of every application under `weights`, from its criterion scores.

    Only the composite changes with the weights: the criterion scores
    (``<criterion>_score``, 0–1) and ``n_reviews`` of `scores` are kept; ``scored``,
    ``score_flag``, ``score`` and ``rank`` are (re)computed exactly as
    :func:`score_applications` computes them (it ends with this function), so a
    re-weighting never re-reads or re-normalises the reviews.

    Parameters
    ----------
    scores : pandas.DataFrame
        From :func:`score_applications` (or its columns before the composite); not modified.
    rules : CallRules
    weights : Weights
        Normalised to sum 1; a criterion of weight 0 does not count (its missing scores neither).
    applications : pandas.DataFrame
        Gives ``submitted_at`` for the tie-break (:func:`rank_order`).
    eligibility : pandas.DataFrame, optional
        Ranks go to eligible, scored applications only (all scored ones if omitted).

    Returns
    -------
    pandas.DataFrame
        A new table: `scores` with ``scored``, ``score_flag``, ``score`` (points, rounded to
        :data:`SCORE_DECIMALS`, NaN when not scored) and ``rank`` (Int64) under `weights`.
    """
    out = scores.drop(columns=[c for c in ("scored", "score_flag", "score", "rank") if c in scores.columns])
    w = weights.normalised()
    composite = np.zeros(len(out))
    for crit in rules.criteria:
        if w[crit.name] > 0:
            composite = composite + w[crit.name] * out[f"{crit.name}_score"].to_numpy()
    need = rules.scoring.min_reviews
    scored = (out["n_reviews"] >= need) & np.isfinite(composite)
    out["scored"] = scored.astype(bool)
    out["score_flag"] = [
        "" if ok else (f"avis insuffisants ({n} avis pour {need} requis) : dossier non classé" if n < need
                       else "aucune note exploitable : dossier non classé")
        for ok, n in zip(scored, out["n_reviews"])
    ]
    out["score"] = np.where(scored, np.round(100.0 * composite, SCORE_DECIMALS), np.nan)
    out["rank"] = ranks(out, eligibility, applications)
    return out


def ranks(scores: pd.DataFrame, eligibility: pd.DataFrame | None, applications: pd.DataFrame):
    """The rank of each row of a scores table: 1 = best under :data:`TIE_BREAK_RULE`, <NA> when not ranked.

    Ranked: the rows ``scored`` and, when `eligibility` is given, ``eligible``.  One function for the
    scoring step and for every step that changes some scores and ranks again (held applications'
    best case, :mod:`ditp_model.rules.held`; a member's view, :mod:`ditp_model.uncertainty.members`).

    Parameters
    ----------
    scores : pandas.DataFrame
        ``application_id``, ``scored`` (bool), ``score`` (points).
    eligibility : pandas.DataFrame or None
        ``application_id``, ``eligible`` (bool).
    applications : pandas.DataFrame
        The applications (submission dates for the tie-break).

    Returns
    -------
    pandas.arrays.IntegerArray
        Rank per row of `scores`, dtype ``Int64``.
    """
    rankable = scores["scored"].astype(bool).to_numpy()
    if eligibility is not None:
        rankable = rankable & eligibility.set_index("application_id").loc[scores["application_id"], "eligible"].to_numpy(bool)
    order = rank_order(scores.loc[rankable, "application_id"], scores["score"], applications)
    pos = {aid: k + 1 for k, aid in enumerate(order)}
    return pd.array([pos.get(a, pd.NA) for a in scores["application_id"]], dtype="Int64")


def rank_order(candidate_ids, scores: pd.Series, applications: pd.DataFrame) -> list[str]:
    """Order application ids by the named tie-break rule :data:`TIE_BREAK_RULE`.

    Higher composite score first, then earlier submission, then id (string order).

    Parameters
    ----------
    candidate_ids : iterable of str
    scores : pandas.Series
        Composite scores aligned with `applications` rows.
    applications : pandas.DataFrame
        Gives ``application_id`` and ``submitted_at``.
    """
    table = pd.DataFrame({
        "application_id": applications["application_id"].to_numpy(),
        "score": scores.to_numpy(),
        "submitted_at": applications["submitted_at"].to_numpy(),
    })
    table = table[table["application_id"].isin(set(candidate_ids))]
    table = table.sort_values(["score", "submitted_at", "application_id"], ascending=[False, True, True], kind="mergesort")
    return table["application_id"].tolist()


def tie_band_from_reviews(reviews: pd.DataFrame, rules: CallRules, weights: Weights, *,
                          normalisation: str | None = None) -> float:
    """A data-driven ex aequo band δ: the median standard error of the difference of two composite scores.

    Each review gives a reviewed composite (the committee's normalised weights
    applied to that reviewer's criterion means, on 0–100 points; computed
    criteria such as ``collective`` have no review noise and add nothing).  An
    application's standard error is the standard deviation of its reviewed
    composites (ddof = 1) divided by √n; for two applications *i*, *j* the
    standard error of the difference is √(SE_i² + SE_j²).  δ is the median of
    that quantity over all pairs of applications with at least two reviews,
    rounded to 2 decimals.  Two composite scores closer than δ cannot be told
    apart by the reviews.

    Parameters
    ----------
    reviews : pandas.DataFrame
        As read by :func:`ditp_model.inputs.io.read_reviews`.
    rules : CallRules
    weights : Weights
    normalisation : {"raw_mean", "reviewer_zscore", "reviewer_effects"}, optional
        As in :func:`score_applications`.

    Returns
    -------
    float
        δ in composite score points (0.0 when fewer than two applications have two reviews).
    """
    revs = reviews_as_aggregated(reviews, rules, normalisation)
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    w = weights.normalised()
    per_review = np.zeros(len(revs))
    for crit in rules.criteria:
        if crit.source != "reviews" or w[crit.name] <= 0:
            continue
        vals = ((revs[list(crit.review_columns)] - lo) / (hi - lo)).mean(axis=1, skipna=True).to_numpy()
        per_review = per_review + 100.0 * w[crit.name] * np.nan_to_num(vals, nan=np.nan)
    frame = pd.DataFrame({"application_id": revs["application_id"].to_numpy(), "c": per_review}).dropna()
    g = frame.groupby("application_id")["c"]
    n = g.size()
    se = (g.std(ddof=1) / np.sqrt(n))[n >= 2].to_numpy()
    if len(se) < 2:
        return 0.0
    iu = np.triu_indices(len(se), k=1)
    diff = np.sqrt(se[iu[0]] ** 2 + se[iu[1]] ** 2)
    return round(float(np.median(diff)), 2)
