"""Feedback letters to applicants, on a hand-solved case.

Six applications, lone ministries in Île-de-France (collective index 0), raw mean of the reviews, envelope
150 000 €, objective "sum of scores", scale 0–5, weights 0.5 / 0.3 / 0.2:

=====  ========  ===========  =========  =========================================
id     request   reviews      score      outcome
=====  ========  ===========  =========  =========================================
A01    120 000   all 5        80         best score, too dear: not funded
A02     70 000   all 4        64         funded
A03     70 000   all 3.5      56         funded
A04     70 000   all 5        —          private company: not eligible
A05     70 000   one review   —          unranked (2 reviews required)
A06     75 000   all 2        32         not funded
=====  ========  ===========  =========  =========================================

Optimum {A02, A03} = 120 points (140 000 €).  Entry gaps by enumeration in the test: A01 forced in can only be
alone (80) -> gap 40; A06 forced in goes with A02 (96) -> gap 24.
"""

from __future__ import annotations

import csv
import io
import itertools

import pytest

from ditp_model import report
from ditp_model.feedback import feedback_files, feedback_table, safe_filename
from helpers import RULES_PATH, app_row, write_applications, write_reviews

SCORES = {"A01": 5, "A02": 4, "A03": 3.5, "A04": 5, "A06": 2}
REQUEST = {"A01": 120_000, "A02": 70_000, "A03": 70_000, "A04": 70_000, "A05": 70_000, "A06": 75_000}
TITLES = {"A02": "<script>alert(1)</script> *gras*", "A03": '=HYPERLINK("http://x")'}


def _run(tmp, **kw):
    apps = []
    for aid, req in REQUEST.items():
        extra = {"lead_org_type": "private_company", "lead_org": "Cabinet & Associés"} if aid == "A04" else {}
        apps.append(app_row(aid, requested_eur=req, expense_services_eur=req, title=TITLES.get(aid, f"Projet {aid}"), **extra))
    reviews = [(aid, r, s, s, s, s) for aid, s in SCORES.items() for r in ("R1", "R2")] + [("A05", "R1", 4, 4, 4, 4)]
    write_applications(tmp / "apps.csv", apps)
    write_reviews(tmp / "revs.csv", reviews)
    params = report.validate_parameters(call=str(RULES_PATH), applications=str(tmp / "apps.csv"), reviews=str(tmp / "revs.csv"),
                                        envelope_eur=150_000, normalisation="raw_mean", **kw)
    return report.run_report(params)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("feedback"))


@pytest.fixture(scope="module")
def letters(run):
    return feedback_table(run.table, run.rules, envelope_eur=150_000).set_index("application_id")


def _brute_force_gap(aid: str) -> float:
    """Optimum minus the best portfolio containing `aid`, by enumeration over the ranked candidates."""
    score = {a: 0.5 * s / 5 * 100 + 0.3 * s / 5 * 100 for a, s in SCORES.items() if a != "A04"}
    best = best_with = 0.0
    for n in range(len(score) + 1):
        for combo in itertools.combinations(score, n):
            if sum(REQUEST[a] for a in combo) <= 150_000:
                v = sum(score[a] for a in combo)
                best = max(best, v)
                if aid in combo:
                    best_with = max(best_with, v)
    return best - best_with


def test_decisions_and_awards(letters):
    assert dict(letters["decision"]) == {"A01": "non retenu", "A02": "retenu", "A03": "retenu", "A04": "non recevable",
                                         "A05": "non classé", "A06": "non retenu"}
    assert dict(letters["montant_attribue_eur"]) == {"A01": 0, "A02": 70_000, "A03": 70_000, "A04": 0, "A05": 0, "A06": 0}
    assert "**Décision : retenu — montant attribué : 70\u202f000\u00a0€**" in letters.at["A02", "lettre"]


