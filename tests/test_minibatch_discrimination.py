"""Minibatch discrimination (Salimans et al., 2016): the baseline of Fig. 4.6."""

import pytest
import torch

from companion.replicas import Replicas
from companion.symmetric import L1KernelSum, MinibatchDiscrimination, MinibatchDiscriminator


def test_the_layer_computes_the_papers_sum_of_l1_kernels():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(3, kernels=2, kernel_dim=4)
    x = torch.randn(5, 3)
    out = layer(x)
    assert out.shape == (5, 3 + 2)
    assert torch.equal(out[:, :3], x)
    m = (x @ layer.projection.weight.T).reshape(5, 2, 4)
    for i in range(5):
        for b in range(2):
            want = sum(torch.exp(-(m[i, b] - m[j, b]).abs().sum()) for j in range(5))
            assert torch.allclose(out[i, 3 + b], want, atol=1e-6)


def test_a_collapsed_minibatch_gets_the_largest_statistic():
    torch.manual_seed(1)
    layer = MinibatchDiscrimination(4, kernels=3, kernel_dim=2, init_std=1.0)
    collapsed = torch.randn(1, 4).expand(6, 4)
    spread = torch.randn(6, 4) * 3
    assert torch.allclose(layer(collapsed)[:, 4:], torch.full((6, 3), 6.0))  # every sample close to all 6
    assert (layer(spread)[:, 4:] < 6.0).all()
    assert (layer(spread)[:, 4:] >= 1.0 - 1e-6).all()  # the j = i term


def test_the_statistic_follows_a_permutation_of_the_minibatch():
    torch.manual_seed(2)
    disc = MinibatchDiscriminator(6, hidden=8, kernels=4, kernel_dim=3)
    x = torch.randn(2, 7, 6)  # two independent minibatches
    perm = torch.randperm(7)
    assert torch.allclose(disc(x)[:, perm], disc(x[:, perm]), atol=1e-5)
    assert torch.allclose(disc(x)[1], disc(x[1]), atol=1e-6)  # minibatches do not interact
    # and the logit of a sample depends on the others (unlike a pointwise discriminator)
    y = x.clone()
    y[0, 1:] = 0.0
    assert not torch.allclose(disc(x)[0, 0], disc(y)[0, 0])


def test_it_trains_as_replicas_like_a_plain_module():
    def make():
        return MinibatchDiscriminator(4, hidden=8, kernels=3, kernel_dim=2)

    reps = Replicas(make, [0, 1])
    assert reps.backend == "ensemble"  # stacked as batched products, not the slower vectorised map
    x = torch.randn(2, 5, 4)
    out = reps(x)
    for index, seed in enumerate([0, 1]):
        torch.manual_seed(seed)
        assert torch.allclose(out[index], make()(x[index]), atol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in reps.parameters())


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="kernels"):
        MinibatchDiscrimination(4, kernels=0)
    with pytest.raises(ValueError, match="init_std"):
        MinibatchDiscrimination(4, init_std=-1.0)
    with pytest.raises(ValueError, match="x must have shape"):
        MinibatchDiscrimination(4)(torch.randn(3, 5))
    with pytest.raises(TypeError, match="x"):
        MinibatchDiscriminator(4)(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="m must have shape"):
        L1KernelSum(2, 3)(torch.randn(4, 5))
    with pytest.raises(ValueError, match="hidden"):
        MinibatchDiscriminator(4, hidden=0)
