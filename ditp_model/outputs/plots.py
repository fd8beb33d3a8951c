"""Figures of a funding decision for the committee (matplotlib, object API only).

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``:
no global state, no GUI backend, safe in a kernel, a Voilà page, a test or a
server) and returns it; :func:`figure_png` and :func:`figure_svg` render one.

The input of every figure is a *portfolio* table, one row per candidate
(eligible, scored application), as built by
:func:`ditp_model.session.widgets.portfolio_table`:

============== ======================================================
column          meaning
============== ======================================================
application_id  str
score           composite score, 0–100 points
funded          bool
award_eur       int, whole euros (0 when not funded)
region          str
lead_org_type   code (``ministry``...), see ``schema.ORG_TYPE_LABELS_FR``
maturity        code (``scoping``...), see ``schema.MATURITY_LABELS_FR``
lock            ``"in"``, ``"out"`` or ``""`` (optional column)
fundable        bool, False below a quality threshold (optional column)
============== ======================================================

Labels are French (what a committee member reads); amounts are shown in
thousands of euros with a French number format.
"""

from __future__ import annotations

import io
import types
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ditp_model.french import format_number, format_points
from ditp_model.inputs.schema import MATURITY_LABELS_FR, MATURITY_LEVELS

if TYPE_CHECKING:  # matplotlib is imported at the first figure: see _mpl
    from matplotlib.figure import Figure

__all__ = [
    "GROUP_TITLES_FR",
    "ORG_TYPE_SHORT_FR",
    "awards_by_group",
    "GroupAwardsChart",
    "ScoreLineChart",
    "awards_by_group_figure",
    "awards_by_region_figure",
    "awards_by_org_type_figure",
    "awards_by_maturity_figure",
    "score_line_figure",
    "funding_line_score",
    "CLASS_COLOURS",
    "probability_classes",
    "funding_probability_figure",
    "expected_rank_figure",
    "ZONE_COLOURS",
    "stability_intervals_figure",
    "figure_png",
    "figure_svg",
]

#: Chart titles per grouping column.
GROUP_TITLES_FR = {
    "region": "Montants attribués par région",
    "lead_org_type": "Montants attribués par type de porteur",
    "maturity": "Montants attribués par maturité",
    "priority_reform": "Montants attribués par réforme prioritaire",
}

#: Short French labels of the kinds of lead organisation, for chart axes.
ORG_TYPE_SHORT_FR = {
    "ministry": "Administration centrale",
    "state_operator": "Opérateur de l'État",
    "deconcentrated_service": "Adm. territoriale de l'État",
    "local_authority": "Collectivité territoriale",
    "private_company": "Entreprise privée",
    "association": "Association",
}

FUNDED_COLOUR = "#2a7f62"      # green: funded
UNFUNDED_COLOUR = "#c9ced6"    # light grey: not funded
NOT_FUNDABLE_COLOUR = "#eef0f3"  # paler grey: below a quality threshold (« non finançable »)
REFERENCE_COLOUR = "#1f2933"   # near black: reference state marker
LINE_COLOUR = "#c0392b"        # red: funding line


def _label(column: str, value: str) -> str:
    if column == "lead_org_type":
        return ORG_TYPE_SHORT_FR.get(value, value)
    if column == "maturity":
        return MATURITY_LABELS_FR.get(value, value).capitalize()
    return value or "(non renseigné)"


def _keur(amount: float) -> str:
    """``360000`` -> ``"360 k€"`` (French grouping)."""
    return f"{format_number(amount / 1000, 0)}\u00a0k€"


def awards_by_group(portfolio: pd.DataFrame, column: str, order: list[str] | None = None) -> pd.DataFrame:
    """Funded count and total award per group.

    Parameters
    ----------
    portfolio : pandas.DataFrame
        See the module docstring.
    column : str
        Grouping column (``region``, ``lead_org_type``, ``maturity``, ``priority_reform``).
    order : list of str, optional
        Groups to show, in this order (missing ones get zeros).  Default: every
        group present among the candidates; maturity in its natural order, the
        others by decreasing award then name.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (code), ``label`` (French), ``n_candidates``,
        ``n_funded`` and ``award_eur`` (int).
    """
    g = portfolio.groupby(column, sort=False)
    n_cand = g.size()
    funded = portfolio[portfolio["funded"]]
    n_funded = funded.groupby(column, sort=False).size()
    award = funded.groupby(column, sort=False)["award_eur"].sum()
    if order is None:
        groups = list(n_cand.index)
        if column == "maturity":
            groups = [m for m in MATURITY_LEVELS if m in set(groups)] + sorted(set(groups) - set(MATURITY_LEVELS))
        else:
            groups = sorted(groups, key=lambda v: (-int(award.get(v, 0)), str(v)))
    else:
        groups = list(order)
    return pd.DataFrame({
        "group": groups,
        "label": [_label(column, v) for v in groups],
        "n_candidates": [int(n_cand.get(v, 0)) for v in groups],
        "n_funded": [int(n_funded.get(v, 0)) for v in groups],
        "award_eur": pd.array([int(award.get(v, 0)) for v in groups], dtype="int64"),
    })


