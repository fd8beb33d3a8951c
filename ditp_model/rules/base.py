"""What every decision rule shares: its parameters, its checked input and its result.

The rules themselves live one per module (pabutools' ``rules/`` package is the
model: every rule has the same signature, ``Candidates -> Allocation``):
:mod:`~ditp_model.rules.merit_order`, :mod:`~ditp_model.rules.ranking`,
:mod:`~ditp_model.rules.optimise`; :mod:`~ditp_model.rules.allocation` names
them (:data:`~ditp_model.rules.allocation.RULES`, ``get_rule``) and is the
entry point callers use (``allocate``).

Here: the names of the rules and their French labels (:data:`DEFAULT_RULE`
is the default, named in one place), the solver status, the errors, a
portfolio rule on a group (:class:`GroupRule`), the parameters of one decision
(:class:`AllocationParams`), the checked candidates (:class:`Candidates`, built
by :mod:`~ditp_model.rules.candidates`), one solve's facts (:class:`SolveInfo`)
and the result (:class:`Allocation`, with its named departures from merit
order, :class:`MeritException`).  Amounts are whole euros (int); scores are
composite points, and score units (int) are points × 10**SCORE_DECIMALS.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

import pandas as pd

from ditp_model.french import format_eur, format_number
from ditp_model.inputs.call import RULE_NAMES
from ditp_model.inputs.schema import MATURITY_LABELS_FR, ORG_TYPE_LABELS_FR
from ditp_model.scoring.aggregate import SCORE_DECIMALS, TIE_BREAK_RULE_FR


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
#: How a decision rule settles a tie after the rank order: the money spent first (merit order: between ex aequo
#: applications; optimisation rules: between portfolios of equal value); the ranking rule funds in rank order.
SPEND_FIRST_FR = "le montant dépensé (la sélection qui utilise le mieux l'enveloppe)"


def tie_break_fr(rule: str | None = None) -> str:
    """The tie-break of a decision rule in French, one text everywhere (report, annex, workbook, letters, trial 1 item 14).

    « le montant dépensé (la sélection qui utilise le mieux l'enveloppe), puis la note la plus élevée, puis le
    dépôt le plus ancien, puis l'identifiant (ordre alphabétique) » for the merit order (between ex aequo
    applications, DESIGN.md "The decision rules") and the optimisation rules (level 2, then the named rule);
    the rank order alone (:data:`~ditp_model.scoring.aggregate.TIE_BREAK_RULE_FR`) for the ranking rule.
    A phrase without a capital or a final full stop, to follow « départagés par » or « Règle de départage : ».
    """
    rule = rule or DEFAULT_RULE
    return TIE_BREAK_RULE_FR if rule == "ranking" else f"{SPEND_FIRST_FR}, puis {TIE_BREAK_RULE_FR}"


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

    def group_fr(self) -> str:
        """``Région « Île-de-France »``: the group, French names of its column and value."""
        value = self.value
        if self.column == "lead_org_type":
            value = ORG_TYPE_LABELS_FR.get(value, value)
        elif self.column == "maturity":
            value = MATURITY_LABELS_FR.get(value, value)
        return f"{GROUP_COLUMN_LABELS_FR[self.column]} « {value} »"

    def share_fr(self) -> str:
        """``25 %``: the maximum share in per cent (one decimal when needed); "" without a maximum share."""
        if self.max_share is None:
            return ""
        pct = 100 * self.max_share
        return f"{format_number(pct, 0 if abs(pct - round(pct)) < 1e-9 else 1)} %"

    def label_fr(self) -> str:
        """``Région « Île-de-France » : au plus 40 % de l'enveloppe`` (French names of columns and values)."""
        parts = []
        if self.min_count is not None:
            parts.append(f"au moins {self.min_count} lauréat{'s' if self.min_count > 1 else ''}")
        if self.max_share is not None:
            parts.append(f"au plus {self.share_fr()} de l'enveloppe")
        return f"{self.group_fr()} : " + " et ".join(parts)

    def cap_reached_fr(self, spent_eur: int, available_eur: int) -> str:
        """The cause of a departure by this maximum share, with its figures (whole euros).

        « plafond de 25 % de l'enveloppe pour Région « Île-de-France » atteint : 545 000 € attribués à ce groupe sur
        2 200 000 € disponibles (plafond : 550 000 €) ».
        """
        return (f"plafond de {self.share_fr()} de l'enveloppe pour {self.group_fr()} atteint : {format_eur(spent_eur)} "
                f"attribués à ce groupe sur {format_eur(available_eur)} disponibles (plafond : "
                f"{format_eur(self.cap_eur(available_eur))})")

    def share_full_at_turn_fr(self, spent_eur: int, need_eur: int, available_eur: int) -> str:
        """Why one application of the group does not fit at its turn (whole euros).

        « la part maximale de l'enveloppe pour Région « Île-de-France » (25 %, soit 550 000 €) était atteinte quand son
        tour est venu : 470 000 € déjà attribués à ce groupe, il fallait 120 000 € de plus ».
        """
        return (f"la part maximale de l'enveloppe pour {self.group_fr()} ({self.share_fr()}, soit "
                f"{format_eur(self.cap_eur(available_eur))}) était atteinte quand son tour est venu : {format_eur(spent_eur)} "
                f"déjà attribués à ce groupe, il fallait {format_eur(need_eur)} de plus")


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
        The decision rule (:data:`~ditp_model.rules.allocation.RULES`): ``merit_order`` (default: merit order
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
        :func:`~ditp_model.rules.merit_search.merit_search` (no solver; proven, the same decision as the
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

    def portfolio_rules_fr(self, available_eur: int | None = None) -> str:
        """Every portfolio rule and the maximum number of awards, in French; « aucune » when there is none.

        « Région « Bretagne » : au moins 1 lauréat ; Région « Île-de-France » : au plus 25 % de l'enveloppe
        (550 000 €) ; au plus 27 lauréats ».  With `available_eur` (whole euros), each cap is given in euros.
        """
        parts = []
        for r in self.group_rules:
            text = r.label_fr()
            if r.max_share is not None and available_eur is not None:
                text += f" ({format_eur(r.cap_eur(available_eur))})"
            parts.append(text)
        if self.max_awards is not None:
            parts.append(f"au plus {self.max_awards} lauréat{'s' if self.max_awards > 1 else ''} au total")
        return " ; ".join(parts) if parts else "aucune"

    def missing_lock_reasons(self) -> list[str]:
        """Locked ids (in, then out, sorted) without a written reason: a final decision refuses them."""
        given = dict(self.lock_reasons)
        return [a for a in sorted(self.lock_in) + sorted(self.lock_out) if a not in given]


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


@dataclass(frozen=True)
class SolveInfo:
    """Status and solver facts of one solve."""

    status: SolveStatus
    solver: str
    solver_version: str
    objective: float | None
    mip_gap: float | None
    seconds: float


@dataclass(frozen=True)
class Allocation:
    """Result of :func:`~ditp_model.rules.allocation.allocate`: status first; awards only for a proven optimum.

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
        The same rules' machine keys (see :func:`~ditp_model.rules.milp.diagnose_infeasibility`).
    exceptions : tuple of MeritException
        Merit order only: each laureate funded before better-ranked
        applications because of a lock or a minimum-count rule
        (``kind="first"``), and each application a maximum share held out
        while lower-ranked ones are funded (``kind="held_out"``), with the
        applications concerned and the cause.
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
        """The decision rule that produced this decision (:data:`~ditp_model.rules.allocation.RULES`)."""
        return self.candidates.rule

    @property
    def rule_label_fr(self) -> str:
        return RULE_LABELS_FR[self.candidates.rule]

    @property
    def is_optimal(self) -> bool:
        return self.status is SolveStatus.OPTIMAL

    @property
    def decisions(self) -> pd.DataFrame:
        """Funded flag and award per candidate (see :func:`~ditp_model.rules.milp.read_back`).

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


@dataclass(frozen=True)
class MeritException:
    """A departure from merit order, named with its cause.

    Two kinds (DESIGN.md, "The decision rules": each departure is named with its cause):

    * ``"first"`` — a laureate funded before better-ranked applications: locked
      in by the committee, or funded first to meet a minimum-count rule;
    * ``"held_out"`` — better-ranked applications left unfunded by a
      maximum-share rule or the maximum number of awards while applications
      ranked more than δ below them are funded (each of them would have a
      valid complaint under merit order without that rule).

    Attributes
    ----------
    funded : str
        Kind ``"first"``: the laureate funded out of merit order.  Kind
        ``"held_out"``: "" (see `funded_instead`).
    passed_over : tuple of str
        Better-ranked applications (by more than δ) that this decision leaves
        unfunded (rank order).  Kind ``"first"``: those merit order alone would
        have funded; kind ``"held_out"``: those the rule held out.
    cause : str
        French: the lock, or the rule and its figures (« plafond de 25 % de
        l'enveloppe pour Région « Île-de-France » atteint : 545 000 € attribués
        sur 2 200 000 € disponibles (plafond 550 000 €) »).
    kind : {"first", "held_out"}
    funded_instead : tuple of str
        Kind ``"held_out"``: laureates ranked more than δ below a held-out
        application that merit order without locks or portfolio rules would not
        fund (rank order; empty when that baseline could not be computed).
    """

    funded: str
    passed_over: tuple[str, ...]
    cause: str
    kind: str = "first"
    funded_instead: tuple[str, ...] = ()

    @property
    def held_out(self) -> bool:
        """True for a departure by a maximum-share rule or the maximum number of awards."""
        return self.kind == "held_out"

    @property
    def laureates(self) -> tuple[str, ...]:
        """The laureates this departure funds out of merit order: `funded`, or `funded_instead`."""
        return self.funded_instead if self.held_out else (self.funded,)

    def sentence_fr(self) -> str:
        """« P080 financé avant P044 : règle « Région « Bretagne » : au moins 1 lauréat » », or for a held-out kind
        « P062, P068 non financés malgré leur rang : plafond … ; financés plus bas dans le classement : P098, P002 »."""
        if self.held_out:
            one = len(self.passed_over) == 1
            text = (f"{', '.join(self.passed_over)} non financé{'' if one else 's'} malgré {'son' if one else 'leur'} rang : "
                    f"{self.cause}")
            if self.funded_instead:
                text += f" ; financés plus bas dans le classement : {', '.join(self.funded_instead)}"
            return text
        return f"{self.funded} financé avant {', '.join(self.passed_over)} : {self.cause}"


def _empty_decisions() -> pd.DataFrame:
    return pd.DataFrame({"application_id": pd.Series([], dtype=object), "funded": pd.Series([], dtype=bool),
                         "award_eur": pd.Series([], dtype="int64"), "cut_steps": pd.Series([], dtype="int64")})
