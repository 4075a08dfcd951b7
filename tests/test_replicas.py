"""Replicas: S seeds in one run are S independent plain runs."""

import pytest
import torch
from torch import nn

from companion.nets import MLP, ConvEncoder, spectral_normalise
from companion.replicas import Replicas, StackedMinibatches, replica_generators, stacked_randn
from companion.symmetric import SymmetricDiscriminator
from companion.train import minibatches

DATA = torch.randn(300, 3, generator=torch.Generator().manual_seed(123))


def _bn_mlp() -> nn.Module:
    # no bias before the batch norm: its gradient is zero up to rounding, which Adam would
    # turn into full steps of arbitrary sign (in a plain run as in a replica)
    return nn.Sequential(nn.Linear(3, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(), MLP(16, 2, 16, 1))


def _loss(out: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """A loss with data and noise, per replica when the inputs carry a replica axis."""
    return (out - noise).pow(2).mean((-1, -2))


def _plain_run(make, seed: int, n_steps: int, batch: int = 20) -> nn.Module:
    torch.manual_seed(seed)
    model = make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = minibatches(DATA, batch, generator=torch.Generator().manual_seed(seed))
    noise_rng = torch.Generator().manual_seed(1000 + seed)
    for _ in range(n_steps):
        loss = _loss(model(next(batches)), torch.randn(batch, 2, generator=noise_rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def _replica_run(make, seeds, n_steps: int, batch: int = 20, backend: str = "auto") -> Replicas:
    reps = Replicas(make, seeds, backend=backend)
    opt = torch.optim.Adam(reps.parameters(), lr=1e-2)
    batches = StackedMinibatches(DATA, batch, replica_generators(seeds))
    noise = replica_generators([1000 + s for s in seeds])
    for _ in range(n_steps):
        loss = _loss(reps(next(batches)), stacked_randn(noise, batch, 2)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return reps


def _max_gap(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)


@pytest.mark.parametrize("backend", ["ensemble", "vmap"])
def test_replica_follows_the_plain_run_with_its_seed(backend):
    seeds = [0, 1, 2]
    reps = _replica_run(_bn_mlp, seeds, 100, backend=backend)
    assert reps.backend == backend
    for index, seed in enumerate(seeds):
        assert _max_gap(reps.module(index), _plain_run(_bn_mlp, seed, 100)) < 1e-4
    # and the runs did move: a replica is not its initial state
    torch.manual_seed(0)
    assert _max_gap(reps.module(0), _bn_mlp()) > 1e-2


@pytest.mark.parametrize("backend", ["ensemble", "vmap"])
def test_changing_one_seed_leaves_the_others_bit_identical(backend):
    first = _replica_run(_bn_mlp, [0, 1, 2], 30, backend=backend)
    second = _replica_run(_bn_mlp, [0, 7, 2], 30, backend=backend)
    for index in (0, 2):
        for (name, a), b in zip(first.module(index).state_dict().items(), second.module(index).state_dict().values()):
            assert torch.equal(a, b), name
    assert _max_gap(first.module(1), second.module(1)) > 1e-3


def test_a_small_conv_net_runs_through_the_vectorised_map():
    def make():
        return ConvEncoder((1, 8, 8), 4, (4, 8))

    reps = Replicas(make, [3, 4])
    assert reps.backend == "vmap"
    x = torch.rand(2, 5, 1, 8, 8)
    out = reps(x)
    assert out.shape == (2, 5, 4)
    for index, seed in enumerate([3, 4]):
        torch.manual_seed(seed)
        assert torch.allclose(out[index], make()(x[index]), atol=1e-5)


@pytest.mark.parametrize("reduction", ["bgan", "mbgan"])
def test_the_symmetric_discriminator_stacks_as_ensemble_layers(reduction):
    def make():
        return SymmetricDiscriminator(2, (8, 8), reduction=reduction, activation="maxout")

    reps = Replicas(make, [0, 1])
    assert reps.backend == "ensemble"
    sets = torch.randn(2, 3, 5, 2)  # (replicas, sets, B, features)
    out = reps(sets)
    for index, seed in enumerate([0, 1]):
        torch.manual_seed(seed)
        assert torch.allclose(out[index], make()(sets[index]), atol=1e-5)
        assert torch.allclose(reps.module(index)(sets[index]), out[index], atol=1e-5)


def _sn_mlp() -> nn.Module:
    return spectral_normalise(MLP(3, 2, 16, 2))


def test_spectrally_normalised_layers_stack_and_follow_the_plain_runs():
    seeds = [0, 1, 2]
    reps = _replica_run(_sn_mlp, seeds, 100)
    assert reps.backend == "ensemble"  # a stacked normalisation, not the vectorised map
    assert any(name.endswith("_u") for name in reps.buffers) and any(name.endswith("_v") for name in reps.buffers)
    for index, seed in enumerate(seeds):  # the weights and each replica's singular-vector estimates
        assert _max_gap(reps.module(index), _plain_run(_sn_mlp, seed, 100)) < 1e-4
    torch.manual_seed(0)
    assert _max_gap(reps.module(0), _sn_mlp()) > 1e-2
    # the normalised weights have spectral norm one, per replica, up to the power iteration's estimate
    for layer in reps.module(1).eval().modules():
        if isinstance(layer, nn.Linear):
            assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2) == pytest.approx(1.0, abs=0.02)
    # changing one replica's seed leaves the others bit-identical, their normalisations included
    other = _replica_run(_sn_mlp, [0, 7, 2], 100)
    for index in (0, 2):
        for (name, a), b in zip(reps.module(index).state_dict().items(), other.module(index).state_dict().values()):
            assert torch.equal(a, b), name


def test_a_stacked_normalisation_iterates_in_training_only_as_the_plain_one_does():
    reps = Replicas(_sn_mlp, [4, 5])
    x = torch.randn(2, 6, 3)
    before = {name: t.clone() for name, t in reps.buffers.items()}
    reps.eval()
    out = reps(x)
    assert all(torch.equal(before[name], t) for name, t in reps.buffers.items())  # no power iteration
    torch.manual_seed(5)
    plain = _sn_mlp().eval()
    assert torch.allclose(out[1], plain(x[1]), atol=1e-6)
    reps.train()
    reps(x)
    plain.train()
    plain(x[1])  # one forward, one power iteration per layer, in both
    assert _max_gap(reps.module(1), plain) < 1e-6
    assert not all(torch.equal(before[name], t) for name, t in reps.buffers.items())


@pytest.mark.parametrize("reduction", ["bgan", "mbgan"])
def test_a_spectrally_normalised_symmetric_discriminator_trains_as_its_plain_runs(reduction):
    def make():
        return spectral_normalise(SymmetricDiscriminator(4, (8,), reduction=reduction, activation="leaky_relu"))

    seeds = [3, 5]
    reps = Replicas(make, seeds)
    assert reps.backend == "ensemble"
    plains = []
    for seed in seeds:
        torch.manual_seed(seed)
        plains.append(make())
    opt = torch.optim.Adam(reps.parameters(), lr=1e-2)
    plain_opts = [torch.optim.Adam(p.parameters(), lr=1e-2) for p in plains]
    sets = torch.randn(2, 3, 5, 4, generator=torch.Generator().manual_seed(0))  # (replicas, sets, B, features)
    for _ in range(20):
        out = reps(sets)
        opt.zero_grad()
        out.square().sum().backward()
        opt.step()
        for index, (plain, plain_opt) in enumerate(zip(plains, plain_opts)):
            plain_out = plain(sets[index])
            assert torch.allclose(out[index].detach(), plain_out.detach(), atol=1e-5)
            plain_opt.zero_grad()
            plain_out.square().sum().backward()
            plain_opt.step()
    for index, plain in enumerate(plains):
        assert _max_gap(reps.module(index), plain) < 1e-4


def test_replicas_normalised_in_some_seeds_only_do_not_stack():
    def make():
        layer = nn.Linear(3, 2)
        return spectral_normalise(layer) if torch.initial_seed() == 0 else layer

    with pytest.raises(ValueError, match="cannot stack"):
        Replicas(make, [0, 1], backend="ensemble")


def test_batch_norm_running_statistics_are_kept_per_replica():
    reps = Replicas(_bn_mlp, [0, 1])
    x = torch.stack([torch.zeros(10, 3), torch.ones(10, 3) * 5])
    reps(x)
    bn0, bn1 = reps.module(0)[1], reps.module(1)[1]
    assert not torch.allclose(bn0.running_mean, bn1.running_mean)
    reps.eval()
    torch.manual_seed(1)
    plain = _bn_mlp()
    plain(x[1])
    plain.eval()
    assert torch.allclose(reps(x)[1], plain(x[1]), atol=1e-5)


def test_stacked_draws_are_the_plain_draws():
    gens = replica_generators([4, 5])
    batches = StackedMinibatches(DATA, 7, replica_generators([4, 5]))
    first = next(batches)
    assert torch.equal(first[1], next(minibatches(DATA, 7, generator=torch.Generator().manual_seed(5))))
    noise = stacked_randn(gens, 3)
    assert torch.equal(noise[0], torch.randn(3, generator=torch.Generator().manual_seed(4)))


def test_continuation_generators_continue_the_global_stream():
    reps = Replicas(lambda: nn.Linear(2, 2), [6])
    torch.manual_seed(6)
    nn.Linear(2, 2)
    assert torch.equal(torch.randn(4), torch.randn(4, generator=reps.continuation_generators()[0]))


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="seeds"):
        Replicas(_bn_mlp, [])
    with pytest.raises(ValueError, match="seed"):
        Replicas(_bn_mlp, [-1])
    with pytest.raises(TypeError, match="make_module"):
        Replicas(3, [0])
    with pytest.raises(ValueError, match="backend"):
        Replicas(_bn_mlp, [0], backend="fast")
    with pytest.raises(ValueError, match="ensemble"):
        Replicas(lambda: ConvEncoder((1, 8, 8), 4, (4,)), [0], backend="ensemble")
    reps = Replicas(_bn_mlp, [0, 1])
    with pytest.raises(ValueError, match="replica axis"):
        reps(torch.randn(3, 4, 3))
    with pytest.raises(ValueError, match="index"):
        reps.module(2)
    with pytest.raises(ValueError, match="generators"):
        stacked_randn([], 3)


def test_state_dicts_round_trip_the_replicas_their_batches_and_generators():
    from companion.replicas import GeneratorListState

    reps = Replicas(lambda: nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4)), seeds=[0, 1])
    saved = reps.state_dict()
    params = reps.parameters()
    with torch.no_grad():
        params[0].add_(1.0)
    reps.load_state_dict(saved)
    assert reps.parameters()[0] is params[0]  # in place: an optimiser keeps its tensors
    assert all(torch.equal(reps.state_dict()[k], v) for k, v in saved.items())
    with pytest.raises(ValueError, match="must hold the tensors"):
        reps.load_state_dict({})
    data = torch.arange(20.0)[:, None]
    a = StackedMinibatches(data, 3, replica_generators([0, 1]))
    next(a)
    b = StackedMinibatches(data, 3, replica_generators([5, 6]))
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(next(a), next(b)) for _ in range(9))
    gens = replica_generators([0, 1])
    state = GeneratorListState(gens).state_dict()
    first = stacked_randn(gens, 3)
    GeneratorListState(gens).load_state_dict(state)
    assert torch.equal(stacked_randn(gens, 3), first)
    with pytest.raises(TypeError, match="torch.Generator"):
        GeneratorListState([0])


