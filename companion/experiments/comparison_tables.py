"""The tables of the comparison chapter: one dataset's results with models as rows, how a GAN
fared against its bar, and how that compares with recorded longer runs of its recipe
(:mod:`companion.experiments.comparison` runs and scores)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Dict, Mapping, Optional, Sequence

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


def longer_runs_phrase(runs: Mapping[int, Sequence[float]], needed: float, budget: int,
                       here: Optional[Dict[str, float]], date: str, of: int = 8) -> str:
    """Where recorded runs of a toy GAN's recipe meet the bar of ``needed`` modes (of ``of``) on average, and
    what that says about this run, as the end of a sentence ("BGAN meets the bar in those longer runs ...").

    ``runs``: training length -> modes per seed at its end (each length its own run of the recipe, the
    learning rate decayed over it); ``budget``: this run's length; ``here``: this run's toy bar
    (``ComparisonResult.bars[dataset][model]``; ``None``: not trained here); ``date``: when the record was made.
    The phrase names the length from which every longer recorded run meets the bar, then sets the record at
    ``budget`` beside this run: it calls the miss a matter of the budget only where the record misses the bar at
    that length too; where the record meets it and this run does not, it says that the two are draws of one
    recipe at one length.
    """
    if not runs:
        raise ValueError("runs must hold at least one recorded length")
    means = {n: float(summarize(runs[n]).mean) for n in sorted(runs)}
    from_on = [n for n in means if all(m >= needed for k, m in means.items() if k >= n)]
    if not from_on:
        return f"at none of its recorded lengths, up to {max(runs):,} steps"
    first = from_on[0]
    phrase = (f"from {first:,} steps on (mean {format_spread(summarize(runs[first]))} of {of} over "
              f"{len(runs[first])} seeds, worst seed {min(runs[first]):g})")
    if here is None:
        return phrase
    met = bool(here["met"])
    this = f"mean {here['mean']:.1f} over {here['n_seeds']:g} seeds"
    if here["n_seeds"] < here.get("min_seeds", 0):
        this += f"; the bar needs {here['min_seeds']:g}"
    if budget not in runs:
        return phrase + (f". In this chapter's {budget:,} steps it {'meets' if met else 'misses'} the bar ({this}); "
                         "the record holds no run of that length")
    record = f"mean {means[budget]:.1f} over {len(runs[budget])} seeds"
    at = f". At this chapter's {budget:,} steps"
    if means[budget] >= needed and met:
        return phrase + f"{at} the record's runs meet it too ({record}), and so do this build's ({this})"
    if means[budget] < needed and not met:
        return phrase + (f"{at} the record's runs miss it ({record}), as this build's do ({this}), so its place "
                         "in the rankings here is a matter of this budget")
    record_met = means[budget] >= needed
    return phrase + (f"{at} the record's runs of the same recipe {'met' if record_met else 'missed'} it ({record}) "
                     f"and this build's {'did not' if record_met else 'did'} ({this}). The record was made on "
                     f"{date} with earlier code, so each is a new draw of the same recipe, and the gap between "
                     "them is one of draws, not of budgets")
