"""``ditp-model lottery`` cold and warm on the sample (issue 18, item 5: "under 30 s cold, under 5 s warm").

Two runs of the command, each in a fresh process, end to end (start-up, reading, fit or cache, 500
posterior draws decided, files written), into a new temporary output folder:

0. ``lottery --annoncer-graine 2021`` (not timed: the seed is announced before the probabilities are
   known, as the seed governance requires for the later draw);
1. ``cold`` — ``lottery --no-draw`` with an empty cache (``DITP_MODEL_CACHE`` pointed at a new
   temporary folder): the NUTS fit runs (4 chains × 2 500 draws, JAX compilation included) and is stored;
2. ``warm`` — ``lottery --seed 2021`` on the same inputs: the fit is read back from the cache
   (checked key), then the draws are decided and the lottery recorded;
3. ``corrected grade`` — ``lottery --no-draw`` on a copy of the reviews with one grade raised by half a
   point: a new fit (new votes), whose compiled sampler is read from JAX's compilation cache that the
   cold run filled (same cache folder).

Run::

    HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/bench_lottery.py [--no-write]

A Markdown section is printed and appended to ``benchmarks/RESULTS_lottery.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def run(out: Path, cache: Path, *extra: str, reviews: Path = ROOT / "data" / "evaluations_exemple.csv") -> tuple[float, str]:
    cmd = [sys.executable, "-m", "ditp_model.cli", "lottery", "--call", str(ROOT / "data" / "appel_2021.toml"),
           "--applications", str(ROOT / "data" / "candidatures_exemple.csv"),
           "--reviews", str(reviews),
           "--weights", "impact=0.5,openness=0.3,collective=0.2", "--out", str(out),
           "--provisoire", *extra]  # the sample's decision is provisional (P047, P072 held)
    t0 = time.perf_counter()
    env = {**os.environ, "DITP_MODEL_CACHE": str(cache)}
    done = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", check=False, env=env)
    sec = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"échec ({done.returncode}) : {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    return sec, done.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    from importlib.metadata import version

    from run_benchmarks import machine_info

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tirage"
        # the seed is announced before the probabilities are known (seed governance), as the secretariat does
        run(out, Path(tmp) / "cache", "--annoncer-graine", "2021")
        cold, cold_out = run(out, Path(tmp) / "cache", "--no-draw")
        warm, warm_out = run(out, Path(tmp) / "cache", "--seed", "2021")
        # a corrected grade: a copy of the reviews with the first grade raised by half a point (same shape)
        lines = (ROOT / "data" / "evaluations_exemple.csv").read_text(encoding="utf-8").splitlines()
        head, first = lines[0].split(","), lines[1].split(",")
        col = 2  # the first sub-criterion grade of the first review
        first[col] = str(float(first[col]) + 0.5)
        corrected = Path(tmp) / "evaluations_corrigees.csv"
        corrected.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", encoding="utf-8")
        recompiled, rec_out = run(Path(tmp) / "tirage2", Path(tmp) / "cache", "--no-draw", reviews=corrected)
        corrected_what = f"{first[0]}, {head[1]} {first[1]}, {head[col]}"
    assert "ajusté en" in cold_out and "repris du cache" in warm_out, (cold_out, warm_out)
    assert "ajusté en" in rec_out, rec_out
    fit_line = next(line for line in cold_out.splitlines() if "ajusté en" in line)
    m = machine_info()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    text = "\n".join([
        f"## {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}", "",
        f"Machine: {m['cpu_model'] or platform.machine()}, {m['logical_cores']} CPU, Python {m['python']}; "
        f"numpyro {version('numpyro')}, jax {version('jax')}, highspy {version('highspy')}; "
        f"load average at the end of the run: {load}.", "",
        "| run | wall time, end to end | target |", "|---|---:|---|",
        f"| cold: `lottery --no-draw`, empty cache (fit + 500 draws decided) | {cold:.1f} s | < 30 s: {'met' if cold < 30 else 'MISSED'} |",
        f"| warm: `lottery --seed 2021`, fit read from the cache (500 draws decided, draw recorded) | {warm:.1f} s "
        f"| < 5 s: {'met' if warm < 5 else 'MISSED'} |",
        f"| cold fit, compiled sampler reused: `lottery --no-draw` after one grade corrected ({corrected_what}; "
        f"new fit, JAX compilation cache of the first run) | {recompiled:.1f} s | < 30 s: {'met' if recompiled < 30 else 'MISSED'} |", "",
        f"Cold run's fit line: « {fit_line.strip()} ».",
        f"Corrected grade's fit line: « {next(x for x in rec_out.splitlines() if 'ajusté en' in x).strip()} ».", "",
    ])
    print(text)
    if not args.no_write:
        path = HERE / "RESULTS_lottery.md"
        head = "" if path.exists() else "# `ditp-model lottery`: cold and warm\n\nWritten by `benchmarks/bench_lottery.py`.\n\n"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
