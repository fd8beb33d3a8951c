"""Conflicts of interest (issue 13, item 1): declarations read with French errors; a review under a declared
conflict is removed before scoring (raw mean and per-reviewer z-scores recomputed here by hand), from the
Bayesian model's votes and from the minimum number of reviews; a member's own weights are not used on an
application they are conflicted on; ``verify`` shows what a declaration added afterwards changes."""

from __future__ import annotations

import re
import json
import math
import shutil

import pytest

from helpers import DATA, RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS, SCORE_COLUMNS, app_row, write_applications, write_csv, write_reviews

from ditp_model.cli import main
from ditp_model.inputs.conflicts import load_inputs_with_conflicts, read_conflicts
from ditp_model.inputs.schema import InputError
from ditp_model.rules.allocation import AllocationParams, allocate
from ditp_model.scoring.aggregate import Weights
from ditp_model.scoring.pipeline import evaluate

DECL_HEADER = ["person_id", "application_id", "nature", "role", "declared_on"]

#: Reviews of the hand case: (application, reviewer, reform, replicability, codesign, methods).
#: Every reviewer scores at least three applications, so that the z-score correction applies to all.
REVIEWS = [
    ("A01", "R1", 4, 4, 3, 3), ("A01", "R2", 2, 4, 5, 3), ("A01", "R3", 5, 5, 5, 5),
    ("A02", "R1", 3, 3, 3, 3), ("A02", "R2", 4, 2, 4, 2), ("A02", "R3", 2, 3, 4, 5),
    ("A03", "R1", 1, 2, 2, 1), ("A03", "R2", 3, 3, 2, 4), ("A03", "R3", 4, 1, 3, 2),
    ("A04", "R1", 5, 4, 4, 5), ("A04", "R2", 1, 1, 2, 2), ("A04", "R3", 3, 4, 4, 4),
]


def _call(tmp_path, *, normalisation: str, min_reviews: int = 2):
    text = RULES_PATH.read_text(encoding="utf-8")
    text, n = re.subn(r'^normalisation = "[a-z_]+"', f'normalisation = "{normalisation}"', text, flags=re.M)
    assert n == 1  # the shipped call names its normalisation on one line
    text = text.replace("min_reviews = 2 ", f"min_reviews = {min_reviews} ")
    path = tmp_path / f"appel_{normalisation}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _files(tmp_path, normalisation="raw_mean", declarations=(("R3", "A01", "Co-auteur du porteur", "", ""),), min_reviews=2):
    call = _call(tmp_path, normalisation=normalisation, min_reviews=min_reviews)
    apps = write_applications(tmp_path / "candidatures.csv", [app_row(a) for a in ("A01", "A02", "A03", "A04")])
    revs = write_reviews(tmp_path / "evaluations.csv", REVIEWS)
    decl = write_csv(tmp_path / "conflits.csv", DECL_HEADER, [list(d) for d in declarations])
    return call, apps, revs, decl


W = Weights.of(impact=0.5, openness=0.3, collective=0.2)


def test_conflicted_review_removed_raw_mean_by_hand(tmp_path):
    call, apps, revs, decl = _files(tmp_path)
    before = evaluate(load_inputs_with_conflicts(call, apps, revs), W).table.set_index("application_id")
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs, decl), W)
    after = ev.table.set_index("application_id")
    # By hand.  Every applicant is a ministry alone in one region: collective index 0.
    # With R3: reform 11/3, replicability 13/3 -> impact 4/5; codesign 13/3, methods 11/3 -> openness 4/5;
    #          composite 100 × (0,5 × 0,8 + 0,3 × 0,8) = 64.
    # Without R3 (mean of R1 and R2): reform 3, replicability 4 -> 3,5/5 = 0,7; codesign 4, methods 3 -> 0,7;
    #          composite 100 × (0,5 × 0,7 + 0,3 × 0,7) = 56.
    assert before.at["A01", "score"] == pytest.approx(64.0, abs=1e-9)
    assert after.at["A01", "score"] == pytest.approx(56.0, abs=1e-9)
    assert int(after.at["A01", "n_reviews"]) == 2
    # The other applications keep their raw means.
    for a in ("A02", "A03", "A04"):
        assert after.at[a, "score"] == before.at[a, "score"]
    ex = ev.excluded_reviews
    assert list(zip(ex["application_id"], ex["reviewer_id"], ex["nature"])) == [("A01", "R3", "Co-auteur du porteur")]
    assert int(ex["review_row"].iloc[0]) == 4  # header = row 1; A01/R3 is the third review
    assert len(ev.reviews) == len(REVIEWS) - 1
    assert not ((ev.reviews["application_id"] == "A01") & (ev.reviews["reviewer_id"] == "R3")).any()


