"""The faceedit model file: one torch file of tensors and plain values, loaded safely.

Layout (a dict saved with ``torch.save``)::

    format          "faceedit-model"
    format_version  2 (version 1 files have no family field: they are ExprGAN)
    family          the model family ("exprgan"; faceedit.core.models.families)
    config          the family's config as a dict (architecture: nothing is re-typed as flags)
    expressions     the six expression names, in code-block order
    normalisation   the PixelFormat: [0, 255] → [−1, 1], RGB or luma (checked on load)
    template        the 5-point alignment template the model was trained with
    provenance      data, steps, commit, date, notes (plain strings and ints)
    metrics         name → number, from evaluation (may be empty)
    state_dict      the family network's tensors (float32 or float16)
    digest          SHA-256 of everything above (faceedit.core.digest): checked on load, so a
                    damaged file is refused
                    (torch's zip reader checks no checksums). Files written before it load with
                    a note that they cannot be verified.

Files are read with ``torch.load(weights_only=True)``, which refuses pickles that would run
code; every way a file can be wrong ends in a :class:`ModelFileError` with one clear line.
A trainer's resumable state (optimisers, RNG) is a different file with its own format name.
"""

from __future__ import annotations

import datetime as _dt
import pickle
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceedit.core.alignment import TEMPLATE_5
from faceedit.core.atomic import atomic_path
from faceedit.core.device import FP32, Precision, resolve_precision
from faceedit.core.digest import payload_digest
from faceedit.core.errors import ModelFileError
from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.models.contract import FaceModel, FamilyConfig, ModelFamily
from faceedit.core.models.families import DEFAULT_FAMILY, FAMILIES, family_named
from faceedit.core.models.pixels import PixelFormat

FORMAT_NAME = "faceedit-model"
FORMAT_VERSION = 2
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
    family: ModelFamily
    config: FamilyConfig
    pixels: PixelFormat
    expressions: tuple[str, ...]
    template: np.ndarray
    provenance: Provenance
    metrics: dict[str, float]
    parameters: int
    storage_dtype: str
    verified: bool = True  # False: written before files carried a digest (not checked)

    @property
    def name(self) -> str:
        return self.path.stem

    def describe(self) -> str:
        """One line: family, size, channels, width (``faceedit info``, the status bar)."""
        return self.family.describe(self.config)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference: the family's network in eval mode on ``device``."""

    info: ModelInfo
    network: FaceModel  # an nn.Module implementing the family contract
    device: torch.device
    precision: Precision = FP32  # what its forward passes run at (autocast)


def save_model(
    path: Path | str,
    network: torch.nn.Module,
    *,
    provenance: Provenance | None = None,
    metrics: dict[str, float] | None = None,
    template: np.ndarray = TEMPLATE_5,
    half: bool = False,
    overwrite: bool = False,
    family_name: str | None = None,
) -> None:
    """Write a family's ``network`` as a model file, atomically. ``half`` stores float16 weights.

    ``family`` defaults to the family whose ``build`` made the network's class.
    """
    config = network.config
    family = family_named(family_name) if family_name else _family_of(network)
    state = {
        name: (t.detach().cpu().half() if half and t.is_floating_point() else t.detach().cpu()).contiguous()
        for name, t in network.state_dict().items()
    }
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "family": family.name,
        "config": config.to_dict(),
        "expressions": list(EXPRESSIONS[: config.num_expressions]),
        "normalisation": PixelFormat.for_channels(config.image_channels).to_dict(),
        "template": np.asarray(template, dtype=np.float64).tolist(),
        "provenance": asdict(provenance or Provenance()),
        "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
        "state_dict": state,
    }
    payload["digest"] = payload_digest(payload)
    with atomic_path(path, overwrite=overwrite) as tmp:
        torch.save(payload, tmp)


