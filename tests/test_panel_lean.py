"""The committee panel builds fewer widget models for the same page (issue 18, item 3), without a browser.

* The « Décision » tab shows its fragments inside a few HTML widgets (:mod:`ditp_model.session.parts`):
  the page says the same words in the same order as the panel's own view functions, computed here
  again from the outcome on display, and is updated when a control changes.
* The « Robustesse » tab is built when first opened (or one of its widgets asked for), and then shows
  what a run computes (values checked against ``weight_monte_carlo`` in ``tests/test_robustness_panel.py``).
* Layouts and styles that never change are shared; no model is left open outside the panel's tree.
"""

from __future__ import annotations

import html as _html
import re

import ipywidgets as widgets
import pytest
from ipywidgets.widgets import widget as _widget

from ditp_model.outputs.notebook import sample_inputs
from ditp_model.rules.allocation import GroupRule
from ditp_model.session import views
from ditp_model.session.parts import HTMLStyle, HtmlPart, HtmlParts, SharedLooks
from ditp_model.session.widgets import CommitteePanel

#: The « Décision » tab before the change (commit 980f92c), one widget each, in order: (section title, fragment).
DECISION_ORDER = [(None, "busy_html"), (None, "provisional_html"), (None, "used_html"), (None, "error_html"),
                  (None, "totals_html"), (None, "changes_html"), ("Lauréats", "table_html"),
                  ("Ligne de financement", "line_html"), ("Liste complémentaire (ordre d'appel)", "reserve_html"),
                  ("Dossiers non finançables (seuils de qualité)", "not_fundable_html"),
                  ("Dossiers en attente d'évaluation", "held_html"), ("Conflits d'intérêts déclarés", "conflicts_html"),
                  ("Verrous du comité et leurs motifs", "locks_html"),
                  ("Si l'on maximisait la somme des notes (comparaison, pas la décision)", "optimum_html")]


@pytest.fixture(scope="module")
def inputs():
    return sample_inputs()


def new_panel(inputs, tmp_path, **kw):
    return CommitteePanel(inputs, scenario_dir=tmp_path / "scenarios",
                          rule_options=[GroupRule("region", "Île-de-France", max_share=0.4)], **kw)


def tree(widget, seen=None) -> set:
    """Model ids of a widget, its layout, style and children, recursively (what the page builds for it)."""
    seen = set() if seen is None else seen
    if not isinstance(widget, _widget.Widget) or widget.model_id in seen:
        return seen
    seen.add(widget.model_id)
    for name in widget.keys:
        v = getattr(widget, name)
        for x in v if isinstance(v, (list, tuple)) else [v]:
            tree(x, seen)
    return seen


def text(fragment_html: str) -> str:
    return re.sub(r"\s+", " ", _html.unescape(re.sub(r"<[^>]+>", " ", fragment_html))).strip()


def test_decision_tab_says_the_same_in_the_same_order(inputs, tmp_path):
    panel = new_panel(inputs, tmp_path)
    out = panel.current
    # the fragments, computed again from the outcome on display by the view functions
    again = {"busy_html": "", "provisional_html": views.provisional_banner_html(out), "used_html": views.used_html(out),
             "error_html": "", "totals_html": views.totals_html(out),
             "changes_html": views.changes_html(out, None, panel.reference), "table_html": views.funded_table_html(out),
             "line_html": views.line_html(out), "reserve_html": views.reserve_html(out),
             "not_fundable_html": views.not_fundable_html(out), "held_html": views.held_html(out),
             "conflicts_html": views.conflicts_html(out.evaluation), "locks_html": views.lock_reasons_html(out),
             "optimum_html": views.optimum_html(out)}
    for name, value in again.items():
        assert getattr(panel, name).value == value, name
    assert "P047" in again["provisional_html"] and "ditp-funded" in again["table_html"]  # not empty: the sample's state
    # the page: every fragment once, in the former order, each in a <div> with its former classes
    decision = panel.tabs.children[0]
    page = "".join(w.value for w in decision.children if isinstance(w, widgets.HTML))
    expected = ""
    for title, name in DECISION_ORDER:
        if title is not None:
            expected += f" {title} "
        if name == "table_html":
            expected += " Rang : place du dossier dans le classement par note (un rang absent est un dossier non financé). "
        expected += f" {again[name]} "
    assert text(page) == text(expected)
    for name in again:
        part = getattr(panel, name)
        assert page.count(part.html()) == 1, name
    assert '<div class="ditp-part ditp-error"></div>' in page
    assert '<div class="ditp-part ditp-funded-box"><div class="ditp-table-wrap">' in page
    # the reference button sits where it was: after « ce qui a changé », before the funded table
    kids = list(decision.children)
    button = kids.index(panel.reference_button)
    assert panel.changes_html in kids[button - 1].parts and panel.table_html in kids[button + 1].parts


