"""Call rules (appel à projets) loaded from TOML into a validated, immutable `CallRules`.

The TOML layout is documented in ``data/appel_2021.toml``.  A malformed file
raises :class:`~ditp_model.inputs.schema.InputError` naming the file, the key (dotted
path, e.g. ``funding.award_floor_eur``), the value and the value expected.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ditp_model.inputs.rule_names import RULE_NAMES
from ditp_model.inputs.schema import ORG_TYPES, InputError, Problem, date_problem_fr

__all__ = ["CallRules", "Criterion", "Selection", "Authority", "RULE_NAMES", "load_call_rules", "EXPENSE_CATEGORIES",
           "envelope_problem", "weights_sum_problem", "WEIGHTS_SUM_TOLERANCE"]

#: Expense categories (DESIGN.md: eligible expenses) and the catch-all ``other``.
EXPENSE_CATEGORIES = ("intellectual_services", "digital_tools", "innovation_training", "other")

# TOML is typed: a quoted number or a quoted boolean is a mistake to report, not
# to coerce ("5" is not 5), so every scalar field is strict.  Floats accept TOML
# integers (``scale_min = 0``) but not nan / inf.
Euros = Annotated[int, Field(ge=0, strict=True)]
Int = Annotated[int, Field(strict=True)]
Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Bool = Annotated[bool, Field(strict=True)]
Date = Annotated[dt.date, Field(strict=True)]


def envelope_problem(envelope_eur: int) -> str | None:
    """Why an envelope cannot be the envelope of a decision (French), or None.

    The one check of the call file (``funding.envelope_eur``) and of the command line's ``--envelope``: an
    envelope of 0 € funds nothing, and a decision published with it would list no laureate.
    """
    if envelope_eur == 0:
        return ("enveloppe nulle : aucun dossier ne pourrait être financé ; valeur attendue : le montant de l'appel en "
                "euros entiers, strictement positif")
    return None


#: How far from 1 (parts) or 100 (percentages) the weights may sum: 0.001 of the whole, i.e. 0.1 %.
WEIGHTS_SUM_TOLERANCE = 0.001


def weights_sum_problem(weights: dict[str, float], *, percentages: bool = False, labels: dict[str, str] | None = None) -> str | None:
    """Why criterion weights do not add up to the whole (French), or None when they do.

    The one rule of the call file (``criteria.*.weight``) and of ``--weights``: the weights the committee
    votes add up to 100 %.  Parts add up to 1, within :data:`WEIGHTS_SUM_TOLERANCE` (0.5, 0.3, 0.2); with
    ``percentages`` (``--weights`` only) percentages adding up to 100 within 0.1 (50, 30, 20) are accepted
    too.  Weights that add up to anything else (0.6 + 0.3 + 0.2 = 1.1) are refused, never silently rescaled:
    rescaled, a weight of 60 % voted by the committee would become 55 % in the decision and the report.
    All weights zero is a separate error, reported by the caller.

    Parameters
    ----------
    weights : dict
        Criterion name -> weight (≥ 0).
    percentages : bool
        Whether a sum of 100 is accepted (command line and report parameters).
    labels : dict, optional
        Criterion name -> its French label, to name the criteria in the message.
    """
    total = sum(weights.values())
    if total <= 0:
        return None
    wholes = (1.0, 100.0) if percentages else (1.0,)
    if any(abs(total - whole) <= WEIGHTS_SUM_TOLERANCE * whole for whole in wholes):
        return None
    labels = labels or {}

    def num(x: float) -> str:
        return f"{round(x, 6):g}".replace(".", ",")

    terms = " + ".join(f"{labels.get(k, k)} {num(w)}" for k, w in weights.items())
    expected = ("1 (parts, par ex. 0.5, 0.3, 0.2) ou 100 (pourcentages, par ex. 50, 30, 20)" if percentages
                else "1 (parts, par ex. 0.5, 0.3, 0.2)")
    return (f"les pondérations totalisent {num(total)} ({terms}) : elles doivent totaliser {expected}, à 0,1 % près ; "
            "elles ne sont pas ramenées d'office à 100 % (le poids voté par le comité changerait) : corriger la "
            "pondération mal saisie")


class _RuleError(ValueError):
    """A cross-field rule broken: names the key (relative to the model) and its value."""

    def __init__(self, key: str, value: object, message: str):
        super().__init__(message)
        self.key = key
        self.value = value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExtendedCap(_Frozen):
    """Extended cap for large collective bids (DESIGN.md: "more for bids gathering many actors").

    A bid qualifies when it has at least ``min_partners`` partners OR covers at
    least ``min_regions`` regions (lead's region included).  The 2021 call does
    not fix these numbers: the defaults in ``data/appel_2021.toml`` are marked
    as assumptions.
    """

    award_cap_eur: Euros
    min_partners: Int = Field(ge=1)
    min_regions: Int = Field(ge=1)


class Funding(_Frozen):
    """Envelope and award bounds, in whole euros."""

    envelope_eur: Euros
    award_floor_eur: Euros
    award_cap_eur: Euros
    amount_step_eur: int = Field(default=1_000, ge=1, strict=True)
    min_share: Float = Field(default=1.0, gt=0.0, le=1.0)
    extended_cap: ExtendedCap

    @model_validator(mode="after")
    def _bounds(self) -> "Funding":
        from ditp_model.french import format_eur

        problem = envelope_problem(self.envelope_eur)
        if problem:
            raise _RuleError("envelope_eur", self.envelope_eur, problem)
        if self.award_floor_eur > self.award_cap_eur:
            raise _RuleError(
                "award_floor_eur", self.award_floor_eur,
                f"le plancher (award_floor_eur = {format_eur(self.award_floor_eur)}) dépasse le plafond "
                f"(award_cap_eur = {format_eur(self.award_cap_eur)}) : valeur attendue inférieure ou égale à "
                f"{format_eur(self.award_cap_eur)}"
            )
        if self.extended_cap.award_cap_eur < self.award_cap_eur:
            raise _RuleError(
                "extended_cap.award_cap_eur", self.extended_cap.award_cap_eur,
                f"le plafond étendu (extended_cap.award_cap_eur = {format_eur(self.extended_cap.award_cap_eur)}) "
                f"est inférieur au plafond ordinaire (award_cap_eur = {format_eur(self.award_cap_eur)}) : "
                f"valeur attendue supérieure ou égale à {format_eur(self.award_cap_eur)}"
            )
        return self


class Eligibility(_Frozen):
    """Eligibility rules of the call (DESIGN.md: who may apply, eligible expenses)."""

    lead_org_types: tuple[Literal[ORG_TYPES], ...] = Field(min_length=1)  # type: ignore[valid-type]
    local_authority_requires_partner_types: tuple[Literal[ORG_TYPES], ...] = ()  # type: ignore[valid-type]
    eligible_expenses: tuple[Literal[EXPENSE_CATEGORIES[:-1]], ...] = Field(min_length=1)  # type: ignore[valid-type]
    max_ineligible_expense_share: Float = Field(ge=0.0, le=1.0)
    requires_priority_reform: Bool = True
    maturity_levels: tuple[Literal["scoping", "testing", "prototyping", "deployment"], ...] = Field(min_length=1)


class Scoring(_Frozen):
    """Review scale and aggregation settings."""

    scale_min: Float
    scale_max: Float
    #: Minimum number of valid reviews (after exclusions for a declared conflict of interest) for an application to be
    #: scored; an eligible application with fewer is « en attente d'évaluation » (:mod:`ditp_model.rules.held`).
    #: Default 3: Horizon Europe and the ERA-NET calls have each proposal evaluated by at least three independent experts.
    min_reviews: Int = Field(default=3, ge=1)
    #: Correction of severe / lenient reviewers (:mod:`ditp_model.scoring.reviewer_effects`). Default
    #: « reviewer_effects » (additive quality + severity model, least squares): best or level-best in every
    #: configuration of the simulation study benchmarks/RESULTS_normalisation.md, and the only one that stays
    #: accurate when applications are assigned to reviewers by quality (the z-score degrades).
    normalisation: Literal["raw_mean", "reviewer_zscore", "reviewer_effects"] = "reviewer_effects"
    normalisation_min_reviews: Int = Field(default=3, ge=2)
    #: Range of the reviewers' composite grades (points on the scale) from which an application is flagged
    #: « désaccord fort entre évaluateurs » (:func:`ditp_model.scoring.reviewer_effects.review_disagreement`);
    #: None: 30 % of the scale.
    disagreement_range: Float | None = Field(default=None, gt=0.0)

    @model_validator(mode="after")
    def _scale(self) -> "Scoring":
        if not self.scale_max > self.scale_min:
            raise _RuleError("scale_max", self.scale_max,
                             f"scale_max ({self.scale_max:g}) doit être supérieur à scale_min ({self.scale_min:g}) : "
                             f"valeur attendue strictement supérieure à {self.scale_min:g}")
        return self




class Selection(_Frozen):
    """How fundable applications are chosen: the decision rule, quality thresholds, the ex aequo band.

    Attributes
    ----------
    rule : str
        One of :data:`RULE_NAMES`; ``merit_order`` by default (rank above the
        thresholds, cut at the budget line).
    min_score : float
        Overall quality threshold on the composite score (0–100 points); an
        application below it is « non finançable » (Horizon Europe practice:
        10/15 overall).
    min_criterion : dict
        Per-criterion quality thresholds on the review scale (e.g. ``impact =
        2.5`` on 0–5); reviewed criteria only (Horizon Europe: 3/5 per criterion).
    tie_band_points : float or "auto"
        The ex aequo band δ in composite score points: applications whose scores
        differ by less than δ are statistically tied.  ``"auto"``: the median
        standard error of the difference of two composite scores, computed from
        the reviews (:func:`ditp_model.scoring.aggregate.tie_band_from_reviews`).
    reserve_list_size : int or "all"
        Length of the reserve list (« liste complémentaire »): the fundable
        applications not funded, in merit order, to which money freed by a
        withdrawal or a reduction is offered (:mod:`ditp_model.rules.reserve_list`).
        ``"all"`` (or ``"tout"``): every one of them.  Default 10 (HYPOTHÈSE: see
        ``data/appel_2021.toml``).
    """

    rule: Literal[RULE_NAMES] = "merit_order"  # type: ignore[valid-type]
    min_score: Float = Field(default=0.0, ge=0.0, le=100.0)
    min_criterion: dict[str, Float] = Field(default_factory=dict)
    tie_band_points: float | str = 0.0
    reserve_list_size: int | str = 10

    @field_validator("reserve_list_size", mode="before")
    @classmethod
    def _reserve(cls, v):
        if isinstance(v, str) and v.strip().lower() in ("all", "tout"):
            return "all"
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError("la longueur de la liste complémentaire est un nombre entier positif ou nul (par ex. 10), "
                             "ou \"all\" (tous les dossiers finançables non financés)")
        return v

    @field_validator("tie_band_points", mode="before")
    @classmethod
    def _band(cls, v):
        ok = v == "auto" or (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100)
        if not ok:
            raise ValueError("la bande d'ex aequo est un nombre de points entre 0 et 100 (par ex. 0.5), ou \"auto\"")
        return v if v == "auto" else float(v)


#: First words of an authority's name -> its article in « auprès de l'autorité qui a pris la décision : la Direction … ».
_FEMININE = frozenset({"direction", "délégation", "agence", "préfecture", "mission", "commission", "caisse", "inspection"})
_MASCULINE = frozenset({"ministère", "secrétariat", "service", "commissariat", "conseil", "comité", "fonds"})


class Authority(_Frozen):
    """The administration that takes the decision: letterhead of the letters and the appeal route.

    Attributes
    ----------
    name, service, address : str
        As printed on the letterhead (« Direction interministérielle de la transformation publique »…).
    city : str
        Where the letters are signed (« Paris, le 3 décembre 2026 »); empty: no place before the date.
    signatory_title, signatory_name : str
        The signature block of the letters (« Le délégué interministériel à la transformation
        publique », then the name); empty: left blank for the secretariat to fill in Word.
    signatory : str
        Older name of ``signatory_title`` (still read: it fills ``signatory_title`` when that is empty).
    court : str
        The administrative court competent for a « recours contentieux » (code de justice
        administrative, art. R. 421-1: two months from notification; art. R. 421-5: the time
        limit runs only if the notification states it, hence the sentence in every letter).
    """

    name: str
    service: str = ""
    address: str = ""
    city: str = ""
    signatory_title: str = ""
    signatory_name: str = ""
    signatory: str = ""
    court: str = "le tribunal administratif compétent"

    @model_validator(mode="after")
    def _older_signatory(self) -> "Authority":
        if self.signatory and not self.signatory_title:
            object.__setattr__(self, "signatory_title", self.signatory)
        return self

    def appeal_route_fr(self) -> str:
        """« Voies et délais de recours » for a letter (French)."""
        name = self.name
        if not name.lower().startswith(("l'", "l’", "le ", "la ", "les ")):
            first = name.split()[0].lower() if name.split() else ""
            article = "la " if first in _FEMININE else "le " if first in _MASCULINE else ""
            name = f"l'autorité qui a pris la décision : {article}{name}"
        where = name + (f", {self.address}" if self.address else "")
        return (f"Voies et délais de recours : la présente décision peut faire l'objet d'un recours gracieux auprès de "
                f"{where}, et d'un recours contentieux devant {self.court}, dans un délai de deux mois à compter de "
                f"sa notification (code de justice administrative, articles R. 421-1 et R. 421-5).")


class SubCriterion(_Frozen):
    """A sub-criterion scored by reviewers; its review column is ``<criterion>_<name>``."""

    name: str
    label: str


class Criterion(_Frozen):
    """A weighted criterion: reviewed (with sub-criteria) or computed from the data.

    The only computed criterion is ``collective`` (index in 0–1 from partners,
    regions and kinds of organisation, see :func:`ditp_model.scoring.aggregate.collective_index`).
    """

    name: str
    label: str
    description: str = ""
    weight: Float = Field(ge=0.0)
    source: Literal["reviews", "computed"]
    subcriteria: tuple[SubCriterion, ...] = ()
    partners_full: Int | None = Field(default=None, ge=1)
    regions_full: Int | None = Field(default=None, ge=2)
    org_types_full: Int | None = Field(default=None, ge=2)

    @field_validator("subcriteria", mode="before")
    @classmethod
    def _subs(cls, v):
        if isinstance(v, dict):
            return tuple({"name": k, "label": lab} for k, lab in v.items())
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Criterion":
        if self.source == "reviews" and not self.subcriteria:
            raise _RuleError("subcriteria", None,
                             f"le critère « {self.name} » est noté par les évaluateurs : il lui faut des sous-critères (subcriteria)")
        if self.source == "computed":
            if self.name != "collective":
                raise _RuleError("source", self.source,
                                 f"seul le critère « collective » peut être calculé (source = \"computed\"), pas « {self.name} » : "
                                 "valeur attendue \"reviews\"")
            missing = [k for k in ("partners_full", "regions_full", "org_types_full") if getattr(self, k) is None]
            if missing:
                raise _RuleError(missing[0], None,
                                 f"le critère « collective » demande partners_full, regions_full et org_types_full "
                                 f"(absent : {', '.join(missing)}) : un nombre entier est attendu")
        return self

    @property
    def review_columns(self) -> tuple[str, ...]:
        """Review table columns of this criterion's sub-criteria."""
        return tuple(f"{self.name}_{s.name}" for s in self.subcriteria)


class CallInfo(_Frozen):
    """Name, year, opening date and deadline (inclusive) of the call; the opening may not follow the deadline."""

    name: str
    year: Int
    opened: Date | None = None
    deadline: Date
    currency: Literal["EUR"] = "EUR"

    @model_validator(mode="after")
    def _calendar(self) -> "CallInfo":
        if self.opened is not None and self.deadline < self.opened:
            raise _RuleError("deadline", self.deadline.isoformat(),
                             f"la date limite ({self.deadline:%d/%m/%Y}) précède l'ouverture de l'appel "
                             f"(opened = {self.opened:%d/%m/%Y}) : valeur attendue le {self.opened:%d/%m/%Y} ou après")
        return self


class Lists(_Frozen):
    regions: tuple[str, ...] = Field(min_length=1)
    priority_reforms: tuple[str, ...] = ()


class CallRules(_Frozen):
    """Validated, immutable rules of one call for applications.

    Build it with :func:`load_call_rules`; derive a variant with
    ``rules.model_copy(update=...)`` (the original is never mutated) or with
    :meth:`with_funding`.

    Attributes
    ----------
    call : CallInfo
        Name, year, opening date, deadline (inclusive); a deadline before the
        opening is refused.
    funding : Funding
        Envelope (strictly positive), floor, cap, extended cap, amount step,
        min share (euros).
    eligibility : Eligibility
    scoring : Scoring
    criteria : tuple of Criterion
        In file order; weights are the call's default weights.
    lists : Lists
        Regions and priority reforms accepted in applications.
    selection : Selection
        Decision rule, quality thresholds and ex aequo band (table ``[selection]``).
    authority : Authority or None
        The administration that decides (table ``[authority]``): letterhead and appeal route.
    source : str
        Path the rules were read from ("" when built in code).
    """

    call: CallInfo
    funding: Funding
    eligibility: Eligibility
    scoring: Scoring
    criteria: tuple[Criterion, ...] = Field(min_length=1)
    lists: Lists
    selection: Selection = Field(default_factory=Selection)
    authority: Authority | None = None
    source: str = ""

    def appeal_route_fr(self) -> str:
        """The appeal route of a letter: the authority's, or the generic sentence when the call names none."""
        return (self.authority or Authority(name="l'autorité qui a pris la décision")).appeal_route_fr()

    @field_validator("criteria", mode="before")
    @classmethod
    def _criteria(cls, v):
        if isinstance(v, dict):
            for k, c in v.items():
                if not isinstance(c, dict):
                    raise _RuleError(k, c, f"une table [criteria.{k}] (label, weight, source…) est attendue")
            return tuple({"name": k, **c} for k, c in v.items())
        return v

    @model_validator(mode="after")
    def _thresholds(self) -> "CallRules":
        lo, hi = self.scoring.scale_min, self.scoring.scale_max
        reviewed = [c.name for c in self.criteria if c.source == "reviews"]
        problems = []
        for name, value in self.selection.min_criterion.items():
            crit = next((c for c in self.criteria if c.name == name), None)
            if crit is None:
                problems.append(f"« {name} » = {value:g} : critère inconnu (critères notés : {', '.join(reviewed)})")
            elif crit.source != "reviews":
                problems.append(f"« {name} » = {value:g} : critère calculé, pas noté ; un seuil ne porte que sur un critère "
                                f"noté par les évaluateurs ({', '.join(reviewed)})")
            elif not lo <= value <= hi:
                problems.append(f"« {name} » = {value:g} : hors de l'échelle de notation, valeur attendue entre {lo:g} et {hi:g}")
        if problems:
            raise _RuleError("selection.min_criterion", dict(self.selection.min_criterion),
                             "seuils par critère invalides : " + " ; ".join(problems))
        return self

    @model_validator(mode="after")
    def _weights(self) -> "CallRules":
        keys = ", ".join(f"criteria.{c.name}.weight" for c in self.criteria)
        if sum(c.weight for c in self.criteria) <= 0:
            raise _RuleError("criteria.*.weight", 0,
                             f"les pondérations par défaut des critères ({keys}) sont toutes nulles : "
                             "au moins une pondération strictement positive est attendue")
        problem = weights_sum_problem({c.name: c.weight for c in self.criteria})
        if problem:
            raise _RuleError("criteria.*.weight", round(sum(c.weight for c in self.criteria), 6), f"{problem} ({keys})")
        return self

    # Convenience accessors with the glossary names (DESIGN.md).
    @property
    def envelope_eur(self) -> int:
        """Envelope of the call, euros."""
        return self.funding.envelope_eur

    @property
    def award_floor_eur(self) -> int:
        """Award floor per application, euros."""
        return self.funding.award_floor_eur

    @property
    def award_cap_eur(self) -> int:
        """Ordinary award cap per application, euros."""
        return self.funding.award_cap_eur

    @property
    def deadline(self) -> dt.date:
        """Submission deadline (inclusive)."""
        return self.call.deadline

    @property
    def criterion_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.criteria)

    def criterion(self, name: str) -> Criterion:
        """The criterion called `name` (KeyError if absent)."""
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def review_columns(self) -> tuple[str, ...]:
        """All review score columns, ``<criterion>_<subcriterion>``, in file order."""
        return tuple(col for c in self.criteria for col in c.review_columns)

    def with_funding(self, **changes) -> "CallRules":
        """A copy with some funding parameters changed (validated again).

        Examples
        --------
        >>> rules2 = rules.with_funding(envelope_eur=2_500_000)  # doctest: +SKIP
        """
        data = self.model_dump()
        data["funding"].update(changes)
        return CallRules.model_validate(data)


