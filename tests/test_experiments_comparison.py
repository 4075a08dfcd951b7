"""Tests of the comparison chapter's experiments (companion/experiments/comparison.py), at smoke scale."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch
from conftest import timeless

from companion.experiments import comparison as C
from companion.experiments.comparison_gans import fit_gans
from companion.experiments.comparison_tables import comparison_table


@pytest.fixture(scope="module")
def results():
    """Each registered comparison experiment once, at smoke scale (the slow part of this file)."""
    return {
        "images": C.run_images(C.ImagesConfig.for_scale("smoke")),
        "patches": C.run_patches(C.PatchesConfig.for_scale("smoke")),
        "toys": C.run_mode_coverage(C.ModeCoverageConfig.for_scale("smoke")),
    }


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


# ----------------------------------------------------------------------------- the runs


@pytest.mark.parametrize("family", ["images", "patches", "toys"])
def test_every_dataset_and_model_has_an_entry(results, family):
    result = results[family]
    likelihood_key = {"images": "bits_per_dim", "patches": "test_ll", "toys": "test_ll"}[family]
    sample_keys = ("modes", "high_quality") if family == "toys" else ("parzen_ll", "frechet")
    for dataset in result.datasets:
        spec = C.dataset_spec(dataset)
        for model in C.MODELS:
            m = result.metrics
            assert f"{dataset}/{model}/{likelihood_key}" in m
            assert f"{dataset}/{model}/likelihood_is_bound" in m
            if C.not_applicable_reason(model, spec) is not None:
                assert result.kinds[dataset][model] == "n/a"
                assert result.notes[dataset][model]  # the reason is written down
                assert all(math.isnan(m[f"{dataset}/{model}/{k}"]) for k in sample_keys + ("seconds",))
                continue
            for key in sample_keys + ("seconds", "n_params"):
                assert _finite(m[f"{dataset}/{model}/{key}"]), (dataset, model, key)
            has_likelihood = C.likelihood_kind(model, spec) != "none"
            assert _finite(m[f"{dataset}/{model}/{likelihood_key}"]) == has_likelihood, (dataset, model)
            assert result.samples[dataset][model].shape[1:] == spec.shape


def test_agave_is_marked_not_applicable_off_images(results):
    assert results["patches"].kinds["patches"]["agave"] == "n/a"
    assert "PixelCNN" in results["patches"].notes["patches"]["agave"]
    assert results["images"].kinds["digits"]["agave"] == "bound"


def test_bound_flags(results):
    m_img, m_vec = results["images"].metrics, results["patches"].metrics
    assert m_img["digits/vae/likelihood_is_bound"] == 1.0
    assert m_img["digits/agave/likelihood_is_bound"] == 1.0
    assert m_img["digits/av-ade/likelihood_is_bound"] == 1.0
    # Real-NVP: an exact density; scored on discrete pixels it is a dequantisation bound
    assert m_vec["patches/real-nvp/likelihood_is_bound"] == 0.0
    assert m_img["digits/real-nvp/likelihood_is_bound"] == 1.0
    assert math.isnan(m_img["digits/gan/likelihood_is_bound"])
    # the flags agree with the classes' own declarations
    from companion.flows import RealNVP
    from companion.vae import VAE

    assert VAE.log_prob_is_bound and not RealNVP.log_prob_is_bound
    assert C.likelihood_kind("vae", C.dataset_spec("patches")) == "bound"
    assert C.likelihood_kind("real-nvp", C.dataset_spec("ring")) == "exact"
    assert C.likelihood_kind("iml", C.dataset_spec("digits")) == "none"


def test_bits_per_dim_are_positive_and_data_row_is_the_best_sampler(results):
    r = results["images"]
    for model in C.MODELS:
        bpd = r.rows["digits"][model].get("bits_per_dim")
        if bpd is not None:
            assert bpd > 0  # the probability of a discrete image is at most 1
    data = r.rows["digits"]["data"]
    # at smoke scale no model comes close to the training data's own Fréchet distance
    assert all(data["frechet"] < r.rows["digits"][m]["frechet"] for m in r.models if "frechet" in r.rows["digits"][m])


def test_true_samples_cover_every_mode(results):
    r = results["toys"]
    for dataset in r.datasets:
        assert r.rows[dataset]["data"]["modes"] == len(C.datasets.toy_centers(dataset))
        assert r.rows[dataset]["data"]["high_quality"] > 0.95


def test_tables_and_figures(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for result in results.values():
        for dataset in result.datasets:
            table = comparison_table(result, dataset)
            assert list(table.index)[1:] == [C.DISPLAY_NAMES[m] for m in result.models]
        plt.close(C.plot_samples(result))
        plt.close(C.plot_tradeoffs(result))
    table = comparison_table(results["patches"])
    assert (table.loc["AGAVE"] == "n/a").sum() >= 4
    with pytest.raises(ValueError, match="dataset"):
        comparison_table(results["patches"], "digits")


def test_reproduce_writes_json_metrics(tmp_path):
    from companion.reproduce import reproduce

    paths = reproduce("comparison/mode_coverage", scale="smoke", out=tmp_path, models=("vae", "gan", "agave"))
    payload = json.loads(paths["metrics"].read_text())
    assert payload["metrics"]["ring/vae/likelihood_is_bound"] == 1.0
    assert payload["metrics"]["ring/agave/modes"] is None  # NaN (n/a) becomes null in JSON
    assert paths["figure"].stat().st_size > 0


# ----------------------------------------------------------------------------- parameter counts


def test_parameter_counts_are_those_of_the_trained_modules():
    cfg = C.ImagesConfig.for_scale("smoke")
    spec = C.dataset_spec("digits")
    train = C.load_split("digits", "train", 128)
    for model in ("vae", "real-nvp", "m-bgan"):
        fitted = C.fit_model(model, train, spec, cfg)
        assert fitted.n_params == sum(p.numel() for p in fitted.modules.parameters())
        assert fitted.seconds > 0
    iml = C.fit_model("iml", train, spec, cfg)
    mixture = iml.modules.base.mixture  # scikit-learn's own count of the GMM's free parameters
    networks = sum(p.numel() for p in iml.modules.parameters())
    assert iml.n_params == networks + mixture._n_parameters()


# ----------------------------------------------------------------------------- data and features


def test_faces_are_quantised_to_eight_bits():
    x = C.load_split("faces", "train")
    assert torch.allclose(x * 255, torch.round(x * 255), atol=1e-4)
    digits = C.load_split("digits", "valid")
    assert torch.equal(digits, C.datasets.load("digits", "valid"))  # already on its 17-level grid


def test_feature_spaces_are_fixed():
    cfg = C.ImagesConfig.for_scale("smoke")
    x = C.load_split("digits", "test")
    a, b = C.feature_space("digits", cfg), C.feature_space("digits", cfg)
    assert a.name == "classifier"
    assert torch.equal(a.features(x), b.features(x))
    faces = C.load_split("faces", "test")
    p, q = C.feature_space("faces", cfg), C.feature_space("faces", cfg)
    assert p.name == "pca"
    assert torch.equal(p.features(faces), q.features(faces))


def test_pca_features_are_orthogonal_projections_in_decreasing_variance():
    cfg = C.PatchesConfig.for_scale("smoke", pca_components=5)
    train = C.load_split("patches", "train", cfg.n_train)
    space = C.feature_space("patches", cfg)
    feats = space.features(train)
    assert feats.shape == (train.shape[0], 5)
    variances = feats.var(0)
    assert torch.all(variances[:-1] >= variances[1:])
    cov = torch.cov(feats.T)
    off_diagonal = cov - torch.diag(torch.diag(cov))
    assert off_diagonal.abs().max() < 1e-6 * variances.max()  # principal components are uncorrelated


# ----------------------------------------------------------------------------- Pareto fronts


def test_pareto_front():
    points = {"a": (1.0, 5.0), "b": (2.0, 2.0), "c": (3.0, 1.0), "d": (3.0, 3.0), "e": (2.0, 2.5),
              "f": (float("nan"), 0.0)}
    assert C.pareto_front(points) == ["a", "b", "c"]
    assert C.pareto_front({"x": (1.0, 1.0), "y": (1.0, 1.0)}) == ["x", "y"]  # ties dominate nobody
    with pytest.raises(ValueError, match="pair"):
        C.pareto_front({"a": (1.0,)})
    with pytest.raises(TypeError):
        C.pareto_front([(1.0, 2.0)])


def test_a_gan_below_its_bar_is_on_no_tradeoff_plot_or_front(results, monkeypatch):
    from companion.experiments import comparison_plots

    r = results["images"]
    gans = [m for m in r.models if m in C.GAN_MODELS and r.rows["digits"][m].get("frechet") is not None]
    assert gans, "the smoke comparison trains a GAN"
    monkeypatch.setattr(comparison_plots, "meets_bar", lambda result, dataset, model: True)
    assert set(gans) <= set(C.tradeoff_points(r, "digits", "seconds", "frechet"))
    monkeypatch.setattr(comparison_plots, "meets_bar", lambda result, dataset, model: False if model in gans else None)
    points = C.tradeoff_points(r, "digits", "seconds", "frechet")
    assert not set(gans) & set(points) and points  # the other models stay
    assert not set(gans) & set(C.pareto_front(points))


def test_check_pareto_front(results, capsys):
    r = results["images"]
    points = C.tradeoff_points(r, "digits", "seconds", "frechet")
    front = C.pareto_front(points)
    assert C.check_pareto_front(front, r, "digits")
    dominated = [m for m in points if m not in front]
    if dominated:
        assert not C.check_pareto_front(front + dominated[:1], r, "digits")
    assert not C.check_pareto_front(front[1:], r, "digits") or len(front) == 0
    with pytest.raises(TypeError):
        C.check_pareto_front("gan", r, "digits")
    with pytest.raises(ValueError, match="unknown"):
        C.check_pareto_front(["GAN"], r, "digits")
    with pytest.raises(ValueError, match="metrics"):
        C.tradeoff_points(r, "digits", "seconds", "modes")


# ----------------------------------------------------------------------------- configurations


def test_paper_scale_names_the_real_datasets():
    cfg = C.ImagesConfig.for_scale("paper")
    assert cfg.datasets == ("mnist", "cifar10")
    cfg.validate()
    assert C.dataset_spec("cifar10").shape == (3, 32, 32) and C.dataset_spec("mnist").n_levels == 256
    patches = C.PatchesConfig.for_scale("paper")
    assert patches.datasets == ("bsds300",)
    patches.validate()
    C.ModeCoverageConfig.for_scale("paper").validate()
    # the toy GANs decay their learning rate at book scale (the chapter's try); paper scale keeps PacGAN's constant one
    assert C.ModeCoverageConfig.for_scale("book").gan_lr_decay
    assert not C.ModeCoverageConfig.for_scale("paper").gan_lr_decay


@pytest.mark.parametrize("overrides, match", [
    ({"datasets": ("patches",)}, "families"),
    ({"datasets": ()}, "at least one"),
    ({"datasets": ("nope",)}, "dataset must be one of"),
    ({"models": ("vae", "flow")}, "models must be among"),
    ({"n_steps": 0}, "n_steps"),
    ({"n_samples": 2.5}, "n_samples"),
    ({"n_test": 1}, "n_test"),
    ({"lr": -1.0}, "lr"),
    ({"bgan_gamma": 0.7}, "bgan_gamma"),
    ({"gan_generator": "deconv"}, "gan_generator"),
    ({"gan_disc_conv_channels": ()}, "gan_disc_conv_channels"),
    ({"dataset_seeds": (("ring", 10),)}, "dataset_seeds"),
    ({"dataset_seeds": (("digits", 0),)}, "dataset_seeds"),
    ({"gan_bar_seeds": 0}, "gan_bar_seeds"),
    ({"gan_betas": (0.5,)}, "gan_betas"),
    ({"gan_betas": (0.5, 1.0)}, "gan_betas"),
    ({"gan_spectral_norm": "yes"}, "gan_spectral_norm"),
])
def test_bad_configurations_raise(overrides, match):
    cfg = C.ImagesConfig.for_scale("smoke", **overrides)
    with pytest.raises(ValueError, match=match):
        C.run_images(cfg)


def test_bad_inputs_raise():
    cfg = C.PatchesConfig.for_scale("smoke")
    patches = C.dataset_spec("patches")
    with pytest.raises(ValueError, match="does not apply"):
        C.fit_model("agave", C.load_split("patches", "train", 64), patches, cfg)
    with pytest.raises(ValueError, match="model must be one of"):
        C.fit_model("pixelcnn", C.load_split("patches", "train", 64), patches, cfg)
    with pytest.raises(ValueError, match="shape"):
        C.fit_model("vae", C.load_split("digits", "train", 64), patches, cfg)
    with pytest.raises(ValueError, match="limit"):
        C.load_split("digits", "train", 0)
    with pytest.raises(ValueError, match="dataset must be one of"):
        C.dataset_spec("celeba")


def test_fitted_model_without_likelihood_says_why():
    cfg = C.ModeCoverageConfig.for_scale("smoke")
    fitted = C.fit_model("gan", C.load_split("ring", "train", 256), C.dataset_spec("ring"), cfg)
    with pytest.raises(RuntimeError, match="samples only"):
        fitted.log_prob(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="positive int"):
        fitted.sample(0)
    assert fitted.sample(5).shape == (5, 2)


# ----------------------------------------------------------------------------- seeds, footing, GAN bar


def test_every_model_runs_every_seed_and_the_table_shows_the_spread(results):
    r = results["images"]
    assert r.n_seeds == 2
    for model in r.models:
        assert len(r.runs["digits"][model]["frechet"]) == r.n_seeds
        assert r.rows["digits"][model]["frechet"] == pytest.approx(sum(r.runs["digits"][model]["frechet"]) / 2)
        assert math.isfinite(r.metrics[f"digits/{model}/frechet_std"])
    table = comparison_table(r)
    assert "±" in table.loc["VAE", "Fréchet, draws ↓"]
    spreads = C.tradeoff_spreads(r, "digits", "seconds", "frechet")
    assert set(spreads) == set(C.tradeoff_points(r, "digits", "seconds", "frechet"))


def test_draws_for_every_model_and_means_where_a_decoder_adds_noise(results):
    rows = results["images"].rows["digits"]
    for model in ("vae", "v-ade", "av-ade"):
        assert rows[model]["frechet_means"] is not None
        assert rows[model]["frechet_means"] != rows[model]["frechet"]  # draws are not the means
    for model in ("gan", "iml", "real-nvp", "agave"):
        assert rows[model]["frechet_means"] is None


def test_gan_bar_is_computed_and_reported(results):
    r = results["images"]
    for model in C.GAN_MODELS:
        bar = r.runs["digits"][model]["meets_bar"]
        assert len(bar) == r.n_seeds and all(v in (0.0, 1.0) for v in bar)
        assert "min_class_share" in r.runs["digits"][model]
        assert C.meets_bar(r, "digits", model) == all(v == 1.0 for v in bar)
        assert comparison_table(r).loc[C.DISPLAY_NAMES[model], "GAN bar"].endswith(f"/{r.n_seeds} seeds")
    assert C.meets_bar(r, "digits", "vae") is None
    toys = results["toys"]  # the ring's bar is read over the seeds together: mean >= 6 over >= 10 seeds
    assert toys.seeds["ring"] == 3 and toys.n_seeds == 2  # the ring's own seed count (dataset_seeds)
    for model in C.GAN_MODELS:
        modes = toys.runs["ring"][model]["modes"]
        assert len(modes) == 3 and toys.runs["ring"][model]["at_bar_level"] == [float(m >= 6) for m in modes]
        bar = toys.bars["ring"][model]
        assert bar["mean"] == pytest.approx(sum(modes) / 3) and bar["worst"] == min(modes) and bar["needed"] == 6
        assert bar["met"] == 0.0 and C.meets_bar(toys, "ring", model) is False  # 3 seeds are fewer than the bar's 10
        assert comparison_table(toys, "ring").loc[C.DISPLAY_NAMES[model], "GAN bar"].startswith("missed: 3 seeds")
    patches = results["patches"].runs["patches"]  # the bar without labels: within twice the VAE's distance
    reference = [min(a, b) for a, b in zip(patches["vae"]["frechet"], patches["vae"]["frechet_means"])]
    for model in C.GAN_MODELS:
        assert patches[model]["meets_bar"] == [float(f <= 2 * v) for f, v in zip(patches[model]["frechet"], reference)]


def test_bars_and_verdicts_are_in_the_json_metrics(results):
    for result, dataset in ((results["images"], "digits"), (results["patches"], "patches")):
        for model in C.GAN_MODELS:
            met = result.runs[dataset][model]["meets_bar"]
            assert result.metrics[f"{dataset}/{model}/bar_met_seeds"] == sum(met)  # met in k of n seeds
        assert result.metrics["n_seeds"] == result.n_seeds
    toys = results["toys"]
    for model in C.GAN_MODELS:  # the toys' bar: its outcome, the mean, the worst seed and the seeds at the level
        bar = toys.bars["ring"][model]
        for key in ("met", "mean", "worst", "at_level", "needed", "min_seeds", "n_seeds"):
            assert toys.metrics[f"ring/{model}/bar_{key}"] == bar[key]
    assert toys.metrics["ring/n_seeds"] == 3
    for model in toys.models:  # below its bar (too few seeds), the GAN is compared with no model
        for key in ("modes", "high_quality"):
            if model != "gan":
                assert math.isnan(toys.metrics[f"ring/gan_vs_{model}_{key}_verdict"])
    assert math.isnan(toys.metrics["ring/m-bgan_vs_bgan_modes_verdict"])
    assert results["images"].metrics["digits/iml_vs_vae_frechet_verdict"] in (-1.0, 0.0, 1.0)


def test_the_toys_bars_at_book_scale_are_the_symmetric_chapters_and_every_toy_has_the_bars_seeds():
    from companion.experiments.symmetric_paper_record import PAPER_GAN_BARS
    from companion.experiments.symmetric_training_length import stops_rising_at
    from companion.experiments.symmetric_training_length_record import LENGTH_RUNS

    cfg = C.ModeCoverageConfig.for_scale("book")
    assert dict(cfg.gan_bar_modes) == PAPER_GAN_BARS  # ring 6 of 8, grid 17 of 25 (PacGAN's GAN)
    assert dict(cfg.dataset_seeds) == {dataset: cfg.gan_bar_seeds for dataset in cfg.datasets}
    # the grid's bar is within reach of the recipe: trained until its coverage stops rising, its GAN is at it
    grid = {steps: runs["gan"]["modes"] for steps, runs in LENGTH_RUNS["grid"].items()}
    plateau = stops_rising_at(grid)
    assert plateau is not None
    assert all(sum(grid[steps]) / len(grid[steps]) >= 17 for steps in grid if steps >= plateau)


def test_the_grid_gans_left_out_at_book_scale_are_the_symmetric_chapters_runs():
    """The comparison leaves out the grid's GANs at book scale because the symmetric chapter trains
    the same runs (same recipe and seeds); should either recipe drift, this fails and the skip must go."""
    from companion.experiments.symmetric_mode_coverage import ModeCoverageConfig as SymmetricConfig

    cfg = C.ModeCoverageConfig.for_scale("book")
    skipped = {entry.split("/")[1] for entry in cfg.skip if entry.startswith("grid/")}
    assert skipped == set(C.GAN_MODELS) and all(not entry.startswith("ring/") for entry in cfg.skip)
    symmetric = SymmetricConfig.for_scale("book")
    assert "grid" in symmetric.datasets and "pacgan" in symmetric.setups
    assert {m.replace("-", "") for m in C.GAN_MODELS} <= set(symmetric.methods)
    assert tuple(cfg.seed + j for j in range(dict(cfg.dataset_seeds)["grid"])) == tuple(symmetric.seeds)
    assert (cfg.gan_latent_dim, cfg.gan_batch_size, cfg.gan_steps, cfg.gan_hidden, cfg.gan_disc_hidden,
            cfg.gan_lr, cfg.gan_lr_decay, cfg.bgan_gamma) == (
        symmetric.latent_dim, symmetric.batch_size, symmetric.n_steps, symmetric.pacgan_g_hidden,
        symmetric.pacgan_d_hidden, symmetric.pacgan_lr, symmetric.lr_decay, symmetric.gamma)
    assert C.ModeCoverageConfig.for_scale("paper").skip == ()  # the paper scale trains them


def test_toy_gan_verdicts_pair_the_replicas_and_rank_a_gan_at_its_bar(results):
    import dataclasses

    toys = results["toys"]
    assert C.paired_seeds(toys, "m-bgan", "bgan") and C.paired_seeds(toys, "gan", "bgan")
    assert not C.paired_seeds(toys, "gan", "vae") and not C.paired_seeds(results["images"], "gan", "bgan")
    passed = dataclasses.replace(toys, bars={"ring": {m: dict(b, met=1.0) for m, b in toys.bars["ring"].items()}})
    assert C.meets_bar(passed, "ring", "gan") is True
    assert C.compared(passed, "ring", "gan", "iml", "modes") == (toys.runs["ring"]["gan"]["modes"],
                                                                 toys.runs["ring"]["iml"]["modes"])
    assert C.compared(toys, "ring", "gan", "iml", "modes") is None  # below its bar: not compared
    assert C.compared(passed, "ring", "gan", "agave", "modes") is None  # not run on the toys


def test_toy_gan_replicas_are_the_symmetric_chapters_loop_with_the_decay_switched_off():
    import dataclasses

    from companion.experiments.comparison_gans import _train_toy_gan_replicas
    from companion.experiments.symmetric_mode_coverage import ModeCoverageConfig as Recipe
    from companion.experiments.symmetric_toys import _train_toy_replicas

    cfg = C.ModeCoverageConfig.for_scale("smoke", gan_steps=5, gan_hidden=8, gan_disc_hidden=4, gan_lr_decay=False)
    seeds = (0, 1)
    for model in ("gan", "m-bgan"):
        recipe = Recipe(datasets=("ring",), methods=(model.replace("-", ""),), seeds=seeds, latent_dim=2,
                        batch_size=cfg.gan_batch_size, n_steps=5, pacgan_g_hidden=8, pacgan_d_hidden=4,
                        pacgan_lr=cfg.gan_lr, n_eval_samples=1, eval_steps=())
        theirs = _train_toy_replicas("pacgan", recipe.methods[0], "ring", seeds, recipe, cfg.bgan_gamma)["gen"]
        ours, _ = _train_toy_gan_replicas(model, "ring", seeds, cfg)
        for j in seeds:
            for a, b in zip(ours.module(j).state_dict().values(), theirs.module(j).state_dict().values()):
                assert torch.allclose(a.float(), b.float(), atol=1e-6)
        decayed, _ = _train_toy_gan_replicas(model, "ring", seeds, dataclasses.replace(cfg, gan_lr_decay=True))
        assert not all(torch.allclose(a.float(), b.float()) for a, b in
                       zip(decayed.module(0).state_dict().values(), ours.module(0).state_dict().values()))


def test_conv_gan_on_patches_draws_mean_free_patch_vectors():
    from companion.experiments.comparison_gans import _discriminator, _generator

    cfg = C.PatchesConfig.for_scale("smoke")
    cfg.gan_generator, cfg.gan_discriminator = "conv", "conv"
    spec = C.dataset_spec("patches")
    gen, disc = _generator(spec, cfg), _discriminator(spec, cfg)
    x = gen(torch.randn(5, cfg.gan_latent_dim))
    assert x.shape == (5, 63) and disc(x).shape == (5,)
    full = torch.cat([x, -x.sum(1, keepdim=True)], 1)  # the dropped pixel, as the data were made
    assert torch.allclose(full.mean(1), torch.zeros(5), atol=1e-6)
    assert any(isinstance(m, torch.nn.Conv2d) for m in gen.modules()) and \
        any(isinstance(m, torch.nn.Conv2d) for m in disc.modules())


def test_patches_gans_train_with_spectral_normalisation_and_keep_plain_normalised_layers():
    """The GANs' recipe of images and patches (betas (0, 0.9), spectral normalisation): each GAN's discriminator
    ends as plain layers (the fit pickles from its worker) whose weights have spectral norm one, up to the power
    iteration."""
    import pickle

    cfg = C.PatchesConfig.for_scale("smoke", gan_steps=100)
    assert cfg.gan_spectral_norm and tuple(cfg.gan_betas) == (0.0, 0.9)
    images = C.ImagesConfig.for_scale("book")  # the images' GANs share the recipe
    assert images.gan_spectral_norm and tuple(images.gan_betas) == (0.0, 0.9)
    spec, train = C.dataset_spec("patches"), C.load_split("patches", "train", 256)
    for model in ("gan", "bgan", "m-bgan"):
        fitted = C.fit_model(model, train, spec, cfg)
        disc = fitted.modules.discriminator
        pickle.dumps(disc)
        assert not any(hasattr(layer, "parametrizations") for layer in disc.modules())
        norms = [torch.linalg.matrix_norm(layer.weight, ord=2).item() for layer in disc.modules()
                 if isinstance(layer, torch.nn.Linear)]
        # unnormalised, the smoke widths' layers start with spectral norms from about 0.5 to 1.1
        assert norms and all(0.98 < norm < 1.06 for norm in norms), (model, norms)


def test_patches_set_discriminators_judge_pure_batches_and_the_others_keep_the_thesis_smoothing(monkeypatch):
    """On the patches BGAN and M-BGAN train with gamma 0 at every scale (the sweep in PATCHES_BGAN_GAMMA_RECORD),
    and the fit receives it; images and toys keep the thesis' gamma 1/2."""
    from companion.experiments import comparison_gans

    for scale in ("smoke", "book", "paper"):
        assert C.PatchesConfig.for_scale(scale).bgan_gamma == 0.0
        assert C.ImagesConfig.for_scale(scale).bgan_gamma == 0.5
        assert C.ModeCoverageConfig.for_scale(scale).bgan_gamma == 0.5
    seen = []
    mix = comparison_gans.complementary_mixed_sets

    def spy(real, fake, gamma, generator=None):
        seen.append(gamma)
        return mix(real, fake, gamma, generator=generator)

    monkeypatch.setattr(comparison_gans, "complementary_mixed_sets", spy)
    cfg = C.PatchesConfig.for_scale("smoke", gan_steps=2)
    spec, train = C.dataset_spec("patches"), C.load_split("patches", "train", 128)
    for model in ("bgan", "m-bgan"):
        C.fit_model(model, train, spec, cfg)
    assert seen and set(seen) == {0.0}


