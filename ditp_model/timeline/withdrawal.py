"""After the decision: a laureate withdraws (« désistement ») or an award is reduced after budget review
(« réduction », ERC practice); the money freed goes to the reserve list.

Procedure (ANR and ERC practice, issue 13 item 4).  A change names a laureate of the decision in
force and carries a written reason (« motif », mandatory).  Then:

1. the laureate's award becomes 0 € (withdrawal) or the reduced amount (reduction): the money
   freed is exactly the difference;
2. the money freed plus the money left unspent (available envelope − awards in force) is offered
   to the applications of the reserve list still waiting (:mod:`ditp_model.rules.reserve_list`),
   in their order, **under the same decision rule** as the decision: the rule object of
   :func:`ditp_model.rules.allocation.get_rule` decides on the candidates restricted to the
   laureates in force, locked in at their awards (funded first, never changed), and the reserve
   applications still waiting.  Under the merit order this is :func:`~ditp_model.rules.allocation.merit_search`
   with the laureates as ``first``: with δ = 0, each reserve application in order is funded when it
   fits what is left and passed over otherwise (the skip rule), the next one that fits is funded;
   within the ex aequo band δ the same no-complaint rule as the decision applies.  Under the
   ranking rule, ``ranking_variant`` says whether to pass over (``skip``) or stop (``stop``).
   A minimum-count rule is met again from the reserve list when a laureate of its group
   withdraws (the best-ranked waiting application of the group first, as in the decision); when
   nobody of the group is left to fund, it is kept at what can still be reached.
   Other applications (not fundable, beyond the reserve list, excluded) are never funded;
3. every other award is unchanged (checked in integers).

Changes are cumulative: the decision in force is the original decision (re-computed from the
inputs) with every recorded change replayed in order (:func:`replay_changes`), which is what
``ditp-model verify`` does with the changes recorded in a manifest.

Amounts are whole euros (``int``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pandas as pd

from ditp_model.french import format_eur
from ditp_model.rules.allocation import Allocation, AllocationError, Candidates, SolveStatus, get_rule
from ditp_model.rules.reserve_list import ordinal_fr, reserve_ids

__all__ = ["KINDS_FR", "Change", "Step", "Update", "apply_changes", "offer_to_reserve", "updated_table", "replay_changes",
           "replay_recorded", "updated_manifest", "change_sentence_fr", "CHANGE_LABELS_FR"]

#: Kind of change -> French name.
KINDS_FR = {"desistement": "désistement", "reduction": "réduction"}


@dataclass(frozen=True)
class Change:
    """One change to a decision in force.

    Attributes
    ----------
    kind : {"desistement", "reduction"}
    application_id : str
        A laureate of the decision in force.
    motif : str
        The written reason (mandatory, not blank).
    amount_eur : int or None
        Reduction: the new award in whole euros (at least 1 €, below the award in force).  None for a withdrawal.
        The call's floor (``funding.award_floor_eur``) is checked when the change is applied
        (:func:`apply_changes`): an award below the call's minimum is not an award the call allows,
        and an applicant who cannot do the project with the floor withdraws instead.
        HYPOTHÈSE: the call's amount step is not checked (a reduction after budget review cuts the
        grant to the budget found eligible, ERC practice).

    Raises
    ------
    ValueError
        Unknown kind, blank motif, a reduction without a whole positive amount (French).
    """

    kind: str
    application_id: str
    motif: str
    amount_eur: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS_FR:
            raise ValueError(f"changement « {self.kind} » inconnu : {', '.join(KINDS_FR)}")
        if not isinstance(self.application_id, str) or not self.application_id.strip():
            raise ValueError(f"{KINDS_FR[self.kind]} : identifiant de dossier manquant")
        if not isinstance(self.motif, str) or not self.motif.strip():
            raise ValueError(f"{KINDS_FR[self.kind]} de {self.application_id} : le motif est obligatoire "
                             "(--motif \"…\", par ex. « courrier du porteur du 12 janvier renonçant au financement »)")
        if self.kind == "reduction":
            a = self.amount_eur
            if isinstance(a, bool) or not isinstance(a, int) or a < 1:
                raise ValueError(f"réduction de {self.application_id} : le nouveau montant est un nombre entier d'euros "
                                 f"d'au moins 1 € (--montant), reçu {a!r}")
        elif self.amount_eur is not None:
            raise ValueError(f"désistement de {self.application_id} : pas de montant (le montant devient 0 €)")

    def record(self) -> dict:
        """JSON-ready: ``kind``, ``application_id``, ``motif``, ``amount_eur``."""
        return {"kind": self.kind, "application_id": self.application_id, "motif": self.motif, "amount_eur": self.amount_eur}

    @classmethod
    def from_record(cls, d: dict) -> "Change":
        """The change recorded in a manifest (ValueError in French when a key is missing or wrong)."""
        if not isinstance(d, dict) or not {"kind", "application_id", "motif"} <= set(d):
            raise ValueError(f"changement enregistré illisible : {json.dumps(d, ensure_ascii=False)}")
        return cls(d["kind"], d["application_id"], d["motif"], d.get("amount_eur"))


@dataclass(frozen=True)
class Step:
    """What one change did.

    Attributes
    ----------
    change : Change
    award_before_eur, award_after_eur : int
        The laureate's award before and after the change.
    freed_eur : int
        ``award_before_eur − award_after_eur``.
    offered_eur : int
        Money offered to the reserve list: available envelope − awards in force after the change.
    funded_from_reserve : tuple of (str, int)
        Reserve applications funded by this change, in reserve order, with their award.
    left_eur : int
        Available envelope − awards in force after the reserve list was offered the money.
    """

    change: Change
    award_before_eur: int
    award_after_eur: int
    freed_eur: int
    offered_eur: int
    funded_from_reserve: tuple
    left_eur: int


@dataclass(frozen=True)
class Update:
    """The decision in force after a sequence of changes.

    Attributes
    ----------
    awards : dict of str -> int
        Every laureate in force and its award (whole euros).
    steps : tuple of Step
    reserve : tuple of str
        The reserve list as published with the decision (order).
    withdrawn : frozenset of str
    available_eur : int
    """

    awards: dict
    steps: tuple
    reserve: tuple
    withdrawn: frozenset
    available_eur: int

    @property
    def total_awarded_eur(self) -> int:
        return sum(self.awards.values())

    @property
    def waiting(self) -> list[str]:
        """Reserve applications still unfunded, in order."""
        return [a for a in self.reserve if a not in self.awards]


def change_sentence_fr(step: Step, reserve: tuple) -> str:
    """French summary of one step: « Désistement de P012 (motif : …) : 120 000 € libérés ; 122 290 € proposés … »."""
    ch = step.change
    if ch.kind == "desistement":
        head = f"Désistement de {ch.application_id} (motif : {ch.motif}) : {format_eur(step.freed_eur)} libérés"
    else:
        head = (f"Réduction du montant de {ch.application_id} de {format_eur(step.award_before_eur)} à "
                f"{format_eur(step.award_after_eur)} (motif : {ch.motif}) : {format_eur(step.freed_eur)} libérés")
    pos = {a: k for k, a in enumerate(reserve, 1)}
    if step.funded_from_reserve:
        got = ", ".join(f"{a} ({ordinal_fr(pos[a])} de la liste complémentaire, {format_eur(w)})"
                        for a, w in step.funded_from_reserve)
        tail = f"financé(s) sur la liste complémentaire : {got}"
    else:
        tail = "aucun dossier de la liste complémentaire ne tient dans ce montant"
    return (f"{head} ; {format_eur(step.offered_eur)} proposés à la liste complémentaire (argent libéré et reliquat) ; "
            f"{tail} ; reste non attribué : {format_eur(step.left_eur)}.")


def offer_to_reserve(cands: Candidates, awards: dict, waiting: list[str]) -> dict:
    """Offer the money left to the waiting reserve applications under the decision's rule; the new awards.

    The rule (``cands.rule``, through :func:`ditp_model.rules.allocation.get_rule`) decides on the
    candidates restricted to the laureates in force — locked in, their award fixed (lower = upper =
    award, no cut) — and the waiting reserve applications (their bounds as in the decision).

    Parameters
    ----------
    cands : Candidates
        The checked candidates of the original decision (rank order).
    awards : dict of str -> int
        Laureates in force and their awards.
    waiting : list of str
        Reserve applications still waiting, in reserve order.

    Returns
    -------
    dict of str -> int
        Reserve applications funded and their awards.

    Raises
    ------
    AllocationError
        No proven decision, or one that changes an award in force (checked in integers; French).
    """
    t = cands.table
    sub = t[t["application_id"].isin(set(awards) | set(waiting))].reset_index(drop=True).copy()
    fixed = sub["application_id"].isin(set(awards)).to_numpy()
    fixed_awards = [int(awards[a]) for a in sub.loc[fixed, "application_id"]]
    for col in ("upper_eur", "lower_eur"):
        values = [int(v) for v in sub[col]]
        k = 0
        for i, f in enumerate(fixed):
            if f:
                values[i] = fixed_awards[k]
                k += 1
        sub[col] = values
    sub["max_cut_steps"] = [0 if f else int(c) for f, c in zip(fixed, sub["max_cut_steps"])]
    sub["locked_in"] = fixed
    # A minimum-count rule that the laureates in force and the waiting applications of its group can no longer meet
    # (the group's only laureate withdrew, nobody of the group waits) is kept at what they can still reach.
    rules = tuple(replace(r, min_count=min(r.min_count, int((sub[r.column] == r.value).sum()))) if r.min_count else r
                  for r in cands.params.group_rules)
    params = replace(cands.params, lock_in=frozenset(awards), group_rules=rules)
    restricted = replace(cands, table=sub, params=params, forced={})
    alloc = get_rule(cands.rule).decide_candidates(restricted)
    if alloc.status is not SolveStatus.OPTIMAL:
        raise AllocationError(f"liste complémentaire : pas de décision prouvée ({alloc.status.label_fr}) — {alloc.message}")
    d = alloc.decisions
    got = {str(a): int(w) for a, f, w in zip(d["application_id"], d["funded"], d["award_eur"]) if f}
    changed = [a for a, w in awards.items() if got.get(a) != int(w)]
    if changed:
        raise AllocationError("liste complémentaire : la décision modifierait des montants en vigueur ("
                              + ", ".join(changed) + ")")
    outside = sorted(a for a in got if a not in awards and a not in set(waiting))
    if outside:  # pragma: no cover - the restricted table holds nothing else
        raise AllocationError(f"liste complémentaire : dossiers hors liste financés ({', '.join(outside)})")
    if sum(got.values()) > cands.available_eur:
        raise AllocationError("liste complémentaire : total supérieur à l'enveloppe disponible")
    return {a: w for a, w in got.items() if a not in awards}


def apply_changes(allocation: Allocation, reserve, changes, *, floor_eur: int = 0) -> Update:
    """Replay `changes` in order on a decision; each one's money is offered to the reserve list.

    Parameters
    ----------
    allocation : Allocation
        The original decision (proven).
    reserve : sequence of str
        Its reserve list (:func:`ditp_model.rules.reserve_list.reserve_ids`).
    changes : sequence of Change
    floor_eur : int
        The call's minimum award (``funding.award_floor_eur``, whole euros): a reduction below it is refused.

    Returns
    -------
    Update

    Raises
    ------
    ValueError
        A change naming an application not funded in the decision in force (withdrawn, on the
        reserve list, never funded), a reduction not below the award in force, or below the
        call's floor (French).
    AllocationError
        See :func:`offer_to_reserve`.
    """
    cands = allocation.candidates
    d = allocation.decisions
    awards = {str(a): int(w) for a, f, w in zip(d["application_id"], d["funded"], d["award_eur"]) if f}
    reserve = tuple(reserve)
    withdrawn: set[str] = set()
    steps = []
    for ch in changes:
        a = ch.application_id
        name = KINDS_FR[ch.kind]
        if a not in awards:
            if a in withdrawn:
                why = "il s'est déjà désisté"
            elif a in reserve:
                why = f"il est en {ordinal_fr(reserve.index(a) + 1)} position sur la liste complémentaire"
            elif a in set(cands.table["application_id"]) or a in cands.excluded:
                why = "il n'est pas lauréat"
            else:
                why = "dossier inconnu de cette décision"
            raise ValueError(f"{name} de {a} {'refusé' if ch.kind == 'desistement' else 'refusée'} : le dossier n'est pas "
                             f"financé dans la décision en vigueur ({why})")
        before = awards[a]
        if ch.kind == "desistement":
            after = 0
            del awards[a]
            withdrawn.add(a)
        else:
            after = int(ch.amount_eur)
            if after >= before:
                raise ValueError(f"réduction de {a} refusée : le nouveau montant ({format_eur(after)}) doit être inférieur "
                                 f"au montant attribué en vigueur ({format_eur(before)})")
            if after < int(floor_eur):
                raise ValueError(f"réduction de {a} refusée : le nouveau montant ({format_eur(after)}) est inférieur au "
                                 f"plancher de l'appel ({format_eur(int(floor_eur))}, funding.award_floor_eur) ; l'appel "
                                 "n'autorise pas d'aide plus petite. Si le porteur ne peut pas réaliser le projet avec "
                                 f"{format_eur(int(floor_eur))}, enregistrer son désistement (ditp-model desistement).")
            awards[a] = after
        offered = cands.available_eur - sum(awards.values())
        waiting = [r for r in reserve if r not in awards and r not in withdrawn]
        new = offer_to_reserve(cands, awards, waiting) if waiting else {}
        awards.update(new)
        funded = tuple((r, new[r]) for r in reserve if r in new)
        steps.append(Step(ch, before, after, before - after, offered, funded, cands.available_eur - sum(awards.values())))
    return Update(dict(awards), tuple(steps), reserve, frozenset(withdrawn), int(cands.available_eur))


def updated_table(table: pd.DataFrame, update: Update) -> pd.DataFrame:
    """The decision table with the changes applied (a copy; the original is not modified).

    ``funded``, ``award_eur`` and ``list`` follow the decision in force (``withdrawn`` for a
    laureate who withdrew, ``main`` for a reserve application funded since); two columns are added:
    ``change`` (``withdrawn``, ``reduced``, ``from_reserve`` or "") and ``change_note`` (French: the
    change, its motif, or the withdrawal or reduction that funded a reserve application).  The
    explanation columns (``entry_gap``, ``exit_margin``, ``keeps_out``, the merit rules' ``reason``,
    ``score_needed``…) describe the decision at selection: a row a change touched gets their "not
    applicable" values.  ``ex_aequo`` is kept for every row: who was ex aequo at the funding line is a
    fact of the selection, which the letters of the others still state (the letter of an application
    funded since from the reserve list does not repeat it).
    """
    out = table.copy()
    ids = [str(a) for a in out["application_id"]]
    out["funded"] = [a in update.awards for a in ids]
    out["award_eur"] = pd.array([update.awards.get(a, 0) for a in ids], dtype="int64")
    change = {a: "" for a in ids}
    note = {a: "" for a in ids}
    for s in update.steps:
        ch = s.change
        if ch.kind == "desistement":
            change[ch.application_id] = "withdrawn"
            note[ch.application_id] = f"désistement (motif : {ch.motif})"
        else:
            change[ch.application_id] = change[ch.application_id] or "reduced"
            note[ch.application_id] = (f"montant réduit de {format_eur(s.award_before_eur)} à {format_eur(s.award_after_eur)} "
                                       f"(motif : {ch.motif})")
        for r, _ in s.funded_from_reserve:
            change[r] = "from_reserve"
            note[r] = (f"financé sur la liste complémentaire après {KINDS_FR[ch.kind]} de {ch.application_id}")
    # The explanation columns describe the decision at selection: cleared ("not applicable") for every row a change touched.
    from ditp_model.rules.manifest import _MERIT_COLUMNS

    touched = out["application_id"].astype(str).map(lambda a: change[a] != "").to_numpy()
    cleared = [(c, m) for c, m in _MERIT_COLUMNS if c != "ex_aequo"]
    for col, missing in (("entry_gap", float("nan")), ("exit_margin", float("nan")), ("keeps_out", ""), *cleared):
        if col in out and touched.any():
            out[col] = out[col].astype(object).where(~touched, missing).astype(out[col].dtype if col != "keeps_out" else object)
    lists = []
    for a, old, f in zip(ids, out["list"], out["funded"]):
        lists.append("withdrawn" if a in update.withdrawn else ("main" if f else old))
    out["list"] = lists
    out["change"] = [change[a] for a in ids]
    out["change_note"] = [note[a] for a in ids]
    return out


def replay_changes(evaluation, allocation: Allocation, table: pd.DataFrame, changes) -> tuple[pd.DataFrame, Update]:
    """The decision table in force after `changes` (see :func:`apply_changes`, :func:`updated_table`).

    The reserve list is the decision's (call's ``[selection] reserve_list_size``); a reduction is bounded
    below by the call's floor (``funding.award_floor_eur``).
    """
    reserve = reserve_ids(allocation, evaluation.rules.selection.reserve_list_size)
    update = apply_changes(allocation, reserve, list(changes), floor_eur=int(evaluation.rules.award_floor_eur))
    return updated_table(table, update), update


def replay_recorded(evaluation, allocation: Allocation, table: pd.DataFrame, records) -> pd.DataFrame:
    """:func:`replay_changes` from the changes recorded in a manifest (``withdrawals``); what ``verify`` replays."""
    return replay_changes(evaluation, allocation, table, [Change.from_record(r) for r in records])[0]


def updated_manifest(previous: dict, table: pd.DataFrame, changes, *, command: str, previous_path: str,
                     previous_sha256: str) -> dict:
    """The manifest of the decision in force after `changes` (JSON-ready, not sealed).

    A copy of `previous` (inputs, call rules, weights, parameters, decision rule, versions…: the
    original decision's record) with ``command``, ``withdrawals`` (every change since the decision,
    in order: :meth:`Change.record`), ``previous_manifest`` (``path`` and ``manifest_sha256`` of the
    manifest it updates), and the decision recomputed from `table`: ``funded_count``,
    ``total_awarded_eur``, ``decision_sha256``, ``decisions``, ``reserve_list``.  The journal
    position and ``manifest_sha256`` are added by :func:`ditp_model.outputs.record.publish_update`.
    """
    from ditp_model.rules.manifest import decision_hash, decisions_record
    from ditp_model.rules.reserve_list import reserve_record

    m = json.loads(json.dumps(previous))
    for k in ("journal", "manifest_sha256"):
        m.pop(k, None)
    size = ((m.get("call_rules") or {}).get("selection") or {}).get("reserve_list_size", 10)
    m.update({
        "command": command,
        "withdrawals": [c.record() for c in changes],
        "previous_manifest": {"path": str(previous_path), "manifest_sha256": previous_sha256},
        "funded_count": int(table["funded"].sum()),
        "total_awarded_eur": int(table["award_eur"].sum()),
        "decision_sha256": decision_hash(table),
        "decisions": decisions_record(table),
        "reserve_list": reserve_record(table, size),
    })
    return m


#: French labels of the ``change`` column.
CHANGE_LABELS_FR = {"withdrawn": "désistement", "reduced": "montant réduit", "from_reserve": "financé sur la liste complémentaire",
                    "": ""}
