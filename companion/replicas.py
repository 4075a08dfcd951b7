"""Replicas: S independent copies of a model trained in one process, for S seeds at once.

A comparison over seeds needs many runs of a small network, and on a CPU (or a GPU) a small
network leaves the machine mostly idle: each layer is a handful of tiny kernels whose cost
is the Python and dispatch overhead, not the arithmetic. :class:`Replicas` stacks the
parameters of S copies of a module along a new leading axis
(:func:`torch.func.stack_module_state`) and evaluates all copies with one vectorised call
(:func:`torch.func.vmap` over :func:`torch.func.functional_call`), so each layer is one
batched kernel for all S copies.

Independence. The copies share no parameter and no statistic; an elementwise optimiser
(SGD, Adam, AdamW, RMSprop) over the stacked parameters is S independent optimisers as long
as the loss is the *sum* of the replicas' losses (the gradient of replica s's loss reaches
only replica s's slice). Randomness is drawn outside the vectorised call, one
``torch.Generator`` per replica (:func:`replica_generators`, :func:`stacked_randn`,
:class:`StackedMinibatches`), so replica s sees the data order and the noise of the plain run
with seed s, and changing one replica's seed changes nothing in the others; dropout layers,
which draw inside the call, take each replica's masks from its own generator too
(:meth:`Replicas.use_generators`).

The buffers (batch-norm running statistics) are stacked too and updated in place, per
replica, by the vectorised call in training mode.

Typical use::

    reps = Replicas(lambda: MLP(2, 1, 64), seeds=range(8))
    opt = companion.train.adam(reps.parameters(), lr=1e-3)
    gens = replica_generators(range(8))
    loss = per_replica_loss(reps(x_stacked)).sum()   # (S,) -> scalar
    opt.zero_grad(); loss.backward(); opt.step()
    model_3 = reps.module(3)                           # an ordinary nn.Module, replica 3
"""

from __future__ import annotations

import copy
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.utils import parametrizations, parametrize

from .checks import check_nonnegative_int
from .equivariant import EquivariantLinear, SymmetricDiscriminator
from .nets import Dropout
from .train import minibatches

__all__ = [
    "GeneratorListState",
    "Replicas",
    "ensemble_container",
    "StackedMinibatches",
    "check_seeds",
    "replica_generators",
    "stacked_randn",
]


def check_seeds(seeds: Iterable[int]) -> List[int]:
    """``seeds`` as a list: one seed per replica, each an int >= 0, at least one.

    Raises:
        TypeError: if ``seeds`` is not iterable or a seed is not an int.
        ValueError: if there is no seed or a seed is negative.
    """
    try:
        seeds = list(seeds)
    except TypeError as err:
        raise TypeError(f"seeds must be an iterable of ints; got {seeds!r}") from err
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    for seed in seeds:
        check_nonnegative_int(seed, "every seed")
    return seeds