@pytest.mark.parametrize("model", ["gan", "m-bgan"])
def test_gans_of_images_train_their_seeds_as_independent_replicas(model):
    """fit_gans trains every seed at once; each replica is the fit with its seed alone (fit_model), so changing
    the other seeds changes nothing in it, and the replicas differ from each other."""
    import dataclasses

    cfg = C.ImagesConfig.for_scale("smoke", gan_steps=30)
    spec, train = C.dataset_spec("digits"), C.load_split("digits", "train", 256)
    together = fit_gans(model, train, spec, dataclasses.replace(cfg, seed=3, n_seeds=2))
    alone = C.fit_model(model, train, spec, dataclasses.replace(cfg, seed=4))
    assert len(together) == 2 and all(f.name == model and f.seconds > 0 for f in together)
    with_other, by_itself = (dict(f.modules.named_parameters()) for f in (together[1], alone))
    assert set(with_other) == set(by_itself)
    for name, value in with_other.items():
        assert torch.allclose(value, by_itself[name], atol=1e-5), name
    first = dict(together[0].modules.named_parameters())
    assert any(not torch.allclose(first[name], value) for name, value in with_other.items())
    assert together[1].sample(7).shape == (7, *spec.shape)
    with pytest.raises(ValueError, match="model must be one of"):
        fit_gans("vae", train, spec, cfg)
    with pytest.raises(ValueError, match="shape"):
        fit_gans(model, train.flatten(1), spec, cfg)


