"""Rolling selection in waves ("au fil de l'eau", issue 8 item 1).

The 2021 call selected laureates from mid-September until the 15 October
deadline: each session (wave *k*) decides the applications received by its
cut-off date, with money already committed by earlier waves and, possibly, a
reserve kept for later ones.

Rule of a wave (:data:`WAVE_RULE`, « une décision de vague est définitive »):

* the candidates of wave *k* are the applications submitted on or before its
  cut-off (the whole cut-off day included) and not considered in an earlier
  wave;
* an application funded in an earlier wave stays funded with its award: its
  amount is committed (``committed_eur`` = sum of earlier awards) and it is
  not decided again;
* an application considered in an earlier wave and not funded there is out
  for good (locked out);
* an application submitted after the cut-off is locked out of this wave and
  becomes a candidate of the first wave whose cut-off reaches it;
* a reserve (whole euros) is kept for later waves; it is capped at what
  remains of the envelope;
* the money available to wave *k* is ``envelope − committed − reserve``
  (see :func:`ditp_model.rules.allocation.check`), and the total over all waves is
  re-checked in exact integers: it never exceeds the envelope.

Each wave is one :func:`ditp_model.rules.allocation.allocate` on the same
evaluation with ``committed_eur``, ``reserve_eur`` and ``lock_out`` set by the
rule above, under the committee's decision rule (``params.rule``, default the
call's: the merit order).  :func:`compare_with_all_at_once` compares the
waves with the all-at-once decision **under the same rule**: laureates, money
spent, total score, and the applications that one funds and the other not.
Since every award of a wave lies within the same bounds as in a one-shot
decision and the awards of all waves together fit in the envelope, the union
of the waves' portfolios is a feasible all-at-once portfolio; under an
optimisation rule (for comparison only) the waves' value is therefore at most
the all-at-once optimum, a bound that does not hold for the merit order (it
maximises nothing).

Each wave's decision record (:func:`wave_manifest`) is the manifest of
:func:`ditp_model.rules.manifest.build_manifest` plus a ``wave`` block holding the
SHA-256 of the previous wave's manifest (canonical JSON, :func:`manifest_sha256`),
so the waves form a chain.

Not handled yet: group rules (minimum counts, maximum shares) are rules about
the whole call and are refused here rather than applied wave by wave; the
maximum number of awards is applied to the whole call (earlier laureates count).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from ditp_model.rules.allocation import (OPTIMISATION_OBJECTIVES, RULE_LABELS_FR, SCORE_UNIT, Allocation, AllocationError, AllocationParams,
                         NotOptimalError, SolveStatus, allocate, ranking_rule)
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.rules.manifest import build_manifest, decision_table
from ditp_model.french import format_eur

__all__ = ["WAVE_RULE", "WAVE_RULE_FR", "WaveDecision", "run_wave", "weekly_cutoffs", "replay_weekly", "waves_table",
           "compare_with_all_at_once", "wave_manifest", "manifest_sha256"]

#: Name of the rule that links the waves.
WAVE_RULE = "wave_decision_is_final"
WAVE_RULE_FR = ("une décision de vague est définitive : un dossier financé garde son montant (engagé), un dossier examiné "
                "et non retenu n'est plus candidat, un dossier déposé après la date limite de la vague attend la suivante")


@dataclass(frozen=True)
class WaveDecision:
    """The decision of one wave (immutable).

    Attributes
    ----------
    k : int
        Wave number, from 1.
    cutoff : datetime.date
        Cut-off date (inclusive): applications submitted that day or before.
    candidate_ids : tuple of str
        Applications considered in this wave (submitted by the cut-off, not
        considered earlier), eligible or not, in input order.
    funded_ids : tuple of str
        Funded in this wave, in tie-break order.
    awards_eur : dict
        Application id -> award of this wave (int, euros), funded ones only.
    committed_before_eur : int
        Sum of the awards of earlier waves (euros).
    reserve_eur : int
        Reserve kept for later waves (euros), after capping at what remained.
    envelope_eur : int
        The call's envelope (euros).
    status : SolveStatus
    solver, solver_version : str
    objective : float or None
        Value of this wave's portfolio (see :attr:`Allocation.objective`:
        0 for the merit order and the ranking rule, which maximise nothing).
    mip_gap : float or None
    seconds : float
        Solver wall time (s).
    message : str
        French summary of the status.
    previous_manifest_sha256 : str or None
        SHA-256 of the previous wave's manifest (None for wave 1).
    manifest_sha256 : str or None
        SHA-256 of this wave's manifest (None when there is no decision).
    reserve_requested_eur : int
        Reserve asked for (euros), before capping.
    earlier_awards_eur : dict
        Application id -> award, every award of the earlier waves (euros).
    after_cutoff_ids : tuple of str
        Applications submitted after the cut-off and not yet considered.
    score_units : int
        Sum of the composite scores of this wave's laureates, in units of
        ``1 / score_unit`` point (exact).
    score_unit : int
    allocation : Allocation
        The wave's allocation (not compared, not shown).
    rule : str
        The decision rule of the wave (:data:`ditp_model.rules.allocation.RULES`).
    """

    k: int
    cutoff: dt.date
    candidate_ids: tuple[str, ...]
    funded_ids: tuple[str, ...]
    awards_eur: dict
    committed_before_eur: int
    reserve_eur: int
    envelope_eur: int
    status: SolveStatus
    solver: str
    solver_version: str
    objective: float | None
    mip_gap: float | None
    seconds: float
    message: str
    previous_manifest_sha256: str | None
    manifest_sha256: str | None = None
    reserve_requested_eur: int = 0
    earlier_awards_eur: dict = field(default_factory=dict)
    after_cutoff_ids: tuple[str, ...] = ()
    score_units: int = 0
    score_unit: int = SCORE_UNIT
    allocation: Allocation | None = field(default=None, repr=False, compare=False)
    rule: str = "merit_order"

    @property
    def is_optimal(self) -> bool:
        return self.status is SolveStatus.OPTIMAL

    @property
    def available_eur(self) -> int:
        """Money this wave could award: envelope − committed before − reserve (euros)."""
        return self.envelope_eur - self.committed_before_eur - self.reserve_eur

    @property
    def awarded_eur(self) -> int:
        """Sum of this wave's awards (euros)."""
        return sum(self.awards_eur.values())

    @property
    def remaining_eur(self) -> int:
        """Envelope not yet awarded after this wave, reserve included (euros)."""
        return self.envelope_eur - self.committed_before_eur - self.awarded_eur

    @property
    def total_score(self) -> float:
        """Sum of the composite scores of this wave's laureates (points)."""
        return self.score_units / self.score_unit