def test_entry_gaps_match_enumeration_and_are_explained(run, letters):
    t = run.table.set_index("application_id")
    for aid, gap in (("A01", 40.0), ("A06", 24.0)):
        assert _brute_force_gap(aid) == pytest.approx(gap)
        assert t.at[aid, "entry_gap"] == pytest.approx(gap)
        text = letters.at[aid, "lettre"]
        assert f"Écart d'entrée : {gap:.2f}".replace(".", ",") + " points" in text
        assert "il aurait fallu une note globale supérieure" in text
    # A01 has the best score but is dear: the letter says why a better-scored application can lose its place.
    assert "Classement par note : 1er sur 4 dossiers éligibles notés." in letters.at["A01", "lettre"]
    assert "un dossier bien noté mais dont la demande est élevée (120\u202f000\u00a0€)" in letters.at["A01", "lettre"]
    assert "bien noté" not in letters.at["A06", "lettre"]


def test_scores_against_funded_median(letters):
    # Funded: A02 (impact 80 %, score 64) and A03 (impact 70 %, score 56) -> medians 75 % and 60 points.
    text = letters.at["A01", "lettre"]
    assert "| Impact | 100,0 / 100 | 75,0 / 100 |" in text
    assert "| Ouverture | 100,0 / 100 | 75,0 / 100 |" in text
    assert "| Candidature collective | 0,0 / 100 | 0,0 / 100 |" in text
    assert "| **Note globale** | **80,00 / 100** | **60,00 / 100** |" in text


def test_ineligible_and_unranked(letters):
    inel = letters.at["A04", "lettre"]
    assert "**Décision : non recevable.**" in inel and "entreprise privée" in inel
    assert "Médiane" not in inel and "Cabinet & Associés" in inel
    assert "n'a pas pu être classé" in letters.at["A05", "lettre"] and "avis insuffisants" in letters.at["A05", "lettre"]


def test_applicant_text_is_inert(run, letters):
    text = letters.at["A02", "lettre"]
    assert "<script>" not in text and r"\<script\>alert(1)\</script\> \*gras\*" in text
    files = feedback_files(run.table, run.rules)
    rows = list(csv.DictReader(io.StringIO(files["retours_candidats.csv"].decode("utf-8"))))
    a03 = next(r for r in rows if r["application_id"] == "A03")
    assert a03["intitule"] == "'=HYPERLINK(\"http://x\")"
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())
    assert sorted(files) == ["retours/A01.md", "retours/A02.md", "retours/A03.md", "retours/A04.md", "retours/A05.md",
                             "retours/A06.md", "retours_candidats.csv"]


def test_file_names_cannot_escape_the_folder(run):
    for bad in ("../../etc/passwd", "/abs/x", ".cache", "a b\\c"):
        name = safe_filename(bad)
        assert "/" not in name and "\\" not in name and not name.startswith(".")
    t = run.table.copy()
    t["application_id"] = ["A/1", "A_1", "../A01", "A04", "A05", "A06"]
    names = sorted(n for n in feedback_files(t, run.rules) if n.startswith("retours/"))
    assert names == ["retours/A04.md", "retours/A05.md", "retours/A06.md", "retours/A_1.md", "retours/A_1_2.md",
                     "retours/_A01.md"]


def test_without_gaps_and_with_score_weighted_award(tmp_path):
    no_gaps = _run(tmp_path, gaps=False)
    fb = feedback_table(no_gaps.table, no_gaps.rules, gaps_computed=False).set_index("application_id")
    assert "Écart d'entrée : non calculé pour ce rapport." in fb.at["A06", "lettre"]
    weighted = _run(tmp_path, objective="score_weighted_award")
    t = weighted.table.set_index("application_id")
    fb = feedback_table(weighted.table, weighted.rules, objective="score_weighted_award").set_index("application_id")
    for aid in t.index[t["rank"].notna() & ~t["funded"]]:
        need = t.at[aid, "entry_gap"] / t.at[aid, "award_cap_eur"]  # points × € per euro of award: points
        assert f"Écart d'entrée : {need:.2f}".replace(".", ",") + " points" in fb.at[aid, "lettre"]
        assert "bien noté" not in fb.at[aid, "lettre"]
