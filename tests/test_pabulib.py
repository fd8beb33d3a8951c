"""Tests of ``ditp_model.inputs.pabulib``: reading Pabulib ``.pb`` files and mapping them to applications.

Fixtures are in ``tests/data/pabulib`` (see ``SOURCES.md`` there): two real files copied byte for byte,
hand-written synthetic files (one per vote type, decimal costs, a non-EUR currency, no VOTES section, BOM
and quoting) and malformed files (one defect each).

The exact 0/1 knapsack checkers below are independent of the package (which holds no solver): brute force
over all subsets (n <= 20), a dynamic programme over integer score totals (minimum cost for each exact
total; exact for integer scores, any costs), and PuLP with HiGHS and with CBC (relative gap 0) as a
cross-check.  The optimum of every real instance is pinned in ``REAL_INSTANCES``.
"""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pulp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ditp_model.inputs.pabulib import (
    MAX_SCALE,
    SCORE_RULES,
    VOTE_TYPES,
    PabulibInstance,
    instance_to_applications,
    read_pabulib,
    to_integer_units,
)
from ditp_model.inputs.schema import InputError

DATA = Path(__file__).resolve().parent / "data" / "pabulib"
SYNTHETIC = DATA / "synthetic"
MALFORMED = DATA / "malformed"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pabulib"

#: Real instances of /work/shared/data/pabulib: projects, budget (integer units), scale, exact optimum
#: of the 0/1 knapsack "maximise the total score within the budget" (score = votes for approval,
#: points for cumulative).
REAL_INSTANCES: dict[str, tuple[int, int, int, int]] = {
    "France_Toulouse_2022.pb": (199, 8000000, 1, 9984),
    "Netherlands_Amsterdam_622.pb": (67, 256769, 1, 6526),
    "Netherlands_Assen_2024.pb": (14, 100000, 1, 210),
    "Poland_Czestochowa_2020_Grabowka.pb": (8, 225862, 1, 1346),
    "Poland_Czestochowa_2024.pb": (93, 2367122, 1, 99439),
    "Poland_Gdansk_2020_Orunia_Gorna-Gdansk_Poludnie.pb": (22, 581000, 1, 5384),
    "Poland_Katowice_2020.pb": (46, 2999999, 1, 50066),
    "Poland_Swiecie_2023.pb": (22, 1070000, 1, 6377),
    "Poland_Wieliczka_2023_Green_Budget.pb": (64, 1000000, 1, 11099),
    "US_Stanford_Dataset_PB_Cambridge_2019_vote_approvals.pb": (20, 1000000, 1, 19926),
}


# ---------------------------------------------------------------------------
# Independent exact knapsack checkers
# ---------------------------------------------------------------------------


def knapsack_brute_force(costs: list[int], scores: list[float], budget: int) -> tuple[float, frozenset[int]]:
    """Best total score over all 2**n subsets (n <= 20); returns (optimum, indices of one optimal subset)."""
    n = len(costs)
    assert n <= 20, "brute force limited to 20 items"
    total_cost = np.zeros(1, dtype=np.int64)
    total_score = np.zeros(1, dtype=np.float64)
    for c, s in zip(costs, scores):  # subset k contains item i iff bit i of k is set
        total_cost = np.concatenate([total_cost, total_cost + c])
        total_score = np.concatenate([total_score, total_score + s])
    feasible = total_cost <= budget
    best = int(np.argmax(np.where(feasible, total_score, -np.inf)))
    return float(total_score[best]), frozenset(i for i in range(n) if best >> i & 1)


def knapsack_dp_scores(costs: list[int], scores: list[int], budget: int) -> tuple[int, frozenset[int]]:
    """Exact optimum for integer scores: minimum cost of each exact score total, then the best affordable total."""
    assert all(isinstance(s, int) and s >= 0 for s in scores)
    n, top = len(costs), sum(scores)
    inf = np.iinfo(np.int64).max // 4
    min_cost = np.full(top + 1, inf, dtype=np.int64)
    min_cost[0] = 0
    take = np.zeros((n, top + 1), dtype=bool)
    for i, (c, s) in enumerate(zip(costs, scores)):
        candidate = np.full(top + 1, inf, dtype=np.int64)
        candidate[s:] = min_cost[: top + 1 - s] + c
        take[i] = candidate < min_cost
        min_cost = np.where(take[i], candidate, min_cost)
    best = int(np.nonzero(min_cost <= budget)[0].max())
    chosen, rest = set(), best
    for i in range(n - 1, -1, -1):
        if take[i, rest]:
            chosen.add(i)
            rest -= scores[i]
    assert rest == 0
    return best, frozenset(chosen)


