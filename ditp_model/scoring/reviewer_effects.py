"""Reviewer-effect normalisation (additive model) and the reviewer-disagreement flag.

Additive model
--------------
For one sub-criterion, the score given by reviewer *j* to application *i* is
modelled as::

    y_ij = q_i + b_j + e_ij

*q_i* is the application's quality (score points on the call's scale), *b_j*
the reviewer's leniency (points; positive = lenient, negative = harsh) and
*e_ij* an error.  *q* and *b* are estimated **jointly by least squares**, with
the leniencies summing to zero (``Σ_j b_j = 0``) in each group of reviewers
linked by shared applications.  Unlike the per-reviewer z-score
(:func:`ditp_model.scoring.aggregate.normalise_reviews`), this does not assume
every reviewer saw a comparable mix of applications: a reviewer who happened
to get the best applications is not mistaken for a lenient one.  This is the
classic two-way fixed-effect (additive) model of panel scores; the SNSF
Bayesian model (``../shared/methods/expected-rank.md``, ν_j) carries the same
leniency term.  The choice of default is argued with figures in
``benchmarks/RESULTS_normalisation.md``.

How it is solved (exact, no iteration): with *n_i* the reviews of *i* and
*m_j* those of *j*, the normal equations give ``q_i = mean_j (y_ij − b_j)``;
substituting, the leniencies solve the reviewer system::

    m_j b_j − Σ_i∈R(j) (1/n_i) Σ_k∈R(i) b_k  =  Σ_i∈R(j) y_ij − Σ_i∈R(j) ȳ_i·      (one row per reviewer j)

(``R(j)`` the applications *j* reviewed, ``R(i)`` the reviewers of *i*), one
constraint ``Σ b_j = 0`` per group, solved together by ``numpy.linalg.lstsq``
on the bordered matrix (as many unknowns as reviewers: small).

Mapped back to the scale: each review becomes ``y_ij − b_j`` (the reviewer's
leniency removed), clipped to the scale; the mean of an application's
corrected reviews is then ``q_i`` (before clipping), so the rest of the
pipeline (:func:`ditp_model.scoring.aggregate.aggregate_reviews`) is unchanged.

Edge cases (each documented where it is handled):

* **A reviewer with fewer than** ``scoring.normalisation_min_reviews`` reviews
  (the call file's threshold, shared with the z-score): leniency not estimated,
  ``b_j = 0`` (their scores are used as given), as the z-score does.
* **An application with one review**: its quality absorbs that review
  (``q_i = y_ij − b_j``); it tells nothing about the reviewer's leniency,
  which is estimated from their other applications.
* **Disconnected reviewer graph** (groups of reviewers who share no
  application, directly or through others): leniencies are only comparable
  inside a group; each group is assumed neither harsh nor lenient on average
  (its leniencies sum to zero).  :attr:`ReviewerEffects.n_groups` counts the
  groups and :meth:`ReviewerEffects.note_fr` says it in French.

Disagreement flag
-----------------
:func:`review_disagreement` gives, per application, the range (highest minus
lowest) of its reviewers' composite grades, and flags it when the range
reaches the call file's ``scoring.disagreement_range`` (HYPOTHÈSE, points on
the review scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ditp_model.inputs.call import CallRules

__all__ = [
    "NORMALISATIONS",
    "NORMALISATION_LABELS_FR",
    "ReviewerEffects",
    "fit_additive",
    "fit_reviewer_effects",
    "normalise_reviewer_effects",
    "review_composites",
    "review_disagreement",
    "disagreement_threshold",
]

#: Every review aggregation the pipeline knows (the call file's ``scoring.normalisation``).
NORMALISATIONS = ("raw_mean", "reviewer_zscore", "reviewer_effects")

#: French label of each aggregation (report, workbook).
NORMALISATION_LABELS_FR = {
    "raw_mean": "moyenne simple des notes des évaluateurs",
    "reviewer_zscore": "notes corrigées par évaluateur (sévérité et indulgence, z-score)",
    "reviewer_effects": "notes corrigées de l'effet évaluateur (modèle additif qualité + sévérité, moindres carrés)",
}


def _components(app_idx: np.ndarray, rev_idx: np.ndarray, n_app: int, n_rev: int) -> np.ndarray:
    """Group of each reviewer in the bipartite graph applications–reviewers (union–find, deterministic)."""
    parent = list(range(n_app + n_rev))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, r in zip(app_idx.tolist(), rev_idx.tolist()):
        ra, rr = find(a), find(n_app + r)
        if ra != rr:
            parent[max(ra, rr)] = min(ra, rr)
    roots = [find(n_app + r) for r in range(n_rev)]
    labels: dict[int, int] = {}
    return np.array([labels.setdefault(x, len(labels)) for x in roots], dtype=np.int64)


def fit_additive(app_idx, rev_idx, y, n_app: int, n_rev: int, estimated=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares fit of ``y = q[app] + b[rev]`` with ``Σ b = 0`` in each group of linked reviewers.

    Parameters
    ----------
    app_idx, rev_idx : array of int
        Application and reviewer index of each observation (0-based).
    y : array of float
        Scores (no NaN).
    n_app, n_rev : int
    estimated : array of bool, optional
        Reviewers whose leniency is estimated (default all); the others keep
        ``b = 0`` and link nothing.

    Returns
    -------
    q : numpy.ndarray
        Quality per application (NaN for an application without observation).
    b : numpy.ndarray
        Leniency per reviewer (0 when not estimated).
    group : numpy.ndarray of int
        Group of each estimated reviewer (-1 for the others).
    """
    app_idx = np.asarray(app_idx, dtype=np.int64)
    rev_idx = np.asarray(rev_idx, dtype=np.int64)
    y = np.asarray(y, dtype=float)
    est = np.ones(n_rev, dtype=bool) if estimated is None else np.asarray(estimated, dtype=bool)
    n_i = np.bincount(app_idx, minlength=n_app).astype(float)
    s_i = np.bincount(app_idx, weights=y, minlength=n_app)
    ybar = np.divide(s_i, n_i, out=np.full(n_app, np.nan), where=n_i > 0)
    b = np.zeros(n_rev)
    group = np.full(n_rev, -1, dtype=np.int64)
    keep = est[rev_idx]
    ests = np.flatnonzero(est)
    if len(ests):
        pos = np.full(n_rev, -1, dtype=np.int64)
        pos[ests] = np.arange(len(ests))
        a_e, r_e, y_e = app_idx[keep], pos[rev_idx[keep]], y[keep]
        k = len(ests)
        g = _components(a_e, r_e, n_app, k)
        n_g = int(g.max()) + 1
        # incidence applications × estimated reviewers, weighted by 1/n_i
        inc = np.zeros((n_app, k))
        np.add.at(inc, (a_e, r_e), 1.0)
        w_inc = inc / np.where(n_i > 0, n_i, 1.0)[:, None]
        lap = np.diag(inc.sum(axis=0)) - inc.T @ w_inc
        rhs = np.bincount(r_e, weights=y_e, minlength=k) - inc.T @ np.nan_to_num(ybar)
        border = np.zeros((n_g, k))
        border[g, np.arange(k)] = 1.0
        mat = np.block([[lap, border.T], [border, np.zeros((n_g, n_g))]])
        sol = np.linalg.lstsq(mat, np.concatenate([rhs, np.zeros(n_g)]), rcond=None)[0]
        b[ests] = sol[:k]
        group[ests] = g
    q = np.divide(s_i - np.bincount(app_idx, weights=b[rev_idx], minlength=n_app), n_i,
                  out=np.full(n_app, np.nan), where=n_i > 0)
    return q, b, group


