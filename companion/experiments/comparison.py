"""Experiments of the comparison chapter: every method of the book on the same data and metrics.

No source paper compares these methods with each other. This module trains each of them, with
the package's own classes and fit functions, on the same splits and scores them the same way:

* ``comparison/images`` — ``digits`` (8x8, 17 grey levels) and ``faces`` (25x25, quantised to
  256 levels); MNIST and CIFAR-10 at ``paper`` scale. Bits/dim of the discrete pixels where a
  model has a likelihood, Parzen log-likelihood, a Fréchet distance in a fixed feature space,
  wall-clock training time and parameter count, and sample grids.
* ``comparison/patches`` — the 63-dimensional ``patches`` (BSDS300 at ``paper`` scale): test
  log-likelihood in nats of the continuous vectors, Parzen, Fréchet in a fixed PCA, time, size.
* ``comparison/mode_coverage`` — ``ring`` and ``grid``: modes covered and high-quality samples
  (:func:`companion.metrics.mode_coverage`), test log-likelihood where defined, time, size.

What is compared and on what (models, data sets, likelihood kinds, feature spaces) lives in
:mod:`companion.experiments.comparison_data`, the settings in :mod:`companion.experiments.comparison_configs`,
the builders in :mod:`companion.experiments.comparison_models` (the GANs in
:mod:`companion.experiments.comparison_gans`);
what a run returns in :mod:`companion.experiments.comparison_results`, its tables in
:mod:`companion.experiments.comparison_tables` and its figures in :mod:`companion.experiments.comparison_plots`.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

import companion
from companion import data as datasets
from companion.evidence import VERDICTS, verdict
from companion.experiments.comparison_configs import (  # noqa: F401  (re-exported: the chapter calls cmp.X)
    ComparisonConfig,
    ImagesConfig,
    ModeCoverageConfig,
    PatchesConfig,
)
from companion.experiments.comparison_data import (  # noqa: F401  (re-exported: the chapter calls cmp.X)
    CHAPTERS,
    DATASET_SPECS,
    DISPLAY_NAMES,
    GAN_MODELS,
    MODELS,
    PARZEN_GRIDS,
    DatasetSpec,
    FeatureSpace,
    FittedModel,
    dataset_spec,
    feature_space,
    likelihood_kind,
    load_split,
    not_applicable_reason,
)
from companion.experiments.comparison_gans import fit_gans
from companion.experiments.comparison_models import fit_model
from companion.experiments.comparison_plots import (  # noqa: F401  (re-exported: the chapter calls cmp.X)
    check_pareto_front,
    plot_samples,
    plot_tradeoffs,
    tradeoff_points,
    tradeoff_spreads,
)
from companion.experiments.comparison_records import (  # noqa: F401  (re-exported: the chapter calls cmp.X)
    PATCHES_BGAN_GAMMA_RECORD,
    PATCHES_GAN_SWEEP_RECORD,
    RING_BGAN_SWEEP_RECORD,
    RING_GAN_SEED_RECORD,
    sweep_table,
)
from companion.experiments.comparison_results import COLUMNS, ComparisonResult, meets_bar
from companion.experiments.comparison_tables import (  # noqa: F401  (re-exported: cmp.X)
    bar_summary,
    comparison_table,
    longer_runs_phrase,
)
from companion.metrics import (
    bits_per_dim,
    classifier_quality_bar,
    frechet_distance,
    mode_coverage,
    pareto_front,  # noqa: F401  (the chapter calls it as cmp.pareto_front)
    parzen_log_likelihood,
    select_parzen_sigma,
)
from companion.reproduce import register
from companion.workers import map_in_workers

__all__ = [
    "DATASET_SPECS",
    "DISPLAY_NAMES",
    "MODELS",
    "DatasetSpec",
    "FeatureSpace",
    "FittedModel",
    "check_pareto_front",
    "dataset_spec",
    "feature_space",
    "fit_model",
    "likelihood_kind",
    "load_split",
    "meets_bar",
    "not_applicable_reason",
    "pareto_front",
    "plot_tradeoffs",
    "tradeoff_spreads",
]

# ========================================================================================
# The runs
# ========================================================================================


def _n_samples(model: str, spec: DatasetSpec, cfg: ComparisonConfig, n_train: int) -> int:
    """Samples per model: ``n_samples``, never more than the training split, so the data row has as many."""
    slow = model == "agave" and spec.n_dims > 256  # 625 sequential PixelCNN passes per face
    return min(cfg.n_samples_slow if slow else cfg.n_samples, n_train)


def _finite(samples: torch.Tensor) -> torch.Tensor:
    if not bool(torch.isfinite(samples).all()):  # a diverged generator: say so instead of crashing a metric
        samples = torch.nan_to_num(samples, nan=0.0, posinf=1e6, neginf=-1e6)
    return samples


def _gan_bar(model: str, row: Dict[str, Optional[float]], samples: torch.Tensor, spec: DatasetSpec,
             cfg: ComparisonConfig, test: torch.Tensor, space: Optional[FeatureSpace],
             vae_row: Optional[Dict[str, Optional[float]]]) -> Dict[str, Optional[float]]:
    """Whether a GAN meets the book's bar (issue 15, item 2) in this seed: 1.0, 0.0, or ``None`` without a bar.

    Images: a Fréchet distance within twice the VAE's of the same seed (the better of its draws and
    its decoder means) and, where the features are a classifier's (digits), every class at least 3% of the samples
    (:func:`companion.metrics.classifier_quality_bar`). Toys: the bar is read over the seeds together
    (:func:`_toy_bar`); a seed records only whether it reached the level (``at_bar_level``).
    """
    if model not in GAN_MODELS:
        return {}
    if spec.family == "toys":
        needed = dict(cfg.gan_bar_modes).get(spec.name)
        return {} if needed is None else {"at_bar_level": float(row["modes"] >= needed)}
    if vae_row is None or not vae_row.get("frechet_means"):
        return {"meets_bar": None}
    # the VAE's better number of the two kinds of sample: the stricter bar
    reference = min(float(vae_row["frechet"]), float(vae_row["frechet_means"]))
    if space is not None and space.classifier is not None:
        bar = classifier_quality_bar(samples.clamp(0, 1), space.classifier, test, reference)
        return {"meets_bar": float(bar["meets_bar"]), "min_class_share": float(bar["min_class_share"])}
    return {"meets_bar": float(row["frechet"] <= 2.0 * reference)}


def _evaluate(fitted: FittedModel, spec: DatasetSpec, cfg: ComparisonConfig, n_train: int, valid: torch.Tensor,
              test: torch.Tensor, space: Optional[FeatureSpace]
              ) -> Tuple[Dict[str, Optional[float]], np.ndarray, torch.Tensor]:
    """One fitted model's scores (without the GAN bar, which needs the VAE of the same seed: :func:`_gan_bar`),
    the first ``n_grid`` draws for the sample grids, and the draws themselves."""
    row: Dict[str, Optional[float]] = {"seconds": fitted.seconds, "n_params": float(fitted.n_params)}
    if fitted.log_prob_fn is not None:
        mean_ll = float(fitted.log_prob(test).mean())
        if spec.discrete:
            row["bits_per_dim"] = float(bits_per_dim(-mean_ll, spec.n_dims))
        else:
            row["test_ll"] = mean_ll
    else:
        row["bits_per_dim" if spec.discrete else "test_ll"] = None
    n = _n_samples(fitted.name, spec, cfg, n_train)
    samples = _finite(fitted.sample(n))
    row.update(_sample_scores(samples, spec, valid, test, space))
    if spec.family != "toys":  # the decoder's means beside the draws, where they differ
        means = None if fitted.mean_fn is None else _finite(fitted.sample(n, mean=True))
        row["frechet_means"] = None if means is None else frechet_distance(space.features(means),
                                                                           space.features(test))
    return row, samples[: cfg.n_grid].numpy(), samples


def _sample_scores(samples: torch.Tensor, spec: DatasetSpec, valid: torch.Tensor, test: torch.Tensor,
                   space: Optional[FeatureSpace]) -> Dict[str, Optional[float]]:
    """Modes covered (toys), or Parzen log-likelihood and Fréchet distance to the test split."""
    if spec.family == "toys":
        n_modes, quality = mode_coverage(samples, datasets.toy_centers(spec.name), datasets.toy_std(spec.name))
        return {"modes": float(n_modes), "high_quality": float(quality)}
    sigma, _ = select_parzen_sigma(samples, valid, sigmas=PARZEN_GRIDS[spec.family])
    return {"parzen_sigma": sigma, "parzen_ll": parzen_log_likelihood(samples, test, sigma),
            "frechet": frechet_distance(space.features(samples), space.features(test))}


def _toy_bar(modes: Sequence[float], needed: int, min_seeds: int) -> Dict[str, float]:
    """The toys' bar (issue 15, item 2; the symmetric chapter's definition): at least ``needed`` modes
    covered on average over at least ``min_seeds`` seeds, with the worst seed and the seeds at the level beside it."""
    mean = float(np.mean(modes))
    return {"met": float(len(modes) >= min_seeds and mean >= needed), "mean": mean, "worst": float(min(modes)),
            "at_level": float(sum(m >= needed for m in modes)), "needed": float(needed),
            "min_seeds": float(min_seeds), "n_seeds": float(len(modes))}


def _data_row(spec: DatasetSpec, cfg: ComparisonConfig, train: torch.Tensor, valid: torch.Tensor, test: torch.Tensor,
              space: Optional[FeatureSpace]) -> Dict[str, Optional[float]]:
    """The training split scored like a model's samples, as many of them: what a perfect sampler would get."""
    return _sample_scores(train[: _n_samples("data", spec, cfg, len(train))], spec, valid, test, space)