_FR_TYPES = {
    "missing": "clé obligatoire absente",
    "extra_forbidden": "clé inconnue (faute de frappe ?)",
    "int_type": "un nombre entier est attendu (sans décimales ni guillemets)",
    "int_parsing": "un nombre entier est attendu",
    "int_from_float": "un nombre entier est attendu (euros entiers)",
    "float_type": "un nombre est attendu",
    "float_parsing": "un nombre est attendu",
    "bool_type": "true ou false est attendu",
    "string_type": "un texte entre guillemets est attendu",
    "date_type": "une date AAAA-MM-JJ est attendue",
    "date_from_datetime_parsing": "une date AAAA-MM-JJ est attendue",
    "tuple_type": "une liste [..] est attendue",
    "too_short": "la liste ne doit pas être vide",
    "finite_number": "un nombre fini est attendu (ni nan ni inf)",
    "model_type": "une table [..] est attendue",
    "model_attributes_type": "une table [..] est attendue",
    "dict_type": "une table [..] est attendue",
}


def _bound_fr(x, key: str) -> str:
    """A bound of a range check in French: euros for an amount key (« 0 € »), else a decimal comma (« 0,5 », « 100 »)."""
    if key.endswith("_eur") and isinstance(x, (int, float)) and float(x).is_integer():
        from ditp_model.french import format_eur

        return format_eur(int(x))
    return f"{x:g}".replace(".", ",") if isinstance(x, (int, float)) else str(x)


