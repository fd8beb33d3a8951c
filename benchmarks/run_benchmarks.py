"""Performance workloads of ditp-allocation: timings, memory, machine, all in one JSON file.

Run from anywhere (``make benchmark`` runs it with the project's venv)::

    .venv/bin/python benchmarks/run_benchmarks.py            # full run
    .venv/bin/python benchmarks/run_benchmarks.py --quick    # fewer repetitions
    .venv/bin/python benchmarks/run_benchmarks.py --only sample_solve --only pabulib
    .venv/bin/python benchmarks/run_benchmarks.py --out /tmp/results.json --profile

Workloads (targets in brackets; speed and memory are measured here, never in timed unit tests):

1. ``sample_solve``       one ``allocate()`` of the sample call, HiGHS and CBC [median solve < 50 ms]
2. ``sample_end_to_end``  files -> decision (load_inputs + evaluate + allocate + ranking_rule), in process
                          [median < 300 ms] and in a fresh interpreter (imports included, reported apart)
3. ``sample_explain``     ``explain()`` on the sample (every entry gap and exit margin), HiGHS and CBC [< 2 s]
4. ``national_10k``       a generated national call of 10,000 applications, 13 regional rules, one fresh
                          process per solver [< 10 s and peak RSS < 2 GiB, status reported]
5. ``pabulib``            every ``.pb`` file of ``../shared/data/pabulib``, HiGHS and CBC, same total score

Each figure is timed with ``time.perf_counter`` over several repetitions after one untimed warm-up
(the first call in a process also pays one-off costs such as HiGHS's banner suppression; it is
reported as ``first_call_s``); the table shows the median and the maximum.  The machine, the package
versions and the load average (other jobs may share the machine) go into the JSON file.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import io
import json
import math
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version as pkg_version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PABULIB_DIR = SHARED / "data" / "pabulib"
CALL = ROOT / "data" / "appel_2021.toml"
APPLICATIONS = ROOT / "data" / "candidatures_exemple.csv"
REVIEWS = ROOT / "data" / "evaluations_exemple.csv"

WORKLOADS = ("sample_solve", "sample_end_to_end", "sample_explain", "national_10k", "pabulib")
SOLVERS = ("highs", "cbc")
GIB = 1024**3

#: Repetitions (full run, --quick run).
REPS = {
    "sample_solve": (20, 5),
    "sample_end_to_end": (10, 3),
    "sample_end_to_end_subprocess": (5, 2),
    "sample_explain": (3, 1),
    "national_10k": (3, 1),
    "national_10k_cbc": (1, 1),
    "pabulib": (5, 2),
}

#: national_10k generator settings (documented in RESULTS.md).
NATIONAL = {
    "n_applications": 10_000,
    "seed": 20211015,
    "envelope_eur": 300_000_000,
    "request_min_eur": 70_000,
    "request_max_eur": 200_000,
    "large_collective_share": 0.15,
    "eligible_share": 0.95,
    "scored_share": 0.98,
    "min_count_share": 0.20,      # each region: at least 20 % of its candidates funded
    "max_share_factor": 1.5,      # each region: at most 1.5 × its share of the requested money
    "time_limit_s": 120.0,
}
#: 2021 populations (millions, INSEE, rounded): the weights of the regions in the generated call.
REGION_WEIGHTS = {
    "Auvergne-Rhône-Alpes": 8.1, "Bourgogne-Franche-Comté": 2.8, "Bretagne": 3.4, "Centre-Val de Loire": 2.6,
    "Corse": 0.34, "Grand Est": 5.5, "Hauts-de-France": 6.0, "Île-de-France": 12.3, "Normandie": 3.3,
    "Nouvelle-Aquitaine": 6.0, "Occitanie": 6.0, "Pays de la Loire": 3.8, "Provence-Alpes-Côte d'Azur": 5.1,
}
OVERSEAS = {"Guadeloupe", "Guyane", "Martinique", "La Réunion", "Mayotte"}


# --------------------------------------------------------------------------- helpers


def _timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return time.perf_counter() - t0, out


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "max": max(values), "min": min(values), "n": len(values),
            "values": [round(v, 6) for v in values]}


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _maxrss_bytes() -> int:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def _figure(workload: str, solver: str | None, metric: str, values: list[float] | float, unit: str = "s",
            target: float | None = None, target_on: str = "median", note: str = "") -> dict:
    vals = values if isinstance(values, list) else [values]
    st = _stats(vals)
    met = None
    if target is not None:
        met = bool(st[target_on] < target)
    return {"workload": workload, "solver": solver, "metric": metric, "unit": unit, **st,
            "target": target, "target_on": target_on if target is not None else None, "met": met, "note": note}


def machine_info() -> dict:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    versions = {}
    for p in ("ditp-allocation", "pandas", "numpy", "pulp", "highspy", "cbcbox"):
        try:
            versions[p] = pkg_version(p)
        except PackageNotFoundError:
            versions[p] = None
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    commit = None
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        commit = f"{commit} (+ uncommitted changes)" if commit and dirty else commit
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu_model": cpu, "logical_cores": os.cpu_count(), "usable_cores": affinity,
            "ram_bytes": ram, "ram_gib": round(ram / GIB, 2) if ram else None,
            "python": sys.version.split()[0], "python_implementation": platform.python_implementation(),
            "platform": platform.platform(), "packages": versions, "git_commit": commit}


class SolveLog:
    """Instrumentation: records every solver call made through ``ditp_model.rules.allocation.solve``.

    ``allocate`` and ``explain`` call the module-level ``solve``; while the log is active it is
    wrapped (not changed) so that each call's seconds and status are kept: where the time goes.
    """

    def __init__(self):
        self.calls: list[tuple[float, str]] = []

    def __enter__(self):
        import ditp_model.rules.milp as A
        import ditp_model.rules.explain as X

        self._mods = [(m, m.solve) for m in (A, X) if hasattr(m, "solve")]
        original = A.solve

        def wrapped(*a, **kw):
            info = original(*a, **kw)
            self.calls.append((info.seconds, info.status.value))
            return info

        for m, _ in self._mods:
            m.solve = wrapped
        return self

    def __exit__(self, *exc):
        for m, f in self._mods:
            m.solve = f
        return False

    def summary(self) -> dict:
        return {"n_solves": len(self.calls), "solve_seconds": [round(s, 4) for s, _ in self.calls],
                "solve_status": [st for _, st in self.calls]}


def _sample_evaluation():
    from ditp_model import evaluate, load_inputs

    return evaluate(load_inputs(str(CALL), str(APPLICATIONS), str(REVIEWS)))


def _run_child(args: list[str], timeout: float) -> tuple[dict, float]:
    """Run this script as a fresh child process; returns its JSON report and the parent-side wall time."""
    with tempfile.TemporaryDirectory(prefix="ditp-bench-") as tmp:
        out = Path(tmp) / "child.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), *args, "--child-out", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"child {' '.join(args)} failed (code {proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text()), wall


# --------------------------------------------------------------------------- 1. sample_solve


def bench_sample_solve(quick: bool) -> dict:
    from ditp_model.rules.allocation import AllocationParams, allocate

    ev = _sample_evaluation()
    reps = REPS["sample_solve"][quick]
    figures, details = [], {}
    for solver in SOLVERS:
        params = AllocationParams(solver=solver)
        first_wall, first = _timed(allocate, ev, params)
        solve_s, wall_s, level1_s = [], [], []
        last = first
        for _ in range(reps):
            with SolveLog() as log:
                w, last = _timed(allocate, ev, params)
            wall_s.append(w)
            solve_s.append(last.seconds)
            level1_s.append(log.calls[0][0])
        figures.append(_figure("sample_solve", solver, "solve_s (Allocation.seconds)", solve_s, target=0.050,
                               note=f"{len(log.calls)} solver calls per allocate()"))
        figures.append(_figure("sample_solve", solver, "  level-1 solve alone_s", level1_s,
                               note="first solver call: the MILP itself"))
        figures.append(_figure("sample_solve", solver, "allocate_wall_s", wall_s))
        figures.append(_figure("sample_solve", solver, "first_call_s", first_wall, note="includes one-off set-up"))
        details[solver] = {"status": last.status.value, "objective": last.objective,
                           "n_funded": len(last.funded_ids) if last.is_optimal else None,
                           "total_awarded_eur": last.total_awarded_eur if last.is_optimal else None,
                           "solver_version": last.solver_version,
                           "n_candidates": len(last.candidates.table), "last_run_solves": log.summary()}
    same = details["highs"]["objective"] == details["cbc"]["objective"]
    return {"figures": figures, "details": details, "same_objective": same,
            "notes": ["Allocation.seconds sums every solver call of allocate() (lexicographic levels and the tie "
                      "checks); details.<solver>.last_run_solves lists them."]}


# --------------------------------------------------------------------------- 2. sample_end_to_end

_E2E_CODE = """
import json, sys, time
t0 = time.perf_counter()
from ditp_model import evaluate, load_inputs
from ditp_model.rules.allocation import allocate, ranking_rule
t1 = time.perf_counter()
inp = load_inputs({call!r}, {apps!r}, {revs!r})
ev = evaluate(inp)
alloc = allocate(ev)
rank = ranking_rule(ev)
t2 = time.perf_counter()
assert alloc.is_optimal
json.dump({{"import_s": t1 - t0, "work_s": t2 - t1, "n_funded": len(alloc.funded_ids)}}, sys.stdout)
"""


def _end_to_end_once():
    from ditp_model import evaluate, load_inputs
    from ditp_model.rules.allocation import allocate, ranking_rule

    stages = {}
    t0 = time.perf_counter()
    inp = load_inputs(str(CALL), str(APPLICATIONS), str(REVIEWS))
    t1 = time.perf_counter()
    ev = evaluate(inp)
    t2 = time.perf_counter()
    alloc = allocate(ev)
    t3 = time.perf_counter()
    rank = ranking_rule(ev)
    t4 = time.perf_counter()
    stages.update(load_inputs=t1 - t0, evaluate=t2 - t1, allocate=t3 - t2, ranking_rule=t4 - t3)
    return t4 - t0, stages, alloc, rank


def bench_sample_end_to_end(quick: bool) -> dict:
    reps = REPS["sample_end_to_end"][quick]
    first, _, _, _ = _end_to_end_once()
    totals, per_stage = [], {}
    alloc = rank = None
    for _ in range(reps):
        total, stages, alloc, rank = _end_to_end_once()
        totals.append(total)
        for k, v in stages.items():
            per_stage.setdefault(k, []).append(v)
    figures = [_figure("sample_end_to_end", "highs", "in_process_s", totals, target=0.300)]
    for k, v in per_stage.items():
        figures.append(_figure("sample_end_to_end", "highs", f"  stage {k}_s", v))
    figures.append(_figure("sample_end_to_end", "highs", "in_process_first_call_s", first, note="first run in the process"))
    # Fresh interpreter: interpreter start-up and imports count.
    code = _E2E_CODE.format(call=str(CALL), apps=str(APPLICATIONS), revs=str(REVIEWS))
    sub_reps = REPS["sample_end_to_end_subprocess"][quick]
    walls, imports, works, bare = [], [], [], []
    env = dict(os.environ)
    for _ in range(sub_reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=str(ROOT), env=env)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=str(ROOT), env=env)
        walls.append(time.perf_counter() - t0)
        rep = json.loads(proc.stdout.strip().splitlines()[-1])
        imports.append(rep["import_s"])
        works.append(rep["work_s"])
    figures.append(_figure("sample_end_to_end", "highs", "subprocess_wall_s", walls,
                           note="python -c: interpreter + imports + work (no target)"))
    figures.append(_figure("sample_end_to_end", "highs", "  subprocess import_s", imports))
    figures.append(_figure("sample_end_to_end", "highs", "  subprocess work_s", works))
    figures.append(_figure("sample_end_to_end", "highs", "  bare interpreter_s", bare, note="python -c pass"))
    return {"figures": figures,
            "details": {"n_funded_optimum": len(alloc.funded_ids), "n_funded_ranking_rule": len(rank.funded_ids)}}


# --------------------------------------------------------------------------- 3. sample_explain


def bench_sample_explain(quick: bool) -> dict:
    from ditp_model.rules.allocation import AllocationParams, allocate
    from ditp_model.rules.explain import envelope_shadow_price, explain, forced_optima

    ev = _sample_evaluation()
    reps = REPS["sample_explain"][quick]
    figures, details = [], {}
    tables = {}
    for solver in SOLVERS:
        alloc = allocate(ev, AllocationParams(solver=solver))
        times, exp = [], None
        for _ in range(reps):
            w, exp = _timed(explain, ev, alloc)
            times.append(w)
        figures.append(_figure("sample_explain", solver, "explain_s", times, target=2.0))
        # Where the time goes: the parts of explain(), timed once each.
        w_forced, forced = _timed(forced_optima, alloc)
        w_price, _ = _timed(envelope_shadow_price, alloc)
        figures.append(_figure("sample_explain", solver, "  part forced_optima_s", w_forced))
        figures.append(_figure("sample_explain", solver, "  part envelope_shadow_price_s", w_price))
        t = exp.table
        n_infeasible_in = int((t["keeps_out"].str.startswith("impossible à financer")).sum())
        details[solver] = {"n_candidates": len(alloc.candidates.table), "n_forced_solves": len(forced),
                           "n_entry_gaps": int(t["entry_gap"].notna().sum()),
                           "n_exit_margins": int(t["exit_margin"].notna().sum()),
                           "n_forced_in_infeasible": n_infeasible_in,
                           "shadow_price_per_keur": exp.shadow_price_per_keur}
        tables[solver] = t
    a, b = tables["highs"], tables["cbc"]
    same = bool(a["entry_gap"].round(4).equals(b["entry_gap"].round(4)) and a["exit_margin"].round(4).equals(b["exit_margin"].round(4)))
    return {"figures": figures, "details": details, "same_gaps_and_margins": same,
            "notes": ["explain() = forced_optima (one level-1 re-solve per candidate; HiGHS re-uses the model in "
                      "process, CBC rebuilds it and runs the cbc binary each time) + shadow price (one LP) + "
                      "integer checks; a candidate that cannot be forced in also runs the infeasibility diagnosis."]}


# --------------------------------------------------------------------------- 4. national_10k


def national_evaluation(n: int | None = None, seed: int | None = None):
    """A generated national call: ``n`` applications over the 13 metropolitan regions (seeded, in memory).

    Built like ``tests/allocation_cases.make_evaluation`` (rules of ``data/appel_2021.toml``, canonical
    application columns, an eligibility table and a scores table holding the columns the allocation
    reads), vectorised.  Returns ``(evaluation, group_rules, info)``.
    """
    import numpy as np
    import pandas as pd

    from ditp_model import Evaluation, Weights, load_call_rules
    from ditp_model.rules.allocation import GroupRule

    cfg = NATIONAL
    n = cfg["n_applications"] if n is None else n
    rng = np.random.default_rng(cfg["seed"] if seed is None else seed)
    rules = load_call_rules(CALL)
    regions = [r for r in rules.lists.regions if r not in OVERSEAS]
    assert len(regions) == 13, regions
    weights = np.array([REGION_WEIGHTS[r] for r in regions])
    region = rng.choice(len(regions), size=n, p=weights / weights.sum())
    offset = rng.normal(0.0, 5.0, size=len(regions))  # some regions review lower: their minimum counts bind
    score = np.round(np.clip(rng.normal(55.0, 15.0, size=n) + offset[region], 0.0, 100.0), 4)
    requested = rng.integers(cfg["request_min_eur"], cfg["request_max_eur"] + 1, size=n)
    large = rng.random(n) < cfg["large_collective_share"]
    eligible = rng.random(n) < cfg["eligible_share"]
    scored = rng.random(n) < cfg["scored_share"]
    start = np.datetime64("2021-08-23T00:00:00")
    submitted = start + rng.integers(0, 53 * 86400, size=n).astype("timedelta64[s]")
    ids = [f"N{k:05d}" for k in range(n)]
    maturities = np.array(rules.eligibility.maturity_levels)
    reforms = np.array(rules.lists.priority_reforms)
    org_types = np.array(rules.eligibility.lead_org_types)
    reg_names = np.array(regions)[region]
    apps = pd.DataFrame({
        "application_id": ids,
        "title": [f"Projet {i}" for i in ids],
        "lead_org": [f"Porteur de {i}" for i in ids],
        "lead_org_type": org_types[rng.integers(0, len(org_types), size=n)],
        "partners": [tuple(f"Partenaire {k}" for k in range(5)) if lg else () for lg in large],
        "partner_types": [("state_operator",) * 5 if lg else () for lg in large],
        "region": reg_names,
        "regions_covered": [()] * n,
        "priority_reform": reforms[rng.integers(0, len(reforms), size=n)],
        "maturity": maturities[rng.integers(0, len(maturities), size=n)],
        "requested_eur": pd.array(requested, dtype="int64"),
        "expense_services_eur": pd.array(requested, dtype="int64"),
        "expense_digital_tools_eur": pd.array(np.zeros(n, dtype="int64"), dtype="int64"),
        "expense_training_eur": pd.array(np.zeros(n, dtype="int64"), dtype="int64"),
        "expense_other_eur": pd.array(np.zeros(n, dtype="int64"), dtype="int64"),
        "submitted_at": pd.Series(submitted).astype("datetime64[us]"),
        "source_row": pd.array(range(2, n + 2), dtype="int64"),
    })
    elig = pd.DataFrame({
        "application_id": ids,
        "eligible": eligible,
        "reason_codes": np.where(eligible, "", "lead_org_type"),
        "reasons": np.where(eligible, "", "porteur de type « entreprise privée » : non éligible"),
    })
    ok = eligible & scored
    rank = pd.Series(np.nan, index=range(n))
    order = pd.DataFrame({"s": -score, "t": submitted, "id": ids})[ok].sort_values(["s", "t", "id"], kind="mergesort").index
    rank[order] = np.arange(1, len(order) + 1)
    ext, cap = rules.funding.extended_cap.award_cap_eur, rules.award_cap_eur
    nan = np.full(n, np.nan)
    scores = pd.DataFrame({
        "application_id": ids,
        "n_reviews": pd.array(np.where(scored, 3, 1), dtype="int64"),
        **{col: nan for col in rules.review_columns},
        **{f"{c}_score": nan for c in rules.criterion_names},
        "n_partners": pd.array(np.where(large, 5, 0), dtype="int64"),
        "n_regions": pd.array(np.ones(n, dtype="int64"), dtype="int64"),
        "n_org_types": pd.array(np.where(large, 2, 1), dtype="int64"),
        "large_collective": large,
        "award_cap_eur": pd.array(np.where(large, ext, cap), dtype="int64"),
        "scored": scored,
        "score_flag": np.where(scored, "", f"avis insuffisants (1 avis pour {rules.scoring.min_reviews} requis) : dossier non classé"),
        "score": np.where(scored, score, np.nan),
        "rank": pd.array(rank.to_numpy(), dtype="Int64"),
    })
    reviews = pd.DataFrame({"application_id": pd.Series([], dtype="str"), "reviewer_id": pd.Series([], dtype="str")})
    ev = Evaluation(rules, apps, reviews, Weights.from_rules(rules), elig, scores, files={})
    # 13 regional rules: at least min_count_share of the region's candidates, at most max_share_factor × its
    # share of the requested (capped) money.
    upper = np.minimum(requested, np.where(large, ext, cap))
    group_rules = []
    for j, r in enumerate(regions):
        m = ok & (region == j)
        share = float(upper[m].sum() / upper[ok].sum())
        group_rules.append(GroupRule("region", r, min_count=int(math.ceil(cfg["min_count_share"] * int(m.sum()))),
                                     max_share=round(min(1.0, cfg["max_share_factor"] * share), 3)))
    info = {"n_applications": n, "n_candidates": int(ok.sum()), "regions": regions,
            "capped_request_total_eur": int(upper[ok].sum()),
            "rules": [{"region": g.value, "min_count": g.min_count, "max_share": g.max_share} for g in group_rules]}
    return ev, tuple(group_rules), info


def child_national(solver: str, reps: int, n: int | None = None) -> dict:
    """One fresh process: generate the call, allocate `reps` times with `solver`, report times and peak RSS."""
    from ditp_model.rules.allocation import AllocationParams, allocate, ranking_rule

    rss_start = _maxrss_bytes()
    t_gen, (ev, group_rules, info) = _timed(national_evaluation, n)
    rss_gen = _maxrss_bytes()
    params = AllocationParams(envelope_eur=NATIONAL["envelope_eur"], group_rules=group_rules,
                              solver=solver, time_limit_s=NATIONAL["time_limit_s"])
    walls, solves, results = [], [], []
    for _ in range(reps):
        with SolveLog() as log:
            w, alloc = _timed(allocate, ev, params)
        walls.append(w)
        solves.append(alloc.seconds)
        r = {"status": alloc.status.value, "mip_gap": alloc.mip_gap, "message": alloc.message,
             "solver_version": alloc.solver_version, **log.summary()}
        if alloc.is_optimal:
            r.update(objective=alloc.objective, n_funded=len(alloc.funded_ids), total_awarded_eur=alloc.total_awarded_eur,
                     other_optimal_portfolios=alloc.other_optimal_portfolios)
        results.append(r)
        if not alloc.is_optimal:
            break  # a time-limit stop: do not repeat it
    t_rank, rank = _timed(ranking_rule, ev, params)
    return {"solver": solver, "generate_s": t_gen, "allocate_wall_s": walls, "solve_s": solves,
            "ranking_rule_s": t_rank, "ranking_rule_total_score": rank.total_score,
            "ranking_rule_unmet_rules": len(rank.unmet_rules), "results": results,
            "maxrss_bytes": _maxrss_bytes(), "maxrss_after_imports_bytes": rss_start, "maxrss_after_generate_bytes": rss_gen,
            "info": info}


def bench_national_10k(quick: bool, n: int | None = None) -> dict:
    figures, details = [], {}
    size = ["--national-n", str(n)] if n else []
    default = not n or n == NATIONAL["n_applications"]
    for solver in SOLVERS:
        reps = REPS["national_10k" if solver == "highs" else "national_10k_cbc"][quick]
        rep, wall = _run_child(["--child", "national_10k", "--solver", solver, "--reps", str(reps), *size],
                               timeout=3600)
        res = rep["results"]
        status = res[-1]["status"]
        per_solve = ", ".join(f"{x:.2f}" for x in res[-1]["solve_seconds"])
        figures.append(_figure("national_10k", solver, "allocate_wall_s", rep["allocate_wall_s"], target=10.0 if default else None,
                               note=f"status {status}; last run {res[-1]['n_solves']} solves [{per_solve}] s"
                                    + ("" if status == "optimal" else f" ({res[-1]['solve_status'][-1]} at the last)")))
        figures.append(_figure("national_10k", solver, "solve_s (Allocation.seconds)", rep["solve_s"]))
        figures.append(_figure("national_10k", solver, "generate_evaluation_s", rep["generate_s"]))
        figures.append(_figure("national_10k", solver, "ranking_rule_s", rep["ranking_rule_s"]))
        figures.append(_figure("national_10k", solver, "peak_rss_gib", rep["maxrss_bytes"] / GIB, unit="GiB",
                               target=2.0 if default else None, note="ru_maxrss of a fresh process"))
        figures.append(_figure("national_10k", solver, "  rss_after_imports_gib", rep["maxrss_after_imports_bytes"] / GIB, unit="GiB"))
        figures.append(_figure("national_10k", solver, "child_process_wall_s", wall, note="whole child process"))
        details[solver] = {k: v for k, v in rep.items() if k != "info"}
        details["instance"] = rep["info"]
    h, c = details["highs"]["results"][-1], details["cbc"]["results"][-1]
    same = (h.get("objective") == c.get("objective")) if h["status"] == c["status"] == "optimal" else None
    return {"figures": figures, "details": details, "same_objective": same,
            "notes": [f"AllocationParams(envelope_eur={NATIONAL['envelope_eur']}, time_limit_s={NATIONAL['time_limit_s']}) "
                      "per solve, 13 GroupRule (min_count and max_share per region)."]}


# --------------------------------------------------------------------------- 5. pabulib


def bench_pabulib(quick: bool) -> dict:
    if not PABULIB_DIR.is_dir():
        print("../shared absent: Pabulib workload skipped")
        return {"figures": [], "skipped": "../shared absent: Pabulib workload skipped"}
    from ditp_model.inputs.pabulib import read_pabulib
    from ditp_model.rules.pabulib import allocate_pabulib

    reps = REPS["pabulib"][quick]
    files = sorted(PABULIB_DIR.glob("*.pb"))
    figures, details = [], {}
    all_same = True
    for f in files:
        t_read, inst = _timed(read_pabulib, f)
        d = {"read_s": t_read, "n_projects": len(inst.projects),
             "n_votes": None if inst.votes is None else len(inst.votes), "vote_type": inst.vote_type}
        for solver in SOLVERS:
            allocate_pabulib(inst, solver=solver, time_limit_s=120.0)  # warm-up
            walls, secs, out = [], [], None
            for _ in range(reps):
                w, out = _timed(allocate_pabulib, inst, solver=solver, time_limit_s=120.0)
                walls.append(w)
                secs.append(out["seconds"])
            d[solver] = {"status": out["status"], "total_score": out["total_score"], "total_cost": out["total_cost"],
                         "budget": out["budget"], "n_selected": None if out["selected"] is None else len(out["selected"]),
                         "seconds_median": statistics.median(secs), "seconds_max": max(secs),
                         "wall_median": statistics.median(walls)}
            figures.append(_figure("pabulib", solver, f"{f.stem[:38]} seconds", secs,
                                   note=f"{out['status']}, score {out['total_score']}"))
        d["same_total_score"] = d["highs"]["total_score"] == d["cbc"]["total_score"] and d["highs"]["status"] == "optimal"
        all_same &= d["same_total_score"]
        figures.append(_figure("pabulib", None, f"{f.stem[:38]} read_s", t_read))
        details[f.name] = d
    return {"figures": figures, "details": details, "all_same_total_score": all_same, "n_files": len(files)}


BENCHES = {"sample_solve": bench_sample_solve, "sample_end_to_end": bench_sample_end_to_end,
           "sample_explain": bench_sample_explain, "national_10k": bench_national_10k, "pabulib": bench_pabulib}


# --------------------------------------------------------------------------- output


def _fmt_val(v: float, unit: str) -> str:
    if unit == "GiB":
        return f"{v:.3f}"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def print_table(results: dict) -> None:
    rows = [("workload", "solver", "metric", "median", "max", "n", "target", "met", "note")]
    for name, res in results.items():
        for f in res.get("figures", []):
            target = "" if f["target"] is None else ("< " + _fmt_val(f["target"], f["unit"])
                                                     + (" GiB" if f["unit"] == "GiB" else ""))
            met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
            unit = " GiB" if f["unit"] == "GiB" else ""
            rows.append((name, f["solver"] or "", f["metric"], _fmt_val(f["median"], f["unit"]) + unit,
                         _fmt_val(f["max"], f["unit"]) + unit, str(f["n"]), target, met, f["note"]))
        if "skipped" in res:
            rows.append((name, "", res["skipped"], "", "", "", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(c.ljust(w) if i < 3 or i == 8 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--only", action="append", choices=WORKLOADS, metavar="NAME",
                    help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"), help="JSON file written (default %(default)s)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile summary of each workload (slower)")
    ap.add_argument("--national-n", type=int, default=None,
                    help=f"size of the generated national call (default {NATIONAL['n_applications']}; "
                         "its target applies to the default only)")
    # internal: fresh-process workloads
    ap.add_argument("--child", choices=["national_10k"], help=argparse.SUPPRESS)
    ap.add_argument("--solver", choices=SOLVERS, help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        rep = child_national(args.solver, args.reps, args.national_n)
        Path(args.child_out).write_text(json.dumps(rep, default=str))
        return 0

    names = args.only or list(WORKLOADS)
    started = _dt.datetime.now().astimezone()
    meta = {"date": started.isoformat(timespec="seconds"),
            "command": " ".join([os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT))
                                 else sys.executable, *sys.argv]),
            "quick": args.quick, "machine": machine_info(), "loadavg_start": _loadavg(),
            "note": "Timings are wall-clock on a shared machine: compare load averages before reading a figure."}
    print(f"ditp-allocation benchmarks — {meta['date']} — {meta['machine']['cpu_model']}, "
          f"{meta['machine']['logical_cores']} cores, {meta['machine']['ram_gib']} GiB, Python {meta['machine']['python']}")
    print(f"load average at start: {meta['loadavg_start']}")
    results = {}
    kwargs = {"national_10k": {"n": args.national_n}}
    for name in names:
        print(f"… {name}", flush=True)
        la0 = _loadavg()
        t0 = time.perf_counter()
        if args.profile:
            prof = cProfile.Profile()
            res = prof.runcall(BENCHES[name], args.quick, **kwargs.get(name, {}))
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(25)
            print(s.getvalue())
        else:
            res = BENCHES[name](args.quick, **kwargs.get(name, {}))
        res["workload_wall_s"] = time.perf_counter() - t0
        res["loadavg_before"], res["loadavg_after"] = la0, _loadavg()
        results[name] = res
    meta["loadavg_end"] = _loadavg()
    meta["total_wall_s"] = sum(r["workload_wall_s"] for r in results.values())
    print()
    print_table(results)
    missed = [f for r in results.values() for f in r.get("figures", []) if f["met"] is False]
    print()
    for name, r in results.items():
        for key in ("same_objective", "same_gaps_and_margins", "all_same_total_score"):
            if key in r:
                print(f"{name}: {key} = {r[key]}")
    print(f"targets missed: {len(missed)}" + "".join(f"\n  - {f['workload']} / {f['solver']} / {f['metric']}: "
                                                      f"{_fmt_val(f[f['target_on']], f['unit'])} (target < {_fmt_val(f['target'], f['unit'])})"
                                                      for f in missed))
    print(f"load average at end: {meta['loadavg_end']} (shared machine: timings may be inflated)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**meta, "workloads": results}, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
