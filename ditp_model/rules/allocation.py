"""The funding decision: the optimal allocation (PuLP + HiGHS) and the classic ranking rule.

Model (DESIGN.md, "The allocation model").  For each candidate *i* (eligible,
scored, not locked out) with composite score *s_i*:

* ``x_i ∈ {0,1}`` funded; the award is ``a_i = u_i x_i − step · c_i`` where
  ``c_i ∈ ℕ`` counts the steps cut from the request, ``0 ≤ c_i ≤
  ⌊(u_i − ℓ_i)/step⌋ x_i`` (so a funded award lies in ``[ℓ_i, u_i]``);
* ``u_i = min(requested_i, cap_i)`` (extended cap for a large collective
  bid), ``ℓ_i = max(floor, ⌈min_share · u_i⌉)``; with ``min_share = 1`` (the
  default) there is no ``c_i``: an award is the request, capped;
* ``Σ a_i ≤ E`` with ``E = envelope − committed − reserve``;
* locks (``x_i`` fixed), optional group rules (minimum count, maximum share of
  ``E``), maximum number of awards, and the valid cut ``Σ x_i ≤ ⌊E / min ℓ⌋``
  (it makes CBC prove the optimum fast, TOOLCHAIN.md).

Objective, lexicographic, one solve per level, each level's optimum kept as a
constraint for the next (exact, since every coefficient is an integer):

1. value: ``Σ s_i x_i`` (``objective="total_score"``, default) or
   ``Σ s_i a_i`` (``objective="score_weighted_award"``);
2. money spent: ``Σ a_i`` (fund the chosen projects as fully as possible);
3. the named tie-break :data:`~ditp_model.scoring.aggregate.TIE_BREAK_RULE`: among the
   portfolios tied at levels 1 and 2, the one whose funded vector is
   lexicographically greatest in the order "higher score, earlier submission,
   id" (position ``p_i``).  A level maximising ``Σ (N − p_i) x_i`` settles
   most ties in one solve; when a tie remains, positions are fixed one by one
   (:func:`_apply_tie_break`).  With cuts, a fourth level cuts the
   lowest-placed projects first.

The problem is built with variables named by that position (never by title or
id), so the result is identical whatever the row order or the titles.

How the two objectives differ, on a small example: envelope 200 k€, A (score
90, request 200 k€), B and C (score 60, 100 k€ each).  ``total_score`` funds B
and C (120 points against 90); ``score_weighted_award`` funds A (90 × 200 =
18,000 points·k€ against 60 × 100 × 2 = 12,000): it spends on the best
rather than funding more projects.

Every solve is read back with a tolerance check, awards are rounded to whole
euros, and the envelope, every bound, lock and rule are re-checked in integer
arithmetic (:func:`verify_awards`); a violation raises :class:`AllocationError`.
"""

from __future__ import annotations

import enum
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from importlib.metadata import version as _pkg_version

import numpy as np
import pandas as pd
import pulp

from ditp_model.scoring.pipeline import Evaluation
from ditp_model.french import format_eur, format_number
from ditp_model.inputs.schema import MATURITY_LABELS_FR, ORG_TYPE_LABELS_FR
from ditp_model.inputs.call import RULE_NAMES
from ditp_model.scoring.aggregate import SCORE_DECIMALS, TIE_BREAK_RULE, rank_order, tie_band_from_reviews

__all__ = [
    "SolveStatus",
    "GroupRule",
    "AllocationParams",
    "Allocation",
    "AllocationError",
    "NotOptimalError",
    "Candidates",
    "check",
    "build",
    "solve",
    "read_back",
    "verify_awards",
    "fits_together",
    "quiet_highs_banner",
    "portfolio_value",
    "allocate",
    "allocate_candidates",
    "candidates_from_table",
    "ranking_rule",
    "ranking_decisions",
    "DecisionRule",
    "RULES",
    "DEFAULT_RULE",
    "RULE_LABELS_FR",
    "get_rule",
    "MeritException",
    "merit_complaints",
    "name_exceptions",
    "threshold_failures",
    "quality_thresholds",
    "RankingResult",
    "GROUP_COLUMNS",
]

#: Columns a portfolio rule may group by, with their French names.
GROUP_COLUMN_LABELS_FR = {"region": "Région", "lead_org_type": "Type de porteur", "maturity": "Maturité",
                          "priority_reform": "Réforme prioritaire"}
GROUP_COLUMNS = tuple(GROUP_COLUMN_LABELS_FR)
#: Integer units of score in the objective (score points × 10**SCORE_DECIMALS).
SCORE_UNIT = 10**SCORE_DECIMALS
#: The default decision rule, named in one place (DESIGN.md, "The decision rules").
DEFAULT_RULE = "merit_order"
#: Optimisation rules and the level-1 objective each maximises.
OPTIMISATION_OBJECTIVES = {"max_total_score": "total_score", "max_score_weighted_award": "score_weighted_award"}
#: French names of the decision rules.
RULE_LABELS_FR = {
    "merit_order": "ordre de mérite (classement au-dessus des seuils, coupure à la ligne budgétaire)",
    "ranking": "règle du classement",
    "max_total_score": "maximiser la somme des notes des lauréats",
    "max_score_weighted_award": "maximiser la somme des notes pondérées par les montants",
}
#: Tolerance when reading back a binary or integer value.
INTEGRALITY_TOL = 1e-6


class SolveStatus(str, enum.Enum):
    """Solver outcome, mapped the same way for every solver."""

    OPTIMAL = "optimal"            #: proven optimum (relative gap 0)
    FEASIBLE = "feasible"          #: a solution, optimum not proven (time limit); gap reported
    INFEASIBLE = "infeasible"      #: no allocation satisfies the rules
    ERROR = "error"                #: solver failure, unbounded, or no solution

    @property
    def label_fr(self) -> str:
        return {"optimal": "optimum prouvé", "feasible": "solution réalisable, optimum non prouvé",
                "infeasible": "aucune allocation possible (règles incompatibles)", "error": "échec du solveur"}[self.value]


class AllocationError(RuntimeError):
    """A solver result failed the exact integer re-check, or could not be read back."""


class NotOptimalError(RuntimeError):
    """Awards were requested from an allocation whose status is not a proven optimum."""


@dataclass(frozen=True)
class GroupRule:
    """A portfolio rule on a group of applications.

    Parameters
    ----------
    column : str
        One of :data:`GROUP_COLUMNS`.
    value : str
        The group (e.g. ``"Bretagne"``).
    min_count : int, optional
        At least this many awards in the group.
    max_share : float, optional
        At most this share (0–1) of the available envelope awarded to the group.
    """

    column: str
    value: str
    min_count: int | None = None
    max_share: float | None = None

    def __post_init__(self):
        if self.column not in GROUP_COLUMNS:
            raise ValueError(f"règle de portefeuille sur « {self.column} » : colonnes possibles {', '.join(GROUP_COLUMNS)}")
        if self.min_count is None and self.max_share is None:
            raise ValueError(f"règle {self.column} = {self.value} : indiquer min_count ou max_share")
        if self.min_count is not None and self.min_count < 0:
            raise ValueError(f"règle {self.column} = {self.value} : min_count négatif")
        if self.max_share is not None and not 0 <= self.max_share <= 1:
            raise ValueError(f"règle {self.column} = {self.value} : max_share doit être entre 0 et 1")

    def cap_eur(self, available_eur: int) -> int:
        """The group's maximum in whole euros: ⌊max_share × available⌋, exact (the share read as a decimal).

        ``0.29 × 1,000,000`` is 290,000 €, not the 289,999 € that binary floating point gives.
        """
        return int((Decimal(str(self.max_share)) * available_eur).to_integral_value(rounding=ROUND_FLOOR))

    def label_fr(self) -> str:
        """``Région « Île-de-France » : au plus 40 % de l'enveloppe`` (French names of columns and values)."""
        value = self.value
        if self.column == "lead_org_type":
            value = ORG_TYPE_LABELS_FR.get(value, value)
        elif self.column == "maturity":
            value = MATURITY_LABELS_FR.get(value, value)
        parts = []
        if self.min_count is not None:
            parts.append(f"au moins {self.min_count} lauréat{'s' if self.min_count > 1 else ''}")
        if self.max_share is not None:
            pct = 100 * self.max_share
            parts.append(f"au plus {format_number(pct, 0 if abs(pct - round(pct)) < 1e-9 else 1)} % de l'enveloppe")
        return f"{GROUP_COLUMN_LABELS_FR[self.column]} « {value} » : " + " et ".join(parts)


