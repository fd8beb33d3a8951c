"""Feedback letters to applicants, on hand-solved cases.

Six applications, lone ministries in Île-de-France (collective index 0), raw mean of the reviews, envelope
150 000 €, the call's decision rule (merit order) and quality thresholds (overall 50/100, impact and openness
2,5/5), scale 0–5, weights 0.5 / 0.3 / 0.2 (score = 16 × the review mark):

=====  ========  ===========  =========  ==============================================================
id     request   reviews      score      outcome under the merit order
=====  ========  ===========  =========  ==============================================================
A01    120 000   all 5        80         rank 1: funded (120 000 €)
A02     70 000   all 4        64         rank 2: 30 000 € left at its turn, 70 000 € needed: not funded
A03     70 000   all 3.5      56         rank 3: same, not funded
A04     70 000   all 5        —          private company: not eligible
A05     70 000   one review   —          held: « en attente d'évaluation », 1 review missing (2 required)
A06     75 000   all 2        32         below the thresholds (32 < 50 ; impact and openness 2/5 < 2,5)
=====  ========  ===========  =========  ==============================================================

A02 or A03 would be funded only ahead of A01 (80 points; 150 000 − 120 000 = 30 000 € < 70 000 € after it):
score needed > 80, i.e. 16 and 24 points more.

Under the optimisation rule ``max_total_score`` (kept for comparison) the optimum is {A02, A03} = 120 points
(140 000 €); the entry gap of A01, by enumeration in the test, is 120 − 80 = 40.
"""

from __future__ import annotations

import csv
import io
import itertools
import re

import pytest

from ditp_model.outputs import report
from ditp_model.outputs.feedback import feedback_files, feedback_table, safe_filename
from helpers import RULES_PATH, app_row, write_applications, write_reviews

SCORES = {"A01": 5, "A02": 4, "A03": 3.5, "A04": 5, "A06": 2}
REQUEST = {"A01": 120_000, "A02": 70_000, "A03": 70_000, "A04": 70_000, "A05": 70_000, "A06": 75_000}
TITLES = {"A02": "<script>alert(1)</script> *gras*", "A03": '=HYPERLINK("http://x")'}


def _run(tmp, **kw):
    """The report run of the module's case (call's rule and thresholds unless `kw` says otherwise)."""
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
    assert run.allocation.rule == "merit_order"
    return feedback_table(run.table, run.rules, rule="merit_order", envelope_eur=150_000,
                          tie_band_points=0.5).set_index("application_id")


def _brute_force_gap(aid: str) -> float:
    """Sum-of-scores optimum minus the best portfolio containing `aid`, by enumeration over the fundable candidates.

    A04 is not eligible and A06 is below the quality thresholds (not fundable under every rule).
    """
    score = {a: 0.5 * s / 5 * 100 + 0.3 * s / 5 * 100 for a, s in SCORES.items() if a not in ("A04", "A06")}
    best = best_with = 0.0
    for n in range(len(score) + 1):
        for combo in itertools.combinations(score, n):
            if sum(REQUEST[a] for a in combo) <= 150_000:
                v = sum(score[a] for a in combo)
                best = max(best, v)
                if aid in combo:
                    best_with = max(best_with, v)
    return best - best_with


EUR = "\u202f000\u00a0€"


def _fr(x: float) -> str:
    return f"{x:.2f}".replace(".", ",")


def test_decisions_and_awards(letters):
    assert dict(letters["decision"]) == {"A01": "retenu", "A02": "non retenu", "A03": "non retenu", "A04": "non recevable",
                                         "A05": "en attente d'évaluation", "A06": "non finançable"}
    assert dict(letters["montant_attribue_eur"]) == {"A01": 120_000, "A02": 0, "A03": 0, "A04": 0, "A05": 0, "A06": 0}
    assert f"**Décision : retenu — montant attribué : 120{EUR}**" in letters.at["A01", "lettre"]


