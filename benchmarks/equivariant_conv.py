"""Benchmark: the equivariant convolution of eq. (4.12) against an ordinary ``nn.Conv2d``.

The thesis calls the overhead of the batch-mixing term negligible: the extra convolution
runs on one mean image per set, plus a mean and a broadcast add. This script measures one
forward + backward pass of :class:`companion.symmetric.EquivariantConv2d` and of an
``nn.Conv2d`` with the same channels on a batch of 64 images of 32x32, in the same run
and interleaved (so that load on a shared machine hits both alike), and prints the ratio
of the median times. Target: at most 1.3x on a CPU.

    OMP_NUM_THREADS=1 python benchmarks/equivariant_conv.py
    python benchmarks/equivariant_conv.py --device cuda --channels 64 128
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from companion.symmetric import EquivariantConv2d


def _step(layer: nn.Module, x: torch.Tensor) -> None:
    layer.zero_grad(set_to_none=True)
    x.grad = None
    layer(x).square().mean().backward()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_pair(channels: int, batch: int, size: int, repeats: int, device: torch.device) -> dict:
    """Median seconds of forward+backward for both layers, measured alternately."""
    torch.manual_seed(0)
    plain = nn.Conv2d(channels, channels, 3, padding=1).to(device)
    equivariant = EquivariantConv2d(channels, channels, 3).to(device)
    x = torch.randn(batch, channels, size, size, device=device, requires_grad=True)
    for _ in range(3):  # warm-up (allocator, kernels selection)
        _step(plain, x)
        _step(equivariant, x)
    times = {"conv2d": [], "equivariant": []}
    for _ in range(repeats):
        for name, layer in (("conv2d", plain), ("equivariant", equivariant)):
            _sync(device)
            start = time.perf_counter()
            _step(layer, x)
            _sync(device)
            times[name].append(time.perf_counter() - start)
    plain_s, equi_s = statistics.median(times["conv2d"]), statistics.median(times["equivariant"])
    return {"channels": channels, "conv2d_ms": 1e3 * plain_s, "equivariant_ms": 1e3 * equi_s, "ratio": equi_s / plain_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[64])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch} size={args.size}x{args.size} "
          f"kernel=3x3 repeats={args.repeats} (forward + backward, median)")
    for channels in args.channels:
        r = time_pair(channels, args.batch, args.size, args.repeats, device)
        verdict = "ok" if r["ratio"] <= 1.3 else "ABOVE TARGET 1.3x"
        print(f"channels {channels:4d}: nn.Conv2d {r['conv2d_ms']:8.2f} ms | EquivariantConv2d "
              f"{r['equivariant_ms']:8.2f} ms | ratio {r['ratio']:.3f} ({verdict})")
        print(f"RATIO equivariant_conv_over_conv2d_c{channels} {r['ratio']:.3f} "
              "EquivariantConv2d / nn.Conv2d time, forward+backward (target <= 1.3)")


if __name__ == "__main__":
    main()
