"""The funding line of a merit-rule decision: where merit-order funding stops, imposed applications apart (trial 1, item 2).

One function, :func:`merit_funding_line`, for the command line and the report
(:meth:`~ditp_model.rules.explain.Explanation.funding_line_fr`), the committee panel, the letters and
the workbook (both from the published ``allocation.csv``): the line is never placed at an application the
committee imposed (or a minimum-count rule funded first), nor is such an application called ex aequo.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ditp_model.french import format_points

__all__ = ["LINE_REASONS", "HELD_OUT_PREFIX", "FundingLine", "merit_funding_line", "imposed_by_locks", "imposed_from_manifest"]


#: Reasons of an unfunded candidate that place the funding line (merit order): no money left at its turn, passed
#: over in the ex aequo band, or passed over by a named exception (the money went to an imposed application).
LINE_REASONS = ("envelope", "tie", "exception")

#: How the reason of an application held out by a portfolio rule (maximum share, maximum number of awards) begins
#: (:func:`ditp_model.rules.explain.merit_explanations`): such an application never places the line.
HELD_OUT_PREFIX = "exception à l'ordre de mérite (règle de portefeuille) : "


@dataclass(frozen=True)
class FundingLine:
    """Where merit-order funding stops, and what is funded apart from it (trial 1, item 2).

    Attributes
    ----------
    last_above : tuple (id, rank, score) or None
        The last laureate in merit order above the line.
    first_out : tuple (id, rank, score, why) or None
        The first candidate left unfunded in merit order (imposed applications set aside); `why`
        is "" or « ex aequo » or « passé par une exception à l'ordre de mérite ».
    below : tuple of (id, rank, score, why)
        Laureates in merit order ranked below the line: ex aequo, or on what was left of the envelope.
    imposed : tuple of (id, rank, score, cause)
        Applications funded first — imposed by the committee or by a minimum-count rule — wherever
        they rank: never the line, never ex aequo.
    """

    last_above: tuple | None
    first_out: tuple | None
    below: tuple = ()
    imposed: tuple = ()

    @property
    def last_merit_rank(self) -> int | None:
        """Rank of the last laureate funded in merit order (the imposed applications set aside); None when none."""
        ranks = [r for _, r, _, _ in self.below] + ([self.last_above[1]] if self.last_above else [])
        return max(ranks, default=None)

    def sentence_fr(self) -> str:
        """« Ligne de financement — dernier financé au-dessus : … ; premier non financé : … ; financés en dessous : … ;
        financés hors ordre de mérite : … »."""
        def who(aid, rank, score, extra="") -> str:
            return f"{aid} (rang {int(rank)}, {format_points(score)} points{', ' + extra if extra else ''})"

        if self.first_out is None:
            parts = ["tous les dossiers finançables sont financés"]
            head = "Ligne de financement : "
        else:
            parts = [f"premier non financé : {who(*self.first_out)}"]
            if self.last_above:
                parts.insert(0, f"dernier financé au-dessus : {who(*self.last_above)}")
            if self.below:
                parts.append("financés en dessous : " + ", ".join(who(*b) for b in self.below))
            head = "Ligne de financement — "
        if self.imposed:
            parts.append("financés hors ordre de mérite, avant les autres : " + ", ".join(who(*i) for i in self.imposed))
        return head + " ; ".join(parts)


def imposed_by_locks(lock_in, lock_reasons=None) -> dict:
    """Application id -> « imposé par le comité : <motif> » for the committee's locks (a published decision's ``parameters``)."""
    reasons = dict(lock_reasons or {})
    return {str(a): "imposé par le comité" + (f" : {reasons[a]}" if reasons.get(a) else "") for a in lock_in or ()}


def imposed_from_manifest(manifest: dict) -> dict:
    """Application id -> cause of every application funded first in a published decision.

    The manifest's ``decision_rule.funded_first`` (locks and minimum-count choices,
    :func:`ditp_model.rules.manifest.decision_rule_record`); a manifest written before
    it was recorded gives the committee's locks only (``parameters.lock_in``).
    """
    params = manifest.get("parameters") or {}
    imposed = imposed_by_locks(params.get("lock_in"), params.get("lock_reasons"))
    imposed.update({str(a): str(c) for a, c in ((manifest.get("decision_rule") or {}).get("funded_first") or {}).items()})
    return imposed


def merit_funding_line(table: pd.DataFrame, imposed: dict, funded_instead=()) -> FundingLine:
    """The funding line of a merit-order (or ranking-rule) decision, from a decision table.

    One function for the command line, the report, the panel, the letters and the workbook.

    Parameters
    ----------
    table : pandas.DataFrame
        ``application_id``, ``rank``, ``score`` (points), ``funded`` (bool), ``reason`` (the merit
        rules' reason: ``funded``, ``envelope``, ``tie``, ``exception``, ``limit``, ``none``,
        ``excluded`` or "") and ``ex_aequo`` (bool) — the explanation's table or the published
        ``allocation.csv``.
    imposed : dict
        Application id -> cause, for the applications funded first (the committee's locks, the
        minimum-count rules' choices): named apart, never the line.
    funded_instead : collection of str, optional
        Laureates funded below applications a maximum-share rule held out
        (:attr:`~ditp_model.rules.base.MeritException.funded_instead`): such a laureate below the
        line is said to be funded before applications a cap holds out (a named exception).

    Returns
    -------
    FundingLine
        The line is placed at the first candidate, in rank order, left unfunded for lack of money,
        inside the ex aequo band or by an exception (:data:`LINE_REASONS`), the imposed applications
        and those a portfolio rule held out (:data:`HELD_OUT_PREFIX`) set aside.  A laureate below it is ex aequo (flagged and within the band) or funded on what
        was left of the envelope.
    """
    t = table[table["rank"].notna() & table["reason"].isin(("funded", *LINE_REASONS))]
    if "keeps_out" in t.columns:  # held out by a maximum share or number of awards: a named exception, not the line
        t = t[~t["keeps_out"].fillna("").astype(str).str.startswith(HELD_OUT_PREFIX)]
    t = t.sort_values("rank", kind="mergesort")
    rows = [(str(r.application_id), int(r.rank), float(r.score), bool(r.funded), str(r.reason), bool(r.ex_aequo))
            for r in t.itertuples()]
    imp = tuple((a, k, s, imposed[a] or "imposé par le comité") for a, k, s, f, _, _ in rows if f and a in imposed)
    merit = [r for r in rows if r[0] not in imposed]
    out = next((r for r in merit if not r[3]), None)
    if out is None:
        return FundingLine(None, None, (), imp)
    why = "passé par une exception à l'ordre de mérite" if out[4] == "exception" else ("ex aequo" if out[5] else "")
    above = [r for r in merit if r[3] and r[1] < out[1]]
    instead = set(funded_instead or ())
    below = tuple((a, k, s, "financé avant des dossiers qu'un plafond écarte (exception nommée)" if a in instead
                   else "ex aequo" if x else "sur le reliquat de l'enveloppe")
                  for a, k, s, f, _, x in merit if f and k > out[1])
    last = (above[-1][0], above[-1][1], above[-1][2]) if above else None
    return FundingLine(last, (out[0], out[1], out[2], why), below, imp)