def test_merit_letters_say_rank_money_and_score_needed(run, letters):
    # By hand: A01 (rank 1) took 120 000 €; 30 000 € were left at the turns of A02 and A03, each needing 70 000 €;
    # δ = 0,5 (the call's): at 79,50 either is ex aequo with A01 (80 − 0,5); then {A02, A03} (140 000 €) leaves A01 no
    # valid complaint (150 000 − 70 000 = 80 000 € < 120 000 €) and spends more than {A01} (120 000 €): it is funded.
    # At 79,4999 A01 is out of its band and claims the whole envelope.  So each needs exactly 79,50 (64 -> +15,50,
    # 56 -> +23,50), not 80 as the turn-by-turn formula said (it ignored the band).
    t = run.table.set_index("application_id")
    for aid, rank, gap in (("A02", "2e", 16.0), ("A03", "3e", 24.0)):
        text = letters.at[aid, "lettre"]
        assert f"Classement par note : {rank} sur 4 dossiers recevables notés." in text
        assert (f"Les dossiers mieux classés retenus ont reçu au total 120{EUR} ; quand son tour est venu, il restait "
                f"30{EUR} sur l'enveloppe de 150{EUR} ; il fallait au moins 70{EUR} pour financer ce dossier.") in text
        assert "Le reste de l'enveloppe ne suffisait pas à financer le dossier à son rang." in text
        assert (f"il aurait fallu une note globale d'au moins 79,50 / 100 (note du dossier : {_fr(80 - gap)}), "
                f"soit {_fr(gap - 0.5)} points de plus") in text  # 15,50 and 23,50: plural
        assert (int(t.at[aid, "better_ranked_awarded_eur"]), int(t.at[aid, "left_when_turn_eur"]),
                int(t.at[aid, "needed_eur"])) == (120_000, 30_000, 70_000)
        assert t.at[aid, "reason"] == "envelope" and not t.at[aid, "ex_aequo"]
        assert t.at[aid, "score_needed"] == pytest.approx(79.5)
        assert "ex aequo" not in text and "somme des notes" not in text
    # Below the quality thresholds: the threshold and the values, no rank-and-money explanation.
    a06 = letters.at["A06", "lettre"]
    assert "**Décision : non retenu** — non finançable" in a06
    assert "note globale 32,00/100 sous le seuil de 50,00" in a06 and "impact 2,00/5 sous le seuil de 2,50" in a06
    assert "il restait" not in a06 and "Écart d'entrée" not in a06


def test_optimisation_entry_gaps_match_enumeration(tmp_path):
    opt = _run(tmp_path, rule="max_total_score")
    assert opt.allocation.rule == "max_total_score"
    letters = feedback_table(opt.table, opt.rules, rule="max_total_score", envelope_eur=150_000).set_index("application_id")
    assert dict(letters["montant_attribue_eur"])["A02"] == 70_000 and dict(letters["montant_attribue_eur"])["A03"] == 70_000
    t = opt.table.set_index("application_id")
    gap = 40.0
    assert _brute_force_gap("A01") == pytest.approx(gap)
    assert t.at["A01", "entry_gap"] == pytest.approx(gap)
    text = letters.at["A01", "lettre"]
    # 80 + 40 = 120 points: above the scale, so the letter says no score suffices instead of a number above 100.
    assert "Écart d'entrée : aucune note ne suffit" in text and "40,00" not in text
    # A01 has the best score but is dear: the letter says why a better-scored application can lose its place.
    assert "Classement par note : 1er sur 4 dossiers recevables notés." in text
    assert f"un dossier bien noté mais dont la demande est élevée (120{EUR})" in text
    assert letters.at["A06", "decision"] == "non finançable"


def test_scores_against_funded_median(letters):
    # Funded: A01 alone (impact and openness 100 %, score 80) -> medians 100 % and 80 points.
    text = letters.at["A02", "lettre"]
    assert "| Impact | 80,0 / 100 | 100,0 / 100 |" in text
    assert "| Ouverture | 80,0 / 100 | 100,0 / 100 |" in text
    assert "| Candidature collective | 0,0 / 100 | 0,0 / 100 |" in text
    assert "| **Note globale** | **64,00 / 100** | **80,00 / 100** |" in text


def test_ineligible_and_unranked(letters):
    inel = letters.at["A04", "lettre"]
    assert "**Décision : non recevable.**" in inel and "entreprise privée" in inel
    assert "Médiane" not in inel and "Cabinet & Associés" in inel
    # Held, not rejected (issue 13): one review of the two required.
    assert "**Décision : en attente d'évaluation**" in letters.at["A05", "lettre"]
    assert "(il en manque 1)" in letters.at["A05", "lettre"] and "non retenu" not in letters.at["A05", "lettre"]


