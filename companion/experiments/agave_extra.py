"""The AGAVE chapter's samples (thesis ch. 3), from the trained models of :mod:`.agave_models`.

* ``agave/prior_samples`` — Fig. 3.5: ``f(z)`` for ``z`` from the prior, each with several
  PixelCNN samples.
* ``agave/interpolations`` — Fig. 3.6: two test images are encoded, their posterior means
  interpolated; each point is decoded to ``f(z)`` and completed by the PixelCNN. The same
  path through the plain PixelCNN-decoder VAE (experiment 1's, which ignores ``z``) is the
  contrast.
* ``agave/samples`` — Fig. 3.2: random samples of an IAF-VAE, the PixelCNN alone and AGAVE
  beside real images, with the IAF-VAE's quality bar (its bound against the plain VAE's, and
  digit-class coverage of its samples) and the class coverage and Fréchet distance, in the
  digits classifier's features, of every model's samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Tuple

import numpy as np
import torch

import companion
from companion.experiments.agave_models import (
    AgaveConfig,
    agave_job,
    agave_scales,
    bpd,
    mean_log_prob,
    samples_given_z,
    show_images,
    test_split,
    train_in_parallel,
    trained,
    trained_agave,
    trained_pixelcnn,
    trained_vae,
    upsample,
)
from companion.reproduce import register

# ========================================================================================
# Fig. 3.5: f(z) from the prior with several PixelCNN samples each (Fig. 3.5)
# ========================================================================================


@dataclass
class PriorSamplesConfig(AgaveConfig):
    """``n_z`` latents from the prior, ``n_per_z`` PixelCNN samples given each ``f(z)``."""

    n_z: int = 8
    n_per_z: int = 8
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = agave_scales(smoke={"n_z": 2, "n_per_z": 3},
                                                               paper={"n_z": 8, "n_per_z": 10})


@dataclass
class PriorSamplesResult:
    f: torch.Tensor
    samples: torch.Tensor  # (n_z, n_per_z, C, H, W)
    metrics: Dict[str, float] = field(default_factory=dict)


def plot_prior_samples(result: PriorSamplesResult):
    rows = torch.cat([upsample(result.f, result.samples.shape[2:])[:, None], result.samples], dim=1)
    from companion.plots import image_grid

    fig = image_grid(rows.flatten(0, 1).float().clamp(0, 1), nrow=rows.shape[1],
                     title="Fig. 3.5: f(z), z ~ p(z) (first column), then PixelCNN samples given f(z)")
    return fig


@register("agave/prior_samples", config=PriorSamplesConfig, plot=plot_prior_samples,
          description="Fig. 3.5: f(z) from the prior with several PixelCNN samples each")
def run_prior_samples(cfg: PriorSamplesConfig) -> PriorSamplesResult:
    model, _ = trained_agave(cfg)
    companion.seed_everything(cfg.seed + 1)
    f, x = samples_given_z(model, cfg.n_z, cfg.n_per_z)
    # Do samples resemble their own f(z) more than the other rows' f(z)? Mean absolute
    # difference in grey levels, own row against the average over other rows.
    f_up = upsample(f, x.shape[2:])
    dist = (x[:, :, None] - f_up[None, None]).abs().mean(dim=(-3, -2, -1)) * (cfg.n_levels - 1)  # (row, sample, f)
    own = dist.diagonal(dim1=0, dim2=2).mean()
    others = (dist.sum(dim=2) - dist.diagonal(dim1=0, dim2=2).T).mean() / max(cfg.n_z - 1, 1)
    metrics = {"distance_to_own_f": float(own), "distance_to_other_f": float(others)}
    return PriorSamplesResult(f.cpu(), x.cpu(), metrics)



# ========================================================================================
# Fig. 3.6: interpolations between latent variables
# ========================================================================================


@dataclass
class InterpolationsConfig(AgaveConfig):
    """``n_pairs`` pairs of test images, ``n_points`` points on each path (ends included)."""

    n_pairs: int = 6
    n_points: int = 8
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = agave_scales(smoke={"n_pairs": 2, "n_points": 3},
                                                               paper={"n_pairs": 8, "n_points": 10})


@dataclass
class InterpolationsResult:
    ends: torch.Tensor  # (n_pairs, 2, C, H, W): the two test images of each path
    f: torch.Tensor  # (n_pairs, n_points, C, H, W): f(z_t) as images in [0, 1]
    samples: torch.Tensor  # (n_pairs, n_points, C, H, W): AGAVE's PixelCNN given f(z_t)
    samples_naive: torch.Tensor  # the same paths through the plain PixelCNN-decoder VAE
    metrics: Dict[str, float] = field(default_factory=dict)


def _interpolate(model, ends: torch.Tensor, n_points: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``f(z_t)`` and one PixelCNN draw given it, for ``z_t`` on the segment between the ends' posterior means."""
    n_pairs = ends.shape[0]
    with torch.no_grad():
        mu, _ = model.encode(ends.flatten(0, 1))
        mu = mu.view(n_pairs, 2, -1)
        t = torch.linspace(0, 1, n_points, device=mu.device).view(1, -1, 1)
        z = (1 - t) * mu[:, :1] + t * mu[:, 1:]  # (n_pairs, n_points, latent_dim)
        x, f = model.sample(n_pairs * n_points, z=z.flatten(0, 1), return_auxiliary=True)
    shape = (n_pairs, n_points) + tuple(x.shape[1:])
    return upsample(f, tuple(x.shape[1:])).view(shape), x.view(shape)


