"""Training-loop pieces: progress, history, NaN guard, minibatches, checkpoints."""

from __future__ import annotations

import datetime
import math

import pytest
import torch

from companion.runs import load_checkpoint, save_checkpoint
from companion.train import (
    History,
    check_finite,
    cosine_schedule,
    denormals_flushed,
    flushing_denormals,
    minibatches,
    progress,
    train_loop,
)


def test_progress_counts_and_can_be_silenced(monkeypatch):
    assert list(progress(3, disable=True)) == [0, 1, 2]
    monkeypatch.setenv("COMPANION_PROGRESS", "0")
    assert progress([1, 2]).disable
    monkeypatch.setenv("COMPANION_PROGRESS", "1")
    assert not progress([1, 2]).disable
    with pytest.raises(ValueError):
        progress(-1)


def test_history_records_series_and_steps():
    h = History()
    h.record(0, loss=torch.tensor(2.0), kl=1.0)
    h.record(5, loss=1.0)
    assert h["loss"] == [2.0, 1.0] and h.steps("loss") == [0, 5]
    assert h.names() == ["loss", "kl"] and "kl" in h
    assert h.last("loss", 2) == 1.5
    assert h.to_dict()["kl"] == {"step": [0], "value": [1.0]}
    with pytest.raises(KeyError, match="loss"):
        h["elbo"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, torch.tensor(-math.inf)])
def test_check_finite_stops_with_a_message_naming_the_step(bad):
    with pytest.raises(FloatingPointError, match="kl is .* at step 12"):
        check_finite(bad, 12, "kl")
    check_finite(1.0, 0)  # a finite value passes


def test_train_loop_runs_steps_records_and_stops_on_nan():
    seen = []

    def step(i):
        seen.append(i)
        return {"loss": 10.0 - i, "aux": torch.tensor(float(i))}

    history = train_loop(step, 5, log_every=2, disable_progress=True)
    assert seen == [0, 1, 2, 3, 4]
    assert history.steps("loss") == [0, 2, 4] and history["aux"] == [0.0, 2.0, 4.0]

    def diverging(i):
        return {"loss": float("nan") if i == 3 else 1.0}

    with pytest.raises(FloatingPointError, match="step 3"):
        train_loop(diverging, 10, disable_progress=True)
    with pytest.raises(TypeError, match="mapping"):
        train_loop(lambda i: 1.0, 1, disable_progress=True)
    with pytest.raises(ValueError, match="n_steps"):
        train_loop(step, -1)


def _half_the_smallest_normal() -> float:
    return float(torch.tensor(torch.finfo(torch.float32).tiny) / 2)


def test_flushing_denormals_flushes_in_the_block_and_restores_the_mode():
    assert not denormals_flushed() and _half_the_smallest_normal() > 0  # the default: denormals kept
    with flushing_denormals() as supported:
        if not supported:
            pytest.skip("this CPU cannot flush denormals")
        assert denormals_flushed() and _half_the_smallest_normal() == 0.0
        with flushing_denormals():
            pass
        assert denormals_flushed()  # an inner block restores the outer block's mode, not the default
    assert not denormals_flushed() and _half_the_smallest_normal() > 0
    with pytest.raises(RuntimeError, match="inside"):
        with flushing_denormals():
            raise RuntimeError("inside")
    assert not denormals_flushed()  # restored after an error too


def test_train_loop_steps_run_with_denormals_flushed():
    with flushing_denormals() as supported:
        pass
    if not supported:
        pytest.skip("this CPU cannot flush denormals")
    during = []
    train_loop(lambda i: during.append(denormals_flushed()) or {"loss": 0.0}, 3, disable_progress=True)
    assert during == [True, True, True] and not denormals_flushed()
    with pytest.raises(FloatingPointError):  # a loop stopped by a NaN restores the mode as well
        train_loop(lambda i: {"loss": float("nan")}, 2, disable_progress=True)
    assert not denormals_flushed()


