"""Follow-up of laureates: milestones, payment tranches, and views as of a date.

One table, one row per milestone of a funded application (columns declared
once in :data:`MILESTONE_COLUMNS`).  It is read from CSV / XLSX with the same
standards as :mod:`ditp_model.inputs.io` (French headers, amounts and dates; every
problem gathered in one :class:`~ditp_model.inputs.schema.InputError`), then checked
against the funding decision:

* every ``application_id`` is a funded application;
* the tranches of an application add up exactly to its award (whole euros);
* the cumulative payments never exceed the award;
* a milestone appears once per application; ``done`` has an actual date and
  only ``done`` has one; only a done milestone's tranche is paid.

The views (:func:`late_milestones`, :func:`at_risk_milestones`,
:func:`payments_due`, :func:`project_summary`) are pure functions of the table
and a date.  "As of" a date, a milestone is *done* when its status is ``done``
and its actual date is on or before that date, and a tranche is *paid* when its
payment date is on or before it; so one file, kept up to date, answers for any
earlier date too.  Cancelled milestones are never late, at risk or due.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ditp_model.inputs.io import open_table, parse_cells
from ditp_model.inputs.schema import Column, InputError, Problem, normalise_header

__all__ = [
    "MILESTONE_STATUSES",
    "MILESTONE_STATUS_LABELS_FR",
    "MILESTONE_COLUMNS",
    "read_milestones",
    "check_milestones",
    "awards_from_decisions",
    "status_as_of",
    "late_milestones",
    "at_risk_milestones",
    "payments_due",
    "project_summary",
    "timeline_figure",
]

#: Milestone statuses, canonical code -> French label (both accepted on import).
MILESTONE_STATUS_LABELS_FR: dict[str, str] = {
    "planned": "prévu",
    "done": "réalisé",
    "late": "en retard",
    "cancelled": "annulé",
}
MILESTONE_STATUSES: tuple[str, ...] = tuple(MILESTONE_STATUS_LABELS_FR)
_STATUS_ALIASES: dict[str, str] = {normalise_header(k): k for k in MILESTONE_STATUSES}
_STATUS_ALIASES.update({normalise_header(v): k for k, v in MILESTONE_STATUS_LABELS_FR.items()})
_STATUS_ALIASES.update({normalise_header(a): k for a, k in {
    "prevue": "planned", "a venir": "planned", "realisee": "done", "fait": "done", "annulee": "cancelled",
    "retard": "late"}.items()})

MILESTONE_COLUMNS: tuple[Column, ...] = (
    Column("application_id", "id", description_fr="Identifiant du dossier lauréat.",
           headers_fr=("identifiant", "id", "n° dossier", "numero de dossier", "dossier")),
    Column("milestone", "text", description_fr="Intitulé du jalon (unique dans un dossier).",
           headers_fr=("jalon", "intitule du jalon", "etape")),
    Column("planned_date", "date", "date", description_fr="Date prévue du jalon ; JJ/MM/AAAA ou AAAA-MM-JJ.",
           headers_fr=("date prevue", "echeance", "date prevue du jalon")),
    Column("actual_date", "date", "date", required=False,
           description_fr="Date de réalisation ; vide si le jalon n'est pas réalisé.",
           headers_fr=("date reelle", "date de realisation", "realise le")),
    Column("status", "category", description_fr="Statut : prévu, réalisé, en retard ou annulé.",
           headers_fr=("statut", "etat", "statut du jalon"), allowed=MILESTONE_STATUSES),
    Column("tranche_eur", "amount", "EUR",
           description_fr=("Tranche de paiement liée au jalon, en euros entiers (0 admis) ; "
                           "les tranches d'un dossier font son montant attribué."),
           headers_fr=("tranche", "tranche (€)", "montant de la tranche", "tranche (eur)")),
    Column("paid_date", "date", "date", required=False, description_fr="Date de versement de la tranche ; vide si non versée.",
           headers_fr=("date de versement", "verse le", "date de paiement")),
)

_DATE_COLUMNS = ("planned_date", "actual_date", "paid_date")


def _eur(x: int) -> str:
    return f"{int(x):,} €".replace(",", "\u202f")


def read_milestones(path: str | Path, awards: dict[str, int], *, sheet: str | None = None) -> pd.DataFrame:
    """Read the milestones table and check it against the funding decision.

    Parameters
    ----------
    path : str or Path
        CSV or XLSX, one row per milestone (columns :data:`MILESTONE_COLUMNS`,
        canonical or French headers).
    awards : dict
        Funded application id -> award in whole euros (see
        :func:`awards_from_decisions`).
    sheet : str, optional
        XLSX sheet name.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`MILESTONE_COLUMNS` in file order (``status`` as its
        code, ``tranche_eur`` as ``int64``, dates as ``datetime64``, ``NaT``
        when blank) plus ``source_row``.  ``attrs`` holds ``path``, ``sha256``,
        ``blank_rows``, ``encoding``.

    Raises
    ------
    InputError
        Every problem of the file at once (cells, then the rules of
        :func:`check_milestones`).
    """
    raw, found = open_table(path, MILESTONE_COLUMNS, "aucun jalon", sheet)
    problems: list[Problem] = []
    allowed = ", ".join(f"{k} ({v})" for k, v in MILESTONE_STATUS_LABELS_FR.items())
    out = parse_cells(raw, MILESTONE_COLUMNS, found, problems, {"status": (_STATUS_ALIASES, allowed, "statut inconnu")})
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in out.items()})
    frame["source_row"] = list(raw.rows)
    headers = {c.name: found.get(c.name, c.name) for c in MILESTONE_COLUMNS}
    problems += check_milestones(frame, awards, path=raw.path, headers=headers)
    if problems:
        raise InputError(problems)
    frame["tranche_eur"] = frame["tranche_eur"].astype("int64")
    for c in _DATE_COLUMNS:
        frame[c] = pd.to_datetime(frame[c])
    frame.attrs.update(path=raw.path, sha256=raw.sha256, blank_rows=raw.blank_rows, encoding=raw.encoding)
    return frame


def check_milestones(frame: pd.DataFrame, awards: dict[str, int], *, path: str = "(table des jalons)",
                     headers: dict[str, str] | None = None) -> list[Problem]:
    """The table's rules, checked against the decision; every problem, none raised.

    Cells left ``None`` / ``NaT`` by an unreadable value are skipped by the
    rules that need them (their own problem is already reported).

    Parameters
    ----------
    frame : pandas.DataFrame
        Canonical columns and ``source_row``.
    awards : dict
        Funded application id -> award (whole euros).
    path : str
        File named in the problems.
    headers : dict, optional
        Canonical name -> header as written, for the problems.

    Returns
    -------
    list of Problem
        Codes ``not_funded``, ``duplicate_milestone``, ``done_without_date``,
        ``date_but_not_done``, ``paid_not_done``, ``tranche_sum``,
        ``paid_over_award``.
    """
    h = {c.name: c.name for c in MILESTONE_COLUMNS} | dict(headers or {})
    problems: list[Problem] = []
    rows = frame["source_row"].tolist() if "source_row" in frame else list(range(2, len(frame) + 2))
    seen: dict[tuple[str, str], int] = {}
    for i, line in enumerate(rows):
        aid, name, status = frame["application_id"].iat[i], frame["milestone"].iat[i], frame["status"].iat[i]
        actual, paid = frame["actual_date"].iat[i], frame["paid_date"].iat[i]
        if aid and aid not in awards:
            problems.append(Problem(path, line, h["application_id"], aid,
                                    "dossier non lauréat (absent de la décision de financement) : seuls les lauréats ont des jalons",
                                    "not_funded"))
        if aid and name:
            if (aid, name) in seen:
                problems.append(Problem(path, line, h["milestone"], name,
                                        f"jalon en double pour le dossier {aid} (déjà ligne {seen[aid, name]})", "duplicate_milestone"))
            else:
                seen[aid, name] = line
        if status == "done" and actual is not None and pd.isna(actual):
            problems.append(Problem(path, line, h["actual_date"], "",
                                    "jalon réalisé sans date de réalisation : renseigner la date réelle", "done_without_date"))
        if status and status != "done" and not pd.isna(actual):
            label = MILESTONE_STATUS_LABELS_FR[status]
            problems.append(Problem(path, line, h["actual_date"], actual.strftime("%d/%m/%Y"),
                                    f"date de réalisation renseignée alors que le statut est « {label} » : "
                                    "passer le statut à « réalisé » ou vider la date", "date_but_not_done"))
        if status and status != "done" and not pd.isna(paid):
            problems.append(Problem(path, line, h["paid_date"], paid.strftime("%d/%m/%Y"),
                                    f"tranche versée alors que le jalon est « {MILESTONE_STATUS_LABELS_FR[status]} » : "
                                    "une tranche est versée une fois le jalon réalisé", "paid_not_done"))
    # Money, per funded application, in exact integers.
    for aid in dict.fromkeys(frame["application_id"]):
        if aid not in awards:
            continue
        idx = [i for i in range(len(frame)) if frame["application_id"].iat[i] == aid]
        tranches = [frame["tranche_eur"].iat[i] for i in idx]
        award = int(awards[aid])
        if all(t is not None and not pd.isna(t) for t in tranches):
            total = sum(int(t) for t in tranches)
            if total != award:
                problems.append(Problem(path, rows[idx[0]], h["tranche_eur"], total,
                                        f"dossier {aid} : la somme des tranches ({_eur(total)}) ne fait pas le montant attribué "
                                        f"({_eur(award)}), écart {_eur(total - award)}", "tranche_sum"))
        paid = sorted((frame["paid_date"].iat[i], rows[i], frame["tranche_eur"].iat[i]) for i in idx
                      if not pd.isna(frame["paid_date"].iat[i]) and frame["tranche_eur"].iat[i] is not None)
        cumul = 0
        for when, line, amount in paid:
            cumul += int(amount)
            if cumul > award:
                problems.append(Problem(path, line, h["paid_date"], when.strftime("%d/%m/%Y"),
                                        f"dossier {aid} : les versements cumulés ({_eur(cumul)}) dépassent le montant attribué "
                                        f"({_eur(award)})", "paid_over_award"))
                break
    return problems


def awards_from_decisions(decisions: pd.DataFrame) -> dict[str, int]:
    """Funded application id -> award (int euros), from a decision table
    (``application_id``, ``funded``, ``award_eur``; e.g. ``Allocation.decisions``)."""
    d = decisions[decisions["funded"]]
    return {str(a): int(w) for a, w in zip(d["application_id"], d["award_eur"])}


# --------------------------------------------------------------------------- views as of a date


def _ts(as_of) -> pd.Timestamp:
    return pd.Timestamp(as_of).normalize()


def _done_mask(m: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    return (m["status"] == "done") & (m["actual_date"] <= as_of)


def _paid_mask(m: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    return m["paid_date"].notna() & (m["paid_date"] <= as_of)


def status_as_of(milestones: pd.DataFrame, as_of: dt.date | str | pd.Timestamp) -> pd.Series:
    """Each milestone's status as of a date: ``done``, ``cancelled``, ``late`` (planned date
    passed, not done) or ``planned``; same index as `milestones`."""
    t = _ts(as_of)
    out = pd.Series("planned", index=milestones.index, dtype=object)
    out[milestones["planned_date"] < t] = "late"
    out[_done_mask(milestones, t)] = "done"
    out[milestones["status"] == "cancelled"] = "cancelled"
    return out


def late_milestones(milestones: pd.DataFrame, as_of) -> pd.DataFrame:
    """Milestones whose planned date is before `as_of` and that are not done (nor cancelled).

    Returns
    -------
    pandas.DataFrame
        ``Dossier``, ``Jalon``, ``Date prévue`` (date), ``Retard (jours)`` (int),
        ``Tranche (€)`` (int); oldest planned date first, then dossier.
    """
    t = _ts(as_of)
    m = milestones[status_as_of(milestones, t) == "late"]
    out = pd.DataFrame({
        "Dossier": m["application_id"], "Jalon": m["milestone"], "Date prévue": m["planned_date"].dt.date,
        "Retard (jours)": (t - m["planned_date"]).dt.days.astype("int64"), "Tranche (€)": m["tranche_eur"].astype("int64"),
    })
    return out.sort_values(["Date prévue", "Dossier"], kind="stable").reset_index(drop=True)


def at_risk_milestones(milestones: pd.DataFrame, as_of, days: int = 30) -> pd.DataFrame:
    """Milestones not done (nor cancelled) whose planned date falls within `days` days from `as_of` (inclusive).

    Returns
    -------
    pandas.DataFrame
        ``Dossier``, ``Jalon``, ``Date prévue``, ``Jours restants`` (int, 0 = due
        that day), ``Tranche (€)``; soonest first.
    """
    t = _ts(as_of)
    st = status_as_of(milestones, t)
    m = milestones[(st == "planned") & (milestones["planned_date"] <= t + pd.Timedelta(days=days))]
    out = pd.DataFrame({
        "Dossier": m["application_id"], "Jalon": m["milestone"], "Date prévue": m["planned_date"].dt.date,
        "Jours restants": (m["planned_date"] - t).dt.days.astype("int64"), "Tranche (€)": m["tranche_eur"].astype("int64"),
    })
    return out.sort_values(["Date prévue", "Dossier"], kind="stable").reset_index(drop=True)


def payments_due(milestones: pd.DataFrame, as_of) -> pd.DataFrame:
    """Tranches (> 0 €) of milestones done by `as_of` and not paid by then.

    Returns
    -------
    pandas.DataFrame
        ``Dossier``, ``Jalon``, ``Réalisé le`` (date), ``Tranche (€)`` (int);
        oldest completion first.
    """
    t = _ts(as_of)
    m = milestones[_done_mask(milestones, t) & ~_paid_mask(milestones, t) & (milestones["tranche_eur"] > 0)]
    out = pd.DataFrame({"Dossier": m["application_id"], "Jalon": m["milestone"], "Réalisé le": m["actual_date"].dt.date,
                        "Tranche (€)": m["tranche_eur"].astype("int64")})
    return out.sort_values(["Réalisé le", "Dossier"], kind="stable").reset_index(drop=True)


def project_summary(milestones: pd.DataFrame, awards: dict[str, int], as_of) -> pd.DataFrame:
    """Per funded project, as of a date: award, paid, remaining, due, milestone counts.

    Every funded project of `awards` has a row (without milestones: nothing paid).

    Returns
    -------
    pandas.DataFrame
        ``Dossier``, ``Montant attribué (€)``, ``Versé (€)``, ``Reste à verser (€)``,
        ``À verser maintenant (€)`` (tranches of done, unpaid milestones),
        ``Jalons réalisés``, ``Jalons`` (not cancelled), ``Jalons en retard``;
        ints, by dossier.
    """
    t = _ts(as_of)
    st = status_as_of(milestones, t)
    paid = milestones["tranche_eur"].where(_paid_mask(milestones, t), 0)
    due = milestones["tranche_eur"].where((st == "done") & ~_paid_mask(milestones, t), 0)
    rows = []
    for aid in sorted(awards):
        sel = milestones["application_id"] == aid
        p = int(paid[sel].sum())
        rows.append((aid, int(awards[aid]), p, int(awards[aid]) - p, int(due[sel].sum()), int((st[sel] == "done").sum()),
                     int((st[sel] != "cancelled").sum()), int((st[sel] == "late").sum())))
    cols = ["Dossier", "Montant attribué (€)", "Versé (€)", "Reste à verser (€)", "À verser maintenant (€)",
            "Jalons réalisés", "Jalons", "Jalons en retard"]
    out = pd.DataFrame(rows, columns=cols)
    for c in cols[1:]:
        out[c] = out[c].astype("int64")
    return out


# --------------------------------------------------------------------------- chart

_COLOURS = {"done": "#2e7d32", "late": "#c62828", "planned": "#1565c0", "cancelled": "#9e9e9e"}
_STATUS_AS_OF_FR = {"done": "réalisé", "late": "en retard", "planned": "prévu", "cancelled": "annulé"}


def timeline_figure(milestones: pd.DataFrame, application_id: str, as_of=None, award_eur: int | None = None) -> Figure:
    """Timeline of one project's milestones (matplotlib object API, no pyplot state).

    One line per milestone: a hollow marker at the planned date, a filled one at
    the actual date (joined by a segment when they differ), the colour of the
    status as of `as_of`; the tranche (and « versée » when paid by then) beside it;
    a vertical line at `as_of`.

    Parameters
    ----------
    milestones : pandas.DataFrame
        The milestones table (:func:`read_milestones`).
    application_id : str
    as_of : date-like, optional
        Default: the latest date of the table.
    award_eur : int, optional
        Shown in the title.

    Raises
    ------
    KeyError
        No milestone for `application_id` (French message).
    """
    m = milestones[milestones["application_id"] == application_id].sort_values("planned_date", kind="stable")
    if m.empty:
        raise KeyError(f"aucun jalon pour le dossier {application_id}")
    if as_of is None:
        as_of = max(milestones[c].max() for c in _DATE_COLUMNS if milestones[c].notna().any())
    t = _ts(as_of)
    st = status_as_of(m, t)
    paid = _paid_mask(m, t)
    fig = Figure(figsize=(8, 0.6 * len(m) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(m))[::-1]
    for yi, (_, row), s, p in zip(y, m.iterrows(), st, paid):
        c = _COLOURS[s]
        ax.plot([row["planned_date"]], [yi], marker="o", markersize=9, markerfacecolor="white", markeredgecolor=c, linestyle="")
        if s == "done":
            ax.plot([row["planned_date"], row["actual_date"]], [yi, yi], color=c, linewidth=1.5)
            ax.plot([row["actual_date"]], [yi], marker="o", markersize=9, color=c, linestyle="")
        elif s == "late":
            ax.plot([row["planned_date"], t], [yi, yi], color=c, linewidth=1.5, linestyle="--")
        label = _eur(row["tranche_eur"]) + (" — versée" if p else "")
        end = {"done": row["actual_date"], "late": t}.get(s, row["planned_date"])
        ax.annotate(label, (max(row["planned_date"], end), yi),
                    xytext=(10, 0), textcoords="offset points", va="center", fontsize=8)
    ax.axvline(t, color="black", linewidth=1, linestyle=":")
    dates = pd.concat([m["planned_date"], m["actual_date"].dropna(), pd.Series([t])])
    ax.set_xlim(dates.min() - pd.Timedelta(days=15), dates.max() + pd.Timedelta(days=75))
    ax.set_yticks(y, [str(x) for x in m["milestone"]])
    ax.set_ylim(-0.7, len(m) - 0.3)
    ax.grid(axis="x", alpha=0.3)
    title = f"Jalons du dossier {application_id}"
    if award_eur is not None:
        title += f" (montant attribué {_eur(award_eur)})"
    ax.set_title(title + f", au {t.strftime('%d/%m/%Y')}", fontsize=10)
    handles = [Line2D([], [], marker="o", linestyle="", color=_COLOURS[k], label=_STATUS_AS_OF_FR[k]) for k in ("done", "late", "planned")]
    handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="grey", label="date prévue"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=8, frameon=False)
    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    ax.xaxis.set_minor_locator(mdates.MonthLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m/%Y"))
    return fig
