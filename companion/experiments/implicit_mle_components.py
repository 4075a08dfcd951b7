"""The implicit-MLE chapter's sweep over the number of components C of the base, over seeds.

:func:`run_components_sweep` trains the autoencoder of Fig. 2 (two-dimensional codes) on all ten
digit classes, once per seed, and fits a Gaussian mixture with C components to its codes for
every C of the sweep; the autoencoder does not change with C. Each base gets two scores on the
validation split: the mean log-likelihood of the validation codes under the base, and the Parzen
log-likelihood of the validation images under decoded draws of the base (bandwidth chosen on the
same split). The seeds are independent jobs in forked one-thread workers
(:func:`companion.workers.map_in_workers`), each seeded by itself, so the numbers do not depend
on the number of workers. Every C is scored on the same autoencoder within a seed, so the
comparisons between values of C are paired by seed (:func:`components_claims`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import torch
from torch import nn

import companion
from companion.config import ExperimentConfig
from companion.data import load
from companion.evidence import compare_phrase, summarize, verdict
from companion.iml import Autoencoder, GaussianBase, GMMBase, TwoStageModel
from companion.metrics import select_parzen_sigma
from companion.workers import map_in_workers

__all__ = ["ComponentsConfig", "ComponentsResult", "components_claims", "run_components_sweep"]

#: The two validation scores of every base, as named in ``ComponentsResult.runs``.
SCORES = ("code_log_lik", "parzen")


@dataclass
class ComponentsConfig(ExperimentConfig):
    """The autoencoder of Fig. 2 on all digits, and GMM bases with each C of ``n_components``."""

    dataset: str = "digits"
    latent_dim: int = 2
    hidden: int = 128
    n_steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    n_components: Tuple[int, ...] = (1, 2, 3, 5, 10, 20, 40)
    n_draws: int = 1000  # decoded draws of each base for its Parzen score
    n_seeds: int = 10  # one autoencoder, and one mixture per C, for each seed (a seed costs seconds)
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"n_steps": 100, "n_draws": 200, "n_seeds": 3},
        "paper": {"dataset": "mnist", "hidden": 600, "n_steps": 20_000},
    }


@dataclass
class ComponentsResult:
    """Per-seed scores, their summaries and claims, and the first seed's models for the figure."""

    n_components: Tuple[int, ...]
    runs: Dict[str, Dict[int, List[float]]]  # score name (SCORES) -> C -> one value per seed
    autoencoder: nn.Module  # the first seed's
    bases: Dict[int, nn.Module]  # C -> the first seed's GMMBase
    codes: torch.Tensor  # the first seed's codes of the training images
    val_codes: torch.Tensor  # and of the validation images
    metrics: Dict = field(default_factory=dict)


def _fit_one_seed(cfg: ComponentsConfig, x: torch.Tensor, x_val: torch.Tensor, seed: int, keep_models: bool) -> Dict:
    """One seed: the autoencoder, then a mixture and its two scores for every C (the models if ``keep_models``)."""
    start = time.perf_counter()
    companion.seed_everything(seed)
    model = TwoStageModel(Autoencoder(x.shape[1:], cfg.latent_dim, hidden=(cfg.hidden,)), GaussianBase()).to(x.device)
    model.fit(x, n_steps=cfg.n_steps, batch_size=cfg.batch_size, lr=cfg.lr, progress=False)
    codes, val_codes = model.encode_data(x), model.encode_data(x_val)
    scores: Dict[str, Dict[int, float]] = {name: {} for name in SCORES}
    bases = {}
    for c in cfg.n_components:
        bases[c] = GMMBase(c, random_state=seed).fit(codes)
        scores["code_log_lik"][c] = float(bases[c].log_prob(val_codes).mean())
        with torch.no_grad():
            decoded = model.autoencoder.decode(bases[c].sample(cfg.n_draws))
        scores["parzen"][c] = float(select_parzen_sigma(decoded.flatten(1), x_val.flatten(1))[1])
    out = {"scores": scores, "seconds": time.perf_counter() - start}
    if keep_models:
        out.update(autoencoder=model.autoencoder, bases=bases, codes=codes, val_codes=val_codes)
    return out


def _best(runs: Mapping[int, Sequence[float]]) -> int:
    """The C with the highest mean over seeds (the smallest such C on a tie)."""
    return max(sorted(runs), key=lambda c: float(np.mean(runs[c])))


def _claim(name_a: str, a: Sequence[float], name_b: str, b: Sequence[float]) -> Dict[str, str]:
    return {"verdict": verdict(a, b, paired=True), "phrase": compare_phrase(name_a, a, name_b, b, paired=True)}


