"""``rapport.pdf``: read back with pypdf (and poppler's ``pdftotext -bbox`` when installed), never trusted from the code.

Two reports are produced on the sample data (entry gaps off, to keep the run short): one final, one
provisional (``--provisoire``).  What a reader of the printed report must get is checked on the PDF itself:
A4 pages, the running header with the call's name on every page, « page X / Y », every column of the
ranking table on each of its pages, each laureate's amounts on its line (so no column was pushed off the
page), no word beyond the right margin, « PROVISOIRE » on every page if and only if the decision is
provisional, and the tool's technical vocabulary kept out of the body and found in the « Annexe technique ».
Expected values come from the published CSV and the rules file, not from the report's code.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import shutil
import subprocess
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

pypdf = pytest.importorskip("pypdf")

from ditp_model.cli import main as cli_main  # noqa: E402
from ditp_model.inputs.tables import read_output_csv  # noqa: E402
from helpers import RULES_PATH, SAMPLE_APPLICATIONS, SAMPLE_REVIEWS  # noqa: E402

WEIGHTS = "impact=0.5,openness=0.3,collective=0.2"
A4 = (595.28, 841.89)  # points (210 × 297 mm)
MM = 72 / 25.4


def _report(out: Path, *extra: str, applications: Path = SAMPLE_APPLICATIONS, reviews: Path = SAMPLE_REVIEWS) -> Path:
    code = cli_main(["report", "--call", str(RULES_PATH), "--applications", str(applications),
                     "--reviews", str(reviews), "--weights", WEIGHTS, "--no-gaps", *extra, "--out", str(out)])
    assert code == 0
    return out


def _without(src: Path, dst: Path, ids: set[str]) -> Path:
    """Copy a sample CSV without the rows of the given applications (first column: application_id)."""
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    dst.write_text("".join([lines[0], *(x for x in lines[1:] if x.split(",", 1)[0] not in ids)]), encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def final(tmp_path_factory) -> Path:
    """A final (not provisional) report: the sample without P047 and P072, the two applications still awaiting
    reviews (with them the sample's decision is provisional, issue 13)."""
    base = tmp_path_factory.mktemp("rapport")
    held = {"P047", "P072"}
    return _report(base / "out", applications=_without(SAMPLE_APPLICATIONS, base / "candidatures.csv", held),
                   reviews=_without(SAMPLE_REVIEWS, base / "evaluations.csv", held))


@pytest.fixture(scope="module")
def provisional(tmp_path_factory) -> Path:
    return _report(tmp_path_factory.mktemp("rapport_provisoire") / "out", "--provisoire")


def _flat(text: str) -> str:
    """Text without any kind of space (WeasyPrint writes narrow no-break spaces inside amounts)."""
    return re.sub(r"[\s\u00a0\u202f]+", "", text)


def pages_text(pdf: Path) -> list[str]:
    return [p.extract_text() or "" for p in pypdf.PdfReader(pdf).pages]


@pytest.fixture(scope="module")
def final_pages(final) -> list[str]:
    return pages_text(final / "rapport.pdf")


@pytest.fixture(scope="module")
def final_layout(final) -> list[str]:
    """Each page as pypdf lays it out by position: the cells of a table row stand on one line."""
    return [p.extract_text(extraction_mode="layout") or "" for p in pypdf.PdfReader(final / "rapport.pdf").pages]


@pytest.fixture(scope="module")
def decision(final) -> pd.DataFrame:
    t = read_output_csv(final / "allocation.csv", dtype=str)
    t["funded"] = t["funded"] == "True"
    return t


def euro_text(x: int) -> str:
    """French whole euros, spaces removed: 113000 -> '113000€' (compared with :func:`_flat` text)."""
    return f"{int(x)}€"


class TableHead(HTMLParser):
    """Header cells of the HTML table with a given id."""

    def __init__(self, page: str, table_id: str):
        super().__init__(convert_charrefs=True)
        self.id, self.inside, self.cell, self.head = table_id, False, None, []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.id:
            self.inside = True
        elif self.inside and tag == "th":
            self.cell = []

    def handle_endtag(self, tag):
        if self.inside and tag == "th":
            self.head.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "thead" and self.inside:
            self.inside = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def _section_pages(pages: list[str], start: str, end: str) -> list[int]:
    """Indexes of the pages from the one holding heading `start` to the one before heading `end` (headings are lines)."""
    def where(title):
        hits = [k for k, t in enumerate(pages) if any(line.strip() == title for line in t.splitlines())]
        assert hits, f"heading « {title} » not found in the PDF"
        return hits[0]
    a, b = where(start), where(end)
    return list(range(a, b + 1))


# --------------------------------------------------------------------------- published with the report


def test_pdf_is_published_and_covered_by_the_journal_and_verify(final, tmp_path):
    from ditp_model.outputs import record

    pdf = final / "rapport.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and not list(final.glob("*.tmp"))
    journal = [json.loads(line) for line in (final / record.JOURNAL_NAME).read_text(encoding="utf-8").splitlines()]
    assert journal[-1]["files"]["rapport.pdf"] == hashlib.sha256(data).hexdigest()
    assert record.verify(final / "manifest.json", rerun=False).identical
    # An altered PDF is reported by verify (on a copy of the published folder).
    copy = tmp_path / "copie"
    shutil.copytree(final, copy)
    (copy / "rapport.pdf").write_bytes(data.replace(b"%%EOF", b"%%EOF\n%", 1))
    result = record.verify(copy / "manifest.json", rerun=False)
    assert not result.identical and any("rapport.pdf" in d.message for d in result.differences)


# --------------------------------------------------------------------------- pages


def test_a4_pages_and_page_count(final, final_pages):
    reader = pypdf.PdfReader(final / "rapport.pdf")
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    for w, h in sizes:
        assert (abs(w - A4[0]) < 1 and abs(h - A4[1]) < 1) or (abs(w - A4[1]) < 1 and abs(h - A4[0]) < 1), (w, h)
    landscape = [k for k, (w, h) in enumerate(sizes) if w > h]
    # The sample ranks 99 applications: at 8 to 20 ranking rows per landscape page, 5 to 13 pages; the rest of the
    # body (rules, eligibility with 9 ineligible and the non-fundable listed, laureates, funding line, charts) and the
    # annex take 10 to 25 pages more.  The browser's print of the old page took 22 pages with columns lost.
    assert 15 <= len(sizes) <= 40, len(sizes)
    ranking = _section_pages(final_pages, "5. Classement des dossiers éligibles", "6. Lauréats et montants attribués")
    assert set(ranking) <= set(landscape) | {ranking[-1]}
    assert ranking[0] in landscape


def test_running_header_and_page_numbers(final_pages):
    call_name = tomllib.loads(RULES_PATH.read_text(encoding="utf-8"))["call"]["name"]
    n = len(final_pages)
    for k, text in enumerate(final_pages, 1):
        flat = _flat(text)
        assert _flat(f"Rapport de sélection — {call_name}") in flat, f"page {k} : en-tête courant absent"
        assert f"page{k}/{n}" in flat, f"page {k} : « page {k} / {n} » absent"


def test_every_column_of_the_ranking_on_each_of_its_pages(final, final_pages):
    page = (final / "rapport.html").read_text(encoding="utf-8")
    head = TableHead(page, "classement").head
    assert len(head) == 14 and head[-1] == "Règle du classement (comparaison)" and "Désaccord des évaluateurs" in head
    ranking = _section_pages(final_pages, "5. Classement des dossiers éligibles", "6. Lauréats et montants attribués")
    words = {w for h in head for w in re.split(r"[\s/()]+", h) if w}
    for k in ranking[:-1]:      # the last one may hold only the end of the table and the next heading
        present = set(re.split(r"[\s/()]+", final_pages[k]))
        assert words <= present, f"page {k + 1} : colonnes absentes {sorted(words - present)}"


def test_each_laureate_line_carries_its_amounts(final_pages, final_layout, decision):
    """No column is cut: on the ranking and laureates pages, each laureate's line ends with its amounts."""
    ranking = _section_pages(final_pages, "5. Classement des dossiers éligibles", "6. Lauréats et montants attribués")
    laureates = _section_pages(final_pages, "6. Lauréats et montants attribués", "7. Décision proposée et règle du classement")
    lines_r = [_flat(line) for k in ranking for line in final_layout[k].splitlines()]
    lines_l = [_flat(line) for k in laureates for line in final_layout[k].splitlines()]
    funded = decision[decision["funded"]]
    assert len(funded) >= 25
    for r in funded.itertuples():
        rank_line = [x for x in lines_r if re.match(rf"{int(r.rank)}{r.application_id}", x)]
        assert len(rank_line) == 1, r.application_id
        # requested, awarded (decision), award under the ranking rule: the last cells of the row.
        tail = euro_text(r.requested_eur)
        assert euro_text(r.award_eur) in rank_line[0] and rank_line[0].endswith(
            euro_text(r.ranking_rule_award_eur) if int(r.ranking_rule_award_eur) else "—"), (r.application_id, rank_line[0])
        assert tail in rank_line[0]
        own = [x for x in lines_l if x.startswith(r.application_id)]
        assert own and own[0].endswith(euro_text(r.requested_eur) + euro_text(r.award_eur)), (r.application_id, own)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) absent")