def test_applicant_text_is_inert(run, letters):
    text = letters.at["A02", "lettre"]
    assert "<script>" not in text and r"\<script\>alert(1)\</script\> \*gras\*" in text
    files = feedback_files(run.table, run.rules)
    rows = list(csv.DictReader(io.StringIO(files["retours_candidats.csv"].decode("utf-8-sig")), delimiter=";"))
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
    no_gaps = _run(tmp_path, gaps=False, rule="max_total_score")
    fb = feedback_table(no_gaps.table, no_gaps.rules, rule="max_total_score", gaps_computed=False).set_index("application_id")
    assert "Écart d'entrée : non calculé pour ce rapport." in fb.at["A01", "lettre"]
    # The merit order explains turn by turn whatever `gaps` says.
    merit = _run(tmp_path, gaps=False)
    fb = feedback_table(merit.table, merit.rules, rule="merit_order", gaps_computed=False).set_index("application_id")
    assert "non calculé" not in fb.at["A02", "lettre"] and "d'au moins 79,50 / 100" in fb.at["A02", "lettre"]
    # Sum of score × award: {A01} = 80 × 120 000 = 9 600 000 beats {A02, A03} = (64 + 56) × 70 000 = 8 400 000; forcing
    # A02 or A03 in leaves {A02, A03}: gap 1 200 000 points × €, i.e. 1 200 000 / 70 000 = 17,14 points of score.
    weighted = _run(tmp_path, rule="max_score_weighted_award")
    t = weighted.table.set_index("application_id")
    assert sorted(t.index[t["funded"]]) == ["A01"]
    fb = feedback_table(weighted.table, weighted.rules, rule="max_score_weighted_award").set_index("application_id")
    for aid in ("A02", "A03"):
        need = t.at[aid, "entry_gap"] / t.at[aid, "award_cap_eur"]  # points × € per euro of award: points
        assert need == pytest.approx(1_200_000 / 70_000)
        assert "Écart d'entrée : 17,14 points" in fb.at[aid, "lettre"]
        assert "bien noté" not in fb.at[aid, "lettre"]


def _small_case(tmp, scores: dict, requests: dict, envelope: int, **kw):
    """Lone ministries, raw mean, every review mark equal to `scores[id]` (score = 16 × mark)."""
    write_applications(tmp / "apps.csv", [app_row(a, requested_eur=r, expense_services_eur=r) for a, r in requests.items()])
    write_reviews(tmp / "revs.csv", [(a, r, s, s, s, s) for a, s in scores.items() for r in ("R1", "R2")])
    run = report.run_report(report.validate_parameters(call=str(RULES_PATH), applications=str(tmp / "apps.csv"),
                                                       reviews=str(tmp / "revs.csv"), envelope_eur=envelope,
                                                       normalisation="raw_mean", **kw))
    c = run.allocation.candidates
    letters = feedback_table(run.table, run.rules, rule=run.allocation.rule, envelope_eur=c.available_eur,
                             tie_band_points=c.tie_band_points)
    return run, letters.set_index("application_id")


def test_lock_makes_a_named_exception_and_no_score_suffices(tmp_path):
    # A01 80 pts 120 000 €, A02 64 pts 70 000 €, A03 56 pts 70 000 €, envelope 150 000 €, A03 imposed by the committee.
    # Locks are funded first: 80 000 € are left, A01 (120 000 €) cannot be funded at any rank (no score suffices);
    # A02 fits.  Merit order alone would fund A01: A03 is funded before it, an exception named with its cause.
    run, letters = _small_case(tmp_path, {"A01": 5, "A02": 4, "A03": 3.5}, {"A01": 120_000, "A02": 70_000, "A03": 70_000},
                               150_000, lock_in=["A03"])
    t = run.table.set_index("application_id")
    assert sorted(t.index[t["funded"]]) == ["A02", "A03"]
    text = letters.at["A01", "lettre"]
    # trial 1, item 12: in words, without the log line; the lock here has no written motif (a provisional decision)
    assert "Un dossier moins bien classé a été financé avant le vôtre par décision du comité." in text
    assert "exception à l'ordre de mérite" not in text and "A03 financé avant A01" not in text
    assert "aucune note ne suffit" in text
    # Never a score above the scale maximum.
    assert not re.search(r"(supérieure à|au moins) (\d+),", text)
    assert run.manifest["decision_rule"]["exceptions"] == ["A03 financé avant A01 : imposé par le comité"]


def _merit_consistent(funded: set, score: dict, request: dict, envelope: int, delta: float) -> bool:
    """No unfunded j could be paid with the unspent money plus the awards of laureates scoring more than δ below it."""
    unspent = envelope - sum(request[a] for a in funded)
    return all(unspent + sum(request[k] for k in funded if score[k] < score[j] - delta) < request[j]
               for j in score if j not in funded)