def _family_of(network: torch.nn.Module) -> ModelFamily:
    """The registered family whose ``build`` made ``network``'s class."""
    for family in FAMILIES.values():
        if isinstance(family.build, type) and isinstance(network, family.build):
            return family
    raise ValueError(f"{type(network).__name__} is not the network of a registered model family; pass family_name")


def _read_payload(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    try:
        with warnings.catch_warnings():
            # An old or foreign pickle makes torch warn before it fails; the one line below says it all.
            warnings.simplefilter("ignore")
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
        family = family_named(str(payload.get("family", DEFAULT_FAMILY)))
    except KeyError as error:
        raise ModelFileError(f"{path} is a model of a family this faceedit does not have ({error.args[0]})") from error
    try:
        config = family.config_from_dict(dict(payload["config"]))
        pixels = PixelFormat.from_dict(dict(payload.get("normalisation") or {"range": [-1.0, 1.0], "channels": "rgb"}))
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
    verified = "digest" in payload
    if verified:
        try:
            intact = payload["digest"] == payload_digest(payload)
        except (TypeError, ValueError, AttributeError, RuntimeError) as error:  # a damaged header or tensor
            raise ModelFileError(f"{path} is damaged: its contents cannot be read back ({error})") from error
        if not intact:
            raise ModelFileError(f"{path} is damaged: its contents do not match the digest written with it "
                                 "(download or export it again)")
    if pixels.image_channels != config.image_channels:
        raise ModelFileError(
            f"{path} stores {pixels.channels} pixels but its network takes {config.image_channels} channel(s)"
        )
    return ModelInfo(path, family, config, pixels, expressions, template, provenance, metrics, parameters,
                     "/".join(dtypes), verified)


def read_model_info(path: Path | str) -> ModelInfo:
    """Read and check a model file's header without building the network."""
    path = Path(path)
    return _info_from_payload(path, _read_payload(path))


def load_model(path: Path | str, device: torch.device | str = "cpu", precision: str | None = None) -> LoadedModel:
    """Load a model file for inference (float32 weights, eval mode, no gradients) on ``device``.

    ``precision`` ("auto", "fp32", "bf16"; None: $FACEEDIT_PRECISION, else auto) is what
    the editor's forward passes run at (:func:`faceedit.core.device.resolve_precision`).
    """
    path = Path(path)
    payload = _read_payload(path)
    info = _info_from_payload(path, payload)
    network = info.family.build(info.config)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()}
    broken = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if broken is not None:
        raise ModelFileError(f"{path} is damaged: its weights {broken} are not finite numbers")
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as error:  # tensor shapes disagree with the stored config
        raise ModelFileError(f"{path} does not match its own configuration (tensor shapes differ)") from error
    if result.missing_keys or result.unexpected_keys:
        parts = []
        if result.missing_keys:
            parts.append(f"missing {', '.join(result.missing_keys[:3])}")
        if result.unexpected_keys:
            parts.append(f"unexpected {', '.join(result.unexpected_keys[:3])}")
        raise ModelFileError(f"{path} does not match its own configuration: {'; '.join(parts)}")
    network.requires_grad_(False)
    network.eval()
    device = torch.device(device)
    return LoadedModel(info, network.to(device), device, resolve_precision(precision, device))


def in_memory_model(
    network: torch.nn.Module, name: str = "in-memory", device: torch.device | str = "cpu", precision: str = "fp32"
) -> LoadedModel:
    """A :class:`LoadedModel` around a network that was never saved (benchmarks, tests).

    The network is put in eval mode without gradients, as :func:`load_model` does.
    """
    config = network.config
    info = ModelInfo(
        Path(name), _family_of(network), config, PixelFormat.for_channels(config.image_channels),
        tuple(EXPRESSIONS[: config.num_expressions]), TEMPLATE_5, Provenance(), {},
        sum(p.numel() for p in network.parameters()), "float32",
    )
    network.requires_grad_(False)
    network.eval()
    device = torch.device(device)
    return LoadedModel(info, network.to(device), device, resolve_precision(precision, device))