# --------------------------------------------------------------------------- helpers


def _as_date(value) -> dt.date:
    """A date from ``date``, ``datetime``, ``Timestamp`` or ISO text (the time of day is dropped)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = pd.NaT
    if pd.isna(ts):
        raise ValueError(f"date « {value} » illisible : une date ISO (2021-09-15) est attendue")
    return ts.date()


def _submission_dates(evaluation: Evaluation) -> dict[str, dt.date]:
    apps = evaluation.applications
    dates = pd.to_datetime(apps["submitted_at"])
    missing = [str(a) for a, d in zip(apps["application_id"], dates) if pd.isna(d)]
    if missing:
        raise ValueError(f"date de dépôt manquante pour {', '.join(missing)} : impossible de les affecter à une vague")
    return {str(a): d.date() for a, d in zip(apps["application_id"], dates)}


def _envelope(evaluation: Evaluation, params: AllocationParams) -> int:
    return int(evaluation.rules.funding.envelope_eur if params.envelope_eur is None else params.envelope_eur)


def _check_amount(name: str, v) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(f"{name} = {v!r} : un montant est un nombre entier d'euros positif ou nul")
    return v


def _union_awards(waves: Sequence[WaveDecision]) -> dict[str, int]:
    """Every award of `waves` (id -> euros); an application funded twice is an error."""
    out: dict[str, int] = {}
    for w in waves:
        for a, amount in w.awards_eur.items():
            if a in out:
                raise AllocationError(f"dossier {a} financé deux fois (vague {w.k}) : une décision de vague est définitive")
            out[a] = int(amount)
    return out


def _check_history(previous: tuple[WaveDecision, ...], cutoff: dt.date, envelope: int) -> None:
    """The earlier waves form a valid chain: numbered 1..n, decided, dates in order, awards unchanged."""
    seen: set[str] = set()
    for j, w in enumerate(previous, start=1):
        if w.k != j:
            raise ValueError(f"vagues précédentes mal numérotées : vague {w.k} en position {j}")
        if not w.is_optimal:
            raise ValueError(f"la vague {j} n'a pas de décision ({w.status.label_fr}) : la relancer avant la vague suivante")
        if w.envelope_eur != envelope:
            raise ValueError(f"enveloppe de la vague {j} ({format_eur(w.envelope_eur)}) différente de "
                             f"{format_eur(envelope)} : toutes les vagues partagent la même enveloppe")
        expected = previous[j - 2].manifest_sha256 if j > 1 else None
        if w.previous_manifest_sha256 != expected:
            raise ValueError(f"chaîne des vagues rompue : la vague {j} ne référence pas le manifeste de la vague {j - 1}")
        if w.earlier_awards_eur != _union_awards(previous[: j - 1]):
            raise AllocationError(f"la vague {j} ne reprend pas à l'identique les montants des vagues antérieures")
        if j > 1 and w.cutoff < previous[j - 2].cutoff:
            raise ValueError(f"date limite de la vague {j} ({w.cutoff}) antérieure à celle de la vague {j - 1}")
        again = seen & set(w.candidate_ids)
        if again:
            raise ValueError(f"dossier(s) examiné(s) deux fois (vague {j}) : {', '.join(sorted(again))}")
        seen |= set(w.candidate_ids)
    if previous and cutoff < previous[-1].cutoff:
        raise ValueError(f"date limite {cutoff} antérieure à celle de la vague {previous[-1].k} ({previous[-1].cutoff})")
    committed = sum(_union_awards(previous).values())
    if committed > envelope:
        raise AllocationError(f"les vagues précédentes ont attribué {format_eur(committed)}, "
                              f"plus que l'enveloppe de {format_eur(envelope)}")


def _check_params(params: AllocationParams) -> None:
    if params.committed_eur or params.reserve_eur:
        raise ValueError("committed_eur et reserve_eur sont fixés par les vagues : les laisser à 0 dans les paramètres "
                         "(réserve : argument reserve_eur)")
    if params.group_rules:
        raise ValueError("les règles de portefeuille par groupe portent sur tout l'appel et ne sont pas encore "
                         "prises en charge vague par vague : les retirer des paramètres")


def manifest_sha256(manifest: dict) -> str:
    """SHA-256 of a manifest's canonical JSON (keys sorted, no spaces, UTF-8)."""
    text = json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- one wave