def test_train_loop_actually_optimises():
    torch.manual_seed(0)
    w = torch.zeros(3, requires_grad=True)
    target = torch.tensor([1.0, -2.0, 0.5])
    opt = torch.optim.SGD([w], lr=0.1)

    def step(i):
        opt.zero_grad()
        loss = ((w - target) ** 2).sum()
        loss.backward()
        opt.step()
        return {"loss": loss}

    history = train_loop(step, 100, disable_progress=True)
    assert history["loss"][-1] < 1e-6 < history["loss"][0]


def test_minibatches_cover_each_epoch_and_repeat_with_a_generator():
    data = torch.arange(10.0).unsqueeze(1)
    it = minibatches(data, 5, generator=torch.Generator().manual_seed(0))
    epoch = torch.cat([next(it), next(it)])
    assert sorted(epoch.squeeze(1).tolist()) == list(range(10))
    again = minibatches(data, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(next(again), epoch[:5])
    assert next(minibatches(data, 100)).shape == (10, 1)
    with pytest.raises(ValueError, match="batch_size"):
        next(minibatches(data, 0))
    with pytest.raises(ValueError, match="empty"):
        next(minibatches(torch.zeros(0, 2), 4))


def test_checkpoints_round_trip_and_are_atomic(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = save_checkpoint({"model": model.state_dict(), "step": 7}, tmp_path / "sub" / "ckpt.pt")
    state = load_checkpoint(path)
    assert state["step"] == 7
    for key, value in model.state_dict().items():
        assert torch.equal(state["model"][key], value)
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]  # no temp file left behind

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        save_checkpoint({"bad": Unpicklable()}, path)
    assert load_checkpoint(path)["step"] == 7  # the old checkpoint survived the failed save
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(TypeError):
        save_checkpoint([1, 2], tmp_path / "x.pt")


def test_load_checkpoint_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"obj": datetime.date(2020, 1, 1)}, path)  # an arbitrary class: not allowed under weights_only
    with pytest.raises(Exception, match="weights_only|Unsupported global"):
        load_checkpoint(path)


# -- fit_likelihood --------------------------------------------------------------------------
def _gaussian_model():
    from companion.flows import RealNVP

    torch.manual_seed(0)
    return RealNVP((2,), n_blocks=2, hidden=8, actnorm=False)


def test_fit_likelihood_lowers_the_nll_and_calls_back():
    from companion.train import fit_likelihood

    model = _gaussian_model()
    data = torch.randn(256, 2) * torch.tensor([3.0, 0.5]) + 1.0
    before = float(-model.log_prob(data).mean().detach())
    seen = []
    history = fit_likelihood(model, data, n_steps=200, batch_size=64, lr=1e-2, progress=False,
                             callback=lambda step: seen.append(step) or ({"probe": 1.0} if step % 50 == 0 else None))
    assert seen == list(range(200))
    assert float(-model.log_prob(data).mean().detach()) < before - 0.5
    assert "nll" in history and history.steps("probe") == [0, 50, 100, 150]


def test_fit_likelihood_is_the_plain_loop():
    # the same random stream as the loop it replaced: same minibatches, same updates
    from companion.train import adam, fit_likelihood, minibatches

    data = torch.randn(100, 2)
    model_a, model_b = _gaussian_model(), _gaussian_model()
    fit_likelihood(model_a, data, n_steps=5, batch_size=16, lr=1e-2, generator=torch.Generator().manual_seed(3),
                   max_grad_norm=10.0, progress=False)
    optimizer = adam(model_b.parameters(), lr=1e-2)  # the optimiser it builds by default
    batches = minibatches(data, 16, generator=torch.Generator().manual_seed(3))
    for _ in range(5):
        loss = -model_b.log_prob(next(batches)).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model_b.parameters(), 10.0)
        optimizer.step()
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_fit_likelihood_rejects_bad_input():
    from companion.train import fit_likelihood

    model = _gaussian_model()
    with pytest.raises(TypeError, match="log_prob"):
        fit_likelihood(torch.nn.Linear(2, 2), torch.randn(4, 2), n_steps=1, batch_size=2)
    with pytest.raises(TypeError, match="data"):
        fit_likelihood(model, [[0.0, 1.0]], n_steps=1, batch_size=2)
    with pytest.raises(ValueError, match="max_grad_norm"):
        fit_likelihood(model, torch.randn(4, 2), n_steps=1, batch_size=2, max_grad_norm=0.0)
    with pytest.raises(TypeError, match="callback"):
        fit_likelihood(model, torch.randn(4, 2), n_steps=1, batch_size=2, callback=lambda s: 3.0, progress=False)


