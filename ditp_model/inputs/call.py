"""Call rules (appel à projets) loaded from TOML into a validated, immutable `CallRules`.

The TOML layout is documented in ``data/appel_2021.toml``.  A malformed file
raises :class:`~ditp_model.inputs.schema.InputError` naming the file, the key (dotted
path, e.g. ``funding.award_floor_eur``), the value and the value expected.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ditp_model.inputs.rule_names import RULE_NAMES
from ditp_model.inputs.schema import ORG_TYPES, InputError, Problem

__all__ = ["CallRules", "Criterion", "Selection", "Authority", "RULE_NAMES", "load_call_rules", "EXPENSE_CATEGORIES"]

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
        if self.envelope_eur == 0:
            raise _RuleError("envelope_eur", 0, "enveloppe nulle : aucun dossier ne pourrait être financé ; "
                                                "valeur attendue : le montant de l'appel en euros entiers, strictement positif")
        if self.award_floor_eur > self.award_cap_eur:
            raise _RuleError(
                "award_floor_eur", self.award_floor_eur,
                f"le plancher (award_floor_eur = {self.award_floor_eur}) dépasse le plafond "
                f"(award_cap_eur = {self.award_cap_eur}) : valeur attendue inférieure ou égale à {self.award_cap_eur}"
            )
        if self.extended_cap.award_cap_eur < self.award_cap_eur:
            raise _RuleError(
                "extended_cap.award_cap_eur", self.extended_cap.award_cap_eur,
                f"le plafond étendu (extended_cap.award_cap_eur = {self.extended_cap.award_cap_eur}) "
                f"est inférieur au plafond ordinaire (award_cap_eur = {self.award_cap_eur}) : "
                f"valeur attendue supérieure ou égale à {self.award_cap_eur}"
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
        if sum(c.weight for c in self.criteria) <= 0:
            keys = ", ".join(f"criteria.{c.name}.weight" for c in self.criteria)
            raise _RuleError("criteria.*.weight", 0,
                             f"les pondérations par défaut des critères ({keys}) sont toutes nulles : "
                             "au moins une pondération strictement positive est attendue")
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


def _french(err: dict) -> str:
    t = err["type"]
    ctx = err.get("ctx", {})
    if t in ("greater_than_equal",):
        return f"la valeur doit être supérieure ou égale à {ctx.get('ge')}"
    if t == "greater_than":
        return f"la valeur doit être strictement supérieure à {ctx.get('gt')}"
    if t == "less_than_equal":
        return f"la valeur doit être inférieure ou égale à {ctx.get('le')}"
    if t == "literal_error":
        return f"valeur attendue parmi {str(ctx.get('expected')).replace(' or ', ' ou ')}"
    if t == "value_error":
        return str(ctx.get("error", err["msg"]))
    return _FR_TYPES.get(t, err["msg"])


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
        File missing or not TOML (with the line), or every key with a bad or
        missing value, named by its dotted path with the value expected.
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
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(Problem(str(p), None, None, None, f"TOML mal formé : {exc}", "bad_toml")) from None
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
            problems.append(Problem(str(p), None, key, value, _french(err), f"toml_{err['type']}"))
        raise InputError(problems) from None
