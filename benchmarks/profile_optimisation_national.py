"""Where the time of an optimisation rule goes on the generated national call (issue 18, item 6).

One fresh process per line.  The child times, inside ``DecisionRule.decide``: the candidate table
(``rules.candidates.check``), every model build (``milp.build``), every solve (``milp.solve``) split into
HiGHS' own run (``highspy.Highs.run``) and PuLP's passing of the model and the solution, the read-back
and the integer re-check.  Solves are named by what they are for:

* relaxation: the LP whose duals give the Lagrangian bound (``rules/lagrange.py``);
* level 1: the value (with the reduction: the heuristic reduced problem, then the problem with the
  proven values fixed when it is needed);
* uniqueness proof: « is there another portfolio of the same value? » (constraint ``other``);
* levels 2–3 and tie-break: only when a tie exists;
* exact enumeration: the candidates the bound leaves free, settled in integers (``lagrange.enumerate_best``).

``--full`` switches the reduction off (``lagrange.applies`` answers False): the path every decision took
before, for the "before" column.

Run::

    HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/profile_optimisation_national.py --sizes 10000 [--full] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def child(n: int, rule: str, full: bool) -> dict:
    import highspy

    import run_benchmarks as rb
    from ditp_model.rules import allocation, candidates, lagrange, milp, optimise

    times: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)

    def timed(name, f):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                times[name] += time.perf_counter() - t0
                counts[name] += 1
        return wrapper

    highs_run = highspy.Highs.run
    inside = {"t": 0.0}

    def run(self):
        t0 = time.perf_counter()
        try:
            return highs_run(self)
        finally:
            inside["t"] += time.perf_counter() - t0

    highspy.Highs.run = run
    real_solve = milp.solve

    def solve(model, *a, **k):
        if not model.problem.isMIP():
            kind = "solve: relaxation"
        elif model.problem.get_constraint_by_name("other") is not None:
            kind = "solve: uniqueness proof"
        elif model.problem.get_constraint_by_name("same_spend") is not None:
            kind = "solve: tie-break"
        elif model.problem.get_constraint_by_name("level_value") is not None:
            kind = "solve: levels 2–3"
        else:
            kind = "solve: level 1"
        free = sum(1 for x in model.x if x.lowBound != x.upBound)
        before = inside["t"]
        t0 = time.perf_counter()
        info = real_solve(model, *a, **k)
        wall = time.perf_counter() - t0
        times[kind] += wall
        counts[kind] += 1
        times["  of which HiGHS run"] += inside["t"] - before
        times["  of which PuLP passing model and solution"] += wall - (inside["t"] - before)
        sizes.setdefault(kind, []).append(free)
        return info

    sizes: dict[str, list] = {}
    build = timed("build (PuLP model)", milp.build)
    read_back = timed("read back", milp.read_back)
    verify = timed("integer re-check", milp.verify_awards)
    milp.solve, milp.build, milp.read_back, milp.verify_awards = solve, build, read_back, verify
    optimise.verify_awards = verify  # optimise calls milp.solve / build / read_back through the module
    lagrange.enumerate_best = timed("exact enumeration (rules/lagrange.py)", lagrange.enumerate_best)
    candidates_check = timed("candidate table (check)", candidates.check)
    allocation.check = candidates_check
    if full:
        lagrange.applies = lambda cands: False
    ev, group_rules, _ = rb.national_evaluation(n)
    envelope = rb.NATIONAL["envelope_eur"] * n // rb.NATIONAL["n_applications"]
    params = allocation.AllocationParams(envelope_eur=envelope, group_rules=group_rules, time_limit_s=120.0, rule=rule)
    t0 = time.perf_counter()
    alloc = allocation.get_rule(rule).decide(ev, params)
    total = time.perf_counter() - t0
    return {"n": n, "rule": rule, "mode": "full problem (before)" if full else "reduced (after)", "decide_s": total,
            "status": alloc.status.value, "funded": len(alloc.funded_ids) if alloc.is_optimal else None,
            "awarded_eur": alloc.total_awarded_eur if alloc.is_optimal else None,
            "tied": alloc.other_optimal_portfolios, "times": dict(times), "counts": dict(counts),
            "free": {k: v for k, v in sizes.items()}}


def table(rows: list[dict]) -> str:
    phases = ["candidate table (check)", "build (PuLP model)", "solve: relaxation", "solve: level 1",
              "solve: uniqueness proof", "solve: levels 2–3", "solve: tie-break", "exact enumeration (rules/lagrange.py)",
              "  of which HiGHS run",
              "  of which PuLP passing model and solution", "read back", "integer re-check"]
    head = "| phase (s) | " + " | ".join(f"{r['n']:,} {r['rule']}, {r['mode']}" for r in rows) + " |"
    lines = [head, "|---|" + "---|" * len(rows)]
    for ph in phases:
        cells = []
        for r in rows:
            t, c = r["times"].get(ph), r["counts"].get(ph)
            if t is None:
                cells.append("—")
                continue
            free = r["free"].get(ph)
            extra = f" ×{c}" if c and c > 1 else ""
            if free:
                extra += f" (free candidates: {', '.join(f'{f:,}' for f in free)})"
            cells.append(f"{t:.2f}{extra}")
        lines.append(f"| {ph} | " + " | ".join(cells) + " |")
    lines.append("| **decide, in all** | " + " | ".join(f"**{r['decide_s']:.2f}**" for r in rows) + " |")
    lines.append("| decision | " + " | ".join(f"{r['status']}, {r['funded']} funded, {r['awarded_eur']} €, tie: {r['tied']}"
                                            for r in rows) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000")
    ap.add_argument("--rules", default="max_total_score,max_score_weighted_award")
    ap.add_argument("--full", action="store_true", help="also the full problem (the path before the reduction)")
    ap.add_argument("--write", action="store_true", help="append the table to RESULTS_national.md")
    ap.add_argument("--child", nargs=3, metavar=("N", "RULE", "FULL"))
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.child[2] == "1")))
        return 0
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    rows = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        for rule in args.rules.split(","):
            for full in ([True, False] if args.full else [False]):
                p = subprocess.run([sys.executable, __file__, "--child", str(n), rule, "1" if full else "0"], env=env,
                                   capture_output=True, text=True, timeout=1800)
                if p.returncode:
                    print(p.stderr[-2000:], file=sys.stderr)
                    return 1
                rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else None
    import datetime as _dt

    text = (f"### Profile of {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
            f"(`python benchmarks/profile_optimisation_national.py {' '.join(argv if argv is not None else sys.argv[1:])}`)\n\n"
            f"Load average (1/5/15 min): {load_start} at the start, {load_end} at the end; one fresh process per column.\n\n"
            + table(rows) + "\n")
    print(text)
    if args.write:
        with (HERE / "RESULTS_national.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
