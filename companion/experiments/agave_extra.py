"""The AGAVE chapter's samples (thesis ch. 3), from the trained models of :mod:`.agave_models`.

* ``agave/prior_samples`` — Fig. 3.5: ``f(z)`` for ``z`` from the prior, each with several
  PixelCNN samples.
* ``agave/interpolations`` — Fig. 3.6: two test images are encoded, their posterior means
  interpolated; each point is decoded to ``f(z)`` and completed by the PixelCNN. The same
  path through the plain PixelCNN-decoder VAE (experiment 1's, which ignores ``z``) is the
  contrast.
* ``agave/samples`` — Fig. 3.2: random samples of an IAF-VAE, the PixelCNN alone and AGAVE
  beside real images, over several training seeds per model: each model's test bound, the
  class coverage and Fréchet distance of its samples in the digits classifier's features, the
  digits bar of each compared model seed by seed, and the verdicts of Fig. 3.2's and
  Table 3.1's orderings (:mod:`companion.evidence`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Tuple

import numpy as np
import torch

import companion
from companion.data import load
from companion.evidence import bootstrap_difference, summarize, verdict
from companion.experiments.agave_models import (
    AgaveConfig,
    agave_job,
    agave_scales,
    bpd,
    check_seeds,
    iw_bpd,
    mean_log_prob,
    samples_given_z,
    seeded,
    show_images,
    test_split,
    train_in_parallel,
    trained,
    trained_agave,
    trained_pixelcnn,
    trained_vae,
    upsample,
)
from companion.experiments.feature_classifier import train_feature_net
from companion.metrics import frechet_distance
from companion.plots import image_grid
from companion.reproduce import register

if TYPE_CHECKING:  # for the annotations only: importing the module stays cheap
    from matplotlib.figure import Figure

    from companion.agave import AGAVE
    from companion.iaf_vae import IAFVAE
    from companion.train import History

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
    """What :func:`run_prior_samples` returns (on the CPU): ``f(z)`` of ``n_z`` latents from the prior, one image
    each, and ``n_per_z`` PixelCNN samples given each; the metrics are the samples' mean absolute distance in grey
    levels to their own ``f(z)`` and to the other rows' ``f(z)``."""

    f: torch.Tensor
    samples: torch.Tensor  # (n_z, n_per_z, C, H, W)
    metrics: Dict[str, float] = field(default_factory=dict)


def plot_prior_samples(result: PriorSamplesResult) -> Figure:
    """Fig. 3.5: one row per latent: ``f(z)`` at the size of the samples, then the PixelCNN samples given it."""
    rows = torch.cat([upsample(result.f, result.samples.shape[2:])[:, None], result.samples], dim=1)

    fig = image_grid(rows.flatten(0, 1).float().clamp(0, 1), nrow=rows.shape[1],
                     title="Fig. 3.5: f(z), z ~ p(z) (first column), then PixelCNN samples given f(z)")
    return fig


@register("agave/prior_samples", config=PriorSamplesConfig, plot=plot_prior_samples,
          description="Fig. 3.5: f(z) from the prior with several PixelCNN samples each")
def run_prior_samples(cfg: PriorSamplesConfig) -> PriorSamplesResult:
    """Draw ``cfg.n_z`` latents from the main AGAVE's prior, decode each to ``f(z)`` and draw ``cfg.n_per_z``
    PixelCNN samples given it; measure whether the samples are nearer to their own ``f(z)`` than to the others'."""
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
    """What :func:`run_interpolations` returns (on the CPU): for each pair of test images (``ends``), ``f(z_t)`` and
    one AGAVE PixelCNN sample at ``n_points`` points ``z_t`` of the segment between their posterior means, and the
    same paths through the PixelCNN-decoder VAE without auxiliary loss (``samples_naive``)."""

    ends: torch.Tensor  # (n_pairs, 2, C, H, W): the two test images of each path
    f: torch.Tensor  # (n_pairs, n_points, C, H, W): f(z_t) as images in [0, 1]
    samples: torch.Tensor  # (n_pairs, n_points, C, H, W): AGAVE's PixelCNN given f(z_t)
    samples_naive: torch.Tensor  # the same paths through the plain PixelCNN-decoder VAE
    metrics: Dict[str, float] = field(default_factory=dict)


def _interpolate(model: AGAVE, ends: torch.Tensor, n_points: int) -> Tuple[torch.Tensor, torch.Tensor]:
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


def plot_interpolations(result: InterpolationsResult) -> Figure:
    """Fig. 3.6: for each path, AGAVE's ``f(z_t)`` and the PixelCNN samples given it; beside them, the same paths
    through the model without auxiliary loss."""
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
    """Interpolate between the posterior means of ``cfg.n_pairs`` pairs of test images in the main AGAVE and in the
    PixelCNN-decoder VAE without auxiliary loss; :func:`endpoint_agreement` says whether each model's samples follow
    ``z`` along the paths."""
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

