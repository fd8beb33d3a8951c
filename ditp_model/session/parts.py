"""Fewer widgets for the same page: the committee panel's HTML parts shown inside one widget each.

Every ipywidgets widget is a model that the kernel opens, the server relays and the browser
builds (with its ``Layout`` and its style, three models for an ``HTML``) before the page
shows anything: the committee panel counted 437 of them, a second of the browser's time at
the page's opening (issue 18, item 3; ``benchmarks/RESULTS_panel.md``).  Here:

* :class:`HtmlPart` is one result fragment of the panel (the funded table, the funding
  line…): its ``value`` is read and written as an ``ipywidgets.HTML``'s, but it is not a
  widget; it is shown inside an :class:`HtmlParts` widget, in a ``<div class="ditp-part …">``
  carrying the fragment's classes (``ditp-funded-box``, ``ditp-error``…, the classes the browser tests
  and the benchmark read);
* :class:`HtmlParts` is one ``ipywidgets.HTML`` made of fixed HTML (a section title, a
  note) and parts; writing a part's value updates the widget (one message when the HTML
  changed, none otherwise; several parts written inside :meth:`HtmlParts.hold_sync` leave
  as one message);
* :class:`SharedLooks` gives the widgets of one panel whose layout and style never change
  one shared ``Layout`` per setting and one style per class, instead of one model each.

The page says the same words in the same order; what changes is the number of models (437 at
the sample's first display before, under 200 with the « Robustesse » tab built at its first
opening: ``tests/test_panel_lean.py``).
"""

from __future__ import annotations

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

__all__ = ["HtmlPart", "HtmlParts", "SharedLooks", "HTMLStyle"]


class HtmlPart:
    """A fragment of HTML shown inside an :class:`HtmlParts` widget, read and written through :attr:`value`.

    Parameters
    ----------
    css_class : str
        Classes of the ``<div>`` that holds the fragment in the page ("" for none).
    """

    __slots__ = ("_value", "_owner", "css_class")

    def __init__(self, css_class: str = ""):
        self._value = ""
        self._owner: HtmlParts | None = None
        self.css_class = css_class

    @property
    def value(self) -> str:
        """The fragment's HTML (as ``ipywidgets.HTML.value``)."""
        return self._value

    @value.setter
    def value(self, html: str) -> None:
        html = "" if html is None else str(html)
        if html != self._value:
            self._value = html
            if self._owner is not None:
                self._owner.refresh()

    def html(self) -> str:
        """The fragment in its ``<div>`` (classes ``ditp-part`` and :attr:`css_class`), as the page shows it.

        ``ditp-part`` (:data:`ditp_model.session.views.CSS`) spaces the fragments as the widgets
        that held them were (2 px above and below each).
        """
        return f'<div class="{" ".join(c for c in ("ditp-part", self.css_class) if c)}">{self._value}</div>'

    def __repr__(self) -> str:
        return f"HtmlPart({self.css_class!r}, {len(self._value)} caractères)"


class HtmlParts(widgets.HTML):
    """One ``ipywidgets.HTML`` showing, in order, fixed HTML strings and :class:`HtmlPart` fragments.

    Parameters
    ----------
    parts : sequence of str or HtmlPart
        Strings are shown as they are; each part in its ``<div>`` (:meth:`HtmlPart.html`).
    **kwargs
        As for ``ipywidgets.HTML`` (``layout``…).

    Raises
    ------
    ValueError
        A part already shown by another widget (a part has one place on the page).
    """

    def __init__(self, parts, **kwargs):
        super().__init__(**kwargs)
        self._parts = list(parts)
        for p in self._parts:
            if isinstance(p, HtmlPart):
                if p._owner is not None:
                    raise ValueError("fragment déjà affiché par un autre widget")
                p._owner = self
        self.refresh()

    @property
    def parts(self) -> list:
        """The fixed strings and the fragments, in the order shown."""
        return list(self._parts)

    def refresh(self) -> None:
        """Show the parts' current values (sent to the page only when the HTML changed)."""
        self.value = "".join(p.html() if isinstance(p, HtmlPart) else p for p in self._parts)


class SharedLooks:
    """Layout and style models shared by the widgets of one panel that never change them.

    Every ipywidgets widget has a ``Layout`` and (most) a style, each a model of its own even
    when it holds nothing: in the committee panel they were half of the models the page built.
    Widgets built through :meth:`html`, :meth:`hbox` and :meth:`vbox`, or given
    :meth:`layout` / :meth:`style`, share one model per distinct setting instead.

    A shared layout or style must never be changed afterwards (it would change every widget
    that shares it): a widget whose layout changes at run time (shown, hidden…) gets its own
    ``widgets.Layout``.
    """

    def __init__(self):
        self._layouts: dict[tuple, widgets.Layout] = {}
        self._styles: dict[tuple, widgets.Widget] = {}

    def layout(self, **settings) -> widgets.Layout:
        """The shared ``Layout`` with these settings (``width="13em"``…; none: the empty layout)."""
        key = tuple(sorted(settings.items()))
        if key not in self._layouts:
            self._layouts[key] = widgets.Layout(**settings)
        return self._layouts[key]

    def style(self, kind: type, **settings):
        """The shared style of class `kind` (``HTMLStyle``, ``widgets.SliderStyle``…) with these settings."""
        key = (kind, *sorted(settings.items()))
        if key not in self._styles:
            self._styles[key] = kind(**settings)
        return self._styles[key]

    def html(self, value: str = "", *, classes: tuple[str, ...] = (), **layout) -> widgets.HTML:
        """An ``HTML`` widget with the shared layout of these settings and the shared ``HTMLStyle``."""
        w = widgets.HTML(value, layout=self.layout(**layout), style=self.style(HTMLStyle))
        for c in classes:
            w.add_class(c)
        return w

    def hbox(self, children, **layout) -> widgets.HBox:
        """An ``HBox`` of `children` with the shared layout of these settings."""
        return widgets.HBox(children, layout=self.layout(**layout))

    def vbox(self, children=(), **layout) -> widgets.VBox:
        """A ``VBox`` of `children` with the shared layout of these settings."""
        return widgets.VBox(list(children), layout=self.layout(**layout))
