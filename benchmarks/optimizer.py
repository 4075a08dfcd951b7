"""Benchmark: Adam's fused step (what :func:`companion.train.adam` builds) against the multi-tensor step.

Every fit of the package builds its Adam with :func:`companion.train.adam`, which takes PyTorch's
fused kernel where the device has one. This script trains the same models both ways, whole fits
with the package's own training functions, interleaved (fused, multi-tensor, fused, ...) so that
load on a shared machine hits both alike, and prints the ratio of the median times:

* the ELBO-surgery chapter's digits VAE (``train_vae``: MLPs of 256 units, 16 latents, batch 64);
* the same VAE with its Real-NVP posterior (``train_flow_vae``: four couplings of 32 units);
* an MLP GAN on digits (``companion.gan.fit_gan``, players of two hidden layers of 256 units).

Correctness first: after 20 steps the two forms' VAE weights agree to 1e-5 (they differ only in
the rounding of an update's last bits), else the script fails.

    OMP_NUM_THREADS=1 python benchmarks/optimizer.py            # 1,500 steps per fit, 3 repeats
    OMP_NUM_THREADS=1 python benchmarks/optimizer.py --quick    # 300 steps, 2 repeats
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable, Dict

import torch

import companion
import companion.train
from companion.data import load
from companion.experiments.elbo_surgery_shared import train_flow_vae, train_vae
from companion.gan import GAN, MLPDiscriminator, MLPGenerator, fit_gan


class multi_tensor_adam:
    """Inside this block :func:`companion.train.adam` builds the multi-tensor (``foreach``) form."""

    def __enter__(self) -> None:
        self.devices = companion.train.FUSED_ADAM_DEVICES
        companion.train.FUSED_ADAM_DEVICES = ()

    def __exit__(self, *exc) -> None:
        companion.train.FUSED_ADAM_DEVICES = self.devices


def _vae(n_steps: int) -> torch.nn.Module:
    return train_vae("digits", 16, n_steps, 256, 10_000, 0)[0]


def _flow_vae(n_steps: int) -> torch.nn.Module:
    return train_flow_vae("digits", 16, n_steps, 256, 10_000, 0, 4, 32)[0]


def _gan(n_steps: int) -> torch.nn.Module:
    companion.seed_everything(0)
    x = load("digits", "train")
    gan = GAN(MLPGenerator(16, (1, 8, 8), 256, 2, out_activation="sigmoid"), MLPDiscriminator((1, 8, 8), 256, 2))
    fit_gan(gan, x, n_steps=n_steps, batch_size=64, progress=False, generator=torch.Generator().manual_seed(0))
    return gan


FITS: Dict[str, Callable[[int], torch.nn.Module]] = {"elbo_vae": _vae, "elbo_flow_vae": _flow_vae, "digits_gan": _gan}


def check_same_updates() -> None:
    fused = torch.cat([p.detach().flatten() for p in _vae(20).parameters()])
    with multi_tensor_adam():
        multi = torch.cat([p.detach().flatten() for p in _vae(20).parameters()])
    gap = float((fused - multi).abs().max())
    if gap > 1e-5:
        raise SystemExit(f"the fused and multi-tensor Adam left different weights after 20 steps: max gap {gap:.2e}")
    print(f"20 VAE steps: the two forms agree to {gap:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 steps per fit, 2 repeats")
    args = parser.parse_args()
    n_steps, repeats = (300, 2) if args.quick else (1500, 3)
    os.environ.setdefault("COMPANION_PROGRESS", "0")
    check_same_updates()
    for name, fit in FITS.items():
        times = {"fused": [], "multi": []}
        for _ in range(repeats):
            start = time.perf_counter()
            fit(n_steps)
            times["fused"].append(time.perf_counter() - start)
            with multi_tensor_adam():
                start = time.perf_counter()
                fit(n_steps)
                times["multi"].append(time.perf_counter() - start)
        fused, multi = statistics.median(times["fused"]), statistics.median(times["multi"])
        print(f"RATIO optimizer_fused_adam_{name} {multi / fused:.2f} multi-tensor / fused Adam time of a whole fit "
              f"({n_steps} steps, median of {repeats}: {multi:.2f} s against {fused:.2f} s; above 1: fused faster)")


if __name__ == "__main__":
    main()