def test_stacked_batch_norm_equals_each_replicas_own_layer():
    # the stacked layer runs the native kernel over all replicas' channels: outputs and
    # running statistics are the plain layers', in training and in evaluation
    reps = Replicas(lambda: nn.BatchNorm1d(5), range(3), backend="ensemble")
    with torch.no_grad():
        reps.params["weight"].uniform_(0.5, 2.0)
        reps.params["bias"].normal_()
    plain = [reps.module(s) for s in range(3)]
    x = torch.randn(3, 40, 5, generator=torch.Generator().manual_seed(7)) * 3 + 1
    for _ in range(2):
        assert torch.equal(reps(x), torch.stack([m(x[s]) for s, m in enumerate(plain)]))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(reps.buffers[name], torch.stack([getattr(m, name) for m in plain])), name
    reps.eval()
    assert torch.equal(reps(x), torch.stack([m.eval()(x[s]) for s, m in enumerate(plain)]))


def _dropout_mlp() -> nn.Module:
    from companion.nets import Dropout

    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), Dropout(0.5), nn.Linear(8, 2))


def test_stacked_dropout_draws_each_replicas_masks_from_its_own_generator():
    reps = Replicas(_dropout_mlp, [3, 8])
    x = torch.randn(2, 5, 3)
    with pytest.raises(RuntimeError, match="use_generators"):
        reps(x)  # in training, masks need a generator per replica
    with pytest.raises(ValueError, match="one generator per replica"):
        reps.use_generators(replica_generators([1]))
    with pytest.raises(TypeError, match="torch.Generator"):
        reps.use_generators([1, 2])
    out = reps.use_generators(replica_generators([40, 41]))(x)
    for index, seed in enumerate((40, 41)):  # the plain run with that generator as its default one
        torch.manual_seed(seed)
        assert torch.allclose(out[index], reps.module(index)(x[index]), atol=1e-6)
    other = Replicas(_dropout_mlp, [3, 9]).use_generators(replica_generators([40, 99]))(x)
    assert torch.equal(out[0], other[0]) and not torch.equal(out[1], other[1])  # one seed's masks are its own
    reps.eval()
    torch.manual_seed(0)
    assert torch.allclose(reps(x)[1], reps.module(1).eval()(x[1]), atol=1e-6)  # identity in evaluation


