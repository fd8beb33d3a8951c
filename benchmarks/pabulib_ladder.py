"""Synthetic Pabulib instances for the reading and solving ladder (issue 18).

``write_ladder_file(n, path, seed)`` writes an approval election with ``n``
projects: costs are whole multiples of 100 between 5,000 and 499,900 (seeded),
``2 n`` voters each approving 1 to 10 projects drawn by a skewed popularity (so
scores spread out and ties are rare but possible), the ``votes`` column of
PROJECTS filled with the counts (so the reader cross-checks them) and a budget
of 30 % of the total cost, rounded down to a whole unit.

Run as a script to write the three rungs (1,000, 10,000 and 100,000 projects)
into ``benchmarks/.cache/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

RUNGS = (1_000, 10_000, 100_000)
SEED = 20260218
CACHE = Path(__file__).resolve().parent / ".cache"


def ladder_path(n: int, seed: int = SEED) -> Path:
    return CACHE / f"synthetic_approval_{n}_seed{seed}.pb"


def write_ladder_file(n: int, path: Path, seed: int = SEED) -> Path:
    rng = np.random.default_rng([seed, n])
    costs = rng.integers(50, 5000, size=n) * 100
    popularity = rng.lognormal(mean=0.0, sigma=1.2, size=n)
    popularity /= popularity.sum()
    n_voters = 2 * n
    lengths = rng.integers(1, 11, size=n_voters)
    picks = rng.choice(n, size=int(lengths.sum()), p=popularity)
    owner = np.repeat(np.arange(n_voters), lengths)
    key = np.unique(owner.astype(np.int64) * n + picks)  # one approval per (voter, project); sorted by voter
    voter, project = key // n, key % n
    counts = np.bincount(project, minlength=n)
    budget = int(costs.sum()) * 3 // 10
    ids = [f"P{i:06d}" for i in range(n)]
    bounds = np.flatnonzero(np.diff(voter)) + 1
    voters_with_ballot = voter[np.r_[0, bounds]] if len(voter) else voter
    ballots = np.split(project, bounds) if len(project) else []
    lines = ["META", "key;value", f"description;Synthetic approval ladder, {n} projects (seed {seed})",
             "country;Nowhere", "unit;Synthetic", f"instance;{n}", f"num_projects;{n}",
             f"num_votes;{len(ballots)}", f"budget;{budget}", "vote_type;approval", "rule;greedy",
             "currency;PLN", "PROJECTS", "project_id;cost;votes;name"]
    lines += [f"{ids[i]};{costs[i]};{counts[i]};Projet synthétique {i}" for i in range(n)]
    lines += ["VOTES", "voter_id;vote"]
    lines += [f"V{v:07d};{','.join(ids[p] for p in b)}" for v, b in zip(voters_with_ballot.tolist(), ballots)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def ensure_ladder(rungs=RUNGS, seed: int = SEED) -> list[Path]:
    """The ladder's files, written once (same seed, same bytes)."""
    out = []
    for n in rungs:
        p = ladder_path(n, seed)
        if not p.exists():
            write_ladder_file(n, p, seed)
        out.append(p)
    return out


if __name__ == "__main__":
    for p in ensure_ladder([int(a) for a in sys.argv[1:]] or RUNGS):
        print(p, p.stat().st_size, "octets")
