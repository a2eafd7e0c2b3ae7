"""``faceedit-train prepare``: discovery of the three layouts, alignment, output, bad input.

The Oulu-CASIA tree is generated here in its real on-disk shape (the dataset is licensed
per user and not available). Its faces, and the folder and pair datasets, are small
copies of ../shared/data; tests that need real faces skip where that folder is missing.
Nothing is written outside pytest's temporary folders.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import SHARED_DATA, shared_file
from faceedit.core.errors import FaceeditError
from faceedit.core.faces import face_detector
from faceedit.core.imageio import load_photo
from trainer.datasets import DatasetOptions, detect_kind, discover, oulu_sequence, scan
from trainer.manifest import LABELS, SKIPPED_NAME, read_prepared
from trainer.prepare import (
    DETECTED,
    FULLFRAME,
    NOT_FOUND,
    PADDED,
    PrepareOptions,
    add_prepare_arguments,
    locate_face,
    options_from_args,
    prepare_dataset,
    run_prepare,
)

OULU_EXPRESSIONS = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
FRAMES = 5


# ------------------------------------------------------------------------------ builders


def _jpeg(pixels: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def _placeholder() -> bytes:
    """A small valid JPEG for tests that only discover (no pixels are read)."""
    return _jpeg(np.full((24, 32, 3), 128, np.uint8))


def _canvas(path: Path) -> np.ndarray:
    """A shared face photo shrunk onto a 320×240 canvas, the size of Oulu-CASIA's originals."""
    face = cv2.resize(np.asarray(load_photo(path).pixels), (240, 240), interpolation=cv2.INTER_AREA)
    canvas = np.full((240, 320, 3), 90, np.uint8)
    canvas[:, 40:280] = face
    return canvas


def make_oulu(
    base: Path,
    frame: dict[str, tuple[bytes, bytes]] | bytes,
    *,
    tree: tuple[str, ...] = ("Oulu-CASIA", "OriginalImg", "VL", "Strong"),
    subjects: tuple[str, ...] = ("P001", "p002", "P075"),
    suffix: str = ".jpeg",
) -> Path:
    """An Oulu-CASIA-shaped tree under ``base``; returns ``base``.

    ``frame`` is one JPEG for every frame, or per subject (neutral frame, expressive
    frame): frames 0–2 get the first, 3–4 the second. Variants built in: an extra
    unpacking level (tree[0]), a lower-case subject folder (``p002``) with upper-case
    expression folders and suffix, and P002's Fear sequence missing.
    """
    images = base.joinpath(*tree)
    for subject in subjects:
        upper = subject.islower()
        for expression in OULU_EXPRESSIONS:
            if subject.upper() == "P002" and expression == "Fear":
                continue  # the missing sequence
            folder = images / subject / (expression.upper() if upper else expression)
            folder.mkdir(parents=True)
            for index in range(FRAMES):
                data = frame if isinstance(frame, bytes) else frame[subject.upper()][index >= 3]
                name = f"{index:03d}{suffix.upper() if upper else suffix}"
                (folder / name).write_bytes(data)
    return base


@pytest.fixture(scope="module")
def oulu_frames() -> dict[str, tuple[bytes, bytes]]:
    """Per subject: (neutral, smiling) 320×240 JPEGs made from London faces 001–003."""
    frames = {}
    for subject, person in (("P001", "001"), ("P002", "002"), ("P075", "003")):
        neutral = _canvas(shared_file(f"london/neutral/{person}.jpg"))
        smiling = _canvas(shared_file(f"london/smiling/{person}.jpg"))
        frames[subject] = (_jpeg(neutral), _jpeg(smiling))
    return frames


def make_folders(base: Path, per_class: int = 2) -> Path:
    """A few expressions7 crops in expression folders, with alias and case variants of the names."""
    source = SHARED_DATA / "expressions7"
    if not source.is_dir():
        pytest.skip(f"{source} not available (the shared face photos are not on this machine)")
    names = {"anger": "Angry", "disgust": "disgust", "fear": "FEAR", "happiness": "happy",
             "sadness": "Sad", "surprise": "surprise", "neutral": "Neutral"}  # fmt: skip
    for label, name in names.items():
        (base / name).mkdir(parents=True)
        for path in sorted((source / label).glob("*.jpg"))[:per_class]:
            shutil.copy(path, base / name / path.name)
    return base


