"""Issue 15, command line: values refused before anything is read or written, and French everywhere.

* ``--time-limit`` > 0; ``--envelope`` read by one parser of French amounts for ``allocate``
  and ``report`` (scientific notation refused); ``--max-awards`` < 0 refused showing the
  value; ``--out ""`` refused; an input inside ``--out`` with an output's name refused and
  left untouched;
* help and errors in French (no ``usage:``, ``options:``, ``show this help message and exit``,
  ``the following arguments are required``), ``--solver`` documented;
* ``--weights`` accepts the criteria's French labels (« Ouverture »);
* a missing file says « fichier introuvable » with its path.
"""

from __future__ import annotations

import argparse
import shutil

import pytest

from ditp_model.inputs.call import load_call_rules
from ditp_model.cli import build_parser, main
from ditp_model.cli.common import check_out_dir
from ditp_model.cli.common import check_inputs_not_outputs, count, euros, out_dir, seconds
from ditp_model.cli.report import report_values
from ditp_model.scoring.aggregate import parse_weights

from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS


@pytest.fixture(scope="module")
def rules():
    return load_call_rules(RULES_PATH)


@pytest.mark.parametrize("text", ["1e6", "2,5E+06"])
def test_scientific_amount_on_the_command_line_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="notation scientifique") as caught:
        euros(text)
    # on a command line there is no column to widen: the message says how to write the amount instead
    assert "colonne" not in str(caught.value) and "en chiffres" in str(caught.value)


# ---------------------------------------------------------------------------
# Command-line values
# ---------------------------------------------------------------------------
SCORE = ["score", "--call", str(RULES_PATH), "--applications", str(SAMPLE_APPLICATIONS), "--reviews", str(SAMPLE_REVIEWS)]
ALLOCATE = ["allocate", *SCORE[1:]]
REPORT = ["report", *SCORE[1:]]


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "abc", "-0.5"])
@pytest.mark.parametrize("command", ["allocate", "report", "pabulib"])
def test_time_limit_must_be_positive(tmp_path, capsys, command, value):
    out = tmp_path / "o"
    base = {"allocate": ALLOCATE, "report": REPORT, "pabulib": ["pabulib", "x.pb"]}[command]
    args = [*base, "--time-limit", value] + ([] if command == "pabulib" else ["--out", str(out)])
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert f"Erreur : option --time-limit : « {value} »" in err
    assert not out.exists()


@pytest.mark.parametrize("text, expected", [("60", 60.0), ("2,5", 2.5), ("0.1", 0.1)])
def test_time_limit_accepted(text, expected):
    assert seconds(text) == expected


@pytest.mark.parametrize("written, expected", [("2 500 000", 2_500_000), ("2\u202f500\u202f000 €", 2_500_000),
                                               ("2500000", 2_500_000), ("2.500.000", 2_500_000)])
@pytest.mark.parametrize("command", ["allocate", "report"])
def test_envelope_read_alike_by_allocate_and_report(tmp_path, command, written, expected):
    base = ALLOCATE if command == "allocate" else REPORT
    args = build_parser().parse_args([*base, "--out", str(tmp_path), "--envelope", written, "--committed", written,
                                      "--reserve", "0"])
    assert (args.envelope, args.committed, args.reserve) == (expected, expected, 0)
    if command == "report":
        assert report_values(args)["envelope_eur"] == expected


@pytest.mark.parametrize("command", ["allocate", "report", "lottery"])
@pytest.mark.parametrize("written, reason", [("-5", "montant négatif"), ("-2,5 M€", "montant négatif"),
                                             ("beaucoup", "n'est pas un nombre"), ("deux M€", "n'est pas un montant"),
                                             ("1e6", "notation scientifique"), ("2,5555555 M€", "centimes")])
def test_bad_envelope_refused_alike(tmp_path, capsys, command, written, reason):
    base = {"allocate": ALLOCATE, "report": REPORT, "lottery": ["lottery", *SCORE[1:]]}[command]
    with pytest.raises(SystemExit) as info:
        main([*base, "--out", str(tmp_path / "o"), "--envelope", written])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"option --envelope : « {written} »" in err and reason in err
    assert not (tmp_path / "o").exists()


# what the panel's envelope field accepts (tests/test_panel_state.py), in euros counted by hand
TYPED = [("2,5 M€", 2_500_000), ("2,5M", 2_500_000), ("2.5 M", 2_500_000), ("300 k€", 300_000),
         ("2,5 millions d'euros", 2_500_000), ("2 500 000 €", 2_500_000), ("2,755 M€", 2_755_000)]


@pytest.mark.parametrize("written, expected", TYPED)
@pytest.mark.parametrize("command", ["allocate", "report", "lottery"])
def test_the_command_line_reads_amounts_as_the_panel_does(tmp_path, command, written, expected):
    """S2: « 2,5 M€ » typed in the panel is accepted by --envelope (and --reserve, --committed) alike."""
    from ditp_model.session.controls import parse_envelope

    base = {"allocate": ALLOCATE, "report": REPORT, "lottery": ["lottery", *SCORE[1:]]}[command]
    extra = [] if command == "lottery" else ["--reserve", written, "--committed", written]
    args = build_parser().parse_args([*base, "--out", str(tmp_path), "--envelope", written, *extra])
    assert args.envelope == expected == parse_envelope(written)
    if command != "lottery":
        assert args.reserve == args.committed == expected


