"""Held, not rejected (issue 13, item 2): an eligible application with too few valid reviews is « en attente
d'évaluation » with the reviews it still needs; the decision is provisional when one of them, scored at the
scale's maximum on its missing reviews, would be funded by the same rule — computed here by hand."""

from __future__ import annotations

import json
import re

import pytest

from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS, app_row, write_applications, write_reviews

from ditp_model.inputs.tables import read_output_csv
from ditp_model.cli import main
from ditp_model.inputs.call import load_call_rules
from ditp_model.inputs.conflicts import load_inputs_with_conflicts
from ditp_model.rules.allocation import AllocationParams, allocate, ranking_rule
from ditp_model.rules.held import HELD_STATUS_FR, best_case_score, held_applications, is_provisional, provisional_status
from ditp_model.rules.manifest import decision_table
from ditp_model.scoring.pipeline import evaluate


def _case(tmp_path, *, with_near: bool = True, with_far: bool = True, normalisation: str = "raw_mean"):
    """Envelope 200 000 € (two awards of 100 000 €), at least 3 reviews; weights 0,5 / 0,3 / 0,2, collective index 0.

    A01: three reviews at 5 everywhere -> 80 points; A02 at 4 -> 64; A03 at 3 -> 48 (below the 50-point threshold).
    H1 (near the line): two reviews at 4 -> held; best case (4, 4, 5) -> 13/3 on every sub-criterion ->
    100 × 0,8 × 13/15 = 69,3333 points > 64: it would take A02's place -> provisional.
    H2 (far): two reviews at 0 -> held; best case (0, 0, 5) -> 5/3 -> 26,6667 points, below every threshold.
    """
    text = RULES_PATH.read_text(encoding="utf-8")
    text = text.replace("envelope_eur = 3_000_000", "envelope_eur = 200_000").replace("min_reviews = 2 ", "min_reviews = 3 ")
    text, n = re.subn(r'^normalisation = "[a-z_]+"', f'normalisation = "{normalisation}"', text, flags=re.M)
    assert n == 1  # the shipped call names its normalisation on one line
    call = tmp_path / "appel.toml"
    call.write_text(text, encoding="utf-8")
    ids = ["A01", "A02", "A03"] + (["H1"] if with_near else []) + (["H2"] if with_far else [])
    apps = write_applications(tmp_path / "candidatures.csv", [app_row(a) for a in ids])
    rows = []
    for a, g in (("A01", 5), ("A02", 4), ("A03", 3)):
        rows += [(a, r, g, g, g, g) for r in ("R1", "R2", "R3")]
    if with_near:
        rows += [("H1", r, 4, 4, 4, 4) for r in ("R1", "R2")]
    if with_far:
        rows += [("H2", r, 0, 0, 0, 0) for r in ("R1", "R2")]
    revs = write_reviews(tmp_path / "evaluations.csv", rows)
    return call, apps, revs


def _ev(tmp_path, **kw):
    call, apps, revs = _case(tmp_path, **kw)
    return evaluate(load_inputs_with_conflicts(call, apps, revs))


def test_held_applications_and_reviews_missing(tmp_path):
    ev = _ev(tmp_path)
    held = held_applications(ev)
    assert list(held["application_id"]) == ["H1", "H2"]
    assert list(held["n_reviews"]) == [2, 2] and list(held["reviews_missing"]) == [1, 1]
    t = ev.table.set_index("application_id")
    assert t.at["A01", "score"] == pytest.approx(80.0) and t.at["A02", "score"] == pytest.approx(64.0)


def test_best_case_score_by_hand(tmp_path):
    ev = _ev(tmp_path)
    assert best_case_score(ev, "H1") == pytest.approx(round(100 * 0.8 * 13 / 15, 4), abs=1e-9)
    assert best_case_score(ev, "H2") == pytest.approx(round(100 * 0.8 * 5 / 15, 4), abs=1e-9)


def test_near_the_line_makes_the_decision_provisional(tmp_path):
    ev = _ev(tmp_path, with_far=False)
    alloc = allocate(ev, AllocationParams())
    assert alloc.funded_ids == ["A01", "A02"]          # the decision as it stands
    p = provisional_status(ev, AllocationParams())
    assert p.is_provisional and p.within_reach == ["H1"]
    assert is_provisional(ev)
    assert "DÉCISION PROVISOIRE" in p.lines_fr()[0]