@dataclass(frozen=True)
class AllocationParams:
    """Parameters of one allocation (immutable; ``dataclasses.replace`` for a variant).

    Amounts in whole euros; ``None`` means "the call's value".

    Attributes
    ----------
    envelope_eur, award_floor_eur, award_cap_eur, extended_cap_eur, amount_step_eur : int or None
    min_share : float or None
        Awards may be cut down to this share of the capped request (1.0: no cut).
    committed_eur : int
        Already committed in earlier waves.
    reserve_eur : int
        Kept for later waves.
    lock_in, lock_out : frozenset of str
        Application ids the committee forces in / out.
    lock_reasons : tuple of (str, str)
        ``(application id, reason)``: the committee's written reason for a lock
        (a mapping id -> reason is accepted; a reason for an id not locked is
        kept and unused, so that a variant without the locks stays valid).  A final
        decision needs a reason for every lock (:meth:`missing_lock_reasons`,
        enforced by the command line); the reasons go into the manifest, the
        exceptions to merit order, the procedure annex and the letters.
    group_rules : tuple of GroupRule
    max_awards : int or None
    rule : str
        The decision rule (:data:`RULES`): ``merit_order`` (default: merit order
        above the quality thresholds, cut at the budget line), ``ranking``
        (the ranking rule, see `ranking_variant`), ``max_total_score`` or
        ``max_score_weighted_award`` (optimisation objectives, for comparison).
        ``None``: the call's ``[selection] rule``.
    ranking_variant : {"skip", "stop"}
        Variant of the ranking rule (``rule="ranking"`` and the comparison column).
    tie_band_points : float, "auto" or None
        The ex aequo band δ (score points) of the merit-order rule; ``"auto"``
        computes it from the reviews; ``None``: the call's value.
    min_score : float or None
        Overall quality threshold (composite points); ``None``: the call's.
    min_criterion : tuple of (str, float) or None
        Per-criterion thresholds on the review scale; ``None``: the call's.
    solver : {"highs", "cbc"}
    time_limit_s : float
    check_alternatives : bool
        Check whether another portfolio reaches the same value, and apply the
        named tie-break exactly when one does (one or two more solves; more
        only when a tie exists).  False: faster, ties settled by level 3 alone.
    exact_search : bool
        Merit order without award cuts: decide by the exact integer search
        :func:`merit_search` (no solver; proven, the same decision as the
        MILP), and use the MILP only when the search gives up.  False: always
        the MILP (used to cross-check both).
    """

    envelope_eur: int | None = None
    award_floor_eur: int | None = None
    award_cap_eur: int | None = None
    extended_cap_eur: int | None = None
    amount_step_eur: int | None = None
    min_share: float | None = None
    committed_eur: int = 0
    reserve_eur: int = 0
    lock_in: frozenset[str] = field(default_factory=frozenset)
    lock_out: frozenset[str] = field(default_factory=frozenset)
    lock_reasons: tuple[tuple[str, str], ...] = ()
    group_rules: tuple[GroupRule, ...] = ()
    max_awards: int | None = None
    rule: str | None = None
    ranking_variant: str = "skip"
    tie_band_points: float | str | None = None
    min_score: float | None = None
    min_criterion: tuple[tuple[str, float], ...] | None = None
    solver: str = "highs"
    time_limit_s: float = 60.0
    check_alternatives: bool = True
    exact_search: bool = True

    def __post_init__(self):
        object.__setattr__(self, "lock_in", frozenset(self.lock_in))
        object.__setattr__(self, "lock_out", frozenset(self.lock_out))
        object.__setattr__(self, "group_rules", tuple(self.group_rules))
        reasons = dict(self.lock_reasons.items() if hasattr(self.lock_reasons, "items") else self.lock_reasons)
        for aid, why in reasons.items():
            if not isinstance(why, str) or not why.strip():
                raise ValueError(f"motif du verrou sur {aid} vide : écrire la raison du comité")
        object.__setattr__(self, "lock_reasons", tuple(sorted((str(a), w.strip()) for a, w in reasons.items())))
        for name in ("envelope_eur", "award_floor_eur", "award_cap_eur", "extended_cap_eur", "committed_eur", "reserve_eur"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise ValueError(f"{name} = {v!r} : un montant est un nombre entier d'euros positif ou nul")
        if self.amount_step_eur is not None and (not isinstance(self.amount_step_eur, int) or self.amount_step_eur < 1):
            raise ValueError(f"amount_step_eur = {self.amount_step_eur!r} : un pas entier d'au moins 1 € est attendu")
        if self.min_share is not None and not 0 < self.min_share <= 1:
            raise ValueError(f"min_share = {self.min_share} : une part entre 0 (exclu) et 1 est attendue")
        if self.rule is not None and self.rule not in RULE_NAMES:
            raise ValueError(f"règle de décision « {self.rule} » inconnue : {', '.join(RULE_NAMES)}")
        if self.ranking_variant not in ("skip", "stop"):
            raise ValueError(f"variante « {self.ranking_variant} » de la règle du classement inconnue : skip ou stop")
        tb = self.tie_band_points
        if tb is not None and tb != "auto" and (isinstance(tb, bool) or not isinstance(tb, (int, float))
                                                 or not math.isfinite(tb) or not 0 <= tb <= 100):
            raise ValueError(f"bande d'ex aequo = {tb!r} : un nombre de points entre 0 et 100, ou « auto », est attendu")
        if self.min_score is not None and not 0 <= self.min_score <= 100:
            raise ValueError(f"seuil de qualité global = {self.min_score!r} : une note entre 0 et 100 est attendue")
        if self.min_criterion is not None:
            object.__setattr__(self, "min_criterion", tuple(sorted(dict(self.min_criterion).items())))
        if self.solver not in ("highs", "cbc"):
            raise ValueError(f"solveur « {self.solver} » inconnu : highs ou cbc")
        if self.max_awards is not None and self.max_awards < 0:
            raise ValueError("max_awards négatif")
        both = self.lock_in & self.lock_out
        if both:
            raise ValueError(f"dossier(s) à la fois imposé(s) et exclu(s) : {', '.join(sorted(both))}")

    @property
    def objective(self) -> str | None:
        """The optimisation objective of an optimisation rule: ``total_score``, ``score_weighted_award``; else None."""
        return OPTIMISATION_OBJECTIVES.get(self.rule)

    def lock_reason(self, application_id: str) -> str:
        """The committee's written reason for the lock on `application_id` ("" when none)."""
        return dict(self.lock_reasons).get(str(application_id), "")

    def missing_lock_reasons(self) -> list[str]:
        """Locked ids (in, then out, sorted) without a written reason: a final decision refuses them."""
        given = dict(self.lock_reasons)
        return [a for a in sorted(self.lock_in) + sorted(self.lock_out) if a not in given]


# --------------------------------------------------------------------------- check


@dataclass(frozen=True)
class Candidates:
    """The checked input of the model (step "check").

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, in tie-break order (position 0 first):
        ``application_id``, ``score`` (points), ``score_units`` (int,
        score × 10**SCORE_DECIMALS), ``upper_eur`` (u_i), ``lower_eur``
        (ℓ_i), ``max_cut_steps`` (int), ``locked_in`` (bool), and the
        :data:`GROUP_COLUMNS`.
    available_eur : int
        E = envelope − committed − reserve.
    envelope_eur, committed_eur, reserve_eur, step_eur : int
    params : AllocationParams
    excluded : dict
        Application id -> French reason, for every application not a candidate.
    """

    table: pd.DataFrame
    available_eur: int
    envelope_eur: int
    committed_eur: int
    reserve_eur: int
    step_eur: int
    params: AllocationParams
    excluded: dict
    score_unit: int = SCORE_UNIT
    rule: str = DEFAULT_RULE
    tie_band_units: int = 0
    tie_band_source: str = ""
    not_fundable: dict = field(default_factory=dict)
    forced: dict = field(default_factory=dict)

    @property
    def tie_band_points(self) -> float:
        """The ex aequo band δ in score points."""
        return self.tie_band_units / self.score_unit


def candidates_from_table(table: pd.DataFrame, available_eur: int, params: AllocationParams | None = None,
                          *, score_unit: int = SCORE_UNIT) -> Candidates:
    """Candidates from a plain table, for inputs that are not a call (e.g. a Pabulib instance).

    Parameters
    ----------
    table : pandas.DataFrame
        ``application_id`` (str), ``score`` (float), ``requested_eur``,
        ``award_floor_eur``, ``award_cap_eur`` (int, whole units of money).
        Every row is a candidate; awards are the capped request (no cuts).
    available_eur : int
        The budget, in the same units.
    score_unit : int
        Scores are multiplied by this and rounded to integers for the
        objective; use 1 for integer scores such as vote counts.

    Raises
    ------
    ValueError
        A non-integer score when ``score_unit`` is 1, or a floor above the capped request.
    """
    params = params or AllocationParams()
    order = table.sort_values(["score", "application_id"], ascending=[False, True], kind="mergesort")
    upper = [min(int(r), int(c)) for r, c in zip(order["requested_eur"], order["award_cap_eur"])]
    lower = [max(int(f), u if params.min_share in (None, 1.0) else 0) for f, u in zip(order["award_floor_eur"], upper)]
    units = [s * score_unit for s in order["score"]]
    if any(abs(u - round(u)) > 1e-9 for u in units):
        raise ValueError("notes non entières dans l'unité choisie : augmenter score_unit")
    t = pd.DataFrame({
        "application_id": order["application_id"].astype(str).to_numpy(),
        "score": order["score"].astype(float).to_numpy(),
        "score_units": [int(round(u)) for u in units],
        "upper_eur": upper, "lower_eur": lower, "max_cut_steps": 0,
        "locked_in": order["application_id"].isin(params.lock_in).to_numpy(),
        **{c: "" for c in GROUP_COLUMNS},
    })
    return Candidates(t, int(available_eur), int(available_eur), 0, 0, 1, params, {}, score_unit,
                      params.rule or "max_total_score")


def check(evaluation: Evaluation, params: AllocationParams | None = None) -> Candidates:
    """Check the parameters against the data and compute each candidate's bounds.

    Raises
    ------
    ValueError
        Unknown ids in locks or rules, a locked-in application that is not
        eligible or not scored, committed + reserve above the envelope (French).
    """
    params = params or AllocationParams()
    rules = evaluation.rules
    f = rules.funding
    envelope = f.envelope_eur if params.envelope_eur is None else params.envelope_eur
    floor = f.award_floor_eur if params.award_floor_eur is None else params.award_floor_eur
    cap = f.award_cap_eur if params.award_cap_eur is None else params.award_cap_eur
    ext_cap = f.extended_cap.award_cap_eur if params.extended_cap_eur is None else params.extended_cap_eur
    step = f.amount_step_eur if params.amount_step_eur is None else params.amount_step_eur
    min_share = f.min_share if params.min_share is None else params.min_share
    if floor > cap:
        raise ValueError(f"plancher {format_eur(floor)} supérieur au plafond {format_eur(cap)}")
    available = envelope - params.committed_eur - params.reserve_eur
    if available < 0:
        raise ValueError(f"engagements ({format_eur(params.committed_eur)}) et réserve ({format_eur(params.reserve_eur)}) "
                         f"dépassent l'enveloppe de {format_eur(envelope)}")
    t = evaluation.table
    ids = set(t["application_id"])
    unknown = sorted((params.lock_in | params.lock_out) - ids)
    if unknown:
        raise ValueError(f"verrou sur un dossier inconnu : {', '.join(unknown)}")
    excluded: dict[str, str] = {}
    for row in t.itertuples():
        if not row.eligible:
            excluded[row.application_id] = f"non éligible : {row.reasons}"
        elif not row.scored:
            excluded[row.application_id] = row.score_flag
        elif row.application_id in params.lock_out:
            excluded[row.application_id] = "exclu par le comité (verrou)"
    not_fundable = {a: why for a, why in threshold_failures(evaluation, params).items() if a not in excluded}
    excluded.update(not_fundable)
    cand = t[~t["application_id"].isin(excluded)].copy()
    order = rank_order(cand["application_id"], t["score"], evaluation.applications)
    cand = cand.set_index("application_id").loc[order].reset_index()
    large = cand["large_collective"].to_numpy()
    cap_i = [ext_cap if lg else cap for lg in large]
    upper = [min(int(r), int(c)) for r, c in zip(cand["requested_eur"], cap_i)]
    share = Decimal(str(min_share))  # exact: ⌈0.7 × 100 000⌉ is 70 000, whatever binary floating point says
    lower = [max(floor, int((share * u).to_integral_value(rounding=ROUND_CEILING))) for u in upper]
    for aid, u, lo in zip(cand["application_id"], upper, lower):
        if u < lo:  # a request (capped) below the floor cannot be funded
            excluded[aid] = f"montant finançable {format_eur(u)} inférieur au plancher {format_eur(lo)}"
    keep = [u >= lo for u, lo in zip(upper, lower)]
    table = pd.DataFrame({
        "application_id": cand["application_id"],
        "score": cand["score"].astype(float),
        "score_units": [int(round(s * SCORE_UNIT)) for s in cand["score"]],
        "upper_eur": upper,
        "lower_eur": lower,
        "max_cut_steps": [(u - lo) // step for u, lo in zip(upper, lower)],
        "locked_in": cand["application_id"].isin(params.lock_in).to_numpy(),
        **{c: cand[c].to_numpy() for c in GROUP_COLUMNS},
    })
    table = table[np.array(keep, dtype=bool)].reset_index(drop=True)
    bad = sorted(a for a in params.lock_in if a in excluded)
    if bad:
        raise ValueError("dossier(s) imposé(s) mais impossibles à financer : " + " ; ".join(f"{a} ({excluded[a]})" for a in bad))
    for r in params.group_rules:
        if r.value not in set(t[r.column]):
            raise ValueError(f"règle de portefeuille sur un groupe absent des données : {r.column} = {r.value}")
    rule = params.rule or rules.selection.rule
    band, band_source = _tie_band(evaluation, params)
    return Candidates(table, available, envelope, params.committed_eur, params.reserve_eur, step, params, excluded,
                      SCORE_UNIT, rule, int(round(band * SCORE_UNIT)), band_source, not_fundable)


def _tie_band(evaluation: Evaluation, params: AllocationParams) -> tuple[float, str]:
    """δ in points and a French sentence saying where it comes from."""
    declared = evaluation.rules.selection.tie_band_points
    value = declared if params.tie_band_points is None else params.tie_band_points
    origin = "déclarée dans les règles de l'appel" if params.tie_band_points is None else "fixée par le comité"
    if value == "auto":
        band = tie_band_from_reviews(evaluation.reviews, evaluation.rules, evaluation.weights,
                                     normalisation=evaluation.normalisation)
        return band, (f"{origin} : « auto », écart-type médian de la différence de deux notes composites, "
                      f"calculé à partir des évaluations ({format_number(band, 2)} points)")
    return float(value), f"{origin} ({format_number(float(value), 2)} points)"


def quality_thresholds(evaluation: Evaluation, params: AllocationParams | None = None) -> tuple[float, dict[str, float]]:
    """The quality thresholds in force: (overall minimum in points, {criterion: minimum on the review scale}).

    The committee's values in `params` replace the call's ``[selection]`` values.
    """
    params = params or AllocationParams()
    sel = evaluation.rules.selection
    overall = sel.min_score if params.min_score is None else params.min_score
    per = dict(sel.min_criterion) if params.min_criterion is None else dict(params.min_criterion)
    return float(overall), per


def threshold_failures(evaluation: Evaluation, params: AllocationParams | None = None) -> dict[str, str]:
    """Eligible, scored applications below a quality threshold -> French reason (« non finançable »).

    An application is not fundable when its composite score is below the
    overall minimum, or its mean on a reviewed criterion (on the review scale,
    e.g. 0–5) is below that criterion's minimum (Horizon Europe practice:
    thresholds per criterion and overall; DESIGN.md).  Values are compared
    rounded to 4 decimals, so the test is exact and reproducible.

    Raises
    ------
    ValueError
        A threshold on an unknown or computed criterion (French).
    """
    from ditp_model.french import format_number as _fmt

    overall, per = quality_thresholds(evaluation, params)
    rules = evaluation.rules
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    for name in per:
        if name not in rules.criterion_names or rules.criterion(name).source != "reviews":
            raise ValueError(f"seuil sur « {name} » : critère inconnu ou non noté par les évaluateurs "
                             f"(critères notés : {', '.join(c.name for c in rules.criteria if c.source == 'reviews')})")
    out: dict[str, str] = {}
    t = evaluation.table
    for row in t[t["eligible"] & t["scored"]].itertuples():
        why = []
        if overall > 0 and round(float(row.score), 4) < overall:
            why.append(f"note globale {_fmt(row.score, 2)}/100 sous le seuil de {_fmt(overall, 2)}")
        for name, minimum in per.items():
            value = lo + float(getattr(row, f"{name}_score")) * (hi - lo)
            if round(value, 4) < minimum:
                label = rules.criterion(name).label.lower()
                why.append(f"{label} {_fmt(value, 2)}/{_fmt(hi, 0)} sous le seuil de {_fmt(minimum, 2)}")
        if why:
            out[row.application_id] = "non finançable : " + " ; ".join(why)
    return out


# --------------------------------------------------------------------------- build


@dataclass
class Model:
    """A built (unsolved) PuLP problem with handles on its variables and rules."""

    problem: pulp.LpProblem
    x: list
    c: list  # cut-step variables (None where no cut is possible)
    award_expr: list
    value_expr: pulp.LpAffineExpression
    rules: dict  # rule key -> (constraint name, French label)


def _award_exprs(cands: Candidates, x, c):
    return [u * xi - cands.step_eur * ci if ci is not None else u * xi
            for u, xi, ci in zip(cands.table["upper_eur"], x, c)]


def build(cands: Candidates, *, relax: bool = False, drop_rules: frozenset = frozenset(), force: dict | None = None) -> Model:
    """Build the level-1 problem of the candidates' decision rule; never solves it.

    Optimisation rules: maximise the portfolio value (Σ s_i x_i or Σ s_i a_i).
    Merit order: the merit constraints (:func:`_add_merit_constraints`) and a
    constant level 1 (the spend and the tie-break levels decide).

    Parameters
    ----------
    cands : Candidates
    relax : bool
        LP relaxation (x continuous in [0, 1]) for the shadow price.
    drop_rules : frozenset of str
        Rule keys left out (used to find the rules in conflict).
    force : dict, optional
        Application id -> 0/1, extra fixings (entry gaps and exit margins).

    Returns
    -------
    Model
    """
    t = cands.table
    p = cands.params
    prob = pulp.LpProblem("allocation", pulp.LpMaximize)
    cat = pulp.LpContinuous if relax else pulp.LpBinary
    x = [prob.add_variable(f"x_{k:06d}", 0, 1, cat=cat) for k in range(len(t))]
    c = [prob.add_variable(f"c_{k:06d}", 0, int(m), cat=pulp.LpContinuous if relax else pulp.LpInteger) if m > 0 else None
         for k, m in enumerate(t["max_cut_steps"])]
    award = _award_exprs(cands, x, c)
    objective = OPTIMISATION_OBJECTIVES.get(cands.rule, "total_score")
    if cands.rule == "merit_order":
        _add_merit_constraints(prob, cands, x, award, relax=relax)
        value = pulp.LpAffineExpression()  # every merit-consistent decision is as good: spend, then tie-break decide
    elif objective == "total_score":
        value = pulp.lpSum(int(s) * xi for s, xi in zip(t["score_units"], x))
    else:
        value = pulp.lpSum(int(s) * a for s, a in zip(t["score_units"], award))
    prob += value
    rules: dict[str, tuple[str, str]] = {}

    def add(key: str, constraint, label: str):
        if key in drop_rules:
            return
        name = f"r{len(rules):05d}"
        prob.addConstraint(constraint, name)
        rules[key] = (name, label)

    for k, (xi, ci) in enumerate(zip(x, c)):
        if ci is not None:
            prob.addConstraint(ci <= int(t.at[k, "max_cut_steps"]) * xi, f"cut_{k:06d}")
    add("envelope", pulp.lpSum(award) <= cands.available_eur, f"enveloppe disponible de {format_eur(cands.available_eur)}")
    fixings = {aid: 1 for aid in t.loc[t["locked_in"], "application_id"]}
    for k, aid in enumerate(t["application_id"]):
        if aid in fixings:
            add(f"lock_in:{aid}", x[k] >= 1, f"dossier {aid} imposé (minimum {format_eur(int(t.at[k, 'lower_eur']))})")
    if force:
        pos = {aid: k for k, aid in enumerate(t["application_id"])}
        for aid, v in force.items():
            if aid in pos:
                prob.addConstraint(x[pos[aid]] == v, f"force_{pos[aid]:06d}")
    for j, r in enumerate(p.group_rules):
        members = np.flatnonzero(t[r.column].to_numpy() == r.value).tolist()
        if r.min_count is not None:
            add(f"group_min:{j}", pulp.lpSum(x[k] for k in members) >= r.min_count,
                f"{replace(r, max_share=None).label_fr()} ({len(members)} candidat(s) dans ce groupe)")
        if r.max_share is not None:
            cap = r.cap_eur(cands.available_eur)
            add(f"group_max:{j}", pulp.lpSum(award[k] for k in members) <= cap,
                f"{replace(r, min_count=None).label_fr()} ({format_eur(cap)})")
    if p.max_awards is not None:
        add("max_awards", pulp.lpSum(x) <= p.max_awards, f"au plus {p.max_awards} lauréat(s)")
    if len(t):
        smallest = int(t["lower_eur"].min())
        if smallest > 0 and "envelope" not in drop_rules:
            prob.addConstraint(pulp.lpSum(x) <= cands.available_eur // smallest, "valid_cut_count")
    # A candidate whose every coefficient is 0 (a 0 € request scored 0 under a 0 € floor) would be left out of the
    # problem by PuLP and read back without a value: keep it in, so that every candidate gets an explicit decision.
    present = {v.name for v in prob.variables()}
    for k, xi in enumerate(x):
        if xi.name not in present:
            prob.addConstraint(xi <= 1, f"decide_{k:06d}")
    return Model(prob, x, c, award, value, rules)


# --------------------------------------------------------------------------- merit order


def merit_reach(cands: Candidates) -> np.ndarray:
    """For each candidate position j, the last position k with s_k ≥ s_j − δ (the table is in rank order).

    Positions ``0 … reach[j]`` are the applications scoring at least s_j − δ:
    the money they receive cannot be claimed by j.
    """
    su = cands.table["score_units"].to_numpy(np.int64)
    return np.searchsorted(-su, -(su - cands.tie_band_units), side="right") - 1


def _capped_groups(cands: Candidates) -> list[tuple[int, np.ndarray, int]]:
    """(rule index, member positions ascending, cap in euros) of every maximum-share rule."""
    t = cands.table
    return [(j, np.flatnonzero(t[r.column].to_numpy() == r.value), r.cap_eur(cands.available_eur))
            for j, r in enumerate(cands.params.group_rules) if r.max_share is not None]


def _add_merit_constraints(prob: pulp.LpProblem, cands: Candidates, x, award, *, relax: bool = False) -> None:
    """Add the merit-order constraints (no valid complaint) to `prob`.

    *j* has a valid complaint when it is unfunded and could be funded at its
    minimum award ℓ_j with the unspent envelope plus the awards of the
    laureates scoring more than δ below it, without breaking a limit: the
    envelope (E − Σ_{k ≤ r(j)} a_k ≥ ℓ_j, r(j) from :func:`merit_reach`), the
    maximum number of awards (Σ_{k ≤ r(j)} x_k < N) and the maximum share of
    each group *g* containing *j* (cap_g − Σ_{k ≤ r(j), k ∈ g} a_k ≥ ℓ_j).
    Locked-in applications (committee locks, and the applications funded
    first to meet a minimum-count rule, see :func:`_merit_with_minimums`) are
    funded first: their money is never claimable, wherever they rank.  For
    unfunded *j* at least one limit must be blocked; with prefix sums (O(n)
    non-zeros) and, when there are several limits, one binary per limit::

        Σ_{k ≤ r(j)} a_k + Σ_{locked k > r(j)} a_k ≥ (E − ℓ_j + 1) · (1 − x_j)      (envelope only)
    """
    t = cands.table
    n = len(t)
    p = cands.params
    if not n:
        return
    reach = merit_reach(cands)
    lower = t["lower_eur"].to_numpy(np.int64)
    locked = t["locked_in"].to_numpy(bool)
    cat = pulp.LpContinuous if relax else pulp.LpBinary
    # prefix sums of the claimable-or-above money: award of k counts in pre[r] when k ≤ r, and always when locked
    pre = [prob.add_variable(f"m_{k:06d}", 0, None) for k in range(n)]
    locked_all = pulp.lpSum(award[k] for k in np.flatnonzero(locked))
    for k in range(n):
        step = award[k] if not locked[k] else 0
        prob.addConstraint(pre[k] - (pre[k - 1] if k else locked_all) - step == 0, f"mp_{k:06d}")
    count = None
    if p.max_awards is not None:
        count = [prob.add_variable(f"mq_{k:06d}", 0, None) for k in range(n)]
        n_locked = int(locked.sum())
        for k in range(n):
            step = x[k] if not locked[k] else 0
            prob.addConstraint(count[k] - (count[k - 1] if k else n_locked) - step == 0, f"mqc_{k:06d}")
    groups = []
    for j, members, cap in _capped_groups(cands):
        gp = [prob.add_variable(f"mg{j}_{i:06d}", 0, None) for i in range(len(members))]
        base = pulp.lpSum(award[int(k)] for k in members if locked[int(k)])
        for i, k in enumerate(members):
            step = award[int(k)] if not locked[int(k)] else 0
            prob.addConstraint(gp[i] - (gp[i - 1] if i else base) - step == 0, f"mgc{j}_{i:06d}")
        groups.append((members, cap, gp))
    for j in range(n):
        if locked[j]:
            continue
        r = int(reach[j])
        limits = []
        big = cands.available_eur - int(lower[j]) + 1
        if big <= 0:
            continue  # j never fits the envelope: it cannot complain
        limits.append((pre[r], big))
        if count is not None:
            if p.max_awards == 0:
                continue
            limits.append((count[r], p.max_awards))
        never = False
        for members, cap, gp in groups:
            pos = int(np.searchsorted(members, j))
            if pos < len(members) and members[pos] == j:
                room = cap - int(lower[j]) + 1
                if room <= 0:
                    never = True
                    break
                last = int(np.searchsorted(members, r, side="right")) - 1
                limits.append((gp[last], room))
        if never:
            continue
        if len(limits) == 1:
            expr, m = limits[0]
            prob.addConstraint(expr + m * x[j] >= m, f"merit_{j:06d}")
        else:
            zs = [prob.add_variable(f"z_{j:06d}_{i}", 0, 1, cat=cat) for i in range(len(limits))]
            prob.addConstraint(pulp.lpSum(zs) + x[j] >= 1, f"merit_{j:06d}")
            for i, ((expr, m), z) in enumerate(zip(limits, zs)):
                prob.addConstraint(expr - m * z >= 0, f"merit_{j:06d}_{i}")


def merit_complaints(decisions: pd.DataFrame, cands: Candidates, *, exempt=None) -> list[str]:
    """Unfunded candidates with a valid complaint, in exact integers (rank order).

    Same definition as :func:`_add_merit_constraints`, recomputed from the
    awards alone with integer prefix sums: for unfunded *j*, the unspent
    envelope plus the awards of laureates scoring more than δ below *j* reach
    ℓ_j, and neither the maximum number of awards nor a group's maximum share
    containing *j* stops it.

    Parameters
    ----------
    exempt : iterable of str, optional
        Laureates whose money is never claimable (funded first: locks and
        minimum-count exceptions).  Default: none, so that every departure
        from merit order shows (to name it); :func:`verify_awards` passes the
        locked-in candidates and expects an empty list.
    """
    t = cands.table
    n = len(t)
    if not n:
        return []
    d = decisions.set_index("application_id")
    ids = t["application_id"].tolist()
    exempt = set(exempt) if exempt is not None else set()
    awards = np.array([int(d.at[a, "award_eur"]) if a in d.index else 0 for a in ids], dtype=object)
    funded = np.array([bool(d.at[a, "funded"]) if a in d.index else False for a in ids])
    first = np.array([a in exempt for a in ids])
    reach = merit_reach(cands)
    claim_aw = np.where(first, 0, awards)
    pre = np.cumsum(claim_aw) + int(sum(awards[first]))
    cnt = np.cumsum((funded & ~first).astype(np.int64)) + int((funded & first).sum())
    lower = [int(v) for v in t["lower_eur"]]
    groups = []
    for _, members, cap in _capped_groups(cands):
        base = int(sum(awards[m] for m in members if first[m]))
        groups.append((members, cap, (np.cumsum(claim_aw[members]) + base) if len(members) else np.array([], dtype=object)))
    out = []
    max_awards = cands.params.max_awards
    for j in range(n):
        if funded[j] or first[j]:
            continue
        r = int(reach[j])
        if cands.available_eur - int(pre[r]) < lower[j]:
            continue
        if max_awards is not None and int(cnt[r]) >= max_awards:
            continue
        blocked = False
        for members, cap, gpre in groups:
            pos = int(np.searchsorted(members, j))
            if pos < len(members) and members[pos] == j:
                last = int(np.searchsorted(members, r, side="right")) - 1
                if cap - int(gpre[last]) < lower[j]:
                    blocked = True
                    break
        if not blocked:
            out.append(ids[j])
    return out


#: Most nodes of one exact merit search before the MILP decides instead.
MERIT_SEARCH_NODES = 200_000


def merit_search(upper, reach, first, caps, available: int, max_awards: int | None, *,
                 max_nodes: int = MERIT_SEARCH_NODES):
    """The merit-order decision without award cuts, by exact depth-first search in rank order (integers only).

    Among the portfolios that fund every application of `first` (locks, and
    the applications funded first for a minimum-count rule), respect the
    envelope, the groups' caps and the maximum number of awards, and leave no
    valid complaint at δ (DESIGN.md, "The decision rules": an unfunded *j*
    complains when its award fits in the envelope, the count and its groups'
    caps once the money of the applications scoring at least s_j − δ, and of
    `first`, is counted), the one that spends most, then the greatest funded
    vector in rank order (position by position, best placed first: the named
    tie-break of :func:`allocate`).

    The search decides the applications in rank order, "funded" before "not
    funded", so portfolios are met in decreasing rank order.  A branch is cut
    when an unfunded application's complaint is certain — its last ex aequo
    ``reach[j]`` is decided and the complaint is valid, or even funding every
    undecided application up to ``reach[j]`` would leave room for it — or when
    it cannot spend more than the best portfolio found (the first found at a
    given spend is the greatest in rank order).  With δ = 0, no exact score
    tie and no cut, the search is the ranking rule with skip, locks first (one
    path, n steps).  Iterative (no recursion limit).

    Parameters
    ----------
    upper : sequence of int
        Award of each application (rank order): the capped request.
    reach : sequence of int
        Last rank position scoring at least s_j − δ (:func:`merit_reach`).
    first : sequence of bool
    caps : list of (mask, cap)
        Maximum-share rules: membership (rank order) and cap in euros.
    available : int
    max_awards : int or None
    max_nodes : int

    Returns
    -------
    list of int or None
        0/1 per rank position; None when no portfolio satisfies the rules or
        the search exceeds `max_nodes`.
    """
    u = [int(v) for v in upper]
    m = len(u)
    first = [bool(v) for v in first]
    reach = [int(r) for r in reach]
    # Presolve: an application that would fit even if everything scoring at least s_j − δ were funded must be
    # funded (leaving it out is a certain complaint).  These form a prefix of the rank order (reach and the
    # cumulated requests only grow); they are decided before the search, like `first`.
    base = sum(u[j] for j in range(m) if first[j])
    n_base = sum(first)
    gbase = [sum(u[j] for j in range(m) if first[j] and mask[j]) for mask, _ in caps]
    cum, gcum, acc, gacc = [], [], 0, [0] * len(caps)
    for j in range(m):
        if not first[j]:
            acc += u[j]
            for g, (mask, _) in enumerate(caps):
                if mask[j]:
                    gacc[g] += u[j]
        cum.append(acc)
        gcum.append(list(gacc))
    for j in range(m):
        if first[j]:
            continue
        r = reach[j]
        if base + cum[r] > available or (max_awards is not None and n_base + r + 1 > max_awards):
            break
        if any(mask[j] and gbase[g] + gcum[r][g] > int(c) for g, (mask, c) in enumerate(caps)):
            break
        first[j] = True
    checks = [[] for _ in range(m)]
    for j in range(m):
        if not first[j]:
            checks[reach[j]].append(j)
    groups_of = [[g for g, (mask, _) in enumerate(caps) if mask[j]] for j in range(m)]
    cap = [int(c) for _, c in caps]
    spent = sum(u[j] for j in range(m) if first[j])
    count = sum(first)
    gspent = [sum(u[j] for j in range(m) if first[j] and mask[j]) for mask, _ in caps]
    if spent > available or (max_awards is not None and count > max_awards) or any(g > c for g, c in zip(gspent, cap)):
        return None
    # suffix[k]: money of the undecided (not `first`) applications at positions ≥ k
    suffix = [0] * (m + 1)
    for k in range(m - 1, -1, -1):
        suffix[k] = suffix[k + 1] + (0 if first[k] else u[k])
    # smallest undecided request at positions ≥ k: when even it does not fit, nothing more can be funded
    minsuffix = [0] * (m + 1)
    minsuffix[m] = available + 1
    for k in range(m - 1, -1, -1):
        minsuffix[k] = minsuffix[k + 1] if first[k] else min(minsuffix[k + 1], u[k])
    x = [1 if f else 0 for f in first]
    best_spend, best_x = -1, None
    pending: list[int] = []  # unfunded, complaint not yet judged

    def complains(j: int) -> bool:
        """j's complaint is valid now (its reach is decided)."""
        uj = u[j]
        if available - spent < uj:
            return False
        if max_awards is not None and count >= max_awards:
            return False
        return all(cap[g] - gspent[g] >= uj for g in groups_of[j])

    # the same per capped group: money of the undecided members at positions ≥ k
    gsuffix = []
    for mask, _ in caps:
        gs_ = [0] * (m + 1)
        for k in range(m - 1, -1, -1):
            gs_[k] = gs_[k + 1] + (u[k] if mask[k] and not first[k] else 0)
        gsuffix.append(gs_)

    def surely_complains(j: int, k: int) -> bool:
        """Even funding every undecided application up to reach[j] leaves room for j (envelope, count, its groups)."""
        r = reach[j]
        uj = u[j]
        if available - spent - (suffix[k + 1] - suffix[r + 1]) < uj:
            return False
        if max_awards is not None and count + (r - k) >= max_awards:
            return False
        return all(cap[g] - gspent[g] - (gsuffix[g][k + 1] - gsuffix[g][r + 1]) >= uj for g in groups_of[j])

    def ok(k: int) -> bool:
        for j in checks[k]:
            if not x[j] and complains(j):
                return False
        # pending is in rank order, hence in order of reach: the ones still to judge are at its end
        for idx in range(len(pending) - 1, -1, -1):
            j = pending[idx]
            if reach[j] <= k:
                break
            if surely_complains(j, k):
                return False
        return True

    nodes = 0
    # frames: [k, stage, funded_here, pending_len]
    stack = [[0, 0, False, 0]]
    while stack:
        fr = stack[-1]
        k, stage = fr[0], fr[1]
        if stage == 0:
            nodes += 1
            if nodes > max_nodes:
                return None
            if k == m:
                if spent > best_spend:
                    best_spend, best_x = spent, list(x)
                stack.pop()
                continue
            if min(available, spent + suffix[k]) <= best_spend:
                stack.pop()
                continue
            if minsuffix[k] > available - spent or (max_awards is not None and count >= max_awards):
                # nothing more can be funded: every later application stays unfunded, and none of them can
                # complain (no room); the applications passed over earlier are judged on the final money
                if spent > best_spend and all(reach[j] < k or not complains(j) for j in pending):
                    best_spend, best_x = spent, list(x)
                stack.pop()
                continue
            fr[3] = len(pending)
            if first[k]:
                fr[1] = 3
                if ok(k):
                    stack.append([k + 1, 0, False, 0])
                continue
            fr[1] = 1
            uk = u[k]
            gs = groups_of[k]
            if spent + uk <= available and (max_awards is None or count < max_awards) and all(gspent[g] + uk <= cap[g] for g in gs):
                x[k] = 1
                spent += uk
                count += 1
                for g in gs:
                    gspent[g] += uk
                fr[2] = True
                if ok(k):
                    stack.append([k + 1, 0, False, 0])
            continue
        if stage == 1:
            if fr[2]:
                uk = u[k]
                x[k] = 0
                spent -= uk
                count -= 1
                for g in groups_of[k]:
                    gspent[g] -= uk
                fr[2] = False
            fr[1] = 2
            if reach[k] > k:
                pending.append(k)
            if ok(k):
                stack.append([k + 1, 0, False, 0])
            continue
        if stage == 2:
            del pending[fr[3]:]
        stack.pop()
    return best_x


def _first_fits(cands: Candidates) -> bool:
    """The locked-in candidates alone respect the envelope, the maximum number of awards and the groups' caps (integers)."""
    t = cands.table
    first = t["locked_in"].to_numpy(bool)
    lower = t["lower_eur"].to_numpy(np.int64)
    if int(lower[first].sum()) > cands.available_eur:
        return False
    if cands.params.max_awards is not None and int(first.sum()) > cands.params.max_awards:
        return False
    return all(int(lower[members][first[members]].sum()) <= c for _, members, c in _capped_groups(cands))


def _known_feasible(cands: Candidates) -> bool:
    """Whether a decision respecting every rule is known without a solver (exact integers).

    Merit order: :func:`_first_fits`.  Optimisation rules: the locked-in
    candidates funded at their floor and nothing else passes
    :func:`verify_awards` (with no lock and no minimum count, funding nothing
    is always allowed).
    """
    if cands.rule == "merit_order":
        return _first_fits(cands)
    t = cands.table
    locked = t["locked_in"].to_numpy(bool)
    trial = pd.DataFrame({"application_id": t["application_id"], "funded": locked,
                          "award_eur": pd.array(np.where(locked, t["lower_eur"].to_numpy(np.int64), 0), dtype="int64")})
    if ((t["upper_eur"] - t["lower_eur"]).to_numpy(np.int64)[locked] % cands.step_eur).any():
        return False  # the floor is not reached from the cap by whole steps: no simple witness
    return not verify_awards(trial, cands)


def _merit_by_search(cands: Candidates) -> pd.DataFrame | None:
    """The merit-order decision by :func:`merit_search` (no cuts), or None when the search cannot decide it."""
    t = cands.table
    if bool((t["max_cut_steps"] > 0).any()):
        return None
    caps = [(np.isin(np.arange(len(t)), members), c) for _, members, c in _capped_groups(cands)]
    x = merit_search(t["upper_eur"].tolist(), merit_reach(cands).tolist(), t["locked_in"].tolist(), caps,
                     cands.available_eur, cands.params.max_awards)
    if x is None:
        return None
    awards = [int(u) * v for u, v in zip(t["upper_eur"], x)]
    return pd.DataFrame({"application_id": t["application_id"], "funded": [bool(v) for v in x],
                         "award_eur": pd.array(awards, dtype="int64"), "cut_steps": 0})


# --------------------------------------------------------------------------- solve


@dataclass(frozen=True)
class SolveInfo:
    """Status and solver facts of one solve."""

    status: SolveStatus
    solver: str
    solver_version: str
    objective: float | None
    mip_gap: float | None
    seconds: float


_HIGHS_QUIETED = False


def quiet_highs_banner() -> None:
    """In-process HiGHS prints a banner once per process, even with msg=False (TOOLCHAIN.md): swallow it."""
    global _HIGHS_QUIETED
    if _HIGHS_QUIETED:
        return
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.run()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    _HIGHS_QUIETED = True


def solver_version(name: str) -> str:
    """Version string of a solver as used through PuLP."""
    if name == "highs":
        return f"HiGHS {_pkg_version('highspy')} (highspy, PuLP {pulp.__version__})"
    return f"CBC (cbcbox {_pkg_version('cbcbox')}, PuLP {pulp.__version__})"


class IsolatedCBC(pulp.COIN_CMD):
    """PuLP's COIN_CMD with one private temporary folder per solve and the command passed as a list.

    PuLP 3.3 writes its ``.mps`` and ``.sol`` files straight into ``TMPDIR``
    and splits the command line on spaces, so a temporary folder whose path
    holds a space (on Windows it lies under the user profile, often
    « C:\\Users\\Jean Dupont\\… ») breaks every CBC solve, and a solve stopped
    by an exception leaves its files behind (issue 15).  Here each solve
    writes into its own :class:`tempfile.TemporaryDirectory`, deleted on every
    exit — success, solver error, or any exception, after which a CBC process
    still running is killed first — and CBC receives its arguments as a list.
    The MPS writing and the solution reading are PuLP's own (``writeMPS``,
    ``readsol_MPS``).
    """

    def solve_CBC(self, lp, use_mps=True):
        import subprocess
        import tempfile

        if not self.executable(self.path):
            raise pulp.PulpSolverError(f"CBC introuvable ou non exécutable : {self.path}")
        with tempfile.TemporaryDirectory(prefix="ditp-cbc-", ignore_cleanup_errors=True) as folder:
            mps, sol = os.path.join(folder, "modele.mps"), os.path.join(folder, "solution.sol")
            vs, variable_names, constraint_names, _ = lp.writeMPS(mps, rename=1)
            args = [self.path, mps] + (["-max"] if lp.sense == pulp.LpMaximize else [])
            if self.timeLimit is not None:
                args += ["-sec", str(self.timeLimit)]
            for option in self.options + self.getOptions():
                args += str(option).split()
            args += ["-solve" if self.mip else "-initialSolve", "-printingOptions", "all", "-solution", sol]
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
            try:
                code = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if code != 0 or not os.path.exists(sol):
                raise pulp.PulpSolverError(f"CBC s'est arrêté sans solution (code {code})")
            status, values, reduced, prices, slacks, sol_status = self.readsol_MPS(sol, lp, vs, variable_names,
                                                                                  constraint_names)
        lp.assignVarsVals(values)
        lp.assignVarsDj(reduced)
        lp.assignConsPi(prices)
        lp.assignConsSlack(slacks, activity=True)
        lp.assignStatus(status, sol_status)
        return status


def _cbc_solver(time_limit_s: float):
    """CBC as a command (:class:`IsolatedCBC`), binary from the maintained ``cbcbox`` wheel.

    PuLP's bundled ``PULP_CBC_CMD`` is deprecated in PuLP 3.3 (TOOLCHAIN.md).
    """
    import cbcbox

    return IsolatedCBC(path=cbcbox.cbc_bin_path(), msg=False, gapRel=0.0, timeLimit=time_limit_s)


def solve(model: Model, solver: str = "highs", time_limit_s: float = 60.0) -> SolveInfo:
    """Solve a built model with relative gap 0 and map the status.

    Both ``LpStatus`` and the solution status are read: after a time limit
    PuLP may still say "Optimal" (TOOLCHAIN.md).
    """
    if solver == "highs":
        quiet_highs_banner()
        s = pulp.HiGHS(msg=False, gapRel=0.0, timeLimit=time_limit_s)
    elif solver == "cbc":
        s = _cbc_solver(time_limit_s)
    else:
        raise ValueError(f"solveur « {solver} » inconnu")
    t0 = time.perf_counter()
    try:
        model.problem.solve(s)
    except pulp.PulpSolverError:
        return SolveInfo(SolveStatus.ERROR, solver, solver_version(solver), None, None, time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    st, sol = model.problem.status, model.problem.sol_status
    gap = None
    if solver == "highs" and getattr(model.problem, "solverModel", None) is not None:
        try:
            gap = float(model.problem.solverModel.getInfo().mip_gap)
        except Exception:  # LP relaxation: no MIP gap
            gap = None
    if not model.problem.isMIP():
        gap = None  # an LP has no MIP gap (HiGHS reports it as infinite)
    if st == pulp.LpStatusOptimal and sol == pulp.LpSolutionOptimal:
        # a proven optimum has relative gap 0; anything else is only feasible
        status = SolveStatus.OPTIMAL if gap is None or gap <= 1e-9 else SolveStatus.FEASIBLE
    elif sol == pulp.LpSolutionIntegerFeasible:
        status = SolveStatus.FEASIBLE
    elif st == pulp.LpStatusInfeasible or sol == pulp.LpSolutionInfeasible:
        status = SolveStatus.INFEASIBLE
    else:
        status = SolveStatus.ERROR
    obj = None
    if status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        # PuLP turns an objective whose coefficients are all zero into `0*__dummy`, whose value reads None.
        obj = pulp.value(model.problem.objective)
        obj = 0.0 if obj is None else obj
    return SolveInfo(status, solver, solver_version(solver), obj, gap, seconds)


# --------------------------------------------------------------------------- read back and verify


def _integral(v, what: str) -> int:
    if v is None or not math.isfinite(v):
        raise AllocationError(f"valeur absente pour {what} après résolution")
    r = round(v)
    if abs(v - r) > INTEGRALITY_TOL:
        raise AllocationError(f"{what} = {v!r} n'est pas entier (tolérance {INTEGRALITY_TOL})")
    return int(r) + 0  # -0.0 -> 0


def read_back(model: Model, cands: Candidates) -> pd.DataFrame:
    """Read the solution: funded flags and awards in whole euros, after a tolerance check.

    Returns
    -------
    pandas.DataFrame
        Candidates in tie-break order: ``application_id``, ``funded`` (bool),
        ``award_eur`` (int, 0 when not funded), ``cut_steps`` (int).

    Raises
    ------
    AllocationError
        A binary or integer variable read back off an integer by more than the tolerance.
    """
    t = cands.table
    funded = [_integral(xi.value(), f"x[{aid}]") for xi, aid in zip(model.x, t["application_id"])]
    cuts = [_integral(ci.value(), f"c[{aid}]") if ci is not None else 0 for ci, aid in zip(model.c, t["application_id"])]
    awards = [int(u) * f - cands.step_eur * c for u, f, c in zip(t["upper_eur"], funded, cuts)]
    return pd.DataFrame({"application_id": t["application_id"], "funded": [bool(f) for f in funded],
                         "award_eur": pd.array(awards, dtype="int64"), "cut_steps": cuts})


def verify_awards(decisions: pd.DataFrame, cands: Candidates) -> list[str]:
    """Re-check a decision in exact integer arithmetic; return the violations (French), empty when sound.

    Checks: every award is 0 when not funded and within ``[ℓ_i, u_i]`` when
    funded, reached from ``u_i`` by whole steps; the total within the
    available envelope; every lock; every group rule; the maximum number of
    awards; under the merit order, that no unfunded candidate has a valid
    complaint once the locked-in candidates are funded first (:func:`merit_complaints`).
    """
    t = cands.table.set_index("application_id")
    d = decisions.set_index("application_id")
    v: list[str] = []
    total = 0
    lower = dict(zip(cands.table["application_id"], (int(x) for x in cands.table["lower_eur"])))
    upper = dict(zip(cands.table["application_id"], (int(x) for x in cands.table["upper_eur"])))
    locked = dict(zip(cands.table["application_id"], cands.table["locked_in"]))
    for aid, funded, award in zip(decisions["application_id"], decisions["funded"], decisions["award_eur"]):
        a = int(award)
        total += a
        if aid not in lower:
            if funded or a:
                why = cands.excluded.get(aid, "pas candidat") if aid not in cands.params.lock_out else "exclu par le comité"
                v.append(f"{aid} : {why} mais financé")
            continue
        lo, hi = lower[aid], upper[aid]
        if funded:
            if not lo <= a <= hi:
                v.append(f"{aid} : montant {format_eur(a)} hors de [{format_eur(lo)} ; {format_eur(hi)}]")
            if (hi - a) % cands.step_eur:
                v.append(f"{aid} : réduction de {hi - a} € qui n'est pas un multiple du pas de {cands.step_eur} €")
        elif a != 0:
            v.append(f"{aid} : non financé mais montant {format_eur(a)}")
        if locked[aid] and not funded:
            v.append(f"{aid} : imposé par le comité mais non financé")
    if total > cands.available_eur:
        v.append(f"total attribué {format_eur(total)} supérieur à l'enveloppe disponible {format_eur(cands.available_eur)}")
    for r in cands.params.group_rules:
        members = d.index.intersection(t.index[t[r.column] == r.value])
        n = int(d.loc[members, "funded"].sum())
        spent = int(d.loc[members, "award_eur"].sum())
        if r.min_count is not None and n < r.min_count:
            v.append(f"règle « {r.label_fr()} » non respectée : {n} lauréat(s)")
        if r.max_share is not None and spent > r.cap_eur(cands.available_eur):
            v.append(f"règle « {r.label_fr()} » non respectée : {format_eur(spent)}")
    if cands.params.max_awards is not None and int(d["funded"].sum()) > cands.params.max_awards:
        v.append(f"{int(d['funded'].sum())} lauréats pour un maximum de {cands.params.max_awards}")
    if cands.rule == "merit_order":
        for aid in merit_complaints(decisions, cands, exempt=cands.table.loc[cands.table["locked_in"], "application_id"]):
            v.append(f"{aid} : non financé alors qu'il pourrait l'être avec l'enveloppe restante et les montants de lauréats "
                     f"moins bien notés (ordre de mérite non respecté)")
    return v


def portfolio_value(decisions: pd.DataFrame, cands: Candidates) -> int:
    """Level-1 value of a decision in exact integers.

    Score units (``max_total_score``), score units × euros
    (``max_score_weighted_award``), or −(number of valid complaints) for the
    merit order, the committee's locks and minimum-count exceptions funded first
    (0 for a merit-consistent decision).
    """
    if cands.rule == "merit_order":
        locked = cands.table.loc[cands.table["locked_in"], "application_id"]
        return -len(merit_complaints(decisions, cands, exempt=locked))
    if cands.rule == "ranking":
        return 0
    s = dict(zip(cands.table["application_id"], (int(x) for x in cands.table["score_units"])))
    pairs = zip(decisions["application_id"], decisions["funded"], decisions["award_eur"])
    if OPTIMISATION_OBJECTIVES.get(cands.rule, "total_score") == "total_score":
        return sum(s[a] for a, f, _ in pairs if f)
    return sum(s[a] * int(w) for a, _, w in pairs)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Allocation:
    """Result of :func:`allocate`: status first; awards only for a proven optimum.

    Attributes
    ----------
    status : SolveStatus
    solver, solver_version : str
    objective : float or None
        Level-1 value: portfolio value in score points (``max_total_score``) or
        score points × euros (``max_score_weighted_award``); 0 for the merit
        order and the ranking rule (no value is maximised).
    mip_gap : float or None
    seconds : float
        Wall time of all solves.
    candidates : Candidates
    other_optimal_portfolios : bool or None
        True when another funded set reaches the same value (None: not checked).
    tie_break_rule : str
    message : str
        French summary of the status; for an infeasible rule set, the rules in conflict.
    conflicts : tuple of str
        French labels of the smallest set of rules in conflict (infeasible only).
    conflict_keys : tuple of str
        The same rules' machine keys (see :func:`diagnose_infeasibility`).
    exceptions : tuple of MeritException
        Merit order only: each laureate funded before better-ranked
        applications because of a lock or a minimum-count rule, with the
        applications it passes over and the cause.
    """

    status: SolveStatus
    solver: str
    solver_version: str
    objective: float | None
    mip_gap: float | None
    seconds: float
    candidates: Candidates
    other_optimal_portfolios: bool | None
    tie_break_rule: str
    message: str
    conflicts: tuple[str, ...] = ()
    _decisions: pd.DataFrame | None = field(default=None, repr=False)
    conflict_keys: tuple[str, ...] = ()
    exceptions: tuple["MeritException", ...] = ()

    @property
    def rule(self) -> str:
        """The decision rule that produced this decision (:data:`RULES`)."""
        return self.candidates.rule

    @property
    def rule_label_fr(self) -> str:
        return RULE_LABELS_FR[self.candidates.rule]

    @property
    def is_optimal(self) -> bool:
        return self.status is SolveStatus.OPTIMAL

    @property
    def decisions(self) -> pd.DataFrame:
        """Funded flag and award per candidate (see :func:`read_back`).

        Raises
        ------
        NotOptimalError
            When the status is not a proven optimum: no decision table then.
        """
        if self.status is not SolveStatus.OPTIMAL or self._decisions is None:
            raise NotOptimalError(f"pas de décision : {self.status.label_fr}. {self.message}")
        return self._decisions.copy()

    @property
    def funded_ids(self) -> list[str]:
        """Funded application ids, in tie-break order."""
        d = self.decisions
        return d.loc[d["funded"], "application_id"].tolist()

    @property
    def total_awarded_eur(self) -> int:
        return int(self.decisions["award_eur"].sum())

    @property
    def total_score(self) -> float:
        """Sum of the composite scores of funded applications (points)."""
        d = self.decisions
        s = self.candidates.table.set_index("application_id")["score_units"]
        return sum(int(s[a]) for a in d.loc[d["funded"], "application_id"]) / self.candidates.score_unit


def _add_level(model: Model, expr, value: float, name: str) -> None:
    model.problem.addConstraint(expr >= value - 0.5, name)


def _solve_levels(cands: Candidates, model: Model, solver: str, time_limit: float, *, tie_level: bool = True,
                  first: SolveInfo | None = None) -> tuple[SolveInfo, float, list[SolveInfo]]:
    """Lexicographic solve on `model`; returns the last info, the level-1 value and all infos.

    `first` is the level-1 solve when already done on this model.  Levels:
    value, spend, the tie-break weight (when `tie_level`), then the cut order
    (only when cuts are possible).
    """
    infos = []
    constant = not len(model.value_expr)  # merit order without possible exceptions: level 1 is 0 for every decision
    info = first or (None if constant else solve(model, solver, time_limit))
    if info is not None:
        infos.append(info)
        if info.status is not SolveStatus.OPTIMAL:
            return info, math.nan, infos
    v1 = 0.0 if constant else info.objective
    n = len(cands.table)
    levels = [pulp.lpSum(model.award_expr)]
    if tie_level:
        levels.append(pulp.lpSum((n - k) * xi for k, xi in enumerate(model.x)))
    if any(ci is not None for ci in model.c):
        levels.append(pulp.lpSum(k * ci for k, ci in enumerate(model.c) if ci is not None))
    if not constant:
        _add_level(model, model.value_expr, v1, "level_value")
    for j, expr in enumerate(levels):
        model.problem.setObjective(expr)
        info = solve(model, solver, time_limit)
        infos.append(info)
        if info.status is not SolveStatus.OPTIMAL:
            return info, v1, infos
        _add_level(model, expr, info.objective, f"level_{j + 2}")
    return info, v1, infos


def _is_feasible(cands: Candidates, solver: str, time_limit: float, drop: frozenset) -> bool | None:
    info = solve(build(cands, drop_rules=drop), solver, time_limit)
    if info.status is SolveStatus.INFEASIBLE:
        return False
    if info.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        return True
    return None


def diagnose_infeasibility(cands: Candidates, solver: str = "highs", time_limit_s: float = 60.0
                           ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The smallest set of rules in conflict, named in French (deletion filter over the rules).

    Each rule (envelope, each lock, each group rule, the maximum number of
    awards) is dropped in turn; if the rest is still infeasible the rule is
    left out for good.  What remains is an irreducible infeasible set (Chinneck
    and Dravnieks, "Locating minimal infeasible constraint sets in linear
    programs", ORSA J. Computing 3(2), 1991), one solve per rule.

    Returns
    -------
    (sentences, keys)
        French sentences, the first summing up the conflict with the amounts
        involved, then one label per rule; and the rules' machine keys
        (``envelope``, ``lock_in:<id>``, ``group_min:<j>``, ``group_max:<j>``,
        ``max_awards``; ``j`` indexes ``params.group_rules``).
    """
    all_rules = build(cands).rules
    keys = list(all_rules)
    kept = list(keys)
    dropped: set[str] = set()
    for key in keys:
        trial = frozenset(dropped | {key})
        if _is_feasible(cands, solver, time_limit_s, trial) is False:
            dropped.add(key)
            kept.remove(key)
    labels = tuple(all_rules[k][1] for k in kept)
    t = cands.table.set_index("application_id")
    locks = [k.split(":", 1)[1] for k in kept if k.startswith("lock_in:")]
    head = "Règles incompatibles : " + " ; ".join(labels) + "."
    if locks and "envelope" in kept:
        need = int(t.loc[locks, "lower_eur"].sum())
        head = (f"Les dossiers imposés ({', '.join(locks)}) demandent au minimum {format_eur(need)} "
                f"mais l'enveloppe disponible est de {format_eur(cands.available_eur)}.")
        if len(kept) > len(locks) + 1:
            head += " Autres règles en cause : " + " ; ".join(all_rules[k][1] for k in kept if k != "envelope" and not k.startswith("lock_in:")) + "."
    return (head,) + labels, tuple(kept)


def allocate(evaluation: Evaluation, params: AllocationParams | None = None) -> Allocation:
    """Check → build → solve (lexicographic) → read back → verify; the optimal funding decision.

    Parameters
    ----------
    evaluation : Evaluation
        Eligibility and scores (:func:`ditp_model.scoring.pipeline.evaluate`).
    params : AllocationParams, optional

    Returns
    -------
    Allocation
        Status first.  For an infeasible rule set, ``conflicts`` names the rules
        in conflict and no decision table is produced.

    Raises
    ------
    ValueError
        Bad parameters (French message).
    AllocationError
        A solver answer that fails the exact integer re-check.
    """
    return allocate_candidates(check(evaluation, params or AllocationParams()))


def _other_portfolio(cands: Candidates, funded: set, value_units: int, spend: int | None,
                     fix: dict | None = None) -> tuple[SolveStatus, Model, float]:
    """Look for a portfolio other than `funded` with the same value (and the same spend when given)."""
    m = build(cands, force=fix)
    ids = list(cands.table["application_id"])
    m.problem.addConstraint(pulp.lpSum(1 - xi if aid in funded else xi for xi, aid in zip(m.x, ids)) >= 1, "other")
    if len(m.value_expr):
        m.problem.addConstraint(m.value_expr >= value_units - 0.5, "same_value")
    if spend is not None:
        m.problem.addConstraint(pulp.lpSum(m.award_expr) >= spend - 0.5, "same_spend")
    info = solve(m, cands.params.solver, cands.params.time_limit_s)
    return info.status, m, info.seconds


def _apply_tie_break(cands: Candidates, decisions: pd.DataFrame, value_units: int) -> tuple[pd.DataFrame, float]:
    """Apply the named tie-break exactly among portfolios tied at levels 1 and 2.

    Level 3 (``Σ (N − p) x``) settles most ties in one solve but is not a
    lexicographic order.  When another portfolio has the same value and the
    same spend, the funded vectors are compared position by position (best
    placed first): for each position not yet funded, the solver is asked for a
    tied portfolio funding it and keeping the earlier positions as they are;
    the first found is adopted.  One solve per position, only when a tie exists.

    Returns
    -------
    (decisions, seconds)

    Raises
    ------
    AllocationError
        A check that neither finds a portfolio nor proves there is none.
    """
    seconds = 0.0
    ids = list(cands.table["application_id"])
    spend = int(decisions["award_eur"].sum())
    funded = set(decisions.loc[decisions["funded"], "application_id"])
    status, _, sec = _other_portfolio(cands, funded, value_units, spend)
    seconds += sec
    if status is SolveStatus.INFEASIBLE:
        return decisions, seconds
    if status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        raise AllocationError(f"départage des ex aequo : {status.label_fr}")
    fixed: dict[str, int] = {}
    for aid in ids:
        current = set(decisions.loc[decisions["funded"], "application_id"])
        if aid not in current:
            m = build(cands, force={**fixed, aid: 1})
            if len(m.value_expr):
                m.problem.addConstraint(m.value_expr >= value_units - 0.5, "same_value")
            m.problem.addConstraint(pulp.lpSum(m.award_expr) >= spend - 0.5, "same_spend")
            info = solve(m, cands.params.solver, cands.params.time_limit_s)
            seconds += info.seconds
            if info.status is SolveStatus.OPTIMAL:
                candidate = read_back(m, cands)
                if not verify_awards(candidate, cands):
                    decisions = candidate
            elif info.status is not SolveStatus.INFEASIBLE:
                raise AllocationError(f"départage des ex aequo : {info.status.label_fr}")
        fixed[aid] = 1 if aid in set(decisions.loc[decisions["funded"], "application_id"]) else 0
    return decisions, seconds


@dataclass(frozen=True)
class MeritException:
    """A departure from merit order, named with its cause.

    Attributes
    ----------
    funded : str
        A laureate funded before better-ranked applications: locked in by the
        committee, or funded first to meet a minimum-count rule.
    passed_over : tuple of str
        Better-ranked applications (by more than δ) that merit order alone
        would have funded and that this decision does not (rank order).
    cause : str
        French: the lock or the rule.
    """

    funded: str
    passed_over: tuple[str, ...]
    cause: str

    def sentence_fr(self) -> str:
        """« P080 financé avant P044 : règle « Région « Bretagne » : au moins 1 lauréat » »."""
        return f"{self.funded} financé avant {', '.join(self.passed_over)} : {self.cause}"


def name_exceptions(decisions: pd.DataFrame, cands: Candidates, baseline: pd.DataFrame) -> tuple[MeritException, ...]:
    """Each laureate funded out of merit order, the applications it passes over, and its cause.

    `baseline` is the merit-order decision without the locks and the
    minimum-count exceptions.  A locked-in or forced laureate that the
    baseline does not fund is an exception when the decision leaves out
    baseline laureates ranked more than δ above it: those are the
    applications it passes over.
    """
    t = cands.table
    su = dict(zip(t["application_id"], (int(v) for v in t["score_units"])))
    funded = set(decisions.loc[decisions["funded"], "application_id"])
    base = set(baseline.loc[baseline["funded"], "application_id"])
    lost = [a for a in t["application_id"] if a in base and a not in funded]
    out = []
    for k, lk in zip(t["application_id"], t["locked_in"]):
        if not lk or k not in funded or k in base:
            continue
        above = tuple(a for a in lost if su[a] > su[k] + cands.tie_band_units)
        if above:
            why = cands.params.lock_reason(k)
            out.append(MeritException(k, above, cands.forced.get(k, f"imposé par le comité{' : ' + why if why else ''}")))
    return tuple(out)


def _merit_with_minimums(cands: Candidates) -> Allocation:
    """Merit order with the committee's locks and the minimum-count rules, departures named.

    Locks are funded first.  A minimum-count rule that merit order does not
    meet is met as a committee would by hand: the best-ranked unfunded
    applications of the group are funded first (like locks), as few as the
    rule needs, and merit order resumes on the rest; repeated until every
    minimum holds.  Each application so funded, with the better-ranked
    applications it passes over, is named (:func:`name_exceptions`, against
    the merit-order decision without locks and minimums).  The minimum-count
    rules are then re-checked in integers with the others.
    """
    params = cands.params
    mins = [r for r in params.group_rules if r.min_count]
    solve_params = replace(params, group_rules=tuple(replace(r, min_count=None) for r in params.group_rules if r.max_share is not None))
    t = cands.table
    forced: dict[str, str] = {}
    baseline = None
    if mins or bool(t["locked_in"].any()):
        free = _decide_lexicographic(replace(cands, table=t.assign(locked_in=False),
                                             params=replace(solve_params, lock_in=frozenset())))
        baseline = free.decisions if free.is_optimal else None
    for _ in range(len(t) + 1):
        locked = t["locked_in"].to_numpy(bool) | t["application_id"].isin(forced).to_numpy()
        trial = replace(cands, table=t.assign(locked_in=locked), params=solve_params, forced=dict(forced))
        alloc = _decide_lexicographic(trial)
        if not alloc.is_optimal:
            break
        funded = set(alloc.funded_ids)
        added = False
        for r in mins:
            members = t.loc[t[r.column] == r.value, "application_id"].tolist()  # rank order
            short = r.min_count - sum(1 for a in members if a in funded)
            for a in [a for a in members if a not in funded][:max(short, 0)]:
                forced[a] = f"règle « {r.label_fr()} »"
                added = True
        if not added:
            final = replace(trial, params=params)
            decisions = alloc.decisions
            violations = verify_awards(decisions, final)
            if violations:
                raise AllocationError("la décision ne respecte pas les règles (vérification en entiers) : " + " ; ".join(violations))
            exceptions = name_exceptions(decisions, final, baseline) if baseline is not None else ()
            msg = f"{alloc.message} ; ordre de mérite"
            msg += (f" ; {len(exceptions)} exception(s) due(s) aux verrous ou aux règles, nommée(s)" if exceptions
                    else " respecté sans exception")
            if alloc.other_optimal_portfolios:
                msg += " ; ex aequo départagés par le montant dépensé puis la règle " + TIE_BREAK_RULE
            return replace(alloc, candidates=final, message=msg, exceptions=exceptions)
    if alloc.is_optimal:  # pragma: no cover - the loop adds at least one application each time
        raise AllocationError("règles de nombre minimal : aucune décision stable")
    if alloc.status is SolveStatus.INFEASIBLE:  # name the conflict on the full rule set, minimums included
        conflicts, keys = diagnose_infeasibility(replace(cands, rule="max_total_score"), params.solver, params.time_limit_s)
        return replace(alloc, candidates=cands, message=conflicts[0], conflicts=conflicts[1:], conflict_keys=keys)
    return replace(alloc, candidates=cands)


def _empty_decisions() -> pd.DataFrame:
    return pd.DataFrame({"application_id": pd.Series([], dtype=object), "funded": pd.Series([], dtype=bool),
                         "award_eur": pd.Series([], dtype="int64"), "cut_steps": pd.Series([], dtype="int64")})


def _ranking_allocation(cands: Candidates) -> Allocation:
    """The ranking rule as a decision: exact integer computation, no solver (see :func:`ranking_decisions`)."""
    t0 = time.perf_counter()
    decisions = ranking_decisions(cands, cands.params.ranking_variant)
    unmet = tuple(verify_awards(decisions, cands))
    name, version = "aucun", "calcul exact en entiers (règle du classement)"
    if unmet:
        return Allocation(SolveStatus.INFEASIBLE, name, version, None, None, time.perf_counter() - t0, cands, None,
                          TIE_BREAK_RULE, "la règle du classement ne respecte pas les règles : " + " ; ".join(unmet), unmet)
    variant = "on passe au suivant" if cands.params.ranking_variant == "skip" else "on s'arrête au premier qui ne tient pas"
    return Allocation(SolveStatus.OPTIMAL, name, version, 0.0, 0.0, time.perf_counter() - t0, cands, False, TIE_BREAK_RULE,
                      f"règle du classement ({variant})", (), decisions)


def allocate_candidates(cands: Candidates) -> Allocation:
    """Decide on checked candidates with their rule (see :func:`allocate`).

    Ranking rule: computed exactly in integers.  Merit order: locks and
    minimum-count exceptions first (:func:`_merit_with_minimums`), then the
    lexicographic solve.  Optimisation rules: build → solve (lexicographic)
    → read back → verify.
    """
    if cands.rule == "ranking":
        return _ranking_allocation(cands)
    if cands.rule == "merit_order":
        return _merit_with_minimums(cands)
    return _decide_lexicographic(cands)


def _decide_lexicographic(cands: Candidates, *, cross_check: bool = True) -> Allocation:
    """Build → solve (lexicographic) → read back → verify, for the merit order and the optimisation rules.

    Merit order without award cuts: the exact search first (:func:`merit_search`), the MILP when it gives up.
    """
    params = cands.params
    t0 = time.perf_counter()
    if cands.rule == "merit_order" and params.exact_search and len(cands.table):
        decisions = _merit_by_search(cands)
        if decisions is not None:
            violations = verify_awards(decisions, cands)
            if violations:
                raise AllocationError("la recherche exacte donne une décision qui ne respecte pas les règles : " + " ; ".join(violations))
            name, version = "recherche exacte", f"recherche exacte en entiers (ditp-model {_pkg_version('ditp-allocation')})"
            return Allocation(SolveStatus.OPTIMAL, name, version, 0.0, 0.0, time.perf_counter() - t0, cands, None,
                              TIE_BREAK_RULE, f"{SolveStatus.OPTIMAL.label_fr} ({version})", (), decisions)
    if not len(cands.table):  # nothing to decide: the empty portfolio is the optimum
        return Allocation(SolveStatus.OPTIMAL, params.solver, solver_version(params.solver), 0.0, 0.0, 0.0, cands, False,
                          TIE_BREAK_RULE, f"{SolveStatus.OPTIMAL.label_fr} : aucun dossier finançable", (), _empty_decisions())
    # Level 1, then: is the funded set unique?  If so, levels 2 and 3 cannot change it (two solves in all
    # when no award can be cut); otherwise the full lexicographic sequence and the exact tie-break.
    # Merit order without possible exceptions: level 1 is constant, straight to the spend and tie-break levels.
    model = build(cands)
    constant = not len(model.value_expr)
    first = None if constant else solve(model, params.solver, params.time_limit_s)
    seconds = first.seconds if first else 0.0
    alt = True if constant else None
    if first is not None and first.status is SolveStatus.OPTIMAL and params.check_alternatives:
        level1 = read_back(model, cands)
        v_first = portfolio_value(level1, cands)
        status, _, sec = _other_portfolio(cands, set(level1.loc[level1["funded"], "application_id"]), v_first, None)
        seconds += sec
        alt = {SolveStatus.INFEASIBLE: False, SolveStatus.OPTIMAL: True, SolveStatus.FEASIBLE: True}.get(status)
        if alt is None:
            return Allocation(status, first.solver, first.solver_version, None, None, seconds, cands, None, TIE_BREAK_RULE,
                              f"recherche d'autres portefeuilles de même valeur : {status.label_fr} ; aucune décision n'est produite")
    if alt is False and not any(ci is not None for ci in model.c):
        info, v1, decisions = first, first.objective, level1
    else:
        if alt is False:  # unique funded set: only the awards (cuts) remain to settle
            model = build(cands, force=dict(zip(level1["application_id"], level1["funded"].astype(int))))
            first = None
        info, v1, infos = _solve_levels(cands, model, params.solver, params.time_limit_s, tie_level=alt is not False,
                                        first=first)
        seconds += sum(i.seconds for i in infos[1 if first is not None else 0:])
        decisions = read_back(model, cands) if info.status is SolveStatus.OPTIMAL else None
    if info.status is SolveStatus.INFEASIBLE and _known_feasible(cands):
        # Merit order: funding the locked-in applications first, then the ranking rule with skip, is merit-consistent;
        # optimisation rules: funding the locked-in applications at their floor and nothing else respects every rule
        # (checked in integers).  The problem has a solution, so "infeasible" is a solver fault (seen with HiGHS on one
        # draw, with CBC on a national-scale budget): ask the other solver before saying that rules conflict.
        other = "cbc" if params.solver == "highs" else "highs"
        if cross_check:
            retry = _decide_lexicographic(replace(cands, params=replace(params, solver=other)), cross_check=False)
            if retry.is_optimal:
                return replace(retry, message=f"{retry.message} — {solver_version(params.solver)} avait déclaré le problème "
                               "impossible alors qu'une décision respectant les règles existe (défaut du solveur) : "
                               f"décision calculée par {other.upper() if other == 'cbc' else 'HiGHS'}")
            if retry.status is not SolveStatus.INFEASIBLE:
                return retry
        return Allocation(SolveStatus.ERROR, info.solver, info.solver_version, None, None, time.perf_counter() - t0, cands,
                          None, TIE_BREAK_RULE, "les solveurs déclarent impossible une décision qui existe (les dossiers "
                          "imposés tiennent dans l'enveloppe avec les règles) : échec du solveur, aucune décision n'est produite")
    if info.status is SolveStatus.INFEASIBLE:
        conflicts, keys = diagnose_infeasibility(cands, params.solver, params.time_limit_s)
        return Allocation(info.status, info.solver, info.solver_version, None, None, time.perf_counter() - t0, cands,
                          None, TIE_BREAK_RULE, conflicts[0], conflicts[1:], None, keys)
    if info.status is not SolveStatus.OPTIMAL:
        gap = f" (écart {info.mip_gap:.2%})" if info.mip_gap is not None and math.isfinite(info.mip_gap) else ""
        return Allocation(info.status, info.solver, info.solver_version, None, info.mip_gap, seconds, cands, None,
                          TIE_BREAK_RULE, f"{info.status.label_fr}{gap} : aucune décision n'est produite")
    violations = verify_awards(decisions, cands)
    if violations:
        raise AllocationError("la solution du solveur ne respecte pas les règles (vérification en entiers) : " + " ; ".join(violations))
    value_units = portfolio_value(decisions, cands)
    if value_units < round(v1) - 0.5:
        raise AllocationError(f"valeur du portefeuille {value_units} inférieure à l'optimum de premier niveau {v1}")
    if alt:
        decisions, extra = _apply_tie_break(cands, decisions, value_units)
        seconds += extra
    if cands.rule == "merit_order":
        msg = f"{info.status.label_fr} ({info.solver_version})"
        return Allocation(SolveStatus.OPTIMAL, info.solver, info.solver_version, 0.0, info.mip_gap or 0.0,
                          seconds, cands, alt, TIE_BREAK_RULE, msg, (), decisions)
    objective = value_units / cands.score_unit
    msg = f"{info.status.label_fr} ({info.solver_version})"
    if alt:
        msg += " ; d'autres portefeuilles atteignent la même valeur : départagés par la règle " + TIE_BREAK_RULE
    return Allocation(SolveStatus.OPTIMAL, info.solver, info.solver_version, objective, info.mip_gap or 0.0, seconds,
                      cands, alt, TIE_BREAK_RULE, msg, (), decisions)


# --------------------------------------------------------------------------- ranking rule


@dataclass(frozen=True)
class RankingResult:
    """The classic ranking rule's portfolio.

    Attributes
    ----------
    variant : {"skip", "stop"}
    decisions : pandas.DataFrame
        Same layout as :attr:`Allocation.decisions`.
    total_awarded_eur : int
    total_score : float
    unmet_rules : tuple of str
        Portfolio rules the ranking rule does not satisfy (it ignores minimum counts).
    """

    variant: str
    decisions: pd.DataFrame
    total_awarded_eur: int
    total_score: float
    unmet_rules: tuple[str, ...]

    @property
    def funded_ids(self) -> list[str]:
        return self.decisions.loc[self.decisions["funded"], "application_id"].tolist()


def ranking_rule(evaluation: Evaluation, params: AllocationParams | None = None, variant: str = "skip") -> RankingResult:
    """Fund in composite-score order while the envelope lasts.

    Locked-in applications are funded first; locked-out, ineligible and
    unscored ones never.  Then, in tie-break order, each candidate is funded
    at its full (capped) request if it fits in what remains of the envelope
    and in its groups' maximum shares and the maximum number of awards;
    ``variant="skip"`` passes over one that does not fit and goes on,
    ``variant="stop"`` stops at the first that does not fit.

    Returns
    -------
    RankingResult
    """
    if variant not in ("skip", "stop"):
        raise ValueError(f"variante « {variant} » inconnue : skip ou stop")
    params = params or AllocationParams()
    cands = check(evaluation, params)
    decisions = ranking_decisions(cands, variant)
    unmet = tuple(verify_awards(decisions, replace(cands, rule="ranking")))
    t = cands.table
    funded = set(decisions.loc[decisions["funded"], "application_id"])
    score = sum(int(u) for a, u in zip(t["application_id"], t["score_units"]) if a in funded) / cands.score_unit
    return RankingResult(variant, decisions, int(decisions["award_eur"].sum()), score, unmet)


def ranking_decisions(cands: Candidates, variant: str = "skip") -> pd.DataFrame:
    """The ranking rule on checked candidates, in exact integers (see :func:`ranking_rule`).

    Returns
    -------
    pandas.DataFrame
        Same layout as :func:`read_back`: candidates in rank order.
    """
    params = cands.params
    t = cands.table
    remaining = cands.available_eur
    funded = [False] * len(t)
    spent_group: dict[int, int] = {}
    caps = {j: r.cap_eur(cands.available_eur) for j, r in enumerate(params.group_rules) if r.max_share is not None}

    def fits(k: int) -> bool:
        u = int(t.at[k, "upper_eur"])
        if u > remaining:
            return False
        if params.max_awards is not None and sum(funded) >= params.max_awards:
            return False
        for j, cap in caps.items():
            r = params.group_rules[j]
            if t.at[k, r.column] == r.value and spent_group.get(j, 0) + u > cap:
                return False
        return True

    def take(k: int) -> None:
        nonlocal remaining
        u = int(t.at[k, "upper_eur"])
        funded[k] = True
        remaining -= u
        for j in caps:
            r = params.group_rules[j]
            if t.at[k, r.column] == r.value:
                spent_group[j] = spent_group.get(j, 0) + u

    for k in range(len(t)):
        if t.at[k, "locked_in"]:
            take(k)
    for k in range(len(t)):
        if funded[k]:
            continue
        if fits(k):
            take(k)
        elif variant == "stop":
            break
    awards = [int(u) if f else 0 for u, f in zip(t["upper_eur"], funded)]
    return pd.DataFrame({"application_id": t["application_id"], "funded": funded,
                         "award_eur": pd.array(awards, dtype="int64"), "cut_steps": 0})


def fits_together(evaluation, params: AllocationParams, ids) -> bool:
    """Whether the applications `ids` can all be funded at once under the envelope and the rules (scores aside).

    One feasibility solve of the model with ``x_i = 1`` for every id in `ids`
    (cuts allowed as the parameters allow them; locks, group rules and
    maximum number of awards kept).

    Parameters
    ----------
    evaluation : ditp_model.scoring.pipeline.Evaluation
    params : AllocationParams
    ids : iterable of str
        Application ids (candidates).

    Returns
    -------
    bool

    Raises
    ------
    AllocationError
        The solver proves neither feasibility nor infeasibility (French message).
    """
    ids = tuple(ids)
    if not ids:
        return True
    # scores aside: the merit constraints are not part of "fitting together"
    model = build(replace(check(evaluation, params), rule="max_total_score"), force={a: 1 for a in ids})
    info = solve(model, params.solver, params.time_limit_s)
    if info.status is SolveStatus.INFEASIBLE:
        return False
    if info.status is not SolveStatus.OPTIMAL:
        raise AllocationError(f"ces dossiers tiennent-ils ensemble dans l'enveloppe ? {info.status.label_fr}")
    return True


# --------------------------------------------------------------------------- the decision rules, one interface


@dataclass(frozen=True)
class DecisionRule:
    """A decision rule: same call shape for every rule (pabutools' ``rules/`` is the model).

    Every consumer (explanations, uncertainty, members, waves, lottery, panel,
    report, letters, ``verify``) takes the rule through
    :attr:`AllocationParams.rule` and calls :func:`allocate`, never a
    particular objective.

    Attributes
    ----------
    name : str
        Key in :data:`RULES` (recorded in manifests, journals and scenarios).
    label_fr : str
    comparison_only : bool
        True for the optimisation objectives: kept for comparison, never the default.
    """

    name: str
    label_fr: str
    comparison_only: bool = False

    def decide(self, evaluation: Evaluation, params: AllocationParams | None = None) -> Allocation:
        """The decision of this rule on `evaluation` (see :func:`allocate`)."""
        return allocate(evaluation, replace(params or AllocationParams(), rule=self.name))

    def decide_candidates(self, cands: Candidates) -> Allocation:
        """The decision of this rule on checked candidates."""
        return allocate_candidates(replace(cands, rule=self.name))


#: Every decision rule by name; :data:`DEFAULT_RULE` is the default.
RULES = {name: DecisionRule(name, RULE_LABELS_FR[name], name in OPTIMISATION_OBJECTIVES) for name in RULE_NAMES}


def get_rule(name: str | None = None) -> DecisionRule:
    """The rule called `name` (default :data:`DEFAULT_RULE`); ValueError in French for an unknown name."""
    name = name or DEFAULT_RULE
    if name not in RULES:
        raise ValueError(f"règle de décision « {name} » inconnue : {', '.join(RULES)}")
    return RULES[name]
