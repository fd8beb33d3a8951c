"""Explanations of the sample (issue 18, item 4): every entry gap and exit margin, before and after.

``explain(evaluation, allocation)`` on the sample call, for the default rule (merit order) and the two
optimisation rules, in process, median of repetitions: "before" with the exact route of
``rules/explain_fast.py`` switched off (the MILP re-solves, as before issue 18's item 4), "now" as
shipped; the two tables are checked equal.

Run::

    HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/bench_explain.py [--reps 5] [--no-write]

Appends a Markdown section to ``benchmarks/RESULTS_explain.md`` (machine, load average, versions).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    import pandas as pd

    import run_benchmarks as rb
    from ditp_model.inputs.io import load_inputs
    from ditp_model.rules import explain_fast
    from ditp_model.rules.allocation import get_rule
    from ditp_model.rules.explain import explain
    from ditp_model.scoring.pipeline import evaluate

    load_start = os.getloadavg()
    ev = evaluate(load_inputs(ROOT / "data" / "appel_2021.toml", ROOT / "data" / "candidatures_exemple.csv",
                              ROOT / "data" / "evaluations_exemple.csv"))
    exact = explain_fast.forced_optima_exact
    rows = []
    for rule in (None, "max_total_score", "max_score_weighted_award"):
        decider = get_rule(rule)
        alloc = decider.decide(ev)
        times = {}
        tables = {}
        for label, fn in (("before", lambda allocation: None), ("now", exact)):
            explain_fast.forced_optima_exact = fn
            ts = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                tables[label] = explain(ev, alloc).table
                ts.append(time.perf_counter() - t0)
            times[label] = statistics.median(ts)
        explain_fast.forced_optima_exact = exact
        pd.testing.assert_frame_equal(tables["before"], tables["now"], check_exact=True)
        t = tables["now"]
        rows.append({"rule": decider.name, "before_s": times["before"], "now_s": times["now"],
                     "gaps": int(t["entry_gap"].notna().sum()), "margins": int(t["exit_margin"].notna().sum()),
                     "target_s": 0.5 if rule is None else 1.0})
        print(json.dumps(rows[-1]), flush=True)
    load_end = os.getloadavg()
    m = rb.machine_info()
    lines = [f"## Run of {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"* **Machine:** {json.dumps(m, ensure_ascii=False)}",
             f"* **Load average (1/5/15 min):** {load_start} at the start, {load_end} at the end.",
             f"* **Command:** `python benchmarks/bench_explain.py {' '.join(argv if argv is not None else sys.argv[1:])}`; "
             f"median of {args.reps} in process; before = MILP re-solves (exact route off), now = as shipped; "
             "tables checked equal.", "",
             "| rule | entry gaps | exit margins | before | now | target | met |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rule']} | {r['gaps']} | {r['margins']} | {r['before_s'] * 1000:.0f} ms | "
                     f"{r['now_s'] * 1000:.0f} ms | < {r['target_s']} s | {'yes' if r['now_s'] < r['target_s'] else '**no**'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        out = HERE / "RESULTS_explain.md"
        head = "" if out.exists() else ("# Explanations of the sample (issue 18, item 4)\n\n"
                                        "Written by `benchmarks/bench_explain.py`; newest run last.\n\n")
        with out.open("a", encoding="utf-8") as fh:
            fh.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
