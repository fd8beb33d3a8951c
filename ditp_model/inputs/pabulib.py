"""Read Pabulib participatory-budgeting files (``.pb``) and map them to applications.

A ``.pb`` file holds one participatory-budgeting (PB) election: a budget, a list
of projects with their costs and the voters' ballots.  This module reads such a
file exactly (money is never a ``float``), recomputes every project's score from
the ballots, cross-checks it against the totals written in the file, and turns
the election into the table of applications used by the allocation engine
(cost = request, score = votes or points, floor 0, cap = cost).

Format source
-------------
D. Stolicki, S. Szufa, N. Talmon, *Pabulib: A Participatory Budgeting Library*,
arXiv:2012.06539, 2020; current specification at https://pabulib.org/format.

A file is UTF-8 text (a leading byte-order mark is accepted) made of three
sections, in this order: ``META``, ``PROJECTS`` and ``VOTES``.  Each section is
a title line, then a header line of ``;``-separated column names (``key;value``
for ``META``), then data lines.  Fields follow CSV conventions with ``;`` as
separator: a field holding ``;`` or ``"`` is enclosed in double quotes and a
quote inside is doubled (``"Park ""Stok"" pod Baranem"`` reads
``Park "Stok" pod Baranem``).
In ``VOTES`` the ``vote`` cell lists the project ids of one ballot separated by
commas and, for point ballots, the ``points`` cell lists the points in the same
order (``vote = 196,198`` and ``points = 6,4``).

Reading choices (where the specification is silent)
---------------------------------------------------
* One physical line is one record.  A field that opens with ``"`` but is not a
  well-formed quoted field on that line (closing quote missing, or followed by
  text other than ``;``) is kept literally, quotes included.  A real file needs
  this: in ``Poland_Czestochowa_2020_Grabowka.pb`` a name is written
  ``"Odkupmy" i my - zakup ...`` without quoting; it is read as written (a
  strict CSV reader would silently drop the two quotes).
* Fields are stripped of surrounding blanks; blank lines are ignored; section
  titles and the column names ``project_id``, ``cost``, ``votes``, ``score``,
  ``name``, ``voter_id``, ``vote``, ``points`` are matched without regard to
  case.  A data line may have fewer fields than its header (the missing trailing
  cells read as empty), never more (unless the extra cells are empty).
* Numbers (costs, budget, points, ``votes``/``score`` totals) are plain decimal
  numbers with a point: ``4000``, ``4000.0``, ``225862.5``.  A comma as decimal
  separator, a thousands separator, an exponent or a sign on a cost is refused
  (``1,000`` is ambiguous, and money must be exact).

How the file is read (issue 18)
-------------------------------
The reading is vectorised, the results and messages are those of the former
row-by-row reader (``tests/pabulib_reference.py``, compared on every file and
on seeded mutations by ``tests/test_pabulib_fast.py``): one regular-expression
pass finds the section titles and blank lines; a section without ``"`` is split
in one go (one ``str.split`` when every line has as many fields, else pandas' C
reader); the checks (ids, numbers, ballots) run on whole columns, the project
ids of the ballots are factorised then looked up once each; only the rows a
check flags are re-read one by one, to report their problems in file order.

Every problem found is reported together in one
:class:`~ditp_model.inputs.schema.InputError`, each naming the file, the line, the
column, the value and the rule broken, in French.

:func:`read_pabulib` runs named steps: :func:`_read_text`, :func:`_read_structure`,
:func:`_read_meta`, :func:`_read_projects`, :func:`_read_votes` (ballots:
:func:`_read_ballots`) and :func:`_scores_and_cross_checks`.

Why this module is longer than 800 lines: it is one file format, read in one
pass with every rule of the specification checked and reported in French
(about half of the lines are those checks and their messages), plus the vectorised
reading that keeps large files fast; split across modules, the steps would
share their private helpers (the problem collector, the line splitter, the
column tables) through imports without making any one of them shorter to read.
"""

from __future__ import annotations

import csv
import gc
import io
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain, repeat
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ditp_model.inputs.pabulib_text import (  # noqa: F401  (shared with the light reader; names kept here)
    _AMOUNT_RE, SCORE_RULES, _SIGNED_RE, VOTE_TYPES, _decimal_places, _fmt, _scaled, _split_line)
from ditp_model.inputs.schema import InputError, Problem

__all__ = [
    "VOTE_TYPES",
    "SCORE_RULES",
    "MAX_SCALE",
    "PabulibInstance",
    "read_pabulib",
    "to_integer_units",
    "instance_to_applications",
]

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
_MAX_PROBLEMS = 200