@dataclass(frozen=True)
class ReviewerEffects:
    """Fitted additive model, one sub-criterion per column.

    Attributes
    ----------
    quality : pandas.DataFrame
        Index ``application_id`` (sorted); one column per sub-criterion:
        estimated quality *q_i* (points on the call's scale, not clipped).
    leniency : pandas.DataFrame
        Index ``reviewer_id`` (sorted); one column per sub-criterion:
        leniency *b_j* (points; 0 when not estimated).
    estimated : pandas.Series
        Bool per reviewer: leniency estimated (enough reviews).
    group : pandas.Series
        Group of linked reviewers (int, 0, 1, …; -1 when not estimated), from
        the first sub-criterion that has scores.
    """

    quality: pd.DataFrame
    leniency: pd.DataFrame
    estimated: pd.Series
    group: pd.Series

    @property
    def n_groups(self) -> int:
        """Number of groups of reviewers linked by shared applications (estimated reviewers only)."""
        g = self.group[self.group >= 0]
        return int(g.nunique())

    def note_fr(self) -> str:
        """French sentence on what was estimated (groups, reviewers left uncorrected); "" when nothing to say."""
        parts = []
        if self.n_groups > 1:
            parts.append(f"les évaluateurs forment {self.n_groups} groupes sans dossier commun : la sévérité n'est "
                         "comparée qu'à l'intérieur d'un groupe, chaque groupe étant supposé ni sévère ni indulgent "
                         "en moyenne (somme des effets nulle dans le groupe)")
        n_fixed = int((~self.estimated).sum())
        if n_fixed:
            parts.append(f"{n_fixed} évaluateur(s) ayant noté trop peu de dossiers : notes reprises telles quelles")
        return " ; ".join(parts)


