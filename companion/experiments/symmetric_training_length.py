"""Sec. 4.5.1 at longer budgets: how many generator steps the toy GANs need on ``ring`` and ``grid``.

* ``symmetric_discriminators/training_length`` — the GAN, BGAN and M-BGAN of the chapter's
  mode-coverage run (:mod:`companion.experiments.symmetric_mode_coverage`: PacGAN's network
  shapes at the book's widths, the learning rate decayed linearly to zero, every seed a
  replica) trained for each length of ``horizons``. The rate decays over the whole run, so each
  length is a run of its own, not a point on one long run; each run is also scored at the
  shorter lengths it passes. The chapter's own run stops at 1,500 steps, where the GAN's
  ``grid`` coverage is still rising and BGAN is behind on ``ring``; this experiment shows where
  the coverage stops rising and whether the batch GANs' comparison with the GAN changes with the
  length. It takes about three quarters of an hour of two CPU cores, more than a chapter's
  budget, so the chapter shows its recorded run
  (:mod:`companion.experiments.symmetric_training_length_record`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar, Dict, List, Optional, Sequence, Tuple

import numpy as np

from companion.checks import check_positive_int
from companion.evidence import bootstrap_difference, format_spread, summarize, verdict
from companion.experiments.symmetric_mode_coverage import METHOD_NAMES, PACGAN_TABLE, ModeCoverageConfig
from companion.experiments.symmetric_toys import _train_toy_replicas
from companion.plots import pyplot
from companion.reproduce import register
from companion.workers import map_in_workers

if TYPE_CHECKING:  # only for annotations: importing the module stays cheap
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "TrainingLengthConfig",
    "TrainingLengthResult",
    "plot_training_length",
    "run_training_length",
    "stops_rising_at",
    "training_length_comparisons",
    "training_length_table",
]

#: Runs of one data set: training length -> model -> {"modes": per seed, "high_quality_pct": per
#: seed, "curve": {shorter length: modes per seed}} (the run of that length scored on the way).
Runs = Dict[int, Dict[str, Dict[str, object]]]

MODES = {"ring": 8, "grid": 25}


@dataclass
class TrainingLengthConfig(ModeCoverageConfig):
    """The chapter's mode-coverage recipe at several training lengths.

    Everything but the length is :class:`ModeCoverageConfig`'s (``n_steps`` and ``eval_steps``
    are set per run from ``horizons``); the PacGAN setup only. ``paper``: PacGAN's widths and
    constant rate, as the mode-coverage experiment's ``paper`` scale, at 5,000, 10,000 and
    20,000 steps.
    """

    #: The training lengths (generator steps), each a run of its own with the rate decayed over it.
    horizons: Tuple[int, ...] = (1500, 3000, 6000, 12000, 20000)
    SCALES: ClassVar = {
        "smoke": {**ModeCoverageConfig.SCALES["smoke"], "setups": ("pacgan",), "horizons": (4, 8)},
        "paper": {**ModeCoverageConfig.SCALES["paper"], "setups": ("pacgan",), "methods": ("gan", "bgan", "mbgan"),
                  "horizons": (5000, 10000, 20000)},
    }


@dataclass
class TrainingLengthResult:
    """What :func:`run_training_length` returns.

    ``runs[dataset]``: the runs of each length (:data:`Runs`: modes covered and high-quality percentage per seed at
    the end of the run, and the modes per seed at the shorter lengths it passed). ``metrics``: the means over the
    seeds per data set, length and model, and ``{dataset}_gan_stops_rising_at`` (:func:`stops_rising_at`; 0 when
    the GAN's coverage is still rising at the longest length).
    """

    runs: Dict[str, Runs]  # data set -> its runs (see ``Runs``)
    seconds: Dict[str, float]  # "dataset/horizon/method" -> wall-clock seconds of the run (all seeds)
    metrics: Dict[str, float] = field(default_factory=dict)


def _check_config(cfg: TrainingLengthConfig) -> None:
    horizons = [check_positive_int(h, "each of horizons") for h in cfg.horizons]
    if not horizons or horizons != sorted(set(horizons)):
        raise ValueError(f"horizons must be one or more lengths that increase strictly; got {cfg.horizons!r}")
    if not cfg.datasets or any(d not in MODES for d in cfg.datasets):
        raise ValueError(f"datasets must be among {tuple(MODES)}; got {cfg.datasets!r}")
    if tuple(cfg.setups) != ("pacgan",):
        raise ValueError(f"this experiment uses the PacGAN setup only; got setups={cfg.setups!r}")


def _length_job(cfg: TrainingLengthConfig, dataset: str, horizon: int, method: str) -> Dict[str, object]:
    """One (data set, length, model) of :func:`run_training_length`: every seed at once as replicas."""
    tic = time.perf_counter()
    shorter = tuple(h for h in cfg.horizons if h < horizon)
    run_cfg = replace(cfg, n_steps=horizon, eval_steps=shorter)
    out = _train_toy_replicas("pacgan", method, dataset, tuple(cfg.seeds), run_cfg, cfg.gamma, shorter,
                              lr_decay=cfg.lr_decay)
    modes, quality = out["curve"][horizon]
    return {"modes": [float(m) for m in modes], "high_quality_pct": [float(100 * q) for q in quality],
            "curve": {step: [float(m) for m in v[0]] for step, v in sorted(out["curve"].items()) if step < horizon},
            "seconds": time.perf_counter() - tic}


@register("symmetric_discriminators/training_length", config=TrainingLengthConfig,
          plot=lambda r: plot_training_length(r.runs),
          description="GAN, BGAN and M-BGAN on ring and grid at several training lengths")
def run_training_length(cfg: TrainingLengthConfig) -> TrainingLengthResult:
    """Train every model of ``cfg.methods`` on every data set of ``cfg.datasets`` for each length of
    ``cfg.horizons`` (all seeds of a run at once as replicas; the runs are one-thread worker jobs,
    the longest first, so that the two workers finish together)."""
    _check_config(cfg)
    start = time.perf_counter()
    jobs = sorted(((d, h, m) for d in cfg.datasets for h in cfg.horizons for m in cfg.methods),
                  key=lambda job: -job[1])
    done = dict(zip(jobs, map_in_workers(lambda d, h, m: _length_job(cfg, d, h, m), jobs)))
    runs: Dict[str, Runs] = {}
    seconds: Dict[str, float] = {}
    metrics: Dict[str, float] = {}
    for dataset in cfg.datasets:
        for horizon in cfg.horizons:
            for method in cfg.methods:
                out = done[(dataset, horizon, method)]
                seconds[f"{dataset}/{horizon}/{method}"] = out.pop("seconds")
                runs.setdefault(dataset, {}).setdefault(horizon, {})[method] = out
                tag = f"{dataset}_h{horizon}_{method}"
                metrics[f"{tag}_modes_mean"] = float(np.mean(out["modes"]))
                metrics[f"{tag}_high_quality_pct_mean"] = float(np.mean(out["high_quality_pct"]))
        if "gan" in cfg.methods and len(cfg.horizons) > 1:
            at = stops_rising_at({h: runs[dataset][h]["gan"]["modes"] for h in cfg.horizons})
            metrics[f"{dataset}_gan_stops_rising_at"] = float(at or 0)
    metrics["n_seeds"] = len(cfg.seeds)
    metrics["seconds"] = time.perf_counter() - start
    return TrainingLengthResult(runs, seconds, metrics)


def stops_rising_at(final_modes: Dict[int, Sequence[float]]) -> Optional[int]:
    """The first training length after which no longer run covers more modes.

    ``final_modes`` maps each length to the modes covered per seed at its end. The coverage
    "stops rising" at length ``h`` when, against every longer length, the claim "the longer run
    covers more modes" does not hold (the 95% bootstrap interval of the difference over the
    seeds, :func:`companion.evidence.verdict`, is not above zero). ``None`` when even the
    last-but-one length is beaten by the last: still rising at the end of the budget.

    Raises:
        ValueError: with fewer than two lengths.
    """
    lengths = sorted(final_modes)
    if len(lengths) < 2:
        raise ValueError(f"need at least two training lengths; got {lengths}")
    for i, h in enumerate(lengths[:-1]):
        if all(verdict(final_modes[longer], final_modes[h]) != "holds" for longer in lengths[i + 1:]):
            return h
    return None


def _in_order(per_method: Dict[str, object]) -> List[str]:
    """The models of a run in the chapter's order (GAN, BGAN, M-BGAN, mixup GAN)."""
    return sorted(per_method, key=list(METHOD_NAMES).index)


