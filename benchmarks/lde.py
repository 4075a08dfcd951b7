"""Benchmark: the LDE's ``log_prob`` on 10,000 codes of dimension 100 with K = 30.

Target (the issue): ``log_prob`` under 1 s on a 2-core CPU. Times ``log_prob`` of
``LatentDensityEstimator`` against a baseline measured in the same run on the same weights and
codes. The current implementation:

* each dilated layer runs over the ``D`` code positions only; the padding's part is the same
  for every sample and enters as a per-position bias computed once per call (batch of one);
* the layers are causal convolutions stored positions first, ``(D, batch, channels)``, so each
  filter tap is one BLAS product on contiguous slices, written in place (no ``cat``, no copies);
* the mixture density network is applied transposed, ``(3K, positions)``, so the soft floor,
  the Gaussian terms and the two log-sum-exps over ``K`` run along contiguous rows;
* on a CPU the batch goes through in chunks of ``chunk_positions`` (16,384) positions, so the
  mixture parameters of a chunk (6 MB, against 356 MB for the whole batch) stay in the cache.

The baseline ``conv1d`` is the implementation before the first speed-up: ``nn.Conv1d`` with
dilation on ``(batch, channels, length)`` (the constant padding part computed once, as now)
and the mixture written term by term (``log_softmax``, ``softplus``, Gaussian log-density,
``logsumexp``), on the whole batch at once.

Old and new runs alternate, and the medians of ``--repeats`` runs are reported, because the
machine may be shared. Lines starting with ``RATIO`` are for the record: ``RATIO <name> <value>
<meaning and target>``.

Usage::

    python benchmarks/lde.py [--threads 2] [--n 10000] [--dim 100] [--components 30] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch.nn import functional as F

from companion.lde import LatentDensityEstimator

TARGET_SECONDS = 1.0


class Conv1dLDE(LatentDensityEstimator):
    """The same model computed as before the speed-up (the baseline): conv1d with dilation."""

    def features(self, u: torch.Tensor) -> torch.Tensor:
        n = u.shape[0]
        const = u.new_zeros(1, 2, self.padding)
        vary = torch.stack([u, torch.ones_like(u)], dim=1)
        for conv in self.dilated:
            span = conv.dilation[0] * (self.filter_size - 1)
            window = torch.cat([const[:, :, const.shape[2] - span :].expand(n, -1, -1), vary], dim=2)
            vary = F.leaky_relu(conv(window), 0.2)
            const = F.leaky_relu(conv(const), 0.2)
        return torch.cat([const.expand(n, -1, -1), vary[:, :, :-1]], dim=2)

    def conditional_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        u = (z - self.loc) / self.scale
        params = self.mdn(self.head(self.features(u)))
        params = params.transpose(1, 2).reshape(u.shape[0], self.dim, 3, self.n_components)
        logits, mean, log_sd = params.unbind(dim=2)
        log_sd = self.min_log_scale + F.softplus(log_sd - self.min_log_scale)
        log_w = torch.log_softmax(logits, dim=-1)
        x = (u[:, :, None] - mean) * torch.exp(-log_sd)
        log_normal = -0.5 * (x * x + math.log(2 * math.pi)) - log_sd
        return torch.logsumexp(log_w + log_normal, dim=-1) - torch.log(self.scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--components", type=int, default=30)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LatentDensityEstimator(args.dim, n_components=args.components, channels=args.channels).eval()
    baseline = Conv1dLDE(args.dim, n_components=args.components, channels=args.channels).eval()
    baseline.load_state_dict(model.state_dict())
    z = torch.randn(args.n, args.dim)

    times = {"new": [], "conv1d": []}
    cpu_times = {"new": [], "conv1d": []}  # process time: less sensitive to other processes (at 1 thread)
    with torch.inference_mode():
        new, old = model.log_prob(z), baseline.log_prob(z)  # also a warm-up
        max_error = (new - old).abs().max().item()
        assert torch.allclose(new, old, rtol=1e-5, atol=1e-3), max_error
        for _ in range(args.repeats):  # alternate, so both see the same load on a shared machine
            for name, m in (("new", model), ("conv1d", baseline)):
                start, cpu_start = time.perf_counter(), time.process_time()
                m.log_prob(z)
                times[name].append(time.perf_counter() - start)
                cpu_times[name].append(time.process_time() - cpu_start)

    t_new, t_old = statistics.median(times["new"]), statistics.median(times["conv1d"])
    print(f"LDE log_prob: n={args.n}, D={args.dim}, K={args.components}, channels={args.channels}, "
          f"layers={model.n_layers}, threads={torch.get_num_threads()}, repeats={args.repeats} (medians)")
    print(f"  new (chunked, matmul layers)       {t_new:8.3f} s   runs {', '.join(f'{t:.2f}' for t in times['new'])}")
    print(
        f"  baseline conv1d (before)           {t_old:8.3f} s   runs {', '.join(f'{t:.2f}' for t in times['conv1d'])}"
    )
    print(f"  CPU time (all threads): new {statistics.median(cpu_times['new']):.3f} s, "
          f"baseline {statistics.median(cpu_times['conv1d']):.3f} s (medians)")
    print(f"  max |log p new - log p baseline| = {max_error:.2e} nats (log p ~ {new.abs().mean().item():.0f})")
    print(f"RATIO lde_log_prob_speedup_over_conv1d {t_old / t_new:.2f} "
          f"baseline time / new time, same run, same weights (higher is better; >1 means faster)")
    print(f"RATIO lde_log_prob_seconds_over_target {t_new / TARGET_SECONDS:.2f} "
          f"new log_prob time / {TARGET_SECONDS:g} s target on n={args.n}, D={args.dim}, K={args.components} "
          f"with {torch.get_num_threads()} threads (target: < 1; "
          f"{'met' if t_new < TARGET_SECONDS else 'NOT met'} on this machine)")


if __name__ == "__main__":
    main()