def test_gans_with_convolutional_players_train_one_seed_after_the_other():
    cfg = C.PatchesConfig.for_scale("smoke", gan_steps=3, n_seeds=2)
    cfg.gan_generator, cfg.gan_discriminator = "conv", "conv"
    spec, train = C.dataset_spec("patches"), C.load_split("patches", "train", 128)
    fits = fit_gans("gan", train, spec, cfg)
    assert len(fits) == 2 and all(any(isinstance(m, torch.nn.Conv2d) for m in f.modules.modules()) for f in fits)
    assert fits[0].sample(4).shape == (4, 63)


def test_recorded_sweeps_have_one_value_per_seed_and_their_tables_read_them():
    for record in (C.RING_GAN_SEED_RECORD, C.RING_BGAN_SWEEP_RECORD, C.PATCHES_GAN_SWEEP_RECORD,
                   C.PATCHES_BGAN_GAMMA_RECORD):
        for setting, curve in record.items():
            lengths = {len(values) for values in curve.values()}
            assert len(lengths) == 1, setting  # one value per seed at every step of a setting
            assert all(v is None or v >= 0 for values in curve.values() for v in values), setting
    table = C.sweep_table(C.PATCHES_BGAN_GAMMA_RECORD, higher_is_better=False)
    assert len(table) == sum(len(curve) for curve in C.PATCHES_BGAN_GAMMA_RECORD.values())
    first, curve = next(iter(C.PATCHES_BGAN_GAMMA_RECORD.items()))
    step, values = next(iter(curve.items()))
    assert table.loc[(first, step), "worst"] == max(values)  # lower is better: the worst is the largest
    assert table.loc[(first, step), "mean"] == pytest.approx(sum(values) / len(values))


