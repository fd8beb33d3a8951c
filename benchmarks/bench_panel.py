"""Responsiveness of the committee panel (issue 4), on the sample data.

Two figures, each with its target:

1. ``kernel``  — inside a real IPython kernel (started with jupyter_client, widgets sending their
   messages as in JupyterLab), the time from a change of the openness slider's value to the end of
   its callback: re-score, re-solve (``allocate``, ``check_alternatives=False``), funded table,
   totals, "what changed" and the charts redrawn (only those whose data changed: the score chart
   always, the group charts when the awards per group move).  Each value is a new state (nothing
   cached).  [median < 100 ms, issue 18]
2. ``browser`` — the Voilà page (``notebooks/02_seance_comite.ipynb``) in headless Debian Chromium
   driven by Playwright: the openness handle is dragged with the mouse; the time from the
   ``pointerup`` (the release) to the funded table showing the new weights, both read from the
   page's own clock (``performance.now()``).  [each < 1 s]

Run (same sandbox as the tests; the browser part is skipped with a message when Chromium,
Playwright or Voilà is missing)::

    HOME=$PWD/.home TMPDIR=$PWD/.tmp .venv/bin/python benchmarks/bench_panel.py [--quick] [--no-browser]

A Markdown section with the figures, the machine and its load is printed and appended to
``benchmarks/RESULTS_panel.md`` (``--no-write`` to only print).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version as pkg_version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS_panel.md"
sys.path.insert(0, str(ROOT / "tests" / "browser"))

KERNEL_CODE = r"""
import json, statistics, time
from ditp_model.outputs import notebook as nb
from ditp_model.session.widgets import CommitteePanel
panel = CommitteePanel(nb.sample_inputs(), scenario_dir={scenario_dir!r})
values = {values!r}
rows = []
for v in values:
    t0, c0 = time.perf_counter(), time.process_time()
    panel.weight_sliders["openness"].value = v
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert panel.last_error is None, panel.last_error
    charts_s = sum(panel.chart_timings.values())
    rows.append({{"openness": v, "total_s": dt, "cpu_s": cpu, "solve_s": panel.last_timings["solve_s"],
                  "render_s": panel.last_timings["render_s"], "charts_s": charts_s, "decision_s": dt - charts_s,
                  "charts": sorted(panel.chart_timings),
                  "set_changed": panel.previous is not None and set(panel.previous.funded_ids) != set(panel.current.funded_ids)}})
