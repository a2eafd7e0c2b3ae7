"""Training presets as metadata: the network size each preset trains, and its one-line text.

The trainer builds its :class:`trainer.config.TrainConfig` presets' model sizes from
:data:`PRESET_INFO`; the engine takes the face size ``prepare --size`` must match from it,
and the retrain dialog lists its choices from it. Schedules and loss weights stay in the
trainer (they need nothing outside it). Plain data; any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class PresetInfo:
    """One preset: its network's face size, channel width and colour channels, and its text."""

    name: str
    image_size: int  # the face size in pixels the network takes (and ``prepare --size`` makes)
    width: float  # multiplies every channel count (1.0 = the paper's network)
    image_channels: int  # 3: RGB; 1: luminance only
    description: str  # what the preset is for, one line (the retrain dialog shows it)

    @property
    def choice_text(self) -> str:
        """``name — description``: the line the retrain dialog lists."""
        return f"{self.name} — {self.description}"


_PRESETS = (
    PresetInfo("desktop", 128, 0.5, 3, "128 px, half width; trains on a good CPU or any GPU"),
    PresetInfo("paper", 128, 1.0, 3, "the published network, 128 px, full width; needs a GPU"),
    PresetInfo("bundled", 64, 0.5, 1, "the shipped model's recipe: 64 px luminance, about 11 min on 2 cores"),
    PresetInfo("smoke", 64, 0.125, 3, "tiny and a few steps: checks that everything runs"),
)

PRESET_INFO: Mapping[str, PresetInfo] = MappingProxyType({preset.name: preset for preset in _PRESETS})
"""Every preset by name, in the order the retrain dialog lists them."""

DEFAULT_PRESET = "desktop"


def preset_image_size(name: str, default: int = 128) -> int:
    """The face size preset ``name`` trains at; ``default`` for a name that is not a preset."""
    info = PRESET_INFO.get(name)
    return info.image_size if info is not None else default


__all__ = ["DEFAULT_PRESET", "PRESET_INFO", "PresetInfo", "preset_image_size"]
