"""The row-by-row Pabulib reader as it was before issue 18 (commit 91e87cb), kept for reference only.

Not part of the package: ``tests/test_pabulib_fast.py`` checks that the vectorised
:func:`ditp_model.inputs.pabulib.read_pabulib` gives the same instance (or the same
French problems) on every file, and ``benchmarks/bench_pabulib.py`` times both.
Only the reading part is copied (up to ``_read_ballot``); the instance class is
the package's, so results compare field by field.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Mapping

import pandas as pd

from ditp_model.inputs.schema import InputError, Problem
from ditp_model.inputs.pabulib import PabulibInstance  # noqa: E402  (the package's class, for field-by-field comparison)

__all__ = ["read_pabulib_reference"]

#: Ballot types read, with the name of the rule that turns ballots into a
#: project score (see :func:`read_pabulib` for each rule).
SCORE_RULES: dict[str, str] = {
    "approval": "approval_count",
    "choose-1": "choice_count",
    "cumulative": "points_sum",
    "scoring": "points_sum",
    "ordinal": "ranked_count",
}
VOTE_TYPES: tuple[str, ...] = tuple(SCORE_RULES)

#: Largest scale accepted by :func:`to_integer_units` (four decimals).
MAX_SCALE = 10**4

#: Rule used to cross-check a ``score`` column, per vote type, when the ballots
#: carry no ``points`` (see :func:`read_pabulib`).
_DEFAULT_POINTS_RULE: dict[str, str] = {
    "approval": "1 point par projet choisi",
    "choose-1": "1 point par projet choisi",
    "ordinal": "k points au 1er d'un classement de k projets, k-1 au 2e, …, 1 au dernier",
}

_SECTIONS = ("meta", "projects", "votes")
_KNOWN_PROJECT_COLUMNS = ("project_id", "cost", "votes", "score", "name")
_KNOWN_VOTE_COLUMNS = ("voter_id", "vote", "points")
_LINE_COLUMN = "source_line"
_BALLOT_COLUMNS = ("ballot", "ballot_points")
_AMOUNT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SIGNED_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_LINE_BREAK_RE = re.compile(r"\r\n|\n|\r")
_MAX_PROBLEMS = 200


# --------------------------------------------------------------------------
# Low-level reading
# --------------------------------------------------------------------------


def _split_line(line: str) -> list[str]:
    """Split one physical line into stripped fields (``;``, CSV quoting)."""
    if '"' not in line:
        return [f.strip() for f in line.split(";")]
    fields: list[str] = []
    pos, n = 0, len(line)
    while True:
        start = pos
        while start < n and line[start] in " \t":
            start += 1
        if start < n and line[start] == '"':
            parts: list[str] = []
            k = start + 1
            closed_at = -1
            while True:
                q = line.find('"', k)
                if q == -1:
                    break
                parts.append(line[k:q])
                if q + 1 < n and line[q + 1] == '"':
                    parts.append('"')
                    k = q + 2
                    continue
                closed_at = q
                break
            if closed_at >= 0:
                after = closed_at + 1
                while after < n and line[after] in " \t":
                    after += 1
                if after == n:
                    fields.append("".join(parts).strip())
                    return fields
                if line[after] == ";":
                    fields.append("".join(parts).strip())
                    pos = after + 1
                    continue
            # Not a well-formed quoted field: keep it literally (see module doc).
        semi = line.find(";", pos)
        if semi == -1:
            fields.append(line[pos:].strip())
            return fields
        fields.append(line[pos:semi].strip())
        pos = semi + 1


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start:exc.end].hex(" ")
        raise InputError(Problem(
            str(path), line, None, f"octets {bad}",
            "le fichier n'est pas en UTF-8 : l'enregistrer en UTF-8", "encoding")) from None


def _fmt(value: Decimal) -> str:
    """Decimal as plain text (no exponent), ``435`` rather than ``435.0``."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value, "f")


class _Problems:
    """Problem collector for one file (caps the list of a badly broken file)."""

    def __init__(self, file: str):
        self.file = file
        self.items: list[Problem] = []
        self.dropped = 0

    def add(self, row, column, value, rule, code="invalid"):
        if len(self.items) < _MAX_PROBLEMS:
            self.items.append(Problem(self.file, row, column, value, rule, code))
        else:
            self.dropped += 1

    def raise_if_any(self):
        if not self.items:
            return
        items = list(self.items)
        if self.dropped:
            items.append(Problem(self.file, None, None, None,
                                 f"… et {self.dropped} autre(s) erreur(s) non détaillée(s)", "truncated"))
        raise InputError(items)


