"""Long runs that survive their machine: checkpoints every N minutes and ``--resume``.

``python -m companion reproduce ID --scale paper --out DIR --checkpoint-every 30`` runs the
experiment inside :func:`checkpointing`. While it is active, every
:func:`companion.train.train_loop` that was given its ``state`` (models, optimisers,
schedulers, minibatch iterators: anything with ``state_dict``/``load_state_dict``) saves, at
most every ``every_minutes`` and when it ends, one checkpoint file per call::

    DIR/<chapter>/<name>.checkpoints/call-003.pt
        {"call", "desc", "n_steps", "step" (the next step to run), "completed",
         "state" (the state dicts), "rng" (torch, CUDA, NumPy and Python), "history"}

saved atomically (:func:`save_checkpoint`; a kill mid-save leaves the previous
file). ``--resume`` runs the experiment again from its start with the same seed, so the code
between the training loops (data, initialisation, evaluation) repeats exactly; each loop
whose checkpoint says it completed loads its final state and random-number states and skips
its steps; the loop that was interrupted loads its last checkpoint and continues. The final
numbers are those of an uninterrupted run (``tests/test_runs.py`` checks it).

A loop called without ``state`` cannot be skipped and simply runs again; it still counts, so
the numbering of the calls stays the same. Under ``torchrun`` only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

import numpy as np
import torch

from .distributed import is_main

__all__ = ["GeneratorState", "RunCheckpoints", "active_run", "checkpoint_files", "checkpointing", "load_checkpoint",
           "rng_state", "save_checkpoint", "set_rng_state"]

_ACTIVE: Optional["RunCheckpoints"] = None


def rng_state() -> Dict[str, Any]:
    """The states of torch's (CPU and CUDA), NumPy's and Python's global generators, as tensors
    and lists (loadable with ``weights_only=True``)."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the generators from :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


class GeneratorState:
    """A ``torch.Generator`` as something :func:`companion.train.train_loop`'s ``state`` can
    checkpoint (``state={"sets": GeneratorState(gen), ...}``)."""

    def __init__(self, generator: torch.Generator) -> None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator; got {type(generator).__name__}")
        self.generator = generator

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """The generator's state."""
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Set the generator's state."""
        self.generator.set_state(state["state"])


