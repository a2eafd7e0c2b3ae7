"""Shared fixtures: tiny random models, and the shared face photos where they exist."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared photo data not found at {SHARED_DATA}")


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or a skip with the reason where it is not there."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not available (the shared face photos are not on this machine)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Converted identity weights go to a temporary cache, never the user's own."""
    os.environ["FACEEDIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 64-pixel model at a quarter of the paper's width (a test stand-in, not trained)."""
    import torch

    from faceedit.core.models.file import Provenance, save_model
    from faceedit.core.models.exprgan import Generator, ExprGANConfig

    torch.manual_seed(1234)
    generator = Generator(ExprGANConfig(image_size=64, width=0.25))
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_model(path, generator, provenance=Provenance(data="random weights for tests", steps=0))
    return path


@pytest.fixture(scope="session")
def lisa_path() -> Path:
    return shared_file("lisa/lisa1.jpg")


@pytest.fixture(scope="session")
def london_neutral() -> Path:
    return shared_file("london/neutral/001.jpg")