def _french(err: dict, key: str = "") -> str:
    """A pydantic error on key `key` of the call file, in French: bounds written the French way (« ≥ 0 »,
    « 120 000 € »), the allowed values without Python quotes, an impossible date named."""
    t = err["type"]
    ctx = err.get("ctx", {})
    if t == "greater_than_equal":
        return f"la valeur doit être supérieure ou égale à {_bound_fr(ctx.get('ge'), key)} (≥ {_bound_fr(ctx.get('ge'), key)})"
    if t == "greater_than":
        return f"la valeur doit être strictement supérieure à {_bound_fr(ctx.get('gt'), key)} (> {_bound_fr(ctx.get('gt'), key)})"
    if t == "less_than_equal":
        return f"la valeur doit être inférieure ou égale à {_bound_fr(ctx.get('le'), key)} (≤ {_bound_fr(ctx.get('le'), key)})"
    if t == "literal_error":
        allowed = [x.strip().strip("'\"") for x in str(ctx.get("expected", "")).replace(" or ", ", ").split(",") if x.strip()]
        shown = ", ".join(allowed[:-1]) + f" ou {allowed[-1]}" if len(allowed) > 1 else "".join(allowed)
        return f"valeur attendue : une valeur parmi {shown}"
    if t == "value_error":
        return str(ctx.get("error", err["msg"]))
    if t == "date_type" and isinstance(err.get("input"), str):
        impossible = date_problem_fr(err["input"])
        if impossible:
            return impossible
        return "une date AAAA-MM-JJ est attendue, sans guillemets (par ex. deadline = 2021-10-15)"
    return _FR_TYPES.get(t, err["msg"])


