"""Smoke tests of the latent-density chapter's bars (Fig. 5), faces (Fig. 1, Fig. 6), Parzen and AAE / GMMN + AE
(Table 2) experiments: several seeds, each bar computed and reported, the verdicts recorded."""

from __future__ import annotations

import numpy as np
import pytest

from companion.evidence import VERDICTS
from companion.experiments import latent_density as L


def test_faces_smoke_run_reconstructs_and_samples_three_models():
    from matplotlib.figure import Figure

    cfg = L.FacesConfig.for_scale("smoke")
    result = L.run_faces(cfg)
    assert set(result.reconstructions) == {"AE", "IAE", "AAE"}
    assert set(result.samples) == {"AE + LDE", "IAE + LDE", "AAE"}
    for images in list(result.reconstructions.values()) + list(result.samples.values()):
        assert images.shape[1:] == (1, 25, 25) and images.min() >= 0 and images.max() <= 1
    m = result.metrics
    assert all(m[f"test_mse/{n}"] > 0 and m[f"sharpness/{n}"] >= 0 for n in ("AE", "IAE", "AAE"))
    assert m["sharpness/data"] > 0
    assert all(len(result.runs[f"sharpness/{n}"]) == cfg.n_seeds == 2 for n in ("AE", "IAE", "AAE"))
    assert m["sharpness/AAE"] == np.mean(result.runs["sharpness/AAE"])
    assert {m["verdict/sharpness AAE < AE"], m["verdict/sharpness AAE < IAE"]} <= set(VERDICTS)
    assert isinstance(L.plot_faces(result), Figure)


def test_baselines_smoke_run_scores_aae_and_gmmn_and_checks_the_bar():
    from matplotlib.figure import Figure

    cfg = L.BaselinesConfig.for_scale("smoke")
    result = L.run_baselines(cfg)
    m = result.metrics
    for name in ("AAE", "GMMN + AE"):
        assert np.isfinite(m[f"parzen_ll/{name}"]) and m[f"std_error/{name}"] > 0
        assert len(result.runs[f"parzen_ll/{name}"]) == cfg.n_seeds == 2
        assert set(result.runs[f"meets_bar/{name}"]) <= {0.0, 1.0} and 0 <= m[f"min_class_share/{name}"] <= 1
        met = int(sum(result.runs[f"meets_bar/{name}"]))
        assert m[f"meets_bar/{name}"] == f"{met} of 2 seeds"
    assert m["verdict/AAE > GMMN + AE"] in VERDICTS + ("not compared (bar not met)",)
    assert result.interpolations.shape == (cfg.n_interpolations, cfg.n_alphas + 2, 1, 8, 8)
    assert result.consecutive.shape == (16, 1, 8, 8)
    assert "| AAE |" in L.baselines_rows(result) and "282" in L.baselines_rows(result)
    assert isinstance(L.plot_baselines(result), Figure)


def test_baselines_share_the_parzen_protocol():
    from companion.reproduce import experiments

    book, parzen = L.BaselinesConfig.for_scale("book"), L.ParzenConfig.for_scale("book")
    assert (book.latent_dim, book.ae_steps, book.n_parzen_samples) == (parzen.latent_dim, parzen.ae_steps,
                                                                       parzen.n_parzen_samples)
    assert book.aae_steps == parzen.ae_steps  # the same training budget as the autoencoders
    known = experiments()
    assert known["latent_density/baselines"].config is L.BaselinesConfig
    assert known["latent_density/faces"].config is L.FacesConfig


def test_autoencoder_lde_experiments_share_one_config_with_their_book_values():
    """interpolation, faces, parzen and baselines take the autoencoder + LDE fields from one
    sub-config; each keeps the book-scale values it had before they were shared."""
    from companion.experiments.latent_density import AutoencoderLDEConfig, InterpolationConfig

    fields = ("latent_dim", "ae_hidden", "ae_steps", "ae_batch_size", "lde_components", "lde_channels", "lde_steps",
              "lde_batch_size", "lde_lr", "seed")
    book = {
        InterpolationConfig: (16, 256, 1200, 128, 30, 32, 400, 256, 3e-3, 0),
        L.FacesConfig: (16, 256, 800, 32, 10, 32, 300, 64, 3e-3, 0),
        L.ParzenConfig: (8, 256, 1200, 128, 30, 32, 400, 256, 3e-3, 0),
        L.BaselinesConfig: (8, 256, 1200, 128, 30, 32, 400, 256, 3e-3, 0),
    }
    for config, values in book.items():
        assert issubclass(config, AutoencoderLDEConfig)
        cfg = config.for_scale("book")
        assert tuple(getattr(cfg, f) for f in fields) == values, config.__name__


