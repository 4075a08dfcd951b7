"""Fits the experiments of a chapter share (companion.shared_fits): each trained once a process, in
this process or in worker processes, with the random state each fit left."""

from __future__ import annotations

import sys

import pytest
import torch

import companion
from companion import runs, shared_fits


def test_fit_once_fits_once_per_key_and_leaves_the_random_state_as_the_fit_did():
    calls = []

    def fit():
        calls.append(1)
        companion.seed_everything(7)
        return torch.nn.Linear(2, 2), torch.rand(1)  # the fit draws: the state after it is its own

    key = ("test_fit_once", 1)
    shared_fits._FITTED.pop(key, None)
    (first, _), seconds = shared_fits.fit_once(key, fit)
    after_fit = torch.get_rng_state()
    assert seconds >= 0 and len(calls) == 1
    torch.rand(100)  # the caller draws on
    (second, _), again = shared_fits.fit_once(key, fit)
    assert second is first and again == seconds and len(calls) == 1
    assert torch.equal(torch.get_rng_state(), after_fit)
    shared_fits.fit_once(("test_fit_once", 2), fit)  # another key fits again
    assert len(calls) == 2


def test_fit_once_refits_inside_a_checkpointed_run(tmp_path):
    calls = []
    key = ("test_fit_once", "checkpointed")
    shared_fits._FITTED.pop(key, None)
    with runs.checkpointing(tmp_path / "run"):
        shared_fits.fit_once(key, lambda: calls.append(1))
        shared_fits.fit_once(key, lambda: calls.append(1))
    assert len(calls) == 2 and key not in shared_fits._FITTED


@pytest.mark.parametrize("key, fit", [(["a", "list"], lambda: 1), (("ok",), "not callable")])
def test_fit_once_rejects_bad_arguments(key, fit):
    with pytest.raises(TypeError, match="key must be hashable|fit must be callable"):
        shared_fits.fit_once(key, fit)


def _seeded_fit(seed: int):
    """A fit that seeds itself, trains a little and draws after training (its random state is its own)."""
    def fit():
        companion.seed_everything(seed)
        net = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        x = torch.randn(32, 3)
        for _ in range(20):
            opt.zero_grad()
            (net(x) ** 2).mean().backward()
            opt.step()
        return net.weight.detach().clone(), torch.rand(1)
    return fit


def _never():
    raise AssertionError("fit_once fitted again a model that fit_once_in_workers had kept")


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers are forked on Linux only"))])
def test_fit_once_in_workers_keeps_the_fits_and_their_random_state(workers):
    keys = [("test_fit_in_workers", workers, seed) for seed in (1, 2, 3)]
    for key in keys:
        shared_fits._FITTED.pop(key, None)
    items = [(key, _seeded_fit(key[-1])) for key in keys] + [(keys[0], _seeded_fit(1))]  # a key given twice
    assert shared_fits.fit_once_in_workers(items, workers=workers) == 3
    assert shared_fits.fit_once_in_workers(items, workers=workers) == 0  # all kept now
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # the fits ran on one thread: the same fit here, on one thread
    try:
        expected = _seeded_fit(2)()
        state_after = torch.get_rng_state()
    finally:
        torch.set_num_threads(old)
    torch.rand(10)  # the caller draws on
    (weight, draw), _ = shared_fits.fit_once(keys[1], _never)
    assert torch.equal(weight, expected[0]) and torch.equal(draw, expected[1])
    assert torch.equal(torch.get_rng_state(), state_after)


def test_fit_once_in_workers_does_nothing_inside_a_checkpointed_run_and_checks_its_items(tmp_path):
    key = ("test_fit_in_workers", "checkpointed")
    shared_fits._FITTED.pop(key, None)
    with runs.checkpointing(tmp_path / "run"):
        assert shared_fits.fit_once_in_workers([(key, _seeded_fit(0))], workers=1) == 0
    assert key not in shared_fits._FITTED
    with pytest.raises(TypeError, match="item 0 is"):
        shared_fits.fit_once_in_workers([("not", "a", "pair")])
    with pytest.raises(TypeError, match="item 1: key must be hashable"):
        shared_fits.fit_once_in_workers([(key, _seeded_fit(0)), (["a"], _seeded_fit(0))])
    with pytest.raises(TypeError, match="item 0: fit must be callable"):
        shared_fits.fit_once_in_workers([(key, 3)])
