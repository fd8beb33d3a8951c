"""Review uncertainty: the SNSF Bayesian ranking model, expected ranks and the funding line.

Method of Heyard, Ott, Salanti & Egger (2022), *Rethinking the Funding Line at
the Swiss National Science Foundation: Bayesian Ranking and Lottery*,
Statistics and Public Policy 9(1):110–121, as implemented in the R package
ERforResearch (GitHub snsf-data/ERforResearch, MIT); summary and traps in
``../shared/methods/expected-rank.md`` (cited below as "method note §…").

The steps, each a pure function:

1. :func:`votes_from_reviews` (our reviews) or :func:`votes_from_table` (any
   long table, e.g. the SNSF mock panels) — one row per (proposal, assessor)
   vote, a :class:`Votes`;
2. :func:`fit_review_model` — the model fitted by NUTS with NumPyro (optional
   extra ``bayes``), a :class:`ReviewPosterior` of posterior draws;
3. :func:`expected_ranks` — expected rank (ER), PCER, SUCRA, posterior-mean
   rank and the 50 % / 90 % credible intervals of the rank;
4. :func:`snsf_groups` — the SNSF funding line for a *count* of fundable
   proposals: accepted / lottery ("random selection") / rejected;
5. the step the SNSF method lacks, for a *money* envelope with unequal
   requests: :func:`posterior_funding` re-solves the allocation of
   :mod:`ditp_model.rules.allocation` on each posterior draw and gives each
   application's probability of being funded and a grey zone;
   :func:`grey_zone_lottery` draws lots among the grey zone under the
   remaining envelope with a published seed.

Why this module is slightly longer than 800 lines: the model, its fit (with the
compilation cache that keeps a cold ``lottery`` short) and the expected-rank
summaries are read against the one method note and the ERforResearch code, step
by step; split, each part would repeat the model's conventions.

The model (method note §2.2, the package's default continuous model), for vote
*n* by assessor *j* on proposal *i* (in panel *k* when panels are pooled)::

    y_n     ~ Normal(μ + θ_i + λ_ij [+ γ_k], σ²)
    θ_i     ~ Normal(0, τ_θ²)          proposal effect (higher = better)
    λ_ij    ~ Normal(ν_j, τ_λ²)        assessor × proposal effect
    ν_j     ~ Normal(0, (0.5·s)²)      assessor leniency, prior SD fixed
    γ_k     ~ Normal(0, τ_γ²)          panel effect (optional)
    σ, τ_θ, τ_λ, τ_γ ~ Uniform(1e-6, 2·s)   priors on the standard deviations
    μ       = mean over proposals of each proposal's mean grade (not a parameter)

``s`` is the prior scale: 1 for a scale of range 5 (the SNSF 6-point scale,
and our 0–5 review scale), ``range / 5`` otherwise.  With at most one vote per
(proposal, assessor) pair λ_ij integrates out exactly (method note §2.2)::

    y_n ~ Normal(μ + θ_i + ν_j [+ γ_k],  σ² + τ_λ²)

which is the likelihood fitted here (same posterior for θ, ν, γ; no slow
mixing between θ and λ).  Ranks depend only on θ.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ditp_model.inputs.call import CallRules

__all__ = [
    "BAYES_EXTRA_FR",
    "Votes",
    "votes_from_table",
    "votes_from_reviews",
    "ReviewPosterior",
    "fit_review_model",
    "fit_cache_key",
    "load_cached_fit",
    "fit_review_model_cached",
    "enable_compilation_cache",
    "default_cache_dir",
    "expected_ranks",
    "SNSF_GROUPS_FR",
    "snsf_groups",
]

#: How to install the optional extra (French message).
BAYES_EXTRA_FR = ("le modèle bayésien des évaluations demande le module optionnel « bayes » (NumPyro et JAX) : "
                  "pip install -e \".[bayes]\" (déjà compris dans « make test », dans l'extra « notebooks » et dans "
                  "environment.yml, Windows compris)")

#: SNSF group code -> French label (method note §3.2).
SNSF_GROUPS_FR = {"accepted": "financé", "lottery": "tirage au sort", "rejected": "non financé"}


# --------------------------------------------------------------------------- votes


@dataclass(frozen=True)
class Votes:
    """Votes in long format, one row per (proposal, assessor) pair (method note §2.1).

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``proposal`` (str), ``assessor`` (str), ``panel`` (str, "" when
        there is one panel), ``y`` (float, the grade; higher = better).  No
        missing grade (missing votes are simply absent).
    proposals, assessors, panels : tuple of str
        Ids in order of first appearance (the model's integer ids).
    scale : tuple of float
        ``(lowest, highest)`` possible grade; sets the prior scale.
    what : str
        What ``y`` is (French, for display).
    """

    table: pd.DataFrame
    proposals: tuple
    assessors: tuple
    panels: tuple
    scale: tuple
    what: str = ""

    @property
    def mu(self) -> float:
        """μ: the mean over proposals of each proposal's mean grade (method note §2.1)."""
        return float(self.table.groupby("proposal", sort=False)["y"].mean().mean())

    @property
    def prior_scale(self) -> float:
        """``s`` = (highest − lowest) / 5: 1 on the SNSF 6-point scale and on a 0–5 scale."""
        return (self.scale[1] - self.scale[0]) / 5.0

    def mean_grades(self) -> pd.Series:
        """Mean grade per proposal (in `proposals` order)."""
        return self.table.groupby("proposal", sort=False)["y"].mean().reindex(list(self.proposals))


def votes_from_table(table: pd.DataFrame, *, proposal: str = "proposal", assessor: str = "assessor",
                     grade: str = "num_grade", panel: str | None = None, scale: tuple = (1.0, 6.0),
                     what: str = "note") -> Votes:
    """Votes from any long table (e.g. ``erforresearch_mock_panels.csv`` of the SNSF package).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per vote.
    proposal, assessor, grade : str
        Column names; `grade` is numeric, higher = better (the SNSF mock data's
        ``num_grade`` = 7 − letter grade rank, 6 = best).
    panel : str, optional
        Column naming the panel (pooled panels get a panel effect).
    scale : tuple of float
        Lowest and highest possible grade (default the SNSF 6-point scale).
    what : str
        Label of the grade (French).

    Returns
    -------
    Votes

    Raises
    ------
    ValueError
        A missing column, a non-numeric grade, a grade outside `scale`, or two
        votes by the same assessor on the same proposal (the exact integration
        of λ needs at most one vote per pair) — French message naming the row.
    """
    for col in (proposal, assessor, grade) + ((panel,) if panel else ()):
        if col not in table.columns:
            raise ValueError(f"colonne « {col} » absente du tableau des votes (colonnes : {', '.join(map(str, table.columns))})")
    y = pd.to_numeric(table[grade], errors="coerce")
    keep = y.notna()  # method note §2.1: anything that is not a grade is NA and deleted
    lo, hi = float(scale[0]), float(scale[1])
    bad = keep & ((y < lo) | (y > hi))
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"votes, ligne {k + 2}, colonne « {grade} » : {table[grade].iloc[k]} hors de l'échelle {lo:g}–{hi:g}")
    t = pd.DataFrame({
        "proposal": table[proposal].astype(str).to_numpy(),
        "assessor": table[assessor].astype(str).to_numpy(),
        "panel": table[panel].astype(str).to_numpy() if panel else "",
        "y": y.to_numpy(dtype=float),
    })[keep.to_numpy()].reset_index(drop=True)
    if t.empty:
        raise ValueError("aucun vote exploitable : le modèle a besoin d'au moins une note")
    dup = t.duplicated(["proposal", "assessor"], keep="first")
    if dup.any():
        k = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"votes : l'évaluateur « {t['assessor'][k]} » note deux fois le dossier « {t['proposal'][k]} » ; "
                         "un seul vote par couple (dossier, évaluateur) est attendu")
    return Votes(t, tuple(pd.unique(t["proposal"])), tuple(pd.unique(t["assessor"])),
                 tuple(pd.unique(t["panel"])), (lo, hi), what)


