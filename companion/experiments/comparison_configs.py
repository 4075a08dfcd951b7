"""The settings of the comparison chapter's experiments: the budget every model shares
(:class:`ComparisonConfig`) and the three experiments' own (:class:`ImagesConfig`,
:class:`PatchesConfig`, :class:`ModeCoverageConfig`), with their ``smoke`` and ``paper`` scales.
:mod:`companion.experiments.comparison` runs them; the model builders read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

from companion.checks import check_adam_betas
from companion.config import ExperimentConfig
from companion.experiments.comparison_data import MODELS, dataset_spec

__all__ = ["ComparisonConfig", "ImagesConfig", "ModeCoverageConfig", "PatchesConfig"]


@dataclass
class ComparisonConfig(ExperimentConfig):
    """The budget shared by every model (book-scale defaults) and the evaluation settings."""

    datasets: Tuple[str, ...] = ("digits", "faces")
    models: Tuple[str, ...] = MODELS
    n_steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    latent_dim: int = 8
    hidden: int = 128
    gmm_components: int = 10
    lde_components: int = 10
    lde_channels: int = 16
    lde_steps: int = 200
    conv_channels: Tuple[int, ...] = (16, 32)
    pixelcnn_channels: int = 16
    pixelcnn_blocks: int = 2
    flow_blocks: int = 4  # Real-NVP's coupling layers (per mask type for images)
    flow_hidden: int = 16  # channels of its convolutional couplings (images); vectors use MLPs of width `hidden`
    flow_layers: int = 1  # hidden layers of each coupling network
    ade_flow_blocks: int = 2
    ade_flow_hidden: int = 16
    bgan_gamma: float = 0.5
    # the GANs' recipe (preliminaries/gan_digits, the one that meets the book's bar on digits), with Adam's betas
    # (0, 0.9) and spectral normalisation of the discriminators (companion.nets.spectral_normalise): the changes
    # of the chapter's sweeps that brought the GANs of images and patches to their bar (BGAN on digits among them;
    # BGAN on the patches, with pure batches, in 9 of 10 seeds); every seed of a GAN trains at once
    # (comparison_gans.fit_gans)
    gan_latent_dim: int = 16
    gan_hidden: int = 48
    gan_disc_hidden: int = 128
    gan_layers: int = 1
    gan_steps: int = 1500
    gan_lr: float = 1e-3
    # of images and patches only: the toys' GANs keep the PacGAN recipe of the symmetric chapter
    gan_betas: Tuple[float, float] = (0.0, 0.9)
    gan_spectral_norm: bool = True
    gan_generator: str = "mlp"  # or "conv": companion.gan.ConvGenerator (on patches: an 8x8 map made a patch)
    gan_discriminator: str = "mlp"  # the GAN's pointwise one: or "conv", companion.gan.ConvDiscriminator
    gan_conv_channels: Tuple[int, ...] = (32, 16)  # the conv generator's stages, smallest map first
    gan_disc_conv_channels: Tuple[int, ...] = (16, 32)
    # toys: (dataset, modes a GAN must cover on average over at least gan_bar_seeds seeds), e.g. ring 6 of 8
    gan_bar_modes: Tuple[Tuple[str, int], ...] = ()
    gan_bar_seeds: int = 10
    n_seeds: int = 5  # every comparative claim on at least five seeds (the ring: ten, dataset_seeds)
    dataset_seeds: Tuple[Tuple[str, int], ...] = ()  # (dataset, seeds) where a dataset has more than n_seeds
    iw_samples: int = 10
    n_train: Optional[int] = None  # None: the whole training split
    n_test: Optional[int] = None  # None: the whole test split (and validation split)
    n_samples: int = 1000  # samples per model for Parzen and the Fréchet distance
    n_samples_slow: int = 200  # the same for models that sample pixel by pixel (AGAVE) on big images
    feature_steps: int = 300
    pca_components: int = 16
    n_grid: int = 36
    skip: Tuple[str, ...] = ()  # "dataset/model" pairs left out at this scale for time (reported as skipped)
    seed: int = 0
    FAMILIES: ClassVar[Tuple[str, ...]] = ("images",)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not self.datasets:
            raise ValueError("datasets must name at least one dataset")
        for name in self.datasets:
            spec = dataset_spec(name)
            if spec.family not in self.FAMILIES:
                raise ValueError(f"{type(self).__name__} takes datasets of the families {self.FAMILIES}; "
                                 f"{name!r} is in {spec.family!r}")
        if not self.models:
            raise ValueError("models must name at least one model")
        for name in self.models:
            if name not in MODELS:
                raise ValueError(f"models must be among {MODELS}; got {name!r}")
        for name in ("n_steps", "batch_size", "latent_dim", "hidden", "gmm_components", "lde_components",
                     "lde_channels", "lde_steps", "pixelcnn_channels", "pixelcnn_blocks", "flow_blocks",
                     "flow_hidden", "flow_layers", "ade_flow_blocks", "ade_flow_hidden", "iw_samples", "n_samples",
                     "gan_latent_dim", "gan_hidden", "gan_disc_hidden", "gan_layers", "gan_steps", "n_seeds",
                     "n_samples_slow", "feature_steps", "pca_components", "n_grid", "gan_bar_seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        for entry in self.dataset_seeds:
            if (not isinstance(entry, tuple) or len(entry) != 2 or entry[0] not in self.datasets
                    or isinstance(entry[1], bool) or not isinstance(entry[1], int) or entry[1] < 1):
                raise ValueError(f"dataset_seeds entries are (dataset of datasets, positive int); got {entry!r}")
        for entry in self.skip:
            if not isinstance(entry, str) or entry.count("/") != 1 or entry.split("/")[1] not in MODELS:
                raise ValueError(f"skip entries look like 'dataset/model' with a model of {MODELS}; got {entry!r}")
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
                raise ValueError(f"{name} must be None or an int >= 2; got {value!r}")
        for name in ("lr", "gan_lr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be a positive number; got {value!r}")
        for name in ("gan_generator", "gan_discriminator"):
            if getattr(self, name) not in ("mlp", "conv"):
                raise ValueError(f"{name} must be 'mlp' or 'conv'; got {getattr(self, name)!r}")
        for name in ("gan_conv_channels", "gan_disc_conv_channels"):
            value = getattr(self, name)
            if not value or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in value):
                raise ValueError(f"{name} must be a non-empty tuple of positive ints; got {value!r}")
        if not (isinstance(self.bgan_gamma, (int, float)) and 0 <= self.bgan_gamma <= 0.5):
            raise ValueError(f"bgan_gamma must lie in [0, 0.5]; got {self.bgan_gamma!r}")
        check_adam_betas(self.gan_betas, "gan_betas")
        if not isinstance(self.gan_spectral_norm, bool):
            raise ValueError(f"gan_spectral_norm must be a bool; got {self.gan_spectral_norm!r}")


_SMOKE = {"n_steps": 6, "lde_steps": 4, "hidden": 16, "latent_dim": 2, "gmm_components": 2, "lde_components": 2,
          "lde_channels": 4, "conv_channels": (4,), "pixelcnn_channels": 4, "pixelcnn_blocks": 1, "flow_blocks": 2,
          "flow_hidden": 4, "ade_flow_blocks": 1, "ade_flow_hidden": 4, "iw_samples": 2, "n_samples": 100,
          "n_samples_slow": 20, "feature_steps": 20, "pca_components": 4, "n_grid": 16, "gan_latent_dim": 2,
          "gan_hidden": 16, "gan_disc_hidden": 16, "gan_steps": 6, "n_seeds": 2}


@dataclass
class ImagesConfig(ComparisonConfig):
    """``comparison/images``: digits and faces (book), MNIST and CIFAR-10 (paper, downloaded).

    At book scale AGAVE is skipped on faces: its PixelCNN trains and samples 625 pixels one
    after the other, minutes on a CPU for this dataset alone.
    """

    skip: Tuple[str, ...] = ("faces/agave",)
    SCALES: ClassVar = {
        "smoke": dict(_SMOKE, datasets=("digits",), n_test=40),
        # paper: the real benchmarks (downloaded); wider networks, 10,000 samples for Parzen and Fréchet
        "paper": {"datasets": ("mnist", "cifar10"), "n_steps": 50_000, "batch_size": 64, "latent_dim": 64,
                  "hidden": 1024, "skip": (), "gmm_components": 30, "lde_components": 30, "lde_channels": 64,
                  "lde_steps": 20_000, "conv_channels": (64, 128, 256), "pixelcnn_channels": 128,
                  "pixelcnn_blocks": 10, "flow_blocks": 8, "flow_hidden": 64, "flow_layers": 2, "ade_flow_blocks": 3,
                  "ade_flow_hidden": 64, "iw_samples": 100, "n_samples": 10_000, "n_samples_slow": 10_000,
                  "feature_steps": 5000, "pca_components": 64, "gan_latent_dim": 64, "gan_hidden": 1024,
                  "gan_disc_hidden": 1024, "gan_layers": 2, "gan_steps": 50_000, "n_seeds": 5},
    }


@dataclass
class PatchesConfig(ComparisonConfig):
    """``comparison/patches``: 63-dimensional natural-image patches (BSDS300 itself at paper scale)."""

    datasets: Tuple[str, ...] = ("patches",)
    # the shared MLP settings, trained as the images' GANs (1,500 steps, Adam's betas (0, 0.9), spectral
    # normalisation): the setting of the chapter's sweeps at which the GAN meets the patches bar in every seed
    gan_latent_dim: int = 8
    gan_hidden: int = 128
    gan_layers: int = 2
    # BGAN and M-BGAN judge pure batches here (the thesis: gamma 0.5): with that recipe the mixed ones met the
    # patches bar in 1 of 5 seeds each; pure ones met it in every one of seeds 0-9 for M-BGAN and in 9 of 10 for
    # BGAN (seed 6 at 2.02 times the VAE's; PATCHES_BGAN_GAMMA_RECORD), and trained as replicas BGAN again
    # missed it in one seed of ten (seed 1, the chapter's replica check)
    bgan_gamma: float = 0.0
    n_train: Optional[int] = 20_000
    n_test: Optional[int] = 2000
    FAMILIES: ClassVar[Tuple[str, ...]] = ("vectors",)
    SCALES: ClassVar = {
        "smoke": dict(_SMOKE, n_train=1000, n_test=100),
        "paper": {"datasets": ("bsds300",), "n_train": 1_000_000, "n_test": 250_000, "n_steps": 100_000,
                  "batch_size": 256, "latent_dim": 32, "hidden": 512, "gmm_components": 30, "lde_components": 30,
                  "lde_channels": 64, "lde_steps": 20_000, "flow_blocks": 10, "flow_layers": 2,
                  "ade_flow_blocks": 4, "ade_flow_hidden": 128, "iw_samples": 100, "n_samples": 10_000,
                  "pca_components": 32, "gan_latent_dim": 32, "gan_hidden": 512, "gan_disc_hidden": 512,
                  "gan_steps": 100_000, "n_seeds": 5},
    }


@dataclass
class ModeCoverageConfig(ComparisonConfig):
    """``comparison/mode_coverage``: the 2-D ring and grid, 2,500 samples per model (VEEGAN/PacGAN)."""

    datasets: Tuple[str, ...] = ("ring", "grid")
    latent_dim: int = 2
    hidden: int = 64
    n_steps: int = 500  # 2-D steps are cheap: more of them than for the images, the same for every model
    # the GANs: the PacGAN recipe of symmetric_discriminators/mode_coverage at book scale, trained as replicas
    # (comparison_gans.fit_toy_gans); that chapter's GAN meets PacGAN's ring level with it
    gan_latent_dim: int = 2
    gan_hidden: int = 64  # the symmetric chapter's book-scale widths and steps
    gan_disc_hidden: int = 32
    gan_steps: int = 1500
    gan_batch_size: int = 100
    # that chapter's rate (half its GAN sweep's 1e-3, at which BGAN missed the ring's bar; at 5e-4 it meets it, as
    # the GAN and M-BGAN do: RING_BGAN_SWEEP_RECORD)
    gan_lr: float = 5e-4
    # both players' learning rates fall linearly to zero over gan_steps, as in that chapter at book scale (this
    # chapter's recorded try, RING_GAN_SEED_RECORD: at a constant rate the worst of 10 seeds covers 4-5 modes)
    gan_lr_decay: bool = True
    # the bar, as the symmetric chapter states it: 6 of 8 ring modes on average over at least 10 seeds
    # (PacGAN's GAN: 6.3 of 8); on the grid, 17 of 25: PacGAN's GAN (17.3), which the same recipe reaches when
    # trained until its coverage stops rising (the symmetric chapter's recorded lengths: from 6,000 steps on)
    gan_bar_modes: Tuple[Tuple[str, int], ...] = (("ring", 6), ("grid", 17))
    gan_bar_seeds: int = 10
    # every model, both toys: the bar's seeds, which also carry the verdicts (a toy run costs seconds)
    dataset_seeds: Tuple[Tuple[str, int], ...] = (("ring", 10), ("grid", 10))
    # the grid's GANs, left out at book scale: 1,500 steps leave them below the grid's bar (the build of
    # 2026-12-06 19:20: 14.4, 9.0 and 14.3 of 25 modes on average), so they were ranked against nothing here;
    # they are the very runs of the symmetric chapter's mode coverage (the same function, recipe and seeds),
    # which shows them, and their minute of this chapter's time goes unspent. The paper scale trains them.
    skip: Tuple[str, ...] = ("grid/gan", "grid/bgan", "grid/m-bgan")
    n_test: Optional[int] = 1000
    n_samples: int = 2500
    FAMILIES: ClassVar[Tuple[str, ...]] = ("toys",)
    SCALES: ClassVar = {
        "smoke": dict(_SMOKE, datasets=("ring",), n_test=100, n_samples=200, dataset_seeds=(("ring", 3),)),
        "paper": {"n_steps": 20_000, "hidden": 256, "n_test": 2500, "iw_samples": 100, "lde_steps": 5000,
                  "gan_steps": 20_000, "gan_hidden": 400, "gan_disc_hidden": 200, "gan_lr": 1e-4, "n_seeds": 10,
                  "gan_lr_decay": False, "skip": ()},  # PacGAN's published setting: a constant rate
    }
