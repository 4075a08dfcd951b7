"""Benchmark: :func:`companion.gmmn.mmd2` with its gradient, against the MMD as it was first written.

The GMMN of the latent-density chapter (Table 2's "GMMN + AE" row) minimises the MMD between a
batch of its samples and a batch of autoencoder codes, with Gaussian kernels down to a bandwidth
of 0.05 standardised units. At that bandwidth most kernel exponents ``-d^2 / (2 h^2)`` lie far
below -87, where float32's ``exp`` on a CPU leaves its fast vector path, and the tiny kernel
values make the products of the backward pass denormal: before the change the MMD was most of
a GMMN step. :func:`mmd2` now floors each exponent at
:data:`companion.gmmn.KERNEL_EXPONENT_FLOOR` and evaluates the three kernel blocks
``k(x, x)``, ``k(y, y)``, ``k(x, y)`` instead of the kernel matrix of ``[x; y]`` (whose
``k(y, x)`` repeats ``k(x, y)``, and whose ``k(y, y)`` of data needs no backward pass).

The baseline is the earlier form: one kernel matrix of ``[x; y]``, exponents unfloored. Both run
on the same batches (``--batch`` generated codes against as many data codes, ``--dim`` wide,
the bandwidths of :func:`companion.gmmn.fit_gmmn`), forward and backward, alternately; the
script prints the medians, checks that the two give the same value and gradient to float32
rounding, and prints one ``RATIO`` line (target: at least 2x on a CPU).

    OMP_NUM_THREADS=1 python benchmarks/mmd.py
    python benchmarks/mmd.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Sequence

import torch

from companion.gmmn import mmd2

#: The bandwidths of ``fit_gmmn`` (standardised units).
BANDWIDTHS = (0.05, 0.1, 0.3, 1.0, 3.0)
TARGET = 2.0


def mmd2_one_matrix(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float]) -> torch.Tensor:
    """The unbiased MMD as it was first written: the kernel matrix of ``[x; y]``, exponents unfloored."""
    both = torch.cat([x, y])
    d2 = torch.cdist(both, both).pow(2)
    k = sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)
    n, m = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = k[:n, :n], k[n:, n:], k[:n, n:]
    within = ((k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
              + (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1)))
    return within - 2 * k_xy.mean()


def _step(fn, x: torch.Tensor, y: torch.Tensor) -> float:
    """Seconds of one forward and backward pass; leaves the gradient in ``x.grad``."""
    x.grad = None
    start = time.perf_counter()
    fn(x, y, BANDWIDTHS).backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="rows of each batch (fit_gmmn in Table 2: 256)")
    parser.add_argument("--dim", type=int, default=8, help="width of the codes (Table 2: latent size 8)")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 20 if args.quick else args.repeats

    g = torch.Generator().manual_seed(0)
    # standardised codes, as fit_gmmn sees them; the generated batch slightly off the data
    x = (1.1 * torch.randn(args.batch, args.dim, generator=g) + 0.1).requires_grad_()
    y = torch.randn(args.batch, args.dim, generator=g)

    old_value = mmd2_one_matrix(x, y, BANDWIDTHS)
    old_value.backward()
    old_grad, x.grad = x.grad.clone(), None
    new_value = mmd2(x, y, BANDWIDTHS)
    new_value.backward()
    # the same number to float32 rounding (the floor moves kernel values by less than 1e-25)
    torch.testing.assert_close(new_value, old_value, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(x.grad, old_grad, rtol=1e-3, atol=1e-7)

    old_times, new_times = [], []
    for _ in range(3):  # warm-up
        _step(mmd2_one_matrix, x, y), _step(mmd2, x, y)
    for _ in range(repeats):  # alternate, so that load on a shared machine hits both alike
        old_times.append(_step(mmd2_one_matrix, x, y))
        new_times.append(_step(mmd2, x, y))
    t_old, t_new = statistics.median(old_times), statistics.median(new_times)
    print(f"threads: {torch.get_num_threads()}, batch {args.batch} x {args.dim}, bandwidths {BANDWIDTHS}")
    print(f"one kernel matrix, unfloored: {1e3 * t_old:.2f} ms per forward and backward pass")
    print(f"mmd2:                         {1e3 * t_new:.2f} ms")
    print(f"values: {old_value.item():.6g} and {new_value.item():.6g}")
    print(f"RATIO mmd2_speedup_over_one_matrix {t_old / t_new:.2f} "
          f"(forward and backward of a GMMN batch; target >= {TARGET:g}x on a CPU)")


if __name__ == "__main__":
    main()
