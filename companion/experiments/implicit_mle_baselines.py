"""The implicit-MLE chapter's baselines on digits: how they are built and the bar they meet.

Every method of the chapter (IML, the VAE, the GAN, WGAN-GP) has the same decoder
``K -> hidden -> data``; :func:`_fit_baselines` trains them one after the other, each after
its own seed. A GAN is a baseline only when it meets the quality bar
(:func:`companion.metrics.classifier_quality_bar`): the helpers here record it and
summarise it over seeds, and :func:`quality_bar_table` and :func:`bar_phrase` put it in the
chapter's table and prose.

* ``implicit_mle/gan_sweep`` — the small sweep that sets the digits GANs' settings: the
  quality bar of each setting.

The other experiments of the chapter: ``implicit_mle.py`` (Figs. 1 to 3),
``implicit_mle_parzen.py`` (Table 1), ``implicit_mle_neighbours.py`` (Fig. 4), ``implicit_mle_faces.py`` (Fig. 5),
``implicit_mle_audio.py`` (the HMM base).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

import companion
from companion.checks import check_positive_int
from companion.config import ExperimentConfig
from companion.data import load
from companion.evidence import compare_phrase, verdict
from companion.experiments.feature_classifier import train_feature_net
from companion.gan import GAN, MLPDiscriminator, MLPGenerator, fit_gan
from companion.iml import GMMBase, InvertiblePerceptron, TwoStageModel
from companion.metrics import classifier_frechet, classifier_quality_bar, mean_std
from companion.plots import set_style
from companion.reproduce import register
from companion.shared_fits import fit_once, fit_once_in_workers
from companion.vae import VAE, fit_vae

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib or pandas
    import pandas as pd
    from matplotlib.figure import Figure

#: The chapter's four methods, in the order of its tables.
METHODS = ("IML", "VAE", "GAN", "WGAN-GP")


@dataclass
class QualityBarConfig(ExperimentConfig):
    """The settings of the digits quality bar (:func:`companion.metrics.classifier_quality_bar`):
    on ``n_bar_samples`` samples, each digit class at least ``min_class_share`` of the time in the
    eyes of a digit classifier trained for ``classifier_steps`` (with ``seed``), on ``dataset``."""

    dataset: str = "digits"
    n_bar_samples: int = 1000
    min_class_share: float = 0.03
    classifier_steps: int = 400
    seed: int = 0


@dataclass
class DigitsBaselinesConfig(QualityBarConfig):
    """The four methods of the chapter on ``dataset``, with the decoder ``K -> hidden -> data``.

    The budget is the same for every model: at most ``ae_steps`` (= ``vae_steps`` =
    ``gan_steps``) training steps of ``batch_size`` images. WGAN-GP takes 5 critic updates per
    generator step and meets the bar in fewer generator steps (``wgan_steps``). The GANs'
    learning rates and discriminator widths come from ``implicit_mle/gan_sweep``.
    """

    hidden: int = 48  # IML's invertible perceptron needs K <= hidden <= data size
    n_components: int = 10
    covariance_type: str = "full"
    ae_steps: int = 1500
    vae_steps: int = 1500
    gan_steps: int = 1500
    wgan_steps: int = 600  # generator steps; each has 5 critic steps with a gradient penalty
    batch_size: int = 64
    lr: float = 2e-3
    gan_lr: float = 1e-3
    gan_disc_hidden: int = 128
    wgan_lr: float = 1e-3
    wgan_disc_hidden: int = 48
    reg_covar: float = 1e-4  # added to the diagonal of IML's mixture covariances

    def steps(self) -> Dict[str, int]:
        """The training steps of each method (generator steps for the GANs)."""
        return {"IML": self.ae_steps, "VAE": self.vae_steps, "GAN": self.gan_steps, "WGAN-GP": self.wgan_steps}


def _splits(dataset: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The train, valid and test splits of ``dataset`` on the package's device."""
    dev = companion.device()
    return load(dataset, "train").to(dev), load(dataset, "valid").to(dev), load(dataset, "test").to(dev)


def _gan_fit(
    generator: nn.Module,
    discriminator: nn.Module,
    data: torch.Tensor,
    latent_dim: int,
    n_steps: int,
    batch_size: int,
    lr: float,
    wasserstein: bool,
    desc: str = "GAN",
):
    """Train ``generator`` (codes ``N(0, I)`` -> data) with the shared GAN code; returns the :class:`GAN`."""
    gan = GAN(generator, discriminator, latent_dim=latent_dim)
    fit_gan(gan, data, n_steps=n_steps, batch_size=batch_size, lr=lr,
            loss="wgan-gp" if wasserstein else "ns", n_critic=5 if wasserstein else 1, desc=desc)
    return gan


