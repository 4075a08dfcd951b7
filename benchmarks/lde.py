"""Benchmark: the LDE's ``log_prob`` on 10,000 codes of dimension 100 with K = 30.

Prints the time of ``log_prob`` (the trimmed conditioner of ``LatentDensityEstimator.features``)
and two baselines measured in the same run:

* the same ``log_prob`` with the literal Fig. 4 conditioner over the whole padded signal
  ``[p, z]`` (``features_full``);
* a naive per-dimension loop, one conditioner pass per dimension on the codes with
  ``z_{>=i}`` zeroed (what an autoregressive model without a causal network needs); it is
  timed on ``--naive-rows`` codes and scaled linearly to the full batch.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/lde.py [--threads 2] [--n 10000] [--dim 100] [--components 30]
"""

from __future__ import annotations

import argparse
import time

import torch

from companion.lde import LatentDensityEstimator


def best_of(fn, repeats: int) -> float:
    """The fastest of ``repeats`` timings of ``fn()`` in seconds (the least disturbed run)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class Fig4Literal(LatentDensityEstimator):
    """The same model computing its features on the whole padded signal (the baseline)."""

    features = LatentDensityEstimator.features_full


def naive_log_prob(model: LatentDensityEstimator, z: torch.Tensor) -> torch.Tensor:
    """log p(z) with one conditioner pass per dimension (the baseline)."""
    u = (z - model.loc) / model.scale
    total = torch.zeros(z.shape[0])
    for i in range(model.dim):
        prefix = torch.cat([u[:, :i], torch.zeros_like(u[:, i:])], dim=1)
        log_w, mean, log_sd = model._standard_conditionals(prefix)
        x = (u[:, i, None] - mean[:, i]) * torch.exp(-log_sd[:, i])
        log_normal = -0.5 * (x * x + torch.log(torch.tensor(2 * torch.pi))) - log_sd[:, i]
        total += torch.logsumexp(log_w[:, i] + log_normal, dim=-1) - torch.log(model.scale[i])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--components", type=int, default=30)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-rows", type=int, default=500)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LatentDensityEstimator(args.dim, n_components=args.components, channels=args.channels).eval()
    literal = Fig4Literal(args.dim, n_components=args.components, channels=args.channels).eval()
    literal.load_state_dict(model.state_dict())
    z = torch.randn(args.n, args.dim)
    with torch.inference_mode():
        fast = model.log_prob(z)
        assert torch.allclose(literal.log_prob(z), fast, rtol=1e-4, atol=1e-3)
        few = z[: args.naive_rows]
        assert torch.allclose(naive_log_prob(model, few), fast[: args.naive_rows], rtol=1e-4, atol=1e-3)

        t_fast = best_of(lambda: model.log_prob(z), args.repeats)
        t_full = best_of(lambda: literal.log_prob(z), args.repeats)
        t_naive = best_of(lambda: naive_log_prob(model, few), 1) * args.n / len(few)

    print(f"LDE log_prob: n={args.n}, D={args.dim}, K={args.components}, channels={args.channels}, "
          f"layers={model.n_layers}, threads={torch.get_num_threads()}")
    print(f"  log_prob (trimmed conditioner)      {t_fast:8.3f} s")
    print(f"  Fig. 4 literal (whole [p, z] signal) {t_full:8.3f} s   ratio {t_full / t_fast:6.2f}x")
    print(f"  naive per-dimension loop (scaled)   {t_naive:8.3f} s   ratio {t_naive / t_fast:6.1f}x")
    print(f"  target < 1 s: {'met' if t_fast < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