def knapsack_milp(costs: list[int], scores: list[float], budget: int, solver) -> float:
    """Optimum found by a MILP solver (PuLP model, variables named by position)."""
    prob = pulp.LpProblem("knapsack_check", pulp.LpMaximize)
    x = [prob.add_variable(f"x{i}", 0, 1, cat=pulp.LpBinary) for i in range(len(costs))]
    prob += pulp.lpSum(s * xi for s, xi in zip(scores, x))
    prob += pulp.lpSum(c * xi for c, xi in zip(costs, x)) <= budget
    prob.solve(solver)
    assert pulp.LpStatus[prob.status] == "Optimal"
    return float(pulp.value(prob.objective))


def cbc_solver():
    """CBC through ``COIN_CMD`` (``PULP_CBC_CMD`` is deprecated in PuLP 3.3): the ``cbc`` on the PATH, else the
    binary bundled with PuLP; ``None`` when neither exists."""
    solver = pulp.COIN_CMD(msg=False, gapRel=0)
    if solver.available():
        return solver
    bundled = getattr(pulp.apis.coin_api, "pulp_cbc_path", None)
    if bundled and os.access(bundled, os.X_OK):
        return pulp.COIN_CMD(path=bundled, msg=False, gapRel=0)
    return None


def test_knapsack_checkers_agree_on_a_small_case():
    costs, scores, budget = [5, 4, 6, 3, 7], [10, 40, 30, 50, 35], 10
    assert knapsack_brute_force(costs, scores, budget) == (90.0, frozenset({1, 3}))
    assert knapsack_dp_scores(costs, scores, budget) == (90, frozenset({1, 3}))
    assert knapsack_milp(costs, scores, budget, pulp.HiGHS(msg=False, gapRel=0)) == 90
    cbc = cbc_solver()
    if cbc is None:
        pytest.skip("CBC is not available")
    assert knapsack_milp(costs, scores, budget, cbc) == 90


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20)), min_size=0, max_size=10), st.integers(0, 120))
def test_brute_force_and_dp_agree(items, budget):
    costs = [c for c, _ in items]
    scores = [s for _, s in items]
    best_bf, chosen_bf = knapsack_brute_force(costs, scores, budget)
    best_dp, chosen_dp = knapsack_dp_scores(costs, scores, budget)
    assert best_bf == best_dp
    for chosen in (chosen_bf, chosen_dp):
        assert sum(costs[i] for i in chosen) <= budget
        assert sum(scores[i] for i in chosen) == best_dp


# ---------------------------------------------------------------------------
# Real files shipped with the tests
# ---------------------------------------------------------------------------


def _column_totals(inst: PabulibInstance, column: str) -> dict[str, Decimal]:
    return {pid: Decimal(v) for pid, v in zip(inst.projects["project_id"], inst.projects[column])}


@pytest.mark.parametrize("name", ["Netherlands_Assen_2024.pb", "Poland_Czestochowa_2020_Grabowka.pb"])
def test_real_fixture_counts_match_meta(name):
    inst = read_pabulib(DATA / name)
    assert len(inst.projects) == int(inst.meta["num_projects"])
    assert len(inst.votes) == int(inst.meta["num_votes"])
    assert inst.projects["project_id"].is_unique
    assert inst.votes["voter_id"].is_unique
    assert inst.score_source == "VOTES"


def test_assen_scores_recomputed_equal_votes_column():
    inst = read_pabulib(DATA / "Netherlands_Assen_2024.pb")
    assert (inst.vote_type, inst.currency, inst.budget) == ("approval", "EUR", Decimal(100000))
    assert inst.score_rule == "approval_count"
    # independent recount from the parsed ballots
    recount = {pid: 0 for pid in inst.projects["project_id"]}
    for ballot in inst.votes["ballot"]:
        for pid in ballot:
            recount[pid] += 1
    assert inst.scores == {pid: Decimal(n) for pid, n in recount.items()}
    assert inst.scores == _column_totals(inst, "votes")
    assert inst.scores["3"] == 43 and inst.scores["4"] == 8
    first = inst.votes.iloc[0]
    assert first["voter_id"] == "vote01006bcf-62b6-435d-a0de-2966c3e75249"
    assert first["ballot"] == ("1", "2", "6", "9", "13") and first["ballot_points"] is None
    assert inst.meta["rule"] == "equalshares/add1" and inst.meta["min_length"] == "2"
    assert list(inst.projects.columns) == ["project_id", "cost", "votes", "name", "selected", "description",
                                           "source_line"]
    assert inst.projects["source_line"].iloc[0] == 20


