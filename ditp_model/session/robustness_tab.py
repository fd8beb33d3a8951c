"""The « Robustesse » tab of the committee panel: a weight Monte Carlo run on demand for the state on display.

A mixin of :class:`ditp_model.session.widgets.CommitteePanel` (kept apart so that
the panel's module stays short): it builds the tab's controls, runs
:func:`ditp_model.uncertainty.robustness.weight_monte_carlo` with a progress bar
when its button is pressed, shows the counts per class, the « incertain »
applications and the probability figure (HTML from :mod:`ditp_model.session.views`),
and marks the result as out of date when the weights or parameters change
(:func:`ditp_model.session.state.robustness_stale_reason`), never recomputing it
on its own.  It reads the panel's ``current``, ``last_error``,
``evaluation_for`` and ``_charts_enabled``.

The tab's content (some fifty widget models) is built the first time the tab is
opened, or the first time one of its widgets is asked for (``panel.mc_draws``,
:meth:`RobustnessTab.run_robustness`): until then the page shows an empty tab
behind the « Robustesse » title and builds none of them (issue 18, item 3: the
panel's first display).  Nothing in it depends on the decision on display until
an analysis is run, so building it later shows exactly what it would have shown.
"""

from __future__ import annotations

import logging
import math
import time

import ipywidgets as widgets

from ditp_model.french import format_number
from ditp_model.outputs import plots
from ditp_model.session import views
from ditp_model.session.state import EXPECTED_ERRORS, DecisionError, PanelState, robustness_stale_reason
from ditp_model.session.views import _e
from ditp_model.uncertainty import robustness

__all__ = ["RobustnessTab"]

log = logging.getLogger("ditp_model.session.widgets")


#: The tab's widgets, built with the tab (asking for one builds it).
_TAB_WIDGETS = frozenset({"mc_draws", "mc_concentration", "mc_seed", "mc_button", "mc_progress", "mc_progress_label",
                          "mc_error_html", "mc_stale_html", "mc_used_html", "mc_counts_html", "mc_table_html", "mc_image",
                          "_mc_result_box"})


