"""A value compared with a threshold reads as the true comparison, and French words agree with their numbers.

Trial 2: « impact 2,50/5 sous le seuil de 2,50 » reached an applicant's letter (D3, true value 2,4959);
« non finançable : non finançable : » in ``score`` (D7); « 0 lauréats », « qui lui manquent » for several (S6).
Expected texts are written by hand; the sample's motives are checked by reading their numbers back.
"""

from __future__ import annotations

import re

import pytest

from ditp_model.french import count_fr, format_against, plural_fr
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS


@pytest.mark.parametrize(("value", "threshold", "expected"), [
    (2.4959, 2.5, ("2,496", "2,50")),      # two decimals would say 2,50: three are needed
    (2.10, 2.5, ("2,10", "2,50")),         # two suffice
    (2.4999, 2.5, ("2,4999", "2,50")),     # the comparison is made on 4 decimals: at most 4 needed there
    (49.996, 50.0, ("49,996", "50,00")),
    (50.004, 50.0, ("50,004", "50,00")),   # above: the same care
    (2.5, 2.5, ("2,50", "2,50")),          # equal reads equal
    (2.4959, 2.555, ("2,50", "2,555")),    # a threshold with three decimals is written with them
])
def test_format_against_reads_true(value, threshold, expected):
    assert format_against(value, threshold) == expected


def test_plural_and_count():
    assert [plural_fr(x, "point") for x in (0, 0.5, 1, 1.99, 2, 12.5)] == ["point"] * 4 + ["points"] * 2
    assert plural_fr(3, "avis", "avis") == "avis"
    assert count_fr(0, "lauréat", none="aucun lauréat") == "aucun lauréat"
    assert count_fr(1, "lauréat", none="aucun lauréat") == "1 lauréat"
    assert count_fr(27, "lauréat") == "27 lauréats"


@pytest.fixture(scope="module")
def sample_ev():
    from ditp_model.inputs.io import load_inputs
    from ditp_model.scoring.pipeline import evaluate

    return evaluate(load_inputs(RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS))


def _number(text: str) -> float:
    return float(text.replace("\u202f", "").replace(",", "."))


def test_every_sample_motive_reads_true(sample_ev):
    from ditp_model.rules.candidates import threshold_failures

    motives = threshold_failures(sample_ev)
    pairs = [(aid, m) for aid, text in motives.items()
             for m in re.finditer(r"([\d\u202f]+,\d+)/\d+ sous le seuil de ([\d\u202f]+,\d+)", text)]
    assert len(pairs) >= len(motives)  # each motive gives at least one comparison
    for aid, m in pairs:
        assert _number(m.group(1)) < _number(m.group(2)), (aid, m.group(0))
    # P061, the trial's case: impact 0.49919 on 0–1, i.e. 2.4959 on the 0–5 scale
    t = sample_ev.table.set_index("application_id")
    impact = 5 * float(t.at["P061", "impact_score"])
    assert 2.4955 <= impact < 2.4965
    assert "impact 2,496/5 sous le seuil de 2,50" in motives["P061"]


def test_score_marks_not_fundable_once(sample_ev):
    from ditp_model.cli.score import ranked_list_fr
    from ditp_model.rules.candidates import threshold_failures

    text = ranked_list_fr(sample_ev)
    assert "non finançable : non finançable" not in text
    marked = [line for line in text.splitlines() if "[non finançable : " in line]
    assert len(marked) == len(threshold_failures(sample_ev))


def test_held_applications_agree_in_number(sample_ev):
    from ditp_model.rules.held import provisional_status

    prov = provisional_status(sample_ev)
    k = len(prov.within_reach)
    assert k == 2  # P047 and P072 on the sample (README)
    tail = (" ; la liste des lauréats et la liste complémentaire ne pourront être arrêtées qu'une fois ces avis reçus, ou "
            "ces dossiers écartés par le comité avec un motif écrit.")
    assert prov.lines_fr()[0].endswith("pourraient entrer dans la liste des lauréats si les avis qui leur manquent leur "
                                       "donnaient les meilleures notes" + tail)
    one = type(prov)(prov.held.iloc[:1], prov.rule)
    assert one.lines_fr()[0].endswith("pourrait entrer dans la liste des lauréats si les avis qui lui manquent lui "
                                      "donnaient les meilleures notes" + tail)


def test_tie_band_written_once():
    from ditp_model.rules.candidates import tie_band_fr

    assert tie_band_fr(0.5, "déclarée dans les règles de l'appel (0,50 point)") == "0,50 point — déclarée dans les règles de l'appel"
    assert tie_band_fr(0.5, "déclarée dans les règles de l'appel (0,50 points)") == "0,50 point — déclarée dans les règles de l'appel"
    assert (tie_band_fr(4.3, "fixée par le comité : « auto », écart-type médian de la différence de deux notes composites, "
                             "calculé à partir des évaluations (4,30 points)")
            == "4,30 points — fixée par le comité : « auto », écart-type médian de la différence de deux notes composites, "
               "calculé à partir des évaluations")


def test_no_laureate_is_aucun_laureat(sample_ev):
    from ditp_model.rules.allocation import AllocationParams
    from ditp_model.session.state import PanelState, compute_outcome, summary_fr

    out = compute_outcome(sample_ev, PanelState(sample_ev.weights, AllocationParams(envelope_eur=0, check_alternatives=False)))
    assert out.n_funded == 0
    assert summary_fr(out).startswith("aucun lauréat, 0\u00a0€ attribués")
