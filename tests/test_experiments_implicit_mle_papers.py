"""Smoke tests of the implicit-MLE chapter's Fig. 4 / Fig. 5 / Table 1 (CelebA column) experiments and claims."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from conftest import timeless

from companion import shared_fits
from companion.experiments import implicit_mle_baselines as B
from companion.experiments import implicit_mle_faces as F
from companion.experiments import implicit_mle_neighbours as N
from companion.experiments import implicit_mle_parzen as P


def test_nearest_samples_finds_the_exact_copy():
    samples = torch.rand(20, 1, 4, 4)
    queries = samples[[3, 7]] + 1e-4
    near, dist = N.nearest_samples(queries, samples)
    assert torch.allclose(near, samples[[3, 7]]) and bool((dist < 1e-2).all())
    with pytest.raises(ValueError, match="same image shape"):
        N.nearest_samples(torch.rand(2, 1, 4, 4), torch.rand(5, 1, 3, 3))
    with pytest.raises(TypeError, match="queries must be a torch.Tensor"):
        N.nearest_samples(np.zeros((2, 4)), torch.rand(5, 4))


def test_nearest_neighbours_smoke_run_and_quality_bar():
    from matplotlib.figure import Figure

    cfg = N.NearestNeighboursConfig.for_scale("smoke")
    result = N.run_nearest_neighbours(cfg)
    assert set(result.neighbours) == set(B.METHODS)
    assert result.neighbours["IML"].shape == result.queries.shape == (cfg.n_queries, 1, 8, 8)
    assert result.component_samples.shape[:2] == (cfg.n_components, cfg.n_per_component)
    assert np.all(np.diff(result.component_weights) <= 1e-9)  # heaviest component first
    for m in B.METHODS:
        assert result.distances[m].shape == (cfg.n_seeds,) and np.all(result.distances[m] > 0)
        bar = result.metrics["quality_bar"][m]
        assert 0 <= bar["meets_bar_seeds"] <= cfg.n_seeds and bar["frechet"]["mean"] >= 0
    claims = result.metrics["claims"]  # every baseline's claim is recorded with its verdict
    assert set(claims) == {f"IML_vs_{m}" for m in B.METHODS if m != "IML"}
    assert all(c["verdict"] in ("holds", "does not hold", "cannot tell at this budget", "not compared")
               for c in claims.values())
    assert isinstance(N.plot_nearest_neighbours(result), Figure)


def test_the_digits_quality_bar_rejects_a_one_class_generator():
    """The bar in the digit classifier the chapters use: real digits pass, a generator of ones does not."""
    from companion.data import load, load_labels
    from companion.experiments.feature_classifier import train_feature_net
    from companion.metrics import classifier_frechet, classifier_quality_bar

    net, _ = train_feature_net(n_steps=60)
    x, y, held_out = load("digits", "train"), load_labels("digits", "train"), load("digits", "test")
    reference = classifier_frechet(x[300:600], net, held_out)
    real = classifier_quality_bar(x[:300], net, held_out, reference)
    ones = classifier_quality_bar(x[y == 1][:100], net, held_out, reference)
    assert real["covers_classes"] and real["frechet_ratio"] < 2
    assert min(real["class_shares"]) > min(ones["class_shares"])
    assert not ones["meets_bar"] and ones["frechet"] > real["frechet"]


def test_parzen_sweep_smoke_run_reports_the_quality_bar():
    cfg = P.ParzenSweepConfig.for_scale("smoke")
    result = P.run_parzen_sweep(cfg)
    bar = result.metrics["quality_bar"]
    k = cfg.latent_dims[0]
    for m in B.METHODS:
        entry = bar[m][k]
        assert 0 <= entry["meets_bar_seeds"] <= cfg.n_seeds and entry["frechet"]["mean"] >= 0
        assert 0 <= entry["min_class_share"]["mean"] <= 1
        assert isinstance(result.metrics["meets_bar_at_best_k"][m], bool)
        assert result.metrics["train_seconds"][m]["mean"] > 0
    # the VAE is its own reference: a Fréchet ratio of one in every seed
    assert bar["VAE"][k]["frechet_ratio"]["mean"] == pytest.approx(1.0)
    # IML against each baseline, with its verdict, and the gain with K (one K at smoke scale: no verdict)
    claims = result.metrics["claims"]
    assert set(claims) == {f"IML_vs_{m}" for m in B.METHODS if m != "IML"}
    assert all(c["verdict"] in ("holds", "does not hold", "cannot tell at this budget", "not compared")
               for c in claims.values())
    assert result.metrics["iml_gain_with_k"]["verdict"] == "cannot tell at this budget"


def test_parzen_sweep_gives_the_same_numbers_with_and_without_worker_processes(monkeypatch):
    # The seeds' models train in forked one-thread workers (two at a time on 2 cores) or here on one
    # thread: the same models, so the same scores either way.
    cfg = P.ParzenSweepConfig.for_scale("smoke")
    scores = []
    for workers in ("1", "2"):
        monkeypatch.setenv("COMPANION_WORKERS", workers)
        monkeypatch.setattr(shared_fits, "_FITTED", {})
        result = P.run_parzen_sweep(cfg)
        scores.append({m: result.parzen[m].tolist() for m in B.METHODS})
    assert scores[0] == scores[1]
    assert len({v for values in scores[0].values() for row in values for v in row}) > 1  # not all alike


def test_the_nearest_neighbours_reuse_the_models_of_the_parzen_sweep():
    """Same data, settings and seed: the model is trained once per process, and a second request leaves
    the random state exactly as training it would (so results do not depend on which experiment ran first)."""
    from companion.data import load

    x = load("digits", "train")[:200]
    steps = {"IML": 5, "VAE": 5, "GAN": 3, "WGAN-GP": 2}

    def fit(seed, methods=B.METHODS):
        return [(name, model) for name, model, _ in B._fit_baselines(x, methods, 2, 8, 2, "full", steps, 16, 1e-3,
                                                                     1e-3, seed, reg_covar=1e-4)]

    shared_fits._FITTED.clear()
    first = fit(0)
    after_training = torch.get_rng_state()
    second = fit(0)
    assert [m for _, m in first] == [m for _, m in second]  # the very same models
    assert torch.equal(torch.get_rng_state(), after_training)
    assert all(a is not b for (_, a), (_, b) in zip(first, fit(1)))  # another seed trains its own
    shared_fits._FITTED.clear()
    fresh = fit(0, ("VAE",))[0][1]  # trained again: the same numbers as the first time
    draws = []
    for model in (fresh, dict(first)["VAE"]):
        torch.manual_seed(0)
        draws.append(model.sample(4))
    assert torch.equal(*draws)
    with pytest.raises(ValueError, match="unknown method"):
        fit(0, ("PixelCNN",))
    shared_fits._FITTED.clear()


def test_likelihood_correlation_smoke_run_compares_the_corrections_over_seeds():
    from matplotlib.figure import Figure

    from companion.experiments import implicit_mle as E

    cfg = E.LikelihoodCorrelationConfig.for_scale("smoke")
    result = E.run_likelihood_correlation(cfg)
    per_seed = result.metrics["pearson_per_seed"]
    assert len(per_seed["exact"]) == len(per_seed["paper"]) == cfg.n_seeds
    assert all(-1 <= r <= 1 for r in per_seed["exact"] + per_seed["paper"])
    claim = result.metrics["exact_vs_paper"]
    assert claim["verdict"] in ("holds", "does not hold", "cannot tell at this budget")
    assert claim["phrase"].startswith("the exact volume (") and f"over {cfg.n_seeds} paired seeds" in claim["phrase"]
    assert isinstance(E.plot_likelihood_correlation(result), Figure)


def test_digits_2d_smoke_run_compares_the_mixture_with_one_gaussian_over_seeds():
    from companion.experiments import implicit_mle as E

    cfg = E.Digits2DConfig.for_scale("smoke")
    result = E.run_digits_2d(cfg)
    per_seed = result.metrics["test_code_log_lik_per_seed"]
    assert len(per_seed["gmm"]) == len(per_seed["single_gaussian"]) == cfg.n_seeds
    assert np.isfinite(per_seed["gmm"] + per_seed["single_gaussian"]).all()
    claim = result.metrics["gmm_vs_single"]
    assert claim["verdict"] in ("holds", "does not hold", "cannot tell at this budget")
    assert claim["phrase"].startswith("the mixture (") and f"over {cfg.n_seeds} paired seeds" in claim["phrase"]
    assert result.component_samples.shape[:2] == (cfg.n_components, cfg.n_per_component)


def test_a_gan_row_is_its_best_latent_size_among_those_at_the_bar():
    cfg = P.ParzenSweepConfig(latent_dims=(4, 8, 16), n_seeds=3)
    parzen = {m: np.array([[1.0] * 3, [3.0] * 3, [2.0] * 3]) for m in B.METHODS}  # best mean at K = 8
    bars = {m: {4: _summary(3), 8: _summary(2), 16: _summary(3)} for m in B.METHODS}
    table = P._best_latent_table(cfg, parzen, parzen, bars)
    assert table["IML"]["best_latent_dim"] == table["VAE"]["best_latent_dim"] == 8  # the bar is for the GANs
    assert table["GAN"]["best_latent_dim"] == table["WGAN-GP"]["best_latent_dim"] == 16
    nowhere = {m: {k: _summary(0) for k in (4, 8, 16)} for m in B.METHODS}
    assert P._best_latent_table(cfg, parzen, parzen, nowhere)["GAN"]["best_latent_dim"] == 8
    assert P._best_latent_table(cfg, parzen, parzen)["GAN"]["best_latent_dim"] == 8


def test_iml_gain_with_k_reads_the_verdict_from_the_interval():
    gains = P.iml_gain_with_k((4, 8, 16), np.array([[1.0, 1.2, 1.1], [5.0, 5.1, 4.9], [7.0, 7.2, 6.9]]))
    assert gains["verdict"] == "holds" and (gains["from_k"], gains["to_k"]) == (8, 16)
    assert gains["phrase"].startswith("IML at K = 16 (") and "is ahead of IML at K = 8" in gains["phrase"]
    flat = P.iml_gain_with_k((8, 16), np.array([[5.0, 5.1, 4.9], [5.05, 4.95, 5.0]]))
    assert flat["verdict"] == "cannot tell at this budget"
    assert P.iml_gain_with_k((4,), np.array([[1.0, 2.0]]))["verdict"] == "cannot tell at this budget"
    with pytest.raises(ValueError, match="one row per latent size"):
        P.iml_gain_with_k((4, 8), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="increasing"):
        P.iml_gain_with_k((8, 4), np.zeros((2, 2)))


def test_gan_sweep_smoke_run_scores_every_setting():
    from matplotlib.figure import Figure

    cfg = B.GANSweepConfig.for_scale("smoke")
    result = B.run_gan_sweep(cfg)
    assert len(result.rows) == len(cfg.gan_settings) + len(cfg.wgan_settings)
    for row in result.rows:
        assert row["frechet_ratio"] == pytest.approx(row["frechet"] / result.metrics["vae_frechet"])
        assert isinstance(row["meets_bar"], bool) and 0 <= row["min_class_share"] <= 1
    table = B.gan_sweep_table(result)
    assert list(table.index) == ["GAN"] * len(cfg.gan_settings) + ["WGAN-GP"] * len(cfg.wgan_settings)
    assert isinstance(B.plot_gan_sweep(result), Figure)
    with pytest.raises(ValueError, match="digits"):
        B.run_gan_sweep(B.GANSweepConfig.for_scale("smoke", dataset="faces"))


def test_faces_smoke_run_computes_and_reports_the_faces_bar_and_the_sweep():
    from matplotlib.figure import Figure

    cfg = F.FacesConfig.for_scale("smoke")
    result = F.run_faces(cfg)
    assert set(result.parzen) == set(F.FACE_METHODS)
    assert all(np.isfinite(v).all() and v.shape == (cfg.n_seeds,) for v in result.parzen.values())
    assert result.queries.shape[1:] == (1, 25, 25) and result.neighbours["GAN"].shape == result.queries.shape
    m = result.metrics
    for method in F.FACE_METHODS:  # the bar is computed for every model and seed, and reported
        assert len(result.bars[method]) == cfg.n_seeds
        assert 0 <= m["bar"][method]["meets_bar_seeds"] <= cfg.n_seeds
        assert all(isinstance(b["meets_bar"], bool) and b["tv_ratio"] > 0 for b in result.bars[method])
    assert m["gan_meets_bar_seeds"] == m["bar"]["GAN"]["meets_bar_seeds"]
    assert len(m["gan_sweep"]) == len(cfg.gan_sweep) and "meets_bar" in m["gan_sweep"][0]
    for claim, (a, b) in zip(m["claims"], F.FACE_CLAIMS):  # a baseline below the bar is not compared
        expected = m["bar"][b]["meets_bar_seeds"] == cfg.n_seeds
        assert (m["claims"][claim] != "not compared") == expected, claim
    assert list(F.faces_bar_table(result).index) == list(F.FACE_METHODS)
    assert len(F.faces_sweep_table(result)) == len(cfg.gan_sweep)
    assert isinstance(F.plot_faces(result), Figure)
    with pytest.raises(ValueError, match="budget"):
        F.run_faces(F.FacesConfig.for_scale("smoke", gan_sweep=((1e-3, 32, 10_000),)))


def test_faces_bar_passes_held_out_faces_and_rejects_noise_and_copies():
    """The bar on the comparison chapter's faces features: held-out faces pass, speckle and copies do not."""
    from companion.experiments.implicit_mle_baselines import _splits

    cfg = F.FacesConfig.for_scale("smoke")
    train, valid, test = _splits("faces")
    bar = F._FacesBar(cfg, train, valid, test)
    noise = bar(torch.rand(200, *train.shape[1:], generator=torch.Generator().manual_seed(0)))
    copies = bar(train[torch.arange(200) % len(train)])
    assert not noise["smooth"] and not noise["meets_bar"]
    assert not copies["not_copying"] and not copies["meets_bar"]
    assert F._FacesBar(cfg, train, valid, test)(torch.cat([valid, test]))["within_frechet"]


