"""The sections of the allocation report (French HTML fragments) and its charts (matplotlib, no pyplot state).

Each function takes a :class:`ditp_model.outputs.report.ReportRun` and returns an HTML
string (shown with ``IPython.display.HTML`` in ``notebooks/04_rapport.ipynb``)
or PNG bytes.  Every applicant-supplied text is HTML-escaped; nothing depends
on widgets or on the notebook's state.  Tables carry ``id`` attributes
(``laureats``, ``classement``, ``comparaison``…) so that tests parse them back.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg
canvas, so they do not depend on the notebook's matplotlib backend.

Why this module is longer than 800 lines (about 1 200): it holds every
section of one document, and the sections share their small HTML helpers
(``_table``, ``_kv``, escaping) and their French wording of rules, thresholds
and groups; each section is a short pure function of a ``ReportRun``.  The
empty sections and the technical annex's opening already live apart
(:mod:`ditp_model.outputs.report_annexes`), as do the PDF style
(:mod:`ditp_model.outputs.report_pdf`); the charts (``funding_line_chart``,
``report_charts``) are the next cut if the module grows again.
"""

from __future__ import annotations

import html
import io
import math
import textwrap
from pathlib import Path

import pandas as pd

from ditp_model.rules.allocation import RULE_LABELS_FR
from ditp_model.rules.base import tie_break_fr
from ditp_model.rules.candidates import tie_band_fr
from ditp_model.french import format_eur, format_number, format_points
from ditp_model.inputs.schema import MATURITY_LABELS_FR, ORG_TYPE_LABELS_FR
from ditp_model.scoring.reviewer_effects import NORMALISATION_LABELS_FR, disagreement_threshold

__all__ = ["CSS", "header_html", "summary_html", "call_rules_html", "decision_rule_html", "parameters_html",
           "eligibility_html", "ranked_html", "funded_html", "comparison_html", "funding_line_html", "funding_line_chart",
           "optimum_comparison_html", "breakdown_html", "report_charts", "figure_png", "waves_params", "waves_html",
           "annex_html", "uncorrected_reviewers_html", "provenance_html", "environment_html", "signature_html", "display_path",
           "RULE_SOURCES_FR", "REASONS_FR", "session_html", "SESSION_PARAMETERS"]

#: Short French labels of the kinds of organisation (the schema's, without the parenthesis).
ORG_SHORT_FR = {k: v.split(" (")[0] for k, v in ORG_TYPE_LABELS_FR.items()}
EXPENSE_LABELS_FR = {"intellectual_services": "prestations intellectuelles", "digital_tools": "outils numériques",
                     "innovation_training": "formation à l'innovation"}
NORMALISATION_FR = dict(NORMALISATION_LABELS_FR)
OBJECTIVE_FR = {"total_score": "somme des notes des lauréats",
                "score_weighted_award": "somme des notes pondérées par les montants attribués"}
#: Short French names of the decision rules (tables).
RULE_SHORT_FR = {"merit_order": "ordre de mérite", "ranking": "règle du classement",
                 "max_total_score": "maximiser la somme des notes", "max_score_weighted_award": "maximiser notes × montants"}
#: What each rule does and the public funders' practice it follows (the report's section 2).
RULE_SOURCES_FR = {
    "merit_order": (
        "Les dossiers finançables (éligibles, notés, au-dessus des seuils de qualité) sont financés par note décroissante "
        "jusqu'à la ligne budgétaire ; un dossier qui ne tient plus dans le reste de l'enveloppe est passé et le suivant "
        "est examiné. Aucun dossier non financé ne peut se plaindre à bon droit : il n'aurait pas pu être financé avec le "
        "reliquat et les montants des lauréats notés plus de δ en dessous de lui. Entre des notes à moins de δ (ex aequo), "
        "la décision dépense le plus, puis suit la règle de départage déclarée. Sources : seuils de qualité par critère "
        "et d'ensemble d'Horizon Europe (3/5 par critère, 10/15 au total ; annexes générales du programme de travail), "
        "dont les dossiers ex aequo sont départagés par un ordre de priorité déclaré ; classement par le comité puis "
        "financement dans l'ordre jusqu'à épuisement du budget à l'ANR (liste principale, liste complémentaire) et à "
        "l'ERC ; tirage au sort partiel du FNS suisse (SNSF) entre dossiers que l'évaluation ne permet pas de départager."),
    "ranking": (
        "Règle du classement : les dossiers finançables sont financés par note décroissante ; variante « skip » : un dossier "
        "qui ne tient pas dans le reste est passé ; variante « stop » : on s'arrête au premier dossier qui ne tient pas. "
        "Sources : pratique de classement et de financement dans l'ordre de l'ANR et de l'ERC, seuils de qualité "
        "d'Horizon Europe."),
    "max_total_score": (
        "Optimisation : la sélection maximise la somme des notes des lauréats dans l'enveloppe. Chaque lauréat compte "
        "autant quel que soit son coût : cette règle favorise plusieurs projets peu coûteux au détriment d'un projet mieux "
        "classé mais cher ; aucun financeur public de référence (Horizon Europe, ERC, ANR, SNSF) ne décide ainsi. Elle "
        "est proposée pour comparaison ; le comité l'a choisie pour ce rapport."),
    "max_score_weighted_award": (
        "Optimisation : la sélection maximise la somme des notes pondérées par les montants attribués. Proposée pour "
        "comparaison ; le comité l'a choisie pour ce rapport."),
}
#: Why an unfunded application is not funded (``reason`` of the decision table), short French labels.
REASONS_FR = {"envelope": "reste de l'enveloppe insuffisant à son rang", "tie": "ex aequo, départagé par le montant dépensé",
              "limit": "règle du comité (nombre de lauréats, part d'un groupe)", "none": "aucune place avec les règles du comité",
              "exception": "exception nommée à l'ordre de mérite", "excluded": "non candidat"}
VARIANT_FR = {"skip": "passer un dossier qui ne rentre pas dans le reste de l'enveloppe et continuer",
              "stop": "s'arrêter au premier dossier qui ne rentre pas"}
GROUP_FR = {"region": "région", "lead_org_type": "type de porteur", "maturity": "maturité", "priority_reform": "réforme prioritaire"}

BLUE = "#000091"
GREY = "#b8b8c8"
ORANGE = "#c8691c"

CSS = f"""<style type="text/css">
.ditp {{ font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 13px; color: #161616; line-height: 1.45; }}
.ditp h1 {{ font-size: 26px; color: {BLUE}; margin: 4px 0 2px; }}
.ditp .ditp-sub {{ font-size: 15px; color: #3a3a3a; margin: 0 0 6px; }}
.ditp .ditp-meta {{ color: #555; font-size: 12px; }}
.ditp .ditp-flag {{ display: inline-block; background: #fff4e5; border: 1px solid {ORANGE}; color: #7a3d00;
  padding: 2px 8px; border-radius: 3px; font-size: 12px; margin: 6px 0; }}
.ditp .ditp-ok {{ display: inline-block; background: #e6f4ea; border: 1px solid #18753c; color: #18753c; padding: 1px 7px;
  border-radius: 3px; font-weight: 600; }}
.ditp h2.ditp-h2 {{ font-size: 20px; border-bottom: 2px solid {BLUE}; padding-bottom: 4px; margin: 28px 0 8px; color: {BLUE}; }}
.ditp h4 {{ font-size: 14px; margin: 16px 0 4px; color: #161616; }}
.ditp p {{ margin: 4px 0 8px; }}
.ditp .ditp-note {{ color: #4a4a4a; font-size: 12px; }}
.ditp table.ditp-t {{ border-collapse: collapse; table-layout: auto; width: 100%; margin: 4px 0 14px; font-size: 12px; }}
.ditp table.ditp-t.ditp-narrow {{ width: auto; min-width: 50%; }}
.ditp table.ditp-t caption {{ caption-side: top; text-align: left; font-weight: 600; padding: 4px 0; color: #161616; }}
.ditp table.ditp-t th {{ background: {BLUE}; color: #fff; text-align: left; padding: 4px 6px; font-weight: 600;
  vertical-align: bottom; border: none; }}
.ditp table.ditp-t td {{ text-align: left; padding: 3px 6px; vertical-align: top; border: none; border-bottom: 1px solid #dcdce6;
  background: #fff; white-space: normal; }}
.ditp table.ditp-t th.n {{ text-align: right; }}
.ditp table.ditp-t td.n {{ text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }}
.ditp table.ditp-t td.w {{ min-width: 280px; }}
.ditp table.ditp-t td.k {{ font-weight: 600; width: 34%; }}
.ditp .h {{ font-family: "DejaVu Sans Mono", monospace; font-size: 11px; word-break: break-all; }}
.ditp table.ditp-t tbody tr.f td {{ background: #eef3fc; }}
.ditp table.ditp-t tfoot td {{ font-weight: 700; border-top: 2px solid {BLUE}; border-bottom: none; background: #f4f4fa; }}
.ditp .ditp-kpis {{ display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin: 8px 0 10px; }}
.ditp .ditp-kpi {{ border: 1px solid #cfcfe0; border-top: 4px solid {BLUE}; padding: 8px 10px; background: #fafaff; }}
.ditp .ditp-kpi .v {{ font-size: 19px; font-weight: 700; color: #161616; }}
.ditp .ditp-kpi .l {{ font-size: 11px; color: #555; text-transform: uppercase; letter-spacing: .02em; }}
.ditp .ditp-kpi .s {{ font-size: 11px; color: #555; }}
.ditp .ditp-grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 0 18px; }}
.ditp .ditp-box {{ border-left: 4px solid {BLUE}; background: #f5f5fe; padding: 6px 10px; margin: 6px 0 12px; }}
</style>"""


class _Html(str):
    """Text that is already HTML (not escaped again)."""


