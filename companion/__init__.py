"""companion: the tested PyTorch package behind the book *Learning the Base*.

The top level is deliberately small and cheap to import (torch is imported lazily):

* :func:`device` picks the accelerator (CUDA, then MPS, then CPU);
* :func:`seed_everything` makes a run repeatable;
* :func:`get_scale` says at which scale (``smoke``, ``book``, ``paper``) experiments run;
* :func:`blas_threads` limits NumPy's BLAS threads in a block (the scikit-learn EM fits).

Everything else lives in submodules: ``companion.data``, ``companion.metrics``,
``companion.train``, ``companion.plots``, the model families (``vae``, ``gan``, ``flows``,
``pixelcnn``) and one module per method of the book.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import TYPE_CHECKING, Iterator, Optional

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import torch

__version__ = "0.1.0"

#: The three scales every experiment knows, from cheapest to most faithful.
SCALES = ("smoke", "book", "paper")

#: Environment variable that sets the default scale.
SCALE_ENV = "COMPANION_SCALE"

__all__ = ["SCALES", "SCALE_ENV", "__version__", "blas_threads", "device", "get_scale", "seed_everything"]


def get_scale(scale: Optional[str] = None) -> str:
    """Return the scale at which experiments run.

    Args:
        scale: ``"smoke"`` (seconds on a CPU; what CI executes), ``"book"`` (minutes on a
            laptop CPU; what the built book shows) or ``"paper"`` (the papers' settings; a
            GPU). ``None`` reads the environment variable ``COMPANION_SCALE`` and falls back
            to ``"book"``.

    Returns:
        One of :data:`SCALES`.

    Raises:
        ValueError: if the argument (or the environment variable) names another scale.
    """
    source = "scale"
    if scale is None:
        scale = os.environ.get(SCALE_ENV, "").strip() or "book"
        source = f"the environment variable {SCALE_ENV}"
    if not isinstance(scale, str) or scale.strip().lower() not in SCALES:
        raise ValueError(f"{source} must be one of {', '.join(map(repr, SCALES))}; got {scale!r}")
    return scale.strip().lower()


def device() -> "torch.device":
    """Return the best available torch device: CUDA, then Apple's MPS, then the CPU.

    Nothing else in the package hard-codes a device; models and tensors are moved with
    ``.to(companion.device())``.
    """
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@contextlib.contextmanager
def blas_threads(n_threads: int = 1) -> Iterator[None]:
    """Run the block with NumPy's BLAS (OpenBLAS or MKL) limited to ``n_threads`` threads.

    The package fits its Gaussian mixtures with scikit-learn's EM, whose matrix products are
    NumPy's. On the book's 2-core machine, one BLAS thread fits them about 1.3 to 2.7 times
    faster than two (a full-covariance mixture of 10 components on 20,000 points in 63
    dimensions: 4.5 s with two threads, 1.7 s with one; on 100,000 points, 13.5 s against
    10.8 s): the products are small, and the threads contend with torch's for the cores.
    Nothing else changes: the fitted mixture is the same up to rounding. The previous limits
    are restored on leaving the block, also after an error.

    Args:
        n_threads: the most threads BLAS may use inside the block (a positive int).

    Raises:
        TypeError: if ``n_threads`` is not an int.
        ValueError: if ``n_threads`` is below 1.
    """
    from threadpoolctl import threadpool_limits

    if isinstance(n_threads, bool) or not isinstance(n_threads, int):
        raise TypeError(f"n_threads must be an int; got {type(n_threads).__name__}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1; got {n_threads}")
    with threadpool_limits(limits=n_threads, user_api="blas"):
        yield


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy and torch (all devices) with ``seed``.

    The same seed on the same device gives the same numbers.

    Args:
        seed: a non-negative integer below 2**32.

    Returns:
        The seed, so that it can be recorded.

    Raises:
        TypeError: if ``seed`` is not an integer.
        ValueError: if ``seed`` is negative or too large for NumPy.
    """
    import numpy as np
    import torch

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must lie in [0, 2**32); got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed
