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
3. the named tie-break :data:`~ditp_model.scoring.TIE_BREAK_RULE`: among the
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

from .pipeline import Evaluation
from .report_format import format_eur, format_number
from .schema import MATURITY_LABELS_FR, ORG_TYPE_LABELS_FR
from .scoring import SCORE_DECIMALS, TIE_BREAK_RULE, rank_order

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
    "RankingResult",
    "GROUP_COLUMNS",
]

#: Columns a portfolio rule may group by, with their French names.
GROUP_COLUMN_LABELS_FR = {"region": "Région", "lead_org_type": "Type de porteur", "maturity": "Maturité",
                          "priority_reform": "Réforme prioritaire"}
GROUP_COLUMNS = tuple(GROUP_COLUMN_LABELS_FR)
#: Integer units of score in the objective (score points × 10**SCORE_DECIMALS).
SCORE_UNIT = 10**SCORE_DECIMALS
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
    group_rules : tuple of GroupRule
    max_awards : int or None
    objective : {"total_score", "score_weighted_award"}
    solver : {"highs", "cbc"}
    time_limit_s : float
    check_alternatives : bool
        Check whether another portfolio reaches the same value, and apply the
        named tie-break exactly when one does (one or two more solves; more
        only when a tie exists).  False: faster, ties settled by level 3 alone.
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
    group_rules: tuple[GroupRule, ...] = ()
    max_awards: int | None = None
    objective: str = "total_score"
    solver: str = "highs"
    time_limit_s: float = 60.0
    check_alternatives: bool = True

    def __post_init__(self):
        object.__setattr__(self, "lock_in", frozenset(self.lock_in))
        object.__setattr__(self, "lock_out", frozenset(self.lock_out))
        object.__setattr__(self, "group_rules", tuple(self.group_rules))
        for name in ("envelope_eur", "award_floor_eur", "award_cap_eur", "extended_cap_eur", "committed_eur", "reserve_eur"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise ValueError(f"{name} = {v!r} : un montant est un nombre entier d'euros positif ou nul")
        if self.amount_step_eur is not None and (not isinstance(self.amount_step_eur, int) or self.amount_step_eur < 1):
            raise ValueError(f"amount_step_eur = {self.amount_step_eur!r} : un pas entier d'au moins 1 € est attendu")
        if self.min_share is not None and not 0 < self.min_share <= 1:
            raise ValueError(f"min_share = {self.min_share} : une part entre 0 (exclu) et 1 est attendue")
        if self.objective not in ("total_score", "score_weighted_award"):
            raise ValueError(f"objectif « {self.objective} » inconnu : total_score ou score_weighted_award")
        if self.solver not in ("highs", "cbc"):
            raise ValueError(f"solveur « {self.solver} » inconnu : highs ou cbc")
        if self.max_awards is not None and self.max_awards < 0:
            raise ValueError("max_awards négatif")
        both = self.lock_in & self.lock_out
        if both:
            raise ValueError(f"dossier(s) à la fois imposé(s) et exclu(s) : {', '.join(sorted(both))}")


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
    return Candidates(t, int(available_eur), int(available_eur), 0, 0, 1, params, {}, score_unit)


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
    return Candidates(table, available, envelope, params.committed_eur, params.reserve_eur, step, params, excluded)


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
    """Build the level-1 problem (maximise portfolio value); never solves it.

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
    if p.objective == "total_score":
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
    return Model(prob, x, c, award, value, rules)


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


def _cbc_solver(time_limit_s: float):
    """CBC as a command through PuLP's COIN_CMD, binary from the maintained ``cbcbox`` wheel.

    PuLP's bundled ``PULP_CBC_CMD`` is deprecated in PuLP 3.3 (TOOLCHAIN.md).
    """
    import cbcbox

    return pulp.COIN_CMD(path=cbcbox.cbc_bin_path(), msg=False, gapRel=0.0, timeLimit=time_limit_s)


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
    awards.
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
    return v


def portfolio_value(decisions: pd.DataFrame, cands: Candidates) -> int:
    """Level-1 value of a decision in exact integers (score units, or score units × euros)."""
    s = dict(zip(cands.table["application_id"], (int(x) for x in cands.table["score_units"])))
    pairs = zip(decisions["application_id"], decisions["funded"], decisions["award_eur"])
    if cands.params.objective == "total_score":
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
        Portfolio value in score points (``total_score``) or score points × euros.
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
    info = first or solve(model, solver, time_limit)
    infos.append(info)
    if info.status is not SolveStatus.OPTIMAL:
        return info, math.nan, infos
    v1 = info.objective
    n = len(cands.table)
    levels = [pulp.lpSum(model.award_expr)]
    if tie_level:
        levels.append(pulp.lpSum((n - k) * xi for k, xi in enumerate(model.x)))
    if any(ci is not None for ci in model.c):
        levels.append(pulp.lpSum(k * ci for k, ci in enumerate(model.c) if ci is not None))
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
        Eligibility and scores (:func:`ditp_model.pipeline.evaluate`).
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


def allocate_candidates(cands: Candidates) -> Allocation:
    """Build → solve (lexicographic) → read back → verify, on checked candidates (see :func:`allocate`)."""
    params = cands.params
    t0 = time.perf_counter()
    if not len(cands.table):  # nothing to decide: the empty portfolio is the optimum
        empty = pd.DataFrame({"application_id": pd.Series([], dtype=object), "funded": pd.Series([], dtype=bool),
                              "award_eur": pd.Series([], dtype="int64"), "cut_steps": pd.Series([], dtype="int64")})
        return Allocation(SolveStatus.OPTIMAL, params.solver, solver_version(params.solver), 0.0, 0.0, 0.0, cands, False,
                          TIE_BREAK_RULE, f"{SolveStatus.OPTIMAL.label_fr} : aucun dossier finançable", (), empty)
    # Level 1, then: is the funded set unique?  If so, levels 2 and 3 cannot change it (two solves in all
    # when no award can be cut); otherwise the full lexicographic sequence and the exact tie-break.
    model = build(cands)
    first = solve(model, params.solver, params.time_limit_s)
    seconds = first.seconds
    alt = None
    if first.status is SolveStatus.OPTIMAL and params.check_alternatives:
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
    decisions = pd.DataFrame({"application_id": t["application_id"], "funded": funded,
                              "award_eur": pd.array(awards, dtype="int64"), "cut_steps": 0})
    unmet = tuple(v for v in verify_awards(decisions, cands))
    score = sum(int(s) for s, f in zip(t["score_units"], funded) if f) / cands.score_unit
    return RankingResult(variant, decisions, int(sum(awards)), score, unmet)


def fits_together(evaluation, params: AllocationParams, ids) -> bool:
    """Whether the applications `ids` can all be funded at once under the envelope and the rules (scores aside).

    One feasibility solve of the model with ``x_i = 1`` for every id in `ids`
    (cuts allowed as the parameters allow them; locks, group rules and
    maximum number of awards kept).

    Parameters
    ----------
    evaluation : ditp_model.pipeline.Evaluation
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
    model = build(check(evaluation, params), force={a: 1 for a in ids})
    info = solve(model, params.solver, params.time_limit_s)
    if info.status is SolveStatus.INFEASIBLE:
        return False
    if info.status is not SolveStatus.OPTIMAL:
        raise AllocationError(f"ces dossiers tiennent-ils ensemble dans l'enveloppe ? {info.status.label_fr}")
    return True
