"""Images in [0, 1] to integer grey levels and back, for models of discrete pixels."""

from __future__ import annotations

import torch

from ..checks import check_int, check_tensor

__all__ = ["from_levels", "to_levels"]


def to_levels(x: torch.Tensor, n_levels: int) -> torch.Tensor:
    """Quantise values in [0, 1] to the integers ``0 .. n_levels - 1``: ``round(x (n_levels - 1))``.

    This inverts the scaling of images stored as ``level / (n_levels - 1)``: ``digits``
    holds exactly 17 grey levels, recovered by ``to_levels(x, 17)``; MNIST and CIFAR-10 hold
    256. :func:`from_levels` goes back.

    Args:
        x: a float tensor with finite values in [0, 1].
        n_levels: an int >= 2.

    Returns:
        An int64 tensor of the shape of ``x``.
    """
    n_levels = check_int(n_levels, "n_levels", 2)
    x = check_tensor(x, "x", finite=False)
    if x.numel() and (not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise ValueError("x must hold finite values in [0, 1]")
    return torch.round(x * (n_levels - 1)).long()


def from_levels(levels: torch.Tensor, n_levels: int) -> torch.Tensor:
    """Map integer levels ``0 .. n_levels - 1`` back to [0, 1]: ``levels / (n_levels - 1)``.

    Args:
        levels: an integer tensor with values in ``0 .. n_levels - 1``.
        n_levels: an int >= 2.

    Returns:
        A float32 tensor of the shape of ``levels``.
    """
    n_levels = check_int(n_levels, "n_levels", 2)
    if not torch.is_tensor(levels) or levels.is_floating_point() or levels.dtype == torch.bool:
        got = getattr(levels, "dtype", type(levels).__name__)
        raise TypeError(f"levels must be an integer tensor; got {got}")
    if levels.numel() and (levels.min() < 0 or levels.max() > n_levels - 1):
        raise ValueError(f"levels must lie in [0, {n_levels - 1}]")
    return levels.float() / (n_levels - 1)