def test_bars_smoke_run_reports_every_models_bar_and_the_verdicts_over_seeds():
    from matplotlib.figure import Figure

    cfg = L.BarsConfig.for_scale("smoke")
    result = L.run_bars(cfg)
    m = result.metrics
    models = ["LDE (K=1)", "LDE (K=10)", "LDE (K=30)", "GMMN", f"GMM (K={cfg.gmm_components})"]
    assert list(result.samples) == models
    for name in models:
        n = 1 if name == "GMMN" else cfg.n_seeds  # the unranked GMMN: the first seed only
        assert len(result.runs[f"on_bar/{name}"]) == len(result.runs[f"gap_fraction/{name}"]) == n
        assert 0 <= m[f"on_bar/{name}"] <= 1 and m[f"meets_bar/{name}"].endswith(f"of {n} seeds")
        assert m[f"below_gap_reference/{name}"].endswith(f"of {n} seeds")
    assert cfg.n_seeds == 2 and len(result.runs["test_ll/LDE (K=30)"]) == 2
    assert m["on_bar/train data"] > 0.99  # the data meet their own bar
    verdicts = [v for k, v in m.items() if k.startswith("verdict/")]
    assert len(verdicts) == 4 and set(verdicts) <= set(VERDICTS) | {"not compared (bar not met)"}
    assert isinstance(L.plot_bars(result), Figure)


def test_bars_on_bar_separates_the_bars_from_a_diffuse_cloud():
    import torch

    from companion import data
    from companion.experiments.latent_density_estimators import bars_on_bar

    on, smallest = bars_on_bar(data.load("bars"))
    assert on > 0.99 and 0.15 < smallest < 0.18  # a sixth of the points on each bar
    cloud = torch.rand(20_000, 2, generator=torch.Generator().manual_seed(0)) * 20 - 10
    on, smallest = bars_on_bar(cloud)
    assert 0.1 < on < 0.25 and smallest < 0.05
    with pytest.raises(ValueError):
        bars_on_bar(torch.zeros(5, 3))
    with pytest.raises(ValueError):
        bars_on_bar(cloud, half_width=0.0)


def test_parzen_smoke_run_averages_seeds_and_records_the_ordering_verdicts():
    cfg = L.ParzenConfig.for_scale("smoke")
    result = L.run_parzen(cfg)
    names = [k.split("/", 1)[1] for k in result.metrics if k.startswith("parzen_ll/")]
    assert names[:3] == ["AE + LDE", "IAE + LDE", "VAE"] and len(names) == 4
    for name in names:
        assert len(result.runs[f"parzen_ll/{name}"]) == cfg.n_seeds == 2
        assert result.metrics[f"parzen_ll/{name}"] == np.mean(result.runs[f"parzen_ll/{name}"])
    verdicts = {k: v for k, v in result.metrics.items() if k.startswith("verdict/")}
    assert len(verdicts) == 6 and set(verdicts.values()) <= set(VERDICTS)
    assert "mean ± std over seeds" in L.parzen_table(result)


def test_table2_verdicts_compare_only_baselines_that_meet_their_bar():
    from companion.experiments.latent_density_parzen import BaselinesResult, ParzenResult, table2_verdicts

    lde = {"parzen_ll/AE + LDE": [10.0, 10.2, 10.1], "parzen_ll/IAE + LDE": [10.1, 10.0, 10.2]}
    base = {"parzen_ll/AAE": [12.0, 12.1, 12.2], "parzen_ll/GMMN + AE": [5.0, 5.1, 5.2],
            "meets_bar/AAE": [1.0, 1.0, 1.0], "meets_bar/GMMN + AE": [1.0, 1.0, 1.0]}
    empty = np.zeros((0,))
    parzen = ParzenResult({}, {}, lde)
    verdicts = table2_verdicts(parzen, BaselinesResult({}, empty, empty, {}, base))
    assert set(verdicts.values()) == {"holds"} and len(verdicts) == 5
    base["meets_bar/GMMN + AE"] = [1.0, 0.0, 1.0]
    verdicts = table2_verdicts(parzen, BaselinesResult({}, empty, empty, {}, base))
    assert verdicts["AAE > AE + LDE"] == "holds"
    assert verdicts["AE + LDE > GMMN + AE"] == "not compared (bar not met)"
    with pytest.raises(TypeError):
        table2_verdicts(lde, base)