def _mpl() -> types.SimpleNamespace:
    """The parts of matplotlib these figures use, imported at the first call.

    Importing matplotlib takes about 0.4 s; the committee's panel imports this module for its
    colours and tables (:func:`awards_by_group`) and draws its live charts in SVG without
    matplotlib (:mod:`ditp_model.session.views`), so the page is shown without paying for it.
    """
    import matplotlib
    import matplotlib.ticker
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return types.SimpleNamespace(matplotlib=matplotlib, ticker=matplotlib.ticker, FigureCanvasAgg=FigureCanvasAgg,
                                 PolyCollection=PolyCollection, Figure=Figure, Line2D=Line2D, Patch=Patch)


def _new_figure(width: float, height: float, dpi: int = 96) -> Figure:
    mpl = _mpl()
    fig = mpl.Figure(figsize=(width, height), dpi=dpi)
    mpl.FigureCanvasAgg(fig)
    return fig


def _plain_axes(ax) -> None:
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


class GroupAwardsChart:
    """Awards per group as horizontal bars, built once and updated in place.

    The groups and their order are fixed when the chart is made, so that in a
    live panel the bars do not jump from one row to another; :meth:`update`
    changes the bars, the "count · amount" notes beside them and the reference
    marks, and returns the same figure.  Redrawing an existing figure is
    several times faster than building a new one (no new axes, ticks or texts).

    Parameters
    ----------
    column : str
        Grouping column.
    groups : list of str
        Groups shown (codes), top to bottom.
    with_reference : bool
        Draw a black mark per group at the reference state's award.
    reference_label : str
        Legend text of that mark.
    title : str, optional
        Default: :data:`GROUP_TITLES_FR`.
    width : float
        Inches.
    """

    def __init__(self, column: str, groups, *, with_reference: bool = False, reference_label: str = "référence",
                 title: str | None = None, width: float = 6.0):
        self.column = column
        self.groups = list(groups)
        self.with_reference = with_reference
        n = len(self.groups)
        labels = [_label(column, g) for g in self.groups]
        extra = 0.25 if with_reference else 0.0
        height = 1.0 + 0.26 * max(n, 2) + extra
        mpl = _mpl()
        fig = _new_figure(width, height)
        # fixed margins (tight_layout would cost a full extra draw): room for the longest label
        longest = max((len(x) for x in labels), default=8)
        left = min(0.5, (0.2 + longest * 8 * 0.62 / 72) / width)
        fig.subplots_adjust(left=left, right=0.97, top=1 - 0.34 / height, bottom=(0.45 + extra) / height)
        ax = fig.add_subplot()
        y = np.arange(n)
        self._bars = list(ax.barh(y, np.zeros(n), height=0.65, color=FUNDED_COLOUR))
        self._notes = [ax.text(0.0, k, "", va="center", fontsize=8, color="#333") for k in range(n)]
        (self._ref,) = ax.plot(np.zeros(n), y, linestyle="none", marker="|", markersize=16, markeredgewidth=2.5,
                               color=REFERENCE_COLOUR, visible=with_reference)
        ax.set_yticks(y, labels)
        ax.set_ylim(n - 0.5, -0.5)  # first group on top
        ax.set_xlabel("montant attribué (k€) ; au bout de chaque barre : lauréats · montant", fontsize=8)
        ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: format_number(v, 0)))
        _plain_axes(ax)
        # an explicit title height: matplotlib then skips measuring every tick label at each draw to place it
        ax.set_title(title or GROUP_TITLES_FR.get(column, column), fontsize=10, loc="left", y=1.0, pad=6)
        self._legend = None
        if with_reference:
            self._legend = fig.legend(
                handles=[mpl.Patch(color=FUNDED_COLOUR, label="état affiché"),
                         mpl.Line2D([], [], linestyle="none", marker="|", markersize=10, markeredgewidth=2.5,
                                color=REFERENCE_COLOUR, label=reference_label)],
                fontsize=7, loc="lower right", frameon=False, ncols=2, borderaxespad=0.1)
        self.figure, self.ax = fig, ax

    def update(self, portfolio: pd.DataFrame, reference: pd.DataFrame | None = None,
               reference_label: str | None = None) -> Figure:
        """Show `portfolio` (and the `reference` marks); returns the figure."""
        data = awards_by_group(portfolio, self.column, self.groups)
        keur = data["award_eur"].to_numpy() / 1000
        top = float(keur.max()) if len(keur) else 0.0
        ends = keur  # where each note starts: after the bar, and after the reference mark when there is one
        if self.with_reference:
            if reference is not None:
                rk = awards_by_group(reference, self.column, self.groups)["award_eur"].to_numpy() / 1000
                self._ref.set_xdata(rk)
                top = max(top, float(rk.max()) if len(rk) else 0.0)
                ends = np.maximum(keur, rk)
            self._ref.set_visible(reference is not None)
            if reference_label is not None:
                self._legend.get_texts()[1].set_text(reference_label)
        for bar, v in zip(self._bars, keur):
            bar.set_width(v)
        for text, v, end, cnt in zip(self._notes, keur, ends, data["n_funded"]):
            text.set_x(end + top * 0.02)
            text.set_text(f"{cnt} · {_keur(v * 1000)}" if cnt else "0")
        self.ax.set_xlim(0, top * 1.32 if top > 0 else 1)
        return self.figure