def test_czestochowa_grabowka_points_and_votes_columns():
    inst = read_pabulib(DATA / "Poland_Czestochowa_2020_Grabowka.pb")
    assert (inst.vote_type, inst.currency, inst.budget) == ("cumulative", "PLN", Decimal(225862))
    assert inst.score_rule == "points_sum"
    points = {pid: Decimal(0) for pid in inst.projects["project_id"]}
    ballots = {pid: 0 for pid in inst.projects["project_id"]}
    for ballot, pts in zip(inst.votes["ballot"], inst.votes["ballot_points"]):
        assert len(ballot) == len(pts) and sum(pts) <= 10
        for pid, p in zip(ballot, pts):
            points[pid] += p
            ballots[pid] += 1
    assert inst.scores == points == _column_totals(inst, "score")
    assert ballots == _column_totals(inst, "votes")
    assert inst.scores["196"] == 435 and inst.scores["89"] == 77
    # This line is written without CSV quoting; it is kept as written.
    name = inst.projects.set_index("project_id").loc["47", "name"]
    assert name.startswith('"Odkupmy" i my - zakup')


def test_real_fixtures_to_applications():
    inst = read_pabulib(DATA / "Poland_Czestochowa_2020_Grabowka.pb")
    apps = instance_to_applications(inst)
    assert list(apps.columns) == ["application_id", "title", "requested_eur", "score", "award_floor_eur",
                                  "award_cap_eur"]
    assert apps.attrs["budget"] == 225862 and apps.attrs["scale"] == 1 and apps.attrs["currency"] == "PLN"
    row = apps.set_index("application_id").loc["443"]
    assert (row["requested_eur"], row["score"], row["award_floor_eur"], row["award_cap_eur"]) == (
        156794, 378.0, 0, 156794)
    assert row["title"] == "Stacja dla rowerów miejskich"
    assert apps["requested_eur"].dtype == np.int64 and apps["score"].dtype == np.float64
    assert (apps["award_cap_eur"] == apps["requested_eur"]).all() and (apps["award_floor_eur"] == 0).all()


def test_shipped_fixtures_are_the_shared_files_byte_for_byte():
    if not SHARED.is_dir():
        pytest.skip("../shared/data/pabulib is absent")
    for name in ("Netherlands_Assen_2024.pb", "Poland_Czestochowa_2020_Grabowka.pb"):
        assert (DATA / name).read_bytes() == (SHARED / name).read_bytes()


# ---------------------------------------------------------------------------
# Synthetic files: one per vote type, scores computed by hand
# ---------------------------------------------------------------------------

