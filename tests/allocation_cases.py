"""Small allocation cases built in code, and an exact brute-force checker.

:func:`make_evaluation` builds an :class:`~ditp_model.scoring.pipeline.Evaluation`
directly (no file, no review): the call's rules from ``data/appel_2021.toml``
(optionally with other funding values), an applications table with the
canonical columns of :data:`ditp_model.inputs.schema.APPLICATION_COLUMNS`, an
eligibility table and a hand-made scores table holding the columns the
allocation reads (``score``, ``scored``, ``score_flag``, ``large_collective``,
``award_cap_eur``...).  The composite score of each project is given
directly, in points.

:func:`brute_force` enumerates every subset of candidates (no cut:
``min_share = 1``) and returns the lexicographic optimum (value, then money
spent) computed in integers, without any solver and without the package's
own candidate table.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

from ditp_model.inputs.call import CallRules, Selection, load_call_rules
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.scoring.aggregate import Weights

ROOT = Path(__file__).resolve().parents[1]
RULES_PATH = ROOT / "data" / "appel_2021.toml"

#: Score unit used for exact comparison: points × 10**4 (four decimals).
UNITS = 10_000

REGIONS = ("Bretagne", "Corse", "Normandie")
MATURITIES = ("testing", "deployment")


@functools.lru_cache(maxsize=1)
def base_rules() -> CallRules:
    """The 2021 call's rules (envelope 3 M€, floor 70 k€, cap 120 k€, extended cap 200 k€, step 1 k€).

    Hand cases give composite scores directly (no criterion scores), so the
    sample's quality thresholds and ex aequo band are left out here: the
    default ``[selection]`` (merit order, no threshold, δ = 0).  Tests of
    thresholds and δ set them explicitly.
    """
    return load_call_rules(RULES_PATH).model_copy(update={"selection": Selection()})


def rules_with(**funding) -> CallRules:
    """The 2021 rules with some funding values changed (``envelope_eur=300_000``...).

    A call's envelope must be positive (a 0 € call is refused): generated
    cases that draw 0 get 1 €, which funds nothing either (every floor is
    above it), so the case keeps its meaning.
    """
    if funding.get("envelope_eur") == 0:
        funding = {**funding, "envelope_eur": 1}
    return base_rules().with_funding(**funding) if funding else base_rules()


#: The optimisation rule of each objective name used by the brute force.
RULE_OF_OBJECTIVE = {"total_score": "max_total_score", "score_weighted_award": "max_score_weighted_award"}


def Opt(**kw):
    """AllocationParams for the tests of the optimisation rules: ``max_total_score`` unless a rule (or objective) is named.

    test_allocation.py and test_explain.py check the optimisation models kept
    for comparison; the merit order, the default, is checked in test_merit_order.py.
    """
    from ditp_model.rules.allocation import AllocationParams

    if "objective" in kw:
        kw["rule"] = RULE_OF_OBJECTIVE[kw.pop("objective")]
    kw.setdefault("rule", "max_total_score")
    return AllocationParams(**kw)


@dataclass(frozen=True)
class Project:
    """One application of a hand-made case.

    ``score`` is the composite score in points (``None``: not scored, too few
    reviews); ``submitted`` an ISO date; ``large`` marks a large collective
    bid (extended cap).
    """

    id: str
    score: float | None
    requested: int
    submitted: str = "2021-10-01"
    large: bool = False
    eligible: bool = True
    region: str = "Bretagne"
    maturity: str = "testing"
    lead_org_type: str = "ministry"
    priority_reform: str = "France Services"
    title: str | None = None


def units(score: float) -> int:
    """Score points -> integer units (exact comparison)."""
    return int(round(score * UNITS))


def make_evaluation(projects: list[Project], rules: CallRules | None = None, **funding) -> Evaluation:
    """An Evaluation of `projects` (in the given row order) under `rules` (default: 2021 rules + `funding`)."""
    rules = rules if rules is not None else rules_with(**funding)
    n = len(projects)
    apps = pd.DataFrame({
        "application_id": [p.id for p in projects],
        "title": [p.title if p.title is not None else f"Projet {p.id}" for p in projects],
        "lead_org": [f"Porteur de {p.id}" for p in projects],
        "lead_org_type": [p.lead_org_type for p in projects],
        "partners": [tuple(f"Partenaire {k}" for k in range(5)) if p.large else () for p in projects],
        "partner_types": [("state_operator",) * 5 if p.large else () for p in projects],
        "region": [p.region for p in projects],
        "regions_covered": [() for _ in projects],
        "priority_reform": [p.priority_reform for p in projects],
        "maturity": [p.maturity for p in projects],
        "requested_eur": pd.array([p.requested for p in projects], dtype="int64"),
        "expense_services_eur": pd.array([p.requested for p in projects], dtype="int64"),
        "expense_digital_tools_eur": pd.array([0] * n, dtype="int64"),
        "expense_training_eur": pd.array([0] * n, dtype="int64"),
        "expense_other_eur": pd.array([0] * n, dtype="int64"),
        "submitted_at": pd.to_datetime([p.submitted for p in projects]).astype("datetime64[us]"),
        "source_row": pd.array(range(2, n + 2), dtype="int64"),
    })
    elig = pd.DataFrame({
        "application_id": [p.id for p in projects],
        "eligible": [bool(p.eligible) for p in projects],
        "reason_codes": ["" if p.eligible else "lead_org_type" for p in projects],
        "reasons": ["" if p.eligible else "porteur de type « entreprise privée » : non éligible" for p in projects],
    })
    scored = [p.score is not None for p in projects]
    # Rank computed here, independently of ditp_model.scoring.aggregate (the allocation does not read it).
    rankable = sorted((p for p, s in zip(projects, scored) if s and p.eligible),
                      key=lambda p: (-units(p.score), pd.Timestamp(p.submitted), p.id))
    pos = {p.id: k + 1 for k, p in enumerate(rankable)}
    ext, cap = rules.funding.extended_cap.award_cap_eur, rules.award_cap_eur
    scores = pd.DataFrame({
        "application_id": [p.id for p in projects],
        "n_reviews": pd.array([3 if s else 1 for s in scored], dtype="int64"),
        **{col: [float("nan")] * n for col in rules.review_columns},
        **{f"{c}_score": [float("nan")] * n for c in rules.criterion_names},
        "n_partners": pd.array([5 if p.large else 0 for p in projects], dtype="int64"),
        "n_regions": pd.array([1] * n, dtype="int64"),
        "n_org_types": pd.array([2 if p.large else 1 for p in projects], dtype="int64"),
        "large_collective": [bool(p.large) for p in projects],
        "award_cap_eur": pd.array([ext if p.large else cap for p in projects], dtype="int64"),
        "scored": scored,
        "score_flag": ["" if s else f"avis insuffisants (1 avis pour {rules.scoring.min_reviews} requis) : dossier non classé"
                       for s in scored],
        "score": [float(p.score) if p.score is not None else float("nan") for p in projects],
        "rank": pd.array([pos.get(p.id, pd.NA) for p in projects], dtype="Int64"),
    })
    reviews = pd.DataFrame({"application_id": pd.Series([], dtype="str"), "reviewer_id": pd.Series([], dtype="str")})
    return Evaluation(rules, apps, reviews, Weights.from_rules(rules), elig, scores, files={})


# --------------------------------------------------------------------------- brute force


@dataclass(frozen=True)
class Rule:
    """A group rule for the brute force (same meaning as ``allocation.GroupRule``)."""

    column: str
    value: str
    min_count: int | None = None
    max_share: float | None = None


@dataclass(frozen=True)
class BruteResult:
    """Lexicographic optimum by enumeration; ``feasible`` False when no subset satisfies the rules."""

    feasible: bool
    value: int = 0                  # level 1, score units
    spend: int = 0                  # level 2, euros
    n_same_value: int = 0           # feasible subsets reaching the level-1 value
    best: tuple[frozenset, ...] = ()  # every subset optimal at levels 1 and 2


def capped_request(p: Project, cap: int, ext_cap: int) -> int:
    return min(p.requested, ext_cap if p.large else cap)


def respects_rules(combo, award: dict, envelope, lock_in, rules, max_awards: int | None, envelope_for_caps) -> bool:
    """A funded set (full capped requests) within the envelope, with every lock, at most `max_awards` awards, every
    group's minimum count and maximum share (cap in whole euros, exactly: floor(share × E), the share read as a decimal)."""
    ids = {p.id for p in combo}
    if sum(award[i] for i in ids) > envelope or not set(lock_in) <= ids:
        return False
    if max_awards is not None and len(ids) > max_awards:
        return False
    for rule in rules:
        members = [p for p in combo if getattr(p, rule.column) == rule.value]
        if rule.min_count is not None and len(members) < rule.min_count:
            return False
        if rule.max_share is not None and sum(award[p.id] for p in members) > exact_share_cap(rule.max_share, envelope_for_caps):
            return False
    return True


