"""faceedit search end to end with a tiny random model: JSON shape, the query left out, cache, sheet, bad input."""

from __future__ import annotations

import json
import shutil
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


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Three London photos (two people), one broken file, one photo with no face."""
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    shutil.copy(shared_file("london/neutral/001.jpg"), photos / "001-neutral.jpg")
    shutil.copy(shared_file("london/smiling/001.jpg"), photos / "001-smiling.jpg")
    shutil.copy(shared_file("london/smiling/002.jpg"), photos / "more" / "002-smiling.jpg")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cv2.imwrite(str(photos / "wall.png"), np.full((200, 200, 3), 128, np.uint8))
    return photos


def test_json_lists_every_other_face_best_first(folder: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    query = folder / "001-smiling.jpg"
    code, out, err = _run(capsys, "search", query, folder, "--json", "--model", tiny_model_path, "--precision", "fp32")
    assert code == 0, err
    rows = json.loads(out)
    assert isinstance(rows, list) and len(rows) == 2  # the query face itself is left out
    assert {Path(r["path"]).name for r in rows} == {"001-neutral.jpg", "002-smiling.jpg"}
    assert all({"path", "face", "score"} <= set(r) for r in rows)
    assert [r["rank"] for r in rows] == [1, 2]
    assert rows[0]["score"] >= rows[1]["score"] and all(0.0 <= r["score"] <= 1.0 for r in rows)
    assert all(r["face"] == 0 for r in rows)
    assert "skipped" in err and "broken.jpg" in err and err.count("\n") == 1  # reported, one line


def test_second_search_uses_the_cache_and_top_limits(folder: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    query = folder / "001-neutral.jpg"
    code, _, err = _run(capsys, "search", query, folder, "--model", tiny_model_path, "--precision", "fp32")
    assert code == 0 and "3 read now" not in err  # 5 files: 3 faces, 1 broken, 1 without a face
    assert "5 read now, 0 from the cache" in err
    code, out, err = _run(capsys, "search", query, folder, "--top", "1", "--model", tiny_model_path, "--precision", "fp32")
    assert code == 0 and "0 read now, 5 from the cache" in err
    assert len(out.strip().splitlines()) == 1 and out.split()[0] == "1"


def test_sheet_is_written_and_not_overwritten(folder: Path, tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    sheet = tmp_path / "sheet.jpg"
    args = ("search", folder / "001-neutral.jpg", folder, "--sheet", sheet, "--model", tiny_model_path, "--no-cache")
    code, _, err = _run(capsys, *args)
    assert code == 0, err
    pixels = load_photo(sheet).pixels
    assert pixels.shape[0] > 128 and pixels.shape[1] >= 3 * 128  # query + two hits
    code, _, err = _run(capsys, *args)
    assert code == 1 and "already exists" in err and err.startswith("faceedit: error:")


@pytest.mark.parametrize("case", ["missing folder", "query is missing", "query without a face", "folder is a file", "bad sheet name"])
def test_bad_input_is_one_line_and_exit_1(case: str, folder: Path, tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    query, where, extra = folder / "001-neutral.jpg", folder, []
    if case == "missing folder":
        where = tmp_path / "nowhere"
    elif case == "query is missing":
        query = tmp_path / "nothing.jpg"
    elif case == "query without a face":
        query = folder / "wall.png"
    elif case == "folder is a file":
        where = folder / "wall.png"
    else:
        extra = ["--sheet", str(tmp_path / "sheet.txt")]
    code, out, err = _run(capsys, "search", query, where, *extra, "--model", tiny_model_path)
    assert code == 1 and out == ""
    assert err.startswith("faceedit: error:") and err.count("\n") == 1, err


def test_negative_top_is_a_usage_error(folder: Path, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exit_info:
        main(["search", str(folder / "001-neutral.jpg"), str(folder), "--top", "-1"])
    assert exit_info.value.code == 2
