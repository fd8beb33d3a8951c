"""Pabulib side by side with pabutools, start-up and the synthetic ladder (issue 18, items 1, 2 and 7).

What is measured, in one run:

1. **Start-up**: ``ditp-model --help`` in a fresh interpreter (wall time, median), for this tree and for a
   baseline commit (default ``91e87cb``, before issue 18), beside ``python -c pass`` and, when present,
   ``import pabutools.rules`` in pabutools' own environment.
2. **Reading**: :func:`ditp_model.inputs.pabulib.read_pabulib` against the row-by-row reader it replaced
   (``tests/pabulib_reference.py``), in process, median of repetitions, on every real file of
   ``../shared/data/pabulib`` (when present) and on the synthetic ladder.
3. **End to end** on every real file: ``ditp-model pabulib FILE --json`` in a fresh process (this tree and the
   baseline) and pabutools' exact rule (``max_additive_utilitarian_welfare``, default inner algorithm, after
   ``parse_pabulib``) in a fresh process of its own environment; the total scores of both selections are
   compared (same optimum).
4. **The ladder** (``pabulib_ladder.py``: 1,000, 10,000 and 100,000 projects, approval, budget 30 % of the
   total cost, seeded): reading time, then ``ditp-model pabulib`` and pabutools each in a fresh process with a
   time limit; a run that does not end in time is recorded as such.

pabutools lives in ``benchmarks/.pabutools-venv`` (created here with ``pip install pabutools`` when missing;
``--no-pabutools`` skips it), so that the project's environment stays light.

Run::

    make benchmark-pabulib
    # or: HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/bench_pabulib.py [--reps 3] [--no-write]

A Markdown section is printed and appended to ``benchmarks/RESULTS_pabulib.md``; every figure is appended to
the list of runs in ``benchmarks/results_pabulib.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import io
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data" / "pabulib"
PABUTOOLS_VENV = HERE / ".pabutools-venv"
BASELINE = "91e87cb"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

PABUTOOLS_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from pabutools.election import parse_pabulib, Cardinality_Sat, Additive_Cardinal_Sat
from pabutools.rules import max_additive_utilitarian_welfare
t1 = time.perf_counter()
instance, profile = parse_pabulib(sys.argv[1])
t2 = time.perf_counter()
vote_type = instance.meta.get("vote_type", "approval")
sat = Additive_Cardinal_Sat if vote_type in ("cumulative", "scoring") else Cardinality_Sat
selected = max_additive_utilitarian_welfare(instance, profile, sat_class=sat)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "read_s": t2 - t1, "solve_s": t3 - t2,
                  "selected": sorted(str(p.name) for p in selected)}))
"""


# ---------------------------------------------------------------------------
# Machine, environments
# ---------------------------------------------------------------------------


def machine() -> dict:
    cpu = None
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.lower().startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    from importlib.metadata import version

    versions = {p: version(p) for p in ("pandas", "numpy", "pulp", "highspy")}
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True).stdout.strip())
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions, "commit": commit + ("+dirty" if dirty else "")}


def pabutools_python(create: bool) -> Path | None:
    """The interpreter of pabutools' own environment (created with pip when missing and ``create``)."""
    py = PABUTOOLS_VENV / "bin" / "python"
    if not py.exists() and create:
        print(f"Création de l'environnement pabutools : {PABUTOOLS_VENV} (pip install pabutools)…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PABUTOOLS_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "pabutools"], check=True)
    if not py.exists():
        return None
    ok = subprocess.run([str(py), "-c", "import pabutools"], capture_output=True)
    return py if ok.returncode == 0 else None


def pabutools_version(py: Path) -> str:
    return subprocess.run([str(py), "-c", "from importlib.metadata import version; print(version('pabutools'))"],
                          capture_output=True, text=True).stdout.strip()


def baseline_tree(commit: str) -> Path:
    """``ditp_model`` as of ``commit``, extracted once under ``benchmarks/.cache``."""
    dest = HERE / ".cache" / f"baseline-{commit}"
    if not (dest / "ditp_model" / "__init__.py").exists():
        data = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "ditp_model"], capture_output=True,
                              check=True).stdout
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest)
    return dest


# ---------------------------------------------------------------------------
# Timing helpers
# ---------------------------------------------------------------------------


