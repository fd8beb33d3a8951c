"""Scenarios in the committee panel: save, load, take as reference, compare side by side.

A mixin of :class:`ditp_model.session.widgets.CommitteePanel` (kept apart so that
the panel's module stays short).  Scenarios are files of
:mod:`ditp_model.rules.scenario`; the comparison table is
:func:`ditp_model.session.changes.compare_scenarios`.  It reads the panel's
``current``, ``reference``, ``inputs``, ``scenario_dir``, ``outcome_for``,
``apply_state`` and ``_render``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import ipywidgets as widgets
import pandas as pd

from ditp_model.inputs.schema import InputError
from ditp_model.rules.scenario import Scenario, load_scenario, save_scenario
from ditp_model.session.changes import compare_scenarios, comparison_frame_fr, scenario_slug, state_from_scenario
from ditp_model.session.state import EXPECTED_ERRORS, DecisionError, Outcome, summary_fr
from ditp_model.session.views import _e

__all__ = ["ScenarioBox"]

log = logging.getLogger("ditp_model.session.widgets")


class ScenarioBox:
    """Save, load, reference and compare scenarios (mixin of :class:`~ditp_model.session.widgets.CommitteePanel`)."""

    def _build_scenarios(self) -> widgets.VBox:
        """Save, load, take as reference and compare named scenarios."""
        self.scenario_name = widgets.Text(placeholder="nom du scénario, par ex. « ouverture renforcée »",
                                          layout=widgets.Layout(width="24em"))
        self.save_button = widgets.Button(description="Enregistrer", button_style="primary")
        self.save_button.on_click(lambda _: self._guard(lambda: self.save(self.scenario_name.value)))
        self.scenario_choice = widgets.Dropdown(options=[], description="Scénario enregistré",
                                                style={"description_width": "initial"}, layout=widgets.Layout(width="32em"))
        self.load_button = widgets.Button(description="Charger dans le panneau", layout=widgets.Layout(width="auto"))
        self.load_button.on_click(lambda _: self._guard(lambda: self.load(self.scenario_choice.value)))
        self.load_reference_button = widgets.Button(description="Prendre comme référence", layout=widgets.Layout(width="auto"))
        self.load_reference_button.on_click(lambda _: self._guard(lambda: self.set_reference(self.scenario_choice.value)))
        self.compare_a = widgets.Dropdown(options=[], description="Comparer A", layout=widgets.Layout(width="22em"),
                                          style={"description_width": "initial"})
        self.compare_b = widgets.Dropdown(options=[], description="et B", layout=widgets.Layout(width="20em"),
                                          style={"description_width": "initial"})
        self.compare_button = widgets.Button(description="Comparer", layout=widgets.Layout(width="auto"))
        self.compare_button.on_click(lambda _: self._guard(lambda: self.compare(self.compare_a.value, self.compare_b.value)))
        looks = self._looks  # shared layouts and styles (ditp_model.session.parts.SharedLooks)
        self.scenario_message = looks.html()
        self.scenario_hint = looks.html()
        self.compare_html = looks.html()
        box = looks.vbox([
            self._section("Scénarios (instantanés enregistrés)"),
            looks.hbox([self.scenario_name, self.save_button]),
            looks.hbox([self.scenario_choice, self.load_button, self.load_reference_button]), self.scenario_hint,
            looks.hbox([self.compare_a, self.compare_b, self.compare_button]),
            self.scenario_message, self.compare_html,
        ])
        self._refresh_scenario_list()
        return box

    # ----------------------------------------------------------------- reference and scenarios

    def _guard(self, action) -> None:
        """Run a button action; an error goes to the scenario message line (French), never swallowed silently."""
        try:
            action()
        except EXPECTED_ERRORS + (DecisionError, OSError) as exc:
            self.scenario_message.value = f'<div class="ditp-error-box">{_e(exc)}</div>'
        except Exception as exc:
            log.exception("erreur inattendue dans le panneau du comité")
            self.scenario_message.value = (f'<div class="ditp-error-box">erreur inattendue ({type(exc).__name__}) : {_e(exc)} '
                                           "— à signaler à l'équipe technique</div>")

    def set_reference_current(self) -> None:
        """Take the state on display as the reference."""
        self.reference = replace(self.current, name="état retenu en séance")
        self._charts.forget()
        self._render()
        self.scenario_message.value = f"Référence : « {_e(self.reference.name)} »."

    def _scenario_outcome(self, source) -> tuple[Outcome, list[str]]:
        """Outcome of a saved scenario (path or Scenario) on the panel's inputs, and French warnings."""
        sc = source if isinstance(source, Scenario) else load_scenario(source)
        return self.outcome_for(state_from_scenario(sc), sc.name), self._scenario_warnings(sc)

    def _conflicts_file(self) -> str | None:
        """The declarations of conflicts of interest of the session (path), None when none or a table without a file.

        :func:`ditp_model.session.due_process.attach_conflicts` and
        :func:`ditp_model.inputs.conflicts.load_inputs_with_conflicts` record it as the fourth input file.
        """
        files = list(self.inputs.files)
        return files[3] if len(files) > 3 and self.inputs.conflicts is not None else None

    def _scenario_warnings(self, sc: Scenario) -> list[str]:
        warnings = []
        mine = set(self.inputs.files.values())
        own = self._conflicts_file()
        data = {h for p, h in sc.sha256.items() if p != sc.conflicts}  # the declarations are told apart below
        if data and data != {h for p, h in self.inputs.files.items() if p != own}:
            warnings.append(f"le scénario « {sc.name} » a été enregistré sur d'autres données : il est recalculé sur celles de la séance")
        if sc.conflicts and sc.sha256.get(sc.conflicts) not in mine:
            warnings.append(f"le scénario « {sc.name} » a été enregistré avec les déclarations de conflits d'intérêts "
                            f"{Path(sc.conflicts).name} ; la séance " + ("en utilise d'autres" if own else "n'en a pas")
                            + " : les avis écartés ne sont pas les mêmes")
        elif not sc.conflicts and own:
            warnings.append(f"le scénario « {sc.name} » a été enregistré sans déclarations de conflits d'intérêts ; la séance "
                            f"utilise {Path(own).name}")
        if sc.normalisation != self._base.normalisation:
            warnings.append(f"le scénario « {sc.name} » utilise la normalisation {sc.normalisation} ; "
                            f"la séance utilise {self._base.normalisation}")
        return warnings

    def set_reference(self, source) -> None:
        """Take a saved scenario (path or :class:`Scenario`) as the reference state."""
        if source is None:
            raise ValueError("aucun scénario choisi")
        out, warnings = self._scenario_outcome(source)
        self.reference = out
        self._charts.forget()
        self._render()
        self.scenario_message.value = f"Référence : « {_e(out.name)} »." + "".join(f"<br>⚠ {_e(w)}" for w in warnings)

    def current_scenario(self, name: str) -> Scenario:
        """The state on display as a :class:`Scenario` (input hashes recorded, the declarations of conflicts of
        interest of the session included)."""
        s = self.current.state
        return Scenario.from_run(name, *self._paths, weights=s.weights, params=replace(s.params, check_alternatives=True),
                                 normalisation=self._base.normalisation, conflicts=self._conflicts_file())

    def save(self, name: str) -> Path:
        """Save the state on display as a named scenario in :attr:`scenario_dir` (``<slug>.json``).  Returns the path."""
        name = (name or "").strip()
        if not name or not scenario_slug(name):
            raise ValueError("donner un nom au scénario (lettres ou chiffres)")
        if self.current is None:
            raise ValueError("aucune décision à enregistrer")
        path = self.scenario_dir / f"{scenario_slug(name)}.json"
        existed = path.exists()
        save_scenario(self.current_scenario(name), path)
        self._refresh_scenario_list(select=str(path))
        note = ""
        if self.inputs.conflicts is not None and self._conflicts_file() is None:
            note = (" Les déclarations de conflits d'intérêts de la séance ne viennent pas d'un fichier : le scénario ne les "
                    "enregistre pas ; les redonner au rapport (--conflits FICHIER).")
        self.scenario_message.value = (f"Scénario « {_e(name)} » enregistré ({_e(path.name)}"
                                       f"{', remplace le fichier existant' if existed else ''}).{note}")
        return path

    def load(self, path) -> None:
        """Load a saved scenario into the controls (one re-solve)."""
        if path is None:
            raise ValueError("aucun scénario choisi")
        sc = load_scenario(path)
        warnings = self._scenario_warnings(sc)
        self.apply_state(state_from_scenario(sc))
        self.scenario_message.value = f"Scénario « {_e(sc.name)} » chargé." + "".join(f"<br>⚠ {_e(w)}" for w in warnings)

    def _named_outcome(self, key) -> Outcome:
        if key == "__current__":
            return replace(self.current, name="état affiché")
        if key == "__reference__":
            return self.reference
        return self._scenario_outcome(key)[0]

    def compare(self, a, b) -> pd.DataFrame:
        """Compare two scenarios (paths, or ``"__current__"`` / ``"__reference__"``); shows and returns the table."""
        if a is None or b is None:
            raise ValueError("choisir deux scénarios à comparer")
        oa, ob = self._named_outcome(a), self._named_outcome(b)
        cmp = compare_scenarios(oa, ob)
        fr = comparison_frame_fr(cmp, oa.name, ob.name)
        head = (f"<p><b>« {_e(oa.name)} »</b> : {_e(summary_fr(replace(oa, name='')))}<br>"
                f"<b>« {_e(ob.name)} »</b> : {_e(summary_fr(replace(ob, name='')))}</p>")
        diff = fr[cmp["change"] != "both"]
        both = fr[(cmp["change"] == "both") & (cmp["award_diff"] != 0)]
        body = (diff.to_html(index=False, classes="ditp-compare", border=0) if len(diff)
                else "<p>Les deux scénarios financent les mêmes dossiers.</p>")
        if len(both):
            body += "<p>Financés dans les deux, montant différent :</p>" + both.to_html(index=False, classes="ditp-compare", border=0)
        self.compare_html.value = head + body
        return cmp

    def _refresh_scenario_list(self, select: str | None = None) -> None:
        files = sorted(self.scenario_dir.glob("*.json")) if self.scenario_dir.is_dir() else []
        options = []
        for p in files:
            try:
                name = load_scenario(p).name or p.stem
            except (InputError, OSError):
                continue  # not a scenario file: not listed
            options.append((f"{name} ({p.name})", str(p)))
        self.scenario_choice.options = options
        for b in (self.load_button, self.load_reference_button):
            b.disabled = not options
        self.scenario_hint.value = ("" if options else
                                    f"<small>Aucun scénario enregistré pour l'instant (dossier {_e(self.scenario_dir.name)}/).</small>")
        if select is not None and select in [v for _, v in options]:
            self.scenario_choice.value = select
        special = [("État affiché", "__current__"), ("Référence", "__reference__")]
        a, b = self.compare_a.value, self.compare_b.value
        self.compare_a.options = special + options
        self.compare_b.options = special + options
        self.compare_a.value = a if a in [v for _, v in special + options] else "__reference__"
        self.compare_b.value = b if b in [v for _, v in special + options] else "__current__"
