"""Per-member weights: the portfolio each committee member would fund, and where they agree.

Issue 6, item 1 ("per-member weights").  Given each committee member's own
criterion weights (a small table, :func:`read_member_weights`),
:func:`member_portfolios` re-scores the applications with each member's
weights (:meth:`~ditp_model.scoring.pipeline.Evaluation.with_weights`) and re-decides
with the committee's decision rule (``params.rule``, default the call's: the
merit order above the quality thresholds, DESIGN.md "The decision rules"),
so that each member's portfolio is the one the committee's rule would fund
with that member's weights, then reports:

* per member, the portfolio their weights would fund under the committee's rule;
* per application, how many members fund it and a class "consensus" (all),
  "contesté" (some), "écarté" (none);
* the committee's average weights (the members' normalised weights averaged)
  and the **majority portfolio**: the applications funded by a strict
  majority of members;
* the weights closest to the average (Euclidean distance between normalised
  weights) whose portfolio under the committee's rule funds every majority application, found
  by a grid search on the simplex of normalised weights (see
  :func:`member_portfolios`), or the plain statement that no weights of the
  grid do.

Weights are always read normalised (they sum to 1, :meth:`Weights.normalised`);
scores are composite points (0–100); amounts are whole euros (``int``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ditp_model.rules.allocation import Allocation, AllocationError, AllocationParams, SolveStatus, allocate, check, fits_together
from ditp_model.inputs.call import CallRules
from ditp_model.inputs.io import parse_score, read_raw_table
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.french import format_number
from ditp_model.uncertainty.robustness import progress_bar
from ditp_model.inputs.schema import InputError, Problem, normalise_header
from ditp_model.scoring.aggregate import Weights

__all__ = [
    "MEMBER_CLASSES_FR",
    "MEMBER_HEADERS",
    "read_member_weights",
    "simplex_grid",
    "MemberAnalysis",
    "member_portfolios",
    "member_conflicts",
]

#: Class of an application across the members' portfolios: code -> French label.
MEMBER_CLASSES_FR = {"consensus": "consensus", "contested": "contesté", "excluded": "écarté"}

#: Accepted headers of the member column (matching folds case, accents and spaces).
MEMBER_HEADERS = ("member", "membre", "membre du comite", "membre du jury", "pseudonyme")


# --------------------------------------------------------------------------- reading


def read_member_weights(path: str | Path, rules: CallRules, *, sheet: str | None = None) -> pd.DataFrame:
    """Read each committee member's own criterion weights (CSV or XLSX).

    One row per member: a ``member`` column (or ``membre``, ``membre du
    comité``, ``membre du jury``, ``pseudonyme``) and one column per criterion
    of the call, headed by its name (``impact``) or its label (``Impact``,
    ``Candidature collective``); case, accents and spaces are ignored.  Weights
    are non-negative numbers, a decimal comma accepted (``0,5``); only their
    proportions matter (``5 / 3 / 2`` is ``0,5 / 0,3 / 0,2``).  Every
    criterion must be filled (write ``0`` to leave one out) and at least one
    weight per row must be positive.

    Members are named as written in the file.  **Use pseudonyms** (``M01``,
    ``M02``…) rather than names: the file's hash goes into manifests and the
    member names into every table shown to the committee, and an individual
    member's priorities are personal data under the GDPR.

    Parameters
    ----------
    path : str or Path
        CSV (``,``, ``;`` or tab; UTF-8, UTF-8 with BOM or cp1252) or XLSX.
    rules : CallRules
        Gives the criteria.
    sheet : str, optional
        XLSX sheet name; default the first sheet.

    Returns
    -------
    pandas.DataFrame
        One row per member, in file order: ``member`` (str), one float column
        per criterion in the call's order (weights as written, not
        normalised), ``source_row`` (line in the file, header = 1).
        ``attrs`` holds ``path``, ``sha256``, ``blank_rows``, ``encoding``.

    Raises
    ------
    InputError
        Every problem of the file at once, each naming file, line, column,
        value and rule: missing, unknown or ambiguous columns, no member, a
        blank or repeated member, a blank, non-numeric or negative weight, a
        row whose weights are all zero.
    """
    raw = read_raw_table(path, sheet)
    problems: list[Problem] = []
    lookup = {normalise_header(h): "member" for h in MEMBER_HEADERS}
    for c in rules.criteria:
        lookup[normalise_header(c.name)] = c.name
        lookup[normalise_header(c.label)] = c.name
    found: dict[str, str] = {}
    for header in raw.frame.columns:
        canon = lookup.get(normalise_header(header))
        if canon is None:
            problems.append(Problem(raw.path, raw.header_row, header, header,
                                    f"colonne inconnue : seules « member » (ou « membre ») et les critères de l'appel "
                                    f"({', '.join(rules.criterion_names)}) sont attendues", "unknown_column"))
        elif canon in found:
            problems.append(Problem(raw.path, raw.header_row, header, header,
                                    f"deux colonnes désignent « {canon} » (« {found[canon]} » et « {header} ») : n'en garder qu'une",
                                    "ambiguous_header"))
        else:
            found[canon] = header
    for canon in ("member", *rules.criterion_names):
        if canon not in found:
            label = "member" if canon == "member" else rules.criterion(canon).label
            problems.append(Problem(raw.path, raw.header_row, canon, None,
                                    f"colonne obligatoire absente (en-têtes acceptés : « {canon} », « {label} »"
                                    + (" ; écrire 0 dans la colonne pour écarter le critère)" if canon != "member" else ")"),
                                    "missing_column"))
    if problems:
        raise InputError(problems)
    if raw.frame.empty:
        raise InputError(Problem(raw.path, None, None, None,
                                 "aucun membre : le fichier n'a que sa ligne d'en-tête", "no_rows"))
    members: list[str] = []
    seen: dict[str, int] = {}
    for text, line in zip(raw.frame[found["member"]], raw.rows):
        if not text:
            problems.append(Problem(raw.path, line, found["member"], "",
                                    "membre non nommé : donner un pseudonyme (M01, M02…)", "missing_value"))
        elif text in seen:
            problems.append(Problem(raw.path, line, found["member"], text,
                                    f"membre en double (déjà ligne {seen[text]}) : une seule ligne par membre", "duplicate_member"))
        else:
            seen[text] = line
        members.append(text)
    values: dict[str, list[float]] = {}
    for name in rules.criterion_names:
        col = found[name]
        vals = []
        for text, line in zip(raw.frame[col], raw.rows):
            v = math.nan
            if not text:
                problems.append(Problem(raw.path, line, col, "",
                                        "pondération manquante : écrire 0 pour écarter le critère", "missing_value"))
            else:
                try:
                    v = parse_score(text)
                except ValueError:
                    problems.append(Problem(raw.path, line, col, text,
                                            "n'est pas une pondération (nombre attendu, par ex. 0,5 ou 50)", "bad_weight"))
                else:
                    if v < 0:
                        problems.append(Problem(raw.path, line, col, text,
                                                "pondération négative : une pondération est un nombre positif ou nul",
                                                "negative_weight"))
            vals.append(v)
        values[name] = vals
    for k, (member, line) in enumerate(zip(members, raw.rows)):
        row = [values[n][k] for n in rules.criterion_names]
        if all(v == 0 for v in row):  # NaN (already reported) is not 0
            problems.append(Problem(raw.path, line, None, member,
                                    "toutes les pondérations du membre sont nulles : au moins un critère doit compter",
                                    "all_zero"))
    if problems:
        raise InputError(problems)
    frame = pd.DataFrame({"member": members, **values})
    frame[list(rules.criterion_names)] = frame[list(rules.criterion_names)].astype("float64")
    frame["source_row"] = pd.array(raw.rows, dtype="int64")
    frame.attrs.update(path=raw.path, sha256=raw.sha256, blank_rows=raw.blank_rows, encoding=raw.encoding)
    return frame


# --------------------------------------------------------------------------- analysis


def simplex_grid(n_criteria: int, step: float = 0.05) -> np.ndarray:
    """Every weight vector on the simplex whose shares are multiples of `step`.

    With ``N = 1 / step`` (an integer), the points are ``k / N`` for every
    vector of non-negative integers ``k`` summing to ``N``: C(N + n − 1, n − 1)
    points (231 for 3 criteria at step 0.05), in lexicographic order of ``k``
    (first criterion descending).

    Raises
    ------
    ValueError
        Fewer than one criterion, or `step` not of the form 1 / N.
    """
    if not isinstance(n_criteria, int) or n_criteria < 1:
        raise ValueError(f"{n_criteria!r} critères : au moins 1 attendu")
    n = round(1 / step) if isinstance(step, (int, float)) and 0 < step <= 1 else 0
    if n < 1 or abs(n * step - 1) > 1e-9:
        raise ValueError(f"pas de grille {step!r} : un pas de la forme 1/N est attendu, par ex. 0.05 ou 0.1")

    def compositions(total: int, parts: int):
        if parts == 1:
            yield (total,)
            return
        for first in range(total, -1, -1):
            for rest in compositions(total - first, parts - 1):
                yield (first, *rest)

    return np.array(list(compositions(n, n_criteria)), dtype=float) / n


@dataclass(frozen=True)
class MemberAnalysis:
    """Result of :func:`member_portfolios` (immutable).

    Attributes
    ----------
    members : pandas.DataFrame
        One row per member, in input order: ``member``, one column per
        criterion (normalised weight, 0–1), ``n_funded`` (int),
        ``total_score`` (points, at the member's own weights),
        ``total_awarded_eur`` (int), ``funded`` (tuple of ids, tie-break
        order), ``distance_to_average`` (Euclidean, normalised weights).
    table : pandas.DataFrame
        One row per application, in input order: ``application_id``,
        ``title``, ``candidate`` (bool: eligible, scored, not locked out; the same
        for every weights), ``n_members`` (int: members whose portfolio funds it),
        ``share_members`` (``n_members`` / number of members), ``members``
        (tuple of member names, input order), ``majority`` (bool: funded by a
        strict majority), ``agreement`` (``consensus`` / ``contested`` /
        ``excluded``) and ``agreement_fr`` (:data:`MEMBER_CLASSES_FR`),
        ``funded_at_average`` and ``funded_at_closest`` (bool).
    average_weights : dict
        Criterion -> the members' normalised weights averaged (sums to 1).
    average_funded : tuple of str
        Portfolio at the average weights (tie-break order).
    majority : tuple of str
        Applications funded by more than half of the members (input order).
    majority_fits : bool
        Whether the majority applications can be funded together at all
        (envelope, award bounds, locks and portfolio rules, whatever the
        scores); when not, no weights can fund them and the grid is not searched.
    closest_weights : dict or None
        Criterion -> normalised weight: among the weights examined (grid,
        members, average), the nearest to the average whose portfolio funds
        every majority application; None when none does.
    closest_distance : float or None
        Its Euclidean distance to the average weights.
    closest_origin : str or None
        ``"average"``, ``"member:<name>"`` or ``"grid"``.
    closest_funded : tuple of str
        Its portfolio (tie-break order); empty when none was found.
    grid_step : float
        Step of the simplex grid searched.
    n_examined : int
        Distinct weight vectors whose allocation was solved (members and
        average included); the search stops at its first success in order of
        distance, so most of the grid is usually not solved.
    n_candidates : int
        Distinct weight vectors the search could examine (grid ∪ members ∪ average).
    seconds : float
        Wall time.
    """

    members: pd.DataFrame
    table: pd.DataFrame
    average_weights: dict
    average_funded: tuple
    majority: tuple
    majority_fits: bool
    closest_weights: dict | None
    closest_distance: float | None
    closest_origin: str | None
    closest_funded: tuple
    grid_step: float
    n_examined: int
    n_candidates: int
    seconds: float

    @property
    def found(self) -> bool:
        """True when some weights examined fund every majority application."""
        return self.closest_weights is not None

    def describe_fr(self, rules: CallRules | None = None) -> str:
        """One French paragraph: the majority portfolio and the weights found (or that none were)."""
        labels = {c.name: c.label for c in rules.criteria} if rules is not None else {}

        def shares(w: dict) -> str:
            return ", ".join(f"{labels.get(k, k)} {format_number(100 * v, 1)} %" for k, v in w.items())

        n = len(self.members)
        step = format_number(self.grid_step, 2)
        head = (f"{len(self.majority)} dossier{'s' if len(self.majority) > 1 else ''} financé"
                f"{'s' if len(self.majority) > 1 else ''} par la majorité des {n} membres ; "
                f"pondérations moyennes du comité : {shares(self.average_weights)}.")
        method = (f"Recherche sur une grille du simplexe des pondérations normalisées au pas de {step}, "
                  f"plus les pondérations des membres et leur moyenne ({self.n_examined} pondérations résolues "
                  f"sur {self.n_candidates}) : le résultat est le meilleur de la grille, pas un optimum exact.")
        if not self.majority_fits:
            return (f"{head} Ces dossiers ne peuvent pas être financés ensemble (enveloppe, montants ou règles "
                    f"du portefeuille) : aucune pondération ne peut tous les financer.")
        if not self.found:
            return (f"{head} Aucune pondération examinée ne finance tous les dossiers de la majorité, "
                    f"bien qu'ils tiennent ensemble dans l'enveloppe. {method}")
        origin = self.closest_origin or ""
        where = ("ce sont les pondérations moyennes elles-mêmes" if origin == "average"
                 else f"ce sont celles du membre {origin.split(':', 1)[1]}" if origin.startswith("member:")
                 else "point de la grille")
        return (f"{head} Pondérations les plus proches de la moyenne qui financent tous ces dossiers : "
                f"{shares(self.closest_weights)} ({where} ; distance {format_number(self.closest_distance, 3)}). "
                f"{method}")


def _solved(alloc: Allocation, what: str) -> Allocation:
    """Refuse a result that is not a proven optimum (status first, STYLE.md 2)."""
    if alloc.status is not SolveStatus.OPTIMAL:
        raise AllocationError(f"{what} : {alloc.status.label_fr}. {alloc.message}")
    return alloc


def _member_weights(evaluation: Evaluation, members) -> list[tuple[str, Weights]]:
    """(member, Weights) pairs from a :func:`read_member_weights` table or a mapping name -> Weights."""
    names = list(evaluation.rules.criterion_names)
    if isinstance(members, pd.DataFrame):
        missing = [c for c in ("member", *names) if c not in members.columns]
        if missing:
            raise ValueError(f"table des pondérations des membres sans colonne {', '.join(missing)} : "
                             "la lire avec read_member_weights")
        pairs = [(str(r["member"]), Weights(tuple((n, float(r[n])) for n in names)))
                 for r in members.to_dict("records")]
    elif isinstance(members, Mapping):
        pairs = [(str(k), w) for k, w in members.items()]
    else:
        raise TypeError("members : une table lue par read_member_weights ou un dictionnaire membre -> Weights est attendu")
    if not pairs:
        raise ValueError("aucun membre : au moins un membre du comité est attendu")
    dup = sorted({m for m, _ in pairs if [p for p, _ in pairs].count(m) > 1})
    if dup:
        raise ValueError(f"membre(s) en double : {', '.join(dup)}")
    for m, w in pairs:
        try:
            w.check_against(evaluation.rules)
        except ValueError as exc:
            raise ValueError(f"membre {m} : {exc}") from None
    return pairs


def member_conflicts(evaluation: Evaluation, conflicts: pd.DataFrame | None = None) -> dict[str, frozenset]:
    """Member -> applications they declared a conflict of interest on (rows of role ``member``).

    `conflicts` defaults to the evaluation's declarations (``--conflits``), see
    :func:`ditp_model.inputs.conflicts.read_conflicts`.
    """
    decl = conflicts if conflicts is not None else evaluation.conflicts
    if decl is None or not len(decl):
        return {}
    out: dict[str, set] = {}
    for person, aid, role in zip(decl["person_id"], decl["application_id"], decl["role"]):
        if role == "member":
            out.setdefault(str(person), set()).add(str(aid))
    return {k: frozenset(v) for k, v in out.items()}


def _committee_scores_for(member_ev: Evaluation, committee: Evaluation, ids: frozenset) -> Evaluation:
    """`member_ev` where the applications in `ids` keep the committee's score: the member's weights are not used for them."""
    from ditp_model.scoring.aggregate import ranks

    if not ids:
        return member_ev
    scores = member_ev.scores.copy()
    mine = scores["application_id"].astype(str).isin(ids).to_numpy()
    scores.loc[mine, "score"] = committee.scores.loc[mine, "score"].to_numpy()
    scores["rank"] = ranks(scores, member_ev.eligibility, member_ev.applications)
    return replace(member_ev, scores=scores)


def member_portfolios(evaluation: Evaluation, members, params: AllocationParams | None = None, *,
                      grid_step: float = 0.05, progress: bool | None = None,
                      conflicts: pd.DataFrame | None = None) -> MemberAnalysis:
    """The portfolio each member's weights would fund, where they agree, and a compromise.

    For each member, the applications are re-scored with the member's weights
    (:meth:`Evaluation.with_weights`; eligibility unchanged) and the decision
    taken again with the committee's rule (``params.rule``; default the
    call's, the merit order) and ``check_alternatives=False``; every other
    parameter (envelope, locks, portfolio rules, quality thresholds — applied
    to the member's scores —, δ) is kept.  An application is "consensus" when every member funds it,
    "contesté" when some do, "écarté" when none does; the **majority
    portfolio** is the set funded by a strict majority (more than half) of
    the members.  It need not fit in the envelope: three members funding
    A + B, B + C and A + C give a majority of A, B and C.

    **Conflicts of interest.**  A member who declared a conflict of interest
    on an application (a row of role ``membre`` in the declarations,
    :func:`member_conflicts`) does not score it with their own weights: in
    that member's portfolio the application keeps the committee's score
    (the evaluation's weights), neither raised nor lowered by the member.

    **Compromise weights.**  The committee's average weights *w̄* are the
    members' normalised weights averaged.  The search looks for the
    normalised weights *w* nearest to *w̄* (Euclidean distance ‖w − w̄‖₂)
    whose portfolio under the committee's rule contains every majority application.  The set of
    such *w* is a union of polyhedral cells of the simplex with no closed
    form, so the search is a **grid search**, not an exact optimum: the
    candidates are every point of the simplex whose shares are multiples of
    `grid_step` (:func:`simplex_grid`), the members' weights and *w̄* itself;
    they are examined in increasing distance to *w̄* (ties: *w̄*, then the
    members in input order, then grid order) and the first whose portfolio
    contains the majority is kept, which is the nearest such candidate.  The
    true nearest weights may be closer than the one found, and qualifying
    weights may exist although no candidate qualifies (a region narrower than
    the grid step can fall between its points).  When no candidate
    qualifies, the result says so (``closest_weights`` is None).  Before searching, one solve checks
    that the majority applications can be funded together at all (envelope,
    award bounds, locks, portfolio rules, whatever the scores); when they
    cannot, no weights can fund them, which is exact, and the grid is skipped.

    Parameters
    ----------
    evaluation : Evaluation
    members : pandas.DataFrame or mapping
        From :func:`read_member_weights` (``member`` + one column per
        criterion), or a mapping member name -> :class:`Weights`.
    params : AllocationParams, optional
    grid_step : float
        Step of the simplex grid, of the form 1/N (0.05: 231 points for three criteria).
    progress : bool, optional
        tqdm progress bar over the grid search (default: only when stderr is a terminal).
    conflicts : pandas.DataFrame, optional
        Declarations of conflicts of interest; default: ``evaluation.conflicts``.

    Returns
    -------
    MemberAnalysis

    Raises
    ------
    ValueError
        No member, a repeated member, weights not naming the call's
        criteria, a grid step not of the form 1/N (French message).
    AllocationError
        An allocation that is not a proven optimum.
    """
    t0 = time.perf_counter()
    pairs = _member_weights(evaluation, members)
    grid = simplex_grid(len(evaluation.rules.criterion_names), grid_step)
    params = params or AllocationParams()
    fast = replace(params, check_alternatives=False)
    names = list(evaluation.rules.criterion_names)
    cache: dict[tuple, tuple[str, ...]] = {}  # weights -> funded ids (tie-break order)

    def key(w: np.ndarray) -> tuple:
        return tuple(round(float(x), 12) for x in w)

    def solve_at(w: np.ndarray, what: str) -> Allocation:
        ev = evaluation.with_weights(Weights(tuple((n, float(x)) for n, x in zip(names, w))))
        a = _solved(allocate(ev, fast), what)
        cache[key(w)] = tuple(a.funded_ids)
        return a

    def funded_at(w: np.ndarray, what: str) -> tuple[str, ...]:
        return cache[key(w)] if key(w) in cache else tuple(solve_at(w, what).funded_ids)

    shares = np.array([[w.normalised()[n] for n in names] for _, w in pairs])
    average = shares.mean(axis=0)
    average = average / average.sum()
    member_rows = []
    funded_by: dict[str, list[str]] = {}
    conflicted = member_conflicts(evaluation, conflicts)
    for (member, _), w in zip(pairs, shares):
        if conflicted.get(member):
            ev = _committee_scores_for(evaluation.with_weights(Weights(tuple((n, float(x)) for n, x in zip(names, w)))),
                                       evaluation, conflicted[member])
            a = _solved(allocate(ev, fast), f"pondérations du membre {member}")
            funded = tuple(a.funded_ids)
        else:
            a = solve_at(w, f"pondérations du membre {member}")
            funded = cache[key(w)]
        for aid in funded:
            funded_by.setdefault(aid, []).append(member)
        member_rows.append({"member": member, **dict(zip(names, (float(x) for x in w))),
                            "n_funded": len(funded), "total_score": a.total_score,
                            "total_awarded_eur": a.total_awarded_eur, "funded": tuple(funded),
                            "distance_to_average": float(np.linalg.norm(w - average))})
    member_table = pd.DataFrame(member_rows)
    for c in ("n_funded", "total_awarded_eur"):
        member_table[c] = member_table[c].astype("int64")
    average_funded = funded_at(average, "pondérations moyennes du comité")
    n_members = len(pairs)
    table = evaluation.table
    ids = table["application_id"].tolist()
    majority = tuple(a for a in ids if 2 * len(funded_by.get(a, ())) > n_members)
    need = set(majority)

    # Candidates in order: average, members, grid; deduplicated, then sorted by distance (stable).
    candidates: list[tuple[np.ndarray, str]] = []
    seen: set[tuple] = set()
    for w, origin in [(average, "average"), *((w, f"member:{m}") for (m, _), w in zip(pairs, shares)),
                      *((g, "grid") for g in grid)]:
        if key(w) not in seen:
            seen.add(key(w))
            candidates.append((w, origin))
    dist = [round(float(np.linalg.norm(w - average)), 12) for w, _ in candidates]
    order = sorted(range(len(candidates)), key=lambda i: dist[i])
    closest = None
    fits = fits_together(evaluation, fast, majority)
    for i in progress_bar(order if fits else [], len(order), progress, "pondérations de compromis"):
        w, origin = candidates[i]
        funded = funded_at(w, "recherche des pondérations de compromis")
        if need <= set(funded):
            closest = (w, origin, float(np.linalg.norm(w - average)), funded)
            break
    closest_set = set(closest[3]) if closest else set()
    avg_set = set(average_funded)
    counts = [len(funded_by.get(a, ())) for a in ids]
    agreement = ["consensus" if c == n_members else "excluded" if c == 0 else "contested" for c in counts]
    candidate_ids = set(check(evaluation, fast).table["application_id"])
    out = pd.DataFrame({
        "application_id": ids,
        "title": table["title"].tolist(),
        "candidate": [a in candidate_ids for a in ids],
        "n_members": pd.array(counts, dtype="int64"),
        "share_members": [c / n_members for c in counts],
        "members": [tuple(funded_by.get(a, ())) for a in ids],
        "majority": [a in need for a in ids],
        "agreement": agreement,
        "agreement_fr": [MEMBER_CLASSES_FR[c] for c in agreement],
        "funded_at_average": [a in avg_set for a in ids],
        "funded_at_closest": [a in closest_set for a in ids],
    })
    return MemberAnalysis(
        members=member_table,
        table=out,
        average_weights=dict(zip(names, (float(x) for x in average))),
        average_funded=average_funded,
        majority=majority,
        majority_fits=fits,
        closest_weights=dict(zip(names, (float(x) for x in closest[0]))) if closest else None,
        closest_distance=closest[2] if closest else None,
        closest_origin=closest[1] if closest else None,
        closest_funded=closest[3] if closest else (),
        grid_step=float(grid_step),
        n_examined=len(cache),
        n_candidates=len(candidates),
        seconds=time.perf_counter() - t0,
    )
