"""Tests of adaptive density estimation (companion.ade): identities that can fail."""

from __future__ import annotations

import math

import pytest
import torch

from companion.ade import ADE, MODES, ade_step, build_ade, fit_ade, inference_step
from companion.flows import RealNVP
from companion.gan import discriminator_loss, gradient_penalty


def _randomise(module: torch.nn.Module, scale: float = 0.3, seed: int = 0) -> None:
    """Move every parameter away from its (identity-like) initial value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _levels_data(n: int, shape, n_levels: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, n_levels, (n,) + tuple(shape), generator=gen).float() / (n_levels - 1)


# -- f_psi --------------------------------------------------------------------------------------
def test_flow_inverts_and_logdet_matches_autograd_on_small_images():
    torch.manual_seed(0)
    model = build_ade((1, 4, 4), mode="v-ade", n_levels=4, flow_blocks=2, flow_scales=2, flow_hidden=4).double()
    model.initialize(_levels_data(32, (1, 4, 4), 4).double())
    _randomise(model.flow, 0.2)
    flow: RealNVP = model.flow
    y = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    h, logdet = model.features(y)
    assert torch.allclose(flow.inverse(h), y, atol=1e-9)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda v: flow(v.view(1, 1, 4, 4))[0].flatten(), y[i].flatten())
        sign, logabs = torch.linalg.slogdet(jac)
        assert sign != 0
        assert torch.allclose(logdet[i], logabs, atol=1e-8), (logdet[i].item(), logabs.item())
    assert logdet.abs().max() > 1e-2  # the randomised flow is far from the identity


# -- L_C bounds the true NLL ----------------------------------------------------------------------
def _true_log_density(model: ADE, y: torch.Tensor) -> torch.Tensor:
    """log p_{theta,psi}(y) of a model with a 1-D latent, by quadrature over z (float64)."""
    z = torch.linspace(-9.0, 9.0, 6001, dtype=torch.float64).unsqueeze(1)
    dz = z[1, 0] - z[0, 0]
    h, logdet = model.features(y)
    mean = model.vae.decode(z)  # (Z, d)
    sigma = model.log_sigma.exp()
    log_lik = torch.distributions.Normal(mean.unsqueeze(0), sigma).log_prob(h.unsqueeze(1)).sum(-1)  # (B, Z)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z[:, 0])
    return torch.logsumexp(log_lik + log_prior, dim=1) + torch.log(dz) + logdet


@pytest.fixture()
def tiny_model() -> ADE:
    torch.manual_seed(1)
    model = build_ade(
        (2,), mode="v-ade", latent_dim=1, hidden=16, flow_blocks=2, flow_hidden=8, init_log_sigma=-0.5
    ).double()
    model.initialize(torch.randn(64, 2, dtype=torch.float64))
    _randomise(model.flow, 0.2, seed=1)
    _randomise(model.vae, 0.1, seed=2)
    return model


def test_coverage_loss_is_at_least_the_true_nll(tiny_model):
    y = torch.tensor([[0.3, -0.5], [1.2, 0.4], [-0.8, 0.9]], dtype=torch.float64)
    with torch.no_grad():
        true_nll = -_true_log_density(tiny_model, y)
        reps = 4000
        draws = tiny_model.coverage_loss(y.repeat(reps, 1)).view(reps, 3)
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(reps)
    assert torch.all(mean >= true_nll - 4 * se), (mean, true_nll)
    assert torch.all(mean - true_nll > 1e-3)  # an untrained encoder leaves a real gap
    with torch.no_grad():
        iwae = torch.stack([tiny_model.log_density(y, n_samples=2000) for _ in range(5)]).mean(0)
    # the importance-weighted bound is tighter than L_C and close to the truth
    assert torch.all(-iwae <= mean)
    assert torch.all(-iwae >= true_nll - 0.02)
    assert torch.allclose(-iwae, true_nll, atol=0.2)


# -- dequantisation and scaling ------------------------------------------------------------------
def test_log_prob_bounds_the_discrete_probability():
    torch.manual_seed(3)
    n_levels = 4
    model = build_ade((2,), mode="v-ade", latent_dim=1, n_levels=n_levels, hidden=16, flow_blocks=2, flow_hidden=8,
                init_log_sigma=0.0).double()
    model.initialize(_levels_data(64, (2,), n_levels).double())
    _randomise(model.flow, 0.1, seed=4)
    levels = torch.tensor([[0, 3], [2, 1]], dtype=torch.float64)
    x = levels / (n_levels - 1)
    # exact P(level) = integral of the density over the bin [l/4, (l+1)/4)^2, by the midpoint rule
    m = 24
    u = (torch.arange(m, dtype=torch.float64) + 0.5) / m
    grid = torch.cartesian_prod(u, u)
    with torch.no_grad():
        log_p_exact = []
        for row in levels:
            y = (row + grid) / n_levels
            log_p_exact.append(
                torch.logsumexp(_true_log_density(model, y), 0) - math.log(m * m) - 2 * math.log(n_levels)
            )
        log_p_exact = torch.stack(log_p_exact)
        reps = 3000
        bound = model.log_prob(x.repeat(reps, 1), n_samples=64).view(reps, 2)
    mean, se = bound.mean(0), bound.std(0) / math.sqrt(reps)
    assert torch.all(mean <= log_p_exact + 4 * se), (mean, log_p_exact)
    # tight to well under the 2 log 4 = 2.77 nats a forgotten change of units would cost
    assert torch.all(mean >= log_p_exact - 0.5), (mean, log_p_exact)
    bpd = model.bits_per_dim(x, n_samples=8)
    assert bpd.shape == (2,) and torch.all(bpd > 0)


# -- which parameters each mode trains ------------------------------------------------------------
EXPECTED = {
    "gan": {"decoder", "discriminator"},
    "vae": {"encoder", "decoder", "sigma"},
    "v-ade": {"encoder", "decoder", "sigma", "flow"},
    "av-gde": {"encoder", "decoder", "sigma", "discriminator"},
    "av-ade": {"encoder", "decoder", "sigma", "flow", "discriminator"},
}


def _changed(model: ADE, before) -> set:
    changed = set()
    for name, params in model.parameter_groups().items():
        if any(not torch.equal(p, q) for p, q in zip(params, before[name])):
            changed.add(name)
    return changed


def _snapshot(model: ADE):
    return {k: [p.detach().clone() for p in v] for k, v in model.parameter_groups().items()}


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_updates_exactly_its_parameters(mode):
    torch.manual_seed(0)
    x = _levels_data(16, (1, 4, 4), 5)
    model = build_ade((1, 4, 4), mode=mode, n_levels=5, latent_dim=3, hidden=16, flow_hidden=4, disc_hidden=16)
    model.initialize(x)
    gen_opt = torch.optim.Adamax(model.generator_parameters(), lr=1e-2)
    disc_opt = torch.optim.Adamax(model.discriminator.parameters(), lr=1e-2) if model.discriminator else None
    before = _snapshot(model)
    ade_step(model, x, gen_opt, disc_opt)
    assert _changed(model, before) == EXPECTED[mode]
    assert (model.flow is not None) == (mode in ("v-ade", "av-ade"))
    if mode == "gan":  # the inference network around the frozen generator
        groups = model.parameter_groups()
        opt = torch.optim.Adamax(groups["encoder"] + groups["sigma"], lr=1e-2)
        before = _snapshot(model)
        inference_step(model, x, opt)
        assert _changed(model, before) == {"encoder", "sigma"}


@pytest.mark.parametrize("adversarial_flow", [False, True])
def test_quality_loss_trains_the_flow_only_when_asked(adversarial_flow):
    torch.manual_seed(0)
    x = _levels_data(16, (1, 4, 4), 5)
    model = build_ade((1, 4, 4), mode="av-ade", n_levels=5, latent_dim=3, hidden=16, flow_hidden=4, disc_hidden=16,
                adversarial_flow=adversarial_flow)
    model.initialize(x)
    _randomise(model.flow, 0.1)
    # switch L_C off: only L_Q reaches the generator
    model.coverage_loss = lambda y: 0.0 * sum(p.sum() for p in model.vae.parameters()) + y.new_zeros(y.shape[0])
    gen_opt = torch.optim.SGD(model.generator_parameters(), lr=1e-2)
    disc_opt = torch.optim.SGD(model.discriminator.parameters(), lr=1e-2)
    before = _snapshot(model)
    ade_step(model, x, gen_opt, disc_opt)
    changed = _changed(model, before)
    assert "decoder" in changed  # L_Q reaches the decoder through f^{-1}
    assert ("flow" in changed) == adversarial_flow


def test_the_quality_loss_leaves_the_discriminators_gradient_its_own():
    # L_Q's backward stops at the generator: after a step the discriminator holds the gradient of its
    # own loss only (what a gradient-norm log would read), and f_psi none from L_Q
    torch.manual_seed(0)
    x = _levels_data(16, (1, 4, 4), 5)
    model = build_ade((1, 4, 4), mode="av-ade", n_levels=5, latent_dim=3, hidden=16, flow_hidden=4, disc_hidden=16)
    model.initialize(x)
    disc_params = list(model.discriminator.parameters())
    disc_opt = torch.optim.SGD(disc_params, lr=0.0)  # lr 0: the step leaves the discriminator as it was
    gen_opt = torch.optim.SGD(model.generator_parameters(), lr=0.0)
    torch.manual_seed(1)
    ade_step(model, x, gen_opt, disc_opt)
    after_step = [p.grad.clone() for p in disc_params]
    torch.manual_seed(1)  # the same dequantisation and samples: the discriminator's step alone
    real, fake = model.dequantize(x), model.generate(x.shape[0])
    d_loss = discriminator_loss(model.discriminator(real), model.discriminator(fake.detach()))
    own = torch.autograd.grad(d_loss + model.gp_weight * gradient_penalty(model.discriminator, real, fake), disc_params)
    for g, h in zip(after_step, own):
        torch.testing.assert_close(g, h)


# -- the protocol and the trainer ----------------------------------------------------------------
def test_protocol_and_short_training_run():
    torch.manual_seed(0)
    x = _levels_data(64, (1, 4, 4), 5)
    model = build_ade((1, 4, 4), mode="av-ade", n_levels=5, latent_dim=3, hidden=16, flow_hidden=4, disc_hidden=16)
    assert ADE.log_prob_is_bound is True
    history = fit_ade(model, x, n_steps=5, batch_size=16, progress=False, log_every=1)
    assert set(history.names()) >= {"loss", "L_C", "L_Q", "disc_loss", "sigma"}
    with torch.no_grad():
        log_p = model.log_prob(x[:7], n_samples=4)
    assert log_p.shape == (7,) and torch.isfinite(log_p).all()
    samples = model.sample(9)
    assert samples.shape == (9, 1, 4, 4) and samples.min() >= 0 and samples.max() <= 1
    gan = build_ade((1, 4, 4), mode="gan", n_levels=5, latent_dim=3, hidden=16, disc_hidden=16)
    history = fit_ade(gan, x, n_steps=3, batch_size=16, n_inference_steps=4, progress=False, log_every=1)
    assert len(history["inference_L_C"]) == 4 and "L_C" not in history


# -- bad inputs ----------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="mode"):
        build_ade((2,), mode="flow-gan")
    with pytest.raises(ValueError, match="n_levels"):
        build_ade((2,), n_levels=1)
    with pytest.raises(ValueError, match="adv_weight"):
        build_ade((2,), adv_weight=-1.0)
    model = build_ade((1, 4, 4), mode="av-gde", n_levels=5, latent_dim=2, hidden=8, disc_hidden=8)
    with pytest.raises(ValueError, match="shape"):
        model.log_prob(torch.rand(3, 16))
    with pytest.raises(TypeError, match="floating"):
        model.log_prob(torch.zeros(3, 1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="levels"):
        model.log_prob(torch.full((3, 1, 4, 4), 0.1))  # 0.1 is not k / 4
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.log_prob(torch.full((3, 1, 4, 4), 1.5))
    with pytest.raises(ValueError, match="NaN"):
        model.log_prob(torch.full((3, 1, 4, 4), float("nan")))
    with pytest.raises(TypeError, match="Tensor"):
        model.log_prob([[0.0]])
    with pytest.raises(ValueError, match="disc_optimizer"):
        ade_step(model, torch.zeros(2, 1, 4, 4), torch.optim.SGD(model.generator_parameters(), lr=0.1))
    with pytest.raises(ValueError, match="n must be"):
        model.sample(0)
    with pytest.raises(TypeError, match="ADE"):
        fit_ade(torch.nn.Linear(2, 2), torch.zeros(2, 2))


# -- the paper-scale configuration of the ablation (no download, no training) --------------------
def test_ablation_paper_config_is_cifar10_with_conv_networks_and_builds():
    from companion.experiments.adaptive_density import AblationConfig, _ade_from
    from companion.experiments.adaptive_density_extra import FlowDepthConfig
    from companion.gan import ConvDiscriminator
    from companion.nets import ConvDecoder, ConvEncoder

    for scale in ("smoke", "book"):  # the CPU scales stay on digits with MLPs
        small = AblationConfig.for_scale(scale)
        assert (small.dataset, small.architecture, small.n_inception_samples) == ("digits", "mlp", 0)
        assert _ade_from(small, "av-ade").shape == (1, 8, 8)
    cfg = AblationConfig.for_scale("paper")
    assert cfg.dataset == "cifar10" and cfg.architecture == "conv" and cfg.n_inception_samples > 0
    assert FlowDepthConfig.for_scale("paper").dataset == "cifar10"
    torch.manual_seed(0)
    x = _levels_data(2, (3, 32, 32), 256)  # a random (2, 3, 32, 32) batch on the 8-bit grid
    for mode in MODES:
        model = _ade_from(cfg, mode)
        assert model.shape == (3, 32, 32) and model.n_levels == 256
        assert isinstance(model.vae.encoder, ConvEncoder) and isinstance(model.vae.decoder, ConvDecoder)
        assert (model.discriminator is None) == (mode not in ("gan", "av-gde", "av-ade"))
        if model.discriminator is not None:
            assert isinstance(model.discriminator, ConvDiscriminator)
            assert model.discriminator(x).shape == (2,)
        # the swapped networks are the ones ADE trains and evaluates
        groups = model.parameter_groups()
        assert {id(p) for p in groups["decoder"]} == {id(p) for p in model.vae.decoder.parameters()}
        model.initialize(x)
        loss = model.coverage_loss(model.dequantize(x))
        assert loss.shape == (2,) and torch.isfinite(loss).all()
        loss.mean().backward()
        assert all(p.grad is not None for p in groups["encoder"] + groups["decoder"])
        with torch.no_grad():
            samples = model.sample(2)
            bpd = model.bits_per_dim(x, n_samples=2)
        assert samples.shape == (2, 3, 32, 32) and 0 <= samples.min() and samples.max() <= 1
        assert bpd.shape == (2,) and torch.isfinite(bpd).all()


def test_ade_is_built_from_its_parts():
    from companion.flows import RealNVP
    from companion.gan import MLPDiscriminator
    from companion.vae import VAE

    torch.manual_seed(0)
    vae = VAE((4,), 2, likelihood="gaussian", hidden=8)
    flow, disc = RealNVP((4,), n_blocks=2, hidden=8), MLPDiscriminator((4,), hidden=8)
    model = ADE((4,), "av-ade", vae, flow, disc)
    assert model.vae is vae and model.flow is flow and model.discriminator is disc
    assert ADE((4,), "vae", vae).flow is None
    with pytest.raises(ValueError, match="needs flow"):
        ADE((4,), "v-ade", vae)
    with pytest.raises(ValueError, match="takes no discriminator"):
        ADE((4,), "v-ade", vae, flow, disc)
    with pytest.raises(TypeError, match="Gaussian likelihood"):
        ADE((4,), "vae", VAE((4,), 2, likelihood="bernoulli", hidden=8))
    with pytest.raises(TypeError, match="RealNVP on shape"):
        ADE((4,), "v-ade", vae, RealNVP((3,), n_blocks=2, hidden=8))
    # the builder makes the same parts in the same order as before (the same initial weights)
    torch.manual_seed(0)
    built = build_ade((4,), "av-ade", latent_dim=2, hidden=8, flow_hidden=8, disc_hidden=8)
    torch.manual_seed(0)
    parts = (VAE((4,), 2, likelihood="gaussian", hidden=8, init_log_scale=-2.0), RealNVP((4,), n_blocks=2, hidden=8),
             MLPDiscriminator((4,), hidden=8, n_layers=2))
    for a, b in zip(built.parameters(), torch.nn.ModuleList(parts).parameters()):
        torch.testing.assert_close(a, b)
def test_discriminator_sees_dequantised_reals_not_the_lattice():
    # Real images at bin centres against continuous samples would let D tell them apart by
    # the lattice alone; the reals it sees are dequantised like the samples are continuous.
    torch.manual_seed(0)
    x = _levels_data(32, (1, 4, 4), 5)
    model = build_ade((1, 4, 4), "av-gde", n_levels=5, latent_dim=3, hidden=16, disc_hidden=16)
    model.initialize(x)
    seen = []
    model.discriminator.register_forward_hook(lambda module, args, out: seen.append(args[0].detach().clone()))
    gen_opt = torch.optim.Adamax(model.generator_parameters(), lr=1e-2)
    disc_opt = torch.optim.Adamax(model.discriminator.parameters(), lr=1e-2)
    ade_step(model, x, gen_opt, disc_opt)
    real = seen[0]
    offsets = real * 5 - torch.floor(real * 5)  # position within the bin; 1/2 for every bin centre
    assert (offsets - 0.5).abs().max() > 0.1
    assert torch.equal(torch.floor(real * 5), torch.round(x * 4))  # still in each image's own bin


def test_ablation_reports_the_discretized_logistic_vae_and_network_sizes():
    from companion.experiments.adaptive_density import AblationConfig, run_ablation

    cfg = AblationConfig.for_scale("smoke", modes=("vae",), n_steps=3, n_inference_steps=2, feature_steps=3,
                                   n_eval_samples=2, seeds=(0, 1))
    result = run_ablation(cfg)
    assert len(result.reference_bpd) == 2
    assert all(0 < b < 20 for b in result.reference_bpd)
    assert result.metrics["logistic_vae_bpd_mean"] == pytest.approx(sum(result.reference_bpd) / 2)
    assert result.metrics["params_vae"] > result.metrics["params_flow"] > 0 < result.metrics["params_discriminator"]
    from companion.experiments.adaptive_density import ablation_table

    assert "VAE, discretized logistic (reference)" in ablation_table(result).index


def test_the_residual_discriminator_keeps_leading_dimensions():
    from companion.ade import ResidualMLPDiscriminator

    torch.manual_seed(0)
    disc = ResidualMLPDiscriminator((1, 4, 4), hidden=8).eval()
    x = torch.rand(2, 6, 1, 4, 4)
    assert disc(x).shape == (2, 6) and torch.allclose(disc(x)[0], disc(x[0]), atol=1e-6)
    with pytest.raises(ValueError, match="expected inputs of shape"):
        disc(torch.rand(6, 16))


def test_dequantize_draws_from_the_generator_it_is_given():
    model = build_ade((1, 4, 4), "vae", n_levels=17)
    x = torch.randint(0, 17, (5, 1, 4, 4)).float() / 16
    ours = model.dequantize(x, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(3)
    assert torch.equal(ours, model.dequantize(x))  # the same draws as the default generator seeded alike
    assert torch.equal(torch.floor(ours * 17), torch.round(x * 16))  # each value stays in its level's bin
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        model.dequantize(x, generator=3)
