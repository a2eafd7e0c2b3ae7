"""The command line end to end with a tiny random model: outputs, summaries, bad input."""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import shared_file
from faceedit.cli import main
from faceedit.core.imageio import load_photo


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file, read and closed."""
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def face_photo(tmp_path: Path) -> Path:
    target = tmp_path / "in" / "face.jpg"
    target.parent.mkdir()
    shutil.copy(shared_file("london/neutral/001.jpg"), target)
    return target


def test_version_and_help() -> None:
    result = subprocess.run([sys.executable, "-m", "faceedit", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("faceedit ")
    result = subprocess.run([sys.executable, "-m", "faceedit", "edit", "--help"], capture_output=True, text=True, check=True)
    for word in ("--model", "--device", "--happiness", "--face", "--overwrite"):
        assert word in result.stdout


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """``faceedit info | head -1``: the pipe closes early; no traceback, SIGPIPE's status."""
    code = ("import sys\nfrom faceedit.core.errors import run_reporting_errors\n"
            "def command():\n    raise BrokenPipeError\n"
            "sys.exit(run_reporting_errors('faceedit', command))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 141 and done.stderr == ""


def test_edit_without_targets_copies_the_input(tmp_path: Path, face_photo: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    before = _digest(face_photo)
    out = tmp_path / "same.jpg"
    code, stdout, _ = _run(capsys, "edit", face_photo, "-o", out, "--model", tiny_model_path, "--device", "cpu")
    assert code == 0 and "unchanged" in stdout
    assert _digest(out) == before and _digest(face_photo) == before


def test_edit_as_neutral_counts_from_zero(tmp_path: Path, face_photo: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    # Taken as neutral and asked for nothing: zero everywhere is where it starts, so nothing changes.
    same = tmp_path / "same.png"
    code, stdout, _ = _run(capsys, "edit", face_photo, "-o", same, "--as-neutral", "--model", tiny_model_path)
    assert code == 0 and "unchanged" in stdout
    assert np.array_equal(load_photo(same).pixels, load_photo(face_photo).pixels)
    # Happiness 1 from neutral differs from happiness 1 from what the model read.
    from_neutral, from_reading = tmp_path / "n.png", tmp_path / "r.png"
    assert _run(capsys, "edit", face_photo, "-o", from_neutral, "--as-neutral", "--happiness", "1", "--model", tiny_model_path)[0] == 0
    assert _run(capsys, "edit", face_photo, "-o", from_reading, "--happiness", "1", "--model", tiny_model_path)[0] == 0
    assert not np.array_equal(load_photo(from_neutral).pixels, load_photo(from_reading).pixels)


def test_edit_with_a_target_changes_the_face_only(tmp_path: Path, face_photo: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    before = _digest(face_photo)
    out = tmp_path / "happy.png"
    code, stdout, _ = _run(capsys, "edit", face_photo, "-o", out, "--happiness", "1", "--model", tiny_model_path)
    assert code == 0 and "happiness" in stdout and "wrote" in stdout
    original, edited = load_photo(face_photo).pixels, load_photo(out).pixels
    changed = np.any(original != edited, axis=2)
    assert changed.sum() > 1000
    assert not changed[:40].any() and not changed[:, :60].any()  # background corners untouched
    assert _digest(face_photo) == before
    # no overwrite without asking
    code, _, err = _run(capsys, "edit", face_photo, "-o", out, "--happiness", "0.5", "--model", tiny_model_path)
    assert code == 1 and "already exists" in err and err.count("\n") == 1
    code, _, _ = _run(capsys, "edit", face_photo, "-o", out, "--happiness", "0.5", "--overwrite", "--model", tiny_model_path)
    assert code == 0


def test_transfer_and_recognize(tmp_path: Path, face_photo: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    reference = shared_file("london/smiling/002.jpg")
    out = tmp_path / "transfer.jpg"
    code, stdout, _ = _run(capsys, "transfer", face_photo, reference, "-o", out, "--model", tiny_model_path)
    assert code == 0 and out.exists()
    code, stdout, _ = _run(capsys, "recognize", face_photo, reference, "--json", "--model", tiny_model_path)
    assert code == 0
    import json

    results = json.loads(stdout)
    assert [len(r["faces"]) for r in results] == [1, 1]
    assert set(results[0]["faces"][0]["intensities"]) == {"anger", "disgust", "fear", "happiness", "sadness", "surprise"}


def test_info(tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    code, stdout, _ = _run(capsys, "info", tiny_model_path)
    assert code == 0 and "64×64" in stdout and "random weights for tests" in stdout


@pytest.mark.parametrize(
    "setup,expect",
    [
        ("missing", "no such file"),
        ("text", "face.jpg"),
        ("noface", "no face"),
        ("badmodel", "not a readable model file"),
        ("baddevice", "unknown device"),
        ("unwritable", "does not exist"),
        ("samefile", "never writes over its inputs"),
        ("badsuffix", "use a .jpg"),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(
    tmp_path: Path, tiny_model_path: Path, capsys, setup: str, expect: str  # noqa: ANN001
) -> None:
    source = tmp_path / "face.jpg"
    out = tmp_path / "out.jpg"
    model = tiny_model_path
    extra: list[str] = []
    if setup == "text":
        source.write_text("not a picture")
    elif setup == "noface":
        cv2.imwrite(str(source), np.full((200, 200, 3), 90, np.uint8))
    elif setup != "missing":
        shutil.copy(shared_file("lisa/lisa2.jpg"), source)
    if setup == "badmodel":
        model = tmp_path / "model.pt"
        model.write_bytes(b"garbage")
    if setup == "baddevice":
        extra = ["--device", "tpu"]
    if setup == "unwritable":
        out = tmp_path / "no" / "such" / "folder" / "out.jpg"
    if setup == "samefile":
        out = source
    if setup == "badsuffix":
        out = tmp_path / "out.xyz"
    before = _digest(source) if source.exists() else None
    code, stdout, err = _run(capsys, "edit", source, "-o", out, "--happiness", "1", "--model", model, *extra)
    assert code == 1
    assert err.startswith("faceedit: error:") and err.count("\n") == 1 and expect in err
    assert "Traceback" not in err
    if setup != "samefile":
        assert not out.exists()
    if before is not None:
        assert _digest(source) == before


def test_usage_errors_exit_2(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exit_info:
        main(["edit", "x.jpg", "-o", "y.jpg", "--happiness", "2"])
    assert exit_info.value.code == 2
    assert "outside [0, 1]" in capsys.readouterr().err


def _batch_folder(root: Path) -> Path:
    folder = root / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(shared_file("london/neutral/001.jpg"), folder / "a.jpg")
    shutil.copy(shared_file("lisa/lisa3.jpg"), folder / "sub" / "b.jpg")
    cv2.imwrite(str(folder / "empty.png"), np.full((120, 160, 3), 200, np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("ignored: not a photo")
    return folder


def test_batch_summary_csv_and_resume(tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    folder = _batch_folder(tmp_path)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "batch", folder, out, "--sadness", "1", "--model", tiny_model_path)
    assert code == 1  # broken.jpg failed
    assert "2 processed, 0 already done, 1 without a usable face, 1 failed (of 4)" in stdout
    assert "broken.jpg" in err and "empty.png" in err
    assert (out / "a.jpg").exists() and (out / "sub" / "b.jpg").exists() and not (out / "empty.png").exists()
    rows = _csv_rows(out / "outputs.csv")
    assert {r["status"] for r in rows} == {"written", "no_face", "failed"}
    stamp = (out / "a.jpg").stat().st_mtime_ns
    # resume: the written ones are skipped, not redone
    code, stdout, _ = _run(capsys, "batch", folder, out, "--sadness", "1", "--model", tiny_model_path)
    assert "0 processed, 2 already done" in stdout
    assert (out / "a.jpg").stat().st_mtime_ns == stamp
    rows = _csv_rows(out / "outputs.csv")
    assert sorted(r["status"] for r in rows) == ["existing", "existing", "failed", "no_face"]


def test_batch_all_expressions_writes_labelled_data(tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(shared_file("london/neutral/002.jpg"), folder / "p.jpg")
    out = tmp_path / "synthetic"
    code, stdout, _ = _run(
        capsys, "batch", folder, out, "--all-expressions", "--levels", "0.5,1.0", "--format", "png", "--model", tiny_model_path
    )
    assert code == 0 and "1 processed" in stdout
    rows = _csv_rows(out / "outputs.csv")
    assert len(rows) == 12
    for row in rows:
        path = Path(row["output"])
        assert path.exists() and path.parent.name == row["expression"] and path.suffix == ".png"
        assert row["level"] in {"0.50", "1.00"}
    happy = load_photo(out / "happiness" / "p_1.00.png").pixels
    sad = load_photo(out / "sadness" / "p_1.00.png").pixels
    assert not np.array_equal(happy, sad)
    # --as-neutral: the same levels counted from a neutral start, not from what the model read.
    neutral_out = tmp_path / "from-neutral"
    code, stdout, _ = _run(capsys, "batch", folder, neutral_out, "--all-expressions", "--levels", "1.0", "--format", "png",
                           "--as-neutral", "--model", tiny_model_path)
    assert code == 0 and "1 processed" in stdout
    assert not np.array_equal(load_photo(neutral_out / "happiness" / "p_1.00.png").pixels, happy)


def test_identity_command(capsys) -> None:  # noqa: ANN001
    neutral, smiling = shared_file("london/neutral/001.jpg"), shared_file("london/smiling/001.jpg")
    other = shared_file("london/neutral/002.jpg")
    code, stdout, _ = _run(capsys, "identity", neutral, smiling, "--device", "cpu")
    assert code == 0 and "same person" in stdout
    code, stdout, _ = _run(capsys, "identity", neutral, other, "--json")
    import json

    result = json.loads(stdout)
    assert result["same_person"] is False and result["distance"] > 0.6


def test_info_shortens_the_build_machines_paths(built_model_path: Path, capsys) -> None:  # noqa: ANN001
    code, stdout, _ = _run(capsys, "info", built_model_path)
    assert code == 0
    assert "merged dataset at work (prepared in bundled128)" in stdout and "from london" in stdout
    assert "/work/b6" not in stdout and "/home/builder" not in stdout


def _tight_face(path: Path) -> Path:
    """A London face cropped so that it fills the frame (the plain HOG pass misses it)."""
    from faceedit.core.faces import face_detector

    image = cv2.imread(str(shared_file("london/neutral/001.jpg")))
    landmarks = face_detector().detect(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))[0].landmarks
    (x0, y0), (x1, y1) = landmarks.min(axis=0).astype(int), landmarks.max(axis=0).astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image[y0 : y1 - 20, x0 + 20 : x1 - 20])
    return path


def test_edit_finds_a_face_that_fills_the_frame(tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    source = _tight_face(tmp_path / "in" / "tight.png")
    out = tmp_path / "out.png"
    code, stdout, err = _run(capsys, "edit", source, "-o", out, "--happiness", "1", "--model", tiny_model_path)
    assert code == 0, err
    assert "face 0" in stdout and out.exists()
    edited, original = load_photo(out).pixels, load_photo(source).pixels
    assert edited.shape == original.shape and not np.array_equal(edited, original)


def test_batch_summary_reports_the_share_of_photos_with_faces(tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    folder = tmp_path / "photos"
    _tight_face(folder / "tight.png")
    shutil.copy(shared_file("london/neutral/002.jpg"), folder / "whole.jpg")
    cv2.imwrite(str(folder / "empty.png"), np.full((120, 160, 3), 200, np.uint8))
    code, stdout, _ = _run(capsys, "batch", folder, tmp_path / "out", "--sadness", "1", "--model", tiny_model_path)
    assert code == 0
    assert "2 processed, 0 already done, 1 without a usable face, 0 failed (of 3)" in stdout
    assert "faces found in 2 of 3 photos (67 %)" in stdout


def test_preset_on_edit_and_batch_with_flags_overriding(
    tmp_path: Path, tiny_model_path: Path, face_photo: Path, capsys, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    import json

    monkeypatch.setenv("FACEEDIT_PRESETS_DIR", str(tmp_path / "presets"))
    code, stdout, err = _run(capsys, "edit", face_photo, "-o", tmp_path / "a.png", "--preset", "big smile", "--model", tiny_model_path)
    assert code == 0, err
    assert "happiness" in stdout and "→1.00" in stdout.split("happiness")[1][:12]
    # an explicit flag wins over the preset's value
    code, stdout, err = _run(
        capsys, "edit", face_photo, "-o", tmp_path / "b.png", "--preset", "neutral", "--happiness", "0.7", "--model", tiny_model_path
    )
    assert code == 0, err
    assert "→0.70" in stdout.split("happiness")[1][:12]
    preset = tmp_path / "mine.json"
    preset.write_text(json.dumps({"name": "mine", "expressions": {"surprise": 0.9}}))
    code, stdout, err = _run(capsys, "batch", face_photo.parent, tmp_path / "out", "--preset", preset, "--model", tiny_model_path)
    assert code == 0, err
    assert (tmp_path / "out" / face_photo.name).exists()


def test_bad_presets_are_one_line_errors(tmp_path: Path, face_photo: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("FACEEDIT_PRESETS_DIR", str(tmp_path / "presets"))
    code, _, err = _run(capsys, "edit", face_photo, "-o", tmp_path / "a.png", "--preset", "grin")
    assert code == 1 and err.strip().count("\n") == 0
    assert "no preset called 'grin'" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    code, _, err = _run(capsys, "batch", face_photo.parent, tmp_path / "out", "--preset", bad)
    assert code == 1 and "not valid JSON" in err and err.strip().count("\n") == 0
    code, _, err = _run(capsys, "batch", face_photo.parent, tmp_path / "out", "--all-expressions", "--preset", "neutral")
    assert code == 1 and "leave out --preset" in err
