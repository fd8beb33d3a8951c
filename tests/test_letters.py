"""Decision letters from a Word template (``ditp-model lettres``, :mod:`ditp_model.outputs.letters`).

What a letter must say is checked against values read independently of the code under test:
the decision table read with the ``csv`` module, the call file read with ``tomllib``, amounts
formatted by hand (thousands separated by a space, « € »); the DOCX is read back with
python-docx and the PDF with ``pdftotext`` (or pypdf when poppler is absent).

The sample decision (110 applications) is written once per module (about 20 s: the PDFs); the
other tests use a small decision made from the first applications of the sample.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS

docx = pytest.importorskip("docx")
pypdf = pytest.importorskip("pypdf")

from ditp_model.cli import main  # noqa: E402
from ditp_model.outputs import letters as L  # noqa: E402

DAY = dt.date(2026, 12, 1)


# --------------------------------------------------------------------------- independent readers

def _norm(text: str) -> str:
    """Spaces of every kind (no-break, narrow no-break, line breaks) as one plain space."""
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\u00a0", " ")).strip()


def euros_by_hand(n: int) -> str:
    """``120000`` -> ``120 000 €`` (groups of three digits, plain spaces: compared after :func:`_norm`)."""
    s = str(int(n))
    groups = []
    while s:
        groups.insert(0, s[-3:])
        s = s[:-3]
    return " ".join(groups) + " €"


def docx_text(path: Path) -> str:
    d = docx.Document(str(path))
    parts = [p.text for p in d.paragraphs]
    parts += [p.text for t in d.tables for r in t.rows for c in r.cells for p in c.paragraphs]
    for section in d.sections:
        parts += [p.text for p in section.footer.paragraphs]
    return _norm("\n".join(parts))


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext"):
        out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
        return _norm(out.stdout.decode("utf-8"))
    return _norm(" ".join(p.extract_text() for p in pypdf.PdfReader(str(path)).pages))


def pdf_pages(path: Path) -> int:
    return len(pypdf.PdfReader(str(path)).pages)


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        text = fh.read()
    sep = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    return list(csv.DictReader(io.StringIO(text), delimiter=sep))


AUTHORITY = tomllib.loads(RULES_PATH.read_text(encoding="utf-8"))["authority"]


def allocate(out: Path, applications: Path = SAMPLE_APPLICATIONS, reviews: Path = SAMPLE_REVIEWS, *extra: str) -> Path:
    assert main(["allocate", "--call", str(RULES_PATH), "--applications", str(applications), "--reviews", str(reviews),
                 "--out", str(out), "--provisoire", *extra]) == 0
    return out / "manifest.json"


# --------------------------------------------------------------------------- the sample decision

@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    base = tmp_path_factory.mktemp("lettres")
    manifest = allocate(base / "decision")
    result = L.write_letters(manifest, day=DAY, route="html")
    return manifest, result, read_rows(base / "decision" / "allocation.csv")


def test_one_docx_and_one_pdf_per_application(sample):
    manifest, result, _ = sample
    ids = [r["application_id"] for r in read_rows(SAMPLE_APPLICATIONS)]
    out = manifest.parent / "lettres"
    assert result.out_dir == out and result.count == len(ids) == 110
    assert sorted(p.stem for p in out.glob("*.docx")) == sorted(ids)
    assert sorted(p.stem for p in out.glob("*.pdf") if p.name != result.merged_name) == sorted(ids)
    index = json.loads((out / L.MARKER).read_text(encoding="utf-8"))
    assert index["letters"] == len(ids) and index["pdf_route"] == result.route == "html"
    assert index["decision_sha256"] == json.loads(manifest.read_text(encoding="utf-8"))["decision_sha256"]


def test_merged_pdf_is_every_letter_in_order(sample):
    manifest, result, rows = sample
    out = manifest.parent / "lettres"
    pages = [pdf_pages(out / f"{r['application_id']}.pdf") for r in rows]
    assert all(n >= 1 for n in pages)
    assert pdf_pages(out / result.merged_name) == sum(pages) == result.pages
    # the first page of the merged PDF is the first letter's, the last the last letter's
    merged = pypdf.PdfReader(str(out / result.merged_name))
    assert rows[0]["application_id"] in _norm(merged.pages[0].extract_text())
    assert rows[-1]["application_id"] in _norm(merged.pages[sum(pages) - pages[-1]].extract_text())


def _common(text: str) -> None:
    assert "Voies et délais de recours" in text and "deux mois" in text
    assert AUTHORITY["court"] in text
    assert AUTHORITY["address"] in text and AUTHORITY["name"] in text
    assert AUTHORITY["signatory_title"] in text
    assert "Paris, le 1er décembre 2026" in text


def test_funded_letter_gives_the_award_in_french(sample):
    manifest, _, rows = sample
    funded = [r for r in rows if r["funded"] == "True"]
    assert funded
    r = funded[0]
    out = manifest.parent / "lettres"
    award = euros_by_hand(int(r["award_eur"]))
    for text in (docx_text(out / f"{r['application_id']}.docx"), pdf_text(out / f"{r['application_id']}.pdf")):
        _common(text)
        assert f"une subvention de {award} lui est attribuée" in text
        assert "au-dessus de la ligne de financement" in text
        assert _norm(r["title"])[:40] in text
        assert f"AAP 2021 / dossier {r['application_id']}" in text


def test_unfunded_letter_gives_the_reason(sample):
    manifest, _, rows = sample
    out = manifest.parent / "lettres"
    env = [r for r in rows if r["reason"] == "envelope" and r["funded"] == "False"]
    assert env
    r = env[0]
    left, need = euros_by_hand(int(r["left_when_turn_eur"])), euros_by_hand(int(r["needed_eur"]))
    funded_ranks = [int(float(x["rank"])) for x in rows if x["funded"] == "True"]
    for text in (docx_text(out / f"{r['application_id']}.docx"), pdf_text(out / f"{r['application_id']}.pdf")):
        _common(text)
        assert "votre projet n'a pas été retenu" in text
        assert f"il restait {left}" in text and f"il fallait au moins {need}" in text
        assert "Motifs de la décision" in text
        assert f"le dernier dossier retenu dans l'ordre du classement est classé {max(funded_ranks)}e" in text
    inel = [r for r in rows if r["eligible"] == "False"]
    assert inel
    text = docx_text(out / f"{inel[0]['application_id']}.docx")
    assert "votre candidature n'est pas recevable" in text and _norm(inel[0]["reasons"]) in text


def test_reserve_list_letter_gives_its_position(sample):
    manifest, _, rows = sample
    out = manifest.parent / "lettres"
    reserve = [r for r in rows if r.get("list") == "reserve"]
    if not reserve:
        pytest.skip("no reserve list in this decision table")
    r = min(reserve, key=lambda x: int(float(x["reserve_rank"])))
    n = int(float(r["reserve_rank"]))
    for text in (docx_text(out / f"{r['application_id']}.docx"), pdf_text(out / f"{r['application_id']}.pdf")):
        assert "n'a pas été retenu sur la liste principale" in text
        assert f"inscrit en {'1re' if n == 1 else f'{n}e'} position sur la liste complémentaire" in text
    index = json.loads((out / L.MARKER).read_text(encoding="utf-8"))
    assert {f["application_id"] for f in index["files"] if f["decision"] == "liste complémentaire"} == \
        {x["application_id"] for x in reserve}


# --------------------------------------------------------------------------- a small decision

@pytest.fixture()
def small(tmp_path):
    """The first 8 applications of the sample and their reviews, envelope 250 000 €: some funded, some not."""
    apps = read_rows(SAMPLE_APPLICATIONS)[:8]
    ids = {a["application_id"] for a in apps}
    reviews = [r for r in read_rows(SAMPLE_REVIEWS) if r["application_id"] in ids]
    for name, rows in (("candidatures.csv", apps), ("evaluations.csv", reviews)):
        with open(tmp_path / name, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    manifest = allocate(tmp_path / "decision", tmp_path / "candidatures.csv", tmp_path / "evaluations.csv",
                        "--envelope", "250000")
    rows = read_rows(manifest.parent / "allocation.csv")
    assert {r["funded"] for r in rows} == {"True", "False"}
    return manifest


def _template_copy(tmp_path: Path, old: str | None = None, new: str | None = None, extra: str | None = None) -> Path:
    d = docx.Document(str(L.DEFAULT_TEMPLATE))
    if old is not None:
        hits = [p for p in d.paragraphs if p.text == old]
        assert len(hits) == 1, old
        for run in hits[0].runs[1:]:
            run.text = ""
        hits[0].runs[0].text = new
    if extra is not None:
        d.add_paragraph(extra)
    path = tmp_path / "mon_modele.docx"
    d.save(str(path))
    return path


def test_edited_template_is_used(small, tmp_path, capsys):
    tpl = _template_copy(tmp_path, "Madame, Monsieur,", "Chère porteuse, cher porteur de projet,")
    out = tmp_path / "mes_lettres"
    assert main(["lettres", "--manifest", str(small), "--modele", str(tpl), "--out", str(out), "--date", "2026-12-03"]) == 0
    said = capsys.readouterr().out
    route = L.pdf_route("auto")  # LibreOffice when installed, else mammoth + WeasyPrint: the command says which
    assert str(tpl) in said and ("LibreOffice" if route == "libreoffice" else "mammoth puis WeasyPrint") in said
    assert "8 lettres" in said
    for aid in [r["application_id"] for r in read_rows(small.parent / "allocation.csv")]:
        for text in (docx_text(out / f"{aid}.docx"), pdf_text(out / f"{aid}.pdf")):
            # the salutation replaced; « Madame, Monsieur, » stays in the closing formula only
            assert "Chère porteuse, cher porteur de projet, Vous avez présenté" in text
            assert text.count("Madame, Monsieur,") == 1
            assert "3 décembre 2026" in text
    index = json.loads((out / L.MARKER).read_text(encoding="utf-8"))
    assert index["template"] == str(tpl.resolve())


def test_unknown_field_is_named(small, tmp_path, capsys):
    tpl = _template_copy(tmp_path, extra="SIRET : {{ numero_siret }} — {{ intitule }}")
    with pytest.raises(L.LetterTemplateError) as err:
        L.check_template(tpl)
    msg = str(err.value)
    assert "« numero_siret »" in msg and "champs connus" in msg and "intitule" in msg and str(tpl) in msg
    assert main(["lettres", "--manifest", str(small), "--modele", str(tpl)]) == 2
    assert "numero_siret" in capsys.readouterr().err
    assert not (small.parent / "lettres").exists()


def test_template_that_is_not_a_docx_is_named(small, tmp_path, capsys):
    fake = tmp_path / "modele.docx"
    fake.write_text("Madame, Monsieur, {{ intitule }}", encoding="utf-8")
    assert main(["lettres", "--manifest", str(small), "--modele", str(fake)]) == 2
    err = capsys.readouterr().err
    assert str(fake) in err and "n'est pas un document Word .docx" in err
    broken = _template_copy(tmp_path, extra="{{ intitule }")
    with pytest.raises(L.LetterTemplateError, match="champ mal écrit"):
        L.check_template(broken)


def test_letters_folder_is_wholly_old_or_wholly_new(small, tmp_path, monkeypatch):
    out = tmp_path / "lettres"
    L.write_letters(small, out, day=DAY, route="html")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "note_du_secretariat.txt").write_text("x", encoding="utf-8")

    def fail(*a, **k):
        raise RuntimeError("conversion interrompue")

    monkeypatch.setattr(L, "docx_to_pdf_html", fail)
    with pytest.raises(RuntimeError, match="conversion interrompue"):
        L.write_letters(small, out, day=dt.date(2027, 1, 5), route="html")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "note_du_secretariat.txt"} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging left
    monkeypatch.undo()
    L.write_letters(small, out, day=dt.date(2027, 1, 5), route="html")
    names = {p.name for p in out.iterdir()}
    assert "note_du_secretariat.txt" not in names and set(before) == names  # the new folder, whole
    assert "5 janvier 2027" in docx_text(out / sorted(n for n in names if n.endswith(".docx"))[0])


def test_output_folder_that_holds_something_else_is_refused(small, tmp_path):
    with pytest.raises(ValueError, match="contient la décision publiée"):
        L.write_letters(small, small.parent, route="html")
    other = tmp_path / "documents"
    other.mkdir()
    (other / "budget.xlsx").write_bytes(b"x")
    with pytest.raises(ValueError, match="ne contient pas des lettres"):
        L.write_letters(small, other, route="html")
    assert (other / "budget.xlsx").read_bytes() == b"x"


def test_a_changed_decision_table_is_refused(small, tmp_path):
    from ditp_model.inputs.schema import InputError

    path = small.parent / "allocation.csv"
    rows = read_rows(path)
    funded = next(r for r in rows if r["funded"] == "True")
    funded["award_eur"] = str(int(funded["award_eur"]) + 1000)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(InputError, match="ne correspond pas"):
        L.read_published_decision(small)


def test_table_in_the_older_csv_dialect_reads_the_same(small):
    """An ``allocation.csv`` published before the French-Excel dialect (``,``, decimal point, no BOM) gives the same letters."""
    path = small.parent / "allocation.csv"
    first = L.letter_contexts(L.read_published_decision(small), day=DAY)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # what the tool writes now: BOM, « ; », decimal comma
    rows = read_rows(path)
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=list(rows[0]), delimiter=",", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (v.replace(",", ".") if re.fullmatch(r"-?\d+,\d+", v) else v) for k, v in r.items()})
    path.write_bytes(text.getvalue().encode("utf-8"))
    assert L.letter_contexts(L.read_published_decision(small), day=DAY) == first


def test_letterhead_from_a_later_call_file(small, tmp_path):
    text = RULES_PATH.read_text(encoding="utf-8").replace('signatory_name = ""', 'signatory_name = "Camille Martin"')
    later = tmp_path / "appel.toml"
    later.write_text(text, encoding="utf-8")
    out = tmp_path / "lettres"
    L.write_letters(small, out, day=DAY, route="html", letterhead_call=later)
    one = sorted(out.glob("*.docx"))[0]
    assert "Camille Martin" in docx_text(one) and "Camille Martin" in pdf_text(one.with_suffix(".pdf"))


# --------------------------------------------------------------------------- pieces

def test_french_dates():
    assert L.date_fr(dt.date(2026, 12, 1)) == "1er décembre 2026"
    assert L.date_fr(dt.date(2027, 8, 15)) == "15 août 2027"


def test_pdf_route_and_libreoffice_command(monkeypatch, tmp_path):
    monkeypatch.setattr(L, "_soffice", lambda: None)
    assert L.pdf_route("auto") == "html"
    with pytest.raises(ValueError, match="LibreOffice"):
        L.pdf_route("libreoffice")
    monkeypatch.setattr(L, "_soffice", lambda: "soffice")
    assert L.pdf_route("auto") == "libreoffice"
    files = [tmp_path / "P001.docx", tmp_path / "P002.docx"]
    argv = L.soffice_argv("soffice", files, tmp_path / "out", tmp_path / "profil")
    assert argv[0] == "soffice" and argv[-2:] == [str(f) for f in files]
    assert argv[argv.index("--convert-to") + 1] == "pdf" and argv[argv.index("--outdir") + 1] == str(tmp_path / "out")
    assert "--headless" in argv
    profile = [a for a in argv if a.startswith("-env:UserInstallation=")]
    assert profile == [f"-env:UserInstallation={(tmp_path / 'profil').resolve().as_uri()}"]


def test_default_template_fields_are_known_and_regenerable(tmp_path):
    import importlib.util

    used = L.check_template(L.DEFAULT_TEMPLATE)
    assert used <= set(L.LETTER_FIELDS)
    assert {"autorite", "adresse", "reference", "lieu_et_date", "intitule", "decision_phrase", "position", "motifs",
            "voies_recours", "signataire_qualite", "signataire_nom"} <= used
    spec = importlib.util.spec_from_file_location("make_template", L.DEFAULT_TEMPLATE.parent / "make_template.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fresh = mod.build(tmp_path / "t.docx")

    def content(p):
        d = docx.Document(str(p))
        cells = [(x.style.name, x.text) for t in d.tables for r in t.rows for c in r.cells for x in c.paragraphs]
        return [(x.style.name, x.text) for x in d.paragraphs], cells, [x.text for x in d.sections[0].footer.paragraphs]

    assert content(fresh) == content(L.DEFAULT_TEMPLATE)  # the committed template is the script's
    assert zipfile.is_zipfile(L.DEFAULT_TEMPLATE)


def test_template_is_package_data():
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["ditp_model"]
    rel = L.DEFAULT_TEMPLATE.relative_to(Path(L.__file__).resolve().parents[1]).as_posix()
    assert any(Path(rel).match(p) for p in patterns)


@pytest.mark.skipif(shutil.which("soffice") is None and shutil.which("libreoffice") is None, reason="LibreOffice absent")
def test_libreoffice_route_when_installed(small, tmp_path):
    out = tmp_path / "lettres"
    result = L.write_letters(small, out, day=DAY, route="libreoffice")
    rows = read_rows(small.parent / "allocation.csv")
    assert result.route == "libreoffice" and json.loads((out / L.MARKER).read_text(encoding="utf-8"))["pdf_route"] == "libreoffice"
    r = next(x for x in rows if x["funded"] == "True")
    text = pdf_text(out / f"{r['application_id']}.pdf")
    _common(text)
    assert f"une subvention de {euros_by_hand(int(r['award_eur']))} lui est attribuée" in text
    assert pdf_pages(out / L.MERGED_NAME) == sum(pdf_pages(out / f"{x['application_id']}.pdf") for x in rows)


def test_authority_letterhead_fields_of_the_call_file(tmp_path):
    from ditp_model.inputs.call import Authority, load_call_rules
    from ditp_model.inputs.schema import InputError

    a = load_call_rules(RULES_PATH).authority
    assert (a.city, a.signatory_title, a.signatory_name) == (AUTHORITY["city"], AUTHORITY["signatory_title"],
                                                             AUTHORITY["signatory_name"])
    # the older key « signatory » is still read, as the signatory's title
    assert Authority(name="Préfecture", signatory="Le préfet").signatory_title == "Le préfet"
    assert Authority(name="P", signatory="x", signatory_title="Le préfet").signatory_title == "Le préfet"
    text = RULES_PATH.read_text(encoding="utf-8").replace('city = "Paris"', 'ville = "Paris"')
    bad = tmp_path / "appel.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="ville"):
        load_call_rules(bad)


def test_provisional_decision_gets_no_letter_without_provisoire(sample, tmp_path, capsys):
    """The sample decision is provisional (P047, P072 await reviews): letters announce a decision, so none are
    written (exit 6, nothing created) unless the secretariat asks for drafts with --provisoire."""
    manifest, _, _ = sample
    recorded = json.loads(manifest.read_text(encoding="utf-8"))
    assert recorded["provisional"] is True
    out = tmp_path / "brouillons"
    assert main(["lettres", "--manifest", str(manifest), "--out", str(out)]) == 6
    err = capsys.readouterr().err
    assert "Décision provisoire" in err and "P047" in err and "P072" in err and "aucune lettre écrite" in err
    assert not out.exists()


# --------------------------------------------------------------------------- committee locks, changes, drafts, verify

def _context_text(ctx: dict) -> str:
    return _norm(" ".join([ctx["decision_phrase"], ctx["position"], *ctx["motifs"]]))


def test_imposed_application_letters_split_the_money(sample, tmp_path):
    """An application imposed by the committee (lock-in) ranked just below an unfunded one (X): X's letter splits
    what was spent before its turn — better-ranked laureates, the imposed application (named, with the motif) —
    and the imposed one's letter says « imposé par le comité : motif », not « au-dessus de la ligne »; every
    number is recomputed here from allocation.csv."""
    _, _, rows = sample
    ranked = [r for r in rows if r["eligible"] == "True" and r["rank"] and r["funded"] == "False"
              and not r.get("not_fundable") and not r.get("review_status")]
    x = min((r for r in ranked if r["reason"] == "envelope"), key=lambda r: float(r["rank"]))
    motif = "Seul projet ultramarin"
    # Y: the first application ranked below X whose imposition leaves X out (with the tie band, imposing the very next
    # one may reshuffle the band and fund X too); the premise is checked on the published decision, not assumed.
    below = sorted((r for r in ranked if float(r["rank"]) > float(x["rank"]) and r["reason"] == "envelope"),
                   key=lambda r: float(r["rank"]))
    for k, y in enumerate(below[:6]):
        manifest = allocate(tmp_path / f"d{k}", SAMPLE_APPLICATIONS, SAMPLE_REVIEWS, "--lock-in", f"{y['application_id']}={motif}")
        new = {r["application_id"]: r for r in read_rows(manifest.parent / "allocation.csv")}
        X, Y = new[x["application_id"]], new[y["application_id"]]
        if X["funded"] == "False":
            break
    assert Y["funded"] == "True" and X["funded"] == "False"
    recorded = json.loads(manifest.read_text(encoding="utf-8"))
    available = int(recorded["parameters"]["available_eur"])
    better = sum(int(r["award_eur"]) for r in new.values() if r["funded"] == "True" and r["application_id"] != Y["application_id"]
                 and float(r["rank"]) < float(X["rank"]))
    imposed = int(Y["award_eur"])
    left = available - better - imposed
    need = int(X["needed_eur"])
    assert left == int(X["left_when_turn_eur"]) and left < need
    contexts = {c["dossier"]: c for c in L.letter_contexts(L.read_published_decision(manifest), day=DAY)}
    tx = _context_text(contexts[X["application_id"]])
    assert f"Les dossiers mieux classés retenus ont reçu au total {euros_by_hand(better)} ;" in tx
    assert (f"le dossier imposé par le comité, classé après lui mais financé en premier, a reçu {euros_by_hand(imposed)} : "
            f"{Y['application_id']} (motif : {motif})") in tx
    assert f"il restait {euros_by_hand(left)}" in tx and f"il fallait au moins {euros_by_hand(need)}" in tx
    if need <= left + imposed:
        assert "Le manque d'argent à son rang vient du dossier imposé par le comité" in tx
    ty = _context_text(contexts[Y["application_id"]])
    assert f"Il a été imposé par le comité : {motif}." in ty and "au-dessus de la ligne de financement" not in ty
    # the Word and PDF letters carry the committee's motif (the Markdown fragment always had it)
    docx_bytes = L.render_docx(L.DEFAULT_TEMPLATE, contexts[Y["application_id"]])
    (tmp_path / "y.docx").write_bytes(docx_bytes)
    assert f"motif : {motif}" in docx_text(tmp_path / "y.docx")
    pdfs, _, _ = L.docx_to_pdf_html([docx_bytes], ["pied"])
    (tmp_path / "y.pdf").write_bytes(pdfs[0])
    assert f"motif : {motif}" in pdf_text(tmp_path / "y.pdf")
    # the exception names every unfunded application ranked above the imposed one, X first among them
    # passed over: every unfunded fundable application scored more than the tie band δ above the imposed one (within
    # the band, the merit order does not rank them apart: no exception to name)
    delta = float(recorded["decision_rule"]["tie_band_points"])
    above = sorted((r for r in new.values() if r["funded"] == "False" and r["rank"] and r["eligible"] == "True"
                    and float(r["rank"]) < float(Y["rank"]) and not r.get("not_fundable") and not r.get("review_status")
                    and float(r["score"].replace(",", ".")) - float(Y["score"].replace(",", ".")) > delta),
                   key=lambda r: float(r["rank"]))
    sentences = recorded["decision_rule"]["exceptions"]
    assert any(s.startswith(f"{Y['application_id']} financé avant {', '.join(r['application_id'] for r in above)} :")
               for s in sentences), sentences
    # proper French plural, no « dossier(s) »
    n_funded = sum(1 for r in new.values() if r["funded"] == "True")
    assert all("dossier(s)" not in c["position"] for c in contexts.values())
    assert f"a permis de financer {n_funded} dossiers" in contexts[X["application_id"]]["position"]


def test_letters_after_a_withdrawal_a_reduction_and_a_reserve_call(sample):
    """The decision table as timeline/withdrawal.py writes it after changes (``list`` ``withdrawn``, ``change``,
    ``change_note``): the withdrawn laureate's letter acknowledges the withdrawal and its motif, the reduced award's
    gives the new amount and the motif, the reserve application funded says so."""
    from dataclasses import replace

    manifest, _, _ = sample
    decision = L.read_published_decision(manifest)
    t = decision.table.copy()
    funded = t.index[t["funded"]].tolist()
    reserve = t.index[t["list"] == "reserve"].tolist()
    assert len(funded) >= 2 and reserve
    w, r, f = funded[0], funded[1], min(reserve, key=lambda i: t.at[i, "reserve_rank"])
    wid, rid, fid = (str(t.at[i, "application_id"]) for i in (w, r, f))
    before, after = int(t.at[r, "award_eur"]), int(t.at[r, "award_eur"]) - 10_000
    t["change"], t["change_note"] = "", ""
    t.loc[w, ["funded", "award_eur", "list", "change", "change_note"]] = [False, 0, "withdrawn", "withdrawn",
                                                                          "désistement (motif : projet abandonné)"]
    t.loc[r, ["award_eur", "change", "change_note"]] = [after, "reduced", f"montant réduit de {before} € à {after} € "
                                                                           "(motif : cofinancement obtenu)"]
    t.loc[f, ["funded", "award_eur", "list", "change", "change_note"]] = [
        True, int(t.at[f, "award_cap_eur"]), "main", "from_reserve", f"financé sur la liste complémentaire après désistement de {wid}"]
    t["award_eur"] = t["award_eur"].astype("int64")
    contexts = {c["dossier"]: c for c in L.letter_contexts(replace(decision, table=t), day=DAY)}
    cw = contexts[wid]
    tw = _context_text(cw)
    assert cw["decision"] == "désistement" and "Je prends acte de votre désistement" in tw and "projet abandonné" in tw
    assert "n'a pas été retenu" not in tw and "aucune note ne suffit" not in tw and not cw["finance"]
    tr = _context_text(contexts[rid])
    assert f"est désormais de {euros_by_hand(after)}" in tr and "cofinancement obtenu" in tr
    cf = contexts[fid]
    tf = _context_text(cf)
    assert cf["finance"] and "inscrit sur la liste complémentaire, est retenu" in tf
    assert f"après désistement de {wid}" in tf and euros_by_hand(int(t.at[f, "award_eur"])) in tf


def test_draft_letters_of_a_provisional_decision_are_marked(sample):
    """The sample decision is provisional: every page of every letter carries the draft mark, the merged PDF is
    projets_de_lettres.pdf (no lettres_a_signer.pdf) and lettres.json says provisional."""
    manifest, result, rows = sample
    out = manifest.parent / "lettres"
    mark = "PROJET — décision provisoire, ne pas envoyer"
    assert result.provisional and result.merged_name == "projets_de_lettres.pdf"
    assert (out / "projets_de_lettres.pdf").is_file() and not (out / "lettres_a_signer.pdf").exists()
    assert json.loads((out / L.MARKER).read_text(encoding="utf-8"))["provisional"] is True
    merged = pypdf.PdfReader(str(out / "projets_de_lettres.pdf"))
    assert all(mark in _norm(p.extract_text()) for p in merged.pages)
    d = docx.Document(str(out / f"{rows[0]['application_id']}.docx"))
    assert [p.text for p in d.sections[0].header.paragraphs] == [mark]
    assert d.paragraphs[0].text == mark


def test_final_letters_checked_by_verify_and_written_under_the_lock(small, tmp_path, monkeypatch, capsys):
    import hashlib

    from ditp_model.publication import LOCK_NAME

    seen = []
    render = L.render_docx
    monkeypatch.setattr(L, "render_docx", lambda *a, **k: seen.append((small.parent / LOCK_NAME).is_file()) or render(*a, **k))
    result = L.write_letters(small, day=DAY, route="html")
    assert seen and all(seen) and not (small.parent / LOCK_NAME).exists()  # held while writing, released after
    out = small.parent / "lettres"
    index = json.loads((out / L.MARKER).read_text(encoding="utf-8"))
    assert index["provisional"] is False and result.merged_name == L.MERGED_NAME and (out / L.MERGED_NAME).is_file()
    files = sorted(p.name for p in out.iterdir() if p.name != L.MARKER)
    assert sorted(index["sha256"]) == files
    assert all(index["sha256"][n] == hashlib.sha256((out / n).read_bytes()).hexdigest() for n in files)
    some = next(p for p in out.glob("*.pdf") if p.name != L.MERGED_NAME)
    assert "PROJET" not in pdf_text(some) and "PROJET" not in docx_text(some.with_suffix(".docx"))
    capsys.readouterr()
    assert main(["verify", str(small)]) == 0
    assert "lettres vérifiées" in capsys.readouterr().out
    # a letter replaced by another one (forged), then a letter added: each is a difference
    other = next(p for p in out.glob("*.pdf") if p not in (some, out / L.MERGED_NAME))
    original = some.read_bytes()
    some.write_bytes(other.read_bytes())
    assert main(["verify", str(small)]) != 0
    assert f"lettres/{some.name}" in capsys.readouterr().out
    some.write_bytes(original)
    (out / "P999.pdf").write_bytes(original)
    assert main(["verify", str(small)]) != 0
    assert "fichier ajouté, absent de lettres.json : lettres/P999.pdf" in capsys.readouterr().out
    (out / "P999.pdf").unlink()
    # while a command (here: lettres) holds the decision folder, verify says the folder may be half-written
    from ditp_model.publication import folder_lock

    with folder_lock(small.parent, command="ditp-model lettres"):
        assert main(["verify", str(small)]) != 0
    said = capsys.readouterr().out
    assert "une autre commande écrit dans" in said and "ditp-model lettres" in said
    assert main(["verify", str(small)]) == 0


def test_malformed_field_named_in_french(tmp_path):
    tpl = _template_copy(tmp_path, extra="Montant attribué : {{ montant_attribue")
    with pytest.raises(L.LetterTemplateError) as err:
        L.check_template(tpl)
    msg = str(err.value)
    assert "le paragraphe qui commence par « Montant attribué : {{ montant_attribue »" in msg
    assert "il manque « }} » fermant" in msg and str(tpl) in msg
    assert not re.search(r"\b(expected|unexpected|end of|tag)\b", msg)