def _make_gan_nets(latent_dim: int, hidden: int, shape: Tuple[int, ...], disc_hidden: Optional[int] = None):
    """Generator ``K -> hidden -> data`` (the decoder size of every method) and a one-hidden-layer
    discriminator ``data -> disc_hidden -> 1`` (default: ``hidden``, the generator's mirror)."""
    generator = MLPGenerator(latent_dim, shape, hidden=hidden, n_layers=1, out_activation="sigmoid")
    return generator, MLPDiscriminator(shape, hidden=hidden if disc_hidden is None else disc_hidden, n_layers=1)


def _digits_bar_tools(dataset: str, classifier_steps: int, seed: int, x_valid: torch.Tensor, x_test: torch.Tensor):
    """The digit classifier of the adaptive-density chapter and the held-out digits (``None`` off ``digits``)."""
    if dataset != "digits":
        return None, None
    return train_feature_net(n_steps=classifier_steps, seed=seed, device=x_valid.device)[0], torch.cat(
        [x_valid, x_test]
    )


def _record_bars(bars: Dict[str, Dict], key: int, samples: Dict[str, torch.Tensor], feature_net: nn.Module,
                 held_out: torch.Tensor, min_class_share: float) -> None:
    """Append each method's quality bar, against the VAE's Fréchet distance on the same run, to ``bars[m][key]``."""
    reference = classifier_frechet(samples["VAE"], feature_net, held_out)
    for m, smp in samples.items():
        bars[m][key].append(classifier_quality_bar(smp, feature_net, held_out, reference, min_class_share))


def _bar_summary(bars: List[Dict]) -> Dict[str, object]:
    """Seeds that meet the bar, and mean ± std of the Fréchet distance, its ratio to the VAE's and the smallest
    class share."""
    return {"meets_bar_seeds": int(sum(b["meets_bar"] for b in bars)),
            "covers_classes_seeds": int(sum(b["covers_classes"] for b in bars)),
            "frechet": mean_std([b["frechet"] for b in bars]),
            "frechet_ratio": mean_std([b["frechet_ratio"] for b in bars]),
            "min_class_share": mean_std([b["min_class_share"] for b in bars])}


class _QualityBars:
    """The quality bar of each method, over seeds, per key (a latent size), against the VAE of the same run.

    Only ``digits`` has a digit classifier: on other data ``active`` is False and :meth:`record`
    records nothing.
    """

    def __init__(self, cfg: QualityBarConfig, keys: Sequence[int], x_valid: torch.Tensor, x_test: torch.Tensor) -> None:
        tools = _digits_bar_tools(cfg.dataset, cfg.classifier_steps, cfg.seed, x_valid, x_test)
        self.feature_net, self.held_out = tools
        self.n_bar_samples, self.min_class_share = cfg.n_bar_samples, cfg.min_class_share
        self.bars: Dict[str, Dict[int, List[Dict]]] = {m: {int(k): [] for k in keys} for m in METHODS}

    @property
    def active(self) -> bool:
        return self.feature_net is not None

    def record(self, key: int, samples: Dict[str, torch.Tensor]) -> None:
        """Each method's bar on its first ``n_bar_samples`` samples (the VAE's among them)."""
        if self.active:
            first = {m: smp[: self.n_bar_samples] for m, smp in samples.items()}
            _record_bars(self.bars, key, first, self.feature_net, self.held_out, self.min_class_share)

    def summaries(self) -> Dict[str, Dict[int, Optional[Dict[str, object]]]]:
        """``{method: {key: summary}}`` (:func:`_bar_summary`; ``None`` where nothing was recorded)."""
        return {m: {k: _bar_summary(b) if b else None for k, b in by_key.items()} for m, by_key in self.bars.items()}


def _data_key(x: torch.Tensor) -> Tuple:
    """What identifies a training set among the shared fits: its shape, device and a hash of its values."""
    return tuple(x.shape), str(x.device), hashlib.sha1(x.detach().cpu().numpy().tobytes()).hexdigest()


