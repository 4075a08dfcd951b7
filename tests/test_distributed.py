"""More than one process with torchrun (companion.distributed): outside torchrun everything is a
no-op; under ``torchrun --nproc_per_node=2`` (gloo, on the CPU) a run gives the metrics of one
process with the same global batch."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from companion import distributed
from companion.reproduce import reproduce

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"n_steps": 40, "resolution": 20, "n_samples": 500}  # a smoke run, shortened: seconds


def test_outside_torchrun_everything_is_a_single_process(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.init_from_env() is False
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert not distributed.is_distributed()
    rows = torch.arange(6)
    assert torch.equal(distributed.shard(rows), rows)
    assert distributed.all_reduce_mean(2.5) == 2.5
    layer = torch.nn.Linear(2, 1)
    assert distributed.wrap(layer) is layer
    with distributed.autocast():  # a no-op without CUDA or without COMPANION_BF16=1
        pass


def test_wrap_trains_through_a_method_and_checks_its_arguments():
    class Density(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mu = torch.nn.Parameter(torch.zeros(1))

        def log_prob(self, x):
            return -0.5 * (x - self.mu) ** 2

    model = Density()
    wrapped = distributed.wrap(model, method="log_prob")
    x = torch.tensor([1.0, 3.0])
    assert torch.equal(wrapped(x), model.log_prob(x))
    wrapped(x).sum().backward()
    assert model.mu.grad is not None
    with pytest.raises(TypeError, match="module"):
        distributed.wrap(lambda x: x)
    with pytest.raises(ValueError, match="no method"):
        distributed.wrap(model, method="sample")
    with pytest.raises(ValueError, match="backend"):
        distributed.init_from_env(backend="mpi")


def test_two_processes_give_the_metrics_of_one(tmp_path):
    """torchrun, 2 processes, gloo: each trains on half of every global batch, DDP averages."""
    settings = [arg for name, value in SMALL.items() for arg in ("--set", f"{name}={value}")]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "companion", "reproduce", "preliminaries/realnvp_ring", "--scale", "smoke",
               "--out", str(tmp_path / "two"), *settings]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", COMPANION_PROGRESS="0")
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("preliminaries/realnvp_ring:") == 1, "only rank 0 reports and writes"
    one = reproduce("preliminaries/realnvp_ring", scale="smoke", out=tmp_path / "one", **SMALL)
    two = json.loads((tmp_path / "two" / "preliminaries" / "realnvp_ring.json").read_text())["metrics"]
    one = json.loads(one["metrics"].read_text())["metrics"]
    assert set(one) == set(two)
    for name in one:
        if isinstance(one[name], float):
            assert math.isclose(one[name], two[name], rel_tol=1e-4, abs_tol=1e-5), (name, one[name], two[name])
        else:
            assert one[name] == two[name], name
