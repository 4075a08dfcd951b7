"""Sec. 4.5.2 (paper scale only): M-BGAN on CIFAR-10 against the thesis' Table 4.1.

``symmetric_discriminators/cifar10`` trains the SN-GAN "standard CNN" pair (a DCGAN-style
generator and an equivariant convolutional discriminator with spectral normalisation), scores
the Inception score and FID through :func:`companion.metrics.inception_metrics` when its
optional backend can download its weights, and puts Table 4.1 beside (:data:`PAPER_TABLE_4_1`).
The CPU scales run a small pair on ``digits``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Dict, List, Tuple

import numpy as np
import torch
from torch import nn

import companion
from companion import data, plots
from companion.config import ExperimentConfig
from companion.gan import ConvGenerator
from companion.metrics import inception_metrics
from companion.nets import spectral_normalise
from companion.reproduce import register
from companion.symmetric import SymmetricDiscriminator, bgan_step
from companion.train import adam, minibatches, train_loop

if TYPE_CHECKING:  # only for annotations: importing the module stays cheap
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "PAPER_TABLE_4_1",
    "Cifar10Config",
    "Cifar10Result",
    "SNGANGenerator",
    "cifar10_table",
    "plot_cifar10",
    "run_cifar10",
]

#: Table 4.1 of the thesis (CIFAR-10): model -> (IS mean, IS std, FID).
PAPER_TABLE_4_1 = {
    "WGP (Miyato et al.)": (6.68, 0.06, 40.2),
    "GP (Miyato et al.)": (6.93, 0.08, 37.7),
    "SN (Miyato et al.)": (7.42, 0.08, 29.3),
    "batch discrimination (Salimans et al.)": (7.09, 0.08, 35.0),
    "BGAN": (7.05, 0.06, 36.5),
    "M-BGAN": (7.49, 0.06, 23.7),
}


@dataclass
class Cifar10Config(ExperimentConfig):
    """M-BGAN on CIFAR-10 (needs the download and a GPU; the book does not run it).

    The thesis adapts the SN-GAN "standard CNN" (Miyato et al., 2018) and trains for 400,000
    iterations (generator plus discriminator steps) with Adam(2e-4, 0.5, 0.999), batch
    smoothing gamma in [0.2, 0.5] and 1-5 discriminator steps. This configuration keeps a
    smaller convolutional pair and reports the final losses and a sample grid; Inception
    Score and FID need an Inception network, which the offline book does not ship.
    """

    dataset: str = "cifar10"
    reduction: str = "mbgan"
    gamma: float = 0.5
    latent_dim: int = 128
    batch_size: int = 64
    n_steps: int = 100_000
    n_disc: int = 1
    lr: float = 2e-4
    channels: Tuple[int, ...] = (64, 128, 256)
    seed: int = 0
    # "sngan": SNGANGenerator + spectral norm in D (paper); "small": ConvGenerator (smoke/book)
    architecture: str = "sngan"
    spectral_norm: bool = True  # Table 4.1 compares with "the same network" under SN; set False for the other reading
    n_inception_samples: int = 10_000  # IS/FID samples (0: skip; needs the optional backend)
    SCALES: ClassVar = {
        "smoke": {"dataset": "digits", "n_steps": 5, "channels": (8, 16), "latent_dim": 16, "batch_size": 16,
                  "architecture": "small", "spectral_norm": False, "n_inception_samples": 0},
        "book": {"dataset": "digits", "n_steps": 300, "channels": (16, 32), "latent_dim": 32, "batch_size": 32,
                 "architecture": "small", "spectral_norm": False, "n_inception_samples": 0},
    }


class SNGANGenerator(nn.Module):
    """The non-residual generator of SN-GAN's "standard CNN" (Miyato et al., 2018, Table 3 (a)).

    ``z -> linear -> (widths[0], 4, 4)``, then one 4x4 transposed convolution of stride 2 with
    batch norm and ReLU per further width (each doubles the size), then a 3x3 convolution to
    ``C`` channels. The output is a sigmoid, not SN-GAN's tanh: the book's images lie in
    [0, 1], and ``sigmoid(2a) = (tanh(a) + 1) / 2`` is the same map rescaled.
    """

    def __init__(self, latent_dim: int = 128, out_shape: Tuple[int, int, int] = (3, 32, 32),
                 widths: Tuple[int, ...] = (512, 256, 128, 64)) -> None:
        super().__init__()
        c, h, w = out_shape
        size = 4 * 2 ** (len(widths) - 1)
        if (h, w) != (size, size):
            raise ValueError(f"widths {widths} make {size}x{size} images; out_shape is {out_shape}")
        self.latent_dim, self.widths = latent_dim, tuple(widths)
        self.linear = nn.Linear(latent_dim, widths[0] * 16)
        layers: List[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers += [nn.Conv2d(widths[-1], c, 3, padding=1), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.body(self.linear(z).view(z.shape[0], self.widths[0], 4, 4))


@dataclass
class Cifar10Result:
    """What :func:`run_cifar10` returns.

    ``samples``: 64 generator samples, shape ``(64, C, H, W)`` in [0, 1]. ``metrics``: ``d_loss_last`` and
    ``g_loss_last``, the means of the last 10 recorded losses (recorded every 10 steps), and, when
    ``n_inception_samples > 0``, ``inception_available`` (1.0 or 0.0) with ``IS``, ``IS_std`` and ``FID`` when the
    backend could score them. ``notes``: why IS/FID are missing (key ``"inception"``).
    """

    samples: np.ndarray
    metrics: Dict[str, float] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)  # e.g. why IS/FID are missing


@register("symmetric_discriminators/cifar10", config=Cifar10Config, plot=lambda r: plot_cifar10(r),
          description="Sec. 4.5.2: M-BGAN on CIFAR-10 (paper scale; digits at smaller scales)")
def run_cifar10(cfg: Cifar10Config) -> Cifar10Result:
    """Train the ``cfg.architecture`` generator against a batch discriminator (``cfg.reduction``, M-BGAN by default).

    The pair is trained on ``cfg.dataset`` with :func:`companion.symmetric.bgan_step`. Draws 64 samples, and
    scores IS/FID on ``cfg.n_inception_samples`` samples against as many real images when that is positive; a
    missing backend or missing weights is recorded in ``notes`` instead of raising.
    """
    dev = companion.device()
    companion.seed_everything(cfg.seed)
    images = data.load(cfg.dataset).to(dev)
    shape = tuple(images.shape[1:])
    if cfg.architecture == "sngan":
        gen = SNGANGenerator(cfg.latent_dim, shape).to(dev)
    elif cfg.architecture == "small":
        gen = ConvGenerator(cfg.latent_dim, shape, channels=tuple(reversed(cfg.channels))).to(dev)
    else:
        raise ValueError(f"architecture must be 'sngan' or 'small'; got {cfg.architecture!r}")
    disc = SymmetricDiscriminator(shape, cfg.channels, reduction=cfg.reduction, activation="leaky_relu").to(dev)
    if cfg.spectral_norm:
        # in an EquivariantConv2d both the own and the mixing convolutions are normalised; with the B/(B+1), 1/(B+1)
        # weights, which sum to one, the layer stays 1-Lipschitz in each image's own channel map plus the set mean
        spectral_normalise(disc)
    g_opt = adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    d_opt = adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    batches = minibatches(images, cfg.batch_size)

    def step(i: int) -> Dict[str, float]:
        return bgan_step(gen, disc, [next(batches) for _ in range(cfg.n_disc)], cfg.latent_dim, d_opt, g_opt,
                         gamma=cfg.gamma)

    history = train_loop(step, cfg.n_steps, desc="M-BGAN", log_every=10,
                         state={"gen": gen, "disc": disc, "g_opt": g_opt, "d_opt": d_opt, "batches": batches})
    gen.eval()
    with torch.no_grad():
        samples = gen(torch.randn(64, cfg.latent_dim, device=dev)).cpu().numpy()
    metrics = {"d_loss_last": history.last("d_loss", 10), "g_loss_last": history.last("g_loss", 10)}
    notes: Dict[str, str] = {}
    if cfg.n_inception_samples > 0:
        with torch.no_grad():
            fake = torch.cat([gen(torch.randn(min(1000, cfg.n_inception_samples - i), cfg.latent_dim, device=dev)).cpu()
                              for i in range(0, cfg.n_inception_samples, 1000)])
        real = images[: cfg.n_inception_samples].cpu()
        if fake.shape[1] == 1:  # grey images: Inception wants RGB
            fake, real = fake.repeat(1, 3, 1, 1), real.repeat(1, 3, 1, 1)
        try:
            scores = inception_metrics(fake, real)
            metrics.update({"IS": scores["inception_score"], "IS_std": scores["inception_score_std"],
                            "FID": scores["fid"], "inception_available": 1.0})
        except RuntimeError as error:  # no backend or no weights (offline): say why, keep the rest
            metrics["inception_available"] = 0.0
            notes["inception"] = f"IS/FID unavailable: {error}"
    return Cifar10Result(samples, metrics, notes)


def cifar10_table(result: Cifar10Result) -> pd.DataFrame:
    """Table 4.1 of the thesis with our run beside it (IS/FID when they could be computed), a DataFrame."""
    import pandas as pd

    rows = [{"model": name, "IS": f"{m:.2f} ± {s:.2f}", "FID": fid, "source": "thesis, Table 4.1"}
            for name, (m, s, fid) in PAPER_TABLE_4_1.items()]
    m = result.metrics
    if "IS" in m:
        rows.append({"model": "ours", "IS": f"{m['IS']:.2f} ± {m['IS_std']:.2f}", "FID": round(m["FID"], 1),
                     "source": "this run"})
    else:
        rows.append({"model": "ours", "IS": "n/a", "FID": "n/a",
                     "source": result.notes.get("inception", "IS/FID not computed at this scale")})
    return pd.DataFrame(rows).set_index("model")


def plot_cifar10(result: Cifar10Result) -> Figure:
    """The 64 samples of ``result`` as an 8x8 grid (:func:`companion.plots.image_grid`)."""
    return plots.image_grid(result.samples, nrow=8)