#: tomllib's messages (Python 3.11–3.13) -> French; the first group of a pattern is shown in the French message.
_TOML_FR = (
    (r"Invalid date or datetime", "date ou heure impossible : écrire la date AAAA-MM-JJ (par ex. 2021-10-15)"),
    (r"Expected newline or end of document after a statement",
     "texte inattendu après la valeur : une seule clé = valeur par ligne ; un commentaire commence par # ; un texte qui "
     "contient des guillemets s'écrit entre apostrophes ('…') ou avec \\\" à la place de chaque guillemet"),
    (r"Invalid value", "valeur illisible : un texte s'écrit entre guillemets (\"…\"), un nombre sans guillemets avec un "
                       "point décimal (0.5), une date AAAA-MM-JJ, un booléen true ou false, une liste entre [ ]"),
    (r"Unterminated string|Illegal character '\\n'", "texte non fermé : fermer le guillemet sur la même ligne"),
    (r"Unclosed array", "liste non fermée : « ] » attendu (valeurs séparées par des virgules)"),
    (r"Unclosed inline table", "table non fermée : « } » attendu (clé = valeur séparées par des virgules, sur une ligne)"),
    (r"Expected '=' after a key in a key/value pair", "signe « = » attendu après le nom de la clé (clé = valeur)"),
    (r"Invalid initial character for a key part",
     "nom de clé invalide : lettres sans accent, chiffres, « _ » ou « - » (ou un nom entre guillemets)"),
    (r"Expected '\]' at the end of a table declaration", "« ] » attendu à la fin du nom de table ([nom])"),
    (r"Expected '\]\]' at the end of an array declaration", "« ]] » attendu à la fin du nom de table ([[nom]])"),
    (r"Cannot declare (.+) twice", "table « {0} » déclarée deux fois : n'en garder qu'une"),
    (r"Cannot overwrite a value", "clé déjà définie plus haut : n'en garder qu'une"),
    (r"Cannot (?:mutate immutable namespace|redefine namespace) (.+)", "table « {0} » déjà définie : n'en garder qu'une"),
    (r"Duplicate inline table key (.+)", "clé « {0} » en double dans la table : n'en garder qu'une"),
    (r"Unescaped '\\' in a string",
     "barre oblique inverse « \\ » dans un texte entre guillemets : l'écrire « \\\\ », ou mettre le texte entre "
     "apostrophes ('C:\\dossier')"),
    (r"Invalid hex value|Escaped character is not a Unicode scalar value", "code de caractère \\u… invalide dans un texte"),
    (r"Illegal character (.+)", "caractère de contrôle « {0} » interdit dans un texte : le supprimer"),
    (r"Invalid statement", "ligne illisible : attendu clé = valeur, [table] ou un commentaire commençant par #"),
    (r"Found invalid character (.+)", "caractère « {0} » inattendu"),
    (r"Expected (.+)", "« {0} » attendu"),
)
_TOML_AT_RE = re.compile(r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$", re.S)


def _toml_problem(path: str, text: str, exc: tomllib.TOMLDecodeError) -> Problem:
    """A TOML syntax error in French, with its line and column (« ligne 12 — colonne 12 : date impossible : … »)."""
    m = _TOML_AT_RE.match(str(exc))
    english = m.group("msg") if m else str(exc)
    line = int(m.group("line")) if m and m.group("line") else None
    col = int(m.group("col")) if m and m.group("col") else None
    rule = f"fichier TOML mal formé ({english})"
    for pattern, french in _TOML_FR:
        found = re.fullmatch(pattern, english)
        if found:  # tomllib quotes what it names the Python way ('='): shown between « » instead
            rule = french.format(*(g.strip("'\"") for g in found.groups()))
            break
    source = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
    # A value written as a date whose day does not exist (2021-02-31; 2021-13-01, which tomllib reads as the
    # number 2021 followed by text): name the day, at the column where the value starts.
    written = re.match(r"(\s*[A-Za-z0-9_.\"'-]+\s*=\s*)(\d{4}-\d{1,2}-\d{1,2})(?![\d-])", source)
    impossible = date_problem_fr(written.group(2)) if written else None
    if impossible:
        rule, col = impossible, len(written.group(1)) + 1
    where = f"colonne {col} : " if col else ("fin du fichier : " if m else "")
    shown = f" ; ligne lue : {source.strip()}" if source.strip() else ""
    return Problem(path, line, None, None, f"{where}{rule}{shown}", "bad_toml")


def _encoding_problem(path: str, raw: bytes, exc: UnicodeDecodeError) -> Problem:
    """The call file is not UTF-8 (often Windows-1252, Notepad's « ANSI »): one French message saying how to fix it."""
    start = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
    line = raw.count(b"\n", 0, start) + 1
    char = raw[start:start + 1].decode("cp1252", errors="replace")
    return Problem(path, line, None, None,
                   f"fichier des règles de l'appel pas en UTF-8 (octet {raw[start]:#04x}, « {char} » en Windows-1252 : "
                   "enregistré en « ANSI » par le Bloc-notes ?) ; enregistrer le fichier en UTF-8 (Bloc-notes : "
                   "Fichier > Enregistrer sous, Encodage « UTF-8 »)", "encoding")


def _key_path(loc: tuple, data: dict) -> str:
    parts: list[str] = []
    node: object = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, dict):
            # A TOML table turned into a tuple (criteria, subcriteria): show its key, not an index.
            key = list(node.keys())[item] if item < len(node) else str(item)
            parts.append(key)
            node = node.get(key, {})
            continue
        if isinstance(item, int):
            if parts:
                parts[-1] = f"{parts[-1]}[{item}]"
            else:
                parts.append(f"[{item}]")
            node = node[item] if isinstance(node, (list, tuple)) and item < len(node) else {}
            continue
        if not isinstance(node, dict):
            # A field synthesised from a scalar (a sub-criterion's label): the key is the scalar's own.
            continue
        parts.append(str(item))
        node = node.get(item, {})
    return ".".join(parts)