#: The models of Fig. 3.2 by their metric keys, with the names the chapter prints.
SAMPLE_MODELS: Dict[str, str] = {"iaf_vae": "IAF-VAE", "vae": "VAE", "pixelcnn": "PixelCNN alone", "agave": "AGAVE"}
#: The digits quality bar (preliminaries; :func:`companion.metrics.classifier_quality_bar`):
#: every class at least this share of the samples by the digits classifier ...
MIN_CLASS_SHARE = 0.03
#: ... and a Fréchet distance at most this multiple of the plain VAE's (its mean over seeds).
MAX_FRECHET_RATIO = 2.0
#: The comparisons of Fig. 3.2 and Table 3.1, ``(a, b, metric)``: "a is better than b" (lower is better for both).
SAMPLE_COMPARISONS: Tuple[Tuple[str, str, str], ...] = (
    ("agave", "iaf_vae", "frechet"), ("agave", "pixelcnn", "frechet"), ("iaf_vae", "pixelcnn", "frechet"),
    ("iaf_vae", "vae", "bpd"), ("agave", "pixelcnn", "bpd"), ("pixelcnn", "vae", "bpd"), ("agave", "vae", "bpd"),
)


@dataclass
class SamplesConfig(AgaveConfig):
    """The IAF-VAE's posterior (``n_flows`` steps), the sample counts and the training seeds of the comparison."""

    n_flows: int = 2
    flow_hidden: int = 64
    context_dim: int = 16
    #: Samples per model and seed for the class coverage (the bar's count).
    n_samples: int = 1000
    #: Samples per model and seed (and real images) entering the Fréchet distance: the same
    #: count for every row, the data row included, since the distance's bias depends on it.
    n_frechet: int = 250
    classifier_steps: int = 400
    n_show: int = 16
    #: Training seeds of the VAE and the IAF-VAE, which train in seconds.
    vae_seeds: Tuple[int, ...] = (0, 1, 2, 3, 4)
    #: Training seeds of the PixelCNN alone and AGAVE, the chapter's most expensive models;
    #: AGAVE's are those of ``agave/lambda`` at the main lambda (from the cache in the chapter),
    #: so five here cost only the PixelCNN's fits.
    pixel_seeds: Tuple[int, ...] = (0, 1, 2, 3, 4)
    SCALES: ClassVar[Dict[str, Dict[str, Any]]] = {
        "smoke": {**AgaveConfig.SCALES["smoke"], "n_flows": 1, "flow_hidden": 8, "context_dim": 4,
                  "n_samples": 60, "n_frechet": 30, "classifier_steps": 20, "n_show": 4,
                  "vae_seeds": (0, 1), "pixel_seeds": (0, 1)},
        "paper": {**AgaveConfig.SCALES["paper"], "n_flows": 4, "flow_hidden": 512, "context_dim": 64,
                  "n_samples": 10_000, "n_frechet": 10_000, "classifier_steps": 5000, "n_show": 36,
                  "vae_seeds": (0, 1, 2), "pixel_seeds": (0, 1, 2)},
    }


@dataclass
class SamplesResult:
    """What :func:`run_samples` returns: ``images[name]``, ``n_show`` images of the real test split and of each model
    (the first seed's), ``names`` the panels of the figure in order, and ``f_agave``, AGAVE's ``f(z)`` of its shown
    samples (tensors on the CPU)."""

    names: List[str]
    images: Dict[str, torch.Tensor]  # name -> (n_show, C, H, W) in [0, 1], the first seed's models
    f_agave: torch.Tensor  # AGAVE's f(z) of its shown samples
    metrics: Dict[str, Any] = field(default_factory=dict)
    #: runs[model][score]: one value per training seed; model in SAMPLE_MODELS, score
    #: "bpd" (test bound), "frechet" or "min_class_share".
    runs: Dict[str, Dict[str, List[float]]] = field(default_factory=dict)
    #: bars[model]: whether each seed's samples meet the digits bar (IAF-VAE, PixelCNN alone, AGAVE).
    bars: Dict[str, List[bool]] = field(default_factory=dict)


def _iaf_overrides(cfg: SamplesConfig) -> Dict[str, Any]:
    return {"n_flows": cfg.n_flows, "flow_hidden": cfg.flow_hidden, "context_dim": cfg.context_dim}


def trained_iaf_vae(cfg: SamplesConfig) -> Tuple[IAFVAE, History]:
    """The IAF-VAE (the shared VAE's networks with an IAF posterior), trained like the VAE and cached."""
    return trained("iaf_vae", cfg, _iaf_overrides(cfg), cfg.n_steps)


