"""Damaged model files are refused with one line, or edit exactly as the clean file does (issue: integrity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.core.alignment import already_aligned
from faceedit.core.editor import ExpressionEditor
from faceedit.core.errors import ModelFileError
from faceedit.core.faces import DetectedFace
from faceedit.core.models.file import load_model, read_model_info

TARGET = np.array([0, 0, 0, 1, 0, 0], np.float32)


def _face(size: int) -> tuple[DetectedFace, object]:
    """A synthetic aligned face: a smooth crop and 68 plausible points."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    crop = np.stack([(xx * 3 + yy) % 256, (yy * 2) % 256, (xx + yy) % 256], axis=2).astype(np.uint8)
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([size / 2 - 0.3 * size * np.cos(t), 0.45 * size + 0.35 * size * np.sin(t)], 1)
    inner = np.stack([rng.uniform(0.3, 0.7, 51) * size, rng.uniform(0.3, 0.75, 51) * size], 1)
    points = np.vstack([jaw, inner])
    return DetectedFace((0, 0, size, size), points, 1.0), already_aligned(crop, points)


def _edit(path: Path) -> np.ndarray:
    editor = ExpressionEditor(load_model(path))
    face, aligned = _face(editor.size)
    change = editor.change(editor.encode_aligned(face, aligned), TARGET)
    assert change is not None and change.image_change is not None
    return change.image_change


def _damaged(data: bytes, rng: np.random.Generator, kind: str) -> bytes:
    raw = bytearray(data)
    if kind == "flip":
        raw[int(rng.integers(len(raw)))] ^= 1 << int(rng.integers(8))
    elif kind == "flips":
        for offset in rng.integers(len(raw), size=8):
            raw[int(offset)] ^= 0xFF
    elif kind == "zeroed":
        start = int(rng.integers(len(raw) - 4096))
        raw[start : start + 4096] = bytes(4096)
    elif kind == "truncated":
        raw = raw[: int(rng.integers(1, len(raw)))]
    elif kind == "inserted":
        at = int(rng.integers(len(raw)))
        raw[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 64))).astype(np.uint8))
    return bytes(raw)


def test_a_written_model_verifies_and_an_old_one_loads_unverified(tiny_model_path: Path, tmp_path: Path) -> None:
    assert read_model_info(tiny_model_path).verified
    payload = torch.load(tiny_model_path, weights_only=True)
    del payload["digest"]
    torch.save(payload, tmp_path / "old.pt")
    assert not read_model_info(tmp_path / "old.pt").verified
    assert np.array_equal(_edit(tmp_path / "old.pt"), _edit(tiny_model_path))


def test_changed_weights_or_header_are_refused(tiny_model_path: Path, tmp_path: Path) -> None:
    payload = torch.load(tiny_model_path, weights_only=True)
    name = next(iter(payload["state_dict"]))
    payload["state_dict"][name] = payload["state_dict"][name].clone()
    payload["state_dict"][name].view(-1)[0] += 1
    torch.save(payload, tmp_path / "weights.pt")
    with pytest.raises(ModelFileError, match="is damaged: its contents do not match"):
        load_model(tmp_path / "weights.pt")
    payload = torch.load(tiny_model_path, weights_only=True)
    payload["provenance"]["steps"] = 99
    torch.save(payload, tmp_path / "header.pt")
    with pytest.raises(ModelFileError, match="is damaged"):
        read_model_info(tmp_path / "header.pt")
    payload = torch.load(tiny_model_path, weights_only=True)
    payload["state_dict"][name] = payload["state_dict"][name].clone()
    payload["state_dict"][name].view(-1)[0] = float("nan")
    del payload["digest"]  # an old file, unverifiable, with a NaN weight
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(ModelFileError, match="not finite"):
        load_model(tmp_path / "nan.pt")


def test_fuzzed_model_files_are_refused_or_edit_exactly_as_the_clean_one(tiny_model_path: Path, tmp_path: Path) -> None:
    clean = _edit(tiny_model_path)
    data = tiny_model_path.read_bytes()
    rng = np.random.default_rng(17)
    outcomes = {"refused": 0, "same": 0}
    for i, kind in enumerate(["flip"] * 12 + ["flips"] * 6 + ["zeroed"] * 6 + ["truncated"] * 4 + ["inserted"] * 4):
        path = tmp_path / f"damaged-{i}.pt"
        path.write_bytes(_damaged(data, rng, kind))
        try:
            edited = _edit(path)
        except ModelFileError as error:
            assert "\n" not in str(error) and str(path) in str(error), (kind, str(error))
            outcomes["refused"] += 1
            continue
        assert np.array_equal(edited, clean), f"{kind} damage #{i} changed the edit without being refused"
        outcomes["same"] += 1
    assert outcomes["refused"] >= 20, outcomes  # most damage hits the weights, which are most of the file


def test_an_edit_that_is_not_finite_is_refused_and_nothing_is_pasted() -> None:
    from faceedit.core.models.exprgan import ExprGANConfig, Generator
    from faceedit.core.models.file import in_memory_model

    network = Generator(ExprGANConfig(image_size=64, width=0.125, geometry=True))
    face, aligned = _face(64)
    network.landmark_reference.copy_(torch.tensor(aligned.landmarks / 64))
    network.landmark_shifts[3, 48, 0] = float("inf")
    editor = ExpressionEditor(in_memory_model(network))
    encoded = editor.encode_aligned(face, aligned)
    with pytest.raises(ModelFileError, match="non-finite edit"):
        editor.change(encoded, TARGET)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc/self/fd")
def test_atomic_writes_reach_the_disk_before_and_after_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is fsynced before it replaces the target, and the folder after (durable, as SQLite and git do)."""
    import os

    from faceedit.core import atomic

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (events.append("fsync " + ("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")), real_fsync(fd))[1])
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    atomic.write_bytes_atomic(tmp_path / "out.bin", b"data")
    assert events == ["fsync file", "replace", "fsync dir"]
    assert (tmp_path / "out.bin").read_bytes() == b"data"


def test_a_folder_that_takes_no_new_files_is_a_one_line_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root, /sys passes the writability check but refuses the temporary file: OutputError, not a traceback."""
    from faceedit.core import atomic
    from faceedit.core.errors import OutputError

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"^cannot write .*out\.bin: Permission denied$"):
        atomic.write_bytes_atomic(tmp_path / "out.bin", b"data")


def test_an_old_non_zip_pickle_is_refused_in_exactly_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from faceedit.cli import main

    import pickle

    # A plain pickle (no zip container), protocol 5: torch warns about it before it fails.
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"weights": [0.0, 1.0]}, protocol=5))
    photo = Path(__file__).resolve().parents[2] / "resources" / "sample" / "sample.jpg"
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # as a user's Python shows them: each would be lines on stderr
        assert main(["edit", str(photo), "-o", str(tmp_path / "out.jpg"), "--model", str(tmp_path / "legacy.pt")]) == 1
    assert not caught, [str(w.message)[:80] for w in caught]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("faceedit: error: ") and "legacy.pt" in err[0], err
