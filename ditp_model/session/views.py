"""What the committee panel shows, as HTML fragments and charts, from the results of :mod:`ditp_model.session.state`.

No widget here: each function takes an :class:`~ditp_model.session.state.Outcome`
(or a robustness result) and returns the HTML a widget displays; the element
classes (``ditp-funded``, ``ditp-change-prev``, ``ditp-mc-count``…) are those the
browser test and the benchmark read.  :class:`PanelCharts` keeps the four
matplotlib figures of the panel and redraws only those whose data changed,
updating the artists in place (:class:`ditp_model.outputs.plots.GroupAwardsChart`,
:class:`ditp_model.outputs.plots.ScoreLineChart`).
"""

from __future__ import annotations

import html
import math
import time

import numpy as np
import pandas as pd

from ditp_model.french import format_eur, format_number, format_points
from ditp_model.outputs import plots
from ditp_model.rules.allocation import OPTIMISATION_OBJECTIVES
from ditp_model.session.changes import describe_change
from ditp_model.session.due_process import (NO_REASON_FR, conflicts_table_fr, final_publication_refusals, held_table_fr,
                                            lock_reasons_table_fr, provisional_banner_fr, reserve_table_fr)
from ditp_model.session.state import (Outcome, PanelState, _band_fr, decision_rule_label_fr, effective_values,
                                      funded_table_fr, not_fundable_table_fr, robustness_counts, rule_label_fr, thresholds_fr,
                                      totals, uncertain_table_fr, weights_key, weights_used_fr)
from ditp_model.uncertainty import robustness