def _parse_decimal(text: str, pattern: re.Pattern) -> Decimal | None:
    return Decimal(text) if pattern.fullmatch(text) else None


# --------------------------------------------------------------------------
# read_pabulib
# --------------------------------------------------------------------------


def read_pabulib_reference(path: str | Path) -> PabulibInstance:
    """Read a Pabulib ``.pb`` file, recompute and check the project scores.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.pb`` file (UTF-8, optionally with a byte-order mark).

    Returns
    -------
    PabulibInstance
        Metadata, projects (text as written), ballots, exact budget and the
        score of every project (see the class for the columns and units).

    Raises
    ------
    ditp_model.inputs.schema.InputError
        With every problem found (file, line, column, value, rule in French):
        missing or duplicated section, missing header or required column
        (``project_id``, ``cost``; ``voter_id``, ``vote``; ``points`` for
        ``cumulative``/``scoring``), missing META ``budget`` or ``vote_type``,
        unknown ``vote_type``, bad number (cost, budget, points, totals),
        duplicated ``project_id`` or ``voter_id``, a ballot naming an unknown
        project or the same project twice, ``points`` not aligned with
        ``vote``, more than one project on a ``choose-1`` ballot, META
        ``num_projects``/``num_votes`` differing from the rows read, and a
        ``votes``/``score`` column disagreeing with the ballots.

    Notes
    -----
    Score of a project, by ``vote_type`` (rule name in brackets, kept in
    ``PabulibInstance.score_rule``):

    * ``approval`` (``approval_count``): number of ballots that select it.
    * ``choose-1`` (``choice_count``): number of ballots that select it (each
      ballot names at most one project).
    * ``cumulative`` and ``scoring`` (``points_sum``): sum of the points it
      receives over all ballots (``points`` column, aligned with ``vote``).
    * ``ordinal`` (``ranked_count``): number of ballots that rank it, whatever
      the rank -- each ranking is read as an approval of every ranked project.
      A positional (Borda-like) count would reward long rankings and depends
      on a convention the file does not state; the count of ballots does not.
      The positional count is still computed, only to check a ``score``
      column (below).

    When the file has a ``VOTES`` section the scores are recomputed from it and
    the ``PROJECTS`` totals, when present, must agree exactly (as Pabulib's own
    checker requires):

    * ``votes``: number of ballots naming the project, for every vote type;
    * ``score``: sum of the ``points`` when the ballots carry points; without
      points, 1 per selection for ``approval``/``choose-1`` and, for
      ``ordinal``, *k* points to the first of a ranking of *k* projects,
      *k - 1* to the second, ..., 1 to the last (the convention of Pabulib's
      checker).

    Without a ``VOTES`` section the score is read from the ``votes`` column
    (``approval``, ``choose-1``, ``ordinal``) or the ``score`` column
    (``cumulative``, ``scoring``), which must then exist and be filled.

    The format is that of Stolicki, Szufa and Talmon, "Pabulib: A
    Participatory Budgeting Library", arXiv:2012.06539, 2020
    (https://pabulib.org/format); the module docstring lists the reading
    choices made where the specification is silent.
    """
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(Problem(file, None, None, None,
                                 f"fichier illisible ({exc.strerror or exc})", "unreadable")) from None
    text = _decode(path, raw)
    lines = _LINE_BREAK_RE.split(text)

    problems = _Problems(file)

    # ---- structure: sections, headers, data lines -------------------------
    sections: dict[str, dict] = {}
    current: dict | None = None
    order: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = _split_line(line)
        first = fields[0].lower()
        if first in _SECTIONS and not any(fields[1:]):
            if first in sections:
                problems.add(lineno, None, fields[0],
                             f"section « {first.upper()} » en double (déjà ouverte ligne {sections[first]['line']})",
                             "duplicate_section")
                current = None
                continue
            current = {"line": lineno, "header": None, "header_line": None, "rows": []}
            sections[first] = current
            order.append(first)
            continue
        if current is None:
            if not sections:
                problems.add(lineno, None, line.strip()[:80],
                             "ligne hors section : le fichier doit commencer par « META »", "outside_section")
            continue
        if current["header"] is None:
            current["header"] = fields
            current["header_line"] = lineno
        else:
            current["rows"].append((lineno, fields))

    for name in ("meta", "projects"):
        if name not in sections:
            problems.add(None, None, None, f"section « {name.upper()} » absente", "missing_section")
    if order and order != [s for s in _SECTIONS if s in order]:
        problems.add(None, None, " → ".join(s.upper() for s in order),
                     "les sections doivent venir dans l'ordre META, PROJECTS, VOTES", "section_order")
    for name, sec in sections.items():
        if sec["header"] is None:
            problems.add(sec["line"], None, name.upper(),
                         f"ligne d'en-tête absente après « {name.upper()} »", "missing_header")
    problems.raise_if_any()

    # ---- META -------------------------------------------------------------
    meta_sec = sections["meta"]
    header = [h.lower() for h in meta_sec["header"]]
    if header[:2] != ["key", "value"] or any(header[2:]):
        problems.add(meta_sec["header_line"], None, ";".join(meta_sec["header"]),
                     "l'en-tête de META doit être « key;value »", "bad_header")
    meta: dict[str, str] = {}
    meta_lines: dict[str, int] = {}
    for lineno, fields in meta_sec["rows"]:
        key = fields[0]
        value = fields[1] if len(fields) > 1 else ""
        if any(fields[2:]):
            problems.add(lineno, key or None, ";".join(fields[1:]),
                         "trop de champs : une valeur contenant « ; » doit être entre guillemets", "extra_fields")
        if not key:
            problems.add(lineno, "key", value, "clé vide dans META", "missing_value")
            continue
        if key in meta:
            problems.add(lineno, key, value, f"clé en double dans META (déjà ligne {meta_lines[key]})", "duplicate_id")
            continue
        meta[key] = value
        meta_lines[key] = lineno

    vote_type = meta.get("vote_type", "").lower()
    if "vote_type" not in meta:
        problems.add(None, "vote_type", None, "clé « vote_type » absente de META", "missing_value")
    elif vote_type not in SCORE_RULES:
        problems.add(meta_lines["vote_type"], "vote_type", meta["vote_type"],
                     "type de vote inconnu ; types reconnus : " + ", ".join(VOTE_TYPES), "unknown_vote_type")
    budget = None
    if "budget" not in meta:
        problems.add(None, "budget", None, "clé « budget » absente de META", "missing_value")
    else:
        budget = _parse_decimal(meta["budget"], _AMOUNT_RE)
        if budget is None:
            problems.add(meta_lines["budget"], "budget", meta["budget"],
                         "montant invalide : nombre positif ou nul, point décimal, sans séparateur de milliers",
                         "bad_number")
    expected_counts: dict[str, int] = {}
    for key in ("num_projects", "num_votes"):
        if key in meta:
            if re.fullmatch(r"[0-9]+", meta[key]):
                expected_counts[key] = int(meta[key])
            else:
                problems.add(meta_lines[key], key, meta[key], "nombre entier attendu", "bad_number")
    currency = meta.get("currency") or None

    # ---- PROJECTS -----------------------------------------------------------
    proj_sec = sections["projects"]
    proj_header = _canonical_header(proj_sec, _KNOWN_PROJECT_COLUMNS, ("project_id", "cost"), problems)
    votes_sec = sections.get("votes")
    vote_header = None
    if votes_sec is not None:
        required = ("voter_id", "vote") + (("points",) if vote_type in ("cumulative", "scoring") else ())
        vote_header = _canonical_header(votes_sec, _KNOWN_VOTE_COLUMNS, required, problems)
    problems.raise_if_any()

    project_rows: list[list[str]] = []
    project_lines: list[int] = []
    seen_projects: dict[str, int] = {}
    written_totals: dict[str, dict[str, tuple[Decimal, int, str]]] = {"votes": {}, "score": {}}
    costs_ok = True
    for lineno, fields in proj_sec["rows"]:
        fields = _fit(fields, proj_header, lineno, problems)
        row = dict(zip(proj_header, fields))
        pid = row["project_id"]
        if not pid:
            problems.add(lineno, "project_id", None, "identifiant de projet vide", "missing_value")
            continue
        if pid in seen_projects:
            problems.add(lineno, "project_id", pid,
                         f"identifiant de projet en double (déjà ligne {seen_projects[pid]})", "duplicate_id")
            continue
        seen_projects[pid] = lineno
        if _parse_decimal(row["cost"], _AMOUNT_RE) is None:
            costs_ok = False
            problems.add(lineno, "cost", row["cost"],
                         "coût invalide : nombre positif ou nul, point décimal, sans séparateur de milliers",
                         "bad_number")
        for col in ("votes", "score"):
            if col in row and row[col] != "" and row[col].lower() != "none":
                val = _parse_decimal(row[col], _SIGNED_RE)
                if val is None:
                    problems.add(lineno, col, row[col], "nombre attendu", "bad_number")
                else:
                    written_totals[col][pid] = (val, lineno, row[col])
        project_rows.append(fields)
        project_lines.append(lineno)
    if "num_projects" in expected_counts and expected_counts["num_projects"] != len(proj_sec["rows"]):
        problems.add(meta_lines["num_projects"], "num_projects", meta["num_projects"],
                     f"META annonce {expected_counts['num_projects']} projets mais PROJECTS en contient "
                     f"{len(proj_sec['rows'])}", "count_mismatch")

    projects = pd.DataFrame(project_rows, columns=list(proj_header), dtype=object)
    if "name" not in projects.columns:
        projects["name"] = ""
    projects = projects.astype(str)
    projects[_LINE_COLUMN] = pd.Series(project_lines, dtype="int64")

    # ---- VOTES --------------------------------------------------------------
    votes_df = None
    counts = {pid: 0 for pid in seen_projects}
    points_sum = {pid: Decimal(0) for pid in seen_projects}
    if votes_sec is not None:
        has_points = "points" in vote_header
        ballots: list[tuple[str, ...]] = []
        ballot_points: list[tuple[Decimal, ...] | None] = []
        vote_rows: list[list[str]] = []
        vote_lines: list[int] = []
        seen_voters: dict[str, int] = {}
        for lineno, fields in votes_sec["rows"]:
            fields = _fit(fields, vote_header, lineno, problems)
            row = dict(zip(vote_header, fields))
            vid = row["voter_id"]
            if not vid:
                problems.add(lineno, "voter_id", None, "identifiant de votant vide", "missing_value")
            elif vid in seen_voters:
                problems.add(lineno, "voter_id", vid,
                             f"identifiant de votant en double (déjà ligne {seen_voters[vid]})", "duplicate_id")
            else:
                seen_voters[vid] = lineno
            ballot, pts = _read_ballot(row, has_points, vote_type, lineno, seen_projects, problems)
            ballots.append(ballot)
            ballot_points.append(pts)
            vote_rows.append(fields)
            vote_lines.append(lineno)
            for position, pid in enumerate(ballot):
                if pid not in counts:
                    continue
                counts[pid] += 1
                if pts is not None:
                    points_sum[pid] += pts[position]
                elif vote_type == "ordinal":
                    points_sum[pid] += len(ballot) - position
                else:
                    points_sum[pid] += 1
        if "num_votes" in expected_counts and expected_counts["num_votes"] != len(vote_rows):
            problems.add(meta_lines["num_votes"], "num_votes", meta["num_votes"],
                         f"META annonce {expected_counts['num_votes']} votes mais VOTES en contient "
                         f"{len(vote_rows)}", "count_mismatch")
        votes_df = pd.DataFrame(vote_rows, columns=list(vote_header), dtype=object).astype(str)
        votes_df["ballot"] = pd.Series(ballots, dtype=object)
        votes_df["ballot_points"] = pd.Series(ballot_points, dtype=object)
        votes_df[_LINE_COLUMN] = pd.Series(vote_lines, dtype="int64")
    problems.raise_if_any()
    assert budget is not None and costs_ok

    # ---- scores and cross-checks -------------------------------------------
    score_rule = SCORE_RULES[vote_type]
    if votes_df is not None:
        score_source = "VOTES"
        scores = dict(points_sum) if vote_type in ("cumulative", "scoring") else {
            pid: Decimal(c) for pid, c in counts.items()}
        points_rule = ("somme des points de la colonne « points »" if "points" in vote_header
                       else _DEFAULT_POINTS_RULE.get(vote_type, ""))
        for col, recomputed, how in (
                ("votes", counts, "nombre de bulletins qui le citent"),
                ("score", points_sum, points_rule)):
            for pid, (written, lineno, as_written) in written_totals[col].items():
                if written != recomputed[pid]:
                    problems.add(
                        lineno, col, as_written,
                        f"le projet « {pid} » a {as_written} dans la colonne « {col} » de PROJECTS mais "
                        f"{_fmt(Decimal(recomputed[pid]))} d'après la section VOTES ({how}) : "
                        "fichier incohérent, à corriger à la source", "score_mismatch")
    else:
        score_source = "score" if vote_type in ("cumulative", "scoring") else "votes"
        scores = {}
        if score_source not in proj_header:
            problems.add(proj_sec["header_line"], score_source, None,
                         f"sans section VOTES, la colonne « {score_source} » est nécessaire pour un vote "
                         f"« {vote_type} »", "missing_column")
        else:
            for pid, lineno in seen_projects.items():
                if pid in written_totals[score_source]:
                    scores[pid] = written_totals[score_source][pid][0]
                else:
                    problems.add(lineno, score_source, None,
                                 f"sans section VOTES, le total de « {pid} » doit être renseigné", "missing_value")
    problems.raise_if_any()

    return PabulibInstance(
        path=path, meta=meta, meta_lines=meta_lines, vote_type=vote_type, budget=budget,
        currency=currency, projects=projects, votes=votes_df, scores=scores,
        score_rule=score_rule, score_source=score_source)


