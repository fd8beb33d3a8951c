"""Review uncertainty under a money envelope: posterior scores, probability of funding, grey zone, lottery.

Posteriors here are made by hand (θ draws chosen so that every probability is
known in advance); the MCMC fit itself is tested in test_review_model.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import ditp_model as dm
from ditp_model.uncertainty import grey_zone as gz
from ditp_model.scoring import review_model as rm
from ditp_model.rules.allocation import AllocationParams
from ditp_model.outputs.notebook import sample_inputs
from ditp_model.outputs.record import read_journal, record_lottery
from ditp_model.scoring.aggregate import Weights

from allocation_cases import Project, make_evaluation


def posterior_for(ids, theta, mu=0.0):
    """ReviewPosterior with the given θ draws (rows = draws, columns = `ids`), no MCMC."""
    theta = np.asarray(theta, dtype=float)
    votes = rm.Votes(pd.DataFrame({"proposal": list(ids), "assessor": "r", "panel": "", "y": 2.5}), tuple(ids), ("r",),
                     ("",), (0.0, 5.0), "note composite")
    return rm.ReviewPosterior(votes, theta, np.zeros((len(theta), 1)), mu, pd.DataFrame(), 1.0, float(len(theta)),
                              1991, 1, 0, len(theta), False, 0.0)


@pytest.fixture
def case():
    """Envelope 210 000 €: X (115 k€) is always the best but never fits beside two others; A always second.

    Draws: score = 100 · θ / 5 (reviewed criteria only, collective weight 0).
    B beats C in 3 draws out of 10.  Optimum of each draw: {A, B} or {A, C}
    (two 100 k€ bids, 200 k€): its value (80 + 50-ish) beats X alone (90), and X
    fits with nothing (115 + 100 > 210).
    """
    projects = [Project("A", 80.0, 100_000), Project("B", 50.0, 100_000), Project("C", 50.0, 100_000),
                Project("X", 90.0, 115_000)]
    ev = make_evaluation(projects, envelope_eur=210_000)
    ev = replace(ev, weights=Weights.of(impact=0.5, openness=0.5, collective=0.0))
    n = 10
    theta = np.zeros((n, 4))
    theta[:, 0] = 4.0                      # A: 80 points
    theta[:, 3] = 4.5                      # X: 90 points
    theta[:, 1] = [2.6] * 3 + [2.4] * 7    # B: 52 in 3 draws, 48 in 7
    theta[:, 2] = 2.5                      # C: 50
    return ev, posterior_for(["A", "B", "C", "X"], theta)


@pytest.fixture
def merit_case():
    """Envelope 300 000 €, merit order (the call's rule) decides each draw.

    Draws: score = 100 · θ / 5.  A (80, 100 k€) always first; B and C
    (120 k€ each) swap: B 62 > C 60 in 3 draws of 10, B 58 < C 60 in 7.
    Ranking rule with skip (= merit order at δ = 0, no cut): A, then the
    better of B and C (220 k€), the other no longer fits (340 k€), nor D or E
    (100 k€ each, 80 k€ left).  So P(A) = 1, P(C) = 0.7, P(B) = 0.3, P(D) =
    P(E) = 0.
    """
    projects = [Project("A", 80.0, 100_000), Project("B", 60.0, 120_000), Project("C", 60.0, 120_000),
                Project("D", 55.0, 100_000), Project("E", 52.0, 100_000)]
    ev = make_evaluation(projects, envelope_eur=300_000)
    ev = replace(ev, weights=Weights.of(impact=0.5, openness=0.5, collective=0.0))
    theta = np.zeros((10, 5))
    theta[:, 0] = 4.0                      # A: 80
    theta[:, 1] = [3.1] * 3 + [2.9] * 7    # B: 62 in 3 draws, 58 in 7
    theta[:, 2] = 3.0                      # C: 60
    theta[:, 3] = 2.75                     # D: 55
    theta[:, 4] = 2.6                      # E: 52
    return ev, posterior_for(["A", "B", "C", "D", "E"], theta)


def test_posterior_scores_formula(case):
    ev, post = case
    s = gz.posterior_scores(ev, post)
    assert list(s.columns) == ["A", "B", "C", "X"] and s.shape == (10, 4)
    assert s["A"].tolist() == [80.0] * 10 and s["B"].tolist() == [52.0] * 3 + [48.0] * 7
    thin = gz.posterior_scores(ev, post, n_draws=4)
    # evenly spaced indices of 10 draws: round(linspace(0, 9, 4)) = 0, 3, 6, 9 -> B: 52, 48, 48, 48
    assert thin.shape == (4, 4) and thin["B"].tolist() == [52.0, 48.0, 48.0, 48.0]


def test_posterior_scores_with_plain_means_give_the_pipeline_raw_mean_scores():
    """θ fixed at each application's mean reviewed grade − μ: the composite is the pipeline's (raw means)."""
    ev = dm.evaluate(sample_inputs(), dm.Weights.of(impact=0.5, openness=0.3, collective=0.2), normalisation="raw_mean")
    votes = rm.votes_from_reviews(ev)
    means = votes.mean_grades().to_numpy()
    post = replace(posterior_for(votes.proposals, np.tile(means - votes.mu, (3, 1)), mu=votes.mu), votes=votes)
    s = gz.posterior_scores(ev, post).iloc[0]
    # Equal where every review is complete (with a blank sub-score the pipeline averages each sub-criterion over
    # the reviews that scored it, the review model each review over the sub-criteria it scored).
    r = ev.reviews
    complete = set(r["application_id"]) - set(r.loc[r[list(ev.rules.review_columns)].isna().any(axis=1), "application_id"])
    ids = [a for a in votes.proposals if a in complete]
    assert len(ids) > 60
    expected = ev.table.set_index("application_id").loc[ids, "score"].to_numpy()
    np.testing.assert_allclose(s[ids].to_numpy(), expected, atol=2e-4)


def test_each_draw_is_decided_by_the_merit_order(merit_case):
    ev, post = merit_case
    f = gz.posterior_funding(ev, post, n_draws=None)
    t = f.table.set_index("application_id")
    assert f.rule == "merit_order" and set(f.table["rule"]) == {"merit_order"} and f.n_draws == 10
    assert t["p_funded"].to_dict() == pytest.approx({"A": 1.0, "B": 0.3, "C": 0.7, "D": 0.0, "E": 0.0})
    assert t["expected_award_eur"].to_dict() == {"A": 100_000, "B": 36_000, "C": 84_000, "D": 0, "E": 0}
    # expected ranks: C second in 7 draws of 10, third in 3
    assert t.loc["C", "er"] == pytest.approx(0.7 * 2 + 0.3 * 3) and t.loc["B", "er"] == pytest.approx(0.3 * 2 + 0.7 * 3)
    # one classification, a band in rank order: A at the head, the B/C swap in the band, D and E at the tail
    assert f.table["application_id"].tolist() == ["A", "C", "B", "D", "E"] and f.table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert f.table["zone"].tolist() == ["funded", "grey", "grey", "not_funded", "not_funded"]
    assert "snsf_group" not in f.table.columns
    assert f.zone_counts() == {"funded": 1, "grey": 2, "not_funded": 2}
    # the committee's decision on the plain scores: B and C tie at 60 (within δ), same spend; the named
    # tie-break (same submission date, then id) takes B
    assert t["funded_at_weights"].to_dict() == {"A": True, "B": True, "C": False, "D": False, "E": False}


def test_each_draw_under_locks_goes_through_the_full_rule(merit_case):
    """A lock: not the plain ranking rule, each draw decided by allocate_candidates.

    E locked in (100 k€): then A (200 k€), B or C no longer fits (320 k€), D does (300 k€).
    """
    ev, post = merit_case
    f = gz.posterior_funding(ev, post, AllocationParams(lock_in=frozenset({"E"})), n_draws=None)
    t = f.table.set_index("application_id")
    assert t["p_funded"].to_dict() == pytest.approx({"A": 1.0, "B": 0.0, "C": 0.0, "D": 1.0, "E": 1.0})


def test_the_ranking_rule_with_stop_in_each_draw(merit_case):
    """Ranking rule, stop: A, then B or C (220 k€), stop at the other (340 k€): D and E never."""
    ev, post = merit_case
    f = gz.posterior_funding(ev, post, AllocationParams(rule="ranking", ranking_variant="stop"), n_draws=None)
    assert f.rule == "ranking"
    assert f.table.set_index("application_id")["p_funded"].to_dict() == pytest.approx(
        {"A": 1.0, "B": 0.3, "C": 0.7, "D": 0.0, "E": 0.0})


def test_an_optimisation_rule_on_each_draw_for_comparison(case):
    """Max total score (comparison only): X, best ranked, never fits beside two others and is never funded."""
    ev, post = case
    f = gz.posterior_funding(ev, post, AllocationParams(rule="max_total_score"), n_draws=None, grey_zone=(0.1, 0.9))
    t = f.table.set_index("application_id")
    assert f.rule == "max_total_score" and f.n_draws == 10
    assert t.loc["A", "p_funded"] == 1.0 and t.loc["X", "p_funded"] == 0.0
    assert t.loc["B", "p_funded"] == pytest.approx(0.3) and t.loc["C", "p_funded"] == pytest.approx(0.7)
    assert t.loc["B", "expected_award_eur"] == 30_000 and t.loc["C", "expected_award_eur"] == 70_000
    assert t.loc["X", "er"] == 1.0 and t.loc["A", "er"] == 2.0
    # in rank order X (never funded) comes first: the band runs from the head to B, nothing is solid
    assert f.table["application_id"].tolist() == ["X", "A", "C", "B"]
    assert f.zone_counts() == {"funded": 0, "grey": 4, "not_funded": 0}
    # the plain decision under this rule: {A, B} and {A, C} tie on value and spend; the tie-break takes B
    assert t["funded_at_weights"].to_dict() == {"A": True, "B": True, "C": False, "X": False}


def test_merit_order_draws_ignore_the_optimum(case):
    """Merit order on the same draws: X (90, 115 k€) first, then nothing fits beside it (215 k€ > 210 k€)."""
    ev, post = case
    f = gz.posterior_funding(ev, post, n_draws=None)
    assert f.table.set_index("application_id")["p_funded"].to_dict() == {"X": 1.0, "A": 0.0, "B": 0.0, "C": 0.0}
    assert f.table["zone"].tolist() == ["funded", "not_funded", "not_funded", "not_funded"]


@pytest.mark.parametrize("p, zones", [
    ([1.0, 0.95, 0.5, 0.92, 0.05, 0.3, 0.0, 0.0], "FFGGGGNN"),
    ([1.0, 1.0], "FF"),
    ([0.0, 0.05], "NN"),
    ([0.95, 0.0, 0.95, 0.0], "FGGN"),   # a cheap one funded below a never-funded one: the band holds both
    ([0.5], "G"),
    ([], ""),
])
def test_band_zones_by_hand(p, zones):
    code = {"funded": "F", "grey": "G", "not_funded": "N"}
    assert "".join(code[z] for z in gz.band_zones(p, (0.1, 0.9))) == zones


def test_ranking_with_skip_by_hand():
    # envelope 250: 1st (100) in, 2nd (200) skipped, 3rd (100) in, 4th (60) skipped (50 left), 5th (50) in
    units = [90, 80, 70, 60, 50]
    assert gz.ranking_with_skip(units, [100, 200, 100, 60, 50], 250).tolist() == [True, False, True, False, True]
    assert gz.ranking_with_skip(units, [100, 200, 100, 60, 50], 250, variant="stop").tolist() == [True, False, False,
                                                                                                  False, False]
    # a tie on the score is settled by the tie-break positions (smaller first)
    assert gz.ranking_with_skip([5, 5], [10, 10], 10, [1, 0]).tolist() == [False, True]


def test_ranking_with_skip_is_the_merit_consistent_portfolio_at_delta_zero():
    """Brute force on random small cases: the only merit-consistent portfolio at δ = 0 (no cut) that spends most.

    Merit-consistent: no unfunded j could be funded with the unspent money plus the requests of the laureates
    scoring below j.
    """
    import itertools

    rng = np.random.default_rng(12)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        units = rng.permutation(n * 3)[:n] + 1          # distinct scores
        upper = rng.integers(1, 10, n) * 10
        env = int(rng.integers(0, upper.sum() + 10))
        consistent = []
        for x in itertools.product([False, True], repeat=n):
            x = np.array(x)
            spent = int(upper[x].sum())
            if spent > env:
                continue
            ok = all(x[j] or upper[j] > env - spent + int(upper[x & (units < units[j])].sum()) for j in range(n))
            if ok:
                consistent.append((spent, tuple(x)))
        best = max(s for s, _ in consistent)
        winners = [x for s, x in consistent if s == best]
        assert winners == [tuple(gz.ranking_with_skip(units, upper, env))]


def test_the_grey_band_is_contiguous_and_may_hold_a_cheap_application():
    """D (55, 70 k€) always fits after A and the better of B and C (290 k€): funded in every draw, yet below the
    swap in rank order, so it lies in the band; E (52, 100 k€) never fits.  The lottery draws in the band only."""
    projects = [Project("A", 80.0, 100_000), Project("B", 60.0, 120_000), Project("C", 60.0, 120_000),
                Project("D", 55.0, 70_000), Project("E", 52.0, 100_000)]
    ev = replace(make_evaluation(projects, envelope_eur=300_000), weights=Weights.of(impact=0.5, openness=0.5, collective=0.0))
    theta = np.tile([4.0, 2.9, 3.0, 2.75, 2.6], (10, 1))
    theta[:3, 1] = 3.1
    f = gz.posterior_funding(ev, posterior_for(list("ABCDE"), theta), n_draws=None)
    assert f.table["application_id"].tolist() == ["A", "C", "B", "D", "E"]
    assert f.table["p_funded"].tolist() == pytest.approx([1.0, 0.7, 0.3, 1.0, 0.0])
    assert f.table["zone"].tolist() == ["funded", "grey", "grey", "grey", "not_funded"]
    for seed in range(6):
        lot = gz.grey_zone_lottery(ev, f, seed=seed)
        assert lot.solid == ("A",) and lot.grey == ("B", "C", "D") and set(lot.order) == {"B", "C", "D"}
        assert set(lot.winners) <= {"B", "C", "D"} and "E" not in set(lot.decisions.loc[lot.decisions["funded"], "application_id"])
        # whatever the order: D (70 k€) and exactly one of B and C (120 k€ each) fit beside A
        assert "D" in lot.winners and len(set(lot.winners) & {"B", "C"}) == 1 and lot.awarded_eur == 290_000


def test_grey_zone_bounds_are_configurable_and_checked(merit_case):
    ev, post = merit_case
    f = gz.posterior_funding(ev, post, n_draws=None, grey_zone=(0.25, 0.65))
    assert f.table["zone"].tolist() == ["funded", "funded", "grey", "not_funded", "not_funded"]
    with pytest.raises(ValueError, match="0 ≤ basse < haute ≤ 1"):
        gz.posterior_funding(ev, post, grey_zone=(0.9, 0.1))
    with pytest.raises(ValueError, match="deux probabilités"):
        gz.posterior_funding(ev, post, grey_zone=0.5)


def test_a_candidate_missing_from_the_posterior_is_refused(case):
    ev, post = case
    short = posterior_for(["A", "B", "X"], post.theta[:, [0, 1, 3]])
    with pytest.raises(ValueError, match="sans tirage du modèle des évaluations : C"):
        gz.posterior_funding(ev, short)


def test_lottery_funds_solid_then_draws_the_grey_zone(merit_case, tmp_path):
    ev, post = merit_case
    f = gz.posterior_funding(ev, post, n_draws=None)
    lot = gz.grey_zone_lottery(ev, f, seed=2021)
    assert lot.solid == ("A",) and lot.grey == ("B", "C")
    perm = np.random.default_rng(2021).permutation(2)
    assert lot.order == tuple(["B", "C"][k] for k in perm)
    # the first drawn fits beside A (220 k€ <= 300 k€), the second no longer does (340 k€); D and E are not drawn
    assert lot.winners == lot.order[:1] and lot.passed == lot.order[1:]
    dec = lot.decisions.set_index("application_id")
    assert set(dec.index[dec["funded"]]) == {"A", lot.order[0]}
    assert lot.awarded_eur == 220_000 and lot.remaining_eur == 80_000 and lot.available_eur == 300_000
    assert lot.record["rule"] == "merit_order"
    assert gz.grey_zone_lottery(ev, f, seed=2021).record == lot.record  # same seed, same draw
    assert gz.check_lottery_order(lot.record)
    tampered = dict(lot.record, order=list(reversed(lot.record["order"])))
    assert not gz.check_lottery_order(tampered)
    # recorded in the decision journal, chained
    jp = tmp_path / "decisions.jsonl"
    e1 = record_lottery(lot, jp)
    e2 = record_lottery(gz.grey_zone_lottery(ev, f, seed=7), jp)
    state = read_journal(jp)
    assert state.intact and [e["seq"] for e in state.entries] == [1, 2]
    assert e2["previous_sha256"] == e1["entry_sha256"]
    assert state.entries[0]["event"] == "tirage_au_sort" and state.entries[0]["payload"]["seed"] == 2021
    assert state.entries[0]["payload"]["order"] == list(lot.order)
    assert state.entries[0]["payload"]["rule"] == "merit_order"
    text = jp.read_text(encoding="utf-8").replace('"seed":2021', '"seed":2022')
    jp.write_text(text, encoding="utf-8")
    assert not read_journal(jp).intact


def test_lottery_refuses_a_bad_seed_another_rule_and_solid_sets_that_do_not_fit(merit_case):
    ev, post = merit_case
    f = gz.posterior_funding(ev, post, n_draws=None)
    with pytest.raises(ValueError, match="graine -1"):
        gz.grey_zone_lottery(ev, f, seed=-1)
    with pytest.raises(ValueError, match="complète une décision prise selon la règle « ordre de mérite"):
        gz.grey_zone_lottery(ev, f, AllocationParams(rule="max_total_score"), seed=1)
    # pretend B, C and D are solid beside A: 440 k€ > 300 k€
    t = f.table.copy()
    t.loc[t["application_id"].isin(["B", "C", "D"]), "zone"] = "funded"
    with pytest.raises(ValueError, match="ne tiennent pas ensemble"):
        gz.grey_zone_lottery(ev, replace(f, table=t), seed=1)


def test_lottery_order_is_independent_of_the_input_order():
    assert gz.lottery_order(["P3", "P1", "P2"], 5) == gz.lottery_order(["P2", "P3", "P1"], 5)
    assert sorted(gz.lottery_order(["P3", "P1", "P2"], 5)) == ["P1", "P2", "P3"]


def test_expected_rank_figure_draws_the_table(case):
    from matplotlib.colors import to_hex

    from ditp_model.outputs.plots import ZONE_COLOURS, expected_rank_figure

    ev, post = case
    f = gz.posterior_funding(ev, post, n_draws=None)
    fig = expected_rank_figure(f.table, funding_line=2.5)
    ax = fig.axes[0]
    by_gid = {c.get_gid(): c for c in ax.collections}
    t = f.table.sort_values(["er", "application_id"]).reset_index(drop=True)
    segs90 = by_gid["interval-90"].get_segments()
    segs50 = by_gid["interval-50"].get_segments()
    for k, r in t.iterrows():
        assert segs90[k][0][0] == r["rank_q05"] and segs90[k][1][0] == r["rank_q95"] and segs90[k][0][1] == k
        assert segs50[k][0][0] == r["rank_q25"] and segs50[k][1][0] == r["rank_q75"]
        assert to_hex(by_gid["interval-50"].get_colors()[k]) == ZONE_COLOURS[r["zone"]]
    np.testing.assert_allclose(by_gid["expected-rank"].get_offsets()[:, 0], t["er"])
    assert [x.get_text() for x in ax.get_yticklabels()] == t["application_id"].tolist()
    line = [x for x in ax.lines if x.get_gid() == "funding-line"]
    assert len(line) == 1 and line[0].get_xdata()[0] == 2.5


def test_posterior_scores_per_criterion(case):
    """One posterior per reviewed criterion: each enters with its own weight (impact 0.5, openness 0.5 here)."""
    ev, post = case
    ids = ["A", "B", "C", "X"]
    impact = posterior_for(ids, np.tile([4.0, 3.0, 2.0, 1.0], (2, 1)))
    openness = posterior_for(ids, np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 5.0]]))
    s = gz.posterior_scores(ev, {"impact": impact, "openness": openness})
    # draw 0: 100 * (0.5 * 4/5 + 0.5 * 1/5) = 50 for A ; draw 1, X: 100 * (0.5 * 1/5 + 0.5 * 5/5) = 60
    assert s.loc[0, "A"] == pytest.approx(50.0) and s.loc[1, "X"] == pytest.approx(60.0)
    assert s.loc[1, "B"] == pytest.approx(30.0)
    with pytest.raises(ValueError, match="il manque le critère openness"):
        gz.posterior_scores(ev, {"impact": impact})


def test_lottery_checks_winners_and_settings(merit_case, tmp_path):
    ev, post = merit_case
    f = gz.posterior_funding(ev, post, n_draws=None)
    lot = gz.grey_zone_lottery(ev, f, seed=3)
    entry = record_lottery(lot, tmp_path / "decisions.jsonl")
    assert gz.check_lottery_order(entry) and gz.check_lottery_order(lot.record)
    assert not gz.check_lottery_order(dict(lot.record, order=list(reversed(lot.order))))  # not the drawn order
    assert not gz.check_lottery_order(dict(lot.record, winners=list(lot.order), passed=list(lot.order)))  # not a split
    # the order alone cannot tell a winner moved to "passed": replaying the skip rule can
    assert gz.check_lottery_winners(ev, entry)
    assert not gz.check_lottery_winners(ev, dict(lot.record, winners=[], passed=list(lot.order)))
    assert not gz.check_lottery_winners(ev, dict(lot.record, winners=list(lot.order), passed=[]))
    assert lot.record["weights"] == {"impact": 0.5, "openness": 0.5, "collective": 0.0}
    assert lot.record["envelope_eur"] == 300_000
    with pytest.raises(ValueError, match="mêmes paramètres d'allocation"):
        gz.grey_zone_lottery(ev, f, AllocationParams(envelope_eur=1_000_000), seed=1)
    text = f.zone_counts_fr()
    assert "ordre de mérite" in text and "1 financés (tête de classement financée dans au moins 90 % des tirages)" in text
    assert "2 en zone grise (tirage au sort), 2 non financés" in text
