"""Solver paths (issue 15): CBC's temporary files, a solver's false « infeasible », candidates with no coefficient.

* ``--solver cbc`` works when the temporary folder's path holds a space (on
  Windows it lies under the user profile); each solve has its own temporary
  folder, deleted on every exit, an exception in the middle included (the CBC
  process is killed first);
* an « infeasible » from one solver on a problem where a decision respecting
  every rule is known (here: funding nothing) is a solver fault: the other
  solver is asked before any rule is blamed — CBC does declare the
  national-scale budget below impossible;
* a 0 € application scored 0 under a 0 € floor gets an explicit decision.

Expected decisions are enumerated here over every subset, in integers.
"""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import tempfile
from pathlib import Path

import pytest

import ditp_model.rules.milp as A  # where every solve goes through `solve`
from allocation_cases import Project, base_rules, make_evaluation
from ditp_model.rules.allocation import AllocationParams, allocate
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

OPTIMISATION = ("max_total_score", "max_score_weighted_award")

#: The probe's national-scale case: 30 M€ + 21,2 M€ exceeds the envelope by 1 €.
NATIONAL = [Project("N1", 80.0, 30_000_000), Project("N2", 70.0, 21_200_000), Project("N3", 60.0, 5_000_000)]
NATIONAL_ENVELOPE = 51_199_999


def _national(**params):
    ext = base_rules().funding.extended_cap.model_copy(update={"award_cap_eur": 30_000_000})
    ev = make_evaluation(NATIONAL, envelope_eur=NATIONAL_ENVELOPE, award_floor_eur=70_000, award_cap_eur=30_000_000,
                         extended_cap=ext)
    return ev, AllocationParams(exact_search=False, **params)


def _best_subset(projects, envelope, rule) -> set[str]:
    """Every subset enumerated: the feasible one of greatest value (no cut: each funded project gets its request)."""
    best, best_key = set(), None
    for r in range(len(projects) + 1):
        for subset in itertools.combinations(projects, r):
            if sum(p.requested for p in subset) > envelope:
                continue
            value = sum(round(p.score * 100) * (1 if rule == "max_total_score" else p.requested) for p in subset)
            key = (value, sum(p.requested for p in subset))
            if best_key is None or key > best_key:
                best, best_key = {p.id for p in subset}, key
    return best


def _funded(a) -> set[str]:
    return set(a.decisions.loc[a.decisions["funded"], "application_id"])


# --------------------------------------------------------------------------- CBC's temporary files


@pytest.fixture
def spaced_tmp(tmp_path, monkeypatch):
    """The process's temporary folder is one whose path holds spaces (what ``TMPDIR`` or Windows' ``TEMP`` give)."""
    folder = tmp_path / "Jean Dupont" / "AppData Local" / "Temp"
    folder.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("rule", [*OPTIMISATION, "merit_order"])
def test_cbc_with_a_space_in_the_temporary_folder(spaced_tmp, rule):
    ev = make_evaluation([Project("A", 80.0, 100_000), Project("B", 70.0, 120_000), Project("C", 60.0, 90_000)],
                         envelope_eur=220_000)
    a = allocate(ev, AllocationParams(rule=rule, solver="cbc", exact_search=False))
    assert a.is_optimal and a.solver == "cbc", a.message
    if rule == "merit_order":
        assert _funded(a) == {"A", "B"}  # in score order until the envelope: A, B (220 000 €), C no longer fits
    else:
        assert _funded(a) == _best_subset([Project("A", 80.0, 100_000), Project("B", 70.0, 120_000),
                                           Project("C", 60.0, 90_000)], 220_000, rule)
    assert list(spaced_tmp.iterdir()) == []  # nothing left behind