@pytest.mark.parametrize("command", ["allocate", "report"])
@pytest.mark.parametrize("value", ["-1", "-30"])
def test_negative_max_awards_message_shows_the_value(tmp_path, capsys, command, value):
    base = ALLOCATE if command == "allocate" else REPORT
    with pytest.raises(SystemExit) as info:
        main([*base, "--out", str(tmp_path / "o"), "--max-awards", value])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"option --max-awards : « {value} » : nombre négatif" in err
    assert count("0") == 0 and count(" 12 ") == 12


@pytest.mark.parametrize("out", ["", "   "])
@pytest.mark.parametrize("command", ["score", "allocate", "report"])
def test_blank_out_refused(tmp_path, capsys, monkeypatch, command, out):
    monkeypatch.chdir(tmp_path)
    base = {"score": SCORE, "allocate": ALLOCATE, "report": REPORT}[command]
    with pytest.raises(SystemExit) as info:
        main([*base, "--out", out])
    assert info.value.code == 2 and "dossier des résultats vide" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(argparse.ArgumentTypeError):
        out_dir(out)
    with pytest.raises(ValueError, match="dossier des résultats vide"):
        check_out_dir(out)


@pytest.mark.parametrize("command, flag, name", [
    ("allocate", "--applications", "allocation.csv"),
    ("allocate", "--reviews", "manifest.json"),
    ("score", "--applications", "scores.csv"),
    ("report", "--applications", "allocation.csv"),
    ("report", "--reviews", "retours_candidats.csv"),
    ("report", "--applications", "retours/A1.csv"),
])
def test_input_inside_out_with_an_output_name_refused_before_writing(tmp_path, capsys, command, flag, name):
    out = tmp_path / "o"
    victim = out / name
    victim.parent.mkdir(parents=True)
    source = SAMPLE_APPLICATIONS if flag == "--applications" else SAMPLE_REVIEWS
    shutil.copy(source, victim)
    before = victim.read_bytes()
    args = {"--call": str(RULES_PATH), "--applications": str(SAMPLE_APPLICATIONS), "--reviews": str(SAMPLE_REVIEWS)}
    args[flag] = str(victim)
    code = main([command, *[x for kv in args.items() for x in kv], "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{flag} « {victim} » est dans le dossier des résultats" in err and f"({name.split('/')[0] + '/' if '/' in name else name})" in err
    assert victim.read_bytes() == before
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [name]


def test_input_inside_out_with_another_name_accepted(tmp_path):
    out = tmp_path / "o"
    check_inputs_not_outputs(out, {"--applications": out / "candidatures.csv", "--reviews": None},
                             ("allocation.csv", "retours/"))
    with pytest.raises(ValueError, match="serait écrasé"):
        check_inputs_not_outputs(out, {"--applications": out / "." / "allocation.csv"}, ("allocation.csv",))


# ---------------------------------------------------------------------------
# The command line in French
# ---------------------------------------------------------------------------
ENGLISH = ("usage:", "options:", "show this help message and exit", "positional arguments", "the following arguments",
           "error:", "invalid choice")


@pytest.mark.parametrize("argv", [["--help"], ["score", "--help"], ["allocate", "--help"], ["report", "--help"],
                                  ["pabulib", "--help"], ["verify", "--help"], ["lottery", "--help"], ["import-ds", "--help"]])
def test_help_in_french(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert out.startswith("utilisation : ditp-model")
    assert "afficher cette aide et quitter" in out and "options :" in out
    assert not [w for w in ENGLISH if w in out]


@pytest.mark.parametrize("argv", [["allocate", "--help"], ["pabulib", "--help"]])
def test_solver_has_a_help_text(capsys, argv):
    with pytest.raises(SystemExit):
        main(argv)
    out = " ".join(capsys.readouterr().out.split())
    assert "--solver {highs,cbc} solveur du programme linéaire en nombres entiers" in out


@pytest.mark.parametrize("argv, expected", [
    ([], "Erreur : commande manquante : choisir parmi score, allocate, pabulib"),
    (["score"], "Erreur : arguments obligatoires manquants : --call, --applications, --reviews, --out"),
    (["allocate", "--solver", "gurobi"], "Erreur : option --solver : choix invalide : 'gurobi' (choisir parmi 'highs', 'cbc')"),
    (["pabulib", "x.pb", "--inconnue"], "arguments non reconnus : --inconnue"),
    (["frobnicate"], "choix invalide : 'frobnicate'"),
])
def test_errors_in_french(capsys, argv, expected):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and expected in err
    assert not [w for w in ENGLISH if w in err]


@pytest.mark.parametrize("text", [
    "impact=50,ouverture=30,candidature collective=20",
    "Impact=50;Ouverture=30;Candidature collective=20",
    "IMPACT=50,OUVERTURE=30,collective=20",
    "impact=50,\"ouverture\"=30,'candidature  collective'=20",
    "impact=50,openness=30,collective=20",
])
def test_weights_accept_french_labels(rules, text):
    assert parse_weights(text, rules) == parse_weights("impact=50,openness=30,collective=20", rules)


def test_weights_label_and_key_of_one_criterion_are_a_repeat(rules):
    with pytest.raises(ValueError, match="« openness » donnée deux fois"):
        parse_weights("impact=1,openness=1,ouverture=2,collective=1", rules)


def test_weights_unknown_label_lists_keys_and_labels(rules):
    with pytest.raises(ValueError, match=r"critère inconnu « budget » ; critères de l'appel : impact \(« Impact »\), "
                                         r"openness \(« Ouverture »\), collective \(« Candidature collective »\)"):
        parse_weights("budget=1", rules)


def test_weights_one_label_alone_names_the_missing_criteria(rules):
    # Every criterion must be named (design): « ouverture » is understood, the others are asked for.
    with pytest.raises(ValueError, match="critère\\(s\\) sans pondération : impact, collective"):
        parse_weights("ouverture=30", rules)


def test_weights_with_labels_on_the_command_line(tmp_path, capsys):
    code = main([*SCORE, "--out", str(tmp_path / "o"), "--weights", "impact=50,ouverture=30,candidature collective=20"])
    captured = capsys.readouterr()
    assert code == 0, captured.err


@pytest.mark.parametrize("flag", ["--call", "--applications", "--reviews"])
def test_missing_file_says_introuvable(tmp_path, capsys, flag):
    args = {"--call": str(RULES_PATH), "--applications": str(SAMPLE_APPLICATIONS), "--reviews": str(SAMPLE_REVIEWS)}
    missing = tmp_path / "absent" / "fichier.csv"
    args[flag] = str(missing)
    code = main(["score", *[x for kv in args.items() for x in kv], "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and f"fichier introuvable : {missing}" in err
    assert "No such file" not in err and "illisible" not in err


def test_missing_pabulib_file_says_introuvable(tmp_path, capsys):
    code = main(["pabulib", str(tmp_path / "absent.pb")])
    assert code == 2 and f"fichier introuvable : {tmp_path / 'absent.pb'}" in capsys.readouterr().err



# ---------------------------------------------------------------------------
# --help: exit codes and French placeholders (trial 2, S3); report's summary line (S11)
# ---------------------------------------------------------------------------
def _subcommands():
    import argparse as ap

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, ap._SubParsersAction)]
    return parser, sub.choices


@pytest.mark.parametrize("name", sorted(_subcommands()[1]))
def test_every_help_ends_with_the_exit_codes(capsys, name):
    with pytest.raises(SystemExit):
        main([name, "--help"])
    out = capsys.readouterr().out
    foot = out[out.index("codes de sortie :"):]
    codes = [line.split()[0] for line in foot.splitlines()[1:] if line[:3].strip().isdigit()]
    assert codes == [str(c) for c in range(8)]  # 0 to 7, each on its own line, in order
    # the codes the commands return, named in the text
    assert "6  décision provisoire refusée faute de --provisoire" in foot and "lottery" in foot
    assert "4  journal des décisions altéré" in foot and "7  dossier des résultats verrouillé" in foot


def test_every_option_that_takes_a_value_has_a_french_placeholder():
    """argparse's default placeholder is the destination in capitals (ENVELOPE, MIN_SCORE, OUT): English."""
    import argparse as ap

    parser, subs = _subcommands()
    missing = []
    for name, p in subs.items():
        for a in p._actions:
            takes_value = a.option_strings and a.nargs != 0 and not isinstance(a, (ap._HelpAction, ap._StoreTrueAction))
            if (takes_value or not a.option_strings) and a.metavar is None and a.choices is None:
                missing.append(f"{name} {a.option_strings or a.dest}")
    assert not missing, missing


@pytest.mark.parametrize("command", ["allocate", "report", "lottery"])
def test_envelope_placeholder_is_euros_everywhere(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--envelope EUROS" in capsys.readouterr().out


def test_report_counts_feedback_as_retours_not_letters(tmp_path):
    from ditp_model.cli.report import published_line_fr

    out = tmp_path / "rapport"
    written = [out / "rapport.html", out / "allocation.csv"] + [out / "retours" / f"P{i:03d}.md" for i in range(1, 111)]
    line = published_line_fr(out, written)
    assert line == f"Rapport publié dans {out} : allocation.csv, rapport.html, retours/ (110 retours aux candidats)"
    assert "lettre" not in line  # the letters are ditp-model lettres's (Word, PDF)
    assert published_line_fr(out, [out / "retours" / "P001.md"]).endswith("retours/ (1 retour aux candidats)")
