"""The committee page's start (issue 18, item 3): what ``ditp-model comite`` changes in Voilà's start, checked
by behaviour, not by timing.

* ``ditp_model.cli.voila_start`` defers ``rfc3987_syntax`` (about 1 s of Voilà's import): jsonschema's
  IRI checks give the same answers as with the real module imported up front, which is then imported at
  the first check only.
* ``nb.wait_for_page_request`` waits only in a kernel that Voilà pre-heats, receives the request from
  Voilà's socket without importing Voilà's server, and refuses to go on without the request (the page
  would otherwise be built from data read before anyone opened it).
* A page asked for before the pre-heated kernel's process has started waits for that kernel
  (``voila_start.use_starting_preheated_kernel``) instead of starting a second one.
* The committee panel's modules load without matplotlib (its live charts are SVG written directly).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

IRIS = ["http://example.org/é", "http://exa mple.org", "https://données.gouv.fr/a?b=c#d", "urn:isbn:2-07-036024-X",
        "//relative/only", "not an iri", "http://[::1]:8866/", "mailto:comite@example.org", "ht tp://x"]

PROBE = """
import json, sys
{prelude}
from jsonschema import Draft7Validator
before = "lark" in sys.modules
fc = Draft7Validator.FORMAT_CHECKER
answers = [[fc.conforms(x, "iri"), fc.conforms(x, "iri-reference")] for x in {iris!r}]
print(json.dumps({{"lark_before_first_check": before, "lark_after": "lark" in sys.modules, "answers": answers}}))
"""


def _probe(prelude: str) -> dict:
    pytest.importorskip("rfc3987_syntax")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", PROBE.format(prelude=prelude, iris=IRIS)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_deferred_iri_checker_gives_the_real_answers_and_loads_only_when_used():
    real = _probe("import rfc3987_syntax  # the real module, imported up front")
    deferred = _probe("from ditp_model.cli.voila_start import defer_rfc3987_syntax\nassert defer_rfc3987_syntax()")
    assert real["lark_before_first_check"] is True  # the cost being deferred: Lark parsers built at import
    assert deferred["lark_before_first_check"] is False
    assert deferred["lark_after"] is True
    assert deferred["answers"] == real["answers"]
    # the probe is not vacuous: some IRIs pass, some fail
    flat = [a for pair in real["answers"] for a in pair]
    assert any(flat) and not all(flat)


def test_defer_is_a_no_op_when_already_imported(monkeypatch):
    from ditp_model.cli import voila_start

    monkeypatch.setitem(sys.modules, "rfc3987_syntax", types.ModuleType("rfc3987_syntax"))
    assert voila_start.defer_rfc3987_syntax() is False


def _request_info_server(payload: dict | None):
    """A stand-in for Voilà's request-info socket on a free loopback port: sends `payload` (JSON) to the first
    client, or closes without sending when None.  Returns (port, paths seen, stop)."""
    import asyncio
    import threading

    import websockets.asyncio.server as wss

    seen, ready, stop_loop = [], threading.Event(), {}

    async def handler(ws):
        seen.append(ws.request.path)
        if payload is not None:
            await ws.send(json.dumps(payload))

    async def main():
        async with wss.serve(handler, "127.0.0.1", 0) as server:
            stop_loop["port"] = server.sockets[0].getsockname()[1]
            stop_loop["event"] = asyncio.Event()
            stop_loop["loop"] = asyncio.get_running_loop()
            ready.set()
            await stop_loop["event"].wait()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    ready.wait(10)

    def stop():
        stop_loop["loop"].call_soon_threadsafe(stop_loop["event"].set)
        thread.join(10)

    return stop_loop["port"], seen, stop


WAIT_PROBE = """
import json, os, sys
from ditp_model.outputs import notebook as nb
waited = nb.wait_for_page_request()
print(json.dumps({"waited": waited, "SCRIPT_NAME": os.environ.get("SCRIPT_NAME"), "QUERY_STRING": os.environ.get("QUERY_STRING"),
                  "heavy": sorted(m for m in ("voila", "jupyter_server", "jsonschema") if m in sys.modules)}))