# file, vote type, score rule, scores by hand, (optimum, chosen ids) by hand
HAND = {
    # approval: a on ballots 1,2,3; b on 1,4; c on 3.  Budget 100: {a,c} costs 100 for 3+1.
    "approval.pb": ("approval", "approval_count", {"a": 3, "b": 2, "c": 1}, (4, {"a", "c"})),
    # cumulative: p1 = 6+5+2, p2 = 4+5, p3 = 3.  Budget 2500: {p1,p3} costs 1500 for 16.
    "cumulative.pb": ("cumulative", "points_sum", {"p1": 13, "p2": 9, "p3": 3}, (16, {"p1", "p3"})),
    # scoring: x = 5, y = 0+3, z = 2.5+1.  Budget 10: {x,z} costs 10 for 8.5.
    "scoring.pb": ("scoring", "points_sum", {"x": 5, "y": 3, "z": Decimal("3.5")}, (8.5, {"x", "z"})),
    # ordinal (ranked_count): r1 ranked on o1,o2,o3; r2 on o1; r3 on o1,o3.  Budget 300: {r1,r2} for 4.
    "ordinal.pb": ("ordinal", "ranked_count", {"r1": 3, "r2": 1, "r3": 2}, (4, {"r1", "r2"})),
    # choose-1: k1 chosen by c1,c3; k2 by c2; k3 by c4; c5 is blank.  Budget 5: k1 + one of k2/k3 for 3.
    "choose1.pb": ("choose-1", "choice_count", {"k1": 2, "k2": 1, "k3": 1}, (3, None)),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_vote_type_scores_by_hand(name):
    vote_type, rule, scores, (optimum, chosen) = HAND[name]
    inst = read_pabulib(SYNTHETIC / name)
    assert inst.vote_type == vote_type and inst.score_rule == rule == SCORE_RULES[vote_type]
    assert inst.scores == {k: Decimal(v) for k, v in scores.items()}
    assert len(inst.projects) == int(inst.meta["num_projects"])
    assert len(inst.votes) == int(inst.meta["num_votes"])
    apps = instance_to_applications(inst)
    assert dict(zip(apps["application_id"], apps["score"])) == {k: float(v) for k, v in scores.items()}
    best, idx = knapsack_brute_force(apps["requested_eur"].tolist(), apps["score"].tolist(), apps.attrs["budget"])
    assert best == optimum
    if chosen is not None:
        assert {apps["application_id"][i] for i in idx} == chosen


def test_all_vote_types_have_a_fixture():
    assert {v[0] for v in HAND.values()} == set(VOTE_TYPES)


def test_ordinal_score_column_uses_the_positional_count():
    # ranked_count (3, 1, 2) is the score; the file's score column holds the positional count
    # (k points to the first of k ranked, ..., 1 to the last): r1 = 2+1+1, r2 = 3, r3 = 1+2.
    inst = read_pabulib(SYNTHETIC / "ordinal.pb")
    assert _column_totals(inst, "score") == {"r1": 4, "r2": 3, "r3": 3}
    assert inst.votes.set_index("voter_id").loc["o1", "ballot"] == ("r2", "r1", "r3")


def test_choose1_blank_ballot_counts_as_a_ballot():
    inst = read_pabulib(SYNTHETIC / "choose1.pb")
    assert inst.votes.set_index("voter_id").loc["c5", "ballot"] == ()


def test_cumulative_ballot_points_and_other_columns():
    inst = read_pabulib(SYNTHETIC / "cumulative.pb")
    v3 = inst.votes.set_index("voter_id").loc["v3"]
    assert v3["ballot"] == ("p1", "p2", "p3")
    assert v3["ballot_points"] == (Decimal(2), Decimal(5), Decimal(3))
    assert v3["points"] == "2,5,3" and v3["age"] == ""


def test_decimal_costs_scale_exactly():
    inst = read_pabulib(SYNTHETIC / "decimal_costs_pln.pb")
    assert inst.currency == "PLN"
    assert inst.budget == Decimal("4000.75")
    assert list(inst.projects["cost"]) == ["1500.5", "2000.25", "999", "3000.0"]  # as written
    costs, budget, scale = to_integer_units(inst)
    assert scale == 100
    assert costs == {"d1": 150050, "d2": 200025, "d3": 99900, "d4": 300000}
    assert budget == 400075
    for pid, text in zip(inst.projects["project_id"], inst.projects["cost"]):
        assert Decimal(costs[pid]) / scale == Decimal(text)
    apps = instance_to_applications(inst)
    assert apps["requested_eur"].tolist() == [150050, 200025, 99900, 300000]
    assert apps.attrs["budget"] == 400075 and apps.attrs["scale"] == 100


def test_whole_costs_written_with_a_zero_decimal_keep_scale_one(tmp_path):
    text = (SYNTHETIC / "approval.pb").read_text(encoding="utf-8")
    text = text.replace("a;60;", "a;60.0;").replace("budget;100\n", "budget;100.00\n")
    (tmp_path / "f.pb").write_text(text, encoding="utf-8")
    costs, budget, scale = to_integer_units(read_pabulib(tmp_path / "f.pb"))
    assert (costs["a"], budget, scale) == (60, 100, 1)


def test_no_votes_section_uses_the_column_and_keeps_ids_as_text():
    inst = read_pabulib(SYNTHETIC / "no_votes_usd.pb")
    assert inst.votes is None and inst.score_source == "votes"
    assert inst.currency == "USD"
    assert inst.scores == {"007": 25, "8": 30, "9": 12}
    apps = instance_to_applications(inst)
    assert apps["application_id"].tolist() == ["007", "8", "9"]
    assert apps.attrs["budget"] == 1000000 and apps.attrs["currency"] == "USD"
    best, idx = knapsack_brute_force(apps["requested_eur"].tolist(), apps["score"].tolist(), apps.attrs["budget"])
    assert best == 42 and {apps["application_id"][i] for i in idx} == {"8", "9"}


def test_bom_crlf_and_quoted_fields():
    inst = read_pabulib(SYNTHETIC / "bom_quoted.pb")
    assert list(inst.meta)[0] == "description"  # the BOM is not part of the first key
    assert inst.meta["description"].startswith("Synthetic; file with a BOM")
    names = dict(zip(inst.projects["project_id"], inst.projects["name"]))
    assert names == {"q1": 'Park "Stok" pod Baranem', "q2": "Semi; colon",
                     "q3": '"Unquoted" start is kept as written'}
    assert inst.votes["ballot"].tolist() == [("q1", "q2"), ("q1", "q3")]
    assert inst.scores == {"q1": 2, "q2": 1, "q3": 1}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 4)), min_size=1, max_size=6),
       st.integers(0, 10**9), st.integers(0, 4))
