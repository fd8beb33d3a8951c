"""data/README.md's data dictionary is the one generated from the schema."""

from pathlib import Path

from ditp_model.inputs.call import load_call_rules
from ditp_model.inputs.schema import APPLICATION_COLUMNS, data_dictionary_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_data_dictionary_is_up_to_date():
    text = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- dictionnaire:debut -->\n", "<!-- dictionnaire:fin -->"
    assert start in text and end in text
    shown = text.split(start, 1)[1].split(end, 1)[0]
    from ditp_model.inputs.conflicts import CONFLICT_COLUMNS
    from ditp_model.inputs.locks import LOCK_COLUMNS
    from ditp_model.timeline.followup import MILESTONE_COLUMNS

    expected = data_dictionary_markdown(load_call_rules(ROOT / "data" / "appel_2021.toml"),
                                        {"Jalons (`jalons_exemple.csv`)": MILESTONE_COLUMNS,
                                         "Déclarations de conflits d'intérêts (`conflits_exemple.csv`, option `--conflits`)":
                                             CONFLICT_COLUMNS,
                                         "Verrous du comité (option `--verrous`)": LOCK_COLUMNS})
    assert shown.strip() == expected.strip(), "regenerate the dictionary: see ditp_model.inputs.schema.data_dictionary_markdown"


def test_every_column_documented_with_unit_for_amounts():
    for c in APPLICATION_COLUMNS:
        assert c.description_fr, c.name
        if c.kind == "amount":
            assert c.unit == "EUR", c.name