def test_bars_gap_is_compared_only_between_ldes_that_meet_the_bar_in_every_seed():
    cfg = L.BarsConfig.for_scale("book")
    assert cfg.n_seeds >= 5 and cfg.components == (1, 10, 30)
    met = {"LDE (K=1)": "0 of 5 seeds", "LDE (K=10)": "5 of 5 seeds", "LDE (K=30)": "5 of 5 seeds"}
    assert L.gap_comparison({f"meets_bar/{n}": v for n, v in met.items()}, cfg) == ("LDE (K=10)", "LDE (K=30)")
    met["LDE (K=10)"] = "4 of 5 seeds"  # one seed missed: only K = 30 is left, nothing is compared
    assert L.gap_comparison({f"meets_bar/{n}": v for n, v in met.items()}, cfg) is None
    met = {n: "5 of 5 seeds" for n in met}
    assert L.gap_comparison({f"meets_bar/{n}": v for n, v in met.items()}, cfg) == ("LDE (K=1)", "LDE (K=30)")


def test_patches_smoke_run_records_the_table_1_verdicts_over_seeds():
    cfg = L.PatchesConfig.for_scale("smoke")
    assert L.PatchesConfig.for_scale("book").n_trials >= 5
    result = L.run_patches(cfg)
    assert all(len(v) == cfg.n_trials == 2 for v in result.test_ll.values())
    verdicts = {k: v for k, v in result.metrics.items() if k.startswith("verdict/")}
    # smoke has K = 1 and 10: K = 10 against both flows and K = 1, and the GMM against the best LDE
    assert set(verdicts) == {"verdict/LDE (K=10) > Real-NVP", "verdict/LDE (K=10) > MAF (zuko)",
                             "verdict/LDE (K=10) > LDE (K=1)",
                             f"verdict/GMM full (K={cfg.gmm_components}) > "
                             + max(["LDE (K=1)", "LDE (K=10)"], key=lambda n: np.mean(result.test_ll[n]))}
    assert set(verdicts.values()) <= set(VERDICTS)
    assert "| LDE (K=10) |" in L.patches_table(result)


def test_path_dip_is_the_middle_minus_the_mean_of_the_ends():
    assert L.path_dip(np.array([0.0, -1.0, -3.0, 1.0, 2.0])) == -4.0  # -3 - (0 + 2) / 2
    assert L.path_dip([1.0, 5.0, 3.0]) == 3.0
    for bad in ([1.0, 2.0], [1.0, 2.0, 3.0, 4.0], [[1.0, 2.0, 3.0]], [1.0, float("nan"), 2.0]):
        with pytest.raises(ValueError, match="odd number"):
            L.path_dip(bad)


def test_interpolation_smoke_run_tests_the_dip_over_seeds_and_shows_the_first_seed():
    from matplotlib.figure import Figure

    cfg = L.InterpolationConfig.for_scale("smoke")
    result = L.run_interpolation(cfg)
    keys = [f"{name}/{path}" for name, _ in L.INTERPOLATION_MODELS for path in L.INTERPOLATION_PATHS]
    assert set(result.path_ll) == set(result.path_ll_runs) == set(result.images) == set(keys)
    for key in keys:
        assert result.path_ll_runs[key].shape == (cfg.n_seeds, cfg.n_alphas) == (3, 11)
        np.testing.assert_allclose(result.path_ll[key], result.path_ll_runs[key].mean(axis=0))
        dips = [L.path_dip(row) for row in result.path_ll_runs[key]]
        assert result.runs[f"dip/{key}"] == pytest.approx(dips) and len(set(dips)) == 3
        assert result.metrics[f"dip/{key}"] == pytest.approx(np.mean(dips))
    for name, _ in L.INTERPOLATION_MODELS:
        assert result.metrics[f"verdict/dip across < within/{name}"] in VERDICTS
    assert isinstance(L.plot_interpolation(result), Figure)
    # seed i is the run of seed + i alone: the first seed's pictures and numbers do not depend on the others
    one = L.run_interpolation(L.InterpolationConfig.for_scale("smoke", n_seeds=1))
    for key in keys:
        np.testing.assert_array_equal(one.images[key], result.images[key])
        assert one.runs[f"dip/{key}"] == result.runs[f"dip/{key}"][:1]
    later = L.run_interpolation(L.InterpolationConfig.for_scale("smoke", n_seeds=1, seed=2))
    assert later.runs["dip/AE/across"] == result.runs["dip/AE/across"][2:]
    assert one.metrics["verdict/dip across < within/AE"] == VERDICTS[2]  # one seed gives no verdict


