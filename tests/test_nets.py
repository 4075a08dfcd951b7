"""Tests of companion.nets: shapes for every image size of the book, gradients, bad inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from companion.nets import MLP, ConvDecoder, ConvEncoder, Dropout, activation_layer, check_shape, conv_sizes


def test_mlp_layer_structure_and_shapes():
    net = MLP(3, 5, hidden=[7, 11])
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 7), (7, 11), (11, 5)]
    assert net(torch.randn(4, 3)).shape == (4, 5)
    assert net(torch.randn(2, 6, 3)).shape == (2, 6, 5)  # acts on the last dimension
    repeated = MLP(2, 1, hidden=8, n_layers=3)
    assert sum(isinstance(m, nn.Linear) for m in repeated) == 4
    # n_layers=0 is one affine map: check it against its own weights
    affine = MLP(2, 3, hidden=8, n_layers=0)
    (layer,) = list(affine)
    x = torch.randn(5, 2)
    torch.testing.assert_close(affine(x), x @ layer.weight.T + layer.bias)


def test_mlp_zero_last_and_out_activation():
    net = MLP(4, 3, hidden=16, zero_last=True)
    assert torch.count_nonzero(net(torch.randn(10, 4))) == 0
    squashed = MLP(4, 3, hidden=16, out_activation="sigmoid")
    out = squashed(10 * torch.randn(50, 4))
    assert out.min() >= 0 and out.max() <= 1


def test_mlp_dropout_sits_after_every_hidden_activation_and_only_in_training():
    torch.manual_seed(0)
    plain = MLP(4, 2, hidden=8, n_layers=2)
    torch.manual_seed(0)
    dropped = MLP(4, 2, hidden=8, n_layers=2, dropout=0.5)
    kinds = [type(m).__name__ for m in dropped]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [p.shape for p in plain.parameters()] == [p.shape for p in dropped.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), dropped.parameters()))  # same weights drawn
    x = torch.randn(16, 4)
    dropped.eval()
    torch.testing.assert_close(dropped(x), plain(x))  # evaluation: the plain network
    dropped.train()
    assert not torch.allclose(dropped(x), dropped(x))  # training: random units dropped
    assert [type(m).__name__ for m in MLP(4, 2, hidden=8, n_layers=2, dropout=0.0)].count("Dropout") == 0
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="dropout must be a number in"):
            MLP(4, 2, dropout=bad)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_a_fraction_p_and_keeps_the_mean(p):
    layer = Dropout(p)
    x = torch.ones(400, 500, requires_grad=True)
    torch.manual_seed(0)
    y = layer(x)
    kept = y != 0
    assert abs(1 - kept.float().mean().item() - p) < 0.005  # 200,000 draws: the fraction dropped is p
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / (1 - p)))  # the kept ones scaled
    assert abs(y.mean().item() - 1) < 0.02  # so the expected output is the input
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # the gradient flows through the kept units only, scaled alike
    torch.manual_seed(0)
    torch.testing.assert_close(layer(x), y)  # the mask comes from the default generator
    layer.eval()
    assert layer(x) is x  # evaluation: the identity
    assert Dropout(0.0).train()(x) is x


def test_dropout_rejects_bad_probabilities():
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="p must be"):
            Dropout(bad)
    with pytest.raises(TypeError, match="p must be a number"):
        Dropout("0.5")
    assert "p=0.25" in repr(Dropout(0.25))


def test_mlp_is_a_universal_enough_regressor():
    # a small MLP fits sin on [-3, 3]; a linear map cannot (so the hidden layers are wired in)
    torch.manual_seed(0)
    x = torch.linspace(-3, 3, 128).unsqueeze(1)
    y = torch.sin(x)
    errors = {}
    for n_layers in (0, 2):
        net = MLP(1, 1, hidden=32, n_layers=n_layers, activation="tanh")
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(300):
            opt.zero_grad()
            loss = (net(x) - y).pow(2).mean()
            loss.backward()
            opt.step()
        errors[n_layers] = loss.item()
    assert errors[2] < 0.01 < errors[0]


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 25, 25), (1, 28, 28), (3, 32, 32), (2, 7, 5)])
def test_conv_encoder_decoder_shapes(shape):
    enc = ConvEncoder(shape, 6)
    dec = ConvDecoder(6, shape)
    x = torch.rand(3, *shape)
    features = enc(x)
    assert features.shape == (3, 6)
    out = dec(features)
    assert out.shape == (3, *shape)
    assert ConvDecoder(6, shape, out_channels=5)(features).shape == (3, 5) + shape[1:]
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc.parameters())


def test_conv_sizes_halve_with_ceiling():
    assert conv_sizes(25, 3) == [25, 13, 7, 4]
    assert conv_sizes(32, 2) == [32, 16, 8]


def test_conv_autoencoder_can_fit_a_small_batch():
    # the decoder really reaches every output pixel: an autoencoder overfits 8 faces-sized images
    torch.manual_seed(0)
    shape = (1, 25, 25)
    x = torch.rand(8, *shape).round()
    enc, dec = ConvEncoder(shape, 16, channels=(16, 32)), ConvDecoder(16, shape, channels=(32, 16))
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=3e-3)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(dec(enc(x)), x)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


def test_activation_layer():
    assert isinstance(activation_layer("relu"), nn.ReLU)
    assert isinstance(activation_layer(nn.Tanh), nn.Tanh)
    leaky = activation_layer("leaky_relu")
    assert leaky(torch.tensor([-1.0])).item() == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="activation"):
        activation_layer("swishy")
    with pytest.raises(TypeError, match="activation"):
        activation_layer(3)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="in_features"):
        MLP(0, 3)
    with pytest.raises(ValueError, match="hidden"):
        MLP(2, 3, hidden=[4, -1])
    with pytest.raises(ValueError, match="n_layers"):
        MLP(2, 3, hidden=[4, 4], n_layers=3)
    with pytest.raises(ValueError, match="last dimension 3"):
        MLP(3, 2)(torch.zeros(4, 5))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        ConvEncoder((8, 8), 4)
    with pytest.raises(ValueError, match="channels"):
        ConvDecoder(4, (1, 8, 8), channels=())
    with pytest.raises(ValueError, match="shape"):
        ConvEncoder((1, 8, 8), 4)(torch.zeros(2, 1, 9, 9))
    with pytest.raises(ValueError, match="batch, 4"):
        ConvDecoder(4, (1, 8, 8))(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="shape"):
        check_shape((2, 0))
    assert check_shape(5) == (5,)


def test_spectral_normalise_bounds_every_layer_and_remove_keeps_the_normalised_weights():
    import pickle

    from companion.nets import remove_spectral_norm, spectral_normalise

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 16), nn.ReLU(), nn.Linear(16, 1))
    for layer in (net[0], net[2], net[4]):  # large weights, far from norm one
        layer.weight.data.mul_(10.0)
    assert spectral_normalise(net) is net
    assert spectral_normalise(net) is net  # a second call leaves the parametrised layers alone
    x = torch.randn(8, 1, 8, 8)
    for _ in range(50):  # power iterations (one per forward pass in train mode)
        net(x)
    net.eval()
    for layer in (net[2], net[4]):
        assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)
    before = net(x)
    with pytest.raises(RuntimeError):
        pickle.dumps(net)  # why remove_spectral_norm exists: a parametrised network does not pickle
    net.train()
    assert remove_spectral_norm(net) is net and net.training
    assert not any(hasattr(layer, "parametrizations") for layer in net)
    net.eval()
    assert torch.allclose(net(x), before, atol=1e-6)
    assert torch.allclose(pickle.loads(pickle.dumps(net))(x), before, atol=1e-6)
    assert remove_spectral_norm(net) is net  # a no-op on plain layers
    with pytest.raises(TypeError, match="torch.nn.Module"):
        spectral_normalise("not a network")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        remove_spectral_norm(None)


def test_conv_sizes_rejects_bad_sizes():
    assert conv_sizes(7, 0) == [7]
    with pytest.raises(ValueError, match="size must be a positive int"):
        conv_sizes(0, 2)
    with pytest.raises(ValueError, match="n_stages must be a non-negative int"):
        conv_sizes(8, -1)
    with pytest.raises(TypeError, match="size"):
        conv_sizes(8.0, 1)