def load_call_rules(path: str | Path) -> CallRules:
    """Read and validate the call rules TOML file.

    Parameters
    ----------
    path : str or Path
        TOML file laid out as ``data/appel_2021.toml``.

    Returns
    -------
    CallRules
        Frozen, validated rules; ``source`` holds the path.

    Raises
    ------
    InputError
        File missing; not UTF-8 (one message: the line, the byte, « enregistrer le fichier en UTF-8 »;
        the call file is not read as Windows-1252 like the spreadsheets, because its text goes into
        the letters and the report as written); not TOML (French, with the line and the column; an
        impossible date named: « le 31 février 2021 n'existe pas »); or every key with a bad or missing
        value, named by its dotted path with the value expected (bounds the French way, « ≥ 0 »,
        « 120 000 € »), weights that do not add up to 1 (:func:`weights_sum_problem`).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError(Problem(str(p), None, None, None,
                                 f"fichier introuvable : {p} (règles de l'appel) ; vérifier le chemin", "unreadable")) from None
    except OSError as exc:
        raise InputError(Problem(str(p), None, None, None, f"fichier des règles de l'appel illisible : {exc.strerror}", "unreadable")) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(_encoding_problem(str(p), raw, exc)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(_toml_problem(str(p), text, exc)) from None
    try:
        return CallRules.model_validate({**data, "source": str(p)})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = _key_path(err["loc"], data)
            value = err.get("input") if err["type"] != "missing" else None
            rule_error = err.get("ctx", {}).get("error")
            if isinstance(rule_error, _RuleError):
                key = ".".join(k for k in (key, rule_error.key) if k)
                value = rule_error.value
            key = key or "(racine)"
            if isinstance(value, dict):
                value = None
            problems.append(Problem(str(p), None, key, value, _french(err, key), f"toml_{err['type']}"))
        raise InputError(problems) from None
