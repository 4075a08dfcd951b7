"""Benchmark: the chunked marginal KL of companion.surgery against Alg. 2 as written.

Alg. 2 of Rosca et al. (2018, App. E.1) loops over the latent samples and, for each, over
the whole data set, appending log q(z_i | x_n) to a list before a logsumexp. Here both
versions get the *same* latents, so they must return the same number (to float64
rounding); the script prints both values, their difference, the times and the speed ratio.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/marginal_kl.py            # N = 10,000, 32 dims
    .venv/bin/python benchmarks/marginal_kl.py --n 2000 --n-z 20            # quicker

The double loop costs N Python iterations per latent, so it gets few latents (``--n-z``);
the chunked version is timed on the same latents and, for scale, on 100x more.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from companion import device, surgery


def marginal_kl_double_loop(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> float:
    """Alg. 2 as written (with the missing ``- log N``), one data point at a time."""
    n = mu.shape[0]
    total = 0.0
    for z_i in z:
        posterior_list = []
        for mu_n, logvar_n in zip(mu, logvar):
            log_q = -0.5 * (((z_i - mu_n) ** 2) * torch.exp(-logvar_n) + logvar_n + surgery.LOG_2PI).sum()
            posterior_list.append(log_q)
        log_q_z = torch.logsumexp(torch.stack(posterior_list), 0) - math.log(n)
        total += float(log_q_z - surgery.standard_normal_log_prob(z_i))
    return total / z.shape[0]


def marginal_kl_chunked(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> float:
    """The package's version on given latents (what ``marginal_kl_mc`` does after sampling)."""
    log_q = surgery.aggregate_posterior_log_prob(z, mu, logvar)
    return float((log_q - surgery.standard_normal_log_prob(z)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of posteriors (data points)")
    parser.add_argument("--dim", type=int, default=32, help="latent dimension")
    parser.add_argument("--n-z", type=int, default=20, help="latents for the double loop")
    parser.add_argument("--device", default=None, help="default: companion.device()")
    args = parser.parse_args()

    dev = torch.device(args.device) if args.device else device()
    g = torch.Generator().manual_seed(0)
    # Posteriors of a plausible trained VAE: spread-out means, narrow-ish variances.
    mu = (1.5 * torch.randn(args.n, args.dim, generator=g, dtype=torch.float64)).to(dev)
    logvar = (-2.0 + 0.5 * torch.randn(args.n, args.dim, generator=g, dtype=torch.float64)).to(dev)
    index = torch.randint(args.n, (args.n_z,), generator=g).to(dev)
    z = mu[index] + torch.exp(0.5 * logvar[index]) * torch.randn(
        args.n_z, args.dim, generator=g, dtype=torch.float64
    ).to(dev)

    start = time.perf_counter()
    loop_value = marginal_kl_double_loop(z, mu, logvar)
    loop_seconds = time.perf_counter() - start

    marginal_kl_chunked(z, mu, logvar)  # warm-up (allocations, CUDA kernels)
    repeats = 5
    start = time.perf_counter()
    for _ in range(repeats):
        chunked_value = marginal_kl_chunked(z, mu, logvar)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    chunked_seconds = (time.perf_counter() - start) / repeats

    many = 100 * args.n_z
    start = time.perf_counter()
    estimate = float(
        surgery.marginal_kl_mc(mu.float(), logvar.float(), many, generator=torch.Generator().manual_seed(1))
    )
    if dev.type == "cuda":
        torch.cuda.synchronize()
    many_seconds = time.perf_counter() - start

    print(
        f"device {dev}, torch threads {torch.get_num_threads()}, "
        f"N = {args.n}, dim = {args.dim}, shared latents = {args.n_z}"
    )
    print(f"double loop (Alg. 2):   KL = {loop_value:.10f}   {loop_seconds:9.3f} s")
    print(f"chunked (companion):    KL = {chunked_value:.10f}   {chunked_seconds:9.4f} s")
    print(f"absolute difference:    {abs(loop_value - chunked_value):.2e}")
    print(f"speed ratio:            {loop_seconds / chunked_seconds:,.0f}x   (target >= 20x)")
    print(f"RATIO marginal_kl_speedup {loop_seconds / chunked_seconds:.0f} double loop / chunked time "
          f"(target >= 20); values differ by {abs(loop_value - chunked_value):.1e}")
    print(
        f"per latent:             loop {1e3 * loop_seconds / args.n_z:.1f} ms, "
        f"chunked {1e3 * chunked_seconds / args.n_z:.3f} ms"
    )
    print(f"marginal_kl_mc with {many} latents: KL = {estimate:.4f} in {many_seconds:.2f} s")


if __name__ == "__main__":
    main()
