"""Check a letters folder (``ditp-model lettres``) against its index ``lettres.json``, for ``ditp-model verify``.

``lettres.json`` records the SHA-256 of every file :func:`ditp_model.outputs.letters.write_letters`
wrote (``sha256``); a letter replaced, forged, added or removed since is named here, in French.

It also records the decision the letters announce (``decision_sha256``).  A command that replaces
the decision in force in a folder holding letters (``desistement``, ``reduction``, a new ``report``)
does not rewrite them — they are dated, may be signed or sent, and their template and signatory are
the secretariat's choice — but records them as stale in the new manifest (``stale_letters``,
:func:`stale_letters_record`) and says so; ``verify`` compares every letters folder's decision with
the decision in force (:func:`stale_letters_line`): « les récrire (ditp-model lettres) » (trial 1, item 3).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ditp_model.outputs.letters_folder import MARKER, letters_decision

__all__ = ["letters_folder_differences", "letters_decision", "letters_folders", "stale_letters_record", "stale_letters_line"]


def letters_folder_differences(folder: str | Path) -> list[str]:
    """What differs in a letters folder from its index ``lettres.json`` (French lines; empty: intact).

    Every file the index lists under ``sha256`` must be there with that SHA-256, and the folder
    must hold no other file (``lettres.json`` itself aside).  An index written before the
    fingerprints were recorded gives one line saying the letters cannot be checked.
    """
    folder = Path(folder)
    try:
        index = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"lettres : index {folder / MARKER} illisible ({exc})"]
    listed = index.get("sha256") if isinstance(index, dict) else None
    if not isinstance(listed, dict):
        return [f"lettres : {folder / MARKER} ne donne pas l'empreinte SHA-256 des lettres (écrit par une version "
                "antérieure) : lettres non vérifiables ; relancer ditp-model lettres"]
    out = []
    for name, sha in sorted(listed.items()):
        p = folder / name
        if not p.is_file():
            out.append(f"lettres : fichier absent : {folder.name}/{name}")
        elif hashlib.sha256(p.read_bytes()).hexdigest() != sha:
            out.append(f"lettres : fichier modifié depuis son écriture : {folder.name}/{name} (SHA-256 {str(sha)[:12]}… "
                       "dans lettres.json)")
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel != MARKER and rel not in listed:
            out.append(f"lettres : fichier ajouté, absent de lettres.json : {folder.name}/{rel}")
    return out


def letters_folders(base: str | Path) -> list[str]:
    """The sub-folders of a decision folder holding letters (a ``lettres.json``), by name."""
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / MARKER).is_file())


def stale_letters_record(base: str | Path, decision_sha256: str, why_fr: str, previous: dict | None = None) -> dict:
    """The manifest's ``stale_letters``: the letters folders of `base` written for another decision than `decision_sha256`.

    Parameters
    ----------
    base : path
        The folder the new decision is published into.
    decision_sha256 : str
        The decision in force after the publication.
    why_fr : str
        What superseded the letters' decision, in French (« le désistement n° 1 du 03/12/2026 »).
    previous : dict, optional
        The ``stale_letters`` of the manifest updated: a folder already stale for the same letters keeps
        its earlier reason (the change that first made them stale).

    Returns
    -------
    dict
        Folder name -> ``decision_sha256`` (the decision the letters announce) and ``note_fr``
        (« les lettres de lettres/ décrivent la décision c133f76b7493…, pas la décision en vigueur 957c3c363821…
        (remplacée par le désistement de P011 (changement n° 1, 03/12/2026) ; …) ; les récrire (ditp-model lettres) … »).  Empty when every letters folder announces `decision_sha256`.
    """
    out = {}
    for name in letters_folders(base):
        theirs = letters_decision(Path(base) / name)
        if theirs == decision_sha256:
            continue
        earlier = (previous or {}).get(name) or {}
        if earlier.get("decision_sha256") == theirs and earlier.get("note_fr"):
            out[name] = dict(earlier)
            continue
        out[name] = {"decision_sha256": theirs,
                     "note_fr": f"les lettres de {name}/ décrivent la décision {str(theirs)[:12]}…, pas la décision en vigueur "
                                f"{decision_sha256[:12]}… (remplacée par {why_fr} ; lettres_a_signer.pdf compris) ; les "
                                "récrire (ditp-model lettres) : les lettres actuelles seront alors archivées, pas supprimées"}
    return out


def stale_letters_line(folder: str | Path, manifest: dict) -> tuple[str, bool]:
    """Whether a letters folder announces another decision than `manifest`'s: (French line or "", recorded).

    `recorded` is True when the manifest's ``stale_letters`` names this folder with the same decision
    (the command that superseded the letters said so); the line then gives that record's reason.
    """
    folder = Path(folder)
    theirs, ours = letters_decision(folder), manifest.get("decision_sha256")
    if theirs is None or theirs == ours:
        return "", False
    rec = (manifest.get("stale_letters") or {}).get(folder.name) or {}
    where = folder.parent / "manifest.json"
    if rec.get("decision_sha256") == theirs and rec.get("note_fr"):
        return f"{rec['note_fr']} (ditp-model lettres --manifest {where})", True
    return (f"les lettres de {folder.name}/ décrivent la décision {theirs[:12]}…, pas la décision en vigueur {str(ours)[:12]}… : "
            f"lettres périmées, qu'aucune commande n'a signalées ; les récrire (ditp-model lettres --manifest {where})"), False
