"""Benchmark: training with denormal floats flushed to zero (:func:`companion.train.flushing_denormals`).

Every :func:`companion.train.train_loop` runs its steps with denormals flushed. The case that
showed why: the ELBO-surgery chapter's VAE on ``faces`` (Fig. 1: 625 pixels, a Bernoulli decoder,
256 hidden units, 16 latents, batch 64, Adam, 1,500 steps). Once a parameter's gradient is exactly
zero (a ReLU unit that no longer fires, the weight of a pixel that is black in every image), Adam's
running mean of its gradients shrinks by 0.9 a step, reaches the denormals after some 800 steps and
stays there (0.9 times the smallest of them rounds back to them); from then on its fused step, a
pass over half a million parameters, takes the CPU's slow path for those entries.

The same fit (that of :func:`companion.experiments.elbo_surgery_shared.train_vae`, seed 0) runs with the mode
as :func:`~companion.train.train_loop` sets it and with the mode left off (the loop's context manager
swapped for a no-op), alternately; the script prints the median seconds of each, the largest
difference between the two trained weights, the share of Adam's running moments that are denormal at
the end, and one ``RATIO`` line. Target: at least 1.2x on a CPU for the whole fit.

    OMP_NUM_THREADS=1 python benchmarks/denormals.py
    python benchmarks/denormals.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from typing import Dict, Iterator, List, Tuple

import torch

import companion
from companion import train
from companion.experiments.elbo_surgery_shared import _data_and_vae
from companion.vae import fit_vae

TARGET = 1.2


@contextlib.contextmanager
def _mode_left_as_it_is() -> Iterator[bool]:
    yield False


def fit(steps: int, flush: bool) -> Tuple[float, torch.nn.Module, torch.optim.Optimizer]:
    """Seconds of the faces VAE's fit (as ``train_vae("faces", 16, steps, 256, 10_000, seed=0)`` trains it), the
    model and its optimiser; ``flush=False`` swaps the loop's mode off."""
    flushing = train.flushing_denormals
    if not flush:
        train.flushing_denormals = _mode_left_as_it_is
    try:
        start = time.perf_counter()
        companion.seed_everything(0)
        x, vae = _data_and_vae("faces", latent_dim=16, hidden=256, max_examples=10_000)
        optimizer = train.adam(vae.parameters(), lr=1e-3)
        fit_vae(vae, x, n_steps=steps, batch_size=64, optimizer=optimizer, progress=False,
                generator=torch.Generator().manual_seed(0))
        return time.perf_counter() - start, vae, optimizer
    finally:
        train.flushing_denormals = flushing


def denormal_shares(optimizer: torch.optim.Optimizer) -> Dict[str, float]:
    """The share of the entries of Adam's two running moments that are denormal (nonzero, below float32's tiny)."""
    tiny = torch.finfo(torch.float32).tiny
    shares = {}
    for moment in ("exp_avg", "exp_avg_sq"):
        values = torch.cat([state[moment].flatten() for state in optimizer.state.values()]).abs()
        shares[moment] = float(((values > 0) & (values < tiny)).double().mean())
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="training steps (Fig. 1 at book scale: 1,500)")
    parser.add_argument("--repeats", type=int, default=3, help="fits of each kind, alternately")
    parser.add_argument("--quick", action="store_true", help="1,000 steps, one fit of each kind")
    args = parser.parse_args()
    steps, repeats = (1000, 1) if args.quick else (args.steps, args.repeats)
    print(f"threads: {torch.get_num_threads()}; the faces VAE of ELBO surgery's Fig. 1, {steps} steps")
    times: Dict[bool, List[float]] = {False: [], True: []}
    fitted = {}
    for flush in (False, True):  # warm-up: the first fit of a process pays for its allocations
        fit(20, flush)
    for _ in range(repeats):
        for flush in (False, True):
            seconds, vae, optimizer = fit(steps, flush)
            times[flush].append(seconds)
            fitted[flush] = vae, optimizer
    off, on = statistics.median(times[False]), statistics.median(times[True])
    with torch.no_grad():
        gap = max(float((a - b).abs().max()) for a, b in zip(fitted[False][0].parameters(),
                                                            fitted[True][0].parameters()))
    shares = denormal_shares(fitted[False][1])
    print(f"  mode off: {off:.2f} s per fit; flushed (train_loop): {on:.2f} s")
    print(f"  largest difference between the trained weights: {gap:.3g}")
    print(f"  denormal entries of Adam's moments at the end (mode off): first {100 * shares['exp_avg']:.1f}%, "
          f"second {100 * shares['exp_avg_sq']:.1f}%")
    # flushing moves values below 1.2e-38 to zero: the weights may differ in their last bits, no more
    if gap > 1e-4:
        raise SystemExit(f"the two fits' weights differ by {gap:.3g}: more than rounding")
    print(f"RATIO denormals_flushed_speedup_faces_vae {off / on:.2f} (the whole fit; target >= {TARGET:g}x on a CPU)")


if __name__ == "__main__":
    main()
