"""Tests of ``ditp_model.scoring.aggregate``: hand-computed scores, the collective index, per-reviewer
normalisation, missing reviews, weights, and property tests.

Every expected number is worked out by hand in the comments from the formulas of the module's
docstrings (criterion score = mean over its sub-criteria of (mean points − scale_min) /
(scale_max − scale_min); composite = 100 × Σ w_c · score_c with weights normalised to sum 1;
collective = mean of three capped components).  The shipped 2021 rules are used: scale 0–5,
min_reviews 2, normalisation_min_reviews 3, weights impact 0.5 / openness 0.3 / collective 0.2,
collective saturation at 5 partners, 3 regions, 3 kinds of organisation.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ditp_model.inputs.call import load_call_rules
from ditp_model.scoring.aggregate import (
    SCORE_DECIMALS,
    TIE_BREAK_RULE,
    Weights,
    aggregate_reviews,
    collective_features,
    collective_index,
    normalise_reviews,
    parse_weights,
    score_applications,
)

RULES_PATH = Path(__file__).resolve().parents[1] / "data" / "appel_2021.toml"
RULES = load_call_rules(RULES_PATH)
COLS = ["impact_reform", "impact_replicability", "openness_codesign", "openness_methods"]
NAN = float("nan")


@pytest.fixture(scope="module")
def rules():
    return RULES


def app(application_id: str, *, lead_org_type: str = "ministry", partners=(), partner_types=(), region: str = "Île-de-France",
        regions_covered=(), submitted_at: str = "2021-10-01") -> dict:
    return {
        "application_id": application_id, "title": f"Projet {application_id}", "lead_org": "Porteur",
        "lead_org_type": lead_org_type, "partners": tuple(partners), "partner_types": tuple(partner_types),
        "region": region, "regions_covered": tuple(regions_covered), "priority_reform": "France Services",
        "maturity": "testing", "requested_eur": 100_000, "expense_services_eur": 100_000, "expense_digital_tools_eur": 0,
        "expense_training_eur": 0, "expense_other_eur": 0, "submitted_at": pd.Timestamp(submitted_at), "source_row": 0,
    }


def apps_table(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    frame["source_row"] = range(2, 2 + len(frame))
    return frame


def reviews_table(rows) -> pd.DataFrame:
    """rows: (application_id, reviewer_id, s1, s2, s3, s4) or (application_id, reviewer_id, s) for the same s on all four."""
    full = [r if len(r) == 6 else (r[0], r[1], r[2], r[2], r[2], r[2]) for r in rows]
    frame = pd.DataFrame(full, columns=["application_id", "reviewer_id", *COLS])
    frame[COLS] = frame[COLS].astype("float64")
    frame["source_row"] = range(2, 2 + len(frame))
    return frame


def by_id(scores: pd.DataFrame, column: str) -> dict:
    return dict(zip(scores["application_id"], scores[column]))


# ---------------------------------------------------------------------------
# A hand-computed case: three applications, three reviewers, raw means
# ---------------------------------------------------------------------------
TINY_APPS = apps_table(
    # A: a ministry alone in one region -> collective 0.
    app("A"),
    # B: a local authority with 2 partners (state operator, association), 2 regions, 3 kinds.
    app("B", lead_org_type="local_authority", partners=("Opérateur", "Asso"), partner_types=("state_operator", "association"),
        region="Bretagne", regions_covered=("Normandie",)),
    # C: a ministry with 6 partners of 2 kinds over 4 regions (a large collective bid: 6 >= 5 partners).
    app("C", partners=("M1", "M2", "M3", "O1", "O2", "O3"), partner_types=("ministry",) * 3 + ("state_operator",) * 3,
        regions_covered=("Bretagne", "Normandie", "Corse")),
)
TINY_REVIEWS = reviews_table([
    # application, reviewer, impact_reform, impact_replicability, openness_codesign, openness_methods
    ("A", "R1", 4, 4, 3, 3), ("A", "R2", 5, 4, 4, 2), ("A", "R3", 3, 4, 2, 4),
    ("B", "R1", 3, 2, 5, 4), ("B", "R2", 2, 3, 4, 4), ("B", "R3", 4, 1, 3, 5),
    ("C", "R1", 2, 2, 2, 2), ("C", "R2", 3, 3, 3, 3), ("C", "R3", 1, NAN, 2, 1),
])


def test_collective_features_by_hand(rules):
    f = collective_features(TINY_APPS, rules)
    assert f["application_id"].tolist() == ["A", "B", "C"]
    assert f["n_partners"].tolist() == [0, 2, 6]
    assert f["n_regions"].tolist() == [1, 2, 4]        # lead's region + covered ones
    assert f["n_org_types"].tolist() == [1, 3, 2]      # lead's kind + partners' kinds, distinct
    assert f["large_collective"].tolist() == [False, False, True]
    assert f["award_cap_eur"].tolist() == [120_000, 120_000, 200_000]


def test_collective_counts_distinct_regions_and_kinds(rules):
    f = collective_features(apps_table(app("D", region="Bretagne", regions_covered=("Bretagne", "Normandie"),
                                           partners=("M",), partner_types=("ministry",))), rules)
    assert (f.at[0, "n_regions"], f.at[0, "n_org_types"]) == (2, 1)


def test_large_collective_by_regions_alone(rules):
    # 0 partners but 3 regions (min_regions = 3) -> extended cap.
    f = collective_features(apps_table(app("E", regions_covered=("Bretagne", "Corse"))), rules)
    assert bool(f.at[0, "large_collective"]) and f.at[0, "award_cap_eur"] == 200_000
    f = collective_features(apps_table(app("F", partners=tuple("abcd"), partner_types=("ministry",) * 4)), rules)
    assert not bool(f.at[0, "large_collective"])  # 4 partners, 1 region


def test_collective_index_by_hand(rules):
    idx = collective_index(collective_features(TINY_APPS, rules), rules)
    # A: partners 0/5 = 0, regions (1-1)/(3-1) = 0, kinds (1-1)/(3-1) = 0           -> 0
    # B: partners 2/5 = 0.4, regions (2-1)/2 = 0.5, kinds (3-1)/2 = 1                -> 1.9 / 3
    # C: partners min(6/5, 1) = 1, regions min(3/2, 1) = 1, kinds (2-1)/2 = 0.5     -> 2.5 / 3
    np.testing.assert_allclose(idx.to_numpy(), [0.0, 1.9 / 3, 2.5 / 3], rtol=0, atol=1e-12)


def test_collective_index_saturates_at_one(rules):
    rows = apps_table(app("S", partners=tuple("abcde"), partner_types=("state_operator", "association") + ("ministry",) * 3,
                          regions_covered=("Bretagne", "Corse")),
                      app("T", partners=tuple("abcdefghij"), partner_types=("association",) * 5 + ("state_operator",) * 5,
                          regions_covered=("Bretagne", "Corse", "Normandie", "Mayotte")))
    # S: 5/5, (3-1)/2, (3-1)/2 -> 1;  T: capped 10/5, 4/2, 3/2 -> 1
    np.testing.assert_allclose(collective_index(collective_features(rows, rules), rules).to_numpy(), [1.0, 1.0])


def test_aggregate_by_hand(rules):
    agg = aggregate_reviews(TINY_REVIEWS, rules, ["A", "B", "C"])
    assert agg.index.tolist() == ["A", "B", "C"]
    # A: (4+5+3)/3 = 4, (4+4+4)/3 = 4, (3+4+2)/3 = 3, (3+2+4)/3 = 3
    # B: (3+2+4)/3 = 3, (2+3+1)/3 = 2, (5+4+3)/3 = 4, (4+4+5)/3 = 13/3
    # C: (2+3+1)/3 = 2, (2+3)/2 = 2.5 (one blank), (2+3+2)/3 = 7/3, (2+3+1)/3 = 2
    expected = [[4, 4, 3, 3], [3, 2, 4, 13 / 3], [2, 2.5, 7 / 3, 2]]
    np.testing.assert_allclose(agg[COLS].to_numpy(), expected, rtol=0, atol=1e-12)
    assert agg["n_reviews"].tolist() == [3, 3, 3]


def test_criterion_and_composite_scores_by_hand(rules):
    s = score_applications(TINY_APPS, TINY_REVIEWS, rules, Weights.from_rules(rules), normalisation="raw_mean")
    assert s["application_id"].tolist() == ["A", "B", "C"]
    # impact = mean(reform/5, replicability/5); openness = mean(codesign/5, methods/5)
    # A: impact (4/5 + 4/5)/2 = 0.8;  openness (3/5 + 3/5)/2 = 0.6
    # B: impact (3/5 + 2/5)/2 = 0.5;  openness (4/5 + 13/15)/2 = 25/30
    # C: impact (2/5 + 2.5/5)/2 = 0.45; openness (7/15 + 2/5)/2 = 13/30
    np.testing.assert_allclose(s["impact_score"], [0.8, 0.5, 0.45], atol=1e-12)
    np.testing.assert_allclose(s["openness_score"], [0.6, 25 / 30, 13 / 30], atol=1e-12)
    np.testing.assert_allclose(s["collective_score"], [0.0, 1.9 / 3, 2.5 / 3], atol=1e-12)
    # composite = 100 (0.5 impact + 0.3 openness + 0.2 collective)
    # A: 100 (0.4 + 0.18 + 0)                  = 58
    # B: 100 (0.25 + 0.25 + 0.38/3)            = 62.666… -> 62.6667
    # C: 100 (0.225 + 0.13 + 0.5/3)            = 52.1666… -> 52.1667
    assert by_id(s, "score") == {"A": 58.0, "B": 62.6667, "C": 52.1667}
    assert by_id(s, "rank") == {"A": 2, "B": 1, "C": 3}
    assert s["scored"].tolist() == [True, True, True]
    assert s["score_flag"].tolist() == ["", "", ""]
    assert s["n_reviews"].tolist() == [3, 3, 3]


def test_other_weights_by_hand(rules):
    # Only impact counts: composite = 100 impact -> A 80, B 50, C 45.
    s = score_applications(TINY_APPS, TINY_REVIEWS, rules, Weights.of(impact=2, openness=0, collective=0), normalisation="raw_mean")
    assert by_id(s, "score") == {"A": 80.0, "B": 50.0, "C": 45.0}
    # Only collective: 100 x index -> 0, 63.3333, 83.3333; C first.
    s = score_applications(TINY_APPS, TINY_REVIEWS, rules, Weights.of(impact=0, openness=0, collective=1), normalisation="raw_mean")
    assert by_id(s, "score") == {"A": 0.0, "B": 63.3333, "C": 83.3333}
    assert by_id(s, "rank") == {"A": 3, "B": 2, "C": 1}


def test_scores_are_rounded_to_score_decimals(rules):
    s = score_applications(TINY_APPS, TINY_REVIEWS, rules, Weights.from_rules(rules), normalisation="raw_mean")
    for v in s["score"]:
        assert round(v, SCORE_DECIMALS) == v


def test_ranks_only_eligible_applications(rules):
    elig = pd.DataFrame({"application_id": ["A", "B", "C"], "eligible": [True, False, True],
                         "reason_codes": ["", "lead_org_type", ""], "reasons": ["", "x", ""]})
    s = score_applications(TINY_APPS, TINY_REVIEWS, rules, Weights.from_rules(rules), elig, normalisation="raw_mean")
    assert by_id(s, "score")["B"] == 62.6667   # still scored ...
    assert pd.isna(by_id(s, "rank")["B"])         # ... but not ranked
    assert (by_id(s, "rank")["A"], by_id(s, "rank")["C"]) == (1, 2)
    assert str(s["rank"].dtype) == "Int64"


def test_tie_break_rule(rules):
    """Equal scores: earlier submission first, then id."""
    apps = apps_table(app("Z", submitted_at="2021-09-01"), app("Y", submitted_at="2021-10-01"), app("X", submitted_at="2021-10-01"))
    revs = reviews_table([(a, r, 3) for a in "ZYX" for r in ("R1", "R2")])
    s = score_applications(apps, revs, rules, Weights.from_rules(rules), normalisation="raw_mean")
    assert len(set(s["score"])) == 1
    assert by_id(s, "rank") == {"Z": 1, "X": 2, "Y": 3}
    assert TIE_BREAK_RULE == "score_then_submission_then_id"


def test_unknown_normalisation(rules):
    with pytest.raises(ValueError, match="normalisation « median » inconnue"):
        score_applications(TINY_APPS, TINY_REVIEWS, rules, Weights.from_rules(rules), normalisation="median")


def test_weights_must_name_the_call_criteria(rules):
    with pytest.raises(ValueError, match="critères de l'appel : impact, openness, collective"):
        score_applications(TINY_APPS, TINY_REVIEWS, rules, Weights.of(impact=1, openness=1))


# ---------------------------------------------------------------------------
# Missing reviews: flagged, NaN, never 0
# ---------------------------------------------------------------------------
def test_too_few_reviews_is_flagged_and_nan(rules):
    apps = apps_table(app("A"), app("B"), app("C"), app("D"))
    revs = reviews_table([("A", "R1", 4), ("A", "R2", 4), ("B", "R1", 5),
                          ("C", "R1", 3), ("C", "R2", NAN)])  # C's second review has no score at all
    s = score_applications(apps, revs, rules, Weights.from_rules(rules), normalisation="raw_mean")
    assert s["n_reviews"].tolist() == [2, 1, 1, 0]
    assert s["scored"].tolist() == [True, False, False, False]
    # A: 100 x 0.8 x 4/5 = 64
    assert s.at[0, "score"] == 64.0
    for i in (1, 2, 3):
        assert math.isnan(s.at[i, "score"])  # NaN, never 0
        assert pd.isna(s.at[i, "rank"])
    assert s.at[1, "score_flag"] == "avis insuffisants (1 avis pour 2 requis) : dossier non classé"
    assert s.at[3, "score_flag"] == "avis insuffisants (0 avis pour 2 requis) : dossier non classé"
    assert by_id(s, "rank")["A"] == 1


def test_criterion_without_any_score_is_not_scored(rules):
    # Two reviews, but neither scores the openness sub-criteria: openness is NaN, so no composite.
    revs = reviews_table([("A", "R1", 4, 4, NAN, NAN), ("A", "R2", 3, 3, NAN, NAN)])
    s = score_applications(apps_table(app("A")), revs, rules, Weights.from_rules(rules), normalisation="raw_mean")
    assert s.at[0, "n_reviews"] == 2
    assert not s.at[0, "scored"] and math.isnan(s.at[0, "score"])
    assert s.at[0, "score_flag"] == "aucune note exploitable : dossier non classé"
    # With openness weighted 0, the same reviews give a score: 100 (0.5/0.7 x 0.7) = 50.
    s = score_applications(apps_table(app("A")), revs, rules, Weights.of(impact=0.5, openness=0, collective=0.2),
                           normalisation="raw_mean")
    # impact = (3.5/5 + 3.5/5)/2 = 0.7; normalised weights 5/7, 0, 2/7; composite 100 x 5/7 x 0.7 = 50
    assert s.at[0, "score"] == 50.0


def test_no_reviews_at_all(rules):
    revs = reviews_table([])
    s = score_applications(apps_table(app("A"), app("B")), revs, rules, Weights.from_rules(rules))
    assert s["n_reviews"].tolist() == [0, 0]
    assert s["score"].isna().all() and s["rank"].isna().all()


# ---------------------------------------------------------------------------
# Per-reviewer normalisation
# ---------------------------------------------------------------------------
# True quality q: A = B = 4, C = D = 3, E = F = 2.  Each application is reviewed twice; every reviewer
# sees one application of each quality, so every reviewer's set of true qualities is {4, 3, 2}.
# H is harsh (q - 2); F1, F2, F3 are fair (q).
HARSH_SETS = {"H": "ACE", "F1": "BDF", "F2": "ADF", "F3": "BCE"}
QUALITY = {"A": 4, "B": 4, "C": 3, "D": 3, "E": 2, "F": 2}


def panel(harsh: bool) -> pd.DataFrame:
    return reviews_table([(a, r, QUALITY[a] - (2 if harsh and r == "H" else 0)) for r, apps in HARSH_SETS.items() for a in apps])


PANEL_APPS = apps_table(*(app(a) for a in "ABCDEF"))


def test_normalise_harsh_reviewer_by_hand(rules):
    out = normalise_reviews(panel(harsh=True), rules)
    # Over all 12 scores (9 fair: 4,4,4,3,3,3,2,2,2; H: 2,1,0): mean mu = 30/12 = 2.5,
    # variance = (3(1.5²) + 3(0.5²) + 3(0.5²) + 0.5² + 1.5² + 2.5²)/12 = 17/12.
    # Every reviewer: own deviation d = sqrt(2/3) (scores m+1, m, m-1); m = 3 fair, 1 harsh.
    # Corrected = 2.5 + sqrt(17/12)/sqrt(2/3) (s - m) = 2.5 + sqrt(17/8) (q - 3) for everyone.
    k = math.sqrt(17 / 8)
    expected = {4: 2.5 + k, 3: 2.5, 2: 2.5 - k}
    for row in out.itertuples():
        assert row.impact_reform == pytest.approx(expected[QUALITY[row.application_id]], abs=1e-12)
    assert out["reviewer_corrected"].all()
    # Sorted by (application, reviewer), same number of rows.
    assert list(zip(out["application_id"], out["reviewer_id"])) == sorted(zip(out["application_id"], out["reviewer_id"]))
    assert len(out) == 12


def test_normalisation_corrects_a_harsh_reviewer_ranking(rules):
    w = Weights.from_rules(rules)
    unbiased = score_applications(PANEL_APPS, panel(harsh=False), rules, w, normalisation="raw_mean")
    raw = score_applications(PANEL_APPS, panel(harsh=True), rules, w, normalisation="raw_mean")
    corrected = score_applications(PANEL_APPS, panel(harsh=True), rules, w, normalisation="reviewer_zscore")
    # Unbiased: mean = q; composite = 100 x 0.8 x q/5 = 16 q -> 64, 64, 48, 48, 32, 32; ties by id.
    assert by_id(unbiased, "score") == {"A": 64.0, "B": 64.0, "C": 48.0, "D": 48.0, "E": 32.0, "F": 32.0}
    assert by_id(unbiased, "rank") == {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6}
    # Raw means with H: A (2+4)/2 = 3 -> 48, C (1+3)/2 = 2 -> 32, E (0+2)/2 = 1 -> 16: the harsh
    # reviewer's applications fall behind their equals.
    assert by_id(raw, "score") == {"A": 48.0, "B": 64.0, "C": 32.0, "D": 48.0, "E": 16.0, "F": 32.0}
    assert by_id(raw, "rank") != by_id(unbiased, "rank")
    # Corrected: 16 (2.5 ± sqrt(17/8)) -> 63.3238, 40, 16.6762: the unbiased ranking again.
    k = 16 * math.sqrt(17 / 8)
    assert by_id(corrected, "score") == {a: round(40 + k * (QUALITY[a] - 3), 4) for a in "ABCDEF"}
    assert by_id(corrected, "score")["A"] == 63.3238
    assert by_id(corrected, "rank") == by_id(unbiased, "rank")


def test_constant_reviewer_is_shifted_not_divided_by_zero(rules):
    # One column shown (all four are equal).  R1: 1, 3, 5; R2: 2, 3, 4; R3 constant: 3, 3, 3.
    revs = reviews_table([("X", "R1", 1), ("Y", "R1", 3), ("Z", "R1", 5),
                          ("X", "R2", 2), ("Y", "R2", 3), ("Z", "R2", 4),
                          ("X", "R3", 3), ("Y", "R3", 3), ("Z", "R3", 3)])
    out = normalise_reviews(revs, rules)
    assert not out[COLS].isna().any().any()
    # mu = 27/9 = 3; sigma² = (4+0+4 + 1+0+1 + 0)/9 = 10/9.
    # R3: d = 0 -> s - m + mu = 3 - 3 + 3 = 3.
    # R1: d² = 8/3 -> 3 + sqrt(10/9)/sqrt(8/3) (s - 3) = 3 ± 2 sqrt(5/12) = 3 ± 1.2909944…
    # R2: d² = 2/3 -> 3 + sqrt(10/9)/sqrt(2/3) (s - 3) = 3 ± sqrt(5/3)   = 3 ± 1.2909944…
    delta = math.sqrt(5 / 3)
    expected = {("X", "R1"): 3 - delta, ("Y", "R1"): 3, ("Z", "R1"): 3 + delta,
                ("X", "R2"): 3 - delta, ("Y", "R2"): 3, ("Z", "R2"): 3 + delta,
                ("X", "R3"): 3, ("Y", "R3"): 3, ("Z", "R3"): 3}
    for row in out.itertuples():
        assert row.openness_methods == pytest.approx(expected[(row.application_id, row.reviewer_id)], abs=1e-12)
    s = score_applications(apps_table(app("X"), app("Y"), app("Z")), revs, rules, Weights.from_rules(rules))
    assert s["score"].notna().all()
    # Y: every corrected score is 3 -> 16 x 3 = 48.
    assert by_id(s, "score")["Y"] == 48.0


def test_reviewer_with_too_few_reviews_is_left_uncorrected(rules):
    # R1, R2 review X, Y, Z (3 each, corrected); R4 reviews only X and Y (2 < 3): left as given.
    revs = reviews_table([("X", "R1", 1), ("Y", "R1", 3), ("Z", "R1", 5),
                          ("X", "R2", 2), ("Y", "R2", 3), ("Z", "R2", 4),
                          ("X", "R4", 0), ("Y", "R4", 5)])
    out = normalise_reviews(revs, rules).set_index(["application_id", "reviewer_id"])
    assert out.loc[("X", "R4"), COLS].tolist() == [0.0] * 4
    assert out.loc[("Y", "R4"), COLS].tolist() == [5.0] * 4
    assert not out.loc[("X", "R4"), "reviewer_corrected"] and not out.loc[("Y", "R4"), "reviewer_corrected"]
    assert out.loc[("X", "R1"), "reviewer_corrected"]
    assert out.loc[("X", "R1"), "impact_reform"] != 1.0  # R1 was corrected


def test_blank_scores_stay_blank_after_normalisation(rules):
    revs = reviews_table([("X", "R1", 1, 1, NAN, 1), ("Y", "R1", 3, 3, 3, 3), ("Z", "R1", 5, 5, 5, 5)])
    out = normalise_reviews(revs, rules)
    assert math.isnan(out.at[0, "openness_codesign"])
    assert out[COLS].notna().sum().sum() == 11


def test_normalised_scores_are_clipped_to_the_scale(rules):
    # A lenient, spread-out reviewer against a narrow panel would map beyond 5 without clipping.
    revs = reviews_table([(a, "R1", s) for a, s in zip("XYZ", (0, 0, 5))] + [(a, "R2", s) for a, s in zip("XYZ", (5, 5, 0))])
    out = normalise_reviews(revs, rules)
    assert out[COLS].min().min() >= 0 and out[COLS].max().max() <= 5


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("values, match", [
    ((("impact", -0.1), ("openness", 1.0)), "pondération « impact » = -0.1"),
    ((("impact", float("nan")), ("openness", 1.0)), "nombre positif ou nul"),
    ((("impact", float("inf")), ("openness", 1.0)), "nombre positif ou nul"),
    ((("impact", "0.5"),), "nombre positif ou nul"),
    ((("impact", 0.0), ("openness", 0.0), ("collective", 0.0)), "toutes les pondérations sont nulles"),
])
def test_invalid_weights(values, match):
    with pytest.raises(ValueError, match=match):
        Weights(values)


def test_weights_of_normalised_and_immutable(rules):
    w = Weights.of(impact=2, openness=1, collective=1)
    assert w.normalised() == {"impact": 0.5, "openness": 0.25, "collective": 0.25}
    assert w.describe_fr() == "impact 50 %, openness 25 %, collective 25 %"
    w2 = w.replace(openness=3)
    assert w.as_dict()["openness"] == 1.0 and w2.as_dict()["openness"] == 3.0
    with pytest.raises(AttributeError):
        w.values = ()  # frozen dataclass
    with pytest.raises(ValueError, match="critère\\(s\\) inconnu\\(s\\) : budget"):
        w.replace(budget=1)
    with pytest.raises(ValueError, match="toutes les pondérations sont nulles"):
        Weights.of(impact=1, openness=0, collective=0).replace(impact=0)
    assert Weights.from_rules(rules).as_dict() == {"impact": 0.5, "openness": 0.3, "collective": 0.2}


@pytest.mark.parametrize("text, expected", [
    ("impact=0.5,openness=0.3,collective=0.2", {"impact": 0.5, "openness": 0.3, "collective": 0.2}),
    (" impact = 0.5 , openness = 0.3 , collective = 0.2 ", {"impact": 0.5, "openness": 0.3, "collective": 0.2}),
    ("impact=0,5;openness=0,3;collective=0,2", {"impact": 0.5, "openness": 0.3, "collective": 0.2}),
    ("impact=50;openness=30;collective=20", {"impact": 50.0, "openness": 30.0, "collective": 20.0}),
    ("impact=1,openness=0,collective=0", {"impact": 1.0, "openness": 0.0, "collective": 0.0}),
    ("collective=0.4,openness=0,impact=0.6", {"impact": 0.6, "openness": 0.0, "collective": 0.4}),
])
def test_parse_weights(rules, text, expected):
    w = parse_weights(text, rules)
    assert w.as_dict() == expected
    assert list(w.as_dict()) == ["impact", "openness", "collective"]  # the call's order


@pytest.mark.parametrize("text, match", [
    ("", "écrire par ex. impact=0.5"),
    ("impact", "écrire par ex. impact=0.5"),
    ("budget=1", "critère inconnu « budget »"),
    ("impact=beaucoup", "un nombre est attendu"),
    ("impact=-1", "nombre positif ou nul"),
    ("impact=nan", "nombre positif ou nul"),
    ("impact=0,openness=0,collective=0", "toutes les pondérations sont nulles"),
    ("0.5,impact=1", "écrire critère=valeur"),
    ("impact=1,impact=2", "donnée deux fois"),
    ("impact=0.5,openness=0.3", "critère\\(s\\) sans pondération : collective"),
    ("impact=0,5", "sans pondération : openness, collective"),
    # the one rule of the call file: a whole of 1 (parts) or 100 (percentages), never rescaled
    ("impact=0.6,openness=0.3,collective=0.2", r"totalisent 1,1 \(impact 0,6 \+ openness 0,3 \+ collective 0,2\) : "
                                               r"elles doivent totaliser 1 .* ou 100"),
    ("impact=5;openness=3;collective=2", "totalisent 10 "),
    ("impact=60,openness=30,collective=20", "totalisent 110 "),
])
def test_parse_weights_errors(rules, text, match):
    with pytest.raises(ValueError, match=match):
        parse_weights(text, rules)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------
PROP_APPS = apps_table(
    app("A"), app("B", partners=("x",), partner_types=("association",)),
    app("C", partners=tuple("abcdef"), partner_types=("state_operator",) * 6, regions_covered=("Corse", "Bretagne")),
    app("D", submitted_at="2021-09-15"), app("E", lead_org_type="local_authority", partners=("y",), partner_types=("ministry",)),
)
HALF_POINTS = [NAN] + [i / 2 for i in range(11)]


@st.composite
def review_sets(draw):
    """Random valid reviews of PROP_APPS by R1..R5: each pair present or not, scores on half points or blank."""
    rows = []
    for a in "ABCDE":
        for r in ("R1", "R2", "R3", "R4", "R5"):
            if draw(st.booleans()):
                rows.append((a, r, *(draw(st.sampled_from(HALF_POINTS)) for _ in COLS)))
    return reviews_table(rows)


weight_values = st.floats(min_value=0, max_value=10, allow_nan=False, allow_infinity=False)


@given(revs=review_sets(), w=st.tuples(weight_values, weight_values, weight_values).filter(lambda t: sum(t) > 1e-6),
       c=st.floats(min_value=1e-3, max_value=1e3), method=st.sampled_from(["raw_mean", "reviewer_zscore"]))
@settings(max_examples=50, deadline=None)
def test_scaling_all_weights_leaves_scores_unchanged(revs, w, c, method):
    base = Weights.of(impact=w[0], openness=w[1], collective=w[2])
    scaled = Weights.of(impact=c * w[0], openness=c * w[1], collective=c * w[2])
    s1 = score_applications(PROP_APPS, revs, RULES, base, normalisation=method)
    s2 = score_applications(PROP_APPS, revs, RULES, scaled, normalisation=method)
    pd.testing.assert_series_equal(s1["score"], s2["score"])
    pd.testing.assert_series_equal(s1["rank"], s2["rank"])


@given(revs=review_sets(), method=st.sampled_from(["raw_mean", "reviewer_zscore"]),
       w=st.tuples(weight_values, weight_values, weight_values).filter(lambda t: sum(t) > 1e-6))
@settings(max_examples=50, deadline=None)
def test_scores_stay_in_range(revs, method, w):
    s = score_applications(PROP_APPS, revs, RULES, Weights.of(impact=w[0], openness=w[1], collective=w[2]), normalisation=method)
    for c in ("impact_score", "openness_score", "collective_score"):
        v = s[c].dropna()
        assert ((v >= 0) & (v <= 1)).all(), c
    scored = s[s["scored"]]
    assert ((scored["score"] >= 0) & (scored["score"] <= 100)).all()
    assert s.loc[~s["scored"], "score"].isna().all()
    assert (s["scored"] == s["score"].notna()).all()
    assert sorted(s["rank"].dropna().tolist()) == list(range(1, int(s["scored"].sum()) + 1))
    for col in COLS:
        v = s[col].dropna()
        assert ((v >= 0) & (v <= 5)).all()


@given(revs=review_sets(), seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["raw_mean", "reviewer_zscore"]))
@settings(max_examples=50, deadline=None)
def test_row_order_does_not_matter(revs, seed, method):
    rng = np.random.default_rng(seed)
    w = Weights.from_rules(RULES)
    s1 = score_applications(PROP_APPS, revs, RULES, w, normalisation=method)
    apps2 = PROP_APPS.iloc[rng.permutation(len(PROP_APPS))].reset_index(drop=True)
    revs2 = revs.iloc[rng.permutation(len(revs))].reset_index(drop=True)
    s2 = score_applications(apps2, revs2, RULES, w, normalisation=method)
    assert s2["application_id"].tolist() == apps2["application_id"].tolist()  # output follows input order
    s2 = s2.set_index("application_id").loc[s1["application_id"]].reset_index()
    pd.testing.assert_frame_equal(s1, s2)
