"""Governance of the grey-zone lottery: the seed is fixed and recorded before the probabilities are known.

A lottery is fair only if nobody can choose its seed after seeing what it gives (SNSF practice:
the draw is made under supervision, with a procedure fixed in advance — Heyard et al. 2022).
Three rules, checked on the decision journal (``decisions.jsonl``, entries are plain dicts) by
:func:`seed_for_draw` and :func:`draws_elsewhere`, before the review model is fitted:

1. **The seed is announced first.**  ``ditp-model lottery --annoncer-graine N`` (or
   ``--annoncer-source-publique TEXTE``: a public value named in advance, e.g. the numbers of a
   national lottery draw on a given date) appends an entry ``graine_annoncee`` for these inputs
   (SHA-256 of the call, applications and reviews) and weights.  A draw on the same inputs and
   weights must use that seed (or the value of that public source, hashed by
   :func:`seed_from_public_value`); another seed is refused.  A draw with ``--seed N`` and no
   announcement announces N itself, as its first journal entry, before anything is computed —
   unless probabilities of these inputs are already recorded.
2. **Not after the probabilities.**  Every computation of the probabilities is journaled
   (``probabilites_calculees`` for ``--no-draw``, ``tirage_au_sort`` for a draw).  An
   announcement after one of them on the same inputs and weights is refused, and a draw never
   uses a seed announced after the first of them.
3. **One draw per inputs.**  A second draw on the same inputs — in the same journal, or in
   another journal the user names (``--journal-precedent FICHIER``, e.g. the journal of an
   earlier output folder) — is refused unless a written reason is given (``--motif``); the new
   draw then records the one it replaces and the reason, and uses the same announced seed.

What this cannot stop: a person who fits the model outside the tool before announcing a seed,
or who keeps a journal nobody names.  The journal's hash chain makes any later edit visible.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["SEED_EVENT", "PROBABILITIES_EVENT", "DRAW_EVENT", "seed_from_public_value", "same_inputs", "announcements",
           "computations", "check_announcement", "SeedChoice", "seed_for_draw", "draws_elsewhere"]

#: Journal event of a seed announced before any probability is computed.
SEED_EVENT = "graine_annoncee"
#: Journal event of probabilities computed without a draw (``--no-draw``).
PROBABILITIES_EVENT = "probabilites_calculees"
#: Journal event of a draw (:func:`ditp_model.outputs.record.record_lottery`).
DRAW_EVENT = "tirage_au_sort"


def seed_from_public_value(source: str, value: str) -> int:
    """The seed derived from a public value: the first 8 bytes of SHA-256(``source + "\\n" + value``), big-endian.

    Parameters
    ----------
    source : str
        The public source as announced (e.g. « tirage du Loto du 5 décembre 2026, numéros dans l'ordre du tirage »).
    value : str
        Its value once public (e.g. « 7 12 25 33 41 — 3 »); surrounding spaces are ignored.

    Returns
    -------
    int
        A seed in [0, 2**64), which anyone can recompute.

    Raises
    ------
    ValueError
        A blank value (French).
    """
    if not str(value).strip():
        raise ValueError("valeur publique vide : indiquer la valeur de la source annoncée (--valeur-publique)")
    digest = hashlib.sha256(f"{source.strip()}\n{str(value).strip()}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _payload(entry: dict) -> dict:
    return entry.get("payload") or {}


def same_inputs(entry: dict, inputs_sha256: dict, weights: dict | None = None) -> bool:
    """The entry concerns the same input contents (SHA-256, wherever the files lie) and, when given, the same weights."""
    p = _payload(entry)
    if sorted((p.get("inputs_sha256") or {}).values()) != sorted(inputs_sha256.values()):
        return False
    return weights is None or p.get("weights") == weights


def announcements(entries, inputs_sha256: dict, weights: dict) -> list[dict]:
    """Seed announcements for these inputs and weights, journal order."""
    return [e for e in entries if e.get("event") == SEED_EVENT and same_inputs(e, inputs_sha256, weights)]


def computations(entries, inputs_sha256: dict, weights: dict) -> list[dict]:
    """Entries that made the probabilities known (computation without draw, or draw) for these inputs and weights."""
    return [e for e in entries if e.get("event") in (PROBABILITIES_EVENT, DRAW_EVENT) and same_inputs(e, inputs_sha256, weights)]


def check_announcement(entries, inputs_sha256: dict, weights: dict) -> None:
    """Refuse an announcement that comes too late or changes an announced seed (ValueError in French)."""
    done = computations(entries, inputs_sha256, weights)
    if done:
        raise ValueError(f"trop tard pour annoncer une graine : les probabilités de financement de ces entrées et "
                         f"pondérations sont déjà connues (entrée n° {done[0]['seq']} du journal, {done[0]['event']}) ; "
                         "la graine doit être fixée avant")
    before = announcements(entries, inputs_sha256, weights)
    if before:
        p = _payload(before[-1])
        what = f"graine {p['seed']}" if p.get("seed") is not None else f"source publique « {p.get('public_source')} »"
        raise ValueError(f"une graine est déjà annoncée pour ces entrées et pondérations (entrée n° {before[-1]['seq']}, "
                         f"{what}) : elle ne peut plus changer")


@dataclass(frozen=True)
class SeedChoice:
    """The seed a draw must use, and where it was announced.

    Attributes
    ----------
    seed : int
    announcement : dict or None
        The journal entry that announced it; None when the draw announces it itself
        (:attr:`announce_first`).
    announce_first : bool
        No announcement yet and no probabilities known: the draw appends the announcement before computing.
    public_value : str or None
        The public value the seed was derived from (announcement by public source).
    """

    seed: int
    announcement: dict | None
    announce_first: bool
    public_value: str | None = None

    def record(self) -> dict:
        """JSON-ready, for the draw's journal entry."""
        a = self.announcement
        return {"seq": a["seq"] if a else None, "entry_sha256": a["entry_sha256"] if a else None,
                "recorded_at": a.get("recorded_at") if a else None,
                "public_source": _payload(a).get("public_source") if a else None, "public_value": self.public_value,
                "announced_by_this_draw": self.announce_first}


def seed_for_draw(entries, inputs_sha256: dict, weights: dict, *, seed: int | None = None,
                  public_value: str | None = None) -> SeedChoice:
    """The seed of a draw on these inputs and weights, under the rules of the module docstring.

    Parameters
    ----------
    entries : sequence of dict
        The journal's entries (checked intact by the caller).
    inputs_sha256 : dict
        Input path -> SHA-256 (:attr:`Evaluation.files`).
    weights : dict
        Normalised weights, rounded to 6 decimals (as recorded with the draws).
    seed : int, optional
        ``--seed``.
    public_value : str, optional
        ``--valeur-publique``: the value of the announced public source.

    Returns
    -------
    SeedChoice

    Raises
    ------
    ValueError
        No seed; a seed other than the announced one; a public value without a public source
        announced (or the reverse); an announcement made after the probabilities were known;
        probabilities known and no announcement (French, naming the journal entries).
    """
    ann = announcements(entries, inputs_sha256, weights)
    done = computations(entries, inputs_sha256, weights)
    first_done = done[0]["seq"] if done else None
    if not ann:
        if first_done is not None:
            raise ValueError(f"aucune graine annoncée pour ces entrées et pondérations, et leurs probabilités de financement "
                             f"sont déjà connues (entrée n° {first_done} du journal) : une graine choisie maintenant pourrait "
                             "l'être d'après le résultat ; tirage refusé")
        if public_value is not None:
            raise ValueError("--valeur-publique : aucune source publique annoncée pour ces entrées "
                             "(annoncer d'abord avec --annoncer-source-publique \"…\")")
        if seed is None:
            raise ValueError("--seed : la graine du tirage au sort est obligatoire (publiée avant le tirage) ; "
                             "--no-draw pour les seules probabilités")
        return SeedChoice(int(seed), None, True)
    valid = [e for e in ann if first_done is None or e["seq"] < first_done]
    if not valid:
        raise ValueError(f"la graine annoncée (entrée n° {ann[0]['seq']}) l'a été après le calcul des probabilités "
                         f"(entrée n° {first_done}) : tirage refusé")
    a = valid[0]
    p = _payload(a)
    if p.get("public_source") is not None:
        if public_value is None:
            raise ValueError(f"la graine de ce tirage est dérivée de la source publique annoncée (entrée n° {a['seq']}) : "
                             f"« {p['public_source']} » ; indiquer sa valeur avec --valeur-publique \"…\"")
        derived = seed_from_public_value(p["public_source"], public_value)
        if seed is not None and int(seed) != derived:
            raise ValueError(f"--seed {seed} : la graine est celle dérivée de la valeur publique ({derived})")
        return SeedChoice(derived, a, False, str(public_value).strip())
    if public_value is not None:
        raise ValueError(f"--valeur-publique : la graine annoncée (entrée n° {a['seq']}) est un nombre ({p['seed']}), "
                         "pas une source publique")
    if seed is not None and int(seed) != int(p["seed"]):
        raise ValueError(f"--seed {seed} refusée : la graine annoncée pour ces entrées et pondérations est {p['seed']} "
                         f"(entrée n° {a['seq']} du journal, {a.get('recorded_at', '')}) ; le tirage doit l'utiliser")
    return SeedChoice(int(p["seed"]), a, False)


def draws_elsewhere(journals: dict, inputs_sha256: dict) -> list[tuple[str, dict]]:
    """Draws on the same input contents (SHA-256, any weights) in the journals the user names.

    Parameters
    ----------
    journals : dict of str -> sequence of dict
        Journal path -> its entries (read and checked by the caller).

    Returns
    -------
    list of (path, entry)
    """
    return [(path, e) for path, entries in journals.items() for e in entries
            if e.get("event") == DRAW_EVENT and same_inputs(e, inputs_sha256)]
