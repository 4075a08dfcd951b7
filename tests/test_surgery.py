"""Tests of companion.surgery, companion.learned_kl and companion.flow_posterior: the estimators hit closed
forms and respect their bounds."""

from __future__ import annotations

import math

import pytest
import torch

from companion import learned_kl, surgery


def gaussian_kl_to_standard(var: float, dim: int, mean_sq: float = 0.0) -> float:
    """KL[N(m, var I) || N(0, I)] in `dim` dimensions with |m|^2 = mean_sq."""
    return 0.5 * dim * (var - 1.0 - math.log(var)) + 0.5 * mean_sq


def test_average_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(50, 4, generator=g), torch.randn(50, 4, generator=g)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(4), torch.ones(4))
    expected = torch.distributions.kl_divergence(q, p).sum(-1).mean()
    assert float(surgery.average_kl(mu, logvar)) == pytest.approx(float(expected), rel=1e-5)


def test_aggregate_log_prob_matches_direct_mixture():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(30, 3, generator=g), 0.5 * torch.randn(30, 3, generator=g)
    z = torch.randn(17, 3, generator=g)
    components = torch.distributions.Independent(torch.distributions.Normal(mu, torch.exp(0.5 * logvar)), 1)
    direct = torch.logsumexp(components.log_prob(z[:, None, :]), dim=1) - math.log(30)
    ours = surgery.aggregate_posterior_log_prob(z, mu, logvar, chunk_size=5)
    torch.testing.assert_close(ours, direct, rtol=1e-5, atol=1e-5)


def test_aggregate_log_prob_is_accurate_for_narrow_posteriors_far_from_zero():
    # The matrix-product expansion cancels large numbers; float64 must keep it exact.
    mu = torch.full((4, 2), 30.0) + torch.arange(4.0)[:, None]
    logvar = torch.full((4, 2), math.log(1e-4))
    z = mu[:1] + 0.01
    components = torch.distributions.Independent(torch.distributions.Normal(mu.double(), 1e-2), 1)
    direct = torch.logsumexp(components.log_prob(z.double()[:, None, :]), 1) - math.log(4)
    ours = surgery.aggregate_posterior_log_prob(z, mu, logvar)
    assert float(ours) == pytest.approx(float(direct), abs=1e-3)


def test_marginal_kl_hits_closed_form_when_q_is_gaussian():
    # Posteriors N(x_n, s^2) with x_n ~ N(0, a^2): q(z) -> N(0, a^2 + s^2).
    g = torch.Generator().manual_seed(2)
    n, dim, a, s = 5000, 2, 1.3, 0.6
    mu = a * torch.randn(n, dim, generator=g)
    logvar = torch.full((n, dim), 2 * math.log(s))
    estimate = float(surgery.marginal_kl_mc(mu, logvar, n_z=5000, generator=g))
    expected = gaussian_kl_to_standard(a**2 + s**2, dim)
    assert estimate == pytest.approx(expected, abs=0.04)


def test_marginal_kl_is_zero_when_posteriors_average_to_the_prior():
    # x_n ~ N(0, 1 - s^2), q(z|x_n) = N(x_n, s^2): q(z) = N(0, 1) = p(z).
    g = torch.Generator().manual_seed(3)
    n, dim, s = 5000, 3, 0.5
    mu = math.sqrt(1 - s**2) * torch.randn(n, dim, generator=g)
    logvar = torch.full((n, dim), 2 * math.log(s))
    assert abs(float(surgery.marginal_kl_mc(mu, logvar, n_z=5000, generator=g))) < 0.04


def test_marginal_kl_is_repeatable_with_a_generator():
    mu, logvar = torch.randn(100, 3), torch.zeros(100, 3)
    a = surgery.marginal_kl_mc(mu, logvar, 500, generator=torch.Generator().manual_seed(7))
    b = surgery.marginal_kl_mc(mu, logvar, 500, generator=torch.Generator().manual_seed(7))
    assert float(a) == float(b)


