"""Experiments of the chapter "The latent density estimator" (Yoo, Lee and Kwak).

* ``latent_density/bars`` — Fig. 5: LDEs with K = 1, 10, 30, a GMMN and a scikit-learn GMM
  on the six bars with a gap; held-out log-likelihood and the fraction of samples in the gap.
* ``latent_density/patches`` — Table 1: log-likelihood of 8x8 natural-image patches for LDEs
  (K = 1, 10, 30, 100), a full-covariance GMM, a Real-NVP and zuko's MAF, over trials.
* ``latent_density/interpolation`` — Sec. 4.2 / App. B: AE vs IAE on digits and faces;
  interpolations within and across domains and the LDE log-likelihood along the path.
* ``latent_density/parzen`` — Table 2: Parzen log-likelihood on the digits test split for
  AE+LDE and IAE+LDE (latent size 8) against a VAE and IML with a GMM base.
* ``latent_density/beta`` — Fig. 2 / App. D: a VAE's reconstruction-vs-KL trade-off as beta varies.
* ``latent_density/faces`` — Fig. 1 / Fig. 6 on ``faces``: AE, IAE and AAE reconstructions of
  test faces, and samples of AE + LDE, IAE + LDE and the AAE.
* ``latent_density/baselines`` — Table 2 / Figs. 7, 8, 12: the AAE and GMMN + AE rows on
  digits, with the digits quality bar, AAE samples and interpolations.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Dict, List, Tuple, Union

import numpy as np
import torch
from torch.nn import functional as F

import companion
from companion.config import ExperimentConfig
from companion.reproduce import register

#: Table 1 of the paper: test log-likelihood (nats) on BSDS300 8x8 patches, with 2 std.
PAPER_TABLE1 = {
    "RNADE (K=10)": (155.2, None),
    "MADE MoG (K=10)": (153.71, 0.28),
    "Real NVP": (153.28, 1.78),
    "MAF MoG (K=10)": (156.36, 0.28),
    "MAF-DDSF": (157.73, 0.04),
    "LDE (K=1)": (152.68, 0.52),
    "LDE (K=10)": (157.75, 0.06),
    "LDE (K=30)": (158.02, 0.06),
    "LDE (K=100)": (157.03, 0.30),
}

#: Table 2 of the paper: Parzen log-likelihood on MNIST (10K samples) with standard errors.
PAPER_TABLE2_MNIST = {
    "GMMN + AE": (282, 2),
    "AAE": (340, 2),
    "eVAE": (337, 2),
    "AE + LDE": (326, 2),
    "IAE + LDE": (326, 2),
}


def _lde(dim: int, k: int, channels: int, head_layers: int):
    from companion.lde import LatentDensityEstimator

    return LatentDensityEstimator(dim, n_components=k, channels=channels, head_layers=head_layers).to(
        companion.device()
    )


@torch.no_grad()
def _mean_log_prob(model, x: torch.Tensor, batch: int = 2048) -> Tuple[float, float]:
    """Mean log-likelihood of the rows of ``x`` and its standard error."""
    values = torch.cat([model.log_prob(b.to(companion.device())).double().cpu() for b in torch.split(x, batch)])
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


# ============================================================================ 1. bars (Fig. 5)


@dataclasses.dataclass
class BarsConfig(ExperimentConfig):
    """Fig. 5: density estimators on the six bars with a gap."""

    n_train: int = 10_000
    n_samples: int = 10_000
    components: Tuple[int, ...] = (1, 10, 30)
    lde_steps: int = 700
    lde_lr: float = 3e-3
    lde_channels: int = 64
    lde_head_layers: int = 1
    batch_size: int = 256
    gmmn_steps: int = 400
    gmm_components: int = 30
    seed: int = 0
    SCALES = {
        "smoke": {"n_train": 2000, "n_samples": 2000, "lde_steps": 60, "gmmn_steps": 30, "gmm_components": 10},
        "paper": {"n_train": 50_000, "lde_steps": 20_000, "lde_lr": 2e-4, "gmmn_steps": 10_000, "batch_size": 1024},
    }


@dataclasses.dataclass
class BarsResult:
    train: np.ndarray
    samples: Dict[str, np.ndarray]
    metrics: Dict[str, float]


@register("latent_density/bars", config=BarsConfig, plot=lambda r: plot_bars(r),
          description="Fig. 5: LDE (K = 1, 10, 30), GMMN and GMM on the six bars with a gap")
def run_bars(cfg: BarsConfig) -> BarsResult:
    """Fit the LDEs, the GMMN and a GMM to the bars; score held-out data and the gap."""
    from sklearn.mixture import GaussianMixture

    from companion import data
    from companion.lde import GMMN, fit_gmmn, fit_lde

    companion.seed_everything(cfg.seed)
    train = data.load("bars")[: cfg.n_train]
    test = data.load("bars", "test")
    samples: Dict[str, np.ndarray] = {}
    metrics: Dict[str, float] = {}
    for k in cfg.components:
        model = _lde(2, k, cfg.lde_channels, cfg.lde_head_layers)
        fit_lde(model, train, n_steps=cfg.lde_steps, batch_size=cfg.batch_size, lr=cfg.lde_lr, desc=f"LDE K={k}")
        name = f"LDE (K={k})"
        metrics[f"test_ll/{name}"] = _mean_log_prob(model, test)[0]
        samples[name] = model.sample(cfg.n_samples).cpu().numpy()
    gmmn = GMMN(2).to(companion.device())
    fit_gmmn(gmmn, train, n_steps=cfg.gmmn_steps, batch_size=cfg.batch_size)
    with torch.no_grad():
        samples["GMMN"] = gmmn.sample(cfg.n_samples).cpu().numpy()
    gmm = GaussianMixture(cfg.gmm_components, covariance_type="full", random_state=cfg.seed).fit(train.numpy())
    metrics[f"test_ll/GMM (K={cfg.gmm_components})"] = float(gmm.score(test.numpy()))
    with warnings.catch_warnings():  # sklearn warns on nearly singular covariances of thin bars
        warnings.simplefilter("ignore", RuntimeWarning)
        samples[f"GMM (K={cfg.gmm_components})"] = gmm.sample(cfg.n_samples)[0].astype(np.float32)
    for name, s in samples.items():
        metrics[f"gap_fraction/{name}"] = float(data.bars_gap_mask(torch.from_numpy(s)).float().mean())
    metrics["gap_fraction/train data"] = float(data.bars_gap_mask(train).float().mean())
    # what a model that ignores the hole would put there: 1/6 of the mass on the upper bar,
    # 1/20 of its length, and 99.7% of its thickness (|y - 3| <= 3 std)
    metrics["gap_fraction/filled-gap reference"] = (1 / 6) * (1.0 / 20.0) * math.erf(3 / math.sqrt(2))
    return BarsResult(train.numpy(), samples, metrics)


def plot_bars(result: BarsResult):
    """Samples (blue) over the target (orange); bottom row: a zoom on the gap."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from companion.data import BARS_GAP_X, BARS_GAP_Y

    names = list(result.samples)
    fig, axes = plt.subplots(2, len(names), figsize=(3.0 * len(names), 6.2), squeeze=False)
    for col, name in enumerate(names):
        for row, (xlim, ylim) in enumerate([((-11, 11), (-11, 11)), ((0.2, 4.0), (2.4, 3.6))]):
            ax = axes[row, col]
            ax.scatter(*result.train[:4000].T, s=1, color="tab:orange", alpha=0.4, rasterized=True)
            ax.scatter(*result.samples[name].T, s=1, color="tab:blue", alpha=0.4, rasterized=True)
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            if row == 1:
                ax.add_patch(Rectangle((BARS_GAP_X[0], BARS_GAP_Y - 0.3), BARS_GAP_X[1] - BARS_GAP_X[0], 0.6,
                                       fill=False, color="k", lw=1, ls="--"))
                frac = result.metrics[f"gap_fraction/{name}"]
                ax.set_title(f"gap: {100 * frac:.2f}% of samples", fontsize=9)
            else:
                ll = result.metrics.get(f"test_ll/{name}")
                ax.set_title(name + ("" if ll is None else f"\ntest LL {ll:.2f}"), fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


# ============================================================================ 2. patches (Table 1)


@dataclasses.dataclass
class PatchesConfig(ExperimentConfig):
    """Table 1: log-likelihood of 8x8 natural-image patches (63 dimensions)."""

    dataset: str = "patches"  # the offline stand-in; BSDS300 itself at paper scale
    n_train: int = 20_000
    n_test: int = 5_000
    n_trials: int = 2
    components: Tuple[int, ...] = (1, 10, 30, 100)
    lde_steps: int = 200
    lde_lr: float = 3e-3
    lde_channels: int = 32
    batch_size: int = 128
    flow_steps: int = 400
    flow_lr: float = 1e-3
    gmm_components: int = 10
    gmm_max_iter: int = 50
    seed: int = 0
    SCALES = {
        "smoke": {"n_train": 2000, "n_test": 500, "n_trials": 2, "components": (1, 10), "lde_steps": 15,
                  "flow_steps": 15, "gmm_components": 2},
        # paper: BSDS300 itself at the sizes of MAF (1,000,000 train / 250,000 test patches)
        "paper": {"dataset": "bsds300", "n_train": 1_000_000, "n_test": 250_000, "n_trials": 5,
                  "lde_steps": 100_000, "lde_lr": 2e-4, "lde_channels": 64, "batch_size": 256,
                  "flow_steps": 50_000, "gmm_components": 30, "gmm_max_iter": 500},
    }


@dataclasses.dataclass
class PatchesResult:
    test_ll: Dict[str, List[float]]  # method -> one number per trial
    seconds: Dict[str, float]
    metrics: Dict[str, float]
    dataset: str = "patches"  # "bsds300" at paper scale


class _Zuko(torch.nn.Module):
    """zuko's lazy flow behind the book's ``log_prob`` protocol (zuko builds the distribution per call)."""

    log_prob_is_bound = False

    def __init__(self, flow) -> None:
        super().__init__()
        self.flow = flow

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.flow().log_prob(x)


@register("latent_density/patches", config=PatchesConfig, plot=lambda r: plot_patches(r),
          description="Table 1: LDE (K = 1, 10, 30, 100) vs GMM, Real-NVP and MAF on 8x8 patches")
def run_patches(cfg: PatchesConfig) -> PatchesResult:
    """Fit every density model on the patches for ``n_trials`` seeds; held-out mean log-likelihood."""
    import zuko
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    from companion import data
    from companion.flows import RealNVP, Standardized
    from companion.lde import fit_lde
    from companion.train import fit_likelihood

    device = companion.device()
    train = data.load(cfg.dataset)[: cfg.n_train].to(device)
    fit = dict(n_steps=cfg.flow_steps, batch_size=cfg.batch_size, lr=cfg.flow_lr)  # both flow baselines
    test = data.load(cfg.dataset, "test")[: cfg.n_test]
    dim = train.shape[1]
    test_ll: Dict[str, List[float]] = {}
    seconds: Dict[str, float] = {}

    def record(name: str, value: float, start: float) -> None:
        test_ll.setdefault(name, []).append(value)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    for trial in range(cfg.n_trials):
        seed = cfg.seed + trial
        for k in cfg.components:
            companion.seed_everything(seed)
            start = time.perf_counter()
            model = _lde(dim, k, cfg.lde_channels, 0)
            fit_lde(model, train, n_steps=cfg.lde_steps, batch_size=cfg.batch_size, lr=cfg.lde_lr, desc=f"LDE K={k}")
            record(f"LDE (K={k})", _mean_log_prob(model, test)[0], start)
        start = time.perf_counter()
        gmm = GaussianMixture(cfg.gmm_components, covariance_type="full", random_state=seed, max_iter=cfg.gmm_max_iter)
        with warnings.catch_warnings():  # a capped EM run may stop before its tolerance; that is the budget
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(train.cpu().numpy())
        record(f"GMM full (K={cfg.gmm_components})", float(gmm.score(test.numpy())), start)

        companion.seed_everything(seed)
        start = time.perf_counter()
        loc, scale = train.mean(0), train.std(0)
        nvp = RealNVP((dim,), n_blocks=6, hidden=128).to(device)
        nvp.initialize((train[:1024] - loc) / scale)
        standardized = Standardized(nvp, loc, scale)
        fit_likelihood(standardized, train, max_grad_norm=10.0, desc="Real-NVP", **fit)
        standardized.eval()
        with torch.no_grad():
            ll = float(torch.cat([standardized.log_prob(b.to(device)).cpu() for b in torch.split(test, 2048)]).mean())
        record("Real-NVP", ll, start)

        companion.seed_everything(seed)
        start = time.perf_counter()
        maf = Standardized(_Zuko(zuko.flows.MAF(dim, transforms=5, hidden_features=(128, 128))), loc, scale)
        fit_likelihood(maf.to(device), train, max_grad_norm=10.0, desc="MAF (zuko)", **fit)
        record("MAF (zuko)", _mean_log_prob(maf.eval(), test)[0], start)

    metrics: Dict[str, float] = {}
    for name, values in test_ll.items():
        v = np.asarray(values)
        metrics[f"test_ll/{name}"] = float(v.mean())
        metrics[f"two_std/{name}"] = float(2 * v.std(ddof=1)) if len(v) > 1 else float("nan")
    return PatchesResult(test_ll, seconds, metrics, dataset=cfg.dataset)


def patches_table(result: PatchesResult) -> str:
    """A Markdown table of our numbers beside the paper's Table 1 (BSDS300)."""
    ours_label = "our patches" if result.dataset == "patches" else result.dataset
    rows = [f"| method | ours: {ours_label} (mean ± 2 std) | paper: BSDS300 |", "| --- | --- | --- |"]
    names = list(result.test_ll) + [n for n in PAPER_TABLE1 if n not in result.test_ll]
    for name in names:
        ours = ""
        if name in result.test_ll:
            ours = f"{result.metrics[f'test_ll/{name}']:.2f} ± {result.metrics[f'two_std/{name}']:.2f}"
        paper = PAPER_TABLE1.get(name)
        paper_text = "" if paper is None else (f"{paper[0]:.2f}" + ("" if paper[1] is None else f" ± {paper[1]:.2f}"))
        rows.append(f"| {name} | {ours} | {paper_text} |")
    return "\n".join(rows)


def plot_patches(result: PatchesResult):
    """Held-out log-likelihood per method (mean and 2 std over trials; dots are trials)."""
    import matplotlib.pyplot as plt

    names = list(result.test_ll)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i, name in enumerate(names):
        values = np.asarray(result.test_ll[name])
        ax.errorbar(i, values.mean(), yerr=2 * values.std(ddof=1) if len(values) > 1 else 0, fmt="o", capsize=4,
                    color="tab:blue" if name.startswith("LDE") else "tab:gray")
        ax.scatter(np.full(len(values), i + 0.12), values, s=8, color="k", alpha=0.5)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("test log-likelihood (nats)")
    ax.set_title("8x8 patches, 63 dims (mean ± 2 std over trials)")
    fig.tight_layout()
    return fig


# ============================================================================ shared: autoencoders + LDE


def _train_ae_and_lde(x: torch.Tensor, latent_dim: int, incremental: bool,
                      cfg: Union["InterpolationConfig", "ParzenConfig"], desc: str):
    """An (incremental) autoencoder on ``x``, then an LDE on its training codes."""
    from companion.lde import fit_incremental_autoencoder, fit_lde, make_autoencoder

    ae = make_autoencoder(tuple(x.shape[1:]), latent_dim, incremental=incremental, hidden=cfg.ae_hidden).to(
        companion.device()
    )
    fit_incremental_autoencoder(ae, x, n_steps=cfg.ae_steps, batch_size=cfg.ae_batch_size, desc=desc)
    with torch.no_grad():
        codes = ae.encode(x.to(companion.device()))
    lde = _lde(latent_dim, cfg.lde_components, cfg.lde_channels, 1)
    fit_lde(
        lde, codes, n_steps=cfg.lde_steps, batch_size=cfg.lde_batch_size, lr=cfg.lde_lr, desc=f"LDE on {desc} codes"
    )
    return ae, lde


# ============================================================================ 3. interpolation (Sec. 4.2)


@dataclasses.dataclass
class InterpolationConfig(ExperimentConfig):
    """Sec. 4.2 / App. B: AE vs IAE on two domains (digits and faces at 16x16)."""

    size: int = 16
    latent_dim: int = 16
    ae_hidden: int = 256
    ae_steps: int = 1200
    ae_batch_size: int = 128
    lde_components: int = 30
    lde_channels: int = 32
    lde_steps: int = 400
    lde_batch_size: int = 256
    lde_lr: float = 3e-3
    n_pairs: int = 20
    n_alphas: int = 11
    seed: int = 0
    SCALES = {
        "smoke": {"ae_steps": 40, "lde_steps": 20, "n_pairs": 4, "lde_components": 5},
        "paper": {"latent_dim": 100, "ae_steps": 30_000, "lde_steps": 20_000, "lde_lr": 2e-4, "n_pairs": 100},
    }


@dataclasses.dataclass
class InterpolationResult:
    alphas: np.ndarray
    images: Dict[str, np.ndarray]  # "AE/within" -> (n_alphas_shown, 1, H, W)
    path_ll: Dict[str, np.ndarray]  # "AE/within" -> mean LDE log-likelihood per alpha
    metrics: Dict[str, float]


def _two_domains(size: int, split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    from companion import data

    def resize(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)

    return resize(data.load("digits", split)), resize(data.load("faces", split))


@register("latent_density/interpolation", config=InterpolationConfig, plot=lambda r: plot_interpolation(r),
          description="Sec. 4.2 / App. B: AE vs IAE interpolations within and across domains, LDE log-likelihood")
def run_interpolation(cfg: InterpolationConfig) -> InterpolationResult:
    """Train AE and IAE (+ LDE) on digits and faces; interpolate between test codes."""
    companion.seed_everything(cfg.seed)
    digits, faces = _two_domains(cfg.size, "train")
    # the faces are few (70): repeat them so that both domains weigh about the same
    x = torch.cat([digits, faces.repeat(max(1, len(digits) // (2 * len(faces))), 1, 1, 1)])
    test_digits, test_faces = _two_domains(cfg.size, "test")
    generator = torch.Generator().manual_seed(cfg.seed)
    n = cfg.n_pairs
    pick = lambda m: torch.randint(0, m, (n,), generator=generator)  # noqa: E731
    pairs = {
        "within": (test_digits[pick(len(test_digits))], test_digits[pick(len(test_digits))]),
        "across": (test_digits[pick(len(test_digits))], test_faces[pick(len(test_faces))]),
    }
    alphas = np.linspace(0, 1, cfg.n_alphas)
    shown = np.linspace(0, 1, 6)
    images, path_ll, metrics = {}, {}, {}
    device = companion.device()
    for name, incremental in (("AE", False), ("IAE", True)):
        ae, lde = _train_ae_and_lde(x, cfg.latent_dim, incremental, cfg, name)
        with torch.no_grad():
            test_all = torch.cat([test_digits, test_faces]).to(device)
            metrics[f"test_mse/{name}"] = float(F.mse_loss(ae(test_all), test_all))
            for kind, (a, b) in pairs.items():
                za, zb = ae.encode(a.to(device)), ae.encode(b.to(device))
                path = [lde.log_prob((1 - t) * za + t * zb).mean().item() for t in alphas]
                path_ll[f"{name}/{kind}"] = np.asarray(path)
                metrics[f"path_ll_mid/{name}/{kind}"] = float(path[len(path) // 2])
                metrics[f"path_ll_ends/{name}/{kind}"] = float((path[0] + path[-1]) / 2)
                row = [ae.decode((1 - t) * za[:1] + t * zb[:1]) for t in shown]
                images[f"{name}/{kind}"] = torch.cat([a[:1].to(device)] + row + [b[:1].to(device)]).cpu().numpy()
    return InterpolationResult(alphas, images, path_ll, metrics)


def plot_interpolation(result: InterpolationResult):
    """Left: originals at both ends, decoded interpolations between; right: LDE log-likelihood along the path."""
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

    keys = list(result.images)
    fig = plt.figure(figsize=(11, 1.3 * len(keys) + 0.6))
    grid = fig.add_gridspec(len(keys), 2, width_ratios=[1.6, 1])
    for row, key in enumerate(keys):
        ax = fig.add_subplot(grid[row, 0])
        image_grid(result.images[key], nrow=len(result.images[key]), ax=ax)
        ax.set_title(f"{key}: original, decoded z_alpha for alpha = 0, 0.2, ..., 1, original", loc="left", fontsize=9)
    ax = fig.add_subplot(grid[:, 1])
    for key, values in result.path_ll.items():
        ax.plot(result.alphas, values, marker="o", ms=3, label=key, ls="-" if key.endswith("within") else "--")
    ax.set_xlabel(r"$\alpha$ in $z_\alpha = (1-\alpha) z_0 + \alpha z_1$")
    ax.set_ylabel("LDE log-likelihood of $z_\\alpha$")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ============================================================================ 4. Parzen (Table 2)


@dataclasses.dataclass
class ParzenConfig(ExperimentConfig):
    """Table 2: Parzen log-likelihood on the digits test split, latent size 8."""

    latent_dim: int = 8
    ae_hidden: int = 256
    ae_steps: int = 1200
    ae_batch_size: int = 128
    lde_components: int = 30
    lde_channels: int = 32
    lde_steps: int = 400
    lde_batch_size: int = 256
    lde_lr: float = 3e-3
    vae_steps: int = 1200
    iml_components: int = 10
    n_parzen_samples: int = 10_000
    seed: int = 0
    SCALES = {
        "smoke": {"ae_steps": 40, "lde_steps": 20, "vae_steps": 40, "n_parzen_samples": 500, "lde_components": 5,
                  "iml_components": 2},
        "paper": {"ae_steps": 30_000, "lde_steps": 20_000, "lde_lr": 2e-4, "vae_steps": 30_000, "iml_components": 30},
    }


def parzen_metrics(generated: Dict[str, torch.Tensor], valid: torch.Tensor, test: torch.Tensor) -> Dict[str, float]:
    """Per model: the Parzen log-likelihood of ``test`` (mean, its standard error) under a window on the
    model's samples, with the bandwidth chosen on ``valid`` (Table 2's protocol)."""
    from companion.metrics import parzen_log_prob, select_parzen_sigma

    metrics: Dict[str, float] = {}
    for name, s in generated.items():
        sigma, _ = select_parzen_sigma(s, valid)
        values = parzen_log_prob(s, test, sigma)
        metrics[f"parzen_ll/{name}"] = float(values.mean())
        metrics[f"std_error/{name}"] = float(values.std() / math.sqrt(len(values)))
        metrics[f"sigma/{name}"] = float(sigma)
    return metrics


@dataclasses.dataclass
class ParzenResult:
    samples: Dict[str, np.ndarray]  # a few samples per model, for the figure
    metrics: Dict[str, float]


@register("latent_density/parzen", config=ParzenConfig, plot=lambda r: plot_parzen(r),
          description="Table 2: Parzen log-likelihood on digits for AE+LDE, IAE+LDE, VAE, IML with a GMM base")
def run_parzen(cfg: ParzenConfig) -> ParzenResult:
    """Train the four generators; Parzen windows on their samples, bandwidth chosen on validation."""
    from companion import data
    from companion.vae import VAE, fit_vae

    companion.seed_everything(cfg.seed)
    device = companion.device()
    train, valid, test = (data.load("digits", s) for s in ("train", "valid", "test"))
    shape = tuple(train.shape[1:])
    n = cfg.n_parzen_samples
    generated: Dict[str, torch.Tensor] = {}
    for name, incremental in (("AE + LDE", False), ("IAE + LDE", True)):
        ae, lde = _train_ae_and_lde(train, cfg.latent_dim, incremental, cfg, name.split()[0])
        with torch.no_grad():
            generated[name] = ae.decode(lde.sample(n)).cpu()
    vae = VAE(shape, latent_dim=cfg.latent_dim, likelihood="bernoulli").to(device)
    fit_vae(vae, train, n_steps=cfg.vae_steps, batch_size=cfg.ae_batch_size)
    generated["VAE"] = vae.sample(n, mean=True).cpu()  # Bernoulli means, as in the Parzen literature
    generated[f"IML, GMM base (K={cfg.iml_components})"] = _iml_samples(train, cfg, n)

    metrics = parzen_metrics(generated, valid, test)
    return ParzenResult({k: v[:16].numpy() for k, v in generated.items()}, metrics)


def _iml_samples(train: torch.Tensor, cfg: ParzenConfig, n: int) -> torch.Tensor:
    """Samples of two-stage IML with a GMM base (companion.iml), the baseline of the IML chapter."""
    from companion.iml import Autoencoder, GMMBase, TwoStageModel

    model = TwoStageModel(Autoencoder(tuple(train.shape[1:]), cfg.latent_dim, hidden=(cfg.ae_hidden,)),
                          GMMBase(cfg.iml_components, random_state=cfg.seed)).to(companion.device())
    model.fit(train.to(companion.device()), n_steps=cfg.ae_steps, batch_size=cfg.ae_batch_size)
    return model.sample(n).cpu()


def parzen_table(result: ParzenResult) -> str:
    """A Markdown table: our Parzen numbers on digits beside the paper's on MNIST."""
    rows = ["| method | ours: digits 8x8 (± s.e.) | paper: MNIST (± s.e.) |", "| --- | --- | --- |"]
    ours = [k.split("/", 1)[1] for k in result.metrics if k.startswith("parzen_ll/")]
    for name in ours + [n for n in PAPER_TABLE2_MNIST if n not in ours]:
        mine = ""
        if name in ours:
            mine = f"{result.metrics[f'parzen_ll/{name}']:.1f} ± {result.metrics[f'std_error/{name}']:.1f}"
        paper = PAPER_TABLE2_MNIST.get(name)
        rows.append(f"| {name} | {mine} | {'' if paper is None else f'{paper[0]} ± {paper[1]}'} |")
    return "\n".join(rows)


def plot_parzen(result: ParzenResult):
    """Samples of each generator with its Parzen log-likelihood."""
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

    names = list(result.samples)
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 3.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        image_grid(result.samples[name], nrow=4, ax=ax)
        ax.set_title(f"{name}\nParzen LL {result.metrics[f'parzen_ll/{name}']:.1f}", fontsize=9)
    fig.tight_layout()
    return fig


# ============================================================================ 5. beta (Fig. 2 / App. D)


@dataclasses.dataclass
class BetaConfig(ExperimentConfig):
    """Fig. 2 / App. D: the VAE's trade-off between reconstruction and KL as beta varies."""

    betas: Tuple[float, ...] = (0.0, 0.3, 1.0, 3.0)
    latent_dim: int = 2
    n_steps: int = 800
    batch_size: int = 128
    seed: int = 0
    SCALES = {"smoke": {"betas": (0.0, 1.0), "n_steps": 30}, "paper": {"n_steps": 30_000}}


@dataclasses.dataclass
class BetaResult:
    betas: np.ndarray
    codes: Dict[float, np.ndarray]
    labels: np.ndarray
    reconstructions: Dict[float, np.ndarray]
    originals: np.ndarray
    metrics: Dict[str, float]


@register("latent_density/beta", config=BetaConfig, plot=lambda r: plot_beta(r),
          description="Fig. 2 / App. D: VAE reconstruction vs KL as beta varies, on digits")
def run_beta(cfg: BetaConfig) -> BetaResult:
    """One VAE per beta (2-D latent, Bernoulli decoder); test reconstruction, KL and MSE."""
    from companion import data
    from companion.vae import VAE, fit_vae

    device = companion.device()
    train, test = data.load("digits"), data.load("digits", "test")
    labels = data.load_labels("digits", "test").numpy()
    codes, recons, metrics = {}, {}, {}
    for beta in cfg.betas:
        companion.seed_everything(cfg.seed)
        vae = VAE(tuple(train.shape[1:]), latent_dim=cfg.latent_dim, likelihood="bernoulli", beta=beta).to(device)
        fit_vae(vae, train, n_steps=cfg.n_steps, batch_size=cfg.batch_size, desc=f"VAE beta={beta}")
        vae.eval()
        with torch.no_grad():
            x = test.to(device)
            terms = vae.elbo(x)
            mu, _ = vae.encode(x)
            rec = vae.reconstruct(x)
        codes[beta] = mu.cpu().numpy()
        recons[beta] = rec[:8].cpu().numpy()
        metrics[f"reconstruction_nll/beta={beta}"] = float(-terms.reconstruction.mean())
        metrics[f"kl/beta={beta}"] = float(terms.kl.mean())
        metrics[f"mse/beta={beta}"] = float(F.mse_loss(rec, x))
    return BetaResult(np.asarray(cfg.betas), codes, labels, recons, test[:8].numpy(), metrics)


def plot_beta(result: BetaResult):
    """Top: test codes per beta, coloured by digit; bottom: reconstructions; right: the two losses."""
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

    betas = list(result.codes)
    fig = plt.figure(figsize=(2.6 * len(betas) + 3.5, 5.4))
    grid = fig.add_gridspec(2, len(betas) + 1, height_ratios=[2.2, 1])
    for col, beta in enumerate(betas):
        ax = fig.add_subplot(grid[0, col])
        ax.scatter(*result.codes[beta].T, c=result.labels, cmap="tab10", s=5)
        ax.set_title(f"beta = {beta}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax = fig.add_subplot(grid[1, col])
        pairs = np.concatenate([result.originals[:4], result.reconstructions[beta][:4]])
        image_grid(pairs, nrow=4, ax=ax)
        ax.set_title("top: input, below: reconstruction" if col == 0 else "", fontsize=8)
    ax = fig.add_subplot(grid[:, -1])
    rec = [result.metrics[f"reconstruction_nll/beta={b}"] for b in betas]
    kl = [result.metrics[f"kl/beta={b}"] for b in betas]
    ax.plot(betas, rec, marker="o", label="reconstruction (nats)")
    ax.plot(betas, kl, marker="s", label="KL (nats)")
    ax.set_xlabel("beta")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ============================================================================ 6. faces (Fig. 1, Fig. 6)


def _fit_aae(x: torch.Tensor, latent_dim: int, hidden: int, n_steps: int, batch_size: int, seed: int):
    """The adversarial autoencoder of :mod:`companion.hybrids` (Makhzani et al.), the paper's AAE baseline."""
    from companion.hybrids import VAEGANHybrid, fit_hybrid

    companion.seed_everything(seed)
    aae = VAEGANHybrid(tuple(x.shape[1:]), latent_dim, kind="aae", hidden=hidden).to(companion.device())
    fit_hybrid(aae, x.to(companion.device()), n_steps=n_steps, batch_size=batch_size, desc="AAE")
    return aae


@dataclasses.dataclass
class FacesConfig(ExperimentConfig):
    """Fig. 1 and Fig. 6 on ``faces`` (70 training faces, 25x25): AE, IAE and AAE
    reconstructions of test faces, and samples of AE + LDE, IAE + LDE and the AAE."""

    latent_dim: int = 16
    ae_hidden: int = 256
    ae_steps: int = 800
    ae_batch_size: int = 32
    lde_components: int = 10
    lde_channels: int = 32
    lde_steps: int = 300
    lde_batch_size: int = 64
    lde_lr: float = 3e-3
    aae_steps: int = 800
    n_show: int = 8
    seed: int = 0
    SCALES = {
        "smoke": {"latent_dim": 4, "ae_hidden": 32, "ae_steps": 20, "lde_steps": 10, "lde_components": 3,
                  "aae_steps": 20, "n_show": 4},
        "paper": {"latent_dim": 100, "ae_steps": 30_000, "lde_steps": 20_000, "lde_lr": 2e-4, "aae_steps": 30_000},
    }


@dataclasses.dataclass
class FacesResult:
    test_faces: np.ndarray  # (n_show, 1, 25, 25)
    reconstructions: Dict[str, np.ndarray]  # "AE" / "IAE" / "AAE" -> (n_show, 1, 25, 25)
    samples: Dict[str, np.ndarray]  # "AE + LDE" / "IAE + LDE" / "AAE" -> (2 n_show, 1, 25, 25)
    metrics: Dict[str, float]


@register("latent_density/faces", config=FacesConfig, plot=lambda r: plot_faces(r),
          description="Fig. 1 / Fig. 6 on faces: AE, IAE, AAE reconstructions and AE+LDE, IAE+LDE, AAE samples")
def run_faces(cfg: FacesConfig) -> FacesResult:
    """Train AE and IAE (+ LDE) and an AAE on the training faces; reconstruct test faces, draw samples.

    Metrics: ``test_mse/<model>`` (per pixel) and ``sharpness/<model>``, the mean absolute
    difference of neighbouring pixels of the reconstructions (blur lowers it), beside that of
    the test faces themselves (``sharpness/data``).
    """
    from companion import data
    from companion.experiments.preliminaries import total_variation

    companion.seed_everything(cfg.seed)
    device = companion.device()
    train, test = data.load("faces", "train"), data.load("faces", "test").to(device)
    shown = test[: cfg.n_show]
    recon: Dict[str, np.ndarray] = {}
    samples: Dict[str, np.ndarray] = {}
    metrics: Dict[str, float] = {"sharpness/data": total_variation(test)}
    for name, incremental in (("AE", False), ("IAE", True)):
        ae, lde = _train_ae_and_lde(train, cfg.latent_dim, incremental, cfg, name)
        with torch.no_grad():
            out = ae(test).clamp(0, 1)
            samples[f"{name} + LDE"] = ae.decode(lde.sample(2 * cfg.n_show)).clamp(0, 1).cpu().numpy()
        recon[name] = out[: cfg.n_show].cpu().numpy()
        metrics[f"test_mse/{name}"] = float(F.mse_loss(out, test))
        metrics[f"sharpness/{name}"] = total_variation(out)
    aae = _fit_aae(train, cfg.latent_dim, cfg.ae_hidden, cfg.aae_steps, cfg.ae_batch_size, cfg.seed)
    with torch.no_grad():
        out = aae.decode(aae.encode(test)[0])  # the posterior mean's decoding
        samples["AAE"] = aae.sample(2 * cfg.n_show).cpu().numpy()
    recon["AAE"] = out[: cfg.n_show].cpu().numpy()
    metrics["test_mse/AAE"] = float(F.mse_loss(out, test))
    metrics["sharpness/AAE"] = total_variation(out)
    return FacesResult(shown.cpu().numpy(), recon, samples, metrics)


def plot_faces(result: FacesResult):
    """Left: test faces and their AE, IAE, AAE reconstructions (Fig. 6); right: samples per model (Fig. 1)."""
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

    n = len(result.test_faces)
    fig = plt.figure(figsize=(13, 4.2))
    grid = fig.add_gridspec(1, 1 + len(result.samples), width_ratios=[2] + [1] * len(result.samples))
    rows = np.concatenate([result.test_faces] + list(result.reconstructions.values()))
    m = result.metrics
    image_grid(
        rows,
        nrow=n,
        ax=fig.add_subplot(grid[0, 0]),
        title="rows: test faces, " + ", ".join(f"{k} (MSE {m[f'test_mse/{k}']:.4f})" for k in result.reconstructions),
    )
    for j, (name, images) in enumerate(result.samples.items()):
        image_grid(images, nrow=4, ax=fig.add_subplot(grid[0, 1 + j]), title=f"samples: {name}")
    fig.tight_layout()
    return fig


# ========================================================== 7. AAE and GMMN + AE (Table 2, Figs. 7, 8, 12)


@dataclasses.dataclass
class BaselinesConfig(ParzenConfig):
    """The Table 2 rows of ``latent_density/parzen`` that it lacks: the AAE and a GMMN on AE codes.

    Same data, latent size, training budget and Parzen protocol as ``latent_density/parzen``
    (this config extends its fields); a VAE is trained again as the reference of the quality
    bar (the chapter's digits bar: each class >= ``min_class_share`` of 1,000 samples by the
    digit classifier, Fréchet distance in its features within twice the VAE's).
    """

    aae_steps: int = 1200
    gmmn_steps: int = 600
    gmmn_batch_size: int = 256
    n_interpolations: int = 4
    n_alphas: int = 8
    min_class_share: float = 0.03
    n_bar_samples: int = 1000
    classifier_steps: int = 400
    SCALES = {
        "smoke": {"ae_steps": 40, "vae_steps": 40, "aae_steps": 40, "gmmn_steps": 20, "n_parzen_samples": 500,
                  "n_bar_samples": 200, "classifier_steps": 40, "n_interpolations": 2},
        "paper": {"ae_steps": 30_000, "vae_steps": 30_000, "aae_steps": 30_000, "gmmn_steps": 10_000},
    }


@dataclasses.dataclass
class BaselinesResult:
    samples: Dict[str, np.ndarray]  # "AAE" / "GMMN + AE" -> 16 samples
    consecutive: np.ndarray  # 16 consecutive AAE samples (Fig. 12)
    interpolations: np.ndarray  # (n_interpolations, n_alphas + 2, 1, 8, 8): ends are test digits (Fig. 7)
    metrics: Dict[str, object]


@register("latent_density/baselines", config=BaselinesConfig, plot=lambda r: plot_baselines(r),
          description="Table 2 / Figs. 7, 8, 12: the AAE and GMMN + AE baselines on digits, with the quality bar")
def run_baselines(cfg: BaselinesConfig) -> BaselinesResult:
    """Train an AAE and a GMMN on autoencoder codes; Parzen as in ``latent_density/parzen``; quality bar."""
    from companion import data
    from companion.experiments.adaptive_density import train_feature_net
    from companion.lde import GMMN, fit_gmmn, fit_incremental_autoencoder, make_autoencoder
    from companion.metrics import classifier_frechet, classifier_quality_bar
    from companion.vae import VAE, fit_vae

    companion.seed_everything(cfg.seed)
    device = companion.device()
    train, valid, test = (data.load("digits", s) for s in ("train", "valid", "test"))
    shape = tuple(train.shape[1:])
    n = cfg.n_parzen_samples
    generated: Dict[str, torch.Tensor] = {}
    aae = _fit_aae(train, cfg.latent_dim, cfg.ae_hidden, cfg.aae_steps, cfg.ae_batch_size, cfg.seed)
    generated["AAE"] = aae.sample(n).cpu()
    companion.seed_everything(cfg.seed)
    ae = make_autoencoder(shape, cfg.latent_dim, incremental=False, hidden=cfg.ae_hidden).to(device)
    fit_incremental_autoencoder(ae, train, n_steps=cfg.ae_steps, batch_size=cfg.ae_batch_size, desc="AE")
    with torch.no_grad():
        codes = ae.encode(train.to(device))
    gmmn = GMMN(cfg.latent_dim).to(device)
    fit_gmmn(gmmn, codes, n_steps=cfg.gmmn_steps, batch_size=cfg.gmmn_batch_size)
    with torch.no_grad():
        generated["GMMN + AE"] = ae.decode(gmmn.sample(n)).clamp(0, 1).cpu()
    companion.seed_everything(cfg.seed)
    vae = VAE(shape, latent_dim=cfg.latent_dim, likelihood="bernoulli").to(device)
    fit_vae(vae, train, n_steps=cfg.vae_steps, batch_size=cfg.ae_batch_size)
    vae_samples = vae.sample(cfg.n_bar_samples, mean=True).cpu()

    metrics: Dict[str, object] = dict(parzen_metrics(generated, valid, test))
    net, _ = train_feature_net(n_steps=cfg.classifier_steps, seed=cfg.seed, device=device)
    held_out = torch.cat([valid, test])
    reference = classifier_frechet(vae_samples, net, held_out)
    metrics["frechet/VAE"] = reference
    for name, s in generated.items():
        bar = classifier_quality_bar(s[: cfg.n_bar_samples], net, held_out, reference, cfg.min_class_share)
        metrics[f"frechet/{name}"] = bar["frechet"]
        metrics[f"min_class_share/{name}"] = float(min(bar["class_shares"]))
        metrics[f"meets_bar/{name}"] = bar["meets_bar"]
    # Fig. 7: linear interpolation between the posterior means of two test digits
    g = torch.Generator().manual_seed(cfg.seed)
    pairs = torch.randperm(len(test), generator=g)[: 2 * cfg.n_interpolations].view(2, -1)
    a, b = test[pairs[0]].to(device), test[pairs[1]].to(device)
    with torch.no_grad():
        za, zb = aae.encode(a)[0], aae.encode(b)[0]
        path = [aae.decode((1 - t) * za + t * zb) for t in np.linspace(0, 1, cfg.n_alphas)]
    interpolations = torch.stack([a] + path + [b], 1).cpu().numpy()
    return BaselinesResult({k: v[:16].numpy() for k, v in generated.items()}, generated["AAE"][16:32].numpy(),
                           interpolations, metrics)


def baselines_rows(result: BaselinesResult) -> str:
    """The Markdown rows of Table 2 for the AAE and GMMN + AE, beside the paper's MNIST numbers."""
    rows = ["| method | ours: digits 8x8 (± s.e.) | meets the quality bar | paper: MNIST (± s.e.) |",
            "| --- | --- | --- | --- |"]
    for name in ("AAE", "GMMN + AE"):
        m = result.metrics
        paper = PAPER_TABLE2_MNIST[name]
        rows.append(f"| {name} | {m[f'parzen_ll/{name}']:.1f} ± {m[f'std_error/{name}']:.1f} | "
                    f"{'yes' if m[f'meets_bar/{name}'] else 'no'} | {paper[0]} ± {paper[1]} |")
    return "\n".join(rows)


def plot_baselines(result: BaselinesResult):
    """AAE and GMMN + AE samples (Fig. 8), consecutive AAE samples (Fig. 12), AAE interpolations (Fig. 7)."""
    import matplotlib.pyplot as plt

    from companion.plots import image_grid

    fig = plt.figure(figsize=(13, 3.6))
    grid = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 2.4])
    for j, (name, images) in enumerate(result.samples.items()):
        image_grid(images, nrow=4, ax=fig.add_subplot(grid[0, j]),
                   title=f"{name}\nParzen LL {result.metrics[f'parzen_ll/{name}']:.1f}")
    image_grid(result.consecutive, nrow=4, ax=fig.add_subplot(grid[0, 2]), title="AAE, consecutive samples")
    inter = result.interpolations
    image_grid(inter.reshape(-1, *inter.shape[2:]), nrow=inter.shape[1], ax=fig.add_subplot(grid[0, 3]),
               title="AAE: test digit, interpolated codes, test digit")
    fig.tight_layout()
    return fig