def test_a_change_updates_the_page(inputs, tmp_path):
    panel = new_panel(inputs, tmp_path, charts=False)
    head, funded = panel._decision_head, next(w for w in panel._decision_sections if panel.table_html in w.parts)
    sent = []
    for w in (head, funded):
        w.send_state = lambda key=None, w=w: sent.append((w, w.value))  # what would leave for the page
    assert panel.set_weights(openness=0.45)
    assert 'data-weights="impact=0.5,openness=0.45,collective=0.2"' in funded.value
    assert panel.used_html.value in head.value and "Ouverture 0,45" in _html.unescape(head.value)
    # the head: « calcul en cours… » at once (before the solve), cleared, then the new result's five fragments together
    heads = [v for w, v in sent if w is head]
    assert len(heads) == 3 and "calcul en cours" in heads[0] and "calcul en cours" not in heads[1]
    assert "Ouverture 0,30" in _html.unescape(heads[1]) and heads[2] == head.value
    assert [v for w, v in sent if w is funded] == [funded.value]
    sent.clear()
    panel.table_html.value = panel.table_html.value  # the same HTML: nothing leaves
    assert sent == []


def test_html_parts():
    a, b = HtmlPart("ditp-a"), HtmlPart()
    w = HtmlParts(["<p>titre</p>", a, b])
    assert w.value == '<p>titre</p><div class="ditp-part ditp-a"></div><div class="ditp-part"></div>'
    a.value = "<b>x</b>"
    assert w.value == '<p>titre</p><div class="ditp-part ditp-a"><b>x</b></div><div class="ditp-part"></div>'
    assert a.value == "<b>x</b>"
    with pytest.raises(ValueError, match="déjà affiché"):
        HtmlParts([a])
    w.close()


def test_shared_looks():
    looks = SharedLooks()
    assert looks.layout(width="13em") is looks.layout(width="13em") is not looks.layout(width="18em")
    assert looks.layout() is looks.layout() and looks.layout().width is None
    assert looks.style(widgets.SliderStyle) is looks.style(widgets.SliderStyle) is not looks.style(HTMLStyle)
    h1, h2 = looks.html("a", width="9em"), looks.html("b", classes=("ditp-x",), width="9em")
    assert h1.layout is h2.layout and h1.style is h2.style and h2._dom_classes == ("ditp-x",) and h1.value == "a"
    assert looks.hbox([h1]).layout is looks.vbox([h2]).layout is looks.layout()
    assert SharedLooks().layout() is not looks.layout()  # one set per panel


def test_the_robustness_tab_is_built_when_first_opened(inputs, tmp_path):
    panel = new_panel(inputs, tmp_path, charts=False)
    page = panel.tabs.children[1]
    assert not panel.robustness_tab_built and page.children == ()
    before = tree(panel)
    panel.tabs.selected_index = 1
    assert panel.robustness_tab_built and panel.tabs.children[1] is page and page.children
    assert panel.mc_button in page.children[2].children and panel.mc_draws.value == 200
    assert len(tree(panel)) > len(before) + 20  # its widgets exist now, and only now
    # asking for one of its widgets builds it too (code and tests use panel.mc_…)
    other = new_panel(inputs, tmp_path, charts=False)
    assert other.mc_seed.value == 2021 and other.robustness_tab_built
    with pytest.raises(AttributeError):
        other.not_a_widget  # noqa: B018


def test_no_model_outside_the_tree_and_far_fewer_models(inputs, tmp_path):
    before = set(_widget._instances)
    panel = new_panel(inputs, tmp_path)
    made = set(_widget._instances) - before
    shown = tree(panel)
    assert made == shown  # every model opened is one the page shows (no layout left behind)
    # 437 models before (commit 980f92c, same call); the tab not opened yet and shared looks
    assert len(shown) < 220, len(shown)
