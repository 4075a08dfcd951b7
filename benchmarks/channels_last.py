"""Benchmark: the package's convolutional models in the channels-last layout against the default one.

:class:`companion.flows.RealNVP` builds its coupling networks, and :class:`companion.pixelcnn.PixelCNN`
its whole stack, with channels-last weights. On a CPU, oneDNN's convolutions with few channels run
faster in that layout, their backward pass above all. This script trains two copies of each model
one step at a time, interleaved so that load on a shared machine hits both alike: one as built, one
with its weights turned back to the default (``torch.contiguous_format``) layout. It prints the ratio
of the median step times per model, and checks that the two layouts give the same loss to rounding.

* ``flow``: the comparison chapter's faces flow (25x25 grey images, four coupling blocks of 16
  channels, batches of 64). Target: at least 1.3x on a CPU.
* ``pixelcnn``: the AGAVE chapter's PixelCNN on the 8x8 digits (17 levels, 32 channels, four gated
  blocks, two mixture components, batches of 32 real digits). Target: at least 1.1x on a CPU.

    OMP_NUM_THREADS=1 python benchmarks/channels_last.py
    python benchmarks/channels_last.py --device cuda
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Callable, Dict

import torch
from torch import nn

from companion.data import load
from companion.flows import RealNVP
from companion.pixelcnn import PixelCNN

#: The smallest speed-up each model's layout must bring on a CPU.
TARGETS = {"flow": 1.3, "pixelcnn": 1.1}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _flow(device: torch.device, batch: int) -> tuple:
    """The faces flow and a batch of uniform 25x25 images, its actnorm initialised from that batch."""
    flow = RealNVP((1, 25, 25), n_blocks=4, hidden=16, n_layers=1).to(device)
    x = torch.rand(batch, 1, 25, 25, device=device)
    with torch.no_grad():  # the data-dependent initialisation (actnorm), before the copy
        flow.log_prob(x)
    return flow, x


def _pixelcnn(device: torch.device, batch: int) -> tuple:
    """The AGAVE chapter's PixelCNN (book scale) and a batch of digits."""
    return PixelCNN((1, 8, 8), 17, 32, 4, n_mixtures=2).to(device), load("digits", "train")[:batch].to(device)


MODELS: Dict[str, Callable[[torch.device, int], tuple]] = {"flow": _flow, "pixelcnn": _pixelcnn}


def time_pair(model: str, batch: int, repeats: int, device: torch.device) -> dict:
    """Median seconds of one Adam step (log-likelihood, forward and backward) for both layouts."""
    torch.manual_seed(0)
    built, x = MODELS[model](device, batch)
    default = copy.deepcopy(built).to(memory_format=torch.contiguous_format)
    models: Dict[str, nn.Module] = {"channels_last": built, "default": default}
    optimisers = {name: torch.optim.Adam(m.parameters(), 1e-3) for name, m in models.items()}
    times = {name: [] for name in models}
    losses = {name: [] for name in models}
    for i in range(repeats + 3):  # the first three are warm-up (allocator, kernel selection)
        for name, m in models.items():
            _sync(device)
            start = time.perf_counter()
            loss = -m.log_prob(x).mean()
            optimisers[name].zero_grad(set_to_none=True)
            loss.backward()
            optimisers[name].step()
            _sync(device)
            if i >= 3:
                times[name].append(time.perf_counter() - start)
            losses[name].append(float(loss.detach()))
    gap = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(losses["channels_last"], losses["default"]))
    if gap > 1e-4:
        raise AssertionError(f"{model}: the two layouts' losses differ by {gap:.2e} (relative): more than rounding")
    cl, plain = statistics.median(times["channels_last"]), statistics.median(times["default"])
    return {"channels_last_ms": 1e3 * cl, "default_ms": 1e3 * plain, "speedup": plain / cl, "loss_gap": gap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = 10 if args.quick else args.repeats
    print(f"device={device} threads={torch.get_num_threads()} repeats={repeats} (one Adam step, median)")
    for model in args.models:
        batch = {"flow": 64, "pixelcnn": 32}[model]
        r = time_pair(model, batch, repeats, device)
        target = TARGETS[model]
        verdict = "ok" if r["speedup"] >= target else f"BELOW TARGET {target}x"
        print(f"{model:8s} batch {batch}: default layout {r['default_ms']:8.2f} ms | channels-last "
              f"{r['channels_last_ms']:8.2f} ms | speedup {r['speedup']:.2f} ({verdict}); largest relative loss gap "
              f"{r['loss_gap']:.1e}")
        print(f"RATIO {model}_channels_last_speedup {r['speedup']:.3f} "
              f"default-layout / channels-last step time of the {model}'s convolutions (target >= {target} on a CPU)")


if __name__ == "__main__":
    main()
