"""Long runs that resume (companion.runs): a run killed mid-way and resumed ends with the
numbers and parameters of the run that was never interrupted."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import companion
from companion import runs
from companion.reproduce import reproduce
from companion.runs import load_checkpoint
from companion.train import History, minibatches, train_loop


class Killed(Exception):
    """Stands for the end of a Colab session or a pre-empted GPU."""


def kill_after(monkeypatch, n_saves: int) -> None:
    """Make the run die right after its ``n_saves``-th checkpoint (as a SIGKILL would)."""
    original = runs.RunCheckpoints.save
    count = {"saves": 0}

    def save(self, *args, **kwargs):
        original(self, *args, **kwargs)
        count["saves"] += 1
        if count["saves"] == n_saves:
            raise Killed

    monkeypatch.setattr(runs.RunCheckpoints, "save", save)


def record_first_steps(monkeypatch) -> list:
    """The first step each train_loop of the run starts from."""
    original, first = runs.RunCheckpoints.begin, []

    def begin(self, *args, **kwargs):
        first.append(original(self, *args, **kwargs))
        return first[-1]

    monkeypatch.setattr(runs.RunCheckpoints, "begin", begin)
    return first


def two_loops() -> tuple:
    """A small run with two training loops and random numbers drawn between and inside them."""
    companion.seed_everything(3)
    data = torch.randn(64, 2)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    histories = []
    for loop in range(2):
        batches = minibatches(data, 16)
        noise_scale = random.random() + float(np.random.rand())  # python and numpy generators too

        def step(i: int):
            x = next(batches)
            loss = ((model(x + noise_scale * torch.randn_like(x)) - x) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return {"loss": loss.detach()}

        histories.append(train_loop(step, 20, desc=f"loop {loop}", disable_progress=True,
                                    state={"model": model, "optimizer": optimizer, "batches": batches}))
    return model, histories


@pytest.mark.parametrize("n_saves", [5, 20, 25])  # in the first loop, at its end, in the second loop
def test_a_killed_run_resumes_to_the_same_numbers(tmp_path, monkeypatch, n_saves):
    model, histories = two_loops()
    kill_after(monkeypatch, n_saves)
    with pytest.raises(Killed):
        with runs.checkpointing(tmp_path, every_minutes=0):
            two_loops()
    monkeypatch.undo()
    first = record_first_steps(monkeypatch)
    with runs.checkpointing(tmp_path, every_minutes=0, resume=True):
        resumed, resumed_histories = two_loops()
    assert first == ([n_saves, 0] if n_saves < 20 else [20, n_saves - 20])  # it did resume
    assert [h.to_dict() for h in resumed_histories] == [h.to_dict() for h in histories]
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def _fit_vae_run():
    """A VAE fitted through train.minimize (the non-adversarial loop)."""
    from companion.vae import VAE, fit_vae

    companion.seed_everything(1)
    model = VAE((4,), 2, likelihood="gaussian", hidden=8)
    history = fit_vae(model, torch.randn(48, 4), n_steps=12, batch_size=8, log_every=1, progress=False)
    return model, history


def _fit_gan_run():
    """A GAN fitted through train.fit_adversarial (the alternating-update loop), two critic steps."""
    from companion.gan import GAN, MLPDiscriminator, MLPGenerator, fit_gan

    companion.seed_everything(1)
    gan = GAN(MLPGenerator(2, (3,), hidden=8), MLPDiscriminator((3,), hidden=8), latent_dim=2)
    history = fit_gan(gan, torch.randn(48, 3), n_steps=12, batch_size=8, n_critic=2, log_every=1, progress=False)
    return gan, history


@pytest.mark.parametrize("fit", [_fit_vae_run, _fit_gan_run], ids=["minimize", "fit_adversarial"])
def test_the_fits_resume_to_the_same_numbers(tmp_path, monkeypatch, fit):
    """minimize and fit_adversarial hand their model, optimisers and minibatches to train_loop's state."""
    model, history = fit()
    kill_after(monkeypatch, 5)
    with pytest.raises(Killed):
        with runs.checkpointing(tmp_path, every_minutes=0):
            fit()
    monkeypatch.undo()
    first = record_first_steps(monkeypatch)
    with runs.checkpointing(tmp_path, every_minutes=0, resume=True):
        resumed, resumed_history = fit()
    assert first == [5]
    assert resumed_history.to_dict() == history.to_dict()
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_without_resume_a_run_starts_afresh_and_with_another_config_resume_is_refused(tmp_path, monkeypatch):
    with runs.checkpointing(tmp_path, every_minutes=0, manifest={"seed": 0}):
        two_loops()
    first = record_first_steps(monkeypatch)
    with runs.checkpointing(tmp_path, every_minutes=0, manifest={"seed": 0}):
        two_loops()
    assert first == [0, 0]
    with pytest.raises(ValueError, match="belong to another run"):
        with runs.checkpointing(tmp_path, every_minutes=0, resume=True, manifest={"seed": 1}):
            pass


