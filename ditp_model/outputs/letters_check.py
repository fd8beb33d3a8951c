"""Check a letters folder (``ditp-model lettres``) against its index ``lettres.json``, for ``ditp-model verify``.

``lettres.json`` records the SHA-256 of every file :func:`ditp_model.outputs.letters.write_letters`
wrote (``sha256``); a letter replaced, forged, added or removed since is named here, in French.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ditp_model.outputs.letters import MARKER

__all__ = ["letters_folder_differences", "letters_decision", "stale_letters_note"]


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


def letters_decision(folder: str | Path) -> str | None:
    """The decision (``decision_sha256``) a letters folder was written for, from its ``lettres.json``; None if unreadable."""
    try:
        index = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = index.get("decision_sha256") if isinstance(index, dict) else None
    return value if isinstance(value, str) else None


def stale_letters_note(folder: str | Path, manifest: dict) -> str | None:
    """French note when a letters folder describes another decision than `manifest`'s (None: the same, or unknown).

    After ``ditp-model desistement`` or ``reduction`` in a folder holding the Word letters (``ditp-model lettres``),
    the letters still describe the decision before the change: the update rebuilds ``retours/`` but not them
    (they are dated and meant for signature).  Said by the update command and by ``verify``, like the report
    (:func:`ditp_model.outputs.updates.stale_report_note`).
    """
    folder = Path(folder)
    written = letters_decision(folder)
    current = manifest.get("decision_sha256")
    if not written or not current or written == current:
        return None
    return (f"les lettres de {folder.name}/ décrivent la décision {written[:12]}…, pas la décision en vigueur "
            f"{current[:12]}… (mise à jour après désistement ou réduction) ; les récrire (ditp-model lettres)")