def make_pairs(base: Path, ids: tuple[str, ...] = ("001", "002", "003", "004")) -> Path:
    for folder in ("neutral", "smiling"):
        (base / folder).mkdir(parents=True)
        for person in ids:
            shutil.copy(shared_file(f"london/{folder}/{person}.jpg"), base / folder / f"{person}.jpg")
    return base


def _opts(**dataset: object) -> PrepareOptions:
    return PrepareOptions(workers=1, progress=False, dataset=DatasetOptions(**dataset))  # type: ignore[arg-type]


def _skipped(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / SKIPPED_NAME).read_text())))


# ------------------------------------------------------------------------------ Oulu-CASIA discovery


def test_oulu_protocol_from_the_original_tree(tmp_path: Path) -> None:
    root = make_oulu(tmp_path / "oulu", _placeholder())
    found = scan(root)
    assert found.kind == "oulu" and not found.precropped
    assert found.root.parts[-4:] == ("Oulu-CASIA", "OriginalImg", "VL", "Strong")
    # 3 subjects × 6 sequences − 1 missing = 17 sequences, each 1 neutral + 3 peak frames.
    assert len(found.images) == 17 * 4
    assert found.skipped == [(str(found.root / "p002" / "Fear"), "missing sequence")]
    by_subject = {s.subject for s in found.images}
    assert by_subject == {"P001", "P002", "P075"}  # the lower-case folder is P002
    assert {s.split for s in found.images if s.subject == "P075"} == {"test"}
    assert {s.split for s in found.images if s.subject != "P075"} == {"train"}
    sequence = [s for s in found.images if s.subject == "P002" and s.path.parent.name == "SADNESS"]
    assert [(s.path.name, s.label, s.intensity) for s in sequence] == [
        ("000.JPEG", "neutral", 0.0), ("002.JPEG", "sadness", 1.0), ("003.JPEG", "sadness", 1.0), ("004.JPEG", "sadness", 1.0),
    ]  # fmt: skip


def test_oulu_sequence_options() -> None:
    frames = [Path(f"{i:03d}.jpeg") for i in range(6)]
    mid = oulu_sequence(frames, "fear", DatasetOptions(mid_frames=True))
    assert [(p.name, label, round(v, 2)) for p, label, v in mid] == [
        ("000.jpeg", "neutral", 0.0), ("001.jpeg", "fear", 0.2), ("002.jpeg", "fear", 0.4),
        ("003.jpeg", "fear", 1.0), ("004.jpeg", "fear", 1.0), ("005.jpeg", "fear", 1.0),
    ]  # fmt: skip
    no_neutral = oulu_sequence(frames, "fear", DatasetOptions(include_neutral=False))
    assert [p.name for p, _, _ in no_neutral] == ["003.jpeg", "004.jpeg", "005.jpeg"]
    # Short sequences never take the neutral frame as a peak; one frame is no sequence.
    assert [(p.name, label) for p, label, _ in oulu_sequence(frames[:3], "fear", DatasetOptions())] == [
        ("000.jpeg", "neutral"), ("001.jpeg", "fear"), ("002.jpeg", "fear"),
    ]  # fmt: skip
    assert oulu_sequence(frames[:1], "fear", DatasetOptions()) == []


def test_oulu_frames_sort_numerically(tmp_path: Path) -> None:
    root = make_oulu(tmp_path / "oulu", _placeholder(), subjects=("P001",))
    sequence = root / "Oulu-CASIA" / "OriginalImg" / "VL" / "Strong" / "P001" / "Anger"
    for index in range(5, 12):  # 000…011: "10" must come after "9", not after "1"
        (sequence / f"{index:d}.jpeg").write_bytes(_placeholder())
    taken = [s for s in discover(root) if s.path.parent == sequence]
    assert [s.path.name for s in taken] == ["000.jpeg", "9.jpeg", "10.jpeg", "11.jpeg"]


