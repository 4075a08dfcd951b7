"""Tests of companion.flows: invertibility, exact log-determinants, normalisation, ActNorm."""

from __future__ import annotations

import math

import pytest
import torch

from companion.flows import ActNorm, AffineCoupling, RealNVP, squeeze, uniform_dequantize, unsqueeze


def _perturb(flow: RealNVP, std: float = 0.2, seed: int = 0) -> RealNVP:
    """Give the (zero-initialised) coupling networks non-trivial weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in flow.named_parameters():
            if ".net." in name or name.startswith("net."):
                p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return flow


CASES = [
    ((4,), dict(n_blocks=4, hidden=16)),
    ((2,), dict(n_blocks=3, hidden=8)),
    ((1, 4, 4), dict(n_blocks=2, hidden=8, n_scales=3)),
    ((2, 4, 4), dict(n_blocks=2, hidden=8, n_scales=2)),
    ((3, 6, 6), dict(n_blocks=2, hidden=8, n_scales=1)),
]


@pytest.mark.parametrize("shape,kwargs", CASES)
def test_flow_inverts(shape, kwargs):
    torch.manual_seed(0)
    flow = RealNVP(shape, **kwargs)
    x = 2 * torch.randn(32, *shape) + 1
    _perturb(flow.initialize(x))
    y, logdet = flow(x)
    assert y.shape == x.shape and logdet.shape == (32,)
    assert (y - x).abs().max() > 0.1  # not the identity
    torch.testing.assert_close(flow.inverse(y), x, atol=1e-5, rtol=1e-5)  # float32 round-off
    x_back, inv_logdet = flow.inverse(y, return_logdet=True)
    torch.testing.assert_close(inv_logdet, -logdet, atol=1e-4, rtol=0)
    # and the other way round, from base samples
    z = torch.randn(8, *shape)
    torch.testing.assert_close(flow(flow.inverse(z))[0], z, atol=1e-5, rtol=1e-5)
    # in double precision the round trip is exact to many more digits
    flow = flow.double()
    torch.testing.assert_close(flow.inverse(flow(x.double())[0]), x.double(), atol=1e-10, rtol=0)


@pytest.mark.parametrize("shape,kwargs", CASES)
def test_logdet_equals_the_autograd_jacobian(shape, kwargs):
    torch.manual_seed(1)
    flow = RealNVP(shape, **kwargs).double()
    data = torch.randn(32, *shape, dtype=torch.float64) * 1.5
    _perturb(flow.initialize(data), std=0.3)
    for x in data[:2]:
        x = x.unsqueeze(0)
        jac = torch.autograd.functional.jacobian(lambda t: flow(t.view(1, *shape))[0].reshape(-1), x.reshape(-1))
        _, expected = torch.linalg.slogdet(jac)
        assert flow(x)[1].item() == pytest.approx(expected.item(), abs=1e-8)


def test_density_integrates_to_one_on_a_grid():
    torch.manual_seed(0)
    flow = RealNVP((2,), n_blocks=4, hidden=16).double()
    data = torch.randn(256, 2, dtype=torch.float64) * torch.tensor([1.0, 0.5]) + 0.3
    _perturb(flow.initialize(data), std=0.2)
    n, half_width = 301, 7.0
    grid = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    with torch.no_grad():
        density = flow.log_prob(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)).exp()
        inside = (flow.sample(4000).abs() < half_width).all(1).double().mean()
    step = (grid[1] - grid[0]).item()
    assert inside > 0.999  # the grid holds (almost) all the mass, so the integral should be 1
    assert density.max() > 0.15  # a non-trivial density (the base density peaks at 0.159)
    assert density.sum().item() * step**2 == pytest.approx(1.0, abs=1e-2)


def test_training_increases_the_likelihood_and_the_density_stays_normalised():
    torch.manual_seed(0)
    data = torch.randn(512, 2) * torch.tensor([0.3, 1.0])
    data = torch.stack([data[:, 0] + 0.5 * data[:, 1] ** 2, data[:, 1]], 1)  # a banana
    flow = RealNVP((2,), n_blocks=6, hidden=32)
    opt = torch.optim.Adam(flow.parameters(), lr=3e-3)
    flow.initialize(data)
    with torch.no_grad():
        before = flow.log_prob(data).mean().item()
    for _ in range(60):
        opt.zero_grad()
        loss = -flow.log_prob(data).mean()
        loss.backward()
        opt.step()
    assert -loss.item() > before + 0.5  # from -2.84 to about -1.65 nats
    grid = torch.linspace(-8, 8, 321, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    with torch.no_grad():
        density = flow.double().log_prob(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)).exp()
    assert density.sum().item() * (grid[1] - grid[0]).item() ** 2 == pytest.approx(1.0, abs=1e-2)


def test_log_prob_is_the_change_of_variables():
    torch.manual_seed(0)
    flow = RealNVP((3,), n_blocks=2, hidden=8)
    x = torch.randn(10, 3)
    _perturb(flow.initialize(x))
    y, logdet = flow(x)
    base = torch.distributions.Normal(0.0, 1.0).log_prob(y).sum(1)
    torch.testing.assert_close(flow.log_prob(x), base + logdet)
    assert flow.log_prob_is_bound is False
    s = flow.sample(5)
    assert s.shape == (5, 3) and not s.requires_grad


def test_actnorm_initialises_to_zero_mean_unit_variance():
    torch.manual_seed(0)
    vectors = 3 * torch.randn(64, 5) + torch.arange(5.0)
    norm = ActNorm(5)
    out, logdet = norm(vectors)
    torch.testing.assert_close(out.mean(0), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(0, unbiased=False), torch.ones(5), atol=1e-4, rtol=0)
    assert bool(norm.initialized)
    # log-determinant of the diagonal map: sum of -log std
    torch.testing.assert_close(logdet, -vectors.std(0, unbiased=False).log().sum().expand(64), atol=1e-4, rtol=0)
    # images: per channel, over batch and pixels
    images = torch.randn(8, 3, 4, 4) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1) - 2
    norm = ActNorm(3, image=True)
    out, logdet = norm(images)
    torch.testing.assert_close(out.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    # the parameters are then fixed: a second, different batch does not re-initialise
    out2, _ = norm(images + 10)
    torch.testing.assert_close(out2, out + 10 * norm.log_scale.exp(), atol=1e-4, rtol=0)
    # the whole flow: the first ActNorm standardises the data batch
    flow = RealNVP((1, 4, 4), n_blocks=2, hidden=4).initialize(images[:, :1])
    first = flow.body.checker[0]
    assert isinstance(first, ActNorm)
    out, _ = first(images[:, :1])
    assert abs(out.mean().item()) < 1e-5 and abs(out.std(unbiased=False).item() - 1) < 1e-4


def test_actnorm_state_is_saved_and_a_single_example_cannot_initialise():
    norm = ActNorm(2)
    with pytest.raises(ValueError, match="at least 2"):
        norm(torch.randn(1, 2))
    norm(torch.randn(10, 2))
    fresh = ActNorm(2)
    fresh.load_state_dict(norm.state_dict())
    assert bool(fresh.initialized)
    torch.testing.assert_close(fresh(torch.ones(1, 2))[0], norm(torch.ones(1, 2))[0])


def test_coupling_keeps_the_masked_half():
    torch.manual_seed(0)
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    net = torch.nn.Linear(4, 8)
    coupling = AffineCoupling(mask, net, 4)
    x = torch.randn(6, 4)
    y, _ = coupling(x)
    torch.testing.assert_close(y[:, [0, 2]], x[:, [0, 2]])
    assert (y[:, [1, 3]] - x[:, [1, 3]]).abs().max() > 1e-3
    # the log-scale is bounded by |scale| (tanh)
    with torch.no_grad():
        net.weight.mul_(100)
    _, logdet = coupling(x)
    assert logdet.abs().max() <= 2.0 + 1e-5


def test_squeeze_roundtrip_and_layout():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    s = squeeze(x)
    assert s.shape == (2, 12, 2, 3)
    torch.testing.assert_close(unsqueeze(s), x)
    # channel 4c + 2i + j holds pixel (2h + i, 2w + j) of channel c
    assert s[1, 4 * 2 + 2 * 1 + 0, 1, 2].item() == x[1, 2, 3, 4].item()


def test_uniform_dequantize():
    g = torch.Generator().manual_seed(0)
    levels = torch.randint(0, 4, (1000, 3)).float()
    y = uniform_dequantize(levels, 4, generator=g)
    assert (y >= 0).all() and (y < 1).all()
    torch.testing.assert_close(torch.floor(y * 4), levels)
    with pytest.raises(ValueError, match="0..3"):
        uniform_dequantize(torch.tensor([4.0]), 4)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        RealNVP((1,))
    with pytest.raises(ValueError, match="divisible by 4"):
        RealNVP((1, 25, 25), n_scales=3)
    with pytest.raises(ValueError, match="n_scales must be 1"):
        RealNVP((4,), n_scales=2)
    with pytest.raises(ValueError, match="n_blocks"):
        RealNVP((4,), n_blocks=0)
    with pytest.raises(ValueError, match="shape"):
        RealNVP((2, 3))
    flow = RealNVP((2,), n_blocks=2, hidden=4)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        flow.log_prob(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="NaN"):
        flow.log_prob(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))
    with pytest.raises(TypeError, match="floating"):
        flow(torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"y must have shape"):
        flow.inverse(torch.zeros(4, 2, 1))
    with pytest.raises(ValueError, match="n must be"):
        flow.sample(0)


def test_faces_sized_images_run():
    torch.manual_seed(0)
    flow = RealNVP((1, 25, 25), n_blocks=2, hidden=8)
    x = torch.rand(4, 1, 25, 25)
    log_p = flow.log_prob(x)
    assert log_p.shape == (4,) and torch.isfinite(log_p).all()
    assert flow.sample(2).shape == (2, 1, 25, 25)
    assert math.isfinite(flow.log_prob(x).mean().item())


def test_conv_couplings_are_channels_last_and_the_layout_changes_only_rounding():
    import copy

    torch.manual_seed(0)
    flow = _perturb(RealNVP((2, 6, 6), n_blocks=2, hidden=8, n_scales=2))
    convs = [m for m in flow.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    default = copy.deepcopy(flow).to(memory_format=torch.contiguous_format)
    assert not any(m.weight.is_contiguous(memory_format=torch.channels_last)
                   for m in default.modules() if isinstance(m, torch.nn.Conv2d))
    x = torch.rand(5, 2, 6, 6)
    torch.testing.assert_close(flow.log_prob(x), default.log_prob(x), rtol=1e-5, atol=1e-4)
    loss = -flow.log_prob(x).mean()
    loss.backward()  # gradients reach the channels-last weights in their layout
    assert all(torch.isfinite(m.weight.grad).all() for m in convs)


def test_standardized_is_the_change_of_variables_and_fit_flow_initialises():
    from companion.flows import RealNVP, Standardized, fit_flow

    torch.manual_seed(0)
    data = torch.randn(128, 2) * 5 + 3
    flow = RealNVP((2,), n_blocks=2, hidden=8)
    fit_flow(flow, (data - 3) / 5, n_steps=3, batch_size=32, progress=False)
    model = Standardized(flow, torch.full((2,), 3.0), torch.full((2,), 5.0))
    x = data[:4]
    expected = flow.log_prob((x - 3) / 5) - 2 * math.log(5.0)
    torch.testing.assert_close(model.log_prob(x), expected)
    assert model.sample(5).shape == (5, 2)
    with pytest.raises(ValueError, match="scale"):
        Standardized(flow, torch.zeros(2), torch.zeros(2))
    with pytest.raises(TypeError, match="RealNVP"):
        fit_flow(torch.nn.Linear(2, 2), data, n_steps=1, batch_size=4)


def test_dequantized_is_the_flows_bound_on_the_lattice_and_samples_on_it():
    from companion.flows import Dequantized

    torch.manual_seed(0)
    x = torch.randint(0, 5, (6, 1, 4, 4)) / 4
    flow = RealNVP((1, 4, 4), n_blocks=2, hidden=8)
    flow.initialize(uniform_dequantize(torch.round(x * 4), 5))
    model = Dequantized(flow, n_levels=5)
    torch.manual_seed(1)
    got = model.log_prob(x)
    torch.manual_seed(1)
    expected = flow.log_prob(uniform_dequantize(torch.round(x * 4), 5)) - 16 * math.log(5)
    torch.testing.assert_close(got, expected)
    assert model.log_prob_is_bound
    samples = model.sample(7)
    assert samples.shape == (7, 1, 4, 4) and torch.equal(samples * 4, torch.round(samples * 4))
    with pytest.raises(TypeError, match="log_prob and sample"):
        Dequantized(torch.nn.Linear(2, 2), 5)
    with pytest.raises(ValueError, match="n_levels"):
        Dequantized(flow, 1)
