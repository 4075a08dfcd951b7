"""Evidence for comparative sentences: spreads over seeds, intervals of differences, verdicts.

A sentence of the book such as "IML beats the VAE" is a claim a reader will repeat. It
rests on several seeds per model and on the interval of the difference, and its wording
follows that interval (see the contributor's guide, "Evidence"):

* :func:`summarize` — mean, sample standard deviation and count of repeated runs;
* :func:`bootstrap_difference` — the percentile-bootstrap interval of ``mean(a) - mean(b)``
  for two independent groups of runs (for example two models over their own seeds), or,
  with ``paired=True``, for two arms run on the same seeds (same data, same initialisation),
  where the seeds are resampled together and the seed-to-seed noise the arms share cancels;
* :func:`verdict` — ``"holds"``, ``"does not hold"`` or ``"cannot tell at this budget"``
  for the claim "a is better than b", read from that interval, never from the means;
* :func:`format_spread` and :func:`compare_phrase` — the words a chapter glues into its
  prose, generated from the numbers, so that the sentence is true in every build (smoke
  scale included).

Bootstrap: resample each group with replacement (``n_resamples`` times), take the
difference of the resampled means (paired: resample the seeds, that is the per-seed
differences ``a[i] - b[i]``), and report two quantiles of it (Efron and Tibshirani, 1993,
ch. 13). With the handful of seeds a chapter can afford, the plain percentile interval (the
``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles) is too narrow: its spread is that of
the plug-in variance, smaller by ``(n - 1) / n``, and its tails are normal where they should
be Student's. Simulated under no difference at all (normal runs, 1,000 trials), its 95%
interval lay wholly above zero, a false "holds", in 8.2% of paired comparisons of 5 seeds and
6.2% of independent groups of 5, against the 2.5% a 95% interval promises. The quantiles are
therefore those of the *expanded* percentile interval (Hesterberg, 2015, "What teachers
should know about the bootstrap", The American Statistician 69(4)): the tail ``alpha'`` with
``z_{alpha'} = sqrt(n / (n - 1)) t_{(1 - level) / 2, n - 1}`` (paired: ``n`` seeds; two
independent groups: the same correction of each group's variance and Welch's degrees of
freedom). In the same simulation its false "holds" fell to 4.9% (paired, 5 seeds) and 4.1%
(independent, 5 and 5), and to 2.5% and 2.2% with 10. A bootstrap cannot reach beyond the
data: with three paired seeds its lower end is the smallest per-seed difference, so three
positive differences, one chance in eight with no effect, would read as "holds". A verdict
therefore needs at least :data:`MIN_RUNS_FOR_VERDICT` (three) runs in each independent group
and :data:`MIN_SEEDS_FOR_PAIRED_VERDICT` (four) paired seeds; with fewer it is "cannot tell".
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np

from .checks import check_int, check_positive_int

__all__ = [
    "MIN_RUNS_FOR_VERDICT",
    "MIN_SEEDS_FOR_PAIRED_VERDICT",
    "Difference",
    "Summary",
    "VERDICTS",
    "bootstrap_difference",
    "compare_phrase",
    "expanded_tail",
    "format_spread",
    "summarize",
    "too_few_runs",
    "verdict",
]

#: The three verdicts a comparative claim can get.
VERDICTS = ("holds", "does not hold", "cannot tell at this budget")
#: The fewest runs per independent group for a verdict other than "cannot tell".
MIN_RUNS_FOR_VERDICT = 3
#: The fewest seeds of a paired comparison for a verdict other than "cannot tell" (see the module docstring).
MIN_SEEDS_FOR_PAIRED_VERDICT = 4


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (``ddof=1``; 0 for one run) and number of runs."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return format_spread(self)


@dataclasses.dataclass(frozen=True)
class Difference:
    """``mean(a) - mean(b)`` with its bootstrap interval at ``level``."""

    estimate: float
    low: float
    high: float
    level: float


def _runs(values: Sequence[float], name: str) -> np.ndarray:
    """``values`` as a finite, non-empty 1-D float array, or a clear error naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a sequence of numbers; got {values!r}") from err
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite; got {arr.tolist()}")
    return arr


def summarize(values: Sequence[float]) -> Summary:
    """The :class:`Summary` of repeated runs (for example one metric over seeds).

    >>> summarize([1.0, 2.0, 3.0])
    Summary(mean=2.0, std=1.0, n=3)
    """
    arr = _runs(values, "values")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return Summary(mean=float(arr.mean()), std=std, n=int(arr.size))