def test_faces_frechet_has_fewer_dimensions_than_test_images_and_equal_sample_counts():
    cfg = C.ImagesConfig.for_scale("book")
    test = C.load_split("faces", "test", cfg.n_test)
    space = C.feature_space("faces", cfg)
    assert space.features(test).shape[1] <= len(test) // 2
    n_train = len(C.load_split("faces", "train", cfg.n_train))
    assert C._n_samples("vae", C.dataset_spec("faces"), cfg, n_train) == n_train  # as many as the data row


def test_mode_coverage_resumes_mid_loop_to_the_same_metrics(tmp_path, monkeypatch):
    """`reproduce comparison/mode_coverage --checkpoint-every 0`, killed inside the GANs' replicated
    loop, then `--resume`: it continues from that step and ends with the uninterrupted run's metrics."""
    from companion import runs
    from companion.reproduce import reproduce

    class Killed(Exception):
        pass

    small = dict(scale="smoke", models=("gan",), gan_steps=20, n_seeds=2)
    reference = reproduce("comparison/mode_coverage", out=tmp_path / "reference", **small)
    save, begin, count, first = runs.RunCheckpoints.save, runs.RunCheckpoints.begin, [0], []

    def dying_save(self, *args, **kwargs):
        save(self, *args, **kwargs)
        count[0] += 1
        if count[0] == 10:
            raise Killed

    monkeypatch.setattr(runs.RunCheckpoints, "save", dying_save)
    with pytest.raises(Killed):
        reproduce("comparison/mode_coverage", out=tmp_path / "run", checkpoint_every=0, **small)
    monkeypatch.setattr(runs.RunCheckpoints, "save", save)
    monkeypatch.setattr(runs.RunCheckpoints, "begin", lambda self, *a, **k: first.append(begin(self, *a, **k))
                        or first[-1])
    resumed = reproduce("comparison/mode_coverage", out=tmp_path / "run", resume=True, **small)
    assert first == [10]  # the one loop (both seeds as replicas) went on from its tenth step
    metrics = [json.loads(p["metrics"].read_text())["metrics"] for p in (reference, resumed)]
    assert {k: v for k, v in metrics[0].items() if "seconds" not in k} == \
        {k: v for k, v in metrics[1].items() if "seconds" not in k}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_one_worker_and_two_give_the_same_numbers(one_worker_and_two):
    """Every fit is a job of companion.workers (a toy GAN's seeds one job of replicas): with one
    worker or two, the same metrics, seed by seed, and the GAN bars read against the same VAEs."""
    def both_families():
        return [C.run_images(C.ImagesConfig.for_scale("smoke", models=("vae", "gan", "real-nvp"))),
                C.run_mode_coverage(C.ModeCoverageConfig.for_scale("smoke", models=("vae", "bgan")))]

    results = one_worker_and_two(both_families)
    for one, two in zip(*results):
        assert timeless(one.runs) == timeless(two.runs)
        assert timeless(one.metrics) == timeless(two.metrics)
    images, toys = results[0]
    assert "meets_bar" in images.runs["digits"]["gan"]
    assert len(toys.runs["ring"]["bgan"]["modes"]) == 3 and len(set(toys.runs["ring"]["vae"]["test_ll"])) == 3


