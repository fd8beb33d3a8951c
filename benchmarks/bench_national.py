"""National scale (issue 18, item 6): the generated national call under the default rule and the optimisation rules.

The call is ``run_benchmarks.national_evaluation`` (seeded, 13 regional rules: a minimum count and a
maximum share per region, 300 M€ scaled with the size).  Each measure runs in a fresh process (time of
``DecisionRule.decide`` and ``explain`` where asked, peak resident memory of that process), HiGHS.

Run::

    HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/bench_national.py [--sizes 10000,100000]

Appends a Markdown section to ``benchmarks/RESULTS_national.md`` (machine, load average, versions).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def child(n: int, rule: str, time_limit: float) -> dict:
    import run_benchmarks as rb
    from ditp_model.rules.allocation import AllocationParams, get_rule

    t0 = time.perf_counter()
    ev, group_rules, info = rb.national_evaluation(n)
    t_gen = time.perf_counter() - t0
    envelope = rb.NATIONAL["envelope_eur"] * n // rb.NATIONAL["n_applications"]
    decider = get_rule(None if rule == "default" else rule)
    params = AllocationParams(envelope_eur=envelope, group_rules=group_rules, time_limit_s=time_limit,
                              rule=decider.name)
    t0 = time.perf_counter()
    alloc = decider.decide(ev, params)
    t_dec = time.perf_counter() - t0
    out = {"n": n, "rule": decider.name, "generate_s": t_gen, "decide_s": t_dec, "status": alloc.status.value,
           "solver": alloc.solver_version, "funded": len(alloc.funded_ids) if alloc.is_optimal else None,
           "awarded_eur": alloc.total_awarded_eur if alloc.is_optimal else None, "peak_rss_gib": rb._maxrss_bytes() / 2**30}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--rules", default="default,max_total_score,max_score_weighted_award")
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--child", nargs=2, metavar=("N", "RULE"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.time_limit)))
        return 0
    import run_benchmarks as rb

    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    rows = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        for rule in args.rules.split(","):
            t0 = time.perf_counter()
            try:
                p = subprocess.run([sys.executable, __file__, "--child", str(n), rule, "--time-limit", str(args.time_limit)],
                                   env=env, capture_output=True, text=True, timeout=args.time_limit * 4 + 120)
                wall = time.perf_counter() - t0
                row = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {
                    "n": n, "rule": rule, "status": "échec", "error": p.stderr[-300:]}
            except subprocess.TimeoutExpired:
                wall, row = time.perf_counter() - t0, {"n": n, "rule": rule, "status": "arrêté (délai)"}
            row["process_wall_s"] = wall
            print(json.dumps(row, ensure_ascii=False), flush=True)
            rows.append(row)
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else None
    m = rb.machine_info()
    lines = [f"## Run of {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"* **Machine:** {json.dumps(m, ensure_ascii=False)}",
             f"* **Load average (1/5/15 min):** {load_start} at the start, {load_end} at the end.",
             f"* **Command:** `python benchmarks/bench_national.py {' '.join(argv if argv is not None else sys.argv[1:])}`; "
             f"time limit {args.time_limit:.0f} s per solve; one fresh process per line.", "",
             "| applications | rule | decide (s) | status | funded | awarded (€) | generate (s) | peak RSS (GiB) | "
             "process wall (s) | solver |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['rule']} | {r.get('decide_s', float('nan')):.2f} | {r['status']} | "
                     f"{r.get('funded')} | {r.get('awarded_eur')} | {r.get('generate_s', float('nan')):.2f} | "
                     f"{r.get('peak_rss_gib', float('nan')):.3f} | {r['process_wall_s']:.1f} | {r.get('solver', '')} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        out = HERE / "RESULTS_national.md"
        head = "" if out.exists() else "# National scale (issue 18, item 6)\n\nWritten by `benchmarks/bench_national.py`; newest run last.\n\n"
        with out.open("a", encoding="utf-8") as fh:
            fh.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
