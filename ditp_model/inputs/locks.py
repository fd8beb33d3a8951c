"""The committee's locks with their written reasons: ``--lock-in P012="raison"`` or a locks file (``--verrous``).

Issue 13, item 5.  Every departure from the rule decided by the committee — an application imposed (« imposé »,
lock in) or excluded (« exclu », lock out) — carries a written reason, mandatory for a final decision: public funders motivate
every departure from the ranking (Horizon Europe, ERC: a proposal funded out of rank order is justified in the
evaluation report), and a motivation, where one is due, is written and states its considerations of fact
(code des relations entre le public et l'administration, art. L. 211-5).

A locks file is a table (CSV or XLSX, read like every input, French errors naming file, row, column, value and
rule) with the columns of :data:`LOCK_COLUMNS`: ``application_id``, ``decision`` (``in`` / ``imposé`` or
``out`` / ``exclu``) and ``motif`` (the reason; blank is read, and refused later for a final decision).
"""

from __future__ import annotations

from pathlib import Path

from ditp_model.inputs.io import _locate, open_table, parse_cells
from ditp_model.inputs.schema import Column, InputError, Problem, Suggester, normalise_header

__all__ = ["LOCK_COLUMNS", "LOCK_DECISIONS_FR", "Locks", "read_locks", "parse_lock_item", "merge_locks", "lock_rows",
           "missing_reasons_fr", "locks_file_record", "missing_motif_fr", "impossible_lock_problems"]

#: Lock decision code -> French label.
LOCK_DECISIONS_FR = {"in": "imposé", "out": "exclu"}

_DECISION_ALIASES = {normalise_header(a): k for a, k in {
    "in": "in", "imposé": "in", "impose": "in", "imposer": "in", "financé": "in", "retenu": "in", "lock-in": "in",
    "out": "out", "exclu": "out", "exclure": "out", "écarté": "out", "non financé": "out", "lock-out": "out"}.items()}

LOCK_COLUMNS: tuple[Column, ...] = (
    Column("application_id", "id", description_fr="Identifiant du dossier imposé ou exclu par le comité.",
           headers_fr=("identifiant", "id", "n° dossier", "numero de dossier", "dossier")),
    Column("decision", "category", allowed=tuple(LOCK_DECISIONS_FR),
           description_fr="in (imposé : financé quelle que soit sa place) ou out (exclu : jamais financé).",
           headers_fr=("verrou", "decision du comite", "sens")),
    Column("motif", "text", required=False,
           description_fr="Motif écrit du comité (obligatoire pour une décision définitive).",
           headers_fr=("raison", "motivation", "motif du comite")),
)

#: (lock_in ids, lock_out ids, {id: reason}) as read.
Locks = tuple[list[str], list[str], dict[str, str]]


def parse_lock_item(text: str) -> tuple[str, str]:
    """``P012`` -> ``("P012", "")``; ``P012=raison du comité`` -> ``("P012", "raison du comité")``.

    The reason may be quoted (``P012="raison"``, as a shell on Windows may leave it).

    Raises
    ------
    ValueError
        A blank identifier (French).
    """
    aid, _, why = str(text).partition("=")
    aid, why = aid.strip(), why.strip()
    if len(why) >= 2 and why[0] == why[-1] and why[0] in "\"'":
        why = why[1:-1].strip()
    if not aid:
        raise ValueError(f"« {text} » : identifiant de dossier manquant ; écrire par ex. P012=\"raison du comité\"")
    return aid, why


def read_locks(path: str | Path, application_ids=None, *, sheet: str | None = None) -> Locks:
    """Read a locks file.

    Parameters
    ----------
    path : str or Path
        CSV or XLSX (:data:`LOCK_COLUMNS`).
    application_ids : iterable of str, optional
        The applications of the call: a lock on another id is an error.

    Returns
    -------
    (list, list, dict)
        Ids locked in, ids locked out (file order), id -> reason (non-blank reasons only).

    Raises
    ------
    InputError
        Every problem at once (file, row, column, value, rule): missing column or value, unknown decision,
        unknown application (``unknown_application``), the same application locked twice (``duplicate_lock``).
    """
    raw, found = open_table(path, LOCK_COLUMNS, "aucun verrou", sheet)
    problems: list[Problem] = []
    allowed = ", ".join(f"{k} ({v})" for k, v in LOCK_DECISIONS_FR.items())
    cells = parse_cells(raw, LOCK_COLUMNS, found, problems, {"decision": (_DECISION_ALIASES, allowed, "verrou inconnu")})
    known = None if application_ids is None else set(map(str, application_ids))
    near = Suggester(sorted(known)) if known is not None else None
    h = {c.name: found.get(c.name, c.name) for c in LOCK_COLUMNS}
    lock_in, lock_out, reasons, seen = [], [], {}, {}
    for i, line in enumerate(raw.rows):
        aid, decision, why = cells["application_id"][i], cells["decision"][i], cells["motif"][i]
        if not aid:
            continue
        if known is not None and aid not in known:
            problems.append(Problem(raw.path, line, h["application_id"], aid,
                                    f"verrou sur un dossier inconnu (absent du fichier des candidatures){near(aid)}",
                                    "unknown_application"))
            continue
        if aid in seen:
            problems.append(Problem(raw.path, line, h["application_id"], aid,
                                    f"dossier déjà verrouillé ligne {seen[aid]} : une seule ligne par dossier", "duplicate_lock"))
            continue
        seen[aid] = line
        if decision == "in":
            lock_in.append(aid)
        elif decision == "out":
            lock_out.append(aid)
        if why:
            reasons[aid] = why
    if problems:
        raise InputError(_locate(raw, problems))
    return lock_in, lock_out, reasons