def _zscore_by_hand(reviews, lo=0.0, hi=5.0, min_count=3):
    """The per-reviewer z-score correction of the call (docstring of normalise_reviews), in plain Python."""
    out = {(a, r): list(s) for a, r, *s in reviews}
    for k in range(4):
        col = [s[k] for *_, s in ((a, r, s) for (a, r), s in out.items())]
        mu = sum(col) / len(col)
        sigma = math.sqrt(sum((x - mu) ** 2 for x in col) / len(col))
        by_rev: dict[str, list[float]] = {}
        for (a, r), s in out.items():
            by_rev.setdefault(r, []).append(s[k])
        stats = {r: (sum(v) / len(v), math.sqrt(sum((x - sum(v) / len(v)) ** 2 for x in v) / len(v)), len(v))
                 for r, v in by_rev.items()}
        new = {}
        for (a, r), s in out.items():
            m, d, n = stats[r]
            x = s[k]
            if n >= min_count:
                x = mu + sigma * (x - m) / d if d > 0 else x - m + mu
            new[(a, r)] = min(max(x, lo), hi)
        for key, x in new.items():
            out[key][k] = x
    return out


def test_conflicted_review_removed_zscore_by_hand(tmp_path):
    call, apps, revs, decl = _files(tmp_path, normalisation="reviewer_zscore")
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs, decl), W)
    t = ev.table.set_index("application_id")
    kept = [r for r in REVIEWS if (r[0], r[1]) != ("A01", "R3")]
    corrected = _zscore_by_hand(kept)
    for a in ("A01", "A02", "A03", "A04"):
        mine = [s for (aa, _), s in corrected.items() if aa == a]
        means = [sum(s[k] for s in mine) / len(mine) for k in range(4)]
        impact = ((means[0] + means[1]) / 2) / 5
        openness = ((means[2] + means[3]) / 2) / 5
        assert t.at[a, "score"] == pytest.approx(round(100 * (0.5 * impact + 0.3 * openness), 4), abs=1e-9), a
    # The same computation with R3's review of A01 kept gives another score for A01: the exclusion matters.
    with_all = _zscore_by_hand(REVIEWS)
    mine = [s for (aa, _), s in with_all.items() if aa == "A01"]
    means = [sum(s[k] for s in mine) / 3 for k in range(4)]
    full = round(100 * (0.5 * (means[0] + means[1]) / 10 + 0.3 * (means[2] + means[3]) / 10), 4)
    assert abs(full - t.at["A01", "score"]) > 1


def test_conflicted_review_absent_from_bayesian_votes(tmp_path):
    from ditp_model.scoring.review_model import votes_from_reviews

    call, apps, revs, decl = _files(tmp_path)
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs, decl), W)
    v = votes_from_reviews(ev, candidates_only=False).table
    pairs = set(zip(v["proposal"], v["assessor"]))
    assert ("A01", "R3") not in pairs
    assert pairs == {(a, r) for a, r, *_ in REVIEWS} - {("A01", "R3")}
    # The vote of A01 by R1 is its reviewed composite: impact (4+4)/2 = 4 weighted 5/8, openness (3+3)/2 = 3 weighted 3/8.
    y = v[(v["proposal"] == "A01") & (v["assessor"] == "R1")]["y"].iloc[0]
    assert y == pytest.approx(4 * 5 / 8 + 3 * 3 / 8)


def test_exclusion_counts_against_the_minimum_of_reviews(tmp_path):
    call, apps, revs, decl = _files(tmp_path, min_reviews=3)
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs, decl), W)
    t = ev.table.set_index("application_id")
    assert not bool(t.at["A01", "scored"]) and math.isnan(t.at["A01", "score"])
    assert all(bool(t.at[a, "scored"]) for a in ("A02", "A03", "A04"))


def test_declaration_on_an_application_not_reviewed_excludes_nothing(tmp_path):
    call, apps, revs, decl = _files(tmp_path, declarations=[("R1", "A01", "lien", "évaluateur", "")])
    # R1 did review A01: one exclusion; now a declaration by R1 on an application R1 reviewed, plus a member's row.
    rows = [("R1", "A02", "voisin", "", "2021-11-08"), ("M01", "A03", "ancien collègue", "membre", "")]
    decl = write_csv(tmp_path / "c2.csv", DECL_HEADER, [list(r) for r in rows])
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs, decl), W)
    assert list(zip(ev.excluded_reviews["application_id"], ev.excluded_reviews["reviewer_id"])) == [("A02", "R1")]
    assert list(ev.conflicts["role"]) == ["reviewer", "member"]
    assert str(ev.conflicts["declared_on"].iloc[0].date()) == "2021-11-08"


