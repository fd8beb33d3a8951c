"""Speed of the Bayesian review model (issue 6, item 6: "the posterior fit on the sample under 60 s").

Three figures, each timed in a fresh process after the imports:

1. ``fit_sample``   — :func:`ditp_model.scoring.review_model.fit_review_model` on the sample's reviews
   (99 candidates, 12 reviewers, 297 votes), default settings (4 chains vectorised, 1 000 warm-up
   and 2 500 draws each, seed 1991), JAX compilation included.  [< 60 s]
2. ``posterior_funding`` — :func:`ditp_model.uncertainty.grey_zone.posterior_funding`, 500 posterior draws,
   each re-solving the allocation (one HiGHS model, objective changed per draw).
3. ``fit_vignette`` — the ERforResearch mock panel p1 (15 proposals × 5 assessors), as in the tests.

Run::

    HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/bench_review_model.py [--no-write]

A Markdown section is printed and appended to ``benchmarks/RESULTS_review_model.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def machine_line() -> str:
    from run_benchmarks import machine_info

    import platform
    from importlib.metadata import version

    m = machine_info()
    return (f"{m['cpu_model'] or platform.machine()}, {m['logical_cores']} CPU, Python {m['python']}; "
            f"numpyro {version('numpyro')}, jax {version('jax')}, highspy {version('highspy')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    import pandas as pd

    import ditp_model as dm
    from ditp_model.uncertainty import grey_zone as gz
    from ditp_model.scoring import review_model as rm
    from ditp_model.rules.allocation import AllocationParams
    from ditp_model.outputs.notebook import sample_inputs

    ev = dm.evaluate(sample_inputs(), dm.Weights.of(impact=0.5, openness=0.3, collective=0.2))
    votes = rm.votes_from_reviews(ev)
    t0 = time.perf_counter()
    post = rm.fit_review_model(votes)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fund = gz.posterior_funding(ev, post, AllocationParams(), n_draws=500)
    fund_s = time.perf_counter() - t0
    mock = pd.read_csv(ROOT / "tests" / "data" / "snsf" / "erforresearch_mock_panels.csv")
    t0 = time.perf_counter()
    vig = rm.fit_review_model(rm.votes_from_table(mock[mock["panel"] == "p1"]), seed=1991)
    vig_s = time.perf_counter() - t0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"## {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        "",
        f"Machine: {machine_line()}; load average before the end of the run: {load}.",
        "",
        "| figure | value | target |",
        "|---|---:|---|",
        f"| fit on the sample ({len(votes.proposals)} applications, {len(votes.assessors)} reviewers, "
        f"{len(votes.table)} votes; 4 × 2 500 draws; R̂ max {post.r_hat:.4f}, min ESS {post.ess:.0f}) "
        f"| {fit_s:.1f} s | < 60 s: {'met' if fit_s < 60 else 'MISSED'} |",
        f"| posterior funding, {fund.n_draws} draws re-solved (zones: {fund.zone_counts()}) | {fund_s:.2f} s | — |",
        f"| fit on the SNSF mock panel p1 (15 × 5, 4 × 2 500 draws; R̂ max {vig.r_hat:.4f}) | {vig_s:.1f} s | — |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        out = HERE / "RESULTS_review_model.md"
        head = "" if out.exists() else ("# Bayesian review model: measured speed\n\n"
                                        "Written by `benchmarks/bench_review_model.py` (`make benchmark-review`).\n\n")
        with out.open("a", encoding="utf-8") as f:
            f.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
