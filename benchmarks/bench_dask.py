"""Dask throughput of weight draws on a national call (issue 18, item 6): LocalCluster with 1, then 2 workers.

The call is ``run_benchmarks.national_evaluation(N)`` (the generator of ``bench_national.py``: seeded,
13 regional rules, envelope scaled with the size) decided by the **default rule (merit order) with
the tie band δ = 0** — under the call's default δ the merit order gives no decision on this call today
(``RESULTS_national.md``), with δ = 0 it decides.  The weight uncertainty is the simulation of
``bench_montecarlo.national_scores`` (three criterion values per application, Dirichlet weights of
concentration 50 around 0.5/0.3/0.2).  One ``ScoreResolver`` is built in this process; its draws are sent
to a Dask ``LocalCluster`` on 127.0.0.1 (worker processes, one thread each, no dashboard) with
``solve_many(scheduler=…)``, first with 1 worker, then with 2 (each worker rebuilds the resolver once,
inside the wall time).  Each cluster is started before the clock and stopped after.  The funded sets and
awards of the two runs are compared (they must be identical).  The draws of a run are those given by
``--draws`` (1,000 by default): nothing is extrapolated unless ``--draws`` is smaller, which the table says.

Run (one heavy benchmark at a time on a shared machine)::

    HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/bench_dask.py [--n 10000] [--draws 1000] [--no-write]

Appends a Markdown section to ``benchmarks/RESULTS_montecarlo.md``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as _dt
import os
import sys
import time
from importlib.metadata import version as pkg_version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="applications of the generated national call")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    from distributed import LocalCluster

    import run_benchmarks as rb
    from bench_montecarlo import national_scores
    from ditp_model.rules.allocation import AllocationParams, allocate
    from ditp_model.uncertainty.resolve import ScoreResolver

    load_before = os.getloadavg()
    ev, group_rules, info = rb.national_evaluation(args.n)
    envelope = rb.NATIONAL["envelope_eur"] * args.n // rb.NATIONAL["n_applications"]
    params = AllocationParams(envelope_eur=envelope, group_rules=group_rules, time_limit_s=rb.NATIONAL["time_limit_s"],
                              tie_band_points=0.0, check_alternatives=False)
    t0 = time.perf_counter()
    r = ScoreResolver(ev, params)
    build_s = time.perf_counter() - t0
    ids, scores = national_scores(ev, args.draws)
    S = scores[:, [ids.index(a) for a in r.candidate_ids]]
    print(f"national call {args.n:,} applications, {r.n:,} candidates; resolver built in {build_s:.1f} s", flush=True)

    # one draw in process, and allocate() on it: the resolver's answer is the rule's (checked, not assumed)
    t0 = time.perf_counter()
    f0, a0 = r.solve_many(S[:1])
    one_s = time.perf_counter() - t0
    from dataclasses import replace

    sc = ev.scores.copy()
    new = dict(zip(r.candidate_ids, S[0]))
    sc["score"] = [new.get(a, s) for a, s in zip(sc["application_id"], sc["score"])]
    alloc = allocate(replace(ev, scores=sc), params)
    # decisions lists the candidates the rule considered; any other candidate is not funded (award 0)
    dec = alloc.decisions.set_index("application_id").reindex(r.candidate_ids)
    same_as_allocate = bool(alloc.is_optimal
                            and np.array_equal(dec["funded"].fillna(False).to_numpy(dtype=bool), f0[0])
                            and np.array_equal(dec["award_eur"].fillna(0).to_numpy(dtype=np.int64), a0[0]))
    print(f"one draw in process: {one_s:.2f} s; same as allocate(): {same_as_allocate}", flush=True)

    runs = []
    results = {}
    for k in [int(x) for x in args.workers.split(",")]:
        t0 = time.perf_counter()
        with LocalCluster(host="127.0.0.1", protocol="tcp", n_workers=k, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            start_s = time.perf_counter() - t0
            la = os.getloadavg()[0]
            t0 = time.perf_counter()
            f, a = r.solve_many(S, scheduler=cluster.scheduler_address)
            wall = time.perf_counter() - t0
        results[k] = (f, a)
        runs.append({"workers": k, "wall_s": wall, "start_s": start_s, "load1": la, "load1_end": os.getloadavg()[0],
                     "methods": dict(collections.Counter(r.last_methods))})
        print(f"{k} worker(s): {args.draws} draws in {wall:.1f} s ({args.draws / wall:.2f} draws/s), cluster start "
              f"{start_s:.1f} s, load {la:.2f}", flush=True)
    ks = sorted(results)
    same = all(np.array_equal(results[ks[0]][0], results[k][0]) and np.array_equal(results[ks[0]][1], results[k][1])
               for k in ks[1:])
    funded = f0[0].sum()

    m = rb.machine_info()
    vers = ", ".join(f"{p} {pkg_version(p)}" for p in ("numpy", "pulp", "highspy", "distributed"))
    base = next(x for x in runs if x["workers"] == ks[0])
    lines = [f"## Dask LocalCluster, national call under the merit order with δ = 0 — "
             f"{_dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}", "",
             f"Machine: {m['cpu_model']}, {m['logical_cores']} CPU, Python {m['python']}; {vers}. Load average (1, 5, 15 min) "
             f"{tuple(round(x, 2) for x in load_before)} at the start, {tuple(round(x, 2) for x in os.getloadavg())} at the end "
             "(other jobs share the machine).", "",
             f"Call: `run_benchmarks.national_evaluation({args.n})` ({info['n_applications']:,} applications, {r.n:,} candidates, "
             f"13 regional rules, envelope {envelope:,} €), default rule (merit order), **δ = 0** (the call's default δ gives no "
             f"decision on this call today); resolver built in {build_s:.1f} s; one draw in process "
             f"{one_s:.2f} s, the same funded set and awards as `allocate()`: {same_as_allocate}; about {funded:,} funded per draw.", "",
             "| workers (processes × 1 thread) | draws | wall | draws/s | speed-up | cluster start (not in wall) | load (1 min) at start | how the draws were settled |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for x in runs:
        lines.append(f"| {x['workers']} | {args.draws:,} | {x['wall_s']:.1f} s | {args.draws / x['wall_s']:.2f} | "
                     f"{base['wall_s'] / x['wall_s']:.2f}× | {x['start_s']:.1f} s | {x['load1']:.2f} | "
                     f"{', '.join(f'{k} {v}' for k, v in x['methods'].items())} |")
    lines += ["", f"Funded sets and awards identical with {' and '.join(map(str, ks))} workers: {same}. "
              f"Measured on {args.draws:,} draws: nothing extrapolated. Script: `benchmarks/bench_dask.py`.", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        with open(HERE / "RESULTS_montecarlo.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + text + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
