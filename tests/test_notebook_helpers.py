"""French display tables used by the notebooks."""

from ditp_model import evaluate
from ditp_model.rules.allocation import AllocationParams
from ditp_model.outputs.notebook import (eligibility_counts_fr, eligibility_frame_fr, not_fundable_frame_fr, ranked_frame_fr,
                                 sample_inputs, selection_frame_fr)


def test_display_tables_on_sample():
    ev = evaluate(sample_inputs())
    counts = eligibility_counts_fr(ev)["Dossiers"].to_dict()
    t = ev.table
    assert counts["Candidatures"] == len(t) == 110
    assert counts["Non éligibles"] == int((~t["eligible"]).sum()) == 9
    assert counts["Éligibles et classées"] + counts["Éligibles, avis insuffisants"] + counts["Non éligibles"] == 110
    inel = eligibility_frame_fr(ev)
    assert set(inel.index) == {"P017", "P034", "P058", "P063", "P078", "P086", "P091", "P099", "P104"}
    top = ranked_frame_fr(ev, top=5)
    assert list(top.index) == [1, 2, 3, 4, 5]
    best = t.loc[t["rank"] == 1].iloc[0]
    assert top.iloc[0]["Dossier"] == best["application_id"]
    # French formats: decimal comma, euro sign after a (narrow) no-break space.
    assert "," in top.iloc[0]["Note"] and top.iloc[0]["Demandé"].endswith("\u00a0€")


def test_selection_and_not_fundable_tables_on_sample():
    ev = evaluate(sample_inputs())
    sel = selection_frame_fr(ev)["Valeur"].to_dict()
    # the call's [selection] values (data/appel_2021.toml)
    assert sel["Règle de décision"].startswith("ordre de mérite")
    assert sel["Note globale minimale"] == "50,00 sur 100"
    assert sel["Minimum « Impact »"] == "2,50 sur l'échelle 0–5"
    assert sel["Bande d'ex aequo δ"] == "0,50 point(s)"
    assert selection_frame_fr(ev, AllocationParams(tie_band_points="auto", min_score=0.0))["Valeur"].to_dict()[
        "Note globale minimale"] == "aucune"
    nf = not_fundable_frame_fr(ev)
    t = ev.table[ev.table["eligible"] & ev.table["scored"]]
    low = (t["score"].round(4) < 50) | ((5 * t["impact_score"]).round(4) < 2.5) | ((5 * t["openness_score"]).round(4) < 2.5)
    assert set(nf["Dossier"]) == set(t.loc[low, "application_id"]) and len(nf)
    assert list(nf.index) == sorted(nf.index)
    assert all(m.startswith("non finançable : ") for m in nf["Motif"])
    # an application below 50/100 only: its reason names the overall threshold
    only_overall = t[(t["score"] < 50) & (5 * t["impact_score"] >= 2.5) & (5 * t["openness_score"] >= 2.5)]
    for aid in only_overall["application_id"]:
        assert nf.set_index("Dossier").at[aid, "Motif"].startswith("non finançable : note globale")