def _canonical_header(sec: dict, known: tuple[str, ...], required: tuple[str, ...],
                      problems: _Problems) -> tuple[str, ...]:
    """Header with known names lower-cased; reports empty, duplicated, reserved, missing."""
    lineno = sec["header_line"]
    names = []
    for h in sec["header"]:
        names.append(h.lower() if h.lower() in known else h)
    while names and names[-1] == "":  # trailing ";" on the header line
        names.pop()
    seen = set()
    for i, h in enumerate(names, start=1):
        if h == "":
            problems.add(lineno, f"n° {i}", None, "nom de colonne vide", "bad_header")
        elif h in seen:
            problems.add(lineno, h, h, "nom de colonne en double", "bad_header")
        elif h in (_LINE_COLUMN,) + _BALLOT_COLUMNS:
            problems.add(lineno, h, h, "nom de colonne réservé par le lecteur", "bad_header")
        seen.add(h)
    for col in required:
        if col not in seen:
            problems.add(lineno, col, ";".join(sec["header"]),
                         f"colonne « {col} » absente de l'en-tête", "missing_column")
    if names and required and names[0] != required[0]:
        problems.add(lineno, required[0], names[0],
                     f"la première colonne doit être « {required[0]} »", "bad_header")
    return tuple(names)


def _fit(fields: list[str], header: tuple[str, ...], lineno: int, problems: _Problems) -> list[str]:
    """Pad a data line to the header width; report non-empty extra fields."""
    n = len(header)
    if len(fields) > n:
        if any(fields[n:]):
            problems.add(lineno, f"champ {n + 1}", ";".join(fields[n:]),
                         f"{len(fields)} champs pour {n} colonnes : une valeur contenant « ; » "
                         "doit être entre guillemets", "extra_fields")
        return fields[:n]
    return fields + [""] * (n - len(fields))