@pytest.mark.parametrize("spread", [0.0, 0.3, 3.0, 100.0])
def test_mutual_information_lies_between_zero_and_log_n(spread):
    g = torch.Generator().manual_seed(4)
    n = 200
    mu = spread * torch.randn(n, 4, generator=g)
    logvar = torch.full((n, 4), math.log(0.01))
    mi = float(surgery.mutual_information(mu, logvar, n_z=2000, generator=g))
    assert -1e-6 <= mi <= math.log(n) * (1 + 1e-6)  # float32 rounding of the result
    if spread == 0.0:  # identical posteriors: z says nothing about n
        assert abs(mi) < 1e-9
    if spread == 100.0:  # posteriors far apart: z identifies n exactly
        assert mi == pytest.approx(math.log(n), abs=1e-3)


def test_minibatch_mutual_information_is_capped_by_log_batch_size():
    g = torch.Generator().manual_seed(5)
    mu = 10 * torch.randn(5000, 8, generator=g)
    logvar = torch.full((5000, 8), math.log(0.01))
    full = float(surgery.mutual_information(mu, logvar, 5000, generator=g))
    batch = float(surgery.mutual_information(mu[:64], logvar[:64], 640, generator=g))
    assert batch <= math.log(64) * (1 + 1e-6)
    assert full > math.log(64) + 1.0  # the whole data set sees far more information


def linear_gaussian_encoder(dim_x=5, dim_z=3, seed=6):
    g = torch.Generator().manual_seed(seed)
    weight = 0.5 * torch.randn(dim_z, dim_x, generator=g)
    bias = 0.3 * torch.randn(dim_z, generator=g)
    posterior_var = 0.2 + torch.rand(dim_z, generator=g)
    root = torch.randn(dim_x, dim_x, generator=g) / math.sqrt(dim_x)
    data_cov = root @ root.T + 0.5 * torch.eye(dim_x)
    data_mean = torch.randn(dim_x, generator=g)
    return weight, bias, posterior_var, data_mean, data_cov, g


def test_decomposition_holds_in_closed_form_on_the_linear_gaussian_model():
    weight, bias, posterior_var, data_mean, data_cov, _ = linear_gaussian_encoder()
    terms = surgery.linear_gaussian_surgery(weight, bias, posterior_var, data_mean, data_cov)
    assert terms["average_kl"] == pytest.approx(terms["marginal_kl"] + terms["mutual_information"], abs=1e-9)
    assert terms["marginal_kl"] > 0 and terms["mutual_information"] > 0


def test_estimators_agree_with_the_linear_gaussian_closed_form():
    weight, bias, posterior_var, data_mean, data_cov, g = linear_gaussian_encoder()
    n = 5000
    chol = torch.linalg.cholesky(data_cov)
    x = data_mean + torch.randn(n, 5, generator=g) @ chol.T
    mu = x @ weight.T + bias
    logvar = torch.log(posterior_var).expand(n, -1).clone()
    # The closed form at the sample's own mean and covariance: the average KL depends on the
    # data only through these two moments, so it must agree to rounding; the other two terms
    # depend on the whole (finite) mixture and agree to Monte Carlo and finite-N error.
    sample_cov = torch.cov(x.T, correction=0)
    exact = surgery.linear_gaussian_surgery(weight, bias, posterior_var, x.mean(0), sample_cov)
    assert float(surgery.average_kl(mu, logvar)) == pytest.approx(exact["average_kl"], rel=1e-4)
    assert float(surgery.marginal_kl_mc(mu, logvar, 5000, generator=g)) == pytest.approx(exact["marginal_kl"], abs=0.06)
    assert float(surgery.mutual_information(mu, logvar, 5000, generator=g)) == pytest.approx(
        exact["mutual_information"], abs=0.06
    )


def test_density_ratio_kl_is_near_the_true_kl_of_two_1d_gaussians():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(8)
    q = 1.0 + torch.randn(20_000, 1, generator=g)
    p = torch.randn(20_000, 1, generator=g)
    fit = learned_kl.density_ratio_kl(q, p, hidden=32, depth=2, n_steps=800, lr=3e-3, generator=g)
    assert fit.kl == pytest.approx(0.5, abs=0.1)  # KL[N(1,1) || N(0,1)] = 1/2
    assert "loss" in fit.history