class RunCheckpoints:
    """The checkpoints of one run, in ``folder``; made by :func:`checkpointing`.

    Args:
        folder: where the ``call-NNN.pt`` files live.
        every_minutes: save a running loop at most this often (0: after every step).
        resume: continue from the files in ``folder`` instead of starting afresh.
        manifest: what identifies the run (experiment id, configuration); a resume of a
            different run is refused.
    """

    def __init__(self, folder: Union[str, Path], every_minutes: float, resume: bool,
                 manifest: Optional[Mapping[str, Any]] = None) -> None:
        if isinstance(every_minutes, bool) or not isinstance(every_minutes, (int, float)) or not every_minutes >= 0:
            raise ValueError(f"every_minutes must be a number >= 0; got {every_minutes!r}")
        self.folder = Path(folder)
        self.every_s = 60.0 * float(every_minutes)
        self.resume = bool(resume)
        self.calls = 0  # train_loop calls seen so far in this run
        self._last_save = time.monotonic()
        manifest = dict(manifest or {})
        path = self.folder / "run.json"
        if self.resume and path.is_file():
            saved = json.loads(path.read_text())
            if saved != json.loads(json.dumps(manifest)):
                raise ValueError(
                    f"the checkpoints in {self.folder} belong to another run ({saved}); resume with the "
                    "same experiment and configuration, or start afresh without --resume"
                )
        elif is_main():
            self.folder.mkdir(parents=True, exist_ok=True)
            for old in self.folder.glob("call-*.pt"):  # a fresh run must not resume from an old one
                old.unlink()
            path.write_text(json.dumps(manifest, indent=2, sort_keys=True))

    def path(self, call: int) -> Path:
        """The checkpoint file of the ``call``-th training loop of the run (from 0)."""
        return self.folder / f"call-{call:03d}.pt"

    def begin(self, desc: str, n_steps: int, state: Optional[Mapping[str, Any]], history: Any) -> int:
        """Number this loop; on resume, load its checkpoint. Returns the first step to run."""
        call = self.calls
        self.calls += 1
        self._last_save = time.monotonic()
        if state is None or not self.resume or not self.path(call).is_file():
            return 0
        saved = load_checkpoint(self.path(call))
        if (saved["desc"], saved["n_steps"], sorted(saved["state"])) != (desc, n_steps, sorted(state)):
            raise ValueError(
                f"checkpoint {self.path(call)} is of loop {saved['desc']!r} ({saved['n_steps']} steps, state "
                f"{sorted(saved['state'])}); this run's loop {call} is {desc!r} ({n_steps} steps, state "
                f"{sorted(state)}): the run changed since it was checkpointed"
            )
        for name, obj in state.items():
            obj.load_state_dict(saved["state"][name])
        history.load_state_dict(saved["history"])
        set_rng_state(saved["rng"])
        return int(saved["step"])

    def save(self, desc: str, n_steps: int, next_step: int, state: Mapping[str, Any], history: Any) -> None:
        """Write the checkpoint of the current loop (on rank 0 only)."""
        self._last_save = time.monotonic()
        if not is_main():
            return
        save_checkpoint({
            "call": self.calls - 1,
            "desc": desc,
            "n_steps": n_steps,
            "step": next_step,
            "completed": next_step >= n_steps,
            "state": {name: obj.state_dict() for name, obj in state.items()},
            "rng": rng_state(),
            "history": history.state_dict(),
        }, self.path(self.calls - 1))

    def due(self) -> bool:
        """Whether ``every_minutes`` have passed since the last save."""
        return time.monotonic() - self._last_save >= self.every_s


def active_run() -> Optional[RunCheckpoints]:
    """The run :func:`checkpointing` made active, or ``None``."""
    return _ACTIVE


@contextlib.contextmanager
def checkpointing(folder: Union[str, Path], every_minutes: float = 30.0, resume: bool = False,
                  manifest: Optional[Mapping[str, Any]] = None) -> Iterator[RunCheckpoints]:
    """Checkpoint every :func:`companion.train.train_loop` given a ``state`` inside this block.

    Seed the run inside the block (the experiments do, from their configuration): a resume
    repeats the run from its start and relies on it doing the same thing again.
    """
    global _ACTIVE
    if _ACTIVE is not None:
        raise RuntimeError("a checkpointed run is already active; runs do not nest")
    _ACTIVE = RunCheckpoints(folder, every_minutes, resume, manifest)
    try:
        yield _ACTIVE
    finally:
        _ACTIVE = None


def checkpoint_files(folder: Union[str, Path]) -> List[Path]:
    """The ``call-NNN.pt`` files in ``folder``, in call order.

    Raises:
        TypeError: if ``folder`` is not a path.
        FileNotFoundError: if ``folder`` does not exist (a mistyped run folder would otherwise read
            as a run with no checkpoints).
        NotADirectoryError: if ``folder`` is a file.
    """
    if not isinstance(folder, (str, Path)):
        raise TypeError(f"folder must be a str or pathlib.Path; got {type(folder).__name__}")
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"no checkpoint folder {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a checkpoint folder")
    return sorted(folder.glob("call-*.pt"))


def save_checkpoint(state: Mapping[str, Any], path: Union[str, Path]) -> Path:
    """Save ``state`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically.

    The state is written to a temporary file in the same folder and then renamed, so a run
    killed mid-save never leaves a truncated checkpoint behind.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping (for example a state_dict); got {type(state).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(dict(state), handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: Union[str, Path], map_location: Optional[Union[str, torch.device]] = None) -> Dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)