def lock_rows(path: str | Path, *, sheet: str | None = None) -> dict[str, int]:
    """Application id -> the row of the locks file that locks it (first row; row numbers as in error messages).

    Used to name the row of a lock that lacks its motif.  A file :func:`read_locks` refuses gives
    what can be read (no error raised here).
    """
    raw, found = open_table(path, LOCK_COLUMNS, "aucun verrou", sheet)
    h = found.get("application_id", "application_id")
    rows: dict[str, int] = {}
    column = raw.frame[h] if h in raw.frame else [""] * len(raw.rows)
    for line, value in zip(raw.rows, column):
        aid = str(value).strip()
        if aid and aid not in rows:
            rows[aid] = line
    return rows


def missing_reasons_fr(missing, lock_out, locks_file: str | Path | None = None) -> str:
    """Why a final decision is refused when locks lack their written reason (French), naming the locks file and row.

    The one wording of this refusal, for ``allocate`` and ``report`` alike: each application is named with its lock
    (« imposé » or « exclu ») and, when it comes from the locks file (``--verrous``), with that file and the row that
    locks it (:func:`lock_rows`); the remedy names every row of the file to fill, or says the file has no motif
    column (:func:`missing_motif_fr`), and the option to write (``--lock-out`` for an exclusion, ``--lock-in``
    otherwise).

    Parameters
    ----------
    missing : sequence of str
        The locked applications without a reason, in the order to show
        (:meth:`ditp_model.rules.base.AllocationParams.missing_lock_reasons`).
    lock_out : collection of str
        The applications excluded by the committee (the others in `missing` are imposed).
    locks_file : path, optional
        The locks file the locks were read from, if any.  Its rows are a help: a file that can no longer be
        read gives none (the message then names no row).

    Returns
    -------
    str
        « verrou sans motif : A02 (exclu, fichier verrous.csv ligne 3) — une décision définitive exige le motif écrit
        du comité pour chaque dossier imposé ou exclu ; remplir la colonne motif du fichier verrous.csv à la ligne 3
        (dossier A02), ou écrire --lock-out A02="motif du comité" » (no leading « Erreur », no final full stop).
        Source of the rule: issue 13, item 5 (module docstring).
    """
    missing = [str(a) for a in missing]
    lock_out = {str(a) for a in lock_out}
    rows: dict[str, int] = {}
    if locks_file:
        try:
            rows = lock_rows(locks_file)
        except Exception:  # noqa: BLE001 - the file was read once already; the row is a help, not a check
            rows = {}
    shown = ", ".join(f"{a} ({LOCK_DECISIONS_FR['out' if a in lock_out else 'in']}"
                      + (f", fichier {locks_file} ligne {rows[a]}" if a in rows else "") + ")" for a in missing)
    first = missing[0]
    option = "--lock-out" if first in lock_out else "--lock-in"
    if first in rows:
        try:  # every row lacking its motif, and a missing motif column said missing (trial 1, item 17)
            fill = missing_motif_fr(locks_file, [a for a in missing if a in rows])
        except Exception:  # noqa: BLE001 - as above: a help, not a check
            fill = f"remplir la colonne motif du fichier {locks_file} à la ligne {rows[first]} (dossier {first})"
        how = f"{fill}, ou écrire {option} {first}=\"motif du comité\""
    else:
        how = f"écrire par ex. {option} {first}=\"motif du comité\", ou une colonne motif dans le fichier --verrous"
    return (f"verrou sans motif : {shown} — une décision définitive exige le motif écrit du comité pour chaque dossier "
            f"imposé ou exclu ; {how}")


