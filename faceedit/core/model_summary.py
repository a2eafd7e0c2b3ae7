"""A model file's description for people: Model → Info in the app, ``faceedit info`` on the command line.

Free of torch and Qt: it reads a :class:`~faceedit.core.models.file.ModelInfo` already loaded.
Paths of the machine that built a model (``/work/b6/bundled128`` in its provenance) mean
nothing elsewhere, so they are cut to their last component.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceedit.core.models.file import ModelInfo

MODEL_CARD = "MODEL_CARD.md"  # read when it sits beside the model file

# An absolute POSIX path (/a/b/c) or Windows path (C:\a\b) not inside a URL or a relative path.
_POSIX_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.+@-]+/)*([\w.+@-]+)/?")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\(?:[^\\\s;,()]+\\)*([^\\\s;,()]+)\\?")


def shorten_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its last component ("/work/b6/x" → "x")."""
    return _WINDOWS_PATH.sub(r"\1", _POSIX_PATH.sub(r"\1", text))


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def _times(value: float) -> str:
    return f"{value:.2f} × the photo's"


# (metric, label, how its value reads, what it means): the numbers that matter, in this order.
KEY_METRICS: tuple[tuple[str, str, Callable[[float], str], str], ...] = (
    ("summary/expression_accuracy", "Expression reached", _percent,
     "edited held-out faces the judge reads as the asked expression, at intensity 1.0"),
    ("summary/identity_distance", "Identity distance", lambda v: f"{v:.2f}",
     "dlib distance between face and edit (same person below {threshold})"),
    ("summary/identity_same_person_rate", "Still the same person", _percent,
     "edits dlib takes for the same person"),
    ("summary/monotonicity", "Intensity follows the slider", lambda v: f"{v:.2f}",
     "rank correlation of slider and expression (1 = always stronger)"),
    ("summary/sharpness_ratio", "Sharpness kept", _times, "face sharpness after / before"),
    ("summary/saturation_ratio", "Colour kept", _times, "face saturation after / before"),
)


@dataclass(frozen=True)
class KeyMetric:
    """One number that matters, as a readable line."""

    label: str  # "Identity distance"
    value: str  # "0.21"
    meaning: str  # what the number says


def key_metrics(metrics: Mapping[str, float]) -> tuple[KeyMetric, ...]:
    """The few metrics worth reading, those the file has, readable."""
    threshold = metrics.get("identity_distance/threshold", 0.6)
    return tuple(
        KeyMetric(label, show(metrics[name]), meaning.format(threshold=f"{threshold:g}"))
        for name, label, show, meaning in KEY_METRICS if name in metrics
    )


@dataclass(frozen=True)
class ModelDetails:
    """What Model → Info shows about a loaded model (built on the engine's thread)."""

    file_name: str
    family: str  # "ExprGAN"
    paper: str
    network: str  # one line: size, channels, width
    parameters: int
    storage: str  # "float16"
    expressions: tuple[str, ...]
    runs_on: str  # device and precision
    verified: bool
    data: str  # training data and its terms, build-machine paths shortened
    notes: str  # likewise
    steps: int
    commit: str
    date: str
    key_metrics: tuple[KeyMetric, ...]
    metrics: tuple[tuple[str, float], ...]  # every metric, by name
    model_card: str | None = None  # Markdown of a MODEL_CARD.md beside the file

    @property
    def integrity(self) -> str:
        return ("verified by its digest" if self.verified
                else "not verifiable (written before model files carried a digest)")


def read_model_card(model_path: Path) -> str | None:
    """The text of the MODEL_CARD.md beside ``model_path``, or None."""
    card = Path(model_path).parent / MODEL_CARD
    try:
        return card.read_text(encoding="utf-8") if card.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None


def model_details(info: ModelInfo, runs_on: str) -> ModelDetails:
    """Everything Model → Info shows, from a model file's info; ``runs_on``: device, precision."""
    p = info.provenance
    return ModelDetails(
        file_name=info.path.name,
        family=info.family.title,
        paper=info.family.paper,
        network=info.describe(),
        parameters=info.parameters,
        storage=info.storage_dtype,
        expressions=tuple(info.expressions),
        runs_on=runs_on,
        verified=info.verified,
        data=shorten_paths(p.data),
        notes=shorten_paths(p.notes),
        steps=p.steps,
        commit=p.commit,
        date=p.date,
        key_metrics=key_metrics(info.metrics),
        metrics=tuple(sorted(info.metrics.items())),
        model_card=read_model_card(info.path),
    )
