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