def _e(v) -> str:
    if isinstance(v, _Html):
        return str(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return html.escape(str(v))


def _table(headers, rows, *, id: str | None = None, numeric=(), foot=None, row_classes=None, caption=None,
           narrow: bool = False, wide=None) -> str:
    """An escaped HTML table; `numeric` are the indexes of right-aligned columns, `wide` those of long texts.

    By default a column headed « Intitulé » is wide.
    """
    num = set(numeric)
    wide = set(wide) if wide is not None else {k for k, h in enumerate(headers) if h == "Intitulé"}

    def attr(k, tag):
        if k in num:
            return ' class="n"'
        return ' class="w"' if k in wide and tag == "td" else ""

    def cells(values, tag="td"):
        return "".join(f"<{tag}{attr(k, tag)}>{_e(v)}</{tag}>" for k, v in enumerate(values))

    cls = "ditp-t ditp-narrow" if narrow else "ditp-t"
    ident = f' id="{id}"' if id else ""
    out = [f'<table class="{cls}"{ident}>']
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    out.append(f"<thead><tr>{cells(headers, 'th')}</tr></thead><tbody>")
    for k, r in enumerate(rows):
        rc = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ""
        out.append(f"<tr{rc}>{cells(r)}</tr>")
    out.append("</tbody>")
    if foot:
        # A foot cell may be (text, n): it spans n columns.
        tds, k = [], 0
        for cell in foot:
            text, span = cell if isinstance(cell, tuple) else (cell, 1)
            colspan = f' colspan="{span}"' if span > 1 else ""
            tds.append(f"<td{attr(k, 'tfoot')}{colspan}>{_e(text)}</td>")
            k += span
        out.append(f"<tfoot><tr>{''.join(tds)}</tr></tfoot>")
    out.append("</table>")
    return "".join(out)


def _kv(rows, *, id: str | None = None, caption=None) -> str:
    """A two-column key/value table."""
    body = "".join(f'<tr><td class="k">{_e(k)}</td><td>{_e(v)}</td></tr>' for k, v in rows)
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    ident = f' id="{id}"' if id else ""
    return f'<table class="ditp-t"{ident}>{cap}<tbody>{body}</tbody></table>'


def _div(*parts) -> str:
    return '<div class="ditp">' + "".join(parts) + "</div>"


def _p(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{_e(text)}</p>"


def _pct(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format_number(100 * float(x), 1)


def _share(x: float) -> str:
    return f"{format_number(100 * x, 0)}\u00a0%"


def display_path(path: str) -> str:
    """A path as shown in the report: relative to the repository when inside it (``data/appel_2021.toml``), else absolute."""
    root = Path(__file__).resolve().parents[2]
    p = Path(path).resolve()
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


def _when(iso: str) -> str:
    import datetime as dt

    t = dt.datetime.fromisoformat(iso)
    return f"{t:%d/%m/%Y} à {t:%H:%M}"


def _criteria_headers(run) -> list[str]:
    return [f"{c.label} /100" for c in run.rules.criteria]


def _criteria_values(run, row) -> list[str]:
    return [_pct(getattr(row, f"{c.name}_score")) for c in run.rules.criteria]


# --------------------------------------------------------------------------- header and summary


def header_html(run) -> str:
    """Title block with the date of the run (varies from run to run: ``nbval-ignore-output``), and the report's CSS.

    Also the running header of the printed pages (the call's name, and
    « PROVISOIRE » with a diagonal watermark when the decision is provisional,
    :func:`is_provisional`): :func:`ditp_model.outputs.report_pdf.running_header_html`.
    """
    from ditp_model.outputs.report_pdf import running_header_html

    provisional = is_provisional(run)
    flag = ""
    if provisional:
        flag += ('<div class="ditp-flag ditp-provisoire"><b>PROVISOIRE</b> — décision proposée, pas encore arrêtée par le '
                 "comité</div> ")
    if run.params.sample_data:
        flag += ('<div class="ditp-flag">Données d\'exemple FICTIVES (data/candidatures_exemple.csv, '
                 "data/evaluations_exemple.csv) — rapport de démonstration</div>")
    sc = run.params.scenario
    scen = f"<br>Scénario du comité : « {_e(sc['name'])} »" if sc else ""
    return CSS + running_header_html(run.rules.call.name, provisional=provisional) + _div(
        "<h1>Rapport de sélection</h1>",
        f'<p class="ditp-sub">{_e(run.rules.call.name)}</p>',
        f'<p class="ditp-meta">Établi le {_e(_when(run.generated_at))} à partir des fichiers et paramètres décrits dans '
        f"l'annexe technique.{scen}</p>",
        flag,
    )


def is_provisional(run) -> bool:
    """Whether the report's decision is provisional, from the data alone (issue 13; trial 2, D1).

    True when an application awaiting reviews could still enter the list of laureates
    (``run.provisional``: :func:`ditp_model.rules.held.provisional_status`, the test ``allocate``
    and ``report`` refuse a decision on without ``--provisoire``).  The report parameter
    ``provisional`` only says whether the caller *accepted* a provisional decision: it never
    makes a provisional decision final (a notebook run with its default ``provisional = False``
    still shows « PROVISOIRE »), nor a final one provisional.
    """
    return bool(getattr(run, "is_provisional", False))


def provisional_fr(run) -> str:
    """« oui : P047, P072 en attente d'évaluation pourraient encore entrer dans la liste des lauréats » or « non : … ».

    The value of « Décision provisoire » in the summary and section 3 (:func:`is_provisional`).
    """
    prov = getattr(run, "provisional", None)
    if is_provisional(run):
        ids = prov.within_reach
        k = len(ids)
        return (f"oui : {', '.join(ids)}, en attente d'évaluation, pourrai{'en' if k > 1 else ''}t encore entrer dans la "
                "liste des lauréats avec les meilleures notes sur les avis manquants (annexe de procédure) ; "
                "« PROVISOIRE » en tête de chaque page")
    n = 0 if prov is None else len(prov.held)
    if n:
        return (f"non : {n} dossier{'s' if n > 1 else ''} en attente d'évaluation, mais aucun ne pourrait entrer dans la "
                "liste des lauréats, même avec la note maximale sur les avis manquants")
    return "non : aucun dossier en attente d'évaluation"


def summary_html(run) -> str:
    """Key figures and the decision put to the committee.

    A provisional decision (:func:`is_provisional`) is put to the committee as a proposal that cannot be
    adopted yet: the text names the applications awaiting reviews and does not invite the committee to
    « arrêter la liste »; the table says « Décision provisoire : oui ».
    """
    t = run.table
    c = run.allocation.candidates
    spent = int(t["award_eur"].sum())
    n_f = int(t["funded"].sum())
    n_rank = int(t["rank"].notna().sum())
    n_el = int(t["eligible"].sum())
    rk = run.ranking

    def kpi(label, value, sub=""):
        return (f'<div class="ditp-kpi"><div class="l">{_e(label)}</div><div class="v">{_e(value)}</div>'
                f'<div class="s">{_e(sub)}</div></div>')

    kpis = "".join([
        kpi("Candidatures", str(len(t)), f"{n_el} éligibles, {n_rank} classées"),
        kpi("Lauréats", str(n_f), f"règle du classement : {len(rk.funded_ids)}"),
        kpi("Montant attribué", format_eur(spent), f"sur {format_eur(c.available_eur)} disponibles"),
        kpi("Reliquat", format_eur(c.available_eur - spent), "non attribué"),
    ])
    a = run.allocation
    status = _Html(f'<span class="ditp-ok">{_e(a.status.label_fr)}</span>')
    if is_provisional(run):
        ids = run.provisional.within_reach
        k = len(ids)
        head = (f"Décision provisoire : {', '.join(ids)}, en attente d'évaluation, pourrai{'en' if k > 1 else ''}t encore "
                f"entrer dans la liste des lauréats (annexe de procédure). La liste des {n_f} lauréats de la section 6, "
                f"pour un montant total de {format_eur(spent)} sur une enveloppe disponible de "
                f"{format_eur(c.available_eur)}, est proposée au comité ; elle ne pourra être arrêtée qu'une fois ces "
                "avis reçus et la décision recalculée. ")
    else:
        head = (f"Le comité est invité à arrêter la liste des {n_f} lauréats de la section 6, pour un montant total de "
                f"{format_eur(spent)} sur une enveloppe disponible de {format_eur(c.available_eur)}. ")
    if a.rule == "merit_order":
        text = (head + f"Cette sélection suit l'ordre de mérite : les dossiers au-dessus des seuils de qualité sont financés "
                f"par note décroissante jusqu'à la ligne budgétaire ({len(c.not_fundable)} dossier(s) sous un seuil, bande "
                f"d'ex aequo δ = {format_points(c.tie_band_points)} point(s) ; section 2), dans le respect de l'enveloppe, "
                "des montants plancher et plafond, des verrous et des règles de portefeuille. Ce qu'aurait fait la "
                "maximisation de la somme des notes est donné pour comparaison seulement (section 9).")
    elif a.rule == "ranking":
        text = (head + f"Cette sélection suit la règle du classement (variante « {c.params.ranking_variant} ») : les "
                "dossiers au-dessus des seuils de qualité sont financés par note décroissante (section 2). Ce qu'aurait "
                "fait la maximisation de la somme des notes est donné pour comparaison seulement (section 9).")
    else:
        value = (f"{format_points(a.objective)} points" if c.params.objective == "total_score"
                 else f"{format_number(a.objective, 0)} points × €")
        text = (head + f"Le comité a choisi une règle d'optimisation : cette sélection maximise la "
                f"{OBJECTIVE_FR[c.params.objective]} ({value}) dans le respect de l'enveloppe, des montants plancher et "
                "plafond, des seuils de qualité, des verrous et des règles de portefeuille ; la règle du classement "
                "(financer par note décroissante) est donnée à côté pour comparaison (section 7).")
    rows = [("Décision provisoire", provisional_fr(run)),
            ("Règle de décision", RULE_LABELS_FR[a.rule]),
            ("Statut du calcul", _Html(f"{status} : aucune autre sélection ne fait mieux selon cette règle")),
            ("Autre sélection équivalente", "oui : départagée par la règle de départage" if a.other_optimal_portfolios
             else "non : la sélection est unique" if a.other_optimal_portfolios is False
             else "non recherchée : parmi les sélections qui dépensent le plus, la première dans l'ordre déclaré est retenue")]
    return _div(f'<div class="ditp-kpis">{kpis}</div>', f'<div class="ditp-box">{_e(text)}</div>', _kv(rows, id="synthese"))


# --------------------------------------------------------------------------- 1. call and rules


def call_rules_html(run) -> str:
    """The call and its rules, as read from the rules file."""
    r = run.rules
    f, el, s = r.funding, r.eligibility, r.scoring
    ext = f.extended_cap
    rows = [
        ("Appel à projets", r.call.name),
        ("Ouverture / date limite de dépôt (incluse)",
         f"{r.call.opened:%d/%m/%Y} / {r.call.deadline:%d/%m/%Y}" if r.call.opened else f"{r.call.deadline:%d/%m/%Y}"),
        ("Enveloppe de l'appel", format_eur(f.envelope_eur)),
        ("Montant par projet", f"de {format_eur(f.award_floor_eur)} à {format_eur(f.award_cap_eur)}"),
        ("Plafond étendu (candidature collective d'envergure)",
         f"{format_eur(ext.award_cap_eur)} dès {ext.min_partners} partenaires ou {ext.min_regions} régions couvertes"),
        ("Pas des montants attribués", format_eur(f.amount_step_eur)),
        ("Part minimale de la demande attribuée",
         "100 % : la demande (plafonnée) est financée entière ou pas du tout" if f.min_share >= 1 else _share(f.min_share)),
        ("Porteurs éligibles", " ; ".join(ORG_SHORT_FR.get(x, x) for x in el.lead_org_types)),
        ("Collectivités porteuses", "associées à un partenaire de l'État (" + " ; ".join(
            ORG_SHORT_FR.get(x, x) for x in el.local_authority_requires_partner_types) + ")"
         if el.local_authority_requires_partner_types else "sans condition de partenariat"),
        ("Dépenses éligibles", " ; ".join(EXPENSE_LABELS_FR.get(x, x) for x in el.eligible_expenses)),
        ("Dépenses non éligibles admises", f"au plus {_share(el.max_ineligible_expense_share)} de la demande"),
        ("Rattachement à une réforme prioritaire", "exigé" if el.requires_priority_reform else "non exigé"),
        ("Maturités acceptées", " ; ".join(MATURITY_LABELS_FR.get(x, x) for x in el.maturity_levels)),
        ("Notation", f"de {format_number(s.scale_min, 0)} à {format_number(s.scale_max, 0)} par sous-critère ; au moins "
                     f"{s.min_reviews} avis pour classer un dossier"),
        ("Agrégation des notes (règle de l'appel)", NORMALISATION_FR.get(s.normalisation, s.normalisation)),
        ("Règle de décision de l'appel", RULE_LABELS_FR.get(r.selection.rule, r.selection.rule)),
        ("Seuils de qualité de l'appel", _thresholds_fr(r, r.selection.min_score, r.selection.min_criterion)),
        ("Bande d'ex aequo δ de l'appel", "« auto » : calculée à partir des évaluations" if r.selection.tie_band_points == "auto"
         else f"{format_points(float(r.selection.tie_band_points))} point(s) de note globale"),
    ]
    crit_rows = []
    for c in r.criteria:
        subs = " ; ".join(x.label for x in c.subcriteria) if c.subcriteria else "calculé à partir des données du dossier"
        crit_rows.append((c.label, c.description, subs, "évaluateurs" if c.source == "reviews" else "calcul", _share(c.weight)))
    return _div(_kv(rows, id="regles"),
                _table(["Critère", "Description", "Sous-critères", "Source", "Pondération de l'appel"], crit_rows, id="criteres",
                       numeric=(4,), caption="Critères de sélection"))


# --------------------------------------------------------------------------- 2. decision rule


def _thresholds_fr(rules, overall: float, per: dict) -> str:
    """« note globale ≥ 50,00/100 ; impact ≥ 2,50/5 ; ouverture ≥ 2,50/5 », or « aucun »."""
    hi = rules.scoring.scale_max
    parts = [f"note globale ≥ {format_number(overall, 2)}/100"] if overall > 0 else []
    labels = {c.name: c.label.lower() for c in rules.criteria}
    parts += [f"{labels.get(k, k)} ≥ {format_number(v, 2)}/{format_number(hi, 0)}" for k, v in per.items()]
    return " ; ".join(parts) or "aucun"


def decision_rule_html(run) -> str:
    """The rule the committee chose, its sources, the quality thresholds, δ, the exceptions and the ex aequo at the line.

    Tables: ``regle-decision`` (key / value) and, when any, ``exceptions``
    (each departure from merit order, who is funded before whom, and why).
    """
    from ditp_model.rules.allocation import quality_thresholds

    a = run.allocation
    c = a.candidates
    e = run.explanation
    overall, per = quality_thresholds(run.evaluation, c.params)
    n_nf = len(c.not_fundable)
    merit = a.rule == "merit_order"
    suggested = run.suggested_tie_band_points
    rows = [("Règle de décision", RULE_LABELS_FR[a.rule] + (f" — variante « {c.params.ranking_variant} »"
                                                            if a.rule == "ranking" else "")),
            ("Origine de la règle", "fixée par le comité pour ce rapport" if c.params.rule else "règle de l'appel"),
            ("Seuils de qualité", _thresholds_fr(run.rules, overall, per)),
            ("Dossiers non finançables (sous un seuil)",
             f"{n_nf} dossier(s), listés avec leur motif en section 4" if n_nf else "aucun")]
    if merit:
        rows.append(("Bande d'ex aequo δ", tie_band_fr(c.tie_band_points, c.tie_band_source)))
    if suggested is not None:
        rows.append(("δ suggéré par les évaluations",
                     f"{format_points(suggested)} point(s) : écart-type médian de la différence de deux notes globales, "
                     "calculé à partir des évaluations (deux notes plus proches ne peuvent être départagées par les avis)"
                     + ("" if merit else " ; sans objet pour cette règle, donné pour information")))
    rows.append(("Ex aequo à la ligne de financement", e.ex_aequo_fr() or "aucun"))
    rows.append(("Règle de départage", ("entre dossiers ex aequo : " if merit else "") + tie_break_fr(a.rule)))
    if a.rule in ("merit_order", "ranking"):
        rows.append(("Exceptions à l'ordre de mérite", f"{len(a.exceptions)} : voir le tableau ci-dessous" if a.exceptions
                     else "aucune : chaque lauréat est mieux classé que chaque dossier finançable non retenu, hors ex aequo "
                          "et reliquat"))
    parts = [_p(RULE_SOURCES_FR[a.rule]), _kv(rows, id="regle-decision")]
    if a.exceptions:
        ranks = run.table.set_index("application_id")["rank"]
        ranked = lambda ids: ", ".join(f"{p} (rang {int(ranks[p])})" for p in ids)  # noqa: E731
        # a lock or a minimum count funds one laureate first; a maximum share (or number of awards) holds
        # better-ranked applications out while lower-ranked ones are funded: then the laureates are those below
        rows_x = [(x.funded, int(ranks[x.funded]), ranked(x.passed_over), x.cause, x.sentence_fr()) if not x.held_out
                  else (ranked(x.funded_instead) or "—", "—", ranked(x.passed_over), x.cause, x.sentence_fr())
                  for x in a.exceptions]
        parts.append(_table(["Lauréat", "Rang", "Financé avant", "Cause", "Phrase"], rows_x, id="exceptions", numeric=(1,),
                            caption="Exceptions à l'ordre de mérite, chacune avec sa cause (pour un plafond : les "
                                    "lauréats moins bien classés, financés avant les dossiers que le plafond écarte)"))
    return _div(*parts)


# --------------------------------------------------------------------------- 3. parameters


def _group_rule_fr(r) -> str:
    parts = []
    if r.min_count is not None:
        parts.append(f"au moins {r.min_count} lauréat(s)")
    if r.max_share is not None:
        parts.append(f"au plus {_share(r.max_share)} de l'enveloppe disponible")
    return f"{GROUP_FR.get(r.column, r.column)} = {r.value} : " + " et ".join(parts)


def _conflicts_fr(run) -> str:
    """The declarations file as used: its path, how many declarations and how many reviews they left out."""
    ev = run.evaluation
    n = 0 if ev.conflicts is None else len(ev.conflicts)
    k = 0 if ev.excluded_reviews is None else len(ev.excluded_reviews)
    return (f"{display_path(run.params.conflicts)} — {n} déclaration{'s' if n > 1 else ''}, "
            f"{k} avis écarté{'s' if k > 1 else ''} (détail : annexe de procédure)")


def _parameter_rows(run) -> list[tuple[str, str, str, str]]:
    """(French label, notebook name, value as used, origin) of every parameter of the run."""
    p = run.params
    c = run.allocation.candidates
    a = c.params
    f = run.rules.funding
    given = set(p.given)

    def origin(name, from_call=False):
        if p.scenario and name in ("weights", "normalisation", "envelope_eur", "committed_eur", "reserve_eur", "min_share",
                                   "lock_in", "lock_out", "group_rules", "max_awards", "rule", "tie_band_points",
                                   "min_score", "solver", "time_limit_s", "ranking_variant", "call", "applications",
                                   "reviews"):
            return "scénario"
        if name in given:
            return "donné"
        return "appel" if from_call else "défaut"

    from ditp_model.rules.allocation import quality_thresholds

    overall, per = quality_thresholds(run.evaluation, a)
    w = run.evaluation.weights
    labels = {c.name: c.label for c in run.rules.criteria}
    weights = " ; ".join(f"{labels.get(k, k)} {_share(v)}" for k, v in w.normalised().items())
    rows = [
        ("Règles de l'appel", "call", display_path(p.call), origin("call")),
        ("Candidatures", "applications", display_path(p.applications), origin("applications")),
        ("Évaluations", "reviews", display_path(p.reviews), origin("reviews")),
        ("Déclarations de conflits d'intérêts", "conflicts",
         _conflicts_fr(run) if getattr(p, "conflicts", None) else "aucune déclaration", origin("conflicts")),
        ("Pondérations", "weights", weights, origin("weights", p.weights is None)),
        ("Agrégation des notes", "normalisation", NORMALISATION_FR.get(run.evaluation.normalisation, run.evaluation.normalisation),
         origin("normalisation", p.normalisation is None)),
        ("Enveloppe", "envelope_eur", format_eur(c.envelope_eur), origin("envelope_eur", a.envelope_eur is None)),
        ("Déjà engagé (vagues précédentes)", "committed_eur", format_eur(c.committed_eur), origin("committed_eur")),
        ("Réserve pour les vagues suivantes", "reserve_eur", format_eur(c.reserve_eur), origin("reserve_eur")),
        ("Enveloppe disponible pour cette décision", "—", format_eur(c.available_eur), "calcul"),
        ("Part minimale de la demande attribuée", "min_share",
         _share(a.min_share if a.min_share is not None else f.min_share), origin("min_share", a.min_share is None)),
        ("Dossiers imposés par le comité", "lock_in", ", ".join(sorted(a.lock_in)) or "aucun", origin("lock_in")),
        ("Dossiers exclus par le comité", "lock_out", ", ".join(sorted(a.lock_out)) or "aucun", origin("lock_out")),
        ("Règles de portefeuille", "group_rules", " ; ".join(_group_rule_fr(r) for r in a.group_rules) or "aucune",
         origin("group_rules")),
        ("Nombre maximal de lauréats", "max_awards", "pas de maximum" if a.max_awards is None else str(a.max_awards),
         origin("max_awards")),
        ("Règle de décision", "rule", RULE_LABELS_FR[c.rule], origin("rule", a.rule is None)),
        ("Bande d'ex aequo δ (ordre de mérite)", "tie_band_points",
         (tie_band_fr(c.tie_band_points, c.tie_band_source) if c.rule == "merit_order"
          else "sans objet pour cette règle"), origin("tie_band_points", a.tie_band_points is None)),
        ("Seuil de qualité : note globale minimale", "min_score", _thresholds_fr(run.rules, overall, {}),
         origin("min_score", a.min_score is None)),
        ("Seuils de qualité par critère", "—", _thresholds_fr(run.rules, 0.0, per), "appel" if a.min_criterion is None
         else "scénario" if p.scenario else "donné"),
        ("Variante de la règle du classement", "ranking_variant", VARIANT_FR[p.ranking_variant]
         + (" (règle de décision)" if c.rule == "ranking" else " (colonne de comparaison)"), origin("ranking_variant")),
        ("Règle de départage", "—", tie_break_fr(c.rule), "appel"),
        ("Solveur, temps maximal par résolution", "solver, time_limit_s", f"{a.solver}, {format_number(a.time_limit_s, 0)} s",
         origin("solver")),
        ("Écarts d'entrée et marges de sortie", "gaps",
         "calculés" if p.gaps else ("non calculés par optimisation ; l'ordre de mérite les donne rang par rang"
                                    if c.rule in ("merit_order", "ranking") else "non calculés"), origin("gaps")),
        ("Dossiers montrés près de la ligne", "near_line", str(p.near_line), origin("near_line")),
        ("Sélection en vagues hebdomadaires (rejeu)", "waves_from",
         f"vagues du {_date_fr(p.waves_from)} au {run.rules.call.deadline:%d/%m/%Y} (section « Sélection en vagues »)"
         if p.waves_from else "aucune : pas de section sur les vagues", origin("waves_from")),
        ("Identité des évaluateurs dans les exports", "personal_data",
         "oui (demande expresse du secrétariat)" if p.personal_data else "non : évaluateurs pseudonymisés (R01, R02…)",
         origin("personal_data")),
    ]
    rows.insert(0, ("Scénario du comité", "scenario",
                    f"« {p.scenario['name']} » — {display_path(p.scenario['path'])}" if p.scenario else "aucun",
                    "donné" if p.scenario else "défaut"))
    # Provisional or not comes from the data (is_provisional); the parameter only records the caller's acceptance.
    rows.append(("Décision provisoire", "—", provisional_fr(run), "données"))
    rows.append(("Décision provisoire acceptée par l'appelant (--provisoire)", "provisional",
                 "oui" if getattr(p, "provisional", False) else "non", origin("provisional")))
    rows.append(("Exports (XLSX, CSV, manifeste, retours)", "output_dir",
                 "préparés puis publiés avec ce rapport" if p.output_dir else "aucun (notebook exécuté seul)", origin("output_dir")))
    rows.append(("Commande enregistrée", "command", p.command or "—", origin("command")))
    return rows


def parameters_html(run) -> str:
    """Annex: every parameter of the run as used, with its notebook name (papermill ``-p``) and where its value comes from.

    Table ``parametres`` (columns: label, notebook name, value used, origin).
    """
    return _div(_table(["Paramètre", "Nom (papermill)", "Valeur utilisée", "Origine"], _parameter_rows(run), id="parametres"),
                _p("Origine : « donné » pour une valeur fournie au lancement, « appel » pour une valeur du fichier des règles, "
                   "« défaut » pour la valeur par défaut du rapport, « scénario » pour une valeur du scénario enregistré, "
                   "« calcul » et « données » pour une valeur calculée (la décision provisoire vient des dossiers en attente "
                   "d'évaluation, jamais d'un paramètre).",
                   "ditp-note"),
                uncorrected_reviewers_html(run))


def uncorrected_reviewers_html(run) -> str:
    """The reviewers left uncorrected by the per-reviewer correction (too few reviews), as a table; "" when none.

    Reviewers appear under their pseudonym (R01, R02…) unless the report keeps
    identities (:func:`ditp_model.outputs.report.pseudonymise_reviewers`).
    """
    from ditp_model.privacy import reviewer_pseudonyms
    from ditp_model.scoring.aggregate import uncorrected_reviewers

    ev = run.evaluation
    table = uncorrected_reviewers(ev.reviews, ev.rules, ev.normalisation)
    if not len(table):
        return ""
    names = reviewer_pseudonyms(ev, identities=bool(getattr(run.params, "personal_data", False)))
    need = int(table["min_reviews"].iloc[0])
    rows = [(names.get(r, r), int(n), apps) for r, n, apps in zip(table["reviewer_id"], table["n_reviews"], table["applications"])]
    return _div(_table(["Évaluateur", "Avis", "Dossiers évalués"], rows, id="evaluateurs-non-corriges", numeric=(1,),
                       caption=f"Évaluateurs non corrigés : moins de {need} avis (normalisation_min_reviews de l'appel)"),
                _p(f"La correction par évaluateur ({'z-score' if ev.normalisation == 'reviewer_zscore' else 'modèle additif'}) estime la sévérité ou l'indulgence de chacun à partir de ses avis ; "
                   f"avec moins de {need} avis elle n'est pas estimable : les notes de ces évaluateurs sont prises telles "
                   "quelles.", "ditp-note"))


#: Parameters shown in the body of the report (section 3), in words; the others are in the technical annex.
SESSION_PARAMETERS = ("scenario", "conflicts", "weights", "normalisation", "envelope_eur", "committed_eur", "reserve_eur", "—available",
                      "min_share", "lock_in", "lock_out", "group_rules", "max_awards", "rule", "tie_band_points", "min_score",
                      "—criteria", "—provisional")
#: The origin of a value, in words (section 3).
ORIGIN_FR = {"donné": "fixé pour cette séance", "appel": "règle de l'appel", "défaut": "valeur habituelle",
             "scénario": "scénario du comité", "calcul": "calculé",
             "données": "déduit des données (dossiers en attente d'évaluation)"}


def session_html(run) -> str:
    """Section 3 « Paramètres de la séance »: what the committee decided with, in words, without the tool's names.

    Table ``seance`` (columns: parameter, value used, origin in words).  The
    full list, with the names the tool gives them (papermill), is
    :func:`parameters_html` in the technical annex.
    """
    rows = _parameter_rows(run)
    keep = []
    for label, name, value, origin in rows:
        key = name
        if name == "—":
            key = {"Enveloppe disponible pour cette décision": "—available",
                   "Seuils de qualité par critère": "—criteria",
                   "Décision provisoire": "—provisional"}.get(label, "")
        if key in SESSION_PARAMETERS:
            if name == "scenario" and run.params.scenario:
                value = f"« {run.params.scenario['name']} »"
            keep.append((label, value, ORIGIN_FR.get(origin, origin)))
    return _div(_table(["Paramètre", "Valeur retenue", "Origine"], keep, id="seance"),
                _p("Les fichiers lus, le calcul et tous les paramètres tels que l'outil les nomme sont dans l'annexe technique.",
                   "ditp-note"))


# --------------------------------------------------------------------------- 4. eligibility and quality thresholds


def eligibility_html(run) -> str:
    """Counts, then every ineligible application with all its reasons, and the eligible ones left unranked."""
    from ditp_model.scoring.eligibility import REASON_CODES

    t = run.evaluation.table
    inel = t[~t["eligible"]]
    unscored = t[t["eligible"] & ~t["scored"]]
    nf = run.allocation.candidates.not_fundable
    counts = [("Candidatures reçues", len(t)), ("Éligibles et classées", int((t["eligible"] & t["scored"]).sum())),
              ("dont non finançables (sous un seuil de qualité)", len(nf)),
              ("Éligibles, non classées faute d'avis suffisants", len(unscored)), ("Non éligibles", len(inel))]
    by_reason = {}
    for codes in inel["reason_codes"]:
        for code in filter(None, str(codes).split(",")):
            by_reason[code] = by_reason.get(code, 0) + 1
    reason_rows = [(REASON_CODES.get(k, k), n) for k, n in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))]
    parts = [_table(["Statut", "Dossiers"], counts, id="eligibilite-bilan", numeric=(1,), narrow=True)]
    if reason_rows:
        parts.append(_table(["Motif de non-éligibilité", "Dossiers"], reason_rows, id="eligibilite-motifs", numeric=(1,),
                            narrow=True, caption="Motifs (un dossier peut en cumuler plusieurs)"))
        parts.append(_table(["Dossier", "Intitulé", "Porteur", "Motifs"],
                            [(r.application_id, r.title, r.lead_org, r.reasons) for r in inel.itertuples()],
                            id="non-eligibles", caption="Dossiers non éligibles et tous leurs motifs"))
    if len(unscored):
        parts.append(_table(["Dossier", "Intitulé", "Motif"],
                            [(r.application_id, r.title, r.score_flag) for r in unscored.itertuples()],
                            id="non-classes", caption="Dossiers éligibles non classés"))
    if nf:
        d = run.table.set_index("application_id")
        ids = sorted(nf, key=lambda a: (int(d.at[a, "rank"]), a))
        parts.append(_table(["Dossier", "Intitulé", "Rang", "Note /100", "Motif"],
                            [(a, d.at[a, "title"], int(d.at[a, "rank"]), format_points(d.at[a, "score"]),
                              nf[a].removeprefix("non finançable : ")) for a in ids],
                            id="non-financables", numeric=(2, 3),
                            caption=f"Dossiers éligibles et classés mais non finançables : sous un seuil de qualité "
                                    f"({_thresholds_fr(run.rules, *_thresholds(run))})"))
    return _div(*parts)


def _thresholds(run):
    from ditp_model.rules.allocation import quality_thresholds

    return quality_thresholds(run.evaluation, run.allocation.candidates.params)


# --------------------------------------------------------------------------- 5. ranked list


def _decision_cell(funded: bool, award: int) -> str:
    return format_eur(award) if funded else "—"


def _why_not(r, lock_out) -> str:
    """Short French reason an application of the decision table is not funded ("" when funded)."""
    if r.funded:
        return ""
    if r.not_fundable:
        return "seuil de qualité"
    if r.application_id in lock_out:
        return "écarté par le comité"
    return REASONS_FR.get(r.reason, "") if r.reason != "excluded" else ""


def _disagreement_cell(r) -> str:
    """« désaccord fort (écart 1,6 pt) » when the reviewers disagree strongly, "" otherwise (older tables: "")."""
    if not bool(getattr(r, "reviewer_disagreement", False)):
        return ""
    return f"désaccord fort (écart {format_number(float(r.reviewer_range))} pt)"


def ranked_html(run) -> str:
    """Every ranked application by rank: criterion scores, the decision with its reason and ex aequo mark, the ranking rule.

    Columns « Ex aequo » (statistical tie at the funding line) and « Motif »
    (why a ranked application is not funded: threshold, envelope at its
    turn, tie, rule, exception) come from the decision table.
    """
    t = run.table[run.table["rank"].notna()].sort_values("rank", kind="mergesort")
    lock_out = run.allocation.candidates.params.lock_out
    rows, classes = [], []
    for r in t.itertuples():
        rows.append([int(r.rank), r.application_id, r.title, r.region, format_points(r.score), *_criteria_values(run, r),
                     format_eur(r.requested_eur), "ex aequo" if r.ex_aequo else "", _disagreement_cell(r),
                     _why_not(r, lock_out),
                     _decision_cell(r.funded, r.award_eur),
                     _decision_cell(r.ranking_rule_award_eur > 0, r.ranking_rule_award_eur)])
        classes.append("f" if r.funded else "")
    k = len(run.rules.criteria)
    headers = ["Rang", "Dossier", "Intitulé", "Région", "Note /100", *_criteria_headers(run), "Demandé", "Ex aequo",
               "Désaccord des évaluateurs", "Motif",
               "Attribué (décision)", "Règle du classement (comparaison)"]
    return _div(_p(f"{len(t)} dossiers éligibles et classés, par note décroissante (départage : "
                   f"{tie_break_fr('ranking')}). Les lignes surlignées sont les lauréats ; « ex aequo » "
                   "marque les notes que la bande δ ne permet pas de départager à la ligne de financement ; « désaccord "
                   "fort » signale un dossier dont les notes d'évaluateurs (critères notés) s'écartent d'au moins "
                   f"{format(disagreement_threshold(run.rules), 'g').replace('.', ',')} point(s) sur l'échelle de notation (seuil de l'appel ; "
                   "à discuter en séance, la note n'en est pas changée) ; la dernière "
                   "colonne donne la règle du classement, pour comparaison.", "ditp-note"),
                _table(headers, rows, id="classement", numeric=(0, 4, *range(5, 5 + k), 5 + k, 9 + k, 10 + k),
                       row_classes=classes))


# --------------------------------------------------------------------------- 6. funded list


def funded_html(run) -> str:
    """The funded applications with their awards; totals in the footer (parsed back by the tests)."""
    f = run.funded
    c = run.allocation.candidates
    rows = [(r.application_id, r.title, r.lead_org, r.region, ORG_SHORT_FR.get(r.lead_org_type, r.lead_org_type),
             MATURITY_LABELS_FR.get(r.maturity, r.maturity), int(r.rank), format_points(r.score), format_eur(r.requested_eur),
             format_eur(r.award_eur)) for r in f.itertuples()]
    spent = int(f["award_eur"].sum())
    foot = [(f"Total : {len(f)} lauréats", 8), format_eur(int(f["requested_eur"].sum())), format_eur(spent)]
    note = (f"Enveloppe disponible : {format_eur(c.available_eur)} ; attribué : {format_eur(spent)} ; reliquat : "
            f"{format_eur(c.available_eur - spent)}. Montants en euros entiers ; chaque montant est la demande, plafonnée à "
            f"{format_eur(run.rules.award_cap_eur)} (ou au plafond étendu pour une candidature collective d'envergure).")
    return _div(_table(["Dossier", "Intitulé", "Porteur", "Région", "Type de porteur", "Maturité", "Rang", "Note /100",
                        "Demandé", "Attribué"], rows, id="laureats", numeric=(6, 7, 8, 9), foot=foot), _p(note, "ditp-note"))


# --------------------------------------------------------------------------- 7. the decision beside the ranking rule


def comparison_html(run) -> str:
    """The decision beside the ranking rule (comparison): counts, amounts, scores, and who is funded by one side only."""
    t = run.table
    c = run.allocation.candidates
    rk = run.ranking
    opt_f = t[t["funded"]]
    rk_f = t[t["ranking_rule_award_eur"] > 0]
    rule = run.allocation.rule

    def stats(sel, award_col):
        n = len(sel)
        spent = int(sel[award_col].sum())
        value = float(sel["score"].sum())
        return n, spent, value, (value / n if n else math.nan), (float(sel["score"].min()) if n else math.nan)

    o = stats(opt_f, "award_eur")
    r = stats(rk_f, "ranking_rule_award_eur")

    def diff(x, y, fmt):
        d = x - y
        return ("+" if d > 0 else "") + fmt(d) if d else "0"

    rows = [
        ("Lauréats", o[0], r[0], diff(o[0], r[0], str)),
        ("Montant attribué", format_eur(o[1]), format_eur(r[1]), diff(o[1], r[1], format_eur)),
        ("Reliquat de l'enveloppe", format_eur(c.available_eur - o[1]), format_eur(c.available_eur - r[1]),
         diff(r[1], o[1], format_eur)),
        ("Somme des notes des lauréats (points)", format_points(o[2]), format_points(r[2]), diff(o[2], r[2], format_points)),
        ("Note moyenne des lauréats", format_points(o[3]), format_points(r[3]), diff(o[3], r[3], format_points)),
        ("Note du lauréat le moins bien noté", format_points(o[4]), format_points(r[4]), diff(o[4], r[4], format_points)),
    ]
    only_opt = opt_f[~opt_f["application_id"].isin(rk_f["application_id"])].sort_values("rank", kind="mergesort")
    only_rk = rk_f[~rk_f["application_id"].isin(opt_f["application_id"])].sort_values("rank", kind="mergesort")
    parts = [_table(["", f"Décision proposée ({RULE_SHORT_FR[rule]})", f"Règle du classement ({rk.variant})", "Écart"], rows,
                    id="comparaison", numeric=(1, 2, 3))]
    ranking_fr = (" La règle du classement finance par note décroissante les dossiers au-dessus des seuils, en passant "
                  "ceux qui ne tiennent pas dans le reste" if rk.variant == "skip" else
                  " La règle du classement finance par note décroissante les dossiers au-dessus des seuils et s'arrête au "
                  "premier qui ne tient pas dans le reste")
    ranking_fr += " ; elle ne tient pas compte de la bande d'ex aequo."
    if rule == "merit_order":
        why = ("L'ordre de mérite finance lui aussi par note décroissante ; il en diffère seulement entre ex aequo (notes à "
               f"moins de δ = {format_points(c.tie_band_points)} point(s), départagées par le montant dépensé), pour les "
               "verrous et les règles de portefeuille (exceptions nommées en section 2)." + ranking_fr)
    elif rule == "ranking":
        why = "La décision proposée est la règle du classement elle-même." + ranking_fr
    elif rule == "max_total_score":
        why = ("L'optimum cherche la plus grande somme de notes dans l'enveloppe : il peut préférer plusieurs projets moins "
               "coûteux à un projet mieux noté mais cher." + ranking_fr)
    else:
        why = ("L'optimum cherche la plus grande somme des notes pondérées par les montants : il privilégie les projets les "
               "mieux notés, même coûteux." + ranking_fr)
    parts.append(_p(why, "ditp-note"))
    if len(only_opt) or len(only_rk):
        parts.append(_table(["Dossier", "Intitulé", "Rang", "Note /100", "Attribué"],
                            [(x.application_id, x.title, int(x.rank), format_points(x.score), format_eur(x.award_eur))
                             for x in only_opt.itertuples()], id="optimum-seulement", numeric=(2, 3, 4),
                            caption=f"Financés par la décision proposée et non par la règle du classement ({len(only_opt)})"))
        parts.append(_table(["Dossier", "Intitulé", "Rang", "Note /100", "Montant selon la règle"],
                            [(x.application_id, x.title, int(x.rank), format_points(x.score), format_eur(x.ranking_rule_award_eur))
                             for x in only_rk.itertuples()], id="classement-seulement", numeric=(2, 3, 4),
                            caption=f"Financés par la règle du classement et non par la décision proposée ({len(only_rk)})"))
    else:
        parts.append(_p("La décision proposée et la règle du classement financent les mêmes dossiers."))
    if rk.unmet_rules:
        parts.append(_p("La règle du classement ne respecte pas : " + " ; ".join(rk.unmet_rules) + "."))
    return _div(*parts)


# --------------------------------------------------------------------------- 8. funding line


def _margin(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if math.isinf(x):
        return "ne peut sortir (verrou ou règle)"
    return format_points(x)


def _euros_or_dash(x) -> str:
    return "—" if x is None or pd.isna(x) or int(x) < 0 else format_eur(int(x))


def _needed_score(x) -> str:
    """The score an application would need, or « aucune note ne suffit » (never a number above 100)."""
    if x is None or pd.isna(x) or not math.isfinite(float(x)) or float(x) > 100:
        return "aucune note ne suffit"
    from ditp_model.rules.entry_score import shown_needed_score

    return f"≥ {format_points(shown_needed_score(float(x)))}"


def funding_line_html(run) -> str:
    """The funding line in the rule's terms, the ex aequo and the exceptions, and the applications nearest the line.

    Merit order and ranking rule: the line (``Explanation.funding_line_fr``),
    the ex aequo and how they were settled, the exceptions; tables
    ``marges-sortie`` (laureates nearest the exit, margin in score points)
    and ``ecarts-entree`` (unfunded fundable applications nearest the entry:
    score needed, what was left at their turn, what they needed, why).
    Optimisation rules: entry gaps and exit margins in portfolio value, the
    shadow price in the annex.  Without gaps under an optimisation rule: the
    table ``pres-de-la-ligne``.
    """
    e = run.explanation
    t = run.table
    n = run.params.near_line
    rule = run.allocation.rule
    merit = rule in ("merit_order", "ranking")
    obj = run.allocation.candidates.params.objective
    unit = "points" if merit or obj == "total_score" else "points × €"
    parts = [_p(e.funding_line_fr() + ".")]
    if merit:
        if e.ex_aequo_fr():
            parts.append(_p(e.ex_aequo_fr()))
        for x in e.exceptions:
            parts.append(_p(f"Exception à l'ordre de mérite : {x}."))
    elif e.lowest_funded and e.highest_unfunded and e.highest_unfunded[1] > e.lowest_funded[1]:
        parts.append(_p(f"La décision n'est pas une coupure par note : le dossier non retenu le mieux noté "
                        f"({e.highest_unfunded[0]}, {format_points(e.highest_unfunded[1])}) dépasse le dernier lauréat "
                        f"({e.lowest_funded[0]}, {format_points(e.lowest_funded[1])}). Ce qui les sépare est le coût : le "
                        "tableau des écarts d'entrée ci-dessous et le graphique des notes et montants le montrent dossier par "
                        "dossier."))
    if e.shadow_price_per_keur is not None:
        parts.append(_p("Prix implicite de l'enveloppe : voir l'annexe.", "ditp-note"))
    cands = t[t["rank"].notna() & (t["not_fundable"] == "") & ~t["keeps_out"].fillna("").str.startswith("exclu par le comité")]
    if merit:
        funded = cands[cands["funded"]].sort_values(["exit_margin", "rank"], kind="mergesort").head(n)
        out = cands[~cands["funded"]].sort_values("rank", kind="mergesort").head(n)
        parts.append(_p("Pour un dossier non retenu : ce que les dossiers mieux classés retenus avaient reçu, ce qui restait de "
                        "l'enveloppe quand son tour est venu, ce qu'il lui fallait (son montant minimal), et la note qui lui "
                        "aurait suffi, les autres dossiers restant inchangés (« aucune note ne suffit » quand même la note "
                        "maximale ne suffirait pas). Marge de sortie d'un lauréat : les points de note qu'il pourrait perdre "
                        "en restant financé.", "ditp-note"))
        parts.append(_table(["Dossier", "Intitulé", "Rang", "Note /100", "Attribué", "Marge de sortie (points)", "Ex aequo"],
                            [(r.application_id, r.title, int(r.rank), format_points(r.score), format_eur(r.award_eur),
                              _margin(r.exit_margin), "ex aequo" if r.ex_aequo else "") for r in funded.itertuples()],
                            id="marges-sortie", numeric=(2, 3, 4, 5),
                            caption=f"Les {len(funded)} lauréats les plus proches de la sortie"))
        parts.append(_table(["Dossier", "Intitulé", "Rang", "Note /100", "Demandé", "Écart d'entrée (points)",
                             "Note nécessaire", "Mieux classés : reçu", "Restait à son tour", "Il fallait", "Ex aequo",
                             "Ce qui le tient hors du financement"],
                            [(r.application_id, r.title, int(r.rank), format_points(r.score), format_eur(r.requested_eur),
                              _margin(r.entry_gap),
                              _needed_score(r.score_needed), _euros_or_dash(r.better_ranked_awarded_eur),
                              _euros_or_dash(r.left_when_turn_eur), _euros_or_dash(r.needed_eur),
                              "ex aequo" if r.ex_aequo else "", r.keeps_out) for r in out.itertuples()],
                            id="ecarts-entree", numeric=(2, 3, 4, 5, 7, 8, 9),
                            caption=f"Les {len(out)} premiers dossiers finançables non retenus, par rang"))
    elif run.params.gaps:
        funded = cands[cands["funded"]].sort_values(["exit_margin", "rank"], kind="mergesort").head(n)
        out = cands[~cands["funded"]].copy()
        out["_g"] = out["entry_gap"].fillna(math.inf)
        out = out.sort_values(["_g", "rank"], kind="mergesort").head(n)
        parts.append(_p(f"Marge de sortie d'un lauréat : ce que perdrait la valeur du portefeuille ({unit}) si on le retirait, "
                        "la meilleure sélection étant recalculée sans lui. Écart d'entrée d'un dossier non retenu : ce que "
                        f"perdrait la valeur du portefeuille ({unit}) si on l'imposait ; avec l'objectif « somme des notes », "
                        "c'est aussi la hausse de note qui lui aurait suffi, les autres dossiers restant inchangés.", "ditp-note"))
        parts.append(_table(["Dossier", "Intitulé", "Rang", "Note /100", "Attribué", f"Marge de sortie ({unit})"],
                            [(r.application_id, r.title, int(r.rank), format_points(r.score), format_eur(r.award_eur),
                              _margin(r.exit_margin)) for r in funded.itertuples()],
                            id="marges-sortie", numeric=(2, 3, 4, 5), caption=f"Les {len(funded)} lauréats les plus proches de la sortie"))
        parts.append(_table(["Dossier", "Intitulé", "Rang", "Note /100", "Demandé", f"Écart d'entrée ({unit})",
                             "Ce qui le tient hors du financement"],
                            [(r.application_id, r.title, int(r.rank), format_points(r.score), format_eur(r.requested_eur),
                              _margin(r.entry_gap), r.keeps_out) for r in out.itertuples()],
                            id="ecarts-entree", numeric=(2, 3, 4, 5),
                            caption=f"Les {len(out)} dossiers non retenus les plus proches de l'entrée"))
    else:
        parts.append(_p("Écarts d'entrée et marges de sortie non calculés pour ce rapport (paramètre gaps = False).", "ditp-note"))
        near = cands.sort_values("score", ascending=False, kind="mergesort")
        line = float(run.funded["score"].min()) if len(run.funded) else math.inf
        near = near.iloc[(near["score"] - line).abs().argsort(kind="mergesort")[: 2 * n]].sort_values("rank", kind="mergesort")
        parts.append(_table(["Dossier", "Intitulé", "Rang", "Note /100", "Décision", "Ce qui le tient hors du financement"],
                            [(r.application_id, r.title, int(r.rank), format_points(r.score),
                              _decision_cell(r.funded, r.award_eur), r.keeps_out) for r in near.itertuples()],
                            id="pres-de-la-ligne", numeric=(2, 3)))
    return _div(*parts)


# --------------------------------------------------------------------------- 9. the optimum, for comparison only


def optimum_comparison_html(run) -> str:
    """« Si l'on maximisait la somme des notes » : that portfolio, what it gains and what it costs in merit — a comparison only.

    Tables: ``optimum-comparaison`` (laureates, amount, remainder, lowest
    rank funded), ``optimum-ecartes`` (laureates of the decision it leaves
    out, better ranked than some it funds) and ``optimum-ajoutes`` (what it
    funds instead).  Built from :func:`ditp_model.rules.explain.optimum_comparison`.
    """
    c = run.comparison
    a = run.allocation
    if c is None:
        if a.rule == "max_total_score":
            return _div(_p("La décision est elle-même celle qui maximise la somme des notes : pas de comparaison à donner."))
        return _div(_p("La maximisation de la somme des notes n'a pas d'optimum prouvé avec ces paramètres : pas de comparaison."))
    avail = a.candidates.available_eur
    ranks = run.table.set_index("application_id")["rank"]
    worst_dec = max((int(ranks[x]) for x in a.funded_ids), default=None)
    worst_opt = max((int(ranks[x]) for x in c.funded_ids), default=None)

    def diff(x, y, fmt):
        d = x - y
        return ("+" if d > 0 else "") + fmt(d) if d else "0"

    rows = [("Lauréats", c.n_funded, c.decision_n_funded, diff(c.n_funded, c.decision_n_funded, str)),
            ("Montant attribué", format_eur(c.awarded_eur), format_eur(c.decision_awarded_eur),
             diff(c.awarded_eur, c.decision_awarded_eur, format_eur)),
            ("Reliquat de l'enveloppe", format_eur(avail - c.awarded_eur), format_eur(avail - c.decision_awarded_eur),
             diff(c.decision_awarded_eur, c.awarded_eur, format_eur)),
            ("Rang du lauréat le moins bien classé", "—" if worst_opt is None else worst_opt,
             "—" if worst_dec is None else worst_dec, "")]
    t = run.table.set_index("application_id")

    def listing(items, id_, caption):
        body = [(x, t.at[x, "title"], r, format_points(t.at[x, "score"]), format_eur(int(t.at[x, "requested_eur"])))
                for x, r in items]
        return _table(["Dossier", "Intitulé", "Rang", "Note /100", "Demandé"], body, id=id_, numeric=(2, 3, 4),
                      caption=f"{caption} ({len(items)})")

    parts = [_p(c.summary_fr()),
             _table(["", "Si l'on maximisait la somme des notes", f"Décision ({RULE_SHORT_FR[a.rule]})", "Écart"], rows,
                    id="optimum-comparaison", numeric=(1, 2, 3), caption="Pour comparaison seulement — ce n'est pas la décision")]
    if c.left_out or c.added:
        parts.append(listing(c.left_out, "optimum-ecartes",
                             "Ce qu'il coûterait en mérite : lauréats de la décision, mieux classés, qu'il laisserait de côté"))
        parts.append(listing(c.added, "optimum-ajoutes", "Ce qu'il financerait à leur place"))
    parts.append(_p("Chaque lauréat compte autant pour cette somme quel que soit son coût : l'optimum gagne des lauréats en "
                    "préférant des projets moins coûteux et moins bien classés. Le comité voit ainsi l'arbitrage ; la "
                    "décision reste celle de la règle choisie (section 2).", "ditp-note"))
    return _div(*parts)


# --------------------------------------------------------------------------- annex: shadow price (optimisation rules)


def annex_html(run) -> str:
    """Annex « Prix implicite de l'enveloppe » under an optimisation rule only (empty text otherwise)."""
    sp = run.explanation.shadow_price_per_keur
    if run.allocation.rule not in ("max_total_score", "max_score_weighted_award") or sp is None:
        return ""
    unit = ("point(s) de somme des notes" if run.allocation.candidates.params.objective == "total_score"
            else "point(s) × € de somme des notes pondérées")
    return _div('<h2 class="ditp-h2">Annexe — Prix implicite de l\'enveloppe</h2>',
                _p(f"Prix implicite de l'enveloppe : {format_number(sp)} {unit} pour 1 000 € de plus "
                   "(relaxation continue du modèle). Il ne vaut que pour la règle d'optimisation choisie ; l'ordre de mérite "
                   "ne maximise rien et n'a pas de prix implicite.", ""))


def figure_png(fig, dpi: int = 200) -> bytes:
    """PNG bytes of a matplotlib figure (Agg canvas; no date in the file); 200 dpi by default, for print."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
    return buf.getvalue()


def funding_line_chart(run):
    """Score against requested amount, coloured by decision, with the score of the lowest laureate (the funding line).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    t = run.table[run.table["rank"].notna()]
    fig = Figure(figsize=(10, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    groups = [
        (t[~t["funded"] & (t["ranking_rule_award_eur"] == 0)], "non retenu", dict(color=GREY, marker="o", s=28)),
        (t[~t["funded"] & (t["ranking_rule_award_eur"] > 0)], "retenu par la seule règle du classement",
         dict(facecolors="none", edgecolors=ORANGE, marker="o", s=46, linewidths=1.6)),
        (t[t["funded"]], "lauréat (décision proposée)", dict(color=BLUE, marker="o", s=34)),
    ]
    for sel, label, style in groups:
        ax.scatter(sel["requested_eur"] / 1000, sel["score"], label=f"{label} ({len(sel)})", **style)
    if len(run.funded):
        low = float(run.funded["score"].min())
        ax.axhline(low, color=BLUE, lw=0.8, ls="--")
        ax.text(ax.get_xlim()[1], low, f" note du dernier lauréat : {format_points(low)}", va="bottom", ha="right",
                fontsize=8, color=BLUE)
    ax.set_xlabel("Montant demandé (k€)")
    ax.set_ylabel("Note globale (/100)")
    ax.set_title("Notes et montants demandés des dossiers classés", fontsize=11, loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", frameon=True)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 10. breakdown


def _group_label(column: str, value) -> str:
    if column == "lead_org_type":
        return ORG_SHORT_FR.get(value, value)
    if column == "maturity":
        return MATURITY_LABELS_FR.get(value, value)
    if column == "priority_reform" and not value:
        return "(aucune)"
    return str(value)


def _breakdown(run, column: str) -> pd.DataFrame:
    t = run.table[run.table["rank"].notna()]
    spent = int(run.table["award_eur"].sum())
    g = t.groupby(column, sort=False)
    out = pd.DataFrame({
        "classes": g.size(),
        "laureats": g["funded"].sum().astype(int),
        "attribue": g["award_eur"].sum().astype("int64"),
    })
    out["part"] = out["attribue"] / spent if spent else 0.0
    out.index = [_group_label(column, v) for v in out.index]
    return out.sort_values(["attribue", "laureats", "classes"], ascending=False, kind="mergesort")


def breakdown_html(run) -> str:
    """Per region, kind of organisation, maturity and reform: ranked applications, funded ones, amount and share."""
    tables = []
    for col, title in (("region", "Par région"), ("lead_org_type", "Par type de porteur"), ("maturity", "Par maturité"),
                       ("priority_reform", "Par réforme prioritaire")):
        b = _breakdown(run, col)
        rows = [(k, int(r.classes), int(r.laureats), format_eur(int(r.attribue)), _share(r.part)) for k, r in b.iterrows()]
        foot = ["Total", int(b["classes"].sum()), int(b["laureats"].sum()), format_eur(int(b["attribue"].sum())),
                _share(b["part"].sum()) if len(b) else "—"]
        tables.append(_table([title, "Classés", "Lauréats", "Attribué", "Part"], rows, id=f"repartition-{col}",
                             numeric=(1, 2, 3, 4), foot=foot))
    return _div('<div class="ditp-grid">' + "".join(f"<div>{x}</div>" for x in tables) + "</div>")


def report_charts(run):
    """The four breakdown charts (region, kind of organisation, maturity, reform) on one figure.

    Bars: amount awarded per group (k€); labels: funded / ranked applications.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 10.5))
    specs = (("region", "Région"), ("lead_org_type", "Type de porteur"), ("maturity", "Maturité"),
             ("priority_reform", "Réforme prioritaire"))
    for k, (col, title) in enumerate(specs):
        ax = fig.add_subplot(2, 2, k + 1)
        b = _breakdown(run, col).iloc[::-1]
        y = range(len(b))
        ax.barh(list(y), b["attribue"] / 1000, color=BLUE, height=0.65)
        ax.set_yticks(list(y))
        ax.set_yticklabels([textwrap.fill(str(x), 26) for x in b.index], fontsize=8)
        top = float((b["attribue"] / 1000).max()) if len(b) else 1.0
        for yi, (_, r) in zip(y, b.iterrows()):
            ax.text(r.attribue / 1000 + top * 0.01, yi, f"{int(r.laureats)}/{int(r.classes)}", va="center", fontsize=7.5,
                    color="#333")
        ax.set_xlim(0, top * 1.18 if top > 0 else 1)
        ax.set_title(title, fontsize=11, loc="left")
        ax.set_xlabel("Montant attribué (k€)", fontsize=8.5)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Répartition de la décision proposée — étiquettes : lauréats / dossiers classés", fontsize=11, x=0.01,
                 ha="left")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- waves (issue 8)


def _date_fr(d) -> str:
    import datetime as dt

    if isinstance(d, str):
        d = dt.date.fromisoformat(d)
    return f"{d:%d/%m/%Y}"


def waves_params(run):
    """The allocation parameters of the replay in waves: the report's, without committed amount nor reserve.

    The waves set the committed amount themselves (sum of earlier awards) and keep no reserve.
    """
    from dataclasses import replace

    return replace(run.allocation.candidates.params, committed_eur=0, reserve_eur=0)


def waves_html(run, waves=None, comparison=None) -> str:
    """« Sélection en vagues »: the weekly replay of the call's calendar and its gap to the all-at-once optimum.

    Empty text when the report's ``waves_from`` is None (no section).  The
    waves are :func:`ditp_model.timeline.waves.replay_weekly` from ``waves_from`` to the
    call's deadline with :func:`waves_params` (no reserve), compared by
    :func:`ditp_model.timeline.waves.compare_with_all_at_once` with the same parameters;
    `waves` and `comparison` may be given when already computed.

    Tables: ``vagues`` (one row per wave, totals in the foot) and
    ``vagues-comparaison`` (total score, laureates and amount of each, gap);
    ``vagues-seulement`` and ``une-fois-seulement`` list the applications
    funded by one side only.
    """
    from ditp_model.timeline import waves as wv

    start = run.params.waves_from
    if start is None:
        return ""
    params = waves_params(run)
    deadline = run.rules.call.deadline
    if waves is None:
        waves = wv.replay_weekly(run.evaluation, start, deadline, None, params)
    if comparison is None:
        comparison = wv.compare_with_all_at_once(run.evaluation, waves, params)
    c = comparison
    tab = wv.waves_table(waves)
    rows = [(int(r.wave), _date_fr(r.cutoff), int(r.candidates), int(r.funded), format_eur(int(r.awarded_eur)),
             format_eur(int(r.committed_before_eur)), format_eur(int(r.remaining_eur)), format_points(r.total_score))
            for r in tab.itertuples()]
    foot = [("Total", 2), int(tab["candidates"].sum()), int(tab["funded"].sum()), format_eur(int(tab["awarded_eur"].sum())), "",
            format_eur(int(tab["remaining_eur"].iloc[-1])) if len(tab) else "—", format_points(float(tab["total_score"].sum()))]
    envelope = waves[0].envelope_eur if waves else params.envelope_eur
    parts = ['<h2 class="ditp-h2">Sélection en vagues</h2>',
             _p(f"Rejeu du calendrier réel de l'appel (dates de dépôt) en {len(waves)} vagues hebdomadaires, du "
                f"{_date_fr(start)} à la date limite du {_date_fr(deadline)}, avec les paramètres d'allocation de ce rapport "
                f"et sans réserve, sur l'enveloppe de {format_eur(envelope)}. Règle : {wv.WAVE_RULE_FR}."),
             ]
    a = run.allocation.candidates.params
    if a.committed_eur or a.reserve_eur:
        parts.append(_p("Le montant « déjà engagé » et la réserve de la section 3 ne s'appliquent pas à ce rejeu : les vagues "
                        "fixent elles-mêmes le montant engagé (somme des attributions des vagues antérieures).", "ditp-note"))
    parts.append(_table(["Vague", "Date limite (incluse)", "Candidats", "Financés", "Attribué", "Engagé avant", "Reste",
                         "Score des lauréats"], rows, id="vagues", numeric=(0, 2, 3, 4, 5, 6, 7), foot=foot,
                        caption="Ce que chaque vague a examiné, financé et laissé"))
    gap_share = (f" ({format_number(100 * c['score_gap'] / c['all_at_once_total_score'], 1)} % de la décision en une fois)"
                 if c["all_at_once_total_score"] else "")
    cmp_rows = [
        ("Vagues hebdomadaires", len(c["waves_funded"]), format_eur(c["waves_awarded_eur"]), format_points(c["waves_total_score"])),
        ("Décision en une fois, même règle (toutes les candidatures connues)", len(c["all_at_once_funded"]),
         format_eur(c["all_at_once_awarded_eur"]), format_points(c["all_at_once_total_score"])),
    ]
    parts.append(_table(["Sélection", "Lauréats", "Attribué", "Score total (points)"], cmp_rows, id="vagues-comparaison",
                        numeric=(1, 2, 3), foot=[("Écart (décision en une fois − vagues)", 3), format_points(c["score_gap"])],
                        caption="Vagues et décision en une fois"))
    parts.append(_p(f"Décider vague par vague coûte {format_points(c['score_gap'])} points de score total{gap_share} : "
                    "l'argent engagé tôt ne peut plus aller aux dossiers mieux notés déposés ensuite."))
    t = run.table.set_index("application_id")
    submitted = dict(zip(run.evaluation.applications["application_id"], pd.to_datetime(run.evaluation.applications["submitted_at"])))

    def listing(ids, id_, caption):
        body = [(a_, t.at[a_, "title"], _date_fr(submitted[a_]),
                 format_points(t.at[a_, "score"]), format_eur(int(t.at[a_, "requested_eur"]))) for a_ in ids]
        return _table(["Dossier", "Intitulé", "Déposé le", "Note /100", "Demandé"], body, id=id_, numeric=(3, 4),
                      caption=f"{caption} ({len(ids)})")

    if c["only_in_waves"] or c["only_in_all_at_once"]:
        parts.append(listing(c["only_in_waves"], "vagues-seulement", "Financés par les vagues seulement"))
        parts.append(listing(c["only_in_all_at_once"], "une-fois-seulement", "Financés par la décision en une fois seulement"))
    else:
        parts.append(_p("Les vagues et la décision en une fois financent les mêmes dossiers."))
    if c["award_differs"]:
        parts.append(_p("Montants différents pour un même lauréat : " + " ; ".join(
            f"{a_} : {format_eur(x)} en vagues, {format_eur(y)} en une fois" for a_, (x, y) in c["award_differs"].items()) + "."))
    return _div(*parts)


# --------------------------------------------------------------------------- 11. provenance


def provenance_html(run) -> str:
    """Input files with their SHA-256, the decision hash, solver and tie-break: what ``ditp-model verify`` checks."""
    m = run.manifest
    roles = {"call": "Règles de l'appel", "applications": "Candidatures", "reviews": "Évaluations",
             "conflicts": "Déclarations de conflits d'intérêts"}
    rows = [(roles.get(k, k), display_path(v["path"]), _Html(f'<span class="h">{_e(v["sha256"])}</span>'))
            for k, v in m.get("input_files", {}).items()]
    if run.params.scenario:
        sc = run.params.scenario
        rows.insert(0, ("Scénario du comité", display_path(sc["path"]), _Html(f'<span class="h">{_e(sc["sha256"])}</span>')))
    s = m["solver"]
    kv = [
        ("Empreinte de la décision (SHA-256)", _Html(f'<span class="h">{_e(m["decision_sha256"])}</span>')),
        ("Lauréats, total attribué", f"{m['funded_count']}, {format_eur(m['total_awarded_eur'])}"),
        ("Solveur", f"{s['name']} — statut : {run.allocation.status.label_fr}, écart d'optimalité "
                    f"{format_number(100 * (s['mip_gap'] or 0.0), 2)}\u00a0% (version : voir ci-dessous)"),
        ("Règle de décision", _rule_provenance(m)),
        *([("Valeur du portefeuille (objectif maximisé)", format_number(m["objective"], 4))]
          if run.allocation.rule in ("max_total_score", "max_score_weighted_award") else []),
        ("Règle de départage", f"{tie_break_fr(run.allocation.rule)} (nom technique : {m['tie_break_rule']['name']})"),
        ("Autre sélection de même valeur", {True: "oui", False: "non"}.get(m["other_optimal_portfolios"], "non recherchée")),
        ("Tirages aléatoires", "aucun : le calcul est déterministe (pas de graine)"),
        ("Version du manifeste", str(m["manifest_version"])),
        ("Commande", m["command"] or "notebook exécuté directement (sans ditp-model report)"),
        ("Vérifier cette décision", "ditp-model verify <dossier du rapport>/manifest.json"),
    ]
    return _div(_table(["Entrée", "Fichier", "SHA-256"], rows, id="provenance-entrees"), _kv(kv, id="provenance"),
                _p("Le manifeste (manifest.json) enregistre en outre les règles complètes de l'appel, tous les paramètres, la "
                   "note et la décision de chaque dossier ; chaque rapport publié ajoute une entrée chaînée au journal "
                   "decisions.jsonl. « ditp-model verify » relit les entrées, refait le calcul et signale toute différence.",
                   "ditp-note"))


def _rule_provenance(m: dict) -> str:
    r = m.get("decision_rule") or {}
    text = f"{r.get('name', '?')} — {r.get('label', '')}"
    if r.get("name") == "merit_order":
        text += f" ; δ = {format_points(r.get('tie_band_points', 0.0))} point(s)"
    return text + f" ; {len(r.get('not_fundable', []))} dossier(s) sous un seuil de qualité"


def signature_html(run) -> str:
    """The committee's approval block, naming the decision it signs (count, total, decision hash)."""
    m = run.manifest
    rows = "".join(f'<tr><td class="k">{_e(r)}</td><td style="height:46px"></td><td></td></tr>'
                   for r in ("Président(e) du comité", "Rapporteur(e)", "Secrétariat de l'appel"))
    return _div(
        '<div class="ditp-visa">',
        _p(f"Le comité de sélection arrête la liste des {m['funded_count']} lauréats de la section 6, pour un montant total "
           f"de {format_eur(m['total_awarded_eur'])} (décision identifiée dans l'annexe technique)."),
        _p("Date de la séance : ____ / ____ / ________"),
        f'<table class="ditp-t" id="visa"><thead><tr><th>Qualité</th><th>Nom</th><th>Signature</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>")


def environment_html(run) -> str:
    """Date, duration and versions (vary from machine to machine: ``nbval-ignore-output``)."""
    v = run.manifest["versions"]
    tools = run.manifest.get("report_tools", {})
    pkgs = ", ".join(f"{k} {x}" for k, x in v.items() if k not in ("python", "platform") and x)
    rend = ", ".join(f"{k} {x}" for k, x in tools.items() if x)
    kv = [("Établi le", _when(run.generated_at)), ("Durée du calcul", f"{format_number(run.seconds, 1)} s"),
          ("Python", v["python"]), ("Solveur", run.manifest["solver"]["version"]), ("Paquets du calcul", pkgs),
          ("Paquets du rapport", rend), ("Plateforme", v["platform"])]
    return _div(_kv(kv, id="environnement"))