def test_density_model_kl_with_a_gmm_recovers_a_gaussian_kl():
    g = torch.Generator().manual_seed(9)
    q = 1.5 * torch.randn(10_000, 2, generator=g) + torch.tensor([1.0, -0.5])
    fit = learned_kl.density_model_kl(q, learned_kl.GaussianMixtureDensity(n_components=1), generator=g)
    expected = gaussian_kl_to_standard(1.5**2, 2, mean_sq=1.25)
    assert fit.kl == pytest.approx(expected, abs=0.05)


def test_density_model_kl_trains_an_nn_module_by_maximum_likelihood():
    class DiagonalGaussian(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = torch.nn.Parameter(torch.zeros(2))
            self.log_scale = torch.nn.Parameter(torch.zeros(2))

        def log_prob(self, z):
            return torch.distributions.Normal(self.loc, self.log_scale.exp()).log_prob(z).sum(-1)

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(10)
    q = 0.5 * torch.randn(10_000, 2, generator=g) + 2.0
    fit = learned_kl.density_model_kl(q, DiagonalGaussian(), n_steps=800, lr=2e-2, generator=g)
    assert fit.kl == pytest.approx(gaussian_kl_to_standard(0.25, 2, mean_sq=8.0), abs=0.1)


def test_a_wrong_density_model_underestimates_the_kl():
    # E_q[log t - log p] = KL[q||p] - KL[q||t] <= KL[q||p].
    g = torch.Generator().manual_seed(11)
    q = 2.0 * torch.randn(20_000, 2, generator=g)

    class Fixed:
        def log_prob(self, z):
            return -0.5 * (z.pow(2) / 1.5**2 + 2 * math.log(1.5) + math.log(2 * math.pi)).sum(-1)

    fit = learned_kl.density_model_kl(q, Fixed(), generator=g, fit=False)
    assert fit.kl < gaussian_kl_to_standard(4.0, 2) - 0.1


def test_low_posterior_latents_are_the_lowest_scored_prior_samples():
    g = torch.Generator().manual_seed(12)
    # All posteriors sit in the half-space z_0 > 1: the low-q(z) latents must lie elsewhere.
    mu = torch.randn(500, 2, generator=g) * 0.3 + torch.tensor([2.0, 0.0])
    logvar = torch.full((500, 2), math.log(0.05))
    z, log_q = surgery.low_posterior_latents(mu, logvar, n_candidates=2000, n=20, generator=g)
    assert z.shape == (20, 2) and log_q.shape == (20,)
    assert bool((log_q[1:] >= log_q[:-1]).all())
    torch.testing.assert_close(log_q, surgery.aggregate_posterior_log_prob(z, mu, logvar))
    typical = surgery.aggregate_posterior_log_prob(torch.randn(2000, 2, generator=g), mu, logvar)
    assert float(log_q.max()) <= float(typical.median())
    assert float(z[:, 0].mean()) < 0.5


@pytest.mark.parametrize(
    "mu, logvar, error",
    [
        (torch.zeros(5, 2), torch.zeros(5, 3), ValueError),  # mismatched shapes
        (torch.zeros(5), torch.zeros(5), ValueError),  # not (N, d)
        (torch.tensor([[float("nan"), 0.0]]), torch.zeros(1, 2), ValueError),  # NaN
        (torch.zeros(1, 2), torch.tensor([[float("inf"), 0.0]]), ValueError),  # inf
        (torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2), TypeError),  # integer dtype
        ([[0.0, 0.0]], torch.zeros(1, 2), TypeError),  # not a tensor
    ],
)
def test_bad_posteriors_raise_clear_errors(mu, logvar, error):
    for call in (
        lambda: surgery.average_kl(mu, logvar),
        lambda: surgery.marginal_kl_mc(mu, logvar, 10),
        lambda: surgery.mutual_information(mu, logvar, 10),
        lambda: surgery.low_posterior_latents(mu, logvar, 10, 2),
    ):
        with pytest.raises(error):
            call()


