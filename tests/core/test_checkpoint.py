"""Model files: round trip, and every kind of bad file refused with a clear reason."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.core.models.file import (
    FORMAT_NAME,
    TRAINING_STATE_FORMAT,
    Provenance,
    load_model,
    read_model_info,
    save_model,
)
from faceedit.core.errors import ModelFileError, OutputError
from faceedit.core.models.exprgan import Generator, ExprGANConfig


def _generator() -> Generator:
    torch.manual_seed(0)
    return Generator(ExprGANConfig(image_size=64, width=0.25))


def test_round_trip_keeps_weights_config_and_header(tmp_path: Path) -> None:
    generator = _generator()
    path = tmp_path / "m.pt"
    save_model(path, generator, provenance=Provenance(data="test set", steps=42, commit="abc"), metrics={"psnr": 31.5})
    loaded = load_model(path)
    assert loaded.info.config == generator.config
    assert loaded.info.provenance.steps == 42 and loaded.info.provenance.data == "test set"
    assert loaded.info.metrics == {"psnr": 31.5}
    assert loaded.info.expressions[3] == "happiness"
    assert loaded.info.parameters == sum(t.numel() for t in generator.state_dict().values())
    for name, tensor in generator.state_dict().items():
        assert torch.equal(tensor, loaded.network.state_dict()[name]), name
    assert not any(p.requires_grad for p in loaded.network.parameters())


def test_half_precision_storage_is_smaller_and_close(tmp_path: Path) -> None:
    generator = _generator()
    save_model(tmp_path / "full.pt", generator)
    save_model(tmp_path / "half.pt", generator, half=True)
    assert (tmp_path / "half.pt").stat().st_size < 0.6 * (tmp_path / "full.pt").stat().st_size
    loaded = load_model(tmp_path / "half.pt")
    assert loaded.info.storage_dtype == "float16"
    w = generator.decoder.fc.weight
    assert torch.allclose(loaded.network.decoder.fc.weight, w, atol=1e-3)
    assert loaded.network.decoder.fc.weight.dtype == torch.float32


def test_existing_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    path.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="already exists"):
        save_model(path, _generator())
    assert path.read_bytes() == b"keep me"


class _RunsCode:
    """A pickle payload that would create a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


# The protocol-5 file makes torch's weights-only loader warn before it refuses the file;
# the model loader silences torch's warnings (its one-line error says what is wrong), so
# no allowance is needed here and the test reaches the unpickler's own refusal.
def test_pickle_that_runs_code_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT_NAME, "payload": _RunsCode(marker)}, path)
    with pytest.raises(ModelFileError, match="refused.*system"):
        load_model(path)
    # A newer pickle protocol is refused even earlier (unsupported opcode); never run either.
    torch.save({"format": FORMAT_NAME, "payload": _RunsCode(marker)}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(ModelFileError):
        load_model(path)
    assert not marker.exists()


def _model_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "good.pt"
    save_model(path, _generator())
    return path.read_bytes()


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda tmp, good: good[: len(good) // 2], "not a readable model file"),
        (lambda tmp, good: b"", "not a readable model file"),
        (lambda tmp, good: b"hello, I am a text file\n", "not a readable model file"),
        (lambda tmp, good: np.random.default_rng(0).bytes(5000), "not a readable model file"),
    ],
    ids=["truncated", "empty", "text", "random-bytes"],
)
def test_damaged_files_are_refused(tmp_path: Path, make, reason: str) -> None:  # noqa: ANN001
    path = tmp_path / "bad.pt"
    path.write_bytes(make(tmp_path, _model_bytes(tmp_path)))
    with pytest.raises(ModelFileError, match=reason):
        load_model(path)


def test_other_torch_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    bare = tmp_path / "bare.pt"
    torch.save(_generator().state_dict(), bare)
    with pytest.raises(ModelFileError, match="bare state dict"):
        load_model(bare)
    state = tmp_path / "state.pt"
    torch.save({"format": TRAINING_STATE_FORMAT, "format_version": 1}, state)
    with pytest.raises(ModelFileError, match="faceedit-train export"):
        load_model(state)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(ModelFileError, match="not a faceedit model"):
        read_model_info(other)


def test_newer_or_inconsistent_models_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_model(path, _generator())
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "newer.pt")
    with pytest.raises(ModelFileError, match="newer faceedit"):
        load_model(tmp_path / "newer.pt")
    payload["format_version"] = 1
    payload["config"]["width"] = 0.5
    del payload["digest"]  # an older file, unverifiable: the configuration check must catch it
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ModelFileError, match="does not match its own configuration"):
        load_model(tmp_path / "mismatch.pt")
    del payload["config"]
    torch.save(payload, tmp_path / "noconfig.pt")
    with pytest.raises(ModelFileError, match="damaged header"):
        read_model_info(tmp_path / "noconfig.pt")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(ModelFileError, match="folder"):
        load_model(tmp_path)
