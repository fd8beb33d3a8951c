"""The panel's controls read as values: the state they show, the envelope a person typed, the application searched.

Plain functions, no widget (tested in ``tests/test_panel_state.py``):

* :func:`state_from_controls` — the :class:`~ditp_model.session.state.PanelState` of the controls' raw values;
* :func:`parse_envelope` — « 2,5 M€ », « 2 500 000 € », « 2500000 » in whole euros, or a French refusal
  (negative, centimes, scientific notation, beyond the panel's ceiling), never a silent clamp;
  :func:`envelope_slider_range` and :func:`envelope_ceiling` — the coarse slider beside the field;
* :class:`ApplicationFinder` — lock tags and the application meant by a search text.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from ditp_model.french import format_eur
from ditp_model.inputs.io import parse_typed_amount
from ditp_model.rules.allocation import AllocationParams
from ditp_model.rules.candidates import not_ranked_reason_fr
from ditp_model.scoring.aggregate import Weights
from ditp_model.session.state import PanelState

__all__ = ["state_from_controls", "parse_envelope", "envelope_slider_range", "envelope_ceiling", "ENVELOPE_STEP_EUR",
           "ApplicationFinder"]


# --------------------------------------------------------------------------- controls -> state


def state_from_controls(base: AllocationParams, *, weights: dict, rule: tuple[str, str], envelope_eur: int,
                        award_floor_eur: int, award_cap_eur: int, min_share: float, lock_in=(), lock_out=(),
                        group_rules=(), max_awards: int | None = None, min_score: float | None = None,
                        min_criterion: dict | None = None, scale_min: float = 0.0, tie_band=None,
                        lock_reasons: dict | None = None) -> PanelState:
    """The state the panel's controls show, from their raw values.

    Parameters
    ----------
    base : AllocationParams
        Settings without a control (committed amount, reserve, solver…), kept as they are.
    weights : dict
        Criterion -> raw slider value (rounded to 6 decimals, as shown).
    rule : (str, str)
        Decision rule and ranking variant (the radio buttons).
    envelope_eur, award_floor_eur, award_cap_eur : int
        Whole euros.
    min_share : float
        Minimum share of the request granted (0–1).
    lock_in, lock_out : iterable of str
        Application ids.
    group_rules : sequence of GroupRule
        The portfolio rules switched on.
    max_awards : int or None
    min_score : float or None
        Overall quality threshold (points); None (default): the call's.
    min_criterion : dict or None
        Criterion -> minimum on the review scale; a value at `scale_min` means no threshold; None (default):
        the call's thresholds.
    tie_band : float, "auto" or None
        Ex aequo band δ (points); None (default): the call's.  (A caller who leaves out a control keeps the
        call's value, as :class:`~ditp_model.rules.base.AllocationParams` does; trial 2, S5.)
    lock_reasons : dict, optional
        Application id -> the committee's reason typed beside the lock (issue 13).  Only the reasons of
        locked applications that are not blank are kept (stripped); a lock without one is shown « motif à
        écrire » (:func:`ditp_model.session.due_process.lock_reasons_table_fr`).

    Raises
    ------
    ValueError
        A floor above the cap (French message with both amounts).
    """
    if award_floor_eur > award_cap_eur:
        raise ValueError(f"plancher {format_eur(award_floor_eur)} supérieur au plafond {format_eur(award_cap_eur)}")
    w = Weights(tuple((k, round(float(v), 6)) for k, v in weights.items()))
    rule_name, variant = rule
    lock_in, lock_out = frozenset(lock_in), frozenset(lock_out)
    reasons = {str(a): str(w).strip() for a, w in (lock_reasons or {}).items()
               if a in lock_in | lock_out and w is not None and str(w).strip()}
    params = replace(
        base,
        envelope_eur=int(envelope_eur), award_floor_eur=int(award_floor_eur), award_cap_eur=int(award_cap_eur),
        min_share=round(float(min_share), 6), lock_in=lock_in, lock_out=lock_out, lock_reasons=reasons,
        group_rules=tuple(group_rules), max_awards=max_awards, rule=rule_name, ranking_variant=variant,
        min_score=None if min_score is None else round(float(min_score), 6),
        min_criterion=(None if min_criterion is None
                       else tuple((k, round(float(v), 6)) for k, v in min_criterion.items() if v > scale_min)),
        tie_band_points=None if tie_band is None else "auto" if tie_band == "auto" else round(float(tie_band), 6),
        check_alternatives=False,
    )
    return PanelState(w, params)


# --------------------------------------------------------------------------- the envelope typed by a person

def parse_envelope(text: str, *, ceiling_eur: int | None = None) -> int:
    """The envelope a person typed, in whole euros.

    Accepted: ``"2 500 000"``, ``"2 500 000 €"``, ``"2500000"`` (the amounts of
    the spreadsheets), and with a multiplier ``"2,5 M€"``, ``"2.5 M"``,
    ``"2,5 millions d'euros"``, ``"300 k€"``, ``"1,2 Md€"``: read by
    :func:`ditp_model.inputs.io.parse_typed_amount`, the command line's parser too.

    Parameters
    ----------
    text : str
    ceiling_eur : int, optional
        Largest envelope accepted (whole euros); None: no ceiling.

    Returns
    -------
    int
        Whole euros, ≥ 0.

    Raises
    ------
    ValueError
        French message quoting the text: empty, not an amount, negative, not
        whole euros (« 2,5555555 M€ »), scientific notation, ambiguous
        (« 120,000 »), or above `ceiling_eur`.
    """
    raw = (text or "").strip()
    if not raw:
        raise ValueError("enveloppe vide : écrire un montant, par ex. 2 500 000 € ou 2,5 M€")
    try:
        amount = parse_typed_amount(raw)
    except ValueError as exc:
        raise ValueError(f"enveloppe « {raw} » : {exc}") from None
    if ceiling_eur is not None and amount > ceiling_eur:
        raise ValueError(f"enveloppe « {raw} » = {format_eur(amount)} : au-delà du plafond du panneau "
                         f"({format_eur(ceiling_eur)}, dix fois le total des demandes éligibles) ; vérifier le nombre de zéros")
    return amount


#: Step of the envelope slider (whole euros): coarse; the text field beside it sets the exact amount.
ENVELOPE_STEP_EUR = 10_000


def envelope_slider_range(envelope_eur: int, eligible_request_eur: int) -> tuple[int, int, int]:
    """(min, max, step) of the coarse envelope slider, whole euros.

    From 0 to the total requested by eligible applications (more money changes
    nothing), extended to `envelope_eur` when it is larger, by steps of
    :data:`ENVELOPE_STEP_EUR`.  An envelope typed beyond the range extends it
    (never clamped).
    """
    return 0, max(int(eligible_request_eur), int(envelope_eur)), ENVELOPE_STEP_EUR


def envelope_ceiling(eligible_request_eur: int) -> int:
    """Largest envelope the panel accepts: ten times the eligible requests (a typing slip beyond), at least 1 M€."""
    return max(10 * int(eligible_request_eur), 1_000_000)


# --------------------------------------------------------------------------- search for an application


class ApplicationFinder:
    """Eligible, scored applications as lock tags (« P044 · Titre abrégé… »), and a search over them.

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`Evaluation.table` (``application_id``, ``title``, ``lead_org``, ``eligible``, ``scored``).
    """

    def __init__(self, table: pd.DataFrame):
        fundable = table[table["eligible"] & table["scored"]].sort_values("application_id")
        self.tag_of = {a: f"{a} · {_short(title)}" for a, title in zip(fundable["application_id"], fundable["title"])}
        self.id_of_tag = {v: k for k, v in self.tag_of.items()}
        self._search_text = {a: f"{a} · {title} · {org}".casefold()
                             for a, title, org in zip(fundable["application_id"], fundable["title"], fundable["lead_org"])}
        # why each other application cannot be locked: the command line's words (rules.candidates.check)
        self._refused = {r["application_id"]: not_ranked_reason_fr(r)
                         for r in table[~(table["eligible"] & table["scored"])].to_dict("records")}

    @property
    def tags(self) -> list[str]:
        return list(self.tag_of.values())

    def tag(self, aid: str) -> str:
        """The tag of an application that can be locked.

        Raises
        ------
        ValueError
            French: why it cannot be locked — not eligible (its motives), awaiting reviews (the reviews it lacks),
            as the command line says it (:func:`ditp_model.rules.candidates.not_ranked_reason_fr`) —, or an unknown id.
        """
        if aid in self._refused:
            raise ValueError(f"dossier {aid} : verrou impossible ({self._refused[aid]})")
        if aid not in self.tag_of:
            raise ValueError(f"dossier {aid} : verrou impossible, aucun dossier de ce numéro dans les candidatures")
        return self.tag_of[aid]

    def resolve(self, text: str) -> str:
        """The application id meant by a search text: an id (``P044``), a suggestion, or words of one title or lead organisation.

        Raises
        ------
        ValueError
            Nothing or several applications match (French message).
        """
        q = (text or "").strip()
        if not q:
            raise ValueError("taper un numéro de dossier ou des mots de son titre")
        head = q.split("·")[0].strip().upper()
        if head in self.tag_of:
            return head
        if head in self._refused:  # an id that cannot be locked: say why (not eligible, awaiting reviews)
            self.tag(head)
        hits = [a for a, s in self._search_text.items() if q.casefold() in s]
        if not hits and q in self.id_of_tag:
            hits = [self.id_of_tag[q]]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise ValueError(f"aucun dossier éligible et classé ne correspond à « {q} »")
        raise ValueError(f"« {q} » correspond à {len(hits)} dossiers ({', '.join(hits[:6])}{'…' if len(hits) > 6 else ''}) : préciser")


def _short(title: str, n: int = 48) -> str:
    return title if len(title) <= n else title[: n - 1].rstrip() + "…"