def test_to_integer_units_is_exact_and_minimal(costs, budget_units, budget_places):
    def text(units, places):
        return str(Decimal(units).scaleb(-places))  # e.g. 12345, 2 -> "123.45"

    written = [text(u, p) for u, p in costs]
    budget_text = text(budget_units, budget_places)
    lines = ["META", "key;value", f"budget;{budget_text}", "vote_type;approval", "PROJECTS",
             "project_id;cost;votes"] + [f"p{i};{c};0" for i, c in enumerate(written)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.pb"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        inst = read_pabulib(path)
    assert inst.scores == {f"p{i}": 0 for i in range(len(written))}
    scaled, budget, scale = to_integer_units(inst)
    assert scale in (1, 10, 100, 1000, 10000)
    for i, c in enumerate(written):
        assert Decimal(scaled[f"p{i}"]) == Decimal(c) * scale
    assert Decimal(budget) == Decimal(budget_text) * scale
    if scale > 1:  # minimal: a tenth of the scale leaves something fractional
        assert any((Decimal(c) * scale / 10) % 1 for c in written + [budget_text])


# ---------------------------------------------------------------------------
# Malformed files
# ---------------------------------------------------------------------------

# file: (line, column, code, words the message must contain)
MALFORMED_CASES = {
    "missing_projects.pb": (None, None, "missing_section", ["PROJECTS", "absente"]),
    "bad_cost.pb": (15, "cost", "bad_number", ["12,5", "point décimal"]),
    "bad_budget.pb": (9, "budget", "bad_number", ["1 000"]),
    "duplicate_project.pb": (16, "project_id", "duplicate_id", ["« a »", "déjà ligne 15"]),
    "unknown_project_vote.pb": (20, "vote", "unknown_project", ["zz", "PROJECTS"]),
    "unknown_vote_type.pb": (10, "vote_type", "unknown_vote_type", ["quadratic", "inconnu", "choose-1"]),
    "votes_mismatch.pb": (15, "votes", "score_mismatch", ["« a »", "5", "1 d'après la section VOTES"]),
    "score_mismatch.pb": (15, "score", "score_mismatch", ["« a »", "9", "10 d'après la section VOTES"]),
    "points_misaligned.pb": (11, "points", "bad_ballot", ["1 valeur(s) de points pour 2 projet(s)"]),
    "missing_points_column.pb": (9, "points", "missing_column", ["points"]),
    "num_votes_mismatch.pb": (8, "num_votes", "count_mismatch", ["2 votes", "1"]),
    "extra_fields.pb": (15, "champ 5", "extra_fields", ["a semicolon", "5 champs pour 4 colonnes"]),
    "choose1_two.pb": (19, "vote", "bad_ballot", ["choose-1", "a,b"]),
    "duplicate_voter.pb": (20, "voter_id", "duplicate_id", ["déjà ligne 19"]),
    "not_utf8.pb": (15, None, "encoding", ["UTF-8"]),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_CASES))
