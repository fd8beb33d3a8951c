"""Held, not rejected: applications awaiting reviews, and when they make a decision provisional.

Issue 13, item 2.  An **eligible** application with fewer valid reviews than the call's minimum
(``[scoring] min_reviews``, counted after the reviews excluded for a declared conflict of interest) is not
scored and cannot be ranked; it is not rejected either: its status is « en attente d'évaluation », with the
number of reviews it still needs (:func:`held_applications`).

**When is a decision provisional?**  A held application *H* is **within reach of the funding line** when the
committee's own rule, with the same parameters (envelope, locks, portfolio rules, quality thresholds, δ),
would fund it had its missing reviews been the best possible — every sub-criterion of every missing review at
the scale's maximum — and its present reviews left as they are (:func:`best_case_score`).  The decision is
**provisional** when at least one held application is within reach (:func:`provisional_status`).  Each held
application is tried alone (the others stay held): a decision is provisional as soon as one of them could
change it.  An application that would not be funded even at that best case cannot change the decision
by its reviews alone and does not make it provisional (it stays « en attente d'évaluation »).

The best case is the highest score the missing reviews can give: the composite is increasing in every
review grade, and under the merit order or an optimisation rule a higher score never loses a place, so an
application not funded at its best case is not funded at any score its reviews could give.

Source of the minimum of three reviews: Horizon Europe (at least three independent experts per proposal,
*Horizon Europe Programme Guide* and *General Annexes*, evaluation) and the ERA-NET Cofund calls that follow
it; the value is a HYPOTHÈSE of the call file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ditp_model.french import format_points, plural_fr
from ditp_model.rules.allocation import AllocationParams, allocate
from ditp_model.scoring.aggregate import SCORE_DECIMALS, ranks, reviews_as_aggregated
from ditp_model.scoring.pipeline import Evaluation

__all__ = ["HELD_STATUS_FR", "held_applications", "best_case_score", "Provisional", "provisional_status", "is_provisional",
           "review_status_columns", "held_effect_fr"]

#: Status of an eligible application with too few valid reviews.
HELD_STATUS_FR = "en attente d'évaluation"


def held_applications(evaluation: Evaluation) -> pd.DataFrame:
    """Eligible applications with fewer valid reviews than the call's minimum.

    Returns
    -------
    pandas.DataFrame
        Input order: ``application_id``, ``title``, ``n_reviews`` (valid reviews, after exclusions for a
        conflict of interest), ``min_reviews`` and ``reviews_missing`` (int, ≥ 1).
    """
    t = evaluation.table
    need = int(evaluation.rules.scoring.min_reviews)
    held = t[t["eligible"].astype(bool) & (t["n_reviews"] < need)]
    return pd.DataFrame({"application_id": held["application_id"].astype(str).to_numpy(),
                         "title": held["title"].to_numpy(),
                         "n_reviews": held["n_reviews"].astype("int64").to_numpy(),
                         "min_reviews": np.full(len(held), need, dtype="int64"),
                         "reviews_missing": (need - held["n_reviews"]).astype("int64").to_numpy()})


def review_status_columns(evaluation: Evaluation) -> tuple[list[str], list[int]]:
    """For every application (input order): its review status (:data:`HELD_STATUS_FR` or "") and the reviews it still needs (int)."""
    held = held_applications(evaluation).set_index("application_id")
    ids = evaluation.table["application_id"].astype(str)
    return ([HELD_STATUS_FR if a in held.index else "" for a in ids],
            [int(held.at[a, "reviews_missing"]) if a in held.index else 0 for a in ids])


def _best_case_row(evaluation: Evaluation, application_id: str) -> dict:
    """Sub-criterion means, criterion scores (0–1) and composite (points) of `application_id` at its best case."""
    rules = evaluation.rules
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    need = int(rules.scoring.min_reviews)
    revs = evaluation.reviews
    if evaluation.normalisation in ("reviewer_zscore", "reviewer_effects") and len(revs):
        revs = reviews_as_aggregated(revs, rules, evaluation.normalisation)
    mine = revs[revs["application_id"].astype(str) == application_id]
    has_any = mine[list(rules.review_columns)].notna().any(axis=1)
    missing = max(0, need - int(has_any.sum()))
    sub = {}
    for col in rules.review_columns:
        vals = [float(v) for v in mine[col] if pd.notna(v)] + [float(hi)] * missing
        sub[col] = float(np.mean(vals)) if vals else float(hi)
    row = evaluation.table.set_index("application_id").loc[application_id]
    w = evaluation.weights.normalised()
    crit, composite = {}, 0.0
    for c in rules.criteria:
        if c.source == "computed":
            v = float(row[f"{c.name}_score"])
        else:
            v = float(np.mean([(sub[k] - lo) / (hi - lo) for k in c.review_columns]))
        crit[f"{c.name}_score"] = v
        composite += w[c.name] * v
    return {**sub, **crit, "n_reviews": int(has_any.sum()) + missing,
            "score": round(100.0 * composite, SCORE_DECIMALS)}


def best_case_score(evaluation: Evaluation, application_id: str) -> float:
    """The composite score (points, 0–100) of a held application if every missing review gave the scale's maximum.

    The application's present reviews count as the scores see them (per-reviewer corrected when the evaluation
    uses ``reviewer_zscore`` or ``reviewer_effects``: z-score, or the reviewer's estimated leniency removed);
    each of the ``min_reviews − n_reviews`` missing reviews gives the scale's maximum on every sub-criterion; a sub-criterion mean is the mean of those grades, a reviewed criterion the mean
    of its sub-criteria mapped to 0–1, and the composite the committee's normalised weights applied to the
    criteria (computed criteria such as the collective index unchanged), rounded like every score.
    """
    return _best_case_row(evaluation, str(application_id))["score"]


def _evaluation_at_best_case(evaluation: Evaluation, application_id: str) -> Evaluation:
    """A copy of `evaluation` where `application_id` is scored at its best case (every other score unchanged)."""
    best = _best_case_row(evaluation, application_id)
    scores = evaluation.scores.copy()
    i = scores.index[scores["application_id"].astype(str) == application_id][0]
    for k, v in best.items():
        if k in scores.columns:
            scores.at[i, k] = v
    scores.at[i, "scored"] = True
    scores.at[i, "score_flag"] = ""
    scores["rank"] = ranks(scores, evaluation.eligibility, evaluation.applications)
    return replace(evaluation, scores=scores)


def held_effect_fr(within_reach: bool, excluded: str = "", *, long: bool = False) -> str:
    """What a held application's best case does to the decision, in French (command line, report annex, panel).

    Parameters
    ----------
    within_reach : bool
        The committee's rule would fund it at its best case.
    excluded : str
        The committee's motif when it locked the application out (``--lock-out``), "" otherwise: it is then
        out of the decision because the committee excluded it, whatever its reviews (trial 1, item 11).
    long : bool
        « … même avec la note maximale » rather than « … même ainsi ».
    """
    if excluded:
        return f"exclu par le comité (motif : {excluded}) : hors de la décision, quelles que soient ses notes"
    if within_reach:
        return "pourrait être financé, la décision est provisoire" if long else "pourrait être financé : décision provisoire"
    return "ne serait pas financé même avec la note maximale" if long else "ne serait pas financé même ainsi"


@dataclass(frozen=True)
class Provisional:
    """Whether a decision is provisional, and why.

    Attributes
    ----------
    held : pandas.DataFrame
        :func:`held_applications` plus ``best_case_score`` (points), ``within_reach`` (bool: the
        committee's rule would fund it at its best case) and ``excluded`` (str: the committee's motif
        when it locked the application out, "" otherwise; such an application is never within reach).
    rule : str
        The decision rule used for the test.
    """

    held: pd.DataFrame
    rule: str

    @property
    def is_provisional(self) -> bool:
        """True when at least one held application is within reach of the funding line."""
        return bool(self.held["within_reach"].any()) if len(self.held) else False

    @property
    def within_reach(self) -> list[str]:
        return self.held.loc[self.held["within_reach"], "application_id"].tolist() if len(self.held) else []

    def record(self) -> dict:
        """JSON-ready: ``provisional`` (bool) and ``held`` (one dict per held application)."""
        return {"provisional": self.is_provisional,
                "held": [{"application_id": str(r.application_id), "n_reviews": int(r.n_reviews),
                          "reviews_missing": int(r.reviews_missing), "best_case_score": float(r.best_case_score),
                          "within_reach": bool(r.within_reach),
                          **({"displaces": list(r.displaces)} if getattr(r, "displaces", ()) else {})}
                         for r in self.held.itertuples()]}

    def lines_fr(self) -> list[str]:
        """French lines for the command line and the report: the status, then each held application."""
        if not len(self.held):
            return ["Aucun dossier en attente d'évaluation : la décision est définitive."]
        n, k = len(self.held), len(self.within_reach)
        out = int((self.held["excluded"] != "").sum()) if "excluded" in self.held else 0
        them = "leur" if n > 1 else "lui"
        if self.is_provisional:
            to = "leur" if k > 1 else "lui"
            head = (f"DÉCISION PROVISOIRE : {k} dossier{'s' if k > 1 else ''} en attente d'évaluation "
                    f"pourrai{'en' if k > 1 else ''}t entrer dans la liste des lauréats si les avis qui {to} manquent "
                    f"{to} donnaient les meilleures notes"
                    + (", et des lauréats actuels en sortiraient" if any(len(d) for d in self.held.get("displaces", [])) else "")
                    + " ; la liste des lauréats et la liste complémentaire ne pourront être arrêtées qu'une fois ces avis "
                    "reçus, ou ces dossiers écartés par le comité avec un motif écrit.")
        elif out == n:
            head = (f"{n} dossier{'s' if n > 1 else ''} en attente d'évaluation, "
                    f"{'tous exclus' if n > 1 else 'exclu'} par le comité (verrou, avec son motif) : "
                    f"{'ils ne comptent' if n > 1 else 'il ne compte'} pas dans la décision, qui n'est pas provisoire.")
        elif out:
            rest = "les autres ne pourraient" if n - out > 1 else "l'autre ne pourrait"
            head = (f"{n} dossiers en attente d'évaluation ; {out} exclu{'s' if out > 1 else ''} par le comité, "
                    f"{rest} pas entrer dans la liste des "
                    f"lauréats, même avec la note maximale sur les avis qui {them} manquent : la décision n'est pas provisoire.")
        else:
            head = (f"{n} dossier{'s' if n > 1 else ''} en attente d'évaluation ; aucun ne pourrait entrer dans la liste "
                    f"des lauréats, même avec la note maximale sur les avis qui {them} manquent : la décision n'est pas "
                    "provisoire.")
        lines = [head]
        for r in self.held.itertuples():
            reach = held_effect_fr(bool(r.within_reach), getattr(r, "excluded", ""))
            gone = tuple(getattr(r, "displaces", ()) or ())
            if r.within_reach and gone:
                reach += f" ; la décision ne financerait plus alors {', '.join(gone)}"
            lines.append(f"  - {r.application_id} : {HELD_STATUS_FR}, {r.n_reviews} avis {plural_fr(r.n_reviews, 'valable')} sur {r.min_reviews} requis "
                         f"(il en manque {r.reviews_missing}) ; note au mieux {format_points(r.best_case_score)} — {reach}")
        return lines

    def what_to_do_fr(self, publish: str = "publier une décision provisoire") -> str:
        """What the secretariat can do when a provisional decision is refused (exit code 6), options named (trial 1, item 20).

        « Que faire : obtenir les avis manquants de P047, P072 puis relancer ; ou, si le comité les écarte,
        les exclure avec son motif : --lock-out P047="motif du comité" P072="motif du comité" (ou une ligne
        « out » avec son motif dans le fichier --verrous) ; ou relancer avec --provisoire pour … ».
        """
        ids = self.within_reach or [str(a) for a in self.held["application_id"]]
        which = ", ".join(ids)
        locks = " ".join(f'{a}="motif du comité"' for a in ids)
        them = "les " if len(ids) > 1 else "l'"
        return (f"Que faire : obtenir les avis manquants ({which}) puis relancer la même commande ; ou, si le comité "
                f"{them}écarte, {them}exclure avec son motif écrit : "
                f"--lock-out {locks} (ou une ligne « out » avec son motif dans le fichier --verrous) ; ou relancer avec "
                f"--provisoire pour {publish}.")


def provisional_status(evaluation: Evaluation, params: AllocationParams | None = None, *,
                       funded_ids=None) -> Provisional:
    """Test each held application at its best case with the committee's rule (see the module docstring).

    `funded_ids` (rank order), when given, are the laureates of the decision taken without the held
    applications: each held application within reach is then told which of them its best-case decision
    would no longer fund (column ``displaces``; what the applicants near the line need to read).  No
    solve is added for it: the best-case decisions are made anyway.

    One decision per held application (:func:`ditp_model.rules.allocation.allocate`, same parameters),
    except one the committee locked out: it is out of the decision whatever its reviews (its motif is kept).
    A best-case decision that is not a proven optimum counts the application as within reach (the
    decision cannot be shown final).

    Returns
    -------
    Provisional
    """
    params = params or AllocationParams()
    held = held_applications(evaluation)
    best, reach, excluded, displaces = [], [], [], []
    for aid in held["application_id"]:
        ev = _evaluation_at_best_case(evaluation, aid)
        best.append(float(ev.scores.set_index("application_id").at[aid, "score"]))
        if aid in params.lock_out:  # excluded by the committee: out whatever its reviews, no decision to try
            reach.append(False)
            excluded.append(params.lock_reason(aid) or "verrou sans motif écrit")
            displaces.append(())
            continue
        alloc = allocate(ev, params)
        reach.append(bool(aid in alloc.funded_ids) if alloc.is_optimal else True)
        excluded.append("")
        displaces.append(tuple(a for a in funded_ids if a not in set(alloc.funded_ids))
                         if funded_ids is not None and alloc.is_optimal else ())
    out = held.assign(best_case_score=pd.array(best, dtype="float64"), within_reach=pd.array(reach, dtype=bool),
                      excluded=pd.array(excluded, dtype=object), displaces=pd.array(displaces, dtype=object))
    return Provisional(out, params.rule or evaluation.rules.selection.rule)


def is_provisional(evaluation: Evaluation, params: AllocationParams | None = None) -> bool:
    """True when a held application within reach of the funding line makes the decision provisional."""
    return provisional_status(evaluation, params).is_provisional
