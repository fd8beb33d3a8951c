"""Build the default decision letter template ``lettre_decision.docx`` (python-docx), kept here so it can be regenerated.

Run from the checkout::

    python ditp_model/templates/make_template.py            # rewrites ditp_model/templates/lettre_decision.docx
    python ditp_model/templates/make_template.py autre.docx # or writes elsewhere

The template is filled by ``ditp-model lettres`` (:mod:`ditp_model.outputs.letters`) with docxtpl:
``{{ champ }}`` is a field, ``{%p for m in motifs %}`` … ``{%p endfor %}`` repeats a paragraph.  The
fields are listed in :data:`ditp_model.outputs.letters.LETTER_FIELDS` (the secretariat may move,
delete or re-word anything in Word; a field name outside that list is refused with its name).

Layout of a French administrative letter: letterhead block top left (« RÉPUBLIQUE FRANÇAISE »,
authority, service, address), place and date on the right, references, addressee block, object,
body, appeal route, signature block on the right (with the closing formula, in a borderless table
row that does not split across pages); authority and page number in the page footer.
Every paragraph has a named style (« Lettre - … »): the PDF made without LibreOffice maps these
styles to its own print layout (``mammoth`` keeps the style names, not Word's positions).
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

TEMPLATE = Path(__file__).resolve().parent / "lettre_decision.docx"

#: Style name -> (size in points, bold, italic, alignment, left indent in cm, space after in points, grey, keep with next).
STYLES = {
    "Lettre - Marianne": (11, True, False, WD_ALIGN_PARAGRAPH.LEFT, 0, 0, False, True),
    "Lettre - Devise": (8.5, False, True, WD_ALIGN_PARAGRAPH.LEFT, 0, 6, False, True),
    "Lettre - En-tête": (10, False, False, WD_ALIGN_PARAGRAPH.LEFT, 0, 0, False, True),
    "Lettre - Date": (10, False, False, WD_ALIGN_PARAGRAPH.RIGHT, 0, 8, False, False),
    "Lettre - Référence": (9, False, False, WD_ALIGN_PARAGRAPH.LEFT, 0, 0, False, False),
    "Lettre - Destinataire": (10, False, False, WD_ALIGN_PARAGRAPH.LEFT, 9, 0, False, True),
    "Lettre - Objet": (10, False, False, WD_ALIGN_PARAGRAPH.LEFT, 0, 10, False, False),
    "Lettre - Corps": (10, False, False, WD_ALIGN_PARAGRAPH.JUSTIFY, 0, 5, False, False),
    "Lettre - Décision": (10, True, False, WD_ALIGN_PARAGRAPH.JUSTIFY, 0, 5, False, False),
    "Lettre - Motif": (10, False, False, WD_ALIGN_PARAGRAPH.JUSTIFY, 0.6, 3, False, False),
    "Lettre - Recours": (8.5, False, False, WD_ALIGN_PARAGRAPH.JUSTIFY, 0, 6, True, False),
    # the closing formula and the signature block stay together on one page
    "Lettre - Formule": (10, False, False, WD_ALIGN_PARAGRAPH.JUSTIFY, 0, 8, False, True),
    "Lettre - Signature": (10, False, False, WD_ALIGN_PARAGRAPH.LEFT, 9, 0, False, True),
    "Lettre - Pied": (7.5, False, False, WD_ALIGN_PARAGRAPH.CENTER, 0, 0, True, False),
    # « PROJET — décision provisoire, ne pas envoyer »: page header and first line, filled only for draft letters
    "Lettre - Projet": (12, True, False, WD_ALIGN_PARAGRAPH.CENTER, 0, 6, False, True),
}


def _styles(doc) -> None:
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(10)
    for name, (size, bold, italic, align, indent, after, grey, keep) in STYLES.items():
        st = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        st.base_style = normal
        st.font.size = Pt(size)
        st.font.bold = bold
        st.font.italic = italic
        if grey:
            st.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
        if name == "Lettre - Projet":
            st.font.color.rgb = RGBColor(0xC0, 0x00, 0x00)
        fmt = st.paragraph_format
        fmt.alignment = align
        fmt.left_indent = Cm(indent)
        fmt.space_before = Pt(0)
        fmt.space_after = Pt(after)
        fmt.keep_with_next = keep


def _para(doc_or_part, style: str, *runs) -> None:
    """A paragraph of `style`; each run is a text or ``(text, bold)``."""
    p = doc_or_part.add_paragraph(style=style)
    for r in runs:
        text, bold = (r, None) if isinstance(r, str) else r
        run = p.add_run(text)
        if bold is not None:
            run.bold = bold


def _field(paragraph, instruction: str) -> None:
    """A Word field (``PAGE``, ``NUMPAGES``) in `paragraph`."""
    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    fld.append(run)
    paragraph._p.append(fld)


def _trim(doc) -> None:
    """Drop what python-docx's blank document carries and the letter does not use (≈ 800 kB of style definitions).

    Kept: the styles the letter uses, their base (« Normal ») and Word's defaults; gone: the latent
    styles, the other style definitions, ``stylesWithEffects`` and the thumbnail.  Smaller is faster
    to fill and to convert (mammoth reads every style).
    """
    used = {"Normal", "Default Paragraph Font", "Normal Table", "No List", *STYLES}
    root = doc.styles.element
    for el in list(root):
        if el.tag == qn("w:latentStyles"):
            root.remove(el)
        elif el.tag == qn("w:style"):
            name = el.find(qn("w:name"))
            if name is None or name.get(qn("w:val")) not in used:
                root.remove(el)
    for rid, rel in list(doc.part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            doc.part.drop_rel(rid)
    pkg_rels = doc.part.package.rels
    for rid, rel in list(pkg_rels.items()):
        if rel.reltype.endswith("/thumbnail"):
            pkg_rels.pop(rid)


def build(path: str | Path = TEMPLATE) -> Path:
    """Write the default template to `path` and return it."""
    doc = Document()
    _styles(doc)
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Cm(21), Cm(29.7)  # A4
    sec.left_margin = sec.right_margin = Cm(2.2)
    sec.top_margin, sec.bottom_margin = Cm(1.5), Cm(1.8)
    # the body of the blank document python-docx starts from has one empty paragraph: remove it
    for p in list(doc.paragraphs):
        p._p.getparent().remove(p._p)

    # draft mark of a provisional decision (empty otherwise): first line of the letter
    _para(doc, "Lettre - Corps", "{%p if projet %}")
    _para(doc, "Lettre - Projet", "{{ projet }}")
    _para(doc, "Lettre - Corps", "{%p endif %}")
    # letterhead, top left
    _para(doc, "Lettre - Marianne", "RÉPUBLIQUE FRANÇAISE")
    _para(doc, "Lettre - Devise", "Liberté\nÉgalité\nFraternité")
    _para(doc, "Lettre - En-tête", ("{{ autorite }}", True))
    _para(doc, "Lettre - En-tête", "{{ service }}")
    _para(doc, "Lettre - En-tête", "{{ adresse }}")
    # place and date, right
    _para(doc, "Lettre - Date", "{{ lieu_et_date }}")
    # references
    _para(doc, "Lettre - Référence", ("Nos réf. : ", True), "{{ reference }}")
    _para(doc, "Lettre - Référence", ("Affaire suivie par : ", True), "{{ service }}")
    _para(doc, "Lettre - Référence", " ")
    # addressee
    _para(doc, "Lettre - Destinataire", ("{{ porteur }}", True))
    _para(doc, "Lettre - Destinataire", "Porteur du projet « {{ intitule }} »")
    _para(doc, "Lettre - Destinataire", "Dossier n° {{ dossier }}")
    _para(doc, "Lettre - Référence", " ")
    # object
    _para(doc, "Lettre - Objet", ("Objet : ", True), "{{ objet }}")
    # body
    _para(doc, "Lettre - Corps", "Madame, Monsieur,")
    _para(doc, "Lettre - Corps", "Vous avez présenté le projet « {{ intitule }} » (dossier n° {{ dossier }}) en réponse à "
                                 "{{ appel_texte }}. Le comité de sélection a examiné l'ensemble des candidatures et arrêté sa "
                                 "décision.")
    _para(doc, "Lettre - Décision", "{{ decision_phrase }}")
    _para(doc, "Lettre - Corps", "{{ position }}")
    _para(doc, "Lettre - Corps", "{%p if motifs %}")
    _para(doc, "Lettre - Corps", "{{ motifs_titre }}")
    _para(doc, "Lettre - Corps", "{%p for m in motifs %}")
    _para(doc, "Lettre - Motif", "– {{ m }}")
    _para(doc, "Lettre - Corps", "{%p endfor %}")
    _para(doc, "Lettre - Corps", "{%p endif %}")
    _para(doc, "Lettre - Corps", "{{ suite }}")
    _para(doc, "Lettre - Recours", "{{ voies_recours }}")
    # closing formula and signature block: in a one-cell borderless table whose row cannot split, so that
    # they go to the next page together (LibreOffice does not always honour « keep with next »)
    table = doc.add_table(rows=1, cols=1)
    row_pr = table.rows[0]._tr.get_or_add_trPr()
    row_pr.append(OxmlElement("w:cantSplit"))
    cell = table.rows[0].cells[0]
    cell._tc.remove(cell.paragraphs[0]._p)
    _para(cell, "Lettre - Formule", "Je vous prie d'agréer, Madame, Monsieur, l'expression de ma considération distinguée.")
    _para(cell, "Lettre - Signature", "{{ signataire_qualite }}")
    _para(cell, "Lettre - Signature", " ")
    _para(cell, "Lettre - Signature", " ")
    _para(cell, "Lettre - Signature", ("{{ signataire_nom }}", True))
    _para(doc, "Lettre - Pied", "{{ pied }}")

    # page header: the draft mark on every page (empty for a final decision)
    header = sec.header
    for p in list(header.paragraphs):
        p._p.getparent().remove(p._p)
    _para(header, "Lettre - Projet", "{{ projet }}")
    # page footer: authority and address, page number
    footer = sec.footer
    for p in list(footer.paragraphs):
        p._p.getparent().remove(p._p)
    _para(footer, "Lettre - Pied", "{{ autorite }} — {{ adresse }}")
    p = footer.add_paragraph(style="Lettre - Pied")
    p.add_run("Page ")
    _field(p, "PAGE")
    p.add_run(" / ")
    _field(p, "NUMPAGES")

    _trim(doc)
    core = doc.core_properties
    core.title = "Lettre de décision — modèle"
    core.author = "ditp-model"
    core.comments = "Modèle de lettre de ditp-model lettres (docxtpl) : les champs entre accolades sont remplis pour chaque dossier."
    out = Path(path)
    doc.save(out)
    return out


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else TEMPLATE))
