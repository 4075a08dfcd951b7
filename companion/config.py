"""Experiment configurations that know the three scales.

Every experiment of the book has a configuration dataclass that derives from
:class:`ExperimentConfig` and lists, in ``SCALES``, what changes between ``smoke``,
``book`` and ``paper``. ``Config.for_scale(scale)`` builds it::

    @dataclass
    class RingConfig(ExperimentConfig):
        n_steps: int = 2000
        seed: int = 0
        SCALES = {"smoke": {"n_steps": 20}, "book": {}, "paper": {"n_steps": 50_000}}

    cfg = RingConfig.for_scale("smoke")          # n_steps=20, scale="smoke"
    cfg = RingConfig.for_scale(None, seed=3)     # scale from COMPANION_SCALE, seed overridden

The dataclass defaults are the ``book`` values; ``SCALES`` holds only the differences, so
a reader sees at a glance what ``paper`` scale costs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Type, TypeVar

from . import SCALES, get_scale

C = TypeVar("C", bound="ExperimentConfig")

__all__ = ["ExperimentConfig"]


@dataclasses.dataclass
class ExperimentConfig:
    """Base class of experiment configurations (subclasses must be dataclasses).

    Attributes:
        scale: the scale the configuration was built for.
        SCALES: class-level mapping from scale name to the field values that differ from
            the dataclass defaults at that scale.
    """

    scale: str = "book"
    SCALES: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    @classmethod
    def for_scale(cls: Type[C], scale: Optional[str] = None, **overrides: Any) -> C:
        """Build the configuration for ``scale`` (see :func:`companion.get_scale`).

        Args:
            scale: ``"smoke"``, ``"book"``, ``"paper"`` or ``None`` (environment, then book).
            **overrides: field values that win over the scale's presets.

        Raises:
            ValueError: for an unknown scale.
            TypeError: for an override that is not a field of the configuration.
        """
        scale = get_scale(scale)
        unknown_scales = set(cls.SCALES) - set(SCALES)
        if unknown_scales:
            raise ValueError(f"{cls.__name__}.SCALES has unknown scales {sorted(unknown_scales)}")
        names = {f.name for f in dataclasses.fields(cls)}
        values: Dict[str, Any] = dict(cls.SCALES.get(scale, {}))
        bad = (set(values) | set(overrides)) - names
        if bad:
            raise TypeError(
                f"{cls.__name__} has no field(s) {sorted(bad)}; its fields are {sorted(names)}"
            )
        values.update(overrides)
        values["scale"] = scale
        return cls(**values)

    def to_dict(self) -> Dict[str, Any]:
        """The configuration as a JSON-friendly dict."""
        return dataclasses.asdict(self)