def test_nearest_distance_claims_compare_only_gans_at_the_bar():
    distances = {"IML": [1.0, 1.1, 1.05], "VAE": [1.5, 1.6, 1.55], "GAN": [2.0, 2.1, 2.2], "WGAN-GP": [1.0, 1.1, 1.0]}
    bars = {"VAE": _summary(3, 1.0), "GAN": _summary(3), "WGAN-GP": _summary(2)}
    claims = N.nearest_distance_claims(distances, bars, 3)
    assert claims["IML_vs_VAE"]["verdict"] == "holds" and "is ahead of the VAE" in claims["IML_vs_VAE"]["phrase"]
    assert claims["IML_vs_GAN"]["verdict"] == "holds"
    assert claims["IML_vs_WGAN-GP"] == {"verdict": "not compared",
                                        "phrase": "WGAN-GP is not compared: it meets the bar in 2 of 3 seeds"}
    assert N.nearest_distance_claims(distances, dict(bars, GAN=None), 3)["IML_vs_GAN"]["verdict"] == "not compared"
    with pytest.raises(ValueError, match="IML"):
        N.nearest_distance_claims({"VAE": [1.0]}, bars, 3)
    with pytest.raises(ValueError, match="n_seeds"):
        N.nearest_distance_claims(distances, bars, 0)
    # the same rule on a score where higher is better (the Parzen claims of the sweep)
    scores = {"IML": [19.0, 19.5, 20.0], "VAE": [15.0, 15.2, 15.1], "GAN": [1.0, 2.0, 1.5]}
    parzen = B.iml_claims(scores, {"VAE": _summary(3, 1.0), "GAN": _summary(3)}, 3)
    assert parzen["IML_vs_VAE"]["verdict"] == parzen["IML_vs_GAN"]["verdict"] == "holds"
    assert B.iml_claims(scores, {"GAN": _summary(1)}, 3)["IML_vs_GAN"]["verdict"] == "not compared"
    with pytest.raises(TypeError, match="quality_bar"):
        B.iml_claims(scores, None, 3)


