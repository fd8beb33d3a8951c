"""The funding decision: the entry point of every decision rule, and the rules by name.

:func:`allocate` (evaluation and parameters → :class:`Allocation`) checks the
candidates (:mod:`~ditp_model.rules.candidates`) and decides with the rule in
force; :data:`RULES` and :func:`get_rule` name the rules (:class:`DecisionRule`,
one call shape for all, pabutools' ``rules/`` is the model).  Each rule is one
module with the signature ``Candidates -> Allocation``:

* ``merit_order`` (default): :mod:`~ditp_model.rules.merit_order`, on the
  exact search :mod:`~ditp_model.rules.merit_search`;
* ``ranking``: :mod:`~ditp_model.rules.ranking`;
* ``max_total_score``, ``max_score_weighted_award``: :mod:`~ditp_model.rules.optimise`.

Shared: parameters and results in :mod:`~ditp_model.rules.base`, the MILP and
the solvers in :mod:`~ditp_model.rules.milp`, the exact integer re-check in
:mod:`~ditp_model.rules.recheck`.  The names these modules define are
re-exported here, so ``from ditp_model.rules.allocation import …`` keeps
working for every caller.  The registry lives here rather than in ``base``
because a rule's ``decide`` calls :func:`allocate`: below it, that would be an
import circle (``tests/test_layers.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ditp_model.inputs.call import RULE_NAMES
from ditp_model.rules.base import (  # noqa: F401  (re-exported)
    DEFAULT_RULE,
    GROUP_COLUMN_LABELS_FR,
    GROUP_COLUMNS,
    INTEGRALITY_TOL,
    OPTIMISATION_OBJECTIVES,
    RULE_LABELS_FR,
    SCORE_UNIT,
    Allocation,
    AllocationError,
    AllocationParams,
    Candidates,
    GroupRule,
    MeritException,
    NotOptimalError,
    SolveInfo,
    SolveStatus,
)
from ditp_model.rules.candidates import (  # noqa: F401  (re-exported)
    candidates_from_table,
    check,
    quality_thresholds,
    threshold_failures,
)
from ditp_model.rules.merit_order import decide_merit_order, name_exceptions  # noqa: F401
from ditp_model.rules.merit_search import MERIT_SEARCH_NODES, merit_search  # noqa: F401
from ditp_model.rules.milp import (  # noqa: F401  (re-exported)
    IsolatedCBC,
    Model,
    build,
    diagnose_infeasibility,
    fits_together,
    quiet_highs_banner,
    read_back,
    solve,
    solver_version,
)
from ditp_model.rules.optimise import decide_optimisation
from ditp_model.rules.ranking import RankingResult, decide_ranking, ranking_decisions, ranking_rule  # noqa: F401
from ditp_model.rules.recheck import _capped_groups, merit_complaints, merit_reach, portfolio_value, verify_awards  # noqa: F401
from ditp_model.scoring.pipeline import Evaluation

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


def allocate_candidates(cands: Candidates) -> Allocation:
    """Decide on checked candidates with their rule (see :func:`allocate`).

    Ranking rule: computed exactly in integers.  Merit order: locks and
    minimum-count exceptions first (:func:`decide_merit_order`), then the
    lexicographic solve.  Optimisation rules: build → solve (lexicographic)
    → read back → verify.
    """
    if cands.rule == "ranking":
        return decide_ranking(cands)
    if cands.rule == "merit_order":
        return decide_merit_order(cands)
    return decide_optimisation(cands)


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
