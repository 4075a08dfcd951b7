"""The ELBO-surgery experiments whose runs train in worker processes (companion.workers) give the
same numbers with one worker as with two: every run seeds itself and returns what the parent needs."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import timeless

from companion.experiments import elbo_surgery as ex
from companion.experiments import elbo_surgery_extra as exx

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")

# experiment -> (run, tiny smoke config, the per-run values of the result, one list per group of seeds)
EXPERIMENTS = {
    "synthetic_gaussians": (
        ex.run_synthetic_gaussians,
        ex.SyntheticGaussiansConfig.for_scale("smoke", dims=(1, 10), estimation_steps=5, learning_steps=10,
                                              n_samples=300),
        lambda r: [r.learning_curves[d][:, -1].tolist() for d in r.dims]),
    "bounds_along_training": (
        exx.run_bounds_along_training,
        exx.BoundsAlongTrainingConfig.for_scale("smoke", n_steps=6, eval_every=3, critic_steps=5, n_samples=40),
        lambda r: [runs for by_lr in r.critic_runs.values() for runs in by_lr.values()]),
    "hybrids": (
        ex.run_hybrids,
        ex.HybridsConfig.for_scale("smoke", models=("vae", "gan"), n_steps=5, gan_steps=5, critic_steps=5,
                                   n_samples=40, n_bar_samples=100),
        lambda r: list(r.scores.values())),
    "marginal_kl": (
        ex.run_marginal_kl,
        ex.MarginalKLConfig.for_scale("smoke", datasets=("digits",), n_steps=10, flow_steps=10, max_examples=200,
                                      n_z=200, n_seeds=3),
        lambda r: [values for by_family in r.runs.values() for by_quantity in by_family.values()
                   for key, values in by_quantity.items() if key not in ("n", "log_n", "log_batch")]),
    "many_latents": (
        exx.run_many_latents,
        exx.ManyLatentsConfig.for_scale("smoke", n_steps=5, latent_dim=12),
        lambda r: [values for by_model in r.runs.values() for by_quantity in by_model.values()
                   for key, values in by_quantity.items() if key != "active_latents"]),  # counts may tie
    "pixel_likelihoods": (
        exx.run_pixel_likelihoods,
        exx.PixelLikelihoodsConfig.for_scale("smoke", n_steps=5, max_examples=200, n_samples=60),
        lambda r: [values for rows in r.per_seed.values() for values in rows.values()]),
    "low_posterior": (
        ex.run_low_posterior,
        ex.LowPosteriorConfig.for_scale("smoke", n_candidates=200, n_show=8, n_seeds=3),
        lambda r: [values for key, values in r.per_seed.items() if key != "mean_ink_data"]),  # the data's own
    "reconstructions_and_samples": (
        exx.run_reconstructions_and_samples,
        exx.ReconstructionsConfig.for_scale("smoke", n_steps=3),
        lambda r: [values for per_model in r.l1.values() for values in per_model.values()]),
}


@linux_only
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_one_worker_and_two_give_the_same_numbers(name, one_worker_and_two):
    run, cfg, per_run = EXPERIMENTS[name]
    one, two = one_worker_and_two(run, cfg)
    assert timeless(one.metrics) == timeless(two.metrics)
    assert per_run(one) == per_run(two)
    # not vacuous: the seeds of a group are different runs
    assert all(len(set(np.round(values, 12))) == len(values) > 1 for values in per_run(one) if len(values) > 1)
