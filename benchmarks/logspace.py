"""Benchmark: the floored exponentials of :mod:`companion.logspace` against the forms they replaced.

On a CPU, ``exp`` of an argument whose result is denormal or zero leaves its vector path, and
the tiny values make the products of a backward pass denormal. Two places put most of their
exponents there:

* ``mmd``: :func:`companion.gmmn.mmd2`, which the GMMN of the latent-density chapter (Table 2's
  "GMMN + AE" row) minimises between a batch of its samples and a batch of autoencoder codes,
  with Gaussian kernels down to a bandwidth of 0.05 standardised units. It floors each exponent
  at :data:`companion.logspace.EXP_FLOOR` and evaluates the three kernel blocks ``k(x, x)``,
  ``k(y, y)``, ``k(x, y)``; the baseline is its first form, one kernel matrix of ``[x; y]``
  (whose ``k(y, x)`` repeats ``k(x, y)``, and whose ``k(y, y)`` of data needs no backward pass),
  exponents unfloored. Both run forward and backward on the same batches (``--batch`` codes
  against as many, ``--dim`` wide, the bandwidths of :func:`companion.gmmn.fit_gmmn`). Target:
  at least 2x on a CPU.
* ``aggregate``: :func:`companion.surgery.aggregate_posterior_log_prob`, the log-density of the
  aggregate posterior behind ELBO surgery's marginal KL, for ``--n-z`` latents under ``--n``
  posteriors; narrow posteriors put most of a row's terms far below its largest. It takes the
  in-place, floored :func:`companion.logspace.logsumexp_rows_`; the baseline swaps in
  ``torch.logsumexp``. Timed for narrow posteriors (variance 1e-2, the target: at least 2x) and
  wide ones (variance 1, where the two should cost the same).

Old and new run alternately; the script prints the medians, checks that both give the same
values (and gradients) to rounding, and prints one ``RATIO`` line per figure.

    OMP_NUM_THREADS=1 python benchmarks/logspace.py
    python benchmarks/logspace.py --quick
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Callable, List, Sequence, Tuple

import torch

from companion import surgery
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


def _alternate(old: Callable[[], object], new: Callable[[], object], repeats: int) -> Tuple[float, float]:
    """Median seconds of ``old()`` and ``new()``, run alternately (load on a shared machine hits both alike)."""
    for _ in range(2):  # warm-up
        old(), new()
    old_times: List[float] = []
    new_times: List[float] = []
    for _ in range(repeats):
        for fn, times in ((old, old_times), (new, new_times)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(old_times), statistics.median(new_times)


def bench_mmd(batch: int, dim: int, repeats: int) -> None:
    """mmd2 against its first form, forward and backward on one GMMN batch."""
    g = torch.Generator().manual_seed(0)
    # standardised codes, as fit_gmmn sees them; the generated batch slightly off the data
    x = (1.1 * torch.randn(batch, dim, generator=g) + 0.1).requires_grad_()
    y = torch.randn(batch, dim, generator=g)

    def pass_of(fn):
        def run():
            x.grad = None
            value = fn(x, y, BANDWIDTHS)
            value.backward()
            return value.detach(), x.grad.clone()
        return run

    old_pass, new_pass = pass_of(mmd2_one_matrix), pass_of(mmd2)
    (old_value, old_grad), (new_value, new_grad) = old_pass(), new_pass()
    # the same number to float32 rounding (the floor moves kernel values by less than 1e-25)
    torch.testing.assert_close(new_value, old_value, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(new_grad, old_grad, rtol=1e-3, atol=1e-7)
    t_old, t_new = _alternate(old_pass, new_pass, repeats)
    print(f"mmd: batch {batch} x {dim}, bandwidths {BANDWIDTHS}, values {old_value.item():.6g} and "
          f"{new_value.item():.6g}")
    print(f"  one kernel matrix, unfloored: {1e3 * t_old:.2f} ms per forward and backward pass; "
          f"mmd2 {1e3 * t_new:.2f} ms")
    print(f"RATIO mmd2_speedup_over_one_matrix {t_old / t_new:.2f} "
          f"(forward and backward of a GMMN batch; target >= {TARGET:g}x on a CPU)")


def bench_aggregate(n: int, n_z: int, dim: int, repeats: int) -> None:
    """aggregate_posterior_log_prob with the floored in-place log-sum-exp against torch.logsumexp."""
    g = torch.Generator().manual_seed(1)
    for name, variance in (("narrow", 1e-2), ("wide", 1.0)):
        mu = torch.randn(n, dim, generator=g)
        logvar = torch.full((n, dim), math.log(variance))
        index = torch.randint(n, (n_z,), generator=g)
        z = mu[index] + math.sqrt(variance) * torch.randn(n_z, dim, generator=g)
        new = lambda: surgery.aggregate_posterior_log_prob(z, mu, logvar)  # noqa: E731

        def old():
            floored = surgery.logsumexp_rows_
            surgery.logsumexp_rows_ = lambda matrix: torch.logsumexp(matrix, dim=1)  # the form before
            try:
                return surgery.aggregate_posterior_log_prob(z, mu, logvar)
            finally:
                surgery.logsumexp_rows_ = floored

        torch.testing.assert_close(new(), old(), rtol=0, atol=1e-5)
        t_old, t_new = _alternate(old, new, repeats)
        print(f"aggregate, {name} posteriors (variance {variance:g}): {n_z} latents x {n} posteriors x {dim} dims: "
              f"torch.logsumexp {t_old:.3f} s, logsumexp_rows_ {t_new:.3f} s")
        target = f"target >= {TARGET:g}x on a CPU" if name == "narrow" else "about 1x expected"
        print(f"RATIO aggregate_{name}_speedup_over_torch_logsumexp {t_old / t_new:.2f} ({target})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="mmd: rows of each batch (fit_gmmn in Table 2: 256)")
    parser.add_argument("--dim", type=int, default=8, help="mmd: width of the codes (Table 2: latent size 8)")
    parser.add_argument("--n", type=int, default=10_000, help="aggregate: posteriors (ELBO surgery's max_examples)")
    parser.add_argument("--n-z", type=int, default=5000, help="aggregate: latents (ELBO surgery's Fig. 1: 5,000)")
    parser.add_argument("--latent-dim", type=int, default=16, help="aggregate: latent size (Fig. 1: 16)")
    parser.add_argument("--repeats", type=int, default=100, help="mmd passes; the aggregate gets a tenth")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, fewer latents")
    args = parser.parse_args()
    repeats = 20 if args.quick else args.repeats
    print(f"threads: {torch.get_num_threads()}")
    bench_mmd(args.batch, args.dim, repeats)
    bench_aggregate(args.n, 1000 if args.quick else args.n_z, args.latent_dim, max(3, repeats // 10))


if __name__ == "__main__":
    main()