def awards_by_group_figure(portfolio: pd.DataFrame, column: str, *, reference: pd.DataFrame | None = None,
                           reference_label: str = "référence", title: str | None = None,
                           order: list[str] | None = None, width: float = 6.0) -> Figure:
    """Horizontal bars: total award per group, with the number of awards written beside each bar.

    Parameters
    ----------
    portfolio : pandas.DataFrame
        See the module docstring.
    column : str
        Grouping column.
    reference : pandas.DataFrame, optional
        Another portfolio (e.g. the committee's reference state) drawn as a
        black mark on each bar, so that the shift is visible.
    reference_label : str
        Legend text of the reference mark.
    title : str, optional
        Default: :data:`GROUP_TITLES_FR`.
    order : list of str, optional
        See :func:`awards_by_group`.  With a reference, the groups of both are shown.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if order is None:
        both = portfolio if reference is None else pd.concat([portfolio, reference], ignore_index=True)
        order = list(awards_by_group(both, column)["group"]) if reference is not None else None
        order = order or list(awards_by_group(portfolio, column)["group"])
    chart = GroupAwardsChart(column, order, with_reference=reference is not None, reference_label=reference_label,
                             title=title, width=width)
    return chart.update(portfolio, reference)


def awards_by_region_figure(portfolio: pd.DataFrame, **kwargs) -> Figure:
    """Awards by region (see :func:`awards_by_group_figure`)."""
    return awards_by_group_figure(portfolio, "region", **kwargs)


def awards_by_org_type_figure(portfolio: pd.DataFrame, **kwargs) -> Figure:
    """Awards by kind of lead organisation (see :func:`awards_by_group_figure`)."""
    return awards_by_group_figure(portfolio, "lead_org_type", **kwargs)


def awards_by_maturity_figure(portfolio: pd.DataFrame, **kwargs) -> Figure:
    """Awards by maturity, in the natural order scoping → deployment (see :func:`awards_by_group_figure`)."""
    return awards_by_group_figure(portfolio, "maturity", **kwargs)


def funding_line_score(portfolio: pd.DataFrame) -> float | None:
    """Score of the lowest-scored funded candidate (the funding line), None when nobody is funded."""
    funded = portfolio.loc[portfolio["funded"], "score"]
    return float(funded.min()) if len(funded) else None


class ScoreLineChart:
    """Score of every candidate, best first, funded ones in green, with the funding line; updated in place.

    The funding line is drawn at the score of the lowest-scored funded
    candidate.  A fundable candidate above the line can still be left out:
    under the merit order when its request is larger than what was left when
    its turn came, or it is ex aequo with the laureates below it; under an
    optimisation objective (shown for comparison) whenever leaving it out
    raises the objective; or because of a committee rule.  Such candidates are
    counted in the note at the top right.  Candidates below a quality
    threshold (column ``fundable`` false) are drawn in a paler grey and
    counted apart: they are not fundable, whatever their score.
    """

    def __init__(self, *, title: str | None = None, width: float = 12.0):
        height = 3.4
        mpl = _mpl()
        fig = _new_figure(width, height)
        fig.subplots_adjust(left=0.6 / width, right=0.99, top=1 - 0.32 / height, bottom=0.5 / height)
        ax = fig.add_subplot()
        self._bars = mpl.PolyCollection([], edgecolors="none")
        ax.add_collection(self._bars, autolim=False)
        self._line = ax.axhline(0.0, color=LINE_COLOUR, linestyle="--", linewidth=1.2)
        (self._in,) = ax.plot([], [], linestyle="none", marker="v", color=REFERENCE_COLOUR, markersize=5)
        (self._out,) = ax.plot([], [], linestyle="none", marker="x", color=REFERENCE_COLOUR, markersize=5)
        ax.set_xlabel("dossiers classés par note décroissante (rang)", fontsize=8)
        ax.set_ylabel("note (points sur 100)", fontsize=8)
        _plain_axes(ax)
        ax.set_title(title or "Note de chaque dossier et ligne de financement", fontsize=10, loc="left", y=1.0, pad=6)
        self._note = ax.text(1.0, 1.02, "", transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="#333")
        self._legend = None
        self._legend_key = None
        self.figure, self.ax = fig, ax

    def update(self, portfolio: pd.DataFrame) -> Figure:
        """Show `portfolio`; returns the figure."""
        mpl = _mpl()
        t = portfolio.sort_values(["score", "application_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
        n = len(t)
        x = np.arange(1, n + 1)
        funded = t["funded"].to_numpy(dtype=bool)
        fundable = t["fundable"].to_numpy(dtype=bool) if "fundable" in t.columns else np.ones(n, dtype=bool)
        scores = t["score"].to_numpy(dtype=float)
        # one collection of rectangles rather than one patch per bar: several times faster to build and draw
        self._bars.set_verts([[(k - 0.4, 0.0), (k - 0.4, s), (k + 0.4, s), (k + 0.4, 0.0)] for k, s in zip(x, scores)])
        self._bars.set_facecolor(np.where(funded, FUNDED_COLOUR, np.where(fundable, UNFUNDED_COLOUR, NOT_FUNDABLE_COLOUR)))
        line = funding_line_score(t)
        self._line.set_visible(line is not None)
        if line is not None:
            self._line.set_ydata([line, line])
        lock = t["lock"].to_numpy() if "lock" in t.columns else np.array([""] * n)
        for artist, code in ((self._in, "in"), (self._out, "out")):
            sel = lock == code
            artist.set_data(x[sel], scores[sel] + 1.5)
        below = ~funded & ~fundable
        key = (line is not None, bool((lock == "in").any()), bool((lock == "out").any()), bool(below.any()))
        labels = [f"financé ({int(funded.sum())})", f"non financé ({int((~funded & ~below).sum())})"]
        handles = [mpl.Patch(color=FUNDED_COLOUR), mpl.Patch(color=UNFUNDED_COLOUR)]
        if key[3]:
            labels.append(f"non finançable : sous un seuil de qualité ({int(below.sum())})")
            handles.append(mpl.Patch(facecolor=NOT_FUNDABLE_COLOUR, edgecolor="#8a94a1"))
        if key[0]:
            labels.append(f"ligne de financement : {format_points(line)} points (dernier financé)")
            handles.append(mpl.Line2D([], [], color=LINE_COLOUR, linestyle="--"))
        for present, mark, label in ((key[1], "v", "imposé par le comité"), (key[2], "x", "exclu par le comité")):
            if present:
                labels.append(label)
                handles.append(mpl.Line2D([], [], linestyle="none", marker=mark, color=REFERENCE_COLOUR))
        if key != self._legend_key:  # entries appear or go: a new legend; otherwise only its texts change
            if self._legend is not None:
                self._legend.remove()
            self._legend = self.ax.legend(handles=handles, labels=labels, fontsize=7, loc="upper right", frameon=False)
            self._legend_key = key
        else:
            for text, label in zip(self._legend.get_texts(), labels):
                text.set_text(label)
        above = int(((scores >= line) & ~funded & fundable).sum()) if line is not None else 0
        self._note.set_text(f"{above} dossier(s) finançable(s) au-dessus de la ligne non financé(s) : demande plus élevée "
                            "que le reste de l'enveloppe à son tour, ex aequo, ou règle" if above else "")
        lo = float(scores.min()) if n else 0.0
        hi = float(scores.max()) if n else 100.0
        self.ax.set_ylim(max(0.0, lo - 5), min(100.0, hi + 6))
        self.ax.set_xlim(0.3, n + 0.7)
        return self.figure


def score_line_figure(portfolio: pd.DataFrame, *, title: str | None = None, width: float = 12.0) -> Figure:
    """Score of every candidate, best first, funded ones in green, with the funding line (see :class:`ScoreLineChart`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    return ScoreLineChart(title=title, width=width).update(portfolio)


# --------------------------------------------------------------------------- uncertainty: probability of funding

#: Colour of each class of :data:`ditp_model.uncertainty.robustness.ROBUSTNESS_CLASSES_FR`.
CLASS_COLOURS = {"always": FUNDED_COLOUR, "swing": "#e08a1e", "never": "#8a94a1"}
GREY_ZONE_COLOUR = "#e6e9ee"   # band of uncertain probabilities


def probability_classes(p, grey_zone: tuple[float, float] | None = None) -> np.ndarray:
    """Class code of each probability: ``always`` / ``swing`` / ``never``.

    Without `grey_zone`: 1 is ``always``, 0 is ``never``, anything between is
    ``swing`` (the classes of :func:`ditp_model.uncertainty.robustness.weight_monte_carlo`).
    With ``grey_zone=(lo, hi)``: at least `hi` is ``always``, at most `lo` is
    ``never`` (e.g. the grey zone of a posterior probability).
    """
    p = np.asarray(p, dtype=float)
    lo, hi = (0.0, 1.0) if grey_zone is None else grey_zone
    return np.where(p >= hi, "always", np.where(p <= lo, "never", "swing"))


def _percent(p: float) -> str:
    """``0.375`` -> ``"37,5 %"``; whole percents without decimals."""
    v = 100 * float(p)
    return f"{format_number(v, 0 if abs(v - round(v)) < 1e-9 else 1)}\u00a0%"


def funding_probability_figure(table: pd.DataFrame, *, probability: str = "p_funded", score: str = "score",
                               funded: str = "funded_at_weights", classes: str | None = "robustness",
                               class_labels: dict | None = None, grey_zone: tuple[float, float] | None = None,
                               title: str | None = None, xlabel: str = "Probabilité d'être financé",
                               width: float = 7.5) -> Figure:
    """Probability of being funded of every candidate, as horizontal bars, best score on top, with the funding line.

    One bar per candidate (rows of `table` whose ``candidate`` column is true
    when there is one, and whose score is known), sorted by decreasing score at
    the committee's weights (ties: funded first, then id); the bar's length is
    its probability of being funded, its colour its class (:data:`CLASS_COLOURS`).
    The red dashed line separates the lowest-scored candidate funded at the
    committee's weights from the row below it (the funding line of
    :func:`funding_line_score`); the ids of candidates funded at those weights
    are in bold, each followed by its score.  The probability is written beside
    every bar of the middle class.  The figure grows with the number of
    candidates (about 0.15 inch per row), so that every id stays legible.

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`ditp_model.uncertainty.robustness.WeightMonteCarlo.table`, or any table with
        ``application_id`` and the columns named below (e.g. a posterior
        probability of funding).
    probability, score, funded : str
        Columns: probability (0–1), composite score (points), funded at the
        committee's weights (bool).
    classes : str or None
        Column of class codes (``always`` / ``swing`` / ``never``); when None or
        absent, classes come from the probability (:func:`probability_classes`).
    class_labels : dict, optional
        Code -> legend text; default :data:`ditp_model.uncertainty.robustness.ROBUSTNESS_CLASSES_FR`.
    grey_zone : (float, float), optional
        A band of probabilities shaded in grey, e.g. ``(0.1, 0.9)``; it also
        sets the classes when they come from the probability.
    title : str, optional
    xlabel : str
    width : float
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; its first bar container holds one bar per candidate, top to
        bottom; the funding line has the gid ``funding-line``, the grey zone
        ``grey-zone``.
    """
    from ditp_model.uncertainty.robustness import ROBUSTNESS_CLASSES_FR

    if grey_zone is not None:
        lo, hi = (float(v) for v in grey_zone)
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"zone grise {grey_zone!r} : deux probabilités 0 ≤ bas < haut ≤ 1 attendues")
    labels_fr = dict(ROBUSTNESS_CLASSES_FR if class_labels is None else class_labels)
    t = table
    if "candidate" in t.columns:
        t = t[t["candidate"].astype(bool)]
    t = t[t[score].notna()]
    t = (t.assign(_f=t[funded].astype(bool)).sort_values([score, "_f", "application_id"], ascending=[False, False, True],
                                                         kind="mergesort").reset_index(drop=True))
    n = len(t)
    p = t[probability].to_numpy(dtype=float)
    is_funded = t["_f"].to_numpy(dtype=bool)
    codes = (t[classes].astype(str).to_numpy() if classes is not None and classes in t.columns
             else probability_classes(p, grey_zone))
    row = 0.15
    head, foot = 1.15, 0.6  # inches: title, note and legends; x axis and its label
    height = head + foot + row * max(n, 4)
    mpl = _mpl()
    fig = _new_figure(width, height)
    fig.subplots_adjust(left=1.15 / width, right=1 - 0.55 / width, top=1 - head / height, bottom=foot / height)
    ax = fig.add_subplot()
    y = np.arange(n)
    ax.barh(y, p, height=0.72, color=[CLASS_COLOURS.get(c, UNFUNDED_COLOUR) for c in codes], zorder=2)
    if grey_zone is not None:
        ax.axvspan(lo, hi, color=GREY_ZONE_COLOUR, zorder=0, gid="grey-zone", lw=0)
    for k in np.flatnonzero(codes == "swing"):  # inside a long bar, after a short one
        inside = p[k] > 0.85
        ax.text(p[k] - 0.012 if inside else p[k] + 0.012, k, _percent(p[k]), va="center", ha="right" if inside else "left",
                fontsize=6.5, color="white" if inside else "#333", zorder=3)
    ax.set_yticks(y, [f"{a} ({format_points(s)})" for a, s in zip(t["application_id"], t[score])])
    for tick, f in zip(ax.get_yticklabels(), is_funded):
        tick.set_fontweight("bold" if f else "normal")
        tick.set_color("#1f2933" if f else "#5f6b7a")
    ax.tick_params(axis="y", labelsize=7, length=0)
    ax.set_ylim(n - 0.5, -0.5)  # best score on top
    ax.set_xlim(0, 1)
    ax.set_xticks(np.linspace(0, 1, 11))
    ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: _percent(v)))
    ax.tick_params(axis="x", labelsize=8, top=True, labeltop=True)
    ax.grid(axis="x", color="#d5d9e0", linewidth=0.6, zorder=1)
    ax.set_axisbelow(True)
    ax.set_xlabel(xlabel, fontsize=8)
    _plain_axes(ax)
    handles = [mpl.Patch(color=CLASS_COLOURS[c], label=f"{labels_fr.get(c, c)} ({int((codes == c).sum())})")
               for c in ("always", "swing", "never")]
    marks = []
    if is_funded.any():
        last = int(np.flatnonzero(is_funded).max())
        ax.axhline(last + 0.5, color=LINE_COLOUR, linestyle="--", linewidth=1.2, zorder=4, gid="funding-line")
        line = float(t[score].iloc[last])
        marks.append(mpl.Line2D([], [], color=LINE_COLOUR, linestyle="--",
                            label=f"ligne de financement : {format_points(line)} points (dernier financé)"))
    if grey_zone is not None:
        marks.append(mpl.Patch(color=GREY_ZONE_COLOUR, label=f"zone grise : {_percent(lo)} à {_percent(hi)}"))
    x0 = 0.2 / width
    fig.suptitle(title or f"Probabilité d'être financé de chaque dossier ({n} dossiers finançables)", fontsize=10,
                 x=x0, y=1 - 0.08 / height, ha="left", va="top")
    fig.text(x0, 1 - 0.34 / height, "Dossiers par note décroissante (note entre parenthèses) ; "
             "en gras : financés aux pondérations du comité.", fontsize=7.5, color="#333", ha="left", va="top")
    fig.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(x0, 1 - 0.5 / height), frameon=False,
               ncols=3, borderaxespad=0, borderpad=0)
    if marks:
        fig.legend(handles=marks, fontsize=7, loc="upper left", bbox_to_anchor=(x0, 1 - 0.68 / height), frameon=False,
                   ncols=2, borderaxespad=0, borderpad=0)
    return fig