__all__ = ["CSS", "funded_table_html", "table_html", "used_html", "line_html", "optimum_html", "totals_html", "changes_html",
           "not_fundable_html", "error_html", "robustness_used_html", "robustness_counts_html", "uncertain_html",
           "stale_html", "provisional_banner_html", "held_html", "reserve_html", "conflicts_html", "lock_reasons_html",
           "PanelCharts"]


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def funded_table_html(outcome: Outcome, new_ids: frozenset | set = frozenset()) -> str:
    """HTML of the funded table (French formats).

    Badges: « nouveau » (rows of `new_ids`), « imposé » (locked in), « ex aequo »
    (within δ of the funding line) and « exception » (funded out of merit order,
    see the exceptions listed under the funding line).
    """
    f = funded_table_fr(outcome)
    locks = dict(zip(outcome.portfolio["application_id"], outcome.portfolio["lock"]))
    tied = set(outcome.ex_aequo)
    out_of_order = ({a for e in outcome.allocation.exceptions for a in e.laureates} if outcome.allocation is not None
                    else set())
    rows = []
    for r in f.itertuples(index=False):
        aid = r[1]
        mark = ""
        if aid in new_ids:
            mark += ' <span class="ditp-badge ditp-badge-new">nouveau</span>'
        if locks.get(aid) == "in":
            mark += ' <span class="ditp-badge">imposé</span>'
        if aid in tied:
            mark += ' <span class="ditp-badge ditp-badge-tie">ex aequo</span>'
        if aid in out_of_order:
            mark += ' <span class="ditp-badge ditp-badge-exception">exception</span>'
        rows.append(f'<tr class="{"ditp-new" if aid in new_ids else ""}"><td class="ditp-num">{r[0]}</td>'
                    f'<td class="ditp-id">{_e(aid)}</td><td>{_e(r[2])}{mark}</td><td>{_e(r[3])}</td><td>{_e(r[4])}</td>'
                    f'<td class="ditp-num">{r[5]}</td><td class="ditp-num ditp-eur">{r[6]}</td></tr>')
    head = "".join(f"<th>{c}</th>" for c in f.columns)
    foot = (f'<tr><td></td><td colspan="4">Total : {outcome.n_funded} lauréat(s)</td><td></td>'
            f'<td class="ditp-num ditp-eur">{format_eur(outcome.awarded_eur)}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="7">Aucun dossier financé.</td></tr>'
    return (f'<div class="ditp-table-wrap"><table class="ditp-funded" data-n="{outcome.n_funded}" '
            f'data-weights="{_e(weights_key(outcome.state.weights))}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody><tfoot>{foot}</tfoot></table></div>")


def table_html(frame: pd.DataFrame, css: str, num: set[int] = frozenset(), ident: int | None = None) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f'<td class="{"ditp-num" if k in num else "ditp-id" if k == ident else ""}">{_e(v)}</td>'
                                    for k, v in enumerate(r)) + "</tr>" for r in frame.itertuples(index=False))
    return (f'<div class="ditp-table-wrap"><table class="{css}" data-n="{len(frame)}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")

CSS = """
<style>
.ditp-panel { font-size: 13px; }
.ditp-part { padding: 2px 0; }
.ditp-panel h3 { margin: 6px 0 2px 0; font-size: 15px; }
.ditp-section { font-weight: 600; margin: 8px 0 2px 0; color: #1f2933; border-bottom: 1px solid #d5d9e0; }
.ditp-used { background: #f4f6f8; border-left: 4px solid #2a7f62; padding: 4px 8px; }
.ditp-error-box { background: #fdecea; border-left: 4px solid #c0392b; padding: 6px 8px; color: #5e1710; }
.ditp-warn { background: #fff6e0; border-left: 4px solid #d68910; padding: 4px 8px; }
.ditp-cards { display: flex; gap: 10px; flex-wrap: wrap; }
.ditp-card { background: #f4f6f8; padding: 4px 12px; border-radius: 4px; min-width: 9em; }
.ditp-card b { font-size: 18px; display: block; }
.ditp-changes p { margin: 2px 0; }
.ditp-table-wrap { max-height: 430px; overflow-y: auto; border: 1px solid #d5d9e0; }
table.ditp-funded, table.ditp-compare, table.ditp-uncertain, table.ditp-not-fundable { border-collapse: collapse; width: 100%; font-size: 12px; }
table.ditp-funded th, table.ditp-compare th, table.ditp-uncertain th, table.ditp-not-fundable th {
  position: sticky; top: 0; background: #e9edf1; text-align: left; padding: 3px 6px; }
table.ditp-funded td, table.ditp-compare td, table.ditp-uncertain td, table.ditp-not-fundable td {
  border-top: 1px solid #e3e6ea; padding: 2px 6px; vertical-align: top; }
table.ditp-funded tfoot td { font-weight: 600; background: #f4f6f8; }
td.ditp-num { text-align: right; white-space: nowrap; }
tr.ditp-new td { background: #e8f5ee; }
.ditp-badge { font-size: 10px; background: #dfe3e8; border-radius: 3px; padding: 0 4px; margin-left: 4px; }
.ditp-badge-new { background: #2a7f62; color: white; }
.ditp-badge-tie { background: #fdebd0; }
.ditp-badge-exception { background: #f5b7b1; }
.ditp-line p, .ditp-optimum p { margin: 2px 0; }
.ditp-optimum { background: #f4f6f8; border-left: 4px solid #8a94a1; padding: 4px 8px; font-size: 12px; line-height: 1.35; }
.ditp-value { white-space: nowrap; }
.ditp-busy { background: #fff6e0; padding: 2px 8px; border-radius: 3px; font-weight: 600; }
.ditp-used, .ditp-changes, .ditp-table-wrap, .ditp-cards, .ditp-error-box, .ditp-warn, .ditp-compare-box { line-height: 1.35; }
.ditp-used { font-size: 12px; }
.ditp-stale { opacity: 0.45; }
.ditp-mc-help { font-size: 12px; color: #3e4c59; line-height: 1.35; }
.ditp-provisional { background: #fff6e0; border: 2px solid #d68910; padding: 6px 8px; font-size: 13px; line-height: 1.35; }
.ditp-provisional b.ditp-provisional-title { color: #8a4b00; text-transform: uppercase; letter-spacing: 0.04em; }
table.ditp-held, table.ditp-reserve, table.ditp-conflicts, table.ditp-locks { border-collapse: collapse; width: 100%; font-size: 12px; }
table.ditp-held th, table.ditp-reserve th, table.ditp-conflicts th, table.ditp-locks th {
  position: sticky; top: 0; background: #e9edf1; text-align: left; padding: 3px 6px; }
table.ditp-held td, table.ditp-reserve td, table.ditp-conflicts td, table.ditp-locks td {
  border-top: 1px solid #e3e6ea; padding: 2px 6px; vertical-align: top; }
td.ditp-no-reason { color: #a03a00; font-style: italic; font-weight: 600; }
</style>
"""


def not_fundable_html(outcome: Outcome) -> str:
    """The applications below a quality threshold, with the reason, or a sentence saying there are none."""
    nf = not_fundable_table_fr(outcome)
    return (table_html(nf, "ditp-not-fundable", {0, 3}, 1) if len(nf) else
            '<p class="ditp-not-fundable-none">Aucun dossier éligible et classé sous un seuil de qualité.</p>')


def used_html(out: Outcome) -> str:
    """« Valeurs utilisées » : weights, amounts, decision rule, portfolio rules, thresholds and δ, status."""
    s = out.state
    eff = effective_values(s.params, out.evaluation)
    extra = []
    if eff["committed_eur"] or eff["reserve_eur"]:
        extra.append(f"engagé {format_eur(eff['committed_eur'])}, réserve {format_eur(eff['reserve_eur'])}")
    rules = [rule_label_fr(r) for r in s.params.group_rules]
    if s.params.max_awards is not None:
        rules.append(f"au plus {s.params.max_awards} lauréats")
    return (f'<div class="ditp-used" data-weights="{_e(weights_key(s.weights))}" data-rule="{_e(out.rule)}">'
            f"<b>Valeurs utilisées :</b> {_e(weights_used_fr(s, out.evaluation))}<br>"
            f"Enveloppe {format_eur(eff['envelope_eur'])} ; montants de {format_eur(eff['award_floor_eur'])} "
            f"à {format_eur(eff['award_cap_eur'])} par projet"
            f"{' ; ' + _e(', '.join(extra)) if extra else ''} ; décision : {_e(decision_rule_label_fr(out.rule, s.ranking_variant))}"
            f"{' ; règles : ' + _e(' ; '.join(rules)) if rules else ''}<br>"
            f"Seuils de qualité : {_e(thresholds_fr(eff, out.evaluation))} ; bande d'ex aequo {_e(_band_fr(eff['tie_band_points']))}<br>"
            f"<small>Statut : {_e(out.status)}</small></div>")


def line_html(out: Outcome) -> str:
    """The funding line, the ex aequo at the line and how they were settled, and each exception to merit order."""
    x = out.explanation
    if x is None:
        return ('<div class="ditp-line"><p>Pas d\'explication de la ligne : la règle du classement ne respecte pas les '
                "règles de portefeuille (voir l'avertissement ci-dessus).</p></div>")
    parts = [f'<p class="ditp-funding-line">{_e(x.funding_line_fr())}.</p>']
    if x.ex_aequo:
        parts.append(f'<p class="ditp-ex-aequo">{_e(x.ex_aequo_fr())}</p>')
    elif out.rule == "merit_order":
        parts.append(f'<p class="ditp-ex-aequo">Aucun ex aequo à la ligne (bande δ = {_e(format_points(x.tie_band_points))} '
                     "point(s)).</p>")
    if out.exceptions:
        items = "".join(f"<li>{_e(t)}</li>" for t in out.exceptions)
        parts.append(f'<div class="ditp-exceptions"><b>Exceptions à l\'ordre de mérite :</b><ul>{items}</ul></div>')
    elif out.rule == "merit_order":
        parts.append('<p class="ditp-exceptions">Aucune exception à l\'ordre de mérite.</p>')
    return '<div class="ditp-line">' + "".join(parts) + "</div>"


def optimum_html(out: Outcome) -> str:
    """« Si l'on maximisait la somme des notes » — a comparison, never the decision."""
    if out.rule in OPTIMISATION_OBJECTIVES:
        return ('<div class="ditp-optimum">La règle affichée est elle-même une règle d\'optimisation, présentée pour '
                "comparaison : revenir à l'ordre de mérite pour la décision.</div>")
    if out.allocation is None:
        return ('<div class="ditp-optimum">Pas de comparaison : la règle du classement affichée ne respecte pas les '
                "règles de portefeuille.</div>")
    if out.comparison is None:
        return ('<div class="ditp-optimum">Pas de comparaison : maximiser la somme des notes n\'a pas d\'optimum '
                "prouvé avec ces réglages.</div>")
    return f'<div class="ditp-optimum"><p>{_e(out.comparison.summary_fr())}</p></div>'


def totals_html(out: Outcome) -> str:
    """Four cards (laureates, awarded, unspent, available envelope) and the outcome's warnings."""
    tt = totals(out)
    cards = [("Lauréats", str(tt["n_funded"])), ("Attribué", format_eur(tt["awarded_eur"])),
             ("Non attribué", format_eur(tt["unspent_eur"])), ("Enveloppe disponible", format_eur(tt["available_eur"]))]
    body = "".join(f'<div class="ditp-card">{k}<b>{v}</b></div>' for k, v in cards)
    warn = "".join(f'<div class="ditp-warn">{_e(w)}</div>' for w in out.warnings)
    return f'<div class="ditp-cards ditp-totals">{body}</div>{warn}'


def changes_html(out: Outcome, previous: Outcome | None, reference: Outcome | None) -> str:
    """« Depuis l'état précédent » and « Depuis la référence » lines (:func:`~ditp_model.session.changes.describe_change`)."""
    prev = describe_change(previous, out) if previous is not None else "premier calcul de la séance"
    ref_line = describe_change(reference, out) if reference is not None else "—"
    ref_name = reference.name if reference is not None else "référence"
    return ('<div class="ditp-changes">'
            f'<p><b>Depuis l\'état précédent :</b> <span class="ditp-change-prev">{_e(prev)}</span></p>'
            f'<p><b>Depuis la référence « {_e(ref_name)} » :</b> <span class="ditp-change-ref">{_e(ref_line)}</span></p></div>')


def error_html(message: str, shown: Outcome | None) -> str:
    """« Recalcul impossible : … » ; when a result is on display, says that it is the previous state's."""
    kept = ""
    if shown is not None:
        kept = (" Le résultat affiché ci-dessous reste celui de l'état précédent "
                f"({_e(weights_used_fr(shown.state, shown.evaluation))}).")
    return f'<div class="ditp-error-box"><b>Recalcul impossible :</b> {_e(message.rstrip("."))}.{kept}</div>'


# --------------------------------------------------------------------------- due process (issue 13, item 8)


def provisional_banner_html(out: Outcome) -> str:
    """The banner « Décision provisoire » naming the held applications that could still enter the list; "" when final."""
    text = provisional_banner_fr(out)
    if not text:
        return ""
    head, _, rest = text.partition(" : ")
    return (f'<div class="ditp-provisional" data-held="{_e(",".join(out.provisional.within_reach))}">'
            f'<b class="ditp-provisional-title">{_e(head)}</b> : {_e(rest)}</div>')


def held_html(out: Outcome) -> str:
    """The applications « en attente d'évaluation » (reviews missing, best-case score, effect), or a sentence."""
    t = held_table_fr(out)
    if not len(t):
        return '<p class="ditp-held-none">Aucun dossier en attente d\'évaluation : chaque dossier éligible a ses avis.</p>'
    return table_html(t, "ditp-held", {3, 4}, 0)


def reserve_html(out: Outcome) -> str:
    """The reserve list (« liste complémentaire ») in call-up order with the amount each would receive, or a sentence."""
    t = reserve_table_fr(out)
    if not len(t):
        return ('<p class="ditp-reserve-none">Pas de liste complémentaire : aucun dossier finançable non financé'
                + (" (pas de décision prouvée pour cet état)." if out.allocation is None else ".") + "</p>")
    return (table_html(t, "ditp-reserve", {0, 1, 4, 5}, 2)
            + "<small>Appelés dans cet ordre si un lauréat renonce ou si des crédits se libèrent, chacun si le montant "
              "disponible à son tour le permet.</small>")


def conflicts_html(evaluation) -> str:
    """Every declared conflict of interest and what it did (review left out…), or a sentence when none is declared."""
    t = conflicts_table_fr(evaluation)
    if not len(t):
        return ('<p class="ditp-conflicts-none">Aucune déclaration de conflit d\'intérêts (fichier des déclarations : '
                "paramètre conflicts du panneau).</p>")
    return table_html(t, "ditp-conflicts", set(), 0)


def lock_reasons_html(out: Outcome) -> str:
    """Each lock with its reason (« motif à écrire » when none), then why a final decision would be refused, if it would."""
    t = lock_reasons_table_fr(out.state)
    if len(t):
        rows = "".join(f'<tr><td class="ditp-id">{_e(a)}</td><td>{_e(k)}</td>'
                       f'<td class="{"ditp-no-reason" if w == NO_REASON_FR else ""}">{_e(w)}</td></tr>'
                       for a, k, w in t.itertuples(index=False))
        body = (f'<div class="ditp-table-wrap"><table class="ditp-locks" data-n="{len(t)}"><thead><tr><th>Dossier</th>'
                f"<th>Verrou</th><th>Motif</th></tr></thead><tbody>{rows}</tbody></table></div>")
    else:
        body = '<p class="ditp-locks-none">Aucun verrou du comité.</p>'
    refusals = final_publication_refusals(out)
    if refusals:
        items = "".join(f"<li>{_e(x)}</li>" for x in refusals)
        body += (f'<div class="ditp-warn ditp-final-refused"><b>Décision définitive impossible en l\'état :</b>'
                 f"<ul>{items}</ul></div>")
    return body


# --------------------------------------------------------------------------- robustness tab


def robustness_used_html(mc: robustness.WeightMonteCarlo, state: PanelState, evaluation) -> str:
    """What the weight Monte Carlo on display was run with (draws, concentration, seed, weights, envelope, rule)."""
    eff = effective_values(state.params, evaluation)
    kappa = format_number(mc.concentration, 0 if float(mc.concentration).is_integer() else 2)
    note = f"<br>Règle de décision appliquée à chaque tirage : {_e(decision_rule_label_fr(eff['rule'], state.ranking_variant))}"
    return (f'<div class="ditp-used ditp-mc-used" data-seed="{mc.seed}" data-draws="{mc.n_draws}" '
            f'data-weights="{_e(weights_key(state.weights))}">'
            f"<b>Analyse :</b> {mc.n_draws} tirages, concentration {kappa}, "
            f"graine <b>{mc.seed}</b> ; calcul en {format_number(mc.seconds, 1)} s<br>"
            f"Pondérations : {_e(weights_used_fr(state, evaluation))} ; enveloppe {format_eur(eff['envelope_eur'])} ; "
            f"montants de {format_eur(eff['award_floor_eur'])} à {format_eur(eff['award_cap_eur'])} par projet{note}</div>")


def robustness_counts_html(table: pd.DataFrame) -> str:
    """One card per class (toujours financé, incertain, jamais financé) with its count."""
    counts = robustness_counts(table)
    cards = "".join(f'<div class="ditp-card ditp-mc-count" data-class="{code}">{_e(label.capitalize())}'
                    f"<b>{counts[code]}</b></div>" for code, label in robustness.ROBUSTNESS_CLASSES_FR.items())
    return (f'<div class="ditp-cards ditp-mc-counts">{cards}</div>'
            f"<small>sur {sum(counts.values())} dossiers éligibles et classés (hors exclus)</small>")


def uncertain_html(table: pd.DataFrame) -> str:
    """The « incertain » applications (:func:`~ditp_model.session.state.uncertain_table_fr`), or a sentence when none."""
    fr = uncertain_table_fr(table)
    if not len(fr):
        return ('<p class="ditp-uncertain-none">Aucun dossier incertain : chaque dossier est financé dans tous '
                "les tirages ou dans aucun.</p>")
    return table_html(fr, "ditp-uncertain", {2, 3, 4}, 0)


def stale_html(reason: str | None) -> str:
    """The « résultat calculé pour d'autres … — relancer » box, or nothing."""
    if reason is None:
        return ""
    return f'<div class="ditp-warn ditp-mc-stale-box">{_e(reason[:1].upper() + reason[1:])}.</div>'


# --------------------------------------------------------------------------- charts


class PanelCharts:
    """The panel's four charts: awards by region, type of lead organisation and maturity, and the scores.

    :meth:`update` returns, for each chart whose data changed, its new SVG
    (bytes); the others are left as they are.  The groups are fixed by the
    first state (bars keep their row during the session).  The charts are written directly as SVG
    (:func:`score_chart_svg`, :func:`group_chart_svg`: the pictures of
    :class:`ditp_model.outputs.plots.ScoreLineChart` and
    :class:`ditp_model.outputs.plots.GroupAwardsChart`, in a few milliseconds
    instead of some 30 ms each for matplotlib's SVG — they are redrawn while
    the committee moves a slider; the report keeps matplotlib).
    """

    GROUPS = ("region", "lead_org_type", "maturity")

    def __init__(self):
        self._groups: dict | None = None
        self._keys: dict[str, tuple] = {}
        self.timings: dict[str, float] = {}

    def forget(self) -> None:
        """Redraw every chart at the next update (the reference changed)."""
        self._keys.clear()

    def _build(self, portfolio: pd.DataFrame) -> None:
        self._groups = {c: list(plots.awards_by_group(portfolio, c)["group"]) for c in self.GROUPS}  # rows fixed

    def data_keys(self, portfolio: pd.DataFrame, reference: pd.DataFrame | None, label: str) -> dict[str, tuple]:
        """Per chart, the data it draws (two equal keys: the same picture).

        A group chart draws, per group, the number of candidates, the number
        funded and the total awarded, for the decision and the reference; the
        score chart every candidate's score, decision and lock.
        """
        keys = {c: (_group_totals(portfolio, c), _group_totals(reference, c), label) for c in self.GROUPS}
        p = portfolio
        keys["score"] = (tuple(p["application_id"]), tuple(p["score"]), tuple(p["funded"]), tuple(p["lock"]),
                         tuple(p["fundable"]) if "fundable" in p.columns else None)
        return keys

    def update(self, portfolio: pd.DataFrame, reference: pd.DataFrame | None, label: str) -> dict[str, bytes]:
        """SVG of each chart whose data changed since the last update (chart name -> bytes)."""
        if self._groups is None:
            self._build(portfolio)
        self.timings = {}
        out = {}
        for name, key in self.data_keys(portfolio, reference, label).items():
            if self._keys.get(name) == key:
                continue  # same data: the picture on display is still right
            t0 = time.perf_counter()
            if name == "score":
                out[name] = score_chart_svg(portfolio).encode("utf-8")
            else:
                out[name] = group_chart_svg(portfolio, name, self._groups[name], reference, label).encode("utf-8")
            self._keys[name] = key
            self.timings[name] = time.perf_counter() - t0
        return out


def _group_totals(portfolio: pd.DataFrame | None, column: str) -> tuple | None:
    """(group, candidates, funded, awarded euros) per group, sorted: what a group chart shows (None: no portfolio)."""
    if portfolio is None:
        return None
    totals_ = {}
    for g, f, a in zip(portfolio[column].to_numpy(), portfolio["funded"].to_numpy(dtype=bool), portfolio["award_eur"].to_numpy()):
        c, n, s = totals_.get(g, (0, 0, 0))
        totals_[g] = (c + 1, n + int(f), s + (int(a) if f else 0))
    return tuple(sorted(((str(g), *v) for g, v in totals_.items())))


def score_chart_svg(portfolio: pd.DataFrame, *, title: str = "Note de chaque dossier et ligne de financement") -> str:
    """The picture of :class:`ditp_model.outputs.plots.ScoreLineChart`, written directly as an SVG document.

    Same content, colours and French texts: one bar per candidate, best score
    first (then id), green when funded, grey when not, paler grey below a
    quality threshold; the funding line (dashed, at the lowest funded score);
    ▼ over a locked-in application, × over a locked-out one; the legend with
    the counts, and the note on fundable candidates above the line left
    unfunded.  Texts are SVG text (escaped), sized as the matplotlib chart.
    """
    t = portfolio.sort_values(["score", "application_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    n = len(t)
    funded = t["funded"].to_numpy(dtype=bool)
    fundable = t["fundable"].to_numpy(dtype=bool) if "fundable" in t.columns else np.ones(n, dtype=bool)
    scores = t["score"].to_numpy(dtype=float)
    lock = t["lock"].to_numpy() if "lock" in t.columns else np.array([""] * n)
    line = plots.funding_line_score(t)
    W, H, left, right, top, bottom = 1152.0, 326.0, 58.0, 12.0, 34.0, 46.0
    lo = max(0.0, float(scores.min()) - 5) if n else 0.0
    hi = min(100.0, float(scores.max()) + 6) if n else 100.0
    x0, x1 = 0.3, n + 0.7
    px = lambda v: left + (v - x0) / (x1 - x0) * (W - left - right)  # noqa: E731
    py = lambda v: H - bottom - (v - lo) / ((hi - lo) or 1.0) * (H - top - bottom)  # noqa: E731
    colour = np.where(funded, plots.FUNDED_COLOUR, np.where(fundable, plots.UNFUNDED_COLOUR, plots.NOT_FUNDABLE_COLOUR))
    parts = [f'<rect x="{px(k + 1 - 0.4):.1f}" y="{py(v):.1f}" width="{px(k + 1.4) - px(k + 0.6):.1f}" '
             f'height="{max(0.0, py(lo) - py(v)):.1f}" fill="{c}"/>' for k, (v, c) in enumerate(zip(scores, colour))]
    step = 5 if hi - lo <= 40 else 10
    for v in np.arange(math.ceil(lo / step) * step, hi + 1e-9, step):
        parts.append(f'<line x1="{left - 4}" x2="{left}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#000" stroke-width="0.8"/>'
                     f'<text x="{left - 7}" y="{py(v) + 3:.1f}" text-anchor="end" font-size="11">{format_number(v, 0)}</text>')
    xstep = 10 if n > 30 else 5
    for k in range(xstep, n + 1, xstep):
        parts.append(f'<line x1="{px(k):.1f}" x2="{px(k):.1f}" y1="{H - bottom}" y2="{H - bottom + 4}" stroke="#000" stroke-width="0.8"/>'
                     f'<text x="{px(k):.1f}" y="{H - bottom + 16}" text-anchor="middle" font-size="11">{k}</text>')
    if line is not None:
        parts.append(f'<line x1="{left}" x2="{W - right}" y1="{py(line):.1f}" y2="{py(line):.1f}" stroke="{plots.LINE_COLOUR}" '
                     'stroke-width="1.6" stroke-dasharray="7,3"/>')
    for k in np.flatnonzero(lock == "in"):
        x, y = px(k + 1), py(scores[k] + 1.5)
        parts.append(f'<path d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y - 4:.1f} L{x:.1f},{y + 3:.1f} Z" fill="{plots.REFERENCE_COLOUR}"/>')
    for k in np.flatnonzero(lock == "out"):
        x, y = px(k + 1), py(scores[k] + 1.5)
        parts.append(f'<path d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 4:.1f} M{x - 4:.1f},{y + 4:.1f} L{x + 4:.1f},{y - 4:.1f}" '
                     f'stroke="{plots.REFERENCE_COLOUR}" stroke-width="1.4"/>')
    below = ~funded & ~fundable
    legend = [("rect", plots.FUNDED_COLOUR, f"financé ({int(funded.sum())})"),
              ("rect", plots.UNFUNDED_COLOUR, f"non financé ({int((~funded & ~below).sum())})")]
    if below.any():
        legend.append(("rect", plots.NOT_FUNDABLE_COLOUR, f"non finançable : sous un seuil de qualité ({int(below.sum())})"))
    if line is not None:
        legend.append(("line", plots.LINE_COLOUR, f"ligne de financement : {format_points(line)} points (dernier financé)"))
    if (lock == "in").any():
        legend.append(("in", plots.REFERENCE_COLOUR, "imposé par le comité"))
    if (lock == "out").any():
        legend.append(("out", plots.REFERENCE_COLOUR, "exclu par le comité"))
    lx, ly = W - right - 330, top + 10
    for i, (kind, c, text) in enumerate(legend):
        y = ly + 15 * i
        mark = {"rect": f'<rect x="{lx}" y="{y - 8}" width="18" height="9" fill="{c}" stroke="#8a94a1" stroke-width="0.4"/>',
                "line": f'<line x1="{lx}" x2="{lx + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{c}" stroke-width="1.6" stroke-dasharray="5,2"/>',
                "in": f'<path d="M{lx + 5},{y - 8} L{lx + 13},{y - 8} L{lx + 9},{y - 1} Z" fill="{c}"/>',
                "out": f'<path d="M{lx + 5},{y - 8} L{lx + 13},{y} M{lx + 5},{y} L{lx + 13},{y - 8}" stroke="{c}" stroke-width="1.4"/>'}[kind]
        parts.append(mark + f'<text x="{lx + 24}" y="{y}" font-size="10">{_e(text)}</text>')
    above = int(((scores >= line) & ~funded & fundable).sum()) if line is not None else 0
    note = ("" if not above else f"{above} dossier(s) finançable(s) au-dessus de la ligne non financé(s) : demande plus élevée "
            "que le reste de l'enveloppe à son tour, ex aequo, ou règle")
    axes = (f'<line x1="{left}" x2="{left}" y1="{top}" y2="{H - bottom}" stroke="#000" stroke-width="0.8"/>'
            f'<line x1="{left}" x2="{W - right}" y1="{H - bottom}" y2="{H - bottom}" stroke="#000" stroke-width="0.8"/>')
    texts = (f'<text x="{left}" y="{top - 10}" font-size="14">{_e(title)}</text>'
             f'<text x="{W - right}" y="{top - 6}" text-anchor="end" font-size="9" fill="#333">{_e(note)}</text>'
             f'<text x="{(left + W - right) / 2:.0f}" y="{H - 8}" text-anchor="middle" font-size="11">'
             "dossiers classés par note décroissante (rang)</text>"
             f'<text transform="translate(16,{(top + H - bottom) / 2:.0f}) rotate(-90)" text-anchor="middle" font-size="11">'
             "note (points sur 100)</text>")
    return ('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W:.0f} {H:.0f}" width="{W:.0f}" height="{H:.0f}" '
            'font-family="DejaVu Sans, Arial, sans-serif" class="ditp-score-chart">'
            f'<rect width="{W:.0f}" height="{H:.0f}" fill="#fff"/>{"".join(parts)}{axes}{texts}</svg>')


def group_chart_svg(portfolio: pd.DataFrame, column: str, groups: list, reference: pd.DataFrame | None = None,
                    reference_label: str = "référence") -> str:
    """The picture of :class:`ditp_model.outputs.plots.GroupAwardsChart` (with reference), written directly as SVG.

    One horizontal bar per group of `groups` (top to bottom): the amount
    awarded (k€), « lauréats · montant » at its end, a black mark at the
    reference state's amount; the title of :data:`ditp_model.outputs.plots.GROUP_TITLES_FR`.
    """
    data = plots.awards_by_group(portfolio, column, groups)
    keur = data["award_eur"].to_numpy() / 1000
    rk = plots.awards_by_group(reference, column, groups)["award_eur"].to_numpy() / 1000 if reference is not None else None
    top = max([float(keur.max()) if len(keur) else 0.0] + ([float(rk.max())] if rk is not None and len(rk) else []))
    x_max = top * 1.32 if top > 0 else 1.0
    n = len(groups)
    longest = max((len(x) for x in data["label"]), default=8)
    W, row = 576.0, 25.0
    left, right, head, foot = min(0.5 * W, 20 + longest * 6.2), 18.0, 32.0, 66.0
    H = head + row * max(n, 2) + foot
    px = lambda v: left + v / x_max * (W - left - right)  # noqa: E731
    parts = []
    for k, (label, v, cnt) in enumerate(zip(data["label"], keur, data["n_funded"])):
        yc = head + row * (k + 0.5)
        parts.append(f'<rect x="{left:.1f}" y="{yc - 0.325 * row:.1f}" width="{px(v) - left:.1f}" height="{0.65 * row:.1f}" '
                     f'fill="{plots.FUNDED_COLOUR}"/>'
                     f'<text x="{left - 6:.1f}" y="{yc + 4:.1f}" text-anchor="end" font-size="11">{_e(label)}</text>')
        end = max(v, rk[k]) if rk is not None else v
        if rk is not None:
            parts.append(f'<line x1="{px(rk[k]):.1f}" x2="{px(rk[k]):.1f}" y1="{yc - 10:.1f}" y2="{yc + 10:.1f}" '
                         f'stroke="{plots.REFERENCE_COLOUR}" stroke-width="2.5"/>')
        note = f"{cnt} · {format_number(v, 0)}\u00a0k€" if cnt else "0"
        parts.append(f'<text x="{px(end) + 0.02 * (W - left - right) * top / x_max:.1f}" y="{yc + 4:.1f}" font-size="11" '
                     f'fill="#333">{_e(note)}</text>')
    y_axis = head + row * max(n, 2) if n < 2 else head + row * n
    step = _tick_step(x_max)
    for v in np.arange(0.0, x_max + 1e-9, step):
        parts.append(f'<line x1="{px(v):.1f}" x2="{px(v):.1f}" y1="{y_axis:.1f}" y2="{y_axis + 4:.1f}" stroke="#000" stroke-width="0.8"/>'
                     f'<text x="{px(v):.1f}" y="{y_axis + 16:.1f}" text-anchor="middle" font-size="11">{format_number(v, 0)}</text>')
    parts.append(f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{head - 4:.1f}" y2="{y_axis:.1f}" stroke="#000" stroke-width="0.8"/>'
                 f'<line x1="{left:.1f}" x2="{W - right:.1f}" y1="{y_axis:.1f}" y2="{y_axis:.1f}" stroke="#000" stroke-width="0.8"/>'
                 f'<text x="{(left + W - right) / 2:.0f}" y="{y_axis + 32:.1f}" text-anchor="middle" font-size="11">'
                 "montant attribué (k€) ; au bout de chaque barre : lauréats · montant</text>"
                 f'<text x="{left:.1f}" y="{head - 10:.1f}" font-size="14">{_e(plots.GROUP_TITLES_FR.get(column, column))}</text>')
    ly = H - 10
    parts.append(f'<rect x="{W - 300:.0f}" y="{ly - 8:.0f}" width="18" height="9" fill="{plots.FUNDED_COLOUR}"/>'
                 f'<text x="{W - 276:.0f}" y="{ly:.0f}" font-size="10">état affiché</text>'
                 f'<line x1="{W - 190:.0f}" x2="{W - 190:.0f}" y1="{ly - 10:.0f}" y2="{ly + 1:.0f}" stroke="{plots.REFERENCE_COLOUR}" '
                 f'stroke-width="2.5"/><text x="{W - 180:.0f}" y="{ly:.0f}" font-size="10">{_e(reference_label)}</text>')
    return ('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W:.0f} {H:.0f}" width="{W:.0f}" height="{H:.0f}" '
            f'font-family="DejaVu Sans, Arial, sans-serif" class="ditp-group-chart" data-column="{_e(column)}">'
            f'<rect width="{W:.0f}" height="{H:.0f}" fill="#fff"/>{"".join(parts)}</svg>')


def _tick_step(x_max: float) -> float:
    """A round tick step giving 3 to 7 ticks from 0 to `x_max` (1, 2, 2.5 or 5 times a power of ten)."""
    raw = x_max / 5
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
