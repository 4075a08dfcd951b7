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


def test_noise_and_gradient_averaging_are_those_of_one_process_outside_torchrun():
    torch.manual_seed(0)
    expected = torch.randn(2, 3, 4)
    torch.manual_seed(0)
    with distributed.sharded_step():  # not distributed: the batch in hand is the whole batch
        assert torch.equal(distributed.batch_noise(torch.randn, (2, 3, 4), batch_dim=1), expected)
    with pytest.raises(ValueError, match="batch_dim"):
        distributed.batch_noise(torch.randn, (2, 3), batch_dim=2)
    layer = torch.nn.Linear(2, 1)
    layer(torch.ones(1, 2)).sum().backward()
    grads = [p.grad.clone() for p in layer.parameters()]
    distributed.average_gradients(layer.parameters())
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    with distributed.averaging_gradients([optimizer]):
        optimizer.step()
    assert all(torch.equal(p.grad, g) for p, g in zip(layer.parameters(), grads))
    with pytest.raises(TypeError, match="optimizers"):
        with distributed.averaging_gradients([layer]):
            pass


def test_a_sharded_adversarial_fit_must_name_its_optimizers():
    from companion.train import fit_adversarial

    with pytest.raises(ValueError, match="optimizers in state"):
        fit_adversarial(lambda real: {"loss": 0.0}, torch.zeros(4, 2), n_steps=1, batch_size=2, shard=True)


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


# One script, run by one process and by two under torchrun: each fit draws noise per example
# (a GAN's noise and gradient-penalty weights, ADE's dequantisation, samples and posterior
# noise, a VAE's and an AGAVE's posterior noise), so two processes equal one only if every
# share gets its rows of the global batch's noise and the gradients are averaged.
FITS_SCRIPT = '''
import sys
import torch
import companion
from companion import distributed
from companion.ade import build_ade, fit_ade
from companion.agave import AGAVE, fit_agave
from companion.gan import GAN, MLPDiscriminator, MLPGenerator, fit_gan
from companion.hybrids import VAEGANHybrid, fit_hybrid
from companion.vae import VAE, fit_vae

distributed.init_from_env()
results = {}
companion.seed_everything(0)
points = torch.randn(256, 2) * torch.tensor([1.0, 0.3]) + 0.5
gan = GAN(MLPGenerator(4, (2,), hidden=16, n_layers=2), MLPDiscriminator((2,), hidden=16, n_layers=2))
history = fit_gan(gan, points, n_steps=6, batch_size=32, n_critic=2, gp_weight=0.5, log_every=1, progress=False)
results["gan"] = (gan, history)
companion.seed_everything(1)
levels = torch.randint(0, 4, (128, 6)).float() / 3
ade = build_ade((6,), mode="av-ade", latent_dim=2, n_levels=4, hidden=16, flow_hidden=16, disc_hidden=16)
results["ade"] = (ade, fit_ade(ade, levels, n_steps=5, batch_size=16, log_every=1, progress=False))
companion.seed_everything(2)
vae = VAE((6,), latent_dim=2, likelihood="gaussian", hidden=16)
results["vae"] = (vae, fit_vae(vae, points.repeat(1, 3), n_steps=5, batch_size=32, n_samples=2, log_every=1,
                               progress=False))
companion.seed_everything(3)
images = torch.randint(0, 4, (32, 1, 4, 4)).float() / 3  # the one image scale: [0, 1] on the lattice
agave = AGAVE((1, 4, 4), n_levels=4, latent_dim=2, channels=(4, 4), pixelcnn_channels=4, n_blocks=1, n_mixtures=1)
results["agave"] = (agave, fit_agave(agave, images, n_steps=3, batch_size=8, log_every=1, progress=False))
companion.seed_everything(4)
hybrid = VAEGANHybrid((6,), latent_dim=2, kind="vgh++", hidden=16)
results["hybrid"] = (hybrid, fit_hybrid(hybrid, levels, n_steps=4, batch_size=16, progress=False))
if distributed.is_main():
    torch.save({name: {"params": {k: v.detach().clone() for k, v in model.state_dict().items()},
                       "history": history.to_dict()} for name, (model, history) in results.items()}, sys.argv[1])
distributed.shutdown()
'''


def test_two_processes_give_the_adversarial_and_noisy_fits_of_one(tmp_path, monkeypatch):
    """GAN, ADE and a VAE-GAN hybrid (adversarial loops), VAE and AGAVE (per-example noise): 2 gloo processes == 1."""
    import runpy

    script = tmp_path / "fits.py"
    script.write_text(FITS_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", COMPANION_PROGRESS="0")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    done = subprocess.run([*command, str(tmp_path / "two.pt")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path / "one.pt")])
    runpy.run_path(str(script), run_name="__main__")  # one process: this one
    one, two = (torch.load(tmp_path / f"{name}.pt", weights_only=True) for name in ("one", "two"))
    for fit in ("gan", "ade", "vae", "agave", "hybrid"):
        for key, value in one[fit]["params"].items():
            assert torch.allclose(value.double(), two[fit]["params"][key].double(), rtol=1e-4, atol=1e-5), (fit, key)
        for series, recorded in one[fit]["history"].items():
            assert recorded["step"] == two[fit]["history"][series]["step"]
            assert torch.allclose(torch.tensor(recorded["value"]), torch.tensor(two[fit]["history"][series]["value"]),
                                  rtol=1e-4, atol=1e-5), (fit, series)
