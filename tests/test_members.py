"""Per-member weights: each member's portfolio, agreement classes, majority and compromise weights.

Hand-solved case (``members_case``): each application is strong on exactly one
criterion, so its composite score *is* a weight share, and with an envelope
for two of the three 100 k€ projects each member funds the two applications of
their two largest shares.  Weight-dependent cases are written as CSV files and
read through ``load_inputs`` + ``evaluate`` (as in ``test_robustness.py``), and
the members' weights through :func:`read_member_weights`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from helpers import RULES_PATH, app_row, write_applications, write_csv, write_reviews, write_xlsx
from ditp_model import load_inputs
from ditp_model.rules.allocation import AllocationParams
from ditp_model.inputs.call import load_call_rules
from ditp_model.uncertainty.members import member_portfolios, read_member_weights, simplex_grid
from ditp_model.scoring.pipeline import evaluate
from ditp_model.inputs.schema import InputError
from ditp_model.scoring.aggregate import Weights

#: The committee's rule (merit order, the call's δ), quality thresholds lifted: the case is about weights, and its
#: composite scores (a single weight share each) are far below the call's minimum of 50 points.
PARAMS = AllocationParams(envelope_eur=200_000, min_score=0.0, min_criterion=())


@pytest.fixture(scope="module")
def rules():
    return load_call_rules(RULES_PATH)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    """A: impact only (marks 5, 5, 0, 0); B: openness only (0, 0, 5, 5); C: collective only (marks 0, a
    full collective bid: 5 partners, 3 regions, 3 kinds of organisation); D: marks 1 everywhere, alone,
    115 k€.

    Criterion scores (impact, openness, collective): A (1, 0, 0), B (0, 1, 0), C (0, 0, 1),
    D (0.2, 0.2, 0).  With normalised weights (i, o, c) the composite scores are A = 100 i, B = 100 o,
    C = 100 c, D = 20 (i + o).  Envelope 200 k€: two of A, B, C (100 k€ each); D (115 k€) fits beside
    none of them and alone is worth at most 20 < the best pair (≥ 2/3 × 100), so D is never funded.
    Submission order A, B, C, D: A wins an exact tie with B, B with C.
    """
    folder = tmp_path_factory.mktemp("members")
    rows = [
        app_row("A", requested_eur=100_000, expense_services_eur=100_000, submitted_at="2021-09-01"),
        app_row("B", requested_eur=100_000, expense_services_eur=100_000, submitted_at="2021-09-02"),
        app_row("C", requested_eur=100_000, expense_services_eur=100_000, submitted_at="2021-09-03",
                partners="P1;P2;P3;P4;P5",
                partner_types="local_authority;state_operator;ministry;ministry;ministry",
                regions_covered="Bretagne;Normandie"),
        app_row("D", requested_eur=115_000, expense_services_eur=115_000, submitted_at="2021-09-04"),
    ]
    marks = {"A": (5, 5, 0, 0), "B": (0, 0, 5, 5), "C": (0, 0, 0, 0), "D": (1, 1, 1, 1)}
    a = write_applications(folder / "candidatures.csv", rows)
    r = write_reviews(folder / "evaluations.csv", [(i, rev, *marks[i]) for i in "ABCD" for rev in ("R1", "R2")])
    ev = evaluate(load_inputs(RULES_PATH, a, r), normalisation="raw_mean")
    s = ev.scores.set_index("application_id")
    # the case's premise, checked once: each application's criterion scores
    assert [tuple(s.loc[i, ["impact_score", "openness_score", "collective_score"]]) for i in "ABCD"] == \
        [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.2, 0.2, 0)]
    return ev


def members_file(folder, rows, name="membres.csv", header=("membre", "impact", "openness", "collective"), **kw):
    return write_csv(folder / name, list(header), [list(r) for r in rows], **kw)


# --------------------------------------------------------------------------- the hand-solved case


@pytest.fixture(scope="module")
def analysis(evaluation, rules, tmp_path_factory):
    """M01 favours impact, M02 collective, M03 impact and openness (nothing for collective).

    Normalised weights (i, o, c): M01 (0.5, 0.2, 0.3) funds A, C (drops B, its smallest share);
    M02 (0.3, 0.2, 0.5) funds C, A (drops B); M03 (0.55, 0.45, 0) funds A, B (drops C).
    A: 3 members (consensus); C: 2 (contested, majority); B: 1 (contested); D: none (écarté).
    Majority {A, C}.  Average: (1.35/3, 0.85/3, 0.8/3) = (0.45, 0.28333, 0.26667): B (28.33) beats
    C (26.67), so the average funds A, B and misses C.

    Closest weights funding A and C: need o < c (an exact tie o = c goes to B, submitted first) and
    o ≤ i.  On the 0.05 grid, i = 0.45 is the only share within 0.05 of 0.45, and with i = 0.45,
    (o, c) = (0.30, 0.25) has o > c; (0.25, 0.30) qualifies at distance √((1/30)² + (1/30)²) = √2/30;
    every other grid point or member is at least 0.05 away in one share.  Examined in order of
    distance: the average (0), (0.45, 0.30, 0.25) at √2/60, then (0.45, 0.25, 0.30).
    """
    folder = tmp_path_factory.mktemp("members_file")
    path = members_file(folder, [("M01", "0,5", "0,2", "0,3"), ("M02", "3", "2", "5"), ("M03", "55", "45", "0")],
                        sep=";")
    members = read_member_weights(path, rules)
    return member_portfolios(evaluation, members, PARAMS)


def test_each_member_funds_the_two_applications_of_their_largest_shares(analysis):
    m = analysis.members.set_index("member")
    assert list(m.index) == ["M01", "M02", "M03"]
    assert m.at["M01", "funded"] == ("A", "C")
    assert m.at["M02", "funded"] == ("C", "A")  # tie-break order: higher score first
    assert m.at["M03", "funded"] == ("A", "B")
    # normalised weights (3/2/5 and 55/45/0 as written)
    assert (m.at["M02", "impact"], m.at["M02", "openness"], m.at["M02", "collective"]) == pytest.approx((0.3, 0.2, 0.5))
    assert (m.at["M03", "impact"], m.at["M03", "collective"]) == pytest.approx((0.55, 0.0))
    # total score = sum of the two largest shares × 100
    assert m.at["M01", "total_score"] == pytest.approx(80.0)
    assert m.at["M02", "total_score"] == pytest.approx(80.0)
    assert m.at["M03", "total_score"] == pytest.approx(100.0)
    assert list(m["n_funded"]) == [2, 2, 2] and list(m["total_awarded_eur"]) == [200_000] * 3
    assert m["total_awarded_eur"].dtype == "int64"
    # distance of M01 to the average: √(0.05² + (1/12)² + (1/30)²)
    assert m.at["M01", "distance_to_average"] == pytest.approx(math.sqrt(0.05**2 + (1 / 12) ** 2 + (1 / 30) ** 2))


def test_agreement_classes_and_majority(analysis):
    t = analysis.table.set_index("application_id")
    assert list(t["n_members"]) == [3, 1, 2, 0]
    assert t.at["A", "members"] == ("M01", "M02", "M03") and t.at["B", "members"] == ("M03",)
    assert t.at["C", "members"] == ("M01", "M02") and t.at["D", "members"] == ()
    assert list(t["agreement"]) == ["consensus", "contested", "contested", "excluded"]
    assert list(t["agreement_fr"]) == ["consensus", "contesté", "contesté", "écarté"]
    assert list(t["share_members"]) == pytest.approx([1, 1 / 3, 2 / 3, 0])
    assert analysis.majority == ("A", "C")
    assert list(t["majority"]) == [True, False, True, False]
    assert t["candidate"].all()


def test_average_weights_and_their_portfolio(analysis):
    avg = analysis.average_weights
    assert list(avg) == ["impact", "openness", "collective"]
    assert (avg["impact"], avg["openness"], avg["collective"]) == pytest.approx((0.45, 0.85 / 3, 0.8 / 3))
    assert analysis.average_funded == ("A", "B")  # 45 > 28.33 > 26.67: C misses out at the average


def test_closest_weights_funding_the_majority(analysis, rules):
    assert analysis.found
    w = analysis.closest_weights
    assert (w["impact"], w["openness"], w["collective"]) == pytest.approx((0.45, 0.25, 0.30))
    assert analysis.closest_distance == pytest.approx(math.sqrt(2) / 30)
    assert analysis.closest_origin == "grid"
    assert analysis.closest_funded == ("A", "C")
    assert list(analysis.table["funded_at_closest"]) == [True, False, True, False]
    assert analysis.grid_step == 0.05
    # 231 grid points + the average (the three members lie on the grid)
    assert analysis.n_candidates == 232
    # three members, the average, then two grid points in order of distance
    assert analysis.majority_fits and analysis.n_examined == 6
    text = analysis.describe_fr(rules)
    assert "Impact 45,0 %, Ouverture 25,0 %, Candidature collective 30,0 %" in text
    assert "distance 0,047" in text and "au pas de 0,05" in text and "pas un optimum exact" in text


def test_average_itself_when_it_funds_the_majority(evaluation):
    """Two members drop B, one drops C: majority {A, C}; the average (0.5, 0.2, 0.3) funds A, C itself."""
    members = {"M01": Weights.of(impact=0.6, openness=0.1, collective=0.3),
               "M02": Weights.of(impact=0.4, openness=0.2, collective=0.4),
               "M03": Weights.of(impact=0.5, openness=0.3, collective=0.2)}
    res = member_portfolios(evaluation, members, PARAMS)
    assert res.majority == ("A", "C") and res.average_funded == ("A", "C")
    assert res.closest_origin == "average" and res.closest_distance == 0.0
    assert res.closest_weights == pytest.approx({"impact": 0.5, "openness": 0.2, "collective": 0.3})
    assert res.n_examined == 4  # the three members and the average: nothing more to search


def test_cyclic_majority_that_no_weights_fund(evaluation, rules):
    """M01 drops B, M02 drops C, M03 drops A: every application is funded by two of three members, so the
    majority is A, B and C (300 k€ for an envelope of 200 k€) and no weights can fund it."""
    members = {"M01": Weights.of(impact=0.5, openness=0.2, collective=0.3),
               "M02": Weights.of(impact=0.55, openness=0.45, collective=0.0),
               "M03": Weights.of(impact=0.2, openness=0.5, collective=0.3)}
    res = member_portfolios(evaluation, members, PARAMS)
    t = res.table.set_index("application_id")
    assert list(t["n_members"]) == [2, 2, 2, 0]
    assert list(t["agreement_fr"]) == ["contesté", "contesté", "contesté", "écarté"]
    assert res.majority == ("A", "B", "C")
    assert not res.majority_fits and not res.found
    assert (res.closest_weights, res.closest_distance, res.closest_origin, res.closest_funded) == (None, None, None, ())
    assert not t["funded_at_closest"].any()
    assert res.n_examined == 4  # the members and the average: the grid is not searched for a set that cannot fit
    assert "ne peuvent pas être financés ensemble" in res.describe_fr(rules)
    assert "aucune pondération ne peut tous les financer" in res.describe_fr(rules)


def test_describe_when_the_grid_has_no_answer(analysis, rules):
    """The wording when the majority fits in the envelope but no weights examined fund it."""
    none = replace(analysis, closest_weights=None, closest_distance=None, closest_origin=None, closest_funded=())
    text = none.describe_fr(rules)
    assert "Aucune pondération examinée ne finance tous les dossiers de la majorité" in text
    assert "au pas de 0,05" in text and "pas un optimum exact" in text


def test_member_portfolios_rejects_bad_members(evaluation):
    with pytest.raises(ValueError, match="aucun membre"):
        member_portfolios(evaluation, {}, PARAMS)
    with pytest.raises(ValueError, match="membre M01 : pondérations pour impact, openness"):
        member_portfolios(evaluation, {"M01": Weights.of(impact=1.0, openness=1.0)}, PARAMS)
    with pytest.raises(ValueError, match="pas de grille 0.3"):
        member_portfolios(evaluation, {"M01": Weights.of(impact=1.0, openness=1.0, collective=0.0)}, PARAMS,
                          grid_step=0.3)
    with pytest.raises(TypeError):
        member_portfolios(evaluation, [("M01", Weights.of(impact=1.0, openness=1.0, collective=0.0))], PARAMS)


def test_simplex_grid():
    g = simplex_grid(3, 0.05)
    assert g.shape == (231, 3)  # C(22, 2)
    assert abs(g.sum(axis=1) - 1).max() < 1e-12 and (g >= 0).all()
    assert len({tuple(r) for r in g.round(9)}) == 231
    assert simplex_grid(2, 0.5).tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    with pytest.raises(ValueError, match="1/N"):
        simplex_grid(3, 0.07)


# --------------------------------------------------------------------------- reading the members' weights


def test_read_member_weights_french_headers_and_numbers(rules, tmp_path):
    path = members_file(tmp_path, [("M01", "0,5", "0,3", "0,2"), ("M02", "1", "0", "3")],
                        header=("Membre du comité", "Impact", "Ouverture", "Candidature collective"),
                        sep=";", encoding="utf-8-sig")
    t = read_member_weights(path, rules)
    assert list(t.columns) == ["member", "impact", "openness", "collective", "source_row"]
    assert t["member"].tolist() == ["M01", "M02"]
    assert t["impact"].tolist() == [0.5, 1.0] and t["collective"].tolist() == [0.2, 3.0]
    assert t["source_row"].tolist() == [2, 3]
    assert t.attrs["encoding"] == "utf-8-sig" and len(t.attrs["sha256"]) == 64


def test_read_member_weights_xlsx(rules, tmp_path):
    path = write_xlsx(tmp_path / "membres.xlsx", ["member", "impact", "openness", "collective"],
                      [["M01", 0.5, 0.25, 0.25], ["M02", 2, 1, 0]])
    t = read_member_weights(path, rules)
    assert t["openness"].tolist() == [0.25, 1.0] and t.attrs["encoding"] == "xlsx"


RULE_CASES = [
    # (header, rows, expected message line)
    (("membre", "impact", "openness"), [("M01", "1", "1")],
     "ligne 1, colonne « collective » — colonne obligatoire absente"),
    (("impact", "openness", "collective"), [("1", "1", "1")],
     "ligne 1, colonne « member » — colonne obligatoire absente"),
    (("membre", "impact", "openness", "collective", "budget"), [("M01", "1", "1", "1", "2")],
     "ligne 1, colonne « budget » : valeur « budget » — colonne inconnue"),
    (("membre", "impact", "Impact", "openness", "collective"), [("M01", "1", "1", "1", "1")],
     "ligne 1, colonne « Impact » : valeur « Impact » — deux colonnes désignent « impact »"),
    (("membre", "impact", "openness", "collective"), [],
     "membres.csv — aucun membre : le fichier n'a que sa ligne d'en-tête"),
    (("membre", "impact", "openness", "collective"), [("", "1", "1", "1")],
     "ligne 2, colonne « membre » : valeur «  » — membre non nommé"),
    (("membre", "impact", "openness", "collective"), [("M01", "1", "1", "1"), ("M01", "2", "1", "1")],
     "ligne 3, colonne « membre » : valeur « M01 » — membre en double (déjà ligne 2)"),
    (("membre", "impact", "openness", "collective"), [("M01", "1", "", "1")],
     "ligne 2, colonne « openness » : valeur «  » — pondération manquante : écrire 0 pour écarter le critère"),
    (("membre", "impact", "openness", "collective"), [("M01", "1", "beaucoup", "1")],
     "ligne 2, colonne « openness » : valeur « beaucoup » — n'est pas une pondération"),
    (("membre", "impact", "openness", "collective"), [("M01", "1", "-0,2", "1")],
     "ligne 2, colonne « openness » : valeur « -0,2 » — pondération négative"),
    (("membre", "impact", "openness", "collective"), [("M01", "0", "0,0", "0")],
     "ligne 2 : valeur « M01 » — toutes les pondérations du membre sont nulles"),
]


@pytest.mark.parametrize("header, rows, expected", RULE_CASES,
                         ids=["missing_criterion", "missing_member", "unknown_column", "ambiguous_header", "no_rows",
                              "blank_member", "duplicate_member", "missing_weight", "bad_weight", "negative_weight",
                              "all_zero"])
def test_read_member_weights_rules(rules, tmp_path, header, rows, expected):
    path = members_file(tmp_path, rows, header=header)
    with pytest.raises(InputError) as exc:
        read_member_weights(path, rules)
    assert len(exc.value.problems) == 1
    assert expected in str(exc.value.problems[0])
    assert str(path) in str(exc.value)


def test_read_member_weights_gathers_every_problem(rules, tmp_path):
    path = members_file(tmp_path, [("M01", "x", "1", "1"), ("M01", "1", "-1", "1"), ("M03", "0", "0", "0")])
    with pytest.raises(InputError) as exc:
        read_member_weights(path, rules)
    codes = [(p.row, p.code) for p in exc.value.problems]
    assert sorted(codes) == [(2, "bad_weight"), (3, "duplicate_member"), (3, "negative_weight"), (4, "all_zero")]
    assert str(exc.value).startswith("4 erreurs dans les données d'entrée :")


def test_sample_member_weights_file(rules):
    """The shipped example (five fictitious members, French headers, ``;`` and decimal commas) reads cleanly."""
    t = read_member_weights(RULES_PATH.parent / "ponderations_membres_exemple.csv", rules)
    assert t["member"].tolist() == ["M01", "M02", "M03", "M04", "M05"]
    assert t[["impact", "openness", "collective"]].sum(axis=1).tolist() == pytest.approx([1.0] * 5)
    assert t.at[3, "openness"] == 0.7


# --------------------------------------------------------------------------- the committee's rule


def test_each_member_portfolio_on_the_sample_follows_the_committees_rule(rules):
    """Merit order at δ = 0 (no tie on the sample): each member's portfolio is the ranking rule with skip on that
    member's scores, written here (fund in rank order what fits in what is left); the optimisation objective,
    asked for by name, gives another portfolio for at least one member (it fills the envelope with cheaper ones)."""
    from ditp_model import evaluate as _evaluate
    from ditp_model.rules.allocation import check
    from ditp_model.outputs.notebook import repo_data, sample_inputs

    inputs = sample_inputs()
    ev = _evaluate(inputs)
    members = read_member_weights(repo_data() / "ponderations_membres_exemple.csv", rules)
    merit = member_portfolios(ev, members, AllocationParams(tie_band_points=0.0), grid_step=0.5, progress=False)
    optimum = member_portfolios(ev, members, AllocationParams(rule="max_total_score"), grid_step=0.5, progress=False)
    differs = False
    for row, orow in zip(merit.members.itertuples(), optimum.members.itertuples()):
        w = members.set_index("member").loc[row.member]
        evm = ev.with_weights(Weights.of(impact=float(w["impact"]), openness=float(w["openness"]),
                                         collective=float(w["collective"])))
        t = check(evm, AllocationParams()).table  # the candidates above the thresholds, with their capped requests
        apps = evm.applications.set_index("application_id")
        order = sorted(t.itertuples(), key=lambda r: (-round(r.score, 4), apps.at[r.application_id, "submitted_at"],
                                                      r.application_id))
        left, expected = 3_000_000, []
        for r in order:
            if r.upper_eur <= left:
                expected.append(r.application_id)
                left -= r.upper_eur
        assert list(row.funded) == expected, row.member
        differs = differs or set(orow.funded) != set(expected)
    assert differs
