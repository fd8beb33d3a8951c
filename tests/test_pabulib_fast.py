"""The vectorised Pabulib reader against the row-by-row reader it replaced (issue 18).

``tests/pabulib_reference.py`` holds the old reader (commit 91e87cb), outside the
package.  On every ``.pb`` file of ``tests/data/pabulib`` (real, synthetic and
malformed) and of ``/work/shared/data/pabulib`` when present, and on a few
hundred seeded mutations of them (blank lines, blanks around fields, quotes,
extra or missing fields, repeated ids, CRLF...), both readers must give the same
instance -- every field, every cell, every ``Decimal`` written the same -- or
the same French problems in the same order.  Each comparison runs twice: with the
table reader used only on long sections (as shipped) and on every section.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pandas as pd
import pytest

import ditp_model.inputs.pabulib as pabulib
from ditp_model.inputs.pabulib import read_pabulib
from ditp_model.inputs.schema import InputError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pabulib_reference import read_pabulib_reference  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "pabulib"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pabulib"
FILES = sorted(DATA.rglob("*.pb")) + (sorted(SHARED.glob("*.pb")) if SHARED.is_dir() else [])


def _outcome(reader, path):
    try:
        return "ok", reader(path)
    except InputError as exc:
        return "error", exc


def _text(frame: pd.DataFrame) -> list:
    """Every cell as text (``repr`` keeps a Decimal's exponent and a tuple's items)."""
    return [[repr(v) for v in row] for row in frame.itertuples(index=False)]


def assert_same_reading(path: Path) -> None:
    old_kind, old = _outcome(read_pabulib_reference, path)
    new_kind, new = _outcome(read_pabulib, path)
    assert new_kind == old_kind, (path, old if old_kind == "error" else new)
    if old_kind == "error":
        assert new.problems == old.problems
        assert str(new) == str(old)
        return
    for name in ("path", "meta", "meta_lines", "vote_type", "currency", "score_rule", "score_source"):
        assert getattr(new, name) == getattr(old, name), name
    assert repr(new.budget) == repr(old.budget)
    assert list(new.scores) == list(old.scores)
    assert {k: repr(v) for k, v in new.scores.items()} == {k: repr(v) for k, v in old.scores.items()}
    pd.testing.assert_frame_equal(new.projects, old.projects, check_exact=True)
    assert _text(new.projects) == _text(old.projects)
    if old.votes is None:
        assert new.votes is None
    else:
        pd.testing.assert_frame_equal(new.votes, old.votes, check_exact=True)
        assert _text(new.votes) == _text(old.votes)


@pytest.fixture(params=["shipped", "table_reader_everywhere"])
def threshold(request, monkeypatch):
    if request.param == "table_reader_everywhere":
        monkeypatch.setattr(pabulib, "_TABLE_READER_MIN_ROWS", 1)
    return request.param


def test_there_are_files_of_every_kind():
    kinds = {p.parent.name for p in FILES}
    assert {"pabulib", "synthetic", "malformed"} <= kinds


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_same_reading_on_every_file(path, threshold):
    assert_same_reading(path)


# ---------------------------------------------------------------------------
# Seeded mutations of the small files
# ---------------------------------------------------------------------------

_SNIPPETS = [";", ",", '"', '""', " ", "\t", "", "x", "0", "-1", "1.5", "none", "META", "votes", "r1", "q1", "p1",
             "v1", "1e3", "1,000", "\u00a0"]


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        op = rng.randrange(8)
        line = lines[i]
        if op == 0:  # blank or blank-looking line
            lines.insert(i, rng.choice(["", "  ", "\t"]))
        elif op == 1:  # repeat a line (repeated ids, sections)
            lines.insert(i, line)
        elif op == 2:  # delete a line
            del lines[i]
        elif op == 3 and line:  # delete one character
            k = rng.randrange(len(line))
            lines[i] = line[:k] + line[k + 1:]
        elif op == 4:  # insert a snippet
            k = rng.randint(0, len(line))
            lines[i] = line[:k] + rng.choice(_SNIPPETS) + line[k:]
        elif op == 5:  # blanks around the fields
            lines[i] = " ; ".join(f" {f}\t" for f in line.split(";"))
        elif op == 6:  # blanks around the items of a list
            lines[i] = line.replace(",", " , ")
        else:  # replace a field
            fields = line.split(";")
            fields[rng.randrange(len(fields))] = rng.choice(_SNIPPETS)
            lines[i] = ";".join(fields)
        if not lines:
            lines = [""]
    sep = "\r\n" if rng.random() < 0.1 else "\n"
    return sep.join(lines)


SMALL = [p for p in FILES if p.stat().st_size < 20_000 and "malformed" not in p.parts and p.name != "not_utf8.pb"]


@pytest.mark.parametrize("seed", range(8))
def test_same_reading_on_mutated_files(seed, threshold, tmp_path):
    rng = random.Random(seed)
    for n in range(60):
        base = rng.choice(SMALL)
        text = base.read_text(encoding="utf-8-sig")
        path = tmp_path / f"m{seed}_{n}.pb"
        path.write_text(_mutate(text, rng), encoding="utf-8")
        assert_same_reading(path)


def test_same_reading_when_problems_exceed_the_cap(tmp_path, threshold):
    rows = "\n".join(f"v{i};nope{i}" for i in range(300))
    path = tmp_path / "many.pb"
    path.write_text("META\nkey;value\nbudget;10\nvote_type;approval\nPROJECTS\nproject_id;cost\np1;5\n"
                    f"VOTES\nvoter_id;vote\n{rows}\n", encoding="utf-8")
    assert_same_reading(path)
    with pytest.raises(InputError) as info:
        read_pabulib(path)
    assert info.value.problems[-1].code == "truncated"


def test_same_reading_with_decimal_points_and_ordinal_positions(tmp_path, threshold):
    path = tmp_path / "points.pb"
    path.write_text("META\nkey;value\nbudget;10\nvote_type;scoring\nPROJECTS\nproject_id;cost;score\n"
                    "a;5;3.50\nb;5;-1\nc;1;0\nVOTES\nvoter_id;vote;points\n1;a,b;1.5,-1\n2;a;2.00\n3;;\n4;c;+0\n",
                    encoding="utf-8")
    assert_same_reading(path)
    inst = read_pabulib(path)
    assert repr(inst.scores["a"]) == "Decimal('3.50')"
    path = tmp_path / "ordinal.pb"
    path.write_text("META\nkey;value\nbudget;10\nvote_type;ordinal\nPROJECTS\nproject_id;cost;score\n"
                    "a;5;4\nb;5;2\nc;1;3\nVOTES\nvoter_id;vote\n1;a,b,c\n2;c,a\n", encoding="utf-8")
    assert_same_reading(path)
    assert read_pabulib(path).scores == {"a": 2, "b": 1, "c": 2}


def test_blank_characters_are_those_strip_removes():
    blanks = {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()} - {"\n"}
    assert set(pabulib._BLANKS) == blanks
    assert all(pabulib._BLANK_RE.fullmatch(c) for c in blanks)
