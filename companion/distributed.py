"""More than one GPU (or CPU process) with ``torchrun`` and PyTorch's DistributedDataParallel.

Launch any ``python -m companion reproduce`` command under ``torchrun``::

    torchrun --nproc_per_node=4 -m companion reproduce preliminaries/realnvp_ring --scale paper

and every process runs the same experiment: the same seed, the same data, the same model
initialisation. What differs is small and lives here:

* :func:`init_from_env` joins the process group that ``torchrun`` describes in its
  environment variables (``nccl`` on CUDA, ``gloo`` on the CPU) and gives each process its
  own GPU (``LOCAL_RANK``);
* :func:`shard` keeps this process's contiguous share of a global minibatch
  (:class:`companion.train.Minibatches` calls it), so the global batch size, and with it the
  optimisation, is the one of a single process;
* :func:`wrap` puts a model in :class:`~torch.nn.parallel.DistributedDataParallel`, whose
  backward pass averages the gradients of the shares: the gradient of the global batch
  (the likelihood fits, through :func:`companion.train.minimize`);
* :func:`averaging_gradients` does the same for the adversarial fits
  (:func:`companion.train.fit_adversarial`), whose players take turns through one graph, by
  averaging the gradients of an optimizer's parameters before each of its steps;
* :func:`batch_noise` draws the random numbers of a share (posterior noise, a generator's
  noise, dequantisation, interpolation weights) as the rows of the global batch's draw, inside
  :func:`sharded_step`, so every example gets the noise one process would give it;
* :func:`all_reduce_mean` averages the metrics of a step over the processes
  (:func:`companion.train.train_loop` calls it), so the recorded history is the global one;
* :func:`is_main` is true on rank 0 only: figures, metrics files and checkpoints are written
  there and nowhere else.

Outside ``torchrun`` every function is a no-op and the package behaves as a single process.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import torch
from torch import nn

from . import device

__all__ = [
    "all_reduce_mean",
    "autocast",
    "average_gradients",
    "averaging_gradients",
    "batch_noise",
    "init_from_env",
    "is_distributed",
    "is_main",
    "local_device",
    "rank",
    "shard",
    "sharded_step",
    "shutdown",
    "world_size",
    "wrap",
]


def is_distributed() -> bool:
    """Whether this process belongs to an initialised process group of more than one process."""
    return torch.distributed.is_available() and torch.distributed.is_initialized() and world_size() > 1


def rank() -> int:
    """This process's rank (0 outside ``torchrun``)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


def world_size() -> int:
    """The number of processes (1 outside ``torchrun``)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def is_main() -> bool:
    """True on the process that writes files (rank 0, or the only process)."""
    return rank() == 0


def local_device() -> torch.device:
    """This process's device: ``cuda:LOCAL_RANK`` under ``torchrun`` on GPUs, else :func:`companion.device`."""
    if torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device()


def init_from_env(backend: Optional[str] = None) -> bool:
    """Join the process group ``torchrun`` set up, if any; return whether this run is distributed.

    Args:
        backend: ``"nccl"`` or ``"gloo"``; ``None`` picks ``nccl`` when CUDA is available and
            ``gloo`` otherwise.

    Without ``torchrun``'s variables (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``) nothing happens.
    """
    if backend is not None and backend not in {"nccl", "gloo"}:
        raise ValueError(f"backend must be 'nccl', 'gloo' or None; got {backend!r}")
    needed = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    if not all(name in os.environ for name in needed) or int(os.environ["WORLD_SIZE"]) < 2:
        return False
    if not torch.distributed.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_device())
        torch.distributed.init_process_group(backend=backend)
    return is_distributed()


def shutdown() -> None:
    """Leave the process group (a no-op outside ``torchrun``)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard(rows: torch.Tensor) -> torch.Tensor:
    """This process's contiguous share of the indices ``rows`` of a global minibatch.

    Raises:
        ValueError: if the global batch does not split evenly over the processes (uneven
            shares would weight the examples of the smaller share more).
    """
    if not is_distributed():
        return rows
    n, k = rows.shape[0], world_size()
    if n % k:
        raise ValueError(f"the batch size ({n}) must be a multiple of the number of processes ({k})")
    share = n // k
    return rows[rank() * share : (rank() + 1) * share]


class _MethodAsForward(nn.Module):
    """Calls ``module.<method>`` as ``forward``: DistributedDataParallel averages gradients only
    for what goes through ``forward``, and density models are trained through ``log_prob``."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module, self.method = module, method

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.module, self.method)(*args, **kwargs)