def test_tie_at_the_line_settled_by_spending(tmp_path):
    # B1 80 pts 100 000 €, B2 64 pts 70 000 €, B3 60 pts 90 000 €, envelope 190 000 €, δ = 5 points.
    # The ranking rule funds B1 and B2 (170 000 €); B2 and B3 are ex aequo (4 points apart), so the merit order takes
    # the merit-consistent portfolio spending most, found here by enumeration: {B1, B3} (190 000 €).
    score = {"B1": 80.0, "B2": 64.0, "B3": 60.0}
    request = {"B1": 100_000, "B2": 70_000, "B3": 90_000}
    feasible = [set(c) for n in range(4) for c in itertools.combinations(score, n)
                if sum(request[a] for a in c) <= 190_000 and _merit_consistent(set(c), score, request, 190_000, 5.0)]
    best = max(feasible, key=lambda f: sum(request[a] for a in f))
    assert best == {"B1", "B3"}
    run, letters = _small_case(tmp_path, {"B1": 5, "B2": 4, "B3": 3.75}, request, 190_000, tie_band_points=5)
    t = run.table.set_index("application_id")
    assert set(t.index[t["funded"]]) == best
    assert t.at["B2", "reason"] == "tie" and bool(t.at["B2", "ex_aequo"]) and bool(t.at["B3", "ex_aequo"])
    assert int(t.at["B2", "ranking_rule_award_eur"]) == 70_000  # the ranking rule, beside it for comparison
    b2 = letters.at["B2", "lettre"]
    assert "**ex aequo** avec B3" in b2 and "départagée par le montant dépensé" in b2
    assert f"il restait 90{EUR}" in b2 and f"il fallait au moins 70{EUR}" in b2
    # It would have needed a score more than δ above B3's: > 60 + 5 = 65, at least 65,01 as shown (0,01 point).
    assert "d'au moins 65,01 / 100 (note du dossier : 64,00), soit 1,01 point de plus" in b2  # below 2: singular
    b3 = letters.at["B3", "lettre"]
    assert "retenu — montant attribué : 90" in b3 and "**ex aequo** avec B2" in b3


def test_maximum_number_of_awards_named_in_the_letter(tmp_path):
    # A01 80 pts 120 000 €, A02 64 pts 70 000 €, A03 56 pts 70 000 €, envelope 300 000 €, at most 2 laureates:
    # A01 and A02 are funded; at A03's turn 110 000 € are left (enough money) but the 2 places are taken.  It would need
    # to pass A02: a score above 64, at least 64,01 as shown (8,01 points more).
    run, letters = _small_case(tmp_path, {"A01": 5, "A02": 4, "A03": 3.5}, {"A01": 120_000, "A02": 70_000, "A03": 70_000},
                               300_000, max_awards=2)
    t = run.table.set_index("application_id")
    assert sorted(t.index[t["funded"]]) == ["A01", "A02"] and t.at["A03", "reason"] == "limit"
    text = letters.at["A03", "lettre"]
    assert f"il restait 110{EUR} sur l'enveloppe de 300{EUR}" in text
    assert "Une règle fixée par le comité l'a empêché" in text and "nombre maximal de lauréats (2)" in text
    assert "d'au moins 64,01 / 100 (note du dossier : 56,00), soit 8,01 points de plus" in text


def _plain(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text.replace("\u202f", " ").replace("\xa0", " "))


def test_every_letter_names_the_appeal_route(letters):
    # Code de justice administrative, art. R. 421-1 (two months) and R. 421-5 (the notification states the route);
    # the authority, its address and the court come from the call file's [authority] table.
    for aid, text in letters["lettre"].items():
        t = _plain(text)
        assert "recours gracieux auprès de l'autorité qui a pris la décision : la Direction interministérielle de la " \
               "transformation publique (DITP), " \
               "20 avenue de Ségur, 75007 Paris" in t, aid
        assert "recours contentieux devant le tribunal administratif de Paris, dans un délai de deux mois" in t, aid
        assert "articles R. 421-1 et R. 421-5" in t, aid


def test_a_call_without_authority_still_gives_the_route(run):
    rules = run.rules.model_copy(update={"authority": None})
    text = _plain(feedback_table(run.table, rules, rule="merit_order").iloc[0]["lettre"])
    assert "recours gracieux auprès de l'autorité qui a pris la décision" in text
    assert "le tribunal administratif compétent" in text


@pytest.mark.parametrize("gap, shown", [(0.78, "0,78 point —"), (1.5, "1,50 point —"), (4.45, "4,45 points —")])
def test_entry_gap_in_points_agrees_in_number(gap, shown):
    """French: « point » below 2, « points » from 2 on (the merit letters already did; the optimisation ones said
    « 0,78 points »)."""
    from types import SimpleNamespace

    from ditp_model.outputs.feedback import _optimum_lines

    row = SimpleNamespace(entry_gap=gap, keeps_out="", score=60.0, award_floor_eur=70_000, award_cap_eur=120_000,
                          rank=5, requested_eur=100_000)
    (line,) = _optimum_lines(row, "total_score", True, None, 3_000_000)
    word = shown.split()[1]
    assert line.startswith(f"Écart d'entrée : {shown}") and f"d'au moins {shown.split()[0]} {word} pour" in line
