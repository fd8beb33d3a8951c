"""The committee page's start (issue 18, item 3): what ``ditp-model comite`` changes in Voilà's start, checked
by behaviour, not by timing.

* ``ditp_model.cli.voila_start`` defers ``rfc3987_syntax`` (about 1 s of Voilà's import): jsonschema's
  IRI checks give the same answers as with the real module imported up front, which is then imported at
  the first check only.
* ``nb.wait_for_page_request`` waits only in a kernel that Voilà pre-heats, and refuses to go on without
  the request (the page would otherwise be built from data read before anyone opened it).
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


def _fake_voila(monkeypatch, on_wait):
    calls = []
    utils = types.ModuleType("voila.utils")
    utils.wait_for_request = lambda url=None: (calls.append(url), on_wait())
    pkg = types.ModuleType("voila")
    pkg.utils = utils
    monkeypatch.setitem(sys.modules, "voila", pkg)
    monkeypatch.setitem(sys.modules, "voila.utils", utils)
    return calls


def test_wait_for_page_request_outside_a_preheated_kernel_returns_at_once(monkeypatch):
    from ditp_model.outputs import notebook as nb

    calls = _fake_voila(monkeypatch, lambda: None)
    for value in (None, "False"):  # JupyterLab, nbval, papermill; a kernel Voilà starts for a request
        if value is None:
            monkeypatch.delenv("VOILA_PREHEAT", raising=False)
        else:
            monkeypatch.setenv("VOILA_PREHEAT", value)
        assert nb.wait_for_page_request() is False
    assert calls == []


def test_wait_for_page_request_waits_for_the_request_in_a_preheated_kernel(monkeypatch):
    from ditp_model.outputs import notebook as nb

    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.delenv("SCRIPT_NAME", raising=False)
    calls = _fake_voila(monkeypatch, lambda: os.environ.__setitem__("SCRIPT_NAME", "/"))  # what Voilà does on a request
    assert nb.wait_for_page_request() is True
    assert calls == [None]
    monkeypatch.delenv("SCRIPT_NAME")


def test_wait_for_page_request_refuses_to_go_on_without_the_request(monkeypatch):
    from ditp_model.outputs import notebook as nb

    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.delenv("SCRIPT_NAME", raising=False)
    _fake_voila(monkeypatch, lambda: None)  # Voilà's request socket unreachable: the wait ends with nothing
    with pytest.raises(RuntimeError, match="demande de la page n'a pas été reçue"):
        nb.wait_for_page_request()


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