def test_oulu_spectrum_illumination_and_cropped_tree(tmp_path: Path) -> None:
    root = make_oulu(tmp_path / "oulu", _placeholder(), subjects=("P001",), tree=("OriginalImg", "VL", "Strong"))
    make_oulu(root, _placeholder(), subjects=("P010",), tree=("OriginalImg", "NI", "Weak"))
    make_oulu(root, _placeholder(), subjects=("P020",), tree=("PreProcessImg", "VL_Acropped", "Strong"), suffix=".jpg")
    assert {s.subject for s in discover(root)} == {"P001"}
    assert {s.subject for s in discover(root, "oulu", DatasetOptions(spectrum="NI", illumination="Weak"))} == {"P010"}
    cropped = scan(root, "oulu", DatasetOptions(tree="cropped"))
    assert cropped.precropped and {s.subject for s in cropped.images} == {"P020"}
    assert {s.path.suffix for s in cropped.images} == {".jpg"}
    with pytest.raises(FaceeditError, match="has no Dark folder"):
        discover(root, "oulu", DatasetOptions(illumination="Dark"))


def test_oulu_cropped_tree_missing_names_the_other(tmp_path: Path) -> None:
    root = make_oulu(tmp_path / "oulu", _placeholder(), subjects=("P001",))
    with pytest.raises(FaceeditError, match="no PreProcess_Img folder.*--tree original"):
        discover(root, "oulu", DatasetOptions(tree="cropped"))


def test_oulu_folds_and_test_subjects(tmp_path: Path) -> None:
    subjects = tuple(f"P{i:03d}" for i in range(1, 7))
    root = make_oulu(tmp_path / "oulu", _placeholder(), subjects=subjects)
    test_sets = []
    for fold in range(3):
        images = discover(root, "oulu", DatasetOptions(folds=3, fold=fold))
        test_sets.append({s.subject for s in images if s.split == "test"})
    assert test_sets == [{"P001", "P002"}, {"P003", "P004"}, {"P005", "P006"}]
    named = discover(root, "oulu", DatasetOptions(test_subjects=("p004",)))
    assert {s.subject for s in named if s.split == "test"} == {"P004"}
    with pytest.raises(FaceeditError, match="P099"):
        discover(root, "oulu", DatasetOptions(test_subjects=("P099",)))


# ------------------------------------------------------------------------------ Oulu-CASIA end to end


def test_prepare_oulu_end_to_end(tmp_path: Path, oulu_frames: dict[str, tuple[bytes, bytes]]) -> None:
    root = make_oulu(tmp_path / "download", oulu_frames)
    out = tmp_path / "prepared"
    options = PrepareOptions(workers=2, progress=False, size=64)
    report = prepare_dataset(root, out, options)
    info, records = read_prepared(out)
    assert info.kind == "oulu" and info.size == 64 and len(records) == 17 * 4
    assert report.found[DETECTED] == len(records) and report.faces == len(records)
    assert info.counts["test"]["neutral"] == 6 and info.counts["test"]["happiness"] == 3
    assert info.counts["train"]["fear"] == 3  # P002's Fear sequence is missing
    assert all(r.detected for r in records)
    first = records[0]
    crop = load_photo(out / first.file).pixels
    assert crop.shape == (64, 64, 3)
    assert np.asarray(first.landmarks).shape == (68, 2) and np.asarray(first.source_landmarks).shape == (68, 2)
    source = load_photo(first.source).pixels
    assert first.source_size == [source.shape[1], source.shape[0]]  # which crop pixels are padding (trainer.coverage)
    assert [r["reason"] for r in _skipped(out)] == ["missing sequence"]
    text = report.format()
    assert "missing sequence" in text and "happiness" in text


# ------------------------------------------------------------------------------ folders and pairs


def test_prepare_folders(tmp_path: Path) -> None:
    root = make_folders(tmp_path / "e7", per_class=2)
    out = tmp_path / "prepared"
    report = prepare_dataset(root, out, _opts(test_fraction=0.5))
    info, records = read_prepared(out)
    assert info.kind == "folders"
    assert {r.label for r in records} == set(LABELS)
    assert all(r.subject == "" for r in records)
    assert all(r.intensity == (0.0 if r.label == "neutral" else 1.0) for r in records)
    # Images of unknown people are split per label: one of each class's two is held out.
    assert all(info.counts["test"][label] == 1 for label in LABELS)
    assert sum(report.found.values()) == 14 and report.found[NOT_FOUND] == 0
    assert sum(not r.detected for r in records) == report.found[FULLFRAME]


