"""The exponential moving average of a network's weights (companion.weight_average)."""

import pytest
import torch
from torch import nn

from companion.weight_average import WeightAverage


def test_an_update_moves_the_average_by_one_minus_decay_towards_the_weights():
    network = nn.Linear(3, 2)
    with torch.no_grad():
        network.weight.fill_(0.0), network.bias.fill_(0.0)
    average = WeightAverage(network, decay=0.9)
    with torch.no_grad():
        network.weight.fill_(1.0), network.bias.fill_(-2.0)
    average.update(network)
    assert torch.allclose(average.average.weight, torch.full((2, 3), 0.1))
    assert torch.allclose(average.average.bias, torch.full((2,), -0.2))
    average.update(network)  # 0.9 * 0.1 + 0.1 * 1
    assert torch.allclose(average.average.weight, torch.full((2, 3), 0.19))


def test_copy_to_puts_the_average_into_the_network_and_training_never_reads_it():
    network = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4))
    average = WeightAverage(network, decay=0.5)
    start = [p.detach().clone() for p in network.parameters()]
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    network(torch.randn(8, 2)).sum().backward()
    optimizer.step()
    after = [p.detach().clone() for p in network.parameters()]
    average.update(network)
    assert all(torch.equal(p, a) for p, a in zip(network.parameters(), after))  # the network is untouched
    assert not any(p.requires_grad for p in average.average.parameters())
    assert average.copy_to(network) is network
    for p, s, a in zip(network.parameters(), start, after):
        assert torch.allclose(p, 0.5 * s + 0.5 * a)
    # buffers are the network's own (the batch-norm statistics of the last step), not averaged
    assert torch.equal(network[1].running_mean, average.average[1].running_mean)


def test_decay_zero_keeps_only_the_last_weights():
    network = nn.Linear(2, 2)
    average = WeightAverage(network, decay=0.0)
    with torch.no_grad():
        network.weight.add_(1.0)
    average.update(network)
    assert torch.equal(average.average.weight, network.weight)


def test_bad_input_is_refused_clearly():
    network = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="nn.Module"):
        WeightAverage("a network", decay=0.9)
    with pytest.raises(ValueError, match="decay must be below 1"):
        WeightAverage(network, decay=1.0)
    with pytest.raises(ValueError, match="decay must be a number in"):
        WeightAverage(network, decay=-0.1)
    average = WeightAverage(network, decay=0.9)
    before = average.average.weight.clone()
    with pytest.raises(ValueError, match="does not have the parameters"):
        average.update(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="does not have the parameters"):
        average.copy_to(nn.Linear(3, 2))
    assert torch.equal(average.average.weight, before)  # a refused update changes nothing


def test_the_average_survives_a_checkpoint_and_a_gan_fit_names_it_in_its_state(tmp_path):
    from companion.gan import GAN, MLPDiscriminator, MLPGenerator, fit_gan
    from companion.runs import load_checkpoint, save_checkpoint

    network = nn.Linear(2, 2)
    average = WeightAverage(network, decay=0.5)
    with torch.no_grad():
        network.weight.add_(2.0)
    average.update(network)
    path = save_checkpoint({"average": average.state_dict()}, tmp_path / "average.pt")
    restored = WeightAverage(nn.Linear(2, 2), decay=0.5)
    restored.load_state_dict(load_checkpoint(path)["average"])
    assert torch.equal(restored.average.weight, average.average.weight)
    with pytest.raises(ValueError, match="key 'average'"):
        restored.load_state_dict({"weights": 1})

    from companion import runs

    torch.manual_seed(0)
    gan = GAN(MLPGenerator(2, (2,), hidden=8), MLPDiscriminator((2,), hidden=8))
    tracked = WeightAverage(gan.generator, decay=0.9)
    with runs.checkpointing(tmp_path / "run", every_minutes=0):
        fit_gan(gan, torch.randn(64, 2), n_steps=3, batch_size=16, progress=False,
                callback=lambda step: tracked.update(gan.generator), state={"generator_average": tracked})
    (saved,) = runs.checkpoint_files(tmp_path / "run")
    kept = load_checkpoint(saved)["state"]["generator_average"]["average"]
    assert torch.equal(kept["net.0.weight"], tracked.average.net[0].weight)  # the average of the last step
    assert not torch.equal(tracked.average.net[0].weight, gan.generator.net[0].weight)
    with pytest.raises(TypeError, match="state must be a mapping"):
        fit_gan(gan, torch.randn(64, 2), n_steps=1, batch_size=16, progress=False, state=[tracked])