def test_no_word_beyond_the_right_margin(final, provisional):
    for pdf in (final / "rapport.pdf", provisional / "rapport.pdf"):
        out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, check=True).stdout.decode("utf-8")
        pages = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', out, re.S)
        assert pages
        for k, (w, _, body) in enumerate(pages, 1):
            words = re.findall(r'xMin="([\d.-]+)" yMin="[\d.-]+" xMax="([\d.-]+)" yMax="[\d.-]+">([^<]*)<', body)
            # Side margins are 15 mm (portrait) and 12 mm (landscape): nothing may reach the last 10 mm.
            cut = [(t, x2) for x1, x2, t in words if float(x2) > float(w) - 10 * MM or float(x1) < 10 * MM]
            assert not cut, f"{pdf.parent.name} page {k} : texte hors marge {cut[:5]}"


def _bbox_pages(pdf: Path) -> list[tuple[float, float, list[tuple[float, float, str]]]]:
    """(width, height, [(xMin, xMax, word)]) of each page, read by poppler's ``pdftotext -bbox``."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, check=True).stdout.decode("utf-8")
    return [(float(w), float(h), [(float(a), float(b), t) for a, b, t in
                                  re.findall(r'xMin="([\d.-]+)" yMin="[\d.-]+" xMax="([\d.-]+)" yMax="[\d.-]+">([^<]*)<', body)])
            for w, h, body in re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', out, re.S)]


def test_no_word_beyond_the_text_box(final, provisional):
    """Stricter than the page edge: every word inside the text box (side margins 15 mm portrait, 12 mm landscape,
    PRINT_CSS), ½ pt tolerance.  A paragraph pushed right by a padding was cut at its box's edge (section 9)."""
    for pdf in (final / "rapport.pdf", provisional / "rapport.pdf"):
        for k, (w, h, words) in enumerate(_bbox_pages(pdf), 1):
            margin = (12 if w > h else 15) * MM
            out = [(t, round(x2 - (w - margin), 1)) for x1, x2, t in words if x2 > w - margin + 0.5 or x1 < margin - 0.5]
            assert not out, f"{pdf.parent.name} page {k} : mots hors de la zone de texte {out[:5]}"


