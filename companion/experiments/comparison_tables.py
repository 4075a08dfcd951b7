"""The tables of the comparison chapter: one dataset's results with models as rows, and how a GAN
fared against its bar (:mod:`companion.experiments.comparison` runs and scores)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional, Sequence

from companion.evidence import format_spread, summarize
from companion.experiments.comparison_data import DISPLAY_NAMES, GAN_MODELS
from companion.experiments.comparison_results import COLUMNS, ComparisonResult

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import pandas as pd


def _cell(key: str, values: Sequence[float]) -> str:
    """One table cell: ``mean ± std`` over seeds (a single value alone)."""
    if key == "n_params":
        return f"{int(values[0]):,}"
    if key == "high_quality":
        values = [100 * v for v in values]
    text = format_spread(summarize(values)) if len(values) > 1 else f"{values[0]:.2f}"
    return text + ("%" if key == "high_quality" else "")


def comparison_table(result: ComparisonResult, dataset: Optional[str] = None) -> pd.DataFrame:
    """A pandas DataFrame of one dataset's results (the first by default), models as rows.

    Each cell is the mean ± standard deviation over the seeds. Undefined numbers read ``n/a``;
    the likelihood column says whether its number is exact or a bound; the ``GAN bar`` column
    counts the seeds in which a GAN met the book's bar (see
    :func:`~companion.experiments.comparison_results.meets_bar`). The ``data`` row scores as many
    training examples as each model has samples, as if they were a model's.
    """
    import pandas as pd

    dataset = result.datasets[0] if dataset is None else dataset
    if dataset not in result.rows:
        raise ValueError(f"dataset must be one of {result.datasets}; got {dataset!r}")
    table = []
    for model in ["data"] + result.models:
        runs = result.runs[dataset][model]
        entry = {"model": "data (training split)" if model == "data" else DISPLAY_NAMES[model]}
        for key, header, _ in COLUMNS[result.family]:
            values = runs.get(key)
            if model == "data" and key in ("bits_per_dim", "test_ll", "seconds", "n_params", "frechet_means"):
                entry[header] = ""
            elif not values or any(v is None or not math.isfinite(v) for v in values):
                entry[header] = "n/a"
            else:
                entry[header] = _cell(key, values)
        entry["likelihood"] = "" if model == "data" else result.kinds[dataset][model]
        entry["GAN bar"] = bar_summary(result, dataset, model) if model in GAN_MODELS and runs else ""
        table.append(entry)
    return pd.DataFrame(table).set_index("model")


def bar_summary(result: ComparisonResult, dataset: str, model: str) -> str:
    """How a GAN fared against its bar on ``dataset``, in a few words: the seeds that met it ("3/3 seeds"), or on
    the toys the mean over the seeds with the worst seed ("met: 8.0 ≥ 6 over 10 seeds, worst 8"), or "no bar"."""
    if dataset not in result.runs or model not in result.runs[dataset]:
        raise ValueError(f"no run of {model!r} on {dataset!r}")
    toy_bar = result.bars.get(dataset, {}).get(model)
    if toy_bar is not None:
        n, met, spread = toy_bar["n_seeds"], bool(toy_bar["met"]), f"mean {toy_bar['mean']:.1f}"
        worst = f"worst seed {toy_bar['worst']:g}"
        if n < toy_bar["min_seeds"]:
            return f"missed: {n:g} seeds, the bar needs {toy_bar['min_seeds']:g} ({spread}, {worst})"
        word, sign = ("met", "≥") if met else ("missed", "<")
        return f"{word}: {spread} {sign} {toy_bar['needed']:g} over {n:g} seeds, {worst}"
    bar = result.runs[dataset][model].get("meets_bar")
    return f"{int(sum(bar))}/{len(bar)} seeds" if bar and None not in bar else "no bar"
