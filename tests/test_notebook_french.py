"""What a committee member reads in the notebooks is French (trial 2: D8, D9, D10, D12, S9, S10).

Two kinds of checks:

* the display helpers of :mod:`ditp_model.outputs.notebook`, on values worked out by hand or recomputed
  here by a second method (``math.floor(x + 0.5)`` for rounding half up, sums of the table's own columns);
* the stored outputs of the notebooks re-executed with them (01, 03, 05, 06): no pandas ``dtype`` footer,
  no ``True`` / ``False``, no Python tuple, no code name of a column, no number with a decimal point.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import ditp_model as dm
from ditp_model.outputs import notebook as nb

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NNBSP = "\u202f"  # narrow no-break space: French thousands separator (CLDR)


def _plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\u00a0", " ")


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("share, digits, expected", [
    (0.9071, 1, "90,7 %"), (0.9071, 0, "91 %"),      # D9: P011's impact, « 90 % » before (truncated)
    (0.7280, 0, "73 %"), (0.6667, 0, "67 %"),         # P110 impact, P044 collective
    (0.725, 0, "73 %"), (0.125, 1, "12,5 %"),         # a half is rounded up, not to even
    (0.0, 0, "0 %"), (1.0, 1, "100,0 %"), (float("nan"), 1, "—")])
def test_percent_rounded_half_up(share, digits, expected):
    assert _plain(nb.format_percent(share, digits)) == expected


def test_frame_fr_kinds_and_index():
    t = pd.DataFrame({"id": ["P050", "P027"], "eur": [629370, 0], "pts": [64.2101, 1832.434], "ok": [True, False],
                      "ids": [("P027", "P053", "P093"), ()], "d": [dt.date(2022, 6, 30), pd.Timestamp("2021-09-15")],
                      "p": [0.975, 0.005]})
    out = nb.frame_fr(t, {"id": ("Dossier", "text"), "eur": ("Attribué", "eur"), "pts": ("Note", "points"),
                          "ok": ("Financé", "bool"), "ids": ("Entrent", "ids"), "d": ("Date", "date"),
                          "p": ("Probabilité", "percent")})
    assert out.index.name == "Dossier" and list(out.index) == ["P050", "P027"]
    assert [_plain(v) for v in out["Attribué"]] == ["629 370 €", "0 €"]
    assert [_plain(v) for v in out["Note"]] == ["64,21", "1 832,43"]
    assert list(out["Financé"]) == ["oui", "non"]
    assert list(out["Entrent"]) == ["P027, P053, P093", "—"]
    assert list(out["Date"]) == ["30/06/2022", "15/09/2021"]
    assert [_plain(v) for v in out["Probabilité"]] == ["97,5 %", "0,5 %"]
    assert t.loc[0, "eur"] == 629370  # the input is not modified


def test_followup_frame_reads_euros_and_dates():
    t = pd.DataFrame({"Dossier": ["P044", "P062"], "Jalon": ["Prototype", "Ateliers"],
                      "Date prévue": [dt.date(2022, 5, 15), dt.date(2022, 4, 15)], "Retard (jours)": [46, 1076],
                      "Tranche (€)": [54000, 0]})
    out = nb.followup_frame_fr(t)
    assert out.index.name == "Dossier" and list(out.columns) == ["Jalon", "Date prévue", "Retard (jours)", "Tranche"]
    assert [_plain(v) for v in out["Tranche"]] == ["54 000 €", "0 €"]
    assert list(out["Date prévue"]) == ["15/05/2022", "15/04/2022"]
    assert [_plain(v) for v in out["Retard (jours)"]] == ["46", "1 076"]


def test_posterior_line_has_a_decimal_comma():
    from ditp_model.scoring.review_model import ReviewPosterior

    def posterior(r_hat, ess, draws):
        # only the fields the line reads; the class' own methods (convergence_fr, converged, n_draws)
        return ReviewPosterior(votes=None, theta=np.zeros((draws, 1)), nu=np.zeros((draws, 1)), mu=0.0, sds=pd.DataFrame(),
                               r_hat=r_hat, ess=ess, seed=1991, num_chains=4, num_warmup=1, num_samples=1,
                               panel_effect=False, seconds=0.0)

    votes = SimpleNamespace(proposals=range(99), assessors=range(12), table=range(297))
    line = _plain(nb.posterior_fit_fr(votes, posterior(1.00349, 6161.4, 10000)))
    assert line == ("99 dossiers, 12 évaluateurs, 297 notes ; 10 000 tirages ; R̂ max 1,003 ; "
                    "taille effective min 6 161")
    assert "ATTENTION" in nb.posterior_fit_fr(votes, posterior(1.2, 10.0, 4))


def test_public_api_has_what_the_notebooks_use():
    from ditp_model.rules.base import GroupRule

    assert dm.GroupRule is GroupRule and "GroupRule" in dm.__all__


# --------------------------------------------------------------------------- helpers on the sample


@pytest.fixture(scope="module")
def sample():
    ev = dm.evaluate(nb.sample_inputs(), dm.Weights.of(impact=0.5, openness=0.3, collective=0.2))
    return ev, dm.AllocationParams(check_alternatives=False)


def test_ranked_percentages_are_rounded(sample):
    ev, _ = sample
    out = nb.ranked_frame_fr(ev)
    t = ev.table.set_index("application_id")
    for c in ev.rules.criteria:
        for aid, text in zip(out["Dossier"], out[c.label]):
            v = 100 * float(t.at[aid, f"{c.name}_score"])
            assert _plain(text) == f"{math.floor(v + 0.5)} %", (aid, c.name, v, text)
    # the three examples of the trial report
    row = out.set_index("Dossier")
    assert _plain(row.at["P011", "Impact"]) == "91 %" and _plain(row.at["P110", "Impact"]) == "73 %"
    assert _plain(row.at["P044", "Candidature collective"]) == "67 %"


def test_ineligible_reasons_are_whole(sample):
    ev, _ = sample
    out = nb.eligibility_frame_fr(ev)
    t = ev.table.set_index("application_id")
    assert out.index.name == "Dossier"
    for aid, reasons in out["Motifs"].items():
        assert reasons == t.at[aid, "reasons"] and not reasons.endswith("...")
    # D10: the notebooks no longer cut long texts at 80 characters
    for name in ("01_candidatures", "03_robustesse", "05_vagues", "06_suivi_jalons"):
        src = "".join("".join(c["source"]) for c in json.loads((NOTEBOOKS / f"{name}.ipynb").read_text("utf-8"))["cells"])
        assert '"display.max_colwidth", 80' not in src


def test_swing_and_counts_from_a_monte_carlo(sample):
    from ditp_model.uncertainty.robustness import weight_monte_carlo

    ev, params = sample
    mc = weight_monte_carlo(ev, params, n_draws=40, concentration=50.0, seed=2021, progress=False)
    cand = mc.table[mc.table["candidate"]]
    strictly_between = cand[(cand["p_funded"] > 0) & (cand["p_funded"] < 1)]
    out = nb.swing_frame_fr(mc)
    assert set(out.index) == set(strictly_between["application_id"])
    p = strictly_between.set_index("application_id")["p_funded"]
    # 40 draws: every probability is a multiple of 2,5 %, written with one decimal
    assert {a: _plain(v) for a, v in out["Probabilité d'être financé"].items()} == {
        a: f"{round(100 * x, 1):.1f} %".replace(".", ",") for a, x in p.items()}
    assert list(out["Probabilité d'être financé"].map(lambda s: float(_plain(s)[:-2].replace(",", ".")))) == sorted(
        p.to_numpy() * 100, reverse=True)
    counts = nb.robustness_counts_fr(mc)["Dossiers"]
    assert counts["incertain"] == len(strictly_between)
    assert counts["toujours financé"] == int((cand["p_funded"] == 1).sum())
    assert counts["jamais financé"] == int((cand["p_funded"] == 0).sum()) and counts.sum() == len(cand) == 54


def test_near_optimal_gap_is_labelled_as_spending(sample):
    from ditp_model.uncertainty.robustness import near_optimal_portfolios

    ev, params = sample
    near = near_optimal_portfolios(ev, params, within=0.02, max_portfolios=4)
    out = nb.near_optimal_frame_fr(near)
    assert "Dépense en moins que la décision" in out.columns and "gap_pct" not in out.columns
    spend = near.table["total_awarded_eur"].to_numpy()
    assert out.index[0] == "décision" and int(spend[0]) == 2_999_710
    for k, text in enumerate(out["Dépense en moins que la décision"]):
        gap = 100 * (int(spend[0]) - int(spend[k])) / int(spend[0])
        assert _plain(text) == f"{gap:.2f} %".replace(".", ","), (k, gap, text)


def test_waves_table_in_french(sample):
    from ditp_model.timeline import waves as vg

    ev, params = sample
    waves = vg.replay_weekly(ev, "2021-09-15", "2021-10-15", reserve_fn=None, params=params)
    out = nb.waves_frame_fr(waves)
    assert out.index.name == "Vague" and list(out.index) == [str(k) for k in range(1, len(waves) + 1)]
    awarded = [int(_plain(v)[:-2].replace(" ", "")) for v in out["Attribué"]]
    assert awarded == [sum(int(v) for v in w.awards_eur.values()) for w in waves]  # the waves' own awards, summed here
    # what is left after each wave: the envelope minus every amount awarded so far, recomputed here
    left = [int(_plain(v)[:-2].replace(" ", "")) for v in out["Reste"]]
    assert left == [3_000_000 - sum(awarded[: k + 1]) for k in range(len(awarded))]
    assert list(out["Date limite"])[0] == "15/09/2021" and list(out["Date limite"])[-1] == "15/10/2021"
    assert set(out["Statut du calcul"]) == {"optimum prouvé"}


# --------------------------------------------------------------------------- stored outputs


def _outputs(name: str) -> list[str]:
    cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text("utf-8"))["cells"]
    texts = []
    for c in cells:
        for o in c.get("outputs", []):
            if o["output_type"] == "stream":
                texts.append("".join(o["text"]))
            elif "data" in o:
                texts.append("".join(o["data"].get("text/plain", "")))
                texts.append("".join(o["data"].get("text/html", "")))
    return texts


RAW = [(r"\bdtype\b", "pied de Series pandas"), (r"\b(True|False)\b", "booléen Python"), (r"\('?P\d{3}'?,", "tuple Python"),
       (r"\b(application_id|robustness_fr|agreement_fr|gap_pct|funded_at_weights|expected_award_eur|total_score|"
        r"n_funded|envelope_eur|requested_eur|submitted_at)\b", "nom de colonne du code"),
       (r"(?<![\w.])\d+\.\d+(?![\w.])", "nombre à point décimal"), (r"<IPython", None)]


@pytest.mark.parametrize("name", ["01_candidatures", "03_robustesse", "05_vagues", "06_suivi_jalons"])
def test_stored_outputs_are_french(name):
    for text in _outputs(name):
        body = re.sub(r"<style.*?</style>", "", text, flags=re.S)
        for pattern, what in RAW:
            if what is None:
                continue
            m = re.search(pattern, body)
            assert m is None, f"{name} : {what} « {body[max(0, m.start() - 60): m.end() + 60]} »"
        # no bare 0, 1, 2 index: a table's index has a name (HTML: a second header row, or a named first column)
        if "<table" in body:
            assert "<th></th>" not in body.split("</thead>")[0] or re.search(r"<tr>\s*<th>[^<]+</th>", body), name
    if name == "03_robustesse":
        joined = "\n".join(_outputs(name))
        assert "R̂ max 1," in joined and "R̂ max 1." not in joined


def test_best_reserve_and_advice_header_by_hand():
    t = pd.DataFrame({"reserve_eur": [0, 300_000, 600_000], "funded": [26, 27, 27], "awarded_eur": [2_951_870, 2_948_370, 2_969_370],
                      "waves_total_score": [1662.5576, 1739.6013, 1739.6013], "score_gap": [169.8764, 92.8327, 92.8327],
                      "gap_closed": [0.0, 0.4535, 0.4535]})
    # the smallest gap, and among equal gaps the smallest reserve; 45,35 % rounded to 45 %
    assert _plain(nb.best_reserve_fr(t)) == ("Réserve qui comble le plus l'écart : 300 000 € (écart 92,83 points, "
                                             "45 % de l'écart sans réserve comblé)")
    out = nb.reserve_replay_frame_fr(t)
    assert out.index.name == "Réserve" and [_plain(v) for v in out["Part de l'écart comblée"]] == ["0 %", "45 %", "45 %"]
    advice = pd.DataFrame({"reserve_eur": [0], "threshold": [60.0], "now_funded": [12], "now_awarded_eur": [1_345_870],
                           "mean_ratio": [0.98375], "p10_ratio": [0.954], "p90_ratio": [0.995], "mean_awarded_eur": [2_983_320],
                           "mean_missed": [5.5]})
    advice.attrs.update(rule="merit_order", seen_cutoff="2021-09-29", seen=19, seed=2021, n_sims=10)
    assert "dossiers vus au 29/09/2021 : 19 ; graine : 2021 ; simulations : 10" in nb.reserve_advice_header_fr(advice)
    row = nb.reserve_advice_frame_fr(advice).iloc[0]
    assert _plain(nb.reserve_advice_frame_fr(advice).index[0]) == "0 €, seuil 60 points"
    assert _plain(row["Notes / décision en une fois (moyenne)"]) == "98,4 %" and row["Lauréats manqués (moyenne)"] == "5,5"


def test_contested_and_agreement_counts_by_hand():
    table = pd.DataFrame({"application_id": ["A", "B", "C", "D"], "candidate": [True, True, True, False],
                          "n_members": [5, 2, 0, 0], "members": [("M1", "M2", "M3", "M4", "M5"), ("M1", "M3"), (), ()],
                          "majority": [True, False, False, False], "agreement": ["consensus", "contested", "excluded", "excluded"],
                          "funded_at_average": [True, False, False, False], "funded_at_closest": [True, True, False, False]})
    analysis = SimpleNamespace(table=table)
    out = nb.contested_frame_fr(analysis)
    assert list(out.index) == ["B"] and out.loc["B"].tolist() == ["2", "M1, M3", "non", "non", "oui"]
    counts = nb.agreement_counts_fr(analysis)["Dossiers"]  # D is not a candidate: not counted
    assert counts.to_dict() == {"consensus": 1, "contesté": 1, "écarté": 1}
