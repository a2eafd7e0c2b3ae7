"""The faceedit model file: one torch file of tensors and plain values, loaded safely.

Layout (a dict saved with ``torch.save``)::

    format          "faceedit-model"
    format_version  1
    config          ModelConfig as a dict (architecture: nothing is re-typed as flags)
    expressions     the six expression names, in code-block order
    normalisation   how pixels map to the model's input ([0, 255] → [−1, 1], RGB or luma)
    template        the 5-point alignment template the model was trained with
    provenance      data, steps, commit, date, notes (plain strings and ints)
    metrics         name → number, from evaluation (may be empty)
    state_dict      the Generator's tensors (float32 or float16)

Files are read with ``torch.load(weights_only=True)``, which refuses pickles that would run
code; every way a file can be wrong ends in a :class:`ModelFileError` with one clear line.
A trainer's resumable state (optimisers, RNG) is a different file with its own format name.
"""

from __future__ import annotations

import datetime as _dt
import pickle
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceedit.core.alignment import TEMPLATE_5
from faceedit.core.atomic import atomic_path
from faceedit.core.errors import ModelFileError
from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.model import Generator, ModelConfig

FORMAT_NAME = "faceedit-model"
FORMAT_VERSION = 1
TRAINING_STATE_FORMAT = "faceedit-training-state"


@dataclass(frozen=True)
class Provenance:
    """Where a model came from. Free text where the trainer has no better value."""

    data: str = "unknown"
    steps: int = 0
    commit: str = "unknown"
    date: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    notes: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """Everything in a model file except the weights."""

    path: Path
    config: ModelConfig
    expressions: tuple[str, ...]
    template: np.ndarray
    provenance: Provenance
    metrics: dict[str, float]
    parameters: int
    storage_dtype: str

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference: the Generator in eval mode on ``device``."""

    info: ModelInfo
    generator: Generator
    device: torch.device


def save_model(
    path: Path | str,
    generator: Generator,
    *,
    provenance: Provenance | None = None,
    metrics: dict[str, float] | None = None,
    template: np.ndarray = TEMPLATE_5,
    half: bool = False,
    overwrite: bool = False,
) -> None:
    """Write ``generator`` as a model file, atomically. ``half`` stores float16 weights."""
    state = {
        name: (t.detach().cpu().half() if half and t.is_floating_point() else t.detach().cpu()).contiguous()
        for name, t in generator.state_dict().items()
    }
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": generator.config.to_dict(),
        "expressions": list(EXPRESSIONS[: generator.config.num_expressions]),
        "normalisation": {"range": [-1.0, 1.0], "channels": "rgb" if generator.config.image_channels == 3 else "luma"},
        "template": np.asarray(template, dtype=np.float64).tolist(),
        "provenance": asdict(provenance or Provenance()),
        "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
        "state_dict": state,
    }
    with atomic_path(path, overwrite=overwrite) as tmp:
        torch.save(payload, tmp)


def _read_payload(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message is long; the line naming a GLOBAL or class says what was refused.
        refused = [line.strip() for line in str(error).splitlines() if "GLOBAL" in line or "Unsupported global" in line]
        if refused:
            raise ModelFileError(
                f"{path} is refused: it holds Python objects that a safe load will not run ({refused[0][:120]})"
            ) from error
        raise ModelFileError(f"{path} is not a readable model file (damaged, truncated or of another kind)") from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        raise ModelFileError(f"{path} is not a readable model file (damaged, truncated or of another kind)") from error
    except Exception as error:  # torch raises assorted types for arbitrary bytes
        raise ModelFileError(f"{path} is not a readable model file ({type(error).__name__})") from error
    if not isinstance(payload, dict) or "format" not in payload:
        hint = " (it looks like a bare state dict)" if isinstance(payload, dict) else ""
        raise ModelFileError(f"{path} is not a faceedit model: it has no faceedit header{hint}")
    if payload["format"] == TRAINING_STATE_FORMAT:
        raise ModelFileError(f"{path} is a training state, not a model: export it with `faceedit-train export`")
    if payload["format"] != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a faceedit model (format {payload['format']!r})")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was made by a newer faceedit (model format {version}; this version reads up to {FORMAT_VERSION})"
        )
    return payload


def _info_from_payload(path: Path, payload: dict[str, Any]) -> ModelInfo:
    try:
        config = ModelConfig.from_dict(dict(payload["config"]))
        expressions = tuple(str(e) for e in payload["expressions"])
        template = np.asarray(payload["template"], dtype=np.float64)
        provenance = Provenance(**dict(payload.get("provenance", {})))
        metrics = {str(k): float(v) for k, v in dict(payload.get("metrics", {})).items()}
        state = payload["state_dict"]
        parameters = sum(int(t.numel()) for t in state.values())
        dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in state.values() if t.is_floating_point()})
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{path} is a faceedit model with a damaged header ({error})") from error
    if template.shape != TEMPLATE_5.shape:
        raise ModelFileError(f"{path} has an alignment template of shape {template.shape}, expected {TEMPLATE_5.shape}")
    if len(expressions) != config.num_expressions:
        raise ModelFileError(f"{path} names {len(expressions)} expressions but its network has {config.num_expressions}")
    return ModelInfo(path, config, expressions, template, provenance, metrics, parameters, "/".join(dtypes))


def read_model_info(path: Path | str) -> ModelInfo:
    """Read and check a model file's header without building the network."""
    path = Path(path)
    return _info_from_payload(path, _read_payload(path))


def load_model(path: Path | str, device: torch.device | str = "cpu") -> LoadedModel:
    """Load a model file for inference (float32, eval mode, no gradients) on ``device``."""
    path = Path(path)
    payload = _read_payload(path)
    info = _info_from_payload(path, payload)
    generator = Generator(info.config)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()}
    try:
        result = generator.load_state_dict(state, strict=False)
    except RuntimeError as error:  # tensor shapes disagree with the stored config
        raise ModelFileError(f"{path} does not match its own configuration (tensor shapes differ)") from error
    if result.missing_keys or result.unexpected_keys:
        parts = []
        if result.missing_keys:
            parts.append(f"missing {', '.join(result.missing_keys[:3])}")
        if result.unexpected_keys:
            parts.append(f"unexpected {', '.join(result.unexpected_keys[:3])}")
        raise ModelFileError(f"{path} does not match its own configuration: {'; '.join(parts)}")
    generator.requires_grad_(False)
    generator.eval()
    device = torch.device(device)
    return LoadedModel(info, generator.to(device), device)
