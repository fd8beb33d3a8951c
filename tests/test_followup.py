"""Follow-up of laureates: milestones table, its rules, the views as of a date, the sample.

The tiny table below is solved by hand (awards A1 = 100 000 €, A2 = 80 000 €):

====  =========  ==========  ==========  =========  =======  ==========
id    jalon      prévue      réelle      statut     tranche  versé le
====  =========  ==========  ==========  =========  =======  ==========
A1    Lancement  15/01/2022  20/01/2022  réalisé     30 000  15/02/2022
A1    Prototype  01/05/2022              en retard   40 000
A1    Bilan      15/07/2022              prévu       30 000
A2    Lancement  01/03/2022  10/06/2022  réalisé     24 000
A2    Ateliers   20/06/2022              annulé           0
A2    Bilan      10/07/2022              prévu       56 000
====  =========  ==========  ==========  =========  =======  ==========

As of 30/06/2022: late = A1 Prototype (60 days: 1 May to 30 June is 30 + 30 =
60 days); at risk within 30 days = A2 Bilan (10 days), A1 Bilan (15 days);
payment due = A2 Lancement (24 000 €); A1 paid 30 000 €, remains 70 000 €.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from ditp_model.timeline import followup as fu
from ditp_model.inputs.schema import InputError

ROOT = Path(__file__).resolve().parents[1]
NBSP = "\u202f"
AWARDS = {"A1": 100_000, "A2": 80_000}
HEADER = "dossier;jalon;date prévue;date réelle;statut;tranche;versé le"
ROWS = [
    "A1;Lancement;15/01/2022;20/01/2022;réalisé;30 000 €;15/02/2022",
    "A1;Prototype;01/05/2022;;en retard;40 000;",
    "A1;Bilan;15/07/2022;;prévu;30000;",
    "A2;Lancement;01/03/2022;10/06/2022;réalisé;24 000;",
    "A2;Ateliers;20/06/2022;;annulé;0;",
    "A2;Bilan;10/07/2022;;prévu;56000;",
]


def write(tmp_path, rows, header=HEADER, name="jalons.csv"):
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return p


def problems(exc_info, code):
    return [p for p in exc_info.value.problems if p.code == code]


@pytest.fixture
def table(tmp_path):
    return fu.read_milestones(write(tmp_path, ROWS), AWARDS)


# --------------------------------------------------------------------------- reading


def test_french_headers_statuses_amounts_and_dates_are_read(table):
    assert table["status"].tolist() == ["done", "late", "planned", "done", "cancelled", "planned"]
    assert table["tranche_eur"].tolist() == [30_000, 40_000, 30_000, 24_000, 0, 56_000]
    assert table["tranche_eur"].dtype == "int64"
    assert table.loc[0, "paid_date"] == pd.Timestamp(2022, 2, 15)
    assert pd.isna(table.loc[1, "actual_date"])
    assert table["source_row"].tolist() == [2, 3, 4, 5, 6, 7]


def test_canonical_statuses_and_headers_also_accepted(tmp_path):
    header = "application_id,milestone,planned_date,actual_date,status,tranche_eur,paid_date"
    rows = ["A2,Lancement,2022-03-01,2022-06-10,done,24000,", "A2,Bilan,2022-07-10,,planned,56000,"]
    t = fu.read_milestones(write(tmp_path, rows, header), AWARDS)
    assert t["status"].tolist() == ["done", "planned"]


def test_xlsx_is_read(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    for line in [HEADER, *ROWS]:
        ws.append(line.split(";"))
    wb.save(tmp_path / "jalons.xlsx")
    t = fu.read_milestones(tmp_path / "jalons.xlsx", AWARDS)
    assert t["tranche_eur"].sum() == 180_000


# --------------------------------------------------------------------------- rules, one by one


def test_tranche_sum_differing_from_the_award_is_reported_with_both_amounts(tmp_path):
    rows = ROWS.copy()
    rows[2] = "A1;Bilan;15/07/2022;;prévu;25000;"   # 30 000 + 40 000 + 25 000 = 95 000 ≠ 100 000
    with pytest.raises(InputError) as exc:
        fu.read_milestones(write(tmp_path, rows), AWARDS)
    assert [p.code for p in exc.value.problems] == ["tranche_sum"]
    p = exc.value.problems[0]
    assert (p.row, p.column, p.value) == (2, "tranche", 95_000)
    assert f"95{NBSP}000 €" in str(exc.value) and f"100{NBSP}000 €" in str(exc.value)
    assert "dossier A1" in str(exc.value) and "jalons.csv, ligne 2" in str(exc.value)


def test_payments_over_the_award_are_refused(tmp_path):
    rows = ["A1;Lancement;15/01/2022;20/01/2022;réalisé;30 000;15/02/2022",
            "A1;Prototype;01/05/2022;10/05/2022;réalisé;40 000;01/06/2022",
            "A1;Bilan;15/07/2022;16/07/2022;réalisé;40 000;01/08/2022"]   # 110 000 paid > 100 000
    with pytest.raises(InputError) as exc:
        fu.read_milestones(write(tmp_path, rows), AWARDS)
    over = problems(exc, "paid_over_award")
    assert len(over) == 1 and over[0].row == 4 and over[0].value == "01/08/2022"
    assert f"versements cumulés (110{NBSP}000 €) dépassent le montant attribué (100{NBSP}000 €)" in str(exc.value)
    assert len(problems(exc, "tranche_sum")) == 1


def test_check_milestones_refuses_payments_over_the_award_on_a_frame():
    frame = pd.DataFrame({"application_id": ["A2", "A2"], "milestone": ["a", "b"],
                          "planned_date": pd.to_datetime(["2022-01-01", "2022-02-01"]),
                          "actual_date": pd.to_datetime(["2022-01-02", "2022-02-02"]),
                          "status": ["done", "done"], "tranche_eur": [50_000, 40_000],
                          "paid_date": pd.to_datetime(["2022-01-10", "2022-02-10"])})
    codes = [p.code for p in fu.check_milestones(frame, AWARDS)]
    assert codes == ["tranche_sum", "paid_over_award"]


def test_milestones_of_a_non_funded_application_are_refused(tmp_path):
    rows = ROWS + ["A3;Lancement;15/01/2022;;prévu;10000;"]
    with pytest.raises(InputError) as exc:
        fu.read_milestones(write(tmp_path, rows), AWARDS)
    assert [(p.code, p.row, p.value) for p in exc.value.problems] == [("not_funded", 8, "A3")]
    assert "dossier non lauréat" in str(exc.value)


def test_duplicate_milestone_is_refused(tmp_path):
    rows = ROWS.copy()
    rows[2] = "A1;Prototype;15/07/2022;;prévu;30000;"
    with pytest.raises(InputError) as exc:
        fu.read_milestones(write(tmp_path, rows), AWARDS)
    assert [(p.code, p.row) for p in exc.value.problems] == [("duplicate_milestone", 4)]
    assert "jalon en double pour le dossier A1 (déjà ligne 3)" in str(exc.value)


def test_done_without_actual_date_is_refused(tmp_path):
    rows = ROWS.copy()
    rows[0] = "A1;Lancement;15/01/2022;;réalisé;30 000 €;"
    with pytest.raises(InputError) as exc:
        fu.read_milestones(write(tmp_path, rows), AWARDS)
    assert [(p.code, p.row, p.column) for p in exc.value.problems] == [("done_without_date", 2, "date réelle")]
    assert "jalon réalisé sans date de réalisation" in str(exc.value)


def test_actual_date_on_a_milestone_not_done_is_refused(tmp_path):
    rows = ROWS.copy()
    rows[1] = "A1;Prototype;01/05/2022;03/05/2022;en retard;40 000;"
    with pytest.raises(InputError) as exc:
        fu.read_milestones(write(tmp_path, rows), AWARDS)
    assert [(p.code, p.value) for p in exc.value.problems] == [("date_but_not_done", "03/05/2022")]
    assert "le statut est « en retard »" in str(exc.value)


def test_paid_tranche_of_a_milestone_not_done_is_refused(tmp_path):
    rows = ROWS.copy()
    rows[2] = "A1;Bilan;15/07/2022;;prévu;30000;01/07/2022"
    with pytest.raises(InputError) as exc:
        fu.read_milestones(write(tmp_path, rows), AWARDS)
    assert [(p.code, p.row) for p in exc.value.problems] == [("paid_not_done", 4)]
    assert "tranche versée alors que le jalon est « prévu »" in str(exc.value)


def test_bad_cells_are_all_reported_together(tmp_path):
    rows = ROWS.copy()
    rows[0] = "A1;Lancement;15/01/2022;20/01/2022;terminé;30 000 €;15/02/2022"
    rows[1] = "A1;Prototype;31/02/2022;;en retard;40 000,50;"
    rows[2] = ";Bilan;15/07/2022;;prévu;-5;"
    with pytest.raises(InputError) as exc:
        fu.read_milestones(write(tmp_path, rows), AWARDS)
    got = [(p.code, p.row, p.column) for p in exc.value.problems]
    assert got == [("missing_value", 4, "dossier"), ("bad_date", 3, "date prévue"), ("bad_category", 2, "statut"),
                   ("bad_amount", 3, "tranche"), ("bad_amount", 4, "tranche")]
    text = str(exc.value)
    assert text.startswith("5 erreurs")
    assert "statut inconnu ; valeurs admises : planned (prévu), done (réalisé), late (en retard), cancelled (annulé)" in text
    assert "montant avec des centimes" in text and "montant négatif" in text


def test_missing_column_is_named(tmp_path):
    header = "dossier;jalon;date prévue;date réelle;statut;versé le"
    rows = [";".join(r.split(";")[:5] + r.split(";")[6:]) for r in ROWS]
    with pytest.raises(InputError) as exc:
        fu.read_milestones(write(tmp_path, rows, header), AWARDS)
    assert [(p.code, p.column) for p in exc.value.problems] == [("missing_column", "tranche_eur")]


def test_header_only_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="aucun jalon"):
        fu.read_milestones(write(tmp_path, []), AWARDS)


# --------------------------------------------------------------------------- views


def test_late_milestones_as_of_a_date(table):
    late = fu.late_milestones(table, "2022-06-30")
    assert late.to_dict("records") == [
        {"Dossier": "A1", "Jalon": "Prototype", "Date prévue": pd.Timestamp(2022, 5, 1).date(),
         "Retard (jours)": 60, "Tranche (€)": 40_000}]
    # Earlier, A2's start (planned 01/03, done only on 10/06) was late too; the cancelled milestone never is.
    assert fu.late_milestones(table, "2022-05-02")["Dossier"].tolist() == ["A2", "A1"]
    assert fu.late_milestones(table, "2022-05-02")["Retard (jours)"].tolist() == [62, 1]
    assert fu.late_milestones(table, "2022-01-01").empty


def test_at_risk_milestones_as_of_a_date(table):
    risk = fu.at_risk_milestones(table, "2022-06-30")
    assert risk[["Dossier", "Jalon", "Jours restants", "Tranche (€)"]].values.tolist() == [
        ["A2", "Bilan", 10, 56_000], ["A1", "Bilan", 15, 30_000]]
    assert fu.at_risk_milestones(table, "2022-06-30", days=12)["Dossier"].tolist() == ["A2"]
    # Due that very day: at risk with 0 days left, not yet late.
    on_day = fu.at_risk_milestones(table, "2022-03-01", days=0)
    assert on_day[["Dossier", "Jours restants"]].values.tolist() == [["A2", 0]]
    assert fu.late_milestones(table, "2022-03-01").empty


def test_payments_due_as_of_a_date(table):
    due = fu.payments_due(table, "2022-06-30")
    assert due.to_dict("records") == [
        {"Dossier": "A2", "Jalon": "Lancement", "Réalisé le": pd.Timestamp(2022, 6, 10).date(), "Tranche (€)": 24_000}]
    # Before its payment on 15/02, A1's first tranche was due.
    assert fu.payments_due(table, "2022-02-01")[["Dossier", "Tranche (€)"]].values.tolist() == [["A1", 30_000]]


def test_project_summary_as_of_a_date(table):
    s = fu.project_summary(table, AWARDS | {"A9": 90_000}, "2022-06-30")
    assert s.values.tolist() == [
        ["A1", 100_000, 30_000, 70_000, 0, 1, 3, 1],
        ["A2", 80_000, 0, 80_000, 24_000, 1, 2, 0],
        ["A9", 90_000, 0, 90_000, 0, 0, 0, 0],
    ]
    assert list(s.columns)[:4] == ["Dossier", "Montant attribué (€)", "Versé (€)", "Reste à verser (€)"]
    assert all(s[c].dtype == "int64" for c in s.columns[1:])


def test_status_as_of(table):
    assert fu.status_as_of(table, "2022-06-30").tolist() == ["done", "late", "planned", "done", "cancelled", "planned"]
    assert fu.status_as_of(table, "2022-01-10").tolist() == ["planned", "planned", "planned", "planned", "cancelled", "planned"]


def test_timeline_figure(table):
    fig = fu.timeline_figure(table, "A1", "2022-06-30", award_eur=100_000)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    # First milestone at the top.
    assert [(t.get_text(), y) for t, y in zip(ax.get_yticklabels(), ax.get_yticks())] == [
        ("Lancement", 2), ("Prototype", 1), ("Bilan", 0)]
    assert "A1" in ax.get_title() and "30/06/2022" in ax.get_title()
    with pytest.raises(KeyError, match="aucun jalon pour le dossier A7"):
        fu.timeline_figure(table, "A7")


def test_awards_from_decisions():
    d = pd.DataFrame({"application_id": ["A1", "A2", "A3"], "funded": [True, False, True], "award_eur": [100_000, 0, 75_000]})
    assert fu.awards_from_decisions(d) == {"A1": 100_000, "A3": 75_000}


# --------------------------------------------------------------------------- the sample


def _generator():
    spec = importlib.util.spec_from_file_location("_generate_sample", ROOT / "data" / "generate_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_sample_laureates_are_the_package_decision_with_default_weights():
    import ditp_model as dm
    from ditp_model.rules.allocation import allocate
    from ditp_model.outputs.notebook import sample_inputs

    ev = dm.evaluate(sample_inputs(), dm.Weights.of(impact=0.5, openness=0.3, collective=0.2))
    alloc = allocate(ev)
    assert fu.awards_from_decisions(alloc.decisions) == _generator().LAUREATES


def test_sample_milestones_are_valid_and_cover_every_laureate():
    laureates = _generator().LAUREATES
    m = fu.read_milestones(ROOT / "data" / "jalons_exemple.csv", laureates)
    assert set(m["application_id"]) == set(laureates)
    counts = m.groupby("application_id").size()
    assert counts.between(3, 4).all()
    assert m.groupby("application_id")["tranche_eur"].sum().to_dict() == laureates
    assert m["planned_date"].min() >= pd.Timestamp(2021, 11, 1) and m["planned_date"].max() <= pd.Timestamp(2022, 12, 31)
    as_of = "2022-06-30"
    assert 1 <= len(fu.late_milestones(m, as_of)) <= 15
    assert len(fu.payments_due(m, as_of)) >= 1
    assert (m["paid_date"].notna()).sum() >= 3