def run_wave(evaluation: Evaluation, cutoff, previous: Sequence[WaveDecision] = (), reserve_eur: int = 0,
             params: AllocationParams | None = None) -> WaveDecision:
    """Decide wave k = len(previous) + 1 under the rule « une décision de vague est définitive ».

    Parameters
    ----------
    evaluation : Evaluation
        Eligibility and scores of every application (the same for all waves).
    cutoff : date, datetime or ISO str
        Cut-off date, inclusive (the whole day).
    previous : sequence of WaveDecision
        The earlier waves, in order (each must hold a proven optimum).
    reserve_eur : int
        Reserve kept for later waves (euros); capped at what remains of the envelope.
    params : AllocationParams, optional
        The committee's parameters (envelope, bounds, locks, decision rule...).
        ``committed_eur`` and ``reserve_eur`` must be 0 (the waves set them);
        group rules are refused.  A ``lock_in`` applies in the wave whose
        cut-off first reaches the application; ``max_awards`` counts the
        laureates of all waves.

    Returns
    -------
    WaveDecision
        Status first: when the wave's allocation is not a proven optimum,
        nothing is funded and no manifest is produced.

    Raises
    ------
    ValueError
        Bad parameters or history (French message), e.g. an imposed
        application already rejected in an earlier wave.
    AllocationError
        Awards over the envelope, an application funded twice, or an earlier
        award changed (exact integer check).
    """
    params = params or AllocationParams()
    _check_params(params)
    reserve_requested = _check_amount("reserve_eur", reserve_eur)
    cutoff = _as_date(cutoff)
    previous = tuple(previous)
    envelope = _envelope(evaluation, params)
    _check_history(previous, cutoff, envelope)
    k = len(previous) + 1

    earlier = _union_awards(previous)
    committed = sum(earlier.values())
    considered = {a for w in previous for a in w.candidate_ids}
    rejected = considered - set(earlier)
    submitted = _submission_dates(evaluation)
    candidates = tuple(a for a, d in submitted.items() if d <= cutoff and a not in considered)
    after = tuple(a for a, d in submitted.items() if d > cutoff and a not in considered)
    cand_set = set(candidates)

    refused = sorted(params.lock_in & rejected)
    if refused:
        raise ValueError(f"dossier(s) imposé(s) déjà examiné(s) et non retenu(s) dans une vague précédente : {', '.join(refused)} "
                         "(une décision de vague est définitive)")
    reserve = min(reserve_requested, envelope - committed)
    max_awards = None if params.max_awards is None else max(0, params.max_awards - len(earlier))
    wave_params = replace(params, committed_eur=committed, reserve_eur=reserve, lock_in=params.lock_in & cand_set,
                          lock_out=params.lock_out | considered | set(after), max_awards=max_awards)
    alloc = allocate(evaluation, wave_params)

    awards: dict[str, int] = {}
    score_units = 0
    if alloc.is_optimal:
        d = alloc.decisions
        units = dict(zip(alloc.candidates.table["application_id"], (int(u) for u in alloc.candidates.table["score_units"])))
        for a, funded, award in zip(d["application_id"], d["funded"], d["award_eur"]):
            if funded:
                awards[str(a)] = int(award)
                score_units += units[a]
        outside = sorted(set(awards) - cand_set)
        if outside:
            raise AllocationError(f"vague {k} : dossier(s) financé(s) hors des candidats de la vague : {', '.join(outside)}")
        awarded = sum(awards.values())
        if awarded > envelope - committed - reserve:
            raise AllocationError(f"vague {k} : {format_eur(awarded)} attribués pour "
                                  f"{format_eur(envelope - committed - reserve)} disponibles")
        if committed + awarded > envelope:
            raise AllocationError(f"vagues 1 à {k} : {format_eur(committed + awarded)} attribués au total, "
                                  f"plus que l'enveloppe de {format_eur(envelope)}")
    wave = WaveDecision(
        k=k, cutoff=cutoff, candidate_ids=candidates, funded_ids=tuple(awards), awards_eur=awards,
        committed_before_eur=committed, reserve_eur=reserve, envelope_eur=envelope, status=alloc.status,
        solver=alloc.solver, solver_version=alloc.solver_version, objective=alloc.objective, mip_gap=alloc.mip_gap,
        seconds=alloc.seconds, message=alloc.message,
        previous_manifest_sha256=previous[-1].manifest_sha256 if previous else None,
        reserve_requested_eur=reserve_requested, earlier_awards_eur=earlier, after_cutoff_ids=after,
        score_units=score_units, score_unit=alloc.candidates.score_unit, allocation=alloc, rule=alloc.rule)
    if wave.is_optimal:
        wave = replace(wave, manifest_sha256=manifest_sha256(_manifest(evaluation, wave)))
    return wave


