"""The committee page in a real browser: Voilà serves notebook 02, headless Chromium moves the openness slider,
then runs a short weight Monte Carlo in the « Robustesse » tab.

Skipped, with the reason, when ``/usr/bin/chromium``, Playwright or Voilà is missing, so that
``pytest`` stays green on a machine without them; ``.ci/run`` installs them and sets
``DITP_REQUIRE_BROWSER=1``, which turns that skip into a failure.  The screenshot of the page
after the move is saved under the test's temporary folder (path printed).
"""

from __future__ import annotations

import os

import pytest

from voila_harness import chromium_page, funded_ids, missing_tools, used_weights, voila_server, wait_for_panel, wait_for_weights

_missing = missing_tools()
_required = os.environ.get("DITP_REQUIRE_BROWSER") == "1"
pytestmark = pytest.mark.skipif(_missing is not None and not _required, reason=f"real-browser test skipped: {_missing}")


def expected_funded(openness: float) -> list[str]:
    """Funded ids as the package computes them for the call's weights with this openness, best rank first.

    The call's decision rule (the merit order), quality thresholds and δ: the panel starts with them.
    """
    from ditp_model import Weights, evaluate
    from ditp_model.rules.allocation import AllocationParams, allocate
    from ditp_model.outputs.notebook import sample_inputs

    ev = evaluate(sample_inputs(), Weights.of(impact=0.5, openness=openness, collective=0.2))
    alloc = allocate(ev, AllocationParams(check_alternatives=False))
    rank = ev.table.set_index("application_id")["rank"]
    return sorted(alloc.funded_ids, key=lambda a: int(rank[a]))


def expected_classes(openness: float, n_draws: int) -> dict[str, int]:
    """Candidates per robustness class, from weight_monte_carlo for these weights, seed 2021, concentration 50
    (each draw decided by the call's rule, as in the panel's « Robustesse » tab)."""
    from ditp_model import Weights, evaluate
    from ditp_model.rules.allocation import AllocationParams
    from ditp_model.outputs.notebook import sample_inputs
    from ditp_model.uncertainty.robustness import weight_monte_carlo

    ev = evaluate(sample_inputs(), Weights.of(impact=0.5, openness=openness, collective=0.2))
    mc = weight_monte_carlo(ev, AllocationParams(check_alternatives=False), n_draws=n_draws, concentration=50.0,
                            seed=2021, progress=False)
    t = mc.table[mc.table["candidate"]]
    return {c: int((t["robustness"] == c).sum()) for c in ("always", "swing", "never")}


def test_moving_the_openness_slider_updates_the_funded_table(tmp_path):
    if _missing:
        pytest.fail(f"DITP_REQUIRE_BROWSER=1 but {_missing}")
    from playwright.sync_api import sync_playwright

    before, after = expected_funded(0.30), expected_funded(0.45)
    assert before != after, "test data: openness 0.30 -> 0.45 must change the funded list"
    shot = tmp_path / "seance_comite.png"
    with voila_server(tmp_path / "voila.log") as url, sync_playwright() as pw, chromium_page(pw) as (page, blocked):
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        wait_for_panel(page)
        # the first page took the kernel pre-heated at the server's start (no second kernel started for it)
        log = (tmp_path / "voila.log").read_text(errors="replace")
        assert log.count("Kernel started:") == 1 and "Using pre-heated kernel" in log, log[-2000:]
        # the page script is loaded once, before the first cell (template ditp-comite), not after the last one
        order = page.evaluate("""() => { const s = Array.from(document.querySelectorAll('script[src]'))
            .filter(x => /\\/voila\\.js$/.test(x.src)); const c = document.querySelector('[cell-index="1"]');
            return [s.length, !!(c && s.length && (s[0].compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING))]; }""")
        assert order == [1, True], order
        assert page.locator("button.ditp-mc-run").count() == 0  # the « Robustesse » tab is built when first opened
        assert used_weights(page) == "impact=0.5,openness=0.3,collective=0.2"
        assert funded_ids(page) == before
        handle = page.locator(".ditp-weight-openness .noUi-handle")
        handle.focus()
        for _ in range(3):  # one step (0.05) per key press, each one a release: 0.30 -> 0.45
            handle.press("ArrowRight")
        wait_for_weights(page, "impact=0.5,openness=0.45,collective=0.2")
        assert funded_ids(page) == after
        entered = sorted(set(after) - set(before))
        ref_line = page.inner_text(".ditp-change-ref")
        assert "ouverture 0,30 → 0,45" in ref_line and all(a in ref_line for a in entered), ref_line
        assert page.inner_text(".ditp-error").strip() == ""
        # Voilà scrolls inside the page: a tall viewport gets the whole panel, charts included, in the picture
        page.set_viewport_size({"width": 1440, "height": 3400})
        page.wait_for_timeout(500)
        page.screenshot(path=str(shot), full_page=True)
        # « Robustesse » tab: a few draws for the weights on display, then the counts and the uncertain table
        page.get_by_role("tab", name="Robustesse").click()
        draws = page.locator(".ditp-mc-draws input")
        draws.fill("5")
        draws.press("Enter")
        page.locator("button.ditp-mc-run").click()
        page.wait_for_selector('.ditp-mc-used[data-draws="5"][data-weights="impact=0.5,openness=0.45,collective=0.2"]',
                               timeout=60_000)
        page.wait_for_selector("table.ditp-uncertain, .ditp-uncertain-none", timeout=10_000)
        shown = page.evaluate("() => Object.fromEntries(Array.from(document.querySelectorAll('.ditp-mc-count'))"
                              ".map(d => [d.dataset.class, Number(d.querySelector('b').textContent)]))")
        assert shown == expected_classes(0.45, 5)
        assert page.inner_text(".ditp-mc-progress").startswith("terminé : 5 tirages")
        assert page.inner_text(".ditp-mc-error").strip() == "" and page.inner_text(".ditp-mc-stale").strip() == ""
        page.screenshot(path=str(tmp_path / "robustesse.png"), full_page=True)
        assert all(not b.startswith(url) for b in blocked)
    assert shot.stat().st_size > 10_000
    print(f"capture d'écran : {shot} ; onglet Robustesse : {tmp_path / 'robustesse.png'}")