def test_bad_declarations_file_names_file_row_column_value(tmp_path):
    call, apps, revs, _ = _files(tmp_path)
    rows = [["R9", "A01", "lien", "", ""],             # unknown reviewer
            ["R1", "A99", "lien", "", ""],             # unknown application
            ["R2", "A02", "lien", "voisin", ""],       # unknown role
            ["R2", "A03", "", "", ""],                 # no nature
            ["R1", "A04", "lien", "", "31/02/2021"],   # bad date
            ["R1", "A04", "autre", "", ""]]            # declared twice (first one has a bad date, still counted)
    bad = write_csv(tmp_path / "bad.csv", DECL_HEADER, rows)
    with pytest.raises(InputError) as info:
        load_inputs_with_conflicts(call, apps, revs, bad)
    found = {(p.row, p.column, p.value, p.code) for p in info.value.problems}
    assert (2, "person_id", "R9", "unknown_person") in found
    assert (3, "application_id", "A99", "unknown_application") in found
    assert (4, "role", "voisin", "bad_category") in found
    assert (5, "nature", "", "missing_value") in found
    assert (6, "declared_on", "31/02/2021", "bad_date") in found
    assert (7, "person_id", "R1", "duplicate_declaration") in found
    text = str(info.value)
    assert "bad.csv, ligne 2, colonne « person_id » : valeur « R9 » — personne inconnue" in text
    assert "bad.csv, ligne 3, colonne « application_id » : valeur « A99 » — déclaration sur un dossier inconnu" in text


def test_french_headers_and_missing_column(tmp_path):
    call, apps, revs, _ = _files(tmp_path)
    ok = write_csv(tmp_path / "fr.csv", ["Évaluateur", "Dossier", "Nature du lien"], [["R2", "A01", "même service"]], sep=";")
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs, ok), W)
    assert list(ev.excluded_reviews["reviewer_id"]) == ["R2"]
    missing = write_csv(tmp_path / "m.csv", ["person_id", "application_id"], [["R2", "A01"]])
    with pytest.raises(InputError) as info:
        read_conflicts(missing, ["A01"], ["R2"])
    assert [(p.column, p.code) for p in info.value.problems] == [("nature", "missing_column")]


def test_member_weights_not_used_on_conflicted_application(tmp_path):
    from ditp_model.uncertainty.members import member_portfolios

    call, apps, revs, _ = _files(tmp_path)
    # Envelope for one award: the best application is funded.
    text = call.read_text(encoding="utf-8").replace("envelope_eur = 3_000_000", "envelope_eur = 100_000")
    text = text.replace("min_score = 50.0", "min_score = 0.0").replace("min_criterion = { impact = 2.5, openness = 2.5 }",
                                                                       "min_criterion = {}")
    call.write_text(text, encoding="utf-8")
    member = {"M01": Weights.of(impact=0.0, openness=1.0, collective=0.0)}
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs), W)
    t = ev.table.set_index("application_id")
    # Raw means by hand: openness of A01 = (3+3+5+5+5+3)/6 /5 = 4/5 ... of A04 = (4+5+2+2+4+4)/6 /5 = 3,5/5;
    # committee composite: A01 64 (see above), A04: reform 3, replicability 3 -> 0,6; openness 0,7 -> 51.
    assert t.at["A04", "score"] == pytest.approx(51.0)
    base = member_portfolios(ev, member, AllocationParams(), grid_step=0.5)
    assert base.members.loc[0, "funded"] == ("A01",)  # openness: A01 0,8 > every other
    decl = write_csv(tmp_path / "m.csv", DECL_HEADER, [["M01", "A01", "membre du même réseau", "membre", ""]])
    ev_c = evaluate(load_inputs_with_conflicts(call, apps, revs, decl), W)
    res = member_portfolios(ev_c, member, AllocationParams(), grid_step=0.5)
    # A01 keeps the committee's 64 points in M01's view; the others are scored on openness alone (0–100):
    # A02 (3+3+4+2+4+5)/6 = 3,5 -> 70 ; A03 2,33.. -> 46,7 ; A04 3,5 -> 70 ; A02 and A04 tie at 70, A02 first
    # (same submission date, identifier order).  70 > 64: M01's portfolio is A02.
    assert res.members.loc[0, "funded"] == ("A02",)


def test_sample_declarations_read_and_listed():
    inputs = load_inputs_with_conflicts(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS, DATA / "conflits_exemple.csv")
    ev = evaluate(inputs)
    assert len(ev.conflicts) >= 2
    pairs = set(zip(ev.excluded_reviews["application_id"], ev.excluded_reviews["reviewer_id"]))
    reviewed = set(zip(inputs.reviews["application_id"], inputs.reviews["reviewer_id"]))
    declared = {(a, p) for p, a, r in zip(ev.conflicts["person_id"], ev.conflicts["application_id"], ev.conflicts["role"])
                if r == "reviewer"}
    assert pairs == declared & reviewed and pairs
    from ditp_model.outputs.procedure import SECTIONS_FR, procedure_table

    proc = procedure_table(ev)
    conf = proc[proc["rubrique"] == SECTIONS_FR["conflict"]]
    assert len(conf) == len(ev.conflicts)
    assert all("avis écarté" in d for d, a in zip(conf["detail"], conf["application_id"])
               if a in {x for x, _ in pairs})


