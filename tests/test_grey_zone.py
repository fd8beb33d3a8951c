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
from ditp_model import grey_zone as gz
from ditp_model import review_model as rm
from ditp_model.allocation import AllocationParams
from ditp_model.notebook import sample_inputs
from ditp_model.record import read_journal
from ditp_model.scoring import Weights

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


def test_probability_one_for_the_dominant_zero_for_one_that_cannot_fit(case):
    ev, post = case
    f = gz.posterior_funding(ev, post, AllocationParams(), n_draws=None, grey_zone=(0.1, 0.9))
    t = f.table.set_index("application_id")
    assert f.n_draws == 10
    assert t.loc["A", "p_funded"] == 1.0 and t.loc["A", "zone"] == "funded"
    assert t.loc["X", "p_funded"] == 0.0 and t.loc["X", "zone"] == "not_funded"  # best ranked, never fits
    assert t.loc["B", "p_funded"] == pytest.approx(0.3) and t.loc["C", "p_funded"] == pytest.approx(0.7)
    assert t.loc["B", "zone"] == "grey" and t.loc["C", "zone"] == "grey"
    assert t.loc["B", "expected_award_eur"] == 30_000 and t.loc["C", "expected_award_eur"] == 70_000
    assert t.loc["X", "er"] == 1.0 and t.loc["A", "er"] == 2.0
    assert t.loc["B", "er"] == pytest.approx(0.3 * 3 + 0.7 * 4) and t.loc["C", "er"] == pytest.approx(0.7 * 3 + 0.3 * 4)
    # money funding line: in ER order X (115 k€) fits, X + A (215 k€) does not -> one fundable, FL = ER of X
    assert f.n_fundable == 1 and f.funding_line_er == 1.0
    assert t.loc["X", "snsf_group"] == "accepted"
    assert f.zone_counts() == {"funded": 1, "grey": 2, "not_funded": 1}
    # the committee's decision on the plain scores (A 80, B 50, C 50, X 90): {A, B} and {A, C} tie on value and
    # spend; same submission date, so the named tie-break takes the smaller id, B
    assert t["funded_at_weights"].to_dict() == {"A": True, "B": True, "C": False, "X": False}


def test_grey_zone_bounds_are_configurable_and_checked(case):
    ev, post = case
    f = gz.posterior_funding(ev, post, n_draws=None, grey_zone=(0.25, 0.65))
    t = f.table.set_index("application_id")
    assert t.loc["B", "zone"] == "grey" and t.loc["C", "zone"] == "funded"
    with pytest.raises(ValueError, match="0 ≤ basse < haute ≤ 1"):
        gz.posterior_funding(ev, post, grey_zone=(0.9, 0.1))
    with pytest.raises(ValueError, match="deux probabilités"):
        gz.posterior_funding(ev, post, grey_zone=0.5)


def test_a_candidate_missing_from_the_posterior_is_refused(case):
    ev, post = case
    short = posterior_for(["A", "B", "X"], post.theta[:, [0, 1, 3]])
    with pytest.raises(ValueError, match="sans tirage du modèle des évaluations : C"):
        gz.posterior_funding(ev, short)


def test_lottery_funds_solid_then_draws_the_grey_zone(case, tmp_path):
    ev, post = case
    f = gz.posterior_funding(ev, post, n_draws=None)
    lot = gz.grey_zone_lottery(ev, f, seed=2021)
    assert lot.solid == ("A",) and lot.grey == ("B", "C")
    perm = np.random.default_rng(2021).permutation(2)
    assert lot.order == tuple(["B", "C"][k] for k in perm)
    # the first drawn fits beside A (200 k€ <= 210 k€), the second no longer does
    assert lot.winners == lot.order[:1] and lot.passed == lot.order[1:]
    dec = lot.decisions.set_index("application_id")
    assert set(dec.index[dec["funded"]]) == {"A", lot.order[0]}
    assert lot.awarded_eur == 200_000 and lot.remaining_eur == 10_000 and lot.available_eur == 210_000
    assert gz.grey_zone_lottery(ev, f, seed=2021).record == lot.record  # same seed, same draw
    assert gz.check_lottery_order(lot.record)
    tampered = dict(lot.record, order=list(reversed(lot.record["order"])))
    assert not gz.check_lottery_order(tampered)
    # recorded in the decision journal, chained
    jp = tmp_path / "decisions.jsonl"
    e1 = gz.record_lottery(lot, jp)
    e2 = gz.record_lottery(gz.grey_zone_lottery(ev, f, seed=7), jp)
    state = read_journal(jp)
    assert state.intact and [e["seq"] for e in state.entries] == [1, 2]
    assert e2["previous_sha256"] == e1["entry_sha256"]
    assert state.entries[0]["event"] == "tirage_au_sort" and state.entries[0]["payload"]["seed"] == 2021
    assert state.entries[0]["payload"]["order"] == list(lot.order)
    text = jp.read_text(encoding="utf-8").replace('"seed":2021', '"seed":2022')
    jp.write_text(text, encoding="utf-8")
    assert not read_journal(jp).intact


def test_lottery_refuses_a_bad_seed_and_solid_sets_that_do_not_fit(case):
    ev, post = case
    f = gz.posterior_funding(ev, post, n_draws=None)
    with pytest.raises(ValueError, match="graine -1"):
        gz.grey_zone_lottery(ev, f, seed=-1)
    # pretend X and A are both solid: 215 k€ > 210 k€
    t = f.table.copy()
    t.loc[t["application_id"] == "X", "zone"] = "funded"
    with pytest.raises(ValueError, match="ne tiennent pas ensemble"):
        gz.grey_zone_lottery(ev, replace(f, table=t), seed=1)


def test_lottery_order_is_independent_of_the_input_order():
    assert gz.lottery_order(["P3", "P1", "P2"], 5) == gz.lottery_order(["P2", "P3", "P1"], 5)
    assert sorted(gz.lottery_order(["P3", "P1", "P2"], 5)) == ["P1", "P2", "P3"]


def test_expected_rank_figure_draws_the_table(case):
    from matplotlib.colors import to_hex

    from ditp_model.plots import ZONE_COLOURS, expected_rank_figure

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


def test_lottery_checks_winners_and_settings(case, tmp_path):
    ev, post = case
    f = gz.posterior_funding(ev, post, n_draws=None)
    lot = gz.grey_zone_lottery(ev, f, seed=3)
    entry = gz.record_lottery(lot, tmp_path / "decisions.jsonl")
    assert gz.check_lottery_order(entry) and gz.check_lottery_order(lot.record)
    assert not gz.check_lottery_order(dict(lot.record, order=list(reversed(lot.order))))  # not the drawn order
    assert not gz.check_lottery_order(dict(lot.record, winners=list(lot.order), passed=list(lot.order)))  # not a split
    # the order alone cannot tell a winner moved to "passed": replaying the skip rule can
    assert gz.check_lottery_winners(ev, entry)
    assert not gz.check_lottery_winners(ev, dict(lot.record, winners=[], passed=list(lot.order)))
    assert not gz.check_lottery_winners(ev, dict(lot.record, winners=list(lot.order), passed=[]))
    assert lot.record["weights"] == {"impact": 0.5, "openness": 0.5, "collective": 0.0}
    assert lot.record["envelope_eur"] == 210_000
    with pytest.raises(ValueError, match="mêmes paramètres d'allocation"):
        gz.grey_zone_lottery(ev, f, AllocationParams(envelope_eur=1_000_000), seed=1)
    assert "1 financés (solides : dans au moins 90 % des tirages), 2 en zone grise" in f.zone_counts_fr()
