"""The printed report: print style sheet of ``rapport.html`` and its A4 PDF ``rapport.pdf`` (WeasyPrint).

One HTML page serves the screen and the paper: :data:`PRINT_CSS` is placed in
``rapport.html`` (:func:`ditp_model.outputs.report.render_html`) after the
notebook's own style sheet, so that a browser's « Imprimer » and
:func:`html_to_pdf` lay the pages out the same way:

* A4 portrait pages, 15 mm side margins; a running header with the call's name
  (and « PROVISOIRE » for a provisional decision), « page X / Y » at the
  bottom right (CSS Paged Media: ``@page`` margin boxes, ``counter(pages)``);
* wide tables (the ranking, the applications nearest the funding line) on A4
  landscape pages (named page ``paysage``, cells tagged ``paysage`` in the
  notebook) in a smaller font; every table repeats its header row on each page
  (``thead { display: table-header-group }``) and no row is split;
* headings are kept with what follows them (``break-after: avoid``), key
  figures and short tables are not split;
* a provisional decision carries a diagonal « PROVISOIRE » watermark on every
  page (an SVG background of the ``@page`` box, added by :func:`running_header_html`).

WeasyPrint (BSD licence, https://weasyprint.org) is the maintained HTML → PDF
library for Python; it needs Pango, present on a standard Debian install and
shipped with the Windows executable and MSYS2 builds (see its documentation,
« First steps »).  It is imported only when a PDF is written.
"""

from __future__ import annotations

import html
import logging
import warnings

__all__ = ["PRINT_CSS", "LANDSCAPE_TAG", "running_header_html", "html_to_pdf", "ReportPdfError"]

#: Notebook cell tag that puts a cell on A4 landscape pages (nbconvert writes it as the class ``celltag_paysage``).
LANDSCAPE_TAG = "paysage"

BLUE = "#000091"

#: Print style sheet, placed after nbconvert's.  Its rules start with ``html body`` so that they also win over the
#: report's own screen style (:data:`ditp_model.outputs.report_sections.CSS`, written later in the page, in the body).
PRINT_CSS = f"""<style type="text/css">
.ditp-entete {{ display: none; }}
@media print {{
  @page {{
    size: A4 portrait;
    margin: 18mm 15mm 16mm 15mm;
    @top-left {{ content: element(ditpEntete); vertical-align: bottom; padding-bottom: 3mm; }}
    @bottom-right {{ content: "page " counter(page) " / " counter(pages); font: 8pt "DejaVu Sans", Arial, sans-serif;
                     color: #3a3a3a; vertical-align: top; padding-top: 3mm; }}
    @bottom-left {{ content: "Rapport de sélection"; font: 8pt "DejaVu Sans", Arial, sans-serif; color: #3a3a3a;
                    vertical-align: top; padding-top: 3mm; }}
  }}
  @page portrait {{ size: A4 portrait; }}
  @page {LANDSCAPE_TAG} {{ size: A4 landscape; margin: 16mm 12mm 14mm 12mm; }}
  /* The page (and a provisional report's watermark) shows through. */
  html, html body, html body.jp-Notebook {{ background: transparent !important; }}
  html body.jp-Notebook {{ max-width: none !important; margin: 0 !important; padding: 0 !important; }}
  html body .jp-Cell, html body .jp-Cell-outputWrapper, html body .jp-OutputArea, html body .jp-OutputArea-child,
  html body .jp-OutputArea-output {{ padding: 0 !important; margin: 0 !important; overflow: visible !important;
    display: block !important; break-inside: auto !important; page-break-inside: auto !important; }}
  html body .jp-OutputPrompt, html body .jp-InputPrompt, html body .jp-Collapser {{ display: none !important; }}
  /* A markdown cell's text: as wide as the page's text, no side padding (JupyterLab's padding pushed its lines past
     the right edge of their box, where they were cut). */
  html body .jp-MarkdownCell .jp-Cell-inputWrapper, html body .jp-MarkdownCell .jp-InputArea,
  html body .jp-RenderedMarkdown {{ display: block !important; width: auto !important; max-width: 100% !important;
    padding-left: 0 !important; padding-right: 0 !important; margin-left: 0 !important; margin-right: 0 !important;
    overflow: visible !important; box-sizing: border-box !important; }}
  html body .jp-RenderedMarkdown p, html body .jp-RenderedMarkdown li {{ overflow-wrap: break-word; }}
  html body .ditp-entete {{ display: block; position: running(ditpEntete); font: 8pt "DejaVu Sans", Arial, sans-serif;
    color: #3a3a3a; border-bottom: 0.5pt solid {BLUE}; padding-bottom: 1mm; width: 100%; }}
  html body .ditp-entete b {{ color: #b34000; }}
  html body .ditp {{ font-size: 9.5pt; line-height: 1.35; }}
  html body .ditp h1 {{ font-size: 20pt; }}
  html body h1, html body h2, html body h3, html body h4, html body .ditp-md, html body .jp-MarkdownCell {{
    break-after: avoid; page-break-after: avoid; }}
  html body h1, html body h2, html body h3, html body h4 {{ break-inside: avoid; }}
  html body .jp-RenderedMarkdown h2, html body .ditp h2.ditp-h2 {{ font-size: 15pt; margin-top: 14pt; }}
  html body .jp-RenderedMarkdown h3 {{ font-size: 12pt; }}
  html body .jp-RenderedMarkdown p {{ font-size: 9.5pt; }}
  html body .ditp table.ditp-t {{ font-size: 8.5pt; width: 100%; max-width: 100%; }}
  html body .ditp table.ditp-t.ditp-narrow {{ width: auto; }}
  html body .ditp table.ditp-t caption {{ break-after: avoid; }}
  html body .ditp table.ditp-t thead {{ display: table-header-group; }}
  html body .ditp table.ditp-t tfoot {{ display: table-row-group; }}  /* a total is printed once, at the end */
  html body .ditp table.ditp-t tr {{ break-inside: avoid; page-break-inside: avoid; }}
  html body .ditp table.ditp-t td.w {{ min-width: 40mm; }}
  html body .ditp table.ditp-t th, html body .ditp table.ditp-t td {{ padding: 2pt 3pt; }}
  html body .ditp table.ditp-t tr, html body .ditp table.ditp-t td, html body .ditp .ditp-kpi {{ background: transparent; }}
  html body .ditp table.ditp-t tbody tr.f td {{ background: rgba(0, 0, 145, 0.07); }}
  html body .ditp .ditp-kpis, html body .ditp .ditp-box, html body .ditp .ditp-grid > div,
  html body .jp-RenderedImage {{ break-inside: avoid; }}
  html body .ditp .ditp-grid {{ display: block; }}
  html body .ditp .ditp-grid > div {{ display: block; width: auto; }}
  html body .ditp .h {{ font-size: 7.5pt; }}
  html body .jp-OutputArea-output img {{ max-width: 100% !important; height: auto; }}
  html body .jp-Cell, html body .ditp-md {{ page: portrait; }}
  html body .celltag_{LANDSCAPE_TAG}, html body .celltag_{LANDSCAPE_TAG} .jp-Cell {{ page: {LANDSCAPE_TAG}; }}
  html body .celltag_{LANDSCAPE_TAG} .ditp table.ditp-t {{ font-size: 7.5pt; }}
  html body .celltag_{LANDSCAPE_TAG} .ditp table.ditp-t td.w {{ min-width: 60mm; }}
  html body .ditp-annexe-debut {{ break-before: page; }}
  html body .ditp-visa {{ break-inside: avoid; }}
}}
</style>"""