def test_learned_vs_fixed_reads_the_verdict_from_the_interval():
    from companion.experiments.implicit_mle import learned_vs_fixed

    per_seed = {"ll_gmm": [-1.0, -1.1, -0.9, -1.0, -1.05], "ll_fixed": [-2.0, -2.1, -1.9, -2.0, -2.05],
                "hq_gmm": [0.9, 0.5, 0.95, 0.6, 0.7], "hq_fixed": [0.6, 0.8, 0.5, 0.9, 0.7]}
    out = learned_vs_fixed(per_seed)
    assert out["heldout_log_lik"]["verdict"] == "holds"
    assert out["heldout_log_lik"]["phrase"].startswith("the learned base (")
    assert out["high_quality_fraction"]["verdict"] == "cannot tell at this budget"
    swapped = learned_vs_fixed({"ll_gmm": per_seed["ll_fixed"], "ll_fixed": per_seed["ll_gmm"],
                                "hq_gmm": per_seed["hq_gmm"], "hq_fixed": per_seed["hq_fixed"]})
    assert swapped["heldout_log_lik"]["verdict"] == "does not hold"


def _summary(passed, ratio=0.5, share=0.06):
    return {"meets_bar_seeds": passed, "covers_classes_seeds": passed, "frechet": {"mean": 10.0, "std": 1.0},
            "frechet_ratio": {"mean": ratio, "std": 0.1}, "min_class_share": {"mean": share, "std": 0.01}}