def brute_force(projects: list[Project], envelope: int | None, *, floor: int = 70_000, cap: int = 120_000, ext_cap: int = 200_000,
                lock_in=frozenset(), lock_out=frozenset(), rules: tuple[Rule, ...] = (), max_awards: int | None = None,
                objective: str = "total_score", envelope_for_caps: int | None = None) -> BruteResult:
    """Enumerate every subset of fundable projects (full capped request, no cut) and keep the best.

    ``envelope=None``: no envelope at all (used to check that a named conflict needs the envelope).
    """
    if envelope is None:
        envelope = math.inf
    envelope_for_caps = envelope if envelope_for_caps is None else envelope_for_caps
    cands = [p for p in projects
             if p.eligible and p.score is not None and p.id not in lock_out and capped_request(p, cap, ext_cap) >= floor]
    award = {p.id: capped_request(p, cap, ext_cap) for p in cands}
    value_of = {p.id: units(p.score) for p in cands}
    best_value, best_spend, n_same, best = None, None, 0, []
    for r in range(len(cands) + 1):
        for combo in itertools.combinations(cands, r):
            ids = {p.id for p in combo}
            spend = sum(award[i] for i in ids)
            if not respects_rules(combo, award, envelope, lock_in, rules, max_awards, envelope_for_caps):
                continue
            if objective == "total_score":
                value = sum(value_of[i] for i in ids)
            else:
                value = sum(value_of[i] * award[i] for i in ids)
            if best_value is None or value > best_value:
                best_value, best_spend, n_same, best = value, spend, 1, [frozenset(ids)]
            elif value == best_value:
                n_same += 1
                if spend > best_spend:
                    best_spend, best = spend, [frozenset(ids)]
                elif spend == best_spend:
                    best.append(frozenset(ids))
    if best_value is None:
        return BruteResult(False)
    return BruteResult(True, best_value, best_spend, n_same, tuple(best))


def exact_share_cap(share: float, envelope: int) -> int:
    """⌊share × envelope⌋ in exact decimal arithmetic (0.29 × 100 000 = 29 000, not 28 999)."""
    return math.floor(Decimal(repr(share)) * envelope)
