"""The MILP of the merit order and the optimisation rules: build, solve (HiGHS, CBC), read back, lexicographic levels.

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

Every solve is read back with a tolerance check, awards are rounded to whole
euros, and the envelope, every bound, lock and rule are re-checked in integer
arithmetic (:func:`verify_awards`); a violation raises :class:`AllocationError`.

Also here: the solver plumbing (HiGHS in process, its banner silenced; CBC as
a command in a private folder, :class:`IsolatedCBC`), the smallest set of
rules in conflict when none is feasible (:func:`diagnose_infeasibility`) and
the feasibility question « ces dossiers tiennent-ils ensemble ? »
(:func:`fits_together`).  Every call to a solver goes through :func:`solve`,
looked up in this module, so that a test or a benchmark can wrap it in one place.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, replace
from importlib.metadata import version as _pkg_version

import numpy as np
import pandas as pd
import pulp

from ditp_model.french import format_eur, format_number
from ditp_model.rules.base import (
    INTEGRALITY_TOL,
    OPTIMISATION_OBJECTIVES,
    Allocation,
    AllocationError,
    AllocationParams,
    Candidates,
    SolveInfo,
    SolveStatus,
    _empty_decisions,
)
from ditp_model.rules.candidates import check
from ditp_model.rules.merit_search import _first_fits, _merit_by_search
from ditp_model.rules.recheck import _capped_groups, merit_reach, portfolio_value, verify_awards
from ditp_model.scoring.aggregate import TIE_BREAK_RULE


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


def build(cands: Candidates, *, relax: bool = False, drop_rules: frozenset = frozenset(), force: dict | None = None,
          fixed: dict | None = None) -> Model:
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
    fixed : dict, optional
        Candidate position -> 0/1, written as the bounds of ``x`` (not as rows): the values that
        every portfolio worth considering takes, proven by :mod:`~ditp_model.rules.lagrange`.

    Returns
    -------
    Model
    """
    t = cands.table
    p = cands.params
    prob = pulp.LpProblem("allocation", pulp.LpMaximize)
    cat = pulp.LpContinuous if relax else pulp.LpBinary
    x = [prob.add_variable(f"x_{k:06d}", 0, 1, cat=cat) for k in range(len(t))]
    for k, v in (fixed or {}).items():  # after creation: a binary variable is created with bounds 0 and 1 whatever is asked
        x[k].lowBound = x[k].upBound = v
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


def _add_merit_constraints(prob: pulp.LpProblem, cands: Candidates, x, award, *, relax: bool = False) -> None:
    """Add the merit-order constraints (no valid complaint) to `prob`.

    *j* has a valid complaint when it is unfunded and could be funded at its
    minimum award ℓ_j with the unspent envelope plus the awards of the
    laureates scoring more than δ below it, without breaking a limit: the
    envelope (E − Σ_{k ≤ r(j)} a_k ≥ ℓ_j, r(j) from :func:`merit_reach`), the
    maximum number of awards (Σ_{k ≤ r(j)} x_k < N) and the maximum share of
    each group *g* containing *j* (cap_g − Σ_{k ≤ r(j), k ∈ g} a_k ≥ ℓ_j).
    Locked-in applications (committee locks, and the applications funded
    first to meet a minimum-count rule, see :func:`~ditp_model.rules.merit_order.decide_merit_order`) are
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


def _other_portfolio(cands: Candidates, funded: set, value_units: int, spend: int | None,
                     fix: dict | None = None, fixed: dict | None = None) -> tuple[SolveStatus, Model, float]:
    """Look for a portfolio other than `funded` with the same value (and the same spend when given).

    `fixed` (position -> 0/1, :mod:`~ditp_model.rules.lagrange`) must hold for every portfolio worth `value_units`.
    """
    m = build(cands, force=fix, fixed=fixed)
    ids = list(cands.table["application_id"])
    m.problem.addConstraint(pulp.lpSum(1 - xi if aid in funded else xi for xi, aid in zip(m.x, ids)) >= 1, "other")
    if len(m.value_expr):
        m.problem.addConstraint(m.value_expr >= value_units - 0.5, "same_value")
    if spend is not None:
        m.problem.addConstraint(pulp.lpSum(m.award_expr) >= spend - 0.5, "same_spend")
    info = solve(m, cands.params.solver, cands.params.time_limit_s)
    return info.status, m, info.seconds


def _apply_tie_break(cands: Candidates, decisions: pd.DataFrame, value_units: int,
                     fixed: dict | None = None) -> tuple[pd.DataFrame, float]:
    """Apply the named tie-break exactly among portfolios tied at levels 1 and 2.

    Level 3 (``Σ (N − p) x``) settles most ties in one solve but is not a
    lexicographic order.  When another portfolio has the same value and the
    same spend, the funded vectors are compared position by position (best
    placed first): for each position not yet funded, the solver is asked for a
    tied portfolio funding it and keeping the earlier positions as they are;
    the first found is adopted.  One solve per position, only when a tie exists; a position that `fixed`
    (:mod:`~ditp_model.rules.lagrange`, valid for every portfolio of this value) sets at 0 is not asked.

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
    fixed = fixed or {}
    status, _, sec = _other_portfolio(cands, funded, value_units, spend, fixed=fixed)
    seconds += sec
    if status is SolveStatus.INFEASIBLE:
        return decisions, seconds
    if status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        raise AllocationError(f"départage des ex aequo : {status.label_fr}")
    chosen: dict[str, int] = {}
    for k, aid in enumerate(ids):
        current = set(decisions.loc[decisions["funded"], "application_id"])
        if aid not in current and fixed.get(k) != 0:
            m = build(cands, force={**chosen, aid: 1}, fixed=fixed)
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
        chosen[aid] = 1 if aid in set(decisions.loc[decisions["funded"], "application_id"]) else 0
    return decisions, seconds


