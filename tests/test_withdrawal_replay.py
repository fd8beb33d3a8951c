"""A withdrawal or a reduction replays the decision exactly as it was recorded (issue 13 item 4, new-user trial).

The decision is made on the sample with the declarations of conflicts of interest and a committee
lock with its reason (``allocate --conflits … --lock-in P045="…" --provisoire``); ``desistement`` and
``reduction`` must start from that decision — the conflicted reviews still excluded, the lock still
applied — so that only the withdrawn (or reduced) application and the reserve applications it funds
change, and ``verify`` says « identique ».  Expected values are derived from the data and from the
published decision (an independent enumeration over the reserve list: ``brute_reserve``), never
copied from today's output.  Also: a reduction below the call's floor is refused; the workbook and
the applicant feedback are rebuilt with the update; a report left in the folder is said, recorded
and verified to describe the decision before the update.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from allocation_cases import Project, units
from test_withdrawal import brute_reserve
from ditp_model.cli import main
from ditp_model.french import format_eur
from ditp_model.inputs.tables import read_output_csv
from ditp_model.outputs.record import GENESIS, journal_anchor_html, publish, verify

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
LOCKED, REASON = "P045", "Seul projet ultramarin"
CONFLICTED = "P027"  # R09's review of P027 is declared conflicted in data/conflits_exemple.csv



def _call() -> dict:
    with open(DATA / "appel_2021.toml", "rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    out = tmp_path_factory.mktemp("conflits") / "decision"
    assert main(["allocate", "--call", str(DATA / "appel_2021.toml"), "--applications", str(DATA / "candidatures_exemple.csv"),
                 "--reviews", str(DATA / "evaluations_exemple.csv"), "--weights", "impact=0.5,openness=0.3,collective=0.2",
                 "--conflits", str(DATA / "conflits_exemple.csv"), "--lock-in", f"{LOCKED}={REASON}", "--provisoire",
                 "--no-gaps", "--out", str(out)]) == 0
    return out


@pytest.fixture
def folder(published, tmp_path):
    out = tmp_path / "decision"
    shutil.copytree(published, out)
    return out


def _rows(folder: Path) -> pd.DataFrame:
    return read_output_csv(folder / "allocation.csv").set_index("application_id", drop=False)


def _awards(t: pd.DataFrame) -> dict:
    return {a: int(w) for a, f, w in zip(t["application_id"], t["funded"], t["award_eur"]) if f}


def _expected_from_reserve(before: pd.DataFrame, kept: dict) -> dict:
    """The reserve applications the call's rule funds once `kept` are the laureates (enumeration, no package code)."""
    call = _call()
    reserve = before[before["list"] == "reserve"].sort_values("reserve_rank")
    waiting = list(reserve["application_id"])
    projects = [Project(a, float(before.at[a, "score"]), int(before.at[a, "award_cap_eur"])) for a in waiting]
    u = {a: int(before.at[a, "award_cap_eur"]) for a in waiting}
    band = float(call["selection"]["tie_band_points"])
    return brute_reserve(projects, int(call["funding"]["envelope_eur"]), units(band), kept, waiting, u)


def _check_conflicts_and_lock_kept(before: pd.DataFrame, after: pd.DataFrame, manifest: dict) -> None:
    reviews = pd.read_csv(DATA / "evaluations_exemple.csv")
    declared = pd.read_csv(DATA / "conflits_exemple.csv")
    conflicted = declared[(declared["application_id"] == CONFLICTED) & (declared["role"] == "évaluateur")]
    n_all = int((reviews["application_id"] == CONFLICTED).sum())
    # the conflicted review stays excluded: one review fewer than in the file, same score as in the decision
    assert int(after.at[CONFLICTED, "n_reviews"]) == n_all - len(conflicted) == int(before.at[CONFLICTED, "n_reviews"])
    assert float(after.at[CONFLICTED, "score"]) == float(before.at[CONFLICTED, "score"])
    # the lock stays, with its reason
    assert bool(after.at[LOCKED, "funded"]) and int(after.at[LOCKED, "award_eur"]) == int(before.at[LOCKED, "award_eur"])
    assert manifest["parameters"]["lock_reasons"] == {LOCKED: REASON}
    assert manifest["input_files"]["conflicts"]["sha256"]


def _unchanged_except(before: pd.DataFrame, after: pd.DataFrame, changed: set) -> None:
    """Every other row of allocation.csv is the same, column by column (explanations of the selection included)."""
    assert list(before["application_id"]) == list(after["application_id"])
    others = [a for a in before["application_id"] if a not in changed]
    assert set(before.columns) <= set(after.columns)
    pd.testing.assert_frame_equal(before.loc[others, list(before.columns)], after.loc[others, list(before.columns)],
                                  check_dtype=False)
    assert set(after.loc[others, "change"].fillna("")) == {""}
    # the rows that changed no longer carry the selection's turn-by-turn explanation
    for a in changed:
        assert pd.isna(after.at[a, "reason"]) or after.at[a, "reason"] == ""
        assert pd.isna(after.at[a, "score_needed"])


