"""Smoke tests of the latent-density chapter's faces (Fig. 1, Fig. 6) and AAE / GMMN + AE (Table 2) experiments."""

from __future__ import annotations

import numpy as np

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
    assert isinstance(L.plot_faces(result), Figure)


def test_baselines_smoke_run_scores_aae_and_gmmn_and_checks_the_bar():
    from matplotlib.figure import Figure

    cfg = L.BaselinesConfig.for_scale("smoke")
    result = L.run_baselines(cfg)
    m = result.metrics
    for name in ("AAE", "GMMN + AE"):
        assert np.isfinite(m[f"parzen_ll/{name}"]) and m[f"std_error/{name}"] > 0
        assert isinstance(m[f"meets_bar/{name}"], bool) and 0 <= m[f"min_class_share/{name}"] <= 1
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
