"""Main list and reserve list (« liste principale », « liste complémentaire ») of a decision.

ANR and ERC practice: the committee publishes, with the laureates (main list), a reserve list of
applications that are fundable — eligible, scored, above the quality thresholds, not excluded by
the committee — but not funded, in merit order.  When a laureate withdraws or an award is reduced,
the money freed is offered to the reserve list in that order, under the same decision rule
(:mod:`ditp_model.timeline.withdrawal`).

Length rule: the call's ``[selection] reserve_list_size`` (HYPOTHÈSE 10 in ``data/appel_2021.toml``;
``"all"``: every fundable application not funded).  The reserve list is the first
``reserve_list_size`` unfunded candidates in rank order (the tie-break order of
:func:`ditp_model.scoring.aggregate.rank_order`: score, earlier submission, id), whatever the
rule; an application passed over because it did not fit the money left is on it, in its rank.

The amount each would receive if money were freed is its award under the same rule: the capped
request (``award_cap_eur`` of the decision table; under a rule with cuts, the solver may give less
within the award band when it is funded).

Columns added to the decision table (:func:`ditp_model.rules.manifest.decision_table`):

* ``list``: ``main`` (funded), ``reserve`` (on the reserve list), ``none`` (anything else); after a
  withdrawal (:mod:`ditp_model.timeline.withdrawal`), ``withdrawn`` for a laureate who withdrew;
* ``reserve_rank``: 1, 2, … position on the reserve list (nullable integer, empty otherwise).  The
  numbering is the one published with the decision and does not change when applications of the
  list are funded later.
"""

from __future__ import annotations

import pandas as pd

from ditp_model.french import format_eur, format_points
from ditp_model.rules.allocation import Allocation

__all__ = ["LIST_LABELS_FR", "reserve_ids", "list_columns", "reserve_list_table", "reserve_record", "ordinal_fr"]

#: Code of the ``list`` column -> French label.
LIST_LABELS_FR = {"main": "liste principale", "reserve": "liste complémentaire", "none": "non retenu",
                  "withdrawn": "désistement"}


def reserve_ids(allocation: Allocation, size: int | str) -> list[str]:
    """The reserve list of a decision: unfunded candidates in rank order, at most `size` (``"all"``: every one).

    Parameters
    ----------
    allocation : Allocation
        A proven decision (its candidates are in rank order).
    size : int or "all"
        The call's ``[selection] reserve_list_size``.

    Returns
    -------
    list of str
        Application ids, best ranked first.

    Raises
    ------
    NotOptimalError
        The allocation is not a proven optimum (no decision, hence no list).
    """
    d = allocation.decisions
    funded = set(d.loc[d["funded"], "application_id"])
    waiting = [a for a in allocation.candidates.table["application_id"] if a not in funded]
    return waiting if size == "all" else waiting[: int(size)]


def list_columns(application_ids, funded, reserve: list[str]) -> tuple[list[str], pd.array]:
    """The ``list`` and ``reserve_rank`` columns for `application_ids` (any order).

    Parameters
    ----------
    application_ids : sequence of str
    funded : sequence of bool
        Funded flag of each application.
    reserve : list of str
        The reserve list in order (:func:`reserve_ids`).

    Returns
    -------
    (list of str, pandas nullable Int64 array)
    """
    pos = {a: k for k, a in enumerate(reserve, 1)}
    lists = ["main" if f else ("reserve" if a in pos else "none") for a, f in zip(application_ids, funded)]
    ranks = pd.array([pos.get(a) for a in application_ids], dtype="Int64")
    return lists, ranks


def ordinal_fr(n: int) -> str:
    """``1re``, ``2e``, ``3e``…"""
    return "1re" if int(n) == 1 else f"{int(n)}e"


def reserve_list_table(table: pd.DataFrame) -> pd.DataFrame:
    """The reserve list as a table with French column names, in reserve order (for the report).

    Parameters
    ----------
    table : pandas.DataFrame
        A decision table with the ``list`` and ``reserve_rank`` columns
        (:func:`ditp_model.rules.manifest.decision_table`, or one updated by
        :func:`ditp_model.timeline.withdrawal.updated_table`).  Applications of the
        reserve list funded since the decision are kept, with their status.

    Returns
    -------
    pandas.DataFrame
        ``Position`` (int), ``Dossier``, ``Intitulé``, ``Porteur``, ``Région``, ``Note``
        (points, text with a French decimal comma), ``Montant demandé`` and ``Montant si
        financé`` (whole euros, French text: the capped request), ``Situation``
        (« en attente » or « financé après désistement / réduction : 95 000 € »).
    """
    if "reserve_rank" not in table:
        raise ValueError("table de décision sans colonne reserve_rank : la produire avec rules.manifest.decision_table")
    r = table[table["reserve_rank"].notna()].copy()
    r = r.sort_values("reserve_rank", kind="mergesort")
    status = []
    for f, w in zip(r["funded"], r["award_eur"]):
        status.append(f"financé après désistement ou réduction : {format_eur(int(w))}" if f else "en attente")
    return pd.DataFrame({
        "Position": [int(x) for x in r["reserve_rank"]],
        "Dossier": r["application_id"].astype(str).tolist(),
        "Intitulé": r["title"].astype(str).tolist(),
        "Porteur": r["lead_org"].astype(str).tolist(),
        "Région": r["region"].astype(str).tolist(),
        "Note": [format_points(s) for s in r["score"]],
        "Montant demandé": [format_eur(int(x)) for x in r["requested_eur"]],
        "Montant si financé": [format_eur(int(x)) for x in r["award_cap_eur"]],
        "Situation": status,
    })


def reserve_record(table: pd.DataFrame, size: int | str) -> dict:
    """The lists for the manifest (JSON-ready): ``size`` (the rule), ``reserve`` (ids in order, every one
    published) and ``waiting`` (those still unfunded)."""
    r = table[table["reserve_rank"].notna()].sort_values("reserve_rank", kind="mergesort")
    return {"size": size, "reserve": [str(a) for a in r["application_id"]],
            "waiting": [str(a) for a, f in zip(r["application_id"], r["funded"]) if not f]}