def test_folders_with_subject_subfolders_split_by_subject(tmp_path: Path) -> None:
    for label in ("happiness", "neutral"):
        for subject in ("S01", "S02", "S03", "S04"):
            folder = tmp_path / label / subject
            folder.mkdir(parents=True)
            (folder / "a.jpg").write_bytes(_placeholder())
    images = discover(tmp_path, "folders", DatasetOptions(test_fraction=0.25, seed=3))
    test = {s.subject for s in images if s.split == "test"}
    assert len(test) == 1
    assert {s.subject for s in images if s.split == "train"}.isdisjoint(test)
    assert discover(tmp_path, "folders", DatasetOptions(test_fraction=0.25, seed=3)) == images  # deterministic


def test_folds_of_anonymous_images_cover_each_class_once(tmp_path: Path) -> None:
    for label in ("anger", "neutral"):
        (tmp_path / label).mkdir()
        for index in range(10):
            (tmp_path / label / f"{index:02d}.jpg").write_bytes(_placeholder())
    held_out: list[Path] = []
    for fold in range(5):
        test = [s for s in discover(tmp_path, "folders", DatasetOptions(folds=5, fold=fold)) if s.split == "test"]
        assert sorted(s.label for s in test) == ["anger", "anger", "neutral", "neutral"]
        held_out += [s.path for s in test]
    assert len(set(held_out)) == 20


def test_prepare_pairs(tmp_path: Path) -> None:
    root = make_pairs(tmp_path / "london", ("001", "002", "003"))
    out = tmp_path / "prepared"
    prepare_dataset(root, out, _opts(test_subjects=("002",)))
    info, records = read_prepared(out)
    assert info.kind == "pairs"
    assert sorted((r.subject, r.label, r.intensity, r.split) for r in records) == [
        ("001", "happiness", 1.0, "train"), ("001", "neutral", 0.0, "train"),
        ("002", "happiness", 1.0, "test"), ("002", "neutral", 0.0, "test"),
        ("003", "happiness", 1.0, "train"), ("003", "neutral", 0.0, "train"),
    ]  # fmt: skip
    assert all(r.detected for r in records)


def test_pairs_split_by_fraction_is_subject_disjoint_and_seeded(tmp_path: Path) -> None:
    for folder in ("Neutral", "Smiling"):
        (tmp_path / "set" / folder).mkdir(parents=True)
        for person in range(20):
            (tmp_path / "set" / folder / f"{person:03d}.jpg").write_bytes(_placeholder())
    images = discover(tmp_path / "set", "pairs", DatasetOptions(test_fraction=0.1, seed=1))
    test = {s.subject for s in images if s.split == "test"}
    assert len(test) == 2 and all(s.split == "test" for s in images if s.subject in test)
    assert images == discover(tmp_path / "set", "pairs", DatasetOptions(test_fraction=0.1, seed=1))
    other = discover(tmp_path / "set", "pairs", DatasetOptions(test_fraction=0.1, seed=2))
    assert {s.subject for s in other if s.split == "test"} != test
    no_neutral = discover(tmp_path / "set", "pairs", DatasetOptions(include_neutral=False))
    assert {s.label for s in no_neutral} == {"happiness"}


def test_auto_detection(tmp_path: Path) -> None:
    oulu = make_oulu(tmp_path / "oulu", _placeholder(), subjects=("P001",))
    (tmp_path / "folders" / "unpacked" / "happy").mkdir(parents=True)  # an extra unpacking level
    (tmp_path / "folders" / "unpacked" / "SAD").mkdir()
    (tmp_path / "pairs" / "neutral").mkdir(parents=True)
    (tmp_path / "pairs" / "smiling").mkdir()
    for folder in ("pairs/neutral", "pairs/smiling"):
        (tmp_path / folder / "007.jpg").write_bytes(_placeholder())
    assert detect_kind(oulu) == "oulu"
    assert detect_kind(tmp_path / "folders") == "folders"
    assert detect_kind(tmp_path / "pairs") == "pairs"
    (tmp_path / "other" / "cats").mkdir(parents=True)
    with pytest.raises(FaceeditError, match="cannot tell.*OriginalImg.*anger.*smiling"):
        detect_kind(tmp_path / "other")


