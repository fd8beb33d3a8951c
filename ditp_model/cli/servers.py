"""``ditp-model comite`` and ``ditp-model lab``: the committee page (Voilà) and JupyterLab, without ``make`` or a shell.

Both start the server with the Python that runs ``ditp-model`` (``python -m voila``,
``python -m jupyterlab``): no PATH, no shell, the same on Windows.  ``comite`` serves
``notebooks/02_seance_comite.ipynb`` on 127.0.0.1 with idle kernels culled — the options of the
Makefile's ``comite`` target, which calls this command; ``lab`` opens JupyterLab on the
notebooks folder, also on 127.0.0.1.  The command lines are built by :func:`comite_argv` and
:func:`lab_argv` (tested without starting a server).  Stop the server with Ctrl+C.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ditp_model.cli.voila_start import PAGE_TEMPLATE

__all__ = ["register", "comite_argv", "lab_argv", "cmd_comite", "cmd_lab", "NOTEBOOKS", "COMMITTEE_NOTEBOOK",
           "CULL_IDLE_S", "CULL_INTERVAL_S", "PORT", "VOILA_START", "PREHEAT", "PREHEAT_REFILL_S"]

#: The notebooks folder of the checkout (the package is installed editable from it).
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
COMMITTEE_NOTEBOOK = "02_seance_comite.ipynb"
#: Voilà starts a kernel per page load: those idle this many seconds are stopped, checked every CULL_INTERVAL_S.
CULL_IDLE_S = 120
CULL_INTERVAL_S = 30
PORT = 8866
LOCALHOST = "127.0.0.1"
#: The module that starts Voilà (``python -m voila`` with a slow, unused import deferred).
VOILA_START = "ditp_model.cli.voila_start"
#: Voilà keeps one kernel started in advance: it runs the page's notebook up to
#: ``nb.wait_for_page_request()`` (imports), so that opening the page only reads the data and builds the
#: panel.  The pool is refilled PREHEAT_REFILL_S seconds after a page takes its kernel, so that the
#: refill does not compete with the page being shown on a small machine.
PREHEAT_REFILL_S = 10
PREHEAT = ["--VoilaConfiguration.preheat_kernel=True", "--VoilaConfiguration.default_pool_size=1",
           f"--VoilaKernelManager.fill_delay={PREHEAT_REFILL_S}"]


def comite_argv(notebook: str | Path, *, port: int = PORT, cull_idle: int = CULL_IDLE_S, cull_interval: int = CULL_INTERVAL_S,
                browser: bool = True, python: str | None = None) -> list[str]:
    """The Voilà command line of the committee page (a list for :func:`subprocess.run`, no shell).

    Voilà listens on 127.0.0.1 only (the page is for the meeting room's machine, not the network)
    and culls kernels idle for `cull_idle` seconds, checked every `cull_interval` seconds (a
    pre-heated kernel waiting for its page is never culled: Voilà's pool keeps it).  It is started
    through :mod:`ditp_model.cli.voila_start` (Voilà's own ``main`` without a 1 s import that the
    page never uses) and keeps one kernel pre-heated (:data:`PREHEAT`); the page's template is
    :data:`ditp_model.cli.voila_start.PAGE_TEMPLATE` (Voilà's « lab » with its script loaded early).
    """
    argv = [python or sys.executable, "-m", VOILA_START, str(notebook), f"--Voila.ip={LOCALHOST}", f"--port={int(port)}",
            f"--MappingKernelManager.cull_idle_timeout={int(cull_idle)}",
            f"--MappingKernelManager.cull_interval={int(cull_interval)}", *PREHEAT, f"--template={PAGE_TEMPLATE}"]
    return argv + ([] if browser else ["--no-browser"])


def lab_argv(folder: str | Path, *, port: int | None = None, browser: bool = True, python: str | None = None) -> list[str]:
    """The JupyterLab command line on `folder` (127.0.0.1 only)."""
    argv = [python or sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={Path(folder)}", f"--ServerApp.ip={LOCALHOST}"]
    if port is not None:
        argv.append(f"--ServerApp.port={int(port)}")
    return argv + ([] if browser else ["--ServerApp.open_browser=False"])


def _seconds(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v <= 0:
        raise argparse.ArgumentTypeError(f"nombre entier de secondes > 0 attendu, reçu « {text} »")
    return v


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if not 1024 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"numéro de port entre 1024 et 65535 attendu, reçu « {text} »")
    return v


def register(subparsers) -> None:
    """Add ``comite`` and ``lab`` to the sub-parsers of ``ditp-model``."""
    c = subparsers.add_parser("comite", help="ouvre la page de séance du comité (Voilà, sans code) sur http://127.0.0.1:8866/",
                              description="Démarre la page de séance du comité (notebooks/02_seance_comite.ipynb servi par "
                                          "Voilà) sur cette machine seulement (127.0.0.1) ; les noyaux inactifs sont arrêtés. "
                                          "Ctrl+C pour arrêter.")
    c.add_argument("--notebook", metavar="FICHIER.ipynb", help=f"notebook servi (défaut : {COMMITTEE_NOTEBOOK} du dossier notebooks du dépôt)")
    c.add_argument("--port", type=_port, default=PORT, metavar="PORT", help=f"port (défaut : {PORT})")
    c.add_argument("--cull-idle", type=_seconds, default=CULL_IDLE_S, metavar="SECONDES",
                   help=f"arrêter un noyau inactif depuis ce nombre de secondes (défaut : {CULL_IDLE_S})")
    c.add_argument("--cull-interval", type=_seconds, default=CULL_INTERVAL_S, metavar="SECONDES",
                   help=f"vérifier les noyaux inactifs toutes les N secondes (défaut : {CULL_INTERVAL_S})")
    c.add_argument("--sans-navigateur", action="store_true", help="ne pas ouvrir le navigateur")
    c.set_defaults(func=cmd_comite)
    lab = subparsers.add_parser("lab", help="ouvre JupyterLab sur le dossier des notebooks",
                                description="Démarre JupyterLab sur le dossier notebooks du dépôt, sur cette machine seulement "
                                            "(127.0.0.1). Ctrl+C pour arrêter.")
    lab.add_argument("--dossier", metavar="DOSSIER", help="dossier ouvert (défaut : le dossier notebooks du dépôt)")
    lab.add_argument("--port", type=_port, metavar="PORT", help="port (défaut : celui de JupyterLab, 8888 ou le suivant libre)")
    lab.add_argument("--sans-navigateur", action="store_true", help="ne pas ouvrir le navigateur")
    lab.set_defaults(func=cmd_lab)


def _need(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ValueError(f"{what} n'est pas installé dans cet environnement : conda env create -f environment.yml, ou "
                         "pip install -e \".[notebooks]\"")


def _run(argv: list[str]) -> int:
    """Start the server and wait for it; on Ctrl+C (which the server receives too, from the same console), give it
    time to stop its kernels before ending it."""
    import subprocess

    print("Démarrage : " + " ".join(argv[1:]) + "\n(Ctrl+C pour arrêter)")
    proc = subprocess.Popen(argv)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
        print("Arrêté.")
        return 0


def cmd_comite(args) -> int:
    """``ditp-model comite``: serve the committee page with Voilà (see the module docstring)."""
    notebook = Path(args.notebook) if args.notebook else NOTEBOOKS / COMMITTEE_NOTEBOOK
    if not notebook.is_file():
        raise ValueError(f"notebook de séance introuvable : {notebook} (lancer depuis le dépôt, ou --notebook FICHIER)")
    if args.cull_interval > args.cull_idle:
        raise ValueError(f"--cull-interval {args.cull_interval} : la vérification doit être au plus aussi espacée que "
                         f"--cull-idle ({args.cull_idle} s)")
    _need("voila", "Voilà")
    return _run(comite_argv(notebook, port=args.port, cull_idle=args.cull_idle, cull_interval=args.cull_interval,
                            browser=not args.sans_navigateur))


def cmd_lab(args) -> int:
    """``ditp-model lab``: JupyterLab on the notebooks folder."""
    folder = Path(args.dossier) if args.dossier else NOTEBOOKS
    if not folder.is_dir():
        raise ValueError(f"dossier des notebooks introuvable : {folder} (lancer depuis le dépôt, ou --dossier DOSSIER)")
    _need("jupyterlab", "JupyterLab")
    return _run(lab_argv(folder, port=args.port, browser=not args.sans_navigateur))