def test_bar_phrase_says_meets_fails_or_partly_with_the_numbers():
    assert B.bar_phrase("the GAN", _summary(3), 3, 16).startswith("the GAN meets the bar at K = 16 (3 of 3 seeds")
    assert "0.50 times the VAE's" in B.bar_phrase("the GAN", _summary(3), 3, 16)
    assert "6.0%" in B.bar_phrase("the GAN", _summary(3), 3, 16)
    assert B.bar_phrase("WGAN-GP", _summary(0), 3, 4).startswith("WGAN-GP fails the bar")
    assert B.bar_phrase("WGAN-GP", _summary(1), 3, 4).startswith(
        "WGAN-GP meets the bar in some seeds only at K = 4 (1 of 3"
    )
    with pytest.raises(ValueError, match="n_seeds"):
        B.bar_phrase("the GAN", _summary(1), 0, 4)


def test_quality_bar_table_has_one_row_per_method_and_latent_size():
    table = B.quality_bar_table({"GAN": {4: _summary(0, 2.4, 0.004), 16: _summary(3)}, "VAE": {4: _summary(3, 1.0)}}, 3)
    assert list(table.index) == [("GAN", 4), ("GAN", 16), ("VAE", 4)]
    assert table.loc[("GAN", 4), "meets the bar"] == "0/3 seeds"
    assert table.loc[("GAN", 4), "smallest class share (%)"] == "0.4"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_components_sweep_gives_the_same_numbers_with_one_worker_or_two(one_worker_and_two):
    from companion.experiments import implicit_mle_components as C

    cfg = C.ComponentsConfig.for_scale("smoke")
    one, two = one_worker_and_two(C.run_components_sweep, cfg)
    assert one.runs == two.runs and timeless(one.metrics) == timeless(two.metrics)
    assert len(one.metrics["seconds_per_seed"]) == cfg.n_seeds
    for name in C.SCORES:
        for c in cfg.n_components:
            values = one.runs[name][c]
            assert len(values) == cfg.n_seeds and len(set(values)) == cfg.n_seeds  # each seed its own run
            assert one.metrics[name][c]["mean"] == pytest.approx(np.mean(values))
    claims = one.metrics["claims"]
    assert set(claims) == {"best_vs_one", "best_vs_largest", "parzen_best_vs_one", "code_moves_more"}
    assert all(c["verdict"] in ("holds", "does not hold", "cannot tell at this budget", "not compared")
               and c["phrase"] for c in claims.values())
    assert one.metrics["best_c"]["code_log_lik"] == max(cfg.n_components,
                                                        key=lambda c: one.metrics["code_log_lik"][c]["mean"])
    # the figure's models are the first seed's: its bases score its validation codes as in runs
    first = float(one.bases[1].log_prob(one.val_codes).mean())
    assert first == pytest.approx(one.runs["code_log_lik"][1][0], rel=1e-5)