def test_pytorchs_dropout_does_not_stack():
    # nn.Dropout would draw one mask for every replica from the default generator: not independent runs
    with pytest.raises(ValueError, match="companion.nets.Dropout"):
        Replicas(lambda: nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5)), [0, 1], backend="ensemble")


def test_a_stacked_normalised_layer_has_the_plain_layers_gradients_once():
    reps = Replicas(_sn_mlp, [2, 6])
    x = torch.randn(2, 7, 3, requires_grad=True)
    reps(x).square().sum().backward()
    for index, seed in enumerate((2, 6)):
        torch.manual_seed(seed)
        plain = _sn_mlp()
        xi = x[index].detach().clone().requires_grad_(True)
        plain(xi).square().sum().backward()
        torch.testing.assert_close(x.grad[index], xi.grad, rtol=1e-4, atol=1e-6)
        grads = {name: p.grad for name, p in plain.named_parameters()}
        for name, stacked in reps.params.items():
            torch.testing.assert_close(stacked.grad[index], grads[name], rtol=1e-4, atol=1e-6, msg=name)
    y = torch.randn(2, 7, 3, requires_grad=True)
    (grad,) = torch.autograd.grad(reps(y).sum(), y, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):  # no gradient penalty through it
        grad.square().sum().backward()


def test_check_seeds_refuses_bad_seeds_clearly():
    from companion.replicas import check_seeds

    assert check_seeds(range(3)) == [0, 1, 2]
    with pytest.raises(ValueError, match="at least one seed"):
        check_seeds([])
    with pytest.raises(TypeError, match="iterable"):
        check_seeds(3)
    with pytest.raises(ValueError):
        check_seeds([1, -2])
