"""Canonical tables: columns declared once, as data, and the one input error class.

The schema is the single source of the data dictionary (``data/README.md`` is
tested against it).  Every column has a canonical English name, a kind
(``text``, ``id``, ``category``, ``list``, ``amount``, ``score``, ``date``), a
unit, whether it is required, the French headers accepted on import and a
French description.

Errors are gathered, never raised one at a time: a reader appends every
:class:`Problem` of a file to a list and raises one :class:`InputError` that
names, for each, the file, the row, the column, the value and the rule broken.
"""

from __future__ import annotations

import calendar
import difflib
import re
import unicodedata
from dataclasses import dataclass, field

__all__ = [
    "Column",
    "Problem",
    "InputError",
    "APPLICATION_COLUMNS",
    "REVIEW_KEY_COLUMNS",
    "ORG_TYPES",
    "ORG_TYPE_LABELS_FR",
    "MATURITY_LEVELS",
    "MATURITY_LABELS_FR",
    "EXPENSE_COLUMNS",
    "LIST_SEPARATOR",
    "COLUMN_LABELS_FR",
    "normalise_header",
    "date_problem_fr",
    "impossible_date_fr",
    "nearest_fr",
    "Suggester",
]

#: Separator of several values in one cell (partners, partner types, regions).
LIST_SEPARATOR = ";"

#: Kinds of organisation, canonical code -> French label.  The eligible ones are
#: listed per call in the TOML rules; the others exist so that ineligible
#: applicants can be read and reported rather than rejected as bad input.
ORG_TYPE_LABELS_FR: dict[str, str] = {
    "ministry": "administration centrale (secrétariat général, direction de ministère)",
    "state_operator": "opérateur de l'État",
    "deconcentrated_service": "administration territoriale de l'État (préfecture, service déconcentré)",
    "local_authority": "collectivité territoriale",
    "private_company": "entreprise privée",
    "association": "association",
}
ORG_TYPES: tuple[str, ...] = tuple(ORG_TYPE_LABELS_FR)

#: Maturity of the project (DESIGN.md glossary), code -> French label.
MATURITY_LABELS_FR: dict[str, str] = {
    "scoping": "cadrage",
    "testing": "test",
    "prototyping": "prototypage",
    "deployment": "déploiement",
}
MATURITY_LEVELS: tuple[str, ...] = tuple(MATURITY_LABELS_FR)


def normalise_header(text: str) -> str:
    """Fold a header for matching: lower case, no accents, single spaces.

    ``"Montant demandé (€)"`` and ``"montant  demande (€)"`` fold alike.
    """
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("’", "'")
    return " ".join(text.lower().strip().lstrip("\ufeff").split())


#: French month names, January first (« le 31 février 2021 »).
MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre")

#: A date written day first (15/10/2021, 15-10-2021, 15.10.2021) or ISO (2021-10-15), with or without a time after it.
_DAY_FIRST_RE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T]\S.*)?$")
_ISO_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\S.*)?$")


def impossible_date_fr(year: int, month: int, day: int) -> str | None:
    """Why a (year, month, day) written by someone is not a date, in French; None when it is one.

    The one wording of an impossible date for every date reader (applications, declarations of
    conflicts, milestones, the call file): « date impossible : le 31 février 2021 n'existe pas (février
    2021 a 28 jours) », « date impossible : il n'y a pas de mois 13 (mois de 1 à 12) ».  Leap years
    follow the Gregorian calendar (:func:`calendar.monthrange`).

    Parameters
    ----------
    year, month, day : int
        As written (``year`` between 1 and 9999).
    """
    if not 1 <= month <= 12:
        return f"date impossible : il n'y a pas de mois {month} (mois de 1 à 12)"
    if not 1 <= year <= 9999:
        return f"date impossible : année {year} hors de 1 à 9999"
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        name = MONTHS_FR[month - 1]
        return f"date impossible : le {day} {name} {year} n'existe pas ({name} {year} a {last} jours)"
    return None


