"""The committee panel: weight sliders and live funding outcomes (ipywidgets 8).

:class:`CommitteePanel` is the live view of one committee session in JupyterLab
or on a Voilà page.  Every change of a control re-solves (``allocate()`` with
``check_alternatives=False``, with the decision rule chosen) and updates, at once,
the funded table, the totals, the funding line with its ex aequo and exceptions,
the applications below a quality threshold, what changed since the previous
state and since the reference state, a comparison with the optimum (« si l'on
maximisait la somme des notes », never the decision), and the charts (the
pictures of :mod:`ditp_model.outputs.plots`, written as SVG by :mod:`ditp_model.session.views`).

The decision rule is the call's by default (the merit order); the ranking rule
(skip / stop) and the two optimisation objectives are offered as labelled
alternatives for comparison.  The quality thresholds (overall and per
criterion) and the ex aequo band δ are committee settings like the weights.

This module only lays out the controls and displays results.  What the panel
computes is in plain modules tested without a browser or ipywidgets:

* :mod:`ditp_model.session.state` — :class:`PanelState`, :func:`compute_outcome`,
  :class:`~ditp_model.session.state.SessionComputer` (scores and decisions remembered,
  the comparison's optimum re-solved on one model), the tables shown, the robustness tab's figures;
* :mod:`ditp_model.session.changes` — :func:`describe_change`, :func:`compare_scenarios`;
* :mod:`ditp_model.session.controls` — the state of the controls' raw values, the envelope
  typed by a person (« 2,5 M€ »), the search for an application;
* :mod:`ditp_model.session.views` — the HTML fragments and the charts;
* :mod:`ditp_model.session.due_process` — conflicts of interest, applications awaiting reviews and the
  banner « Décision provisoire », the reserve list, each lock with its reason (« motif à écrire »).

The « Robustesse » tab and the scenarios box are mixins of the panel, in
:mod:`ditp_model.session.robustness_tab` and :mod:`ditp_model.session.scenarios_box`.
The public names of the logic modules are re-exported here.  Sliders send their value on release
(``continuous_update=False``): one solve per release, and the value shown
beside each slider is the value used, repeated in the "values used" line of
the result.  The envelope has a text field (« 2 500 000 € », « 2,5 M€ ») and a
coarse slider (steps of 10 000 €); a typed amount beyond the slider's range
extends it, an amount that cannot be read (« -5 », « 1e9 », « 2,5 Md€ » beyond
ten times the eligible requests) is refused in French beside the field and in
the error box, never clamped.  An error (locks that do not fit the envelope, a
floor above the cap, incompatible rules) is shown in French in the panel and
the previous valid result stays on display, labelled as such.

Snapshots are committee scenarios in the format of :mod:`ditp_model.rules.scenario`
(``save_scenario`` / ``load_scenario``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import replace
from pathlib import Path

import ipywidgets as widgets
import pandas as pd

from ditp_model.french import count_fr, format_eur, format_number
from ditp_model.inputs.io import Inputs
from ditp_model.rules.allocation import AllocationParams, GroupRule, quality_thresholds
from ditp_model.rules.scenario import Scenario
from ditp_model.scoring.aggregate import Weights
from ditp_model.scoring.pipeline import Evaluation, evaluate
from ditp_model.session import views
from ditp_model.session.changes import (compare_scenarios, comparison_frame_fr, describe_change, parameter_changes,
                                        scenario_slug, state_from_scenario)
from ditp_model.session.due_process import attach_conflicts
from ditp_model.session.controls import (ApplicationFinder, envelope_ceiling, envelope_slider_range, parse_envelope,
                                         state_from_controls)
from ditp_model.session.state import (COLUMN_LABELS_FR,  # noqa: F401 (re-exported)
                                      DECISION_RULES_FR, EXPECTED_ERRORS, DecisionError, Outcome, PanelState,
                                      SessionComputer, _share_fr, compute_outcome, decision_rule_label_fr, effective_values,
                                      funded_table, funded_table_fr, not_fundable_table_fr, portfolio_table, robustness_counts,
                                      robustness_stale_reason, rule_label_fr, summary_fr, totals, uncertain_table_fr,
                                      weights_key)
from ditp_model.session.parts import HTMLStyle, HtmlPart, HtmlParts, SharedLooks
from ditp_model.session.robustness_tab import RobustnessTab
from ditp_model.session.scenarios_box import ScenarioBox
from ditp_model.session.views import _e, funded_table_html
from ditp_model.uncertainty import robustness

__all__ = [
    "PanelState",
    "Outcome",
    "DecisionError",
    "compute_outcome",
    "portfolio_table",
    "funded_table",
    "funded_table_fr",
    "funded_table_html",
    "totals",
    "describe_change",
    "parameter_changes",
    "compare_scenarios",
    "comparison_frame_fr",
    "rule_label_fr",
    "decision_rule_label_fr",
    "not_fundable_table_fr",
    "weights_key",
    "state_from_scenario",
    "scenario_slug",
    "robustness_counts",
    "uncertain_table_fr",
    "robustness_stale_reason",
    "parse_envelope",
    "CommitteePanel",
]

log = logging.getLogger(__name__)

#: Kept for callers of the former single module.
_effective = effective_values
_CSS = views.CSS


def _section_html(title: str) -> str:
    return f'<div class="ditp-section">{_e(title)}</div>'


class CommitteePanel(RobustnessTab, ScenarioBox, widgets.VBox):
    """The committee's live panel: controls on the left, the decision on the right, charts below.

    Parameters
    ----------
    inputs : Inputs
        Call rules, applications and reviews (:func:`ditp_model.inputs.io.load_inputs`).
    weights : Weights, optional
        Initial raw weights; default the call's.
    params : AllocationParams, optional
        Initial parameters; amounts left at None take the call's values (the
        envelope slider starts exactly at the call's envelope).
        ``check_alternatives`` is always off in the live panel (speed).
    normalisation : str, optional
        Review normalisation; default the call's.
    rule_options : sequence of GroupRule
        Portfolio rules offered as toggles (off unless in ``params.group_rules``).
    max_awards_default : int, optional
        Value offered by the "maximum number of awards" toggle (off at start).
    scenario_dir : path, optional
        Folder where scenarios are saved and listed; default ``./scenarios``.
    reference : Scenario, optional
        Reference state; default the initial state ("état initial").
    charts : bool
        Draw the matplotlib charts (on by default).
    conflicts : path or pandas.DataFrame, optional
        Declarations of conflicts of interest (CSV or XLSX, as ``--conflits``): reviews under a declared
        conflict are left out of the scores, and every declaration is listed in the « Décision » tab
        (:func:`ditp_model.session.due_process.attach_conflicts`; InputError, French, for a bad file).

    Notes
    -----
    The right-hand column has two tabs: « Décision » (recomputed at every
    change) and « Robustesse », where :meth:`run_robustness` (its button) runs
    :func:`ditp_model.uncertainty.robustness.weight_monte_carlo` for the state on display,
    with a progress bar; the result is marked as out of date when the weights
    or parameters change afterwards, never recomputed on its own.
    """

    _weight_step = 0.05

    def _section(self, title: str) -> widgets.HTML:
        """A section title (one HTML widget with the shared layout and style)."""
        return self._looks.html(_section_html(title))

    def __init__(self, inputs: Inputs, *, weights: Weights | None = None, params: AllocationParams | None = None,
                 normalisation: str | None = None, rule_options=(), max_awards_default: int | None = None,
                 scenario_dir: str | Path | None = None, reference: Scenario | None = None, charts: bool = True,
                 conflicts=None):
        super().__init__()
        self.add_class("ditp-panel")
        inputs = attach_conflicts(inputs, conflicts)
        self.inputs = inputs
        self.rules = inputs.rules
        self.scenario_dir = Path(scenario_dir) if scenario_dir is not None else Path("scenarios")
        self._paths = list(inputs.files)[:3]  # call, applications, reviews (load_inputs order; declarations after)
        self._base = evaluate(inputs, weights or Weights.from_rules(self.rules), normalisation)
        self.computer = SessionComputer(self._base)
        self._finder = ApplicationFinder(self._base.table)
        self._hidden_params = replace(params or AllocationParams(), check_alternatives=False)
        self._lock_reasons: dict[str, str] = dict(self._hidden_params.lock_reasons)  # typed beside each lock
        self._batch_depth = 0
        self._charts_enabled = charts
        self._charts = views.PanelCharts()
        self.chart_timings: dict[str, float] = {}
        self.current: Outcome | None = None
        self.previous: Outcome | None = None
        self.reference: Outcome | None = None
        self.last_error: str | None = None
        self.last_timings: dict[str, float] = {}
        self.solve_count = 0
        self.robustness: robustness.WeightMonteCarlo | None = None
        self.robustness_state: PanelState | None = None
        self.robustness_error: str | None = None
        self._suspended = True  # one render at the end of the construction
        self._looks = SharedLooks()  # layouts and styles that never change: one model each (issue 18, item 3)
        self._build_widgets(self._hidden_params, rule_options, max_awards_default)
        self.refresh()
        if self.current is not None:
            self.reference = replace(self.current, name="état initial")
            if reference is not None:
                self._guard(lambda: self.set_reference(reference))
        self.previous = None
        self._suspended = False
        self._render()

    # ----------------------------------------------------------------- widgets

    _row_layout = dict(width="13em")

    def _build_widgets(self, params: AllocationParams, rule_options, max_awards_default) -> None:
        """Controls on the left, the decision and robustness tabs on the right, charts and scenarios below."""
        self._value_labels: dict[str, widgets.HTML] = {}
        controls = self._looks.vbox([self._build_weights(), self._build_money(params), self._build_rule(params),
                                     self._build_thresholds(params), self._build_portfolio(params, rule_options, max_awards_default),
                                     self._build_locks(params)], width="45em", min_width="45em")
        results = self._build_results()
        charts = self._build_charts()
        scenarios = self._build_scenarios()
        title = self._looks.html(views.CSS + f"<h3>Séance du comité — {_e(self.rules.call.name)}</h3>"
                                 "Chaque changement recalcule la décision : lauréats, totaux, ce qui a changé et graphiques.")
        results.layout.margin = "0 0 0 16px"
        self.children = [title, self._looks.hbox([controls, results]), charts, scenarios]

    def _slider_row(self, label: str, slider, key: str) -> widgets.HBox:
        """Label, slider and the value it stands for (« 0,30 → 30 % de la note »), kept in :attr:`_value_labels`."""
        lab = self._looks.html(f"<b>{_e(label)}</b>", **self._row_layout)
        val = self._looks.html("", classes=("ditp-value",), width="18em")
        self._value_labels[key] = val
        return self._looks.hbox([lab, slider, val])

    def _slider_looks(self) -> dict:
        """Layout and style of every slider of the controls (shared: 13em wide, the value shown beside)."""
        return dict(layout=self._looks.layout(width="13em"), style=self._looks.style(widgets.SliderStyle))

    def _build_weights(self) -> widgets.VBox:
        ev = self._base
        self.weight_sliders: dict[str, widgets.FloatSlider] = {}
        rows = []
        for c in self.rules.criteria:
            v = ev.weights.as_dict()[c.name]
            s = widgets.FloatSlider(value=v, min=0.0, max=max(1.0, v), step=self._weight_step, readout=False,
                                    continuous_update=False, description="", **self._slider_looks())
            s.add_class(f"ditp-weight-{c.name}")
            s.observe(self._on_change, names="value")
            self.weight_sliders[c.name] = s
            rows.append(self._slider_row(c.label, s, f"w:{c.name}"))
        return self._looks.vbox([self._section("Pondérations (normalisées : part de chaque critère dans la note)"), *rows])

    def _build_money(self, params: AllocationParams) -> widgets.VBox:
        """Envelope (exact text field and coarse slider), floor, cap and minimum share."""
        f = self.rules.funding
        t = self._base.table
        eligible_request = int(t.loc[t["eligible"], "requested_eur"].sum())
        envelope = f.envelope_eur if params.envelope_eur is None else params.envelope_eur
        floor = f.award_floor_eur if params.award_floor_eur is None else params.award_floor_eur
        cap = f.award_cap_eur if params.award_cap_eur is None else params.award_cap_eur
        min_share = f.min_share if params.min_share is None else params.min_share
        lo, hi, step = envelope_slider_range(envelope, eligible_request)
        self._envelope_ceiling = envelope_ceiling(eligible_request)
        self.envelope_slider = widgets.IntSlider(value=envelope, min=lo, max=hi, step=step, readout=False,
                                                 continuous_update=False, **self._slider_looks())
        self.envelope_slider.add_class("ditp-envelope")
        # the exact amount, typed the French way; read by parse_envelope (never by the browser's number box)
        self.envelope_text = widgets.Text(value=format_eur(envelope), continuous_update=False,
                                          placeholder="par ex. 2 500 000 € ou 2,5 M€", layout=widgets.Layout(width="11em"))
        self.envelope_text.add_class("ditp-envelope-exact")
        self.envelope_message = self._looks.html(classes=("ditp-envelope-message",))
        self._envelope_syncing = False
        self.envelope_slider.observe(self._on_envelope_slider, names="value")
        self.envelope_text.observe(self._on_envelope_text, names="value")
        top = max(int(t.loc[t["eligible"], "requested_eur"].max()), f.extended_cap.award_cap_eur, cap, floor)
        top = -(-top // 1000) * 1000
        self.floor_slider = widgets.IntSlider(value=floor, min=0, max=top, step=1000, readout=False, continuous_update=False,
                                              **self._slider_looks())
        self.cap_slider = widgets.IntSlider(value=cap, min=0, max=top, step=1000, readout=False, continuous_update=False,
                                            **self._slider_looks())
        self.min_share_slider = widgets.FloatSlider(value=min_share, min=0.05, max=1.0, step=0.05, readout=False,
                                                    continuous_update=False, **self._slider_looks())
        for w in (self.floor_slider, self.cap_slider, self.min_share_slider):
            w.observe(self._on_change, names="value")
        return self._looks.vbox([
            self._section("Enveloppe et montants"),
            self._slider_row("Enveloppe", self.envelope_slider, "envelope"),
            self._looks.hbox([self._looks.html("", **self._row_layout),
                              self._looks.html("montant exact :&nbsp;"), self.envelope_text,
                              self._looks.html("&nbsp;<small>(curseur : pas de 10 000 €)</small>")]),
            self.envelope_message,
            self._slider_row("Plancher par projet", self.floor_slider, "floor"),
            self._slider_row("Plafond par projet", self.cap_slider, "cap"),
            self._slider_row("Minimum accordé", self.min_share_slider, "min_share"),
        ])

    def _build_rule(self, params: AllocationParams) -> widgets.VBox:
        """The decision rule: the call's by default; the others are labelled alternatives."""
        sel = self.rules.selection
        rule = params.rule or sel.rule
        options = []
        for key, label in DECISION_RULES_FR.items():
            text = label[:1].upper() + label[1:]
            if key[0] == sel.rule and (key[0] != "ranking" or key[1] == "skip"):
                text += " (règle de l'appel)"
            options.append((text, key))
        self.rule_choice = widgets.RadioButtons(options=options, value=(rule, params.ranking_variant if rule == "ranking" else "skip"),
                                                layout=widgets.Layout(width="auto"))
        self.rule_choice.add_class("ditp-rule-choice")
        self.rule_choice.observe(self._on_change, names="value")
        return self._looks.vbox([self._section("Règle de décision"), self.rule_choice])

    def _build_thresholds(self, params: AllocationParams) -> widgets.VBox:
        """Quality thresholds and ex aequo band: committee settings, the call's values by default."""
        sel = self.rules.selection
        overall, per = quality_thresholds(self._base, params)
        lo, hi = self.rules.scoring.scale_min, self.rules.scoring.scale_max
        self._scale = (lo, hi)
        self.min_score_text = widgets.BoundedFloatText(value=overall, min=0.0, max=100.0, step=0.5, continuous_update=False,
                                                       layout=widgets.Layout(width="7em"))
        self.min_score_text.add_class("ditp-min-score")
        self.min_criterion_texts: dict[str, widgets.BoundedFloatText] = {}
        html, row = self._looks.html, self._row_layout
        threshold_rows = [self._looks.hbox([html("<b>Note globale minimale</b>", **row),
                                            self.min_score_text, html("&nbsp;points sur 100")])]
        for c in self.rules.criteria:
            if c.source != "reviews":
                continue
            box = widgets.BoundedFloatText(value=per.get(c.name, lo), min=lo, max=hi, step=0.1, continuous_update=False,
                                           layout=widgets.Layout(width="7em"))
            box.add_class(f"ditp-min-{c.name}")
            self.min_criterion_texts[c.name] = box
            threshold_rows.append(self._looks.hbox([html(f"<b>Minimum « {_e(c.label)} »</b>", **row), box,
                                                    html(f"&nbsp;sur l'échelle {format_number(lo, 0)}–{format_number(hi, 0)}"
                                                             f" ({format_number(lo, 0)} : pas de seuil)")]))
        band = sel.tie_band_points if params.tie_band_points is None else params.tie_band_points
        self.tie_band_auto = widgets.Checkbox(value=band == "auto", description="calculée à partir des évaluations (« auto »)",
                                              indent=False, layout=widgets.Layout(width="auto"))
        self.tie_band_text = widgets.BoundedFloatText(value=0.0 if band == "auto" else float(band), min=0.0, max=100.0,
                                                      step=0.05, continuous_update=False, disabled=band == "auto",
                                                      layout=widgets.Layout(width="7em"))
        self.tie_band_text.add_class("ditp-tie-band")
        for w in (self.min_score_text, *self.min_criterion_texts.values(), self.tie_band_text, self.tie_band_auto):
            w.observe(self._on_change, names="value")
        return self._looks.vbox([
            self._section("Seuils de qualité et ex aequo"),
            html("<small>Sous un seuil, un dossier est « non finançable » (motif indiqué). Deux notes plus "
                         "proches que la bande d'ex aequo δ sont ex aequo.</small>"),
            *threshold_rows,
            self._looks.hbox([html("<b>Bande d'ex aequo δ</b>", **row), self.tie_band_text,
                              html("&nbsp;point(s)&nbsp;"), self.tie_band_auto]),
        ])

    def _build_portfolio(self, params: AllocationParams, rule_options, max_awards_default) -> widgets.VBox:
        """Portfolio rules offered as toggles, and the maximum number of awards."""
        self.rule_toggles: list[tuple[GroupRule, widgets.Checkbox]] = []
        self._rules_container = self._looks.vbox()
        for r in list(rule_options) + [r for r in params.group_rules if r not in rule_options]:
            self._add_rule_toggle(r, r in params.group_rules)
        self.max_awards_toggle = widgets.Checkbox(value=params.max_awards is not None, description="Limiter le nombre de lauréats à",
                                                  indent=False, layout=widgets.Layout(width="auto"))
        self.max_awards_value = widgets.BoundedIntText(value=params.max_awards or max_awards_default or 27, min=0,
                                                       max=len(self._base.applications),
                                                       continuous_update=False, layout=widgets.Layout(width="6em"))
        for w in (self.max_awards_toggle, self.max_awards_value):
            w.observe(self._on_change, names="value")
        return self._looks.vbox([self._section("Règles de portefeuille"), self._rules_container,
                                 self._looks.hbox([self.max_awards_toggle, self.max_awards_value])])

    def _build_locks(self, params: AllocationParams) -> widgets.VBox:
        """Locks: searchable tags (type a number or words of the title)."""
        tags = self._finder.tags
        self.lock_in_tags = widgets.TagsInput(value=[self._tag_of[a] for a in sorted(params.lock_in) if a in self._tag_of],
                                              allowed_tags=tags, allow_duplicates=False, tag_style="success",
                                              placeholder="numéro ou mots du titre…", layout=widgets.Layout(width="100%"))
        self.lock_out_tags = widgets.TagsInput(value=[self._tag_of[a] for a in sorted(params.lock_out) if a in self._tag_of],
                                               allowed_tags=tags, allow_duplicates=False, tag_style="danger",
                                               placeholder="numéro ou mots du titre…", layout=widgets.Layout(width="100%"))
        for w in (self.lock_in_tags, self.lock_out_tags):
            w.observe(self._on_lock_tags, names="value")
        # search box: suggestions as one types (number or words of the title); "P044" alone is enough
        self.lock_search = widgets.Combobox(options=tags, ensure_option=False, placeholder="rechercher : numéro ou mots du titre",
                                            layout=widgets.Layout(width="24em"))
        self.lock_search.add_class("ditp-lock-search")
        self.lock_in_button = widgets.Button(description="Imposer", button_style="success", layout=widgets.Layout(width="auto"))
        self.lock_out_button = widgets.Button(description="Exclure", button_style="danger", layout=widgets.Layout(width="auto"))
        self.lock_in_button.on_click(lambda _: self._lock_from_search("in"))
        self.lock_out_button.on_click(lambda _: self._lock_from_search("out"))
        # the committee's reason, asked beside the lock control (issue 13): used by « Imposer » / « Exclure »
        self.lock_reason_text = widgets.Text(placeholder="motif du comité (obligatoire pour une décision définitive)",
                                             layout=widgets.Layout(width="36em"))
        self.lock_reason_text.add_class("ditp-lock-reason-new")
        self.lock_message = self._looks.html()
        self.lock_reason_texts: dict[str, widgets.Text] = {}
        self.lock_reasons_box = self._looks.vbox()
        self.lock_reasons_box.add_class("ditp-lock-reasons")
        self._sync_lock_reason_rows()
        html = self._looks.html
        return self._looks.vbox([
            self._section("Verrous du comité"),
            self._looks.hbox([self.lock_search, self.lock_in_button, self.lock_out_button]),
            self._looks.hbox([html("<b>Motif</b>&nbsp;", width="4em"), self.lock_reason_text]),
            self.lock_message,
            html("Dossiers <b>imposés</b> (financés quoi qu'il arrive ; × pour lever le verrou) :"), self.lock_in_tags,
            html("Dossiers <b>exclus</b> :"), self.lock_out_tags,
            html("<small>Motif écrit de chaque verrou (« motif à écrire » : à compléter avant une décision "
                         "définitive) :</small>"), self.lock_reasons_box,
        ])

    def _locked_ids(self) -> list[tuple[str, str]]:
        """(id, « imposé » / « exclu ») of the locks on display, in the order of the boxes."""
        ids = self._finder.id_of_tag
        return ([(ids[t], "imposé") for t in self.lock_in_tags.value if t in ids]
                + [(ids[t], "exclu") for t in self.lock_out_tags.value if t in ids])

    def _sync_lock_reason_rows(self) -> None:
        """One reason field per lock on display (kept across changes: a lifted lock keeps its text if set again)."""
        rows = []
        for aid, kind in self._locked_ids():
            box = self.lock_reason_texts.get(aid)
            if box is None:
                box = widgets.Text(value=self._lock_reasons.get(aid, ""), placeholder="motif à écrire",
                                   continuous_update=False, layout=widgets.Layout(width="30em"))
                box.add_class("ditp-lock-reason")
                box.observe(lambda change, a=aid: self._on_lock_reason(a, change["new"]), names="value")
                self.lock_reason_texts[aid] = box
            elif box.value != self._lock_reasons.get(aid, ""):
                box.value = self._lock_reasons.get(aid, "")
            rows.append(self._looks.hbox([self._looks.html(f"<b>{_e(aid)}</b> ({kind})", width="9em"), box]))
        self.lock_reasons_box.children = rows

    def _on_lock_tags(self, change) -> None:
        self._sync_lock_reason_rows()
        self._on_change(change)

    def _on_lock_reason(self, aid: str, text: str) -> None:
        if text.strip():
            self._lock_reasons[aid] = text.strip()
        else:
            self._lock_reasons.pop(aid, None)
        self._on_change(None)

    def _build_results(self) -> widgets.Tab:
        """The « Décision » tab (recomputed at every change) and the « Robustesse » tab (on demand)."""
        # the result fragments (HtmlPart: `.value` as an HTML widget's), shown by a few HTML widgets: the page
        # builds a dozen models for this tab instead of some seventy (issue 18, item 3)
        self.busy_html, self.used_html, self.error_html = HtmlPart(), HtmlPart("ditp-used-box"), HtmlPart("ditp-error")
        self.totals_html, self.changes_html, self.table_html = HtmlPart(), HtmlPart(), HtmlPart("ditp-funded-box")
        self.line_html, self.not_fundable_html = HtmlPart("ditp-line-box"), HtmlPart("ditp-not-fundable-box")
        self.optimum_html, self.provisional_html = HtmlPart("ditp-optimum-box"), HtmlPart("ditp-provisional-box")
        self.reserve_html, self.held_html = HtmlPart("ditp-reserve-box"), HtmlPart("ditp-held-box")
        self.conflicts_html, self.locks_html = HtmlPart("ditp-conflicts-box"), HtmlPart("ditp-locks-box")
        self.reference_button = widgets.Button(description="Prendre l'état affiché comme référence",
                                               layout=widgets.Layout(width="auto", align_self="flex-start"))
        self.reference_button.on_click(lambda _: self._guard(self.set_reference_current))
        self._decision_head = HtmlParts([self.busy_html, self.provisional_html, self.used_html, self.error_html,
                                         self.totals_html, self.changes_html],
                                        layout=self._looks.layout(), style=self._looks.style(HTMLStyle))
        sections = [("Lauréats", "<small>Rang : place du dossier dans le classement par note "
                                 "(un rang absent est un dossier non financé).</small>", self.table_html),
                    ("Ligne de financement", "", self.line_html),
                    ("Liste complémentaire (ordre d'appel)", "", self.reserve_html),
                    ("Dossiers non finançables (seuils de qualité)", "", self.not_fundable_html),
                    ("Dossiers en attente d'évaluation", "", self.held_html),
                    ("Conflits d'intérêts déclarés", "", self.conflicts_html),
                    ("Verrous du comité et leurs motifs", "", self.locks_html),
                    ("Si l'on maximisait la somme des notes (comparaison, pas la décision)", "", self.optimum_html)]
        self._decision_sections = [HtmlParts([_section_html(title), note, part], layout=self._looks.layout(),
                                             style=self._looks.style(HTMLStyle)) for title, note, part in sections]
        decision = self._looks.vbox([self._decision_head, self.reference_button, *self._decision_sections])
        # tabs: the decision (recomputed at every change) and the robustness analysis (on demand)
        # (the robustness tab's content is built when the tab is first opened: RobustnessTab)
        self.tabs = widgets.Tab(children=[decision, self._robustness_placeholder()], titles=("Décision", "Robustesse"),
                                layout=widgets.Layout(flex="1 1 auto", min_width="30em"))
        self.tabs.add_class("ditp-tabs")
        self.tabs.observe(self._on_tab_selected, names="selected_index")
        return self.tabs

    def _build_charts(self) -> widgets.VBox:
        fmt = "svg+xml"
        self.chart_images = {k: widgets.Image(format=fmt, layout=widgets.Layout(width="100%")) for k in
                             ("region", "lead_org_type", "maturity", "score")}
        return self._looks.vbox([
            self._section("Graphiques (repère noir : état de référence)"),
            widgets.GridBox([self.chart_images["region"], widgets.VBox([self.chart_images["lead_org_type"],
                                                                         self.chart_images["maturity"]])],
                            layout=widgets.Layout(grid_template_columns="1fr 1fr", grid_gap="8px")),
            self.chart_images["score"],
        ])

    def _add_rule_toggle(self, rule: GroupRule, on: bool) -> widgets.Checkbox:
        cb = widgets.Checkbox(value=on, description=rule_label_fr(rule), indent=False, layout=widgets.Layout(width="auto"))
        cb.observe(self._on_change, names="value")
        self.rule_toggles.append((rule, cb))
        self._rules_container.children = [c for _, c in self.rule_toggles]
        return cb

    # ----------------------------------------------------------------- state <-> widgets

    def state_from_widgets(self) -> PanelState:
        """The state the controls show (raises ValueError, French, when it is not a valid state: e.g. an envelope
        that cannot be read, a floor above the cap)."""
        return state_from_controls(
            self._hidden_params,
            weights={k: s.value for k, s in self.weight_sliders.items()},
            rule=self.rule_choice.value,
            envelope_eur=parse_envelope(self.envelope_text.value, ceiling_eur=self._envelope_ceiling),
            award_floor_eur=int(self.floor_slider.value),
            award_cap_eur=int(self.cap_slider.value),
            min_share=self.min_share_slider.value,
            lock_in=(self._finder.id_of_tag[x] for x in self.lock_in_tags.value),
            lock_out=(self._finder.id_of_tag[x] for x in self.lock_out_tags.value),
            group_rules=[r for r, cb in self.rule_toggles if cb.value],
            max_awards=int(self.max_awards_value.value) if self.max_awards_toggle.value else None,
            min_score=self.min_score_text.value,
            min_criterion={k: b.value for k, b in self.min_criterion_texts.items()},
            scale_min=self._scale[0],
            tie_band="auto" if self.tie_band_auto.value else self.tie_band_text.value,
            lock_reasons=self._lock_reasons,
        )

    def _set_envelope(self, amount: int) -> None:
        """Show `amount` on the slider (its range extended when needed, never clamped) and in the text field."""
        self._envelope_syncing = True
        try:
            if amount > self.envelope_slider.max:
                self.envelope_slider.max = amount
            self.envelope_slider.value = amount
            self.envelope_text.value = format_eur(amount)
        finally:
            self._envelope_syncing = False

    def _on_envelope_slider(self, change) -> None:
        if self._envelope_syncing:
            return
        self._set_envelope(int(change["new"]))
        self._on_change(change)

    def _on_envelope_text(self, change) -> None:
        """A typed envelope: read (« 2,5 M€ »), shown the French way on the field and the slider; refused visibly."""
        if self._envelope_syncing:
            return
        try:
            amount = parse_envelope(change["new"], ceiling_eur=self._envelope_ceiling)
        except ValueError:
            pass  # refresh() shows the refusal beside the field and in the error box; the slider stays
        else:
            self._set_envelope(amount)
        self._on_change(change)

    def apply_state(self, state: PanelState) -> None:
        """Set every control to `state` (one re-solve at the end)."""
        eff = effective_values(state.params, self._base)
        unknown = sorted(a for a in state.params.lock_in | state.params.lock_out if a not in self._finder.tag_of)
        if unknown:
            raise ValueError(f"verrou sur un dossier qui n'est ni éligible ni classé : {', '.join(unknown)}")
        with self.batch():
            self._lock_reasons = dict(state.params.lock_reasons)
            for k, s in self.weight_sliders.items():
                v = state.weights.as_dict().get(k, 0.0)
                s.max = max(s.max, v)
                s.value = v
            self._set_envelope(int(eff["envelope_eur"]))
            for s, v in ((self.floor_slider, eff["award_floor_eur"]), (self.cap_slider, eff["award_cap_eur"])):
                s.max = max(s.max, v)
                s.value = v
            self.min_share_slider.value = eff["min_share"]
            self.lock_in_tags.value = [self._finder.tag_of[a] for a in sorted(state.params.lock_in)]
            self.lock_out_tags.value = [self._finder.tag_of[a] for a in sorted(state.params.lock_out)]
            self._sync_lock_reason_rows()
            for r in state.params.group_rules:
                if r not in [x for x, _ in self.rule_toggles]:
                    self._add_rule_toggle(r, True)
            for r, cb in self.rule_toggles:
                cb.value = r in state.params.group_rules
            self.max_awards_toggle.value = state.params.max_awards is not None
            if state.params.max_awards is not None:
                self.max_awards_value.value = state.params.max_awards
            rule = eff["rule"]
            self.rule_choice.value = (rule, state.params.ranking_variant if rule == "ranking" else "skip")
            self.min_score_text.value = eff["min_score"]
            for k, box in self.min_criterion_texts.items():
                box.value = eff["min_criterion"].get(k, self._scale[0])
            band = eff["tie_band_points"]
            self.tie_band_auto.value = band == "auto"
            if band != "auto":
                self.tie_band_text.value = float(band)
            self._hidden_params = replace(state.params, check_alternatives=False)

    @contextlib.contextmanager
    def batch(self):
        """Change several controls, re-solve once at the end."""
        self._batch_depth += 1
        try:
            yield self
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0:
                self.refresh()

    def set_weights(self, **raw: float) -> bool:
        """Set some raw weights (``openness=0.35``) as if moved on the sliders; one re-solve.  Returns success."""
        unknown = set(raw) - set(self.weight_sliders)
        if unknown:
            raise ValueError(f"critère(s) inconnu(s) : {', '.join(sorted(unknown))}")
        with self.batch():
            for k, v in raw.items():
                self.weight_sliders[k].value = v
        return self.last_error is None

    def lock_in(self, *ids: str, reason: str | None = None) -> bool:
        """Force applications in (as if added to the "imposés" box), with the committee's `reason`; one re-solve.
        Returns success.  Without a reason the lock is shown « motif à écrire »."""
        return self._add_tags(self.lock_in_tags, ids, reason)

    def lock_out(self, *ids: str, reason: str | None = None) -> bool:
        """Force applications out (as if added to the "exclus" box), with the committee's `reason`; one re-solve.
        Returns success."""
        return self._add_tags(self.lock_out_tags, ids, reason)

    def set_lock_reason(self, application_id: str, reason: str) -> bool:
        """Write (or, with blank text, clear) the committee's reason for a lock, as typed beside it.  Returns success."""
        aid = self._finder.id_of_tag[self._tag(application_id)]
        if aid in self.lock_reason_texts:
            self.lock_reason_texts[aid].value = reason  # its observer records it and re-solves
        else:
            self._on_lock_reason(aid, reason)
        return self.last_error is None

    def _add_tags(self, box: widgets.TagsInput, ids, reason: str | None = None) -> bool:
        new = [self._tag(a) for a in ids]  # raises, French, for an id that cannot be locked
        if reason is not None and reason.strip():
            for t in new:
                self._lock_reasons[self._finder.id_of_tag[t]] = reason.strip()
        box.value = list(box.value) + [t for t in new if t not in box.value]
        return self.last_error is None

    def unlock(self, *ids: str) -> bool:
        """Remove the locks on these applications.  Returns success."""
        tags = {self._tag(a) for a in ids}
        with self.batch():
            self.lock_in_tags.value = [x for x in self.lock_in_tags.value if x not in tags]
            self.lock_out_tags.value = [x for x in self.lock_out_tags.value if x not in tags]
        return self.last_error is None

    def resolve_application(self, text: str) -> str:
        """The application id meant by a search text (see :meth:`ApplicationFinder.resolve`; ValueError, French)."""
        return self._finder.resolve(text)

    @property
    def _tag_of(self) -> dict[str, str]:
        return self._finder.tag_of

    def _lock_from_search(self, kind: str) -> None:
        try:
            aid = self.resolve_application(self.lock_search.value)
        except ValueError as exc:
            self.lock_message.value = f'<div class="ditp-warn">{_e(exc)}</div>'
            return
        self.lock_message.value = ""
        self.lock_search.value = ""
        reason = self.lock_reason_text.value
        self.lock_reason_text.value = ""
        (self.lock_in if kind == "in" else self.lock_out)(aid, reason=reason)

    def _tag(self, aid: str) -> str:
        return self._finder.tag(aid)

    # ----------------------------------------------------------------- computing

    def evaluation_for(self, weights: Weights) -> Evaluation:
        """Scores under `weights` (remembered, see :class:`SessionComputer`)."""
        return self.computer.evaluation_for(weights)

    def outcome_for(self, state: PanelState, name: str = "") -> Outcome:
        """The decision for `state` on the panel's inputs (remembered, see :class:`SessionComputer`)."""
        return self.computer.outcome_for(state, name)

    def _on_change(self, change) -> None:
        if self._batch_depth:
            return
        self.refresh()

    def refresh(self) -> bool:
        """Read the controls, re-solve if the state changed, update the display.  Returns success.

        On an error the previous result stays on display and the French message
        is shown above it (also in :attr:`last_error`).
        """
        t0 = time.perf_counter()
        self._update_value_labels()
        try:
            state = self.state_from_widgets()
            if self.current is not None and state == self.current.state:
                self._set_error(None)
                return True
            if not self.computer.knows(state) and not self._suspended:
                # shown at once (widget messages leave immediately): a long solve is not a frozen page
                self.busy_html.value = '<span class="ditp-busy">calcul en cours…</span>'
            out = self.outcome_for(state)
        except EXPECTED_ERRORS + (DecisionError,) as exc:
            self._set_error(str(exc))
            return False
        except Exception as exc:  # a bug: shown in the panel, logged with its traceback, never swallowed
            log.exception("erreur inattendue dans le panneau du comité")
            self._set_error(f"erreur inattendue ({type(exc).__name__}) : {exc} — à signaler à l'équipe technique")
            return False
        finally:
            if self.busy_html.value:
                self.busy_html.value = ""
        t1 = time.perf_counter()
        self.solve_count += 1
        self.previous, self.current = self.current, out
        self._set_error(None)  # the red box of an earlier refusal goes: what is shown below is this new result
        if not self._suspended:
            self._render()
        t2 = time.perf_counter()
        self.last_timings = {"solve_s": t1 - t0, "render_s": t2 - t1, "total_s": t2 - t0}
        return True

    # ----------------------------------------------------------------- display

    def _update_value_labels(self) -> None:
        vals = {k: float(s.value) for k, s in self.weight_sliders.items()}
        total = sum(vals.values())
        for k, v in vals.items():
            pct = f"{format_number(100 * v / total, 0)} %" if total > 0 else "—"
            self._value_labels[f"w:{k}"].value = f"{format_number(v, 2)} → <b>{pct}</b> de la note"
        self._value_labels["envelope"].value = f"<b>{format_eur(self.envelope_slider.value)}</b>"
        self._value_labels["floor"].value = format_eur(self.floor_slider.value)
        self._value_labels["cap"].value = format_eur(self.cap_slider.value)
        self._value_labels["min_share"].value = f"{_share_fr(self.min_share_slider.value)} de la demande"
        self.tie_band_text.disabled = bool(self.tie_band_auto.value)
        try:
            parse_envelope(self.envelope_text.value, ceiling_eur=self._envelope_ceiling)
            self.envelope_message.value = ""
        except ValueError as exc:
            self.envelope_message.value = f'<div class="ditp-error-box ditp-envelope-refused">{_e(exc)}</div>'

    def _set_error(self, message: str | None) -> None:
        self.last_error = message
        self.error_html.value = "" if message is None else views.error_html(message, self.current)

    def _render(self) -> None:
        out = self.current
        if out is None:
            return
        with self._decision_head.hold_sync():  # the head's five fragments: one message
            self.used_html.value = views.used_html(out)
            self.totals_html.value = views.totals_html(out)
            self.changes_html.value = views.changes_html(out, self.previous, self.reference)
            self.provisional_html.value = views.provisional_banner_html(out)
        new_ids = frozenset(set(out.funded_ids) - set(self.previous.funded_ids)) if self.previous else frozenset()
        self.table_html.value = funded_table_html(out, new_ids)
        self.line_html.value = views.line_html(out)
        self.not_fundable_html.value = views.not_fundable_html(out)
        self.optimum_html.value = views.optimum_html(out)
        self.reserve_html.value = views.reserve_html(out)
        self.held_html.value = views.held_html(out)
        self.conflicts_html.value = views.conflicts_html(out.evaluation)
        self.locks_html.value = views.lock_reasons_html(out)
        if self._charts_enabled:
            self._render_charts(out)
        self._render_robustness_stale()

    @property
    def changes_text(self) -> str:
        """What changed since the previous state (French, as displayed)."""
        if self.current is None or self.previous is None:
            return "premier calcul de la séance"
        return describe_change(self.previous, self.current)

    @property
    def reference_changes_text(self) -> str:
        """What changed since the reference state (French, as displayed)."""
        return describe_change(self.reference, self.current)

    def funded_table(self) -> pd.DataFrame:
        """The funded table on display (canonical columns; see :func:`funded_table`)."""
        return funded_table(self.current)

    def summary_fr(self, outcome: Outcome | None = None) -> str:
        """One French line: count, awarded, unspent, weights used."""
        return summary_fr(outcome or self.current)

    def _ref_label(self) -> str:
        return f"référence ({self.reference.name})" if self.reference is not None else "référence"

    def _render_charts(self, out: Outcome) -> None:
        """Redraw the charts whose data changed (:class:`~ditp_model.session.views.PanelCharts`)."""
        ref = self.reference.portfolio if self.reference is not None else None
        for name, svg in self._charts.update(out.portfolio, ref, self._ref_label()).items():
            self.chart_images[name].value = svg
        self.chart_timings = self._charts.timings

    def __repr__(self) -> str:
        o = self.current
        if o is None:
            return "CommitteePanel(aucune décision)"
        return f"CommitteePanel({count_fr(o.n_funded, 'lauréat', none='aucun lauréat')}, {format_eur(o.awarded_eur)} attribués)"