def decide_lexicographic(cands: Candidates, *, cross_check: bool = True, reduced: tuple | None = None) -> Allocation:
    """Build → solve (lexicographic) → read back → verify, for the merit order and the optimisation rules.

    Merit order without award cuts: the exact search first (:func:`~ditp_model.rules.merit_search.merit_search`), the MILP when it gives up.
    `reduced`: ``(model, level-1 solve, bound, seconds)`` of an optimisation rule already solved on the problem
    shrunk by a Lagrangian bound (:func:`~ditp_model.rules.optimise.reduced_level_one`); every later solve then
    fixes what the bound proves, which every portfolio the levels, the uniqueness check and the tie-break
    compare takes anyway: the decision is the full problem's.
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
    model, first, bound, seconds = reduced or (build(cands), None, None, 0.0)
    constant = not len(model.value_expr)
    if reduced is None and not constant:
        first = solve(model, params.solver, params.time_limit_s)
        seconds = first.seconds
    alt = True if constant else None
    if first is not None and first.status is SolveStatus.OPTIMAL and params.check_alternatives:
        level1 = read_back(model, cands)
        v_first = portfolio_value(level1, cands)
        status, _, sec = _other_portfolio(cands, set(level1.loc[level1["funded"], "application_id"]), v_first, None,
                                          fixed=bound.fixings(v_first) if bound else None)
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
            retry = decide_lexicographic(replace(cands, params=replace(params, solver=other)), cross_check=False)
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
    if info.status is SolveStatus.ERROR and cross_check:
        # A solver failure (HiGHS kSolveError seen on a 7-application merit order at the tie-break level): the other
        # solver is asked, as for a false "infeasible"; its result is re-checked in integers like any other.
        other = "cbc" if params.solver == "highs" else "highs"
        retry = decide_lexicographic(replace(cands, params=replace(params, solver=other)), cross_check=False)
        if retry.is_optimal:
            return replace(retry, message=f"{retry.message} — {solver_version(params.solver)} a échoué en cours de "
                           f"résolution (échec du solveur) : décision calculée par {other.upper() if other == 'cbc' else 'HiGHS'}")
    if info.status is not SolveStatus.OPTIMAL:
        gap = f" (écart {format_number(100 * info.mip_gap, 2)} %)" if info.mip_gap is not None and math.isfinite(info.mip_gap) else ""
        return Allocation(info.status, info.solver, info.solver_version, None, info.mip_gap, seconds, cands, None,
                          TIE_BREAK_RULE, f"{info.status.label_fr}{gap} : aucune décision n'est produite")
    violations = verify_awards(decisions, cands)
    if violations:
        raise AllocationError("la solution du solveur ne respecte pas les règles (vérification en entiers) : " + " ; ".join(violations))
    value_units = portfolio_value(decisions, cands)
    if value_units < round(v1) - 0.5:
        raise AllocationError(f"valeur du portefeuille {value_units} inférieure à l'optimum de premier niveau {v1}")
    if alt:
        decisions, extra = _apply_tie_break(cands, decisions, value_units, fixed=bound.fixings(value_units) if bound else None)
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