def date_problem_fr(text: str) -> str | None:
    """Why a text written as a date (``31/02/2021``, ``2021-02-31``, ``12/31/2021``) is not one, in French; None when
    its day, month and year exist or when it is not written as a date at all.

    A day-first date whose month is above 12 while its day is not (``10/15/2021``) is said to be written
    month first: the tool reads the day first (JJ/MM/AAAA).
    """
    t = str(text).strip()
    m = _DAY_FIRST_RE.match(t)
    if m:
        day, month, year = (int(x) for x in m.groups())
    else:
        m = _ISO_RE.match(t)
        if not m:
            return None
        year, month, day = (int(x) for x in m.groups())
    why = impossible_date_fr(year, month, day)
    if why and _DAY_FIRST_RE.match(t) and month > 12 and 1 <= day <= 12:
        why += f" ; écrite mois en premier ? l'outil lit le jour en premier : JJ/MM/AAAA ({month:02d}/{day:02d}/{year})"
    return why


def nearest_fr(value: str, choices, *, fold=None) -> str:
    """« ; vouliez-vous dire « P003 » ? » for the known value closest to an unknown one, or ``""`` when none is close.

    Matching ignores case (and what `fold` removes: :func:`normalise_header` ignores accents, spacing and
    case, so « Ile de France » finds « Île-de-France »), then takes the closest by
    :func:`difflib.get_close_matches` (similarity at least 0.8).

    Parameters
    ----------
    value : str
        The value as written.
    choices : iterable of str
        The known values, as they should be written.
    fold : callable, optional
        Folding applied to both sides before comparing (default: lower case).
    """
    fold = fold or (lambda x: str(x).lower())
    folded: dict[str, str] = {}
    for c in choices:
        folded.setdefault(fold(c), str(c))
    key = fold(value)
    if key in folded and folded[key] != value:
        return f" ; vouliez-vous dire « {folded[key]} » ?"
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.8)
    return f" ; vouliez-vous dire « {folded[close[0]]} » ?" if close and folded[close[0]] != value else ""