def _mean_row(runs: Dict[str, List[Optional[float]]]) -> Dict[str, Optional[float]]:
    """The mean over seeds of each metric (``None`` where a seed has no value)."""
    return {key: None if any(v is None for v in values) else float(np.mean(values)) for key, values in runs.items()}


def _scored_seeds(model: str, seeds: Tuple[int, ...], spec: DatasetSpec, cfg: ComparisonConfig,
                  train: torch.Tensor, valid: torch.Tensor, test: torch.Tensor, space: Optional[FeatureSpace]
                  ) -> Tuple[List[Tuple[Dict[str, Optional[float]], np.ndarray, Optional[torch.Tensor]]], str, str]:
    """Fit ``model`` with each of ``seeds`` and score it (:func:`_evaluate`): per seed its row, its grid
    draws and, for a GAN, the draws its bar is read on; with the model's likelihood kind and note.

    A GAN trains all its seeds at once (:func:`fit_gans`: replicas), every other model one fit per seed
    (:func:`fit_model`, which seeds itself). One call is one worker's job in :func:`_fit_models`, so it
    sets the random state it draws from.
    """
    import dataclasses

    if model in GAN_MODELS:
        companion.seed_everything(seeds[0])  # the replicas seed themselves; this seeds the draws that score them
        fits = fit_gans(model, train, spec, dataclasses.replace(cfg, seed=seeds[0], n_seeds=len(seeds)))
    else:
        fits = [fit_model(model, train, spec, dataclasses.replace(cfg, seed=seed)) for seed in seeds]
    scored = []
    for fitted in fits:
        row, draws, samples = _evaluate(fitted, spec, cfg, len(train), valid, test, space)
        scored.append((row, draws, samples if model in GAN_MODELS else None))
    return scored, fits[-1].kind, fits[-1].how


