"""Tests of companion.pixelcnn: causality, normalisation, sampling, bad inputs."""

from __future__ import annotations

import itertools

import pytest
import torch

from companion.pixelcnn import (
    MaskedConv2d,
    PixelCNN,
    discretized_logistic_log_prob,
    discretized_logistic_mixture_log_prob,
)


def _all_images(shape, n_levels):
    """Every image of the given shape with n_levels levels, in [0, 1] (level k at k / (n_levels - 1))."""
    n = shape[0] * shape[1] * shape[2]
    grid = torch.tensor(list(itertools.product(range(n_levels), repeat=n)), dtype=torch.float32)
    return grid.view(-1, *shape) / (n_levels - 1)


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_is_causal_in_raster_order(mask_type):
    torch.manual_seed(0)
    conv = MaskedConv2d(2, 3, 5, mask_type)
    h, w = 6, 5
    x = torch.randn(1, 2, h, w, requires_grad=True)
    out = conv(x)
    for r, s in itertools.product(range(h), range(w)):
        (grad,) = torch.autograd.grad(out[0, :, r, s].sum(), x, retain_graph=True)
        dep = grad.abs().sum(dim=(0, 1))  # (h, w): which input pixels the output at (r, s) sees
        for rr, ss in itertools.product(range(h), range(w)):
            later = (rr, ss) > (r, s)
            current = (rr, ss) == (r, s)
            if later or (current and mask_type == "A"):
                assert dep[rr, ss] == 0, f"output {(r, s)} depends on input {(rr, ss)}"
        # and the mask is not vacuous: the left neighbour (or the pixel itself for B) is seen
        if mask_type == "B":
            assert dep[r, s] > 0
        if s > 0:
            assert dep[r, s - 1] > 0


@pytest.mark.parametrize("kind", ["gated", "residual"])
@pytest.mark.parametrize("conditional", [False, True])
def test_pixelcnn_output_at_pixel_depends_only_on_earlier_pixels(kind, conditional):
    torch.manual_seed(1)
    shape = (2, 5, 4)
    model = PixelCNN(shape, n_levels=7, channels=8, n_blocks=3, kind=kind, n_mixtures=2,
                     cond_channels=1 if conditional else 0)
    x = (torch.randint(0, 7, (1,) + shape) / 6).requires_grad_(True)
    cond = torch.randn(1, 1, 5, 4) if conditional else None
    out = model(x, cond)
    h, w = shape[1:]
    for r, s in itertools.product(range(h), range(w)):
        (grad,) = torch.autograd.grad(out[0, :, r, s].sum(), x, retain_graph=True)
        dep = grad.abs().sum(dim=(0, 1))
        order = torch.arange(h * w).view(h, w)
        i = r * w + s
        assert dep[order >= i].sum() == 0, f"output at {(r, s)} sees pixel {i} or a later one"
        if i > 0:
            assert dep[order < i].sum() > 0, "the model sees no earlier pixel at all"


def test_log_prob_of_each_value_depends_on_earlier_values_only():
    # Whole model, colour coupling included: log p(x_{i,k} | ...) may depend on x_{<i} and on
    # x_{i,j} for j <= k, never on a later channel of the pixel or a later pixel.
    torch.manual_seed(2)
    shape = (3, 3, 3)
    model = PixelCNN(shape, n_levels=5, channels=8, n_blocks=2, n_mixtures=2)
    x = (torch.randint(1, 4, (1,) + shape) / 4).requires_grad_(True)  # inner levels: gradient w.r.t. x exists
    lp = model.log_prob_elements(x)
    c, h, w = shape
    rank = (torch.arange(h * w).view(1, h, w) * c + torch.arange(c).view(c, 1, 1))  # raster order of values
    for k, r, s in itertools.product(range(c), range(h), range(w)):
        (grad,) = torch.autograd.grad(lp[0, k, r, s], x, retain_graph=True)
        assert grad[0][rank > rank[k, r, s]].abs().sum() == 0, f"value {(k, r, s)} sees a later value"
    # the coupling is real: the blue channel's probability depends on the red value of the pixel
    (grad,) = torch.autograd.grad(lp[0, 2, 1, 1], x, retain_graph=True)
    assert grad[0, 0, 1, 1] != 0


def test_changing_a_pixel_leaves_earlier_conditionals_unchanged():
    torch.manual_seed(3)
    shape = (1, 4, 4)
    model = PixelCNN(shape, n_levels=9, channels=8, n_blocks=2, cond_channels=2)
    x = torch.randint(0, 9, (2,) + shape) / 8
    cond = torch.randn(2, 2, 4, 4)
    base = model.log_prob_elements(x, cond).detach()
    for r, s in [(0, 2), (2, 0), (3, 3)]:
        y = x.clone()
        y[:, 0, r, s] = (y[:, 0, r, s] * 8 + 4) % 9 / 8
        lp = model.log_prob_elements(y, cond).detach()
        i = r * 4 + s
        flat_base, flat_new = base.view(2, -1), lp.view(2, -1)
        torch.testing.assert_close(flat_new[:, :i], flat_base[:, :i])


