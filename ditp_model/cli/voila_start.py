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

A second change concerns the first page asked for right after the start (the tab that
``ditp-model comite`` opens as soon as the server listens).  Voilà keeps one kernel pre-heated
(``preheat_kernel``, started when the server starts) but hands it to a request only once that
kernel's process has started; a request that comes earlier gets a *new* kernel, started from
scratch, while the pre-heated one goes on importing beside it: on this project's two-core machine
the two kernels share the processors and the page waits for the slower, later one.  Here
:func:`use_starting_preheated_kernel` lets such an early request wait for the pre-heated kernel
already on its way (Voilà's own ``get_rendered_notebook``, as for any later request).  Only when
Voilà's pool holds a kernel for the page that has not failed, and the request asks for no other
template or theme (which the pre-heated page would not have); otherwise Voilà's choice is unchanged.

Third, the page's template: ``ditp-model comite`` asks for :data:`PAGE_TEMPLATE`, Voilà's « lab »
template with its page script loaded before the first cell instead of after the last one (the
browser fetches and compiles it while the kernel computes the panel; see the template's own
comment, ``jupyter_data/voila/templates/ditp-comite/index.html.j2``).  :func:`add_page_template`
puts the package's ``jupyter_data`` folder first on ``JUPYTER_PATH``, where Voilà looks for templates.

Runs wherever Voilà runs (no shell, no POSIX-only call): ``ditp-model comite`` starts it with the
Python that runs ``ditp-model``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

__all__ = ["defer_rfc3987_syntax", "use_starting_preheated_kernel", "pool_kernel_on_its_way", "add_page_template",
           "PAGE_TEMPLATE", "JUPYTER_DATA", "main"]

#: The committee page's Voilà template (``--template=ditp-comite``), in :data:`JUPYTER_DATA`.
PAGE_TEMPLATE = "ditp-comite"
#: A Jupyter data folder of the package: ``voila/templates/ditp-comite/``.
JUPYTER_DATA = Path(__file__).resolve().parent / "jupyter_data"

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


def pool_kernel_on_its_way(pool) -> bool:
    """Whether Voilà's pool of pre-heated kernels for a page (a list of asyncio tasks) holds one that may still serve.

    The first task is the one Voilà hands out next: it serves if it is still starting, or has
    started without an error.
    """
    if not pool:
        return False
    task = pool[0]
    return not task.done() or (not task.cancelled() and task.exception() is None)


def use_starting_preheated_kernel() -> bool:
    """Let a page asked for before the pre-heated kernel's process has started wait for that kernel.

    Replaces ``voila.handler.VoilaHandler.should_use_rendered_notebook`` by a function that
    answers yes when Voilà's answer is no only because the pool's kernel is still starting
    (Voilà records the page's details, ``notebook_data``, once the process is up): the pool
    holds a kernel on its way for this page (:func:`pool_kernel_on_its_way`) and the request
    names no template and no theme.  Every other case is Voilà's own answer.

    Returns
    -------
    bool
        True when installed; False when Voilà's handler does not have the expected method
        (another Voilà version): nothing is changed then.
    """
    try:
        from voila.handler import VoilaHandler
    except ImportError:
        return False
    original = getattr(VoilaHandler, "should_use_rendered_notebook", None)
    if original is None or getattr(original, "_ditp_wraps", None) is not None:
        return False

    def should_use_rendered_notebook(self, notebook_data, pool_size, template_name, theme, request_args):
        if original(self, notebook_data, pool_size, template_name, theme, request_args):
            return True
        if notebook_data or not pool_size or template_name is not None or theme is not None:
            return False
        pools, page = getattr(self.kernel_manager, "_pools", None), getattr(self, "notebook_path", None)
        if not isinstance(pools, dict) or not isinstance(page, str) or not page:
            return False  # several notebooks served: Voilà's answer
        return pool_kernel_on_its_way(pools.get(page))

    should_use_rendered_notebook._ditp_wraps = original
    VoilaHandler.should_use_rendered_notebook = should_use_rendered_notebook
    return True


def add_page_template() -> None:
    """Put :data:`JUPYTER_DATA` first on ``JUPYTER_PATH`` (once), so that Voilà finds :data:`PAGE_TEMPLATE`."""
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(JUPYTER_DATA) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(JUPYTER_DATA), *paths])


def main() -> None:
    """Voilà's command line, after :func:`defer_rfc3987_syntax`, :func:`use_starting_preheated_kernel` and
    :func:`add_page_template`."""
    defer_rfc3987_syntax()
    use_starting_preheated_kernel()
    add_page_template()
    from voila.app import main as voila_main

    voila_main()


if __name__ == "__main__":
    main()