def _fit_models(models: Sequence[str], spec: DatasetSpec, cfg: ComparisonConfig, train: torch.Tensor,
                valid: torch.Tensor, test: torch.Tensor, space: Optional[FeatureSpace]
                ) -> Dict[str, Tuple[Dict[str, List], np.ndarray, str, str]]:
    """Fit and score every model of ``models`` with seeds ``cfg.seed .. cfg.seed + n_seeds - 1``, each fit
    a job of :func:`companion.workers.map_in_workers` (two at a time on a 2-core CPU, each on one thread;
    the numbers do not depend on how many run at once). Returns per model each metric's values over the
    seeds (a GAN's bar read against the VAE of the same seed, :func:`_gan_bar`), the first seed's grid
    draws, and its likelihood kind and note."""
    seeds = tuple(cfg.seed + j for j in range(cfg.n_seeds))
    jobs = []
    for model in models:  # a GAN's seeds are one job (replicas), any other model's one job per seed
        jobs += [(model, seeds)] if model in GAN_MODELS else [(model, (seed,)) for seed in seeds]
    jobs.sort(key=lambda job: len(job[1]) == 1)  # the long replica jobs first, so that the workers end together
    done = map_in_workers(lambda model, job_seeds: _scored_seeds(model, job_seeds, spec, cfg, train, valid, test,
                                                                 space), jobs)
    scored: Dict[str, List] = {}
    how: Dict[str, Tuple[str, str]] = {}
    for (model, _), (seed_scores, kind, note) in zip(jobs, done):
        scored.setdefault(model, []).extend(seed_scores)
        how[model] = (kind, note)
    vae_rows = [row for row, _, _ in scored["vae"]] if "vae" in scored else None
    fitted: Dict[str, Tuple[Dict[str, List], np.ndarray, str, str]] = {}
    for model in models:
        runs: Dict[str, List[Optional[float]]] = {}
        for j, (row, _, samples) in enumerate(scored[model]):
            row.update(_gan_bar(model, row, samples, spec, cfg, test, space, None if vae_rows is None else vae_rows[j]))
            for key, value in row.items():
                runs.setdefault(key, []).append(value)
        fitted[model] = (runs, scored[model][0][1]) + how[model]
    return fitted


