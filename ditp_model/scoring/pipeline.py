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
from ditp_model.scoring.aggregate import Weights, score_applications

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
    """

    rules: CallRules
    applications: pd.DataFrame
    reviews: pd.DataFrame
    weights: Weights
    eligibility: pd.DataFrame
    scores: pd.DataFrame
    files: dict
    normalisation: str = ""

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
        """
        ident = self.applications[["application_id", "title", "lead_org", "lead_org_type", "region", "maturity",
                                   "priority_reform", "requested_eur", "submitted_at"]]
        out = ident.merge(self.eligibility, on="application_id", how="left", validate="one_to_one")
        out = out.merge(self.scores, on="application_id", how="left", validate="one_to_one")
        assert len(out) == len(self.applications), "row count changed while merging"
        return out

    @property
    def fundable(self) -> pd.Series:
        """Boolean mask (aligned with `table`): eligible and scored."""
        t = self.table
        return t["eligible"] & t["scored"]

    def with_weights(self, weights: Weights) -> "Evaluation":
        """Re-score with other weights (eligibility is unchanged); a new object."""
        scores = score_applications(self.applications, self.reviews, self.rules, weights, self.eligibility,
                                    normalisation=self.normalisation)
        return replace(self, weights=weights, scores=scores)


def evaluate(inputs: Inputs, weights: Weights | None = None, normalisation: str | None = None) -> Evaluation:
    """Check eligibility and score every application.

    Parameters
    ----------
    inputs : Inputs
        From :func:`ditp_model.inputs.io.load_inputs`.
    weights : Weights, optional
        Default: the call's default weights.
    normalisation : {"raw_mean", "reviewer_zscore", "reviewer_effects"}, optional
        Default: the rules file's ``scoring.normalisation``.

    Returns
    -------
    Evaluation
    """
    rules = inputs.rules
    weights = weights or Weights.from_rules(rules)
    elig = check_eligibility(inputs.applications, rules)
    method = normalisation or rules.scoring.normalisation
    scores = score_applications(inputs.applications, inputs.reviews, rules, weights, elig, normalisation=method)
    return Evaluation(rules, inputs.applications, inputs.reviews, weights, elig, scores, dict(inputs.files), method)
