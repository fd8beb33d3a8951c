"""Benchmark of the merit-order rule (issue 12): the sample's decision and explanations, end to end, national scale.

Run: ``make benchmark-merit`` (or ``python benchmarks/bench_merit.py``).  Writes
``benchmarks/RESULTS_merit.md`` with the machine, the load average and every
figure (medians of repeated runs).  Targets of the issue: sample solve under
20 ms, end to end from files under 300 ms, all explanations under 1 s,
10,000 applications with 13 regional rules under 5 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run_benchmarks import NATIONAL, machine_info, national_evaluation  # noqa: E402

from ditp_model.rules.allocation import AllocationParams, allocate  # noqa: E402
from ditp_model.rules.explain import explain  # noqa: E402
from ditp_model.inputs.io import load_inputs  # noqa: E402
from ditp_model.scoring.pipeline import evaluate  # noqa: E402


def _median(fn, reps: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    rows = []
    info = machine_info()
    load_before = os.getloadavg()
    ev = evaluate(load_inputs(ROOT / "data/appel_2021.toml", ROOT / "data/candidatures_exemple.csv",
                              ROOT / "data/evaluations_exemple.csv"))
    for label, params in (("recherche exacte (défaut)", AllocationParams()),
                          ("MILP HiGHS", AllocationParams(exact_search=False)),
                          ("pour comparaison : max_total_score", AllocationParams(rule="max_total_score"))):
        t, a = _median(lambda p=params: allocate(ev, p), 7)
        rows.append(("sample", f"allocate, {label}", f"{1000 * t:.1f} ms", f"solve {1000 * a.seconds:.1f} ms",
                     "< 20 ms (solve)" if "défaut" in label else ""))
    a = allocate(ev)
    t, _ = _median(lambda: explain(ev, a), 5)
    rows.append(("sample", "explain (every entry gap and exit margin)", f"{1000 * t:.0f} ms", "", "< 1 s"))
    cmd = [sys.executable, "-m", "ditp_model.cli", "allocate", "--call", "data/appel_2021.toml", "--applications",
           "data/candidatures_exemple.csv", "--reviews", "data/evaluations_exemple.csv", "--out", str(ROOT / ".tmp/bench_merit")]
    t, _ = _median(lambda: subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True), 3)
    rows.append(("sample", "ditp-model allocate, end to end (process)", f"{t:.2f} s", "imports, explanations, "
                 "comparisons and files included", "< 300 ms"))
    ev_n, group_rules, _info = national_evaluation()
    for band in (0.0, 0.5):
        params = AllocationParams(envelope_eur=NATIONAL["envelope_eur"], group_rules=group_rules, tie_band_points=band,
                                  time_limit_s=60.0)
        t0 = time.perf_counter()
        a = allocate(ev_n, params)
        t = time.perf_counter() - t0
        what = (f"{a.status.value}, {a.solver}, {len(a.funded_ids)} lauréats, {len(a.exceptions)} exceptions"
                if a.is_optimal else f"{a.status.value} ({a.solver}) : {a.message[:80]}")
        rows.append(("national 10 000, 13 règles régionales", f"allocate, δ = {band}", f"{t:.1f} s", what, "< 5 s"))
    load_after = os.getloadavg()
    lines = ["# Merit order (issue 12): measured figures", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `benchmarks/bench_merit.py`; "
             f"machine: {info.get('cpu_model', '?')}, {info.get('usable_cores', os.cpu_count())} cores, {info.get('ram_gib', '?')} GiB, "
             f"Python {info.get('python')}, HiGHS {info.get('packages', {}).get('highspy')}, commit {info.get('git_commit', '?')[:12]}; "
             f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (a shared machine).", "",
             "| workload | measure | median | detail | target |", "|---|---|---|---|---|"]
    lines += [f"| {w} | {m} | {v} | {d} | {t} |" for w, m, v, d, t in rows]
    (HERE / "RESULTS_merit.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
