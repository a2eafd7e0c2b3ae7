"""The resumable training state (a run's checkpoint.pt): one typed object, one loader.

Layout (a dict saved with ``torch.save``, read with ``weights_only=True``), version 2::

    format          "faceedit-training-state"
    format_version  2
    config          the run's TrainConfig as a dict
    prepared        the prepared dataset's folder
    step            steps done
    networks        network name → state dict (the names of the family's network table)
    optimisers      network name → its optimiser's state dict
    rng             {"torch": the CPU generator's state}
    digest          SHA-256 of everything above (faceedit.core.digest), checked on load

The run keeps the last two good states: ``checkpoint.pt`` and ``checkpoint-previous.pt``.
A resume whose newest state is damaged falls back to the previous one and says so.

Version 1 (written before the network table) kept the ExprGAN networks and optimisers at
the top level: ``generator``, ``d_img``, ``d_z``, ``d_expr`` and ``opt_g``, ``opt_d_img``,
``opt_d_z``, ``opt_d_expr`` (the ``d_expr`` pair is absent in the oldest states). It is
still read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from faceedit.core.digest import payload_digest
from faceedit.core.errors import FaceeditError
from faceedit.core.models.file import TRAINING_STATE_FORMAT
from faceedit.training.runs import PREVIOUS_CHECKPOINT_NAME

STATE_VERSION = 2

# Version 1's top-level keys: network name → (its weights' key, its optimiser's key).
_VERSION_1_KEYS = {
    "generator": ("generator", "opt_g"),
    "d_img": ("d_img", "opt_d_img"),
    "d_z": ("d_z", "opt_d_z"),
    "d_expr": ("d_expr", "opt_d_expr"),
}


@dataclass
class TrainingState:
    """Everything a run needs to continue exactly where it stopped."""

    step: int
    config: dict[str, Any]  # TrainConfig.to_dict()
    prepared: str
    networks: dict[str, dict[str, torch.Tensor]]  # network name → state dict
    optimisers: dict[str, dict[str, Any]]  # network name → optimiser state dict
    rng: dict[str, torch.Tensor] = field(default_factory=dict)  # {"torch": CPU RNG state}

    def to_payload(self) -> dict[str, Any]:
        """The dict written to checkpoint.pt (current version)."""
        return {
            "format": TRAINING_STATE_FORMAT,
            "format_version": STATE_VERSION,
            "config": self.config,
            "prepared": self.prepared,
            "step": self.step,
            "networks": self.networks,
            "optimisers": self.optimisers,
            "rng": self.rng,
        }

    @classmethod
    def from_payload(cls, payload: Any, source: str = "the training state") -> TrainingState:
        """A state from a loaded payload of any known version; :class:`FaceeditError` in one line otherwise."""
        if not isinstance(payload, dict) or payload.get("format") != TRAINING_STATE_FORMAT:
            raise FaceeditError(f"{source} is not a faceedit training state")
        version = payload.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise FaceeditError(f"{source} has no valid format version ({version!r})")
        if version > STATE_VERSION:
            raise FaceeditError(
                f"{source} was written by a newer faceedit-train (state version {version}; this one reads up to {STATE_VERSION})"
            )
        if version == 1:
            networks = {name: payload[key] for name, (key, _) in _VERSION_1_KEYS.items() if key in payload}
            optimisers = {name: payload[key] for name, (_, key) in _VERSION_1_KEYS.items() if key in payload}
        else:
            networks, optimisers = payload.get("networks"), payload.get("optimisers")
        missing = [key for key in ("config", "step", "rng") if key not in payload]
        if "digest" in payload:
            try:
                intact = payload["digest"] == payload_digest(payload)
            except (TypeError, ValueError, AttributeError, RuntimeError):
                intact = False
            if not intact:
                raise FaceeditError(f"{source} is damaged: its contents do not match the digest written with it")
        if missing or not isinstance(networks, dict) or not isinstance(optimisers, dict):
            raise FaceeditError(f"{source} is incomplete (missing {', '.join(missing) or 'networks or optimisers'})")
        return cls(
            step=int(payload["step"]),
            config=dict(payload["config"]),
            prepared=str(payload.get("prepared", "")),
            networks=dict(networks),
            optimisers=dict(optimisers),
            rng=dict(payload["rng"]),
        )

    def save(self, path: Path) -> None:
        """Write atomically and durably, with a digest; the state it replaces becomes the previous one.

        A crash at any moment leaves a complete newest state, or the previous one to fall back to.
        """
        from faceedit.core.atomic import atomic_path

        payload = self.to_payload()
        payload["digest"] = payload_digest(payload)
        with atomic_path(path, overwrite=True) as tmp:
            torch.save(payload, tmp)
            if path.exists():  # before the new state is renamed into place
                os.replace(path, path.with_name(PREVIOUS_CHECKPOINT_NAME))


def _read_state(path: Path) -> TrainingState:
    if not path.exists():
        raise FaceeditError(f"no training state at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises assorted types for damaged or foreign files
        raise FaceeditError(f"{path} is not a readable training state ({type(error).__name__})") from error
    return TrainingState.from_payload(payload, source=str(path))


def _note(message: str) -> None:
    print(f"faceedit-train: note: {message}", file=sys.stderr, flush=True)


def load_state(path: Path, note: Callable[[str], None] = _note) -> TrainingState:
    """The training state at ``path``, loaded safely and verified; a one-line :class:`FaceeditError` otherwise.

    When ``path`` is missing or damaged and the run holds the previous state, that one is
    loaded instead, and ``note`` says so (stderr by default).
    """
    previous = path.with_name(PREVIOUS_CHECKPOINT_NAME)
    try:
        return _read_state(path)
    except FaceeditError as error:
        if not previous.exists():
            raise
        state = _read_state(previous)
        note(f"{error}; resuming from the previous checkpoint instead (step {state.step})")
        return state