def stability_intervals_figure(table: pd.DataFrame, *, labels: dict | None = None, title: str | None = None,
                               width: float = 7.5) -> Figure:
    """For each criterion, the range of its weight over which the funded set stays the same, as a bar on [0, 1].

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`ditp_model.uncertainty.robustness.stability_intervals`: ``criterion``,
        ``weight``, ``low``, ``high``, and optionally ``below_enters``,
        ``below_leaves``, ``above_enters``, ``above_leaves`` (tuples of ids),
        written under each bar.
    labels : dict, optional
        Criterion -> French label (e.g. ``{c.name: c.label for c in rules.criteria}``); default: the
        table's ``attrs["criterion_labels"]`` (set by ``stability_intervals``: the call's labels).
    title : str, optional
    width : float
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; its first bar container holds one bar per criterion (top to
        bottom, table order) from ``low`` to ``high``; the committee's weights
        are the line with gid ``committee-weights``.
    """
    labels = labels or table.attrs.get("criterion_labels", {})
    n = len(table)
    per = 1.0
    height = 1.0 + per * max(n, 1)
    mpl = _mpl()
    fig = _new_figure(width, height)
    low = table["low"].to_numpy(dtype=float)
    high = table["high"].to_numpy(dtype=float)
    weight = table["weight"].to_numpy(dtype=float)
    names = [f"{labels.get(c, c)}\n(comité : {format_number(w, 2)})" for c, w in zip(table["criterion"], weight)]
    longest = max((len(x) for name in names for x in name.split("\n")), default=8)
    left = min(0.4, (0.25 + longest * 8 * 0.62 / 72) / width)
    fig.subplots_adjust(left=left, right=1 - 0.3 / width, top=1 - 0.5 / height, bottom=0.5 / height)
    ax = fig.add_subplot()
    y = np.arange(n)
    ax.barh(y, high - low, left=low, height=0.34, color=FUNDED_COLOUR, alpha=0.85, zorder=2)
    ax.plot(weight, y, linestyle="none", marker="|", markersize=18, markeredgewidth=2.5, color=REFERENCE_COLOUR,
            zorder=3, gid="committee-weights")
    for k in range(n):
        ax.text(low[k] - 0.006, k - 0.2, format_number(low[k], 2), ha="right", va="bottom", fontsize=7, color="#333")
        ax.text(high[k] + 0.006, k - 0.2, format_number(high[k], 2), ha="left", va="bottom", fontsize=7, color="#333")
        notes = []
        row = table.iloc[k]
        for side, where, at in (("below", "en dessous de", low[k]), ("above", "au-dessus de", high[k])):
            enters, leaves = tuple(row.get(f"{side}_enters", ()) or ()), tuple(row.get(f"{side}_leaves", ()) or ())
            what = []
            if enters:
                what.append(("entrent " if len(enters) > 1 else "entre ") + ", ".join(enters))
            if leaves:
                what.append(("sortent " if len(leaves) > 1 else "sort ") + ", ".join(leaves))
            if what:
                notes.append(f"{where} {format_number(at, 2)} : {' ; '.join(what)}")
        if notes:
            ax.text(0.005, k + 0.24, "\n".join(notes), ha="left", va="top", fontsize=6.5, color="#5f6b7a", linespacing=1.3,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85})
    ax.set_yticks(y, names)
    ax.tick_params(axis="y", labelsize=8, length=0)
    ax.set_ylim(n - 0.3, -0.55)
    ax.set_xlim(0, 1)
    ax.set_xticks(np.linspace(0, 1, 11))
    ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: format_number(v, 1)))
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#d5d9e0", linewidth=0.6, zorder=1)
    ax.set_axisbelow(True)
    ax.set_xlabel("pondération normalisée du critère (les autres critères gardent leurs proportions)", fontsize=8)
    _plain_axes(ax)
    fig.legend(handles=[mpl.Patch(color=FUNDED_COLOUR, alpha=0.85, label="mêmes lauréats sur l'intervalle"),
                        mpl.Line2D([], [], linestyle="none", marker="|", markersize=10, markeredgewidth=2.5,
                               color=REFERENCE_COLOUR, label="pondération du comité")],
               fontsize=7, loc="upper right", bbox_to_anchor=(1 - 0.1 / width, 1 - 0.06 / height), frameon=False, ncols=2)
    fig.suptitle(title or "Intervalles de stabilité des pondérations", fontsize=10, x=0.2 / width, y=1 - 0.08 / height,
                 ha="left", va="top")
    return fig


