"""Benchmark: S seeds trained at once as replicas against S sequential plain runs.

Models of the book, each trained for the same number of steps S times:

* the toy GAN of the symmetric-discriminators chapter in PacGAN's setting at book scale (width 64/32,
  batch 100, the ``ring`` data): S sequential calls of the experiment's plain
  ``_train_toy`` against one call of ``_train_toy_replicas`` with S seeds;
* a VAE on ``digits`` with the networks of the preliminaries' digits VAE (MLPs with two
  hidden layers of 256 units, 8 latent dimensions; a Bernoulli likelihood on the grey
  levels here, to keep the script short), batch 128, Adam(1e-3): S plain loops against
  one loop over :class:`companion.replicas.Replicas`;
* the adaptive-density chapter's GAN rows on ``digits`` (the ablation's GAN and the refinements' GAN (rd):
  dropout, spectral normalisation, the generator's weights averaged), five seeds as the chapter trains
  them: five one-seed runs against one :func:`companion.experiments.adaptive_density_gans.train_plain_gans`
  call (which tests show to follow the one-seed runs), the GAN phase only;
* the comparison chapter's GAN and BGAN on ``digits`` and ``faces`` (its book-scale recipe: MLP players,
  spectral normalisation, batch 64): S calls of the package's plain loop (``fit_gan``, ``fit_bgan``, one
  seed each, as the chapter trained them until 2026-12-06) against one call of
  :func:`companion.experiments.comparison_gans.fit_gans` with S seeds, the chapter's way now. The two are
  different random draws, so only their times are compared; the replicas' own independence is tested
  in ``tests/test_experiments_comparison.py``.

Correctness first: the replicas' first steps must equal the plain runs' (the GAN after two
steps, the VAE after 20, to 1e-4), else the script fails. Then the speed ratio
(sequential time / replicas time) is printed per model and device.

For the VAE, whose steps are mostly matrix products, the script also counts the products'
floating-point operations and measures in the same run what one large matrix product
reaches on this machine (the device's practical peak). The sequential runs' rate against
that peak bounds what any batching can gain: replicas cannot compute faster than the
device's peak, so the ratio is at most peak / sequential rate (the "ceiling" line).

    RATIO replicas_toy_gan_cpu 4.1 8 seeds in one run vs 8 sequential runs (target >= 4 on 2 cores)

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/replicas.py            # 2,000 GAN steps, 1,000 VAE steps
    .venv/bin/python benchmarks/replicas.py --quick                      # 200 and 200 steps

With CUDA present, the same is measured on the GPU as well.
"""

from __future__ import annotations

import argparse
import time
from typing import List

import numpy as np
import torch

import companion
from companion import data
from companion.likelihoods import bernoulli_log_prob
from companion.nets import MLP
from companion.replicas import Replicas, StackedMinibatches, replica_generators, stacked_randn
from companion.train import adam, minibatches

LATENT, HIDDEN, BATCH = 8, 256, 128