# --------------------------------------------------------------------------- manifests


def _manifest(evaluation: Evaluation, wave: WaveDecision) -> dict:
    """The wave's manifest built from the wave alone (its link to the previous one is `wave.previous_manifest_sha256`)."""
    if not wave.is_optimal or wave.allocation is None:
        raise NotOptimalError(f"vague {wave.k} : pas de décision ({wave.status.label_fr}), donc pas de manifeste")
    alloc = wave.allocation
    table = decision_table(evaluation, alloc, ranking_rule(evaluation, alloc.candidates.params), None)
    manifest = build_manifest(evaluation, alloc, table, command=f"vague {wave.k}, date limite {wave.cutoff.isoformat()}")
    manifest["wave"] = {
        "k": wave.k,
        "cutoff": wave.cutoff.isoformat(),
        "rule": WAVE_RULE,
        "rule_fr": WAVE_RULE_FR,
        "envelope_eur": wave.envelope_eur,
        "committed_before_eur": wave.committed_before_eur,
        "reserve_eur": wave.reserve_eur,
        "reserve_requested_eur": wave.reserve_requested_eur,
        "available_eur": wave.available_eur,
        "candidates": list(wave.candidate_ids),
        "awards_eur": dict(wave.awards_eur),
        "awarded_eur": wave.awarded_eur,
        "remaining_eur": wave.remaining_eur,
        "earlier_awards_eur": dict(wave.earlier_awards_eur),
        "after_cutoff": list(wave.after_cutoff_ids),
        "previous_manifest_sha256": wave.previous_manifest_sha256,
    }
    return manifest


