"""The pieces every training loop of the book needs.

* :func:`progress` — a ``tqdm.auto`` bar (renders in Jupyter, Colab and a terminal) that
  can be silenced per call or for the whole session with ``COMPANION_PROGRESS=0``;
* :class:`History` — the loss curves of a run;
* :func:`check_finite` — stops a run that met a NaN or an infinity with a clear message;
* :func:`minibatches` — endless shuffled minibatches of a tensor;
* :func:`flushing_denormals` — denormal floats flushed to zero while a block runs (every
  :func:`train_loop` runs so: arithmetic on them is many times slower on a CPU);
* :func:`train_loop` — ``n_steps`` calls of a step function, with all of the above;
* :func:`adam` — the Adam optimiser every fit builds (PyTorch's fused kernel where it has one);
* :func:`minimize` — the one loop of the non-adversarial fits (a loss over minibatches);
* :func:`fit_likelihood` — the one maximum-likelihood fit of every density model;
* :func:`fit_adversarial` — the one alternating-update loop of the adversarial fits.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections import defaultdict
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

import torch

from . import distributed
from .checks import check_nonnegative_int, check_positive_int
from .distributed import all_reduce_mean, averaging_gradients, is_distributed, shard, sharded_step
from .runs import active_run

__all__ = [
    "History",
    "Minibatches",
    "adam",
    "check_finite",
    "cosine_schedule",
    "denormals_flushed",
    "fit_adversarial",
    "fit_likelihood",
    "flushing_denormals",
    "minibatches",
    "minimize",
    "progress",
    "progress_disabled",
    "run_callback",
    "train_loop",
]

PROGRESS_ENV = "COMPANION_PROGRESS"


def _as_float(value: Union[float, torch.Tensor]) -> float:
    return float(value.detach()) if torch.is_tensor(value) else float(value)


def _progress_disabled(disable: Optional[bool]) -> bool:
    if disable is not None:
        return bool(disable)
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() in {"0", "false", "no", "off"}


def progress(iterable: Union[Iterable, int], desc: str = "", disable: Optional[bool] = None,
             **kwargs: Any) -> Iterable:
    """A ``tqdm.auto`` progress bar over ``iterable`` (or ``range(iterable)`` for an int).

    Args:
        iterable: what to iterate over, or a number of steps.
        desc: the label shown before the bar.
        disable: ``True`` silences the bar; ``None`` follows ``COMPANION_PROGRESS``
            (``0`` silences every bar).
        **kwargs: passed to ``tqdm``.
    """
    from tqdm.auto import tqdm

    if isinstance(iterable, bool):
        raise TypeError("iterable must be an iterable or an int, not a bool")
    if isinstance(iterable, int):
        if iterable < 0:
            raise ValueError(f"the number of steps must be >= 0; got {iterable}")
        iterable = range(iterable)
    return tqdm(iterable, desc=desc, disable=_progress_disabled(disable), leave=False, **kwargs)


class History:
    """Named series of scalars recorded during training (for example ``loss``, ``kl``).

    >>> h = History(); h.record(0, loss=1.5); h.record(1, loss=1.2)
    >>> h["loss"], h.steps("loss")
    ([1.5, 1.2], [0, 1])
    """

    def __init__(self) -> None:
        self._values: Dict[str, List[float]] = defaultdict(list)
        self._steps: Dict[str, List[int]] = defaultdict(list)

    def record(self, step: int, **values: Union[float, torch.Tensor]) -> None:
        """Append one value per name at ``step`` (tensors are turned into floats)."""
        for name, value in values.items():
            self._values[name].append(_as_float(value))
            self._steps[name].append(int(step))

    def __getitem__(self, name: str) -> List[float]:
        if name not in self._values:
            raise KeyError(f"no series {name!r} in this history; it has {sorted(self._values)}")
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def steps(self, name: str) -> List[int]:
        """The steps at which ``name`` was recorded."""
        self[name]  # raises a clear KeyError
        return self._steps[name]

    def names(self) -> List[str]:
        """The recorded series, in the order they first appeared."""
        return list(self._values)

    def last(self, name: str, n: int = 1) -> float:
        """The mean of the last ``n`` values of ``name`` (a smoothed final value)."""
        values = self[name][-n:]
        return sum(values) / len(values)

    def to_dict(self) -> Dict[str, Dict[str, List[float]]]:
        """``{name: {"step": [...], "value": [...]}}``, ready for JSON."""
        return {k: {"step": list(self._steps[k]), "value": list(v)} for k, v in self._values.items()}

    def state_dict(self) -> Dict[str, Dict[str, List[float]]]:
        """What a checkpoint keeps of the history (the same as :meth:`to_dict`)."""
        return self.to_dict()

    def load_state_dict(self, state: Mapping[str, Mapping[str, List[float]]]) -> None:
        """Replace the recorded series by those of :meth:`state_dict`."""
        self._values.clear()
        self._steps.clear()
        for name, series in state.items():
            self._values[name] = [float(v) for v in series["value"]]
            self._steps[name] = [int(t) for t in series["step"]]


def check_finite(value: Union[float, torch.Tensor], step: int, name: str = "loss") -> None:
    """Stop training when ``value`` is NaN or infinite, saying where and what to try.

    Raises:
        FloatingPointError: naming the quantity and the step.
    """
    x = _as_float(value)
    if not math.isfinite(x):
        raise FloatingPointError(
            f"training stopped: {name} is {x} at step {step}. The model diverged; lower the "
            "learning rate, check the data for NaN/inf values, or clip the gradients."
        )


class Minibatches:
    """Endless shuffled minibatches of a tensor, reshuffled each epoch, that can be checkpointed.

    An iterator (``next(batches)``) made by :func:`minibatches`. Its position in the current
    epoch (the shuffled order and the next index) and its generator's state are part of
    :meth:`state_dict`, so a resumed run draws the very batches an uninterrupted one would.
    With ``shard=True``, under ``torchrun`` (see :mod:`companion.distributed`), every process
    draws the same global batch and keeps its own contiguous share of it, so the global batch
    is unchanged; the gradients must then be averaged over the processes: the model trained
    through :func:`companion.distributed.wrap` (:func:`minimize`), or the optimizers named in
    the ``state`` of :func:`fit_adversarial`.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, generator: Optional[torch.Generator] = None,
                 shard: bool = False) -> None:
        if not torch.is_tensor(data) or data.dim() == 0:
            raise TypeError("data must be a tensor with a batch dimension")
        check_positive_int(batch_size, "batch_size")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
        if data.shape[0] == 0:
            raise ValueError("data is empty")
        if not isinstance(shard, bool):
            raise TypeError(f"shard must be a bool; got {type(shard).__name__}")
        self.data, self.generator, self.shard = data, generator, shard
        self.size = min(batch_size, data.shape[0])
        self._order: Optional[torch.Tensor] = None
        self._next = 0

    def __iter__(self) -> "Minibatches":
        return self

    def __next__(self) -> torch.Tensor:
        n = self.data.shape[0]
        if self._order is None or self._next + self.size > n:
            self._order = torch.randperm(n, generator=self.generator)
            self._next = 0
        rows = self._order[self._next : self._next + self.size]
        self._next += self.size
        if self.shard:
            rows = shard(rows)
        return self.data[rows.to(self.data.device)]

    def state_dict(self) -> Dict[str, Any]:
        """The shuffled order of the current epoch, the next index, the generator's state."""
        return {
            "order": None if self._order is None else self._order.clone(),
            "next": self._next,
            "generator": None if self.generator is None else self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of an iterator over the same data."""
        order = state["order"]
        if order is not None and order.numel() != self.data.shape[0]:
            raise ValueError(f"the saved order covers {order.numel()} rows; the data has {self.data.shape[0]}")
        self._order, self._next = (None if order is None else order.clone()), int(state["next"])
        if state["generator"] is not None:
            if self.generator is None:
                raise ValueError("the saved minibatches had a generator; this one has none")
            self.generator.set_state(state["generator"])


def minibatches(
    data: torch.Tensor, batch_size: int, generator: Optional[torch.Generator] = None, shard: bool = False
) -> Minibatches:
    """Yield shuffled minibatches of ``data`` (along dim 0) forever, reshuffling each epoch.

    The last incomplete batch of an epoch is dropped, so every batch has ``batch_size`` rows
    (unless the data has fewer rows, in which case every batch is the whole shuffled data).
    The iterator has ``state_dict``/``load_state_dict``: pass it to :func:`train_loop`'s
    ``state`` to make a run resumable (see :class:`Minibatches`). ``shard=True``: under
    ``torchrun``, this process's share of each global batch (see :class:`Minibatches`).
    """
    return Minibatches(data, batch_size, generator, shard)


def denormals_flushed() -> bool:
    """Whether this thread flushes denormal floats to zero (:func:`torch.set_flush_denormal`), probed by
    halving the smallest normal float32, since PyTorch has no getter for the mode."""
    return bool(torch.tensor(torch.finfo(torch.float32).tiny) / 2 == 0)


@contextlib.contextmanager
def flushing_denormals() -> Iterator[bool]:
    """Run the block with denormal floats flushed to zero on this thread's CPU arithmetic, then restore the mode.

    Why: a denormal float (below 1.2e-38 in float32, 2.2e-308 in float64) takes a slow path in a
    CPU's arithmetic, many times slower than a normal one, and long fits make them. Once a
    parameter's gradient is exactly zero (a ReLU unit that no longer fires, the weight of a pixel
    that is black in every image), Adam's running mean of its gradients shrinks by 0.9 a step,
    reaches the denormals after some 800 steps and stays there for good (0.9 times the smallest of
    them rounds back to them). At the end of the ELBO-surgery chapter's VAE fit on faces (1,500
    steps) half of those running means were denormal; Adam's fused step took about 7x as long as with
    the mode on, the whole fit 1.5x as long, and the two fits ended with the same weights, bit for bit
    (``benchmarks/denormals.py``). Flushing changes only numbers below those bounds, each to zero.

    The mode belongs to a thread: threads started later inherit it, and so do the worker processes
    that :mod:`companion.workers` forks; intra-op threads already running keep theirs. It does
    nothing on a CUDA device, or on a CPU where PyTorch cannot set it.

    Yields:
        Whether the mode is on in the block (False where the CPU does not support it).
    """
    before = denormals_flushed()
    supported = torch.set_flush_denormal(True)
    try:
        yield bool(supported)
    finally:
        torch.set_flush_denormal(before)


def train_loop(
    step_fn: Callable[[int], Mapping[str, Union[float, torch.Tensor]]],
    n_steps: int,
    desc: str = "training",
    log_every: int = 1,
    disable_progress: Optional[bool] = None,
    history: Optional[History] = None,
    state: Optional[Mapping[str, Any]] = None,
) -> History:
    """Call ``step_fn(step)`` for ``step = 0 .. n_steps - 1`` and record what it returns.

    ``step_fn`` does one optimisation step and returns a mapping of scalars (the first one is
    shown on the progress bar). Every value is checked: a NaN or infinity stops the loop with
    a :class:`FloatingPointError` naming the quantity and the step.

    Args:
        step_fn: one training step.
        n_steps: how many steps (>= 0).
        desc: label of the progress bar.
        log_every: record every ``log_every`` steps (values are still checked every step).
        disable_progress: see :func:`progress`.
        history: a history to append to (a new one by default).
        state: what the steps change, by name: objects with ``state_dict`` and
            ``load_state_dict`` (models, optimisers, learning-rate schedules, the
            :func:`minibatches` iterator). Inside :func:`companion.runs.checkpointing` (the
            CLI's ``--checkpoint-every``/``--resume``) it is checkpointed and restored, so the
            loop survives a killed run; otherwise it is not used.

    Under ``torchrun`` (:mod:`companion.distributed`) the values of each step are averaged
    over the processes before they are checked and recorded. The steps run with denormal floats
    flushed to zero (:func:`flushing_denormals`; the mode before the loop is restored after it).

    Returns:
        The :class:`History` of the recorded values.
    """
    check_nonnegative_int(n_steps, "n_steps")
    check_positive_int(log_every, "log_every")
    _check_state(state)
    history = History() if history is None else history
    run = active_run()
    first_step = run.begin(desc, n_steps, state, history) if run is not None else 0
    bar = progress(range(first_step, n_steps), desc=desc, disable=disable_progress, total=n_steps,
                   initial=first_step)
    with flushing_denormals():
        for step in bar:
            values = _checked_values(step_fn(step), step)
            if step % log_every == 0 or step == n_steps - 1:
                history.record(step, **values)
                first = next(iter(values))
                bar.set_postfix({first: f"{_as_float(values[first]):.4g}"}, refresh=False)
            if run is not None and state is not None and step < n_steps - 1 and run.due():
                run.save(desc, n_steps, step + 1, state, history)
    if run is not None and state is not None and first_step < n_steps:
        run.save(desc, n_steps, n_steps, state, history)  # completed: a resume skips this loop
    return history


def _checked_values(values: Any, step: int) -> Mapping[str, Union[float, torch.Tensor]]:
    """What a step of :func:`train_loop` returned: averaged over the processes, checked finite."""
    if not isinstance(values, Mapping) or not values:
        raise TypeError("step_fn must return a non-empty mapping of scalar values")
    if is_distributed():
        values = {name: all_reduce_mean(value) for name, value in values.items()}
    for name, value in values.items():
        check_finite(value, step, name)
    return values


def _check_state(state: Optional[Mapping[str, Any]]) -> None:
    """``state`` of :func:`train_loop`: ``None`` or a mapping of names to checkpointable objects."""
    if state is None:
        return
    if not isinstance(state, Mapping) or not state:
        raise TypeError(f"state must be a non-empty mapping of names to objects; got {type(state).__name__}")
    for name, obj in state.items():
        if not isinstance(name, str):
            raise TypeError(f"state's keys must be strings; got {name!r}")
        if not (callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))):
            raise TypeError(f"state[{name!r}] must have state_dict() and load_state_dict(); got {type(obj).__name__}")


# -- one way to fit ----------------------------------------------------------------------------
#: ``callback(step)`` is called after every optimisation step; a mapping it returns (for
#: example a held-out score computed every 100 steps) is recorded in the history with the loss.
Callback = Callable[[int], Optional[Mapping[str, Union[float, torch.Tensor]]]]
#: What a loss function returns: the loss, or a mapping whose first value is the loss (the
#: others are recorded beside it).
LossValues = Union[torch.Tensor, Mapping[str, torch.Tensor]]


def minimize(
    model: torch.nn.Module,
    data: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], LossValues],
    *,
    n_steps: int,
    batch_size: int,
    lr: float = 1e-3,
    optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    scheduler: Optional[Callable[[torch.optim.Optimizer], Any]] = None,
    max_grad_norm: Optional[float] = None,
    log_every: int = 10,
    desc: str = "training",
    shard: bool = False,
) -> History:
    """Minimise ``loss_fn(batch)`` over shuffled minibatches of ``data``: the one training loop
    of every non-adversarial fit (the fits of the method modules call it with their loss).

    Each step draws one minibatch (:func:`minibatches` with ``generator``), takes one optimizer
    step (gradients clipped to ``max_grad_norm`` when given), steps the scheduler, then calls
    ``callback(step)``. Runs through :func:`train_loop` (NaN check, progress bar, history)
    with the model, the optimizer, the scheduler and the minibatches as its ``state``, so a
    run under :func:`companion.runs.checkpointing` resumes where it stopped.

    Args:
        model: the module trained (in place, in train mode).
        data: the training examples ``(N, ...)`` on the model's device.
        loss_fn: see :data:`LossValues`; a bare tensor is recorded as ``"loss"``.
        optimizer: default :func:`adam` ``(model.parameters(), lr)``.
        scheduler: ``scheduler(optimizer)`` builds a learning-rate scheduler stepped every step.
        callback, progress: see :data:`Callback`; ``progress=False`` silences the bar.
        shard: under ``torchrun``, each process draws its share of every global batch (see
            :class:`Minibatches`); ``loss_fn`` must then call the model through
            :func:`companion.distributed.wrap` so that DDP averages the gradients, and runs in
            :func:`companion.distributed.sharded_step`, so that per-example noise drawn with
            :func:`companion.distributed.batch_noise` is the share's rows of the global batch's.
        n_steps, batch_size, lr, generator, max_grad_norm, log_every, desc: as named.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be an nn.Module; got {type(model).__name__}")
    if not torch.is_tensor(data):
        raise TypeError(f"data must be a torch.Tensor; got {type(data).__name__}")
    if max_grad_norm is not None and not max_grad_norm > 0:
        raise ValueError(f"max_grad_norm must be positive or None; got {max_grad_norm!r}")
    if scheduler is not None and not callable(scheduler):
        raise TypeError(f"scheduler must be None or a function of the optimizer (see cosine_schedule); "
                        f"got {type(scheduler).__name__}")
    optimizer = adam(model.parameters(), lr=lr) if optimizer is None else optimizer
    state = {"model": model, "optimizer": optimizer,
             "batches": minibatches(data, batch_size, generator=generator, shard=shard)}
    if scheduler is not None:
        state["scheduler"] = scheduler(optimizer)
    model.train()
    step = _minimize_step(loss_fn, state, max_grad_norm, callback, shard)
    return train_loop(step, n_steps, desc=desc, log_every=log_every, disable_progress=progress_disabled(progress),
                      state=state)


def _minimize_step(loss_fn: Callable[[torch.Tensor], LossValues], state: Mapping[str, Any],
                   max_grad_norm: Optional[float], callback: Optional[Callback],
                   shard: bool) -> Callable[[int], Dict[str, Union[float, torch.Tensor]]]:
    """One step of :func:`minimize` on its ``state`` (model, optimizer, minibatches, scheduler)."""
    model, optimizer, batches, schedule = (state["model"], state["optimizer"], state["batches"],
                                           state.get("scheduler"))

    def step(i: int) -> Dict[str, Union[float, torch.Tensor]]:
        with sharded_step(shard):  # torchrun: the batch is this process's share, and so is its noise
            values = loss_fn(next(batches))
        values = dict(values) if isinstance(values, Mapping) else {"loss": values}
        loss = next(iter(values.values()))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        if schedule is not None:
            schedule.step()
        return {**{k: v.detach() if torch.is_tensor(v) else v for k, v in values.items()}, **run_callback(callback, i)}

    return step


def fit_likelihood(
    model: torch.nn.Module,
    data: torch.Tensor,
    *,
    transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    scale: float = 1.0,
    loss_name: str = "nll",
    **fit: Any,
) -> History:
    """Maximum likelihood: :func:`minimize` the mean of ``-model.log_prob(batch) / scale``.

    The one fit of every density model of the package (see :mod:`companion.protocol`).

    Args:
        model: an ``nn.Module`` with ``log_prob(x) -> (batch,)`` (trained in place).
        data: the training examples ``(N, ...)``, on the model's device.
        transform: applied to each minibatch before ``log_prob`` (fresh dequantisation noise).
        scale: the loss is divided by it (``1``: nats per example; the dimension: per dimension).
        loss_name: the name under which the loss is recorded.
        **fit: the keywords of :func:`minimize`: ``n_steps`` and ``batch_size`` (required),
            ``lr``, ``optimizer``, ``generator``, ``callback``, ``progress``, ``scheduler``,
            ``max_grad_norm``, ``log_every``, ``desc``, ``shard``.

    Returns:
        The :class:`History` (``loss_name``, plus whatever ``callback`` returns).
    """
    if not callable(getattr(model, "log_prob", None)):
        raise TypeError(f"model must have a log_prob method; got {type(model).__name__}")
    if not scale > 0:
        raise ValueError(f"scale must be positive; got {scale!r}")

    # with shard=True (torchrun) the model is called through DDP, which averages the gradients
    log_prob = distributed.wrap(model, method="log_prob") if fit.get("shard") else model.log_prob

    def nll(batch: torch.Tensor) -> Dict[str, torch.Tensor]:
        with distributed.autocast():  # bf16 on CUDA only when asked for (COMPANION_BF16=1)
            return {loss_name: -log_prob(batch if transform is None else transform(batch)).mean() / scale}

    fit.setdefault("desc", "maximum likelihood")
    return minimize(model, data, nll, **fit)


def fit_adversarial(
    step_fn: Callable[[List[torch.Tensor]], Mapping[str, Union[float, torch.Tensor]]],
    data: torch.Tensor,
    *,
    n_steps: int,
    batch_size: int,
    n_batches: int = 1,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    log_every: int = 10,
    desc: str = "adversarial training",
    history: Optional[History] = None,
    state: Optional[Mapping[str, Any]] = None,
    shard: bool = False,
) -> History:
    """The one alternating-update loop of the adversarial fits (GAN, BGAN, M-BGAN, ADE, hybrids).

    Each of the ``n_steps`` steps draws ``n_batches`` fresh real minibatches and calls
    ``step_fn(real_batches)``, which updates the players in turn (for example ``n_batches``
    discriminator updates, then one generator update) and returns its losses; then
    ``callback(step)`` runs. The method's own step function holds the game; this holds the loop.

    ``state`` names the players and their optimizers (objects with ``state_dict``); with the
    real minibatches added it is :func:`train_loop`'s ``state``, so the run can resume.

    ``shard=True``: under ``torchrun``, each process draws its contiguous share of every
    global batch (:class:`Minibatches`), ``step_fn`` runs inside
    :func:`companion.distributed.sharded_step` (so the noise it draws with
    :func:`companion.distributed.batch_noise` is its share of the global batch's noise), and
    every optimizer named in ``state`` averages its gradients over the processes before each
    step (:func:`companion.distributed.averaging_gradients`). The result is that of one process
    with the same global batch, to float tolerance, provided every loss is a mean over examples
    and every random draw per example goes through ``batch_noise``. A game whose loss judges a
    whole batch as one set (BGAN, M-BGAN) must not be split this way: it keeps ``shard=False``.
    """
    if not callable(step_fn):
        raise TypeError("step_fn must be callable")
    check_positive_int(n_batches, "n_batches")
    if state is not None and not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping of names to objects or None; got {type(state).__name__}")
    optimizers = [obj for obj in (state or {}).values() if isinstance(obj, torch.optim.Optimizer)]
    if shard and not optimizers:
        raise ValueError("shard=True needs the players' optimizers in state: their gradients are averaged there")
    batches = minibatches(data, batch_size, generator=generator, shard=shard)

    def step(i: int) -> Dict[str, Union[float, torch.Tensor]]:
        with sharded_step(shard):  # torchrun: the batches are this process's shares, and so is their noise
            values = step_fn([next(batches) for _ in range(n_batches)])
        return {**values, **run_callback(callback, i)}

    with averaging_gradients(optimizers if shard else []):
        return train_loop(step, n_steps, desc=desc, log_every=log_every,
                          disable_progress=progress_disabled(progress), history=history,
                          state={**(state or {}), "batches": batches})


def run_callback(callback: Optional[Callback], step: int) -> Dict[str, Union[float, torch.Tensor]]:
    """What ``callback(step)`` returns, as a dict (empty without a callback or a mapping)."""
    if callback is None:
        return {}
    values = callback(step)
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise TypeError(f"callback must return None or a mapping of scalars; got {type(values).__name__}")
    return dict(values)


def progress_disabled(progress: Optional[bool]) -> Optional[bool]:
    """The ``progress`` keyword of the fits (``True`` shows the bar) as ``train_loop``'s ``disable_progress``."""
    return None if progress is None else not progress


#: Devices with a fused Adam kernel in PyTorch (one pass over all parameters per step).
FUSED_ADAM_DEVICES = ("cpu", "cuda")


def adam(params: Iterable[Union[torch.Tensor, Dict[str, Any]]], lr: float = 1e-3,
         betas: Sequence[float] = (0.9, 0.999)) -> torch.optim.Adam:
    """``torch.optim.Adam(params, lr, betas)`` as every fit of the package builds it.

    The same algorithm in PyTorch's fused form where the parameters' device has one (CPU and
    CUDA, floating-point parameters): one kernel updates every parameter, where the default
    multi-tensor form makes several passes over them, each a round of Python and dispatch. A
    step of the book's small networks is short, so their fits run 1.14x to 1.20x faster on a
    CPU (``benchmarks/optimizer.py``). Elsewhere (another device, parameters that are not
    floating point, or a PyTorch without the fused kernel for the device: CPU before 2.4) the
    multi-tensor form. The two differ only in the rounding of an update's last bits (weights
    3e-7 apart after 20 steps), but training can amplify such a difference (a GAN's game does,
    quickly): a run with one form is another draw of the same recipe, not the same numbers, as
    the other form's run of the same seed.

    Args:
        params: parameters, or parameter groups (dicts), as for ``torch.optim.Adam``.
        lr: learning rate, > 0.
        betas: the two decay rates, each in ``[0, 1)``.

    Raises:
        ValueError: for a non-positive ``lr``, ``betas`` that are not two rates in ``[0, 1)``,
            or no parameters.
    """
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
        raise ValueError(f"lr must be a positive number; got {lr!r}")
    betas = tuple(betas)
    if len(betas) != 2 or not all(isinstance(b, numbers.Real) and not isinstance(b, bool) and 0 <= b < 1
                                  for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1); got {betas!r}")
    params = [dict(group, params=list(group["params"])) if isinstance(group, dict) else group for group in params]
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    if not tensors:
        raise ValueError("adam got no parameters to optimise")
    fused = all(torch.is_tensor(p) and p.is_floating_point() and p.device.type in FUSED_ADAM_DEVICES
                for p in tensors)
    if fused:
        try:
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
        except RuntimeError:  # a PyTorch without the kernel for this device (CPU before 2.4): its default form
            pass
    return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)


def cosine_schedule(n_steps: int) -> Callable[[torch.optim.Optimizer], Any]:
    """A ``scheduler`` for :func:`minimize`: cosine annealing of the learning rate over ``n_steps``.

    Raises:
        TypeError, ValueError: if ``n_steps`` is not a non-negative int.
    """
    n_steps = check_nonnegative_int(n_steps, "n_steps")
    return lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(n_steps, 1))