def test_components_claims_read_their_verdicts_from_paired_seeds():
    from companion.experiments.implicit_mle_components import components_claims

    shift = np.array([0.0, 3.0, -2.0, 1.0, 5.0])  # each seed's autoencoder moves all its scores together
    code = {1: (shift - 1.0).tolist(), 5: (shift + 0.5).tolist(), 40: (shift + 0.4 + [0, .02, -.01, .01, 0]).tolist()}
    parzen = {1: (shift + 10).tolist(), 5: (shift + 10.1).tolist(), 40: (shift + [10, 10.2, 10.05, 10.1, 10]).tolist()}
    claims = components_claims({"code_log_lik": code, "parzen": parzen})
    assert (claims["best_vs_one"]["a"], claims["best_vs_one"]["b"]) == (5, 1)
    assert claims["best_vs_one"]["verdict"] == "holds"  # paired: the shift cancels
    assert claims["best_vs_largest"]["verdict"] == "holds" and claims["best_vs_largest"]["b"] == 40
    assert claims["code_moves_more"]["verdict"] == "holds"  # 1.5 nats against at most 0.2
    assert "over 5 paired seeds" in claims["best_vs_one"]["phrase"]
    swapped = components_claims({"code_log_lik": parzen, "parzen": code})
    assert swapped["code_moves_more"]["verdict"] == "does not hold"
    flat = {1: code[1], 40: code[5]}
    best_is_largest = components_claims({"code_log_lik": flat, "parzen": flat})
    assert best_is_largest["best_vs_largest"]["verdict"] == "not compared"
    with pytest.raises(ValueError, match="C = 1 among them"):
        components_claims({"code_log_lik": {2: [1.0], 5: [2.0]}, "parzen": {2: [1.0], 5: [2.0]}})
    with pytest.raises(ValueError, match="same seeds"):
        components_claims({"code_log_lik": {1: [1.0, 2.0], 5: [2.0]}, "parzen": {1: [1.0, 2.0], 5: [2.0, 3.0]}})
    with pytest.raises(ValueError, match="missing"):
        components_claims({"code_log_lik": code})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_audio_hmm_seeds_give_the_same_numbers_with_one_worker_or_two(one_worker_and_two):
    from matplotlib.figure import Figure

    from companion.experiments import implicit_mle_audio as A

    cfg = A.AudioHMMConfig.for_scale("smoke")
    one, two = one_worker_and_two(A.run_audio_hmm, cfg)
    assert one.runs == two.runs and timeless(one.metrics) == timeless(two.metrics)
    assert one.metrics["n_seeds"] == cfg.n_seeds == len(one.metrics["seconds_per_seed"])
    for quantity, arms in {"transition_tv": ("HMM", "GMM"), "mean_note_length_frames": ("data", "HMM", "GMM"),
                           "test_code_log_lik_per_frame": ("HMM", "GMM")}.items():
        for arm in arms:
            values = one.runs[quantity][arm]
            assert len(values) == cfg.n_seeds and len(set(values)) == cfg.n_seeds  # each seed its own run
            assert one.metrics[quantity][arm]["mean"] == pytest.approx(np.mean(values))
    claims = one.metrics["claims"]
    assert list(claims) == [claim.key for claim in A.AUDIO_CLAIMS]  # every pre-stated claim, none added
    for claim in claims.values():
        assert claim["verdict"] in ("holds", "does not hold", "cannot tell at this budget")
        assert f"over {cfg.n_seeds} paired seeds" in claim["phrase"]
        assert claim["difference"]["low"] <= claim["difference"]["estimate"] <= claim["difference"]["high"]
    # the figure and the audio are the first seed's run
    first_tv = 0.5 * np.abs(one.transitions["HMM"] - one.transitions["data"]).sum(1).mean()
    assert first_tv == pytest.approx(one.runs["transition_tv"]["HMM"][0])
    assert set(one.generated) == {"HMM", "GMM"} and len(one.train_audio) == len(one.generated["HMM"])
    assert isinstance(A.plot_audio_hmm(one), Figure)
    with pytest.raises(ValueError, match="n_seeds"):
        A.run_audio_hmm(A.AudioHMMConfig.for_scale("smoke", n_seeds=0))