class Suggester:
    """:func:`nearest_fr` against one set of known values, for the unknown values of one file.

    At most `limit` distinct unknown values get a suggestion (each costs a comparison with every known
    value): a file whose every row is unknown still gets its errors quickly.
    """

    def __init__(self, choices, *, fold=None, limit: int = 100):
        self.choices = [str(c) for c in dict.fromkeys(choices)]
        self.fold = fold
        self.limit = limit
        self._memo: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        if value not in self._memo:
            if len(self._memo) >= self.limit:
                return ""
            self._memo[value] = nearest_fr(value, self.choices, fold=self.fold)
        return self._memo[value]


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    Attributes
    ----------
    name : str
        Canonical (English) column name.
    kind : str
        ``id`` (text, kept as written, ``007`` stays ``007``), ``text``,
        ``category`` (one of ``allowed``), ``list`` (values separated by ``;``),
        ``amount`` (whole euros, ``int``, >= 0), ``score`` (review points on the
        call's scale, may be blank), ``date`` (day first, or ISO 8601).
    unit : str
        Unit of the values (``EUR``, ``points``, ``date``) or ``""``.
    required : bool
        Whether a blank cell is an error.
    description_fr : str
        French description, copied to the data dictionary.
    headers_fr : tuple of str
        French headers accepted on import, besides the canonical name.
    allowed : tuple of str
        Allowed values for ``category`` columns whose values are fixed by the
        schema (call-dependent ones, such as regions, are checked against the
        call rules).
    """

    name: str
    kind: str
    unit: str = ""
    required: bool = True
    description_fr: str = ""
    headers_fr: tuple[str, ...] = field(default_factory=tuple)
    allowed: tuple[str, ...] = field(default_factory=tuple)


#: Expense breakdown columns (euros).  Their sum must equal ``requested_eur``.
EXPENSE_COLUMNS: dict[str, str] = {
    "expense_services_eur": "intellectual_services",
    "expense_digital_tools_eur": "digital_tools",
    "expense_training_eur": "innovation_training",
    "expense_other_eur": "other",
}

APPLICATION_COLUMNS: tuple[Column, ...] = (
    Column("application_id", "id", description_fr="Identifiant unique du dossier (texte, les zéros en tête sont conservés).",
           headers_fr=("identifiant", "id", "n° dossier", "numero de dossier", "dossier")),
    Column("title", "text", description_fr="Intitulé du projet (défi).", headers_fr=("intitule", "titre", "intitule du projet")),
    Column("lead_org", "text", description_fr="Porteur du projet (organisation cheffe de file).", headers_fr=("porteur", "organisation porteuse")),
    Column("lead_org_type", "category", description_fr="Type d'organisation du porteur.", headers_fr=("type de porteur", "type d'organisation du porteur"),
           allowed=ORG_TYPES),
    Column("partners", "list", required=False, description_fr="Partenaires, séparés par « ; ».", headers_fr=("partenaires",)),
    Column("partner_types", "list", required=False,
           description_fr="Type d'organisation de chaque partenaire, dans le même ordre que « partenaires », séparés par « ; ».",
           headers_fr=("types des partenaires", "type des partenaires"), allowed=ORG_TYPES),
    Column("region", "category", description_fr="Région du porteur (liste de l'appel).", headers_fr=("region", "region du porteur")),
    Column("regions_covered", "list", required=False,
           description_fr="Autres régions couvertes par le projet, séparées par « ; » (la région du porteur est toujours comptée).",
           headers_fr=("regions couvertes", "autres regions")),
    Column("priority_reform", "category", required=False,
           description_fr="Réforme prioritaire du Gouvernement à laquelle le projet se rattache (liste de l'appel) ; vide si aucune.",
           headers_fr=("reforme prioritaire", "politique prioritaire")),
    Column("maturity", "category", description_fr="Maturité : cadrage, test, prototypage ou déploiement.",
           headers_fr=("maturite", "stade de maturite"), allowed=MATURITY_LEVELS),
    Column("requested_eur", "amount", "EUR", description_fr="Montant demandé, en euros entiers.",
           headers_fr=("montant demande", "montant demande (€)", "montant demande (eur)")),
    Column("expense_services_eur", "amount", "EUR",
           description_fr="Part de la demande en prestations intellectuelles (études, prototypes, ateliers d'idéation, accompagnement).",
           headers_fr=("prestations intellectuelles", "prestations intellectuelles (€)")),
    Column("expense_digital_tools_eur", "amount", "EUR", description_fr="Part de la demande en outils numériques (licences d'outils collaboratifs).",
           headers_fr=("outils numeriques", "outils numeriques (€)")),
    Column("expense_training_eur", "amount", "EUR", description_fr="Part de la demande en formation à l'innovation.",
           headers_fr=("formation", "formation a l'innovation", "formation (€)")),
    Column("expense_other_eur", "amount", "EUR", description_fr="Part de la demande en dépenses non éligibles à l'appel (autres).",
           headers_fr=("autres depenses", "autres depenses (€)", "autres")),
    Column("submitted_at", "date", "date", description_fr="Date (et heure) de dépôt du dossier ; jour en premier (15/10/2021) ou ISO 8601.",
           headers_fr=("date de depot", "depose le", "date de depot du dossier")),
)

#: Review table key columns; the score columns come from the call's
#: sub-criteria (``<criterion>_<subcriterion>``, e.g. ``impact_reform``).
REVIEW_KEY_COLUMNS: tuple[Column, ...] = (
    Column("application_id", "id", description_fr="Identifiant du dossier évalué.",
           headers_fr=("identifiant", "id", "n° dossier", "numero de dossier", "dossier")),
    Column("reviewer_id", "id", description_fr="Identifiant de l'évaluateur (R01, R02…).", headers_fr=("evaluateur", "expert", "id evaluateur")),
)


#: Short French header of each canonical column, for what a person reads (the secretariat's workbook,
#: :mod:`ditp_model.outputs.workbook`); the long description is the column's ``description_fr``.
COLUMN_LABELS_FR: dict[str, str] = {
    "application_id": "Dossier",
    "title": "Intitulé",
    "lead_org": "Porteur",
    "lead_org_type": "Type de porteur",
    "partners": "Partenaires",
    "partner_types": "Types des partenaires",
    "region": "Région",
    "regions_covered": "Régions couvertes",
    "priority_reform": "Réforme prioritaire",
    "maturity": "Maturité",
    "requested_eur": "Montant demandé",
    "expense_services_eur": "Prestations intellectuelles",
    "expense_digital_tools_eur": "Outils numériques",
    "expense_training_eur": "Formation à l'innovation",
    "expense_other_eur": "Autres dépenses",
    "submitted_at": "Date de dépôt",
    "reviewer_id": "Évaluateur",
}

@dataclass(frozen=True)
class Problem:
    """One broken rule in one cell (or row, or file).

    Attributes
    ----------
    file : str
        Path of the file as given by the user.
    row : int or None
        Line number as the user sees it in a spreadsheet (header = line 1,
        first data row = line 2); ``None`` for a file-level problem.
    column : str or None
        Column header as written in the file (or canonical name).
    value : object
        Offending value as written (``None`` when not applicable).
    rule : str
        The rule broken, in French, with the fix where one is obvious.
    code : str
        Machine code of the rule (``missing_value``, ``duplicate_id``...).
    text_line : int or None
        For a CSV file whose quoted cells hold line breaks: the line of the
        text file where the row starts, when it differs from `row` (the
        spreadsheet row).  The message then gives both.
    """

    file: str
    row: int | None
    column: str | None
    value: object
    rule: str
    code: str = "invalid"
    text_line: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            if self.text_line is not None and self.text_line != self.row:
                parts.append(f"ligne {self.row} du tableur (ligne {self.text_line} du fichier texte)")
            else:
                parts.append(f"ligne {self.row}")
        if self.column is not None:
            noun = "clé" if self.file.lower().endswith((".toml", ".json")) else "colonne"
            parts.append(f"{noun} « {self.column} »")
        where = ", ".join(parts)
        shown = "" if self.value is None else f" : valeur « {self.value} »"
        return f"{where}{shown} — {self.rule}"


class InputError(ValueError):
    """Bad input: one exception carrying every problem found in the input.

    Parameters
    ----------
    problems : list of Problem
        All problems found (never only the first).
    """

    def __init__(self, problems: list[Problem] | Problem):
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        n = len(self.problems)
        head = f"{n} erreur{'s' if n > 1 else ''} dans les données d'entrée :"
        super().__init__("\n".join([head] + [f"  - {p}" for p in self.problems]))


_KIND_FR = {"id": "identifiant (texte)", "text": "texte", "category": "valeur d'une liste", "list": "liste (« ; »)",
            "amount": "montant (euros entiers)", "score": "note", "date": "date"}


def data_dictionary_markdown(rules, extra: dict[str, tuple[Column, ...]] | None = None) -> str:
    """The data dictionary tables (Markdown), generated from the schema and the call rules.

    ``data/README.md`` holds this text between the markers
    ``<!-- dictionnaire:debut -->`` and ``<!-- dictionnaire:fin -->``; a test
    checks that it is up to date.

    Parameters
    ----------
    rules : ditp_model.inputs.call.CallRules
        Gives the review score columns (``<criterion>_<subcriterion>``) and the scale.
    extra : dict, optional
        Further tables, title -> columns (e.g. the milestones of
        :data:`ditp_model.timeline.followup.MILESTONE_COLUMNS`).
    """
    review_columns = rules.review_columns
    scale = (rules.scoring.scale_min, rules.scoring.scale_max)
    allowed_from_call = {"region": "régions de l'appel (`lists.regions`)",
                         "regions_covered": "régions de l'appel (`lists.regions`)",
                         "priority_reform": "réformes de l'appel (`lists.priority_reforms`)"}

    def table(cols):
        lines = ["| colonne | type | unité | obligatoire | en-têtes français acceptés | valeurs admises | description |",
                 "|---|---|---|---|---|---|---|"]
        for c in cols:
            allowed = ", ".join(f"`{a}`" for a in c.allowed) or allowed_from_call.get(c.name, "")
            lines.append(f"| `{c.name}` | {_KIND_FR[c.kind]} | {c.unit or ''} | {'oui' if c.required else 'non'} | "
                         f"{', '.join(c.headers_fr)} | {allowed} | {c.description_fr} |")
        return "\n".join(lines)

    scores = tuple(Column(name, "score", "points", required=False,
                          description_fr=f"Note du sous-critère, de {scale[0]:g} à {scale[1]:g} ; vide si non notée.")
                   for name in review_columns)
    return "\n".join([
        "### Candidatures (`candidatures_exemple.csv`)", "", table(APPLICATION_COLUMNS), "",
        "### Évaluations (`evaluations_exemple.csv`)", "", table(REVIEW_KEY_COLUMNS + scores), "",
        *[line for title, cols in (extra or {}).items() for line in (f"### {title}", "", table(cols), "")],
    ])
