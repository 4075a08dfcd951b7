"""One contract test over every density model and sampler of the package (tiny models, seconds).

Each case builds a small model and a batch of valid input on the model's documented scale;
the same checks then run over all of them: the protocol's members, shapes, finite values,
``log_prob`` of the model's own samples, gradients, a ``state_dict`` round trip, a move to
the CPU, and a clear error for input of the wrong shape. Models of discrete images take
images on the package's one scale, floats in ``[0, 1]`` on the lattice ``k / (n_levels - 1)``
(``companion.protocol.IMAGE_SCALE``), return their samples on it, and refuse integer levels
and values between levels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable, Tuple

import pytest
import torch

from companion.protocol import DensityModel, Sampler, is_density_model


@dataclass
class Case:
    build: Callable[[], Tuple[object, torch.Tensor]]  # (model, a valid batch of 5 examples)
    differentiable: bool = True  # log_prob has a graph to the model's parameters
    sequential: bool = False  # examples are sequences: samples have a length of their own
    n_levels: int = 0  # a model of discrete images with this many levels (0: not one)


def _vae(likelihood: str):
    from companion.vae import VAE

    def build():
        model = VAE((1, 4, 4), latent_dim=2, likelihood=likelihood, hidden=8, n_levels=4)
        return model, torch.randint(0, 4, (5, 1, 4, 4)) / 3  # images in [0, 1], 4 levels
    return build


def _real_nvp(shape):
    from companion.flows import RealNVP

    def build():
        model = RealNVP(shape, n_blocks=2, hidden=8)
        x = torch.rand(5, *shape)
        model.initialize(x)
        return model, x
    return build


def _dequantized_real_nvp():
    from companion.flows import Dequantized, RealNVP, uniform_dequantize

    x = torch.randint(0, 4, (5, 1, 4, 4)) / 3
    flow = RealNVP((1, 4, 4), n_blocks=2, hidden=8)
    flow.initialize(uniform_dequantize(torch.round(x * 3), 4))
    return Dequantized(flow, n_levels=4), x


def _pixelcnn():
    from companion.pixelcnn import PixelCNN

    return PixelCNN((1, 4, 4), n_levels=4, channels=4, n_blocks=1), torch.randint(0, 4, (5, 1, 4, 4)) / 3


def _agave():
    from companion.agave import AGAVE

    model = AGAVE((1, 4, 4), n_levels=4, latent_dim=2, channels=(4, 4), pixelcnn_channels=4, n_blocks=1)
    return model, torch.randint(0, 4, (5, 1, 4, 4)) / 3


def _lde():
    from companion.lde import LatentDensityEstimator

    return LatentDensityEstimator(3, n_components=2, channels=4), torch.randn(5, 3)


def _ade(mode: str):
    from companion.ade import build_ade

    def build():
        model = build_ade((4,), mode=mode, latent_dim=2, hidden=8, flow_blocks=2, flow_hidden=8, disc_hidden=8)
        x = torch.randn(5, 4)
        model.initialize(x)
        return model, x
    return build


def _two_stage(base: str):
    from companion.iml import GaussianBase, GMMBase, InvertiblePerceptron, TwoStageModel

    def build():
        torch.manual_seed(0)
        data = torch.randn(40, 4)
        model = TwoStageModel(InvertiblePerceptron(2, 3, 4), GMMBase(2) if base == "gmm" else GaussianBase())
        model.fit_base(data)
        return model, data[:5]
    return build


def _base(kind: str):
    from companion.iml import GaussianBase, GMMBase, HMMBase

    def build():
        torch.manual_seed(0)
        if kind == "hmm":
            codes = torch.randn(6, 10, 2)
            return HMMBase(2, n_iter=5).fit(codes), codes[:5]
        codes = torch.randn(40, 2)
        return (GMMBase(2) if kind == "gmm" else GaussianBase()).fit(codes), codes[:5]
    return build


def _mixture_density():
    from companion.learned_kl import GaussianMixtureDensity

    z = torch.randn(40, 2)
    return GaussianMixtureDensity(2).fit(z), z[:5]


def _flow_posterior_vae():
    from companion.flow_posterior import FlowPosteriorVAE
    from companion.flows import RealNVP
    from companion.vae import VAE

    vae = VAE((3,), latent_dim=2, likelihood="gaussian", hidden=8)
    return FlowPosteriorVAE(vae, RealNVP((2,), n_blocks=2, hidden=8, actnorm=False)), torch.randn(5, 3)


DENSITY_MODELS = {
    "vae-bernoulli": Case(_vae("bernoulli")),
    "vae-logistic": Case(_vae("logistic"), n_levels=4),
    "real-nvp-vector": Case(_real_nvp((2,))),
    "real-nvp-image": Case(_real_nvp((1, 4, 4))),
    "real-nvp-dequantized": Case(_dequantized_real_nvp, n_levels=4),
    "pixelcnn": Case(_pixelcnn, n_levels=4),
    "agave": Case(_agave, n_levels=4),
    "lde": Case(_lde),
    "ade-v": Case(_ade("v-ade")),
    "ade-av": Case(_ade("av-ade")),
    "two-stage-gmm": Case(_two_stage("gmm"), differentiable=False),
    "two-stage-gaussian": Case(_two_stage("gaussian"), differentiable=False),
    "gaussian-base": Case(_base("gaussian"), differentiable=False),
    "gmm-base": Case(_base("gmm"), differentiable=False),
    "hmm-base": Case(_base("hmm"), differentiable=False, sequential=True),
    "gaussian-mixture-density": Case(_mixture_density, differentiable=False),
    "flow-posterior-vae": Case(_flow_posterior_vae),
}


def _gan():
    from companion.gan import GAN, MLPDiscriminator, MLPGenerator

    return GAN(MLPGenerator(2, (3,), hidden=8), MLPDiscriminator((3,), hidden=8))


def _hybrid():
    from companion.hybrids import VAEGANHybrid

    return VAEGANHybrid((1, 4, 4), latent_dim=2, hidden=8)


def _gmmn():
    from companion.lde import GMMN

    return GMMN(3, noise_dim=2, hidden=8)


SAMPLERS = {"gan": _gan, "vae-gan-hybrid": _hybrid, "gmmn": _gmmn}


@pytest.fixture(params=sorted(DENSITY_MODELS))
def density_case(request):
    torch.manual_seed(0)
    case = DENSITY_MODELS[request.param]
    model, x = case.build()
    if isinstance(model, torch.nn.Module):
        model.eval()
    return model, x, case


def test_members(density_case):
    model, _, _ = density_case
    assert isinstance(model, DensityModel) and isinstance(model, Sampler)
    assert is_density_model(model)


def test_log_prob_shape_and_finite(density_case):
    model, x, _ = density_case
    with torch.no_grad():
        log_p = model.log_prob(x)
    assert log_p.shape == (x.shape[0],)
    assert log_p.dtype.is_floating_point and torch.isfinite(log_p).all()


def test_log_prob_of_samples(density_case):
    model, x, case = density_case
    samples = model.sample(3)
    event = x.shape[2:] if case.sequential else x.shape[1:]
    assert samples.shape[0] == 3 and samples.shape[samples.dim() - len(event):] == event
    assert not samples.requires_grad
    with torch.no_grad():
        log_p = model.log_prob(samples)
    assert log_p.shape == (3,) and torch.isfinite(log_p).all()


def test_gradients(density_case):
    model, x, case = density_case
    if not case.differentiable:
        pytest.skip("a model fitted in closed form (EM) or without a graph")
    model.train()
    (-model.log_prob(x).mean()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(torch.isfinite(g).all() for g in grads if g is not None)


def test_state_dict_round_trip_and_cpu(density_case):
    model, x, case = density_case
    if not isinstance(model, torch.nn.Module):
        pytest.skip("not an nn.Module: fitted state lives in a scikit-learn or hmmlearn object")
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(123)  # another initialisation: the loaded state must override all of it
    other, _ = case.build()
    other.load_state_dict(torch.load(buffer, weights_only=True))
    other = other.to("cpu").eval()
    assert all(p.device.type == "cpu" for p in other.parameters())
    results = []
    for m in (model, other):
        torch.manual_seed(1)  # the same Monte Carlo draws for bounds
        with torch.no_grad():
            results.append(m.log_prob(x))
    torch.testing.assert_close(results[0], results[1])


def test_bad_input_raises(density_case):
    model, x, _ = density_case
    wrong = x.reshape(x.shape[0], -1)[:, :-1]  # one feature short, flattened
    with pytest.raises((ValueError, TypeError)):
        model.log_prob(wrong)
    with pytest.raises((ValueError, TypeError)):
        model.sample(-1)


DISCRETE_IMAGE_MODELS = sorted(name for name, case in DENSITY_MODELS.items() if case.n_levels)


def test_the_image_scale_is_one():
    from companion.protocol import IMAGE_SCALE

    assert IMAGE_SCALE == "unit"
    assert DISCRETE_IMAGE_MODELS == ["agave", "pixelcnn", "real-nvp-dequantized", "vae-logistic"]


@pytest.mark.parametrize("name", DISCRETE_IMAGE_MODELS)
def test_image_models_take_unit_floats_and_refuse_levels(name):
    torch.manual_seed(0)
    case = DENSITY_MODELS[name]
    model, x = case.build()
    model.eval()
    top = case.n_levels - 1
    assert x.is_floating_point() and 0 <= x.min() and x.max() <= 1 and x.max() > 0
    with torch.no_grad():
        assert torch.isfinite(model.log_prob(x)).all()
        samples = model.sample(4)
    assert samples.min() >= 0 and samples.max() <= 1  # samples come back on the same scale
    torch.testing.assert_close(samples * top, torch.round(samples * top), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.log_prob(x * top)  # the integer levels of the same images
    with pytest.raises(ValueError, match="lattice"):
        model.log_prob(x * 0.9 + 0.05)  # inside [0, 1], between levels
    with pytest.raises(TypeError):
        model.log_prob(torch.round(x * top).long())


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samplers(name):
    torch.manual_seed(0)
    model = SAMPLERS[name]()
    assert isinstance(model, Sampler)
    assert not is_density_model(model)
    samples = model.sample(4)
    assert samples.shape[0] == 4 and torch.isfinite(samples).all()
    with pytest.raises((ValueError, TypeError)):
        model.sample(-1)


def test_protocol_is_structural():
    class Constant:
        log_prob_is_bound = "no"

        def log_prob(self, x):
            return x.sum(-1)

        def sample(self, n):
            return torch.zeros(n, 1)

    assert isinstance(Constant(), DensityModel)
    assert not is_density_model(Constant())  # the flag must be a bool
    assert not isinstance(object(), Sampler)
