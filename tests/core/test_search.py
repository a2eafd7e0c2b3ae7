"""Search by expression (faceedit.core.search): ranking, the cached index and its incremental update.

Ranking and the index are tested with a stand-in editor and detector (one "face" per
photo, its expression vector written in the photo's pixels), so the tests are fast and
know the right answer; one test checks with a tiny real model that the vector is the
model's recognised intensities.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from faceedit.core.errors import FaceeditError
from faceedit.core.faces import DetectedFace
from faceedit.core.search import (
    ExpressionIndex,
    hits_json,
    index_path,
    load_index,
    model_digest,
    rank,
    update_index,
)

EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")


class FakeEditor:
    """Reads a photo's expression from its first pixel row: value k of the vector = pixel (0, k) / 255."""

    def __init__(self) -> None:
        self.model = SimpleNamespace(info=SimpleNamespace(expressions=EXPRESSIONS))
        self.calls = 0

    def recognise(self, pixels: np.ndarray, face: DetectedFace) -> np.ndarray:
        self.calls += 1
        return pixels[0, : len(EXPRESSIONS), 0].astype(np.float32) / 255.0


class FakeDetector:
    """One 100-pixel face per photo, unless the photo is all black (no face)."""

    def detect(self, pixels: np.ndarray) -> list[DetectedFace]:
        if not pixels.any():
            return []
        return [DetectedFace((10, 10, 110, 110), np.zeros((68, 2)), 1.0)]


def write_face(path: Path, vector: list[float], identity: int = 0) -> Path:
    """A PNG whose first row holds the expression vector; the rest is an 'identity' pattern."""
    image = np.full((128, 128, 3), 40 + 50 * identity, np.uint8)
    image[0, : len(vector), 0] = np.round(np.asarray(vector) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image[:, :, ::-1])
    return path


SMILE = [0, 0, 0, 1, 0, 0]
NEUTRAL = [0, 0, 0, 0, 0, 0]
SURPRISE = [0, 0, 0.2, 0, 0, 1]


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


# --------------------------------------------------------------------------- rank


def test_rank_orders_by_expression_distance_and_scores_identical_as_one() -> None:
    vectors = np.array([NEUTRAL, SURPRISE, SMILE, [0, 0, 0, 0.8, 0, 0]], np.float32)
    order, scores = rank(vectors, np.array(SMILE, np.float32))
    assert order.tolist() == [2, 3, 0, 1]
    assert scores[0] == pytest.approx(1.0)
    assert np.all(np.diff(scores) <= 0)
    assert scores[-1] >= 0.0
    # 1 − ‖a − b‖/√K
    assert scores[1] == pytest.approx(1 - 0.2 / np.sqrt(6), abs=1e-6)


def test_rank_top_k_equals_the_head_of_the_full_ranking_with_stable_ties() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.random((500, 6), dtype=np.float32)
    vectors[100] = vectors[7]  # a tie: the lower index comes first
    query = vectors[7] + 0.001
    full, full_scores = rank(vectors, query)
    top, top_scores = rank(vectors, query, 10)
    assert top.tolist() == full[:10].tolist()
    assert np.allclose(top_scores, full_scores[:10])
    assert full.tolist().index(7) < full.tolist().index(100)
    assert rank(vectors, query, 0)[0].size == 0
    assert rank(np.zeros((0, 6), np.float32), query)[0].size == 0


def test_rank_refuses_a_query_of_another_length() -> None:
    with pytest.raises(FaceeditError, match="expression values"):
        rank(np.zeros((3, 6), np.float32), np.zeros(5, np.float32))