def test_bad_arguments_raise_clear_errors():
    mu, logvar = torch.zeros(4, 2), torch.zeros(4, 2)
    with pytest.raises(ValueError, match="n_z"):
        surgery.marginal_kl_mc(mu, logvar, 0)
    with pytest.raises(TypeError, match="generator"):
        surgery.marginal_kl_mc(mu, logvar, 10, generator=3)
    with pytest.raises(ValueError, match="latent_dim"):
        surgery.aggregate_posterior_log_prob(torch.zeros(3, 5), mu, logvar)
    with pytest.raises(ValueError, match="cannot exceed"):
        surgery.low_posterior_latents(mu, logvar, 5, 6)
    with pytest.raises(ValueError, match="same dimension"):
        learned_kl.density_ratio_kl(torch.zeros(10, 2), torch.zeros(10, 3))
    with pytest.raises(ValueError, match="NaN"):
        learned_kl.density_ratio_kl(torch.full((10, 2), float("nan")), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="eval_fraction"):
        learned_kl.density_ratio_kl(torch.zeros(10, 2), torch.zeros(10, 2), eval_fraction=1.0)
    with pytest.raises(TypeError, match="log_prob"):
        learned_kl.density_model_kl(torch.zeros(10, 2), object())
    with pytest.raises(ValueError, match="posterior_var"):
        surgery.linear_gaussian_surgery(torch.ones(2, 3), torch.zeros(2), -torch.ones(2), torch.zeros(3), torch.eye(3))


def test_check_aggregate_log_prob_accepts_a_right_answer_and_rejects_a_naive_one():
    def stable(z, mu, logvar):
        comp = torch.distributions.Independent(
            torch.distributions.Normal(mu.double(), torch.exp(0.5 * logvar.double())), 1
        )
        return torch.logsumexp(comp.log_prob(z.double()[:, None, :]), 1) - math.log(mu.shape[0])

    def naive(z, mu, logvar):  # log of a mean of densities: underflows for narrow posteriors
        comp = torch.distributions.Independent(torch.distributions.Normal(mu, torch.exp(0.5 * logvar)), 1)
        return torch.log(comp.log_prob(z[:, None, :]).exp().mean(1))

    def forgot_log_n(z, mu, logvar):
        return stable(z, mu, logvar) + math.log(mu.shape[0])

    assert surgery.check_aggregate_log_prob(stable)
    for wrong in (naive, forgot_log_n):
        with pytest.raises(AssertionError):
            surgery.check_aggregate_log_prob(wrong)


# --------------------------------------------------------------------------- flow posteriors
def _affine_flow(dim: int, bias: torch.Tensor, log_scale: torch.Tensor):
    """A Real-NVP that is exactly z = (u + bias) * exp(log_scale): one ActNorm, one
    zero-initialised (identity) coupling."""
    from companion.flows import ActNorm, RealNVP

    flow = RealNVP((dim,), n_blocks=1)
    actnorm = next(m for m in flow.modules() if isinstance(m, ActNorm))
    with torch.no_grad():
        actnorm.bias.copy_(bias.view(1, -1))
        actnorm.log_scale.copy_(log_scale.view(1, -1))
        actnorm.initialized.fill_(True)
    return flow


def _nonlinear_flow(dim: int, seed: int):
    """A Real-NVP whose couplings are far from the identity (random last layers)."""
    from companion.flows import RealNVP

    torch.manual_seed(seed)
    flow = RealNVP((dim,), n_blocks=4, hidden=16, actnorm=False)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return flow


def test_flow_estimators_with_the_identity_flow_equal_the_gaussian_ones():
    from companion.flows import RealNVP

    g = torch.Generator().manual_seed(10)
    mu, logvar = torch.randn(300, 4, generator=g), 0.5 * torch.randn(300, 4, generator=g)
    identity = RealNVP((4,), n_blocks=2, actnorm=False)  # zero-initialised couplings: g(u) = u
    with_flow = surgery.marginal_kl_mc_flow(mu, logvar, identity, 2000, generator=torch.Generator().manual_seed(3))
    without = surgery.marginal_kl_mc(mu, logvar, 2000, generator=torch.Generator().manual_seed(3))
    assert float(with_flow) == pytest.approx(float(without), abs=1e-4)
    average = surgery.average_kl_flow(mu, logvar, identity, 100, generator=g)
    assert float(average) == pytest.approx(float(surgery.average_kl(mu, logvar)), abs=1e-5)