def test_reserve_list_on_landscape_pages(final, provisional):
    """The reserve list (10 columns, « Situation » last) is printed on A4 landscape pages, like the ranking."""
    seen = 0
    for pdf in (final / "rapport.pdf", provisional / "rapport.pdf"):
        for w, h, words in _bbox_pages(pdf):
            text = " ".join(t for _, _, t in words)
            if "Dossiers appelés, dans cet ordre" in text:
                seen += 1
                assert w > h, f"{pdf.parent.name} : liste complémentaire sur une page portrait"
                assert "Situation" in text
    assert seen


class Headings(HTMLParser):
    """Texts of the ``h2`` and ``h3`` headings of a page."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.texts, self.cell = [], None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "h3"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("h2", "h3") and self.cell is not None:
            self.texts.append(re.sub(r"\s+", " ", "".join(self.cell)).strip(" ¶"))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) absent")
def test_no_heading_left_alone_at_the_bottom_of_a_page(final):
    """Below every heading of the report, on the same page, there is text of its section (not only the footer)."""
    headings = set(Headings((final / "rapport.html").read_text(encoding="utf-8")).texts)
    assert {"Synthèse", "5. Classement des dossiers éligibles", "Annexe technique"} <= headings
    out = subprocess.run(["pdftotext", "-bbox-layout", str(final / "rapport.pdf"), "-"], capture_output=True,
                         check=True).stdout.decode("utf-8")
    found = set()
    for k, (h, body) in enumerate(re.findall(r'<page width="[\d.]+" height="([\d.]+)">(.*?)</page>', out, re.S), 1):
        lines = [(float(y0), float(y1), html.unescape(" ".join(re.findall(r">([^<]*)</word>", words))))
                 for y0, y1, words in re.findall(r'<line xMin="[\d.-]+" yMin="([\d.-]+)" xMax="[\d.-]+" yMax="([\d.-]+)">'
                                                 r"(.*?)</line>", body, re.S)]
        footer = float(h) - 14 * MM   # the bottom margin holds « Rapport de sélection » and « page X / Y »
        for y0, y1, text in lines:
            if text in headings:
                found.add(text)
                below = [t for a, _, t in lines if a > y1 + 1 and a < footer]
                assert len(below) >= 2, f"page {k} : titre « {text} » seul en bas de page"
    assert found == headings


def test_figures_at_print_resolution(final):
    """Every image is at least 200 dpi when drawn across the full text width of an A4 landscape page (273 mm)."""
    reader = pypdf.PdfReader(final / "rapport.pdf")
    widths = [img.image.size[0] for p in reader.pages for img in p.images]
    assert len(widths) >= 2
    assert all(px / (273 / 25.4) >= 200 for px in widths), widths


# --------------------------------------------------------------------------- provisional


def test_provisional_on_every_page_iff_provisional(final_pages, provisional):
    prov = pages_text(provisional / "rapport.pdf")
    assert all("PROVISOIRE" in t for t in prov)
    assert not any("PROVISOIRE" in t for t in final_pages)
    m = json.loads((provisional / "manifest.json").read_text(encoding="utf-8"))
    assert m["report"]["provisional"] is True


def _watermark_pixels(pdf: Path, folder: Path) -> list[int]:
    """Per page, the pixels of the lower 70 % of the page (below the title block) in the watermark's pale orange.

    The pages are rendered at 30 dpi by poppler's ``pdftoppm``; the watermark is #c8691c at 18 % opacity over
    white (≈ 246, 231, 218) or over a laureate's pale blue row: reddish, light, r − b ≥ 12.
    """
    from PIL import Image

    subprocess.run(["pdftoppm", "-png", "-r", "30", str(pdf), str(folder / "p")], check=True)
    counts = []
    for f in sorted(folder.glob("p-*.png"), key=lambda x: int(x.stem.split("-")[-1])):
        im = Image.open(f).convert("RGB")
        w, h = im.size
        colours = im.crop((0, int(0.3 * h), w, int(0.95 * h))).getcolors(1 << 20)
        counts.append(sum(n for n, (r, g, b) in colours if 190 <= r <= 252 and b <= 232 and g <= r - 5 and r - b >= 12))
    return counts


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) absent")
def test_watermark_seen_on_every_provisional_page_only(final, provisional, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "f").mkdir()
    prov = _watermark_pixels(provisional / "rapport.pdf", tmp_path / "p")
    fin = _watermark_pixels(final / "rapport.pdf", tmp_path / "f")
    # At 30 dpi the diagonal word covers about 2 000 such pixels on a page of text, still 500 behind a chart.
    assert all(n >= 300 for n in prov), prov
    assert all(n <= 100 for n in fin), fin


# --------------------------------------------------------------------------- body for a minister, annex for checking


def test_technical_words_only_in_the_annex(final, final_pages):
    m = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
    start = _section_pages(final_pages, "Annexe technique", "Annexe technique")[0]
    body, annex = " ".join(final_pages[:start]), " ".join(final_pages[start:])
    technical = ["lock_in", "group_rules", "ranking_variant", "papermill", m["tie_break_rule"]["name"], "SHA-256",
                 "Plateforme", "highs", "pandas", m["decision_sha256"][:12]]
    for word in technical:
        assert word not in _flat(body), f"« {word} » dans le corps du rapport"
        assert word in _flat(annex), f"« {word} » absent de l'annexe technique"
    assert "Valeur du portefeuille" not in body
    # What the body must say: the rule in words, the laureates with their amounts, the funding line.
    for text in ("ordre de mérite", "Lauréats et montants attribués", "Ligne de financement", "Visa du comité de sélection"):
        assert _flat(text) in _flat(body), text


# --------------------------------------------------------------------------- hooks filled by other parts of the tool


class _Run:
    reserve_list = None
    procedure = None


def test_reserve_list_and_procedure_annex_render_nothing_without_data():
    from ditp_model.outputs.report_annexes import procedure_annex_html, reserve_list_section

    run = _Run()
    assert reserve_list_section(run) == "" and reserve_list_section(run, pd.DataFrame()) == ""
    assert procedure_annex_html(run) == "" and procedure_annex_html(run, []) == "" and procedure_annex_html(run, " ") == ""


def test_reserve_list_and_procedure_annex_render_given_data():
    from ditp_model.outputs.report_annexes import procedure_annex_html, reserve_list_section

    run = _Run()
    run.reserve_list = pd.DataFrame({"reserve_rank": [1, 2], "application_id": ["P038", "P027"],
                                     "title": ["<b>Titre</b>", "Autre"], "requested_eur": [140000, 85000]})
    page = reserve_list_section(run)
    assert "Liste complémentaire" in page and 'id="liste-complementaire"' in page
    head = TableHead(page, "liste-complementaire").head
    assert head == ["Ordre d'appel", "Dossier", "Intitulé", "Demandé"]
    assert "140\u202f000\u00a0€" in page and "&lt;b&gt;Titre&lt;/b&gt;" in page and "<b>Titre" not in page
    lines = ["P012 : déport de R03 (conflit d'intérêts déclaré)", "P040 imposé : <priorité> du ministre"]
    annex = procedure_annex_html(run, lines)
    assert "Annexe de procédure" in annex and annex.count("<li>") == 2 and "&lt;priorité&gt;" in annex
    table = procedure_annex_html(run, pd.DataFrame({"Dossier": ["P012"], "Motif": ["déport"]}))
    assert TableHead(table, "procedure").head == ["Dossier", "Motif"]


def test_pdf_error_in_french_when_weasyprint_is_missing(monkeypatch):
    import sys

    from ditp_model.outputs.report_pdf import ReportPdfError, html_to_pdf

    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(ReportPdfError, match="WeasyPrint ou ses bibliothèques .* aucun rapport publié"):
        html_to_pdf("<html><body>x</body></html>")


def test_small_page_laid_out_in_a4_with_header_and_watermark():
    """:func:`html_to_pdf` on a two-page document: A4, header on both pages, page numbers, watermark text."""
    from ditp_model.outputs.report_pdf import PRINT_CSS, running_header_html, html_to_pdf

    rows = "".join(f"<p>Ligne {k}</p>" for k in range(120))
    page = (f"<html lang='fr'><head>{PRINT_CSS}</head><body>{running_header_html('Appel « test » & co', provisional=True)}"
            f"{rows}</body></html>")
    reader = pypdf.PdfReader(io.BytesIO(html_to_pdf(page)))
    texts = [p.extract_text() for p in reader.pages]
    assert len(texts) >= 2
    for k, t in enumerate(texts, 1):
        assert "Appel « test » & co" in t and "PROVISOIRE" in t and f"page {k} / {len(texts)}" in t.replace("\u00a0", " ")
        assert abs(float(reader.pages[k - 1].mediabox.width) - A4[0]) < 1
    assert "Ligne 0" in texts[0] and "Ligne 119" in texts[-1]


@pytest.mark.parametrize("rule", ["merit_order", "max_total_score"])
def test_body_sections_hold_no_technical_vocabulary(rule):
    """Whatever the rule, the body's sections speak in words; the annex's sections carry the tool's names and hashes."""
    from ditp_model.outputs import report, report_annexes, report_sections as s

    run = report.run_report(report.validate_parameters(weights=WEIGHTS, gaps=False, rule=rule,
                                                       lock_in=["P038"], group_rules=[{"column": "region",
                                                                                       "value": "Bretagne",
                                                                                       "min_count": 1}]))
    body = "".join(f(run) for f in (s.header_html, s.summary_html, s.call_rules_html, s.decision_rule_html, s.session_html,
                                    s.eligibility_html, s.ranked_html, s.funded_html, s.comparison_html,
                                    s.funding_line_html, s.optimum_comparison_html, s.breakdown_html, s.signature_html,
                                    report_annexes.reserve_list_section, report_annexes.procedure_annex_html))
    annex = "".join(f(run) for f in (report_annexes.technical_annex_html, s.parameters_html, s.provenance_html,
                                     s.environment_html, s.annex_html))
    m = run.manifest
    technical = ["lock_in", "group_rules", "ranking_variant", "papermill", m["tie_break_rule"]["name"], "SHA-256",
                 "Plateforme", m["decision_sha256"], m["solver"]["name"], "time_limit_s"]
    if rule == "max_total_score":
        technical.append("Valeur du portefeuille")
    for word in technical:
        assert word not in body, word
        assert word in annex, word
    # The locks and the portfolio rule are still said in words in the body.
    assert "P038" in body and "Bretagne" in body and "au moins 1 lauréat" in body
