"""Tests of ``ditp_model.scoring.reviewer_effects``: the additive reviewer-effect model and the disagreement flag.

Expected values come from hand computation (worked in the comments), from the simulated truth of a
noiseless design, or from a second method (the full least-squares design matrix with the
sum-to-zero rows, solved by ``numpy.linalg.lstsq``) — never from the module's own output.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ditp_model as dm
from ditp_model.inputs.call import load_call_rules
from ditp_model.rules.allocation import AllocationParams, allocate, ranking_rule
from ditp_model.rules.manifest import decision_table
from ditp_model.scoring.aggregate import Weights, aggregate_reviews, reviews_as_aggregated, score_applications
from ditp_model.scoring.reviewer_effects import (
    disagreement_threshold,
    fit_additive,
    fit_reviewer_effects,
    normalise_reviewer_effects,
    review_composites,
    review_disagreement,
)

ROOT = Path(__file__).resolve().parents[1]
RULES = load_call_rules(ROOT / "data" / "appel_2021.toml")
COLS = list(RULES.review_columns)  # impact_reform, impact_replicability, openness_codesign, openness_methods


def rules_min(k: int):
    """The 2021 rules with ``normalisation_min_reviews = k``."""
    return RULES.model_copy(update={"scoring": RULES.scoring.model_copy(update={"normalisation_min_reviews": k})})


def reviews_table(rows) -> pd.DataFrame:
    """rows: (application, reviewer, s) -> the same s on the four sub-criteria; or 6-tuples."""
    full = [r if len(r) == 6 else (r[0], r[1], r[2], r[2], r[2], r[2]) for r in rows]
    frame = pd.DataFrame(full, columns=["application_id", "reviewer_id", *COLS])
    frame[COLS] = frame[COLS].astype("float64")
    return frame


def brute_force(app_idx, rev_idx, y, n_app, n_rev, groups):
    """Second method: the whole design [A | R] with one row Σ b = 0 per group (weight 1e6), lstsq."""
    m = len(y)
    design = np.zeros((m, n_app + n_rev))
    design[np.arange(m), app_idx] = 1.0
    design[np.arange(m), n_app + np.asarray(rev_idx)] = 1.0
    rows, rhs = [design], [np.asarray(y, float)]
    for g in groups:
        c = np.zeros(n_app + n_rev)
        c[n_app + np.asarray(g)] = 1e6
        rows.append(c[None, :])
        rhs.append(np.zeros(1))
    sol = np.linalg.lstsq(np.vstack(rows), np.concatenate(rhs), rcond=None)[0]
    return sol[:n_app], sol[n_app:]


# --------------------------------------------------------------------------- the model


def test_hand_computed_2x2_complete_design():
    # A: R1 4, R2 2 ; B: R1 3, R2 3.  Complete balanced design: b_j = reviewer mean − grand mean
    # (R1 3.5 − 3 = +0.5, R2 2.5 − 3 = −0.5), q_i = application mean (A 3, B 3).
    q, b, g = fit_additive([0, 0, 1, 1], [0, 1, 0, 1], [4, 2, 3, 3], 2, 2)
    np.testing.assert_allclose(q, [3.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(b, [0.5, -0.5], atol=1e-12)
    assert g.tolist() == [0, 0]


def test_hand_computed_3x3_incomplete_design():
    # A: R1 4, R2 3 ; B: R2 2, R3 4 ; C: R1 3, R3 2 (each application and reviewer twice).
    # q_A = (7 − b1 − b2)/2, q_B = (6 − b2 − b3)/2, q_C = (5 − b1 − b3)/2; reviewer equations
    # R1: 1 + (b2 + b3)/2 − b1 = 0, R2: −1.5 + (b1 + b3)/2 − b2 = 0, with b1 + b2 + b3 = 0:
    # b1 = 2/3, b2 = −1, b3 = 1/3; q_A = 11/3, q_B = 10/3, q_C = 2.
    q, b, _ = fit_additive([0, 0, 1, 1, 2, 2], [0, 1, 1, 2, 0, 2], [4, 3, 2, 4, 3, 2], 3, 3)
    np.testing.assert_allclose(b, [2 / 3, -1.0, 1 / 3], atol=1e-12)
    np.testing.assert_allclose(q, [11 / 3, 10 / 3, 2.0], atol=1e-12)
    # Through the reviews table and the pipeline's mean: the corrected reviews average to q.
    revs = reviews_table([("A", "R1", 4), ("A", "R2", 3), ("B", "R2", 2), ("B", "R3", 4), ("C", "R1", 3), ("C", "R3", 2)])
    agg = aggregate_reviews(normalise_reviewer_effects(revs, rules_min(2)), RULES, ["A", "B", "C"])
    np.testing.assert_allclose(agg["impact_reform"].to_numpy(), [11 / 3, 10 / 3, 2.0], atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noiseless_design_recovers_the_simulated_effects_exactly(seed):
    # 40 applications × 3 reviews among 8 reviewers, assignment by quality tier (the case that defeats the
    # z-score); y = q + b with Σ b = 0, no noise: the fit returns q and b to rounding.
    rng = np.random.default_rng(seed)
    n_app, n_rev = 40, 8
    q_true = rng.uniform(1.5, 3.5, n_app)
    b_true = rng.uniform(-1.0, 1.0, n_rev)
    b_true -= b_true.mean()
    order = np.argsort(q_true)
    rows = []
    for rank, i in enumerate(order):
        tier = [0, 1, 2, 3] if rank < n_app // 2 else [4, 5, 6, 7]  # two reviewers from the tier, one at random
        pair = rng.choice(tier, 2, replace=False)
        third = rng.choice([r for r in range(n_rev) if r not in pair])
        for j in (*pair, third):
            rows.append((f"A{i:02d}", f"R{j}", q_true[i] + b_true[j]))
    fx = fit_reviewer_effects(reviews_table(rows), RULES)
    np.testing.assert_allclose(fx.quality["impact_reform"].to_numpy(), q_true, atol=1e-9)
    np.testing.assert_allclose(fx.leniency["openness_methods"].to_numpy(), b_true, atol=1e-9)
    assert fx.n_groups == 1 and fx.note_fr() == ""
    corrected = normalise_reviewer_effects(reviews_table(rows), RULES)
    expected = q_true[[int(a[1:]) for a in corrected["application_id"]]]
    np.testing.assert_allclose(corrected["impact_reform"].to_numpy(), expected, atol=1e-9)


def test_random_sparse_designs_match_the_full_least_squares():
    rng = np.random.default_rng(7)
    for trial in range(25):
        n_app, n_rev = int(rng.integers(3, 15)), int(rng.integers(2, 7))
        pairs = {(i, int(j)) for i in range(n_app) for j in rng.choice(n_rev, int(rng.integers(1, min(3, n_rev) + 1)), replace=False)}
        a, r = (np.array(x) for x in zip(*sorted(pairs)))
        y = rng.uniform(0, 5, len(a))
        q, b, g = fit_additive(a, r, y, n_app, n_rev)
        used = sorted(set(r.tolist()))
        groups = [[j for j in used if g[j] == k] for k in sorted({int(g[j]) for j in used})]
        q2, b2 = brute_force(a, r, y, n_app, n_rev, groups)
        np.testing.assert_allclose(q, q2, atol=1e-6, err_msg=f"essai {trial}")
        np.testing.assert_allclose(b[used], b2[used], atol=1e-6, err_msg=f"essai {trial}")
        for grp in groups:
            assert abs(b[grp].sum()) < 1e-9


def sample_inputs():
    return dm.load_inputs(ROOT / "data" / "appel_2021.toml", ROOT / "data" / "candidatures_exemple.csv",
                          ROOT / "data" / "evaluations_exemple.csv")


def test_adding_a_constant_to_one_reviewer_shifts_every_quality_equally():
    # Reviewer R04 grades everything 0.4 higher: with k reviewers in the group and Σ b = 0, the fit moves
    # b_R04 by 0.4 − 0.4/k, every other b by −0.4/k and every quality by +0.4/k: differences between
    # applications (hence the ranking before clipping) do not move.
    revs = sample_inputs().reviews
    shifted = revs.copy()
    mask = shifted["reviewer_id"] == "R04"
    shifted.loc[mask, COLS] = shifted.loc[mask, COLS] + 0.4
    a, b = fit_reviewer_effects(revs, RULES), fit_reviewer_effects(shifted, RULES)
    k = int(a.estimated.sum())
    assert a.n_groups == 1
    for col in COLS:
        np.testing.assert_allclose(b.quality[col] - a.quality[col], 0.4 / k, atol=1e-9)
        delta = b.leniency[col] - a.leniency[col]
        np.testing.assert_allclose(delta.drop("R04"), -0.4 / k, atol=1e-9)
        assert delta["R04"] == pytest.approx(0.4 - 0.4 / k, abs=1e-9)
    assert revs.equals(sample_inputs().reviews)  # input not modified


def test_disconnected_graph_sums_to_zero_in_each_group_and_fits_each_panel_alone():
    # Panel 1: A–D reviewed by P1, P2, P3; panel 2: E–H by Q1, Q2, Q3 (no shared application).
    rng = np.random.default_rng(3)
    rows1 = [(a, r, float(rng.integers(0, 6))) for a in "ABCD" for r in ("P1", "P2", "P3")]
    rows2 = [(a, r, float(rng.integers(0, 6))) for a in "EFGH" for r in ("Q1", "Q2", "Q3")]
    both = fit_reviewer_effects(reviews_table(rows1 + rows2), RULES)
    assert both.n_groups == 2
    assert "2 groupes sans dossier commun" in both.note_fr()
    for rows, revs in ((rows1, ["P1", "P2", "P3"]), (rows2, ["Q1", "Q2", "Q3"])):
        alone = fit_reviewer_effects(reviews_table(rows), RULES)
        assert both.leniency.loc[revs, "impact_reform"].sum() == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(both.leniency.loc[revs, "impact_reform"], alone.leniency.loc[revs, "impact_reform"], atol=1e-12)
        apps = alone.quality.index
        np.testing.assert_allclose(both.quality.loc[apps, "impact_reform"], alone.quality["impact_reform"], atol=1e-12)
    # Complete design inside each panel: b = reviewer mean − panel mean, q = application mean (by hand).
    t = reviews_table(rows1).groupby("reviewer_id")["impact_reform"].mean()
    np.testing.assert_allclose(both.leniency.loc[["P1", "P2", "P3"], "impact_reform"], t - t.mean(), atol=1e-12)


def test_reviewer_with_too_few_reviews_and_application_with_one_review():
    # R1, R2, R3 review A, B, C (3 each: leniency estimated); S reviews only D and A (2 < 3: b_S = 0,
    # scores kept).  D has one review (by S): q_D = 2 − 0 = 2.  A has R1, R2, R3 and S.
    rows = [("A", "R1", 4), ("A", "R2", 3), ("A", "R3", 5), ("B", "R1", 2), ("B", "R2", 1), ("B", "R3", 3),
            ("C", "R1", 3), ("C", "R2", 2), ("C", "R3", 4), ("A", "S", 1), ("D", "S", 2)]
    fx = fit_reviewer_effects(reviews_table(rows), RULES)
    assert fx.estimated.to_dict() == {"R1": True, "R2": True, "R3": True, "S": False}
    assert fx.leniency.at["S", "impact_reform"] == 0.0
    # R1, R2, R3: the reviews of B and C are complete (each application seen by all three): from B and C alone
    # R3 = R1 + 1 = R2 + 2 ; A (with S's fixed review) follows the same pattern, so b = (0, −1, +1).
    np.testing.assert_allclose(fx.leniency.loc[["R1", "R2", "R3"], "impact_reform"], [0.0, -1.0, 1.0], atol=1e-12)
    # q_A = mean(4 − 0, 3 + 1, 5 − 1, 1 − 0) = 13/4, q_B = 2, q_C = 3, q_D = 2.
    np.testing.assert_allclose(fx.quality["impact_reform"], [13 / 4, 2.0, 3.0, 2.0], atol=1e-12)
    assert "1 évaluateur(s) ayant noté trop peu de dossiers" in fx.note_fr()
    out = normalise_reviewer_effects(reviews_table(rows), RULES)
    assert out.loc[out["reviewer_id"] == "S", "reviewer_corrected"].tolist() == [False, False]
    assert out.loc[out["reviewer_id"] == "S", "impact_reform"].tolist() == [1.0, 2.0]


def test_corrected_scores_are_clipped_and_blank_scores_stay_blank():
    # R1 gives 5 everywhere except B (blank on openness_methods); R2 and R3 grade lower: R1 is lenient,
    # the corrected R1 reviews fall; a corrected value above 5 or below 0 is clipped.
    rows = [("A", "R1", 5, 5, 5, 5), ("A", "R2", 5, 5, 5, 5), ("A", "R3", 5, 5, 5, 5),
            ("B", "R1", 5, 5, 5, math.nan), ("B", "R2", 0, 0, 0, 0), ("B", "R3", 1, 1, 1, 1),
            ("C", "R1", 5, 5, 5, 5), ("C", "R2", 0, 0, 0, 0), ("C", "R3", 0, 0, 0, 0)]
    out = normalise_reviewer_effects(reviews_table(rows), RULES)
    assert out[COLS].min().min() >= 0.0 and out[COLS].max().max() <= 5.0
    b_row = out[(out["application_id"] == "B") & (out["reviewer_id"] == "R1")]
    assert math.isnan(float(b_row["openness_methods"].iloc[0]))


PANEL = {"H": "ACE", "F1": "BDF", "F2": "ADF", "F3": "BCE"}
QUALITY = {"A": 4, "B": 4, "C": 3, "D": 3, "E": 2, "F": 2}


def test_pipeline_corrects_a_harsh_reviewer_exactly():
    # H grades q − 2, F1–F3 grade q.  Σ b = 0 over four reviewers: b_H = −1.5, b_F = +0.5, so every corrected
    # review y − b is q − 0.5 (H: q − 2 + 1.5; F: q − 0.5): composite 100 × 0.8 × (q − 0.5)/5 = 16 (q − 0.5)
    # -> A, B 56; C, D 40; E, F 24 (the harsh reviewer's applications level with their equals).
    revs = reviews_table([(a, r, QUALITY[a] - (2 if r == "H" else 0)) for r, apps in PANEL.items() for a in apps])
    from test_scoring import PANEL_APPS

    s = score_applications(PANEL_APPS, revs, RULES, Weights.from_rules(RULES), normalisation="reviewer_effects")
    assert dict(zip(s["application_id"], s["score"])) == pytest.approx({"A": 56.0, "B": 56.0, "C": 40.0, "D": 40.0,
                                                                       "E": 24.0, "F": 24.0}, abs=1e-9)
    assert dict(zip(s["application_id"], s["rank"])) == {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6}


def test_unknown_normalisation_is_refused_in_french():
    with pytest.raises(ValueError, match="normalisation « zscore » inconnue : raw_mean, reviewer_zscore, reviewer_effects"):
        reviews_as_aggregated(reviews_table([("A", "R1", 3)]), RULES, "zscore")


# --------------------------------------------------------------------------- disagreement flag


def test_review_composites_by_hand():
    # Weights impact 0.5, openness 0.3 (collective computed, left out): shares 5/8 and 3/8.
    # Review (4, 4, 0, 0): 5/8 × 4 = 2.5 ; review (2, 4, 5, nan): 5/8 × 3 + 3/8 × 5 = 3.75.
    revs = reviews_table([("A", "R1", 4, 4, 0, 0), ("A", "R2", 2, 4, 5, math.nan)])
    c = review_composites(revs, RULES, Weights.from_rules(RULES))
    np.testing.assert_allclose(c.to_numpy(), [2.5, 3.75], atol=1e-12)


def test_disagreement_flag_by_hand_at_the_threshold():
    assert disagreement_threshold(RULES) == 1.5  # the call file's HYPOTHÈSE
    # X: composites 1 and 2.5 (range 1.5, flagged: ≥ threshold); Y: 3 and 4 (range 1); Z: one review (no range).
    revs = reviews_table([("X", "R1", 1), ("X", "R2", 2.5), ("Y", "R1", 3), ("Y", "R3", 4), ("Z", "R2", 5)])
    d = review_disagreement(revs, RULES, Weights.from_rules(RULES), ["Z", "Y", "X", "W"])
    assert d.index.tolist() == ["Z", "Y", "X", "W"]
    assert d["reviewer_disagreement"].tolist() == [False, False, True, False]
    np.testing.assert_allclose(d["reviewer_range"].to_numpy(), [np.nan, 1.0, 1.5, np.nan], atol=1e-12)
    unset = RULES.model_copy(update={"scoring": RULES.scoring.model_copy(update={"disagreement_range": None})})
    assert disagreement_threshold(unset) == pytest.approx(0.3 * 5)


def test_decision_table_flags_match_a_recomputation_from_the_corrected_reviews():
    inputs = sample_inputs()
    for method in ("reviewer_zscore", "reviewer_effects", "raw_mean"):
        ev = dm.evaluate(inputs, normalisation=method)
        alloc = allocate(ev, AllocationParams())
        table = decision_table(ev, alloc, ranking_rule(ev, alloc.candidates.params), None)
        # Second computation, straight from the formulas: per review (0.5·mean impact + 0.3·mean openness)/0.8.
        r = reviews_as_aggregated(inputs.reviews, inputs.rules, method)
        comp = (0.5 * r[COLS[:2]].mean(axis=1) + 0.3 * r[COLS[2:]].mean(axis=1)) / 0.8
        g = comp.groupby(r["application_id"])
        want = (g.max() - g.min()).where(g.size() >= 2)
        got = table.set_index("application_id")["reviewer_range"]
        np.testing.assert_allclose(got.to_numpy(), want.reindex(got.index).round(4).to_numpy(), atol=1e-9)
        flagged = sorted(table.loc[table["reviewer_disagreement"], "application_id"])
        assert flagged == sorted(want[want >= 1.5 - 1e-9].index)


# --------------------------------------------------------------------------- the simulation study


def test_simulation_study_figures_regenerate_from_the_seed():
    import importlib.util as iu

    spec = iu.spec_from_file_location("bench_normalisation", ROOT / "benchmarks" / "bench_normalisation.py")
    bench = iu.module_from_spec(spec)
    spec.loader.exec_module(bench)
    one = bench.simulate_panel(50, 8, "sorted4", 20261203, RULES)
    two = bench.simulate_panel(50, 8, "sorted4", 20261203, RULES)
    other = bench.simulate_panel(50, 8, "sorted4", 20261204, RULES)
    for m in bench.METHODS:
        assert one[m][:2] == two[m][:2]  # Spearman ρ and top-k overlap; the time differs
    assert any(one[m][:2] != other[m][:2] for m in bench.METHODS)
    # the assignment gives three distinct reviewers per application, two from the application's tier
    rng = np.random.default_rng(0)
    q = rng.normal(size=40)
    pairs = bench.assign(40, 8, "sorted4", q, rng)
    by_app = pd.DataFrame(pairs, columns=["a", "r"]).groupby("a")["r"].apply(list)
    assert (by_app.map(len) == 3).all() and (by_app.map(lambda r: len(set(r))) == 3).all()
    tier = np.searchsorted(np.quantile(q, [0.25, 0.5, 0.75]), q, side="right")
    for a, revs in by_app.items():
        assert sum(r // 2 == tier[a] for r in revs) == 2  # 8 reviewers in 4 tiers of 2