def review_weights(rules: CallRules, weights) -> dict:
    """Shares of the reviewed criteria in the composite (normalised weights; the computed ones left out).

    Returns
    -------
    dict
        criterion name -> normalised weight, reviewed criteria only.
    """
    w = weights.normalised()
    return {c.name: w[c.name] for c in rules.criteria if c.source != "computed"}


def votes_from_reviews(evaluation, criterion: str | None = None, *, candidates_only: bool = True) -> Votes:
    """Votes from the call's reviews: one grade per review, on the call's scale.

    With ``criterion=None`` the grade of a review is its **reviewed composite**:
    the weighted mean, with the committee's weights restricted to the reviewed
    criteria, of the review's criterion grades (each the mean of the review's
    sub-criterion grades) — so the model sees what the composite score sees,
    the computed criteria (collective index) aside.  With a criterion name,
    the grade is that criterion's (mean of its sub-criteria).  A blank
    sub-score is skipped within its review (the criterion grade is the mean of
    the sub-scores given); a review with no score at all on a criterion of
    positive weight counts only through its other criteria.

    Parameters
    ----------
    evaluation : ditp_model.scoring.pipeline.Evaluation
    criterion : str, optional
        A reviewed criterion of the call.
    candidates_only : bool
        Keep only the reviews of eligible, scored applications (those the
        allocation can fund); default True.

    Returns
    -------
    Votes
        Proposals are application ids, assessors reviewer ids, one panel.
        Raw grades: the model itself estimates reviewer leniency (ν), so the
        per-reviewer z-score correction is not applied.

    Raises
    ------
    ValueError
        Unknown or computed criterion; all reviewed weights zero.
    """
    rules = evaluation.rules
    reviewed = review_weights(rules, evaluation.weights)
    if criterion is not None:
        if criterion not in reviewed:
            raise ValueError(f"critère « {criterion} » : critère noté par les évaluateurs attendu ({', '.join(reviewed)})")
        shares = {criterion: 1.0}
        what = f"note « {rules.criterion(criterion).label} »"
    else:
        total = sum(reviewed.values())
        if total <= 0:
            raise ValueError("les critères notés par les évaluateurs ont tous un poids nul : rien à modéliser")
        shares = {c: w / total for c, w in reviewed.items() if w > 0}
        what = "note composite des évaluateurs (" + ", ".join(f"{c} {w:.0%}" for c, w in shares.items()) + ")"
    r = evaluation.reviews.sort_values(["application_id", "reviewer_id"], kind="mergesort").reset_index(drop=True)
    if candidates_only:
        ok = set(evaluation.table.loc[evaluation.fundable.to_numpy(), "application_id"])
        r = r[r["application_id"].isin(ok)].reset_index(drop=True)
    num = np.zeros(len(r))
    den = np.zeros(len(r))
    for c, share in shares.items():
        g = r[list(rules.criterion(c).review_columns)].mean(axis=1, skipna=True).to_numpy(dtype=float)
        ok = np.isfinite(g)
        num += np.where(ok, share * g, 0.0)
        den += np.where(ok, share, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)  # a review with no score at all: no vote
    t = pd.DataFrame({"proposal": r["application_id"].astype(str), "assessor": r["reviewer_id"].astype(str), "y": y})
    return votes_from_table(t, grade="y", scale=(rules.scoring.scale_min, rules.scoring.scale_max), what=what)