@pytest.mark.parametrize("overrides, message", [({"n_seeds": 0}, "n_seeds"), ({"n_alphas": 10}, "n_alphas"),
                                                ({"n_alphas": 1}, "n_alphas"), ({"n_pairs": 0}, "n_pairs"),
                                                ({"seed": -1}, "seed")])
def test_interpolation_rejects_bad_configurations(overrides, message):
    with pytest.raises(ValueError, match=message):
        L.run_interpolation(L.InterpolationConfig.for_scale("smoke", **overrides))


def test_beta_runs_every_beta_from_the_same_seeds_and_tests_the_trade_off():
    cfg = L.BetaConfig.for_scale("smoke")
    result = L.run_beta(cfg)
    for beta in cfg.betas:
        for term in ("kl", "reconstruction_nll", "mse"):
            assert len(result.runs[f"{term}/beta={beta}"]) == cfg.n_seeds == 3
            assert result.metrics[f"{term}/beta={beta}"] == pytest.approx(np.mean(result.runs[f"{term}/beta={beta}"]))
    assert set(k for k in result.metrics if k.startswith("verdict/")) == {
        "verdict/kl falls/beta=0.0 -> 1.0", "verdict/reconstruction rises/beta=0.0 -> 1.0"}
    fig = L.plot_beta(result)
    scatters = [ax for ax in fig.axes if ax.collections][: len(cfg.betas)]  # the code panels, one per beta
    assert len(scatters) == 2 and scatters[0].get_xlim() == scatters[1].get_xlim()  # one scale for every beta
    one = L.run_beta(L.BetaConfig.for_scale("smoke", n_seeds=1))
    for beta in cfg.betas:  # the pictures are the first seed's, whatever the number of seeds
        np.testing.assert_array_equal(one.codes[beta], result.codes[beta])
        assert one.runs[f"kl/beta={beta}"] == result.runs[f"kl/beta={beta}"][:1]
    with pytest.raises(ValueError, match="increasing"):
        L.run_beta(L.BetaConfig.for_scale("smoke", betas=(1.0, 0.0)))
    with pytest.raises(ValueError, match="n_seeds"):
        L.run_beta(L.BetaConfig.for_scale("smoke", n_seeds=0))


def test_beta_verdicts_read_each_step_from_the_paired_interval():
    runs = {"kl/beta=0.0": [10.0, 12.0, 11.0, 13.0], "kl/beta=1.0": [4.0, 6.0, 5.0, 7.0],  # falls in every seed
            "reconstruction_nll/beta=0.0": [20.0, 25.0, 30.0, 35.0],
            "reconstruction_nll/beta=1.0": [20.5, 24.5, 30.5, 34.5]}  # up and down: no verdict
    assert L.beta_verdicts(runs, [0.0, 1.0]) == {"kl falls/beta=0.0 -> 1.0": "holds",
                                                 "reconstruction rises/beta=0.0 -> 1.0": VERDICTS[2]}
    swapped = {"kl/beta=0.0": runs["kl/beta=1.0"], "kl/beta=1.0": runs["kl/beta=0.0"],
               "reconstruction_nll/beta=0.0": runs["reconstruction_nll/beta=0.0"],
               "reconstruction_nll/beta=1.0": [r + 5 for r in runs["reconstruction_nll/beta=0.0"]]}
    assert L.beta_verdicts(swapped, [0.0, 1.0]) == {"kl falls/beta=0.0 -> 1.0": "does not hold",
                                                    "reconstruction rises/beta=0.0 -> 1.0": "holds"}
    with pytest.raises(ValueError, match="increasing"):
        L.beta_verdicts(runs, [1.0, 0.0])
    with pytest.raises(ValueError, match="no 'kl/beta=3.0'"):
        L.beta_verdicts(runs, [0.0, 1.0, 3.0])
