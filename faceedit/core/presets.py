"""Slider presets: named slider states, built in or saved by the user as small JSON files.

A preset file (``<user config>/faceedit/presets/NAME.json``, or any path) reads::

    {"name": "slight smile", "expressions": {"happiness": 0.4}}

Expressions it names are set to those intensities; the others keep the intensity
recognised in each face (as sliders that were never moved). Qt-free: the CLI, the GUI
and the batch dialog share it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from faceedit.core.atomic import write_text_atomic
from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets

PRESETS_DIR_ENV = "FACEEDIT_PRESETS_DIR"
"""Overrides the folder of the user's presets (tests, portable installs)."""

SUFFIX = ".json"
MAX_NAME_LENGTH = 60
MAX_FILE_BYTES = 64 * 1024


class PresetError(FaceeditError):
    """A preset that cannot be found, read or written; the message is one line."""


@dataclass(frozen=True)
class Preset:
    """A named slider state; ``path`` is its file (None for the built-in ones)."""

    name: str
    targets: ExpressionTargets
    path: Path | None = None

    @property
    def builtin(self) -> bool:
        return self.path is None

    def describe(self) -> str:
        """E.g. "happiness 0.40, surprise 0.20" (or "no change")."""
        parts = [f"{n} {v:.2f}" for n, v in self.targets.as_dict().items() if v is not None]
        return ", ".join(parts) or "no change"


def builtin_presets() -> list[Preset]:
    """The presets every installation has."""
    return [
        Preset("neutral", ExpressionTargets.exactly([0.0] * len(EXPRESSIONS))),
        Preset("slight smile", ExpressionTargets.from_mapping({"happiness": 0.4})),
        Preset("big smile", ExpressionTargets.from_mapping({"happiness": 1.0})),
        Preset("surprised", ExpressionTargets.from_mapping({"surprise": 0.8})),
    ]


def neutral_preset() -> Preset:
    """All six expressions at 0."""
    return builtin_presets()[0]


def presets_dir() -> Path:
    """The folder of the user's presets (not created here)."""
    override = os.environ.get(PRESETS_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("faceedit", appauthor=False)) / "presets"


def check_name(name: str) -> str:
    """``name`` stripped, or a :class:`PresetError` when it cannot be a file name."""
    name = name.strip()
    if not name:
        raise PresetError("a preset needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise PresetError(f"preset name too long ({len(name)} characters, at most {MAX_NAME_LENGTH})")
    if name.startswith(".") or any(c in name for c in '/\\:*?"<>|') or not name.isprintable():
        raise PresetError(f"preset name {name!r} cannot be a file name: leave out / \\ : * ? \" < > | and a leading dot")
    return name


def load_preset_file(path: Path) -> Preset:
    """Read one preset file; every way it can be wrong is a one-line :class:`PresetError`."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PresetError(f"{path} is not a preset file (larger than {MAX_FILE_BYTES // 1024} KB)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PresetError(f"preset file {path} does not exist") from None
    except OSError as error:
        raise PresetError(f"cannot read preset file {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        line = f" (line {error.lineno})" if isinstance(error, json.JSONDecodeError) else ""
        raise PresetError(f"{path} is not valid JSON{line}") from None
    if not isinstance(data, dict) or not isinstance(data.get("expressions"), dict):
        raise PresetError(f'{path}: a preset is an object with "expressions": {{"happiness": 0.4, …}}')
    name = data.get("name", path.stem)
    if not isinstance(name, str):
        raise PresetError(f'{path}: "name" must be text')
    values = data["expressions"]
    for key, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise PresetError(f"{path}: {key} must be a number between 0 and 1, not {value!r}")
    try:
        targets = ExpressionTargets.from_mapping({k: None if v is None else float(v) for k, v in values.items()})
    except ValueError as error:
        raise PresetError(f"{path}: {error}") from None
    try:
        name = check_name(name)
    except PresetError as error:
        raise PresetError(f"{path}: {error}") from None
    return Preset(name, targets, path)


def list_presets(directory: Path | None = None) -> tuple[list[Preset], list[str]]:
    """Built-in presets then the user's (by name), and a one-line problem per bad file.

    A user preset with a built-in's name replaces it.
    """
    folder = presets_dir() if directory is None else directory
    user: list[Preset] = []
    problems: list[str] = []
    if folder.is_dir():
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            try:
                user.append(load_preset_file(path))
            except PresetError as error:
                problems.append(str(error))
    names = {p.name.casefold() for p in user}
    builtin = [p for p in builtin_presets() if p.name.casefold() not in names]
    return builtin + sorted(user, key=lambda p: p.name.casefold()), problems


def find_preset(name_or_file: str, directory: Path | None = None) -> Preset:
    """A preset by name (the user's first, then built in) or by file path (``*.json``)."""
    as_path = Path(name_or_file)
    if name_or_file.lower().endswith(SUFFIX) or as_path.is_file():
        return load_preset_file(as_path)
    folder = presets_dir() if directory is None else directory
    own = folder / f"{name_or_file.strip()}{SUFFIX}"
    if own.is_file():
        return load_preset_file(own)
    presets, _ = list_presets(folder)
    for preset in presets:
        if preset.name.casefold() == name_or_file.strip().casefold():
            return preset
    known = ", ".join(p.name for p in presets)
    raise PresetError(f"no preset called {name_or_file!r}; known: {known} (or give a .json file)")


def preset_json(name: str, targets: ExpressionTargets) -> str:
    """The file text for a preset: only the expressions it sets, in slider order."""
    values = {n: round(v, 4) for n, v in targets.as_dict().items() if v is not None}
    return json.dumps({"name": name, "expressions": values}, indent=2) + "\n"


def save_preset(name: str, targets: ExpressionTargets, directory: Path | None = None, *, overwrite: bool = True) -> Path:
    """Write ``NAME.json`` into the presets folder (created if needed); returns its path."""
    name = check_name(name)
    if targets.is_empty:
        raise PresetError("nothing to save: no slider is set")
    folder = presets_dir() if directory is None else directory
    path = folder / f"{name}{SUFFIX}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, preset_json(name, targets), overwrite=overwrite)
    except OSError as error:
        raise PresetError(f"cannot write preset {path}: {error.strerror}") from None
    except FaceeditError as error:  # the atomic writer's own one-line errors (exists, unwritable)
        raise PresetError(str(error)) from None
    return path