@pytest.mark.parametrize("shape,n_levels,cond_channels", [((1, 2, 2), 3, 0), ((2, 2, 1), 3, 1), ((3, 1, 1), 4, 2)])
def test_probabilities_of_all_images_sum_to_one(shape, n_levels, cond_channels):
    torch.manual_seed(4)
    model = PixelCNN(shape, n_levels=n_levels, channels=8, n_blocks=2, n_mixtures=3, cond_channels=cond_channels)
    images = _all_images(shape, n_levels)
    cond = None
    if cond_channels:
        cond = torch.randn(1, cond_channels, *shape[1:]).expand(images.shape[0], -1, -1, -1)
    total = model.log_prob(images, cond).double().exp().sum()
    assert abs(total.item() - 1.0) < 1e-4


@pytest.mark.parametrize("n_levels", [2, 17, 256])
def test_discretized_logistic_sums_to_one_for_any_mean_and_scale(n_levels):
    torch.manual_seed(5)
    levels = torch.arange(n_levels, dtype=torch.float32).view(-1, 1)
    mean = torch.tensor([[-50.0, 0.0, n_levels / 3, n_levels - 1.0, 3.0 * n_levels]]).expand(n_levels, -1)
    for log_scale in (-6.0, -1.0, 0.0, 2.0, 8.0):
        lp = discretized_logistic_log_prob(levels.expand_as(mean), mean, torch.full_like(mean, log_scale), n_levels)
        torch.testing.assert_close(lp.double().exp().sum(dim=0), torch.ones(5, dtype=torch.float64), atol=1e-5, rtol=0)
    logits, means, log_scales = torch.randn(1, 4), torch.randn(1, 4) * n_levels, torch.randn(1, 4)
    lp = discretized_logistic_mixture_log_prob(levels.squeeze(1), logits, means, log_scales, n_levels)
    assert abs(lp.double().exp().sum().item() - 1.0) < 1e-5


@pytest.mark.parametrize("shape,n_levels,gain", [((2, 1, 2), 2, 20.0), ((3, 1, 1), 3, 5.0), ((1, 2, 2), 3, 5.0)])
def test_ancestral_samples_follow_the_model_distribution(shape, n_levels, gain):
    # Two pixels (spatial order), three colour channels (the coupling of a pixel's channels),
    # four grey pixels: the empirical law of 20,000 samples must match exp(log_prob).
    torch.manual_seed(6)
    model = PixelCNN(shape, n_levels=n_levels, channels=8, n_blocks=1, n_mixtures=2)
    with torch.no_grad():
        for p in model.head[-1].parameters():
            p.mul_(gain)  # make the distribution far from uniform
        images = _all_images(shape, n_levels)
        probs = model.log_prob(images).exp()
        samples = model.sample(20000, generator=torch.Generator().manual_seed(0))
    n_values = images[0].numel()
    weights = torch.tensor([float(n_levels ** k) for k in reversed(range(n_values))])
    codes = (torch.round(samples.view(20000, -1) * (n_levels - 1)) * weights).sum(1).long()
    enum_codes = (torch.round(images.view(images.shape[0], -1) * (n_levels - 1)) * weights).sum(1).long()
    freq = torch.bincount(codes, minlength=images.shape[0]).float() / 20000
    tv = 0.5 * (freq[enum_codes] - probs).abs().sum().item()
    assert 0.5 * (probs - 1 / images.shape[0]).abs().sum() > 0.1  # not a flat distribution
    assert tv < 0.03, f"total variation between samples and model: {tv:.3f}"


def test_sample_shape_and_range():
    model = PixelCNN((1, 3, 3), n_levels=17, channels=8, n_blocks=1, cond_channels=1)
    cond = torch.rand(4, 1, 3, 3)
    x = model.sample(4, cond)
    assert x.shape == (4, 1, 3, 3)
    assert x.min() >= 0 and x.max() <= 1 and torch.equal(x * 16, (x * 16).round())  # on the lattice k / 16
    assert torch.isfinite(model.log_prob(x, cond)).all()