@dataclass(frozen=True, eq=False)
class PabulibInstance:
    """One participatory-budgeting election read from a ``.pb`` file.

    Attributes
    ----------
    path : pathlib.Path
        File read.
    meta : dict of str to str
        ``META`` section, key -> value as written (stripped).
    meta_lines : dict of str to int
        Line of the file where each ``META`` key is written.
    vote_type : str
        One of :data:`VOTE_TYPES` (``approval``, ``choose-1``, ``cumulative``,
        ``scoring``, ``ordinal``), lower case.
    budget : decimal.Decimal
        Budget limit, exact, in ``currency`` units (META ``budget``).
    currency : str or None
        ISO 4217 code from META ``currency`` (``EUR``, ``PLN``, ``USD``...);
        ``None`` when the file does not say.
    projects : pandas.DataFrame
        One row per project, in file order.  Every column of the ``PROJECTS``
        section, as text exactly as written (stripped): ``project_id`` (text,
        ``007`` stays ``007``), ``cost`` (the written amount, a decimal number
        in ``currency`` units, e.g. ``"4000.0"``; ``Decimal(cost)`` is exact),
        ``name`` (added, empty, when the file has no such column), ``votes``
        and ``score`` when present, and any other column (``category``,
        ``selected``...).  Plus ``source_line`` (int): line of the file.
    votes : pandas.DataFrame or None
        ``None`` when the file has no ``VOTES`` section.  Otherwise one row per
        ballot, in file order: every column of the section as text
        (``voter_id``, ``vote``, ``points`` when present, ``age``...), plus
        ``ballot`` (tuple of project ids, in written order), ``ballot_points``
        (tuple of :class:`~decimal.Decimal` aligned with ``ballot``, or ``None``
        without a ``points`` column) and ``source_line`` (int).
    scores : dict of str to decimal.Decimal
        Score of each project (project id -> score), exact, computed with
        ``score_rule``.
    score_rule : str
        Name of the rule giving ``scores`` (:data:`SCORE_RULES`).
    score_source : str
        ``"VOTES"`` when ``scores`` were recomputed from the ballots (and
        checked against the ``votes``/``score`` columns), else the ``PROJECTS``
        column they were taken from (``"votes"`` or ``"score"``).
    """

    path: Path
    meta: dict[str, str]
    meta_lines: dict[str, int]
    vote_type: str
    budget: Decimal
    currency: str | None
    projects: pd.DataFrame
    votes: pd.DataFrame | None
    scores: dict[str, Decimal]
    score_rule: str
    score_source: str


# --------------------------------------------------------------------------
# Low-level reading
# --------------------------------------------------------------------------


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start:exc.end].hex(" ")
        raise InputError(Problem(
            str(path), line, None, f"octets {bad}",
            "le fichier n'est pas en UTF-8 : l'enregistrer en UTF-8", "encoding")) from None


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
# Vectorised reading (issue 18): sections found by their title lines, data
# lines split as tables, every check run on whole columns; the rows a check
# flags are then re-read one by one to report their problems in French, in
# file order (the messages of the row-by-row reader, unchanged).
# --------------------------------------------------------------------------