def bootstrap_difference(
    a: Sequence[float],
    b: Sequence[float],
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    paired: bool = False,
) -> Difference:
    """Bootstrap interval of ``mean(a) - mean(b)``: the expanded percentile interval (module docstring).

    Args:
        a, b: the runs of the two groups (for example a metric over seeds of two models).
        level: the interval's coverage, in (0, 1).
        n_resamples: the number of bootstrap resamples (at least 100).
        seed: seeds the resampling, so the interval of a build is repeatable.
        paired: ``True`` when ``a[i]`` and ``b[i]`` come from the same seed (same data and
            initialisation, only the compared setting differs): the seeds are resampled
            together, so the interval is that of the mean per-seed difference. Needs equal
            lengths. ``False`` (default) treats the groups as independent.

    Returns:
        A :class:`Difference`; with one run in each group the interval is the single point. Where a
        group has one run there is no variance to correct, and the interval is the plain percentile one.

    Raises:
        ValueError: for empty or non-finite groups, a level outside (0, 1), too few resamples,
            a negative seed, or paired groups of different lengths.
        TypeError: for a seed that is not an int.
    """
    a_arr, b_arr = _runs(a, "a"), _runs(b, "b")
    if not isinstance(level, (int, float, np.floating)) or isinstance(level, bool) or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a number in (0, 1); got {level!r}")
    check_int(n_resamples, "n_resamples", 100)
    check_int(seed, "seed", 0)
    if not isinstance(paired, bool):
        raise TypeError(f"paired must be a bool; got {paired!r}")
    rng = np.random.default_rng(seed)
    if paired:
        if a_arr.size != b_arr.size:
            raise ValueError(f"paired runs need one value of a and of b per seed; got {a_arr.size} and {b_arr.size}")
        per_seed = a_arr - b_arr
        resampled = per_seed[rng.integers(0, per_seed.size, size=(n_resamples, per_seed.size))].mean(axis=1)
        tail = expanded_tail(float(level), per_seed)
    else:
        means_a = a_arr[rng.integers(0, a_arr.size, size=(n_resamples, a_arr.size))].mean(axis=1)
        means_b = b_arr[rng.integers(0, b_arr.size, size=(n_resamples, b_arr.size))].mean(axis=1)
        resampled = means_a - means_b
        tail = expanded_tail(float(level), a_arr, b_arr)
    low, high = np.quantile(resampled, [tail, 1 - tail])
    return Difference(float(a_arr.mean() - b_arr.mean()), float(low), float(high), float(level))


def expanded_tail(level: float, a: np.ndarray, b: Optional[np.ndarray] = None) -> float:
    """The tail probability of each end of the expanded percentile interval at ``level``.

    One group ``a`` (paired: the per-seed differences) of ``n`` runs: ``alpha'`` with
    ``Phi^{-1}(1 - alpha') = sqrt(n / (n - 1)) t_{n - 1}^{-1}((1 + level) / 2)``. Two independent groups:
    the factor is the ratio of the unbiased to the plug-in standard error of the difference of means,
    and the degrees of freedom are Welch's. Where there is nothing to correct (a group of one run, or no
    variance at all) it is the plain ``(1 - level) / 2``.

    Raises:
        ValueError: for a level outside (0, 1), or an empty or non-finite group.

    >>> round(expanded_tail(0.95, np.arange(10.0)), 5)  # 10 paired seeds: the 0.86% quantile, not the 2.5%
    0.00855
    """
    from scipy import stats

    if not isinstance(level, (int, float, np.floating)) or isinstance(level, bool) or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a number in (0, 1); got {level!r}")
    plain = (1 - level) / 2
    groups = [_runs(a, "a")] + ([] if b is None else [_runs(b, "b")])
    if min(g.size for g in groups) < 2:
        return plain
    unbiased = [g.var(ddof=1) / g.size for g in groups]
    plug_in = [g.var(ddof=0) / g.size for g in groups]
    if sum(plug_in) <= 0:
        return plain
    if b is None:
        dof = groups[0].size - 1
    else:  # Welch-Satterthwaite
        dof = sum(unbiased) ** 2 / sum(u ** 2 / (g.size - 1) for u, g in zip(unbiased, groups))
    z = math.sqrt(sum(unbiased) / sum(plug_in)) * float(stats.t.ppf((1 + level) / 2, dof))
    return float(stats.norm.sf(z))


def verdict(
    a: Sequence[float],
    b: Sequence[float],
    higher_is_better: bool = True,
    level: float = 0.95,
    seed: int = 0,
    paired: bool = False,
) -> str:
    """The verdict on the claim "``a`` is better than ``b``", read from the bootstrap interval.

    * ``"holds"``: the whole interval of the difference lies on the better side of zero;
    * ``"does not hold"``: the whole interval lies on the other side (``b`` is better);
    * ``"cannot tell at this budget"``: the interval contains zero, or there are too few runs
      (:func:`too_few_runs`: two seeds that agree are not yet evidence).

    Args:
        a, b: the runs of the two groups.
        higher_is_better: ``False`` for a loss, a distance or bits/dim.
        level, seed, paired: see :func:`bootstrap_difference`.

    Returns:
        One of :data:`VERDICTS`.
    """
    if not isinstance(higher_is_better, bool):
        raise TypeError(f"higher_is_better must be a bool; got {higher_is_better!r}")
    diff = bootstrap_difference(a, b, level=level, seed=seed, paired=paired)
    if too_few_runs(a, b, paired):
        return VERDICTS[2]
    low, high = (diff.low, diff.high) if higher_is_better else (-diff.high, -diff.low)
    if low > 0:
        return VERDICTS[0]
    if high < 0:
        return VERDICTS[1]
    return VERDICTS[2]