def test_malformed_file_raises_input_error(name):
    line, column, code, words = MALFORMED_CASES[name]
    path = MALFORMED / name
    with pytest.raises(InputError) as info:
        read_pabulib(path)
    problems = [p for p in info.value.problems if p.code == code]
    assert problems, info.value
    p = problems[0]
    assert (p.file, p.row, p.column) == (str(path), line, column)
    message = str(info.value)
    assert str(path) in message
    if line is not None:
        assert f"ligne {line}" in message
    if column is not None:
        assert f"colonne « {column} »" in message
    for word in words:
        assert word in message, (word, message)


def test_malformed_files_all_covered():
    assert {p.name for p in MALFORMED.glob("*.pb")} == set(MALFORMED_CASES) | {"too_many_decimals.pb"}


def test_more_than_four_decimals_is_refused_by_to_integer_units():
    path = MALFORMED / "too_many_decimals.pb"
    inst = read_pabulib(path)  # readable; only the conversion to integers is refused
    with pytest.raises(InputError) as info:
        to_integer_units(inst)
    (p,) = info.value.problems
    assert (p.row, p.column, p.value, p.code) == (15, "cost", "10.12345", "scale_too_large")
    assert f"ligne 15, colonne « cost »" in str(info.value) and str(MAX_SCALE) in str(info.value)
    with pytest.raises(InputError):
        instance_to_applications(inst)


def test_several_problems_are_reported_together(tmp_path):
    text = (SYNTHETIC / "approval.pb").read_text(encoding="utf-8")
    text = text.replace("b;50;2;Beta", "b;5O;2;Beta").replace("4;b\n", "4;b,nope\n")
    (tmp_path / "two.pb").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_pabulib(tmp_path / "two.pb")
    assert {(p.row, p.column, p.code) for p in info.value.problems} == {
        (16, "cost", "bad_number"), (23, "vote", "unknown_project")}
    assert str(info.value).startswith("2 erreurs")


def test_missing_file_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="fichier introuvable"):
        read_pabulib(tmp_path / "absent.pb")


# ---------------------------------------------------------------------------
# Every real instance of ../shared: applications + exact optimum within budget
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL_INSTANCES))
def test_real_instance_exact_optimum_within_budget(name):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared data folder is not available)")
    n_projects, budget_units, scale, optimum = REAL_INSTANCES[name]
    inst = read_pabulib(path)
    assert len(inst.projects) == n_projects == int(inst.meta["num_projects"])
    assert len(inst.votes) == int(inst.meta["num_votes"])
    # the written totals agree with the recomputation (read_pabulib raises otherwise)
    for column in ("votes", "score"):
        if column in inst.projects.columns:
            written = _column_totals(inst, column)
            assert (written == inst.scores) == (column == ("score" if inst.vote_type == "cumulative" else "votes"))
    apps = instance_to_applications(inst)
    assert isinstance(apps, pd.DataFrame)
    assert (apps.attrs["budget"], apps.attrs["scale"]) == (budget_units, scale)
    costs = apps["requested_eur"].tolist()
    scores_f = apps["score"].tolist()
    scores = [int(s) for s in scores_f]
    assert scores == scores_f  # vote counts and points are whole numbers in these files

    best, chosen = knapsack_dp_scores(costs, scores, budget_units)
    assert sum(costs[i] for i in chosen) <= budget_units
    assert sum(scores[i] for i in chosen) == best
    assert best == optimum
    if len(costs) <= 20:
        assert knapsack_brute_force(costs, scores, budget_units)[0] == optimum
    assert knapsack_milp(costs, scores, budget_units, pulp.HiGHS(msg=False, gapRel=0)) == pytest.approx(optimum)
    cbc = cbc_solver()
    if cbc is not None:
        assert knapsack_milp(costs, scores, budget_units, cbc) == pytest.approx(optimum)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
@pytest.mark.parametrize("name", sorted(REAL_INSTANCES))
def test_allocation_engine_reaches_exact_optimum(name, solver):
    """The project's own allocate() (via allocate_pabulib) reaches the independently computed optimum."""
    from decimal import Decimal

    from ditp_model.rules.pabulib import allocate_pabulib

    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared data folder is not available)")
    inst = read_pabulib(path)
    result = allocate_pabulib(inst, solver=solver)
    assert result["status"] == "optimal"
    assert Decimal(result["total_score"]) == REAL_INSTANCES[name][3]
    costs = dict(zip(inst.projects["project_id"], inst.projects["cost"]))
    assert sum(Decimal(costs[p]) for p in result["selected"]) == Decimal(result["total_cost"]) <= inst.budget
