"""The light route of ``ditp-model pabulib`` (issue 18): light reader, exact search, CLI, imports.

* The light reader (``inputs/pabulib_light.py``) either declines (``None``) or gives what the full
  reader gives, on every test file and on seeded mutations of the small ones (the mutations of
  ``tests/test_pabulib_fast.py``); it declines every file the full reader refuses.
* The exact search (``rules/pabulib_fast.py``) is checked against brute force over every funded set
  on random small knapsacks (ties, free projects, negative scores, projects above the budget), and
  against the allocation engine (PuLP + HiGHS) on every real Pabulib file.
* The command goes through the light route on a valid file, imports neither pandas nor numpy nor a
  solver (checked by the modules loaded, not by timing), and falls back to the engine.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ditp_model.inputs.pabulib import read_pabulib, to_integer_units
from ditp_model.inputs.pabulib_light import read_pabulib_light
from ditp_model.inputs.schema import InputError
from ditp_model.rules import pabulib_fast
from ditp_model.rules.pabulib import allocate_pabulib
from ditp_model.rules.pabulib_fast import allocate_pabulib_light, best_funded_set

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_pabulib_fast import FILES, SMALL, _mutate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = [p for p in FILES if "malformed" not in p.parts and "synthetic" not in p.parts]


def _full(path):
    try:
        return read_pabulib(path)
    except InputError:
        return None


def assert_light_agrees(path: Path) -> bool:
    """The light reading declines or equals the full one; returns whether it accepted the file."""
    light = read_pabulib_light(path)
    full = _full(path)
    if full is None:
        assert light is None, path
        return False
    if light is None:
        return False
    try:
        costs, budget, scale = to_integer_units(full)
    except InputError:
        raise AssertionError(f"{path}: the light reader accepts costs the engine refuses") from None
    assert light.path == full.path and light.vote_type == full.vote_type and light.score_rule == full.score_rule
    assert light.currency == full.currency and light.budget == full.budget
    assert list(light.project_ids) == list(full.projects["project_id"])
    assert [c * scale for c in light.costs] == [costs[p] for p in light.project_ids]
    assert list(light.scores) == list(full.scores)
    assert light.scores == full.scores
    return True


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_light_reader_agrees_or_declines_on_every_file(path):
    accepted = assert_light_agrees(path)
    if path in REAL or "synthetic" in path.parts:  # valid files: the light route must take them
        assert accepted, path


@pytest.mark.parametrize("seed", range(6))
def test_light_reader_on_mutated_files(seed, tmp_path):
    rng = random.Random(1000 + seed)
    accepted = 0
    for n in range(60):
        base = rng.choice(SMALL)
        path = tmp_path / f"m{seed}_{n}.pb"
        path.write_text(_mutate(base.read_text(encoding="utf-8-sig"), rng), encoding="utf-8")
        accepted += assert_light_agrees(path)
    assert accepted > 0  # the comparison is not only between two refusals


# ---------------------------------------------------------------------------- exact search


def _brute_force(costs, units, budget):
    """Best funded set by enumeration: score, then spend, then Σ (N − k) x_k, then the vector (greatest first)."""
    n = len(costs)
    best_key, best = None, None
    for x in itertools.product((0, 1), repeat=n):
        if sum(c for c, xi in zip(costs, x) if xi) > budget:
            continue
        key = (sum(s for s, xi in zip(units, x) if xi), sum(c for c, xi in zip(costs, x) if xi),
               sum(n - k for k, xi in enumerate(x) if xi), x)
        if best_key is None or key > best_key:
            best_key, best = key, [k for k, xi in enumerate(x) if xi]
    return best


def test_exact_search_matches_brute_force():
    rng = random.Random(7)
    for trial in range(400):
        n = rng.randint(0, 10)
        costs = [rng.choice([0, rng.randint(1, 9), rng.randint(1, 30)]) for _ in range(n)]
        units = [rng.choice([0, rng.randint(1, 5), rng.randint(-3, 20)]) for _ in range(n)]
        budget = rng.randint(0, 40)
        assert best_funded_set(costs, units, budget) == _brute_force(costs, units, budget), (costs, units, budget)


def test_exact_search_settles_ties_by_the_funded_vector():
    # Worked by hand.  Scores 1, costs 1, budget 2: any pair has V = 2, W = 2; T = 4 + 3 = 7 for {0, 1}.
    assert best_funded_set([1, 1, 1, 1], [1, 1, 1, 1], 2) == [0, 1]
    # Costs 2, 3, 1, 2, scores 3 each, budget 4: {0, 3} and {1, 2} both have V = 6, W = 4 and
    # T = 4 + 1 = 3 + 2 = 5 ({0, 2} and {2, 3} spend 3; other pairs exceed 4): the funded vector
    # 1001 is greater than 0110, so {0, 3}.
    assert best_funded_set([2, 3, 1, 2], [3, 3, 3, 3], 4) == [0, 3]
    # Costs 2, 1, 1, 2 (scores = costs), budget 4: V = 4 for {0, 3}, {0, 1, 2}, {1, 2, 3}; all spend 4;
    # T = 5, 9, 6: {0, 1, 2}.
    assert best_funded_set([2, 1, 1, 2], [2, 1, 1, 2], 4) == [0, 1, 2]
    # A free project is funded (it adds to T), a negative score never is, one above the budget neither.
    assert best_funded_set([0, 5, 3], [0, 4, -1], 4) == [0]
    assert best_funded_set([2, 2, 2, 2], [1, 1, 1, 1], 1) == []


def test_search_gives_up_within_its_node_limit():
    assert best_funded_set([3, 4, 5, 6], [3, 4, 5, 6], 10, node_limit=1) is None
    assert best_funded_set([3, 4, 5, 6], [3, 4, 5, 6], 10) == _brute_force([3, 4, 5, 6], [3, 4, 5, 6], 10)


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_light_route_gives_the_engines_decision(path):
    engine = allocate_pabulib(read_pabulib(path))
    light = allocate_pabulib_light(read_pabulib_light(path))
    assert engine["status"] == light["status"] == "optimal"
    for key in engine:
        if key not in ("solver", "seconds"):
            assert light[key] == engine[key], key
    # Independent re-check: the selection fits and its score is the sum of the file's scores.
    inst = read_pabulib(path)
    costs = dict(zip(inst.projects["project_id"], inst.projects["cost"]))
    assert sum(Decimal(costs[p]) for p in light["selected"]) <= inst.budget
    assert Decimal(light["total_score"]) == sum(inst.scores[p] for p in light["selected"])


# ---------------------------------------------------------------------------- the command


def _run(argv):
    from ditp_model.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def test_command_falls_back_to_the_engine_when_the_search_gives_up(monkeypatch):
    path = REAL[0]
    code, out = _run(["pabulib", str(path), "--json"])
    fast = json.loads(out)
    assert code == 0 and fast["solver"] == pabulib_fast.EXACT_NAME
    monkeypatch.setattr(pabulib_fast, "NODE_LIMIT", 0)
    code, out = _run(["pabulib", str(path), "--json"])
    slow = json.loads(out)
    assert code == 0 and slow["solver"] != pabulib_fast.EXACT_NAME
    assert {k: v for k, v in slow.items() if k not in ("solver", "seconds")} == \
           {k: v for k, v in fast.items() if k not in ("solver", "seconds")}


def test_command_on_a_bad_file_reports_the_full_readers_problems():
    bad = ROOT / "tests" / "data" / "pabulib" / "malformed" / "score_mismatch.pb"
    with pytest.raises(InputError) as info:
        read_pabulib(bad)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code, _ = _run(["pabulib", str(bad), "--json"])
    assert code != 0
    assert info.value.problems[0].rule in err.getvalue()


def test_command_pabulib_path_imports_no_heavy_library():
    heavy = ("pandas", "numpy", "scipy", "pulp", "highspy", "pydantic", "babel", "matplotlib", "openpyxl")
    code = ("import contextlib, io, json, sys\nfrom ditp_model.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['pabulib', {str(REAL[0])!r}, '--json']) == 0\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