def endpoint_agreement(samples: torch.Tensor, ends: torch.Tensor) -> float:
    """The share of the paths' end samples nearer (mean absolute difference) to their own end image.

    ``samples`` ``(n_pairs, n_points, ...)``, ``ends`` ``(n_pairs, 2, ...)``: the first sample of
    a path should be nearer to the first image than to the second, the last nearer to the
    second. About 0.5 when the samples ignore ``z``, 1 when they follow it.
    """
    if samples.dim() < 3 or ends.shape[:2] != (samples.shape[0], 2) or ends.shape[2:] != samples.shape[2:]:
        raise ValueError(f"samples (n_pairs, n_points, ...) and ends (n_pairs, 2, ...) do not match: "
                         f"{tuple(samples.shape)} and {tuple(ends.shape)}")
    dist = (samples[:, [0, -1], None] - ends[:, None]).abs().flatten(3).mean(dim=3)  # (pair, first/last, end)
    right = torch.cat([dist[:, 0, 0] < dist[:, 0, 1], dist[:, 1, 1] < dist[:, 1, 0]])
    return float(right.float().mean())


def plot_interpolations(result: InterpolationsResult):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 0.8 * result.f.shape[0] * 2 + 1.2))
    rows = torch.stack([result.f, result.samples], dim=1).flatten(0, 2)  # per pair: f row, then sample row
    show_images(axes[0], rows, result.f.shape[1], "AGAVE: f(z_t) (odd rows), PixelCNN given it (even rows)")
    show_images(axes[1], result.samples_naive.flatten(0, 1), result.f.shape[1],
                "no auxiliary loss: PixelCNN along the same paths")
    fig.tight_layout()
    return fig


@register("agave/interpolations", config=InterpolationsConfig, plot=plot_interpolations,
          description="Fig. 3.6: interpolations between the latents of two test images")
def run_interpolations(cfg: InterpolationsConfig) -> InterpolationsResult:
    x, _ = test_split(cfg)
    if 2 * cfg.n_pairs > x.shape[0]:
        raise ValueError(f"n_pairs={cfg.n_pairs} needs {2 * cfg.n_pairs} test images; n_test is {x.shape[0]}")
    ends = x[: 2 * cfg.n_pairs].view(cfg.n_pairs, 2, *x.shape[1:])
    train_in_parallel([agave_job(cfg), agave_job(cfg, aux_weight=0.0, lam=1.0)])
    agave, _ = trained_agave(cfg)
    naive, _ = trained_agave(cfg, aux_weight=0.0, lam=1.0)  # experiment 1's plain hybrid (cached)
    companion.seed_everything(cfg.seed + 2)
    f, samples = _interpolate(agave, ends, cfg.n_points)
    _, samples_naive = _interpolate(naive, ends, cfg.n_points)
    metrics = {"agave_endpoint_agreement": endpoint_agreement(samples, ends),
               "naive_endpoint_agreement": endpoint_agreement(samples_naive, ends),
               "n_paths": float(cfg.n_pairs)}
    return InterpolationsResult(ends.cpu(), f.cpu(), samples.cpu(), samples_naive.cpu(), metrics)


# ========================================================================================
# Fig. 3.2: samples of an IAF-VAE, the PixelCNN alone and AGAVE, beside real images
# ========================================================================================


@dataclass
class SamplesConfig(AgaveConfig):
    """The IAF-VAE's posterior (``n_flows`` steps) and the sample counts of the comparison."""

    n_flows: int = 2
    flow_hidden: int = 64
    context_dim: int = 16
    #: Samples per model for the class coverage and the Fréchet distance (the bar's count).
    n_samples: int = 1000
    #: Samples per model (and real images) entering the Fréchet distance: the same count for
    #: every row, the data row included, since the distance's bias depends on it.
    n_frechet: int = 250
    classifier_steps: int = 400
    n_show: int = 16
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {**AgaveConfig.SCALES["smoke"], "n_flows": 1, "flow_hidden": 8, "context_dim": 4,
                  "n_samples": 60, "n_frechet": 30, "classifier_steps": 20, "n_show": 4},
        "paper": {**AgaveConfig.SCALES["paper"], "n_flows": 4, "flow_hidden": 512, "context_dim": 64,
                  "n_samples": 10_000, "n_frechet": 10_000, "classifier_steps": 5000, "n_show": 36},
    }


