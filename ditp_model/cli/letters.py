"""``ditp-model lettres``: decision letters (DOCX and PDF) from a Word template, for a published decision.

Reads ``manifest.json`` and the ``allocation.csv`` beside it, fills the template
(default: the package's ``templates/lettre_decision.docx``; ``--modele`` for the secretariat's
edited copy) and writes into ``--out`` (default: ``lettres`` beside the manifest) one DOCX and
one PDF per application, ``lettres_a_signer.pdf`` (all letters, for signature; ``projets_de_lettres.pdf``
for the drafts of a provisional decision) and ``lettres.json`` (index: template, PDF route, decision,
SHA-256 of each file, checked by ``verify``).  The folder is replaced as a whole
(:func:`ditp_model.outputs.letters.write_letters`); letters already there that are final or announce
another decision are moved to ``archives/AAAA-MM-JJ_HHMMSS/`` first, never deleted
(:mod:`ditp_model.outputs.letters_folder`).  An ``--out`` inside the decision's folder other than its
``lettres`` is refused (``verify`` would not recognise it).  The Markdown fragments of ``report``
(``retours/``) stay as they are.

Exit codes: 0 success; 2 unreadable decision, unusable template, refused folder, or a PDF
conversion that failed; 6 the decision is provisional (applications awaiting reviews could still
enter: :mod:`ditp_model.rules.held`) and ``--provisoire`` was not given — letters announce a
decision, so none are written for a provisional one unless the secretariat asks for drafts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

__all__ = ["register", "cmd_letters"]

_ROUTES_FR = {"libreoffice": "LibreOffice (conversion fidèle du document Word)",
              "html": "mammoth puis WeasyPrint (mise en page de l'outil pour les styles « Lettre - … » du modèle)"}


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        from ditp_model.inputs.schema import date_problem_fr  # « le 31 février 2022 n'existe pas », as every date reader

        why = date_problem_fr(text)
        raise argparse.ArgumentTypeError(f"« {text} » : {why}" if why else
                                         f"date attendue au format AAAA-MM-JJ, reçu « {text} »") from None


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``lettres`` to the sub-parsers of ``ditp-model``."""
    p = subparsers.add_parser(
        "lettres", help="lettres de décision (Word et PDF) à partir d'un modèle, et un PDF unique pour la signature",
        description="Écrit une lettre par candidature (DOCX et PDF) et lettres_a_signer.pdf à partir de la décision publiée "
                    "(manifest.json et allocation.csv) et d'un modèle Word (champs {{ … }}, docxtpl). Le PDF passe par "
                    "LibreOffice s'il est installé, sinon par mammoth et WeasyPrint.")
    p.add_argument("--manifest", required=True, metavar="DOSSIER/manifest.json",
                   help="manifeste de la décision publiée (ditp-model allocate ou report) ; allocation.csv doit être à côté")
    p.add_argument("--modele", metavar="MODELE.docx",
                   help="modèle de lettre Word (défaut : le modèle fourni, ditp_model/templates/lettre_decision.docx)")
    p.add_argument("--out", metavar="DOSSIER",
                   help="dossier des lettres, remplacé en entier (défaut : le dossier « lettres » à côté du manifeste ; "
                        "d'autres --out dans le dossier de la décision sont refusés) ; des lettres définitives ou d'une "
                        "autre décision déjà là sont déplacées dans archives/AAAA-MM-JJ_HHMMSS/, jamais supprimées")
    p.add_argument("--date", type=_date, metavar="AAAA-MM-JJ", help="date des lettres (défaut : aujourd'hui)")
    p.add_argument("--pdf", choices=["auto", "libreoffice", "html"], default="auto",
                   help="conversion en PDF : LibreOffice si présent (auto, défaut), LibreOffice, ou html (mammoth + WeasyPrint)")
    p.add_argument("--appel", metavar="APPEL.toml",
                   help="prendre l'en-tête, le signataire et les voies de recours dans la table [authority] de ce fichier "
                        "d'appel plutôt que dans celle enregistrée avec la décision")
    p.add_argument("--provisoire", action="store_true",
                   help="écrire quand même les lettres d'une décision provisoire (projets de lettres, à ne pas envoyer ; "
                        "sans cette option : aucune lettre, code de sortie 6)")
    p.set_defaults(func=cmd_letters)
    return p


def cmd_letters(args) -> int:
    """``ditp-model lettres``; see the module docstring."""
    import json
    from pathlib import Path

    from ditp_model.cli.common import EXIT_INPUT, EXIT_PROVISIONAL
    from ditp_model.outputs.letters import MERGED_NAME, LetterTemplateError, write_letters

    try:
        recorded = json.loads(Path(args.manifest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = {}  # write_letters names the problem
    if isinstance(recorded, dict) and recorded.get("provisional"):
        held = ", ".join(str(h.get("application_id", "?")) for h in recorded.get("held", []) if isinstance(h, dict)) or "?"
        if not args.provisoire:
            print(f"Décision provisoire : des dossiers en attente d'évaluation ({held}) pourraient encore entrer dans la "
                  "liste des lauréats. Les lettres annoncent une décision : aucune lettre écrite. Compléter les avis et "
                  "publier la décision définitive, ou --provisoire pour des projets de lettres à ne pas envoyer.",
                  file=sys.stderr)
            return EXIT_PROVISIONAL
        print(f"Attention : décision provisoire (dossiers en attente d'évaluation : {held}) — projets de lettres, "
              "à ne pas envoyer avant la décision définitive.", file=sys.stderr)
    try:
        result = write_letters(args.manifest, args.out, template=args.modele, day=args.date, route=args.pdf,
                               letterhead_call=args.appel)
    except LetterTemplateError as exc:
        print(f"Erreur : {exc}\nAucune lettre écrite.", file=sys.stderr)
        return EXIT_INPUT
    except RuntimeError as exc:
        print(f"Erreur : {exc}\nAucune lettre écrite (le dossier précédent est intact).", file=sys.stderr)
        return EXIT_INPUT
    print(f"Modèle : {result.template}")
    absent = " ; LibreOffice (soffice) introuvable dans le PATH" if args.pdf == "auto" and result.route == "html" else ""
    print(f"PDF : {_ROUTES_FR[result.route]}{absent}")
    if result.provisional:
        print(f"Projets de lettres écrits dans {result.out_dir} : {result.count} lettres (DOCX et PDF) marquées « PROJET — "
              f"décision provisoire, ne pas envoyer », et {result.merged_name} ({result.pages} pages), à ne pas signer.")
    else:
        print(f"Lettres écrites dans {result.out_dir} : {result.count} lettres (DOCX et PDF), et {MERGED_NAME} "
              f"({result.pages} pages) pour la signature.")
    if result.archived is not None:
        print(f"Lettres précédentes déplacées dans {result.archived} (lettres définitives ou d'une autre décision, peut-être "
              "signées ou envoyées) : rien n'a été supprimé.")
    for m in result.messages:
        print(f"Remarque (conversion) : {m}", file=sys.stderr)
    return 0
