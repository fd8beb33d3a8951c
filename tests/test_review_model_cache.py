"""The review model's fit cache: a second call does not refit, a changed input or setting refits,
a damaged or mismatching entry is ignored with a note and refitted; ``lottery --no-draw`` then
``lottery`` fits once.

Fits are counted by wrapping :func:`ditp_model.scoring.review_model.fit_review_model` (the real fit
runs, short chains); no timing is asserted.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ditp_model.inputs.tables import read_output_csv
from ditp_model.scoring import review_model as rm

pytestmark = pytest.mark.skipif(importlib.util.find_spec("numpyro") is None,
                                reason="extra « bayes » absent : pip install -e '.[bayes]'")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SETTINGS = dict(num_chains=1, num_warmup=100, num_samples=100, seed=3)


def small_votes(bump: float = 0.0) -> rm.Votes:
    rng = np.random.default_rng(11)
    rows = [(f"p{i:02d}", f"a{j}", 3.0 + 0.2 * (6 - i) + rng.normal(0, 0.3)) for i in range(12)
            for j in rng.choice(5, size=3, replace=False)]
    t = pd.DataFrame(rows, columns=["proposal", "assessor", "g"])
    t.loc[0, "g"] += bump
    return rm.votes_from_table(t, grade="g", scale=(0, 7))


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = rm.fit_review_model

    def counting(votes, **kw):
        calls.append(kw)
        return real(votes, **kw)

    monkeypatch.setattr(rm, "fit_review_model", counting)
    return calls


def test_second_call_reads_the_cache_and_gives_the_same_draws(tmp_path, counted):
    votes = small_votes()
    first = rm.fit_review_model_cached(votes, tmp_path, **SETTINGS)
    assert len(counted) == 1 and not first.from_cache
    key = rm.fit_cache_key(votes, **SETTINGS)
    assert (tmp_path / f"review_model_{key}.npz").is_file() and len(key) == 64
    again = rm.fit_review_model_cached(small_votes(), tmp_path, progress=False, **SETTINGS)
    assert len(counted) == 1 and again.from_cache
    np.testing.assert_array_equal(again.theta, first.theta)
    np.testing.assert_array_equal(again.nu, first.nu)
    pd.testing.assert_frame_equal(again.sds, first.sds)
    assert (again.mu, again.r_hat, again.ess, again.seed, again.num_samples) == (first.mu, first.r_hat, first.ess, 3, 100)
    assert again.votes is not None and list(again.votes.proposals) == list(votes.proposals)
    # ranks computed on the cached draws are those of the fresh ones
    pd.testing.assert_frame_equal(rm.expected_ranks(again), rm.expected_ranks(first))


def test_changed_input_or_setting_refits(tmp_path, counted):
    rm.fit_review_model_cached(small_votes(), tmp_path, **SETTINGS)
    rm.fit_review_model_cached(small_votes(bump=0.5), tmp_path, **SETTINGS)  # one grade changed
    assert len(counted) == 2
    assert len(list(tmp_path.glob("review_model_*.npz"))) == 2
    # the key sees every grade to the last bit, the seed and the draw counts
    base = rm.fit_cache_key(small_votes(), **SETTINGS)
    assert rm.fit_cache_key(small_votes(bump=1e-12), **SETTINGS) != base
    assert rm.fit_cache_key(small_votes(), **{**SETTINGS, "seed": 4}) != base
    assert rm.fit_cache_key(small_votes(), **{**SETTINGS, "num_samples": 101}) != base
    assert rm.fit_cache_key(small_votes(), **SETTINGS) == base


def test_corrupt_entry_is_ignored_with_a_note_and_replaced(tmp_path, counted):
    votes = small_votes()
    key = rm.fit_cache_key(votes, **SETTINGS)
    entry = tmp_path / f"review_model_{key}.npz"
    entry.write_bytes(b"PK\x03\x04 pas une archive numpy")
    notes = []
    post = rm.fit_review_model_cached(votes, tmp_path, on_note=notes.append, **SETTINGS)
    assert len(counted) == 1 and not post.from_cache
    assert len(notes) == 1 and "ignoré" in notes[0] and "ajusté de nouveau" in notes[0]
    # the damaged entry was replaced by a good one: the next call reads it
    assert rm.fit_review_model_cached(votes, tmp_path, on_note=notes.append, **SETTINGS).from_cache
    assert len(counted) == 1 and len(notes) == 1


def test_entry_under_the_right_name_with_another_key_is_not_trusted(tmp_path, counted):
    a, b = small_votes(), small_votes(bump=0.5)
    rm.fit_review_model_cached(a, tmp_path, **SETTINGS)
    key_a, key_b = rm.fit_cache_key(a, **SETTINGS), rm.fit_cache_key(b, **SETTINGS)
    shutil.copyfile(tmp_path / f"review_model_{key_a}.npz", tmp_path / f"review_model_{key_b}.npz")
    post, note = rm.load_cached_fit(tmp_path, key_b, b)
    assert post is None and "clé enregistrée différente" in note
    notes = []
    assert not rm.fit_review_model_cached(b, tmp_path, on_note=notes.append, **SETTINGS).from_cache
    assert len(counted) == 2 and len(notes) == 1


def test_no_cache_dir_fits_and_writes_nothing(tmp_path, counted, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not rm.fit_review_model_cached(small_votes(), None, **SETTINGS).from_cache
    assert len(counted) == 1 and not list(tmp_path.iterdir())


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DITP_MODEL_CACHE", str(tmp_path / "ici"))
    assert rm.default_cache_dir() == tmp_path / "ici"
    monkeypatch.delenv("DITP_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name != "nt":
        assert rm.default_cache_dir() == tmp_path / "xdg" / "ditp-model"


def test_lottery_no_draw_then_draw_fits_once(tmp_path, counted, capsys):
    from ditp_model.cli import main
    from ditp_model.outputs.record import read_journal

    base = ["lottery", "--call", str(DATA / "appel_2021.toml"), "--applications", str(DATA / "candidatures_exemple.csv"),
            "--reviews", str(DATA / "evaluations_exemple.csv"), "--weights", "impact=0.5,openness=0.3,collective=0.2",
            "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--mcmc-draws", "600", "--draws", "50",  # 600: R̂ < 1.01 (test_cli_lottery)
            "--provisoire"]  # the sample's decision is provisional (P047, P072 held)
    assert main(base + ["--annoncer-graine", "7"]) == 0  # the seed is announced before any probability is known
    assert main(base + ["--no-draw"]) == 0
    assert len(counted) == 1
    first = read_output_csv(tmp_path / "out" / "probabilites_financement.csv")
    out = capsys.readouterr().out
    assert "ajusté en" in out
    assert main(base + ["--seed", "7"]) == 0
    assert len(counted) == 1  # the draw read the fit back
    assert "ajustement repris du cache" in capsys.readouterr().out
    pd.testing.assert_frame_equal(read_output_csv(tmp_path / "out" / "probabilites_financement.csv"), first)
    assert len(list((tmp_path / "cache").glob("review_model_*.npz"))) == 1
    assert [e["event"] for e in read_journal(tmp_path / "out" / "decisions.jsonl").entries][-1] == "tirage_au_sort"
    assert main(base + ["--no-draw", "--no-cache"]) == 0
    assert len(counted) == 2


def test_fit_keeps_its_compiled_sampler_and_other_votes_of_the_same_shape_reuse_it(tmp_path):
    """The fit cache's folder also holds JAX's compilation cache (``jax/``); the votes are arguments of the
    compiled sampler, not constants folded into it: a fit of other votes of the same shape (a corrected
    grade) adds no second sampler program, and gives other draws (the votes did reach the sampler)."""
    from jax.experimental.compilation_cache import compilation_cache

    try:
        first = rm.fit_review_model_cached(small_votes(), tmp_path, **SETTINGS)
        folder = tmp_path / "jax"
        samplers = sorted(p.name for p in folder.glob("jit__fori_collect_loop-*"))
        assert len(samplers) == 1, sorted(p.name for p in folder.iterdir())
        if os.name != "nt":
            assert folder.stat().st_mode & 0o077 == 0  # the user's only: JAX runs what it finds there
        other = rm.fit_review_model_cached(small_votes(bump=0.5), tmp_path, **SETTINGS)
        assert not other.from_cache
        assert sorted(p.name for p in folder.glob("jit__fori_collect_loop-*")) == samplers
        assert not np.array_equal(other.theta, first.theta)
    finally:
        compilation_cache.reset_cache()
        compilation_cache.set_cache_dir(None)