def _baseline_fits(x_train: torch.Tensor, methods: Tuple[str, ...], latent_dim: int, hidden: int,
                   n_components: int, covariance_type: str, steps: Dict[str, int], batch_size: int, lr: float,
                   gan_lr: float, seed: int, gan_disc_hidden: Optional[int] = None,
                   wgan_lr: Optional[float] = None, wgan_disc_hidden: Optional[int] = None,
                   reg_covar: float = 1e-3) -> List[Tuple[str, Tuple, Callable[[], object]]]:
    """``(method, key, fit)`` of each method of :func:`_fit_baselines` (arguments as there): the
    :func:`companion.shared_fits.fit_once` key that names the trained model, and the fit that trains it."""
    shared = (_data_key(x_train), latent_dim, hidden, batch_size, seed)
    own = {"IML": (lr, n_components, covariance_type, reg_covar), "VAE": (lr,), "GAN": (gan_lr, gan_disc_hidden),
           "WGAN-GP": (gan_lr if wgan_lr is None else wgan_lr, wgan_disc_hidden)}  # what else decides each model
    fits = []
    for name in methods:
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; expected one of {METHODS}")
        key = ("implicit_mle baseline", name, steps[name]) + shared + own[name]
        fits.append((name, key, lambda name=name: _fit_one(
            name, x_train, latent_dim, hidden, n_components, covariance_type, steps[name], batch_size, lr, gan_lr,
            seed, gan_disc_hidden, wgan_lr, wgan_disc_hidden, reg_covar)))
    return fits


def _prefit_baselines(jobs: Sequence[Tuple]) -> None:
    """Train the models of ``jobs`` (argument tuples of :func:`_baseline_fits`, one per latent size
    and seed) that no experiment has trained yet, two at a time in one-thread worker processes
    (:func:`companion.shared_fits.fit_once_in_workers`), so that :func:`_fit_baselines` finds them."""
    fit_once_in_workers([(key, fit) for args in jobs for _, key, fit in _baseline_fits(*args)])


def _fit_baselines(x_train: torch.Tensor, methods: Tuple[str, ...], latent_dim: int, hidden: int,
                   n_components: int, covariance_type: str, steps: Dict[str, int], batch_size: int, lr: float,
                   gan_lr: float, seed: int, gan_disc_hidden: Optional[int] = None,
                   wgan_lr: Optional[float] = None, wgan_disc_hidden: Optional[int] = None,
                   reg_covar: float = 1e-3) -> Iterator[Tuple[str, object, float]]:
    """Train the chapter's methods with the decoder ``K -> hidden -> data``, one after the other.

    Yields ``(method, model, seconds)`` as each model is trained, after seeding ``seed`` for
    each (so a caller that samples a model before asking for the next draws the same numbers as
    one that trains them all first). Every model has ``sample(n)`` (the VAE's is its decoder
    mean, :class:`_MeanSampler`). The GAN's discriminator has ``gan_disc_hidden`` units
    (default ``hidden``); WGAN-GP uses ``wgan_lr`` (default ``gan_lr``) and ``wgan_disc_hidden``
    (default ``hidden``); ``reg_covar`` is added to the diagonal of IML's mixture covariances.

    A model trained before in this process with the same data and settings (also by
    :func:`companion.shared_fits.fit_once_in_workers` over :func:`_baseline_fits`) is yielded again
    (with the seconds its training took) and the random state is left as training it would leave
    it, so the results do not depend on which experiment trained it first; a checkpointed run
    (``--resume``) trains every model.
    """
    for name, key, fit in _baseline_fits(x_train, methods, latent_dim, hidden, n_components, covariance_type, steps,
                                         batch_size, lr, gan_lr, seed, gan_disc_hidden, wgan_lr, wgan_disc_hidden,
                                         reg_covar):
        model, took = fit_once(key, fit)
        yield name, model, took