#: The characters ``str.strip()`` removes (``str.isspace``), but the line break: an explicit class is
#: searched much faster than ``[^\S\n]`` (tests check the list against ``str.isspace``).
_BLANKS = ("\t\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
           "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_BLANK_RE = re.compile(f"[{_BLANKS}]")
#: A line break before a line that may be blank or a section title (a superset: each is then checked).
_SPECIAL_LINE_RE = re.compile(f'\\n(?=[{_BLANKS}]*(?:\\n|\\Z)|[{_BLANKS}]*"?[{_BLANKS}]*(?:meta|projects|votes))',
                              re.IGNORECASE)
#: Below this many data lines a section is split line by line (starting the C reader costs more).
_TABLE_READER_MIN_ROWS = 2000


def _has_blank(text: str) -> bool:
    """Whether ``text`` holds a blank other than a line break."""
    return any(c in text for c in _BLANKS)  # substring searches: faster than one regular expression


def _has_edge_blank(block: str) -> bool:
    """Whether a field of these ``;``-separated lines may start or end with a blank (then they are stripped)."""
    if any(c in block for c in _BLANKS if c != " "):
        return True
    return ("; " in block or " ;" in block or "\n " in block or " \n" in block or block.startswith(" ")
            or block.endswith(" "))


def _lines_after(text: str, pattern: re.Pattern) -> list[int]:
    """0-based index of the line that follows each match of ``pattern`` (which starts with ``\n``)."""
    out: list[int] = []
    count = pos = 0
    for m in pattern.finditer(text):
        count += text.count("\n", pos, m.start())
        pos = m.start()
        out.append(count + 1)
    return out


def _sections(text: str, lines: list[str], problems: _Problems) -> tuple[dict[str, dict], list[str]]:
    """Sections by their title lines: name -> line, header fields, header line, data rows (0-based indexes)."""
    # One pass finds the lines that may be blank or a section title; each is then checked.
    candidates = [0] + _lines_after(text, _SPECIAL_LINE_RE)
    blank = [i for i in candidates if not lines[i].strip()]
    titles = []
    for i in candidates:
        fields = _split_line(lines[i])
        first = fields[0].lower()
        if first in _SECTIONS and not any(fields[1:]):
            titles.append((i, first, fields[0]))
    start = titles[0][0] if titles else len(lines)
    for i in range(start):
        if lines[i].strip():
            problems.add(i + 1, None, lines[i].strip()[:80],
                         "ligne hors section : le fichier doit commencer par « META »", "outside_section")
    sections: dict[str, dict] = {}
    order: list[str] = []
    ends = [t[0] for t in titles[1:]] + [len(lines)]
    for (i, name, word), end in zip(titles, ends):
        if name in sections:  # its lines are ignored
            problems.add(i + 1, None, word,
                         f"section « {name.upper()} » en double (déjà ouverte ligne {sections[name]['line']})",
                         "duplicate_section")
            continue
        lo, hi = bisect_left(blank, i + 1), bisect_left(blank, end)
        if lo == hi:
            idx = range(i + 1, end)
        else:
            gaps = set(blank[lo:hi])
            idx = [j for j in range(i + 1, end) if j not in gaps]
        sec = {"line": i + 1, "header": None, "header_line": None, "rows": idx[1:]}
        if len(idx):
            sec["header"] = _split_line(lines[idx[0]])
            sec["header_line"] = idx[0] + 1
        sections[name] = sec
        order.append(name)
    return sections, order


class _Table:
    """The data lines of one section split into stripped fields, as columns.

    Without a double quote in the section, a long section is read at once by
    pandas' C reader (``;`` separator, no quoting: exactly ``line.split(";")``);
    otherwise each line goes through :func:`_split_line`.  Short rows are padded
    with ``""``; columns beyond the header are kept apart (:meth:`extra_rows`).
    """

    def __init__(self, lines: list[str], rows, header: tuple[str, ...]):
        self.texts = lines[rows.start:rows.stop] if isinstance(rows, range) else [lines[i] for i in rows]
        self.lines = [i + 1 for i in rows]
        self.header = header
        self.columns = self._split(self.texts)
        for _ in range(len(self.columns), len(header)):
            self.columns.append([""] * len(self.texts))

    @staticmethod
    def _split(texts: list[str]) -> list[list[str]]:
        if not texts:
            return []
        block = "\n".join(texts)
        if '"' not in block:
            separators = list(map(str.count, texts, repeat(";")))
            width = max(separators) + 1
            columns = None
            if min(separators) + 1 == width:  # as many fields on every line: one split of the whole section
                fields = block.replace("\n", ";").split(";")
                columns = [fields[k::width] for k in range(width)]
            elif len(texts) >= _TABLE_READER_MIN_ROWS:
                frame = pd.read_csv(io.StringIO(block), sep=";", header=None, names=range(width), dtype=object,
                                    quoting=csv.QUOTE_NONE, na_filter=False, skip_blank_lines=False,
                                    engine="c")
                if len(frame) == len(texts):
                    columns = [frame[k].tolist() for k in range(width)]
            if columns is not None:
                if not _has_edge_blank(block):
                    return columns
                # Strip only the columns holding a blank somewhere (a name, a district...).
                return [[v.strip() for v in c] if _has_blank("\n".join(c)) else c for c in columns]
        split = [_split_line(t) for t in texts]
        width = max(map(len, split))
        return [list(c) for c in zip(*(f + [""] * (width - len(f)) for f in split))]

    def column(self, name: str) -> list[str]:
        return self.columns[self.header.index(name)]

    def extra_rows(self) -> set[int]:
        """Rows with a non-empty field beyond the header."""
        n = len(self.header)
        if len(self.columns) <= n:
            return set()
        return {k for k, extra in enumerate(zip(*self.columns[n:])) if any(extra)}

    def row_fields(self, k: int) -> list[str]:
        """Fields of row ``k`` as written (before padding), for the problem messages."""
        return _split_line(self.texts[k])


def _matches(values: list[str], pattern: re.Pattern, allow_none: bool = False) -> list[bool]:
    """Whether each value fully matches ``pattern`` (``""`` and ``none`` pass too when ``allow_none``)."""
    if not values:
        return []
    if all(map(str.isdigit, values)) and "".join(values).isascii():  # whole numbers, the usual case
        return [True] * len(values)
    one = f"(?:{pattern.pattern}{'|(?i:none)|' if allow_none else ''})"
    if re.fullmatch(f"{one}(?:\\n{one})*", "\n".join(values)):
        return [True] * len(values)
    if allow_none:
        return [v == "" or v.lower() == "none" or pattern.fullmatch(v) is not None for v in values]
    return [pattern.fullmatch(v) is not None for v in values]


def _check_project_row(fields: list[str], header: tuple[str, ...], lineno: int, first_line: Mapping[str, int],
                       problems: _Problems) -> None:
    """Report the problems of one PROJECTS line (flagged by the column checks)."""
    fields = _fit(fields, header, lineno, problems)
    row = dict(zip(header, fields))
    pid = row["project_id"]
    if not pid:
        problems.add(lineno, "project_id", None, "identifiant de projet vide", "missing_value")
        return
    if first_line[pid] != lineno:
        problems.add(lineno, "project_id", pid,
                     f"identifiant de projet en double (déjà ligne {first_line[pid]})", "duplicate_id")
        return
    if _parse_decimal(row["cost"], _AMOUNT_RE) is None:
        problems.add(lineno, "cost", row["cost"],
                     "coût invalide : nombre positif ou nul, point décimal, sans séparateur de milliers",
                     "bad_number")
    for col in ("votes", "score"):
        if col in row and row[col] != "" and row[col].lower() != "none":
            if _parse_decimal(row[col], _SIGNED_RE) is None:
                problems.add(lineno, col, row[col], "nombre attendu", "bad_number")


def _items(cells: list[str]) -> tuple[list[tuple[str, ...]], list[str], np.ndarray]:
    """The comma-separated items of each cell as a tuple (stripped; ``()`` for an empty cell), all the
    items in order, and the number of items of each cell."""
    tuples = list(map(tuple, map(str.split, cells, repeat(","))))
    if not all(cells):
        tuples = [t if c else () for t, c in zip(tuples, cells)]
    if _has_blank("\n".join(cells)):
        tuples = [tuple(p.strip() for p in t) for t in tuples]
    return tuples, list(chain.from_iterable(tuples)), np.fromiter(map(len, tuples), np.int64, len(tuples))


def _read_ballots(table: _Table, has_points: bool, vote_type: str, project_ids: list[str],
                  seen_projects: Mapping[str, int], problems: _Problems):
    """Check and count the ballots of the VOTES section, column-wise.

    Returns ``None`` when a problem was reported, else ``(ballots, ballot_points,
    counts, points_sum)``: a tuple of project ids per ballot, a tuple of
    :class:`~decimal.Decimal` per ballot (``None`` without ``points``), and per
    project (in ``project_ids`` order) the number of ballots naming it (int) and
    its points (``Decimal``: the points, or ``k``, ``k-1``... for an ordinal
    ballot of ``k`` projects without points, else 1 per ballot).
    """
    header = table.header
    nrows = len(table.lines)
    n_proj = len(project_ids)
    flagged = table.extra_rows()
    vids = pd.Series(table.column("voter_id"), dtype=object)
    empty = (vids == "").to_numpy()
    bad_vid = empty | (vids.duplicated(keep="first").to_numpy() & ~empty)
    flagged.update(np.flatnonzero(bad_vid).tolist())

    ballots, items, lengths = _items(table.column("vote"))
    owner = np.repeat(np.arange(nrows, dtype=np.int64), lengths)
    if items:  # distinct ids first (one hash table pass), then each distinct id looked up once
        codes, distinct = pd.factorize(np.array(items, dtype=object))
        idx = pd.Index(project_ids, dtype=object).get_indexer(distinct)[codes]
    else:
        idx = np.empty(0, dtype=np.int64)
    unknown = idx < 0  # empty or unknown id
    if unknown.any():
        flagged.update(np.unique(owner[unknown]).tolist())
    key = owner[~unknown] * max(n_proj, 1) + idx[~unknown]
    if len(key) > 1:
        key = np.sort(key)
        twice = key[1:] == key[:-1]
        if twice.any():
            flagged.update(np.unique(key[1:][twice] // max(n_proj, 1)).tolist())
    if vote_type == "choose-1":
        flagged.update(np.flatnonzero(lengths > 1).tolist())
    if has_points:
        # Points cells repeat (``3``, ``2,1``...): each distinct cell is split, checked and converted once.
        pcells = table.column("points")
        split_of = {c: tuple(p.strip() for p in c.split(",")) if c else () for c in set(pcells)}
        ptuples = list(map(split_of.__getitem__, pcells))
        pitems = list(chain.from_iterable(ptuples))
        plengths = np.fromiter(map(len, ptuples), np.int64, nrows)
        flagged.update(np.flatnonzero(plengths != lengths).tolist())
        distinct = list(set(pitems))
        if not all(_matches(distinct, _SIGNED_RE)):
            ok = _matches(pitems, _SIGNED_RE)
            powner = np.repeat(np.arange(nrows, dtype=np.int64), plengths)
            flagged.update(np.unique(powner[~np.array(ok, dtype=bool)]).tolist())

    if flagged:  # report, row by row, in file order
        first_voter: dict[str, int] = {}
        for vid, lineno in zip(table.column("voter_id"), table.lines):
            if vid and vid not in first_voter:
                first_voter[vid] = lineno
        for k in sorted(flagged):
            lineno = table.lines[k]
            row = dict(zip(header, _fit(table.row_fields(k), header, lineno, problems)))
            vid = row["voter_id"]
            if not vid:
                problems.add(lineno, "voter_id", None, "identifiant de votant vide", "missing_value")
            elif first_voter[vid] != lineno:
                problems.add(lineno, "voter_id", vid,
                             f"identifiant de votant en double (déjà ligne {first_voter[vid]})", "duplicate_id")
            _read_ballot(row, has_points, vote_type, lineno, seen_projects, problems)
        if problems.items:
            return None

    counts = np.bincount(idx, minlength=n_proj).tolist() if n_proj else []
    if has_points:
        # One Decimal per distinct value, one tuple per distinct cell, shared by the ballots (immutable).
        decimal_of = {p: Decimal(p) for p in distinct}
        tuple_of = {c: tuple(map(decimal_of.__getitem__, t)) for c, t in split_of.items()}
        ballot_points = list(map(tuple_of.__getitem__, pcells))
        sums = None
        if all(map(str.isdigit, map(str.lstrip, decimal_of, repeat("+-")))):  # whole numbers: sum as integers
            int_of = {p: int(p) for p in decimal_of}
            if max(map(abs, int_of.values()), default=0) * len(pitems) < 2**62:
                acc = np.zeros(n_proj, dtype=np.int64)
                np.add.at(acc, idx, np.fromiter(map(int_of.__getitem__, pitems), np.int64, len(pitems)))
                sums = list(map(Decimal, acc.tolist()))
        if sums is None:  # decimals or huge numbers: exact Decimal sums
            sums = [Decimal(0)] * n_proj
            for i, v in zip(idx.tolist(), map(decimal_of.__getitem__, pitems)):
                sums[i] += v
    else:
        ballot_points = [None] * nrows
        if vote_type == "ordinal":
            starts = np.cumsum(lengths) - lengths
            position = np.arange(len(idx), dtype=np.int64) - starts[owner]
            acc = np.zeros(n_proj, dtype=np.int64)
            np.add.at(acc, idx, lengths[owner] - position)
            sums = list(map(Decimal, acc.tolist()))
        else:
            sums = list(map(Decimal, counts))
    return ballots, ballot_points, counts, sums


# --------------------------------------------------------------------------
# read_pabulib
# --------------------------------------------------------------------------


def read_pabulib(path: str | Path) -> PabulibInstance:
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
    # Reading creates one tuple per ballot: the cyclic garbage collector, which
    # would walk them again and again while they are built, is paused meanwhile.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _read_pabulib(Path(path))
    finally:
        if enabled:
            gc.enable()


def _read_pabulib(path: Path) -> PabulibInstance:
    """The reading steps, in order: text, structure, META, PROJECTS, VOTES, scores and cross-checks."""
    file = str(path)
    text, lines = _read_text(path, file)
    problems = _Problems(file)
    sections = _read_structure(text, lines, problems)
    meta = _read_meta(sections["meta"], lines, problems)
    projects = _read_projects(sections, lines, meta, problems)
    votes = _read_votes(sections.get("votes"), projects, lines, meta, problems)
    problems.raise_if_any()
    assert meta.budget is not None and projects.costs_ok
    scores, score_source = _scores_and_cross_checks(sections["projects"], projects, votes, meta.vote_type, problems)
    problems.raise_if_any()
    return PabulibInstance(
        path=path, meta=meta.values, meta_lines=meta.lines, vote_type=meta.vote_type, budget=meta.budget,
        currency=meta.currency, projects=projects.frame, votes=votes.frame, scores=scores,
        score_rule=SCORE_RULES[meta.vote_type], score_source=score_source)


def _read_text(path: Path, file: str) -> tuple[str, list[str]]:
    """The file's text (encoding checked by :func:`_decode`) and its lines; every line break becomes one ``\\n``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(Problem(file, None, None, None, f"fichier introuvable : {file} ; vérifier le chemin",
                                 "unreadable")) from None
    except OSError as exc:
        raise InputError(Problem(file, None, None, None,
                                 f"fichier illisible ({exc.strerror or exc})", "unreadable")) from None
    text = _decode(path, raw)
    if "\r" in text:  # every line break (\r\n, \r, \n) becomes one \n: line numbers are unchanged
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, text.split("\n")


def _read_structure(text: str, lines: list[str], problems: _Problems) -> dict[str, dict]:
    """Sections, headers and data lines; META and PROJECTS present, sections in order, each with a header."""
    sections, order = _sections(text, lines, problems)
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
    return sections


@dataclass
class _Meta:
    """What META says: key -> value and line, vote type, budget, announced counts, currency."""

    values: dict
    lines: dict
    vote_type: str
    budget: Decimal | None
    expected_counts: dict
    currency: str | None


def _read_meta(meta_sec: dict, lines: list[str], problems: _Problems) -> _Meta:
    """The META section: one key per line, ``vote_type`` and ``budget`` required and checked."""
    header = [h.lower() for h in meta_sec["header"]]
    if header[:2] != ["key", "value"] or any(header[2:]):
        problems.add(meta_sec["header_line"], None, ";".join(meta_sec["header"]),
                     "l'en-tête de META doit être « key;value »", "bad_header")
    meta: dict[str, str] = {}
    meta_lines: dict[str, int] = {}
    for i in meta_sec["rows"]:
        lineno, fields = i + 1, _split_line(lines[i])
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
    return _Meta(meta, meta_lines, vote_type, budget, expected_counts, meta.get("currency") or None)


@dataclass
class _Projects:
    """The PROJECTS section read: the table kept, ids in file order and their lines, totals written, VOTES header."""

    frame: pd.DataFrame
    header: tuple
    ids: list
    seen: dict
    written_totals: dict
    costs_ok: bool
    vote_header: tuple | None


def _read_projects(sections: dict, lines: list[str], meta: _Meta, problems: _Problems) -> _Projects:
    """The PROJECTS section (and the VOTES header, checked before any row is read)."""
    vote_type, expected_counts = meta.vote_type, meta.expected_counts
    proj_sec = sections["projects"]
    proj_header = _canonical_header(proj_sec, _KNOWN_PROJECT_COLUMNS, ("project_id", "cost"), problems)
    votes_sec = sections.get("votes")
    vote_header = None
    if votes_sec is not None:
        required = ("voter_id", "vote") + (("points",) if vote_type in ("cumulative", "scoring") else ())
        vote_header = _canonical_header(votes_sec, _KNOWN_VOTE_COLUMNS, required, problems)
    problems.raise_if_any()

    table = _Table(lines, proj_sec["rows"], proj_header)
    pids = table.column("project_id")
    plines = table.lines
    ids = pd.Series(pids, dtype=object)
    empty = (ids == "").to_numpy()
    dropped = empty | (ids.duplicated(keep="first").to_numpy() & ~empty)  # empty or repeated id: left out
    all_kept = not dropped.any()
    keep = range(len(pids)) if all_kept else np.flatnonzero(~dropped).tolist()
    cost_ok = _matches(table.column("cost"), _AMOUNT_RE)
    totals_ok = {col: _matches(table.column(col), _SIGNED_RE, allow_none=True)
                 for col in ("votes", "score") if col in proj_header}
    flagged = table.extra_rows()
    flagged.update(np.flatnonzero(dropped).tolist())
    for ok_list in (cost_ok, *totals_ok.values()):
        if not all(ok_list):
            flagged.update(k for k, ok in enumerate(ok_list) if not ok)
    if flagged:  # French problems, row by row, in file order
        first_line = dict(zip(reversed(pids), reversed(plines)))  # first line of each id
        for k in sorted(flagged):
            _check_project_row(table.row_fields(k), proj_header, plines[k], first_line, problems)
    costs_ok = all(cost_ok[k] for k in keep)
    # Project id -> line, in file order.
    seen_projects = dict(zip(pids, plines)) if all_kept else {pids[k]: plines[k] for k in keep}
    written_totals: dict[str, dict[str, tuple[Decimal, int, str]]] = {"votes": {}, "score": {}}
    for col, ok in totals_ok.items():
        values = table.column(col)
        written_totals[col] = {pids[k]: (Decimal(values[k]), plines[k], values[k]) for k in keep
                               if values[k] != "" and ok[k] and values[k].lower() != "none"}
    if "num_projects" in expected_counts and expected_counts["num_projects"] != len(pids):
        problems.add(meta.lines["num_projects"], "num_projects", meta.values["num_projects"],
                     f"META annonce {expected_counts['num_projects']} projets mais PROJECTS en contient "
                     f"{len(pids)}", "count_mismatch")

    columns = {h: (table.column(h) if all_kept else [table.column(h)[k] for k in keep]) for h in proj_header}
    projects = pd.DataFrame(columns, columns=list(proj_header), dtype=object)
    if "name" not in projects.columns:
        projects["name"] = ""
    projects = projects.astype(str)
    projects[_LINE_COLUMN] = pd.Series(plines if all_kept else [plines[k] for k in keep], dtype="int64")
    project_ids = [pids[k] for k in keep] if not all_kept else pids
    return _Projects(projects, proj_header, project_ids, seen_projects, written_totals, costs_ok, vote_header)


@dataclass
class _Votes:
    """The VOTES section read: ballots table (None without VOTES), ballots per project, points per project."""

    frame: pd.DataFrame | None = None
    counts: dict = field(default_factory=dict)
    points_sum: dict = field(default_factory=dict)


def _read_votes(votes_sec: dict | None, projects: _Projects, lines: list[str], meta: _Meta,
                problems: _Problems) -> _Votes:
    """The VOTES section: each ballot checked against the projects and the vote type; counts checked against META."""
    if votes_sec is None:
        return _Votes()
    vote_header, expected_counts = projects.vote_header, meta.expected_counts
    has_points = "points" in vote_header
    ballots_table = _Table(lines, votes_sec["rows"], vote_header)
    result = _read_ballots(ballots_table, has_points, meta.vote_type, projects.ids, projects.seen, problems)
    n_votes = len(ballots_table.lines)
    if "num_votes" in expected_counts and expected_counts["num_votes"] != n_votes:
        problems.add(meta.lines["num_votes"], "num_votes", meta.values["num_votes"],
                     f"META annonce {expected_counts['num_votes']} votes mais VOTES en contient "
                     f"{n_votes}", "count_mismatch")
    problems.raise_if_any()
    ballots, ballot_points, counts_list, sums = result
    votes_df = pd.DataFrame({h: ballots_table.column(h) for h in vote_header}, columns=list(vote_header),
                            dtype=object).astype(str)
    votes_df["ballot"] = pd.Series(ballots, dtype=object)
    votes_df["ballot_points"] = pd.Series(ballot_points, dtype=object)
    votes_df[_LINE_COLUMN] = pd.Series(ballots_table.lines, dtype="int64")
    return _Votes(votes_df, dict(zip(projects.ids, counts_list)), dict(zip(projects.ids, sums)))


def _scores_and_cross_checks(proj_sec: dict, projects: _Projects, votes: _Votes, vote_type: str,
                             problems: _Problems) -> tuple[dict, str]:
    """Each project's score (from VOTES, or from the PROJECTS total without VOTES) and where it comes from.

    With VOTES, the totals written in PROJECTS (``votes``, ``score``) must equal
    those recomputed from the ballots.
    """
    proj_header, written_totals, seen_projects = projects.header, projects.written_totals, projects.seen
    counts, points_sum = votes.counts, votes.points_sum
    if votes.frame is not None:
        score_source = "VOTES"
        scores = dict(points_sum) if vote_type in ("cumulative", "scoring") else {
            pid: Decimal(c) for pid, c in counts.items()}
        points_rule = ("somme des points de la colonne « points »" if "points" in projects.vote_header
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
    return scores, score_source


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


# --------------------------------------------------------------------------
# Money and the applications table
# --------------------------------------------------------------------------


def to_integer_units(instance: PabulibInstance) -> tuple[dict[str, int], int, int]:
    """Convert project costs and the budget to exact integers.

    Parameters
    ----------
    instance : PabulibInstance
        A read instance (costs as written, budget as :class:`~decimal.Decimal`).

    Returns
    -------
    costs : dict of str to int
        Project id -> cost in units of ``1/scale`` of the currency.
    budget : int
        Budget in the same units.
    scale : int
        Smallest power of ten (1, 10, 100, 1000 or 10000) that makes every
        cost and the budget whole: ``cost_written * scale == costs[id]``
        exactly.  Costs written ``"4000.0"`` give scale 1; ``"225862.5"`` gives
        10 (amounts in tenths).

    Raises
    ------
    ditp_model.inputs.schema.InputError
        When a cost or the budget has more than four decimals (scale above
        ``MAX_SCALE`` = 10**4), naming the file, line and value.

    Notes
    -----
    Exact decimal arithmetic only (:class:`decimal.Decimal` digits and Python
    integers); no ``float`` is ever involved.
    """
    file = str(instance.path)
    table = instance.projects
    written = dict(zip(table["project_id"], table["cost"]))
    lines = dict(zip(table["project_id"], table[_LINE_COLUMN]))
    costs_dec = {pid: Decimal(text) for pid, text in written.items()}
    max_places = len(str(MAX_SCALE)) - 1
    rule = f"plus de {max_places} décimales : conversion exacte en entiers refusée (échelle au-delà de {MAX_SCALE})"
    problems = _Problems(file)
    places = 0
    for pid, cost in costs_dec.items():
        p = _decimal_places(cost)
        if p > max_places:
            problems.add(int(lines[pid]), "cost", written[pid], rule, "scale_too_large")
        places = max(places, p)
    p = _decimal_places(instance.budget)
    if p > max_places:
        problems.add(instance.meta_lines.get("budget"), "budget", instance.meta.get("budget"), rule,
                     "scale_too_large")
    places = max(places, p)
    problems.raise_if_any()
    costs = {pid: _scaled(c, places) for pid, c in costs_dec.items()}
    return costs, _scaled(instance.budget, places), 10**places


def instance_to_applications(instance: PabulibInstance) -> pd.DataFrame:
    """Map a PB election to the applications table of the allocation engine.

    Rule: cost = request, score = vote count or points, floor 0, cap = cost.

    Parameters
    ----------
    instance : PabulibInstance
        A read instance.

    Returns
    -------
    pandas.DataFrame
        One row per project, in file order, with columns

        * ``application_id`` (str): the project id as written;
        * ``title`` (str): the project ``name``, ``""`` when absent;
        * ``requested_eur`` (int64): the cost in integer units of
          ``1/scale`` of ``currency`` (the ``_eur`` suffix is the engine's
          column name; the unit is the file's currency, see ``attrs``);
        * ``score`` (float): the project score of ``instance.score_rule``
          (approval/choose-1: ballots selecting it; cumulative/scoring: sum of
          points; ordinal: ballots ranking it);
        * ``award_floor_eur`` (int64): 0;
        * ``award_cap_eur`` (int64): ``requested_eur`` (all or nothing).

        ``attrs`` holds ``budget`` (int, same units as ``requested_eur``),
        ``scale`` (int), ``currency`` (str or None), ``vote_type``,
        ``score_rule`` and ``source`` (path of the file).

    Raises
    ------
    ditp_model.inputs.schema.InputError
        As :func:`to_integer_units` (more than four decimals).
    """
    costs, budget, scale = to_integer_units(instance)
    ids = list(instance.projects["project_id"])
    names = ["" if n.lower() == "none" else n for n in instance.projects["name"]]
    requested = pd.Series([costs[i] for i in ids], dtype="int64")
    df = pd.DataFrame({
        "application_id": pd.Series(ids, dtype=object).astype(str),
        "title": pd.Series(names, dtype=object).astype(str),
        "requested_eur": requested,
        "score": pd.Series([float(instance.scores[i]) for i in ids], dtype="float64"),
        "award_floor_eur": pd.Series([0] * len(ids), dtype="int64"),
        "award_cap_eur": requested.copy(),
    })
    df.attrs.update({
        "budget": budget,
        "scale": scale,
        "currency": instance.currency,
        "vote_type": instance.vote_type,
        "score_rule": instance.score_rule,
        "source": str(instance.path),
    })
    return df
