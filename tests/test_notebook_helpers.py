"""French display tables used by the notebooks."""

from ditp_model import evaluate
from ditp_model.notebook import eligibility_counts_fr, eligibility_frame_fr, ranked_frame_fr, sample_inputs


def test_display_tables_on_sample():
    ev = evaluate(sample_inputs())
    counts = dict(eligibility_counts_fr(ev).values)
    t = ev.table
    assert counts["Candidatures"] == len(t) == 110
    assert counts["Non éligibles"] == int((~t["eligible"]).sum()) == 9
    assert counts["Éligibles et classées"] + counts["Éligibles, avis insuffisants"] + counts["Non éligibles"] == 110
    inel = eligibility_frame_fr(ev)
    assert set(inel["Dossier"]) == {"P017", "P034", "P058", "P063", "P078", "P086", "P091", "P099", "P104"}
    top = ranked_frame_fr(ev, top=5)
    assert list(top.index) == [1, 2, 3, 4, 5]
    best = t.loc[t["rank"] == 1].iloc[0]
    assert top.iloc[0]["Dossier"] == best["application_id"]
    # French formats: decimal comma, euro sign after a (narrow) no-break space.
    assert "," in top.iloc[0]["Note"] and top.iloc[0]["Demandé"].endswith("\u00a0€")