t0 = time.perf_counter(); panel.weight_sliders["openness"].value = values[0]; cached = time.perf_counter() - t0
print("BENCH" + json.dumps({{"rows": rows, "revisit_s": cached}}))
"""


def _stats(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"n": len(xs), "median": statistics.median(xs), "p90": xs[min(len(xs) - 1, int(0.9 * len(xs)))], "max": xs[-1],
            "min": xs[0]}


def bench_kernel(quick: bool) -> dict:
    """Weight change -> table and charts, inside a real kernel."""
    from jupyter_client.manager import start_new_kernel

    # distinct new states: 0.05 .. 0.95 and back through the odd hundredths (never a cached state)
    values = [round(0.05 * k, 2) for k in range(1, 20)] + [round(0.03 + 0.1 * k, 2) for k in range(9)]
    if quick:
        values = values[::3]
    with tempfile.TemporaryDirectory() as scen:
        km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT / "notebooks"))
        try:
            out: list[str] = []
            kc.execute_interactive(KERNEL_CODE.format(values=values, scenario_dir=scen), timeout=600,
                                   output_hook=lambda msg: out.append(msg["content"].get("text", ""))
                                   if msg["msg_type"] == "stream" else None)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    line = next(x for x in "".join(out).splitlines() if x.startswith("BENCH"))
    data = json.loads(line[5:])
    rows = data["rows"]
    return {"rows": rows, "total": _stats([r["total_s"] for r in rows]), "solve": _stats([r["solve_s"] for r in rows]),
            "render": _stats([r["render_s"] for r in rows]), "cpu": _stats([r["cpu_s"] for r in rows]),
            "charts_s": _stats([r["charts_s"] for r in rows]), "decision": _stats([r["decision_s"] for r in rows]),
            "set_changed": _stats([r["total_s"] for r in rows if r["set_changed"]] or [float("nan")]),
            "set_same": _stats([r["total_s"] for r in rows if not r["set_changed"]] or [float("nan")]),
            "n_set_changed": sum(r["set_changed"] for r in rows), "revisit_s": data["revisit_s"]}


ARM_JS = """() => {
  const t = document.querySelector('table.ditp-funded');
  const s = window.__ditp = {t0: null, t1: null, before: t.dataset.weights, after: null};
  document.addEventListener('pointerup', () => { if (s.t0 === null) s.t0 = performance.now(); }, {capture: true, once: true});
  const obs = new MutationObserver(() => {
    const u = document.querySelector('table.ditp-funded');
    if (u && u.dataset.weights !== s.before && s.t1 === null) { s.t1 = performance.now(); s.after = u.dataset.weights; obs.disconnect(); }
  });
  obs.observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def bench_browser(quick: bool) -> dict:
    """Slider release -> updated funded table, in headless Chromium on the Voilà page."""
    from voila_harness import chromium_page, missing_tools, voila_server, wait_for_panel

    why = missing_tools()
    if why:
        return {"skipped": why}
    from playwright.sync_api import sync_playwright

    moves = [3, 3, -2, 4, -5, 2, 3, -4, 5, -3, 2, -4] if not quick else [3, -2, 4, -3]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t_start = time.perf_counter()
        with voila_server(Path(tmp) / "voila.log") as url, sync_playwright() as pw, chromium_page(pw) as (page, _blocked):
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            wait_for_panel(page)
            first_page_s = time.perf_counter() - t_start
            handle = page.locator(".ditp-weight-openness .noUi-handle")
            track = page.locator(".ditp-weight-openness .noUi-target").bounding_box()
            step_px = track["width"] / 20  # 0..1 by 0.05
            for steps in moves:
                box = handle.bounding_box()
                x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                target = min(max(x + steps * step_px, track["x"] + 1), track["x"] + track["width"] - 1)
                page.evaluate(ARM_JS)
                page.mouse.move(x, y)
                page.mouse.down()
                page.mouse.move(target, y, steps=5)
                page.mouse.up()
                page.wait_for_function("() => window.__ditp.t1 !== null", timeout=30_000, polling="raf")
                s = page.evaluate("() => window.__ditp")
                rows.append({"release_to_table_s": (s["t1"] - s["t0"]) / 1000, "before": s["before"], "after": s["after"]})
                time.sleep(0.3)
    lat = [r["release_to_table_s"] for r in rows]
    return {"rows": rows, "latency": _stats(lat), "under_1s": sum(v < 1.0 for v in lat), "first_page_s": first_page_s}


def machine() -> str:
    """One line describing the machine (from run_benchmarks.machine_info, the single source)."""
    from run_benchmarks import machine_info

    m = machine_info()
    return f"{m['cpu_model'] or platform.machine()}, {m['logical_cores']} CPU, Python {m['python']}"


def ms(x: float) -> str:
    return "—" if x != x else f"{1000 * x:.0f} ms"


def report(k: dict | None, b: dict | None, load_before, load_after) -> str:
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    vers = ", ".join(f"{p} {pkg_version(p)}" for p in ("ipywidgets", "matplotlib", "pulp", "highspy", "voila", "playwright")
                     if _installed(p))
    lines = [f"## Panneau du comité — {now}", "",
             f"Machine : {machine()} ; charge moyenne (1, 5, 15 min) avant {load_before}, après {load_after} "
             "(d'autres travaux partagent la machine). Versions : " + vers + ".", ""]
    lines += ["| mesure | n | médiane | p90 | max | cible | atteinte |", "|---|---|---|---|---|---|---|"]
    if k:
        t = k["total"]
        lines.append(f"| noyau : pondération → tableau, totaux, « ce qui a changé » et graphiques | {t['n']} | {ms(t['median'])} "
                     f"| {ms(t['p90'])} | {ms(t['max'])} | médiane < 100 ms | {'oui' if t['median'] < 0.1 else 'non'} |")
        for key, label in (("cpu", "même mesure en temps processeur du noyau (moins sensible à la charge)"),
                           ("decision", "tableau, totaux, « ce qui a changé », ligne et comparaison (sans les graphiques)"),
                           ("solve", "dont re-notation et résolution"), ("render", "dont affichage (tableau, graphiques)"),
                           ("charts_s", "dont graphiques"),
                           ("set_same", "mêmes lauréats (graphique des notes seul)"),
                           ("set_changed", f"lauréats modifiés ({k['n_set_changed']} cas : graphiques par groupe aussi)")):
            s = k[key]
            lines.append(f"| — {label} | {s['n'] if s['median'] == s['median'] else 0} | {ms(s['median'])} | {ms(s['p90'])} "
                         f"| {ms(s['max'])} | | |")
        lines.append(f"| noyau : retour à un état déjà calculé (cache) | 1 | {ms(k['revisit_s'])} | | | | |")
    if b and "skipped" not in b:
        s = b["latency"]
        lines.append(f"| navigateur : relâchement du curseur → tableau à jour | {s['n']} | {ms(s['median'])} | {ms(s['p90'])} "
                     f"| {ms(s['max'])} | chaque < 1 s | {'oui' if b['under_1s'] == s['n'] else 'non'} ({b['under_1s']}/{s['n']}) |")
        lines.append(f"| navigateur : démarrage de Voilà → panneau affiché | 1 | {ms(b['first_page_s'])} | | | | |")
    elif b:
        lines.append(f"| navigateur | — | non mesuré : {b['skipped']} | | | | |")
    lines += ["", "Mesures : `benchmarks/bench_panel.py` (méthode dans sa docstring).", ""]
    return "\n".join(lines)


def _installed(p: str) -> bool:
    try:
        pkg_version(p)
        return True
    except Exception:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--no-browser", action="store_true", help="kernel figure only")
    ap.add_argument("--no-kernel", action="store_true", help="browser figure only")
    ap.add_argument("--no-write", action="store_true", help=f"print only, do not append to {RESULTS.name}")
    args = ap.parse_args(argv)
    load_before = tuple(round(x, 2) for x in os.getloadavg())
    k = None if args.no_kernel else bench_kernel(args.quick)
    b = None if args.no_browser else bench_browser(args.quick)
    load_after = tuple(round(x, 2) for x in os.getloadavg())
    text = report(k, b, load_before, load_after)
    print(text)
    if not args.no_write:
        head = "" if RESULTS.exists() else ("# Réactivité du panneau du comité\n\nCibles (issue 4) : dans le noyau, médiane < 200 ms "
                                            "d'un changement de pondération au tableau et aux graphiques à jour ; dans le navigateur, "
                                            "< 1 s du relâchement du curseur au tableau à jour.\n\n")
        with open(RESULTS, "a", encoding="utf-8") as fh:
            fh.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