def _sorted(reviews: pd.DataFrame) -> pd.DataFrame:
    return reviews.sort_values(["application_id", "reviewer_id"], kind="mergesort").reset_index(drop=True)


def fit_reviewer_effects(reviews: pd.DataFrame, rules: CallRules) -> ReviewerEffects:
    """Fit the additive model on each sub-criterion of the call (module docstring).

    Parameters
    ----------
    reviews : pandas.DataFrame
        As from :func:`ditp_model.inputs.io.read_reviews` (``application_id``,
        ``reviewer_id``, one column per sub-criterion; blank = NaN).
    rules : CallRules
        Gives the sub-criteria and ``scoring.normalisation_min_reviews``.

    Returns
    -------
    ReviewerEffects
    """
    r = _sorted(reviews)
    apps = sorted(pd.unique(r["application_id"].astype(str)))
    revs = sorted(pd.unique(r["reviewer_id"].astype(str)))
    a_pos = {a: k for k, a in enumerate(apps)}
    r_pos = {x: k for k, x in enumerate(revs)}
    ai = np.array([a_pos[a] for a in r["application_id"].astype(str)], dtype=np.int64)
    ri = np.array([r_pos[x] for x in r["reviewer_id"].astype(str)], dtype=np.int64)
    counts = np.bincount(ri, minlength=len(revs))
    est = counts >= rules.scoring.normalisation_min_reviews
    quality, leniency = {}, {}
    group = None
    for col in rules.review_columns:
        y = pd.to_numeric(r[col], errors="coerce").to_numpy(dtype=float) if col in r else np.full(len(r), np.nan)
        ok = np.isfinite(y)
        q, b, g = fit_additive(ai[ok], ri[ok], y[ok], len(apps), len(revs), est)
        quality[col], leniency[col] = q, b
        if group is None and ok.any():
            group = g
    if group is None:
        group = np.full(len(revs), -1, dtype=np.int64)
    return ReviewerEffects(
        pd.DataFrame(quality, index=pd.Index(apps, name="application_id")),
        pd.DataFrame(leniency, index=pd.Index(revs, name="reviewer_id")),
        pd.Series(est, index=pd.Index(revs, name="reviewer_id"), name="estimated"),
        pd.Series(group, index=pd.Index(revs, name="reviewer_id"), name="group"),
    )


def normalise_reviewer_effects(reviews: pd.DataFrame, rules: CallRules) -> pd.DataFrame:
    """Reviews with each reviewer's estimated leniency removed (``y − b_j``), clipped to the scale.

    Parameters
    ----------
    reviews : pandas.DataFrame
        As from :func:`ditp_model.inputs.io.read_reviews`; not modified.
    rules : CallRules

    Returns
    -------
    pandas.DataFrame
        Same rows sorted by (application_id, reviewer_id), score columns
        corrected (points, blank scores stay NaN), plus ``reviewer_corrected``
        (bool: the reviewer's leniency was estimated) — the same shape as
        :func:`ditp_model.scoring.aggregate.normalise_reviews`.  The attribute
        ``attrs["note_fr"]`` holds :meth:`ReviewerEffects.note_fr`.
    """
    fx = fit_reviewer_effects(reviews, rules)
    out = _sorted(reviews)
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    rid = out["reviewer_id"].astype(str)
    for col in rules.review_columns:
        s = pd.to_numeric(out[col], errors="coerce")
        adj = s.to_numpy(dtype=float) - fx.leniency[col].reindex(rid).to_numpy(dtype=float)
        out[col] = np.where(s.notna(), np.clip(adj, lo, hi), np.nan)
    out["reviewer_corrected"] = fx.estimated.reindex(rid).to_numpy(dtype=bool)
    out.attrs["note_fr"] = fx.note_fr()
    return out


