"""Start the committee page with Voilà on 127.0.0.1 and drive it with Debian's Chromium through Playwright.

Shared by ``tests/browser/test_voila_page.py`` and ``benchmarks/bench_panel.py``.  Facts and flags:
``/work/shared/TOOLCHAIN.md`` ("Servers and the browser").  No browser is ever downloaded
(never ``playwright install``): Playwright drives ``/usr/bin/chromium`` through ``executable_path``.
Every request to a host other than the loopback is refused twice: Chromium gets a dead proxy
(``--proxy-server=http://127.0.0.1:9``) and the page gets a route guard that aborts it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "02_seance_comite.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--proxy-server=http://127.0.0.1:9",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def missing_tools() -> str | None:
    """Why the browser test cannot run here (French-free, for the skip message), or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} absent (Debian: apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python absent (pip install playwright; never run `playwright install`)"
    if importlib.util.find_spec("voila") is None:
        return "Voilà absent (pip install voila)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def voila_server(log_path: Path, notebook: Path = NOTEBOOK, timeout_s: float = 60.0):
    """Run the command line of ``ditp-model comite`` on a free loopback port; yield the page URL; always stop the server.

    The server runs in its own process group (it and the kernels it starts are
    stopped together); its output goes to `log_path`.
    """
    from ditp_model.cli.servers import comite_argv

    port = free_port()
    # the command line of « ditp-model comite » (pre-heated kernel, Voilà's start-up without its unused slow
    # import), with short culling times for a test server
    cmd = comite_argv(notebook, port=port, cull_idle=20, cull_interval=5, browser=False)
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not _listening(port):
            if proc.poll() is not None:
                raise RuntimeError(f"voila stopped at start (code {proc.returncode}); log: {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"voila not listening on 127.0.0.1:{port} after {timeout_s:.0f} s; log: {log_path}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop the server and its process group: SIGTERM, then SIGKILL after `grace_s`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def chromium_page(playwright, width: int = 1440, height: int = 1000):
    """A page of headless Debian Chromium that can only reach the loopback; yields (page, blocked_urls)."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
    blocked: list[str] = []
    try:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR")

        def guard(route):
            if urlparse(route.request.url).hostname in LOOPBACK:
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        yield context.new_page(), blocked
    finally:
        browser.close()


# --------------------------------------------------------------------------- the committee page

FUNDED_IDS_JS = "() => Array.from(document.querySelectorAll('.ditp-funded td.ditp-id')).map(td => td.textContent.trim())"
# The funded table carries the weights it was computed with: waiting on it (not on the "values used"
# line, a separate widget updated a moment earlier) guarantees the table read is the new one.
USED_WEIGHTS_JS = "() => { const t = document.querySelector('table.ditp-funded'); return t ? t.dataset.weights : null; }"


def wait_for_panel(page, timeout_ms: int = 120_000) -> None:
    """Wait until the panel shows its funded table (the kernel has run the notebook)."""
    page.wait_for_selector(".ditp-funded td.ditp-id", timeout=timeout_ms)


def funded_ids(page) -> list[str]:
    return page.evaluate(FUNDED_IDS_JS)


def used_weights(page) -> str | None:
    """The ``data-weights`` of the funded table on display, e.g. ``impact=0.5,openness=0.45,collective=0.2``."""
    return page.evaluate(USED_WEIGHTS_JS)


def wait_for_weights(page, expected: str, timeout_ms: int = 30_000) -> None:
    """Wait until the panel says it used these weights (the result of the last release is on display)."""
    page.wait_for_function(f"(w) => ({USED_WEIGHTS_JS})() === w", arg=expected, timeout=timeout_ms, polling="raf")
