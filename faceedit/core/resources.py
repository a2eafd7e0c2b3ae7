"""Where bundled files live: the default model, the sample photo, licences.

In a source checkout they are in ``resources/`` beside the package; an installed wheel
carries the same tree as ``faceedit/resources`` (see packaging/).
"""

from __future__ import annotations

import os
from pathlib import Path

from faceedit.core.errors import ModelFileError

MODEL_ENV = "FACEEDIT_MODEL"
BUNDLED_MODEL_NAME = "exprgan.pt"


def resources_dir() -> Path:
    """The resources folder of this installation (source checkout or installed package)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "resources", package.parent / "resources"):
        if candidate.is_dir():
            return candidate
    return package.parent / "resources"


def bundled_model_path() -> Path:
    return resources_dir() / "models" / BUNDLED_MODEL_NAME


def sample_photo_path() -> Path:
    return resources_dir() / "sample" / "sample.jpg"


def default_model_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The model to use: an explicit path, else ``$FACEEDIT_MODEL``, else the bundled one."""
    if explicit:
        return Path(explicit)
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    bundled = bundled_model_path()
    if not bundled.exists():
        raise ModelFileError(
            f"no model given and no bundled model at {bundled}: pass --model FILE or set {MODEL_ENV}"
        )
    return bundled