"""


def _wait_in_a_preheated_kernel(port: int, kernel_id: str = "k-123") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOILA_") and k not in ("SCRIPT_NAME", "QUERY_STRING")}
    env.update(PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), VOILA_PREHEAT="True",
               VOILA_APP_PORT=str(port), VOILA_KERNEL_ID=kernel_id, VOILA_SERVER_URL="/")
    return subprocess.run([sys.executable, "-c", WAIT_PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_wait_for_page_request_outside_a_preheated_kernel_returns_at_once(monkeypatch):
    from ditp_model.outputs import notebook as nb

    for value in (None, "False"):  # JupyterLab, nbval, papermill; a kernel Voilà starts for a request
        if value is None:
            monkeypatch.delenv("VOILA_PREHEAT", raising=False)
        else:
            monkeypatch.setenv("VOILA_PREHEAT", value)
        monkeypatch.setenv("VOILA_APP_PORT", "9")  # nothing listens there: a wait would fail, not return False
        assert nb.wait_for_page_request() is False


def test_wait_for_page_request_receives_the_request_without_importing_voila():
    """In a pre-heated kernel the wait receives the request's variables from the request-info socket (here a
    stand-in serving Voilà's protocol: one JSON message) and puts them in the environment, without importing
    Voilà's server (over 2 s of imports, on the first page's way)."""
    pytest.importorskip("websockets")
    port, seen, stop = _request_info_server({"SCRIPT_NAME": "/", "QUERY_STRING": "seance=1"})
    try:
        out = _wait_in_a_preheated_kernel(port, "noyau-42")
    finally:
        stop()
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"waited": True, "SCRIPT_NAME": "/", "QUERY_STRING": "seance=1", "heavy": []}
    assert seen == ["/voila/query/noyau-42"]


def test_wait_for_page_request_refuses_to_go_on_without_the_request():
    pytest.importorskip("websockets")
    port, seen, stop = _request_info_server(None)  # the socket closes without sending the request's details
    try:
        closed = _wait_in_a_preheated_kernel(port)
    finally:
        stop()
    from voila_harness import free_port

    refused = _wait_in_a_preheated_kernel(free_port())  # nothing listens: connection refused
    for out in (closed, refused):
        assert out.returncode != 0
        assert "demande de la page n'a pas été reçue" in out.stderr
    assert seen == ["/voila/query/k-123"]


@pytest.mark.parametrize("env", [
    {"VOILA_APP_PORT": "8866", "VOILA_KERNEL_ID": "abc", "VOILA_SERVER_URL": "/"},
    {"VOILA_APP_PORT": "9001", "VOILA_KERNEL_ID": "abc", "VOILA_SERVER_URL": "/base/", "VOILA_APP_IP": "127.0.0.2"},
    {"VOILA_APP_PORT": "9001", "VOILA_KERNEL_ID": "abc", "VOILA_SERVER_URL": "/base/", "VOILA_WS_BASE_URL": "/ws/",
     "VOILA_WS_PROTOCOL": "wss"},
])
def test_request_info_address_is_voilas_own(monkeypatch, env):
    """The address the wait connects to is the one Voilà's own ``wait_for_request`` computes from the same environment."""
    import asyncio

    utils = pytest.importorskip("voila.utils")
    from ditp_model.outputs import notebook as nb

    for k in [k for k in os.environ if k.startswith("VOILA_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    asked = []

    async def capture(url):
        asked.append(url)

    loops, original_new_loop = [], asyncio.new_event_loop

    def new_loop():  # Voilà's wait leaves its loop open: closed here
        loops.append(original_new_loop())
        return loops[-1]

    monkeypatch.setattr(utils, "_get_request_info", capture)
    monkeypatch.setattr(utils.asyncio, "new_event_loop", new_loop)
    try:
        utils.wait_for_request()
    finally:
        for loop in loops:
            loop.close()
    assert asked == [nb.voila_request_info_url()]


def test_pool_kernel_on_its_way():
    import asyncio

    from ditp_model.cli.voila_start import pool_kernel_on_its_way

    async def states():
        loop = asyncio.get_running_loop()
        pending, ok, failed, cancelled = (loop.create_future() for _ in range(4))
        ok.set_result({"kernel_id": "k"})
        failed.set_exception(RuntimeError("kernel died"))
        cancelled.cancel()
        answers = [pool_kernel_on_its_way(p) for p in ([pending], [ok], [failed], [cancelled], [], None, [failed, ok])]
        failed.exception()  # retrieved: no "never retrieved" warning
        return answers

    assert asyncio.run(states()) == [True, True, False, False, False, False, False]


def test_an_early_page_waits_for_the_preheated_kernel_on_its_way(monkeypatch):
    """Before the pre-heated kernel's process has started (Voilà has no ``notebook_data`` yet), a request for the
    page takes that kernel instead of starting a second one; Voilà's answer stands in every other case."""
    import asyncio

    handler_module = pytest.importorskip("voila.handler")
    from ditp_model.cli import voila_start

    Handler = handler_module.VoilaHandler
    monkeypatch.setattr(Handler, "should_use_rendered_notebook", Handler.should_use_rendered_notebook)  # restored after
    assert voila_start.use_starting_preheated_kernel() is True
    assert voila_start.use_starting_preheated_kernel() is False  # installed once

    async def answers():
        loop = asyncio.get_running_loop()
        starting, failed = loop.create_future(), loop.create_future()
        failed.set_exception(RuntimeError("kernel died"))
        failed.exception()

        def ask(pool, notebook_data=None, template=None, theme=None, page="02_seance_comite.ipynb"):
            h = types.SimpleNamespace(kernel_manager=types.SimpleNamespace(_pools={"02_seance_comite.ipynb": pool}),
                                      notebook_path=page)
            return Handler.should_use_rendered_notebook(h, notebook_data or {}, len(pool), template, theme, {})

        ready = {"template": "lab", "theme": "light"}
        return [ask([starting]),                       # the early page: waits for the kernel on its way
                ask([starting], template="reveal"),    # another template: not the pre-heated page
                ask([starting], theme="dark"),
                ask([]),                               # no kernel in the pool: Voilà starts one
                ask([failed]),                         # the pool's kernel failed: Voilà starts one
                ask([starting], page=[]),              # several notebooks served: Voilà's answer
                ask([starting], notebook_data=ready),  # kernel started: Voilà's own yes
                ask([starting], notebook_data=ready, template="reveal")]  # Voilà's own no

    assert asyncio.run(answers()) == [True, False, False, False, False, False, True, False]


def test_committee_notebook_waits_before_reading_the_data():
    """In notebook 02, the wait comes after the imports and before any data is read or the panel built."""
    cells = json.loads((ROOT / "notebooks" / "02_seance_comite.ipynb").read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code").splitlines()
    wait = next(i for i, line in enumerate(code) if "nb.wait_for_page_request()" in line)
    first_read = next(i for i, line in enumerate(code) if "sample_inputs()" in line)
    panel = next(i for i, line in enumerate(code) if "CommitteePanel(" in line)
    imports = [i for i, line in enumerate(code) if line.startswith(("import ", "from "))]
    assert max(imports) < wait < first_read < panel


def test_panel_modules_load_without_matplotlib():
    code = ("import sys\nfrom ditp_model.outputs import notebook\nfrom ditp_model.session.widgets import CommitteePanel\n"
            "print(sorted(m for m in ('matplotlib', 'jax', 'numpyro', 'openpyxl') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