def locks_file_record(path: str | Path) -> dict:
    """The manifest's ``locks_file``: the locks file (``--verrous``) read, as given, absolute, and its SHA-256.

    Written by ``allocate`` and ``report`` alike.
    """
    from ditp_model.inputs.io import sha256_file

    return {"path": str(path), "absolute": str(Path(path).resolve()), "sha256": sha256_file(path)}


def _layout(path: str | Path, sheet: str | None = None):
    """(raw table, headers found, {application id: index of its first row}) of a locks file, for messages only."""
    raw, found = open_table(path, LOCK_COLUMNS, "aucun verrou", sheet)
    h = found.get("application_id", "application_id")
    first: dict[str, int] = {}
    column = raw.frame[h].tolist() if h in raw.frame else [""] * len(raw.rows)
    for i, value in enumerate(column):
        aid = str(value).strip()
        if aid and aid not in first:
            first[aid] = i
    return raw, found, first


def _rows_fr(items: list[tuple[int, str]]) -> str:
    """« la ligne 3 (dossier A02) », « les lignes 2 (dossier P047), 3 (dossier P072) et 4 (dossier P014) »."""
    parts = [f"{row} (dossier {aid})" for row, aid in items]
    if len(parts) == 1:
        return f"la ligne {parts[0]}"
    return f"les lignes {', '.join(parts[:-1])} et {parts[-1]}"


def missing_motif_fr(path: str | Path, ids, *, sheet: str | None = None) -> str | None:
    """How to give the missing motifs of the locks of `ids` written in the locks file `path` (French), or None when
    none of them is in the file.

    Every row lacking a motif is named, not only the first; a file without a motif column is said to have none
    (with the headers accepted), rather than asked to « fill » a column that does not exist (trial 1, item 17).
    """
    raw, found, first = _layout(path, sheet)
    items = sorted((raw.rows[first[a]], a) for a in ids if a in first)
    if not items:
        return None
    where = _rows_fr(items)
    if "motif" not in found:
        accepted = ", ".join(f"« {h} »" for h in (LOCK_COLUMNS[2].name, *LOCK_COLUMNS[2].headers_fr))
        return (f"le fichier {path} n'a pas de colonne motif (en-têtes acceptés : {accepted}) : l'ajouter et la remplir "
                f"pour {where}")
    verb = "à" if len(items) == 1 else "pour"
    return f"remplir la colonne motif du fichier {path} {verb} {where}"


def impossible_lock_problems(path: str | Path, reasons: dict[str, str], *, sheet: str | None = None) -> dict[str, Problem]:
    """For each application imposed by the locks file `path` that cannot be funded (`reasons`: id -> why, French),
    the problem naming the file, its row, the decision column and the value written there.

    Returns
    -------
    dict
        Application id -> :class:`~ditp_model.inputs.schema.Problem` (code ``impossible_lock``); ids not imposed by the
        file (``--lock-in`` on the command line) are left out.
    """
    raw, found, first = _layout(path, sheet)
    h = found.get("decision", "decision")
    out: dict[str, Problem] = {}
    for aid, why in reasons.items():
        if aid not in first:
            continue
        i = first[aid]
        written = raw.frame[h].iloc[i] if h in raw.frame else None
        out[aid] = Problem(raw.path, raw.rows[i], h, written,
                           f"dossier {aid} imposé par le comité mais impossible à financer : {why} ; retirer ce verrou",
                           "impossible_lock")
    return _locate_all(raw, out)


def _locate_all(raw, problems: dict[str, Problem]) -> dict[str, Problem]:
    located = _locate(raw, list(problems.values()))
    return dict(zip(problems, located))


def merge_locks(*sources: Locks) -> Locks:
    """Locks from several sources (command line, file); ValueError (French) when one application is imposed and excluded,
    or given two different reasons."""
    lock_in, lock_out, reasons = [], [], {}
    for li, lo, _ in sources:
        lock_in += [a for a in li if a not in lock_in]
        lock_out += [a for a in lo if a not in lock_out]
    both = sorted(set(lock_in) & set(lock_out))
    if both:
        raise ValueError(f"dossier(s) à la fois imposé(s) et exclu(s) : {', '.join(both)}")
    for _, _, rs in sources:
        for a, w in rs.items():
            if a in reasons and reasons[a] != w:
                raise ValueError(f"verrou sur {a} : deux motifs différents (« {reasons[a]} » et « {w} ») ; n'en garder qu'un")
            reasons[a] = w
    return lock_in, lock_out, reasons