def _watermark_svg(text: str, *, landscape: bool = False) -> str:
    """A diagonal text across an A4 page (210 × 297 units, or 297 × 210 in landscape), as an SVG data URI."""
    from urllib.parse import quote

    w, h, angle = (297, 210, -35) if landscape else (210, 297, -55)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}">'
           f'<text x="{w / 2}" y="{h / 2 + 10}" text-anchor="middle" font-family="DejaVu Sans, Arial, sans-serif" '
           f'font-size="34" font-weight="700" fill="#c8691c" fill-opacity="0.18" '
           f'transform="rotate({angle} {w / 2} {h / 2})">{text}</text></svg>')
    return "data:image/svg+xml," + quote(svg)


#: Print-only style of a provisional report: the watermark behind every page, portrait and landscape.
WATERMARK_CSS = f"""<style type="text/css">
@media print {{
  @page {{ background: url("{_watermark_svg('PROVISOIRE')}") no-repeat center / 100% 100%; }}
  @page {LANDSCAPE_TAG} {{ background: url("{_watermark_svg('PROVISOIRE', landscape=True)}") no-repeat center / 100% 100%; }}
}}
</style>"""


def running_header_html(call_name: str, *, provisional: bool = False) -> str:
    """The running header of the printed pages and, for a provisional decision, the watermark.

    Parameters
    ----------
    call_name : str
        The call's name (escaped here).
    provisional : bool
        Add « PROVISOIRE » to the header and a diagonal watermark on every page.

    Returns
    -------
    str
        HTML shown on paper only (hidden on screen by :data:`PRINT_CSS`).
    """
    flag = " — <b>PROVISOIRE</b>" if provisional else ""
    out = f'<div class="ditp-entete">Rapport de sélection — {html.escape(call_name)}{flag}</div>'
    if provisional:
        out += WATERMARK_CSS
    return out


class ReportPdfError(RuntimeError):
    """The PDF could not be written (WeasyPrint missing or failing); the message (French) says what to install."""


def html_to_pdf(page: str, *, base_url: str | None = None) -> bytes:
    """``rapport.pdf`` from ``rapport.html``: the same page laid out by WeasyPrint for print (A4, :data:`PRINT_CSS`).

    WeasyPrint's notices about CSS it does not support (JupyterLab's style
    sheet uses custom properties and selectors meant for the screen) are not
    shown.

    Parameters
    ----------
    page : str
        The self-contained HTML (images embedded; no external resource is fetched).
    base_url : str, optional
        Base for relative links (none in the report).

    Returns
    -------
    bytes
        The PDF.

    Raises
    ------
    ReportPdfError
        WeasyPrint or its system libraries (Pango) are missing, or the layout failed.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise ReportPdfError("le rapport PDF ne peut pas être écrit : WeasyPrint ou ses bibliothèques (Pango) manquent "
                             f"({exc}) ; installer l'environnement du projet (pip install -e . ou environment.yml) — "
                             "aucun rapport publié") from None

    def _no_fetch(url, *args, **kwargs):
        if url.startswith("data:"):
            return weasyprint.default_url_fetcher(url, *args, **kwargs)
        raise ValueError(f"ressource externe refusée : {url}")

    log = logging.getLogger("weasyprint")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return weasyprint.HTML(string=page, base_url=base_url, url_fetcher=_no_fetch,
                                   media_type="print").write_pdf()
    except Exception as exc:  # noqa: BLE001 - any layout failure is reported in French, nothing is published
        raise ReportPdfError(f"le rapport PDF n'a pas pu être mis en page : {type(exc).__name__} : {exc} — "
                             "aucun rapport publié") from exc
    finally:
        log.setLevel(level)