def wave_manifest(evaluation: Evaluation, wave: WaveDecision, previous_manifest: dict | None) -> dict:
    """The decision record of a wave: :func:`ditp_model.rules.manifest.build_manifest` plus a ``wave`` block.

    The ``wave`` block holds ``k``, ``cutoff`` (ISO), the rule, ``envelope_eur``,
    ``committed_before_eur``, ``reserve_eur`` (kept) and ``reserve_requested_eur``,
    ``available_eur``, ``candidates``, ``awards_eur`` (id -> euros),
    ``awarded_eur``, ``remaining_eur``, ``earlier_awards_eur``, ``after_cutoff``
    and ``previous_manifest_sha256`` (SHA-256 of `previous_manifest`'s canonical
    JSON, :func:`manifest_sha256`; None for wave 1).  Amounts in whole euros.

    Parameters
    ----------
    evaluation : Evaluation
        The evaluation the wave was decided on.
    wave : WaveDecision
    previous_manifest : dict or None
        The previous wave's manifest (None for wave 1).

    Raises
    ------
    NotOptimalError
        The wave holds no decision.
    ValueError
        `previous_manifest` is not the one the wave was chained to, or the
        rebuilt manifest differs from the one hashed when the wave was decided
        (other inputs).
    """
    if wave.k == 1 and previous_manifest is not None:
        raise ValueError("la vague 1 n'a pas de vague précédente : previous_manifest doit être None")
    if wave.k > 1:
        if previous_manifest is None:
            raise ValueError(f"vague {wave.k} : le manifeste de la vague {wave.k - 1} est requis pour chaîner les vagues")
        prev_k = previous_manifest.get("wave", {}).get("k")
        if prev_k != wave.k - 1 or manifest_sha256(previous_manifest) != wave.previous_manifest_sha256:
            raise ValueError(f"vague {wave.k} : ce manifeste n'est pas celui de la vague {wave.k - 1} à laquelle elle est chaînée")
    manifest = _manifest(evaluation, wave)
    if wave.manifest_sha256 is not None and manifest_sha256(manifest) != wave.manifest_sha256:
        raise ValueError(f"vague {wave.k} : le manifeste reconstruit diffère de celui de la décision (entrées ou versions modifiées ?)")
    return manifest


# --------------------------------------------------------------------------- replay and comparison