# ------------------------------------------------------------------------------ faces the detector misses


@pytest.fixture(scope="module")
def tight_crops() -> tuple[np.ndarray, np.ndarray]:
    """(inner face of London 002: found only after padding, eyes-to-chin of 001: never found)."""
    crops = []
    for person, first in (("002", 17), ("001", 36)):
        pixels = load_photo(shared_file(f"london/neutral/{person}.jpg")).pixels
        landmarks = face_detector().detect(pixels)[0].landmarks[first:]
        (x0, y0), (x1, y1) = landmarks.min(0).astype(int), landmarks.max(0).astype(int)
        crops.append(np.ascontiguousarray(cv2.resize(pixels[y0:y1, x0:x1], (160, 160))))
    return crops[0], crops[1]


def test_locate_face_pads_then_falls_back_to_the_whole_frame(tight_crops: tuple[np.ndarray, np.ndarray]) -> None:
    inner, eyes_to_chin = tight_crops
    detector = face_detector()
    assert not detector.detect(inner, retry_padded=False)
    landmarks, how, reason = locate_face(inner, detector, fullframe=True)
    assert how == PADDED and reason is None and landmarks is not None
    # Mapped back to the crop's own pixels: brows to chin fill it (the jaw line is outside).
    assert landmarks[17:].min() > -10 and landmarks[17:].max() < 170
    landmarks, how, reason = locate_face(eyes_to_chin, detector, fullframe=True)
    assert how == FULLFRAME and landmarks is not None and landmarks.shape == (68, 2)
    assert locate_face(eyes_to_chin, detector, fullframe=False)[1:] == (NOT_FOUND, "no face detected")


def test_undetected_fullframe_or_skip(tmp_path: Path, tight_crops: tuple[np.ndarray, np.ndarray]) -> None:
    inner, eyes_to_chin = tight_crops
    for label in ("happiness", "neutral"):
        (tmp_path / "set" / label).mkdir(parents=True)
    (tmp_path / "set" / "happiness" / "inner.jpg").write_bytes(_jpeg(inner))
    (tmp_path / "set" / "neutral" / "tight.jpg").write_bytes(_jpeg(eyes_to_chin))

    report = prepare_dataset(tmp_path / "set", tmp_path / "full", _opts(test_fraction=0.0))
    _, records = read_prepared(tmp_path / "full")
    assert {(r.label, r.detected) for r in records} == {("happiness", True), ("neutral", False)}
    assert report.found == {DETECTED: 0, PADDED: 1, FULLFRAME: 1, NOT_FOUND: 0}
    assert "1 whole-frame" in report.format()

    skip = PrepareOptions(workers=1, progress=False, undetected="skip", dataset=DatasetOptions(test_fraction=0.0))
    report = prepare_dataset(tmp_path / "set", tmp_path / "skip", skip)
    _, records = read_prepared(tmp_path / "skip")
    assert [r.label for r in records] == ["happiness"]
    assert report.found[NOT_FOUND] == 1 and report.skipped == {"no face detected": 1}
    assert _skipped(tmp_path / "skip") == [{"source": str(tmp_path / "set" / "neutral" / "tight.jpg"), "reason": "no face detected"}]


# ------------------------------------------------------------------------------ bad input


def _noise_folders(base: Path) -> Path:
    """A folders dataset of noise images (no face: whole-frame landmarks) — needs no shared data."""
    rng = np.random.default_rng(0)
    for label in ("anger", "neutral"):
        (base / label).mkdir(parents=True)
        (base / label / "x.jpg").write_bytes(_jpeg(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)))
    return base


def test_missing_root_and_unrecognised_layout(tmp_path: Path) -> None:
    with pytest.raises(FaceeditError, match="does not exist"):
        prepare_dataset(tmp_path / "nothing", tmp_path / "out", _opts())
    (tmp_path / "cats" / "tabby").mkdir(parents=True)
    with pytest.raises(FaceeditError, match="cannot tell what kind"):
        prepare_dataset(tmp_path / "cats", tmp_path / "out", _opts())
    with pytest.raises(FaceeditError, match="no OriginalImg folder"):
        prepare_dataset(tmp_path / "cats", tmp_path / "out", PrepareOptions(kind="oulu", progress=False))
    with pytest.raises(FaceeditError, match="no paired neutral/ and smiling/"):
        prepare_dataset(tmp_path / "cats", tmp_path / "out", PrepareOptions(kind="pairs", progress=False))
    assert not (tmp_path / "out").exists()  # nothing written before the input is known good


