"""Simple statistics of image batches that tell blur and noise apart."""

from __future__ import annotations

import torch

from ..checks import check_tensor

__all__ = ["total_variation"]


def total_variation(images: torch.Tensor) -> float:
    """Mean absolute difference between horizontally and vertically adjacent pixels.

    A crude sharpness/noise statistic of a batch ``(N, C, H, W)`` of images in [0, 1]: a
    blurry image has a small total variation, a noisy one a large one.

    Raises:
        ValueError: for a batch that is not ``(N, C, H, W)`` or has fewer than 2 x 2 pixels.
    """
    check_tensor(images, "images", shape=(None, None, None, None), finite=False)  # a diverged model: nan, visibly
    if images.shape[-1] < 2 or images.shape[-2] < 2:
        raise ValueError(f"images need at least 2 x 2 pixels to have neighbours; got {tuple(images.shape)}")
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return float((dx + dy) / 2)