# --------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class ReviewPosterior:
    """Posterior draws of the SNSF review model (immutable).

    Attributes
    ----------
    votes : Votes
    theta : numpy.ndarray
        Shape ``(n_draws, n_proposals)``: proposal effects θ (grade points;
        higher = better), chains pooled, columns in ``votes.proposals`` order.
    nu : numpy.ndarray
        ``(n_draws, n_assessors)``: assessor leniency ν (grade points).
    mu : float
        The fixed overall mean μ (grade points).
    sds : pandas.DataFrame
        ``(n_draws, k)``: σ, τ_θ, τ_λ (and τ_γ) draws.
    r_hat : float
        Largest split-R̂ over θ, ν, τ_θ (γ, τ_γ) and the residual SD √(σ² + τ_λ²).
    ess : float
        Smallest effective sample size over θ.
    seed, num_chains, num_warmup, num_samples : int
    panel_effect : bool
    seconds : float
        Wall time of the fit (compilation included).
    from_cache : bool
        Read back from the fit cache (:func:`fit_review_model_cached`) rather than fitted now.
    """

    votes: Votes
    theta: np.ndarray
    nu: np.ndarray
    mu: float
    sds: pd.DataFrame
    r_hat: float
    ess: float
    seed: int
    num_chains: int
    num_warmup: int
    num_samples: int
    panel_effect: bool
    seconds: float
    gamma: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    from_cache: bool = False

    @property
    def n_draws(self) -> int:
        return int(self.theta.shape[0])

    @property
    def converged(self) -> bool:
        """R̂ below 1.01 (the package's default threshold, method note §2.4)."""
        return bool(self.r_hat < 1.01)

    def convergence_fr(self) -> str:
        """« R̂ max 1,003 ; taille effective min 6 161 » (decimal comma, French grouping), for the notebook and ``lottery``."""
        from ditp_model.french import format_number

        return f"R̂ max {format_number(self.r_hat, 3)} ; taille effective min {format_number(self.ess, 0)}"

    def grade_draws(self) -> np.ndarray:
        """``μ + θ`` per draw and proposal (grade points), shape ``(n_draws, n_proposals)``."""
        return self.mu + self.theta