def weekly_cutoffs(start="2021-09-15", end="2021-10-15") -> list[dt.date]:
    """Cut-off dates every 7 days from `start`, the last on `end` (the deadline).

    >>> [d.isoformat() for d in weekly_cutoffs("2021-09-15", "2021-10-01")]
    ['2021-09-15', '2021-09-22', '2021-09-29', '2021-10-01']
    """
    start, end = _as_date(start), _as_date(end)
    if start > end:
        raise ValueError(f"première date limite {start} postérieure à la dernière {end}")
    out = []
    d = start
    while d < end:
        out.append(d)
        d += dt.timedelta(days=7)
    out.append(end)
    return out


def replay_weekly(evaluation: Evaluation, start="2021-09-15", end="2021-10-15",
                  reserve_fn: Callable[[int, dt.date], int] | int | None = None,
                  params: AllocationParams | None = None) -> list[WaveDecision]:
    """Replay the call's calendar in weekly waves (:func:`weekly_cutoffs`), each decided by :func:`run_wave`.

    Parameters
    ----------
    evaluation : Evaluation
    start, end : date or ISO str
        First cut-off and the deadline (the last cut-off).
    reserve_fn : int, callable or None
        Reserve kept at each wave (euros).  None: no reserve.  An int: that
        reserve at every wave but the last (no later wave to keep it for).  A
        callable ``reserve_fn(k, cutoff) -> int``: its value at every wave,
        the last included.
    params : AllocationParams, optional
        See :func:`run_wave`.

    Returns
    -------
    list of WaveDecision

    Raises
    ------
    NotOptimalError
        A wave without a proven optimum (its message says why); later waves cannot be decided.
    """
    cutoffs = weekly_cutoffs(start, end)
    waves: list[WaveDecision] = []
    for k, cutoff in enumerate(cutoffs, start=1):
        if reserve_fn is None:
            reserve = 0
        elif callable(reserve_fn):
            reserve = reserve_fn(k, cutoff)
        else:
            reserve = reserve_fn if k < len(cutoffs) else 0
        wave = run_wave(evaluation, cutoff, waves, reserve, params)
        if not wave.is_optimal:
            raise NotOptimalError(f"vague {k} (date limite {cutoff.isoformat()}) : {wave.message}")
        waves.append(wave)
    return waves


def waves_table(waves: Sequence[WaveDecision]) -> pd.DataFrame:
    """One row per wave: what it considered, funded and left.

    Columns: ``wave``, ``cutoff`` (date), ``candidates`` and ``funded``
    (counts), ``awarded_eur``, ``committed_before_eur``, ``reserve_eur``,
    ``remaining_eur`` (envelope not yet awarded after the wave, reserve
    included), ``cumulative_funded`` (count), ``total_score`` (points, this
    wave's laureates), ``status``.  Amounts are int euros.
    """
    rows = []
    cumulative = 0
    for w in waves:
        cumulative += len(w.funded_ids)
        rows.append({"wave": w.k, "cutoff": w.cutoff, "candidates": len(w.candidate_ids), "funded": len(w.funded_ids),
                     "awarded_eur": w.awarded_eur, "committed_before_eur": w.committed_before_eur, "reserve_eur": w.reserve_eur,
                     "remaining_eur": w.remaining_eur, "cumulative_funded": cumulative, "total_score": round(w.total_score, 4),
                     "status": w.status.value})
    cols = ["wave", "cutoff", "candidates", "funded", "awarded_eur", "committed_before_eur", "reserve_eur", "remaining_eur",
            "cumulative_funded", "total_score", "status"]
    out = pd.DataFrame(rows, columns=cols)
    for c in ("wave", "candidates", "funded", "awarded_eur", "committed_before_eur", "reserve_eur", "remaining_eur",
              "cumulative_funded"):
        out[c] = out[c].astype("int64")
    out["total_score"] = out["total_score"].astype(float)
    return out


