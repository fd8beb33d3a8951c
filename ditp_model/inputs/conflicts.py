"""Declarations of conflicts of interest: who (a reviewer or a committee member) has a link with which application.

Issue 13, item 1.  The table is optional (``--conflits FICHIER``).  It is read like every other input
(:mod:`ditp_model.inputs.io`): CSV (``,`` ``;`` or tab; UTF-8 or Windows-1252) or XLSX, canonical or French
headers, every problem of the file reported at once with file, row, column, value and rule broken
(:class:`~ditp_model.inputs.schema.InputError`).

Columns (:data:`CONFLICT_COLUMNS`):

* ``person_id`` — the reviewer (``R03``, as in the reviews file) or the committee member (``M02``, as in the
  members' weights file) who has the link;
* ``application_id`` — the application concerned;
* ``nature`` — the nature of the link, in words (« co-auteur d'une publication en 2020 », « même
  établissement »…);
* ``role`` (optional) — ``évaluateur`` / ``reviewer`` or ``membre`` / ``member``; blank: a reviewer of the
  reviews file, else a member when the members are known;
* ``declared_on`` (optional) — the date of the declaration.

What a declaration changes (the ERforResearch convention: a review under a conflict is treated as missing):
a reviewer's review of that application is removed before any aggregation or normalisation
(:func:`ditp_model.scoring.conflicts.exclude_conflicted_reviews`), so it is absent from the scores, the
ex aequo band, the Bayesian review model and the minimum number of reviews; a committee member's own
weights are not used for that application in the per-member views (:mod:`ditp_model.uncertainty.members`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from ditp_model.inputs.io import Inputs, _locate, load_inputs, map_headers, open_table, parse_cells, read_raw_table
from ditp_model.inputs.schema import Column, InputError, Problem, Suggester, normalise_header

__all__ = ["CONFLICT_COLUMNS", "ROLE_LABELS_FR", "read_conflicts", "empty_conflicts", "load_inputs_with_conflicts"]

#: Role of the person declaring a link: code -> French label.
ROLE_LABELS_FR = {"reviewer": "évaluateur", "member": "membre du comité"}

_ROLE_ALIASES = {normalise_header(k): k for k in ROLE_LABELS_FR}
_ROLE_ALIASES.update({normalise_header(v): k for k, v in ROLE_LABELS_FR.items()})
_ROLE_ALIASES.update({normalise_header(a): k for a, k in {"expert": "reviewer", "evaluatrice": "reviewer",
                                                          "membre": "member", "membre du jury": "member"}.items()})

CONFLICT_COLUMNS: tuple[Column, ...] = (
    Column("person_id", "id", description_fr=("Évaluateur (R01…, comme dans le fichier des évaluations) ou membre du comité "
                                              "(M01…, comme dans le fichier des pondérations des membres) qui a un lien avec le dossier."),
           headers_fr=("personne", "declarant", "evaluateur", "membre", "id personne")),
    Column("application_id", "id", description_fr="Identifiant du dossier concerné.",
           headers_fr=("identifiant", "id", "n° dossier", "numero de dossier", "dossier")),
    Column("nature", "text", description_fr="Nature du lien (collaboration récente, même établissement, lien familial…).",
           headers_fr=("nature du lien", "lien", "nature du conflit")),
    Column("role", "category", required=False, allowed=tuple(ROLE_LABELS_FR),
           description_fr=("Qualité de la personne : évaluateur (reviewer) ou membre du comité (member) ; vide : un évaluateur "
                           "du fichier des évaluations."),
           headers_fr=("qualite", "role de la personne")),
    Column("declared_on", "date", "date", required=False, description_fr="Date de la déclaration ; JJ/MM/AAAA ou AAAA-MM-JJ.",
           headers_fr=("declare le", "date de declaration", "date")),
)


def empty_conflicts() -> pd.DataFrame:
    """A declarations table with no row (the columns of :func:`read_conflicts`)."""
    return pd.DataFrame({"person_id": pd.Series(dtype=object), "application_id": pd.Series(dtype=object),
                         "nature": pd.Series(dtype=object), "role": pd.Series(dtype=object),
                         "declared_on": pd.Series(dtype="datetime64[ns]"), "source_row": pd.Series(dtype="int64")})


def read_conflicts(path: str | Path, application_ids, reviewer_ids, member_ids=None, *, sheet: str | None = None) -> pd.DataFrame:
    """Read and check the declarations of conflicts of interest.

    Parameters
    ----------
    path : str or Path
        CSV or XLSX, one row per (person, application) (:data:`CONFLICT_COLUMNS`).
    application_ids : iterable of str or None
        The applications of the call; a declaration on another id is an error.  None: not checked
        (unreadable applications file, already reported).
    reviewer_ids : iterable of str or None
        The reviewers of the reviews file.  None: not checked.
    member_ids : iterable of str, optional
        The committee members (pseudonyms of the members' weights file), when known; a row whose role is
        ``membre`` is then checked against them.  Unknown (None): a member's row is kept as written.
    sheet : str, optional
        XLSX sheet name.

    Returns
    -------
    pandas.DataFrame
        ``person_id``, ``application_id``, ``nature`` (str), ``role`` (``reviewer`` / ``member``),
        ``declared_on`` (``datetime64``, NaT when blank), ``source_row`` (spreadsheet row, header = 1); file
        order.  ``attrs``: ``path``, ``sha256``, ``encoding``.

    Raises
    ------
    InputError
        Every problem at once, each naming file, row, column, value and rule: a missing column or value,
        an unknown application (``unknown_application``), a person who is neither a reviewer of the
        reviews file nor a known member (``unknown_person``), an unknown role, a bad date, the same
        (person, application) declared twice (``duplicate_declaration``).
    """
    raw, found = open_table(path, CONFLICT_COLUMNS, "aucune déclaration", sheet)
    problems: list[Problem] = []
    allowed = ", ".join(f"{k} ({v})" for k, v in ROLE_LABELS_FR.items())
    cells = parse_cells(raw, CONFLICT_COLUMNS, found, problems, {"role": (_ROLE_ALIASES, allowed, "qualité inconnue")})
    apps = None if application_ids is None else set(map(str, application_ids))
    reviewers = None if reviewer_ids is None else set(map(str, reviewer_ids))
    members = None if member_ids is None else set(map(str, member_ids))
    near_app = Suggester(sorted(apps)) if apps is not None else None
    near_person = Suggester(sorted((reviewers or set()) | (members or set())))
    h = {c.name: found.get(c.name, c.name) for c in CONFLICT_COLUMNS}
    roles: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for i, line in enumerate(raw.rows):
        person, aid, role = cells["person_id"][i], cells["application_id"][i], cells["role"][i]
        if aid and apps is not None and aid not in apps:
            problems.append(Problem(raw.path, line, h["application_id"], aid,
                                    f"déclaration sur un dossier inconnu (absent du fichier des candidatures){near_app(aid)}",
                                    "unknown_application"))
        if not role and person:
            role = "member" if (reviewers is not None and person not in reviewers and members is not None
                                and person in members) else "reviewer"
        if person and role == "reviewer" and reviewers is not None and person not in reviewers:
            problems.append(Problem(raw.path, line, h["person_id"], person,
                                    "personne inconnue : ce n'est pas un évaluateur du fichier des évaluations ; pour un membre "
                                    f"du comité, écrire « membre » dans la colonne « {h['role']} »{near_person(person)}",
                                    "unknown_person"))
        elif person and role == "member" and members is not None and person not in members:
            problems.append(Problem(raw.path, line, h["person_id"], person,
                                    "membre du comité inconnu (absent du fichier des pondérations des membres)", "unknown_person"))
        if person and aid:
            if (person, aid) in seen:
                problems.append(Problem(raw.path, line, h["person_id"], person,
                                        f"lien avec le dossier {aid} déjà déclaré ligne {seen[(person, aid)]} : n'en garder qu'une "
                                        "déclaration", "duplicate_declaration"))
            else:
                seen[(person, aid)] = line
        roles.append(role or "reviewer")
    if problems:
        raise InputError(_locate(raw, problems))
    frame = pd.DataFrame({"person_id": cells["person_id"], "application_id": cells["application_id"],
                          "nature": cells["nature"], "role": roles,
                          "declared_on": pd.to_datetime(pd.Series(cells["declared_on"], dtype=object)),
                          "source_row": pd.array(list(raw.rows), dtype="int64")})
    frame.attrs.update(path=raw.path, sha256=raw.sha256, encoding=raw.encoding)
    return frame


def load_inputs_with_conflicts(call: str | Path, applications: str | Path, reviews: str | Path,
                               conflicts: str | Path | None = None) -> Inputs:
    """:func:`ditp_model.inputs.io.load_inputs` plus the declarations of conflicts of interest, problems reported together.

    Parameters
    ----------
    call, applications, reviews : path
    conflicts : path, optional
        Declarations (``--conflits``), checked against the application ids and the reviewers of `reviews`.
        None: exactly :func:`~ditp_model.inputs.io.load_inputs`.

    Returns
    -------
    Inputs
        With ``conflicts`` set, and the declarations file as the fourth entry of ``files`` (path -> SHA-256),
        so that the manifest records it as an input (role ``conflicts``) and ``verify`` re-reads it.

    Raises
    ------
    InputError
        Every problem of every file.
    """
    if conflicts is None:
        return load_inputs(call, applications, reviews)
    problems: list[Problem] = []
    inputs = None
    try:
        inputs = load_inputs(call, applications, reviews)
    except InputError as exc:
        problems += exc.problems
    if inputs is not None:
        ids, reviewers = inputs.applications["application_id"].tolist(), inputs.reviews["reviewer_id"].tolist()
    else:  # ids as written when readable, so that a declaration is checked whenever it can be
        ids = reviewers = None
        try:
            raw = read_raw_table(applications)
            col = map_headers(raw, CONFLICT_COLUMNS[1:2], [])
            ids = raw.frame[col["application_id"]].tolist() if col else None
        except InputError:
            ids = None
    try:
        decl = read_conflicts(conflicts, ids, reviewers)
    except InputError as exc:
        problems += exc.problems
    if problems:
        raise InputError(problems)
    files = {**inputs.files, str(conflicts): decl.attrs["sha256"]}
    encodings = {**inputs.encodings, str(conflicts): decl.attrs["encoding"]}
    return replace(inputs, files=files, encodings=encodings, conflicts=decl)
