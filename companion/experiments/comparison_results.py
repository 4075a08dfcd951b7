"""What a comparison experiment returns: :class:`ComparisonResult`, the metric columns of each family
of data and whether a GAN met its bar (:mod:`companion.experiments.comparison` runs the experiments;
its tables and figures, :mod:`.comparison_tables` and :mod:`.comparison_plots`, read these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

__all__ = ["COLUMNS", "ComparisonResult", "meets_bar"]


@dataclass
class ComparisonResult:
    """Everything one comparison experiment measured.

    Attributes:
        datasets, models: what ran, in order.
        rows: ``dataset -> model -> {metric: mean over seeds}``; a metric that is not defined holds ``None``.
        runs: ``dataset -> model -> {metric: [one value per seed]}`` (the ``data`` row: one value).
        kinds: ``dataset -> model -> "exact" | "bound" | "none" | "n/a" | "skipped"``.
        notes: ``dataset -> model -> text``: what the likelihood is, or why the model is n/a.
        samples: ``dataset -> model -> (n_grid, *shape)`` draws of the first seed on the data's scale (and ``"data"``).
        feature_spaces: ``dataset -> description`` of the Fréchet features.
        metrics: flat JSON numbers ``"<dataset>/<model>/<metric>"`` (NaN where not defined): the
            mean over seeds, and ``.../<metric>_std`` their standard deviation.
        n_seeds: seeds per model (``seeds``: per dataset, where ``dataset_seeds`` gives one more).
        bars: ``dataset -> GAN -> {met, mean, worst, at_level, needed, min_seeds, n_seeds}`` for the bars read
            over the seeds together (the toys: modes covered on average over at least ``gan_bar_seeds`` seeds,
            with the worst seed and the seeds at the level beside it); see :func:`meets_bar`.
    """

    datasets: List[str]
    models: List[str]
    rows: Dict[str, Dict[str, Dict[str, Optional[float]]]]
    kinds: Dict[str, Dict[str, str]]
    notes: Dict[str, Dict[str, str]]
    samples: Dict[str, Dict[str, np.ndarray]]
    feature_spaces: Dict[str, str]
    metrics: Dict[str, float] = field(default_factory=dict)
    family: str = "images"
    runs: Dict[str, Dict[str, Dict[str, List[float]]]] = field(default_factory=dict)
    n_seeds: int = 1
    seeds: Dict[str, int] = field(default_factory=dict)
    bars: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)


#: The metric columns, per family: (key, header, lower is better?).
COLUMNS = {
    "images": (("bits_per_dim", "bits/dim ↓", True), ("parzen_ll", "Parzen LL (nats) ↑", False),
               ("frechet", "Fréchet, draws ↓", True), ("frechet_means", "Fréchet, means ↓", True),
               ("seconds", "train time (s)", True), ("n_params", "parameters", True)),
    "vectors": (("test_ll", "test LL (nats) ↑", False), ("parzen_ll", "Parzen LL (nats) ↑", False),
                ("frechet", "Fréchet, draws ↓", True), ("frechet_means", "Fréchet, means ↓", True),
                ("seconds", "train time (s)", True), ("n_params", "parameters", True)),
    "toys": (("modes", "modes covered ↑", False), ("high_quality", "high-quality samples ↑", False),
             ("test_ll", "test LL (nats) ↑", False), ("seconds", "train time (s)", True),
             ("n_params", "parameters", True)),
}


def meets_bar(result: ComparisonResult, dataset: str, model: str) -> Optional[bool]:
    """Whether ``model`` met its bar on ``dataset`` (``None``: no bar for it there): on the toys the bar over
    the seeds together (:func:`companion.experiments.comparison._toy_bar`), elsewhere the bar in every seed."""
    toy_bar = result.bars.get(dataset, {}).get(model)
    if toy_bar is not None:
        return bool(toy_bar["met"])
    values = result.runs[dataset].get(model, {}).get("meets_bar")
    if not values or any(v is None for v in values):
        return None
    return all(v == 1.0 for v in values)