def _fit_one(name: str, x_train: torch.Tensor, latent_dim: int, hidden: int, n_components: int, covariance_type: str,
             n_steps: int, batch_size: int, lr: float, gan_lr: float, seed: int, gan_disc_hidden: Optional[int],
             wgan_lr: Optional[float], wgan_disc_hidden: Optional[int], reg_covar: float):
    """Train one method of :func:`_fit_baselines` for ``n_steps`` after seeding ``seed``; returns its sampler."""
    dev = x_train.device
    shape = tuple(x_train.shape[1:])
    companion.seed_everything(seed)
    if name == "IML":
        perceptron = InvertiblePerceptron(latent_dim, hidden, int(np.prod(shape)), data_shape=shape)
        base = GMMBase(n_components, covariance_type, reg_covar=reg_covar, random_state=seed)
        model = TwoStageModel(perceptron, base).to(dev)
        model.fit(x_train, n_steps=n_steps, batch_size=batch_size, lr=lr)
        return model
    if name == "VAE":
        vae = VAE(shape, latent_dim, likelihood="bernoulli", hidden=hidden, n_layers=1).to(dev)
        fit_vae(vae, x_train, n_steps=n_steps, batch_size=batch_size, lr=lr)
        return _MeanSampler(vae)
    if name in ("GAN", "WGAN-GP"):
        wasserstein = name == "WGAN-GP"
        gen, disc = _make_gan_nets(latent_dim, hidden, shape, wgan_disc_hidden if wasserstein else gan_disc_hidden)
        rate = (gan_lr if wgan_lr is None else wgan_lr) if wasserstein else gan_lr
        return _gan_fit(gen.to(dev), disc.to(dev), x_train, latent_dim, n_steps, batch_size, rate, wasserstein,
                        desc=name)
    raise ValueError(f"unknown method {name!r}; expected one of {METHODS}")


def iml_claims(runs: Dict[str, Sequence[float]], quality_bar: Dict[str, Optional[Dict]], n_seeds: int,
               higher_is_better: bool = True, digits: int = 2) -> Dict[str, Dict[str, str]]:
    """The claims "IML is better than B" on a score over seeds, one per baseline B of ``runs``.

    Args:
        runs: ``{method: per-seed score}``, IML's among them.
        quality_bar: ``{method: bar summary or None}`` (see :func:`_bar_summary`); a GAN is
            compared only when it meets the bar in all ``n_seeds`` seeds (the VAE is the bar's reference).
        n_seeds: the seeds behind each summary.
        higher_is_better: ``False`` for a distance.
        digits: significant digits of the spreads in the phrases.

    Returns:
        ``{"IML_vs_<B>": {"verdict", "phrase"}}``, with the verdict ``"not compared"`` and a phrase that says
        why for a GAN below the bar (or unchecked), else :func:`companion.evidence.verdict` and
        :func:`companion.evidence.compare_phrase` on the runs (independent groups: the models differ).
    """
    check_positive_int(n_seeds, "n_seeds")
    if not isinstance(runs, dict) or "IML" not in runs:
        raise ValueError(f"runs must be a dict holding IML's runs; got {runs!r}")
    if not isinstance(quality_bar, dict):
        raise TypeError(f"quality_bar must be a dict of bar summaries; got {quality_bar!r}")
    claims = {}
    for m in (m for m in METHODS if m in runs and m != "IML"):
        bar = quality_bar.get(m)
        name = "the VAE" if m == "VAE" else m
        if m != "VAE" and (bar is None or bar["meets_bar_seeds"] < n_seeds):
            why = ("could not be checked against the bar" if bar is None
                   else f"meets the bar in {bar['meets_bar_seeds']} of {n_seeds} seeds")
            claims[f"IML_vs_{m}"] = {"verdict": "not compared", "phrase": f"{name} is not compared: it {why}"}
            continue
        a, b = list(runs["IML"]), list(runs[m])
        claims[f"IML_vs_{m}"] = {"verdict": verdict(a, b, higher_is_better=higher_is_better),
                                 "phrase": compare_phrase("IML", a, name, b, higher_is_better=higher_is_better,
                                                          digits=digits)}
    return claims


class _MeanSampler:
    """A VAE whose ``sample(n)`` gives decoder means (grey images, as the Parzen literature scores them)."""

    def __init__(self, vae: VAE) -> None:
        self.vae = vae

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return self.vae.sample(n, mean=True)


# ========================================================================================
# The small sweep that sets the digits GANs (baselines meet a bar before they are compared)
# ========================================================================================