def class_shares(classifier: torch.nn.Module, images01: torch.Tensor, n_classes: int = 10) -> np.ndarray:
    """The share of ``images01`` (values in [0, 1]) the classifier assigns to each class."""
    with torch.no_grad():
        labels = classifier(images01).argmax(dim=1)
    return np.bincount(labels.cpu().numpy(), minlength=n_classes) / max(len(labels), 1)


def plot_samples(result: SamplesResult) -> Figure:
    """Fig. 3.2: real test images and the first seed's samples of the IAF-VAE and the PixelCNN alone, then AGAVE's
    ``f(z)`` and its PixelCNN samples given them."""
    import matplotlib.pyplot as plt

    names = result.names
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(2.6 * (len(names) + 1), 3.2))
    nrow = int(np.ceil(np.sqrt(result.f_agave.shape[0])))
    for ax, name in zip(axes, names[:-1]):
        show_images(ax, result.images[name], nrow, name)
    show_images(axes[-2], result.f_agave, nrow, "AGAVE: f(z)")
    show_images(axes[-1], result.images[names[-1]], nrow, "AGAVE: PixelCNN given f(z)")
    fig.suptitle("Fig. 3.2 at this scale: random samples (first seed's models)")
    fig.tight_layout()
    return fig


def _sample_seeds(cfg: SamplesConfig, kind: str) -> Tuple[int, ...]:
    return cfg.vae_seeds if kind in ("iaf_vae", "vae") else cfg.pixel_seeds


def _trained_model(kind: str, cfg: SamplesConfig):
    """The cached model of ``kind`` (a key of :data:`SAMPLE_MODELS`) trained with ``cfg``'s seed."""
    if kind == "iaf_vae":
        return trained_iaf_vae(cfg)[0]
    return {"vae": trained_vae, "pixelcnn": trained_pixelcnn, "agave": trained_agave}[kind](cfg)[0]


def _scores(kind: str, cfg: SamplesConfig, x_test: torch.Tensor, classifier: torch.nn.Module,
            ref_features: torch.Tensor):
    """One trained model's test bound (bits/dim), smallest class share and Fréchet distance of its samples.

    Returns ``(scores, draws, f)``: the scores, the ``cfg.n_samples`` draws in ``[0, 1]`` and
    AGAVE's ``f(z)`` of them (``None`` for the other models).
    """
    model, n_dims = _trained_model(kind, cfg), int(np.prod(x_test.shape[1:]))  # trained here if not cached
    with torch.no_grad():
        return _scores_of(kind, model, cfg, n_dims, x_test, classifier, ref_features)


def _scores_of(kind: str, model: torch.nn.Module, cfg: SamplesConfig, n_dims: int, x_test: torch.Tensor,
               classifier: torch.nn.Module, ref_features: torch.Tensor):
    companion.seed_everything(cfg.seed)
    if kind == "agave":
        bound = iw_bpd(cfg, x_test)  # cached: Table 3.1 computes the first seed's
    elif kind == "pixelcnn":
        bound = bpd(-mean_log_prob(model.log_prob, x_test), n_dims)  # exact
    else:
        bound = bpd(-mean_log_prob(lambda b: model.log_prob(b, n_samples=cfg.iw_samples), x_test), n_dims)
    companion.seed_everything(cfg.seed + 3)
    f = None
    if kind in ("iaf_vae", "vae"):
        draws = model.likelihood_sample(model.decode(torch.randn(cfg.n_samples, cfg.latent_dim, device=x_test.device)))
    elif kind == "pixelcnn":
        draws = model.sample(cfg.n_samples)
    else:
        draws, f = model.sample(cfg.n_samples, return_auxiliary=True)
    scores = {"bpd": bound, "min_class_share": float(class_shares(classifier, draws).min()),
              "frechet": frechet_distance(classifier.features(draws[: cfg.n_frechet]), ref_features)}
    return scores, draws, f


def _compare(result: SamplesResult, a: str, b: str, score: str) -> Dict[str, Any]:
    """"``a`` is better than ``b``" on ``score`` (lower is better): the bootstrap interval of the
    difference and the verdict, or "not compared" where a sample-quality comparison involves a
    model that misses the digits bar in some seed (a baseline that has not learned is not ranked)."""
    runs_a, runs_b = result.runs[a][score], result.runs[b][score]
    diff = bootstrap_difference(runs_a, runs_b)
    below = [SAMPLE_MODELS[m] for m in (a, b) if score == "frechet" and not all(result.bars.get(m, [True]))]
    said = verdict(runs_a, runs_b, higher_is_better=False)
    return {"difference": diff.estimate, "low": diff.low, "high": diff.high,
            "verdict": f"not compared ({', '.join(below)} below the bar)" if below else said}