def test_checkpoints_are_written_only_every_n_minutes(tmp_path):
    with runs.checkpointing(tmp_path, every_minutes=60):
        two_loops()
    saved = [load_checkpoint(p) for p in runs.checkpoint_files(tmp_path)]
    assert [(s["step"], s["completed"]) for s in saved] == [(20, True), (20, True)]


def test_checkpoint_files_lists_in_call_order_and_rejects_bad_folders(tmp_path):
    for name in ("call-002.pt", "call-000.pt", "call-001.pt", "run.json"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in runs.checkpoint_files(tmp_path)] == ["call-000.pt", "call-001.pt", "call-002.pt"]
    assert runs.checkpoint_files(str(tmp_path)) == runs.checkpoint_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint folder"):
        runs.checkpoint_files(tmp_path / "mistyped")
    with pytest.raises(NotADirectoryError, match="is a file"):
        runs.checkpoint_files(tmp_path / "run.json")
    with pytest.raises(TypeError, match="folder must be"):
        runs.checkpoint_files(3)


def test_state_must_be_checkpointable():
    with pytest.raises(TypeError, match="state_dict"):
        train_loop(lambda i: {"loss": 0.0}, 1, state={"lr": 0.1})
    with pytest.raises(ValueError, match="every_minutes"):
        runs.RunCheckpoints("x", every_minutes=-1, resume=False)


def test_history_and_minibatches_round_trip():
    h = History()
    h.record(0, loss=1.0, kl=2.0)
    g = History()
    g.load_state_dict(h.state_dict())
    assert g.to_dict() == h.to_dict()
    data = torch.arange(10.0)[:, None]
    a = minibatches(data, 3, generator=torch.Generator().manual_seed(0))
    next(a)
    b = minibatches(data, 3, generator=torch.Generator().manual_seed(5))
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(next(a), next(b)) for _ in range(7))


def test_the_cli_resumes_an_experiment_to_the_same_metrics(tmp_path, monkeypatch):
    """`reproduce ... --checkpoint-every 0`, killed mid-training, then `--resume`."""
    experiment, n_steps = "preliminaries/realnvp_ring", 40
    small = dict(scale="smoke", n_steps=n_steps, resolution=20, n_samples=500)  # seconds, not minutes
    reference = reproduce(experiment, out=tmp_path / "reference", **small)
    kill_after(monkeypatch, n_steps // 2)
    with pytest.raises(Killed):
        reproduce(experiment, out=tmp_path / "run", checkpoint_every=0, **small)
    monkeypatch.undo()
    first = record_first_steps(monkeypatch)
    resumed = reproduce(experiment, out=tmp_path / "run", resume=True, **small)
    assert first == [n_steps // 2]
    metrics = [json.loads(p["metrics"].read_text())["metrics"] for p in (reference, resumed)]
    assert metrics[0] == metrics[1]
    saved = load_checkpoint(tmp_path / "run" / "preliminaries" / "realnvp_ring.checkpoints" / "call-000.pt")
    assert saved["completed"] and saved["step"] == n_steps


def test_generator_state_round_trips_and_checks_its_argument():
    gen = torch.Generator().manual_seed(0)
    saved = runs.GeneratorState(gen).state_dict()
    first = torch.rand(3, generator=gen)
    runs.GeneratorState(gen).load_state_dict(saved)
    assert torch.equal(torch.rand(3, generator=gen), first)
    with pytest.raises(TypeError, match="torch.Generator"):
        runs.GeneratorState(0)
