"""The latent-density experiments run their seeds (patches: every fit of every trial) as jobs in worker
processes (companion.workers): with one worker or two, the same numbers, in seed order."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from companion.experiments import latent_density as L


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
@pytest.mark.parametrize("run, config, per_seed", [(L.run_faces, L.FacesConfig, "runs"),
                                                   (L.run_patches, L.PatchesConfig, "test_ll"),
                                                   (L.run_bars, L.BarsConfig, "runs"),
                                                   (L.run_parzen, L.ParzenConfig, "runs"),
                                                   (L.run_baselines, L.BaselinesConfig, "runs"),
                                                   (L.run_interpolation, L.InterpolationConfig, "runs"),
                                                   (L.run_beta, L.BetaConfig, "runs")])
def test_one_worker_and_two_give_the_same_metrics(one_worker_and_two, run, config, per_seed):
    one, two = one_worker_and_two(run, config.for_scale("smoke"))
    assert getattr(one, per_seed) == getattr(two, per_seed)
    assert one.metrics == two.metrics
    values = list(getattr(one, per_seed).values())[0]
    # several seeds (two, three at smoke scale), different runs, each seeded by itself
    assert len(values) == getattr(config.for_scale("smoke"), "n_seeds", 2) >= 2 and values[0] != values[1]


def test_faces_shows_the_first_seeds_models():
    """The figure's reconstructions and samples are those of the first seed, whatever the number of seeds."""
    one = L.run_faces(L.FacesConfig.for_scale("smoke", n_seeds=1))
    two = L.run_faces(L.FacesConfig.for_scale("smoke"))
    for name in one.reconstructions:
        np.testing.assert_array_equal(one.reconstructions[name], two.reconstructions[name])
    for name in one.samples:
        np.testing.assert_array_equal(one.samples[name], two.samples[name])
    assert one.runs["sharpness/AAE"] == two.runs["sharpness/AAE"][:1]


def test_baselines_show_the_first_seeds_models_and_score_each_seed_by_its_own_fits():
    """Each (model, seed) fit is one job: the samples and interpolations shown are the first seed's, and a
    seed's scores do not depend on the seeds run beside it."""
    one = L.run_baselines(L.BaselinesConfig.for_scale("smoke", n_seeds=1))
    two = L.run_baselines(L.BaselinesConfig.for_scale("smoke"))
    assert list(one.samples) == list(two.samples) == ["AAE", "GMMN + AE"]
    for name in one.samples:
        np.testing.assert_array_equal(one.samples[name], two.samples[name])
    np.testing.assert_array_equal(one.consecutive, two.consecutive)
    np.testing.assert_array_equal(one.interpolations, two.interpolations)
    for key, values in one.runs.items():
        assert two.runs[key][:1] == values, key
    assert two.runs["parzen_ll/AAE"][1] != two.runs["parzen_ll/AAE"][0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_beta_gives_the_same_numbers_with_one_worker_and_two(one_worker_and_two):
    one, two = one_worker_and_two(L.run_beta, L.BetaConfig.for_scale("smoke"))
    assert one.metrics == two.metrics
    for beta in one.codes:
        np.testing.assert_array_equal(one.codes[beta], two.codes[beta])
    kls = [one.metrics[f"kl/beta={beta}"] for beta in one.betas]
    assert len(set(kls)) == len(kls) > 1  # each beta its own run, in the order of the config


def test_seed_runs_lists_each_metric_in_seed_order_and_refuses_no_seeds():
    from companion.experiments.latent_density_estimators import seed_runs

    assert seed_runs([{"a": 1, "b": 2.5}, {"a": 3, "b": -1}]) == {"a": [1.0, 3.0], "b": [2.5, -1.0]}
    with pytest.raises(ValueError, match="at least one seed"):
        seed_runs([])