def test_adam_is_fused_on_cpu_and_follows_the_per_tensor_loop():
    from companion.train import adam

    def run(make_optimizer):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        optimizer = make_optimizer(net.parameters())
        g = torch.Generator().manual_seed(1)
        for _ in range(50):
            loss = net(torch.randn(16, 3, generator=g)).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return optimizer, torch.cat([p.detach().flatten() for p in net.parameters()])

    fused, ours = run(lambda params: adam(params, lr=1e-2, betas=(0.5, 0.9)))
    assert fused.defaults["fused"] is True and fused.defaults["betas"] == (0.5, 0.9)
    _, loop = run(lambda params: torch.optim.Adam(params, lr=1e-2, betas=(0.5, 0.9), foreach=False))
    torch.testing.assert_close(ours, loop, rtol=0, atol=1e-6)  # the same algorithm, up to rounding
    assert not torch.equal(ours, run(lambda params: adam(params, lr=1e-3))[1])  # the rate matters


def test_adam_takes_parameter_groups_and_falls_back_to_foreach():
    from companion.train import adam

    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    groups = adam([{"params": a.parameters()}, {"params": b.parameters(), "lr": 0.5}], lr=0.1)
    assert [len(g["params"]) for g in groups.param_groups] == [2, 2] and groups.param_groups[1]["lr"] == 0.5
    meta = torch.nn.Linear(2, 2, device="meta")  # no fused kernel there: the multi-tensor form
    optimizer = adam(meta.parameters(), lr=0.1)
    assert not optimizer.defaults["fused"] and optimizer.defaults["foreach"] is True


def test_adam_falls_back_where_pytorch_has_no_fused_kernel(monkeypatch):
    from companion.train import adam

    real_adam = torch.optim.Adam

    def older_pytorch(params, **kwargs):  # as PyTorch before 2.4 answers fused=True for CPU parameters
        if kwargs.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real_adam(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", older_pytorch)
    optimizer = adam(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    assert not optimizer.defaults["fused"] and optimizer.defaults["foreach"] is True


def test_adam_rejects_bad_input():
    from companion.train import adam

    net = torch.nn.Linear(2, 2)
    for lr in (0.0, -1e-3, True, "1e-3"):
        with pytest.raises(ValueError, match="lr"):
            adam(net.parameters(), lr=lr)
    for betas in ((0.9,), (0.9, 1.0), (-0.1, 0.9)):
        with pytest.raises(ValueError, match="betas"):
            adam(net.parameters(), betas=betas)
    with pytest.raises(ValueError, match="no parameters"):
        adam([])


def test_every_adam_of_the_package_is_built_by_companion_train_adam():
    # one place decides the optimiser's form, so a run, its replicas and its worker jobs take the same steps
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "companion"
    direct = [str(p.relative_to(package.parent)) for p in sorted(package.rglob("*.py"))
              if p.name != "train.py" and "torch.optim.Adam(" in p.read_text()]
    assert direct == [], f"build Adam with companion.train.adam, not torch.optim.Adam, in: {direct}"


def test_cosine_schedule_anneals_to_zero_and_checks_its_length():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    scheduler = cosine_schedule(4)(optimizer)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="n_steps must be a non-negative int"):
        cosine_schedule(-1)
    with pytest.raises(TypeError, match="n_steps"):
        cosine_schedule(2.5)
