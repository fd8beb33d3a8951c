"""Start Voilà for ``ditp-model comite``: ``python -m ditp_model.cli.voila_start NOTEBOOK [Voilà options]``.

The same as ``python -m voila NOTEBOOK [options]`` (Voilà's own ``main``, same options, same
behaviour), with one start-up cost removed.  Voilà imports jupyter_server, which imports
jupyter_events, which imports jsonschema's format checkers; with the ``format-nongpl`` extra that
nbformat requires, jsonschema then imports ``rfc3987_syntax``, whose module builds some thirty
Lark parsers when it is imported: about 1.1 s of the server's 1.6 s start on this project's
machine (``python -X importtime -m voila --help``; the upstream reports:
python-jsonschema/jsonschema#1428, jupyter-server/jupyter_server#1559).  No schema of Jupyter
uses the ``iri`` formats it checks.

Here ``rfc3987_syntax`` is replaced, before Voilà is imported, by a stand-in whose
``is_valid_syntax`` imports the real module at its first call and delegates to it: the check is
unchanged when it is used, and costs nothing when it is not.  If the package is absent, or has
already been imported, nothing is replaced.

Runs wherever Voilà runs (no shell, no POSIX-only call): ``ditp-model comite`` starts it with the
Python that runs ``ditp-model``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["defer_rfc3987_syntax", "main"]

_MODULE = "rfc3987_syntax"


def defer_rfc3987_syntax() -> bool:
    """Put a stand-in for ``rfc3987_syntax`` in ``sys.modules`` that imports the real one at its first use.

    Returns
    -------
    bool
        True when the stand-in was installed; False when the module is absent or already imported.
    """
    if _MODULE in sys.modules or importlib.util.find_spec(_MODULE) is None:
        return False
    real: list[types.ModuleType] = []
    stand_in = types.ModuleType(_MODULE, "stand-in: the real rfc3987_syntax is imported at the first check")

    def load() -> types.ModuleType:
        if not real:
            if sys.modules.get(_MODULE) is stand_in:
                del sys.modules[_MODULE]
            real.append(importlib.import_module(_MODULE))
        return real[0]

    def is_valid_syntax(*args, **kwargs):
        return load().is_valid_syntax(*args, **kwargs)

    def __getattr__(name: str):  # anything else asked of the module: the real one
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(load(), name)

    stand_in.is_valid_syntax = is_valid_syntax
    stand_in.__getattr__ = __getattr__
    sys.modules[_MODULE] = stand_in
    return True


def main() -> None:
    """Voilà's command line, after :func:`defer_rfc3987_syntax`."""
    defer_rfc3987_syntax()
    from voila.app import main as voila_main

    voila_main()


if __name__ == "__main__":
    main()