#: Colours of the zones / SNSF groups of :mod:`ditp_model.uncertainty.grey_zone` and :mod:`ditp_model.scoring.review_model`.
ZONE_COLOURS = {"funded": CLASS_COLOURS["always"], "accepted": CLASS_COLOURS["always"],
                "grey": CLASS_COLOURS["swing"], "lottery": CLASS_COLOURS["swing"],
                "not_funded": CLASS_COLOURS["never"], "rejected": CLASS_COLOURS["never"]}


def expected_rank_figure(table: pd.DataFrame, *, group: str | None = "zone", group_labels: dict | None = None,
                         funding_line: float | None = None, id_column: str | None = None, title: str | None = None,
                         width: float = 7.5) -> Figure:
    """Expected rank of every application with its 50 % and 90 % credible intervals (SNSF style).

    One row per application, best expected rank on top: a thin line for the
    90 % interval ``[rank_q05, rank_q95]``, a thick one for the 50 % interval
    ``[rank_q25, rank_q75]``, a dot at the expected rank; colours by `group`
    (zone of :func:`ditp_model.uncertainty.grey_zone.posterior_funding` or SNSF group of
    :func:`ditp_model.scoring.review_model.snsf_groups`, :data:`ZONE_COLOURS`); an
    optional vertical funding line at an expected rank.  Layout of the SNSF
    paper's figures (Heyard et al. 2022, Fig. 2), rank 1 on the left.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``er``, ``rank_q05``, ``rank_q25``, ``rank_q75``, ``rank_q95``
        and an id column (``application_id`` or ``proposal``).
    group : str or None
        Column of group codes (``funded``/``grey``/``not_funded`` or
        ``accepted``/``lottery``/``rejected``); None: one colour.
    group_labels : dict, optional
        Code -> legend text.
    funding_line : float, optional
        Expected rank of the funding line (vertical dashed red line).
    id_column : str, optional
        Default ``application_id`` when present, else ``proposal``.
    title : str, optional
    width : float
        Inches; the height grows with the number of rows (0.15 inch each).

    Returns
    -------
    matplotlib.figure.Figure
        One axes; the 90 % lines are the first ``LineCollection`` (gid
        ``interval-90``), the 50 % ones the second (``interval-50``), the
        dots the scatter (``expected-rank``), the line gid ``funding-line``.
    """
    from matplotlib.collections import LineCollection

    idc = id_column or ("application_id" if "application_id" in table.columns else "proposal")
    t = table.sort_values(["er", idc], kind="mergesort").reset_index(drop=True)
    n = len(t)
    codes = t[group].astype(str).to_numpy() if group is not None and group in t.columns else np.array(["funded"] * n)
    colours = [ZONE_COLOURS.get(c, UNFUNDED_COLOUR) for c in codes]
    row, head, foot = 0.15, 0.95, 0.6
    height = head + foot + row * max(n, 4)
    mpl = _mpl()
    fig = _new_figure(width, height)
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.3 / width, top=1 - head / height, bottom=foot / height)
    ax = fig.add_subplot()
    y = np.arange(n)
    outer = LineCollection([[(a, k), (b, k)] for k, a, b in zip(y, t["rank_q05"], t["rank_q95"])], colors=colours,
                           linewidths=1.0, gid="interval-90", zorder=2)
    inner = LineCollection([[(a, k), (b, k)] for k, a, b in zip(y, t["rank_q25"], t["rank_q75"])], colors=colours,
                           linewidths=3.2, gid="interval-50", zorder=3)
    ax.add_collection(outer)
    ax.add_collection(inner)
    ax.scatter(t["er"], y, s=14, color="white", edgecolors=colours, linewidths=1.0, zorder=4, gid="expected-rank")
    ax.set_yticks(y, t[idc].astype(str).tolist())
    ax.tick_params(axis="y", labelsize=7, length=0)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0.5, max(float(t["rank_q95"].max()), float(n)) + 0.5)
    ax.tick_params(axis="x", labelsize=8, top=True, labeltop=True)
    ax.grid(axis="x", color="#d5d9e0", linewidth=0.6, zorder=1)
    ax.set_axisbelow(True)
    ax.set_xlabel("Rang (1 = meilleur) : point = rang espéré ; trait épais = intervalle à 50 % ; trait fin = à 90 %",
                  fontsize=8)
    _plain_axes(ax)
    labels = dict(group_labels or {})
    present = [c for c in dict.fromkeys(codes)]
    order = ["funded", "accepted", "grey", "lottery", "not_funded", "rejected"]
    present.sort(key=lambda c: order.index(c) if c in order else len(order))
    handles = [mpl.Patch(color=ZONE_COLOURS.get(c, UNFUNDED_COLOUR), label=f"{labels.get(c, c)} ({int((codes == c).sum())})")
               for c in present] if group is not None else []
    if funding_line is not None:
        ax.axvline(funding_line, color=LINE_COLOUR, linestyle="--", linewidth=1.2, zorder=5, gid="funding-line")
        handles.append(mpl.Line2D([], [], color=LINE_COLOUR, linestyle="--",
                              label=f"ligne de financement : rang espéré {format_number(funding_line, 2)}"))
    x0 = 0.2 / width
    fig.suptitle(title or f"Rang espéré et intervalles de crédibilité ({n} dossiers)", fontsize=10, x=x0,
                 y=1 - 0.08 / height, ha="left", va="top")
    if handles:
        fig.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(x0, 1 - 0.4 / height), frameon=False,
                   ncols=min(len(handles), 4), borderaxespad=0, borderpad=0)
    return fig


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas (no display needed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()


def figure_svg(fig: Figure) -> str:
    """Render a figure to an SVG document (text kept as text: crisp, small, fast to draw)."""
    mpl = _mpl()
    buf = io.StringIO()
    with mpl.matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ditp"}):
        fig.savefig(buf, format="svg")
    return buf.getvalue()
