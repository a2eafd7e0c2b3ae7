"""Slider presets: built-in ones, the user's JSON files, and one-line errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceedit.core.expressions import ExpressionTargets
from faceedit.core.presets import (
    PresetError,
    find_preset,
    list_presets,
    load_preset_file,
    neutral_preset,
    presets_dir,
    save_preset,
)


def test_builtin_presets_map_to_slider_states(tmp_path: Path) -> None:
    presets, problems = list_presets(tmp_path / "none")
    assert problems == []
    by_name = {p.name: p.targets for p in presets}
    assert by_name["neutral"] == ExpressionTargets.exactly([0.0] * 6)
    assert by_name["slight smile"].as_dict()["happiness"] == 0.4
    assert by_name["big smile"].as_dict()["happiness"] == 1.0
    assert by_name["surprised"].as_dict()["surprise"] == 0.8
    # Expressions a preset does not name keep the face's own intensity.
    assert by_name["big smile"].resolve([0.3] * 6).tolist() == pytest.approx([0.3, 0.3, 0.3, 1.0, 0.3, 0.3])
    assert neutral_preset().targets.resolve([0.9] * 6).tolist() == [0.0] * 6


def test_saved_presets_are_readable_json_and_listed_after_the_builtin_ones(tmp_path: Path) -> None:
    targets = ExpressionTargets.from_mapping({"happiness": 0.55, "surprise": 0.25})
    path = save_preset("  Joy  ", targets, tmp_path)
    assert path == tmp_path / "Joy.json"
    assert json.loads(path.read_text()) == {"name": "Joy", "expressions": {"happiness": 0.55, "surprise": 0.25}}
    presets, problems = list_presets(tmp_path)
    assert problems == [] and presets[-1].name == "Joy" and presets[-1].targets == targets
    assert not presets[-1].builtin and presets[0].builtin
    assert find_preset("joy", tmp_path).targets == targets
    assert find_preset(str(path)).targets == targets
    # A user preset with a built-in's name replaces it.
    save_preset("big smile", ExpressionTargets.from_mapping({"happiness": 0.8}), tmp_path)
    assert find_preset("big smile", tmp_path).targets.as_dict()["happiness"] == 0.8
    assert [p.name for p in list_presets(tmp_path)[0]].count("big smile") == 1


def test_presets_folder_is_in_the_user_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("FACEEDIT_PRESETS_DIR", raising=False)
    assert presets_dir() == Path(platformdirs.user_config_dir("faceedit", appauthor=False)) / "presets"
    monkeypatch.setenv("FACEEDIT_PRESETS_DIR", "/somewhere/presets")
    assert presets_dir() == Path("/somewhere/presets")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON (line 1)"),
        ("[1, 2]", '"expressions"'),
        ('{"expressions": {"joy": 0.5}}', "unknown expression 'joy'"),
        ('{"expressions": {"happiness": 1.5}}', "between 0 and 1"),
        ('{"expressions": {"happiness": "high"}}', "must be a number"),
        ('{"name": 3, "expressions": {}}', '"name" must be text'),
        (b"\xff\xfe\x00", "not valid JSON"),
    ],
)
def test_bad_preset_files_give_one_line_errors(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(PresetError) as error:
        load_preset_file(path)
    assert message in str(error.value) and "\n" not in str(error.value)
    # Listing skips the bad file and reports it; the others still load.
    save_preset("good", ExpressionTargets.from_mapping({"fear": 0.3}), tmp_path)
    presets, problems = list_presets(tmp_path)
    assert "good" in [p.name for p in presets] and len(problems) == 1 and "bad.json" in problems[0]


def test_unknown_names_missing_files_and_bad_names_are_explained(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="no preset called 'grin'; known: neutral, slight smile"):
        find_preset("grin", tmp_path)
    with pytest.raises(PresetError, match="does not exist"):
        find_preset(str(tmp_path / "missing.json"))
    for bad in ("", "a/b", ".hidden", "x" * 61):
        with pytest.raises(PresetError):
            save_preset(bad, ExpressionTargets.from_mapping({"fear": 0.3}), tmp_path)
    with pytest.raises(PresetError, match="no slider is set"):
        save_preset("empty", ExpressionTargets(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