class _StackedLinear(nn.Module):
    """S ``nn.Linear`` layers in one: ``x (S, ..., in) -> (S, ..., out)`` with one batched product."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([_unparametrized_weight(m) for m in layers]))  # (S, out, in)
        has_bias = layers[0].bias is not None
        self.bias = nn.Parameter(torch.stack([m.bias.detach() for m in layers])) if has_bias else None

    def linear(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """``x W^T + b`` per replica, with ``W`` multiplied by ``scale`` first (as EquivariantLinear does).

        A spectrally normalised layer computes ``(x W^T) (scale / sigma) + b``: the weight ``W / sigma``
        applied without forming it. The weights are the larger tensors of the book's layers (a minibatch
        of 64 against 256 x 256 weights), so scaling the outputs instead saves the passes over them
        that forming ``W / sigma`` and its gradient would take; only the rounding differs.
        """
        norm = _stacked_spectral_norm(self)
        # read once: reading a spectrally normalised weight would take a power iteration
        weight = self.weight if norm is None else self.parametrizations.weight.original
        n_rep, n_in = weight.shape[0], weight.shape[2]
        if x.dim() < 2 or x.shape[0] != n_rep or x.shape[-1] != n_in:
            raise ValueError(f"expected inputs of shape ({n_rep}, ..., {n_in}); got {tuple(x.shape)}")
        flat = x.reshape(n_rep, -1, n_in)
        if norm is not None:
            u, v = norm.estimates(weight)
            out = _SpectralLinear.apply(flat, weight, self.bias, u, v, float(scale))
            return out.view(*x.shape[:-1], out.shape[-1])
        weight = (weight * scale if scale != 1.0 else weight).transpose(1, 2)
        if self.bias is None:
            out = torch.bmm(flat, weight)
        else:
            out = torch.baddbmm(self.bias.unsqueeze(1), flat, weight)
        return out.view(*x.shape[:-1], out.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.linear(x)


def _unparametrized_weight(layer: nn.Linear) -> torch.Tensor:
    """The weight a layer stores: for a spectrally normalised one, the weight before normalisation."""
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations.weight.original.detach()
    return layer.weight.detach()


def _spectral_norm_of(layer: nn.Module) -> Optional[nn.Module]:
    """The spectral normalisation of ``layer``'s weight, if it is an ``nn.Linear`` whose only parametrisation
    is PyTorch's ``spectral_norm`` (as :func:`companion.nets.spectral_normalise` leaves it); else ``None``."""
    spectral_norm_class = getattr(parametrizations, "_SpectralNorm", None)  # private: absent, not stacked
    if not isinstance(layer, nn.Linear) or spectral_norm_class is None:
        return None
    if set(getattr(layer, "parametrizations", {}).keys()) != {"weight"} or len(layer.parametrizations.weight) != 1:
        return None
    norm = layer.parametrizations.weight[0]
    return norm if isinstance(norm, spectral_norm_class) and norm.dim == 0 else None