def _read_ballot(row: dict, has_points: bool, vote_type: str, lineno: int,
                 projects: Mapping[str, int], problems: _Problems):
    """Parse the ``vote`` (and ``points``) cells of one ballot."""
    text = row["vote"]
    ballot = tuple(p.strip() for p in text.split(",")) if text else ()
    ok = True
    seen: set[str] = set()
    for pid in ballot:
        if pid == "":
            problems.add(lineno, "vote", text, "identifiant de projet vide dans la liste (virgule en trop ?)",
                         "bad_ballot")
            ok = False
        elif pid not in projects:
            problems.add(lineno, "vote", pid, "vote pour un projet absent de la section PROJECTS",
                         "unknown_project")
            ok = False
        elif pid in seen:
            problems.add(lineno, "vote", pid, "projet cité deux fois sur le même bulletin", "bad_ballot")
            ok = False
        seen.add(pid)
    if vote_type == "choose-1" and len(ballot) > 1:
        problems.add(lineno, "vote", text, "un bulletin « choose-1 » ne peut citer qu'un projet", "bad_ballot")
    pts = None
    if has_points:
        ptext = row["points"]
        raw = [p.strip() for p in ptext.split(",")] if ptext else []
        values = []
        for p in raw:
            v = _parse_decimal(p, _SIGNED_RE)
            if v is None:
                problems.add(lineno, "points", p, "nombre de points invalide (point décimal)", "bad_number")
                ok = False
            values.append(v)
        if len(raw) != len(ballot):
            problems.add(lineno, "points", ptext,
                         f"{len(raw)} valeur(s) de points pour {len(ballot)} projet(s) dans « vote »",
                         "bad_ballot")
            ok = False
        if ok:
            pts = tuple(values)
    return (ballot if ok else ()), pts