def _vae_loss(encoder, decoder, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Minus the ELBO, averaged over the batch; with a leading replica axis, one value per replica."""
    flat = x.flatten(-3)
    mu, logvar = encoder(flat).chunk(2, dim=-1)
    z = mu + torch.exp(0.5 * logvar) * eps
    reconstruction = bernoulli_log_prob(flat, decoder(z)).sum(-1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
    return -(reconstruction - kl).mean(-1)


def _make_vae() -> torch.nn.ModuleList:
    return torch.nn.ModuleList([MLP(64, 2 * LATENT, HIDDEN, 2), MLP(LATENT, 64, HIDDEN, 2)])


def vae_plain(seed: int, n_steps: int, dev: torch.device, images: torch.Tensor) -> torch.nn.Module:
    torch.manual_seed(seed)
    vae = _make_vae().to(dev)
    opt = adam(vae.parameters(), lr=1e-3)
    batches = minibatches(images, BATCH, generator=torch.Generator().manual_seed(seed))
    noise = torch.Generator().manual_seed(1000 + seed)
    for _ in range(n_steps):
        loss = _vae_loss(vae[0], vae[1], next(batches), torch.randn(BATCH, LATENT, generator=noise).to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return vae


def vae_replicas(seeds: List[int], n_steps: int, dev: torch.device, images: torch.Tensor):
    encoders = Replicas(lambda: _make_vae()[0], seeds, device=dev)
    decoders = Replicas(lambda: _make_vae()[1], seeds, device=dev)
    opt = adam(encoders.parameters() + decoders.parameters(), lr=1e-3)
    batches = StackedMinibatches(images, BATCH, replica_generators(seeds))
    noise = replica_generators([1000 + s for s in seeds])
    for _ in range(n_steps):
        loss = _vae_loss(encoders, decoders, next(batches), stacked_randn(noise, BATCH, LATENT, device=dev)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return encoders, decoders


def vae_step_flops() -> float:
    """Floating-point operations of one VAE step's matrix products: forward, and twice that backward."""
    layers = [(64, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 2 * LATENT), (LATENT, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 64)]
    forward = sum(2 * BATCH * n_in * n_out for n_in, n_out in layers)
    return 3.0 * forward


def matmul_peak(dev: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """Floating-point operations per second of one large float32 matrix product on ``dev``."""
    a = torch.randn(size, size, device=dev)
    b = torch.randn(size, size, device=dev)
    a @ b  # warm-up
    _, seconds = _timed(lambda: [a @ b for _ in range(repeats)])
    return repeats * 2.0 * size**3 / seconds


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def bench(dev: torch.device, n_replicas: int, gan_steps: int, vae_steps: int) -> None:
    from companion.experiments import symmetric_discriminators as S
    from companion.experiments import symmetric_toys as T

    companion.device = lambda: dev  # the experiment's functions place their models with companion.device()
    seeds = list(range(n_replicas))
    tag = dev.type

    # -- the toy GAN ----------------------------------------------------------------------------
    cfg = S.ModeCoverageConfig.for_scale("book", n_steps=2, eval_steps=())
    if dev.type == "cpu":  # equal to the plain runs in the first steps (the float32 game is chaotic later)
        reps = T._train_toy_replicas("pacgan", "gan", "ring", (0, 1), cfg, 0.5)
        for i in (0, 1):
            gap = float(
                np.abs(reps["samples"][i] - T._train_toy("pacgan", "gan", "ring", i, cfg, 0.5)["samples"]).max()
            )
            if gap > 1e-4:
                raise SystemExit(f"replica {i} of the toy GAN left its plain run: max gap {gap:.2e}")
    cfg = S.ModeCoverageConfig.for_scale("book", n_steps=gan_steps, eval_steps=())
    _, sequential = _timed(lambda: [T._train_toy("pacgan", "gan", "ring", s, cfg, 0.5) for s in seeds])
    _, together = _timed(lambda: T._train_toy_replicas("pacgan", "gan", "ring", tuple(seeds), cfg, 0.5))
    print(f"toy GAN ({tag}, {gan_steps} steps): {n_replicas} sequential runs {sequential:.1f} s, "
          f"{n_replicas} replicas {together:.1f} s")
    print(f"RATIO replicas_toy_gan_{tag} {sequential / together:.2f} {n_replicas} seeds in one run vs "
          f"{n_replicas} sequential runs (target >= 4 on 2 CPU cores)")

    # -- the digits VAE -------------------------------------------------------------------------
    images = data.load("digits").to(dev)
    encoders, decoders = vae_replicas([0, 1], 20, dev, images)
    for i in (0, 1):
        plain = vae_plain(i, 20, dev, images)
        for stacked, module in ((encoders, plain[0]), (decoders, plain[1])):
            for name, value in module.state_dict().items():
                gap = float((stacked.module(i).state_dict()[name] - value).abs().max())
                if gap > 1e-4:
                    raise SystemExit(f"replica {i} of the VAE left its plain run ({name}: {gap:.2e})")
    _, sequential = _timed(lambda: [vae_plain(s, vae_steps, dev, images) for s in seeds])
    _, together = _timed(lambda: vae_replicas(seeds, vae_steps, dev, images))
    print(f"digits VAE ({tag}, {vae_steps} steps): {n_replicas} sequential runs {sequential:.1f} s, "
          f"{n_replicas} replicas {together:.1f} s")
    print(f"RATIO replicas_digits_vae_{tag} {sequential / together:.2f} {n_replicas} seeds in one run vs "
          f"{n_replicas} sequential runs (target >= 4 on 2 CPU cores)")
    flops = n_replicas * vae_steps * vae_step_flops()
    peak = matmul_peak(dev)
    print(f"digits VAE ({tag}): matrix products at {flops / sequential / 1e9:.0f} GFLOP/s sequential, "
          f"{flops / together / 1e9:.0f} GFLOP/s as replicas; one large product reaches {peak / 1e9:.0f} GFLOP/s")
    print(f"RATIO replicas_digits_vae_ceiling_{tag} {peak * sequential / flops:.2f} the most any batching "
          f"can gain here: device peak / sequential rate")

    # -- the comparison chapter's GANs of images -------------------------------------------------
    import dataclasses

    from companion.experiments import comparison as C
    from companion.experiments import comparison_gans as G

    for dataset in ("digits", "faces"):
        spec, train = C.dataset_spec(dataset), C.load_split(dataset, "train").to(dev)
        cfg = C.ImagesConfig.for_scale("book", gan_steps=gan_steps, n_seeds=n_replicas)
        for model in ("gan", "bgan"):
            def plain(seed: int):
                companion.seed_everything(seed)
                one = dataclasses.replace(cfg, seed=seed)
                return G._fit_gan(train, spec, one) if model == "gan" else G._fit_bgan(train, spec, one, "bgan")

            _, sequential = _timed(lambda: [plain(s) for s in seeds])
            _, together = _timed(lambda: G.fit_gans(model, train, spec, cfg))
            print(f"comparison {model} on {dataset} ({tag}, {gan_steps} steps): {n_replicas} sequential runs "
                  f"{sequential:.1f} s, {n_replicas} replicas {together:.1f} s")
            print(f"RATIO replicas_comparison_{model}_{dataset}_{tag} {sequential / together:.2f} {n_replicas} seeds "
                  f"in one run vs {n_replicas} sequential runs")


def bench_adaptive_density_gans(dev: torch.device, n_replicas: int, gan_steps: int) -> None:
    """The adaptive-density chapter's plain GAN rows (the ablation's GAN, the refinements' GAN (rd)): S one-seed
    runs (``plain_gan_model`` trained by ``_fit_decoder_as_gan``) against one :func:`train_plain_gans` call."""
    import dataclasses

    from companion.experiments import adaptive_density as A
    from companion.experiments.adaptive_density_gans import train_plain_gans

    cfg = dataclasses.replace(A.AblationConfig.for_scale("book"), gan_steps=gan_steps, seeds=tuple(range(n_replicas)))
    train = data.load("digits", "train").to(dev)

    def one_run(seed: int, residual: bool) -> None:
        companion.seed_everything(seed)
        model = A.plain_gan_model(cfg, residual).to(dev)
        A._fit_decoder_as_gan(model, model.dequantize(train), n_steps=gan_steps, batch_size=cfg.batch_size,
                              lr=cfg.gan_lr, decay_step=cfg.gan_decay_step, decay=cfg.gan_decay, desc="one seed",
                              betas=tuple(cfg.gan_betas), average_decay=cfg.gan_average)

    for residual, name in ((False, "gan"), (True, "gan_rd")):
        _, sequential = _timed(lambda: [one_run(s, residual) for s in cfg.seeds])
        # the replicas also train each seed's inference network: time the GAN phase alike
        _, together = _timed(lambda: train_plain_gans(dataclasses.replace(cfg, n_inference_steps=1), cfg.seeds,
                                                      train, "replicas", residual=residual))
        print(f"adaptive-density {name} ({dev.type}, {gan_steps} steps): {n_replicas} sequential runs "
              f"{sequential:.1f} s, {n_replicas} replicas {together:.1f} s")
        print(f"RATIO replicas_adaptive_density_{name}_{dev.type} {sequential / together:.2f} {n_replicas} seeds "
              f"in one run vs {n_replicas} sequential runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--gan-steps", type=int, default=2000)
    parser.add_argument("--vae-steps", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="200 GAN and 200 VAE steps")
    parser.add_argument("--only-adaptive-density", action="store_true",
                        help="only the adaptive-density chapter's GANs (5 seeds, as the chapter trains them)")
    args = parser.parse_args()
    if args.quick:
        args.gan_steps, args.vae_steps = 200, 200
    import os

    os.environ.setdefault("COMPANION_PROGRESS", "0")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.only_adaptive_density:
        bench_adaptive_density_gans(torch.device("cpu"), 5, args.gan_steps)
        return
    bench(torch.device("cpu"), args.replicas, args.gan_steps, args.vae_steps)
    bench_adaptive_density_gans(torch.device("cpu"), 5, args.gan_steps)
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}")
        bench(torch.device("cuda"), args.replicas, args.gan_steps, args.vae_steps)
        bench_adaptive_density_gans(torch.device("cuda"), 5, args.gan_steps)


if __name__ == "__main__":
    main()
