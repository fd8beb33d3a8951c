"""Start-up of the ``ditp-model`` command (issue 18): building the parser and
``--help`` import no heavy library; ``import ditp_model`` stays light.

Checked in a fresh interpreter by the modules it has loaded, not by timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "numpy", "scipy", "matplotlib", "openpyxl", "jax", "ipywidgets", "pulp", "highspy", "pydantic",
         "babel", "IPython")


def _loaded_after(code: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))" % (HEAVY,)
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_package_is_light():
    assert _loaded_after("import ditp_model") == []


def test_parser_and_help_are_light():
    code = ("import contextlib, io\nfrom ditp_model.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "for sub in ('allocate', 'pabulib', 'import-ds', 'report', 'verify', 'lottery', 'lettres', 'comite', 'lab'):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try:\n            main([sub, '--help'])\n        except SystemExit:\n            pass\n")
    assert _loaded_after(code) == []


def test_lazy_names_still_importable():
    import ditp_model

    from ditp_model import CallRules, InputError, __version__  # noqa: F401

    assert set(ditp_model.__all__) <= set(dir(ditp_model))
    with pytest.raises(AttributeError):
        ditp_model.no_such_name  # noqa: B018
