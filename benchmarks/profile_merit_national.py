"""Why the default rule gives no decision on the national call (issue 18, item 6): a trace of the exact merit search.

Generates the national call (``run_benchmarks.national_evaluation``), decides it with the default rule
(merit order) while recording every call to :func:`ditp_model.rules.merit_search.merit_search`, then, for
each recorded call, prints

* the shape of the problem: positions, applications funded first (locks, minimum-count exceptions),
  the presolved prefix (funded because leaving them out is a certain complaint), the greedy line
  (where the money runs out in rank order) and the tie band's width there (``reach - position``);
* the outcome of a counting copy of the search given ``--nodes`` nodes: decided or not, time, nodes
  (positions visited, and the applications added to the subset-sum bound's bitsets: both count against
  ``--nodes``), the nodes per depth (where the search branches), and each improvement of the best spend
  found (node, euros spent).  ``--without-bound`` replays the search without the subset-sum bound.

The counting copy is the module's source with two counters inserted by text substitution at run
time (nothing is committed twice); it stops with an error if the source no longer has the lines it
instruments.  Measures only; writes nothing.  Run::

    PYTHONPATH=$PWD HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/profile_merit_national.py 1000 --nodes 200000
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def counting_search():
    """A copy of ``merit_search`` that counts nodes per depth (``HIST``) and records each better spend (``BEST``)."""
    import ditp_model.rules.merit_search as ms

    src = inspect.getsource(ms).replace("from __future__ import annotations\n", "")
    edits = [("            nodes += 1\n", "            nodes += 1\n            HIST[k] = HIST.get(k, 0) + 1\n"),
             ("                    best_spend, best_x = spent, list(x)\n",
              "                    best_spend, best_x = spent, list(x)\n                    BEST.append((nodes, spent))\n"),
             ("    return best_x\n", "    STEPS.append(bound.steps if bound is not None else 0)\n    return best_x\n")]
    for old, new in edits:
        if old not in src:
            raise SystemExit(f"merit_search a changé : ligne à instrumenter introuvable : {old.strip()!r}")
        src = src.replace(old, new)
    mod = types.ModuleType("merit_search_counting")
    mod.HIST, mod.BEST, mod.STEPS = {}, [], []
    exec(compile(src, "merit_search_counting", "exec"), mod.__dict__)
    return mod


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("--nodes", type=int, default=200_000)
    ap.add_argument("--time-limit", type=float, default=5.0, help="the MILP fallback's limit (s) during the recording")
    ap.add_argument("--without-bound", action="store_true",
                    help="replay each call without the subset-sum bound (the search before issue 18, item 6)")
    args = ap.parse_args(argv)
    import run_benchmarks as rb
    import ditp_model.rules.merit_search as ms
    from ditp_model.rules.allocation import AllocationParams, get_rule

    ev, group_rules, _ = rb.national_evaluation(args.n)
    envelope = rb.NATIONAL["envelope_eur"] * args.n // rb.NATIONAL["n_applications"]
    decider = get_rule(None)
    params = AllocationParams(envelope_eur=envelope, group_rules=group_rules, time_limit_s=args.time_limit, rule=decider.name)
    calls, orig = [], ms.merit_search

    def record(*a, **k):
        calls.append(a)
        return orig(*a, **k)

    ms.merit_search = record
    try:
        t0 = time.perf_counter()
        alloc = decider.decide(ev, params)
        print(f"décision ({time.perf_counter() - t0:.1f} s) : {alloc.status.value} — {alloc.message[:160]}")
    finally:
        ms.merit_search = orig
    for i, a in enumerate(calls):
        u, reach, first, caps, available, _ = a
        u, reach, first = np.asarray(u, np.int64), np.asarray(reach), np.asarray(first, bool)
        base, cum = int(u[first].sum()), np.cumsum(np.where(first, 0, u))
        prefix = 0
        for j in range(len(u)):
            if first[j]:
                continue
            if base + cum[reach[j]] > available:
                break
            prefix = j + 1
        line = int(np.searchsorted(cum + base, available, side="right"))
        print(f"\nappel {i}: {len(u)} positions, {int(first.sum())} financées d'abord, préfixe présolu {prefix}, "
              f"ligne {line}, bande à la ligne {int(reach[min(line, len(u) - 1)]) - line} positions, "
              f"enveloppe {available:,} €")
        mod = counting_search()
        t0 = time.perf_counter()
        x = mod.merit_search(*a, max_nodes=args.nodes, subset_sum_bound=not args.without_bound)
        dt = time.perf_counter() - t0
        steps = mod.STEPS[-1] if mod.STEPS else 0
        print(f"  {'décidé' if x is not None else 'abandon'} en {dt:.2f} s, {sum(mod.HIST.values()):,} positions visitées "
              f"+ {steps:,} pas des ensembles de sommes ; meilleures dépenses (nœud, €) : {mod.BEST}")
        depth = np.zeros(len(u) + 1, np.int64)
        for k, v in mod.HIST.items():
            depth[k] = v
        busy = [(lo, int(depth[lo:lo + 10].sum())) for lo in range(0, len(u) + 1, 10) if depth[lo:lo + 10].sum() > 1000]
        print(f"  nœuds par tranche de 10 positions (> 1 000) : {busy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
