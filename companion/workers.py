"""Independent training runs in forked worker processes of one thread each.

The book's networks are small: one training run keeps two CPU threads poorly busy, because
most of a step is spent in operations too small to split. Two processes of one thread each
train two models in about the time of one. :func:`map_in_workers` runs ``function(*job)`` for
every job that way (as PyTorch's data-loader workers do: forked, one thread each) and returns
the results in order. The results do not depend on the number of workers: with one worker the
jobs run here, also on one thread, and every job must seed its own random state (a seed in
the job, :func:`companion.seed_everything` or a ``torch.Generator``), since a forked worker
starts from a copy of this process's state. The caller's random state is left as it was.

Workers are forked, so nothing is imported again and ``function`` may be a closure; they run
on Linux CPUs only (elsewhere, and on a GPU, the jobs run here one after the other). By default
there is one worker per core this process may use (two on a 2-core machine or Colab), at most
:data:`MAX_DEFAULT_WORKERS`; ``COMPANION_WORKERS`` sets another number.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import torch

import companion

from .runs import active_run
from .train import PROGRESS_ENV

__all__ = ["MAX_DEFAULT_WORKERS", "WORKERS_ENV", "map_in_workers", "worker_count"]

#: The environment variable that sets the number of worker processes (``1``: no workers).
WORKERS_ENV = "COMPANION_WORKERS"

# The function of the running map_in_workers call; forked workers inherit it, so it is never pickled.
_PENDING: Optional[Callable[..., Any]] = None
# True in a worker: a job that calls map_in_workers again runs its jobs there, in that worker's one thread.
_IN_WORKER = False


#: The most workers :func:`worker_count` picks by itself: a cell has a few dozen jobs at most, and
#: each worker holds its own models and batches (``COMPANION_WORKERS`` may ask for more).
MAX_DEFAULT_WORKERS = 8

# cgroup v2's CPU quota of this process's container: "max PERIOD" (none) or "QUOTA PERIOD" in microseconds
_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def _usable_cores(cpu_max: Path = _CGROUP_CPU_MAX) -> int:
    """The cores this process may run on (its CPU affinity), fewer if its container's CPU quota allows fewer.

    A container limited to two CPUs may still see all of its host's cores; its quota is the real limit.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            cores = min(cores, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 file, or one this function cannot read: the affinity stands
    return max(1, cores)


def worker_count() -> int:
    """How many processes :func:`map_in_workers` uses by default: ``COMPANION_WORKERS`` if set,
    else, on a Linux CPU, one per usable core (the process's CPU affinity and its container's CPU
    quota), at most :data:`MAX_DEFAULT_WORKERS`; else 1.

    The numbers do not depend on it (every job seeds itself), only the time does.

    Raises:
        ValueError: if ``COMPANION_WORKERS`` is not a positive integer.
    """
    if WORKERS_ENV in os.environ:
        value = os.environ[WORKERS_ENV]
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{WORKERS_ENV} must be a positive int; got {value!r}")
        return int(value) if sys.platform.startswith("linux") else 1
    if not sys.platform.startswith("linux") or companion.device().type != "cpu":
        return 1  # workers are forked (macOS and Windows do not fork safely); a GPU is one device
    return min(_usable_cores(), MAX_DEFAULT_WORKERS)


def _run_job(job: Sequence[Any]) -> Any:
    """In a worker: one thread, no progress bars under Jupyter (:func:`_silence_bars_in_notebooks`), then the job."""
    global _IN_WORKER
    _IN_WORKER = True
    torch.set_num_threads(1)
    _silence_bars_in_notebooks()
    assert _PENDING is not None
    return _PENDING(*job)


def _silence_bars_in_notebooks() -> None:
    """Under a Jupyter kernel, turn this worker's progress bars off (``COMPANION_PROGRESS=0`` here only).

    There ``tqdm.auto`` draws widgets, whose messages a forked worker cannot send to the notebook:
    each update fails and is logged (about 14 MB of the kernel's log per run of the AGAVE chapter).
    In a terminal a worker's bar writes to stderr and is kept.
    """
    if "ipykernel" in sys.modules:
        os.environ[PROGRESS_ENV] = "0"


def map_in_workers(function: Callable[..., Any], jobs: Sequence[Sequence[Any]],
                   workers: Optional[int] = None) -> List[Any]:
    """``[function(*job) for job in jobs]``, in forked worker processes of one thread each.

    Args:
        function: what one job does; it must seed its own random state (see the module's
            docstring) and return something picklable (tensors, arrays, numbers, dicts of them).
        jobs: the arguments of each call, a tuple or list per job.
        workers: the number of processes (``None``: :func:`worker_count`). With 1, a single
            job, off Linux, inside a worker (a job's own jobs), or inside a checkpointed run
            (:func:`companion.runs.checkpointing`, whose training loops are numbered and saved by
            this process), the jobs run here, one after the other, on one thread.

    Returns:
        The results in the order of ``jobs``; the same whatever ``workers`` is.

    Raises:
        TypeError: if ``function`` is not callable or a job is not a tuple or list.
        ValueError: if ``workers`` is not a positive int.
        Exception: the first failing job's own error, re-raised here.
    """
    global _PENDING
    if not callable(function):
        raise TypeError(f"function must be callable; got {type(function).__name__}")
    jobs = list(jobs)
    for i, job in enumerate(jobs):
        if not isinstance(job, (tuple, list)):
            raise TypeError(f"each job must be a tuple or list of arguments; job {i} is {type(job).__name__}")
    if workers is None:
        workers = worker_count()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int; got {workers!r}")
    workers = min(workers, len(jobs))
    # forking is safe on Linux only; a checkpointed run numbers its training loops in one process
    if workers < 2 or not sys.platform.startswith("linux") or _IN_WORKER or active_run() is not None:
        return _map_here(function, jobs)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _PENDING = function
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_job, jobs))
    finally:
        _PENDING = None


def _map_here(function: Callable[..., Any], jobs: List[Sequence[Any]]) -> List[Any]:
    """The jobs in this process on one thread, as a worker would run them; the random state restored."""
    threads = torch.get_num_threads()
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    torch.set_num_threads(1)
    try:
        return [function(*job) for job in jobs]
    finally:
        torch.set_num_threads(threads)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