def components_claims(runs: Mapping[str, Mapping[int, Sequence[float]]]) -> Dict[str, Dict]:
    """The chapter's claims about C, each with its verdict from the paired bootstrap interval.

    Args:
        runs: for each score of :data:`SCORES`, the values per seed for each C (every C with
            the same seeds, in the same order: the comparisons are paired by seed).

    Returns:
        ``best_vs_one`` (code log-likelihood: the best C by the mean against C = 1),
        ``best_vs_largest`` (the best C against the largest C: too many components),
        ``parzen_best_vs_one`` (the same as the first for the Parzen score) and
        ``code_moves_more`` (per seed, the range over C of the code log-likelihood against that
        of the Parzen score, both in nats). Each holds ``verdict`` (one of
        :data:`companion.evidence.VERDICTS`, or ``"not compared"`` when the two arms are the
        same C) and ``phrase``; the first three also name the Cs they compare (``a``, ``b``).

    Raises:
        ValueError: if a score is missing, C = 1 is not in the sweep, or the Cs or scores do not
            have the same number of seeds.
    """
    missing = [name for name in SCORES if name not in runs]
    if missing:
        raise ValueError(f"runs must hold the scores {SCORES}; missing {missing}")
    cs = sorted(runs[SCORES[0]])
    if 1 not in cs or sorted(runs[SCORES[1]]) != cs:
        raise ValueError(f"both scores need the same Cs, C = 1 among them; got {cs} and {sorted(runs[SCORES[1]])}")
    lengths = {len(runs[name][c]) for name in SCORES for c in cs}
    if len(lengths) != 1:
        raise ValueError(f"every C and score needs the same seeds; got {sorted(lengths)} values")
    claims: Dict[str, Dict] = {}
    for key, name, a, b in (("best_vs_one", "code_log_lik", _best(runs["code_log_lik"]), 1),
                            ("best_vs_largest", "code_log_lik", _best(runs["code_log_lik"]), cs[-1]),
                            ("parzen_best_vs_one", "parzen", _best(runs["parzen"]), 1)):
        if a == b:
            claims[key] = {"verdict": "not compared", "a": a, "b": b,
                           "phrase": f"C = {a} is both the best by the mean and the C it would be compared with"}
        else:
            claims[key] = {"a": a, "b": b, **_claim(f"C = {a}", runs[name][a], f"C = {b}", runs[name][b])}
    table = {name: np.array([runs[name][c] for c in cs], dtype=float) for name in SCORES}  # (C, seed)
    ranges = {name: (values.max(axis=0) - values.min(axis=0)).tolist() for name, values in table.items()}
    claims["code_moves_more"] = _claim("the code log-likelihood's range over C", ranges["code_log_lik"],
                                       "the Parzen score's", ranges["parzen"])
    return claims


def run_components_sweep(cfg: ComponentsConfig) -> ComponentsResult:
    """Per seed, the autoencoder of Fig. 2 on all digits and a GMM base for each C, scored on validation.

    ``runs`` holds every seed's scores; ``metrics`` their summaries per C (``mean``, ``std``), the
    best C by the mean for each score, the claims of :func:`components_claims`, ``n_seeds`` and
    the seconds per seed (wall clock, in a worker). The models in the result are the first seed's.
    """
    if not cfg.n_components or any(int(c) != c or c < 1 for c in cfg.n_components) or 1 not in cfg.n_components:
        raise ValueError(f"n_components must be positive ints, 1 among them; got {cfg.n_components!r}")
    if cfg.n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1; got {cfg.n_seeds!r}")
    dev = companion.device()
    x, x_val = load(cfg.dataset, "train").to(dev), load(cfg.dataset, "valid").to(dev)
    seeds = [cfg.seed + j for j in range(cfg.n_seeds)]
    per_seed = map_in_workers(lambda seed, keep: _fit_one_seed(cfg, x, x_val, seed, keep),
                              [(seed, j == 0) for j, seed in enumerate(seeds)])
    cs = tuple(sorted(cfg.n_components))
    runs = {name: {c: [one["scores"][name][c] for one in per_seed] for c in cs} for name in SCORES}
    summaries = {name: {c: vars(summarize(runs[name][c])) for c in cs} for name in SCORES}
    metrics = {
        **summaries,
        "best_c": {name: _best(runs[name]) for name in SCORES},
        "claims": components_claims(runs),
        "n_seeds": cfg.n_seeds,
        "seconds_per_seed": [one["seconds"] for one in per_seed],
    }
    first = per_seed[0]
    return ComponentsResult(cs, runs, first["autoencoder"], first["bases"], first["codes"], first["val_codes"], metrics)