@dataclass
class SamplesResult:
    names: List[str]
    images: Dict[str, torch.Tensor]  # name -> (n_show, C, H, W) in [0, 1]
    f_agave: torch.Tensor  # AGAVE's f(z) of its shown samples
    metrics: Dict[str, float] = field(default_factory=dict)


def _iaf_overrides(cfg: SamplesConfig) -> Dict[str, Any]:
    return {"n_flows": cfg.n_flows, "flow_hidden": cfg.flow_hidden, "context_dim": cfg.context_dim}


def trained_iaf_vae(cfg: SamplesConfig):
    """The IAF-VAE (the shared VAE's networks with an IAF posterior), trained like the VAE and cached."""
    return trained("iaf_vae", cfg, _iaf_overrides(cfg), cfg.n_steps)


def class_shares(classifier: torch.nn.Module, images01: torch.Tensor, n_classes: int = 10) -> np.ndarray:
    """The share of ``images01`` (values in [0, 1]) the classifier assigns to each class."""
    with torch.no_grad():
        labels = classifier(images01).argmax(dim=1)
    return np.bincount(labels.cpu().numpy(), minlength=n_classes) / max(len(labels), 1)


def plot_samples(result: SamplesResult):
    import matplotlib.pyplot as plt

    names = result.names
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(2.6 * (len(names) + 1), 3.2))
    nrow = int(np.ceil(np.sqrt(result.f_agave.shape[0])))
    for ax, name in zip(axes, names[:-1]):
        show_images(ax, result.images[name], nrow, name)
    show_images(axes[-2], result.f_agave, nrow, "AGAVE: f(z)")
    show_images(axes[-1], result.images[names[-1]], nrow, "AGAVE: PixelCNN given f(z)")
    fig.suptitle("Fig. 3.2 at this scale: random samples")
    fig.tight_layout()
    return fig


@register("agave/samples", config=SamplesConfig, plot=plot_samples,
          description="Fig. 3.2: samples of an IAF-VAE, the PixelCNN alone and AGAVE beside real images")
def run_samples(cfg: SamplesConfig) -> SamplesResult:
    from companion.data import load
    from companion.experiments.adaptive_density import train_feature_net
    from companion.metrics import frechet_distance

    x_test, n_dims = test_split(cfg)
    top = cfg.n_levels - 1
    train_in_parallel([("iaf_vae", cfg, _iaf_overrides(cfg)), ("vae", cfg, {}), ("pixelcnn", cfg, {}), agave_job(cfg)])
    iaf, _ = trained_iaf_vae(cfg)
    vae, _ = trained_vae(cfg)
    pixelcnn, _ = trained_pixelcnn(cfg)
    agave, _ = trained_agave(cfg)
    metrics: Dict[str, float] = {}
    companion.seed_everything(cfg.seed)
    for name, model in (("iaf_vae", iaf), ("vae", vae)):
        metrics[f"{name}_iw_bpd"] = bpd(-mean_log_prob(lambda b: model.log_prob(b, n_samples=cfg.iw_samples),
                                                        x_test), n_dims)
    classifier, accuracy = train_feature_net(cfg.classifier_steps, seed=cfg.seed, device=x_test.device)
    metrics["classifier_accuracy"] = accuracy
    companion.seed_everything(cfg.seed + 3)
    with torch.no_grad():
        draws = {
            "IAF-VAE": iaf.likelihood_sample(iaf.decode(torch.randn(cfg.n_samples, cfg.latent_dim,
                                                                    device=x_test.device))),
            "VAE": vae.likelihood_sample(vae.decode(torch.randn(cfg.n_samples, cfg.latent_dim,
                                                                device=x_test.device))),
            "PixelCNN alone": pixelcnn.sample(cfg.n_samples),
        }
        draws["AGAVE"], f_agave = agave.sample(cfg.n_samples, return_auxiliary=True)
    reference = load(cfg.dataset, "valid").to(x_test.device)[: cfg.n_frechet]
    reference = torch.round(reference * top) / top  # the levels the models see
    with torch.no_grad():
        ref_features = classifier.features(reference)
        for name, images in {"real (test)": x_test, **draws}.items():
            key = name.split(" ")[0].lower().replace("-", "_")
            shares = class_shares(classifier, images)
            metrics[f"{key}_min_class_share"] = float(shares.min())
            feats = classifier.features(images[: cfg.n_frechet])
            metrics[f"{key}_frechet"] = frechet_distance(feats, ref_features)
    # The IAF-VAE's bar: at least as good a bound as the plain VAE with the same networks and
    # steps, and samples covering every digit class (each >= 3% per the classifier).
    metrics["iaf_vae_meets_bar"] = float(metrics["iaf_vae_iw_bpd"] <= metrics["vae_iw_bpd"]
                                         and metrics["iaf_vae_min_class_share"] >= 0.03)
    names = ["real (test)", "IAF-VAE", "PixelCNN alone", "AGAVE"]
    n = cfg.n_show
    images = {"real (test)": x_test[:n].cpu(), **{k: v[:n].cpu() for k, v in draws.items()}}
    return SamplesResult(names, images, f_agave[:n].cpu(), metrics)