def test_audio_claims_read_their_verdicts_from_paired_seeds():
    from companion.experiments.implicit_mle_audio import AUDIO_CLAIMS, audio_claims

    shift = np.array([0.0, 0.3, -0.2, 0.1, 0.5])  # each seed's melody and autoencoder move both bases together
    runs = {
        "transition_tv": {"HMM": (0.1 + shift).tolist(), "GMM": (0.4 + shift).tolist()},
        "mean_note_length_frames": {"data": (9.0 + shift).tolist(), "GMM": (1.2 + shift).tolist(),
                                    "HMM": (9.0 + shift + [0.1, -0.1, 0.05, -0.05, 0.0]).tolist()},
        "test_code_log_lik_per_frame": {"HMM": (17.0 + 10 * shift).tolist(), "GMM": (18.0 + 10 * shift).tolist()},
    }
    claims = audio_claims(runs)
    assert list(claims) == [claim.key for claim in AUDIO_CLAIMS]
    assert claims["transitions"]["verdict"] == "holds"  # lower TV; paired, so the shift cancels
    assert claims["notes_longer_than_gmm"]["verdict"] == "holds"
    assert claims["code_log_lik"]["verdict"] == "does not hold"  # the GMM is higher on every seed
    assert claims["notes_as_long_as_data"]["verdict"] == "cannot tell at this budget"  # equal can't be shown
    runs["mean_note_length_frames"]["HMM"] = (7.0 + shift).tolist()
    assert audio_claims(runs)["notes_as_long_as_data"]["verdict"] == "does not hold"  # shorter on every seed
    assert claims["transitions"]["difference"]["estimate"] == pytest.approx(-0.3)
    assert "over 5 paired seeds" in claims["transitions"]["phrase"]
    two_seeds = {q: {arm: v[:2] for arm, v in arms.items()} for q, arms in runs.items()}
    assert {c["verdict"] for c in audio_claims(two_seeds).values()} == {"cannot tell at this budget"}
    with pytest.raises(ValueError, match="missing"):
        audio_claims({**runs, "transition_tv": {"HMM": [0.1, 0.2, 0.3]}})
    with pytest.raises(ValueError, match="one value of each arm a seed"):
        audio_claims({**runs, "transition_tv": {"HMM": [0.1, 0.2, 0.3], "GMM": [0.4, 0.5]}})
    with pytest.raises(TypeError, match="runs must map"):
        audio_claims([1.0, 2.0])
    with pytest.raises(TypeError, match="runs must map"):
        audio_claims({"transition_tv": [0.1, 0.2]})
