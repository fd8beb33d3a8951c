"""The first steps of the one-way flow: inputs -> eligibility -> scores.

``rules + applications + reviews -> eligibility -> scores`` (DESIGN.md), as one
pure function :func:`evaluate` returning a frozen :class:`Evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from ditp_model.inputs.call import CallRules
from ditp_model.scoring.eligibility import check_eligibility
from ditp_model.inputs.io import Inputs
from ditp_model.scoring.aggregate import Weights, recompose_scores, score_applications

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """Eligibility and scores of every application for one set of weights.

    Attributes
    ----------
    rules : CallRules
    applications : pandas.DataFrame
    reviews : pandas.DataFrame
    weights : Weights
    eligibility : pandas.DataFrame
        See :func:`ditp_model.scoring.eligibility.check_eligibility`.
    scores : pandas.DataFrame
        See :func:`ditp_model.scoring.aggregate.score_applications`.
    files : dict
        Input path -> SHA-256.
    normalisation : str
        Review aggregation used: ``raw_mean``, ``reviewer_zscore`` or ``reviewer_effects``.
    conflicts : pandas.DataFrame or None
        The declarations of conflicts of interest used
        (:func:`ditp_model.inputs.conflicts.read_conflicts`); None: none declared.
    excluded_reviews : pandas.DataFrame or None
        Reviews removed because of a declared conflict (see
        :func:`ditp_model.scoring.conflicts.exclude_conflicted_reviews`);
        `reviews` holds only the reviews kept.
    """

    rules: CallRules
    applications: pd.DataFrame
    reviews: pd.DataFrame
    weights: Weights
    eligibility: pd.DataFrame
    scores: pd.DataFrame
    files: dict
    normalisation: str = ""
    conflicts: pd.DataFrame | None = None
    excluded_reviews: pd.DataFrame | None = None

    def __post_init__(self):
        if not self.normalisation:
            object.__setattr__(self, "normalisation", self.rules.scoring.normalisation)

    @property
    def table(self) -> pd.DataFrame:
        """One row per application (input order): identity, eligibility and scores.

        Columns: ``application_id``, ``title``, ``lead_org``, ``lead_org_type``,
        ``region``, ``maturity``, ``priority_reform``, ``requested_eur`` (int),
        ``submitted_at``, ``eligible``, ``reason_codes``, ``reasons``, then the
        columns of :func:`ditp_model.scoring.aggregate.score_applications`.

        Built once per evaluation (the decision and its explanation read it many
        times per weight change); each call returns a copy, which the caller may modify.
        """
        cached = self.__dict__.get("_table")
        if cached is None:
            ident = self.applications[["application_id", "title", "lead_org", "lead_org_type", "region", "maturity",
                                       "priority_reform", "requested_eur", "submitted_at"]]
            cached = ident.merge(self.eligibility, on="application_id", how="left", validate="one_to_one")
            cached = cached.merge(self.scores, on="application_id", how="left", validate="one_to_one")
            assert len(cached) == len(self.applications), "row count changed while merging"
            object.__setattr__(self, "_table", cached)  # not a field: replace() and == ignore it
        return cached.copy()

    @property
    def fundable(self) -> pd.Series:
        """Boolean mask (aligned with `table`): eligible and scored."""
        t = self.table
        return t["eligible"] & t["scored"]

    def with_weights(self, weights: Weights) -> "Evaluation":
        """Re-score with other weights (eligibility is unchanged); a new object.

        Only the composite changes: the criterion scores are kept and
        :func:`~ditp_model.scoring.aggregate.recompose_scores` recomputes the
        composite and the ranks, as :func:`~ditp_model.scoring.aggregate.score_applications` does.
        """
        weights.check_against(self.rules)
        scores = recompose_scores(self.scores, self.rules, weights, self.applications, self.eligibility)
        return replace(self, weights=weights, scores=scores)


def evaluate(inputs: Inputs, weights: Weights | None = None, normalisation: str | None = None,
             conflicts: pd.DataFrame | None = None) -> Evaluation:
    """Check eligibility and score every application.

    Reviews under a declared conflict of interest are removed first, before
    the per-reviewer normalisation and the aggregation (treated as missing,
    :func:`ditp_model.scoring.conflicts.exclude_conflicted_reviews`).

    Parameters
    ----------
    inputs : Inputs
        From :func:`ditp_model.inputs.io.load_inputs`.
    weights : Weights, optional
        Default: the call's default weights.
    normalisation : {"raw_mean", "reviewer_zscore", "reviewer_effects"}, optional
        Default: the rules file's ``scoring.normalisation``.
    conflicts : pandas.DataFrame, optional
        Declarations of conflicts of interest; default: ``inputs.conflicts``.

    Returns
    -------
    Evaluation
    """
    from ditp_model.scoring.conflicts import exclude_conflicted_reviews

    rules = inputs.rules
    weights = weights or Weights.from_rules(rules)
    elig = check_eligibility(inputs.applications, rules)
    method = normalisation or rules.scoring.normalisation
    decl = conflicts if conflicts is not None else getattr(inputs, "conflicts", None)
    reviews, excluded = exclude_conflicted_reviews(inputs.reviews, decl)
    scores = score_applications(inputs.applications, reviews, rules, weights, elig, normalisation=method)
    return Evaluation(rules, inputs.applications, reviews, weights, elig, scores, dict(inputs.files), method,
                      decl, excluded if decl is not None else None)
