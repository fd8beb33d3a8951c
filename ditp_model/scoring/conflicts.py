"""Reviews under a declared conflict of interest are removed before any aggregation.

The ERforResearch convention (Heyard et al. 2022; the SNSF's evaluation procedure): a review written under a
conflict of interest is treated as *missing*, not as a low or a neutral grade.  Removing the row before the
per-reviewer normalisation keeps the reviewer's other reviews (and their leniency estimate) unchanged by the
conflicted one, and makes the application's number of reviews count only the valid reviews, so that the
minimum number of reviews (``[scoring] min_reviews``) is checked after exclusions.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["exclude_conflicted_reviews", "EXCLUDED_REVIEW_COLUMNS"]

#: Columns of the excluded-reviews table.
EXCLUDED_REVIEW_COLUMNS = ("application_id", "reviewer_id", "nature", "declared_on", "review_row", "declaration_row")


def exclude_conflicted_reviews(reviews: pd.DataFrame, conflicts: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the reviews into those kept and those written under a declared conflict.

    Parameters
    ----------
    reviews : pandas.DataFrame
        As read by :func:`ditp_model.inputs.io.read_reviews` (``application_id``, ``reviewer_id``, scores,
        optionally ``source_row``).  Not modified.
    conflicts : pandas.DataFrame or None
        As read by :func:`ditp_model.inputs.conflicts.read_conflicts`; only rows whose ``role`` is
        ``reviewer`` exclude reviews (a committee member's declaration concerns the per-member views).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The reviews kept (same columns, file order, new index) and the excluded reviews, one row each:
        ``application_id``, ``reviewer_id``, ``nature`` (the declared link), ``declared_on``,
        ``review_row`` (row of the review in the reviews file, or None) and ``declaration_row`` (row of
        the declaration).  A declaration on an application the person did not review excludes nothing.
    """
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in EXCLUDED_REVIEW_COLUMNS})
    if conflicts is None or conflicts.empty:
        return reviews.copy(), empty
    rev = conflicts[conflicts["role"] == "reviewer"]
    declared = {(str(p), str(a)): r for p, a, r in zip(rev["person_id"], rev["application_id"], range(len(rev)))}
    keys = list(zip(reviews["reviewer_id"].astype(str), reviews["application_id"].astype(str)))
    hit = pd.Series([k in declared for k in keys], index=reviews.index)
    kept = reviews[~hit].reset_index(drop=True)
    kept.attrs.update(reviews.attrs)
    rows = []
    for idx in reviews.index[hit]:
        p, a = str(reviews.at[idx, "reviewer_id"]), str(reviews.at[idx, "application_id"])
        d = rev.iloc[declared[(p, a)]]
        rows.append({"application_id": a, "reviewer_id": p, "nature": str(d["nature"]), "declared_on": d["declared_on"],
                     "review_row": int(reviews.at[idx, "source_row"]) if "source_row" in reviews else None,
                     "declaration_row": int(d["source_row"]) if "source_row" in d else None})
    excluded = pd.DataFrame(rows, columns=list(EXCLUDED_REVIEW_COLUMNS)) if rows else empty
    return kept, excluded
