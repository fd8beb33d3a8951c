"""A Pabulib instance decided by the project's allocation engine (maximise the total score within the budget).

Reading the file is :mod:`ditp_model.inputs.pabulib`; this is the decision step, in ``rules/``
so that the reader imports nothing above ``inputs/``.  ``ditp-model pabulib FILE`` calls
:func:`allocate_pabulib`.
"""

from __future__ import annotations

import time
from decimal import Decimal

from ditp_model.inputs.pabulib import PabulibInstance, _decimal_places, _fmt, instance_to_applications
from ditp_model.inputs.schema import InputError, Problem
from ditp_model.rules.allocation import AllocationParams, allocate_candidates, candidates_from_table

__all__ = ["allocate_pabulib"]


def allocate_pabulib(instance: PabulibInstance, solver: str = "highs", time_limit_s: float = 600.0) -> dict:
    """Run the allocation engine on a Pabulib instance: maximise the total score within the budget.

    Each project is an application (cost = request = cap, floor 0, no cut,
    score = its vote score, see :attr:`PabulibInstance.score_rule`); the
    budget is the envelope.  Scores are scaled to integers exactly (the
    smallest power of ten, at most 10**4).  The file's own limits
    (``min_length``, ``max_length``, thresholds) are not modelled.

    Returns
    -------
    dict
        ``file``, ``status`` (``optimal``...), ``selected`` (project ids as
        in the file, in the file's order), ``total_cost`` (str, exact, in
        the file's currency), ``total_score`` (str, exact), ``budget`` (str),
        ``currency``, ``vote_type``, ``score_rule``, ``solver``, ``seconds``.

    Raises
    ------
    InputError
        Scores needing more than 4 decimals.
    """
    apps = instance_to_applications(instance)
    scale = int(apps.attrs["scale"])
    places = max((_decimal_places(v) for v in instance.scores.values()), default=0)
    if places > 4:
        raise InputError(Problem(str(instance.path), None, "score", None, "notes avec plus de 4 décimales : non prises en charge"))
    unit = 10**places
    apps = apps.assign(score=[float(instance.scores[p]) for p in apps["application_id"]])
    params = AllocationParams(solver=solver, time_limit_s=time_limit_s, check_alternatives=False)
    cands = candidates_from_table(apps, int(apps.attrs["budget"]), params, score_unit=unit)
    t0 = time.perf_counter()
    alloc = allocate_candidates(cands)
    seconds = time.perf_counter() - t0
    out = {"file": str(instance.path), "status": alloc.status.value, "solver": alloc.solver_version,
           "budget": _fmt(instance.budget), "currency": instance.currency, "vote_type": instance.vote_type,
           "score_rule": instance.score_rule, "seconds": round(seconds, 4)}
    if alloc.is_optimal:
        chosen = set(alloc.funded_ids)
        selected = [p for p in instance.projects["project_id"] if p in chosen]
        cost = sum(int(apps.set_index("application_id").at[p, "requested_eur"]) for p in selected)
        out.update(selected=selected, total_cost=_fmt(Decimal(cost) / scale),
                   total_score=_fmt(sum((instance.scores[p] for p in selected), Decimal(0))))
    else:
        out.update(selected=None, total_cost=None, total_score=None, message=alloc.message)
    return out