@dataclass
class GANSweepConfig(QualityBarConfig):
    """One small sweep per digits GAN baseline, at one latent size and one seed.

    Each setting ``(learning rate, discriminator width, generator steps)`` of the GAN and of
    WGAN-GP (5 critic updates per generator step) is trained with the generator of
    ``implicit_mle/parzen_sweep`` (``K -> hidden -> data``) and scored by the quality bar
    (:func:`companion.metrics.classifier_quality_bar`) against a VAE trained for ``vae_steps``.
    The steps stay within the chapter's budget of ``ParzenSweepConfig.ae_steps`` steps per model.
    """

    latent_dim: int = 16
    hidden: int = 48
    batch_size: int = 64
    lr: float = 2e-3  # the VAE's
    vae_steps: int = 1500
    gan_settings: Tuple[Tuple[float, int, int], ...] = ((5e-4, 48, 1500), (1e-3, 48, 1500), (5e-4, 128, 1500),
                                                        (1e-3, 128, 1500))
    wgan_settings: Tuple[Tuple[float, int, int], ...] = ((5e-4, 48, 300), (1e-3, 48, 300), (5e-4, 48, 600),
                                                         (1e-3, 48, 600))
    SCALES: ClassVar = {
        "smoke": {
            "latent_dim": 4,
            "vae_steps": 40,
            "gan_settings": ((1e-3, 16, 20),),
            "wgan_settings": ((1e-3, 16, 10),),
            "n_bar_samples": 200,
            "classifier_steps": 40,
        },
        "paper": {
            "vae_steps": 5000,
            "gan_settings": (
                (2e-4, 48, 5000),
                (5e-4, 48, 5000),
                (1e-3, 48, 5000),
                (2e-4, 128, 5000),
                (5e-4, 128, 5000),
                (1e-3, 128, 5000),
            ),
            "wgan_settings": ((1e-4, 48, 2000), (5e-4, 48, 2000), (1e-3, 48, 2000), (1e-3, 128, 2000)),
        },
    }


@dataclass
class GANSweepResult:
    """What :func:`run_gan_sweep` returns: one row per (baseline, setting) with its quality bar, and samples.

    A row holds ``baseline`` (``"GAN"`` or ``"WGAN-GP"``), the setting (``lr``, ``disc_hidden``, ``steps``),
    the bar (``frechet``, ``frechet_ratio`` to the VAE's, ``min_class_share``, ``meets_bar``) and the training
    ``seconds``; ``samples`` maps each setting's label to its first 16 samples ``(16, *image)``.
    """

    rows: List[Dict[str, object]]  # one per (baseline, setting): the setting and its quality bar
    samples: Dict[str, np.ndarray]  # "GAN lr=..., width=..., steps=..." -> 16 samples
    metrics: Dict = field(default_factory=dict)