def test_far_below_does_not(tmp_path):
    ev = _ev(tmp_path, with_near=False)
    p = provisional_status(ev, AllocationParams())
    assert list(p.held["application_id"]) == ["H2"]
    assert not p.is_provisional and p.within_reach == []
    assert "n'est pas provisoire" in p.lines_fr()[0]


def test_a_larger_envelope_or_a_lock_out_changes_reach(tmp_path):
    ev = _ev(tmp_path, with_far=False)
    # Envelope for three awards: A01, A02 and H1 (at its best) all fit -> H1 still within reach.
    assert is_provisional(ev, AllocationParams(envelope_eur=300_000))
    # Envelope for one award: A01 (80) beats H1's best case (69,33) -> H1 cannot enter.
    assert not is_provisional(ev, AllocationParams(envelope_eur=100_000))
    # Excluded by the committee: never within reach.
    assert not is_provisional(ev, AllocationParams(lock_out=frozenset({"H1"})))


@pytest.mark.parametrize("openness, provisional", [("3.25", False), ("3", True)])
def test_best_case_against_the_last_laureate(tmp_path, openness, provisional):
    """A02 at impact 5/5 and openness o: 100 × (0,5 + 0,3 × o/5) = 50 + 6·o points.

    o = 3,25 -> 69,5 points, above H1's best case 69,3333: H1 could not take its place -> final decision.
    o = 3 -> 68 points, below 69,3333: H1 at its best would be funded instead -> provisional.
    """
    call, apps, revs = _case(tmp_path, with_far=False)
    rows = [r.split(",") for r in revs.read_text(encoding="utf-8").splitlines()[1:]]
    rows = [r if r[0] != "A02" else [r[0], r[1], "5", "5", openness, openness] for r in rows]
    write_reviews(revs, [tuple(r) for r in rows])
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs))
    assert ev.table.set_index("application_id").at["A02", "score"] == pytest.approx(50 + 6 * float(openness))
    assert is_provisional(ev) is provisional


def test_zscore_best_case_uses_the_corrected_present_reviews(tmp_path):
    ev = _ev(tmp_path, normalisation="reviewer_zscore")
    from ditp_model.scoring.aggregate import normalise_reviews

    r = normalise_reviews(ev.reviews, ev.rules)
    mine = r[r["application_id"] == "H1"]
    subs = [(float(mine[c].sum()) + 5.0) / 3 for c in ev.rules.review_columns]
    expected = round(100 * (0.5 * (subs[0] + subs[1]) / 10 + 0.3 * (subs[2] + subs[3]) / 10), 4)
    assert best_case_score(ev, "H1") == pytest.approx(expected, abs=1e-9)



def test_effects_best_case_uses_the_corrected_present_reviews(tmp_path):
    """Reviewer R1 grades every application one point below R2 and R3: an exact additive fit.

    By hand: leniencies summing to zero (the model's convention) are R1 −2/3, R2 +1/3, R3 +1/3; H1's present
    reviews (R1: 3, R2: 4) both become 11/3 once the leniency is removed; with one missing review at 5, every
    sub-criterion mean is (11/3 + 11/3 + 5) / 3 = 37/9, so the best case is 100 × 0,8 × 37/45 = 65,7778 points
    (the raw grades, 3 and 4, would give 100 × 0,8 × 12/15 = 64 points).
    """
    call, apps, revs = _case(tmp_path, with_far=False, normalisation="reviewer_effects")
    lines = revs.read_text(encoding="utf-8").splitlines()[1:]
    rows = [r.split(",") for r in lines]
    rows = [r if r[1] != "R1" else r[:2] + [str(int(g) - 1) for g in r[2:]] for r in rows]
    write_reviews(revs, [tuple(r) for r in rows])
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs))
    assert ev.normalisation == "reviewer_effects"
    assert best_case_score(ev, "H1") == pytest.approx(round(100 * 0.8 * 37 / 45, 4), abs=1e-9)

def test_decision_table_columns(tmp_path):
    ev = _ev(tmp_path)
    alloc = allocate(ev, AllocationParams())
    table = decision_table(ev, alloc, ranking_rule(ev, AllocationParams()), None).set_index("application_id")
    assert table.at["H1", "review_status"] == HELD_STATUS_FR and int(table.at["H1", "reviews_missing"]) == 1
    assert table.at["A01", "review_status"] == "" and int(table.at["A01", "reviews_missing"]) == 0
    cols = list(table.reset_index().columns)
    assert cols.index("review_status") == cols.index("n_reviews") + 1


