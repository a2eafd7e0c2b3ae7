"""Expression names and slider semantics. Pure Python + numpy (the GUI may import this).

A slider state (:class:`ExpressionTargets`) holds, per expression, a target intensity in
[0, 1] or ``None``. Resolving it against the intensities recognised in a face gives the
six intensities to render: an expression not set keeps its recognised intensity, and
several non-zero expressions mix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

EXPRESSIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
"""The six expressions, in Oulu-CASIA order (the order of the model's code blocks)."""

NEUTRAL = "neutral"
NEUTRAL_START: tuple[float, ...] = (0.0,) * len(EXPRESSIONS)
"""A neutral face's intensities: where "Face Is Neutral" (``--as-neutral``) starts a face."""
DOMINANT_THRESHOLD = 0.5
"""A face whose strongest intensity is below this is called neutral."""


def _check_intensity(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0 or value != value:
        raise ValueError(f"{name} intensity must be between 0 and 1, not {value}")
    return value


@dataclass(frozen=True)
class ExpressionTargets:
    """An immutable slider state: one target per expression, ``None`` = keep recognised."""

    values: tuple[float | None, ...] = (None,) * len(EXPRESSIONS)

    def __post_init__(self) -> None:
        if len(self.values) != len(EXPRESSIONS):
            raise ValueError(f"expected {len(EXPRESSIONS)} targets, got {len(self.values)}")
        for name, value in zip(EXPRESSIONS, self.values):
            if value is not None:
                _check_intensity(name, value)

    @classmethod
    def from_mapping(cls, targets: Mapping[str, float | None]) -> ExpressionTargets:
        unknown = set(targets) - set(EXPRESSIONS)
        if unknown:
            raise ValueError(f"unknown expression {sorted(unknown)[0]!r}; known: {', '.join(EXPRESSIONS)}")
        return cls(tuple(targets.get(name) for name in EXPRESSIONS))

    @classmethod
    def exactly(cls, intensities: Sequence[float]) -> ExpressionTargets:
        """Targets that set all six expressions (nothing is kept from the face)."""
        return cls(tuple(float(v) for v in intensities))

    def with_value(self, name: str, value: float | None) -> ExpressionTargets:
        index = EXPRESSIONS.index(name)
        values = list(self.values)
        values[index] = value
        return ExpressionTargets(tuple(values))

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in self.values)

    def resolve(self, recognised: Sequence[float]) -> np.ndarray:
        """The six intensities to render for a face whose recognised intensities are given."""
        return np.array(
            [r if t is None else t for t, r in zip(self.values, recognised)], dtype=np.float32
        )

    def as_dict(self) -> dict[str, float | None]:
        return dict(zip(EXPRESSIONS, self.values))


def dominant_expression(intensities: Sequence[float]) -> tuple[str, float]:
    """The strongest expression and its intensity, or ("neutral", 1 − max) below threshold."""
    values = np.asarray(intensities, dtype=np.float64)
    index = int(values.argmax())
    if values[index] < DOMINANT_THRESHOLD:
        return NEUTRAL, float(1.0 - values[index])
    return EXPRESSIONS[index], float(values[index])
