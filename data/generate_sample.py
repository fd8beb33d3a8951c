#!/usr/bin/env python3
"""Generate the FICTITIOUS sample data of ditp-allocation.

Everything written by this script is invented: the projects, titles, amounts,
dates, partnerships and review scores do not describe any real application to
the DITP 2021 call « Co-construire les services publics avec les usagers et
les agents ».  The organisation names are generic administrations (ministry
directorates, prefectures, DDETS...), invented State operators, invented towns
and invented associations or firms; no person is named.  The real number of
2021 applications is not public (27 laureates were announced); 110 is a
plausible order of magnitude, chosen so that the eligible requests are about
3 to 4 times the 3,000,000 € envelope.

Run from anywhere (no need to install the package, only numpy is required)::

    python data/generate_sample.py           # (re)write the three CSV files
    python data/generate_sample.py --check   # exit 1 if the files on disk differ

Files written next to this script, UTF-8 without BOM, ``,`` separator, ``\\n``
line endings, canonical column names, byte for byte identical on every run
(seed ``numpy.random.default_rng(2021)``; ``csv`` module; integers only for
amounts):

* ``candidatures_exemple.csv``: 110 applications ``P001`` to ``P110``;
* ``evaluations_exemple.csv``: reviews by 12 reviewers ``R01`` to ``R12``, four
  sub-criterion scores on the 0–5 scale in steps of 0.5, sorted by
  application then reviewer;
* ``jalons_exemple.csv``: 3 or 4 milestones per laureate of the sample (the
  package's decision with the default weights, ``LAUREATES``), as of
  2022-10-31, tranches summing exactly to the award (see
  ``generate_milestones``); drawn with its own generator
  ``numpy.random.default_rng(2022)``, after the two files above, which it
  leaves unchanged.

Deliberately ineligible applications (one reason each, everything else valid):

* ``P017``: lead organisation is a private company (``private_company``);
* ``P058``: lead organisation is an association (``association``);
* ``P063``: submitted 2021-10-16, one day after the deadline;
* ``P104``: submitted 2021-10-19, after the deadline;
* ``P078``: requests 45,000 €, below the 70,000 € floor;
* ``P091``: 58 % of the request is ineligible expenses (``expense_other_eur``
  above the 50 % limit);
* ``P034``, ``P086``: no priority reform (``priority_reform`` empty);
* ``P099``: local authority whose partners are only another local authority
  and an association (no ministry, State operator or State territorial service).

Special review cases (both applications are eligible):

* ``P047``: no review at all;
* ``P072``: only one review (below ``min_reviews = 2``).

Every other application has 3 distinct reviewers; the load is balanced
(27 or 28 reviews per reviewer).  Scores are a latent quality per project and
sub-criterion, plus a reviewer effect, plus noise, clipped to 0–5 and rounded
to 0.5.  Reviewer ``R04`` is harsh (effect −1.2 points) and ``R09`` lenient
(+1.0 point); the other effects are drawn within ±0.3.  About 4 % of the
individual scores are blank, never a whole row.

Other cases worth knowing (all eligible):

* large collective bids (>= 5 partners or >= 3 regions counting the lead's),
  requesting 130,000–200,000 €: ``P005 P021 P038 P044 P052 P067 P081 P088 P095
  P107``; ``P044`` has exactly 5 partners and one region, ``P088`` exactly 3
  regions and 2 partners, ``P052`` requests exactly 200,000 €;
* ordinary bids above the 120,000 € cap (to be capped): ``P012`` (125,000 €),
  ``P070`` (150,000 €), ``P096`` (135,500 €);
* ``P025`` requests exactly the 70,000 € floor;
* ``P031`` has 45 % ineligible expenses (below the 50 % limit);
* a few amounts are not multiples of 500 € (tests of ``amount_step_eur``);
* several applications are submitted on the deadline day (2021-10-15), and
  application numbers follow the submission dates only roughly.

The region and priority-reform lists are copied from ``appel_2021.toml``
(``tests/test_sample_data.py`` checks them against that file).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np

SEED = 2021
HERE = Path(__file__).resolve().parent
APPLICATIONS_FILE = HERE / "candidatures_exemple.csv"
REVIEWS_FILE = HERE / "evaluations_exemple.csv"
MILESTONES_FILE = HERE / "jalons_exemple.csv"
MILESTONES_SEED = 2022

N_APPLICATIONS = 110
N_REVIEWERS = 12
REVIEWS_PER_APPLICATION = 3
MISSING_SCORE_RATE = 0.04

APPLICATION_HEADER = (
    "application_id", "title", "lead_org", "lead_org_type", "partners", "partner_types",
    "region", "regions_covered", "priority_reform", "maturity", "requested_eur",
    "expense_services_eur", "expense_digital_tools_eur", "expense_training_eur",
    "expense_other_eur", "submitted_at",
)
SCORE_COLUMNS = ("impact_reform", "impact_replicability", "openness_codesign", "openness_methods")
REVIEW_HEADER = ("application_id", "reviewer_id") + SCORE_COLUMNS
MILESTONE_HEADER = ("application_id", "milestone", "planned_date", "actual_date", "status", "tranche_eur", "paid_date")

# Laureates of the sample and their awards: the package's decision
# (ditp_model.rules.allocation.allocate: the merit order, the call's thresholds and
# ex aequo band) with the default weights impact 0.5, openness 0.3, collective 0.2.  Copied here because this script runs without
# the package; tests/test_followup.py recomputes them and fails if they differ.
LAUREATES = {
    "P002": 120000, "P004": 91250, "P006": 104460, "P011": 113000, "P019": 116000, "P022": 120000,
    "P026": 100500, "P029": 120000, "P032": 112000, "P040": 116000, "P044": 135000, "P045": 100000,
    "P050": 78000, "P052": 200000, "P059": 88000, "P062": 120000, "P068": 98000, "P070": 120000,
    "P080": 102000, "P087": 118000, "P092": 102000, "P095": 170000, "P097": 86000, "P098": 75000,
    "P100": 100000, "P102": 85000, "P110": 109500,
}
MILESTONES_AS_OF = date(2022, 10, 31)   # the sample milestones file describes the follow-up on that day
MILESTONE_PLANS = {
    3: (("Lancement et cadrage", "Prototype testé avec les usagers", "Bilan et déploiement"), (0.3, 0.4, 0.3)),
    4: (("Lancement et cadrage", "Ateliers de co-conception", "Prototype testé avec les usagers", "Bilan et déploiement"),
        (0.3, 0.0, 0.4, 0.3)),
}

OPENED = date(2021, 8, 25)          # first submissions in the sample
DEADLINE = date(2021, 10, 15)       # inclusive
FLOOR, CAP, LARGE_CAP = 70_000, 120_000, 200_000
ENVELOPE = 3_000_000

# ---------------------------------------------------------------------------
# Special cases (documented in the module docstring)
# ---------------------------------------------------------------------------
INELIGIBLE = {
    "P017": "porteur de type entreprise privée",
    "P058": "porteur de type association",
    "P063": "dépôt le 2021-10-16, après la date limite",
    "P104": "dépôt le 2021-10-19, après la date limite",
    "P078": "montant demandé 45 000 €, sous le plancher de 70 000 €",
    "P091": "58 % de dépenses non éligibles",
    "P034": "aucune réforme prioritaire",
    "P086": "aucune réforme prioritaire",
    "P099": "collectivité sans partenaire de l'État",
}
FIXED_LEAD_TYPES = {"P017": "private_company", "P058": "association", "P099": "local_authority"}
LATE_DATES = {"P063": date(2021, 10, 16), "P104": date(2021, 10, 19)}
NO_REFORM = ("P034", "P086")
NO_REVIEW = "P047"
ONE_REVIEW = "P072"
HARSH, LENIENT = "R04", "R09"
REVIEWER_BIAS = {HARSH: -1.2, LENIENT: 1.0}

# Large collective bids: mode A = many partners (5-8), 1-2 regions;
# B = few partners (1-4), 3-5 regions; C = both.
LARGE_MODES = {"P005": "C", "P021": "A", "P038": "B", "P044": "A", "P052": "C",
               "P067": "A", "P081": "B", "P088": "B", "P095": "C", "P107": "A"}
LARGE_EXACT = {"P044": (5, 1), "P088": (2, 3)}       # (partners, regions in total)
FIXED_REQUESTS = {"P012": 125_000, "P070": 150_000, "P096": 135_500,
                  "P025": 70_000, "P078": 45_000, "P052": 200_000}
OTHER_EXPENSE_SHARES = {"P031": 0.45, "P091": 0.58}

# Lead organisation types of the 107 other applications (shuffled).
LEAD_TYPE_COUNTS = {"ministry": 24, "state_operator": 22, "deconcentrated_service": 32, "local_authority": 29}

# ---------------------------------------------------------------------------
# Lists copied from appel_2021.toml
# ---------------------------------------------------------------------------
REGIONS = (
    "Auvergne-Rhône-Alpes", "Bourgogne-Franche-Comté", "Bretagne", "Centre-Val de Loire", "Corse",
    "Grand Est", "Hauts-de-France", "Île-de-France", "Normandie", "Nouvelle-Aquitaine", "Occitanie",
    "Pays de la Loire", "Provence-Alpes-Côte d'Azur", "Guadeloupe", "Guyane", "Martinique",
    "La Réunion", "Mayotte",
)
REGION_WEIGHTS = (8, 3, 4, 3, 1, 5, 6, 9, 4, 6, 6, 4, 5, 1, 1, 1, 2, 1)
PRIORITY_REFORMS = (
    "France Services", "MaPrimeRénov'", "1 jeune 1 solution", "Dédoublement des classes",
    "Service national universel", "Ségur de la santé", "Simplification des démarches",
    "Accès au numérique", "Insertion par l'emploi", "Transition écologique",
    "Sécurité du quotidien", "Justice de proximité",
)
OVERSEAS = {"Guadeloupe", "Guyane", "Martinique", "La Réunion", "Mayotte"}
MATURITIES = ("scoping", "testing", "prototyping", "deployment")
MATURITY_WEIGHTS = (0.25, 0.2, 0.35, 0.2)

# Real departments (generic State services are named after them), as "de X".
DEPARTMENTS = {
    "Auvergne-Rhône-Alpes": ("du Rhône", "de l'Isère", "du Puy-de-Dôme", "de la Savoie"),
    "Bourgogne-Franche-Comté": ("du Doubs", "de la Côte-d'Or", "de l'Yonne"),
    "Bretagne": ("du Finistère", "d'Ille-et-Vilaine", "du Morbihan"),
    "Centre-Val de Loire": ("du Loiret", "d'Indre-et-Loire", "du Cher"),
    "Corse": ("de la Corse-du-Sud", "de la Haute-Corse"),
    "Grand Est": ("du Bas-Rhin", "de la Moselle", "de la Marne"),
    "Hauts-de-France": ("du Nord", "de la Somme", "de l'Aisne"),
    "Île-de-France": ("de la Seine-Saint-Denis", "de l'Essonne", "du Val-d'Oise"),
    "Normandie": ("du Calvados", "de la Manche", "de l'Orne"),
    "Nouvelle-Aquitaine": ("de la Gironde", "de la Haute-Vienne", "des Landes"),
    "Occitanie": ("de la Haute-Garonne", "de l'Hérault", "du Lot"),
    "Pays de la Loire": ("de la Loire-Atlantique", "de la Sarthe", "de la Vendée"),
    "Provence-Alpes-Côte d'Azur": ("des Bouches-du-Rhône", "du Var", "des Hautes-Alpes"),
    "Guadeloupe": ("de la Guadeloupe",),
    "Guyane": ("de la Guyane",),
    "Martinique": ("de la Martinique",),
    "La Réunion": ("de La Réunion",),
    "Mayotte": ("de Mayotte",),
}

# Invented towns.
TOWNS = (
    "Montclair-sur-Vonne", "Villefranche-les-Ormes", "Saint-Julien-du-Val-Brun", "Roche-Aiguë",
    "Port-Morvan", "Beaulieu-les-Sources", "Clairmont-en-Serre", "Val-de-Loure",
    "Saint-Éloi-des-Champs", "Bourg-Argenté", "Les Salines-Hautes", "Pont-Lavoir",
    "Castelvieil", "Hauterive-sur-Mer", "Mirande-les-Pins", "Sainte-Colombe-d'Orbe",
    "Lavaur-le-Grand", "Fontvive", "Aiguebelle-la-Neuve", "Noirval", "Saint-Amand-des-Brumes",
    "Rivemont", "Plessis-Sorel", "Étang-Salé-les-Hauts", "Anse-Bleue", "Morne-Vert",
)

# Generic central administrations (directorates and general secretariats).
MINISTRIES = (
    "Secrétariat général du ministère de l'Intérieur",
    "Secrétariat général des ministères sociaux",
    "Direction générale de la cohésion sociale",
    "Direction de l'habitat, de l'urbanisme et des paysages",
    "Secrétariat général du ministère de la Justice",
    "Direction générale de l'enseignement scolaire",
    "Direction de la jeunesse, de l'éducation populaire et de la vie associative",
    "Secrétariat général du ministère de la Transition écologique",
    "Direction générale de l'offre de soins",
    "Délégation générale à l'emploi et à la formation professionnelle",
    "Secrétariat général du ministère de l'Agriculture et de l'Alimentation",
    "Direction générale des finances publiques",
    "Secrétariat général du ministère des Armées",
    "Direction des affaires civiles et du sceau",
)

# Invented national State operators.
OPERATORS = (
    "Agence nationale pour l'accès aux droits",
    "Office national de l'orientation des jeunes",
    "Agence nationale de la rénovation des logements",
    "Caisse nationale des prestations familiales",
    "Établissement public des parcours d'insertion",
    "Institut national de la formation des agents publics",
    "Agence nationale des titres et démarches",
    "Office national de la mobilité du quotidien",
    "Agence nationale du numérique inclusif",
    "Centre national de l'engagement des jeunes",
)

ASSOCIATION_PATTERNS = (
    "Association des usagers du service public {town}",
    "Centre social « La Passerelle » {town}",
    "Fédération des centres sociaux {dep}",
    "Collectif d'habitants du quartier des Tilleuls {town}",
    "Association Numérique solidaire {dep}",
    "Union départementale des associations familiales {dep}",
    "Mission locale {town}",
    "Association d'aide aux victimes {dep}",
    "Association Parents d'élèves solidaires {town}",
)
FIRMS = (
    "Coopérative de design de services Boussole (SCOP)",
    "Atelier de design public Grand Angle SAS",
    "Studio d'innovation sociale Pas de côté SARL",
    "Les Ateliers Passerelle, design & politiques publiques SAS",
    "Trait d'union conseil en sciences comportementales SAS",
)

# ---------------------------------------------------------------------------
# Titles
# ---------------------------------------------------------------------------
REFORM_OBJECTS = {
    "France Services": (
        "l'accueil dans les espaces France Services",
        "la prise de rendez-vous en France Services",
        "l'orientation des usagers entre guichets",
        "le parcours d'un usager reçu par un bus France Services itinérant",
    ),
    "MaPrimeRénov'": (
        "la demande d'aide à la rénovation énergétique",
        "le suivi d'un dossier de rénovation énergétique",
        "l'accompagnement des ménages modestes dans leurs travaux",
    ),
    "1 jeune 1 solution": (
        "l'accès des jeunes aux offres d'apprentissage",
        "l'accompagnement des jeunes ni en emploi ni en formation",
        "la recherche d'un stage de 3e",
        "l'information des jeunes sur les aides à l'embauche",
    ),
    "Dédoublement des classes": (
        "la communication entre l'école et les familles",
        "l'inscription scolaire en éducation prioritaire",
        "l'accueil des nouveaux enseignants en éducation prioritaire",
    ),
    "Service national universel": (
        "l'inscription au service national universel",
        "la préparation du séjour de cohésion",
        "l'information des familles sur les missions d'intérêt général",
    ),
    "Ségur de la santé": (
        "la prise de rendez-vous en centre de santé",
        "le parcours des patients aux urgences",
        "l'accueil des aidants à l'hôpital",
        "la sortie d'hospitalisation des personnes âgées",
    ),
    "Simplification des démarches": (
        "la demande d'aide au logement",
        "le changement d'adresse",
        "la demande d'acte d'état civil",
        "les courriers administratifs",
        "la déclaration de naissance",
    ),
    "Accès au numérique": (
        "l'accompagnement des personnes éloignées du numérique",
        "le repérage des usagers en difficulté avec le numérique",
        "l'accès aux démarches en ligne des personnes malvoyantes",
    ),
    "Insertion par l'emploi": (
        "le retour à l'emploi des bénéficiaires du RSA",
        "le parcours des demandeurs d'emploi de longue durée",
        "l'accès à la formation des salariés en insertion",
    ),
    "Transition écologique": (
        "le tri des biodéchets",
        "le signalement des dépôts sauvages",
        "l'information sur la qualité de l'air",
        "la mobilité des habitants en zone rurale",
    ),
    "Sécurité du quotidien": (
        "le dépôt de plainte",
        "l'accueil des victimes de violences intrafamiliales",
        "le signalement des incivilités",
    ),
    "Justice de proximité": (
        "l'accès au droit dans les points-justice",
        "le suivi des travaux d'intérêt général",
        "la convocation au tribunal",
    ),
}
# Reforms a lead organisation plausibly works on (first match on the name's
# beginning); drawn with probability REFORM_COHERENCE, otherwise any reform.
REFORM_COHERENCE = 0.75
LEAD_REFORMS = (
    ("Agence régionale de santé", ("Ségur de la santé", "Simplification des démarches", "Accès au numérique")),
    ("Direction générale de l'offre de soins", ("Ségur de la santé",)),
    ("Secrétariat général du ministère de la Justice", ("Justice de proximité", "Simplification des démarches")),
    ("Direction des affaires civiles", ("Justice de proximité", "Simplification des démarches")),
    ("Direction générale de l'enseignement scolaire", ("Dédoublement des classes", "Service national universel")),
    ("Direction des services départementaux de l'éducation", ("Dédoublement des classes", "1 jeune 1 solution")),
    ("Direction de la jeunesse", ("Service national universel", "1 jeune 1 solution")),
    ("Délégation générale à l'emploi", ("Insertion par l'emploi", "1 jeune 1 solution")),
    ("DDETS", ("Insertion par l'emploi", "1 jeune 1 solution")),
    ("DEETS", ("Insertion par l'emploi", "1 jeune 1 solution")),
    ("Direction de l'habitat", ("MaPrimeRénov'", "Transition écologique")),
    ("Agence nationale de la rénovation", ("MaPrimeRénov'",)),
    ("Direction départementale des territoires", ("MaPrimeRénov'", "Transition écologique")),
    ("Secrétariat général du ministère de la Transition", ("Transition écologique", "MaPrimeRénov'")),
    ("Office national de la mobilité", ("Transition écologique",)),
    ("Secrétariat général du ministère de l'Intérieur", ("Sécurité du quotidien", "Simplification des démarches", "France Services")),
    ("Secrétariat général du ministère des Armées", ("Service national universel", "1 jeune 1 solution")),
    ("Secrétariat général du ministère de l'Agriculture", ("Transition écologique",)),
    ("Secrétariat général des ministères sociaux", ("Insertion par l'emploi", "Ségur de la santé", "Simplification des démarches")),
    ("Office national de l'orientation", ("1 jeune 1 solution", "Service national universel")),
    ("Centre national de l'engagement", ("Service national universel", "1 jeune 1 solution")),
    ("Agence nationale du numérique", ("Accès au numérique", "France Services")),
    ("Agence nationale pour l'accès", ("Simplification des démarches", "France Services", "Accès au numérique")),
    ("Caisse nationale des prestations", ("Simplification des démarches", "France Services")),
    ("Établissement public des parcours", ("Insertion par l'emploi",)),
    ("Direction générale des finances publiques", ("Simplification des démarches", "France Services")),
)

GENERIC_OBJECTS = (
    "la signalétique des bâtiments administratifs",
    "la gestion des congés des agents",
    "l'accueil téléphonique de la préfecture",
)
TITLE_TEMPLATES = (
    "Simplifier {o} avec les usagers",
    "Repenser {o} avec les agents de terrain",
    "Co-concevoir {o} avec les usagers et les agents",
    "Améliorer {o} grâce au design de service",
    "Fluidifier {o} : test en conditions réelles",
    "Rendre {o} compréhensible par tous",
    "Réinventer {o} en s’appuyant sur les sciences comportementales",
    "Usagers + agents : repenser ensemble {o}",
    "{O} - un parcours repensé avec celles et ceux qui le vivent",
    "Faciliter {o} pour les publics les plus fragiles",
    "Diagnostiquer puis transformer {o} avec les usagers",
    "Déployer au niveau national une nouvelle organisation {de_o}",
)
TITLE_SUFFIXES = (
    " – expérimentation dans trois départements avant un déploiement national",
    " + formation des agents d'accueil à l'écoute active et au langage clair",
    " : ateliers d'idéation, prototypage et évaluation avec un panel d'usagers",
    " en zone rurale et dans les quartiers prioritaires de la politique de la ville",
    " avec un panel d'usagers et d'agents de trois territoires",
)
MAX_TITLE = 150


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def app_id(i: int) -> str:
    return f"P{i:03d}"


def round_to(value: float, step: int) -> int:
    """Round half up to a multiple of ``step`` (no banker's rounding)."""
    return int(math.floor(value / step + 0.5)) * step


def pick(rng: np.random.Generator, seq, weights=None):
    """One element of ``seq``, uniformly or with (unnormalised) weights."""
    if weights is None:
        return seq[int(rng.integers(len(seq)))]
    w = np.asarray(weights, dtype=float)
    return seq[int(rng.choice(len(seq), p=w / w.sum()))]


def pick_regions(rng: np.random.Generator, exclude: str, k: int) -> list[str]:
    """``k`` distinct regions other than ``exclude``, weighted, in list order."""
    idx = [i for i, r in enumerate(REGIONS) if r != exclude]
    w = np.asarray([REGION_WEIGHTS[i] for i in idx], dtype=float)
    chosen = rng.choice(len(idx), size=k, replace=False, p=w / w.sum())
    return [REGIONS[idx[int(c)]] for c in sorted(chosen)]


def of_town(town: str) -> str:
    """French "de" + town name, with elision and contraction."""
    if town.startswith("Les "):
        return "des " + town[4:]
    if town[0] in "AEÉIOUY":
        return "d'" + town
    return "de " + town


def of_object(obj: str) -> str:
    """French "de" + noun phrase: "de la", "de l'", "du", "des"."""
    if obj.startswith("le "):
        return "du " + obj[3:]
    if obj.startswith("les "):
        return "des " + obj[4:]
    return "de " + obj


def lab_name(region: str) -> str:
    return f"Laboratoire d'innovation territoriale – {region}"


def org_name(rng: np.random.Generator, org_type: str, region: str) -> str:
    """A generic organisation name of ``org_type`` located in ``region``."""
    dep = pick(rng, DEPARTMENTS[region])
    town = of_town(pick(rng, TOWNS))
    if org_type == "ministry":
        return pick(rng, MINISTRIES)
    if org_type == "state_operator":
        u = rng.random()
        if u < 0.25:
            return f"Agence régionale de santé {region}"
        if u < 0.40:
            return lab_name(region)
        return pick(rng, OPERATORS)
    if org_type == "deconcentrated_service":
        ddets = "DEETS" if region in OVERSEAS else "DDETS"
        return pick(rng, (
            f"Préfecture {dep}",
            f"{ddets} {dep}",
            f"Direction départementale des territoires {dep}",
            f"Direction des services départementaux de l'éducation nationale {dep}",
            f"Secrétariat général pour les affaires régionales, préfecture de la région {region}",
            lab_name(region),
        ))
    if org_type == "local_authority":
        return pick(rng, (
            f"Ville {town}",
            f"Communauté d'agglomération {town}",
            f"Communauté de communes {town}",
            f"Conseil départemental {dep}",
            f"Centre communal d'action sociale {town}",
        ))
    if org_type == "association":
        return pick(rng, ASSOCIATION_PATTERNS).format(town=town, dep=dep)
    if org_type == "private_company":
        return pick(rng, FIRMS)
    raise ValueError(org_type)


STATE_TYPES = ("ministry", "state_operator", "deconcentrated_service")
PARTNER_TYPE_WEIGHTS = {
    # lead type -> weights over (ministry, state_operator, deconcentrated, local, association, private)
    "ministry": (0.03, 0.15, 0.40, 0.22, 0.15, 0.05),
    "state_operator": (0.10, 0.05, 0.30, 0.28, 0.22, 0.05),
    "deconcentrated_service": (0.05, 0.15, 0.10, 0.40, 0.25, 0.05),
    "local_authority": (0.02, 0.08, 0.10, 0.35, 0.35, 0.10),
    "private_company": (0.05, 0.15, 0.30, 0.25, 0.20, 0.05),
    "association": (0.05, 0.15, 0.30, 0.30, 0.15, 0.05),
}
ALL_TYPES = ("ministry", "state_operator", "deconcentrated_service", "local_authority",
             "association", "private_company")


def make_partners(rng, lead, lead_type, n, regions, *, need_state, no_state):
    """``n`` distinct partners (name, type), spread over ``regions``."""
    names, types = [], []
    used = {lead}
    for j in range(n):
        for _ in range(50):
            region = regions[j % len(regions)] if rng.random() < 0.7 else pick(rng, regions)
            if j == 0 and need_state:
                # Local authority: first partner is a State one, often a territorial innovation lab.
                if rng.random() < 0.6:
                    t = "deconcentrated_service" if rng.random() < 0.7 else "state_operator"
                    name = lab_name(region)
                else:
                    t = pick(rng, STATE_TYPES, (0.1, 0.35, 0.55))
                    name = org_name(rng, t, region)
            elif no_state:
                t = pick(rng, ("local_authority", "association"))
                name = org_name(rng, t, region)
            else:
                t = pick(rng, ALL_TYPES, PARTNER_TYPE_WEIGHTS[lead_type])
                name = org_name(rng, t, region)
            if name not in used:
                break
        else:  # pragma: no cover - the pools are large enough
            raise RuntimeError("could not draw a distinct partner")
        used.add(name)
        names.append(name)
        types.append(t)
    return names, types


def draw_reform(rng, lead: str) -> str:
    """A priority reform, usually one the lead organisation plausibly works on."""
    for prefix, reforms in LEAD_REFORMS:
        if lead.startswith(prefix):
            if rng.random() < REFORM_COHERENCE:
                return pick(rng, reforms)
            break
    return pick(rng, PRIORITY_REFORMS)


def make_title(rng, reform: str, used: set[str]) -> str:
    objects = REFORM_OBJECTS[reform] if reform else GENERIC_OBJECTS
    for _ in range(200):
        obj = pick(rng, objects)
        title = pick(rng, TITLE_TEMPLATES).format(o=obj, O=obj[0].upper() + obj[1:], de_o=of_object(obj))
        if rng.random() < 0.22:
            longer = title + pick(rng, TITLE_SUFFIXES)
            if len(longer) <= MAX_TITLE:
                title = longer
        if title not in used:
            used.add(title)
            return title
    raise RuntimeError("could not draw a distinct title")  # pragma: no cover


def split_expenses(rng, total: int, other_share: float) -> tuple[int, int, int, int]:
    """(services, digital tools, training, other), summing exactly to ``total``."""
    other = round_to(total * other_share, 100)
    small = other_share > 0.3
    training = 0 if rng.random() < 0.12 else round_to(total * rng.uniform(0.03, 0.08 if small else 0.18), 100)
    digital = 0 if rng.random() < 0.15 else round_to(total * rng.uniform(0.03, 0.08 if small else 0.22), 100)
    services = total - other - training - digital
    assert services > 0, (total, other, training, digital)
    return services, digital, training, other


def draw_request(rng) -> int:
    """An ordinary request: many at the cap, mostly round numbers."""
    if rng.random() < 0.2:
        return CAP
    x = FLOOR + rng.random() * (CAP - FLOOR)
    v = rng.random()
    if v < 0.78:
        amount = round_to(x, 1000)
    elif v < 0.93:
        amount = round_to(x, 500)
    else:
        amount = round_to(x, 10)
    return min(max(amount, FLOOR), CAP)


def draw_dates(rng, ids: list[str]) -> dict[str, date]:
    """Submission dates denser towards the deadline, loosely following the ids."""
    on_time = [a for a in ids if a not in LATE_DATES]
    span = (DEADLINE - OPENED).days                      # 51
    offsets = np.minimum(np.floor((span + 1) * rng.beta(2.2, 1.0, size=len(on_time))), span)
    rush = rng.random(len(on_time)) < 0.08               # last-day rush
    offsets = np.where(rush, span, offsets).astype(int)
    offsets.sort()
    # Dossier numbers follow submission only roughly (drafts opened earlier).
    key = np.arange(len(on_time)) + rng.normal(0.0, 8.0, size=len(on_time))
    order = np.argsort(key, kind="stable")
    dates = {a: OPENED + timedelta(days=int(offsets[k])) for a, k in zip(on_time, order)}
    dates.update(LATE_DATES)
    return dates


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------
def generate_applications(rng) -> list[dict]:
    ids = [app_id(i) for i in range(1, N_APPLICATIONS + 1)]
    free = [a for a in ids if a not in FIXED_LEAD_TYPES]
    pool = [t for t, n in LEAD_TYPE_COUNTS.items() for _ in range(n)]
    assert len(pool) == len(free)
    pool = [pool[int(k)] for k in rng.permutation(len(pool))]
    lead_types = dict(zip(free, pool))
    lead_types.update(FIXED_LEAD_TYPES)
    dates = draw_dates(rng, ids)

    titles: set[str] = set()
    rows = []
    for aid in ids:
        lead_type = lead_types[aid]
        # Lead organisation and its region.
        if lead_type == "ministry":
            region = "Île-de-France"
        elif lead_type == "state_operator" and rng.random() < 0.5:
            region = "Île-de-France"
        else:
            region = pick(rng, REGIONS, REGION_WEIGHTS)
        if lead_type == "state_operator":
            lead = pick(rng, OPERATORS) if region == "Île-de-France" else f"Agence régionale de santé {region}"
        elif lead_type == "private_company":
            lead = "Cabinet Boussole & Associés, conseil en innovation publique SAS"
        elif lead_type == "association":
            lead = f"Association Trait d'union pour l'accès aux droits {of_town(pick(rng, TOWNS))}"
        else:
            lead = org_name(rng, lead_type, region)

        # Partners and regions.
        mode = LARGE_MODES.get(aid)
        if mode is None:
            n_partners = int(rng.choice(5, p=(0.2, 0.25, 0.25, 0.18, 0.12)))
            n_regions = 2 if rng.random() < (0.5 if lead_type in ("ministry", "state_operator") else 0.25) else 1
        elif mode == "A":
            n_partners, n_regions = int(rng.integers(5, 9)), int(rng.integers(1, 3))
        elif mode == "B":
            n_partners, n_regions = int(rng.integers(1, 5)), int(rng.integers(3, 6))
        else:
            n_partners, n_regions = int(rng.integers(5, 9)), int(rng.integers(3, 7))
        if aid in LARGE_EXACT:
            n_partners, n_regions = LARGE_EXACT[aid]
        need_state = lead_type == "local_authority" and aid != "P099"
        if aid == "P099":
            n_partners = 2
        if need_state:
            n_partners = max(n_partners, 1)
        covered = pick_regions(rng, region, n_regions - 1)
        partners, partner_types = make_partners(
            rng, lead, lead_type, n_partners, [region] + covered,
            need_state=need_state, no_state=aid == "P099")
        if aid == "P099":
            assert not set(partner_types) & set(STATE_TYPES)

        reform = "" if aid in NO_REFORM else draw_reform(rng, lead)
        title = make_title(rng, reform, titles)
        maturity = pick(rng, MATURITIES, MATURITY_WEIGHTS)

        if mode is not None:
            requested = round_to(rng.uniform(130_000, LARGE_CAP), 5_000)
        else:
            requested = draw_request(rng)
        requested = FIXED_REQUESTS.get(aid, requested)
        if aid in OTHER_EXPENSE_SHARES:
            other_share = OTHER_EXPENSE_SHARES[aid]
        else:
            other_share = 0.0 if rng.random() < 0.65 else rng.uniform(0.01, 0.08)
        services, digital, training, other = split_expenses(rng, requested, other_share)

        rows.append({
            "application_id": aid,
            "title": title,
            "lead_org": lead,
            "lead_org_type": lead_type,
            "partners": "; ".join(partners),
            "partner_types": "; ".join(partner_types),
            "region": region,
            "regions_covered": "; ".join(covered),
            "priority_reform": reform,
            "maturity": maturity,
            "requested_eur": requested,
            "expense_services_eur": services,
            "expense_digital_tools_eur": digital,
            "expense_training_eur": training,
            "expense_other_eur": other,
            "submitted_at": dates[aid].isoformat(),
            # private fields used for the reviews, not written
            "_n_partners": len(partners),
            "_large": mode is not None,
        })
    return rows


def format_score(x: float) -> str:
    x = min(max(x, 0.0), 5.0)
    half = math.floor(x * 2 + 0.5) / 2
    return str(int(half)) if half == int(half) else f"{half:.1f}"


def generate_reviews(rng, applications: list[dict]) -> list[tuple[str, ...]]:
    reviewers = [f"R{k:02d}" for k in range(1, N_REVIEWERS + 1)]
    bias = {r: REVIEWER_BIAS.get(r, float(rng.uniform(-0.3, 0.3))) for r in reviewers}

    # Balanced assignment: applications in random order, each to the least loaded reviewers.
    load = [0] * N_REVIEWERS
    assigned: dict[str, list[int]] = {}
    for k in rng.permutation(len(applications)):
        aid = applications[int(k)]["application_id"]
        n = 0 if aid == NO_REVIEW else 1 if aid == ONE_REVIEW else REVIEWS_PER_APPLICATION
        tie = rng.random(N_REVIEWERS)
        ranked = sorted(range(N_REVIEWERS), key=lambda r: (load[r], tie[r]))
        chosen = sorted(ranked[:n])
        for r in chosen:
            load[r] += 1
        assigned[aid] = chosen

    rows = []
    for app in applications:
        aid = app["application_id"]
        # Latent quality per sub-criterion.
        base = rng.normal(2.9, 0.65)
        latent = {
            "impact_reform": base + rng.normal(0, 0.4) - (1.5 if not app["priority_reform"] else 0.0),
            "impact_replicability": base + rng.normal(0, 0.4) + (0.3 if app["_large"] else 0.0)
            + (0.2 if app["maturity"] == "deployment" else 0.0),
            "openness_codesign": base + rng.normal(0, 0.4) + 0.1 * min(app["_n_partners"], 5) - 0.2,
            "openness_methods": base + rng.normal(0, 0.4),
        }
        for r in assigned[aid]:
            rid = reviewers[r]
            review_effect = rng.normal(0, 0.25)
            scores = [format_score(latent[c] + bias[rid] + review_effect + rng.normal(0, 0.45))
                      for c in SCORE_COLUMNS]
            missing = rng.random(len(SCORE_COLUMNS)) < MISSING_SCORE_RATE
            if missing.all():
                missing[int(rng.integers(len(SCORE_COLUMNS)))] = False
            scores = ["" if m else s for s, m in zip(scores, missing)]
            rows.append((aid, rid, *scores))
    rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def to_csv_bytes(header, rows) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return buf.getvalue().encode("utf-8")


def generate_milestones(rng) -> list[tuple]:
    """3 or 4 milestones per laureate (``LAUREATES``), as of ``MILESTONES_AS_OF``.

    Planned dates are spread between November 2021 and December 2022; a
    milestone whose planned date is past is done (actual date = planned date
    plus a delay, mostly small, sometimes one to three months) unless its
    actual date would fall after ``MILESTONES_AS_OF`` (then ``late``); a done
    milestone is paid 2 to 8 weeks later with probability 0.7 (if that date is
    past).  Tranches: 30/40/30 % (three milestones) or 30/0/40/30 % (four),
    rounded to whole euros, the remainder on the last, so they sum exactly to
    the award.
    """
    rows = []
    first_day, last_day = date(2021, 11, 1), date(2022, 12, 31)
    for aid, award in LAUREATES.items():
        n = 3 if rng.random() < 0.55 else 4
        names, shares = MILESTONE_PLANS[n]
        tranches = [int(round(award * s)) for s in shares[:-1]]
        tranches.append(award - sum(tranches))
        start = first_day + timedelta(days=int(rng.integers(0, 100)))
        end = last_day - timedelta(days=int(rng.integers(0, 75)))
        step = (end - start).days / (n - 1)
        for k in range(n):
            planned = start + timedelta(days=int(round(k * step)))
            delay = int(rng.integers(-7, 21)) if rng.random() < 0.75 else int(rng.integers(30, 95))
            actual = planned + timedelta(days=delay)
            paid_after = int(rng.integers(14, 57))
            pays = rng.random() < 0.7
            status, actual_text, paid_text = "planned", "", ""
            if planned <= MILESTONES_AS_OF:
                if actual <= MILESTONES_AS_OF:
                    status, actual_text = "done", actual.isoformat()
                    paid = actual + timedelta(days=paid_after)
                    if tranches[k] > 0 and pays and paid <= MILESTONES_AS_OF:
                        paid_text = paid.isoformat()
                else:
                    status = "late"
            rows.append((aid, names[k], planned.isoformat(), actual_text, status, tranches[k], paid_text))
    return rows


def build() -> tuple[dict[Path, bytes], list[dict]]:
    """The three files, as bytes keyed by path, and the generated applications."""
    rng = np.random.default_rng(SEED)
    applications = generate_applications(rng)
    reviews = generate_reviews(rng, applications)
    app_rows = [[app[c] for c in APPLICATION_HEADER] for app in applications]
    # Milestones: their own generator, drawn after the two historical files (which stay byte for byte).
    milestones = generate_milestones(np.random.default_rng(MILESTONES_SEED))
    return {
        APPLICATIONS_FILE: to_csv_bytes(APPLICATION_HEADER, app_rows),
        REVIEWS_FILE: to_csv_bytes(REVIEW_HEADER, reviews),
        MILESTONES_FILE: to_csv_bytes(MILESTONE_HEADER, milestones),
    }, applications


def summary(applications: list[dict]) -> str:
    eligible = [a for a in applications if a["application_id"] not in INELIGIBLE]
    requested = sum(a["requested_eur"] for a in eligible)
    capped = sum(min(a["requested_eur"], LARGE_CAP if a["_large"] else CAP) for a in eligible)
    def eur(x: int) -> str:
        return f"{x:,} €".replace(",", "\u202f")
    return (f"{len(applications)} candidatures dont {len(eligible)} éligibles ; "
            f"demande éligible {eur(requested)} ({requested / ENVELOPE:.2f} × l'enveloppe), "
            f"{eur(capped)} après plafonds ({capped / ENVELOPE:.2f} ×)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="(Re)génère les données d'exemple fictives.")
    parser.add_argument("--check", action="store_true",
                        help="ne rien écrire ; code de sortie 1 si les fichiers diffèrent de la génération")
    args = parser.parse_args(argv)
    files, applications = build()
    if args.check:
        stale = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
        for p in stale:
            print(f"différent de la génération : {p.name} (lancer python data/generate_sample.py)",
                  file=sys.stderr)
        return 1 if stale else 0
    for path, data in files.items():
        path.write_bytes(data)
        n_rows = data.count(b"\n") - 1
        print(f"écrit {path.name} ({n_rows} lignes)")
    print(summary(applications))
    return 0


if __name__ == "__main__":
    sys.exit(main())