class RobustnessTab:
    """The « Robustesse » tab (mixin of :class:`~ditp_model.session.widgets.CommitteePanel`)."""

    def _robustness_placeholder(self) -> widgets.VBox:
        """The tab's page, empty until :meth:`build_robustness_tab` fills it."""
        self._robustness_page = widgets.VBox()
        self._robustness_page.add_class("ditp-robustness-page")
        return self._robustness_page

    def _on_tab_selected(self, change) -> None:
        if change["new"] == 1:
            self.build_robustness_tab()

    @property
    def robustness_tab_built(self) -> bool:
        """Whether the « Robustesse » tab's content exists (opened once, or one of its widgets asked for)."""
        return "mc_button" in self.__dict__

    def build_robustness_tab(self) -> None:
        """Fill the « Robustesse » tab (once; the tab's first opening does it)."""
        if not self.robustness_tab_built:
            self._robustness_page.children = self._build_robustness_tab()

    def __getattr__(self, name: str):
        # only called for a name not found: one of the tab's widgets before the tab was built
        if name in _TAB_WIDGETS and "_robustness_page" in self.__dict__:
            self.build_robustness_tab()
            return self.__dict__[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _build_robustness_tab(self) -> list:
        """The « Robustesse » tab's widgets: weight Monte Carlo for the state on display, run by its button."""
        short = widgets.Layout(width="16em")
        style = {"description_width": "8em"}
        self.mc_draws = widgets.IntText(value=200, description="Tirages", layout=short, style=style)
        self.mc_concentration = widgets.FloatText(value=50.0, description="Concentration", layout=short, style=style)
        self.mc_seed = widgets.IntText(value=2021, description="Graine", layout=short, style=style)
        for w, name in ((self.mc_draws, "draws"), (self.mc_concentration, "concentration"), (self.mc_seed, "seed")):
            w.add_class(f"ditp-mc-{name}")
        self.mc_button = widgets.Button(description="Lancer l'analyse", button_style="primary", icon="play",
                                        layout=widgets.Layout(width="auto"))
        self.mc_button.add_class("ditp-mc-run")
        self.mc_button.on_click(lambda _: self.run_robustness())
        self.mc_progress = widgets.IntProgress(value=0, min=0, max=200, layout=widgets.Layout(width="20em"))
        self.mc_progress_label = widgets.HTML("analyse pas encore lancée")
        self.mc_progress_label.add_class("ditp-mc-progress")
        self.mc_error_html = widgets.HTML()
        self.mc_error_html.add_class("ditp-mc-error")
        self.mc_stale_html = widgets.HTML()
        self.mc_stale_html.add_class("ditp-mc-stale")
        self.mc_used_html = widgets.HTML()
        self.mc_counts_html = widgets.HTML()
        self.mc_table_html = widgets.HTML()
        self.mc_table_html.add_class("ditp-mc-table")
        # the figure keeps its size (one legible row per application) and scrolls inside its frame
        self.mc_image = widgets.Image(format="svg+xml", layout=widgets.Layout(width="100%", height="auto", min_width="36em"))
        figure_box = widgets.Box([self.mc_image], layout=widgets.Layout(display="block", max_height="640px", overflow="auto",
                                                                        border="1px solid #d5d9e0"))
        figure = [self._section("Probabilité d'être financé de chaque dossier"), figure_box] if self._charts_enabled else []
        self._mc_result_box = widgets.VBox([self.mc_used_html, self.mc_counts_html, self._section("Dossiers incertains"),
                                            self.mc_table_html, *figure])
        self._mc_result_box.layout.display = "none"  # until a first result
        help_html = widgets.HTML(
            '<div class="ditp-mc-help">Probabilité d\'être financé quand les pondérations sont incertaines : des '
            "pondérations sont tirées autour de celles affichées à gauche (loi de Dirichlet) et la décision est "
            "recalculée à chaque tirage avec la règle de décision, les seuils, l'enveloppe, les montants, les verrous "
            "et les règles affichés. "
            "Un dossier est <b>toujours financé</b>, <b>incertain</b> ou <b>jamais financé</b> sur l'ensemble des "
            "tirages. Concentration : plus elle est grande, plus les tirages restent proches des pondérations du "
            "comité (50 : écart type d'environ 7 points sur une pondération de 50 %). La graine rend l'analyse "
            "reproductible ; elle est publiée avec le résultat. L'analyse n'est pas relancée à chaque changement "
            "de réglage : utiliser le bouton.</div>")
        return [
            help_html,
            widgets.HBox([self.mc_draws, self.mc_concentration, self.mc_seed]),
            widgets.HBox([self.mc_button, self.mc_progress, self.mc_progress_label],
                         layout=widgets.Layout(align_items="center", grid_gap="8px")),
            self.mc_error_html, self.mc_stale_html, self._mc_result_box,
        ]

    # ----------------------------------------------------------------- robustness tab

    def run_robustness(self) -> bool:
        """Run the weight Monte Carlo for the state on display (the « Lancer l'analyse » button).  Returns success.

        Reads the tab's number of draws, concentration and seed, calls
        :func:`ditp_model.uncertainty.robustness.weight_monte_carlo` with the displayed
        decision's weights and allocation parameters, and shows the counts per
        class, the « incertain » applications and the probability figure.  The
        progress bar follows the draws.  On an error the French message is shown
        in the tab (also in :attr:`robustness_error`) and the previous result
        stays on display.
        """
        n_draws, concentration, seed = self.mc_draws.value, self.mc_concentration.value, self.mc_seed.value
        before = (self.mc_progress.value, self.mc_progress.max, self.mc_progress_label.value)
        self.mc_button.disabled = True
        try:
            if self.current is None:
                raise ValueError("aucune décision affichée")
            if self.last_error is not None:
                raise ValueError(f"les réglages affichés ne donnent pas de décision ({self.last_error.rstrip('.')}) : "
                                 "les corriger avant de lancer l'analyse")
            if not isinstance(n_draws, int) or n_draws < 1:
                raise ValueError(f"nombre de tirages {n_draws} : un entier d'au moins 1 est attendu")
            if not (isinstance(concentration, (int, float)) and math.isfinite(concentration) and concentration > 0):
                raise ValueError(f"concentration {format_number(concentration, 2)} : un nombre strictement positif est attendu")
            if not isinstance(seed, int) or seed < 0:
                raise ValueError(f"graine {seed} : un entier positif ou nul est attendu")
            state, evaluation = self.current.state, self.current.evaluation
            t0 = time.perf_counter()

            def on_progress(done: int, total: int) -> None:
                self.mc_progress.value = done
                self.mc_progress_label.value = (f"calcul en cours : tirage {done} sur {total} "
                                                f"({format_number(time.perf_counter() - t0, 0)} s)")

            self.mc_progress.max, self.mc_progress.value = n_draws, 0
            self.mc_progress_label.value = f"calcul en cours : tirage 0 sur {n_draws}"
            mc = robustness.weight_monte_carlo(evaluation, state.params, n_draws=n_draws, concentration=concentration,
                                               seed=seed, progress=False, on_progress=on_progress)
            figure = (plots.figure_svg(plots.funding_probability_figure(mc.table)).encode("utf-8")
                      if self._charts_enabled else None)
        except EXPECTED_ERRORS + (DecisionError,) as exc:
            self._set_robustness_error(str(exc), before)
            return False
        except Exception as exc:  # a bug: shown in the tab, logged with its traceback, never swallowed
            log.exception("erreur inattendue dans l'analyse de robustesse")
            self._set_robustness_error(f"erreur inattendue ({type(exc).__name__}) : {exc} — à signaler à l'équipe technique",
                                       before)
            return False
        finally:
            self.mc_button.disabled = False
        self.robustness, self.robustness_state, self.robustness_error = mc, state, None
        self.mc_error_html.value = ""
        self.mc_progress_label.value = f"terminé : {mc.n_draws} tirages en {format_number(mc.seconds, 1)} s"
        self._render_robustness(mc, state, figure)
        return True

    def _set_robustness_error(self, message: str, progress_before: tuple) -> None:
        self.robustness_error = message
        value, top, label = progress_before  # the bar goes back to the previous result's
        self.mc_progress.max = top
        self.mc_progress.value = value
        self.mc_progress_label.value = label
        kept = (" Le résultat affiché reste celui de l'analyse précédente." if self.robustness is not None else "")
        self.mc_error_html.value = f'<div class="ditp-error-box"><b>Analyse impossible :</b> {_e(message.rstrip("."))}.{kept}</div>'

    def _render_robustness(self, mc: robustness.WeightMonteCarlo, state: PanelState, figure: bytes | None) -> None:
        self.mc_used_html.value = views.robustness_used_html(mc, state, self.evaluation_for(state.weights))
        self.mc_counts_html.value = views.robustness_counts_html(mc.table)
        self.mc_table_html.value = views.uncertain_html(mc.table)
        if figure is not None:
            self.mc_image.value = figure
        self._mc_result_box.layout.display = None
        self._render_robustness_stale()

    def _render_robustness_stale(self) -> None:
        """Mark the robustness result as out of date when the state on display is not the one it was computed for."""
        if self.robustness_state is None or self.current is None:
            return
        reason = self.robustness_stale
        self.mc_stale_html.value = views.stale_html(reason)
        if reason is None:
            self._mc_result_box.remove_class("ditp-stale")
        else:
            self._mc_result_box.add_class("ditp-stale")

    @property
    def robustness_stale(self) -> str | None:
        """Why the robustness result on display is out of date (French), or None (up to date, or no result)."""
        if self.robustness_state is None or self.current is None:
            return None
        return robustness_stale_reason(self.robustness_state, self.current.state)