def compare_with_all_at_once(evaluation: Evaluation, waves: Sequence[WaveDecision],
                             params: AllocationParams | None = None) -> dict:
    """The waves' portfolio against the all-at-once decision under the same rule (every application known).

    The all-at-once decision is :func:`ditp_model.rules.allocation.allocate` with the
    same parameters, hence the same decision rule as the waves (``params.rule``,
    default the call's).  Applications submitted after the last wave's cut-off
    are left out of it too (the waves never saw them), so a replay stopped
    before the deadline is compared with what could have been funded by then.

    Returns
    -------
    dict
        ``rule`` (the decision rule) and ``objective`` (its optimisation
        objective, None for the merit order and the ranking rule);
        ``waves_value_units`` and ``all_at_once_value_units`` (int, level-1
        value in the objective's exact units: score units, or score units ×
        euros; None when the rule maximises nothing); ``waves_total_score``,
        ``all_at_once_total_score``, ``score_gap`` (points; all at once minus
        waves); ``waves_awarded_eur``, ``all_at_once_awarded_eur`` (int);
        ``waves_funded``, ``all_at_once_funded``, ``only_in_waves``,
        ``only_in_all_at_once`` (sorted ids); ``award_differs`` (id ->
        ``(wave award, all-at-once award)`` for ids funded by both with
        different amounts); ``passed_over`` (sorted ids funded all at once,
        not by the waves, and scoring above the lowest-scoring laureate of
        the waves: what deciding early cost in merit).

    Raises
    ------
    ValueError
        A wave decided under another rule than `params` (French message).
    NotOptimalError
        The all-at-once decision is not a proven optimum.
    """
    params = params or AllocationParams()
    if waves:  # applications after the last cut-off were never open to the waves: leave them out here too
        later = frozenset(waves[-1].after_cutoff_ids) - params.lock_in
        params = replace(params, lock_out=params.lock_out | later)
    best = allocate(evaluation, params)
    rule = best.rule
    other = sorted({w.rule for w in waves} - {rule})
    if other:
        raise ValueError(f"vagues décidées selon la règle « {RULE_LABELS_FR[other[0]]} », comparaison demandée selon "
                         f"« {RULE_LABELS_FR[rule]} » : comparer sous la même règle")
    if not best.is_optimal:
        raise NotOptimalError(f"décision en une fois : {best.message}")
    d = best.decisions
    best_awards = {str(a): int(w) for a, f, w in zip(d["application_id"], d["funded"], d["award_eur"]) if f}
    wave_awards = _union_awards(waves)
    t = evaluation.table
    units = {str(a): int(round(float(s) * SCORE_UNIT)) for a, s in zip(t["application_id"], t["score"]) if pd.notna(s)}
    objective = OPTIMISATION_OBJECTIVES.get(rule)

    def value(awards: dict[str, int]) -> int | None:
        if objective is None:
            return None
        if objective == "total_score":
            return sum(units[a] for a in awards)
        return sum(units[a] * w for a, w in awards.items())

    w_score = sum(units[a] for a in wave_awards)
    b_score = sum(units[a] for a in best_awards)
    lowest = min((units[a] for a in wave_awards), default=None)
    only_best = sorted(set(best_awards) - set(wave_awards))
    return {
        "rule": rule,
        "objective": objective,
        "waves": len(waves),
        "waves_value_units": value(wave_awards),
        "all_at_once_value_units": value(best_awards),
        "waves_total_score": w_score / SCORE_UNIT,
        "all_at_once_total_score": b_score / SCORE_UNIT,
        "score_gap": (b_score - w_score) / SCORE_UNIT,
        "waves_awarded_eur": sum(wave_awards.values()),
        "all_at_once_awarded_eur": sum(best_awards.values()),
        "waves_funded": sorted(wave_awards),
        "all_at_once_funded": sorted(best_awards),
        "only_in_waves": sorted(set(wave_awards) - set(best_awards)),
        "only_in_all_at_once": only_best,
        "award_differs": {a: (wave_awards[a], best_awards[a]) for a in sorted(set(wave_awards) & set(best_awards))
                          if wave_awards[a] != best_awards[a]},
        "passed_over": [a for a in only_best if lowest is not None and units[a] > lowest],
    }
