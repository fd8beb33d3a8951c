"""Simulation study: which review normalisation recovers the true ranking (issue 13, item 3).

Each simulated panel has ``n_app`` applications, ``n_rev`` reviewers, three reviews per application
and the call's four sub-criteria, scored on 0–5 in half points like the sample::

    y_ijc = round_to_half( clip( 2.75 + q_i + b_j + e_ijc , 0, 5 ) )
    q_i ~ Normal(0, 0.8²)   true quality         (the sample's application means spread about this much)
    b_j ~ Normal(0, 0.5²)   reviewer leniency    (the sample's estimated leniencies reach ±1)
    e   ~ Normal(0, 0.6²)   error, independent per sub-criterion

Two assignments of reviewers:

* ``random``: each application gets three distinct reviewers, the least loaded first (ties at random),
  so loads stay balanced;
* ``sorted`` (quality-sorted): reviewers are split into two tiers, the applications into the better and
  the worse half by true quality; two of each application's three reviewers come from its half's tier,
  the third from another tier (the committee sends the promising files to the same people);
* ``sorted4``: the same with four tiers (quality quartiles): a stronger sorting.

Methods, as the pipeline runs them (``ditp_model.scoring.aggregate.reviews_as_aggregated`` then the mean
per application of the four sub-criteria): ``raw_mean``, ``reviewer_zscore`` (per-reviewer z-score,
the current default), ``reviewer_effects`` (additive model, least squares).  The posterior mean of the
Bayesian model (``scoring/review_model.py``) is left out: one NUTS fit takes ~24 s on the sample
(``RESULTS_review_model.md``), too slow for a normalisation run on every weight change.

Figures per configuration, over ``--seeds`` panels (seed = ``--base-seed`` + k, one
``numpy.random.default_rng`` per panel, so every figure regenerates): mean Spearman rank correlation
between the normalised application score and the true quality (and its standard error), mean top-k
overlap at the funding line (k = 27 % of the applications, the sample's 27 laureates of 99 candidates:
share of the true top k found in the estimated top k), and the mean time of one normalisation.

Run::

    HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/bench_normalisation.py [--seeds 200] [--no-write]

A Markdown section is printed and appended to ``benchmarks/RESULTS_normalisation.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

METHODS = ("raw_mean", "reviewer_zscore", "reviewer_effects")
PANELS = ((50, 8), (110, 12), (300, 30))
ASSIGNMENTS = ("random", "sorted", "sorted4")
REVIEWS_PER_APP = 3
FUNDED_SHARE = 0.27
Q_SD, B_SD, E_SD, CENTRE = 0.8, 0.5, 0.6, 2.75


def _rules():
    from ditp_model.inputs.call import load_call_rules

    return load_call_rules(ROOT / "data" / "appel_2021.toml")


def assign(n_app: int, n_rev: int, how: str, q: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    """(application, reviewer) pairs: three distinct reviewers per application (module docstring)."""
    load = np.zeros(n_rev)
    pairs = []
    if how == "random":
        for i in rng.permutation(n_app):
            key = load + rng.random(n_rev)  # least loaded first, ties at random
            for j in np.argsort(key)[:REVIEWS_PER_APP]:
                pairs.append((int(i), int(j)))
                load[j] += 1
        return pairs
    n_tiers = 4 if how == "sorted4" else 2
    tiers = np.array_split(np.arange(n_rev), n_tiers)
    level = np.searchsorted(np.quantile(q, np.linspace(0, 1, n_tiers + 1)[1:-1]), q, side="right")
    for i in rng.permutation(n_app):
        own = tiers[level[i]]
        other = np.setdiff1d(np.arange(n_rev), own)
        two = own[np.argsort(load[own] + rng.random(len(own)))[:2]]
        one = other[np.argsort(load[other] + rng.random(len(other)))[:1]]
        for j in (*two, *one):
            pairs.append((int(i), int(j)))
            load[j] += 1
    return pairs


def simulate_panel(n_app: int, n_rev: int, how: str, seed: int, rules=None) -> dict:
    """One simulated panel: ``{method: (spearman, top_k_overlap, seconds)}``."""
    from ditp_model.scoring.aggregate import reviews_as_aggregated

    rules = rules or _rules()
    cols = list(rules.review_columns)
    rng = np.random.default_rng(seed)
    q = rng.normal(0.0, Q_SD, n_app)
    b = rng.normal(0.0, B_SD, n_rev)
    pairs = assign(n_app, n_rev, how, q, rng)
    a_idx = np.array([p[0] for p in pairs])
    r_idx = np.array([p[1] for p in pairs])
    e = rng.normal(0.0, E_SD, (len(pairs), len(cols)))
    y = np.clip(CENTRE + q[a_idx, None] + b[r_idx, None] + e, 0.0, 5.0)
    y = np.round(y * 2.0) / 2.0
    reviews = pd.DataFrame(y, columns=cols)
    reviews.insert(0, "reviewer_id", [f"R{j:03d}" for j in r_idx])
    reviews.insert(0, "application_id", [f"A{i:04d}" for i in a_idx])
    k = max(1, int(round(FUNDED_SHARE * n_app)))
    true_top = set(np.argsort(-q, kind="stable")[:k].tolist())
    out = {}
    for m in METHODS:
        t0 = time.perf_counter()
        r = reviews_as_aggregated(reviews, rules, m)
        est = r.groupby("application_id")[cols].mean().mean(axis=1)
        sec = time.perf_counter() - t0
        est = est.reindex([f"A{i:04d}" for i in range(n_app)]).to_numpy()
        rho = float(pd.Series(est).rank().corr(pd.Series(q).rank()))
        top = set(np.argsort(-est, kind="stable")[:k].tolist())
        out[m] = (rho, len(top & true_top) / k, sec)
    return out


def study(seeds: int, base_seed: int) -> pd.DataFrame:
    """Every configuration × method: mean and standard error of the figures over `seeds` panels."""
    rules = _rules()
    rows = []
    for n_app, n_rev in PANELS:
        for how in ASSIGNMENTS:
            res = [simulate_panel(n_app, n_rev, how, base_seed + s, rules) for s in range(seeds)]
            for m in METHODS:
                rho = np.array([r[m][0] for r in res])
                top = np.array([r[m][1] for r in res])
                sec = np.array([r[m][2] for r in res])
                rows.append({"applications": n_app, "reviewers": n_rev, "assignment": how, "method": m,
                             "spearman": rho.mean(), "spearman_se": rho.std(ddof=1) / np.sqrt(seeds),
                             "top_k": top.mean(), "top_k_se": top.std(ddof=1) / np.sqrt(seeds),
                             "ms": 1000 * sec.mean()})
    return pd.DataFrame(rows)


def machine_line() -> str:
    from importlib.metadata import version

    from run_benchmarks import machine_info

    m = machine_info()
    return (f"{m['cpu_model'] or platform.machine()}, {m['logical_cores']} CPU, Python {m['python']}; "
            f"numpy {version('numpy')}, pandas {version('pandas')}")


def markdown(table: pd.DataFrame, seeds: int, base_seed: int, seconds: float) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    lines = [f"## {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}", "",
             f"Machine: {machine_line()}; load average at the end of the run: {load}; "
             f"{seeds} panels per configuration, seeds {base_seed}…{base_seed + seeds - 1}; whole study {seconds:.0f} s.",
             "", f"Model: quality SD {Q_SD}, leniency SD {B_SD}, error SD {E_SD}, centre {CENTRE}, 0–5 in half points, "
             f"{REVIEWS_PER_APP} reviews per application; top k = {FUNDED_SHARE:.0%} of the applications.", "",
             "| applications × reviewers | assignment | method | Spearman ρ (± s.e.) | top-k overlap (± s.e.) | time per run |",
             "|---|---|---|---:|---:|---:|"]
    for r in table.itertuples():
        lines.append(f"| {r.applications} × {r.reviewers} | {r.assignment} | {r.method} | {r.spearman:.3f} ± {r.spearman_se:.3f} "
                     f"| {r.top_k:.3f} ± {r.top_k_se:.3f} | {r.ms:.1f} ms |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200, help="simulated panels per configuration (default 200)")
    ap.add_argument("--base-seed", type=int, default=20261203, help="seed of the first panel (default 20261203)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    t0 = time.perf_counter()
    table = study(args.seeds, args.base_seed)
    text = markdown(table, args.seeds, args.base_seed, time.perf_counter() - t0)
    print(text)
    if not args.no_write:
        path = HERE / "RESULTS_normalisation.md"
        head = "" if path.exists() else "# Review normalisation: simulation study\n\n"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