def _run(cfg: ComparisonConfig) -> ComparisonResult:
    import dataclasses

    cfg.validate()
    dev = companion.device()
    family = dataset_spec(cfg.datasets[0]).family
    rows: Dict[str, Dict[str, Dict[str, Optional[float]]]] = {}
    runs: Dict[str, Dict[str, Dict[str, List]]] = {}
    kinds: Dict[str, Dict[str, str]] = {}
    notes: Dict[str, Dict[str, str]] = {}
    grids: Dict[str, Dict[str, np.ndarray]] = {}
    spaces: Dict[str, str] = {}
    bars: Dict[str, Dict[str, Dict[str, float]]] = {}
    seeds = {name: dict(cfg.dataset_seeds).get(name, cfg.n_seeds) for name in cfg.datasets}
    for name in cfg.datasets:
        spec = dataset_spec(name)
        cfg_data = dataclasses.replace(cfg, n_seeds=seeds[name])
        train = load_split(name, "train", cfg.n_train)
        valid = load_split(name, "valid", cfg.n_test)
        test = load_split(name, "test", cfg.n_test)
        space = None if spec.family == "toys" else feature_space(name, cfg)
        if space is not None:
            spaces[name] = space.description
        data_row = _data_row(spec, cfg, train, valid, test, space)
        rows[name], runs[name], kinds[name], notes[name] = {"data": data_row}, {"data": {k: [v] for k, v in
                                                                                          data_row.items()}}, {}, {}
        grids[name] = {"data": train[: cfg.n_grid].numpy()}
        to_fit = []
        for model in cfg.models:
            reason, kind = not_applicable_reason(model, spec), "n/a"
            if reason is None and f"{name}/{model}" in cfg.skip:
                reason, kind = f"skipped at {cfg.scale} scale to keep the chapter inside its time budget", "skipped"
            if reason is None:
                to_fit.append(model)
            else:
                rows[name][model], runs[name][model], kinds[name][model], notes[name][model] = {}, {}, kind, reason
        fitted = _fit_models(to_fit, spec, cfg_data, train.to(dev), valid, test, space)
        for model in cfg.models:
            if model not in fitted:
                continue
            runs[name][model], grids[name][model], kinds[name][model], notes[name][model] = fitted[model]
            needed = dict(cfg.gan_bar_modes).get(name)
            if spec.family == "toys" and model in GAN_MODELS and needed is not None:
                bars.setdefault(name, {})[model] = _toy_bar(runs[name][model]["modes"], needed, cfg.gan_bar_seeds)
            rows[name][model] = _mean_row(runs[name][model])
    result = ComparisonResult(list(cfg.datasets), list(cfg.models), rows, kinds, notes, grids, spaces, {}, family,
                              runs, cfg.n_seeds, seeds, bars)
    result.metrics = _flat_metrics(result)
    return result


def _flat_metrics(result: ComparisonResult) -> Dict[str, float]:
    """``"<dataset>/<model>/<metric>"`` -> mean over seeds (and ``..._std``), NaN where not defined."""
    keys = [key for key, _, _ in COLUMNS[result.family]]
    keys += ["meets_bar"] + (["parzen_sigma"] if result.family != "toys" else [])
    metrics: Dict[str, float] = {}
    for name in result.datasets:
        for model in ["data"] + result.models:
            for key in keys:
                if model == "data" and key in ("bits_per_dim", "test_ll", "seconds", "n_params", "frechet_means",
                                               "meets_bar"):
                    continue
                if key == "meets_bar" and (model not in GAN_MODELS or "meets_bar" not in result.runs[name][model]):
                    continue
                values = result.runs[name][model].get(key)
                ok = values is not None and all(v is not None for v in values)
                metrics[f"{name}/{model}/{key}"] = float(np.mean(values)) if ok else float("nan")
                if model != "data" and key not in ("n_params", "meets_bar"):
                    metrics[f"{name}/{model}/{key}_std"] = float(np.std(values, ddof=1)) if ok and len(values) > 1 \
                        else float("nan")
            if model != "data":
                metrics[f"{name}/{model}/likelihood_is_bound"] = {"bound": 1.0, "exact": 0.0}.get(
                    result.kinds[name][model], float("nan"))
            bar = result.runs[name].get(model, {}).get("meets_bar")
            if model in GAN_MODELS and bar and None not in bar:
                metrics[f"{name}/{model}/bar_met_seeds"] = float(sum(bar))  # met in k of n_seeds
            for key, value in result.bars.get(name, {}).get(model, {}).items():  # the toys' bar over the seeds
                metrics[f"{name}/{model}/bar_{key}"] = value
        metrics.update(_headline_verdicts(result, name))
        metrics[f"{name}/n_seeds"] = float(result.seeds.get(name, result.n_seeds))
    metrics["n_seeds"] = float(result.n_seeds)
    return metrics


