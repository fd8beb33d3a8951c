"""The ``ditp-model import-ds`` sub-command: a démarches-simplifiées export -> the canonical CSV files.

``ditp-model import-ds EXPORT --mapping MAPPING.toml --out DIR`` writes, atomically,
``DIR/candidatures.csv`` (and ``DIR/evaluations.csv`` when the export carries
scores) in the canonical schema, ready for ``ditp-model allocate``, and
``DIR/rapport_import.json`` (provenance, dossiers left out and why, personal
data dropped).  ``--suggest-mapping`` proposes a mapping file from the export's
headers instead.  Personal data is written only with ``--keep-personal-data``,
to ``DIR/donnees_personnelles.csv`` and ``DIR/experts.csv``, never into the
canonical files.

:func:`register` adds the sub-command to ``ditp-model``'s parser; :func:`main`
runs it alone (tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

__all__ = ["register", "cmd_import_ds"]

PERSONAL_FILES = ("donnees_personnelles.csv", "experts.csv")


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``import-ds`` to the sub-parsers of ``ditp-model`` (``parser.add_subparsers()``)."""
    p = subparsers.add_parser(
        "import-ds", help="lire un export démarches-simplifiées (XLSX, ODS ou CSV) et écrire les candidatures au format canonique",
        description="Lit l'export « Télécharger les dossiers » de démarches-simplifiées (XLSX, ODS ou CSV) et écrit "
                    "candidatures.csv (et evaluations.csv si l'export contient des notes) dans DOSSIER, pour ditp-model allocate. "
                    "Seuls les dossiers « En construction » et « En instruction » sont candidats ; les autres sont signalés.")
    p.add_argument("export", metavar="EXPORT", help="fichier exporté (.xlsx, .ods ou .csv)")
    p.add_argument("--mapping", metavar="MAPPING.toml",
                   help="correspondance entre les libellés du formulaire et les champs canoniques, par ex. data/mapping_ds_2021.toml "
                        "(avec --suggest-mapping : fichier où écrire la proposition)")
    p.add_argument("--out", metavar="DOSSIER", help="dossier des fichiers écrits (créé si besoin)")
    p.add_argument("--call", default=None, metavar="FICHIER.toml", help="règles de l'appel (TOML) ; défaut : celles nommées par la correspondance ([export] call)")
    p.add_argument("--suggest-mapping", action="store_true",
                   help="proposer une correspondance à partir des en-têtes de l'export (sur la sortie standard, ou dans --mapping)")
    p.add_argument("--keep-personal-data", action="store_true",
                   help="conserver les données personnelles (courriels, noms, instructeurs, experts) dans des fichiers à part")
    p.add_argument("--include-accepted", action="store_true", help="compter aussi les dossiers « Accepté » comme candidats")
    p.add_argument("--sans-blocs", dest="without_blocks", action="store_true",
                   help="accepter un export CSV bien que la correspondance lise des blocs répétables ou la feuille Avis, "
                        "que le CSV ne contient jamais : partenaires des blocs et notes des avis seront absents (ce qui change "
                        "l'éligibilité, les notes et la décision) ; sans cette option, un tel CSV est refusé")
    p.set_defaults(func=cmd_import_ds)
    return p


def _suggest(args) -> int:
    from ditp_model.inputs.call import load_call_rules
    from ditp_model.inputs.demarches import suggest_mapping
    from ditp_model.inputs.io import write_text_atomic

    rules = load_call_rules(args.call) if args.call else None
    text = suggest_mapping(args.export, rules, Path(args.mapping).parent if args.mapping else None)
    if not args.mapping:
        sys.stdout.write(text)
        return 0
    path = Path(args.mapping)
    if path.exists():
        raise ValueError(f"« {path} » existe déjà : la proposition ne remplace jamais un fichier, choisissez un autre nom")
    write_text_atomic(path, text)
    todo = text.count("À COMPLÉTER")
    guessed = text.count("reconnu d'après")
    print(f"Correspondance proposée écrite : {path}" + (f" — {todo} ligne(s) « À COMPLÉTER » à renseigner." if todo else " — à relire.")
          + (f" {guessed} option(s) reconnue(s) d'après une partie de leur libellé : à vérifier." if guessed else ""))
    return 0


def cmd_import_ds(args) -> int:
    """Run ``import-ds``; returns the exit code (errors are raised as InputError / ValueError)."""
    # Imported here, not at the top: building the ``ditp-model`` parser must stay light (issue 18).
    from ditp_model import __version__
    from ditp_model.inputs.demarches import import_export
    from ditp_model.inputs.io import csv_text

    if args.suggest_mapping:
        return _suggest(args)
    missing = [o for o, v in (("--mapping", args.mapping), ("--out", args.out)) if not v]
    if missing:
        raise ValueError(f"{' et '.join(missing)} : obligatoire pour importer (ou --suggest-mapping pour proposer une correspondance)")
    from ditp_model.cli.common import command_line, output_lock
    from ditp_model.publication import publish_files

    out = Path(args.out)
    with output_lock(args):
        apps, reviews, report = import_export(args.export, args.mapping, args.call, include_accepted=args.include_accepted,
                                              keep_personal_data=args.keep_personal_data, without_blocks=args.without_blocks)
        files = {"candidatures.csv": csv_text(apps.drop(columns=["source_row"])).encode("utf-8")}
        if reviews is not None:
            files["evaluations.csv"] = csv_text(reviews.drop(columns=["source_row"])).encode("utf-8")
        if args.keep_personal_data:
            if report.contacts is not None:
                files[PERSONAL_FILES[0]] = csv_text(report.contacts).encode("utf-8")
            if report.experts is not None:
                files[PERSONAL_FILES[1]] = csv_text(report.experts).encode("utf-8")
        provenance = {
            "tool": "ditp-model import-ds", "version": __version__,
            "created_at": dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
            "options": {"include_accepted": args.include_accepted, "keep_personal_data": args.keep_personal_data,
                        "without_blocks": args.without_blocks},
            "import": report.to_dict(),
            "outputs": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        }
        files["rapport_import.json"] = (json.dumps(provenance, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        # one set, staged then switched in: the folder holds the whole previous import or the whole new one
        written = publish_files(out, files, command=command_line(args))
    print(report.summary_fr())
    if report.missing_in_format:
        print("Attention : import d'un export CSV sans blocs répétables ni avis (--sans-blocs) ; manque :", file=sys.stderr)
        for line in report.missing_in_format:
            print(f"  - {line}", file=sys.stderr)
    if reviews is None and (out / "evaluations.csv").exists():
        print(f"Attention : {out / 'evaluations.csv'} vient d'un import précédent et n'a pas été remplacé (aucune note dans cet export).",
              file=sys.stderr)
    if not args.keep_personal_data:
        for name in PERSONAL_FILES:
            if (out / name).exists():
                print(f"Attention : {out / name} (données personnelles) reste d'un import précédent : supprimez-le s'il n'est plus utile.",
                      file=sys.stderr)
    for p in written:
        print(f"Écrit : {p}")
    return 0
