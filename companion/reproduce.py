"""The registry of experiments and the ``python -m companion reproduce`` machinery.

An experiment is a pair of functions shared by the notebook and the command line::

    @register("preliminaries/realnvp_ring", config=RealNVPRingConfig, plot=plot_realnvp_ring,
              description="Real-NVP on the ring: density and samples")
    def run_realnvp_ring(cfg: RealNVPRingConfig) -> RealNVPRingResult: ...

``run`` takes a configuration (an :class:`~companion.config.ExperimentConfig`) and returns a
result object with a ``metrics`` attribute (a dict of JSON-friendly numbers); ``plot`` takes
that result and returns a matplotlib ``Figure``. The experiments live in
``companion/experiments/<chapter>.py``; every module of that package is imported when the
registry is first asked for, so a chapter adds experiments without touching this file.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import pkgutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Type, Union

from .config import ExperimentConfig
from .distributed import is_main
from .runs import checkpointing
from .train import progress

__all__ = ["Experiment", "experiments", "register", "reproduce", "to_jsonable"]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One registered experiment: its id, config class, run and plot functions."""

    id: str
    run: Callable[[Any], Any]
    plot: Callable[[Any], Any]
    config: Type[ExperimentConfig]
    description: str = ""


_REGISTRY: Dict[str, Experiment] = {}
_DISCOVERED = False


def register(
    experiment_id: str,
    *,
    config: Type[ExperimentConfig],
    plot: Callable[[Any], Any],
    description: str = "",
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorator that registers ``run`` under ``experiment_id`` (``"<chapter>/<name>"``)."""
    if not isinstance(experiment_id, str) or experiment_id.count("/") != 1 or " " in experiment_id:
        raise ValueError(f"experiment ids look like 'chapter/name'; got {experiment_id!r}")
    if not (isinstance(config, type) and issubclass(config, ExperimentConfig)):
        raise TypeError("config must be a subclass of companion.config.ExperimentConfig")
    if not callable(plot):
        raise TypeError("plot must be callable")

    def decorator(run: Callable[[Any], Any]) -> Callable[[Any], Any]:
        existing = _REGISTRY.get(experiment_id)
        if existing is not None and existing.run.__qualname__ != run.__qualname__:
            raise ValueError(f"experiment id {experiment_id!r} is registered twice")
        _REGISTRY[experiment_id] = Experiment(experiment_id, run, plot, config, description)
        return run

    return decorator


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    from . import experiments as package  # here, not at the top: every experiment module imports this one

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        importlib.import_module(f"{package.__name__}.{info.name}")
    _DISCOVERED = True


def experiments() -> Dict[str, Experiment]:
    """All registered experiments, by id (sorted)."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def to_jsonable(value: Any) -> Any:
    """Turn numbers, arrays, tensors, dataclasses and containers into JSON-friendly values.

    Non-finite floats become ``None`` (JSON has no NaN)."""
    import numpy as np

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def reproduce(
    experiment_id: str,
    scale: Optional[str] = None,
    out: Union[str, Path] = "figures",
    checkpoint_every: Optional[float] = None,
    resume: bool = False,
    **overrides: Any,
) -> Dict[str, Path]:
    """Run one registered experiment and write ``<out>/<chapter>/<name>.png`` and ``.json``.

    Args:
        experiment_id: a registered id (see :func:`experiments`).
        scale: ``smoke``, ``book`` or ``paper`` (``None``: ``COMPANION_SCALE``, then book).
        out: the output folder.
        checkpoint_every: minutes between checkpoints of a running training loop, written to
            ``<out>/<chapter>/<name>.checkpoints/`` (see :mod:`companion.runs`); ``None``: no
            checkpoints.
        resume: continue from the checkpoints of an earlier run with the same configuration
            (they are written again as the run goes on, every 30 minutes unless
            ``checkpoint_every`` says otherwise).
        **overrides: configuration fields to override (for example ``seed=1``).

    Under ``torchrun`` every process runs the experiment and only rank 0 writes files.

    Returns:
        ``{"figure": png_path, "metrics": json_path}``.

    Raises:
        KeyError: for an unknown id; the message lists the known ones.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    known = experiments()
    if experiment_id not in known:
        raise KeyError(
            f"unknown experiment {experiment_id!r}. Known experiments: "
            + (", ".join(known) if known else "(none registered)")
        )
    if checkpoint_every is not None and (
        isinstance(checkpoint_every, bool)
        or not isinstance(checkpoint_every, (int, float))
        or not checkpoint_every >= 0
    ):
        raise ValueError(f"checkpoint_every must be a number of minutes >= 0 or None; got {checkpoint_every!r}")
    exp = known[experiment_id]
    cfg = exp.config.for_scale(scale, **overrides)
    chapter, name = experiment_id.split("/")
    folder = Path(out) / chapter
    png, js = folder / f"{name}.png", folder / f"{name}.json"
    start = time.perf_counter()
    result = _run(exp, experiment_id, cfg, folder / f"{name}.checkpoints", checkpoint_every, resume)
    seconds = time.perf_counter() - start
    if is_main():
        _write(exp, experiment_id, cfg, result, seconds, png, js)
    return {"figure": png, "metrics": js}


def _run(exp: Experiment, experiment_id: str, cfg: Any, checkpoints: Path, checkpoint_every: Optional[float],
         resume: bool) -> Any:
    """The result of ``exp.run(cfg)``, under :func:`companion.runs.checkpointing` when asked for."""
    if checkpoint_every is None and not resume:
        return exp.run(cfg)
    manifest = {"id": experiment_id, "config": to_jsonable(cfg.to_dict())}
    every = 30.0 if checkpoint_every is None else checkpoint_every
    with checkpointing(checkpoints, every, resume=resume, manifest=manifest):
        return exp.run(cfg)


#: Result attributes written beside the metrics when a result has them as dicts: ``runs`` (the
#: per-seed values of each model) and ``curves`` (values along training, per seed).
PER_SEED_FIELDS = ("runs", "curves")


def _write(exp: Experiment, experiment_id: str, cfg: Any, result: Any, seconds: float, png: Path, js: Path) -> None:
    """The figure ``png`` and the metrics file ``js`` of a run of :func:`reproduce`."""
    import matplotlib.pyplot as plt

    fig = exp.plot(result)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    metrics = getattr(result, "metrics", None)
    if not isinstance(metrics, dict):
        raise TypeError(f"the result of {experiment_id!r} must have a dict attribute 'metrics'")
    payload = {
        "id": experiment_id,
        "config": cfg.to_dict(),
        "seconds": seconds,
        "metrics": to_jsonable(metrics),
    }
    # The per-seed values too, where a result keeps them, so that runs split over processes or
    # machines (one model or data set each) can be merged and compared seed by seed afterwards.
    for per_seed in PER_SEED_FIELDS:
        value = getattr(result, per_seed, None)
        if isinstance(value, dict):
            payload[per_seed] = to_jsonable(value)
    js.write_text(json.dumps(payload, indent=2, sort_keys=True))


def reproduce_many(ids: List[str], scale: Optional[str] = None, out: Union[str, Path] = "figures",
                   checkpoint_every: Optional[float] = None, resume: bool = False) -> Dict[str, Dict[str, Path]]:
    """Run several experiments in order with an overall progress bar (arguments of :func:`reproduce`)."""
    written = {}
    for experiment_id in progress(ids, desc="experiments"):
        written[experiment_id] = reproduce(experiment_id, scale=scale, out=out,
                                           checkpoint_every=checkpoint_every, resume=resume)
    return written
