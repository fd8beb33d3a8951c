"""Review uncertainty under a money envelope: probability of funding, grey zone, lottery.

The SNSF method (``../shared/methods/expected-rank.md``, implemented in
:mod:`ditp_model.scoring.review_model`) places its funding line for a *count* of
fundable proposals.  A committee with a money envelope, unequal requests,
award bands and portfolio rules needs one more step, built here:

* :func:`posterior_scores` turns each posterior draw of the review model into
  composite scores (the committee's weights, the computed criteria as they are);
* :func:`posterior_funding` decides each draw by the committee's decision
  rule (``params.rule``, the merit order by default: the ranking rule with
  skip at δ = 0 in the plain case, :func:`ranking_with_skip`) and gives each
  application its probability of being funded, its expected award, and **one**
  zone (:func:`band_zones`): in expected-rank order, the head funded in nearly
  every draw is accepted, the tail funded in nearly none is rejected, and the
  band between them around the funding line is the **grey zone** (SNSF
  practice: accepted / lottery / rejected; 10 %–90 % by default);
* :func:`grey_zone_lottery` funds the accepted applications and draws lots
  inside the band only, for the remaining envelope, with a published seed;
  :func:`ditp_model.outputs.record.record_lottery` writes the draw into the decision journal and
  :func:`check_lottery_order` lets anyone re-draw it from the seed.

Amounts are whole euros (``int``); scores are composite points (0–100).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ditp_model.rules.allocation import (OPTIMISATION_OBJECTIVES, RULE_LABELS_FR, AllocationError, AllocationParams, SolveStatus, allocate,
                         check, fits_together)
from ditp_model.scoring.pipeline import Evaluation
from ditp_model.scoring.review_model import ReviewPosterior, expected_ranks, review_weights
from ditp_model.scoring.aggregate import SCORE_DECIMALS

__all__ = [
    "ZONES_FR",
    "posterior_scores",
    "PosteriorFunding",
    "posterior_funding",
    "ranking_with_skip",
    "band_zones",
    "Lottery",
    "grey_zone_lottery",
    "lottery_order",
    "check_lottery_order",
    "check_lottery_winners",
]

#: Zone of an application under review uncertainty: code -> French label.
ZONES_FR = {"funded": "financé (solide)", "grey": "zone grise", "not_funded": "non financé (solide)"}

#: How the lottery orders the grey zone (recorded with every draw).
LOTTERY_METHOD_FR = ("zone grise = la bande du classement (rangs espérés) autour de la ligne de financement, entre la tête "
                     "financée et la fin non financée ; seuls ses dossiers sont tirés au sort ; "
                     "ordre de tirage = numpy.random.default_rng(graine).permutation(identifiants de la zone grise triés "
                     "par ordre alphabétique) ; dans cet ordre, chaque dossier est financé s'il tient encore dans "
                     "l'enveloppe restante avec les règles du portefeuille, sinon il est passé")


def _draw_indices(total: int, n_draws: int | None) -> np.ndarray:
    """Evenly spaced draw indices (deterministic thinning; all draws when `n_draws` is None or larger)."""
    if n_draws is None or n_draws >= total:
        return np.arange(total)
    if not isinstance(n_draws, (int, np.integer)) or isinstance(n_draws, bool) or n_draws < 1:
        raise ValueError(f"n_draws = {n_draws!r} : un nombre entier de tirages d'au moins 1 est attendu")
    return np.unique(np.linspace(0, total - 1, int(n_draws)).round().astype(int))


def posterior_scores(evaluation: Evaluation, posterior, *, n_draws: int | None = None) -> pd.DataFrame:
    """Composite scores of each application in each posterior draw.

    With a single posterior of the reviewed composite (:func:`review_model.votes_from_reviews`
    with ``criterion=None``), draw *d* gives application *i*::

        score_di = 100 · ( W_rev · (μ + θ_di − lo) / (hi − lo)  +  Σ_c computed  w_c · v_ic )

    where ``W_rev`` is the total normalised weight of the reviewed criteria,
    ``lo``–``hi`` the call's review scale and ``v_ic`` the computed criteria
    (collective index) as in :func:`ditp_model.scoring.aggregate.score_applications`.
    With one posterior per reviewed criterion (a dict), each criterion enters
    with its own weight: ``100 · (Σ_c w_c (μ_c + θ_dic − lo)/(hi − lo) + …)``
    (criteria fitted separately: their posterior correlation is ignored).
    Scores are rounded to :data:`~ditp_model.scoring.aggregate.SCORE_DECIMALS` like the
    pipeline's, and not clipped (μ + θ may leave the scale; ranks are unchanged).

    Parameters
    ----------
    evaluation : Evaluation
        Its weights are used.
    posterior : ReviewPosterior or dict of str -> ReviewPosterior
    n_draws : int, optional
        Keep this many draws, evenly spaced over the pooled chains (default all).

    Returns
    -------
    pandas.DataFrame
        Shape ``(n_draws, n_applications)``; columns are application ids (the
        posterior's proposals, in order); values in composite points.

    Raises
    ------
    ValueError
        A criterion missing from the dict, posteriors on different
        applications or draw counts, or an application unknown to `evaluation`.
    """
    rules = evaluation.rules
    w = evaluation.weights.normalised()
    lo, hi = rules.scoring.scale_min, rules.scoring.scale_max
    reviewed = review_weights(rules, evaluation.weights)
    if isinstance(posterior, ReviewPosterior):
        parts = [(sum(reviewed.values()), posterior)]
    else:
        missing = [c for c, wc in reviewed.items() if wc > 0 and c not in posterior]
        if missing:
            raise ValueError(f"modèle par critère : il manque le critère {', '.join(missing)}")
        parts = [(reviewed[c], posterior[c]) for c in reviewed if reviewed[c] > 0]
    ids = list(parts[0][1].votes.proposals)
    total = parts[0][1].n_draws
    for _, p in parts[1:]:
        if list(p.votes.proposals) != ids or p.n_draws != total:
            raise ValueError("les modèles par critère doivent porter sur les mêmes dossiers et le même nombre de tirages")
    table = evaluation.table.set_index("application_id")
    unknown = [a for a in ids if a not in table.index]
    if unknown:
        raise ValueError(f"dossier(s) du modèle absent(s) des candidatures : {', '.join(unknown[:5])}")
    keep = _draw_indices(total, n_draws)
    share = np.zeros((len(keep), len(ids)))
    for wc, p in parts:
        share += wc * (p.grade_draws()[keep] - lo) / (hi - lo)
    for crit in rules.criteria:
        if crit.source == "computed" and w[crit.name] > 0:
            share += w[crit.name] * table.loc[ids, f"{crit.name}_score"].to_numpy(dtype=float)[None, :]
    return pd.DataFrame(np.round(100.0 * share, SCORE_DECIMALS), columns=ids)


def _tie_break_positions(evaluation: Evaluation, ids) -> np.ndarray:
    """Position of each id in the named tie-break order below the score: earlier submission, then id."""
    apps = evaluation.applications.set_index("application_id")
    order = sorted(ids, key=lambda a: (apps.at[a, "submitted_at"], a))
    pos = {a: k for k, a in enumerate(order)}
    return np.array([pos[a] for a in ids], dtype=np.int64)


def ranking_with_skip(units, upper, available_eur: int, tie_break=None, *, variant: str = "skip") -> np.ndarray:
    """The ranking rule on one score vector, in exact integers: which applications are funded.

    Applications are taken by decreasing score (``units``, integers), ties by
    ``tie_break`` (smaller first, default the position); each is funded at
    its capped request ``upper`` (int euros) if it fits in what remains of
    ``available_eur``; ``variant="skip"`` goes on past one that does not fit,
    ``"stop"`` stops there.  With no award cut, no lock and no group rule,
    this is the merit order at δ = 0 (DESIGN.md, « The decision rules »).

    Returns
    -------
    numpy.ndarray of bool
        Aligned with the inputs.
    """
    units = np.asarray(units, dtype=np.int64)
    upper = [int(u) for u in upper]
    tb = np.arange(len(units)) if tie_break is None else np.asarray(tie_break)
    funded = np.zeros(len(units), dtype=bool)
    left = int(available_eur)
    for k in np.lexsort((tb, -units)):
        if upper[k] <= left:
            funded[k] = True
            left -= upper[k]
        elif variant == "stop":
            break
    return funded


def _plain_merit(cands) -> bool:
    """True when the rule on these candidates is the ranking rule computed by :func:`ranking_with_skip`.

    Merit order at δ = 0 without award cuts, locks, group rules or maximum
    number of awards is the ranking rule with skip; the ranking rule itself
    is, whatever its variant, under the same conditions.
    """
    t = cands.table
    p = cands.params
    simple = (not p.group_rules and p.max_awards is None and not bool(t["locked_in"].any())
              and bool((t["max_cut_steps"] == 0).all()))
    return simple and cands.rule in ("merit_order", "ranking")


def _decide_draws(evaluation: Evaluation, cands, units: np.ndarray, sink) -> tuple[np.ndarray, np.ndarray]:
    """Each row of `units` (score units, candidates in ``cands.table`` order) decided by the candidates' rule.

    Merit order at δ = 0 in each draw (the draw's scores are exact: the ex
    aequo band of the plain scores is what the posterior draws represent),
    the ranking rule with its variant.  Plain cases go through
    :func:`ranking_with_skip`; the others (cuts, locks, group rules, maximum
    number of awards) through :func:`ditp_model.rules.allocation.allocate_candidates`
    on the re-ranked candidates, each re-checked in integers there.  Two
    scores exactly equal in a draw (to 10⁻⁴ point, almost never with
    continuous draws) are settled by the named tie-break order in the plain
    case, where the merit order would first prefer the larger spend.
    """
    from ditp_model.rules.allocation import allocate_candidates

    t = cands.table
    ids = t["application_id"].tolist()
    tb = _tie_break_positions(evaluation, ids)
    upper = t["upper_eur"].astype("int64").to_numpy()
    n, m = units.shape
    funded = np.zeros((n, m), dtype=bool)
    awards = np.zeros((n, m), dtype=np.int64)
    plain = _plain_merit(cands)
    variant = "skip" if cands.rule == "merit_order" else cands.params.ranking_variant
    for d in range(n):
        if plain:
            f = ranking_with_skip(units[d], upper, cands.available_eur, tb, variant=variant)
            funded[d] = f
            awards[d] = np.where(f, upper, 0)
        else:
            order = np.lexsort((tb, -units[d]))
            table = t.iloc[order].reset_index(drop=True).assign(score=units[d][order] / cands.score_unit,
                                                                 score_units=units[d][order])
            alloc = allocate_candidates(replace(cands, table=table, tie_band_units=0))
            if alloc.status is not SolveStatus.OPTIMAL:
                raise AllocationError(f"tirage a posteriori n° {d + 1} : {alloc.status.label_fr}. {alloc.message}")
            dec = alloc.decisions.set_index("application_id")
            funded[d] = dec.loc[ids, "funded"].to_numpy(bool)
            awards[d] = dec.loc[ids, "award_eur"].astype("int64").to_numpy()
        sink.advance_by(1)
    return funded, awards


def band_zones(p_funded, grey_zone=(0.1, 0.9)) -> list[str]:
    """Accepted / lottery / rejected as a band in rank order (SNSF practice).

    `p_funded` is in rank order (best first).  ``funded``: the longest prefix
    whose probabilities are all ≥ high; ``not_funded``: the longest suffix,
    after it, whose probabilities are all ≤ low; ``grey``: everything in
    between — one contiguous band around the funding line, which may hold an
    application funded in most draws or in few, when it lies between
    applications whose outcome is uncertain.

    Returns
    -------
    list of str
        ``funded`` / ``grey`` / ``not_funded``, aligned with `p_funded`.
    """
    lo, hi = _check_grey_zone(grey_zone)
    p = [float(x) for x in p_funded]
    a = 0
    while a < len(p) and p[a] >= hi:
        a += 1
    b = len(p) - 1
    while b >= a and p[b] <= lo:
        b -= 1
    return ["funded"] * a + ["grey"] * (b - a + 1) + ["not_funded"] * (len(p) - 1 - b)


@dataclass(frozen=True)
class PosteriorFunding:
    """Result of :func:`posterior_funding` (immutable).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate application, best expected rank first:
        ``rank`` (1, 2, … in that order), ``application_id``, ``title``,
        ``requested_eur`` (int, the capped request), ``score`` (composite
        points from the plain means, committee's weights),
        ``funded_at_weights`` (bool: funded by the committee's decision on the
        plain scores, under the rule), ``score_pm`` (posterior mean of the
        composite, points), ``score_p05``, ``score_p95``, ``er``,
        ``rank_q05``, ``rank_q25``, ``rank_q75``, ``rank_q95`` (expected rank
        among the candidates of the composite score draws and its intervals,
        as :func:`review_model.expected_ranks`), ``n_funded`` (draws in which
        it is funded under the rule), ``p_funded``, ``expected_award_eur``
        (int, mean award with 0 € when not funded, rounded half up),
        ``zone`` (``funded`` / ``grey`` / ``not_funded``: :func:`band_zones`,
        the one classification), ``zone_fr``, ``rule`` (the decision rule).
    grey_zone : tuple of float
        ``(low, high)`` bounds of :func:`band_zones`.
    n_draws : int
        Posterior draws decided.
    posterior : dict
        Seed, chains, draws and R̂ of the fit (for the record).
    seconds : float
    params : AllocationParams
        The allocation parameters (``check_alternatives=False``).
    rule : str
        The decision rule applied to every draw (and to the plain scores).
    """

    table: pd.DataFrame
    grey_zone: tuple
    n_draws: int
    posterior: dict
    seconds: float
    params: AllocationParams | None = None
    rule: str = "merit_order"

    def zone_counts(self) -> dict:
        """Zone code -> number of applications."""
        return {z: int((self.table["zone"] == z).sum()) for z in ZONES_FR}

    def zone_counts_fr(self) -> str:
        """``22 financés (…), 19 en zone grise (…), 58 non financés (…)`` with the bounds and the rule."""
        from ditp_model.rules.allocation import RULE_LABELS_FR

        c = self.zone_counts()
        lo, hi = self.grey_zone
        return (f"règle « {RULE_LABELS_FR.get(self.rule, self.rule)} » appliquée à chaque tirage ; dans l'ordre des rangs "
                f"espérés : {c['funded']} financés (tête de classement financée dans au moins {hi * 100:g} % des tirages), "
                f"{c['grey']} en zone grise (tirage au sort), "
                f"{c['not_funded']} non financés (fin de classement financée dans au plus {lo * 100:g} %)")


def _check_grey_zone(grey_zone) -> tuple:
    try:
        lo, hi = (float(x) for x in grey_zone)
    except (TypeError, ValueError):
        raise ValueError(f"zone grise {grey_zone!r} : deux probabilités (basse, haute) sont attendues, par ex. (0.1, 0.9)") from None
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"zone grise ({lo:g}, {hi:g}) : 0 ≤ basse < haute ≤ 1 est attendu")
    return lo, hi


def posterior_funding(evaluation: Evaluation, posterior, params: AllocationParams | None = None, *,
                      n_draws: int | None = 500, grey_zone=(0.1, 0.9), n_jobs: int = 1, scheduler: str | None = None,
                      progress: bool | None = None, on_progress=None) -> PosteriorFunding:
    """Probability of being funded under review uncertainty, each draw decided by the committee's rule.

    For each posterior draw (thinned evenly to `n_draws`), the composite scores
    of :func:`posterior_scores` replace the plain ones and the decision rule
    (``params.rule``, default the call's: the merit order) decides again with
    every other parameter kept (envelope, award bands, locks, group rules).
    The candidates (eligibility, quality thresholds) are those of the plain
    scores.  Merit order is applied at δ = 0 in each draw: a draw's scores
    are exact, and the statistical ties the ex aequo band stands for are what
    the draws and the grey zone represent.  Optimisation rules (for
    comparison only) are re-solved by :class:`ditp_model.uncertainty.resolve.ScoreResolver`.

    The zone is one band in expected-rank order (:func:`band_zones`):
    financed at the head, lottery in the band around the funding line,
    not financed at the tail.

    Parameters
    ----------
    evaluation : Evaluation
    posterior : ReviewPosterior or dict of str -> ReviewPosterior
        Fitted on the votes of :func:`review_model.votes_from_reviews` (candidates only).
    params : AllocationParams, optional
    n_draws : int, optional
        Posterior draws to decide (default 500; None for all).
    grey_zone : (float, float)
        Probability bounds of the band (default 10 % and 90 %).
    n_jobs, scheduler : see :meth:`ditp_model.uncertainty.resolve.ScoreResolver.solve_many` (optimisation rules).
    progress : bool, optional
        tqdm bar (default: only when stderr is a terminal).
    on_progress : callable, optional
        ``on_progress(done, total)``.

    Returns
    -------
    PosteriorFunding

    Raises
    ------
    ValueError
        Bad grey zone or draw count; a candidate of the allocation absent from
        the posterior (French message).
    AllocationError
        A draw whose decision is not a proven optimum or fails the exact check.
    """
    from ditp_model.uncertainty.resolve import ProgressSink

    t0 = time.perf_counter()
    lo, hi = _check_grey_zone(grey_zone)
    params = params or AllocationParams()
    fast = replace(params, check_alternatives=False)
    every = posterior_scores(evaluation, posterior)  # all draws: the ranks; a thinned subset: the decisions
    scores = every.iloc[_draw_indices(len(every), n_draws)]
    cands = check(evaluation, fast)
    rule = cands.rule
    cand = cands.table["application_id"].tolist()
    missing = [a for a in cand if a not in scores.columns]
    if missing:
        raise ValueError(f"dossier(s) candidat(s) sans tirage du modèle des évaluations : {', '.join(missing[:5])} "
                         "(le modèle doit être ajusté sur les évaluations de tous les candidats)")
    if rule in OPTIMISATION_OBJECTIVES:
        from ditp_model.uncertainty.resolve import ScoreResolver

        resolver = ScoreResolver(evaluation, fast)
        cand = list(resolver.candidate_ids)
        funded, awards = resolver.solve_many(scores[cand].to_numpy(), n_jobs=n_jobs, scheduler=scheduler,
                                             progress=progress, on_progress=on_progress)
    else:
        units = np.rint(scores[cand].to_numpy() * cands.score_unit).astype(np.int64)
        sink = ProgressSink(len(units), progress, on_progress, "tirages a posteriori")
        try:
            funded, awards = _decide_draws(evaluation, cands, units, sink)
        finally:
            sink.close()
    n = funded.shape[0]
    reference = allocate(evaluation, fast)
    if reference.status is not SolveStatus.OPTIMAL:
        raise AllocationError(f"décision sur les notes moyennes : {reference.status.label_fr}. {reference.message}")
    funded_ref = set(reference.funded_ids)
    first = posterior if isinstance(posterior, ReviewPosterior) else next(iter(posterior.values()))
    # Ranks of the composite score draws (what the rule sees, computed criteria included), all draws.
    ranks = expected_ranks(replace(first, theta=every.to_numpy(), mu=0.0))
    ranks = ranks.set_index("proposal").loc[cand].reset_index()
    table = evaluation.table.set_index("application_id")
    requested = dict(zip(cands.table["application_id"], (int(u) for u in cands.table["upper_eur"])))
    n_f = funded.sum(axis=0).astype(np.int64)
    sums = [int(s) for s in awards.astype(object).sum(axis=0)]
    p = n_f / n
    sc = scores[cand].to_numpy()
    out = pd.DataFrame({
        "application_id": cand,
        "title": table.loc[cand, "title"].tolist(),
        "requested_eur": pd.array([requested[a] for a in cand], dtype="int64"),
        "score": table.loc[cand, "score"].astype(float).to_numpy(),
        "funded_at_weights": [a in funded_ref for a in cand],
        "score_pm": np.round(sc.mean(axis=0), SCORE_DECIMALS),
        "score_p05": np.round(np.quantile(sc, 0.05, axis=0), SCORE_DECIMALS),
        "score_p95": np.round(np.quantile(sc, 0.95, axis=0), SCORE_DECIMALS),
        "er": ranks["er"].to_numpy(),
        "rank_q05": ranks["rank_q05"].to_numpy(), "rank_q25": ranks["rank_q25"].to_numpy(),
        "rank_q75": ranks["rank_q75"].to_numpy(), "rank_q95": ranks["rank_q95"].to_numpy(),
        "n_funded": pd.array(n_f, dtype="int64"),
        "p_funded": p,
        "expected_award_eur": pd.array([(2 * s + n) // (2 * n) for s in sums], dtype="int64"),
    }).sort_values(["er", "application_id"], kind="mergesort").reset_index(drop=True)
    out.insert(0, "rank", pd.array(np.arange(1, len(out) + 1), dtype="int64"))
    zone = band_zones(out["p_funded"].to_numpy(), (lo, hi))
    out["zone"] = zone
    out["zone_fr"] = [ZONES_FR[z] for z in zone]
    out["rule"] = rule
    info = {"seed": first.seed, "num_chains": first.num_chains, "num_warmup": first.num_warmup,
            "num_samples": first.num_samples, "r_hat": round(max(
                [first.r_hat] if isinstance(posterior, ReviewPosterior) else [q.r_hat for q in posterior.values()]), 4),
            "what": first.votes.what}
    return PosteriorFunding(out, (lo, hi), int(n), info, time.perf_counter() - t0, fast, rule)


# --------------------------------------------------------------------------- lottery


@dataclass(frozen=True)
class Lottery:
    """Result of :func:`grey_zone_lottery` (immutable).

    Attributes
    ----------
    seed : int
        The published seed.
    solid : tuple of str
        Funded without draw (zone ``funded``), id order.
    grey : tuple of str
        The grey zone, sorted by id (the list that is permuted).
    order : tuple of str
        The drawn order of the grey zone.
    winners : tuple of str
        Grey-zone applications funded, in drawn order.
    passed : tuple of str
        Grey-zone applications passed because they no longer fitted.
    decisions : pandas.DataFrame
        The final allocation (solid and winners locked in, every other
        candidate locked out), verified: ``application_id``, ``funded``,
        ``award_eur`` (int) and the other columns of ``Allocation.decisions``.
    available_eur, awarded_eur, remaining_eur : int
    record : dict
        What :func:`ditp_model.outputs.record.record_lottery` writes into the journal.
    """

    seed: int
    solid: tuple
    grey: tuple
    order: tuple
    winners: tuple
    passed: tuple
    decisions: pd.DataFrame
    available_eur: int
    awarded_eur: int
    remaining_eur: int
    record: dict


def lottery_order(grey_ids, seed: int) -> tuple:
    """The drawn order of the grey zone: ``default_rng(seed).permutation(sorted ids)``.

    Parameters
    ----------
    grey_ids : iterable of str
    seed : int
        Non-negative integer, published before the draw.

    Returns
    -------
    tuple of str
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"graine {seed!r} : un entier positif ou nul, publié avant le tirage, est attendu")
    ids = sorted(set(grey_ids))
    perm = np.random.default_rng(int(seed)).permutation(len(ids))
    return tuple(ids[k] for k in perm)


def grey_zone_lottery(evaluation: Evaluation, funding: PosteriorFunding, params: AllocationParams | None = None, *,
                      seed: int) -> Lottery:
    """Fund the accepted applications, then draw lots inside the grey band for the remaining envelope.

    1. Every application of zone ``funded`` (the head of the expected-rank
       order, :func:`band_zones`) is funded; they must fit together
       (envelope, rules), otherwise the lottery is refused.
    2. The grey zone — the band around the funding line, and nothing outside
       it — sorted by id, is permuted with ``numpy.random.default_rng(seed)``
       (:func:`lottery_order`); in that order each application is funded if
       it still fits with those already funded (:func:`allocation.fits_together`:
       envelope, award bands, group rules, maximum number of awards), else
       passed (the "skip" rule: a smaller request further down can still enter).
       Applications of zone ``not_funded`` are never drawn.
    3. The final decision is the allocation with the funded ones locked in and
       every other candidate locked out; its awards are verified in exact
       integers like any decision.

    This is the SNSF's partial lottery (method note §3.2, step 4) carried to a
    money envelope, on the decision rule of `funding` (recorded).

    Parameters
    ----------
    evaluation : Evaluation
    funding : PosteriorFunding
    params : AllocationParams, optional
        The same as for `funding` (same decision rule).
    seed : int
        Published seed (recorded).

    Returns
    -------
    Lottery

    Raises
    ------
    ValueError
        Bad seed; a rule or parameters other than those of `funding`; the
        accepted applications do not fit together (French message).
    AllocationError
        The final allocation is not a proven optimum.
    """
    params = params or AllocationParams()
    fast = replace(params, check_alternatives=False)
    checked = check(evaluation, fast)
    if checked.rule != funding.rule:
        raise ValueError(f"le tirage au sort complète une décision prise selon la règle « {RULE_LABELS_FR[funding.rule]} » : "
                         f"la règle « {RULE_LABELS_FR[checked.rule]} » est refusée (relancer le calcul des probabilités "
                         "avec la règle voulue)")
    if funding.params is not None and fast != funding.params:
        raise ValueError("le tirage au sort doit utiliser les mêmes paramètres d'allocation (enveloppe, verrous, règles) "
                         "que le calcul des probabilités de financement : relancer posterior_funding avec ces paramètres")
    t = funding.table
    solid = tuple(sorted(t.loc[t["zone"] == "funded", "application_id"]))
    grey_ids = tuple(sorted(t.loc[t["zone"] == "grey", "application_id"]))
    order = lottery_order(grey_ids, seed)
    if not fits_together(evaluation, fast, solid):
        raise ValueError(f"les {len(solid)} dossiers de tête financés dans au moins {funding.grey_zone[1]:.0%} des tirages ne "
                         "tiennent pas ensemble dans l'enveloppe : relever le seuil haut de la zone grise")
    winners: list[str] = []
    passed: list[str] = []
    for a in order:
        if fits_together(evaluation, fast, solid + tuple(winners) + (a,)):
            winners.append(a)
        else:
            passed.append(a)
    chosen = frozenset(solid) | frozenset(winners)
    cands = set(checked.table["application_id"])
    final = allocate(evaluation, replace(fast, lock_in=frozenset(params.lock_in) | chosen,
                                         lock_out=frozenset(params.lock_out) | (cands - chosen)))
    if final.status is not SolveStatus.OPTIMAL:
        raise AllocationError(f"décision après tirage au sort : {final.status.label_fr}. {final.message}")
    dec = final.decisions
    awarded = int(sum(int(a) for a, f in zip(dec["award_eur"], dec["funded"]) if f))
    available = int(checked.available_eur)
    record = {
        "method": LOTTERY_METHOD_FR,
        "rule": funding.rule,
        "rule_fr": RULE_LABELS_FR[funding.rule],
        "inputs_sha256": dict(sorted(evaluation.files.items())),
        "weights": {k: round(float(v), 6) for k, v in evaluation.weights.normalised().items()},
        "normalisation": evaluation.normalisation,
        "envelope_eur": int(checked.envelope_eur),
        "seed": int(seed),
        "rng": f"numpy {np.__version__} default_rng (PCG64)",
        "grey_zone_bounds": list(funding.grey_zone),
        "posterior": dict(funding.posterior),
        "n_posterior_draws": funding.n_draws,
        "solid": list(solid),
        "grey_zone": list(grey_ids),
        "order": list(order),
        "winners": list(winners),
        "passed": list(passed),
        "awards_eur": {a: int(x) for a, x, f in zip(dec["application_id"], dec["award_eur"], dec["funded"]) if f},
        "available_eur": available,
        "awarded_eur": awarded,
    }
    return Lottery(int(seed), solid, grey_ids, order, tuple(winners), tuple(passed), dec, available, awarded,
                   available - awarded, record)


def check_lottery_order(record: dict) -> bool:
    """Re-draw the order from the recorded seed and grey zone, and check the winners against it.

    Parameters
    ----------
    record : dict
        :attr:`Lottery.record`, or the journal entry written by :func:`ditp_model.outputs.record.record_lottery`
        (its ``payload``).

    Returns
    -------
    bool
        True when the recorded order is the permutation the seed gives, and
        the winners and passed applications split that order exactly, in order.
    """
    if record.get("event") == "tirage_au_sort" and "payload" in record:
        record = record["payload"]
    order = list(record["order"])
    if list(lottery_order(record["grey_zone"], int(record["seed"]))) != order:
        return False
    winners, passed = list(record.get("winners", [])), list(record.get("passed", []))
    return ([a for a in order if a in set(winners)] == winners and [a for a in order if a in set(passed)] == passed
            and sorted(winners + passed) == sorted(order))


def check_lottery_winners(evaluation: Evaluation, record: dict, params: AllocationParams | None = None) -> bool:
    """Replay the skip rule on the recorded solid set and order: True when it gives the recorded winners.

    Needs the same inputs and parameters as the draw (not the MCMC: the solid
    set and the grey zone are read from the record), so anyone holding the
    input files can check a published draw.

    Parameters
    ----------
    evaluation : Evaluation
    record : dict
        :attr:`Lottery.record` or its journal entry.
    params : AllocationParams, optional

    Returns
    -------
    bool
    """
    if record.get("event") == "tirage_au_sort" and "payload" in record:
        record = record["payload"]
    if not check_lottery_order(record):
        return False
    fast = replace(params or AllocationParams(), check_alternatives=False)
    solid = tuple(record["solid"])
    winners: list[str] = []
    for a in record["order"]:
        if fits_together(evaluation, fast, solid + tuple(winners) + (a,)):
            winners.append(a)
    return winners == list(record["winners"])