def test_the_same_persons_other_expression_does_not_outrank_another_persons_same_expression(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "photos"
    write_face(folder / "a-smile.png", SMILE, identity=0)
    write_face(folder / "a-neutral.png", NEUTRAL, identity=0)
    write_face(folder / "b-smile.png", [0, 0, 0, 0.9, 0, 0], identity=1)
    write_face(folder / "c-surprise.png", SURPRISE, identity=0)
    update = update_index(folder, FakeEditor(), FakeDetector(), "m", directory=cache)
    hits = update.index.search(np.array(SMILE, np.float32), exclude=(folder / "a-smile.png", 0))
    assert [h.path.name for h in hits] == ["b-smile.png", "a-neutral.png", "c-surprise.png"]
    assert all(h.rank == i + 1 for i, h in enumerate(hits))


def test_search_json_shape(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "photos"
    write_face(folder / "x.png", SMILE)
    write_face(folder / "sub" / "y.png", NEUTRAL)
    index = update_index(folder, FakeEditor(), FakeDetector(), "m", directory=cache).index
    rows = hits_json(index.search(np.array(SMILE, np.float32), top=5))
    assert [Path(r["path"]).name for r in rows] == ["x.png", "y.png"]
    for row in rows:
        assert set(row) >= {"path", "face", "score", "rank", "box", "expression"}
        assert isinstance(row["face"], int) and isinstance(row["score"], float) and len(row["box"]) == 4
        assert set(row["expression"]) == set(EXPRESSIONS)
    assert rows[0]["score"] >= rows[1]["score"]


# --------------------------------------------------------------------------- the index


def test_the_index_is_cached_and_updated_incrementally(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "photos"
    a = write_face(folder / "a.png", SMILE)
    b = write_face(folder / "b.png", NEUTRAL)
    c = write_face(folder / "c.png", SURPRISE)
    editor = FakeEditor()
    first = update_index(folder, editor, FakeDetector(), "m", directory=cache)
    assert (first.read, first.reused, first.removed) == (3, 0, 0)
    assert first.cache_path is not None and first.cache_path.is_file()
    assert editor.calls == 3

    second = update_index(folder, editor, FakeDetector(), "m", directory=cache)
    assert (second.read, second.reused, second.removed) == (0, 3, 0)
    assert editor.calls == 3  # nothing read again
    assert np.array_equal(second.index.vectors, first.index.vectors)

    write_face(folder / "d.png", SMILE)  # new
    write_face(b, SURPRISE)  # changed: other content, a later mtime
    os.utime(b, ns=(b.stat().st_atime_ns, b.stat().st_mtime_ns + 10**9))
    c.unlink()  # removed
    third = update_index(folder, editor, FakeDetector(), "m", directory=cache)
    assert (third.read, third.reused, third.removed) == (2, 1, 1)
    assert editor.calls == 5
    paths = sorted(third.index.paths)
    assert paths == ["a.png", "b.png", "d.png"]
    b_row = third.index.paths.index("b.png")
    assert third.index.vectors[b_row] == pytest.approx(np.array(SURPRISE), abs=1 / 255)
    assert a.exists()


def test_unreadable_and_faceless_photos_are_remembered_and_reported(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "photos"
    write_face(folder / "good.png", SMILE)
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    cv2.imwrite(str(folder / "empty.png"), np.zeros((64, 64, 3), np.uint8))
    editor = FakeEditor()
    index = update_index(folder, editor, FakeDetector(), "m", directory=cache).index
    assert index.paths == ["good.png"]
    assert [f.path for f in index.unreadable] == ["broken.jpg"] and index.unreadable[0].error
    assert {f.path: f.faces for f in index.files} == {"broken.jpg": 0, "empty.png": 0, "good.png": 1}
    again = update_index(folder, editor, FakeDetector(), "m", directory=cache)
    assert again.read == 0 and [f.path for f in again.index.unreadable] == ["broken.jpg"]


def test_another_model_or_a_damaged_cache_means_a_fresh_index(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "photos"
    write_face(folder / "a.png", SMILE)
    first = update_index(folder, FakeEditor(), FakeDetector(), "model-1", directory=cache)
    assert update_index(folder, FakeEditor(), FakeDetector(), "model-2", directory=cache).read == 1
    assert index_path(folder, "model-1", cache) != index_path(folder, "model-2", cache)
    assert first.cache_path is not None
    first.cache_path.write_bytes(b"garbage")
    assert load_index(first.cache_path, folder, "model-1") is None
    assert update_index(folder, FakeEditor(), FakeDetector(), "model-1", directory=cache).read == 1
    assert load_index(first.cache_path, folder, "model-1") is not None


def test_no_cache_reads_everything_and_writes_nothing(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "photos"
    write_face(folder / "a.png", SMILE)
    update = update_index(folder, FakeEditor(), FakeDetector(), "m", directory=cache, use_cache=False)
    assert update.read == 1 and update.cache_path is None and not cache.exists()


def test_a_stop_request_ranks_what_was_read(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "photos"
    for i in range(4):
        write_face(folder / f"{i}.png", SMILE)
    editor = FakeEditor()
    update = update_index(folder, editor, FakeDetector(), "m", directory=cache, should_stop=lambda: editor.calls >= 2)
    assert update.cancelled and len(update.index) == 2
    assert update_index(folder, editor, FakeDetector(), "m", directory=cache).read == 2  # the rest, next time


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(FaceeditError, match="not a folder"):
        update_index(tmp_path / "missing", FakeEditor(), FakeDetector(), "m", directory=tmp_path)


def test_model_digest_depends_on_bytes_and_precision(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    assert model_digest(a) != model_digest(b)
    assert model_digest(a, "fp32") != model_digest(a, "bf16")
    assert model_digest(a, "fp32") == model_digest(a, "fp32")


def test_the_vector_is_the_models_recognised_reading(tiny_model_path: Path, london_neutral: Path) -> None:
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.file import load_model
    from faceedit.core.search import face_vector

    editor = ExpressionEditor(load_model(tiny_model_path, "cpu", "fp32"))
    pixels = load_photo(london_neutral).pixels
    face = face_detector().detect(pixels)[0]
    vector = face_vector(editor, pixels, face)
    assert vector.shape == (6,) and vector.dtype == np.float32
    assert np.array_equal(vector, editor.encode(pixels, face).recognised)


def test_an_empty_index_searches_to_nothing() -> None:
    index = ExpressionIndex(Path("."), "m", EXPRESSIONS, vectors=np.zeros((0, 6), np.float32))
    assert index.search(np.array(SMILE, np.float32)) == []
