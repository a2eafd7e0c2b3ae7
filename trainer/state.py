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

Version 1 (written before the network table) kept the ExprGAN networks and optimisers at
the top level: ``generator``, ``d_img``, ``d_z``, ``d_expr`` and ``opt_g``, ``opt_d_img``,
``opt_d_z``, ``opt_d_expr`` (the ``d_expr`` pair is absent in the oldest states). It is
still read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from faceedit.core.errors import FaceeditError
from faceedit.core.models.file import TRAINING_STATE_FORMAT

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
        """Write atomically: a crash mid-write leaves the previous checkpoint in place."""
        from faceedit.core.atomic import atomic_path

        with atomic_path(path, overwrite=True) as tmp:
            torch.save(self.to_payload(), tmp)


def load_state(path: Path) -> TrainingState:
    """The training state at ``path``, loaded safely; a one-line :class:`FaceeditError` when it is something else."""
    if not path.exists():
        raise FaceeditError(f"no training state at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises assorted types for damaged or foreign files
        raise FaceeditError(f"{path} is not a readable training state ({type(error).__name__})") from error
    return TrainingState.from_payload(payload, source=str(path))