class _StackedSpectralNorm(nn.Module):
    """The spectral normalisation of S stacked weights ``(S, out, in)``: per replica what PyTorch's
    ``spectral_norm`` computes, ``W / sigma(W)`` with ``sigma`` from the replica's own singular-vector
    estimates ``u``, ``v``, updated by the same power iterations per call in training mode."""

    def __init__(self, norms: Sequence[nn.Module]) -> None:
        super().__init__()
        self.n_power_iterations, self.eps = norms[0].n_power_iterations, norms[0].eps
        self.register_buffer("_u", torch.stack([n._u.detach() for n in norms]))  # (S, out)
        self.register_buffer("_v", torch.stack([n._v.detach() for n in norms]))  # (S, in)

    def estimates(self, weight: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The singular-vector estimates ``u`` ``(S, out)`` and ``v`` ``(S, in)`` that ``sigma = u^T W v`` is
        read with: in training mode after the power iterations of one call (which update them), as
        PyTorch's ``spectral_norm`` takes them."""
        if self.training:
            with torch.no_grad():
                for _ in range(self.n_power_iterations):
                    self._u = nn.functional.normalize(_times_rows(self._v, weight.transpose(1, 2)), dim=-1,
                                                      eps=self.eps, out=self._u)
                    self._v = nn.functional.normalize(_times_rows(self._u, weight), dim=-1, eps=self.eps,
                                                      out=self._v)
        return self._u.clone(), self._v.clone()  # the estimates as they stand, out of the in-place updates

    def forward(self, weight: torch.Tensor) -> torch.Tensor:  # noqa: D102
        u, v = self.estimates(weight)
        return weight / (u * _times_rows(v, weight.transpose(1, 2))).sum(-1)[:, None, None]


class _SpectralLinear(torch.autograd.Function):
    """``(x W^T) (scale / sigma) + b`` per replica, ``sigma = u^T W v`` with ``u``, ``v`` held constant: a
    linear layer with the weight ``scale W / sigma``, which PyTorch's ``spectral_norm`` forms (its gradient
    included). The weights are the larger tensors of the book's layers (minibatches of 64 against weights
    of 256 x 256), so this scales the outputs instead and writes the weight's gradient in one product,
    ``(g^T x - (sum g * x W^T / sigma) u v^T) scale / sigma``, without forming ``W / sigma``, its transposed
    gradient or their sum; only the rounding differs. Once differentiable (no gradient penalty through it)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],  # noqa: D102
                u: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
        sigma = (u * _times_rows(v, weight.transpose(1, 2))).sum(-1)  # (S,)
        factor = (scale / sigma)[:, None, None]
        linear = torch.bmm(x, weight.transpose(1, 2))  # (S, N, out)
        ctx.save_for_backward(x, weight, u, v, linear, factor, sigma)
        ctx.has_bias = bias is not None
        return linear * factor if bias is None else torch.addcmul(bias.unsqueeze(1), linear, factor)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:  # noqa: D102
        x, weight, u, v, linear, factor, sigma = ctx.saved_tensors
        scaled = grad * factor  # the gradient of x W^T
        grad_x = torch.bmm(scaled, weight) if ctx.needs_input_grad[0] else None
        grad_weight = None
        if ctx.needs_input_grad[1]:
            # through sigma: d out / d sigma = -linear * factor / sigma, d sigma / d W = u v^T
            d_sigma = -(grad * linear).sum((1, 2)) * factor.view(-1) / sigma
            # g^T x + (d_sigma u) v^T as one product: the rank-one term as one more row of each factor
            left = torch.cat([scaled, (u * d_sigma[:, None]).unsqueeze(1)], dim=1)
            right = torch.cat([x, v.unsqueeze(1)], dim=1)
            grad_weight = torch.bmm(left.transpose(1, 2), right)
        grad_bias = grad.sum(1) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias, None, None, None


def _times_rows(vectors: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """``vectors[s] @ matrices[s]`` for every replica s, ``(S, n) x (S, n, m) -> (S, m)``: the products of
    the power iteration as rows times matrices, which batched products run several times faster than
    the same products as matrices times columns."""
    return torch.bmm(vectors.unsqueeze(1), matrices).squeeze(1)


def _stacked_spectral_norm(layer: nn.Module) -> Optional[_StackedSpectralNorm]:
    """The stacked spectral normalisation of a :class:`_StackedLinear`'s weight, or ``None``."""
    if not parametrize.is_parametrized(layer, "weight"):
        return None
    norm = layer.parametrizations.weight[0]
    return norm if isinstance(norm, _StackedSpectralNorm) else None


def _stack_linear(layers: Sequence[nn.Linear]) -> "_StackedLinear":
    """S ``nn.Linear`` layers as one :class:`_StackedLinear`; spectrally normalised ones (all or none) with a
    stacked normalisation, under the same names (``parametrizations.weight.original``, ``..._u``, ``..._v``)."""
    norms = [_spectral_norm_of(m) for m in layers]
    if all(norm is None for norm in norms) and all(type(m) is nn.Linear for m in layers):
        return _StackedLinear(layers)
    if any(norm is None for norm in norms):
        raise _Unsupported("the replicas' linear layers are not all plain or all spectrally normalised")
    shape = _unparametrized_weight(layers[0]).shape  # not .weight: reading it would take a power iteration
    if any(_unparametrized_weight(m).shape != shape or (m.bias is None) != (layers[0].bias is None) for m in layers):
        raise _Unsupported("the replicas differ in structure")
    stacked = _StackedLinear(layers)
    # unsafe: registering would otherwise call the normalisation once, a power iteration no replica takes
    parametrize.register_parametrization(stacked, "weight", _StackedSpectralNorm(norms), unsafe=True)
    return stacked


class _StackedBatchNorm1d(nn.Module):
    """S ``nn.BatchNorm1d`` layers on inputs ``(S, N, C)``: statistics per replica and channel."""

    def __init__(self, layers: Sequence[nn.BatchNorm1d]) -> None:
        super().__init__()
        first = layers[0]
        if not (first.affine and first.track_running_stats and first.momentum is not None):
            raise _Unsupported("BatchNorm1d needs affine=True, track_running_stats=True and a momentum")
        self.eps, self.momentum = first.eps, first.momentum
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]))  # (S, C)
        self.bias = nn.Parameter(torch.stack([m.bias.detach() for m in layers]))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(name, torch.stack([getattr(m, name).clone() for m in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.dim() != 3 or x.shape[0] != self.weight.shape[0] or x.shape[2] != self.weight.shape[1]:
            raise ValueError(f"expected inputs of shape ({self.weight.shape[0]}, N, {self.weight.shape[1]}); "
                             f"got {tuple(x.shape)}")
        # one native batch norm over the S*C channels of the (N, S*C) view: the same kernel as
        # the plain run (equal to it bit for bit), about half the time of the unfused formula;
        # the running statistics are views of the stacked buffers, updated in place
        n_rep, n, channels = x.shape
        flat = x.transpose(0, 1).reshape(n, n_rep * channels)
        if self.training:
            self.num_batches_tracked.add_(1)
        out = nn.functional.batch_norm(flat, self.running_mean.view(-1), self.running_var.view(-1),
                                       self.weight.view(-1), self.bias.view(-1), self.training,
                                       self.momentum, self.eps)
        return out.view(n, n_rep, channels).transpose(0, 1)


class _StackedEquivariantLinear(nn.Module):
    """S :class:`~companion.symmetric.EquivariantLinear` layers on sets ``(S, ..., B, in)``."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.reweight = layers[0].reweight
        self.own = _stack_linear([m.own for m in layers])
        self.mixing = _stack_linear([m.mixing for m in layers])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        set_size = x.shape[-2]
        w_own, w_mix = (set_size / (set_size + 1.0), 1.0 / (set_size + 1.0)) if self.reweight else (1.0, 1.0)
        return self.own.linear(x, w_own) + self.mixing.linear(x.mean(dim=-2, keepdim=True), w_mix)


class _StackedDropout(nn.Module):
    """S :class:`~companion.nets.Dropout` layers on inputs ``(S, ...)``: replica s's mask drawn from its own
    generator (:meth:`Replicas.use_generators`), as the plain run with that generator as its default one draws it."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generators: Optional[List[torch.Generator]] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not self.training or self.p == 0:
            return x
        if self.generators is None:
            raise RuntimeError("replicas with dropout draw each replica's masks from its own generator: "
                               "give them with Replicas.use_generators(generators) before training")
        if len(self.generators) != x.shape[0]:
            raise ValueError(f"{len(self.generators)} generators for {x.shape[0]} replicas")
        # Dropout's mask, one uniform draw per element, per replica from its own generator
        device = self.generators[0].device
        uniform = torch.empty(x.shape, dtype=x.dtype, device=device)
        for rows, generator in zip(uniform, self.generators):
            torch.rand(rows.shape, dtype=x.dtype, generator=generator, device=device, out=rows)
        return x * uniform.to(x.device).ge_(self.p).mul_(1.0 / (1.0 - self.p))


class _Unsupported(Exception):
    """A module the ensemble layers cannot stack (the vectorised-map path is used instead)."""


#: Container modules whose ``forward`` only calls their children and acts on trailing
#: dimensions, so their children can be swapped for stacked layers (see :func:`ensemble_container`).
_CONTAINERS: set = set()


def ensemble_container(cls: type) -> type:
    """Declare that ``cls.forward`` calls its children and touches only trailing dimensions.

    Such a container's children can be replaced by stacked layers with a leading replica
    axis (the fast path of :class:`Replicas`); ``nn.Sequential`` and its subclasses are
    containers already. Usable as a class decorator.
    """
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise TypeError(f"cls must be an nn.Module subclass; got {cls!r}")
    _CONTAINERS.add(cls)
    return cls


def _stack_layers(modules: Sequence[nn.Module]) -> nn.Module:
    """One module that runs S same-structure modules on inputs with a leading replica axis."""
    first = modules[0]
    if all(_spectral_norm_of(m) is not None for m in modules):  # parametrised layers each have a class of their own
        return _stack_linear(modules)
    kind = type(first)
    if any(type(m) is not kind for m in modules):
        raise _Unsupported("the replicas differ in structure")
    if kind is nn.Linear:
        return _stack_linear(modules)
    if kind is nn.BatchNorm1d:
        return _StackedBatchNorm1d(modules)
    if kind is EquivariantLinear:
        return _StackedEquivariantLinear(modules)
    if kind is Dropout:
        if any(m.p != first.p for m in modules):
            raise _Unsupported("the replicas' dropout layers differ in p")
        return _StackedDropout(first.p)
    if isinstance(first, nn.modules.dropout._DropoutNd):  # one mask for all replicas: they would not be independent
        raise _Unsupported(f"{kind.__name__} draws every replica's mask at once; "
                           "companion.nets.Dropout draws each its own")
    if next(first.parameters(), None) is None and next(first.buffers(), None) is None:
        return copy.deepcopy(first)  # stateless (activations, maxout): acts elementwise or on the last axis
    vector_sets = kind is SymmetricDiscriminator and len(first.in_shape) == 1
    if isinstance(first, (nn.Sequential, nn.ModuleList)) or kind in _CONTAINERS or vector_sets:
        if (
            next(first.parameters(recurse=False), None) is not None
            or next(first.buffers(recurse=False), None) is not None
        ):
            raise _Unsupported(f"{kind.__name__} holds parameters of its own")
        stacked = copy.deepcopy(first)
        for name, _ in first.named_children():
            setattr(stacked, name, _stack_layers([getattr(m, name) for m in modules]))
        return stacked
    raise _Unsupported(f"no stacked version of {kind.__name__}")


class Replicas:
    """S independent copies of a module with stacked parameters, evaluated in one call.

    Two ways to run the copies, chosen when the replicas are built:

    * ensemble layers (``backend="ensemble"``, the default where possible): every
      ``nn.Linear`` becomes one batched product (``torch.baddbmm``), every
      ``nn.BatchNorm1d`` and :class:`~companion.symmetric.EquivariantLinear` a stacked
      version, and a spectrally normalised ``nn.Linear`` (:func:`companion.nets.spectral_normalise`)
      a stacked layer with a stacked normalisation, every :class:`~companion.nets.Dropout` a stacked
      one that draws each replica's masks from its own generator (:meth:`use_generators`); this covers
      the book's MLPs, the PacGAN-style generators and discriminators, the MLP discriminators with
      dropout and the vector :class:`~companion.symmetric.SymmetricDiscriminator`;
    * a vectorised map (``backend="vmap"``): :func:`torch.func.vmap` over
      :func:`torch.func.functional_call`, which runs any module (convolutional nets
      included) but costs more per operation.

    Args:
        make_module: builds one module; it is called once per seed right after
            ``torch.manual_seed(seed)``, so replica s starts where the plain run with
            ``torch.manual_seed(s); make_module()`` starts.
        seeds: one seed per replica (ints >= 0). Building the replicas re-seeds torch's
            global generator (it is left as after building the last replica).
        device: where the stacked parameters live (default: CPU).
        backend: ``"auto"`` (ensemble layers if the module allows it, else the vectorised
            map), ``"ensemble"`` or ``"vmap"``.

    Attributes:
        seeds: the seeds, in replica order.
        backend: the backend in use.
        params, buffers: dicts of stacked tensors, shape ``(S, *shape)`` each, named as in
            the module's ``state_dict``; the parameters are leaves that require grad (give
            them to one optimiser).
        rng_states: the CPU random-number state right after building each replica (see
            :meth:`continuation_generators`).
    """

    BACKENDS = ("auto", "ensemble", "vmap")

    def __init__(self, make_module: Callable[[], nn.Module], seeds: Iterable[int],
                 device: Union[str, torch.device, None] = None, backend: str = "auto") -> None:
        if not callable(make_module):
            raise TypeError(f"make_module must be callable; got {type(make_module).__name__}")
        if backend not in self.BACKENDS:
            raise ValueError(f"backend must be one of {self.BACKENDS}; got {backend!r}")
        self.seeds = check_seeds(seeds)
        device = torch.device("cpu") if device is None else torch.device(device)
        modules, self.rng_states = [], []
        for seed in self.seeds:
            torch.manual_seed(seed)
            module = make_module()
            if not isinstance(module, nn.Module):
                raise TypeError(f"make_module must return an nn.Module; got {type(module).__name__}")
            self.rng_states.append(torch.get_rng_state())
            modules.append(module.to(device))
        self._template = copy.deepcopy(modules[0])  # the structure, for module(s)
        self._stacked: Optional[nn.Module] = None
        if backend in ("auto", "ensemble"):
            try:
                with torch.no_grad():
                    self._stacked = _stack_layers(modules).to(device)
            except _Unsupported as why:
                if backend == "ensemble":
                    raise ValueError(f"backend='ensemble' cannot stack this module: {why}") from None
        if self._stacked is not None:
            self.backend = "ensemble"
            self.params: Dict[str, torch.Tensor] = dict(self._stacked.named_parameters())
            self.buffers: Dict[str, torch.Tensor] = dict(self._stacked.named_buffers())
        else:
            self.backend = "vmap"
            self.params, self.buffers = stack_module_state(modules)
        self.device = device
        self.training = modules[0].training

    def __len__(self) -> int:
        return len(self.seeds)

    def parameters(self) -> List[torch.Tensor]:
        """The stacked parameters (for an optimiser)."""
        return list(self.params.values())

    def train(self, mode: bool = True) -> "Replicas":
        """Training mode for every replica (batch norm uses and updates batch statistics)."""
        self.training = bool(mode)
        self._template.train(mode)
        if self._stacked is not None:
            self._stacked.train(mode)
        return self

    def eval(self) -> "Replicas":
        """Evaluation mode for every replica."""
        return self.train(False)

    def requires_grad_(self, flag: bool = True) -> "Replicas":
        """Switch gradients of every stacked parameter on or off (to freeze one player of a game)."""
        for p in self.params.values():
            p.requires_grad_(flag)
        return self

    def _call_one(self, params: Dict[str, torch.Tensor], buffers: Dict[str, torch.Tensor],
                  *inputs: torch.Tensor) -> torch.Tensor:
        return functional_call(self._template, (params, buffers), inputs)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Run every replica on its own slice of the inputs.

        Args:
            *inputs: tensors whose leading axis has length S (replica s gets ``input[s]``).

        Returns:
            The stacked outputs, shape ``(S, *output_shape)``.
        """
        for x in inputs:
            if not torch.is_tensor(x):
                raise TypeError(f"every input must be a torch.Tensor; got {type(x).__name__}")
            if x.dim() == 0 or x.shape[0] != len(self):
                raise ValueError(f"every input must have a leading replica axis of length {len(self)}; "
                                 f"got shape {tuple(x.shape)}")
        if self._stacked is not None:
            return self._stacked(*inputs)
        return vmap(self._call_one)(self.params, self.buffers, *inputs)

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """The stacked parameters and buffers, by name (copies): what a checkpoint of the replicas holds."""
        return {name: t.detach().clone() for name, t in {**self.params, **self.buffers}.items()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Set the stacked parameters and buffers from :meth:`state_dict`, in place (an optimiser
        holding the parameters keeps working on them)."""
        tensors = {**self.params, **self.buffers}
        if set(state) != set(tensors):
            raise ValueError(f"state must hold the tensors {sorted(tensors)}; got {sorted(state)}")
        with torch.no_grad():
            for name, t in tensors.items():
                if tuple(state[name].shape) != tuple(t.shape):
                    raise ValueError(f"state[{name!r}] must have shape {tuple(t.shape)}; "
                                     f"got {tuple(state[name].shape)}")
                t.copy_(state[name])

    def module(self, index: int) -> nn.Module:
        """Replica ``index`` as an ordinary module (a copy: training it leaves the replicas alone)."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self):
            raise ValueError(f"index must be an int in [0, {len(self)}); got {index!r}")
        module = copy.deepcopy(self._template)
        state = {name: t[index].detach().clone() for name, t in {**self.params, **self.buffers}.items()}
        module.load_state_dict(state)
        return module

    def use_generators(self, generators: Sequence[torch.Generator]) -> "Replicas":
        """Draw replica s's dropout masks from ``generators[s]`` (a :class:`~companion.nets.Dropout` draws
        from the default generator; stacked, each replica's from its own, so that one seed's masks do not
        depend on the others'). Give the generators that replica s's plain run draws its masks from, for
        example :meth:`continuation_generators`, to follow that run.

        Raises:
            TypeError: if ``generators`` is not a sequence of ``torch.Generator``.
            ValueError: if there is not one generator per replica, or the replicas run on the vectorised map.
        """
        generators = list(generators) if isinstance(generators, (list, tuple)) else generators
        if not isinstance(generators, list) or not all(isinstance(g, torch.Generator) for g in generators):
            raise TypeError(f"generators must be a list or tuple of torch.Generator; got {generators!r}")
        if len(generators) != len(self):
            raise ValueError(f"one generator per replica: {len(self)} needed, got {len(generators)}")
        if self._stacked is None:
            raise ValueError("only the ensemble backend draws masks per replica")
        for layer in self._stacked.modules():
            if isinstance(layer, _StackedDropout):
                layer.generators = generators
        return self

    def continuation_generators(self) -> List[torch.Generator]:
        """One CPU generator per replica that continues the global stream of its plain run.

        The plain run with seed s calls ``torch.manual_seed(s)``, builds its module and then
        draws with the global generator; the generator returned for replica s produces
        exactly those draws.
        """
        gens = []
        for state in self.rng_states:
            gen = torch.Generator()
            gen.set_state(state)
            gens.append(gen)
        return gens


def replica_generators(seeds: Iterable[int], device: Union[str, torch.device, None] = None) -> List[torch.Generator]:
    """One ``torch.Generator`` per seed, on ``device`` (default CPU), seeded with it."""
    device = torch.device("cpu") if device is None else torch.device(device)
    return [torch.Generator(device=device).manual_seed(seed) for seed in check_seeds(seeds)]


def stacked_randn(generators: Sequence[torch.Generator], *shape: int,
                  device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """Standard normal noise of shape ``(S, *shape)``, slice s drawn from ``generators[s]``.

    The draws happen on each generator's device and the result is moved to ``device``
    (default: the generators' device), so a CPU generator gives the same numbers whatever the
    device the model runs on.
    """
    if not generators:
        raise ValueError("generators must hold at least one torch.Generator")
    for g in generators:
        if not isinstance(g, torch.Generator):
            raise TypeError(f"every generator must be a torch.Generator; got {type(g).__name__}")
    out = torch.stack([torch.randn(*shape, generator=g, device=g.device) for g in generators])
    return out if device is None else out.to(device)


class StackedMinibatches:
    """Minibatches of one data set for S replicas, shape ``(S, batch, ...)``.

    Replica s draws its order from ``generators[s]`` exactly as
    :func:`companion.train.minibatches` does with that generator, so it sees the minibatches
    of the plain run.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, generators: Sequence[torch.Generator]) -> None:
        if not generators:
            raise ValueError("generators must hold at least one torch.Generator")
        self._streams: List[Iterator[torch.Tensor]] = [minibatches(data, batch_size, generator=g)
                                                       for g in generators]

    def __iter__(self) -> "StackedMinibatches":
        return self

    def __next__(self) -> torch.Tensor:
        return torch.stack([next(s) for s in self._streams])

    def state_dict(self) -> Dict[str, List[Dict[str, object]]]:
        """Every replica's iterator state (see :meth:`companion.train.Minibatches.state_dict`)."""
        return {"streams": [s.state_dict() for s in self._streams]}

    def load_state_dict(self, state: Mapping[str, Sequence[Mapping[str, object]]]) -> None:
        """Continue from a :meth:`state_dict` of stacked minibatches of the same data and replicas."""
        if len(state["streams"]) != len(self._streams):
            raise ValueError(f"state must hold {len(self._streams)} streams; got {len(state['streams'])}")
        for stream, saved in zip(self._streams, state["streams"]):
            stream.load_state_dict(saved)


class GeneratorListState:
    """A list of ``torch.Generator`` (one per replica) as something
    :func:`companion.train.train_loop`'s ``state`` can checkpoint."""

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        for g in generators:
            if not isinstance(g, torch.Generator):
                raise TypeError(f"every generator must be a torch.Generator; got {type(g).__name__}")
        self.generators = list(generators)

    def state_dict(self) -> Dict[str, List[torch.Tensor]]:
        """The generators' states, in order."""
        return {"states": [g.get_state() for g in self.generators]}

    def load_state_dict(self, state: Mapping[str, Sequence[torch.Tensor]]) -> None:
        """Set the generators' states from :meth:`state_dict`."""
        if len(state["states"]) != len(self.generators):
            raise ValueError(f"state must hold {len(self.generators)} generator states; got {len(state['states'])}")
        for g, saved in zip(self.generators, state["states"]):
            g.set_state(saved)