def _numpyro():
    """Import NumPyro and JAX on the CPU (a GPU is neither needed nor looked for)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import jax
        import numpyro
    except ImportError as exc:  # optional extra
        raise ImportError(BAYES_EXTRA_FR) from exc
    return jax, numpyro


def _model(prop, assessor, panel, n_prop, n_ass, n_panel, mu, s, y=None):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    sigma = numpyro.sample("sigma", dist.Uniform(1e-6, 2.0 * s))
    tau_theta = numpyro.sample("tau_theta", dist.Uniform(1e-6, 2.0 * s))
    tau_lambda = numpyro.sample("tau_lambda", dist.Uniform(1e-6, 2.0 * s))
    with numpyro.plate("proposals", n_prop):
        z = numpyro.sample("theta_z", dist.Normal(0.0, 1.0))  # non-centred: θ = τ_θ · z
    theta = numpyro.deterministic("theta", tau_theta * z)
    with numpyro.plate("assessors", n_ass):
        nu = numpyro.sample("nu", dist.Normal(0.0, 0.5 * s))
    loc = mu + theta[prop] + nu[assessor]
    if n_panel > 1:
        tau_gamma = numpyro.sample("tau_gamma", dist.Uniform(1e-6, 2.0 * s))
        with numpyro.plate("panels", n_panel):
            gz = numpyro.sample("gamma_z", dist.Normal(0.0, 1.0))
        gamma = numpyro.deterministic("gamma", tau_gamma * gz)
        loc = loc + gamma[panel]
    # λ_ij integrated out (one vote per pair): Var = σ² + τ_λ²
    numpyro.sample("y", dist.Normal(loc, jnp.sqrt(sigma**2 + tau_lambda**2)), obs=y)


def fit_review_model(votes: Votes, *, panel_effect: bool | None = None, num_chains: int = 4, num_warmup: int = 1000,
                     num_samples: int = 2500, seed: int = 1991, progress: bool = False) -> ReviewPosterior:
    """Fit the SNSF model (module docstring) by NUTS with NumPyro.

    Parameters
    ----------
    votes : Votes
    panel_effect : bool, optional
        Add the panel effect γ; default: when the votes come from more than one panel.
    num_chains : int
        Chains, run vectorised in one process (the package's default is 4).
    num_warmup, num_samples : int
        Per chain.  NUTS draws are far less autocorrelated than the Gibbs
        draws of JAGS, hence far fewer than the paper's 50 000 per chain.
    seed : int
        ``jax.random.PRNGKey`` seed; 1991 is the package's and the paper's.
    progress : bool
        NumPyro's progress bar.

    Returns
    -------
    ReviewPosterior
        Check ``r_hat`` (``converged``) before use; the notebook shows it.

    Raises
    ------
    ImportError
        The optional extra ``bayes`` is not installed (French message,
        :data:`BAYES_EXTRA_FR`).
    ValueError
        Fewer than 2 proposals, or bad chain/draw counts.
    """
    jax, numpyro = _numpyro()
    from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
    from numpyro.infer import MCMC, NUTS

    for name, v in (("num_chains", num_chains), ("num_warmup", num_warmup), ("num_samples", num_samples)):
        if not isinstance(v, int) or isinstance(v, bool) or v < (1 if name != "num_warmup" else 0):
            raise ValueError(f"{name} = {v!r} : un nombre entier positif est attendu")
    if len(votes.proposals) < 2:
        raise ValueError("au moins deux dossiers notés sont nécessaires pour les classer")
    t0 = time.perf_counter()
    t = votes.table
    pi = {p: k for k, p in enumerate(votes.proposals)}
    ai = {a: k for k, a in enumerate(votes.assessors)}
    ki = {g: k for k, g in enumerate(votes.panels)}
    use_panel = (len(votes.panels) > 1) if panel_effect is None else bool(panel_effect)
    n_panel = len(votes.panels) if use_panel else 1
    # The votes are arguments of the compiled sampler (jit_model_args), not constants folded into it: the
    # draws are the same (checked bitwise, tests/test_review_model.py), and JAX's compilation cache
    # (enable_compilation_cache) then serves any votes of the same shape, e.g. after a corrected grade.
    # The sizes stay Python values (plate sizes must be known when the model is traced), and so does the
    # prior scale (set by the grading scale; as an argument it would change the draws' rounding); μ, which
    # moves with any grade, is an argument.
    model = functools.partial(_model, n_prop=len(pi), n_ass=len(ai), n_panel=n_panel, s=votes.prior_scale)
    args = (np.array([pi[p] for p in t["proposal"]]), np.array([ai[a] for a in t["assessor"]]),
            np.array([ki[g] for g in t["panel"]]))
    kernel = NUTS(model, target_accept_prob=0.9)
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                chain_method="vectorized", progress_bar=progress, jit_model_args=True)
    mcmc.run(jax.random.PRNGKey(seed), *args, mu=votes.mu, y=t["y"].to_numpy(dtype=np.float32))
    grouped = mcmc.get_samples(group_by_chain=True)
    theta_c = np.asarray(grouped["theta"], dtype=float)
    # R̂ over what the data identify: θ, ν, τ_θ (γ) and the total residual SD √(σ² + τ_λ²); the split
    # between σ and τ_λ is set by the priors alone (λ integrated out) and wanders without harm.
    resid = np.sqrt(np.asarray(grouped["sigma"], dtype=float) ** 2 + np.asarray(grouped["tau_lambda"], dtype=float) ** 2)
    rhats = [np.max(split_gelman_rubin(np.asarray(grouped[k], dtype=float)))
             for k in ("theta", "nu", "tau_theta") + (("gamma",) if n_panel > 1 else ())]
    rhats.append(float(split_gelman_rubin(resid)))
    ess = float(np.min(effective_sample_size(theta_c)))
    flat = {k: np.asarray(v, dtype=float).reshape((-1,) + np.asarray(v).shape[2:]) for k, v in grouped.items()}
    sds = pd.DataFrame({k: flat[k] for k in ("sigma", "tau_theta", "tau_lambda") + (("tau_gamma",) if n_panel > 1 else ())})
    return ReviewPosterior(
        votes=votes, theta=flat["theta"], nu=flat["nu"], mu=votes.mu, sds=sds, r_hat=float(max(rhats)), ess=ess,
        seed=int(seed), num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples,
        panel_effect=n_panel > 1, seconds=time.perf_counter() - t0,
        gamma=flat["gamma"] if n_panel > 1 else np.zeros((0, 0)))


# --------------------------------------------------------------------------- fit cache

#: Format of a cache entry; a change makes every older entry a miss.
FIT_CACHE_FORMAT = 1


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def fit_cache_key(votes: Votes, *, panel_effect: bool | None = None, num_chains: int = 4, num_warmup: int = 1000,
                  num_samples: int = 2500, seed: int = 1991) -> str:
    """SHA-256 of everything the fit depends on: the votes, the settings, the versions of NumPyro, JAX and NumPy.

    The votes enter exactly (each grade as ``float.hex``, in table order, with
    the proposal, assessor and panel ids and their orders, and the scale), the
    settings as :func:`fit_review_model` resolves them (``panel_effect`` None
    becomes "more than one panel").  Two calls with the same key give the
    same draws (same seed, same code), so the second can read the first's.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    t = votes.table
    use_panel = (len(votes.panels) > 1) if panel_effect is None else bool(panel_effect)
    payload = {
        "format": FIT_CACHE_FORMAT,
        "model": "snsf_continuous_lambda_integrated",
        "votes": [[str(p), str(a), str(g), float(y).hex()] for p, a, g, y in
                  zip(t["proposal"], t["assessor"], t["panel"], t["y"])],
        "proposals": list(map(str, votes.proposals)), "assessors": list(map(str, votes.assessors)),
        "panels": list(map(str, votes.panels)), "scale": [float(x).hex() for x in votes.scale],
        "settings": {"panel_effect": use_panel, "num_chains": int(num_chains), "num_warmup": int(num_warmup),
                     "num_samples": int(num_samples), "seed": int(seed), "target_accept_prob": 0.9,
                     "chain_method": "vectorized"},
        "versions": {p: _package_version(p) for p in ("numpyro", "jax", "jaxlib", "numpy")},
    }
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    """The user's cache folder for model fits (never inside an output folder, which stays wholly old or new).

    ``DITP_MODEL_CACHE`` when set; on Windows ``%LOCALAPPDATA%\\ditp-model\\cache``; elsewhere
    ``$XDG_CACHE_HOME/ditp-model`` or ``~/.cache/ditp-model``.  Not created here.
    """
    env = os.environ.get("DITP_MODEL_CACHE")
    if env:
        return Path(env)
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "ditp-model" / "cache"
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "ditp-model"


def _cache_path(cache_dir, key: str) -> Path:
    return Path(cache_dir) / f"review_model_{key}.npz"


def _posterior_bytes(post: ReviewPosterior, key: str) -> bytes:
    meta = {"key": key, "format": FIT_CACHE_FORMAT, "mu": float(post.mu).hex(), "r_hat": float(post.r_hat).hex(),
            "ess": float(post.ess).hex(), "seed": post.seed, "num_chains": post.num_chains, "num_warmup": post.num_warmup,
            "num_samples": post.num_samples, "panel_effect": post.panel_effect, "seconds": post.seconds,
            "sds_columns": list(post.sds.columns)}
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), theta=post.theta, nu=post.nu, gamma=post.gamma,
             sds=post.sds.to_numpy(dtype=float))
    return buf.getvalue()