def _allocate(tmp_path, out, conflicts=None, extra=()):
    args = ["allocate", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews", str(SAMPLE_REVIEWS),
            "--out", str(out), "--provisoire", *extra]
    if conflicts:
        args += ["--conflits", str(conflicts)]
    return main(args)


def test_manifest_records_declarations_and_verify_shows_a_late_declaration(tmp_path, capsys):
    decl = tmp_path / "conflits.csv"
    shutil.copy(DATA / "conflits_exemple.csv", decl)
    out = tmp_path / "r"
    assert _allocate(tmp_path, out, decl) == 0
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["input_files"]["conflicts"]["path"] == str(decl)
    assert len(m["input_files"]["conflicts"]["sha256"]) == 64
    assert {(x["application_id"], x["reviewer_id"]) for x in m["excluded_reviews"]} == {("P027", "R09"), ("P093", "R04")}
    from ditp_model.outputs.record import verify

    assert verify(out / "manifest.json").identical
    # A conflict found afterwards: R02 declares a link with P038 (R02 reviewed it).
    with decl.open("a", encoding="utf-8") as f:
        f.write("R02,P038,Collaboration découverte après la séance,évaluateur,20/11/2021\n")
    v = verify(out / "manifest.json")
    assert not v.identical
    text = v.text_fr()
    assert "entrée modifiée (déclarations de conflits d'intérêts)" in text
    # Independently: the decision with the new declarations, and the changed decisions verify must list.
    ev_new = evaluate(load_inputs_with_conflicts(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS, decl))
    new = allocate(ev_new, AllocationParams()).decisions.set_index("application_id")
    old = {r["application_id"]: r for r in m["decisions"]}
    changed = sorted(a for a in old if bool(old[a]["funded"]) != bool(new["funded"].get(a, False)))
    assert changed, "the late declaration should change the decision on the sample"
    for a in changed:
        assert any(d.kind == "décision" and d.message.startswith(f"{a} :") for d in v.differences), a
    new_p038 = ev_new.table.set_index("application_id").at["P038", "score"]
    assert any(d.kind == "notes" and d.message.startswith("note de P038") and f"{new_p038:.2f}".replace(".", ",") in d.message
               for d in v.differences)


def test_verify_with_declarations_given_afterwards(tmp_path, capsys):
    out = tmp_path / "r"
    assert _allocate(tmp_path, out) == 0
    code = main(["verify", str(out / "manifest.json"), "--conflits", str(DATA / "conflits_exemple.csv")])
    text = capsys.readouterr().out
    assert code == 1
    assert "déclarations de conflits d'intérêts lues dans" in text and "absentes du manifeste" in text
    assert "note de P027" in text and "note de P093" in text


def test_score_command_reports_bad_declarations_in_french(tmp_path, capsys):
    bad = write_csv(tmp_path / "bad.csv", DECL_HEADER, [["R99", "P001", "lien", "", ""]])
    code = main(["score", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews",
                 str(SAMPLE_REVIEWS), "--conflits", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.csv, ligne 2, colonne « person_id » : valeur « R99 »" in err
    assert not (tmp_path / "o" / "scores.csv").exists()


def test_procedure_lines_in_french(tmp_path):
    from ditp_model.outputs.procedure import procedure_lines_fr, procedure_table

    call, apps, revs, decl = _files(tmp_path)
    ev = evaluate(load_inputs_with_conflicts(call, apps, revs, decl), W)
    params = AllocationParams(lock_out=frozenset({"A02"}), lock_reasons={"A02": "Projet déjà financé"})
    alloc = allocate(ev, params)
    lines = procedure_lines_fr(procedure_table(ev, alloc))
    assert lines == [
        "Conflits d'intérêts déclarés (1) :",
        "  - A01 : évaluateur R3 : avis écarté (ligne 4 du fichier des évaluations), compté comme manquant — lien déclaré : "
        "Co-auteur du porteur",
        "Verrous du comité (1) :",
        "  - A02 : exclu par le comité : non financé — motif : Projet déjà financé",
    ]
    pseud = procedure_table(ev, alloc, pseudonyms={"R3": "R07"})
    assert list(pseud["personne"])[:1] == ["R07"] and "évaluateur R07" in pseud["detail"].iloc[0]
