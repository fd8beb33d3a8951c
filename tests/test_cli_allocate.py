"""The main job `ditp-model allocate` on the sample data, and `ditp-model pabulib`."""

from __future__ import annotations

import csv
import io
import itertools
import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ditp_model.cli import main
from ditp_model.inputs.tables import read_output_csv

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
ARGS = ["--call", str(DATA / "appel_2021.toml"), "--weights", "impact=0.5,openness=0.3,collective=0.2"]


def run(capsys, out: Path, apps=DATA / "candidatures_exemple.csv", reviews=DATA / "evaluations_exemple.csv", extra=()):
    code = main(["allocate", *ARGS, "--applications", str(apps), "--reviews", str(reviews), "--out", str(out), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("alloc")
    code = main(["allocate", *ARGS, "--applications", str(DATA / "candidatures_exemple.csv"),
                 "--reviews", str(DATA / "evaluations_exemple.csv"), "--out", str(out)])
    return code, out


def test_sample_decision_is_sound(sample_run):
    code, out = sample_run
    assert code == 0
    table = read_output_csv(out / "allocation.csv")
    apps = pd.read_csv(DATA / "candidatures_exemple.csv", dtype={"application_id": str})
    assert list(table["application_id"]) == list(apps["application_id"])  # every application, input order
    funded = table[table["funded"]]
    assert 25 <= len(funded) <= 35
    assert int(funded["award_eur"].sum()) <= 3_000_000
    # Bounds recomputed from the raw request and the call's rules, not from the table's own bound columns.
    apps = apps.set_index("application_id")
    for row in funded.itertuples():
        cap = 200_000 if row.large_collective else 120_000
        assert row.award_eur == min(int(apps.at[row.application_id, "requested_eur"]), cap)
        assert 70_000 <= row.award_eur
        assert row.eligible
    assert (table.loc[~table["funded"], "award_eur"] == 0).all()
    # Ranking rule beside it: also within the envelope.
    assert int(table["ranking_rule_award_eur"].sum()) <= 3_000_000
    # Ineligible applications are never funded and say why.
    inel = table[~table["eligible"]]
    assert len(inel) == 9 and not inel["funded"].any() and inel["keeps_out"].str.contains("non éligible").all()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["solver"]["status"] == "optimal"
    assert manifest["funded_count"] == len(funded)
    assert manifest["total_awarded_eur"] == int(funded["award_eur"].sum())
    assert manifest["tie_break_rule"]["name"] == "score_then_submission_then_id"
    for path, digest in manifest["inputs"].items():
        import hashlib

        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    wb = openpyxl.load_workbook(out / "allocation.xlsx", read_only=True)
    assert wb.sheetnames == ["Décision", "Liste complémentaire", "Éligibilité", "Notes par évaluateur", "Paramètres", "Provenance"]
    assert wb["Décision"].max_row == len(table) + 1


def test_two_runs_identical_and_shuffled_input_same_decision(sample_run, tmp_path, capsys):
    _, first = sample_run
    code, _, _ = run(capsys, tmp_path / "again")
    assert code == 0
    assert (tmp_path / "again" / "allocation.csv").read_bytes() == (first / "allocation.csv").read_bytes()
    # Shuffled rows (reversed applications, reviews rotated) and changed titles: same decision.
    apps = pd.read_csv(DATA / "candidatures_exemple.csv", dtype=str, keep_default_na=False).iloc[::-1]
    apps["title"] = "Autre intitulé - + " + apps["title"].str[:20]
    revs = pd.read_csv(DATA / "evaluations_exemple.csv", dtype=str, keep_default_na=False)
    revs = pd.concat([revs.iloc[100:], revs.iloc[:100]])
    apps.to_csv(tmp_path / "apps.csv", index=False)
    revs.to_csv(tmp_path / "revs.csv", index=False)
    code, _, _ = run(capsys, tmp_path / "shuffled", tmp_path / "apps.csv", tmp_path / "revs.csv")
    assert code == 0
    m1 = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    m2 = json.loads((tmp_path / "shuffled" / "manifest.json").read_text(encoding="utf-8"))
    assert m1["decision_sha256"] == m2["decision_sha256"]


def test_impossible_locks_exit_3_in_french_and_keep_previous_results(sample_run, tmp_path, capsys):
    _, first = sample_run
    out = tmp_path / "res"
    out.mkdir()
    for name in ("allocation.csv", "manifest.json"):
        (out / name).write_bytes((first / name).read_bytes())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    table = read_output_csv(first / "allocation.csv")
    # The 30 largest eligible requests: far more than 3 M€ even at the floor (30 × 70 000 = 2.1 M€ at least;
    # here every award is the capped request, summed below).
    el = table[table["eligible"] & table["score"].notna()].sort_values("award_cap_eur", ascending=False).head(30)
    need = int(el["award_cap_eur"].sum())
    assert need > 3_000_000
    code, stdout, err = run(capsys, out, extra=["--lock-in", *el["application_id"]])
    assert code == 3
    assert "enveloppe" in err and "imposés" in err and "3 000 000" in err.replace("\u202f", " ").replace("\xa0", " ")
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_bad_input_exit_2_names_file_row_column(tmp_path, capsys):
    apps = (DATA / "candidatures_exemple.csv").read_text(encoding="utf-8").splitlines()
    apps[3] = apps[3].replace(",2021-", ",le 5 du mois 2021-", 1)  # line 4: bad date
    (tmp_path / "bad.csv").write_text("\n".join(apps) + "\n", encoding="utf-8")
    code, _, err = run(capsys, tmp_path / "out", apps=tmp_path / "bad.csv")
    assert code == 2
    assert "bad.csv" in err and "ligne 4" in err and "submitted_at" in err and "date" in err
    assert not (tmp_path / "out").exists()


def test_formula_injection_neutralised(tmp_path, capsys):
    apps = pd.read_csv(DATA / "candidatures_exemple.csv", dtype=str, keep_default_na=False)
    apps.loc[0, "title"] = '=HYPERLINK("http://exemple.invalid","clic")'
    apps.loc[1, "lead_org"] = "@SUM(A1:A2)"
    apps.to_csv(tmp_path / "apps.csv", index=False)
    code, _, _ = run(capsys, tmp_path / "out", apps=tmp_path / "apps.csv")
    assert code == 0
    text = (tmp_path / "out" / "allocation.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert rows[0]["title"].startswith("'=")
    assert rows[1]["lead_org"].startswith("'@")
    # The workbook shows the text as written, in a text cell (never a formula), quote-prefixed so Excel never runs it.
    ws = openpyxl.load_workbook(tmp_path / "out" / "allocation.xlsx")["Décision"]
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in cells)
    risky = [c for c in cells if isinstance(c.value, str) and c.value[:1] in "=+-@"]
    assert {c.value for c in risky} >= {'=HYPERLINK("http://exemple.invalid","clic")', "@SUM(A1:A2)"}
    assert all(c.quotePrefix for c in risky)


def _brute_force_pb(path: Path) -> tuple[Decimal, Decimal]:
    """Best total score within budget by enumerating subsets, from the raw file (approval counts)."""
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    meta = dict(line.split(";", 1) for line in text.split("PROJECTS\n")[0].splitlines()[2:])
    proj_lines = text.split("PROJECTS\n")[1].split("VOTES\n")[0].strip().splitlines()
    header = proj_lines[0].split(";")
    rows = [dict(zip(header, line.split(";"))) for line in proj_lines[1:]]
    col = "votes" if meta["vote_type"] == "approval" else "score"
    budget = Decimal(meta["budget"])
    items = [(Decimal(r["cost"]), Decimal(r[col])) for r in rows]
    best = (Decimal(0), Decimal(0))
    for r in range(len(items) + 1):
        for combo in itertools.combinations(items, r):
            cost = sum((c for c, _ in combo), Decimal(0))
            score = sum((s for _, s in combo), Decimal(0))
            if cost <= budget and score > best[0]:
                best = (score, cost)
    return best


@pytest.mark.parametrize("name", ["Netherlands_Assen_2024.pb", "Poland_Czestochowa_2020_Grabowka.pb"])
def test_pabulib_json_matches_brute_force(name, capsys):
    path = ROOT / "tests" / "data" / "pabulib" / name
    assert main(["pabulib", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    score, _ = _brute_force_pb(path)
    assert result["status"] == "optimal"
    assert Decimal(result["total_score"]) == score
    assert Decimal(result["total_cost"]) <= Decimal(result["budget"])
    assert set(result) >= {"status", "selected", "total_cost", "total_score", "solver", "seconds"}


def test_command_line_in_french_and_checked_before_solving(tmp_path, capsys):
    # Amounts on the command line are read like spreadsheet amounts; a share may be written 25%.
    code, out, _ = run(capsys, tmp_path / "o", extra=["--envelope", "2 500 000", "--max-share", "region=Île-de-France:25%",
                                                      "--no-gaps"])
    assert code == 0
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["envelope_eur"] == 2_500_000
    assert manifest["parameters"]["group_rules"][0]["max_share"] == 0.25
    # argparse errors come out in French, exit 2, no English "usage"/"error" words.
    with pytest.raises(SystemExit) as info:
        main(["allocate", "--call", "x"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "arguments obligatoires manquants" in err and "error:" not in err
    with pytest.raises(SystemExit):
        main(["allocate", *ARGS, "--applications", "a", "--reviews", "r", "--out", "o", "--min-count", "region:Bretagne"])
    assert "écrire colonne=valeur:nombre" in capsys.readouterr().err
    # --out that is a file: refused before anything is computed or printed.
    (tmp_path / "f").write_text("x", encoding="utf-8")
    code, out, err = run(capsys, tmp_path / "f")
    assert code == 2 and out == "" and "fichier existant" in err
    # A partial weights string is refused: a forgotten criterion is not silently set to 0.
    code = main(["allocate", "--call", str(DATA / "appel_2021.toml"), "--weights", "impact=0.5,openness=0.3",
                 "--applications", str(DATA / "candidatures_exemple.csv"), "--reviews", str(DATA / "evaluations_exemple.csv"),
                 "--out", str(tmp_path / "p")])
    assert code == 2 and "collective" in capsys.readouterr().err and not (tmp_path / "p").exists()