def plot_gan_sweep(result: GANSweepResult) -> Figure:
    """Each setting's smallest class share against its Fréchet ratio, with the bar's two thresholds."""
    import matplotlib.pyplot as plt

    set_style()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for baseline, marker in (("GAN", "o"), ("WGAN-GP", "s")):
        rows = [r for r in result.rows if r["baseline"] == baseline]
        ax.scatter([r["frechet_ratio"] for r in rows], [100 * r["min_class_share"] for r in rows], marker=marker,
                   label=baseline)
        for r in rows:
            ax.annotate(
                f"{r['lr']:g}, {r['disc_hidden']}, {r['steps']}",
                (r["frechet_ratio"], 100 * r["min_class_share"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.axhline(100 * result.metrics["min_class_share"], color="grey", linestyle="--", linewidth=1)
    ax.axvline(result.metrics["max_frechet_ratio"], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("Fréchet distance / the VAE's")
    ax.set_ylabel("smallest class share (%)")
    ax.set_title("the bar: above the dashed line, left of the dotted one")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@register(
    "implicit_mle/gan_sweep",
    config=GANSweepConfig,
    plot=plot_gan_sweep,
    description="The digits GANs' small sweep (learning rate, discriminator width, steps) against the quality bar",
)
def run_gan_sweep(cfg: GANSweepConfig) -> GANSweepResult:
    """Train every setting of both GAN baselines once; score each with the quality bar against the VAE."""
    x_train, x_valid, x_test = _splits(cfg.dataset)
    dev = x_train.device
    shape = tuple(x_train.shape[1:])
    feature_net, held_out = _digits_bar_tools(cfg.dataset, cfg.classifier_steps, cfg.seed, x_valid, x_test)
    if feature_net is None:
        raise ValueError(f"the quality bar needs the digit classifier: dataset must be 'digits'; got {cfg.dataset!r}")
    companion.seed_everything(cfg.seed)
    vae = VAE(shape, cfg.latent_dim, likelihood="bernoulli", hidden=cfg.hidden, n_layers=1).to(dev)
    fit_vae(vae, x_train, n_steps=cfg.vae_steps, batch_size=cfg.batch_size, lr=cfg.lr)
    with torch.no_grad():
        reference = classifier_frechet(vae.sample(cfg.n_bar_samples, mean=True), feature_net, held_out)
    rows: List[Dict[str, object]] = []
    kept: Dict[str, np.ndarray] = {}
    for baseline, settings in (("GAN", cfg.gan_settings), ("WGAN-GP", cfg.wgan_settings)):
        for lr, disc_hidden, steps in settings:
            companion.seed_everything(cfg.seed)
            start = time.perf_counter()
            gen, disc = _make_gan_nets(cfg.latent_dim, cfg.hidden, shape, int(disc_hidden))
            gan = _gan_fit(gen.to(dev), disc.to(dev), x_train, cfg.latent_dim, int(steps), cfg.batch_size, float(lr),
                           baseline == "WGAN-GP", desc=baseline)
            seconds = time.perf_counter() - start
            samples = gan.sample(cfg.n_bar_samples)
            bar = classifier_quality_bar(samples, feature_net, held_out, reference, cfg.min_class_share)
            rows.append({"baseline": baseline, "lr": float(lr), "disc_hidden": int(disc_hidden), "steps": int(steps),
                         "frechet": bar["frechet"], "frechet_ratio": bar["frechet_ratio"],
                         "min_class_share": bar["min_class_share"], "meets_bar": bar["meets_bar"], "seconds": seconds})
            kept[f"{baseline} lr={lr:g}, width={disc_hidden}, steps={steps}"] = samples[:16].cpu().numpy()
    metrics = {"rows": rows, "vae_frechet": reference, "min_class_share": cfg.min_class_share, "max_frechet_ratio": 2.0,
               "meets_bar": {b: [r["meets_bar"] for r in rows if r["baseline"] == b] for b in ("GAN", "WGAN-GP")}}
    return GANSweepResult(rows, kept, metrics)


def gan_sweep_table(result: GANSweepResult) -> pd.DataFrame:
    """The sweep as a pandas DataFrame: one row per setting, its Fréchet ratio, smallest class share, verdict."""
    import pandas as pd

    return pd.DataFrame([{"baseline": r["baseline"], "learning rate": r["lr"], "discriminator width": r["disc_hidden"],
                          "generator steps": r["steps"], "Fréchet / VAE's": round(r["frechet_ratio"], 2),
                          "smallest class share (%)": round(100 * r["min_class_share"], 1),
                          "meets the bar": "yes" if r["meets_bar"] else "no", "seconds": round(r["seconds"], 1)}
                         for r in result.rows]).set_index("baseline")


def quality_bar_table(quality_bar: Dict[str, Dict], n_seeds: int) -> pd.DataFrame:
    """The quality bar per method and latent size as a pandas DataFrame.

    Args:
        quality_bar: ``{method: {latent size: summary}}`` with the summaries of
            ``metrics["quality_bar"]`` of ``implicit_mle/parzen_sweep``.
        n_seeds: the number of seeds behind each summary.
    """
    import pandas as pd

    rows = []
    for m, by_k in quality_bar.items():
        for k, b in by_k.items():
            rows.append({"method": m, "K": int(k),
                         "Fréchet": f"{b['frechet']['mean']:.1f} ± {b['frechet']['std']:.1f}",
                         "Fréchet / VAE's": f"{b['frechet_ratio']['mean']:.2f}",
                         "smallest class share (%)": f"{100 * b['min_class_share']['mean']:.1f}",
                         "meets the bar": f"{b['meets_bar_seeds']}/{n_seeds} seeds"})
    return pd.DataFrame(rows).set_index(["method", "K"])


def bar_phrase(name: str, summary: Dict[str, object], n_seeds: int, latent_dim: int) -> str:
    """A sentence fragment saying whether a baseline meets the bar, with its numbers.

    ``summary`` is one entry of ``metrics["quality_bar"]`` (see :func:`_bar_summary`), e.g.
    ``"the GAN meets the bar at K = 16 in 3 of 3 seeds (Fréchet distance 0.30 times the VAE's,
    smallest class share 5.1%)"``.
    """
    check_positive_int(n_seeds, "n_seeds")
    passed = int(summary["meets_bar_seeds"])
    verb = (
        "meets the bar"
        if passed == n_seeds
        else ("fails the bar" if passed == 0 else "meets the bar in some seeds only")
    )
    return (f"{name} {verb} at K = {latent_dim} ({passed} of {n_seeds} seeds; Fréchet distance "
            f"{summary['frechet_ratio']['mean']:.2f} times the VAE's, smallest class share "
            f"{100 * summary['min_class_share']['mean']:.1f}%)")
