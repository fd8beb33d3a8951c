"""Feedback to applicants: a short French letter fragment per application, generated from the decision table.

Each fragment gives the decision and the award; the score on each criterion
and the overall score against the median of the funded applications; the
rank; and, when the application is not funded, why — in the terms of the
decision rule the committee chose (DESIGN.md, "Explanations"):

* merit order and ranking rule (``merit_order``, ``ranking``): what the
  better-ranked laureates received and, apart, what the applications imposed
  by the committee and ranked below it received (locks are served first:
  named with the committee's motif, and said to cause the shortfall when the
  money would otherwise have sufficed), what was left of the envelope when its
  turn came and what it needed, the ex aequo band and how a tie was settled,
  the limit, lock, exception or quality threshold that excludes it, and the
  score it would have needed — or « aucune note ne suffit », never a number
  above the scale maximum;
* optimisation rules (``max_total_score``, ``max_score_weighted_award``,
  kept for comparison): the *entry gap* — the portfolio value it lacked,
  everything else unchanged (``ditp_model.rules.explain``).  Under
  ``max_total_score`` it is directly the score increase the application
  needed; under ``max_score_weighted_award`` it is in points × euros, and
  divided by the award the application would get (its capped request, when
  the call does not cut requests) it is again a score increase.

After changes to a decision in force (``timeline/withdrawal.py``: columns
``change``, ``change_note``), a laureate who withdrew gets the withdrawal and
its motif, a reduced award the new amount and the motif, a reserve
application funded since the money freed.

Ineligible applications get the reasons.  Nothing about reviewers is
written (no identities, no individual scores).

Applicant-supplied text (title, organisation) is escaped for Markdown and
HTML in the ``.md`` files, and neutralised against spreadsheet formulas in the
CSV (:func:`ditp_model.rules.manifest.csv_bytes`).
"""

from __future__ import annotations

import math
import re

import pandas as pd

from ditp_model.inputs.call import CallRules
from ditp_model.french import format_eur, format_number, format_points, plural_fr
from ditp_model.rules.base import tie_break_fr

__all__ = ["feedback_table", "letter_fr", "feedback_files", "decision_feedback_kwargs", "safe_filename", "TIE_SETTLEMENT_FR",
           "reserve_sentence_fr", "position_fr"]

#: How a tie inside the ex aequo band is settled (merit order; DESIGN.md and ``Explanation.ex_aequo_fr``).
TIE_SETTLEMENT_FR = "par " + tie_break_fr("merit_order")
_MERIT_RULES = ("merit_order", "ranking")
_OBJECTIVES = {"max_total_score": "total_score", "max_score_weighted_award": "score_weighted_award"}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#|!<>~]|&(?=#?\w+;))")


def _md(text) -> str:
    """Applicant text made inert in Markdown (and in the HTML a Markdown renderer makes), on one line.

    Markdown punctuation, ``<`` and ``>`` and an ``&`` that would start an
    entity are backslash-escaped (CommonMark): ``<script>`` shows as text.
    """
    t = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", t)


def safe_filename(application_id: str) -> str:
    """A file name for an application id: letters, digits, ``.``, ``_``, ``-`` only, no leading dot.

    Other characters become ``_``; ``../x`` cannot leave the folder.
    """
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(application_id)).lstrip(".")
    return name or "_"


def _points_word(x) -> str:
    """« point » below 2 (0,50 point ; 1,00 point), « points » from 2 on (:func:`ditp_model.french.plural_fr`)."""
    return plural_fr(x, "point")


def _ordinal(n: int) -> str:
    return "1er" if n == 1 else f"{n}e"


