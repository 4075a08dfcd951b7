"""The adaptive-density experiments train their seeds as jobs in worker processes (companion.workers)
or prefit their shared models there (companion.shared_fits.fit_once_in_workers): with one worker or two, the
same numbers, in seed order."""

from __future__ import annotations

import pickle
import sys

import pytest
import torch
from conftest import timeless

from companion.ade import ResidualMLPDiscriminator
from companion.experiments import adaptive_density as A
from companion.experiments import adaptive_density_extra as X
from companion.experiments import adaptive_density_quality as Q
from companion.experiments import adaptive_density_ring as R


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
@pytest.mark.parametrize("run, config, per_seed", [
    (R.run_fig4, R.Fig4Config.for_scale("smoke", seeds=(0, 1), modes=("vae", "gan")), "runs"),
    (A.run_ablation, A.AblationConfig.for_scale("smoke", seeds=(0, 1), modes=("vae", "gan")), "bpd"),
    (X.run_refinements, X.RefinementsConfig.for_scale("smoke", seeds=(0, 1),
                                                     variants=("gan (rd)", "av-ade", "av-ade (rd)")), "bpd"),
    (X.run_flow_depth, X.FlowDepthConfig.for_scale("smoke", seeds=(0, 1)), "bpd"),
    (Q.run_sample_quality, Q.SampleQualityConfig.for_scale("smoke", seeds=(0, 1), models=("vae", "av-ade", "gan")),
     "scores"),
])
def test_one_worker_and_two_give_the_same_numbers(one_worker_and_two, run, config, per_seed):
    one, two = one_worker_and_two(run, config)  # nothing shared from an earlier run: every fit runs again
    assert timeless(getattr(one, per_seed)) == timeless(getattr(two, per_seed))
    assert timeless(one.metrics) == timeless(two.metrics)
    seeds = list(getattr(one, per_seed).values())[0]
    if isinstance(seeds, dict):  # a model's metrics: one of them
        seeds = next(iter(seeds.values()))
    assert len(seeds) == 2 and seeds[0] != seeds[1]  # two seeds, two different runs, each seeded by itself


def test_the_shared_fit_items_refuse_bad_input_clearly():
    cfg = A.AblationConfig.for_scale("smoke")
    train = A.datasets.load("digits", "train")[:64]
    with pytest.raises(ValueError, match="mode must be one of"):
        A.ade_fit_item(cfg, "vae-gan", 0, train, "bad mode")
    with pytest.raises(ValueError, match="plain GAN recipe"):
        A.plain_gan_fit_item(A.AblationConfig.for_scale("smoke", gan_fit="ade"), (0,), train, "bad recipe")
    with pytest.raises(TypeError, match="residual must be a bool"):
        A.plain_gan_fit_item(cfg, (0,), train, "bad flag", residual="yes")
    for bad, message in (((0.5,), "pair"), ((0.5, 1.0), "gan_betas must be a pair"), ("ab", "pair")):
        with pytest.raises(ValueError, match=message):
            A.plain_gan_fit_item(A.AblationConfig.for_scale("smoke", gan_betas=bad), (0,), train, "bad betas")
    with pytest.raises(ValueError, match="gan_disc_dropout"):
        A.plain_gan_fit_item(A.AblationConfig.for_scale("smoke", gan_disc_dropout=1.0), (0,), train, "bad dropout")
    with pytest.raises(ValueError, match="gan_average"):
        A.plain_gan_fit_item(A.AblationConfig.for_scale("smoke", gan_average=1.0), (0,), train, "bad average")
    # betas as a list (from JSON, say) name the same fit as the tuple
    as_list = A.plain_gan_fit_item(A.AblationConfig.for_scale("smoke", gan_betas=[0.0, 0.9]), (0,), train, "list")[0]
    assert as_list == A.plain_gan_fit_item(A.AblationConfig.for_scale("smoke", gan_betas=(0.0, 0.9)), (0,), train,
                                           "tuple")[0]
    hash(as_list)
    plain_key = A.plain_gan_fit_item(cfg, (0,), train, "plain")[0]
    residual_key, residual_fit = A.plain_gan_fit_item(cfg, (0,), train, "rd", residual=True)
    assert residual_key != plain_key and residual_key[1] == "plain gan (rd)"
    # trained with spectral normalisation, kept as plain layers: the fit pickles to leave its worker process
    residual = residual_fit()[0][0].discriminator
    assert isinstance(residual, ResidualMLPDiscriminator) and cfg.gan_spectral_norm
    assert not any(hasattr(layer, "parametrizations") for layer in residual.modules())
    pickle.dumps(residual)
    norms = [torch.linalg.matrix_norm(layer.weight, ord=2).item() for layer in residual.modules()
             if isinstance(layer, torch.nn.Linear)]
    # norm one up to the power iteration's estimate after the smoke run's 20 steps (unnormalised: 0.6 to 1.7)
    assert len(norms) == 6 and all(0.95 < norm < 1.1 for norm in norms), norms
    with pytest.raises(TypeError, match="gan_spectral_norm must be a bool"):
        A.plain_gan_fit_item(A.AblationConfig.for_scale("smoke", gan_spectral_norm="yes"), (0,), train, "bad norm")
    assert A.plain_gan_fit_item(A.AblationConfig.for_scale("smoke", gan_spectral_norm=False), (0,), train,
                                "no norm")[0] != plain_key
    with pytest.raises(TypeError, match="build a callable"):
        A.trained_ade_item(cfg, ("ade", "vae"), "not callable", 0, train, "bad build")
    key, fit = A.ade_fit_item(cfg, "vae", 0, train, "good")
    assert key[:4] == ("adaptive_density", "ade", "vae", 0) and callable(fit)