def wrap(module: nn.Module, method: Optional[str] = None, find_unused_parameters: bool = False) -> nn.Module:
    """A model to train through: ``module`` in DistributedDataParallel under ``torchrun``.

    Args:
        module: the model (its parameters stay where they are; call it through the result).
        method: train through ``module.<method>`` (for example ``"log_prob"``) instead of
            ``forward``; the result's ``forward`` calls it.
        find_unused_parameters: passed to DistributedDataParallel: ``True`` when some
            parameters get no gradient from the loss (it costs a pass over the graph per step).

    Returns:
        Outside ``torchrun``: ``module`` itself (or a thin module whose ``forward`` calls
        ``method``). Under ``torchrun``: that, in DistributedDataParallel.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if method is not None and not callable(getattr(module, method, None)):
        raise ValueError(f"module has no method {method!r}")
    model: nn.Module = module if method is None else _MethodAsForward(module, method)
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    params = next(module.parameters(), None)
    on_cuda = params is not None and params.is_cuda
    return DistributedDataParallel(model, device_ids=[params.device] if on_cuda else None,
                                   find_unused_parameters=find_unused_parameters)


def all_reduce_mean(value: Union[float, torch.Tensor]) -> Union[float, torch.Tensor]:
    """The mean of ``value`` over the processes (``value`` itself outside ``torchrun``)."""
    if not is_distributed():
        return value
    tensor = value.detach().clone() if torch.is_tensor(value) else torch.tensor(float(value))
    if torch.distributed.get_backend() == "nccl":
        tensor = tensor.to(local_device())
    tensor = tensor.to(torch.float64 if tensor.device.type == "cpu" else torch.float32)
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
    return tensor / world_size()


def average_gradients(parameters: Iterable[torch.Tensor]) -> None:
    """Replace the gradient of every parameter that has one by its mean over the processes.

    A no-op outside ``torchrun``. Every process must hold gradients for the same parameters
    (they run the same code on their shares, so they do).
    """
    if not is_distributed():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce per step, not one per tensor
    torch.distributed.all_reduce(flat, op=torch.distributed.ReduceOp.SUM)
    flat /= world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


@contextlib.contextmanager
def averaging_gradients(optimizers: Sequence[torch.optim.Optimizer]) -> Iterator[None]:
    """Within: every ``optimizer.step()`` first averages its parameters' gradients over the processes.

    The adversarial fits use it instead of :func:`wrap`: their players call each other
    (the discriminator judges the generator's samples, with or without its graph), which
    DistributedDataParallel's once-per-forward bookkeeping does not follow. Averaging just
    before each step gives every process the gradient of the global batch, and the processes'
    parameters stay identical. A no-op outside ``torchrun``.
    """
    for optimizer in optimizers:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizers must hold torch.optim.Optimizer objects; got {type(optimizer).__name__}")
    if not is_distributed():
        yield
        return

    def average(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        average_gradients(p for group in optimizer.param_groups for p in group["params"])

    handles = [optimizer.register_step_pre_hook(average) for optimizer in optimizers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


_in_sharded_step = False  # set by sharded_step: the batch in hand is this process's share


@contextlib.contextmanager
def sharded_step(active: bool = True) -> Iterator[None]:
    """Within (when ``active`` and under ``torchrun``): the batch being trained on is this
    process's share of a global batch, and :func:`batch_noise` draws accordingly.

    The fits enter it around their step when called with ``shard=True``; elsewhere
    (evaluation, sampling, callbacks) every process works on whole batches.
    """
    global _in_sharded_step
    previous, _in_sharded_step = _in_sharded_step, bool(active) and is_distributed()
    try:
        yield
    finally:
        _in_sharded_step = previous


def batch_noise(draw: Callable[..., torch.Tensor], shape: Sequence[int], batch_dim: int = 0,
                **kwargs: Any) -> torch.Tensor:
    """``draw(shape, **kwargs)`` (``torch.randn``, ``torch.rand``) for the examples of a batch.

    Inside :func:`sharded_step`, ``shape[batch_dim]`` counts the examples of this process's
    share: every process draws the noise of the whole global batch, exactly as one process
    would, and keeps the rows of its share. An example gets the noise one process would give
    it, and the random-number generators of all processes stay in step with that of one
    process. Elsewhere this is ``draw(shape, **kwargs)``.

    Args:
        draw: a sampler taking a shape and keywords (``dtype``, ``device``, ``generator``).
        shape: the shape of the noise of the examples at hand.
        batch_dim: the axis of ``shape`` that indexes the examples.
    """
    shape = [int(size) for size in shape]
    if not 0 <= batch_dim < len(shape):
        raise ValueError(f"batch_dim must index shape {tuple(shape)}; got {batch_dim!r}")
    if not _in_sharded_step:
        return draw(shape, **kwargs)
    share = shape[batch_dim]
    shape[batch_dim] = share * world_size()
    return draw(shape, **kwargs).narrow(batch_dim, rank() * share, share)


#: Set to ``1`` (the CLI's ``--bf16``) to train the experiments that support it under bf16 autocast on CUDA.
BF16_ENV = "COMPANION_BF16"


def autocast() -> Any:
    """bf16 autocast on CUDA when ``COMPANION_BF16=1`` (the CLI's ``--bf16``); otherwise a no-op.

    Used around the losses of :func:`companion.train.fit_likelihood`, ``fit_vae`` and
    ``fit_agave`` (never in the adversarial fits). An explicit opt-in: whether bf16 keeps an
    experiment's results within its seed spread has not been measured (no GPU was available
    when it was written), so nothing uses it by default.
    """
    import contextlib

    if os.environ.get(BF16_ENV, "0").strip() == "1" and torch.cuda.is_available():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