def _pct(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{format_number(100 * x, 1)} / 100"


def _text(row, name: str) -> str:
    v = getattr(row, name, "")
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _decision_kind(row, lock_out) -> str:
    if not row.eligible:
        return "non recevable"
    if _text(row, "list") == "withdrawn" or _text(row, "change") == "withdrawn":
        return "désistement"  # a laureate who withdrew after the decision (timeline/withdrawal.py)
    if row.funded:
        return "retenu"
    if row.application_id in lock_out:
        return "écarté par le comité"
    if _text(row, "review_status"):
        return _text(row, "review_status")  # « en attente d'évaluation » (issue 13): held, not rejected
    if pd.isna(row.rank):
        return "non classé"
    if _text(row, "not_fundable"):
        return "non finançable"
    return "non retenu"


def reserve_sentence_fr(position: int, amount_eur: int) -> str:
    """The plain-words sentence for an application on the reserve list (« liste complémentaire »).

    Parameters
    ----------
    position : int
        Its position on the reserve list (1 = first), as published with the decision.
    amount_eur : int
        What it would receive if money were freed: its capped request, whole euros.

    Returns
    -------
    str
        « Votre projet est inscrit en 3e position sur la liste complémentaire … ».
    """
    rank = "1re" if int(position) == 1 else f"{int(position)}e"
    return (f"Votre projet est inscrit en {rank} position sur la liste complémentaire. Si un lauréat se désiste ou si un "
            f"montant attribué est réduit, l'argent libéré est proposé aux dossiers de cette liste dans leur ordre : votre "
            f"projet serait alors financé à hauteur de {format_eur(int(amount_eur))} si ce montant est disponible quand "
            "son tour vient. Vous en serez informé par écrit.")


def _finite(x) -> bool:
    return x is not None and not pd.isna(x) and math.isfinite(float(x))


def _euros(row, name: str) -> int:
    v = getattr(row, name, -1)
    return -1 if v is None or pd.isna(v) else int(v)


def _score_needed_fr(row, scale_max: float = 100.0) -> str:
    """The entry gap in words: the score it needed, or « aucune note ne suffit » (never above the scale maximum)."""
    needed = getattr(row, "score_needed", math.nan)
    if not _finite(needed) or float(needed) > scale_max:
        return ("Écart d'entrée : aucune note ne suffit — même avec la note maximale de "
                f"{format_number(scale_max, 0)} / 100, les autres dossiers restant inchangés, le dossier n'aurait pas pu être "
                "retenu.")
    # score_needed is the lowest score (4 decimals) that suffices, exact under the rule (rules/entry_score.py):
    # rounded up to the 0,01 point shown, it still suffices, and 0,01 point less does not
    from ditp_model.rules.entry_score import shown_needed_score

    shown = shown_needed_score(needed)
    gap = shown - float(row.score)
    return (f"Écart d'entrée : il aurait fallu une note globale d'au moins {format_points(shown)} / 100 (note du dossier : "
            f"{format_points(row.score)}), soit {format_points(gap)} {_points_word(gap)} de plus, pour que le dossier soit retenu, "
            "les autres dossiers restant inchangés.")


def _imposed_fr(imposed, lock_reasons) -> str:
    """« P045 (motif : Seul projet ultramarin) », the imposed applications named with the committee's motif."""
    parts = []
    for aid, _award in imposed:
        why = (lock_reasons or {}).get(str(aid), "")
        parts.append(f"{_md(aid)}" + (f" (motif : {_md(why)})" if why else ""))
    return ", ".join(parts)


def _money_lines(row, envelope_eur, imposed_after=(), lock_reasons=None) -> list[str]:
    """What was spent before its turn, split truthfully: better-ranked laureates, imposed applications, what was left.

    `imposed_after` lists ``(id, award)`` of the applications imposed by the
    committee (lock-in) ranked *below* this one: locks are served first, so
    their awards are in ``better_ranked_awarded_eur`` but they are not
    better ranked.
    """
    better, left, need = _euros(row, "better_ranked_awarded_eur"), _euros(row, "left_when_turn_eur"), _euros(row, "needed_eur")
    if not (better >= 0 and left >= 0 and need >= 0):
        return []
    env = f" de {format_eur(envelope_eur)}" if envelope_eur else ""
    imposed_eur = sum(int(a) for _, a in imposed_after)
    if not imposed_after:
        return [f"Les dossiers mieux classés retenus ont reçu au total {format_eur(better)} ; quand son tour est venu, il "
                f"restait {format_eur(left)} sur l'enveloppe{env} ; il fallait au moins {format_eur(need)} pour financer "
                "ce dossier."]
    one = len(imposed_after) == 1
    lines = [f"Les dossiers mieux classés retenus ont reçu au total {format_eur(better - imposed_eur)} ; "
             + ("le dossier imposé par le comité, classé après lui mais financé en premier, " if one else
                "les dossiers imposés par le comité, classés après lui mais financés en premier, ")
             + f"{'a' if one else 'ont'} reçu {format_eur(imposed_eur)} : {_imposed_fr(imposed_after, lock_reasons)} ; "
             f"quand son tour est venu, il restait {format_eur(left)} sur l'enveloppe{env} ; il fallait au moins "
             f"{format_eur(need)} pour financer ce dossier."]
    if left < need <= left + imposed_eur:
        lines.append("Le manque d'argent à son rang vient " + ("du dossier imposé" if one else "des dossiers imposés")
                     + " par le comité : sans " + ("lui" if one else "eux") + ", le reste de l'enveloppe aurait suffi à "
                     "financer ce dossier.")
    return lines


def _exception_fr(keeps: str, imposed_after=(), lock_reasons=None) -> str:
    """An exception to merit order in an applicant's words (trial 1, item 12): who was funded first and why, never who else lost.

    « Un dossier moins bien classé a été financé avant le vôtre par décision motivée du comité : <motif>. »  The
    motifs are the committee's written reasons of the locks ranked below this application (`imposed_after`,
    `lock_reasons`; without them, the causes written in `keeps_out`); an application funded first for a minimum-count rule is named by its rule, read from
    `keeps_out` (« règle « … » »).  No other unsuccessful applicant is named: the letter goes to one applicant.
    The imposed application itself is named by the money line that follows (:func:`_money_lines`): a laureate,
    named with its motif in the published report (exceptions to merit order, procedure annex) and in the
    list of laureates.
    """
    motifs = [str((lock_reasons or {}).get(str(a), "")).strip() for a, _ in imposed_after]
    n = len(imposed_after)
    if not n:  # the locks were not passed: read the causes of the exceptions (« imposé par le comité : motif »)
        locks = re.findall(r"imposé par le comité(?: : (.+?))?(?= ;|$)", keeps)
        n, motifs = len(locks), [m.strip() for m in locks]
    motifs = [m for m in dict.fromkeys(motifs) if m]
    if n:
        who = "Un dossier moins bien classé a été financé" if n == 1 else f"{n} dossiers moins bien classés ont été financés"
        if not motifs:  # a provisional decision may still lack the committee's written motif
            return f"{who} avant le vôtre par décision du comité."
        return f"{who} avant le vôtre par décision motivée du comité : {_md(' ; '.join(motifs))}."
    rules = re.findall(r"règle « (.+?) »(?= ;|$)", keeps)
    why = f" : {_md(' ; '.join(dict.fromkeys(rules)))}" if rules else ""
    return ("Un dossier moins bien classé a été financé avant le vôtre en application d'une règle de portefeuille "
            f"fixée par le comité{why}.")


def _merit_lines(row, ex_aequo_ids, tie_band_points: float, envelope_eur, imposed_after=(), lock_reasons=None) -> list[str]:
    """Why an unfunded, fundable application is not funded under the merit order or the ranking rule."""
    lines = []
    reason = _text(row, "reason")
    keeps = _text(row, "keeps_out")
    from ditp_model.rules.funding_line import HELD_OUT_PREFIX as limit_prefix
    if reason == "exception" and keeps.startswith(limit_prefix):  # held out by a maximum share or number of awards
        lines.append("Une règle de portefeuille fixée par le comité l'a empêché, alors que des dossiers moins bien classés "
                     "sont financés (exception à l'ordre de mérite, nommée dans le rapport avec sa cause) : "
                     f"{_md(keeps.removeprefix(limit_prefix))}.")
        if _text(row, "list") == "reserve":
            lines.append("Sur la liste complémentaire, l'argent libéré ne pourra lui être proposé que si cette règle de "
                         "portefeuille le permet alors.")
        lines += _money_lines(row, envelope_eur, imposed_after, lock_reasons)
        lines.append(_score_needed_fr(row))
        return lines
    if reason == "exception":
        lines.append(_exception_fr(keeps, imposed_after, lock_reasons))
        lines += _money_lines(row, envelope_eur, imposed_after, lock_reasons)
        lines.append(_score_needed_fr(row))
        return lines
    lines += _money_lines(row, envelope_eur, imposed_after, lock_reasons)
    if reason == "envelope":
        lines.append("Le reste de l'enveloppe ne suffisait pas à financer le dossier à son rang.")
    elif reason == "tie":
        others = [a for a in ex_aequo_ids if a != row.application_id]
        with_ = f" avec {', '.join(_md(a) for a in others)}" if others else ""
        lines.append(f"Le reste suffisait, mais le dossier est **ex aequo**{with_} à la ligne de financement (notes à moins de "
                     f"{format_points(tie_band_points)} {_points_word(tie_band_points)} d'écart, que les évaluations ne permettent pas de départager) ; "
                     f"l'égalité a été départagée {TIE_SETTLEMENT_FR}.")
    elif reason in ("limit", "none"):
        lines.append(f"Une règle fixée par le comité l'a empêché : {_md(keeps)}.")
    if reason != "tie" and bool(getattr(row, "ex_aequo", False)):
        lines.append(f"Le dossier est **ex aequo** à la ligne de financement (notes à moins de {format_points(tie_band_points)} "
                     f"{_points_word(tie_band_points)} d'écart) ; l'égalité a été départagée {TIE_SETTLEMENT_FR}.")
    lines.append(_score_needed_fr(row))
    return lines


def position_fr(row, kind: str, n_ranked: int, n_funded: int, worst_funded, total_eur: int, envelope_eur,
              imposed_why: str | None = None, line=None) -> str:
    """Where the application stands against the funding line, in plain words (the letters' « position » field).

    `imposed_why` is the committee's motif when the application was imposed by the committee
    (lock-in): it is then not placed against the funding line, which it did not have to reach.
    `worst_funded` is the rank of the last laureate funded in merit order and `line` the
    :class:`~ditp_model.rules.explain.FundingLine` (merit rules; None otherwise): the imposed
    applications are counted apart, never as the line (trial 1, item 2).
    """
    env = f" de {format_eur(envelope_eur)}" if envelope_eur else ""
    if kind == "non recevable":
        return "Votre dossier n'a pas été noté ni classé : seuls les dossiers recevables le sont."
    if pd.isna(row.score) or pd.isna(row.rank):
        return "Votre dossier n'a pas pu être noté et classé ; il ne figure donc pas dans l'ordre de financement."
    where = (f"Avec une note globale de {format_points(row.score)} / 100, votre dossier est classé {_ordinal(int(row.rank))} "
             f"sur {n_ranked} dossiers recevables notés.")
    imposed = line.imposed if line is not None else ()
    n_locks = sum(1 for i in imposed if str(i[3]).startswith("imposé par le comité"))
    n_rules = len(imposed) - n_locks  # funded first for a minimum-count rule (manifest's ``funded_first``)
    parts = ([f"{n_locks} {'imposé' if n_locks == 1 else 'imposés'} par le comité"] if n_locks else []) + (
        [f"{n_rules} {'financé' if n_rules == 1 else 'financés'} d'abord au titre d'une règle de nombre minimal de lauréats"]
        if n_rules else [])
    imposed_fr = f", dont {' et '.join(parts)} hors de l'ordre du classement" if parts else ""
    rule_cause = next((str(c) for a, _, _, c in imposed if a == str(row.application_id)
                       and not str(c).startswith("imposé par le comité")), None)
    first_out = line.first_out if line is not None else None
    line_fr = line
    line = (f"L'enveloppe{env} a permis de financer {n_funded} {'dossier' if n_funded <= 1 else 'dossiers'}, pour un total "
            f"de {format_eur(total_eur)}{imposed_fr}"
            + (f" ; le dernier dossier retenu dans l'ordre du classement est classé {_ordinal(worst_funded)}." if worst_funded
               else "."))
    if kind == "désistement":
        note = _text(row, "change_note")
        return f"{where} Il avait été retenu ; le porteur s'est désisté après la décision ({note or 'désistement'}). {line}"
    if kind == "retenu" and imposed_why is not None:
        return f"{where} Il a été imposé par le comité : {imposed_why or 'motif non indiqué'}. {line}"
    if kind == "retenu" and imposed_why is None and rule_cause is not None:
        what = f"au titre de la {rule_cause}" if rule_cause.startswith("règle") else f"({rule_cause})"
        return f"{where} Il a été financé en premier, hors de l'ordre du classement, {what}. {line}"
    if kind == "retenu" and first_out is not None and int(row.rank) > int(first_out[1]):
        why = next((w for a, _, _, w in line_fr.below if a == str(row.application_id)), "")
        how = ("ex aequo à la ligne de financement, il a été retenu par le départage de l'appel" if why == "ex aequo"
               else "il a été financé sur le reste de l'enveloppe, qui ne suffisait pas aux dossiers mieux classés non retenus")
        return f"{where} Il est classé sous la ligne de financement ; {how}. {line}"
    if kind == "retenu":
        return f"{where} Il se situe au-dessus de la ligne de financement. {line}"
    if kind == "non finançable":
        return (f"{where} Il n'atteint pas un seuil de qualité fixé pour l'appel : il ne pouvait pas être financé, quelle que "
                f"soit sa place dans le classement. {line}")
    if worst_funded and int(row.rank) < worst_funded:
        return (f"{where} Bien que classé avant le dernier dossier retenu, il n'a pas pu être financé, pour le motif indiqué "
                f"ci-dessous. {line}")
    return f"{where} Il se situe sous la ligne de financement. {line}"


def _optimum_lines(row, objective: str, gaps_computed: bool, worst_funded_rank, envelope_eur) -> list[str]:
    """Why an unfunded application is not funded under an optimisation rule (entry gap in portfolio value)."""
    lines = []
    gap = getattr(row, "entry_gap", math.nan)
    keeps = _text(row, "keeps_out")
    if _finite(gap):
        if objective == "total_score":
            need = gap
        elif int(row.award_floor_eur) == int(row.award_cap_eur) and int(row.award_cap_eur) > 0:
            need = gap / int(row.award_cap_eur)
        else:
            need = None
        if need is not None and need <= 0:
            lines.append("Écart d'entrée : nul — le dossier était à égalité avec la sélection retenue, départagée par "
                         "la règle de départage de l'appel (note, puis date de dépôt, puis identifiant).")
        elif need is not None and float(row.score) + need > 100:
            lines.append("Écart d'entrée : aucune note ne suffit — même avec la note maximale de 100 / 100, le dossier n'aurait "
                         "pas été retenu, les autres dossiers restant inchangés.")
        elif need is not None:
            word = _points_word(need)  # « 0,78 point », « 4,45 points »
            lines.append(f"Écart d'entrée : {format_points(need)} {word} — il aurait fallu une note globale supérieure "
                         f"d'au moins {format_points(need)} {word} pour que le dossier soit retenu, les autres dossiers "
                         "restant inchangés.")
        else:
            lines.append(f"Écart d'entrée : {format_number(gap / 1000, 1)} points × k€ de valeur de portefeuille.")
    elif keeps.startswith("impossible"):
        lines.append(f"Le dossier ne pouvait pas être retenu avec les règles fixées par le comité : {_md(keeps)}.")
    elif not gaps_computed:
        lines.append("Écart d'entrée : non calculé pour ce rapport.")
    if (objective == "total_score" and worst_funded_rank is not None and not pd.isna(row.rank)
            and int(row.rank) < worst_funded_rank):
        env = f" de {format_eur(envelope_eur)}" if envelope_eur else ""
        lines.append("La sélection retient l'ensemble de dossiers dont la somme des notes est la plus élevée dans "
                     f"l'enveloppe{env} : un dossier bien noté mais dont la demande est élevée "
                     f"({format_eur(int(row.requested_eur))}) peut laisser la place à plusieurs dossiers moins coûteux.")
    return lines


def letter_fr(row, rules: CallRules, medians: dict, n_ranked: int, *, rule: str = "merit_order",
              gaps_computed: bool = True, lock_out=frozenset(), worst_funded_rank: int | None = None,
              envelope_eur: int | None = None, tie_band_points: float = 0.0, ex_aequo_ids=(), footer: str = "",
              lock_reasons=None, imposed=()) -> str:
    """The Markdown letter fragment of one application (a row of :func:`ditp_model.rules.manifest.decision_table`).

    Parameters
    ----------
    row : namedtuple
        One row of the decision table (``itertuples``).
    rules : CallRules
        Criterion labels.
    medians : dict
        ``"score"`` and ``"<criterion>_score"`` -> median over funded applications.
    n_ranked : int
        Number of ranked (eligible, scored) applications.
    rule : str
        The decision rule of the table (:data:`ditp_model.inputs.call.RULE_NAMES`).
    tie_band_points : float
        δ of the merit order (0 otherwise).
    ex_aequo_ids : sequence of str
        Applications flagged ex aequo at the funding line.
    lock_reasons : mapping, optional
        Application id -> the committee's written reason for imposing or
        excluding it (:attr:`ditp_model.rules.allocation.AllocationParams.lock_reasons`).
    imposed : sequence of (str, float, int)
        The funded applications imposed by the committee (lock-in): id, rank
        (NaN if unranked), award in whole euros.  An unfunded application
        ranked above one of them gets the money spent before its turn split
        between better-ranked laureates and these imposed applications.
    """
    kind = _decision_kind(row, lock_out)
    why = (lock_reasons or {}).get(str(row.application_id), "")
    lines = [f"### Dossier {_md(row.application_id)} — « {_md(row.title)} »", "", f"Porteur : {_md(row.lead_org)}", ""]
    if kind == "retenu":
        detail = f"montant demandé : {format_eur(row.requested_eur)}"
        if int(row.award_eur) < int(row.requested_eur):
            cap = int(row.award_cap_eur)
            if cap < int(row.requested_eur) and int(row.award_eur) == cap:
                detail += f" ; plafond applicable : {format_eur(cap)}"
            else:
                detail += f" ; montant ajusté par le comité dans la limite de {format_eur(cap)}"
        change, note = _text(row, "change"), _text(row, "change_note")
        if change == "reduced":
            detail = f"montant demandé : {format_eur(row.requested_eur)}"
        lines.append(f"**Décision : retenu — montant attribué : {format_eur(int(row.award_eur))}** ({detail}).")
        if why and row.application_id not in lock_out:
            lines.append(f"Le comité a décidé de retenir ce dossier ; motif : {_md(why)}.")
        if change == "reduced":
            lines.append(f"Le montant attribué a été réduit après la décision ; nouveau montant : "
                         f"{format_eur(int(row.award_eur))} — {_md(note or 'montant réduit')}.")
        elif change == "from_reserve":
            lines.append("Le dossier était inscrit sur la liste complémentaire ; il est financé grâce à l'argent libéré "
                         f"après la décision — {_md(note or 'financé sur la liste complémentaire')}.")
    elif kind == "désistement":
        note = _text(row, "change_note")
        lines.append("**Décision : désistement** — le dossier avait été retenu ; le porteur a renoncé à la subvention, "
                     f"qui n'est plus attribuée ({_md(note or 'désistement')}). L'argent libéré est proposé aux dossiers "
                     "de la liste complémentaire.")
    elif kind == "non recevable":
        lines.append("**Décision : non recevable.** Le dossier ne remplit pas les conditions de l'appel : "
                     f"{_md(row.reasons)}.")
    elif kind == "écarté par le comité":
        lines.append("**Décision : non retenu** — écarté par décision du comité"
                     + (f" ; motif : {_md(why)}." if why else "."))
    elif kind == "en attente d'évaluation":
        missing = int(getattr(row, "reviews_missing", 0) or 0)
        lines.append(f"**Décision : en attente d'évaluation** — le dossier n'a pas encore le nombre d'avis d'experts requis "
                     f"(il en manque {missing}) ; il sera classé et examiné lorsque ces avis auront été reçus.")
    elif kind == "non classé":
        reason = _text(row, "keeps_out") or "avis des évaluateurs insuffisants"
        lines.append(f"**Décision : non retenu** — le dossier n'a pas pu être classé : {_md(reason)}.")
    elif kind == "non finançable":
        why = _text(row, "not_fundable").removeprefix("non finançable : ")
        lines.append(f"**Décision : non retenu** — non finançable : le dossier n'atteint pas un seuil de qualité de l'appel "
                     f"({_md(why)}).")
    elif _text(row, "list") == "reserve" and _finite(getattr(row, "reserve_rank", None)):
        lines += ["**Décision : non retenu sur la liste principale — inscrit sur la liste complémentaire.**", "",
                  reserve_sentence_fr(int(row.reserve_rank), int(row.award_cap_eur))]
    else:
        lines.append("**Décision : non retenu.**")
    if kind == "non recevable" or pd.isna(row.score):
        lines += ["", _md(rules.appeal_route_fr())]
        if footer:
            lines += ["", f"_{_md(footer)}_"]
        return "\n".join(lines) + "\n"

    lines += ["", "| Critère | Votre dossier | Médiane des lauréats |", "|---|---|---|"]
    for c in rules.criteria:
        lines.append(f"| {_md(c.label)} | {_pct(getattr(row, f'{c.name}_score'))} | {_pct(medians.get(f'{c.name}_score'))} |")
    med = medians.get("score")
    med_s = "—" if med is None or (isinstance(med, float) and math.isnan(med)) else f"{format_points(med)} / 100"
    lines.append(f"| **Note globale** | **{format_points(row.score)} / 100** | **{med_s}** |")
    lines.append("")
    if not pd.isna(row.rank):
        lines.append(f"Classement par note : {_ordinal(int(row.rank))} sur {n_ranked} dossiers recevables notés.")
    if (kind == "retenu" and rule in _MERIT_RULES and bool(getattr(row, "ex_aequo", False))
            and _text(row, "change") != "from_reserve"):  # funded since from the reserve list: not at the line any more
        others = [a for a in ex_aequo_ids if a != row.application_id]
        with_ = f" avec {', '.join(_md(a) for a in others)}" if others else ""
        lines.append(f"Le dossier est **ex aequo**{with_} à la ligne de financement (notes à moins de "
                     f"{format_points(tie_band_points)} {_points_word(tie_band_points)} d'écart) ; l'égalité a été départagée {TIE_SETTLEMENT_FR}.")
    if kind == "non retenu":
        if rule in _MERIT_RULES:
            after = [(a, w) for a, r, w in imposed
                     if not pd.isna(row.rank) and not pd.isna(r) and float(r) > float(row.rank)]
            lines += _merit_lines(row, ex_aequo_ids, tie_band_points, envelope_eur, after, lock_reasons)
        else:
            lines += _optimum_lines(row, _OBJECTIVES.get(rule, "total_score"), gaps_computed, worst_funded_rank, envelope_eur)
    lines += ["", _md(rules.appeal_route_fr())]
    if footer:
        lines += ["", f"_{_md(footer)}_"]
    return "\n".join(lines) + "\n"


def feedback_table(table: pd.DataFrame, rules: CallRules, *, rule: str = "merit_order", gaps_computed: bool = True,
                   lock_out=frozenset(), envelope_eur: int | None = None, tie_band_points: float = 0.0,
                   footer: str = "", lock_reasons=None, lock_in=frozenset()) -> pd.DataFrame:
    """One letter fragment per application, in the table's order.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`ditp_model.rules.manifest.decision_table` (with its explanation columns when computed).
    rules : CallRules
    rule : str
        The decision rule that produced the table (the letters explain the
        decision in its terms; see the module docstring).
    gaps_computed : bool
        Entry gaps computed (optimisation rules; the merit rules always explain).
    lock_out : set of str
        Applications the committee excluded.
    envelope_eur : int, optional
        The envelope available, shown in the explanations.
    tie_band_points : float
        δ of the merit order (ex aequo band, points).
    footer : str
        A closing line (source of the decision).
    lock_reasons : mapping, optional
        Application id -> the committee's reason for a lock, quoted in the letter.
    lock_in : set of str
        Applications the committee imposed (their awards are served first).

    Returns
    -------
    pandas.DataFrame
        ``application_id``, ``intitule``, ``decision`` (``retenu``, ``non
        retenu``, ``non finançable`` (below a quality threshold), ``non
        recevable``, ``non classé``, ``écarté par le comité``, ``en attente
        d'évaluation`` (too few valid reviews, issue 13), ``désistement`` (a
        laureate who withdrew after the decision: ``list`` ``withdrawn``)),
        ``montant_attribue_eur`` (int), ``lettre`` (Markdown).
    """
    funded = table[table["funded"]]
    medians = {c: (float(funded[c].median()) if len(funded) else math.nan)
               for c in ["score", *[f"{c.name}_score" for c in rules.criteria]]}
    n_ranked = int(table["rank"].notna().sum())
    worst = int(funded["rank"].max()) if len(funded) and funded["rank"].notna().any() else None
    ex_aequo = ([str(a) for a, f in zip(table["application_id"], table["ex_aequo"]) if f] if "ex_aequo" in table else [])
    lock_in = {str(a) for a in lock_in}
    imposed = [(str(a), r, int(w)) for a, r, w in zip(funded["application_id"], funded["rank"], funded["award_eur"])
               if str(a) in lock_in]
    rows = []
    for row in table.itertuples(index=False):
        text = letter_fr(row, rules, medians, n_ranked, rule=rule, gaps_computed=gaps_computed, lock_out=lock_out,
                         worst_funded_rank=worst, envelope_eur=envelope_eur, tie_band_points=tie_band_points,
                         ex_aequo_ids=ex_aequo, footer=footer, lock_reasons=lock_reasons, imposed=imposed)
        rows.append((str(row.application_id), str(row.title), _decision_kind(row, lock_out), int(row.award_eur), text))
    out = pd.DataFrame(rows, columns=["application_id", "intitule", "decision", "montant_attribue_eur", "lettre"])
    out["montant_attribue_eur"] = out["montant_attribue_eur"].astype("int64")
    return out


def decision_feedback_kwargs(allocation, *, gaps_computed: bool) -> dict:
    """The arguments of :func:`feedback_table` / :func:`feedback_files` that describe a decision, from its allocation.

    One place for the report (:func:`ditp_model.outputs.report.export_files`) and for the letters rebuilt after a
    withdrawal or a reduction (:func:`ditp_model.outputs.updates.updated_files`), so that both explain a decision
    the same way: ``rule``, ``gaps_computed``, ``lock_out``, ``lock_in`` (the imposed applications' awards are
    told apart from those of the better-ranked laureates), ``lock_reasons``, ``envelope_eur`` (the available
    envelope, whole euros) and ``tie_band_points`` (δ under the merit order, 0 otherwise).

    Parameters
    ----------
    allocation : ditp_model.rules.base.Allocation
        The decision (its candidates carry the parameters).
    gaps_computed : bool
        Whether the decision's explanation computed entry gaps (optimisation rules; the merit rules always explain).
    """
    c = allocation.candidates
    return {"rule": allocation.rule, "gaps_computed": bool(gaps_computed), "lock_out": c.params.lock_out,
            "envelope_eur": c.available_eur, "tie_band_points": c.tie_band_points if c.rule == "merit_order" else 0.0,
            "lock_reasons": dict(c.params.lock_reasons), "lock_in": c.params.lock_in}


def feedback_files(table: pd.DataFrame, rules: CallRules, **kwargs) -> dict[str, bytes]:
    """``retours_candidats.csv`` (all fragments, formulas neutralised) and one ``retours/<id>.md`` per application.

    Keyword arguments are those of :func:`feedback_table`.
    """
    from ditp_model.rules.manifest import csv_bytes

    fb = feedback_table(table, rules, **kwargs)
    files = {"retours_candidats.csv": csv_bytes(fb)}
    seen: dict[str, int] = {}
    for aid, text in zip(fb["application_id"], fb["lettre"]):
        name = safe_filename(aid)
        k = seen.get(name.lower(), 0)
        seen[name.lower()] = k + 1
        if k:
            name = f"{name}_{k + 1}"
        files[f"retours/{name}.md"] = text.encode("utf-8")
    return files
