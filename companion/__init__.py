"""companion: the tested PyTorch package behind the book *Learning the Base*.

The top level is deliberately small and cheap to import (torch is imported lazily):

* :func:`device` picks the accelerator (CUDA, then MPS, then CPU);
* :func:`seed_everything` makes a run repeatable;
* :func:`get_scale` says at which scale (``smoke``, ``book``, ``paper``) experiments run.

Everything else lives in submodules: ``companion.data``, ``companion.metrics``,
``companion.train``, ``companion.plots``, the model families (``vae``, ``gan``, ``flows``,
``pixelcnn``) and one module per method of the book.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import torch

__version__ = "0.1.0"

#: The three scales every experiment knows, from cheapest to most faithful.
SCALES = ("smoke", "book", "paper")

#: Environment variable that sets the default scale.
SCALE_ENV = "COMPANION_SCALE"

__all__ = ["SCALES", "SCALE_ENV", "__version__", "device", "get_scale", "seed_everything"]


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