def load_cached_fit(cache_dir, key: str, votes: Votes) -> tuple[ReviewPosterior | None, str]:
    """Read a cached fit; never trust it: the stored key, shapes and values are checked.

    Parameters
    ----------
    cache_dir : path
    key : str
        :func:`fit_cache_key` of `votes` and the settings.
    votes : Votes
        The votes the fit is for (the entry does not store them: its key does).

    Returns
    -------
    (ReviewPosterior or None, str)
        The posterior (``from_cache=True``) and ``""``; or None and ``""``
        when there is no entry; or None and a French note saying why an entry
        was ignored (unreadable, key or shape not matching, non-finite draws).
        Arrays are loaded with ``allow_pickle=False``: an entry cannot run code.
    """
    path = _cache_path(cache_dir, key)
    if not path.is_file():
        return None, ""
    try:
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as z:  # bytes first: no handle left open
            meta = json.loads(str(z["meta"]))
            theta, nu, gamma, sds = (np.array(z[k], dtype=float) for k in ("theta", "nu", "gamma", "sds"))
        if meta.get("key") != key or meta.get("format") != FIT_CACHE_FORMAT:
            raise ValueError("clé enregistrée différente de la clé attendue")
        n = int(meta["num_chains"]) * int(meta["num_samples"])
        cols = list(meta["sds_columns"])
        if (theta.shape != (n, len(votes.proposals)) or nu.shape != (n, len(votes.assessors))
                or sds.shape != (n, len(cols))):
            raise ValueError("dimensions des tirages incohérentes")
        if not (np.isfinite(theta).all() and np.isfinite(nu).all() and np.isfinite(sds).all()):
            raise ValueError("tirages non finis")
        post = ReviewPosterior(
            votes=votes, theta=theta, nu=nu, mu=float.fromhex(meta["mu"]), sds=pd.DataFrame(sds, columns=cols),
            r_hat=float.fromhex(meta["r_hat"]), ess=float.fromhex(meta["ess"]), seed=int(meta["seed"]),
            num_chains=int(meta["num_chains"]), num_warmup=int(meta["num_warmup"]), num_samples=int(meta["num_samples"]),
            panel_effect=bool(meta["panel_effect"]), seconds=float(meta["seconds"]),
            gamma=gamma if bool(meta["panel_effect"]) else np.zeros((0, 0)), from_cache=True)
    except Exception as exc:  # any damage: the entry is ignored, never trusted
        return None, (f"cache du modèle des évaluations {path} ignoré ({type(exc).__name__} : {exc}) : "
                      "le modèle est ajusté de nouveau")
    return post, ""


#: Compilations shorter than this are not kept in JAX's compilation cache (seconds; JAX's default is 1).  0: all of
#: them, about 110 programs for the review model: the small ones add up (a later fit of the sample, end to end,
#: 14–15 s with all kept, 17–19 s with those over 0.2 s only, 24 s with none; RESULTS_lottery.md).
COMPILATION_CACHE_MIN_S = 0.0


def enable_compilation_cache(cache_dir, *, on_note=None) -> Path | None:
    """Keep JAX's compiled samplers in ``cache_dir/jax`` (JAX's persistent compilation cache).

    Compiling the NUTS sampler is most of a first fit (about 25 s of XLA compilation of the
    sample's model on a 2-core machine, against some 7 s of sampling; ``benchmarks/RESULTS_lottery.md``).
    With the cache, a later fit of votes of the same shape — the same call after a corrected
    grade, another MCMC seed, or the same votes once the fit cache is cleared — reads the compiled
    program instead of compiling it again.  A compiled program is keyed by JAX on the program
    itself, the JAX version and the machine: a hit runs the very same program, so the draws are
    unchanged.  Process-wide (JAX's configuration); the user's cache folder only, never an
    output folder.  JAX runs what it finds there (its documentation: the cache is trusted), so the
    folder must be writable by the user alone: it is created so (``0o700``) — a ``--cache`` given
    to ``ditp-model lottery`` must not be a shared folder.

    Parameters
    ----------
    cache_dir : path
        The fit cache's folder (:func:`default_cache_dir` or ``--cache``); ``jax/`` is created in it.
    on_note : callable, optional
        ``on_note(text)`` (French) when the cache cannot be enabled (the fit then compiles as before).

    Returns
    -------
    pathlib.Path or None
        The compilation cache's folder, or None when it could not be enabled.
    """
    folder = Path(cache_dir) / "jax"
    try:
        jax, _ = _numpyro()
        from jax.experimental.compilation_cache import compilation_cache

        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # the user's only (mode ignored on Windows)
        if jax.config.jax_compilation_cache_dir != str(folder):
            compilation_cache.reset_cache()  # JAX settles its cache once per process: start it again on this folder
            compilation_cache.set_cache_dir(str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", COMPILATION_CACHE_MIN_S)
    except (ImportError, OSError, AttributeError, ValueError) as exc:  # an old JAX, a read-only folder: slower, not wrong
        if on_note is not None:
            on_note(f"cache de compilation de JAX non activé dans {folder} ({type(exc).__name__} : {exc})")
        return None
    return folder


def fit_review_model_cached(votes: Votes, cache_dir=None, *, on_note=None, **settings) -> ReviewPosterior:
    """:func:`fit_review_model`, read from `cache_dir` when the same votes and settings were fitted before.

    The entry is ``cache_dir/review_model_<key>.npz`` with ``key`` =
    :func:`fit_cache_key` (SHA-256 of the votes, the settings and the
    versions), written atomically after a fit.  A damaged or mismatching
    entry is ignored with a note (`on_note`, French) and replaced by a new
    fit; it is never trusted.  ``cache_dir=None``: no cache.  A fit also keeps
    its compiled sampler in ``cache_dir/jax`` (:func:`enable_compilation_cache`).

    Parameters
    ----------
    votes : Votes
    cache_dir : path, optional
        Created when needed.
    on_note : callable, optional
        ``on_note(text)`` for a note about an ignored entry.
    **settings
        ``panel_effect``, ``num_chains``, ``num_warmup``, ``num_samples``,
        ``seed``, ``progress`` as in :func:`fit_review_model` (``progress``
        does not enter the key).

    Returns
    -------
    ReviewPosterior
        ``from_cache`` says whether it was read back.
    """
    from ditp_model.inputs.io import write_bytes_atomic

    if cache_dir is None:
        return fit_review_model(votes, **settings)
    keyed = {k: v for k, v in settings.items() if k != "progress"}
    key = fit_cache_key(votes, **keyed)
    post, note = load_cached_fit(cache_dir, key, votes)
    if post is not None:
        return post
    if note and on_note is not None:
        on_note(note)
    enable_compilation_cache(cache_dir, on_note=on_note)  # only now: a fit read back never imports JAX
    post = fit_review_model(votes, **settings)
    try:
        write_bytes_atomic(_cache_path(cache_dir, key), _posterior_bytes(post, key))
    except OSError as exc:  # a cache that cannot be written costs time, not correctness
        if on_note is not None:
            on_note(f"cache du modèle des évaluations non écrit dans {cache_dir} ({exc})")
    return replace(post, from_cache=False)


# --------------------------------------------------------------------------- expected ranks


def rank_draws(theta: np.ndarray) -> np.ndarray:
    """Rank of each proposal in each draw, 1 = best (largest θ); shape like `theta`.

    Ties within a draw (a probability-zero event for continuous θ) get the
    same ordinal by proposal order (stable sort).
    """
    order = np.argsort(-theta, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(theta.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, theta.shape[1] + 1)[None, :]
    return ranks


def _average_rank_desc(values: np.ndarray) -> np.ndarray:
    """Rank 1 = largest value, ties averaged (R's ``rank(-x)``)."""
    return pd.Series(-values).rank(method="average").to_numpy()


def expected_ranks(posterior: ReviewPosterior) -> pd.DataFrame:
    """Expected rank, its credible intervals, PCER and SUCRA of each proposal (method note §3.1).

    Parameters
    ----------
    posterior : ReviewPosterior

    Returns
    -------
    pandas.DataFrame
        One row per proposal, sorted by expected rank (best first), columns:
        ``proposal``; ``n_votes`` (int); ``avg_grade`` (mean grade, points);
        ``rank_avg`` (rank of the mean grade, ties averaged); ``grade_pm``
        (μ + posterior mean of θ, points); ``rank_pm`` (rank of the posterior
        mean of θ); ``er`` (posterior mean of the rank); ``rank_q05``,
        ``rank_q25``, ``rank_q75``, ``rank_q95`` (quantiles of the rank draws,
        linear interpolation = R type 7 as in bayesplot: the 50 % interval is
        [q25, q75], the 90 % interval [q05, q95]); ``pcer`` = 100·(ER − 0.5)/n;
        ``sucra`` = mean over b = 1…n−1 of P(rank ≤ b).

    Notes
    -----
    Source: ERforResearch ``get_er_from_jags``, ``get_sucra`` and
    ``plot_er_distributions`` (method note §3.1).
    """
    votes = posterior.votes
    ranks = rank_draws(posterior.theta)
    n = ranks.shape[1]
    er = ranks.mean(axis=0)
    q = np.quantile(ranks, [0.05, 0.25, 0.75, 0.95], axis=0)
    theta_pm = posterior.theta.mean(axis=0)
    avg = votes.mean_grades().to_numpy(dtype=float)
    counts = votes.table.groupby("proposal", sort=False).size().reindex(list(votes.proposals)).to_numpy()
    out = pd.DataFrame({
        "proposal": list(votes.proposals),
        "n_votes": counts.astype("int64"),
        "avg_grade": avg,
        "rank_avg": _average_rank_desc(avg),
        "grade_pm": posterior.mu + theta_pm,
        "rank_pm": _average_rank_desc(theta_pm).astype("int64"),
        "er": er,
        "rank_q05": q[0], "rank_q25": q[1], "rank_q75": q[2], "rank_q95": q[3],
        "pcer": 100.0 * (er - 0.5) / n,
        # mean over b = 1..n-1 of P(rank <= b) = sum_k P(rank = k)(n - k)/(n - 1) = (n - ER)/(n - 1)
        "sucra": (n - er) / (n - 1),
    })
    return out.sort_values(["er", "proposal"], kind="mergesort").reset_index(drop=True)


def snsf_groups(ranks: pd.DataFrame, n_fundable: int, *, interval: str = "inner") -> pd.DataFrame:
    """The SNSF funding line for a count of fundable proposals (method note §3.2).

    1. Sort by ER; the provisional funding line FL is the ER of the
       `n_fundable`-th proposal.
    2. Lottery if FL lies within the rank interval (``q25 ≤ FL ≤ q75`` for the
       50 % interval), or (inner interval only) the ER equals FL; accepted if
       the whole interval is better (``q75 < FL``); rejected otherwise.
    3. If accepted + lottery = `n_fundable`, the lottery group is accepted.
    4. Lottery slots = `n_fundable` − accepted.

    Guards the package lacks (method note, "edge cases"): if more than
    `n_fundable` proposals would be accepted, the worst by ER (then by
    proposal id) go to the lottery group until the accepted fit; proposals
    tied at FL are all in the lottery group.

    Parameters
    ----------
    ranks : pandas.DataFrame
        From :func:`expected_ranks`.
    n_fundable : int
        Number of proposals the budget funds (1 ≤ n_fundable ≤ number of proposals).
    interval : {"inner", "outer"}
        The 50 % (default, as the package) or the 90 % credible interval.

    Returns
    -------
    pandas.DataFrame
        `ranks` (ER order) plus ``group`` (``accepted`` / ``lottery`` /
        ``rejected``), ``group_fr`` (French label), and the attributes
        ``funding_line`` (FL, float) and ``lottery_slots`` (int) in
        ``DataFrame.attrs``.

    Raises
    ------
    ValueError
        `n_fundable` out of range or an unknown `interval` (French message).
    """
    n = len(ranks)
    if not isinstance(n_fundable, (int, np.integer)) or isinstance(n_fundable, bool) or not 1 <= n_fundable <= n:
        raise ValueError(f"nombre de dossiers finançables = {n_fundable!r} : un entier entre 1 et {n} est attendu")
    if interval not in ("inner", "outer"):
        raise ValueError(f"intervalle « {interval} » : inner (50 %) ou outer (90 %)")
    t = ranks.sort_values(["er", "proposal"], kind="mergesort").reset_index(drop=True).copy()
    fl = float(t["er"].iloc[n_fundable - 1])
    lo, hi = ("rank_q25", "rank_q75") if interval == "inner" else ("rank_q05", "rank_q95")
    in_lottery = (t[lo] <= fl) & (fl <= t[hi])
    if interval == "inner":
        in_lottery |= np.isclose(t["er"], fl, rtol=0.0, atol=1e-12)
    accepted = (t[hi] < fl) & ~in_lottery
    group = np.where(in_lottery, "lottery", np.where(accepted, "accepted", "rejected")).astype(object)
    # guard: never more accepted than fundable (worst accepted by ER go to the lottery)
    acc_idx = [k for k in range(n) if group[k] == "accepted"]
    while len(acc_idx) > n_fundable:
        group[acc_idx.pop()] = "lottery"
    n_acc = int((group == "accepted").sum())
    n_lot = int((group == "lottery").sum())
    if n_acc + n_lot == n_fundable:
        group[group == "lottery"] = "accepted"
        n_acc, n_lot = n_fundable, 0
    t["group"] = group
    t["group_fr"] = [SNSF_GROUPS_FR[g] for g in group]
    t.attrs["funding_line"] = fl
    t.attrs["lottery_slots"] = int(n_fundable - n_acc) if n_lot else 0
    t.attrs["interval"] = interval
    return t
