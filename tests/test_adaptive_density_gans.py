"""The adaptive-density chapter's plain GAN rows trained as replicas: each seed is its own plain run."""

import pytest
import torch

import companion
from companion import data as datasets
from companion.ade import fit_inference_network
from companion.experiments import adaptive_density as A
from companion.experiments import adaptive_density_ring as R
from companion.experiments.adaptive_density_gans import plain_gan_model, train_plain_gans
from companion.nets import remove_spectral_norm


def _config(**changes):
    # every part of the recipe switched on: dropout, spectral normalisation, the rate's drop, the average
    return A.AblationConfig.for_scale("smoke", gan_steps=8, gan_decay_step=5, n_inference_steps=3, batch_size=32,
                                      gan_hidden=32, **changes)


def _plain_run(cfg, seed, train, residual):
    """The run of one seed as the recipe defines it: the model built after seeding, one dequantisation of the
    training set, the package's plain GAN loop, then the inference network."""
    companion.seed_everything(seed)
    model = plain_gan_model(cfg, residual)
    A._fit_decoder_as_gan(model, model.dequantize(train), n_steps=cfg.gan_steps, batch_size=cfg.batch_size,
                          lr=cfg.gan_lr, decay_step=cfg.gan_decay_step, decay=cfg.gan_decay, desc="plain",
                          betas=tuple(cfg.gan_betas), average_decay=cfg.gan_average)
    remove_spectral_norm(model.discriminator)
    fit_inference_network(model, train, n_steps=cfg.n_inference_steps, batch_size=cfg.batch_size, lr=cfg.lr)
    return model


@pytest.mark.parametrize("residual", [False, True])
def test_each_replica_follows_the_plain_run_of_its_seed(residual):
    cfg, train = _config(), datasets.load("digits", "train")[:200]
    assert cfg.gan_disc_dropout > 0 and cfg.gan_spectral_norm and cfg.gan_average > 0
    replicas = train_plain_gans(cfg, (4, 9), train, "replicas", residual=residual)
    for seed, (model, _) in zip((4, 9), replicas):
        plain = _plain_run(cfg, seed, train, residual)
        ours, theirs = model.state_dict(), plain.state_dict()
        assert ours.keys() == theirs.keys()
        for name in ours:  # the same draws in the same order; the stacked products round differently
            torch.testing.assert_close(ours[name], theirs[name], rtol=1e-4, atol=1e-5, msg=name)
    assert not torch.equal(replicas[0][0].vae.decoder[0][0].weight, replicas[1][0].vae.decoder[0][0].weight)


def test_a_seed_is_the_same_whatever_the_other_seeds():
    cfg, train = _config(), datasets.load("digits", "train")[:200]
    first = train_plain_gans(cfg, (2, 3), train, "with 3")[0]
    second = train_plain_gans(cfg, (2, 7), train, "with 7")[0]
    for a, b in zip(first[0].state_dict().values(), second[0].state_dict().values()):
        assert torch.equal(a, b)


def test_the_fit_item_is_shared_and_gives_each_seed_its_state():
    cfg, train = _config(seeds=(1, 2)), datasets.load("digits", "train")[:200]
    model_1, seconds = A.fitted_plain_gan(cfg, 1, train, "seed 1")
    after_1 = torch.rand(3)
    model_2, _ = A.fitted_plain_gan(cfg, 2, train, "seed 2")
    assert model_1 is not model_2 and seconds > 0
    assert A.fitted_plain_gan(cfg, 1, train, "again")[0] is model_1
    assert torch.equal(torch.rand(3), after_1)  # the random state seed 1's run left, restored
    alone, _ = A.fitted_plain_gan(cfg, 5, train, "a seed outside cfg.seeds trains alone")
    assert alone is not model_1


def test_bad_input_is_refused_clearly():
    cfg, train = _config(), datasets.load("digits", "train")[:64]
    with pytest.raises(ValueError, match="at least one seed"):
        train_plain_gans(cfg, (), train, "no seeds")
    with pytest.raises(ValueError, match="every seed"):
        train_plain_gans(cfg, (-1,), train, "negative")
    with pytest.raises(TypeError, match="floating-point"):
        train_plain_gans(cfg, (0,), train.long(), "levels as ints")
    with pytest.raises(ValueError, match="gan_betas"):
        train_plain_gans(_config(gan_betas=(0.5, 1.0)), (0,), train, "bad betas")


def test_the_ring_gans_of_fig4_follow_their_plain_runs():
    cfg = R.Fig4Config.for_scale("smoke", gan_steps=12, gan_decay_step=6, n_steps=4)
    train = datasets.load("ring", "train")[:500]
    together = list(R._ring_gans(cfg, (1, 6), train))
    after = torch.rand(2)  # the state seed 6's run left
    for seed, model in zip((1, 6), together):
        companion.seed_everything(seed)
        plain = R._fit_ring_model(cfg, "gan", train, "plain")
        for name, value in plain.state_dict().items():
            torch.testing.assert_close(model.state_dict()[name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert torch.equal(torch.rand(2), after)  # the plain run of seed 6 left the same state


def test_continuing_generator_draws_what_the_global_generator_would():
    from companion.experiments.adaptive_density_gans import continuing_generator

    torch.manual_seed(11)
    torch.rand(3)
    stream = continuing_generator()
    assert torch.equal(torch.rand(4, generator=stream), torch.rand(4))


def test_train_decoders_as_gans_refuses_bad_input_clearly():
    from companion.experiments.adaptive_density_gans import train_decoders_as_gans

    cfg = R.Fig4Config.for_scale("smoke")
    data = datasets.load("ring", "train")[:50]
    with pytest.raises(ValueError, match="mode 'gan'"):
        train_decoders_as_gans([R._ring_model(cfg, "vae")], [torch.Generator()], data[None], n_steps=1,
                               batch_size=8, lr=1e-3)
    with pytest.raises(ValueError, match="one per model"):
        train_decoders_as_gans([R._ring_model(cfg, "gan")], [], data[None], n_steps=1, batch_size=8, lr=1e-3)
    with pytest.raises(ValueError, match="one per model"):
        train_decoders_as_gans([R._ring_model(cfg, "gan")], [torch.Generator()], data, n_steps=1, batch_size=8,
                               lr=1e-3)
