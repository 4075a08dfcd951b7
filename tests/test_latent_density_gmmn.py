"""The GMMN of Fig. 5 trained longer (``latent_density/gmmn_length``): its smoke run, the summary of
its curves, the bars' quality bar, and the record the chapter reads."""

from __future__ import annotations

import ast
import shlex

import numpy as np
import pytest

from companion.experiments import latent_density as L
from companion.experiments.latent_density_estimators import meets_bars_bar


def test_meets_bars_bar_needs_both_the_on_bar_fraction_and_every_bar():
    assert meets_bars_bar(0.95, 0.1, 0.9)
    assert meets_bars_bar(0.9, 1 / 12, 0.9)  # both boundaries count as met
    assert not meets_bars_bar(0.89, 0.16, 0.9)  # too few samples on a bar
    assert not meets_bars_bar(0.99, 0.05, 0.9)  # a bar left nearly empty
    with pytest.raises(ValueError, match="on_bar"):
        meets_bars_bar(1.5, 0.1, 0.9)
    with pytest.raises(ValueError, match="min_on_bar"):
        meets_bars_bar(0.5, 0.1, -0.1)


def test_summary_finds_the_step_from_which_every_later_evaluation_meets_the_bar():
    def score(on_bar, share=0.15, gap=0.001):
        return {"on_bar": on_bar, "smallest_bar_share": share, "gap_fraction": gap}

    curves = {
        0: {2: score(0.5), 4: score(0.92), 6: score(0.95, gap=0.003)},  # met from 4 on
        1: {2: score(0.95), 4: score(0.85), 6: score(0.93, gap=0.005)},  # met at 2, lost at 4: from 6
        2: {2: score(0.3), 4: score(0.6), 6: score(0.97, share=0.02, gap=0.004)},  # one bar empty: never
    }
    m = L.gmmn_length_summary(curves, 0.9)
    assert (m["seed0_meets_bar_from"], m["seed1_meets_bar_from"], m["seed2_meets_bar_from"]) == (4, 6, 0)
    assert m["final_meets_bar"] == "2 of 3 seeds"
    assert m["final_on_bar"] == pytest.approx(np.mean([0.95, 0.93, 0.97]))
    assert m["final_gap_fraction"] == pytest.approx(0.004)
    with pytest.raises(ValueError):
        L.gmmn_length_summary({0: {}}, 0.9)


def test_smoke_run_scores_every_seed_along_training():
    from matplotlib.figure import Figure

    cfg = L.GMMNLengthConfig.for_scale("smoke")
    result = L.run_gmmn_length(cfg)
    assert set(result.curves) == set(cfg.seeds) == {0, 1}
    for curve in result.curves.values():
        assert sorted(curve) == list(range(cfg.eval_every, cfg.gmmn_steps + 1, cfg.eval_every))
        for score in curve.values():
            assert set(score) == {"on_bar", "smallest_bar_share", "gap_fraction"}
            assert all(0 <= v <= 1 for v in score.values())
    assert result.curves[0] != result.curves[1]  # each seed its own run
    assert result.metrics["final_meets_bar"].endswith("of 2 seeds")
    assert isinstance(L.plot_gmmn_length(result.curves), Figure)
    with pytest.raises(ValueError):
        L.run_gmmn_length(L.GMMNLengthConfig.for_scale("smoke", seeds=()))


def test_gmmn_cosine_anneals_the_long_runs_rate(monkeypatch):
    from companion.experiments import latent_density_gmmn

    seen = []
    real_fit = latent_density_gmmn.fit_gmmn

    def spy(model, data, **kwargs):
        seen.append(kwargs["scheduler"])
        return real_fit(model, data, **kwargs)

    monkeypatch.setattr(latent_density_gmmn, "fit_gmmn", spy)
    monkeypatch.setenv("COMPANION_WORKERS", "1")  # the spy lives in this process
    L.run_gmmn_length(L.GMMNLengthConfig.for_scale("smoke", seeds=(0,), gmmn_cosine=False))
    L.run_gmmn_length(L.GMMNLengthConfig.for_scale("smoke", seeds=(0,), gmmn_cosine=True))
    assert seen[0] is None and callable(seen[1])


def test_plot_says_what_is_wrong_with_its_curves():
    score = {"on_bar": 0.9, "smallest_bar_share": 0.1, "gap_fraction": 0.0}
    with pytest.raises(ValueError, match="curves must map"):
        L.plot_gmmn_length({})
    with pytest.raises(ValueError, match=r"curves\[0\] must map"):
        L.plot_gmmn_length({0: {}})
    with pytest.raises(ValueError, match="smallest_bar_share"):
        L.plot_gmmn_length({0: {10: score}, 1: {10: {"on_bar": 0.5}}})
    with pytest.raises(ValueError, match="min_on_bar"):
        L.plot_gmmn_length({0: {10: score}}, min_on_bar=1.5)


def test_bars_fits_the_gmmn_with_the_configs_settings(monkeypatch):
    """Fig. 5's GMMN is built and trained with the settings of BarsConfig, as the long run is."""
    from companion.experiments import latent_density_estimators

    seen = {}
    real_fit = latent_density_estimators.fit_gmmn

    def spy(model, data, **kwargs):
        seen.update(noise_dim=model.noise_dim, bandwidths=tuple(kwargs["bandwidths"]), lr=kwargs["lr"])
        return real_fit(model, data, **kwargs)

    monkeypatch.setattr(latent_density_estimators, "fit_gmmn", spy)
    cfg = L.BarsConfig.for_scale("smoke", n_seeds=1, gmmn_noise_dim=3, gmmn_lr=2e-3)
    L.run_bars(cfg)
    assert seen == {"noise_dim": 3, "bandwidths": cfg.gmmn_bandwidths, "lr": 2e-3}


@pytest.mark.parametrize("name", ["GMMN_LENGTH_RECORD", "GMMN_CONSTANT_RATE_RECORD"])
def test_each_record_is_a_book_scale_run_of_the_configs_gmmn(name):
    from companion.__main__ import _parser

    record = getattr(L, name)
    args = _parser().parse_args(shlex.split(record["command"])[3:])
    assert args.ids == ["latent_density/gmmn_length"] and args.scale == "book"
    settings = {name: ast.literal_eval(value) for name, value in (t.split("=", 1) for t in args.set or [])}
    cfg = L.GMMNLengthConfig.for_scale("book", **settings)
    assert set(record["curves"]) == set(cfg.seeds) and len(cfg.seeds) >= 3
    for curve in record["curves"].values():
        assert sorted(curve) == list(range(cfg.eval_every, cfg.gmmn_steps + 1, cfg.eval_every))
        assert all(0 <= v <= 1 for score in curve.values() for v in score.values())
    assert record["date"].startswith("2026-12-") and record["seconds"] > 0
    assert L.gmmn_length_summary(record["curves"], cfg.min_on_bar)["final_meets_bar"].endswith(
        f"of {len(cfg.seeds)} seeds")


def test_the_books_record_anneals_the_rate_and_the_other_does_not():
    from companion.__main__ import _parser

    annealed, constant = (_parser().parse_args(shlex.split(r["command"])[3:]).set or []
                          for r in (L.GMMN_LENGTH_RECORD, L.GMMN_CONSTANT_RATE_RECORD))
    assert annealed == [] and constant[-1] == "gmmn_cosine=False"  # the book's setting anneals the rate
    assert L.GMMNLengthConfig.for_scale("book").gmmn_cosine