def test_the_stack_is_channels_last_and_the_layout_changes_only_rounding():
    import copy

    torch.manual_seed(0)
    model = PixelCNN((3, 5, 5), n_levels=17, channels=8, n_blocks=2, cond_channels=2)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    default = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    # (a 1x1 kernel's weight is in both layouts at once)
    assert not any(m.weight.is_contiguous(memory_format=torch.channels_last)
                   for m in default.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1))
    x, cond = torch.randint(0, 17, (4, 3, 5, 5)) / 16, torch.rand(4, 2, 5, 5)
    torch.testing.assert_close(model.log_prob(x, cond), default.log_prob(x, cond), rtol=1e-5, atol=1e-4)
    (-model.log_prob(x, cond).mean()).backward()  # gradients reach the channels-last weights in their layout
    assert all(torch.isfinite(m.weight.grad).all() for m in convs)
    torch.manual_seed(1)
    drawn = model.sample(3, cond[:3])
    torch.manual_seed(1)
    torch.testing.assert_close(drawn, default.sample(3, cond[:3]))  # the same draws: the layouts differ in rounding


def test_bad_inputs_raise_clear_errors():
    model = PixelCNN((1, 4, 4), n_levels=17, channels=8, n_blocks=1)
    good = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.log_prob(good + 3)  # integer levels where images in [0, 1] are expected
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.log_prob(good - 1 / 16)
    with pytest.raises(ValueError, match="lattice"):
        model.log_prob(good + 0.01)
    with pytest.raises(TypeError, match="floating-point"):
        model.log_prob(good.long())
    with pytest.raises(ValueError, match="shape"):
        model.log_prob(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="shape"):
        model.log_prob(torch.zeros(2, 1, 4, 5))
    with pytest.raises(ValueError, match="NaN"):
        model.log_prob(good.clone().fill_(float("nan")))
    with pytest.raises(TypeError):
        model.log_prob(good.numpy())
    with pytest.raises(ValueError, match="unconditional"):
        model.log_prob(good, torch.zeros(2, 1, 4, 4))
    conditional = PixelCNN((1, 4, 4), n_levels=17, channels=8, n_blocks=1, cond_channels=2)
    with pytest.raises(ValueError, match="conditional"):
        conditional.log_prob(good)
    with pytest.raises(ValueError, match="cond must have shape"):
        conditional.log_prob(good, torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2d(1, 1, 3, "C")
    with pytest.raises(ValueError, match="odd"):
        MaskedConv2d(1, 1, 4, "A")
    with pytest.raises(ValueError, match="kind"):
        PixelCNN((1, 4, 4), kind="dense")
    with pytest.raises(ValueError, match="n_levels"):
        PixelCNN((1, 4, 4), n_levels=1)
    with pytest.raises(ValueError, match="shape"):
        PixelCNN((4, 4))
    with pytest.raises(ValueError, match="n"):
        model.sample(0)


def _reference_sample(model, n, cond, generator):
    """Ancestral sampling with the full network at every pixel (no cropping, no cached conditioning)."""
    from companion.likelihoods import sample_discretized_logistic_mixture

    c, height, width = model.shape
    x = torch.zeros(n, c, height, width)  # levels
    with torch.no_grad():
        for r in range(height):
            for s in range(width):
                out = model(x / (model.n_levels - 1), cond)[:, :, r:r + 1, s:s + 1]
                for ch in range(c):
                    logits, means, log_scales = model._mixture(out, x[:, :, r:r + 1, s:s + 1])
                    x[:, ch, r, s] = sample_discretized_logistic_mixture(
                        logits[:, ch, 0, 0], means[:, ch, 0, 0], log_scales[:, ch, 0, 0], model.n_levels, generator)
    return x / (model.n_levels - 1)


@pytest.mark.parametrize("shape, cond_channels", [((1, 6, 5), 2), ((3, 4, 4), 0)])
def test_fast_sampling_equals_the_full_network_at_every_pixel(shape, cond_channels):
    # sample() runs the stack on the rows up to the current one and computes the conditioning
    # stream once; both are exact, so with the same random numbers the draws are the same.
    torch.manual_seed(0)
    model = PixelCNN(shape, n_levels=9, channels=8, n_blocks=3, n_mixtures=2, cond_channels=cond_channels).eval()
    cond = torch.randn(4, cond_channels, *shape[1:]) if cond_channels else None
    fast = model.sample(4, cond, generator=torch.Generator().manual_seed(5))
    slow = _reference_sample(model, 4, cond, torch.Generator().manual_seed(5))
    assert torch.equal(fast, slow)
    with torch.no_grad():  # and the cropped stack gives the full network's outputs on its rows
        full = model(fast, cond)
        terms = None if cond is None else model.conditioning_terms(cond)
        cropped = model.masked_stack(fast[:, :, :3] * 8, None if terms is None else [t[:, :, :3] for t in terms])
    assert torch.allclose(cropped, full[:, :, :3], atol=1e-5)