def test_empty_class_is_named(tmp_path: Path) -> None:
    root = _noise_folders(tmp_path / "set")
    (root / "Surprise").mkdir()
    with pytest.raises(FaceeditError, match=r"expression folder .*Surprise has no images"):
        prepare_dataset(root, tmp_path / "out", _opts())
    pairs = tmp_path / "pairs"
    (pairs / "neutral").mkdir(parents=True)
    (pairs / "smiling").mkdir()
    (pairs / "neutral" / "001.jpg").write_bytes(_placeholder())
    with pytest.raises(FaceeditError, match="smiling has no images"):
        discover(pairs, "pairs")
    oulu = make_oulu(tmp_path / "oulu", _placeholder(), subjects=("P001",))
    shutil.rmtree(oulu / "Oulu-CASIA" / "OriginalImg" / "VL" / "Strong" / "P001" / "Disgust")
    with pytest.raises(FaceeditError, match="no usable disgust sequence"):
        discover(oulu)


def test_output_folder_must_be_new_or_empty(tmp_path: Path) -> None:
    root = _noise_folders(tmp_path / "set")
    out = tmp_path / "out"
    (out / "faces").mkdir(parents=True)
    (out / "faces" / "stale.png").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FaceeditError, match="exists and is not empty.*--overwrite"):
        prepare_dataset(root, out, _opts())
    prepare_dataset(root, out, PrepareOptions(workers=1, progress=False, overwrite=True))
    _, records = read_prepared(out)
    assert sorted(p.name for p in (out / "faces").iterdir()) == sorted(Path(r.file).name for r in records)
    assert (out / "notes.txt").read_text() == "mine"  # only prepare's own files are replaced
    with pytest.raises(FaceeditError, match="must not be the dataset folder"):
        prepare_dataset(root, root, PrepareOptions(overwrite=True, progress=False))


def test_corrupt_images_are_skipped_and_listed(tmp_path: Path) -> None:
    root = _noise_folders(tmp_path / "set")
    (root / "anger" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "anger" / "empty.png").write_bytes(b"")
    report = prepare_dataset(root, tmp_path / "out", _opts(test_fraction=0.0))
    info, records = read_prepared(tmp_path / "out")
    assert len(records) == 2 and not any(r.detected for r in records)  # noise: whole-frame landmarks
    rows = _skipped(tmp_path / "out")
    assert {Path(r["source"]).name for r in rows} == {"broken.jpg", "empty.png"}
    assert all(r["reason"].startswith("unreadable image (") for r in rows)
    assert report.skipped == {"unreadable image": 2}
    assert info.counts["train"]["anger"] == 1


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(folds=5), "go together"),
        (dict(folds=5, fold=5), "between 0 and 4"),
        (dict(folds=1, fold=0), "at least 2"),
        (dict(test_fraction=1.0), "test-fraction"),
        (dict(spectrum="IR"), "spectrum"),
    ],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(FaceeditError, match=message):
        DatasetOptions(**options)  # type: ignore[arg-type]


def test_command_line_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_prepare_arguments(parser)
    args = parser.parse_args(
        ["data", "--out", "p", "--kind", "oulu", "--tree", "cropped", "--spectrum", "NI", "--illumination", "Dark",
         "--mid-frames", "--no-neutral", "--folds", "10", "--fold", "3", "--test-subjects", "001, 002", "--workers", "1"]
    )  # fmt: skip
    options = options_from_args(args)
    assert options.kind == "oulu" and options.workers == 1 and options.size == 128
    assert options.dataset == DatasetOptions(
        spectrum="NI", illumination="Dark", tree="cropped", include_neutral=False, mid_frames=True,
        folds=10, fold=3, test_subjects=("001", "002"),
    )  # fmt: skip
    root = _noise_folders(tmp_path / "set")
    args = parser.parse_args([str(root), "--out", str(tmp_path / "out"), "--workers", "1", "--test-fraction", "0"])
    assert run_prepare(args) == 0
    assert "prepared 2 faces (folders)" in capsys.readouterr().out