def review_composites(reviews: pd.DataFrame, rules: CallRules, weights) -> pd.Series:
    """Each review's composite grade on the review scale (reviewed criteria only).

    The committee's weights restricted to the reviewed criteria and rescaled
    to sum 1, applied to the review's criterion grades (mean of its
    sub-criterion grades; a blank sub-score is skipped, a criterion with no
    score leaves the others to carry the weight) — the grade the Bayesian
    model sees (:func:`ditp_model.scoring.review_model.votes_from_reviews`).

    Returns
    -------
    pandas.Series
        Aligned with `reviews` sorted by (application_id, reviewer_id), index
        ``application_id``; NaN for a review with no usable score.
    """
    r = _sorted(reviews)
    w = weights.normalised()
    num = np.zeros(len(r))
    den = np.zeros(len(r))
    for crit in rules.criteria:
        if crit.source == "computed" or w[crit.name] <= 0:
            continue
        cols = [c for c in crit.review_columns if c in r]
        if not cols:
            continue
        g = r[cols].apply(pd.to_numeric, errors="coerce").mean(axis=1, skipna=True).to_numpy(dtype=float)
        ok = np.isfinite(g)
        num += np.where(ok, w[crit.name] * g, 0.0)
        den += np.where(ok, w[crit.name], 0.0)
    vals = np.divide(num, den, out=np.full(len(r), np.nan), where=den > 0)
    return pd.Series(vals, index=pd.Index(r["application_id"].astype(str), name="application_id"), name="composite")


def disagreement_threshold(rules: CallRules) -> float:
    """The call's ``scoring.disagreement_range`` (points on the review scale); 30 % of the scale when not set."""
    sc = rules.scoring
    v = getattr(sc, "disagreement_range", None)
    return float(v) if v is not None else 0.3 * (sc.scale_max - sc.scale_min)


def review_disagreement(reviews: pd.DataFrame, rules: CallRules, weights, applications_ids) -> pd.DataFrame:
    """Range of the reviewers' composite grades per application, and the strong-disagreement flag.

    The composite grade of each review is :func:`review_composites` on the
    reviews **as aggregated** (give the output of
    :func:`ditp_model.scoring.aggregate.reviews_as_aggregated`: after the call's
    normalisation, so that a reviewer's systematic harshness, once corrected,
    is not counted as disagreement).  The range is the highest minus the lowest
    of an application's composite grades (points on the review scale); the
    flag is raised when the range reaches ``rules.scoring.disagreement_range``
    (:func:`disagreement_threshold`; HYPOTHÈSE of the call file: 1.5 points on
    0–5, 30 % of the scale).
    Practice it follows: panels discuss applications whose individual
    assessments diverge before fixing a consensus score (Horizon Europe's
    consensus phase, the ANR's and SNSF's panel discussions); the tool only
    points them out, it changes no score.

    Parameters
    ----------
    reviews : pandas.DataFrame
        Reviews as aggregated (raw or corrected).
    rules : CallRules
    weights : Weights
    applications_ids : sequence of str
        Every application, in the order wanted.

    Returns
    -------
    pandas.DataFrame
        Index ``application_id`` in the given order; ``reviewer_range``
        (float, points on the review scale, rounded to 4 decimals; NaN with
        fewer than two reviews with a grade) and ``reviewer_disagreement``
        (bool).
    """
    ids = [str(a) for a in applications_ids]
    threshold = disagreement_threshold(rules)
    if reviews.empty or not set(rules.review_columns) <= set(reviews.columns):
        return pd.DataFrame({"reviewer_range": np.full(len(ids), np.nan), "reviewer_disagreement": np.zeros(len(ids), bool)},
                            index=pd.Index(ids, name="application_id"))
    comp = review_composites(reviews, rules, weights).dropna()
    g = comp.groupby(level=0)
    rng = (g.max() - g.min()).where(g.size() >= 2)
    rng = rng.reindex(ids).round(4)
    return pd.DataFrame({"reviewer_range": rng.to_numpy(dtype=float),
                         "reviewer_disagreement": (rng >= threshold - 1e-9).fillna(False).to_numpy(dtype=bool)},
                        index=pd.Index(ids, name="application_id"))
