"""Tests of companion.lde: the latent density estimator, the incremental autoencoder, the GMMN."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from companion.lde import (
    GMMN,
    MAX_LOG_SCALE,
    IncrementalAutoencoder,
    LatentDensityEstimator,
    check_causality,
    check_receptive_field_formula,
    dilated_causal_conv,
    fit_gmmn,
    fit_incremental_autoencoder,
    fit_lde,
    make_autoencoder,
    mmd2,
    receptive_field_layers,
)


def sharp_lde(dim: int, seed: int = 0, **kwargs) -> LatentDensityEstimator:
    """A randomly initialised LDE whose conditionals depend strongly on the past."""
    torch.manual_seed(seed)
    model = LatentDensityEstimator(dim, **kwargs)
    with torch.no_grad():
        for conv in model.dilated:
            conv.weight.mul_(3.0)
        model.loc.copy_(torch.linspace(-0.5, 0.5, dim))
        model.scale.copy_(torch.linspace(0.8, 1.3, dim))
    return model.eval()


def grid(dim: int, n: int, half_width: float):
    axis = torch.linspace(-half_width, half_width, n)
    points = torch.cartesian_prod(*([axis] * dim)).reshape(-1, dim)
    return points, (axis[1] - axis[0]).item() ** dim


# ----------------------------------------------------------------------------- structure


def test_receptive_field_layers_is_the_smallest_covering_depth():
    for s in (2, 3, 4):
        for dim in range(1, 200):
            L = receptive_field_layers(dim, s)
            assert s**L >= dim
            assert L == 0 or s ** (L - 1) < dim
    assert receptive_field_layers(4, 2) == 2  # the paper's Fig. 4
    assert receptive_field_layers(125, 5) == 3  # where math.ceil(math.log(125, 5)) gives 4


@pytest.mark.parametrize("dim,s", [(1, 2), (2, 2), (5, 2), (8, 2), (9, 3), (30, 2), (63, 4)])
def test_trimmed_features_equal_the_literal_fig4_computation(dim, s):
    model = sharp_lde(dim, n_components=3, filter_size=s, channels=6)
    u = torch.randn(11, dim)
    assert model.n_layers == receptive_field_layers(dim, s)
    assert model.features(u).shape == (11, 6 if model.n_layers else 2, dim)
    torch.testing.assert_close(model.features(u), model.features_full(u), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "size,dilation,c_in,c_out", [(2, 1, 2, 5), (2, 8, 3, 4), (3, 3, 4, 2), (4, 2, 1, 3), (3, 25, 2, 3)]
)
def test_dilated_causal_conv_equals_a_left_padded_conv1d_with_a_bias_per_position(size, dilation, c_in, c_out):
    torch.manual_seed(size * 100 + dilation)
    conv = torch.nn.Conv1d(c_in, c_out, kernel_size=size, dilation=dilation)
    x = torch.randn(7, c_in, 40)  # (batch, channels, length): conv1d's layout
    bias = torch.randn(c_out, 40)  # one bias per output channel and position
    padded = F.pad(x, ((size - 1) * dilation, 0))  # zeros before x[0]: output t ends at x[t]
    reference = F.leaky_relu(F.conv1d(padded, conv.weight, dilation=dilation) + bias, 0.2)
    fast = dilated_causal_conv(conv, x.permute(2, 0, 1).contiguous(), bias.T[:, None, :])  # positions first
    assert fast.shape == (40, 7, c_out)
    torch.testing.assert_close(fast.permute(1, 2, 0), reference, atol=1e-5, rtol=1e-5)


def reference_conditional_log_prob(model: LatentDensityEstimator, z: torch.Tensor) -> torch.Tensor:
    """log p(z_i | z_<i) from F.conv1d with dilation on the literal Fig. 4 signal and the textbook mixture."""
    u = (z - model.loc) / model.scale
    n, dim = u.shape
    signal = torch.cat([torch.zeros(n, model.padding), u], dim=1)
    mask = torch.cat([torch.zeros(model.padding), torch.ones(dim)]).expand(n, -1)
    h = torch.stack([signal, mask], dim=1)
    for conv in model.dilated:
        h = F.leaky_relu(F.conv1d(h, conv.weight, conv.bias, dilation=conv.dilation), 0.2)
    h = model.head(h[:, :, :dim])
    params = F.conv1d(h, model.mdn.weight, model.mdn.bias).transpose(1, 2).reshape(n, dim, 3, -1)
    logits, mean, log_sd = params.unbind(dim=2)
    log_sd = (model.min_log_scale + F.softplus(log_sd - model.min_log_scale)).clamp(max=MAX_LOG_SCALE)
    normal = torch.distributions.Normal(mean, log_sd.exp())
    log_mix = torch.logsumexp(torch.log_softmax(logits, -1) + normal.log_prob(u[:, :, None]), dim=-1)
    return log_mix - torch.log(model.scale)


@pytest.mark.parametrize("dim,s,head_layers", [(1, 2, 0), (6, 2, 0), (13, 2, 1), (10, 3, 0), (20, 4, 2)])
def test_log_prob_and_its_gradient_equal_a_conv1d_reference_on_random_weights(dim, s, head_layers):
    model = sharp_lde(dim, seed=dim, n_components=5, filter_size=s, channels=7, head_layers=head_layers)
    with torch.no_grad():  # random weights everywhere, so no part of the network is trivial
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    z = torch.randn(9, dim) * 2
    fast = model.conditional_log_prob(z)
    reference = reference_conditional_log_prob(model, z)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    # the gradients (up to a few hundred here) in float64, where a wrong term cannot hide in
    # float32 rounding: the two compute the same sums in different orders
    model, z = model.double(), z.double()
    grads = torch.autograd.grad(model.conditional_log_prob(z).sum(), list(model.parameters()))
    ref_grads = torch.autograd.grad(reference_conditional_log_prob(model, z).sum(), list(model.parameters()))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-9, rtol=1e-9)
    model, z = model.float(), z.float()
    log_w, mean, log_sd = model.conditionals(z)
    assert log_w.shape == mean.shape == log_sd.shape == (9, dim, 5)
    torch.testing.assert_close(log_w.exp().sum(-1), torch.ones(9, dim))


def test_chunked_log_prob_and_its_gradients_equal_the_unchunked_ones():
    whole = sharp_lde(12, n_components=4, channels=8, head_layers=1, chunk_positions=10**9)
    chunked = sharp_lde(12, n_components=4, channels=8, head_layers=1, chunk_positions=12 * 4)  # 4 rows a chunk
    chunked.load_state_dict(whole.state_dict())
    z = (torch.randn(11, 12) * 1.5).requires_grad_(True)  # 11 rows: the last chunk is short
    log_p, log_p_chunked = whole.log_prob(z), chunked.log_prob(z)
    torch.testing.assert_close(log_p_chunked, log_p, atol=1e-5, rtol=1e-5)
    # training needs the gradients; they must reach every parameter (and the codes) as without chunks
    grads = torch.autograd.grad(log_p.sum(), [z, *whole.parameters()])
    grads_chunked = torch.autograd.grad(log_p_chunked.sum(), [z, *chunked.parameters()])
    for g, c in zip(grads, grads_chunked):
        assert torch.isfinite(c).all() and c.abs().sum() > 0
        torch.testing.assert_close(c, g, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="chunk_positions"):
        LatentDensityEstimator(4, chunk_positions=0)


def test_state_dict_keys_are_those_of_the_conv1d_modules():
    model = LatentDensityEstimator(10, n_components=3, channels=4, head_layers=1)
    expected = {f"dilated.{i}.{p}" for i in range(4) for p in ("weight", "bias")}
    expected |= {"head.0.weight", "head.0.bias", "mdn.weight", "mdn.bias", "loc", "scale"}
    assert set(model.state_dict()) == expected
    assert model.dilated[3].weight.shape == (4, 4, 2) and model.mdn.weight.shape == (9, 4, 1)


@pytest.mark.parametrize("dim,s", [(2, 2), (7, 2), (10, 3)])
def test_conditional_i_has_zero_gradient_wrt_z_j_for_j_at_or_after_i(dim, s):
    model = sharp_lde(dim, n_components=4, filter_size=s, channels=8, head_layers=1)
    z = torch.randn(1, dim)

    def params(v):
        return torch.cat(model.conditionals(v.view(1, dim)), dim=-1)[0]  # (D, 3K)

    jac = torch.autograd.functional.jacobian(params, z.view(-1))  # (D, 3K, D)
    for i in range(dim):
        assert torch.all(jac[i, :, i:] == 0), f"conditional {i} depends on z_j, j >= {i}"
        if i > 0:  # and it does use the whole past (the receptive field covers z_<i)
            assert torch.all(jac[i, :, :i].abs().sum(0) > 0), f"conditional {i} ignores part of z_<{i}"
    assert check_causality(lambda v: torch.cat(model.conditionals(v), -1), dim)


def test_check_causality_rejects_peeking_and_factorised_conditioners():
    model = sharp_lde(5, n_components=2, channels=8)
    peeking = lambda v: model.conditionals(torch.roll(v, -1, dims=1))[1]  # noqa: E731 - h_i sees z_i
    with pytest.raises(AssertionError, match="depend"):
        check_causality(peeking, 5)
    with pytest.raises(AssertionError, match="factorised"):
        check_causality(lambda v: (2 * v)[:, :, None] * 0 + v.sum() * 0, 5)


def test_check_receptive_field_formula_accepts_the_right_rule_and_names_a_wrong_one():
    def integer_rule(dim, s):
        L = 0
        while s**L < dim:
            L += 1
        return L

    assert check_receptive_field_formula(integer_rule)
    with pytest.raises(AssertionError, match="D=125, s=5"):
        check_receptive_field_formula(lambda d, s: math.ceil(math.log(d, s)) if d > 1 else 0)
    with pytest.raises(AssertionError, match="D=3, s=2"):
        check_receptive_field_formula(lambda d, s: int(math.log(d, s)))


# ----------------------------------------------------------------------------- normalisation


def test_log_prob_integrates_to_one_on_a_2d_grid():
    model = sharp_lde(2, n_components=5, channels=16, head_layers=1)
    points, cell = grid(2, 401, 9.0)
    with torch.no_grad():
        mass = model.log_prob(points).exp().sum().item() * cell
    assert mass == pytest.approx(1.0, abs=2e-3)


def test_log_prob_integrates_to_one_on_a_3d_grid_and_a_peeking_factor_does_not():
    model = sharp_lde(3, n_components=4, channels=8)
    points, cell = grid(3, 81, 7.0)
    with torch.no_grad():
        mass = model.log_prob(points).exp().sum().item() * cell
    assert mass == pytest.approx(1.0, abs=5e-3)

    class Peeking(LatentDensityEstimator):
        def features(self, u, biases=None):  # h_i sees z_1 .. z_i: conditional i peeks at its own coordinate
            return super().features(torch.roll(u, -1, dims=1), biases)

    cheat = Peeking(3, n_components=4, channels=8)
    cheat.load_state_dict(model.state_dict())
    with torch.no_grad():
        cheat_mass = cheat.log_prob(points).exp().sum().item() * cell
    assert abs(cheat_mass - 1.0) > 0.05


def test_sample_moments_agree_with_the_moments_of_log_prob():
    model = sharp_lde(2, n_components=5, channels=16, head_layers=1, seed=3)
    points, cell = grid(2, 401, 9.0)
    with torch.no_grad():
        weights = model.log_prob(points).exp() * cell
        weights = weights / weights.sum()
        mean = (weights[:, None] * points).sum(0)
        centred = points - mean
        cov = (weights[:, None, None] * centred[:, :, None] * centred[:, None, :]).sum(0)
        torch.manual_seed(1)
        samples = model.sample(100_000)
    assert samples.shape == (100_000, 2)
    torch.testing.assert_close(samples.mean(0), mean, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), cov, atol=0.05, rtol=0.03)


def test_fit_lde_reaches_the_entropy_of_a_correlated_gaussian():
    torch.manual_seed(0)
    cov = torch.tensor([[2.0, 1.2, 0.3], [1.2, 1.5, -0.4], [0.3, -0.4, 0.6]])
    target = torch.distributions.MultivariateNormal(torch.tensor([1.0, -2.0, 0.5]), cov)
    train, test = target.sample((4000,)), target.sample((4000,))
    model = LatentDensityEstimator(3, n_components=3, channels=16, head_layers=1)
    history = fit_lde(model, train, n_steps=400, batch_size=256, lr=1e-2, progress=False)
    with torch.no_grad():
        held_out = model.log_prob(test).mean().item()
    assert history["nll_per_dim"][-1] < history["nll_per_dim"][0]
    assert held_out == pytest.approx(-target.entropy().item(), abs=0.08)
    torch.testing.assert_close(model.loc, train.mean(0))


def test_fit_lde_steps_the_given_schedule_down_to_zero_and_keeps_a_constant_rate_without_one():
    from companion.train import cosine_schedule

    train = torch.randn(512, 3)
    scheduled = LatentDensityEstimator(3, n_components=2, channels=4)
    optimizer = torch.optim.Adam(scheduled.parameters(), lr=1e-2)
    fit_lde(scheduled, train, n_steps=20, batch_size=64, optimizer=optimizer, scheduler=cosine_schedule(20),
            progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    constant = LatentDensityEstimator(3, n_components=2, channels=4)
    optimizer = torch.optim.Adam(constant.parameters(), lr=1e-2)
    fit_lde(constant, train, n_steps=20, batch_size=64, optimizer=optimizer, progress=False)
    assert optimizer.param_groups[0]["lr"] == 1e-2
    with pytest.raises(TypeError, match="scheduler must be None or a function"):
        fit_lde(constant, train, n_steps=2, batch_size=64, scheduler=0.5, progress=False)


# ----------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_clear_errors():
    model = LatentDensityEstimator(4, n_components=2, channels=4)
    with pytest.raises(ValueError, match=r"shape \(\*, 4\)"):
        model.log_prob(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"shape \(\*, 4\)"):
        model.log_prob(torch.zeros(4))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.log_prob(torch.tensor([[0.0, float("nan"), 0.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.log_prob(torch.tensor([[0.0, float("inf"), 0.0, 0.0]]))
    with pytest.raises(TypeError, match="floating-point"):
        model.log_prob(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model.log_prob([[0.0] * 4])
    with pytest.raises(ValueError, match="n must be"):
        model.sample(-1)
    assert model.sample(0).shape == (0, 4)
    with pytest.raises(ValueError, match="dim"):
        LatentDensityEstimator(0)
    with pytest.raises(ValueError, match="n_components"):
        LatentDensityEstimator(3, n_components=0)
    with pytest.raises(ValueError, match="filter_size"):
        LatentDensityEstimator(3, filter_size=1)
    with pytest.raises(ValueError, match="channels must hold 2"):
        LatentDensityEstimator(4, channels=[8, 8, 8])
    with pytest.raises(ValueError, match="data"):
        fit_lde(model, torch.zeros(10, 3), n_steps=1)
    with pytest.raises(TypeError, match="LatentDensityEstimator"):
        fit_lde(torch.nn.Linear(2, 2), torch.zeros(10, 2), n_steps=1)
    with pytest.raises(ValueError, match="dim"):
        receptive_field_layers(0)
    with pytest.raises(ValueError, match=r"y must have shape \(\*, 2\)"):
        mmd2(torch.zeros(3, 2), torch.zeros(3, 3))


# ----------------------------------------------------------------------------- the IAE


def test_iae_masked_dims_are_zero_and_get_no_gradient():
    torch.manual_seed(0)
    model = make_autoencoder((1, 8, 8), latent_dim=6, incremental=True)
    model.set_active_dims(2)
    x = torch.rand(16, 1, 8, 8)
    raw = {}

    def keep(module, inputs, out):
        out.retain_grad()
        raw["z"] = out

    model.encoder.register_forward_hook(keep)
    z = model.encode(x)
    assert torch.all(z[:, 2:] == 0) and torch.all(z[:, :2] != 0)
    model.loss(x).backward()
    assert torch.all(raw["z"].grad[:, 2:] == 0)
    assert torch.any(raw["z"].grad[:, :2] != 0)
    first_decoder_layer = model.decoder[0][0]
    assert torch.all(first_decoder_layer.weight.grad[:, 2:] == 0)
    assert torch.any(first_decoder_layer.weight.grad[:, :2] != 0)


def test_iae_masking_stops_a_non_finite_encoder_output():
    class Broken(torch.nn.Module):
        def forward(self, x):
            return torch.cat([x.sum(1, keepdim=True), torch.full((x.shape[0], 2), float("inf"))], dim=1)

    model = IncrementalAutoencoder(Broken(), torch.nn.Linear(3, 4), latent_dim=3)
    model.set_active_dims(1)
    x = torch.randn(5, 4)
    loss = ((model(x) - x) ** 2).mean()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(model.decoder.weight.grad).all()


def test_iae_schedule_grows_and_training_keeps_the_inactive_part_zero():
    torch.manual_seed(0)
    model = make_autoencoder((10,), latent_dim=4, incremental=True, hidden=16)
    n = 100
    schedule = [model.active_dims_at(t, n, growth_fraction=0.5) for t in range(n)]
    assert schedule[0] == 1 and schedule[-1] == 4
    assert all(a <= b for a, b in zip(schedule, schedule[1:]))
    assert min(t for t, k in enumerate(schedule) if k == 4) <= 50
    plain = make_autoencoder((10,), latent_dim=4, incremental=False, hidden=16)
    assert {plain.active_dims_at(t, n) for t in range(n)} == {4}

    data = torch.rand(64, 10)
    seen = []
    original = model.encode

    def spying_encode(x):
        z = original(x)
        seen.append((model.active_dims, z.detach().clone()))
        return z

    model.encode = spying_encode
    history = fit_incremental_autoencoder(model, data, n_steps=40, batch_size=16, progress=False)
    for k, z in seen:
        assert torch.all(z[:, k:] == 0)
    assert [k for k, _ in seen][0] == 1 and model.active_dims == 4
    assert history["mse"][-1] < history["mse"][0]


def test_iae_bad_arguments():
    with pytest.raises(ValueError, match="start_dims"):
        make_autoencoder((10,), latent_dim=3, start_dims=4)
    model = make_autoencoder((10,), latent_dim=3)
    with pytest.raises(ValueError, match="k must be"):
        model.set_active_dims(4)
    with pytest.raises(ValueError, match="architecture"):
        make_autoencoder((10,), latent_dim=3, architecture="rnn")
    with pytest.raises(ValueError, match="NaN"):
        fit_incremental_autoencoder(model, torch.full((4, 10), float("nan")), n_steps=1)


# ----------------------------------------------------------------------------- the GMMN


def test_mmd_is_zero_for_equal_samples_and_grows_with_a_shift():
    torch.manual_seed(0)
    x, x_again = torch.randn(400, 2), torch.randn(400, 2)
    assert mmd2(x, x, unbiased=False).item() == pytest.approx(0.0, abs=1e-6)
    same = mmd2(x, x_again).item()  # unbiased: zero in expectation for one distribution
    small, large = mmd2(x, x_again + 0.3).item(), mmd2(x, x_again + 1.5).item()
    assert abs(same) < 0.02 < small < large


def test_mmd_matches_its_definition_and_its_gradient_where_kernels_underflow():
    # the definition in float64, without the exponent floor: the floor changes nothing visible, even with
    # points so far apart at the narrowest bandwidth (exponents of -d^2 / (2 * 0.05^2), down to about -1e5)
    # that float32 kernels would underflow
    torch.manual_seed(0)
    x = (torch.randn(60, 3) * 4).requires_grad_()
    y = torch.randn(50, 3) * 4 + 1.0
    widths = (0.05, 0.3, 3.0)

    def by_definition(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return sum(torch.exp(-d2 / (2 * h * h)) for h in widths)

    x64, y64 = x.detach().double().requires_grad_(), y.double()
    n, m = len(x64), len(y64)
    k_xx, k_yy, k_xy = by_definition(x64, x64), by_definition(y64, y64), by_definition(x64, y64)
    expected = ((k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
                + (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1)) - 2 * k_xy.mean())
    expected.backward()
    value = mmd2(x, y, widths)
    value.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-7)
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-4, atol=1e-7)
    # the biased estimate keeps k(a, a), whose float32 distance of a point to itself is not exactly 0
    assert mmd2(x, y, widths, unbiased=False).item() == pytest.approx(
        (k_xx.mean() + k_yy.mean() - 2 * k_xy.mean()).item(), rel=1e-4)


def test_gmmn_learns_a_shifted_scaled_gaussian():
    torch.manual_seed(0)
    data = torch.randn(2000, 2) * torch.tensor([2.0, 0.5]) + torch.tensor([3.0, -1.0])
    model = GMMN(2, noise_dim=4, hidden=32)
    fit_gmmn(model, data, n_steps=200, batch_size=256, progress=False)
    with torch.no_grad():
        samples = model.sample(4000)
    assert samples.shape == (4000, 2)
    sd = data.std(0)
    assert ((samples.mean(0) - data.mean(0)).abs() / sd).max() < 0.1  # within a tenth of a std
    assert ((samples.std(0) / sd).log().abs()).max() < 0.2  # an untrained generator is off by ~2


def test_fit_gmmn_passes_its_scheduler_to_the_loop():
    from companion.train import cosine_schedule

    torch.manual_seed(0)
    data = torch.randn(500, 2)
    model = GMMN(2, noise_dim=2, hidden=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit_gmmn(model, data, n_steps=20, batch_size=50, optimizer=optimizer, scheduler=cosine_schedule(20), progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # annealed to zero over the run
    constant = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit_gmmn(model, data, n_steps=20, batch_size=50, optimizer=constant, progress=False)
    assert constant.param_groups[0]["lr"] == 1e-3


def test_samples_stay_finite_where_the_network_asks_for_huge_scales():
    # Sampling can wander where the estimator was never fitted; there an unbounded log sd
    # overflowed exp and turned codes into inf/NaN (seen on patches). The scale is capped.
    torch.manual_seed(0)
    model = LatentDensityEstimator(6, n_components=3, channels=4, head_layers=1)
    with torch.no_grad():
        model.mdn.bias[2 * 3:].fill_(1000.0)  # the log sds: (logits, means, log sds) x K
    codes = model.sample(200)
    assert torch.isfinite(codes).all()
    assert torch.isfinite(model.log_prob(codes)).all()