def test_flow_estimators_with_an_affine_flow_hit_the_closed_form():
    # u | x_n ~ N(x_n, s^2), x_n ~ N(0, a^2), z = (u + b) e^c: q(z) -> N(b e^c, e^{2c} (a^2 + s^2)).
    g = torch.Generator().manual_seed(11)
    n, dim, a, s = 5000, 2, 1.3, 0.6
    b, c = torch.tensor([0.5, -1.0]), torch.tensor([-0.4, 0.3])
    mu = a * torch.randn(n, dim, generator=g)
    logvar = torch.full((n, dim), 2 * math.log(s))
    flow = _affine_flow(dim, b, c)
    var_q = torch.exp(2 * c) * (a**2 + s**2)
    mean_q = b * torch.exp(c)
    expected = float(0.5 * (var_q + mean_q**2 - 1 - torch.log(var_q)).sum())
    estimate = float(surgery.marginal_kl_mc_flow(mu, logvar, flow, 5000, generator=g))
    assert estimate == pytest.approx(expected, abs=0.05)
    # The posteriors themselves are Gaussians N((x_n + b) e^c, s^2 e^{2c}): closed-form KL.
    mu_z, logvar_z = (mu + b) * torch.exp(c), logvar + 2 * c
    average = float(surgery.average_kl_flow(mu, logvar, flow, 20_000, generator=g))
    assert average == pytest.approx(float(surgery.average_kl(mu_z, logvar_z)), abs=0.05)
    # And with shared noise the marginal KL is that of the transformed Gaussian posteriors.
    same = surgery.marginal_kl_mc(mu_z, logvar_z, 3000, generator=torch.Generator().manual_seed(5))
    ours = surgery.marginal_kl_mc_flow(mu, logvar, flow, 3000, generator=torch.Generator().manual_seed(5))
    assert float(ours) == pytest.approx(float(same), abs=1e-3)


def test_flow_posterior_of_one_example_has_marginal_kl_equal_to_its_kl():
    # N = 1: q(z) = q(z|x_1), so the marginal KL is the KL of the pushed-forward Gaussian,
    # which the flow's own density (inverse direction, its log-det) gives independently.
    flow = _nonlinear_flow(3, seed=0)
    mu, logvar = torch.zeros(1, 3), torch.zeros(1, 3)
    g = torch.Generator().manual_seed(12)
    estimate = float(surgery.marginal_kl_mc_flow(mu, logvar, flow, 20_000, generator=g))
    with torch.no_grad():
        u = torch.randn(20_000, 3, generator=g)
        z, _ = flow(u)
        u_back, logdet_inverse = flow.inverse(z, return_logdet=True)
        log_q = surgery.standard_normal_log_prob(u_back) + logdet_inverse
        reference = float((log_q - surgery.standard_normal_log_prob(z)).mean())
    assert reference > 0.1  # the flow is far from the identity
    assert estimate == pytest.approx(reference, abs=0.05)
    average = float(surgery.average_kl_flow(mu, logvar, flow, 20_000, generator=g))
    assert average == pytest.approx(reference, abs=0.05)


def test_decomposition_holds_for_flow_posteriors():
    # average KL (exact entropy + MC) = marginal KL (MC) + information (flow-invariant).
    g = torch.Generator().manual_seed(13)
    n = 400
    mu, logvar = 1.5 * torch.randn(n, 3, generator=g), torch.full((n, 3), math.log(0.2))
    flow = _nonlinear_flow(3, seed=1)
    average = float(surgery.average_kl_flow(mu, logvar, flow, 20_000, generator=g))
    marginal = float(surgery.marginal_kl_mc_flow(mu, logvar, flow, 20_000, generator=g))
    info = float(surgery.mutual_information(mu, logvar, 20_000, generator=g))
    assert 0.0 <= info <= math.log(n)
    assert marginal > 0
    assert average == pytest.approx(marginal + info, abs=0.1)