def too_few_runs(a: Sequence[float], b: Sequence[float], paired: bool = False) -> bool:
    """Whether ``a`` and ``b`` hold too few runs for any verdict but "cannot tell": fewer than
    :data:`MIN_SEEDS_FOR_PAIRED_VERDICT` paired seeds, or fewer than :data:`MIN_RUNS_FOR_VERDICT` runs in
    an independent group."""
    return min(len(a), len(b)) < (MIN_SEEDS_FOR_PAIRED_VERDICT if paired else MIN_RUNS_FOR_VERDICT)


def _significant_digits(x: float, digits: int) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:.{digits}g}"
    rounded = float(f"{x:.{digits}g}")  # 0.09999 -> 0.1, so the exponent is that of 0.1
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(rounded)))))
    return f"{x:.{decimals}f}"


def format_spread(summary: Summary, digits: int = 2) -> str:
    """``"mean ± std"`` with the mean rounded to the precision of the spread.

    The spread is shown with ``digits`` significant digits, but never rounded left of the
    decimal point (``5000 ± 1234``), and the mean with as many decimals as the spread. One run
    shows its value alone, and so do runs whose spread is rounding (below 1e-12 of the mean:
    equal values summed in another order).

    >>> format_spread(Summary(mean=143.2371, std=1.234, n=5))
    '143.2 ± 1.2'
    """
    if not isinstance(summary, Summary):
        raise TypeError(f"summary must be a Summary (see summarize); got {type(summary).__name__}")
    check_positive_int(digits, "digits")
    if summary.n < 2 or summary.std <= 1e-12 * abs(summary.mean):
        return _significant_digits(summary.mean, digits + 1)
    spread = _significant_digits(summary.std, digits)
    decimals = len(spread.split(".")[1]) if "." in spread else 0
    return f"{summary.mean:.{decimals}f} ± {spread}"


def compare_phrase(
    name_a: str,
    a: Sequence[float],
    name_b: str,
    b: Sequence[float],
    higher_is_better: bool = True,
    level: float = 0.95,
    seed: int = 0,
    digits: int = 2,
    paired: bool = False,
) -> str:
    """A sentence comparing two groups of runs whose wording follows the interval.

    >>> compare_phrase("IML", [10.1, 10.3, 10.2], "the VAE", [8.0, 8.2, 8.1])  # doctest: +ELLIPSIS
    'IML (10.20 ± 0.10) is ahead of the VAE (8.10 ± 0.10): the difference, 2.10, ... over 3 and 3 seeds'

    Args:
        name_a, name_b: how the prose names the two groups.
        a, b, higher_is_better, level, seed, paired: see :func:`verdict`.
        digits: significant digits of the spreads.

    Returns:
        "A (m ± s) is ahead of B (m ± s): the difference, d, has a 95% interval [l, h] over
        n_a and n_b seeds" (paired: "over n paired seeds"), with "ahead of", "behind" or
        "within the spread of" chosen by :func:`verdict`, and "cannot yet be compared with" where
        there are too few runs for a verdict (:func:`too_few_runs`).
    """
    for name, value in (("name_a", name_a), ("name_b", name_b)):
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{name} must be a non-empty string; got {value!r}")
    word = {
        VERDICTS[0]: "is ahead of",
        VERDICTS[1]: "is behind",
        VERDICTS[2]: "is within the spread of",
    }[verdict(a, b, higher_is_better=higher_is_better, level=level, seed=seed, paired=paired)]
    if too_few_runs(a, b, paired):
        word = "cannot yet be compared with"
    sa, sb = summarize(a), summarize(b)
    diff = bootstrap_difference(a, b, level=level, seed=seed, paired=paired)
    scale = max(sa.std, sb.std, abs(diff.high - diff.low) / 4)
    # no spread at all: as many decimals as three significant digits of the difference need
    shown = _significant_digits(scale if scale > 0 else abs(diff.estimate) or 1.0, digits if scale > 0 else 3)
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    def fmt(x: float) -> str:
        text = f"{x:.{decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0"

    return (
        f"{name_a} ({format_spread(sa, digits)}) {word} {name_b} ({format_spread(sb, digits)}): "
        f"the difference, {fmt(diff.estimate)}, has a {100 * level:g}% interval "
        f"[{fmt(diff.low)}, {fmt(diff.high)}] over "
        + (f"{sa.n} paired seeds" if paired else f"{sa.n} and {sb.n} seeds")
    )
