"""Voilà start → committee panel shown (issue 18, item 3: target under 5 s), measured in a real browser.

Each run starts the committee page exactly as a person does, ``ditp-model comite`` (here
``python -m ditp_model.cli comite --sans-navigateur --port P``, the command's own Voilà options),
with the Python path of the checkout given by ``--root`` (so that ``main`` and a branch can be
measured side by side in one run).  Headless Debian Chromium is launched *before* the clock starts
(a person's browser is already open; ``ditp-model comite`` opens a tab, not a browser) and asks for
the page as soon as the server listens, as the tab opened by the command does.  Times, from the
moment the command is started (``time.perf_counter`` of this script):

* ``listen``  — the server accepts connections;
* ``panel``   — the panel's funded table is in the page (``.ditp-funded td.ditp-id``: the kernel has
  run the notebook and the widgets are drawn), the figure of the issue;
* whether the first page was served by the pre-heated kernel (Voilà's log at that moment), and how
  many kernels had been started by then;
* ``reload``  — a second page load in the same browser, ``--settle`` seconds (20 by default) after
  the first panel was shown, server already running (the committee reloading the page, or a
  second member opening it), from ``goto`` to the funded table.  The 20 s leave time for a
  pre-heated kernel to be ready again (``ditp-model comite`` refills its pool 10 s after a page
  takes the kernel).

Each run is a new server (5 runs by default, median reported), its kernels stopped with it.
The load average before and after is printed; the Markdown section goes to ``RESULTS_panel.md``
(``--no-write`` to only print).  Run from the repository (same sandbox as the tests)::

    HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/bench_voila_start.py \
        [--root /path/to/other/checkout --label main] [--runs 5] [--no-write]

Several ``--root``/``--label`` pairs are measured alternately (run 1 of each, then run 2 of each…),
so that a change of load hits them alike.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version as pkg_version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS_panel.md"
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _listening(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def one_run(page, root: Path, log_path: Path, extra: list[str], settle_s: float) -> dict:
    """Start ``ditp-model comite`` from checkout `root`, load the page, time it; always stop the server."""
    from voila_harness import free_port, stop, wait_for_panel

    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(root), MPLBACKEND=os.environ.get("MPLBACKEND", "Agg"))
    cmd = [sys.executable, "-m", "ditp_model.cli", "comite", "--sans-navigateur", "--port", str(port), *extra]
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        while not _listening(port):
            if proc.poll() is not None:
                raise RuntimeError(f"ditp-model comite stopped at start (code {proc.returncode}); log: {log_path}")
            if time.perf_counter() - t0 > 120:
                raise RuntimeError(f"not listening after 120 s; log: {log_path}")
            time.sleep(0.02)
        t_listen = time.perf_counter() - t0
        url = f"http://127.0.0.1:{port}/"
        page.goto(url, wait_until="commit", timeout=120_000)
        t_commit = time.perf_counter() - t0
        page.wait_for_load_state("domcontentloaded", timeout=120_000)
        t_dom = time.perf_counter() - t0
        wait_for_panel(page)
        t_panel = time.perf_counter() - t0
        log_text = log_path.read_text(errors="replace")  # at the first panel: which kernel served it, how many started
        first_preheated = "Using pre-heated kernel" in log_text
        kernels_at_panel = log_text.count("Kernel started:")
        weights = page.evaluate("() => document.querySelector('table.ditp-funded').dataset.weights")
        funded = page.evaluate("() => document.querySelectorAll('.ditp-funded td.ditp-id').length")
        time.sleep(settle_s)  # a person reads the page; a pre-heated pool refills meanwhile (ditp-model comite: after 10 s)
        t1 = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=120_000)
        wait_for_panel(page)
        t_reload = time.perf_counter() - t1
        return {"listen_s": t_listen, "commit_s": t_commit, "dom_s": t_dom, "panel_s": t_panel, "reload_s": t_reload, "weights": weights,
                "funded": funded, "first_preheated": first_preheated, "kernels_at_panel": kernels_at_panel}
    finally:
        page.goto("about:blank")
        stop(proc)


def _fmt(x: float) -> str:
    return f"{x:.2f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", action="append", default=[], help="checkout to measure (repeatable; default: this one)")
    ap.add_argument("--label", action="append", default=[], help="name of each --root in the table")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds between the panel shown and the reload")
    args = ap.parse_args(argv)
    roots = [Path(r).resolve() for r in args.root] or [ROOT]
    labels = args.label or [r.name for r in roots]
    if len(labels) != len(roots):
        ap.error("one --label per --root")

    from voila_harness import chromium_page, missing_tools

    why = missing_tools()
    if why:
        print(f"not measured: {why}")
        return 1
    from playwright.sync_api import sync_playwright

    load_before = tuple(round(x, 2) for x in os.getloadavg())
    results: dict[str, list[dict]] = {lab: [] for lab in labels}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw, chromium_page(pw) as (page, _blocked):
        for i in range(args.runs):
            for root, lab in zip(roots, labels):
                r = one_run(page, root, Path(tmp) / f"{lab}-{i}.log", [], args.settle)
                r["preheated"] = "Using pre-heated kernel" in (Path(tmp) / f"{lab}-{i}.log").read_text(errors="replace")
                r["load1"] = os.getloadavg()[0]
                results[lab].append(r)
                print(f"{lab} run {i + 1}: listen {r['listen_s']:.2f} s, first byte {r['commit_s']:.2f} s, "
                      f"page loaded {r['dom_s']:.2f} s, panel {r['panel_s']:.2f} s, reload {r['reload_s']:.2f} s "
                      f"(funded {r['funded']}, weights {r['weights']}, pre-heated kernel used: {r['preheated']}, "
                      f"first page on the pre-heated kernel: {r['first_preheated']}, kernels started at the first panel: "
                      f"{r['kernels_at_panel']}, load {r['load1']:.2f})", flush=True)
    load_after = tuple(round(x, 2) for x in os.getloadavg())
    text = report(results, load_before, load_after, args.runs)
    print(text)
    if not args.no_write:
        with open(RESULTS, "a", encoding="utf-8") as fh:
            fh.write("\n" + text + "\n")
    return 0


def report(results: dict, load_before, load_after, runs: int) -> str:
    from bench_panel import machine

    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    vers = ", ".join(f"{p} {pkg_version(p)}" for p in ("voila", "ipykernel", "ipywidgets", "playwright"))
    lines = [f"## Démarrage de Voilà → panneau affiché — {now}", "",
             f"Machine : {machine()} ; charge moyenne (1, 5, 15 min) avant {load_before}, après {load_after}. "
             f"Versions : {vers}. Script : `benchmarks/bench_voila_start.py` ({runs} démarrages par version, alternés).", "",
             "| version | démarrage → serveur à l'écoute (médiane) | démarrage → panneau affiché (médiane ; min–max) "
             "| rechargement → panneau (médiane) | premier affichage servi par le noyau préchauffé | cible < 5 s |",
             "|---|---|---|---|---|---|"]
    for lab, rows in results.items():
        p = [r["panel_s"] for r in rows]
        lines.append(f"| {lab} | {_fmt(statistics.median(r['listen_s'] for r in rows))} | **{_fmt(statistics.median(p))}** ; "
                     f"{_fmt(min(p))}–{_fmt(max(p))} | {_fmt(statistics.median(r['reload_s'] for r in rows))} | "
                     f"{sum(r['first_preheated'] for r in rows)} sur {len(rows)} | "
                     f"{'atteinte' if statistics.median(p) < 5 else 'manquée'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
