"""A light reader of Pabulib files for ``ditp-model pabulib`` (issue 18): no pandas, no numpy.

:func:`read_pabulib_light` reads a ``.pb`` file with the standard library only and returns what the
decision needs (budget, costs and scores, exact).  It accepts only files that the full reader
(:func:`ditp_model.inputs.pabulib.read_pabulib`) reads without any problem, and then returns the same
values; on anything else (a problem, or a case it does not handle) it returns ``None`` and the caller
runs the full reader, which reports every problem in French.  It never raises for a bad file: the full
reader stays the only one that words errors, so the messages are unchanged.

The rules checked are those of the full reader (module documentation of
:mod:`ditp_model.inputs.pabulib`; format: Stolicki, Szufa, Talmon, arXiv:2012.06539,
https://pabulib.org/format), each written here as a condition for accepting the file; where a rule
is subtle (a line that looks like a section title but is not exactly one), this reader declines rather
than decides.  ``tests/test_pabulib_light.py`` checks, on every file of the test data and on seeded
mutations, that it either declines or agrees with the full reader to the last digit.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import chain
from decimal import Decimal
from pathlib import Path

from ditp_model.inputs.pabulib_text import _AMOUNT_RE, _SIGNED_RE, SCORE_RULES, _decimal_places, _split_line

__all__ = ["LightInstance", "read_pabulib_light"]

_SECTIONS = ("meta", "projects", "votes")
_KNOWN_PROJECT_COLUMNS = ("project_id", "cost", "votes", "score", "name")
_KNOWN_VOTE_COLUMNS = ("voter_id", "vote", "points")
_RESERVED = ("source_line", "ballot", "ballot_points")
#: A line that may be taken for a section title by the full reader (a superset; exact titles are read).
_TITLE_LIKE = re.compile(r'^[^\S\n]*"?[^\S\n]*(?:meta|projects|votes)', re.IGNORECASE | re.MULTILINE)
#: A blank other than the line break (``\s`` is what ``str.strip`` removes).
_BLANK = re.compile(r"[^\S\n]")


@dataclass(frozen=True)
class LightInstance:
    """What the decision of a Pabulib file needs, read exactly.

    Attributes
    ----------
    path : pathlib.Path
        File read.
    vote_type : str
        ``approval``, ``choose-1``, ``cumulative``, ``scoring`` or ``ordinal`` (lower case).
    score_rule : str
        Rule giving ``scores`` (:data:`~ditp_model.inputs.pabulib.SCORE_RULES`).
    budget : decimal.Decimal
        Budget limit, exact, in ``currency`` units.
    currency : str or None
        META ``currency``; ``None`` when absent or empty.
    project_ids : tuple of str
        Project ids in file order.
    costs : tuple of decimal.Decimal
        Each project's cost as written, exact, aligned with ``project_ids``.
    scores : dict of str to decimal.Decimal
        Each project's score, as :attr:`ditp_model.inputs.pabulib.PabulibInstance.scores`.
    """

    path: Path
    vote_type: str
    score_rule: str
    budget: Decimal
    currency: str | None
    project_ids: tuple
    costs: tuple
    scores: dict


def _header(fields: list[str], known: tuple[str, ...], required: tuple[str, ...]) -> tuple[str, ...] | None:
    """The canonical header (known names lower-cased), or ``None`` when the full reader would object."""
    names = [h.lower() if h.lower() in known else h for h in fields]
    while names and names[-1] == "":
        names.pop()
    if "" in names or len(set(names)) != len(names) or any(h in _RESERVED for h in names):
        return None
    if any(col not in names for col in required) or names[0] != required[0]:
        return None
    return tuple(names)


def _rows(lines: list[str], idx: list[int], width: int, needed: tuple[int, ...]) -> list[list[str]] | None:
    """The data lines split and padded to ``width``; ``None`` when one has a non-empty field too many.

    A line without a double quote is split on ``;`` and only the ``needed`` columns are stripped (the
    others are not read; an extra field counts when it is not blank), which is what
    :func:`~ditp_model.inputs.pabulib_text._split_line` gives for those columns; a line with a
    double quote goes through that function.
    """
    texts = [lines[i] for i in idx]
    block = "\n".join(texts)
    blanks = bool(_BLANK.search(block))
    quotes = '"' in block
    out = []
    for text in texts:
        if quotes and '"' in text:
            fields = _split_line(text)
        else:
            fields = text.split(";")
            if blanks:
                for k in needed:
                    if k < len(fields):
                        fields[k] = fields[k].strip()
        if len(fields) > width:
            if any(f.strip() for f in fields[width:]):
                return None
            fields = fields[:width]
        elif len(fields) < width:
            fields = fields + [""] * (width - len(fields))
        out.append(fields)
    return out


def _total(text: str) -> Decimal | None | bool:
    """A ``votes``/``score`` cell: ``None`` when empty or ``none``, the number, or ``False`` when invalid."""
    if text == "" or text.lower() == "none":
        return None
    return Decimal(text) if _SIGNED_RE.fullmatch(text) else False


def read_pabulib_light(path: str | Path) -> LightInstance | None:
    """Read a valid ``.pb`` file without pandas; ``None`` when the full reader must decide.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.pb`` file.

    Returns
    -------
    LightInstance or None
        The budget, costs and scores exactly as the full reader gives them, or ``None`` when the file
        is unreadable, not UTF-8, breaks a rule of the format, or holds a case this reader leaves to
        the full one (a line that resembles a section title, a cost or score with more than four
        decimals).  Never raises for a bad file.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    titles: list[tuple[int, str]] = []
    count = pos = 0
    for match in _TITLE_LIKE.finditer(text):  # one pass over the text: lines that may be section titles
        count += text.count("\n", pos, match.start())
        pos = match.start()
        word = lines[count].strip().lower()
        if word not in _SECTIONS:
            return None  # "META;", '"votes"', "projects x"...: left to the full reader
        titles.append((count, word))
    names = [w for _, w in titles]
    if names not in (["meta", "projects"], ["meta", "projects", "votes"]):
        return None
    if any(line.strip() for line in lines[:titles[0][0]]):
        return None
    bounds = [t[0] for t in titles[1:]] + [len(lines)]
    sections: dict[str, list[int]] = {}
    for (start, name), end in zip(titles, bounds):
        idx = [j for j in range(start + 1, end) if lines[j].strip()]
        if not idx:
            return None  # no header line
        sections[name] = idx

    # META
    meta_idx = sections["meta"]
    mhead = [h.lower() for h in _split_line(lines[meta_idx[0]])]
    if mhead[:2] != ["key", "value"] or any(mhead[2:]):
        return None
    meta: dict[str, str] = {}
    for i in meta_idx[1:]:
        fields = _split_line(lines[i])
        if any(fields[2:]) or not fields[0] or fields[0] in meta:
            return None
        meta[fields[0]] = fields[1] if len(fields) > 1 else ""
    vote_type = meta.get("vote_type", "").lower()
    if vote_type not in SCORE_RULES or "budget" not in meta or not _AMOUNT_RE.fullmatch(meta["budget"]):
        return None
    budget = Decimal(meta["budget"])
    counts_announced = {}
    for key in ("num_projects", "num_votes"):
        if key in meta:
            if not re.fullmatch(r"[0-9]+", meta[key]):
                return None
            counts_announced[key] = int(meta[key])

    # Headers (the full reader checks both before reading any row)
    pidx = sections["projects"]
    pheader = _header(_split_line(lines[pidx[0]]), _KNOWN_PROJECT_COLUMNS, ("project_id", "cost"))
    vidx = sections.get("votes")
    vheader = None
    if vidx is not None:
        required = ("voter_id", "vote") + (("points",) if vote_type in ("cumulative", "scoring") else ())
        vheader = _header(_split_line(lines[vidx[0]]), _KNOWN_VOTE_COLUMNS, required)
        if vheader is None:
            return None
    if pheader is None:
        return None

    # PROJECTS
    prows = _rows(lines, pidx[1:], len(pheader),
                  tuple(k for k, h in enumerate(pheader) if h in ("project_id", "cost", "votes", "score")))
    if prows is None:
        return None
    col = {h: k for k, h in enumerate(pheader)}
    ids: list[str] = []
    costs: list[Decimal] = []
    written: dict[str, dict[str, Decimal]] = {"votes": {}, "score": {}}
    position: dict[str, int] = {}
    for fields in prows:
        pid, cost = fields[col["project_id"]], fields[col["cost"]]
        if not pid or pid in position or not _AMOUNT_RE.fullmatch(cost):
            return None
        for name in ("votes", "score"):
            if name in col:
                value = _total(fields[col[name]])
                if value is False:
                    return None
                if value is not None:
                    written[name][pid] = value
        position[pid] = len(ids)
        ids.append(pid)
        costs.append(Decimal(cost))
    if counts_announced.get("num_projects", len(ids)) != len(ids):
        return None

    # VOTES
    n = len(ids)
    if vidx is not None:
        vrows = _rows(lines, vidx[1:], len(vheader),
                      tuple(k for k, h in enumerate(vheader) if h in _KNOWN_VOTE_COLUMNS))
        if vrows is None or counts_announced.get("num_votes", len(vrows)) != len(vrows):
            return None
        vcol = {h: k for k, h in enumerate(vheader)}
        has_points = "points" in vcol
        vids = [f[vcol["voter_id"]] for f in vrows]
        if "" in vids or len(set(vids)) != len(vids):
            return None  # empty or repeated voter id
        cells = [f[vcol["vote"]] for f in vrows]
        ballots = [c.split(",") if c else [] for c in cells]
        if _BLANK.search("\n".join(cells)):
            ballots = [[p.strip() for p in b] for b in ballots]
        try:
            where = [[position[p] for p in b] for b in ballots]
        except KeyError:
            return None  # empty or unknown project
        if any(len(set(w)) != len(w) for w in where if len(w) > 1):
            return None  # a project twice on one ballot
        if vote_type == "choose-1" and any(len(w) > 1 for w in where):
            return None
        tally = Counter(chain.from_iterable(where))
        counts = [tally.get(k, 0) for k in range(n)]
        if has_points:
            sums = [Decimal(0)] * n
            decimal_of: dict[str, Decimal] = {}  # points repeat ("3", "2", "1"): each checked and converted once
            for fields, w in zip(vrows, where):
                pcell = fields[vcol["points"]]
                pts = [p.strip() for p in pcell.split(",")] if pcell else []
                if len(pts) != len(w):
                    return None
                for k, p in zip(w, pts):
                    value = decimal_of.get(p)
                    if value is None:
                        if not _SIGNED_RE.fullmatch(p):
                            return None
                        value = decimal_of[p] = Decimal(p)
                    sums[k] += value
        elif vote_type == "ordinal":
            acc = [0] * n
            for w in where:
                size = len(w)
                for r, k in enumerate(w):
                    acc[k] += size - r
            sums = [Decimal(v) for v in acc]
        else:
            sums = [Decimal(v) for v in counts]
        for name, recomputed in (("votes", counts), ("score", sums)):
            for pid, value in written[name].items():
                if value != recomputed[position[pid]]:
                    return None
        chosen = sums if vote_type in ("cumulative", "scoring") else counts
        scores = {pid: Decimal(v) for pid, v in zip(ids, chosen)}
    else:
        source = "score" if vote_type in ("cumulative", "scoring") else "votes"
        if source not in col or len(written[source]) != n:
            return None
        scores = {pid: written[source][pid] for pid in ids}
    if any(_decimal_places(v) > 4 for v in (*costs, budget)):
        return None  # the full path refuses it, in French
    return LightInstance(path, vote_type, SCORE_RULES[vote_type], budget, meta.get("currency") or None,
                         tuple(ids), tuple(costs), scores)