def test_withdrawal_keeps_conflicts_and_locks_and_changes_only_the_reserve(folder, capsys):
    before = _rows(folder)
    awards = _awards(before)
    # the best-ranked laureate that the committee did not lock in withdraws
    gone = min((a for a in awards if a != LOCKED), key=lambda a: int(before.at[a, "rank"]))
    kept = {a: w for a, w in awards.items() if a != gone}
    exp = _expected_from_reserve(before, kept)
    assert exp, "the sample's first laureate frees enough for a reserve application"
    capsys.readouterr()
    assert main(["desistement", "--manifest", str(folder / "manifest.json"), gone, "--motif", "courrier du porteur"]) == 0
    out = capsys.readouterr().out
    after = _rows(folder)
    assert _awards(after) == {**kept, **exp}
    _unchanged_except(before, after, {gone, *exp})
    assert after.at[gone, "list"] == "withdrawn" and not bool(after.at[gone, "funded"])
    for a, w in exp.items():
        assert after.at[a, "change"] == "from_reserve" and int(after.at[a, "award_eur"]) == w
        assert f"{a} (" in out
    funded_before = [a for a in exp if bool(before.at[a, "funded"])]
    assert not funded_before  # nobody already funded is « funded from the reserve list »
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    _check_conflicts_and_lock_kept(before, after, manifest)
    assert "DÉCISION PROVISOIRE" in out  # the decision had applications awaiting reviews within reach
    res = verify(folder / "manifest.json")
    assert res.identical, res.text_fr()


def test_reduction_keeps_conflicts_and_locks_and_changes_only_the_reserve(folder):
    before = _rows(folder)
    awards = _awards(before)
    floor = int(_call()["funding"]["award_floor_eur"])
    # the best-ranked laureate with an award above the floor, not locked, is reduced to the floor
    cut = min((a for a, w in awards.items() if a != LOCKED and w > floor), key=lambda a: int(before.at[a, "rank"]))
    kept = {**awards, cut: floor}
    exp = _expected_from_reserve(before, kept)
    assert main(["reduction", "--manifest", str(folder / "manifest.json"), cut, "--montant", str(floor),
                 "--motif", "revue budgétaire"]) == 0
    after = _rows(folder)
    assert _awards(after) == {**kept, **exp}
    _unchanged_except(before, after, {cut, *exp})
    assert int(after.at[cut, "award_eur"]) == floor and after.at[cut, "change"] == "reduced"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    _check_conflicts_and_lock_kept(before, after, manifest)
    res = verify(folder / "manifest.json")
    assert res.identical, res.text_fr()


def test_reduction_below_the_call_floor_is_refused(folder, capsys):
    floor = int(_call()["funding"]["award_floor_eur"])
    awards = _awards(_rows(folder))
    target = next(a for a, w in awards.items() if w > floor)
    amount = floor - 20_000
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["reduction", "--manifest", str(folder / "manifest.json"), target, "--montant", str(amount),
                 "--motif", "revue budgétaire"]) == 2
    err = capsys.readouterr().err
    assert f"réduction de {target} refusée" in err
    assert format_eur(amount) in err and f"plancher de l'appel ({format_eur(floor)}" in err
    assert "désistement" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == files  # nothing published


def test_a_reduction_to_the_floor_itself_is_accepted(folder):
    floor = int(_call()["funding"]["award_floor_eur"])
    target = next(a for a, w in _awards(_rows(folder)).items() if w > floor)
    assert main(["reduction", "--manifest", str(folder / "manifest.json"), target, "--montant", str(floor),
                 "--motif", "revue budgétaire"]) == 0


def _fake_report(folder: Path, tmp_path: Path) -> Path:
    """A report folder as ``report`` publishes it (sealed in a journal, the anchor printed in ``rapport.html``).

    The page and the PDF are placeholders (running the report takes minutes); the feedback and the
    workbook are those of the decision before the update (copied from it, or old placeholder letters).
    """
    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    journal = tmp_path / "journal" / "decisions.jsonl"
    recorded_at = "2026-01-15T10:00:00+01:00"
    page = ("<html><body><h1>Rapport</h1>" + journal_anchor_html(seq=1, previous=GENESIS, recorded_at=recorded_at,
                                                                   journal_name=journal.name) + "</body></html>")
    ids = list(_rows(folder)["application_id"])
    files = {"allocation.csv": (folder / "allocation.csv").read_bytes(),
             "allocation.xlsx": (folder / "allocation.xlsx").read_bytes(),
             "rapport.html": page.encode("utf-8"), "rapport.pdf": b"%PDF-1.4 ancien rapport",
             "retours_candidats.csv": b"application_id;lettre\n" + "".join(f"{a};ancienne\n" for a in ids).encode(),
             **{f"retours/{a}.md": b"ancienne lettre" for a in ids}}
    report = tmp_path / "rapport"
    publish(report, files, m, journal_path=journal, recorded_at=recorded_at)
    res = verify(report / "manifest.json")
    assert res.identical, res.text_fr()
    return report


