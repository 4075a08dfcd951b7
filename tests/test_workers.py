"""Independent runs in forked one-thread workers: the same results as here, errors passed on."""

from __future__ import annotations

import sys

import pytest
import torch

from companion import workers
from companion.workers import map_in_workers, worker_count

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")


def _train(seed: int, steps: int):
    """A seeded little regression: a run whose numbers depend on its seed and on nothing else."""
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(64, 3, generator=gen)
    y = x.sum(1, keepdim=True) ** 2
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return {"loss": loss.item(), "weight": net[0].weight.detach().clone()}


@linux_only
def test_workers_give_the_results_of_running_here():
    jobs = [(seed, 30) for seed in range(3)]
    forked = map_in_workers(_train, jobs, workers=2)
    here = map_in_workers(_train, jobs, workers=1)
    assert [r["loss"] for r in forked] == [r["loss"] for r in here]
    for a, b in zip(forked, here):
        assert torch.equal(a["weight"], b["weight"])
    assert len({r["loss"] for r in here}) == 3  # three seeds, three different runs


@linux_only
def test_a_closure_runs_in_workers_and_in_order():
    offset = 10
    assert map_in_workers(lambda a, b: a * b + offset, [(1, 2), (3, 4), (5, 6)], workers=2) == [12, 22, 40]


def test_running_here_leaves_the_random_state_and_threads_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    map_in_workers(lambda: torch.rand(100), [(), ()], workers=1)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def _fails(value: int) -> int:
    if value == 2:
        raise ValueError("job two went wrong")
    return value


@pytest.mark.parametrize("n", [1, pytest.param(2, marks=linux_only)])
def test_a_failing_job_raises_its_own_error(n):
    with pytest.raises(ValueError, match="job two went wrong"):
        map_in_workers(_fails, [(1,), (2,), (3,)], workers=n)


def test_bad_arguments_are_refused_clearly(monkeypatch):
    with pytest.raises(TypeError, match="callable"):
        map_in_workers(3, [(1,)])
    with pytest.raises(TypeError, match="job 1 is int"):
        map_in_workers(_fails, [(1,), 2])
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="workers must be a positive int"):
            map_in_workers(_fails, [(1,)], workers=bad)
    assert map_in_workers(_fails, [], workers=2) == []
    monkeypatch.setenv(workers.WORKERS_ENV, "two")
    with pytest.raises(ValueError, match="COMPANION_WORKERS must be a positive int"):
        worker_count()
    monkeypatch.setenv(workers.WORKERS_ENV, "3")
    assert worker_count() == (3 if sys.platform.startswith("linux") else 1)


def test_the_default_is_one_worker_per_usable_core_within_the_containers_quota(monkeypatch, tmp_path):
    monkeypatch.delenv(workers.WORKERS_ENV, raising=False)
    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert workers._usable_cores(tmp_path / "missing") == 16
    cpu_max.write_text("max 100000\n")
    assert workers._usable_cores(cpu_max) == 16
    cpu_max.write_text("200000 100000\n")  # a container of two CPUs on a 16-core host
    assert workers._usable_cores(cpu_max) == 2
    cpu_max.write_text("50000 100000\n")  # half a CPU: still one worker
    assert workers._usable_cores(cpu_max) == 1
    cpu_max.write_text("garbled\n")
    assert workers._usable_cores(cpu_max) == 16
    for cores, expected in ((1, 1), (2, 2), (6, 6), (64, workers.MAX_DEFAULT_WORKERS)):
        monkeypatch.setattr(workers, "_usable_cores", lambda cores=cores: cores)
        assert worker_count() == (expected if sys.platform.startswith("linux") else 1)

@linux_only
def test_inside_a_checkpointed_run_the_jobs_run_here(tmp_path):
    # Forked workers would number and save their training loops' checkpoints on their own;
    # inside a checkpointed run every job runs in this process, so --resume finds them.
    import os

    from companion import runs

    with runs.checkpointing(tmp_path / "run"):
        pids = map_in_workers(lambda: os.getpid(), [(), ()], workers=2)
    assert pids == [os.getpid()] * 2
    assert set(map_in_workers(lambda: os.getpid(), [(), ()], workers=2)) != {os.getpid()}


def test_off_linux_the_jobs_run_here_even_when_workers_are_asked_for(monkeypatch):
    import os

    monkeypatch.setattr(workers.sys, "platform", "darwin")  # macOS and Windows do not fork safely
    assert map_in_workers(lambda: os.getpid(), [(), ()], workers=2) == [os.getpid()] * 2


@linux_only
def test_a_job_that_maps_again_runs_its_own_jobs_in_its_worker():
    # a worker forks no workers of its own: its jobs run in it, one after the other
    import os

    def job():
        return os.getpid(), map_in_workers(lambda: os.getpid(), [(), ()], workers=2)

    for worker_pid, inner in map_in_workers(job, [(), ()], workers=2):
        assert worker_pid != os.getpid() and inner == [worker_pid, worker_pid]


@linux_only
@pytest.mark.parametrize("in_notebook", [True, False])
def test_a_worker_draws_no_progress_bar_under_jupyter_only(monkeypatch, in_notebook):
    # a forked worker cannot send widget messages to the notebook: its bars are off there, kept in a terminal
    import types

    from companion.train import progress

    monkeypatch.setenv("COMPANION_PROGRESS", "1")
    if in_notebook:
        monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    else:
        monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    disabled = map_in_workers(lambda: progress(3).disable, [(), ()], workers=2)
    assert disabled == [in_notebook, in_notebook]
    assert progress(3).disable is False  # this process keeps its bars
