"""An exponential moving average of a network's weights, kept beside the network as it trains.

A GAN's generator does not converge to a point: the two players' updates make its weights
circle around an equilibrium, and the samples of the last step carry that step's wobble.
The average of the recent weights sits nearer the centre, and its samples are often better
than those of any single step (Yazici et al. 2019, "The unusual effectiveness of averaging
in GAN training"). After every optimiser step,

    average <- decay * average + (1 - decay) * weights,

an average over roughly the last ``1 / (1 - decay)`` steps. Training never reads the average;
:meth:`WeightAverage.copy_to` puts it into a network at the end (or into a copy, to compare).
It has ``state_dict``/``load_state_dict``, so a fit names it in its ``state=`` and a resumed run
goes on with the average it had.

Typical use::

    average = WeightAverage(generator, decay=0.99)
    for step in range(n_steps):
        ...                                   # one optimiser step of the generator
        average.update(generator)
    average.copy_to(generator)                # sample from the averaged weights
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Mapping

import torch
from torch import nn

from .checks import check_in_interval

__all__ = ["WeightAverage"]


class WeightAverage:
    """The exponential moving average of ``network``'s parameters (buffers are copied as they are).

    Args:
        network: the module whose weights are averaged; the average starts at its current weights.
        decay: the weight of the old average at each update, in ``[0, 1)`` (0 keeps only the last
            weights; 0.99 averages over about the last 100 updates).
    """

    def __init__(self, network: nn.Module, decay: float) -> None:
        if not isinstance(network, nn.Module):
            raise TypeError(f"network must be an nn.Module; got {type(network).__name__}")
        self.decay = check_in_interval(decay, "decay", 0.0, 1.0)
        if self.decay == 1.0:
            raise ValueError("decay must be below 1: an average with decay 1 never moves from its start")
        self.average = copy.deepcopy(network).requires_grad_(False)

    def _check_matches(self, network: nn.Module) -> None:
        ours = [(name, p.shape) for name, p in self.average.named_parameters()]
        theirs = [(name, p.shape) for name, p in network.named_parameters()]
        if ours != theirs:
            raise ValueError("network does not have the parameters (names and shapes) of the averaged network")

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        """One step of the average towards ``network``'s current weights (after an optimiser step)."""
        self._check_matches(network)
        for average, weight in zip(self.average.parameters(), network.parameters()):
            average.lerp_(weight.detach().to(average.device), 1.0 - self.decay)
        for average, buffer in zip(self.average.buffers(), network.buffers()):
            average.copy_(buffer)

    def state_dict(self) -> Dict[str, Any]:
        """The averaged weights, for a checkpoint (a fit names the average in its ``state=``)."""
        return {"average": self.average.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the averaged weights of :meth:`state_dict`."""
        if not isinstance(state, Mapping) or "average" not in state:
            raise ValueError("state must be a mapping with the key 'average' (from WeightAverage.state_dict)")
        self.average.load_state_dict(state["average"])

    @torch.no_grad()
    def copy_to(self, network: nn.Module) -> nn.Module:
        """Load the averaged weights into ``network`` (in place; returned for chaining)."""
        self._check_matches(network)
        network.load_state_dict(self.average.state_dict())
        return network