def _comparisons(runs: Runs) -> List[Dict[str, object]]:
    rows = []
    for horizon, per_method in runs.items():
        for method in _in_order(per_method):
            if method == "gan" or "gan" not in per_method:
                continue
            a, b = per_method[method]["modes"], per_method["gan"]["modes"]
            diff = bootstrap_difference(a, b)
            rows.append({"steps": horizon, "claim": f"{METHOD_NAMES[method]} > GAN", "difference": diff.estimate,
                         "low": diff.low, "high": diff.high, "verdict": verdict(a, b)})
    return rows


def training_length_comparisons(runs: Runs) -> pd.DataFrame:
    """Each batch GAN against the GAN at every length of one data set's ``runs``: the difference
    in modes covered, its 95% bootstrap interval over the seeds and the verdict read from it (a
    pandas DataFrame)."""
    import pandas as pd

    return pd.DataFrame([{"generator steps": f"{r['steps']:,}", "claim": r["claim"],
                          "difference (modes)": round(r["difference"], 2),
                          "95% interval": f"[{r['low']:.2f}, {r['high']:.2f}]", "verdict": r["verdict"]}
                         for r in _comparisons(runs)])


def _check_dataset(dataset: str) -> None:
    if dataset not in MODES:
        raise ValueError(f"dataset must be one of {tuple(MODES)}; got {dataset!r}")


