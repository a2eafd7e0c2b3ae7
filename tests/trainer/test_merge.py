"""``faceedit-train merge``: several prepared folders into one.

The inputs are written by hand (a few random 64-pixel crops and their records), so these
tests need neither the shared photos nor the face detector.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from faceedit.core.alignment import TEMPLATE_5
from faceedit.core.errors import FaceeditError
from faceedit.core.imageio import save_photo
from trainer.cli import main as train_main
from trainer.data import load_split
from trainer.evaluate import _source_path
from trainer.manifest import FACES_DIR, INFO_NAME, LABELS, MANIFEST_NAME, SKIPPED_NAME, FaceRecord, PreparedInfo, read_prepared, write_prepared
from trainer.merge import merge_prepared, unique_names

SIZE = 64
LANDMARKS = np.zeros((68, 2)).tolist()


def _build(
    folder: Path,
    faces: list[tuple[str, str, str]],  # (label, subject, split)
    *,
    kind: str = "folders",
    size: int = SIZE,
    template: list[list[float]] | None = None,
    relative_sources: bool = False,
    skipped: list[tuple[str, str]] | None = None,
    seed: int = 0,
) -> Path:
    """A prepared folder: random crops, one source photo file per face under ``folder.parent/<name>-photos``."""
    rng = np.random.default_rng(seed)
    root = folder.parent / f"{folder.name}-photos"
    (folder / FACES_DIR).mkdir(parents=True)
    root.mkdir()
    records = []
    for index, (label, subject, split) in enumerate(faces):
        name = f"{FACES_DIR}/{index:06d}.png"
        save_photo(folder / name, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        photo = root / f"{index:03d}.jpg"
        photo.write_bytes(b"a source photo")
        records.append(FaceRecord(
            file=name, source=photo.name if relative_sources else str(photo), label=label,
            intensity=0.0 if label == "neutral" else 1.0, subject=subject, split=split,
            landmarks=LANDMARKS, source_landmarks=LANDMARKS, detected=index % 2 == 0,
        ))  # fmt: skip
    counts = {s: {label: sum(r.split == s and r.label == label for r in records) for label in LABELS} for s in ("train", "test")}
    info = PreparedInfo(kind=kind, root=str(root), size=size, template=template or TEMPLATE_5.tolist(), counts=counts)
    if skipped is not None:
        (folder / SKIPPED_NAME).write_text("source,reason\n" + "".join(f"{s},{r}\n" for s, r in skipped))
    write_prepared(folder, info, records)
    return folder


PAIRS = [("neutral", "001", "train"), ("happiness", "001", "train"), ("neutral", "002", "train"),
         ("happiness", "002", "train"), ("neutral", "003", "test"), ("happiness", "003", "test")]  # fmt: skip
FOLDERS = [(label, "", "train") for label in ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")]
FOLDERS += [("surprise", "", "test"), ("sadness", "", "test")]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    london = _build(tmp_path / "a" / "london", PAIRS, kind="pairs", relative_sources=True, skipped=[("/x/bad.jpg", "no face detected")])
    e7 = _build(tmp_path / "b" / "e7", FOLDERS, seed=1, skipped=[("/y/odd.jpg", "unreadable image (truncated)")])
    return london, e7


def test_merge_combines_records_crops_and_counts(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    london, e7 = inputs
    out = tmp_path / "bundled"
    report = merge_prepared([london, e7], out)
    info, records = read_prepared(out)
    _, london_records = read_prepared(london)
    _, e7_records = read_prepared(e7)

    assert info.kind == "merged" and info.size == SIZE and info.template == TEMPLATE_5.tolist()
    assert info.root == str(tmp_path)  # the common parent of both dataset roots
    assert len(records) == len(PAIRS) + len(FOLDERS) == report.faces
    assert info.counts["train"]["neutral"] == 3 and info.counts["test"]["happiness"] == 1
    assert info.counts["test"]["surprise"] == 1 and info.counts["train"]["anger"] == 1
    assert sum(sum(c.values()) for c in info.counts.values()) == len(records)
    assert info.counts == report.counts
    assert [s["name"] for s in info.options["sources"]] == ["london", "e7"]
    assert info.options["sources"][0] == {"name": "london", "path": str(london.resolve()), "kind": "pairs",
                                          "root": read_prepared(london)[0].root, "faces": len(PAIRS)}  # fmt: skip

    for old, new in zip(london_records + e7_records, records):
        assert (new.label, new.intensity, new.split, new.landmarks, new.source_landmarks, new.detected) == (
            old.label, old.intensity, old.split, old.landmarks, old.source_landmarks, old.detected)  # fmt: skip
        base = london if old in london_records else e7
        assert (out / new.file).read_bytes() == (base / old.file).read_bytes()
    assert records[0].file == "faces/london/000000.png" and records[len(PAIRS)].file == "faces/e7/000000.png"
    assert {r.subject for r in records} == {"london:001", "london:002", "london:003", ""}
    # Relative sources become absolute and still resolve, as evaluate reads them.
    assert all(Path(r.source).is_absolute() for r in records)
    assert all(_source_path(info, r) is not None for r in records)
    assert records[0].source == str(Path(read_prepared(london)[0].root, "000.jpg").resolve())

    if os.stat(london).st_dev == os.stat(out).st_dev:
        assert report.linked == len(records) and report.copied == 0
        assert os.path.samefile(out / records[0].file, london / london_records[0].file)

    rows = list(csv.DictReader(io.StringIO((out / SKIPPED_NAME).read_text())))
    assert rows == [
        {"set": "london", "source": "/x/bad.jpg", "reason": "no face detected"},
        {"set": "e7", "source": "/y/odd.jpg", "reason": "unreadable image (truncated)"},
    ]
    text = report.format()
    assert "merged 15 faces from 2 prepared sets" in text and "london" in text and "e7" in text


def test_the_merged_folder_loads_for_training(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "bundled"
    merge_prepared(inputs, out)
    train, test = load_split(out, "train"), load_split(out, "test", channels=1, size=SIZE)
    assert len(train) == 11 and len(test) == 4
    assert tuple(train.images.shape) == (11, 3, SIZE, SIZE) and tuple(test.images.shape) == (4, 1, SIZE, SIZE)
    assert sorted(LABELS[i] for i in test.labels.tolist()) == ["happiness", "neutral", "sadness", "surprise"]


def test_same_names_are_made_unique_and_merged_folders_merge_again(tmp_path: Path) -> None:
    assert unique_names([Path("/a/x"), Path("/b/x"), Path("/c/y"), Path("/d/x")]) == ["x", "x-2", "y", "x-3"]
    one = _build(tmp_path / "a" / "set", PAIRS, skipped=[])
    two = _build(tmp_path / "b" / "set", PAIRS, seed=2)  # no skipped.csv
    merged = tmp_path / "merged"
    merge_prepared([one, two], merged)
    _, records = read_prepared(merged)
    assert {r.subject for r in records} == {f"set{suffix}:{n}" for suffix in ("", "-2") for n in ("001", "002", "003")}
    assert len({r.file for r in records}) == len(records)
    assert list(csv.reader(io.StringIO((merged / SKIPPED_NAME).read_text()))) == [["set", "source", "reason"]]

    three = _build(tmp_path / "c" / "other", FOLDERS)
    again = tmp_path / "again"
    merge_prepared([merged, three], again)
    info, records = read_prepared(again)
    assert info.kind == "merged" and len(records) == 2 * len(PAIRS) + len(FOLDERS)
    assert records[0].subject == "merged:set:001" and records[0].file == "faces/merged/set/000000.png"
    assert (again / records[0].file).read_bytes() == (one / "faces/000000.png").read_bytes()


def test_mismatched_inputs_are_refused(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    london, _ = inputs
    small = _build(tmp_path / "c" / "small", FOLDERS, size=32)
    with pytest.raises(FaceeditError, match=r"64-pixel faces but .*small holds 32-pixel"):
        merge_prepared([london, small], tmp_path / "out")
    shifted = (TEMPLATE_5 + 1.0).tolist()
    other = _build(tmp_path / "d" / "other", FOLDERS, template=shifted)
    with pytest.raises(FaceeditError, match="different templates"):
        merge_prepared([london, other], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything was written
    with pytest.raises(FaceeditError, match="at least two"):
        merge_prepared([london], tmp_path / "out")
    with pytest.raises(FaceeditError, match="given twice"):
        merge_prepared([london, london.parent / ".." / "a" / "london"], tmp_path / "out")
    with pytest.raises(FaceeditError, match="not a prepared dataset"):
        merge_prepared([london, tmp_path / "c"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_must_be_new_and_apart_from_the_inputs(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    london, e7 = inputs
    with pytest.raises(FaceeditError, match="is one of the inputs"):
        merge_prepared([london, e7], e7, overwrite=True)
    with pytest.raises(FaceeditError, match="must not contain the input"):
        merge_prepared([london, e7], tmp_path / "a", overwrite=True)
    with pytest.raises(FaceeditError, match="must not lie inside the input"):
        merge_prepared([london, e7], london / "merged")

    out = tmp_path / "out"
    out.mkdir()
    (out / "note.txt").write_text("mine")
    with pytest.raises(FaceeditError, match="not empty.*--overwrite"):
        merge_prepared([london, e7], out)
    (out / "note.txt").unlink()
    merge_prepared([london, e7], out)  # an empty folder is fine
    with pytest.raises(FaceeditError, match="not empty"):
        merge_prepared([london, e7], out)
    stale = out / FACES_DIR / "old.png"
    stale.write_bytes(b"stale")
    (out / "judge.pt").write_bytes(b"stale judge")
    merge_prepared([e7, london], out, overwrite=True)
    info, records = read_prepared(out)
    assert [s["name"] for s in info.options["sources"]] == ["e7", "london"] and len(records) == 15
    assert not stale.exists() and not (out / "judge.pt").exists()
    assert len(read_prepared(london)[1]) == len(PAIRS)  # inputs untouched


def test_an_interrupted_merge_does_not_read_as_prepared(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    london, e7 = inputs
    out = tmp_path / "out"
    merge_prepared([london, e7], out)
    (e7 / FACES_DIR / "000003.png").unlink()  # the merge fails part-way, at a missing crop
    with pytest.raises(FaceeditError, match="incomplete.*000003.png"):
        merge_prepared([london, e7], out, overwrite=True)
    assert not (out / INFO_NAME).exists() and not (out / MANIFEST_NAME).exists()
    with pytest.raises(FaceeditError, match="not a prepared dataset"):
        read_prepared(out)


def test_command_line(inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    london, e7 = inputs
    out = tmp_path / "bundled"
    assert train_main(["merge", str(london), str(e7), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "merged 15 faces" in printed and "happiness" in printed
    assert json.loads((out / INFO_NAME).read_text())["kind"] == "merged"

    assert train_main(["merge", str(london), str(e7), "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("faceedit-train: error: ") and "--overwrite" in error[0]
    assert train_main(["merge", str(london), str(e7), "-o", str(out), "--overwrite"]) == 0
    capsys.readouterr()

    small = _build(tmp_path / "c" / "small", FOLDERS, size=32)
    assert train_main(["merge", str(london), str(small), "--out", str(tmp_path / "x")]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "cannot merge" in error[0] and "32-pixel" in error[0]
    assert train_main(["merge", str(london), "--out", str(tmp_path / "x")]) == 1
    assert "at least two" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["merge", str(london), str(e7)])  # --out is required
