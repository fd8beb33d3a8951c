"""Reviewer identities: one pseudonymisation for every output of every command (trial 1, item 5).

The README promises that reviewers' identities leave the secretariat only when it asks for them
(``--with-reviewer-ids``).  Every place that shows a reviewer — console of ``score`` and
``allocate``, ``allocation.xlsx`` (« Notes par évaluateur », « Procédure »), ``manifest.json``
(declarations of conflicts of interest and reviews set aside), the report and its procedure annex,
the applicants' feedback and letters — takes its pseudonyms from :func:`reviewer_pseudonyms`, so a
reviewer is ``R03`` in every file of one decision.

Rule: ids that are all already pseudonyms (``R`` followed by digits, as in the sample data) are
kept as they are; otherwise every id is replaced by ``R01``, ``R02``… in order of first appearance
(reviews in file order, then reviews set aside for a conflict of interest, then reviewers named only
in the declarations of conflicts), so that no name or e-mail used as an id is exported.
Committee members (declarations with role ``member``) are shown as written: the declarations file
names them by pseudonym already (see ``data/README.md``).

Placed at the base of the package (beside :mod:`ditp_model.french`) because the decision record
(:mod:`ditp_model.rules.manifest`) writes reviewers too, below every output module.
"""

from __future__ import annotations

import re

__all__ = ["PSEUDONYM_PATTERN", "pseudonymise_reviewers", "reviewer_pseudonyms", "reviewer_ids"]

#: What an id already pseudonymous looks like: ``R`` then digits.
PSEUDONYM_PATTERN = re.compile(r"R\d+")


def pseudonymise_reviewers(ids) -> dict[str, str]:
    """Reviewer id -> pseudonym ``R01``, ``R02``… (order of first appearance).

    Parameters
    ----------
    ids : iterable
        Reviewer ids, in the order they should be numbered (repeats allowed).

    Returns
    -------
    dict
        Every distinct id (as ``str``) -> its pseudonym.  When every id already matches
        :data:`PSEUDONYM_PATTERN` the ids are kept (identity mapping); otherwise all are replaced,
        with at least two digits (``R01``), more when there are 100 reviewers or more.
    """
    uniq = list(dict.fromkeys(str(i) for i in ids))
    if all(PSEUDONYM_PATTERN.fullmatch(u) for u in uniq):
        return {u: u for u in uniq}
    width = max(2, len(str(len(uniq))))
    return {u: f"R{k:0{width}d}" for k, u in enumerate(uniq, 1)}


def reviewer_ids(evaluation) -> list[str]:
    """Every reviewer id an evaluation knows, in numbering order (see the module docstring).

    `evaluation` is a :class:`ditp_model.scoring.pipeline.Evaluation` (or anything with ``reviews``,
    ``excluded_reviews`` and ``conflicts`` tables of the same columns).
    """
    ids = [str(i) for i in evaluation.reviews["reviewer_id"]]
    ex = getattr(evaluation, "excluded_reviews", None)
    if ex is not None and len(ex):
        ids += [str(i) for i in ex["reviewer_id"]]
    decl = getattr(evaluation, "conflicts", None)
    if decl is not None and len(decl):
        ids += [str(p) for p, role in zip(decl["person_id"], decl["role"]) if role == "reviewer"]
    return list(dict.fromkeys(ids))


def reviewer_pseudonyms(evaluation, *, identities: bool = False) -> dict[str, str]:
    """Reviewer id -> what every output shows for it: its pseudonym, or the id itself when `identities`.

    Parameters
    ----------
    evaluation : Evaluation
        See :func:`reviewer_ids`.
    identities : bool
        The secretariat asked for the identities (``--with-reviewer-ids``): identity mapping.
    """
    ids = reviewer_ids(evaluation)
    return {i: i for i in ids} if identities else pseudonymise_reviewers(ids)
