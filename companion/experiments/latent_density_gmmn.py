"""How long the GMMN of Fig. 5 must train to meet the bars' quality bar.

* ``latent_density/gmmn_length`` — the GMMN of ``latent_density/bars`` (its settings taken from
  :class:`~companion.experiments.latent_density_estimators.BarsConfig`) trained for many more
  steps, scored along the way: the fraction of its samples on a bar, the smallest bar's share
  and the fraction in the gap, per seed.

The run takes longer than the chapter's budget, so the chapter reads its record,
:data:`GMMN_LENGTH_RECORD`, and the command beside it runs it again. The chapter imports these
from :mod:`companion.experiments.latent_density`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Dict, List, Tuple

import numpy as np
import torch

import companion
from companion.experiments.latent_density_estimators import BarsConfig, bars_on_bar, meets_bars_bar
from companion.reproduce import register

__all__ = ["GMMN_LENGTH_RECORD", "GMMNLengthConfig", "GMMNLengthResult", "gmmn_length_summary",
           "plot_gmmn_length", "run_gmmn_length"]


@dataclasses.dataclass
class GMMNLengthConfig(BarsConfig):
    """The GMMN of :class:`BarsConfig` (noise, widths, bandwidths, batch, learning rate) trained
    ``gmmn_steps`` steps for each of ``seeds``, scored every ``eval_every`` steps on ``n_samples``
    fresh samples. Each seed is a one-thread worker job."""

    gmmn_steps: int = 32_000
    eval_every: int = 4000
    seeds: Tuple[int, ...] = (0, 1, 2)
    SCALES = {
        "smoke": {"n_train": 2000, "n_samples": 2000, "gmmn_steps": 20, "eval_every": 10, "seeds": (0, 1),
                  "gmmn_hidden": 16},
        "paper": {"n_train": 50_000, "gmmn_steps": 48_000, "eval_every": 4000, "seeds": (0, 1, 2, 3, 4),
                  "batch_size": 1024},
    }


@dataclasses.dataclass
class GMMNLengthResult:
    #: seed -> step -> {"on_bar", "smallest_bar_share", "gap_fraction"}
    curves: Dict[int, Dict[int, Dict[str, float]]]
    seconds: Dict[int, float]  # seed -> wall-clock seconds of its job
    metrics: Dict[str, object] = dataclasses.field(default_factory=dict)


def _score(points: torch.Tensor) -> Dict[str, float]:
    from companion import data

    on_bar, smallest = bars_on_bar(points)
    return {"on_bar": on_bar, "smallest_bar_share": smallest,
            "gap_fraction": float(data.bars_gap_mask(points).float().mean())}


def _gmmn_length_seed(cfg: GMMNLengthConfig, train: torch.Tensor, seed: int) -> Tuple[Dict[int, Dict], float]:
    """One seed: train the GMMN, scoring it every ``eval_every`` steps on samples drawn from noise of a
    generator of its own (so the scoring leaves the training's random stream as it was)."""
    from companion.lde import GMMN, fit_gmmn

    tic = time.perf_counter()
    companion.seed_everything(seed)
    device = companion.device()
    model = GMMN(2, noise_dim=cfg.gmmn_noise_dim, hidden=cfg.gmmn_hidden, n_layers=cfg.gmmn_layers).to(device)
    scoring_noise = torch.Generator(device=device).manual_seed(10_000 + seed)
    curve: Dict[int, Dict[str, float]] = {}

    def score(step: int) -> None:
        done = step + 1  # the callback's step counts from 0
        if done % cfg.eval_every == 0 or done == cfg.gmmn_steps:
            with torch.no_grad():
                noise = torch.rand(cfg.n_samples, model.noise_dim, generator=scoring_noise, device=device) * 2 - 1
                curve[done] = _score(model(noise).cpu())

    fit_gmmn(model, train, n_steps=cfg.gmmn_steps, batch_size=cfg.batch_size, lr=cfg.gmmn_lr,
             bandwidths=cfg.gmmn_bandwidths, callback=score, progress=False, desc=f"GMMN s{seed}")
    return curve, time.perf_counter() - tic


@register("latent_density/gmmn_length", config=GMMNLengthConfig, plot=lambda r: plot_gmmn_length(r.curves),
          description="Fig. 5's GMMN trained far longer: on-bar fraction, smallest bar share and gap along training")
def run_gmmn_length(cfg: GMMNLengthConfig) -> GMMNLengthResult:
    """Train the bars' GMMN for ``cfg.gmmn_steps`` steps on each seed (one-thread worker jobs) and
    score it along the way; the metrics say from which evaluation on each seed meets the bar."""
    from companion import data
    from companion.checks import check_positive_int
    from companion.workers import map_in_workers

    check_positive_int(cfg.eval_every, "eval_every")
    if not cfg.seeds:
        raise ValueError("seeds must hold at least one seed")
    train = data.load("bars")[: cfg.n_train]
    out = map_in_workers(functools.partial(_gmmn_length_seed, cfg, train), [(s,) for s in cfg.seeds])
    curves = {seed: curve for seed, (curve, _) in zip(cfg.seeds, out)}
    seconds = {seed: secs for seed, (_, secs) in zip(cfg.seeds, out)}
    return GMMNLengthResult(curves, seconds, gmmn_length_summary(curves, cfg.min_on_bar))


def gmmn_length_summary(curves: Dict[int, Dict[int, Dict[str, float]]], min_on_bar: float) -> Dict[str, object]:
    """Per seed, the first step from which every later evaluation meets the bar (0: never), and, at
    the last step, the means over seeds of the three scores and how many seeds meet the bar."""
    if not curves or any(not curve for curve in curves.values()):
        raise ValueError("curves must hold at least one seed, each with at least one evaluation")

    def met(score: Dict[str, float]) -> bool:
        return meets_bars_bar(score["on_bar"], score["smallest_bar_share"], min_on_bar)

    metrics: Dict[str, object] = {}
    finals: List[Dict[str, float]] = []
    for seed, curve in curves.items():
        steps = sorted(curve)
        held = [s for s in steps if all(met(curve[t]) for t in steps if t >= s)]
        metrics[f"seed{seed}_meets_bar_from"] = held[0] if held else 0
        finals.append(curve[steps[-1]])
    for key in ("on_bar", "smallest_bar_share", "gap_fraction"):
        metrics[f"final_{key}"] = float(np.mean([f[key] for f in finals]))
    metrics["final_meets_bar"] = f"{sum(met(f) for f in finals)} of {len(finals)} seeds"
    return metrics


def plot_gmmn_length(curves: Dict[int, Dict[int, Dict[str, float]]], min_on_bar: float = BarsConfig.min_on_bar):
    """The on-bar fraction and the smallest bar's share along training, one line per seed, with the bar.

    ``curves`` is :attr:`GMMNLengthResult.curves` (seed -> step -> scores), as the record holds it."""
    import matplotlib.pyplot as plt

    from companion.checks import check_probability

    check_probability(min_on_bar, "min_on_bar")
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must map each seed to its evaluations (seed -> step -> scores); got none")
    for seed, curve in curves.items():
        if not isinstance(curve, dict) or not curve:
            raise ValueError(f"curves[{seed!r}] must map each evaluated step to its scores; got {curve!r}")
        for step, score in curve.items():
            missing = {"on_bar", "smallest_bar_share"} - set(score if isinstance(score, dict) else ())
            if missing:
                raise ValueError(f"curves[{seed!r}][{step!r}] lacks the score(s) {sorted(missing)}")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key, bar, label in ((axes[0], "on_bar", min_on_bar, "fraction of samples on a bar"),
                                (axes[1], "smallest_bar_share", 1 / 12, "smallest bar's share")):
        for seed, curve in curves.items():
            steps = sorted(curve)
            ax.plot(steps, [curve[s][key] for s in steps], marker="o", ms=3, label=f"seed {seed}")
        ax.axhline(bar, color="k", ls="--", lw=1, label="the bar")
        ax.set_xlabel("GMMN steps")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


#: The book-scale run of ``latent_density/gmmn_length``, as its JSON holds it (the scores rounded to 4 digits):
#: seed -> step -> scores. It ran on the two-core CPU build machine in three one-thread workers, beside the runs of
#: ``symmetric_discriminators/training_length``, so ``seconds`` (the command's wall-clock time) overstates what the
#: seeds cost alone.
GMMN_LENGTH_RECORD: Dict[str, object] = {
    "date": "2026-12-06 (04:04-04:34 UTC)",
    "seconds": 1830,
    "command": "python -m companion reproduce latent_density/gmmn_length --scale book",
    "curves": {
        0: {
            4000: {"on_bar": 0.4896, "smallest_bar_share": 0.047,
                     "gap_fraction": 0.0031},
            8000: {"on_bar": 0.6397, "smallest_bar_share": 0.1055,
                     "gap_fraction": 0.0033},
            12000: {"on_bar": 0.7247, "smallest_bar_share": 0.1164,
                     "gap_fraction": 0.002},
            16000: {"on_bar": 0.8222, "smallest_bar_share": 0.1307,
                     "gap_fraction": 0.0029},
            20000: {"on_bar": 0.8328, "smallest_bar_share": 0.1428,
                     "gap_fraction": 0.002},
            24000: {"on_bar": 0.8567, "smallest_bar_share": 0.1359,
                     "gap_fraction": 0.0015},
            28000: {"on_bar": 0.8696, "smallest_bar_share": 0.1432,
                     "gap_fraction": 0.0011},
            32000: {"on_bar": 0.8853, "smallest_bar_share": 0.1559,
                     "gap_fraction": 0.0008},
        },
        1: {
            4000: {"on_bar": 0.5583, "smallest_bar_share": 0.0732,
                     "gap_fraction": 0.0018},
            8000: {"on_bar": 0.7271, "smallest_bar_share": 0.1216,
                     "gap_fraction": 0.0018},
            12000: {"on_bar": 0.8082, "smallest_bar_share": 0.1381,
                     "gap_fraction": 0.0012},
            16000: {"on_bar": 0.8567, "smallest_bar_share": 0.1478,
                     "gap_fraction": 0.0013},
            20000: {"on_bar": 0.8598, "smallest_bar_share": 0.1492,
                     "gap_fraction": 0.0019},
            24000: {"on_bar": 0.8723, "smallest_bar_share": 0.1502,
                     "gap_fraction": 0.0015},
            28000: {"on_bar": 0.8655, "smallest_bar_share": 0.1527,
                     "gap_fraction": 0.0013},
            32000: {"on_bar": 0.8891, "smallest_bar_share": 0.1512,
                     "gap_fraction": 0.0017},
        },
        2: {
            4000: {"on_bar": 0.5502, "smallest_bar_share": 0.0925,
                     "gap_fraction": 0.0038},
            8000: {"on_bar": 0.6493, "smallest_bar_share": 0.0841,
                     "gap_fraction": 0.0018},
            12000: {"on_bar": 0.8149, "smallest_bar_share": 0.1335,
                     "gap_fraction": 0.0026},
            16000: {"on_bar": 0.8252, "smallest_bar_share": 0.1443,
                     "gap_fraction": 0.0012},
            20000: {"on_bar": 0.8484, "smallest_bar_share": 0.1435,
                     "gap_fraction": 0.0013},
            24000: {"on_bar": 0.8636, "smallest_bar_share": 0.1544,
                     "gap_fraction": 0.0005},
            28000: {"on_bar": 0.8407, "smallest_bar_share": 0.1308,
                     "gap_fraction": 0.0011},
            32000: {"on_bar": 0.8794, "smallest_bar_share": 0.1552,
                     "gap_fraction": 0.0015},
        },
    },
}
