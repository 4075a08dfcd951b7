"""Fits that the experiments of one chapter share: each trained once a process.

A chapter's experiments often train the same model (the same data, settings and seed): the
notebook runs them one after the other in one process, so :func:`fit_once` keeps what a fit
returned under a key that names it, and :func:`fit_once_in_workers` runs the missing fits of a
list in one-thread worker processes first (:func:`companion.workers.map_in_workers`), two at a
time on a 2-core CPU. Inside a checkpointed run (:func:`companion.runs.checkpointing`) nothing is
kept, so that the run's training loops are numbered alike on every resume.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Hashable, Optional, Sequence, Tuple, TypeVar

from .runs import active_run, rng_state, set_rng_state
from .workers import map_in_workers

__all__ = ["fit_once", "fit_once_in_workers"]

T = TypeVar("T")

#: What :func:`fit_once` fitted in this process, by key: the result, the seconds it took and the random state after.
_FITTED: Dict[Hashable, Tuple[Any, float, Dict[str, Any]]] = {}


def _check_fit(key: Any, fit: Any, where: str = "") -> None:
    """A :func:`fit_once` key must be hashable and its fit callable; ``where`` prefixes the message."""
    try:
        hash(key)
    except TypeError:
        raise TypeError(f"{where}key must be hashable; got {type(key).__name__}") from None
    if not callable(fit):
        raise TypeError(f"{where}fit must be callable; got {type(fit).__name__}")


def fit_once(key: Hashable, fit: Callable[[], T]) -> Tuple[T, float]:
    """``fit()`` once a process per ``key``: returns its result and the seconds it took.

    Experiments of one chapter that train the same model (same data, settings and seed, all
    in ``key``) share it instead of training it twice. A later call with the same key returns
    the very same object, and sets the global random state to what the fit left, so the
    caller's next draws do not depend on which experiment trained it first. ``fit`` seeds
    itself. Inside a checkpointed run (:func:`companion.runs.active_run`) ``fit`` runs every time and nothing
    is kept, so that the run's training loops are numbered alike on every resume.

    Raises:
        TypeError: if ``key`` is not hashable or ``fit`` is not callable.
    """
    _check_fit(key, fit)
    if key in _FITTED and active_run() is None:
        result, seconds, after = _FITTED[key]
        set_rng_state(after)
        return result, seconds
    start = time.perf_counter()
    result = fit()
    seconds = time.perf_counter() - start
    if active_run() is None:
        _FITTED[key] = (result, seconds, rng_state())
    return result, seconds


def fit_once_in_workers(items: Sequence[Tuple[Hashable, Callable[[], Any]]], workers: Optional[int] = None) -> int:
    """Run the fits of ``items`` that :func:`fit_once` does not hold yet, in forked one-thread
    workers (:func:`companion.workers.map_in_workers`: two at a time on a 2-core CPU), and keep
    them, so that the :func:`fit_once` calls with the same keys that follow return them.

    Args:
        items: ``(key, fit)`` pairs as :func:`fit_once` takes them (a key given twice is fitted
            once); each ``fit`` seeds itself and returns something picklable.
        workers: the number of processes (``None``: :func:`companion.workers.worker_count`).

    Each fit runs on one thread wherever it runs, so what is kept does not depend on
    ``workers``; the random state each fit leaves is kept with it, as :func:`fit_once` does.
    Inside a checkpointed run nothing is done (there :func:`fit_once` fits every time).

    Returns:
        The number of fits run.

    Raises:
        TypeError: if an item is not a ``(hashable key, callable)`` pair.
    """
    missing: Dict[Hashable, Callable[[], Any]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError(f"each item must be a (key, fit) pair; item {i} is {item!r}")
        key, fit = item
        _check_fit(key, fit, f"item {i}: ")
        if key not in _FITTED and key not in missing:
            missing[key] = fit
    if active_run() is not None or not missing:
        return 0

    def run(key: Hashable) -> Tuple[Any, float, Dict[str, Any]]:
        start = time.perf_counter()
        result = missing[key]()
        return result, time.perf_counter() - start, rng_state()

    for key, kept in zip(missing, map_in_workers(run, [(key,) for key in missing], workers)):
        _FITTED[key] = kept
    return len(missing)