def training_length_table(runs: Runs, dataset: str) -> pd.DataFrame:
    """Modes covered and high-quality samples (%) at the end of each run of ``dataset``, mean ±
    standard deviation over the seeds, one row per length, PacGAN's GAN below (a pandas DataFrame).

    Raises:
        ValueError: for a data set other than ``ring`` and ``grid``.
    """
    import pandas as pd

    _check_dataset(dataset)
    rows = []
    for horizon, per_method in runs.items():
        row = {"generator steps": f"{horizon:,}"}
        for method in _in_order(per_method):
            run = per_method[method]
            row[f"{METHOD_NAMES[method]} modes"] = format_spread(summarize(run["modes"]))
            row[f"{METHOD_NAMES[method]} high quality (%)"] = format_spread(summarize(run["high_quality_pct"]))
        rows.append(row)
    modes, quality = PACGAN_TABLE[dataset]["GAN"]
    rows.append({"generator steps": "20,000 (PacGAN's GAN, widths 400/200)", "GAN modes": f"{modes}",
                 "GAN high quality (%)": f"{quality}"})
    return pd.DataFrame(rows).fillna("")


def plot_training_length(runs: Dict[str, Runs]) -> Figure:
    """Modes covered at the end of each run against its length (mean and standard deviation over
    the seeds, one line per model, one panel per data set), PacGAN's GAN dashed."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 3.4), squeeze=False)
    for ax, (dataset, per_length) in zip(axes[0], runs.items()):
        _check_dataset(dataset)
        lengths = list(per_length)
        for method in _in_order(next(iter(per_length.values()))):
            values = [np.asarray(per_length[h][method]["modes"], dtype=float) for h in lengths]
            mean = np.array([v.mean() for v in values])
            std = np.array([v.std(ddof=1) if v.size > 1 else 0.0 for v in values])
            ax.errorbar(lengths, mean, yerr=std, marker="o", ms=4, capsize=3, label=METHOD_NAMES[method])
        ax.axhline(PACGAN_TABLE[dataset]["GAN"][0], color="grey", lw=1, ls="--", label="PacGAN's GAN (20,000 steps)")
        ax.set_xscale("log")
        ax.set_xticks(lengths, [f"{h:,}" for h in lengths], fontsize=7)
        ax.minorticks_off()
        ax.set(xlabel="generator steps (the rate decays to zero over the run)",
               ylabel=f"{dataset} modes covered (of {MODES[dataset]})", ylim=(0, MODES[dataset] + 0.5))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