def test_flow_estimators_reject_bad_flows():
    from companion.flows import RealNVP

    mu, logvar = torch.zeros(4, 2), torch.zeros(4, 2)
    for fn in (surgery.marginal_kl_mc_flow, surgery.average_kl_flow):
        with pytest.raises(TypeError, match="flow"):
            fn(mu, logvar, lambda u: (u, u[:, 0]), 10)
        with pytest.raises(ValueError, match="shape"):
            fn(mu, logvar, RealNVP((3,), actnorm=False), 10)
        with pytest.raises(ValueError, match="uninitialised"):
            fn(mu, logvar, RealNVP((2,)), 10)
        with pytest.raises(ValueError, match="n_z"):
            fn(mu, logvar, RealNVP((2,), actnorm=False), 0)
        with pytest.raises(ValueError, match="same shape"):
            fn(mu, torch.zeros(4, 3), RealNVP((2,), actnorm=False), 10)
        with pytest.raises(ValueError, match="NaN"):
            fn(torch.full((4, 2), float("nan")), logvar, RealNVP((2,), actnorm=False), 10)


def test_flow_posterior_vae_starts_as_the_gaussian_vae():
    # A fresh RealNVP without ActNorm is the identity, so the ELBO's KL is the Gaussian KL
    # up to Monte Carlo noise, and z = u exactly.
    from companion.flow_posterior import FlowPosteriorVAE
    from companion.flows import RealNVP
    from companion.vae import VAE, gaussian_kl

    torch.manual_seed(0)
    vae = VAE((6,), latent_dim=3, likelihood="gaussian", hidden=16)
    model = FlowPosteriorVAE(vae, RealNVP((3,), n_blocks=2, actnorm=False))
    x = torch.randn(2000, 6)
    with torch.no_grad():
        _, _, kl = model.elbo(x)
        mu, logvar = vae.encode(x)
    assert float(kl.mean()) == pytest.approx(float(gaussian_kl(mu, logvar).mean()), abs=0.1)


def test_learned_estimators_check_their_settings_with_the_package_checks():
    q, p = torch.zeros(10, 2), torch.zeros(10, 2)
    with pytest.raises(ValueError, match="lr"):
        learned_kl.density_ratio_kl(q, p, lr=0.0, n_steps=1)
    with pytest.raises(ValueError, match="gradient_penalty"):
        learned_kl.density_ratio_kl(q, p, gradient_penalty=-1.0, n_steps=1)
    with pytest.raises(ValueError, match="dropout"):
        learned_kl.RatioClassifier(2, 8, 1, 0.0, dropout=1.0)
    with pytest.raises(ValueError, match="activation_noise"):
        learned_kl.RatioClassifier(2, 8, 1, -0.1, 0.0)
    with pytest.raises(ValueError, match="depth"):
        learned_kl.RatioClassifier(2, 8, 0, 0.0, 0.0)

    class Untrained(torch.nn.Module):
        def log_prob(self, z):
            return z.sum(-1)

    with pytest.raises(ValueError, match="n_steps"):
        learned_kl.density_model_kl(q, Untrained(), n_steps=0)


def test_aggregate_log_prob_keeps_its_gradient_and_matches_for_narrow_posteriors():
    # without a gradient the log-sum-exp runs in place and floored (companion.logspace); with one, torch's:
    # both give the direct mixture, and narrow posteriors put most terms far below each row's largest
    g = torch.Generator().manual_seed(3)
    mu, logvar = 2 * torch.randn(200, 4, generator=g), torch.full((200, 4), math.log(1e-4))
    z = mu[:20] + 0.01 * torch.randn(20, 4, generator=g)
    components = torch.distributions.Independent(torch.distributions.Normal(mu.double(), 1e-2), 1)
    direct = torch.logsumexp(components.log_prob(z.double()[:, None, :]), 1) - math.log(200)
    torch.testing.assert_close(surgery.aggregate_posterior_log_prob(z, mu, logvar).double(), direct,
                               rtol=0, atol=1e-4)
    z_grad = z.clone().requires_grad_()
    surgery.aggregate_posterior_log_prob(z_grad, mu, logvar).sum().backward()
    z_direct = z.double().clone().requires_grad_()
    torch.logsumexp(components.log_prob(z_direct[:, None, :]), 1).sum().backward()
    torch.testing.assert_close(z_grad.grad.double(), z_direct.grad, rtol=1e-3, atol=1e-2)
