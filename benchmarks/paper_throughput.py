"""What a paper-scale run costs: training steps per second of each model family, and GPU-hours.

For each family of models that the paper-scale experiments train, this times the real
training step of the package (``fit_*`` of the family, on synthetic tensors of the real
shape: CIFAR-10 is 3x32x32 with 256 levels, MNIST 1x28x28) for a few seconds, and prices
every paper-scale experiment as the sum, over its training loops, of steps x seconds per step.

On a CUDA device (``--device cuda``) the times are measured, with the peak memory. On the
CPU they are measured on one core and turned into **estimates** for one modern GPU with two
stated assumptions (change them with the flags):

* ``--gpu-factor`` (default 1000): a GPU runs the arithmetic of a step this many times faster
  than one core of a CPU (an A100/H100 at about 50-100 TFLOP/s effective in TF32 against about
  50-100 GFLOP/s for one AVX2 core);
* ``--gpu-floor-ms`` (default 3): no step takes less on a GPU, whatever its arithmetic (a
  step of a small MLP is a few hundred kernel launches of ~5-10 us each).

The CIFAR-10 families are timed at ``--image-batch`` (default 8) images per step and scaled
linearly to the paper's batch of 64, because one step at 64 takes tens of seconds on a CPU
core. Which family prices which experiment, and how many steps, is written in ``PLAN`` below,
with the step counts read from each experiment's ``paper`` configuration.

Usage::

    python benchmarks/paper_throughput.py [--seconds 6] [--device cpu|cuda] [--markdown]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable, Dict, List, Tuple

import torch

from companion.reproduce import experiments

CIFAR = (3, 32, 32)
MNIST = (1, 28, 28)


def _adam_step(model: torch.nn.Module, loss_fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def flow_2d(device: torch.device, batch: int) -> Callable[[], None]:
    """preliminaries/realnvp_ring at paper scale: Real-NVP, 12 blocks of 256 units, batch 256."""
    from companion.flows import RealNVP

    flow = RealNVP((2,), n_blocks=12, hidden=256, n_layers=2).to(device)
    x = torch.randn(batch, 2, device=device)
    return _adam_step(flow, lambda: -flow.log_prob(x).mean())


def gan_2d(device: torch.device, batch: int) -> Callable[[], None]:
    """2-D GANs at paper scale: MLPs of 512 units (the thesis' toy setup), batch 100."""
    from companion.gan import GAN, MLPDiscriminator, MLPGenerator, gan_step

    gan = GAN(MLPGenerator(2, (2,), hidden=512), MLPDiscriminator((2,), hidden=512)).to(device)
    d_opt = torch.optim.Adam(gan.discriminator.parameters(), lr=1e-4)
    g_opt = torch.optim.Adam(gan.generator.parameters(), lr=1e-4)
    x = torch.randn(batch, 2, device=device)
    return lambda: gan_step(gan, [x], d_opt, g_opt)


def vae_mnist(device: torch.device, batch: int) -> Callable[[], None]:
    """MNIST MLP VAEs at paper scale: 784 -> 1000 -> 1000 -> z, Bernoulli decoder, batch 64."""
    from companion.vae import VAE

    vae = VAE(MNIST, latent_dim=32, hidden=1000).to(device)
    x = torch.rand(batch, *MNIST, device=device).round()
    return _adam_step(vae, lambda: -vae.elbo(x).objective.mean())


def pixelcnn_cifar(device: torch.device, batch: int) -> Callable[[], None]:
    """agave's PixelCNN at paper scale: 160 channels, 15 gated blocks, 10 logistics, CIFAR-10."""
    from companion.pixelcnn import PixelCNN

    model = PixelCNN(CIFAR, n_levels=256, channels=160, n_blocks=15, n_mixtures=10).to(device)
    x = torch.randint(0, 256, (batch, *CIFAR), device=device) / 255  # images in [0, 1], 256 levels
    return _adam_step(model, lambda: -model.log_prob(x).mean())


def agave_cifar(device: torch.device, batch: int) -> Callable[[], None]:
    """AGAVE at paper scale: conv VAE (64, 128, 256), z of 64, the PixelCNN above, CIFAR-10."""
    from companion.agave import AGAVE

    model = AGAVE(CIFAR, n_levels=256, latent_dim=64, lam=12.0, channels=(64, 128, 256),
                  pixelcnn_channels=160, n_blocks=15, n_mixtures=10).to(device)
    x = torch.randint(0, 256, (batch, *CIFAR), device=device) / 255  # images in [0, 1], 256 levels
    return _adam_step(model, lambda: model.loss(x)["loss"])


def gan_cifar(device: torch.device, batch: int) -> Callable[[], None]:
    """CIFAR-10 conv GANs at paper scale: DCGAN-like, channels (64, 128, 256), batch 64."""
    from companion.gan import GAN, ConvDiscriminator, ConvGenerator, gan_step

    gan = GAN(ConvGenerator(128, CIFAR, channels=(256, 128, 64)), ConvDiscriminator(CIFAR, (64, 128, 256))).to(device)
    d_opt = torch.optim.Adam(gan.discriminator.parameters(), lr=2e-4)
    g_opt = torch.optim.Adam(gan.generator.parameters(), lr=2e-4)
    x = torch.rand(batch, *CIFAR, device=device)
    return lambda: gan_step(gan, [x], d_opt, g_opt)


#: family -> (builder, the paper's batch, whether it is a CIFAR-10 family timed at --image-batch)
FAMILIES: Dict[str, Tuple[Callable[[torch.device, int], Callable[[], None]], int, bool]] = {
    "2-D flow": (flow_2d, 256, False),
    "2-D GAN": (gan_2d, 100, False),
    "MNIST MLP VAE": (vae_mnist, 64, False),
    "CIFAR-10 PixelCNN": (pixelcnn_cifar, 64, True),
    "CIFAR-10 AGAVE": (agave_cifar, 64, True),
    "CIFAR-10 conv GAN": (gan_cifar, 64, True),
}


def _n(values) -> int:
    return len(tuple(values))


#: experiment id -> its training loops as (family, number of steps), from the paper configuration.
#: A model with no family of its own is priced as the closest one (said in the note).
PLAN: Dict[str, Tuple[Callable, str]] = {
    "preliminaries/realnvp_ring": (lambda c: [("2-D flow", c.n_steps)], ""),
    "preliminaries/gan_ring": (lambda c: [("2-D GAN", c.n_steps)], ""),
    "preliminaries/vae_digits": (lambda c: [("MNIST MLP VAE", c.n_steps)], ""),
    "agave/bits_per_dim": (lambda c: [("CIFAR-10 AGAVE", 3 * c.n_steps), ("CIFAR-10 PixelCNN", c.n_steps)],
                           "AGAVE twice, PixelCNN, VAE (priced as AGAVE)"),
    "agave/lambda": (lambda c: [("CIFAR-10 AGAVE", _n(c.lams) * c.n_steps)], "one AGAVE per lambda"),
    "agave/prior_samples": (lambda c: [("CIFAR-10 AGAVE", c.n_steps)], ""),
    "agave/posterior_collapse": (lambda c: [("CIFAR-10 AGAVE", 2 * c.n_steps)], "with and without the auxiliary loss"),
    "agave/remove_auxiliary": (lambda c: [("CIFAR-10 AGAVE", c.n_steps + c.finetune_steps)], ""),
    "agave/auxiliary_images": (lambda c: [("CIFAR-10 AGAVE", _n(c.variants) * c.n_steps)], "one AGAVE per variant"),
    "symmetric_discriminators/cifar10": (lambda c: [("CIFAR-10 conv GAN", c.n_steps)], "M-BGAN"),
    "symmetric_discriminators/mode_coverage": (
        lambda c: [("2-D GAN", _n(c.datasets) * _n(c.methods) * _n(c.setups) * c.n_steps)],
        "datasets x methods x setups; the seeds train at once as replicas, priced as one step"),
    "adaptive_density/ablation": (
        lambda c: [("CIFAR-10 AGAVE", _n(c.modes) * _n(c.seeds) * (c.n_steps + c.n_inference_steps))],
        "flow + VAE + critic, priced as AGAVE (no family of its own)"),
    "adaptive_density/fig4": (lambda c: [("2-D GAN", _n(c.modes) * c.n_steps)], ""),
    "elbo_surgery/synthetic_gaussians": (lambda c: [("MNIST MLP VAE", c.estimation_steps + c.learning_steps)],
                                         "MLPs of 5000 units, priced as the MNIST VAE"),
    "implicit_mle/parzen_sweep": (
        lambda c: [("MNIST MLP VAE", c.n_seeds * (c.ae_steps + c.vae_steps + c.gan_steps + c.wgan_steps))],
        "AE, VAE, GAN, WGAN on MNIST per seed, all priced as the MNIST VAE"),
    "latent_density/beta": (lambda c: [("MNIST MLP VAE", _n(c.betas) * c.n_seeds * c.n_steps)],
                            "one VAE per beta and seed"),
}


def measure(name: str, device: torch.device, seconds: float, image_batch: int) -> Tuple[float, float]:
    """Seconds per step at the paper's batch (scaled from ``image_batch`` for CIFAR-10) and peak MB."""
    build, batch, is_image = FAMILIES[name]
    timed_batch = min(image_batch, batch) if is_image and device.type == "cpu" else batch
    torch.manual_seed(0)
    step = build(device, timed_batch)
    step()  # warm-up: allocations, first-call overheads
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    # On the CPU, the process's CPU time (one thread): other programs on a shared machine
    # stretch the wall-clock time, not the work. On a GPU, the wall clock after a synchronise.
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    n, start = 0, clock()
    while n < 300 and (n < 1 or clock() - start < seconds):
        step()
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (clock() - start) / n
    memory = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    return per_step * batch / timed_batch, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="time budget per family (default 6)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: one core)")
    parser.add_argument("--image-batch", type=int, default=8, help="CPU batch of the CIFAR-10 families (default 8)")
    parser.add_argument(
        "--gpu-factor", type=float, default=1000.0, help="GPU / one CPU core, arithmetic (default 1000)"
    )
    parser.add_argument("--gpu-floor-ms", type=float, default=3.0, help="least GPU time per step, ms (default 3)")
    parser.add_argument("--quick", action="store_true", help="1 second per family")
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # CPU time is the work of these threads
    device = torch.device(args.device)
    seconds = 1.0 if args.quick else args.seconds
    on_gpu = device.type == "cuda"

    per_step: Dict[str, float] = {}
    print(f"{'family':<20}{'s/step measured':>16}{'GPU s/step':>12}{'GPU steps/s':>12}{'peak MB':>9}")
    print(f"(measured on {'the GPU' if on_gpu else 'one CPU core, in CPU time, at the paper batch'})")
    for name in FAMILIES:
        measured, memory = measure(name, device, seconds, args.image_batch)
        gpu = measured if on_gpu else max(measured / args.gpu_factor, args.gpu_floor_ms / 1000)
        per_step[name] = gpu
        shown = f"{memory:>9.0f}" if on_gpu else f"{'-':>9}"
        print(f"{name:<20}{measured:>16.4f}{gpu:>12.5f}{1 / gpu:>12.1f}{shown}", flush=True)

    known = experiments()
    rows: List[Tuple[str, float, str]] = []
    for experiment_id, (loops, note) in PLAN.items():
        cfg = known[experiment_id].config.for_scale("paper")
        seconds_total = sum(per_step[family] * steps for family, steps in loops(cfg))
        families = sorted({family for family, steps in loops(cfg) if steps})
        rows.append((experiment_id, seconds_total / 3600, ", ".join(families) + (f" ({note})" if note else "")))
    unpriced = [e for e in known if e not in PLAN]
    kind = "measured on the GPU" if on_gpu else (
        f"ESTIMATE from one CPU core x {args.gpu_factor:g}, at least {args.gpu_floor_ms:g} ms/step")
    print(f"\nGPU-hours per paper-scale experiment ({kind}):")
    if args.markdown:
        print("\n| experiment | estimated GPU-hours | priced as |\n| --- | ---: | --- |")
        for experiment_id, hours, families in rows:
            print(f"| `{experiment_id}` | {hours:.{1 if hours >= 1 else 2}f} | {families} |")
    else:
        for experiment_id, hours, families in rows:
            print(f"{experiment_id:<42}{hours:>9.2f} h  {families}")
    print(f"\nNot priced (no measured family fits their models yet): {', '.join(unpriced)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