def _sample_metrics(result: SamplesResult) -> Dict[str, Any]:
    """The JSON metrics: each model's mean and spread, its bar (met in k of n seeds), and the verdicts."""
    metrics: Dict[str, Any] = {}
    for kind, scores in result.runs.items():
        for score, values in scores.items():
            s = summarize(values)
            metrics[f"{kind}_{score}"], metrics[f"{kind}_{score}_std"], metrics[f"{kind}_n_seeds"] = s.mean, s.std, s.n
    for kind, met in result.bars.items():
        metrics[f"{kind}_bar_met_seeds"], metrics[f"{kind}_bar_seeds"] = int(sum(met)), len(met)
    for a, b, score in SAMPLE_COMPARISONS:
        for key, value in _compare(result, a, b, score).items():
            metrics[f"{a}_vs_{b}_{score}_{key}"] = value
    # The IAF-VAE's own bar on the bound: not behind the plain VAE's with the same networks and
    # steps (an IAF posterior can only tighten the bound if it learns).
    metrics["iaf_vae_bound_bar_met"] = float(metrics["iaf_vae_vs_vae_bpd_verdict"] != "does not hold")
    return metrics


def _sample_job(kind: str, cfg: SamplesConfig) -> Tuple[str, AgaveConfig, Dict[str, Any]]:
    """The :func:`train_in_parallel` job of the model of ``kind`` (a key of :data:`SAMPLE_MODELS`)."""
    if kind == "agave":
        return agave_job(cfg)
    return kind, cfg, (_iaf_overrides(cfg) if kind == "iaf_vae" else {})


@torch.no_grad()
def _real_row(cfg: SamplesConfig, x_test: torch.Tensor,
              classifier: torch.nn.Module) -> Tuple[torch.Tensor, Dict[str, float]]:
    """The validation images' features (the Fréchet distance's reference) and the real test images' scores."""
    top = cfg.n_levels - 1
    reference = torch.round(load(cfg.dataset, "valid").to(x_test.device)[: cfg.n_frechet] * top) / top  # the levels
    ref_features = classifier.features(reference)
    return ref_features, {"real_min_class_share": float(class_shares(classifier, x_test).min()),
                          "real_frechet": frechet_distance(classifier.features(x_test[: cfg.n_frechet]), ref_features)}


@register("agave/samples", config=SamplesConfig, plot=plot_samples,
          description="Fig. 3.2: samples of an IAF-VAE, the PixelCNN alone and AGAVE beside real images")
def run_samples(cfg: SamplesConfig) -> SamplesResult:
    """Train the IAF-VAE and the VAE on every seed of ``cfg.vae_seeds``, the PixelCNN alone and AGAVE on every seed
    of ``cfg.pixel_seeds``, and score each: test bound in bits/dim, smallest class share and Fréchet distance of its
    samples in the digits classifier's features; then the digits bar of each model seed by seed against the VAE's
    mean distance, and the verdicts on :data:`SAMPLE_COMPARISONS`."""
    for seeds in (cfg.vae_seeds, cfg.pixel_seeds):
        check_seeds(seeds)
    x_test, _ = test_split(cfg)
    train_in_parallel([_sample_job(k, seeded(cfg, s)) for k in SAMPLE_MODELS for s in _sample_seeds(cfg, k)])
    classifier, accuracy = train_feature_net(cfg.classifier_steps, seed=cfg.seed, device=x_test.device)
    ref_features, real = _real_row(cfg, x_test, classifier)
    result = SamplesResult(["real (test)", "IAF-VAE", "PixelCNN alone", "AGAVE"],
                           {"real (test)": x_test[: cfg.n_show].cpu()}, torch.empty(0))
    for kind, name in SAMPLE_MODELS.items():
        result.runs[kind] = {"bpd": [], "min_class_share": [], "frechet": []}
        for i, seed in enumerate(_sample_seeds(cfg, kind)):
            scores, draws, f = _scores(kind, seeded(cfg, seed), x_test, classifier, ref_features)
            for score, value in scores.items():
                result.runs[kind][score].append(value)
            if i == 0:  # the figure shows the first seed's samples
                result.images[name] = draws[: cfg.n_show].cpu()
                result.f_agave = f[: cfg.n_show].cpu() if f is not None else result.f_agave
    # The digits bar of each compared model, seed by seed, against the plain VAE's mean distance.
    vae_frechet = float(np.mean(result.runs["vae"]["frechet"]))
    for kind in ("iaf_vae", "pixelcnn", "agave"):
        r = result.runs[kind]
        result.bars[kind] = [share >= MIN_CLASS_SHARE and fd <= MAX_FRECHET_RATIO * vae_frechet
                             for share, fd in zip(r["min_class_share"], r["frechet"])]
    result.metrics = {"classifier_accuracy": accuracy, **real, **_sample_metrics(result)}
    return result