def test_cbc_on_the_sample_through_the_command_line_with_a_spaced_tmpdir(spaced_tmp, tmp_path, capsys):
    from ditp_model.cli import main

    out = tmp_path / "resultats"
    code = main(["allocate", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews",
                 str(SAMPLE_REVIEWS), "--rule", "max_total_score", "--solver", "cbc", "--provisoire", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "optimum prouvé (CBC" in text, text
    assert list(spaced_tmp.iterdir()) == []


def test_each_solve_has_its_own_folder_deleted_afterwards(spaced_tmp, monkeypatch):
    seen = []
    real = A.IsolatedCBC.readsol_MPS

    def spy(self, filename, *args, **kw):
        seen.append(Path(filename).parent)
        assert Path(filename).parent.parent == spaced_tmp
        return real(self, filename, *args, **kw)

    monkeypatch.setattr(A.IsolatedCBC, "readsol_MPS", spy)
    ev = make_evaluation([Project("A", 80.0, 100_000), Project("B", 80.0, 100_000), Project("C", 60.0, 90_000)],
                         envelope_eur=200_000)
    a = allocate(ev, AllocationParams(rule="max_total_score", solver="cbc"))
    assert a.is_optimal
    assert len(seen) >= 2 and len(set(seen)) == len(seen)  # one folder per solve (A and B tie: several solves)
    assert not any(p.exists() for p in seen)
    assert list(spaced_tmp.iterdir()) == []


def test_a_solve_stopped_by_an_exception_leaves_nothing(spaced_tmp, monkeypatch):
    def broken(self, *args, **kw):
        raise RuntimeError("lecture de la solution interrompue")

    monkeypatch.setattr(A.IsolatedCBC, "readsol_MPS", broken)
    ev, params = _national(rule="max_total_score", solver="cbc")
    with pytest.raises(RuntimeError, match="interrompue"):
        allocate(ev, params)
    assert list(spaced_tmp.iterdir()) == []


def test_an_exception_while_cbc_runs_kills_it_and_cleans_up(spaced_tmp, monkeypatch):
    started = []
    real_popen = subprocess.Popen

    class Interrupted(real_popen):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            started.append(self)
            self._interrupt = True

        def wait(self, timeout=None):
            if self._interrupt:
                self._interrupt = False
                raise KeyboardInterrupt  # Ctrl-C while CBC runs
            return super().wait(timeout)

    monkeypatch.setattr(subprocess, "Popen", Interrupted)
    ev, params = _national(rule="max_total_score", solver="cbc")
    with pytest.raises(KeyboardInterrupt):
        allocate(ev, params)
    assert len(started) == 1 and started[0].poll() is not None  # the CBC process is gone
    assert list(spaced_tmp.iterdir()) == []


# --------------------------------------------------------------------------- a false « infeasible »


@pytest.mark.parametrize("rule", OPTIMISATION)
def test_cbc_false_infeasible_on_the_national_budget_is_cross_checked(rule):
    """Real CBC on the probe's case: whatever it answers, the decision is the best subset, never « règles incompatibles »."""
    ev, params = _national(rule=rule, solver="cbc")
    a = allocate(ev, params)
    assert a.is_optimal, a.message
    assert _funded(a) == _best_subset(NATIONAL, NATIONAL_ENVELOPE, rule) == {"N1", "N3"}
    assert int(a.decisions["award_eur"].sum()) == 35_000_000
    if a.solver == "highs":  # CBC was wrong (the case of cbcbox 2.935): the fault is said, not blamed on the envelope
        assert "défaut du solveur" in a.message and "CBC" in a.message


def _fake_infeasible(monkeypatch, solvers):
    real = A.solve

    def solve(model, solver="highs", time_limit_s=60.0):
        info = real(model, solver, time_limit_s)
        if solver in solvers:
            return dataclasses.replace(info, status=A.SolveStatus.INFEASIBLE, objective=None)
        return info

    monkeypatch.setattr(A, "solve", solve)


SMALL = [Project("A", 80.0, 100_000), Project("B", 75.0, 120_000), Project("C", 70.0, 110_000), Project("D", 50.0, 70_000)]


@pytest.mark.parametrize("rule", OPTIMISATION)
@pytest.mark.parametrize("faulty, other", [("cbc", "highs"), ("highs", "cbc")])
def test_one_faulty_solver_the_other_decides(monkeypatch, rule, faulty, other):
    _fake_infeasible(monkeypatch, {faulty})
    ev = make_evaluation(SMALL, envelope_eur=300_000)
    a = allocate(ev, AllocationParams(rule=rule, solver=faulty, exact_search=False))
    assert a.is_optimal and a.solver == other, a.message
    assert _funded(a) == _best_subset(SMALL, 300_000, rule)
    assert "défaut du solveur" in a.message


@pytest.mark.parametrize("rule", OPTIMISATION)
def test_both_solvers_faulty_is_a_solver_failure_not_a_rule_conflict(monkeypatch, rule):
    _fake_infeasible(monkeypatch, {"cbc", "highs"})
    ev, params = _national(rule=rule, solver="cbc")
    a = allocate(ev, params)
    assert a.status is A.SolveStatus.ERROR and "échec du solveur" in a.message
    assert not a.conflicts


@pytest.mark.parametrize("rule", OPTIMISATION)
def test_a_real_conflict_is_still_named(rule):
    """N1 and N2 imposed need 51 200 000 €, one euro more than the envelope: no decision exists, the rules are named."""
    ev, params = _national(rule=rule, solver="cbc", lock_in=frozenset({"N1", "N2"}))
    a = allocate(ev, params)
    assert a.status is A.SolveStatus.INFEASIBLE
    assert "51 200 000" in a.message.replace("\u202f", " ").replace("\xa0", " ")


# --------------------------------------------------------------------------- a candidate without any coefficient


@pytest.mark.parametrize("rule", [*OPTIMISATION, "merit_order", "ranking"])
@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_a_zero_euro_zero_score_application_gets_an_explicit_decision(rule, solver):
    projects = [Project("A", 80.0, 100_000), Project("Z", 0.0, 0), Project("B", 60.0, 90_000)]
    ev = make_evaluation(projects, envelope_eur=300_000, award_floor_eur=0)
    a = allocate(ev, AllocationParams(rule=rule, solver=solver, exact_search=False))
    assert a.is_optimal, a.message
    d = a.decisions.set_index("application_id")
    assert set(d.index) == {"A", "Z", "B"}
    assert d["funded"].map(type).eq(bool).all() and int(d.at["Z", "award_eur"]) == 0
    assert bool(d.at["A", "funded"]) and bool(d.at["B", "funded"])  # 190 000 € fit in 300 000 €: both funded
    assert int(d["award_eur"].sum()) == 190_000


def test_only_zero_candidates(monkeypatch):
    ev = make_evaluation([Project("Z1", 0.0, 0), Project("Z2", 0.0, 0)], envelope_eur=100_000, award_floor_eur=0)
    for rule in OPTIMISATION:
        a = allocate(ev, AllocationParams(rule=rule))
        assert a.is_optimal and len(a.decisions) == 2 and int(a.decisions["award_eur"].sum()) == 0