def run_wall(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> tuple[float | None, str, int]:
    """Wall time of one fresh process (``None`` when killed at ``timeout``), its stdout and exit code.

    The process runs in the tree named by ``PYTHONPATH`` (``python -m`` puts the working directory first on
    ``sys.path``: run from this checkout, the baseline would import this checkout's package).
    """
    cwd = (env or {}).get("PYTHONPATH") or str(HERE)
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        return None, "", -1
    return time.perf_counter() - t0, out.stdout, out.returncode


def median_wall(cmd, env, reps, timeout=None):
    times, stdout, code = [], "", 0
    for _ in range(reps):
        t, stdout, code = run_wall(cmd, env, timeout)
        if t is None:
            return None, stdout, code
        times.append(t)
    return statistics.median(times), stdout, code


def env_for(tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.setdefault("HOME", str(ROOT / ".home"))
    env.setdefault("TMPDIR", str(ROOT / ".tmp"))
    return env


def median_in_process(fn, reps: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (less sensitive to a busy machine)."""
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def fmt_s(x: float | None, timeout: float | None = None) -> str:
    if x is None:
        return f"> {timeout:.0f} s (arrêté)" if timeout else "—"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


# ---------------------------------------------------------------------------
# The workloads
# ---------------------------------------------------------------------------


def bench_startup(reps: int, base: Path | None, pabu: Path | None) -> dict:
    cur = env_for(ROOT)
    out = {"python_pass": median_wall([sys.executable, "-c", "pass"], cur, reps)[0],
           "help_current": median_wall([sys.executable, "-m", "ditp_model.cli", "--help"], cur, reps)[0]}
    if base is not None:
        out["help_baseline"] = median_wall([sys.executable, "-m", "ditp_model.cli", "--help"], env_for(base), reps)[0]
    if pabu is not None:
        out["pabutools_import"] = median_wall([str(pabu), "-c", "import pabutools.rules, pabutools.election"],
                                              None, reps)[0]
    return out


def bench_reading(files: list[Path], reps: int) -> list[dict]:
    from ditp_model.inputs.pabulib import read_pabulib
    from ditp_model.inputs.pabulib_light import read_pabulib_light
    from pabulib_reference import read_pabulib_reference

    rows = []
    for f in files:
        big = f.stat().st_size > 5_000_000
        new, new_cpu = median_in_process(lambda: read_pabulib(f), 1 if big else reps)
        old, old_cpu = median_in_process(lambda: read_pabulib_reference(f), 1 if big else reps)
        light, _ = median_in_process(lambda: read_pabulib_light(f), 1 if big else reps)
        rows.append({"file": f.name, "bytes": f.stat().st_size, "old_s": old, "new_s": new, "speedup": old / new,
                     "old_cpu_s": old_cpu, "new_cpu_s": new_cpu, "cpu_speedup": old_cpu / new_cpu, "light_s": light})
        print(f"  lecture {f.name}: {fmt_s(old)} -> {fmt_s(new)} (x{old / new:.1f}; CPU "
              f"{fmt_s(old_cpu)} -> {fmt_s(new_cpu)}, x{old_cpu / new_cpu:.1f})", flush=True)
    return rows


def _our_total(f: Path, selected) -> str | None:
    from ditp_model.inputs.pabulib import _fmt, read_pabulib
    from decimal import Decimal

    if selected is None:
        return None
    scores = read_pabulib(f).scores
    return _fmt(sum((scores[p] for p in selected), Decimal(0)))


def bench_end_to_end(files: list[Path], reps: int, base: Path | None, pabu: Path | None, timeout: float) -> list[dict]:
    rows = []
    for f in files:
        row = {"file": f.name}
        cmd = [sys.executable, "-m", "ditp_model.cli", "pabulib", str(f), "--json", "--time-limit", str(timeout)]
        t, stdout, code = median_wall(cmd, env_for(ROOT), reps, timeout + 60)
        row["current_s"] = t
        if t is not None and stdout.strip():
            res = json.loads(stdout)
            row.update(status=res["status"], total_score=res["total_score"], solve_s=res["seconds"],
                       selected=len(res["selected"] or []), route=res["solver"])
        if base is not None:
            row["baseline_s"] = median_wall(cmd, env_for(base), reps, timeout + 60)[0]
        if pabu is not None:
            t, stdout, code = median_wall([str(pabu), "-c", PABUTOOLS_SCRIPT, str(f)], None, reps, timeout)
            row["pabutools_s"] = t
            if t is not None and code == 0:
                res = json.loads(stdout.strip().splitlines()[-1])
                row.update(pabutools_read_s=res["read_s"], pabutools_solve_s=res["solve_s"],
                           pabutools_total_score=_our_total(f, res["selected"]))
        print(f"  bout en bout {f.name}: {json.dumps({k: v for k, v in row.items() if k != 'file'})}", flush=True)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"## Run of {res['date']} (commit {m['commit']})", "",
             f"* **Machine:** {m['cpu']}, {m['logical_cores']} logical cores, {m['platform']}, CPython {m['python']}; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
             + (f"; **pabutools {res['pabutools_version']}** in `benchmarks/.pabutools-venv`" if res.get("pabutools_version")
                else "; **pabutools absent** (no comparison)") + ".",
             f"* **Load average (1/5/15 min):** {res['load_start']} at the start, {res['load_end']} at the end.",
             f"* **Command:** `{res['command']}`; repetitions {res['reps']} (medians); time limit {res['timeout']:.0f} s "
             f"per solve on the ladder. Baseline: commit `{res['baseline'] or 'none'}` (before issue 18).", ""]
    s = res["startup"]
    lines += ["### Start-up (fresh process, wall, median)", "",
              "| command | before | now | target |", "|---|---|---|---|",
              f"| `python -c pass` | | {fmt_s(s['python_pass'])} | |",
              f"| `ditp-model --help` | {fmt_s(s.get('help_baseline'))} | {fmt_s(s['help_current'])} | < 150 ms |"]
    if "pabutools_import" in s:
        lines.append(f"| `import pabutools.rules` (its venv) | | {fmt_s(s['pabutools_import'])} | |")
    lines += ["", "### Reading (in process, median): row-by-row reader (before) against the vectorised one", "",
              "| file | size | before (wall) | now (wall) | speed-up (wall) | before (CPU) | now (CPU) | "
              "speed-up (CPU) | light reader (wall) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in res["reading"]:
        lines.append(f"| {r['file']} | {r['bytes'] / 1e6:.2f} MB | {fmt_s(r['old_s'])} | {fmt_s(r['new_s'])} | "
                     f"×{r['speedup']:.1f} | {fmt_s(r['old_cpu_s'])} | {fmt_s(r['new_cpu_s'])} | ×{r['cpu_speedup']:.1f} | "
                     f"{fmt_s(r.get('light_s'))} |")
    lines += ["", "### End to end, real files (fresh process, wall, median)", "",
              "| file | ditp-model before | ditp-model now | of which solve | pabutools (read + solve) | "
              "pabutools / now | same optimum | decided by |", "|---|---|---|---|---|---|---|---|"]
    for r in res["end_to_end"]:
        ratio = (f"×{r['pabutools_s'] / r['current_s']:.2f}" if r.get("pabutools_s") and r.get("current_s") else "—")
        same = ("—" if "pabutools_total_score" not in r else
                ("oui" if r["pabutools_total_score"] == r.get("total_score") else
                 f"**non** ({r.get('total_score')} / {r['pabutools_total_score']})"))
        pabu = (f"{fmt_s(r['pabutools_s'], res['timeout'])} ({fmt_s(r.get('pabutools_read_s'))} + "
                f"{fmt_s(r.get('pabutools_solve_s'))})" if "pabutools_s" in r else "absent")
        lines.append(f"| {r['file']} | {fmt_s(r.get('baseline_s'), res['timeout'])} | "
                     f"{fmt_s(r['current_s'], res['timeout'])} | {fmt_s(r.get('solve_s'))} | {pabu} | {ratio} | {same} | "
                     f"{r.get('route', '—')} |")
    if not res["ladder"]:
        return "\n".join(lines) + "\n"
    lines += ["", "### Synthetic ladder (approval, budget 30 % of the total cost, seed "
              f"{res['ladder_seed']})", "",
              "| projects | ballots | reading before | reading now | ditp-model end to end | status (decided by) | solve (in process) "
              "| pabutools end to end | pabutools read + solve |", "|---|---|---|---|---|---|---|---|---|"]
    for r in res["ladder"]:
        lines.append(
            f"| {r['projects']:,} | {r['ballots']:,} | {fmt_s(r['old_s'])} | {fmt_s(r['new_s'])} | "
            f"{fmt_s(r.get('current_s'), res['timeout'])} | {r.get('status', 'arrêté' if r.get('current_s') is None else '—')} "
            f"({r.get('route', '—')}) | "
            f"{fmt_s(r.get('solve_s'))} | "
            f"{fmt_s(r.get('pabutools_s'), res['timeout']) if 'pabutools_s' in r else 'absent'} | "
            f"{fmt_s(r.get('pabutools_read_s'))} + {fmt_s(r.get('pabutools_solve_s'))} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions per measure (median)")
    ap.add_argument("--timeout", type=float, default=120.0, help="time limit per solve on the ladder (s)")
    ap.add_argument("--rungs", default="1000,10000,100000", help="ladder rungs (projects); empty: no ladder")
    ap.add_argument("--baseline", default=BASELINE, help="commit measured as 'before' ('none' to skip)")
    ap.add_argument("--no-pabutools", action="store_true", help="no comparison with pabutools")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)

    from pabulib_ladder import SEED, ensure_ladder

    res = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
           "load_start": load(), "reps": args.reps, "timeout": args.timeout, "ladder_seed": SEED,
           "command": "python benchmarks/bench_pabulib.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    base = baseline_tree(args.baseline) if args.baseline != "none" else None
    for tree in [ROOT] + ([base] if base else []):
        where = run_wall([sys.executable, "-c", "import ditp_model; print(ditp_model.__file__)"], env_for(tree))[1]
        assert where.strip().startswith(str(tree)), (tree, where)
    res["baseline"] = args.baseline if base else None
    pabu = None if args.no_pabutools else pabutools_python(create=True)
    if pabu is None:
        print("pabutools absent : pas de comparaison (environnement benchmarks/.pabutools-venv introuvable ou "
              "--no-pabutools).", flush=True)
    else:
        res["pabutools_version"] = pabutools_version(pabu)
    print("Démarrage…", flush=True)
    res["startup"] = bench_startup(max(args.reps, 5), base, pabu)
    real = sorted(SHARED.glob("*.pb")) if SHARED.is_dir() else sorted((ROOT / "tests" / "data" / "pabulib").glob("*.pb"))
    rungs = [int(x) for x in args.rungs.split(",") if x]
    ladder = ensure_ladder(rungs)
    print("Lecture…", flush=True)
    res["reading"] = bench_reading(real + ladder, args.reps)
    print("Bout en bout…", flush=True)
    res["end_to_end"] = bench_end_to_end(real, args.reps, base, pabu, args.timeout)
    print("Échelle…", flush=True)
    reading = {r["file"]: r for r in res["reading"]}
    res["ladder"] = []
    for n, f in zip(rungs, ladder):
        from ditp_model.inputs.pabulib import read_pabulib

        row = {"projects": n, "ballots": len(read_pabulib(f).votes), **{k: reading[f.name][k] for k in ("old_s", "new_s")}}
        row.update({k: v for k, v in bench_end_to_end([f], 1, None, pabu, args.timeout)[0].items() if k != "file"})
        res["ladder"].append(row)
    res["load_end"] = load()
    text = markdown(res)
    print(text)
    if not args.no_write:
        out = HERE / "RESULTS_pabulib.md"
        head = "" if out.exists() else (
            "# Pabulib: start-up, reading, side by side with pabutools (issue 18)\n\n"
            "Written by `benchmarks/bench_pabulib.py` (`make benchmark-pabulib`); newest run last.\n\n")
        with out.open("a", encoding="utf-8") as fh:
            fh.write(head + text + "\n")
        runs_file = HERE / "results_pabulib.json"
        runs = json.loads(runs_file.read_text(encoding="utf-8")) if runs_file.exists() else []
        runs = runs if isinstance(runs, list) else [runs]
        runs_file.write_text(json.dumps(runs + [res], indent=1, default=str) + "\n", encoding="utf-8")
        print(f"Écrit : {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