def test_sample_p047_and_p072_are_held_not_rejected():
    ev = evaluate(load_inputs_with_conflicts(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS))
    held = held_applications(ev).set_index("application_id")
    need = load_call_rules(RULES_PATH).scoring.min_reviews
    assert sorted(held.index) == ["P047", "P072"]
    assert int(held.at["P047", "reviews_missing"]) == need - 0
    assert int(held.at["P072", "reviews_missing"]) == need - 1


def _cli(tmp_path, out, *extra, **case):
    call, apps, revs = _case(tmp_path, **case)
    return main(["allocate", "--call", str(call), "--applications", str(apps), "--reviews", str(revs),
                 "--out", str(out), *extra])


def test_cli_refuses_a_provisional_decision_without_provisoire(tmp_path, capsys):
    out = tmp_path / "r"
    code = _cli(tmp_path, out, with_far=False)
    err = capsys.readouterr().err
    assert code == 6
    assert "Aucune décision publiée : la décision serait provisoire." in err
    assert "H1 : en attente d'évaluation, 2 avis valables sur 3 requis (il en manque 1) ; note au mieux 69,33" in err
    assert "--provisoire" in err
    assert not out.exists()


def test_cli_publishes_a_provisional_decision_with_provisoire(tmp_path, capsys):
    out = tmp_path / "r"
    assert _cli(tmp_path, out, "--provisoire") == 0
    assert "DÉCISION PROVISOIRE" in capsys.readouterr().out
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["provisional"] is True
    assert [(h["application_id"], h["reviews_missing"], h["within_reach"]) for h in m["held"]] == [("H1", 1, True), ("H2", 1, False)]


def test_cli_final_decision_with_a_held_application_far_below(tmp_path, capsys):
    out = tmp_path / "r"
    assert _cli(tmp_path, out, with_near=False) == 0
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["provisional"] is False and [h["application_id"] for h in m["held"]] == ["H2"]
    import pandas as pd

    t = read_output_csv(out / "allocation.csv").set_index("application_id")
    assert t.at["H2", "review_status"] == HELD_STATUS_FR and int(t.at["H2", "reviews_missing"]) == 1


def test_min_reviews_defaults_to_three(tmp_path):
    """Without the key, a call needs three valid reviews (Horizon Europe, ERA-NET practice)."""
    lines = [ln for ln in RULES_PATH.read_text(encoding="utf-8").splitlines() if not ln.startswith("min_reviews")]
    path = tmp_path / "appel.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert load_call_rules(path).scoring.min_reviews == 3
    assert load_call_rules(RULES_PATH).scoring.min_reviews == 2   # the sample's HYPOTHÈSE, written in the file


def test_the_applicants_near_the_line_are_told_who_would_leave():
    # The sample's envelope is spent to within 290 € (README): a held application entering at its best case can only
    # be funded if laureates leave.  The lines name them (current laureates only), computed without an extra solve.
    import csv

    from ditp_model.inputs.io import load_inputs
    from ditp_model.rules.allocation import allocate
    from ditp_model.rules.held import provisional_status
    from ditp_model.scoring.pipeline import evaluate
    from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

    ev = evaluate(load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS))
    alloc = allocate(ev)
    left = 3_000_000 - alloc.total_awarded_eur
    with open(SAMPLE_APPLICATIONS, encoding="utf-8-sig", newline="") as fh:
        requested = {r["application_id"]: int(r["requested_eur"]) for r in csv.DictReader(fh)}
    prov = provisional_status(ev, funded_ids=alloc.funded_ids)
    lines = prov.lines_fr()
    assert "des lauréats actuels en sortiraient" in lines[0]
    for r in prov.held.itertuples():
        if not r.within_reach:
            continue
        assert min(requested[r.application_id], 70_000) > left  # it cannot fit beside the laureates
        assert r.displaces and set(r.displaces) <= set(alloc.funded_ids)
        line = next(x for x in lines if x.startswith(f"  - {r.application_id} "))
        assert line.endswith("la décision ne financerait plus alors " + ", ".join(r.displaces))
    # without the decision, nothing is claimed about who would leave
    assert "en sortiraient" not in provisional_status(ev).lines_fr()[0]