def test_longer_runs_phrase_calls_a_miss_one_of_budget_only_where_the_record_misses_at_that_length():
    from companion.experiments.comparison_tables import longer_runs_phrase

    runs = {1500: [6, 6, 8, 8, 2, 6, 6, 5, 8, 6], 3000: [6, 5, 5, 5, 6, 7, 8, 5, 7, 4], 6000: [8] * 10}
    missed = {"met": 0.0, "mean": 5.1, "n_seeds": 10.0, "min_seeds": 10.0}
    met = {"met": 1.0, "mean": 6.4, "n_seeds": 10.0, "min_seeds": 10.0}
    start = "from 6,000 steps on (mean 8.00 of 8 over 10 seeds, worst seed 8)"
    # the record meets the bar at this length and this run does not: a gap between draws, not budgets
    text = longer_runs_phrase(runs, 6, 1500, missed, "2026-12-06")
    assert text.startswith(start + ". At this chapter's 1,500 steps the record's runs of the same recipe met it "
                           "(mean 6.1 over 10 seeds) and this build's did not (mean 5.1 over 10 seeds)")
    assert "2026-12-06" in text and "not of budgets" in text and "matter of this budget" not in text
    # both meet it
    text = longer_runs_phrase(runs, 6, 1500, met, "2026-12-06")
    assert "meet it too (mean 6.1 over 10 seeds), and so do this build's (mean 6.4" in text
    assert "budget" not in text
    # the record misses it at this length too: then, and only then, the budget
    short = {**runs, 1500: [5] * 10}
    text = longer_runs_phrase(short, 6, 1500, missed, "2026-12-06")
    assert "miss it (mean 5.0 over 10 seeds), as this build's do" in text and text.endswith("matter of this budget")
    # the record misses it and this run meets it
    text = longer_runs_phrase(short, 6, 1500, met, "2026-12-06")
    assert "missed it (mean 5.0 over 10 seeds) and this build's did (mean 6.4" in text and "not of budgets" in text
    # no record at this length, too few seeds, no run here, no recorded length at the bar
    text = longer_runs_phrase(runs, 6, 6, dict(missed, mean=7.0, n_seeds=3.0), "2026-12-06")
    assert text.endswith("misses the bar (mean 7.0 over 3 seeds; the bar needs 10); the record holds no run of "
                         "that length")
    assert longer_runs_phrase(runs, 6, 1500, None, "2026-12-06") == start
    assert longer_runs_phrase({1500: [4] * 10, 3000: [5] * 10}, 6, 1500, missed, "2026-12-06") == (
        "at none of its recorded lengths, up to 3,000 steps")
    with pytest.raises(ValueError, match="at least one"):
        longer_runs_phrase({}, 6, 1500, missed, "2026-12-06")
