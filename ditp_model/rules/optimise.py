"""Decision rules ``max_total_score`` and ``max_score_weighted_award``: optimisation objectives, kept for comparison.

``max_total_score`` maximises the sum of the laureates' composite scores
(``Σ s_i x_i``), ``max_score_weighted_award`` the sum of the scores weighted
by the awards (``Σ s_i a_i``); then, as for every rule decided by the MILP,
the money spent and the named tie-break (:mod:`~ditp_model.rules.milp`).
Neither is ever the default (:data:`~ditp_model.rules.base.DEFAULT_RULE`).

How the two objectives differ, on a small example: envelope 200 k€, A (score
90, request 200 k€), B and C (score 60, 100 k€ each).  ``total_score`` funds B
and C (120 points against 90); ``score_weighted_award`` funds A (90 × 200 =
18,000 points·k€ against 60 × 100 × 2 = 12,000): it spends on the best
rather than funding more projects.

"""

from __future__ import annotations

from ditp_model.rules.base import Allocation, Candidates
from ditp_model.rules.milp import decide_lexicographic


def decide_optimisation(cands: Candidates) -> Allocation:
    """The optimal portfolio of the candidates' optimisation rule (common signature, ``Candidates -> Allocation``).

    Build → solve (lexicographic: value, spend, tie-break) → read back → verify
    in integers (:func:`~ditp_model.rules.milp.decide_lexicographic`); the
    objective is ``OPTIMISATION_OBJECTIVES[cands.rule]``.  Without award cuts,
    every solve runs on the problem shrunk by a Lagrangian bound computed in
    exact integers (:mod:`~ditp_model.rules.lagrange`): the candidates it fixes
    take that value in every portfolio the levels and the tie-break compare,
    so the decision is the full problem's (10,000 applications: about 3–10 s
    instead of 35–60 s, ``benchmarks/RESULTS_national.md``).

    Raises
    ------
    AllocationError
        A solver answer that fails the exact integer re-check.
    """
    return decide_lexicographic(cands)
