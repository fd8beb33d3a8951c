"""The ``ditp-model`` command (messages in French): this module only assembles the sub-commands.

One module per sub-command, each with ``register(subparsers)`` and its ``cmd_…`` function:
``score`` (:mod:`.score`, eligibility and ranked list), ``allocate`` (:mod:`.allocate`, the
funding decision), ``pabulib`` (:mod:`.pabulib`, a Pabulib instance through the same engine),
``import-ds`` (:mod:`.import_ds`), ``report`` and ``verify`` (:mod:`.report`), ``lottery``
(:mod:`.lottery`), ``desistement`` and ``reduction`` (:mod:`.withdrawal`), ``lettres`` (:mod:`.letters`, letters
from a Word template), ``comite`` and ``lab`` (:mod:`.servers`, the committee page and JupyterLab without make); what
they share is in :mod:`.common`.  No sub-command imports this module.
Exit codes: 0 success; 2 bad input or bad arguments; 3 no proven optimum; 6 provisional decision refused; 7 output folder
held by another run, or the new set of files could not be switched in (the previous set is back in place).
"""

from __future__ import annotations

import argparse
import sys

from ditp_model.cli.common import (EXIT_INPUT, EXIT_NOT_OPTIMAL, EXIT_PUBLICATION, FrenchArgumentParser, envelope_option_problem,
                                   located_lock_error)

# Start-up (issue 18): `ditp-model --help` and `ditp-model pabulib` import only
# what they use; pandas, pulp, babel, pydantic... are imported inside the
# sub-command functions that need them.

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The ``ditp-model`` parser: every sub-command registers its own options (each module imports only argparse)."""
    from ditp_model.cli import allocate, import_ds, letters, lottery, pabulib, report, score, servers, withdrawal

    parser = FrenchArgumentParser(prog="ditp-model", description="Aide à la décision du comité de sélection (appel DITP).")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (score, allocate, pabulib, import_ds, report, lottery, withdrawal, letters, servers):
        command.register(sub)
    return parser


def _loaded(module: str, name: str):
    """``module.name`` if that module is already imported, else ``()`` (an ``except`` clause that matches nothing).

    Its exceptions cannot have been raised when the module was never imported,
    so ``main`` need not import it (and pandas, pulp...) to catch them.
    """
    mod = sys.modules.get(module)
    return getattr(mod, name) if mod is not None else ()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ditp-model``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(argv) if argv is not None else sys.argv[1:]
    envelope = envelope_option_problem(args)  # the call file's rule, before anything is read or written
    if envelope:
        print(f"Erreur : {envelope}\n(aide : ditp-model {args.command} --help)", file=sys.stderr)
        return EXIT_INPUT
    try:
        return args.func(args)
    except _loaded("ditp_model.publication", "PublicationError") as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return EXIT_PUBLICATION
    except _loaded("ditp_model.inputs.schema", "InputError") as exc:
        print(f"Erreur : données d'entrée invalides.\n{exc}", file=sys.stderr)
        return EXIT_INPUT
    except ValueError as exc:
        located = located_lock_error(exc, args)  # an imposed application that cannot be funded: its row in --verrous
        print(f"Erreur : données d'entrée invalides.\n{located}" if located else f"Erreur : {exc}", file=sys.stderr)
        return EXIT_INPUT
    except ImportError as exc:  # an optional part not installed (bayes: NumPyro and JAX…); the message says what to install
        print(f"Erreur : module absent — {exc}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # output piped into `head`: not an error of ours
        sys.stderr.close()
        return 0
    except OSError as exc:
        print(f"Erreur : écriture impossible — {exc.strerror} : {exc.filename}", file=sys.stderr)
        return EXIT_INPUT
    except _loaded("ditp_model.rules.allocation", "AllocationError") as exc:
        print(f"Erreur : résultat du solveur rejeté par la vérification exacte — {exc}", file=sys.stderr)
        return EXIT_NOT_OPTIMAL