def test_update_rebuilds_workbook_and_feedback_and_flags_the_report(folder, tmp_path, capsys):
    import openpyxl

    report = _fake_report(folder, tmp_path)
    before = _rows(report)
    gone = min((a for a in _awards(before) if a != LOCKED), key=lambda a: int(before.at[a, "rank"]))
    capsys.readouterr()
    assert main(["desistement", "--manifest", str(report / "manifest.json"), gone, "--motif", "courrier du porteur"]) == 0
    out = capsys.readouterr().out
    today = dt.datetime.now(dt.timezone.utc).date().strftime("%d/%m/%Y")
    note = f"le rapport décrit la décision avant le désistement n° 1 du {today} ; publier un nouveau rapport (ditp-model report)"
    assert note in out and "rapport.html" in out and "rapport.pdf" in out
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stale_report"]["note_fr"] == note
    assert manifest["stale_report"]["files"] == ["rapport.html", "rapport.pdf"]
    after = _rows(report)
    funded_now = _awards(after)
    # the workbook is the decision in force: its « Décision » sheet gives every application's award
    wb = openpyxl.load_workbook(report / "allocation.xlsx", read_only=True)
    rows = list(wb["Décision"].iter_rows(values_only=True))
    head = list(rows[0])
    i_id, i_award = head.index("Dossier"), head.index("Montant attribué")
    in_book = {r[i_id]: int(r[i_award] or 0) for r in rows[1:] if r[i_id]}
    assert {a: w for a, w in in_book.items() if w} == funded_now
    # the feedback is rebuilt for every application from the decision in force
    fb = read_output_csv(report / "retours_candidats.csv").set_index("application_id")
    assert set(fb.index) == set(after["application_id"])
    assert {a: int(w) for a, w in fb["montant_attribue_eur"].items() if int(w)} == funded_now
    assert (report / "retours" / f"{gone}.md").read_text(encoding="utf-8") != "ancienne lettre"
    # the report is left as it was, and verify says it describes the earlier decision
    assert (report / "rapport.pdf").read_bytes() == b"%PDF-1.4 ancien rapport"
    res = verify(report / "manifest.json")
    assert res.identical, res.text_fr()
    assert note in res.text_fr()
    # a second change keeps the note of the first one (the report describes the decision before both)
    second = min((a for a in funded_now if a != LOCKED), key=lambda a: int(after.at[a, "rank"]))
    assert main(["desistement", "--manifest", str(report / "manifest.json"), second, "--motif", "abandon"]) == 0
    assert note in capsys.readouterr().out
    assert note in verify(report / "manifest.json").text_fr()


def test_update_without_report_has_no_report_note(folder, capsys):
    gone = min((a for a in _awards(_rows(folder)) if a != LOCKED), key=lambda a: int(_rows(folder).at[a, "rank"]))
    capsys.readouterr()
    assert main(["desistement", "--manifest", str(folder / "manifest.json"), gone, "--motif", "renonce"]) == 0
    out = capsys.readouterr().out
    assert "rapport décrit" not in out and "Écrit : " in out and "allocation.xlsx" in out
    assert "stale_report" not in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert not (folder / "retours_candidats.csv").exists()  # allocate publishes no feedback: none is invented


def test_update_into_another_folder_rebuilds_the_feedback_there(folder, tmp_path):
    report = _fake_report(folder, tmp_path)
    gone = min((a for a in _awards(_rows(report)) if a != LOCKED), key=lambda a: int(_rows(report).at[a, "rank"]))
    out = tmp_path / "maj"
    assert main(["desistement", "--manifest", str(report / "manifest.json"), gone, "--motif", "renonce", "--out", str(out)]) == 0
    fb = read_output_csv(out / "retours_candidats.csv").set_index("application_id")
    assert {a: int(w) for a, w in fb["montant_attribue_eur"].items() if int(w)} == _awards(_rows(out))
    assert (out / "retours" / f"{gone}.md").is_file() and (out / "allocation.xlsx").is_file()
    assert "stale_report" not in json.loads((out / "manifest.json").read_text(encoding="utf-8"))  # no report there
    res = verify(out / "manifest.json")
    assert res.identical, res.text_fr()


def test_hand_reduction_floor_bound():
    """Hand case of tests/test_withdrawal.py (A 120 000 € funded): the call's floor is the lowest reduced award allowed."""
    from test_withdrawal import HAND, decide
    from ditp_model.timeline.withdrawal import Change, replay_changes

    ev, alloc, table = decide(HAND, 300_000)
    floor = int(ev.rules.award_floor_eur)
    assert 0 < floor < 120_000
    with pytest.raises(ValueError, match=f"inférieur au plancher de l'appel \\({format_eur(floor)}"):
        replay_changes(ev, alloc, table, [Change("reduction", "A", "revue", floor - 1)])
    new, up = replay_changes(ev, alloc, table, [Change("reduction", "A", "revue", floor)])
    assert up.steps[0].freed_eur == 120_000 - floor
    assert int(new.set_index("application_id").at["A", "award_eur"]) == floor
