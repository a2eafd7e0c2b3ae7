"""The whole trainer through its command line: an Oulu-CASIA-shaped tree → prepare → train
(smoke preset) → evaluate → export → ``faceedit edit --model`` on a photo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faceedit.cli import main as faceedit_main
from faceedit.core.models.file import read_model_info
from faceedit.core.imageio import load_photo
from test_prepare import make_oulu, oulu_frames  # noqa: F401 (the fixture is used by name)
from trainer.cli import main as train_main


def test_oulu_tree_to_edited_photo(tmp_path: Path, oulu_frames: dict[str, tuple[bytes, bytes]], london_neutral: Path, capsys) -> None:  # noqa: ANN001, F811
    root = make_oulu(tmp_path / "Oulu-CASIA-download", oulu_frames)
    prepared, runs = tmp_path / "prepared", tmp_path / "runs"

    assert train_main(["prepare", str(root), "--out", str(prepared), "--size", "64", "--workers", "1"]) == 0
    assert train_main(["train", str(prepared), "--preset", "smoke", "--out", str(runs), "--device", "cpu"]) == 0
    [run] = list(runs.iterdir())
    stages = {json.loads(line)["stage"] for line in (run / "progress.jsonl").read_text().splitlines()}
    assert stages == {"controller", "reconstruction", "refining"}

    model = tmp_path / "model.pt"
    assert train_main(["export", str(run), "-o", str(model)]) == 0
    evaluation = tmp_path / "eval"
    assert train_main(["evaluate", str(model), str(prepared), "--out", str(evaluation), "--device", "cpu", "--max-faces", "2"]) == 0
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert (evaluation / "contact-sheet.png").exists()

    # export again with the metrics inside, as a shipped model would be
    final = tmp_path / "final.pt"
    assert train_main(["export", str(run), "-o", str(final), "--metrics", str(evaluation / "metrics.json"), "--half"]) == 0
    info = read_model_info(final)
    assert info.storage_dtype == "float16" and info.provenance.steps == 9 and "oulu" in info.provenance.data
    assert info.metrics and all(np.isfinite(v) for v in info.metrics.values())
    assert metrics  # evaluate wrote something the export could read

    out = tmp_path / "edited.png"
    assert faceedit_main(["edit", str(london_neutral), "-o", str(out), "--surprise", "1", "--model", str(final)]) == 0
    assert not np.array_equal(load_photo(out).pixels, load_photo(london_neutral).pixels)
    # an existing run folder name is never reused, an existing output never overwritten
    assert train_main(["export", str(run), "-o", str(final)]) == 1
    assert "already exists" in capsys.readouterr().err
