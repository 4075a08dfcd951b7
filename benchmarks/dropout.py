"""Benchmark: the package's dropout (:class:`companion.nets.Dropout`) against PyTorch's ``nn.Dropout``.

Both zero each element with probability ``p`` and scale the others by ``1 / (1 - p)``; the package's
draws its mask from one uniform number per element, PyTorch's from its Bernoulli sampler, which
on a CPU is the slower of the two. This script times, interleaved so that load on a shared machine
hits both alike, and prints the ratios of the median times:

* the layer alone: forward and backward on a batch of 64 x 256 activations (the discriminators'
  hidden width in the adaptive-density chapter), ``p = 0.5``;
* a whole fit: one seed of the adaptive-density chapter's GAN with the residual discriminator (its
  refinements' ``gan (rd)`` row: dropout 0.5 after every ReLU, spectral normalisation, the generator's
  weights averaged), 600 steps, as one run of that seed trains it (the chapter trains its seeds together
  as replicas, which take the package's dropout only), built once with each dropout.

The two draw different masks, so the fits are different random draws of the same recipe: only
their times are compared (``tests/test_nets.py`` checks the package's layer: the fraction dropped,
the scaling, the gradient, the identity in evaluation).

    OMP_NUM_THREADS=1 python benchmarks/dropout.py
    OMP_NUM_THREADS=1 python benchmarks/dropout.py --quick    # 1 repeat of the fit
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from typing import Callable, Dict

import torch
from torch import nn

import companion.ade
import companion.nets
from companion.data import load
from companion.experiments.adaptive_density import _fit_decoder_as_gan
from companion.experiments.adaptive_density_extra import RefinementsConfig
from companion.experiments.adaptive_density_gans import plain_gan_model
from companion.train import PROGRESS_ENV


class torch_dropout:
    """Inside this block the package's networks build PyTorch's ``nn.Dropout``."""

    def __enter__(self) -> None:
        self.saved = companion.nets.Dropout, companion.ade.Dropout
        companion.nets.Dropout = companion.ade.Dropout = nn.Dropout

    def __exit__(self, *exc) -> None:
        companion.nets.Dropout, companion.ade.Dropout = self.saved


def _layer_seconds(layer: nn.Module, repeats: int = 2000) -> float:
    x = torch.randn(64, 256, requires_grad=True)
    grad = torch.randn(64, 256)
    for _ in range(50):
        torch.autograd.grad(layer(x), x, grad)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.autograd.grad(layer(x), x, grad)
    return (time.perf_counter() - start) / repeats


def _fit_seconds() -> float:
    cfg = dataclasses.replace(RefinementsConfig.for_scale("book"), gan_steps=600, gan_decay_step=500)
    companion.seed_everything(0)
    model = plain_gan_model(cfg, residual=True)
    start = time.perf_counter()
    _fit_decoder_as_gan(model, model.dequantize(load("digits", "train")), n_steps=cfg.gan_steps,
                        batch_size=cfg.batch_size, lr=cfg.gan_lr, decay_step=cfg.gan_decay_step, decay=cfg.gan_decay,
                        desc="GAN (rd)", betas=tuple(cfg.gan_betas), average_decay=cfg.gan_average)
    return time.perf_counter() - start


def _interleaved(timed: Callable[[], float], repeats: int) -> Dict[str, float]:
    times: Dict[str, list] = {"package": [], "torch": []}
    for _ in range(repeats):
        times["package"].append(timed())
        with torch_dropout():
            times["torch"].append(timed())
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="whole fits per dropout")
    parser.add_argument("--quick", action="store_true", help="one fit per dropout")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    os.environ.setdefault(PROGRESS_ENV, "0")  # no progress bars between the timings
    print(f"threads={torch.get_num_threads()} (median of interleaved runs)")
    layer = {"package": statistics.median(_layer_seconds(companion.nets.Dropout(0.5)) for _ in range(3)),
             "torch": statistics.median(_layer_seconds(nn.Dropout(0.5)) for _ in range(3))}
    print(f"layer 64x256, forward and backward: nn.Dropout {1e6 * layer['torch']:.0f} us | "
          f"companion.nets.Dropout {1e6 * layer['package']:.0f} us")
    print(f"RATIO dropout_layer {layer['torch'] / layer['package']:.2f} nn.Dropout / companion.nets.Dropout time "
          "of the layer's forward and backward")
    fit = _interleaved(_fit_seconds, repeats)
    print(f"GAN (rd) fit, 600 steps: nn.Dropout {fit['torch']:.2f} s | companion.nets.Dropout "
          f"{fit['package']:.2f} s")
    print(f"RATIO dropout_gan_fit {fit['torch'] / fit['package']:.2f} nn.Dropout / companion.nets.Dropout time "
          "of a whole fit of the adaptive-density chapter's GAN (rd)")


if __name__ == "__main__":
    main()