#: The chapters' questions the discussion answers, per family: (a, b, metric, higher is better).
HEADLINES = {
    "images": (("iml", "vae", "frechet", False),),
    "vectors": (),
    "toys": (("m-bgan", "bgan", "modes", True),),
}


def paired_seeds(result: ComparisonResult, a: str, b: str) -> bool:
    """Whether two models ran on the same seeds with only the compared part different: the toys' GANs, trained
    as replicas of one recipe (the same generator initialisation and minibatches per seed; the discriminator is
    what differs), so their verdicts resample the seeds together (``paired=True``). BGAN and M-BGAN also share
    each seed's noise; the GAN does not, since the noise stream continues after the discriminator's
    initialisation, and its maxout discriminator draws a different number of random numbers than the set one."""
    return result.family == "toys" and a in GAN_MODELS and b in GAN_MODELS


def compared(result: ComparisonResult, dataset: str, a: str, b: str, key: str) -> Optional[Tuple[List, List]]:
    """The per-seed values of ``key`` of ``a`` and ``b``, or ``None`` where they are not compared (a model not
    run there, or a GAN below its bar)."""
    runs = result.runs[dataset]
    values = [runs.get(m, {}).get(key) for m in (a, b)]
    if not all(v and None not in v for v in values) or any(meets_bar(result, dataset, m) is False for m in (a, b)):
        return None
    return values[0], values[1]


def _headline_verdicts(result: ComparisonResult, dataset: str) -> Dict[str, float]:
    """``"<dataset>/<a>_vs_<b>_<metric>_verdict"``: 1 holds, -1 does not hold, 0 cannot tell, NaN not compared
    (a model not run, or a GAN below its bar), from :func:`companion.evidence.verdict` over the seeds. On the
    toys, the GAN also against every other model, on modes and on the share of high-quality samples."""
    questions = list(HEADLINES[result.family])
    if result.family == "toys" and "gan" in result.models:
        questions += [("gan", m, key, True) for m in result.models if m != "gan" for key in ("modes", "high_quality")]
    out = {}
    for a, b, key, higher in questions:
        values = compared(result, dataset, a, b, key)
        word = None if values is None else verdict(*values, higher_is_better=higher,
                                                   paired=paired_seeds(result, a, b))
        out[f"{dataset}/{a}_vs_{b}_{key}_verdict"] = float("nan") if word is None else \
            {VERDICTS[0]: 1.0, VERDICTS[1]: -1.0}.get(word, 0.0)
    return out


@register("comparison/images", config=ImagesConfig, plot=lambda r: plot_samples(r),
          description="Every method on digits and faces: bits/dim, Parzen, Fréchet, time, size, samples")
def run_images(cfg: ImagesConfig) -> ComparisonResult:
    """Train every model on every image dataset of ``cfg`` and score it (see the module docstring)."""
    return _run(cfg)


@register("comparison/patches", config=PatchesConfig, plot=lambda r: plot_samples(r),
          description="Every method on 8x8 natural-image patches: test LL, Parzen, Fréchet (PCA), time, size")
def run_patches(cfg: PatchesConfig) -> ComparisonResult:
    """Train every model that applies on the patches and score it."""
    return _run(cfg)


@register("comparison/mode_coverage", config=ModeCoverageConfig, plot=lambda r: plot_samples(r),
          description="Every method on ring and grid: modes covered, high-quality samples, test LL, time, size")
def run_mode_coverage(cfg: ModeCoverageConfig) -> ComparisonResult:
    """Train every model that applies on the 2-D mixtures; mode coverage on 2,500 samples each."""
    return _run(cfg)
