"""What the decision tells an applicant and the secretariat about the line (trial 1, items 2, 11, 12, 14, 20).

The trial's scenario: the committee excludes the two applications awaiting reviews (P047, P072, with their
motif) and imposes P014 far below the line (« Seul projet de Corse »).  Everything expected is recomputed
here from the published ``allocation.csv`` and ``manifest.json`` (rank, funded, locks), not read from the
explanation: the line is where merit-order funding stops, the imposed application is named apart.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest

from ditp_model.cli import main
from ditp_model.outputs import letters as L
from ditp_model.outputs.workbook import parameters_rows
from ditp_model.rules.base import tie_break_fr
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

MOTIF = "Seul projet de Corse"
LOCKS = ["--lock-out", "P047=Avis non rendus à la date du comité", "P072=Avis non rendus", "--lock-in", f"P014={MOTIF}"]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\u00a0", " ")).strip()


def _rows(path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";" if text.split("\n", 1)[0].count(";") else ","))


def _allocate(out, *extra) -> tuple[int, str, str]:
    import contextlib

    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        code = main(["allocate", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS),
                     "--reviews", str(SAMPLE_REVIEWS), "--out", str(out), *extra])
    return code, o.getvalue(), e.getvalue()


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    out = tmp_path_factory.mktemp("ligne") / "decision"
    code, stdout, _ = _allocate(out, *LOCKS)
    assert code == 0
    rows = _rows(out / "allocation.csv")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return out, _norm(stdout), rows, manifest


def _by_hand(rows, lock_in):
    """The line from the published table: candidates (ranked, fundable, not excluded) in rank order, imposed set aside."""
    cands = [r for r in rows if r["rank"] and r["eligible"] == "True" and not r["not_fundable"] and not r["review_status"]
             and r["application_id"] not in {"P047", "P072"}]
    cands.sort(key=lambda r: float(r["rank"]))
    merit = [r for r in cands if r["application_id"] not in lock_in]
    first_out = next(r for r in merit if r["funded"] == "False")
    last_above = [r for r in merit if r["funded"] == "True" and float(r["rank"]) < float(first_out["rank"])][-1]
    last_merit = max(int(float(r["rank"])) for r in merit if r["funded"] == "True")
    return first_out, last_above, last_merit


def test_line_is_where_merit_order_stops_and_the_lock_is_named_apart(locked):
    out, stdout, rows, manifest = locked
    first_out, last_above, _ = _by_hand(rows, {"P014"})
    p014 = next(r for r in rows if r["application_id"] == "P014")
    assert p014["funded"] == "True" and int(float(p014["rank"])) > int(float(first_out["rank"])) + 10  # far below the line
    line = next(x for x in stdout.split("Ligne de financement")[1:] if x.startswith(" —"))
    assert f"dernier financé au-dessus : {last_above['application_id']} (rang {int(float(last_above['rank']))}," in line
    assert f"premier non financé : {first_out['application_id']} (rang {int(float(first_out['rank']))}," in line
    assert (f"financés hors ordre de mérite, avant les autres : P014 (rang {int(float(p014['rank']))}, "
            f"{p014['score'].replace('.', ',')[:5]}") in line and f"imposé par le comité : {MOTIF})" in line
    assert "premier non financé : P014" not in line and "dernier financé au-dessus : P014" not in line
    # an imposed application is never ex aequo at the line (it was not settled there)
    assert p014["ex_aequo"] == "False" and "P014" not in (manifest["decision_rule"].get("ex_aequo") or [])
    # the workbook states the same line
    params = dict(parameters_rows(manifest, L.read_published_decision(out / "manifest.json").table))
    assert params["Ligne de financement"].startswith(f"dernier financé au-dessus : {last_above['application_id']}")


def test_letters_give_the_last_merit_rank_and_count_the_imposed_apart(locked):
    out, _, rows, _ = locked
    _, _, last_merit = _by_hand(rows, {"P014"})
    contexts = {c["dossier"]: c for c in L.letter_contexts(L.read_published_decision(out / "manifest.json"),
                                                           day=dt.date(2026, 12, 1))}
    n_funded = sum(r["funded"] == "True" for r in rows)
    for c in contexts.values():
        if c["rang"]:
            assert (f"a permis de financer {n_funded} dossiers" in _norm(c["position"])
                    and "dont 1 imposé par le comité hors de l'ordre du classement" in _norm(c["position"]))
            assert f"le dernier dossier retenu dans l'ordre du classement est classé {last_merit}e." in _norm(c["position"])


def test_letter_of_an_application_passed_over_names_no_other_applicant(locked):
    out, _, rows, _ = locked
    passed = [r for r in rows if r["reason"] == "exception"]
    assert passed
    contexts = {c["dossier"]: c for c in L.letter_contexts(L.read_published_decision(out / "manifest.json"),
                                                           day=dt.date(2026, 12, 1))}
    unfunded = {r["application_id"] for r in rows if r["funded"] == "False"}
    for r in passed:
        c = contexts[r["application_id"]]
        text = _norm(" ".join([c["decision_phrase"], c["position"], *c["motifs"], c["suite"]]))
        assert f"Un dossier moins bien classé a été financé avant le vôtre par décision motivée du comité : {MOTIF}." in text
        # never another unsuccessful applicant; the imposed laureate only with its motif
        assert not (unfunded - {r["application_id"]}) & set(re.findall(r"P\d{3}", text)), text
        assert "exception à l'ordre de mérite" not in text and not re.search(r"financé avant P\d", text)
        assert f"P014 (motif : {MOTIF})" in text
        if c["decision"] == "liste complémentaire":
            n = int(float(r["reserve_rank"]))
            assert f"inscrit en {'1re' if n == 1 else f'{n}e'} position sur la liste complémentaire" in text
            assert len(re.findall("informé par écrit", text)) == 1, text


def test_held_applications_excluded_by_the_committee_say_so(locked):
    _, stdout, _, _ = locked
    assert "ne serait pas financé même ainsi" not in stdout
    assert ("P047 : en attente d'évaluation" in stdout
            and "exclu par le comité (motif : Avis non rendus à la date du comité) : hors de la décision" in stdout)
    assert "tous exclus par le comité" in stdout and "qui lui manquent" not in stdout


def test_tie_break_is_one_french_text(locked):
    out, _, _, manifest = locked
    text = tie_break_fr("merit_order")
    # spend first, then score, submission date, id — in French, no English « score »
    assert text.index("montant dépensé") < text.index("note la plus élevée") < text.index("dépôt") < text.index("identifiant")
    assert "score" not in text
    assert dict(parameters_rows(manifest))["Règle de départage"] == "entre dossiers ex aequo : " + text
    from ditp_model.outputs.feedback import TIE_SETTLEMENT_FR

    assert TIE_SETTLEMENT_FR == "par " + text
    assert "montant dépensé" not in tie_break_fr("ranking") and "score" not in tie_break_fr("ranking")


def test_provisional_refusal_names_the_options(tmp_path):
    code, _, err = _allocate(tmp_path / "x")
    err = _norm(err)
    assert code == 6 and not (tmp_path / "x").exists()
    # the sample's two held applications are within reach: the message says how to exclude them, and --provisoire
    assert '--lock-out P047="motif du comité" P072="motif du comité"' in err
    assert "--verrous" in err and "--provisoire" in err and "hors concours" not in err


def test_laureates_below_the_line_are_told_why(tmp_path):
    """Sample, no lock: the line is at the first fundable application left unfunded in rank order; a laureate ranked
    below it is either within δ of it (ex aequo, settled by the call's tie-break) or funded on what was left."""
    out = tmp_path / "d"
    code, _, _ = _allocate(out, "--provisoire")
    assert code == 0
    rows = _rows(out / "allocation.csv")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    delta = float(manifest["decision_rule"]["tie_band_points"])
    first_out, _, _ = _by_hand(rows, set())
    s0 = float(first_out["score"].replace(",", "."))
    below = [r for r in rows if r["funded"] == "True" and r["rank"] and float(r["rank"]) > float(first_out["rank"])]
    assert below
    contexts = {c["dossier"]: c for c in L.letter_contexts(L.read_published_decision(out / "manifest.json"),
                                                           day=dt.date(2026, 12, 1))}
    for r in below:
        pos = _norm(contexts[r["application_id"]]["position"])
        assert "au-dessus de la ligne" not in pos and "Il est classé sous la ligne de financement" in pos
        if s0 - float(r["score"].replace(",", ".")) < delta:
            assert "ex aequo à la ligne de financement" in pos
        else:
            assert "financé sur le reste de l'enveloppe, qui ne suffisait pas aux dossiers mieux classés non retenus" in pos


def test_a_minimum_count_choice_is_set_apart_in_the_workbook_and_the_letters(tmp_path):
    # A region with no laureate under merit order; « au moins 1 lauréat » there funds its best-ranked application
    # first, far below the line.  The workbook's line and the letters must set it apart like a lock — never « financé
    # sur le reste de l'enveloppe », never the last rank of merit order — and say which rule funded it.
    held_out = LOCKS[:3]  # P047 and P072 excluded by the committee: a final decision
    code, _, _ = _allocate(tmp_path / "base", *held_out)
    assert code == 0
    base = _rows(tmp_path / "base" / "allocation.csv")
    first_out, _, _ = _by_hand(base, set())
    cands = [r for r in base if r["rank"] and r["eligible"] == "True" and not r["not_fundable"] and not r["review_status"]
             and r["application_id"] not in {"P047", "P072"}]
    regions = {}
    for r in sorted(cands, key=lambda r: float(r["rank"])):
        regions.setdefault(r["region"], []).append(r)
    region, members = next((g, m) for g, m in sorted(regions.items())
                           if not any(r["funded"] == "True" for r in m) and float(m[0]["rank"]) > float(first_out["rank"]) + 5)
    chosen = members[0]["application_id"]
    out = tmp_path / "min"
    code, stdout, _ = _allocate(out, *held_out, "--min-count", f"region={region}:1")
    assert code == 0
    rows = _rows(out / "allocation.csv")
    assert next(r for r in rows if r["application_id"] == chosen)["funded"] == "True"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["decision_rule"]["funded_first"]) == {chosen}
    assert region in manifest["decision_rule"]["funded_first"][chosen]
    decision = L.read_published_decision(out / "manifest.json")
    line = _norm(dict(parameters_rows(manifest, decision.table))["Ligne de financement"])
    assert f"financés hors ordre de mérite, avant les autres : {chosen} (rang" in line
    assert chosen not in line.split("financés hors ordre de mérite")[0]
    _, _, last_merit = _by_hand(rows, {chosen})
    contexts = {c["dossier"]: c for c in L.letter_contexts(decision, day=dt.date(2026, 12, 1))}
    pos = _norm(contexts[chosen]["position"])
    assert "financé en premier, hors de l'ordre du classement, au titre de la règle" in pos and region in pos
    assert "reste de l'enveloppe" not in pos
    for c in contexts.values():
        if c["rang"]:
            p = _norm(c["position"])
            assert "dont 1 financé d'abord au titre d'une règle de nombre minimal de lauréats" in p
            assert f"le dernier dossier retenu dans l'ordre du classement est classé {last_merit}e." in p
