"""faceedit-train augment-experiment on tiny data: pool order and cache, the runs, the table, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import EXPRESSIONS
from trainer.augment import (
    PAPER_TABLE,
    POOL_NAME,
    RESULT_NAME,
    AugmentConfig,
    RunResult,
    make_pool,
    markdown_table,
    pool_order,
    run_experiment,
    summarise,
)
from trainer.judge import JudgeConfig, training_records
from trainer.manifest import LABELS, read_prepared

from conftest import SHARED_DATA, needs_shared_data

FAST_JUDGE = JudgeConfig(width=8, min_steps=10, max_steps=10, batch_size=16)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared photo data not found at {SHARED_DATA}")
    from trainer_fixtures import build_prepared

    return build_prepared(tmp_path_factory.mktemp("augment") / "prepared", ids=4)


def test_pool_order_is_level_by_level_each_source_giving_all_six() -> None:
    train = [object()] * 3
    order = pool_order(train, (1.0, 0.5), seed=0)  # type: ignore[arg-type]
    assert len(order) == 3 * 6 * 2
    assert [level for _, level, _ in order[:18]] == [1.0] * 18 and {level for _, level, _ in order[18:]} == {0.5}
    first = order[:6]
    assert len({i for i, _, _ in first}) == 1 and [e for _, _, e in first] == list(EXPRESSIONS)
    assert sorted({i for i, _, _ in order[:18]}) == [0, 1, 2]
    assert pool_order(train, (1.0,), seed=0) == pool_order(train, (1.0,), seed=0)  # type: ignore[arg-type]


def test_summary_and_table_beside_the_papers() -> None:
    runs = [RunResult(0, 0, 0.5, 0.4, 10, 8, 1.0), RunResult(0, 1, 0.7, 0.6, 10, 8, 1.0),
            RunResult(3000, 0, 0.8, 0.8, 10, 3008, 1.0)]
    rows = summarise(runs)
    assert [r.synthetic for r in rows] == [0, 3000]
    assert rows[0].mean == pytest.approx(0.6) and rows[0].std == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert rows[1].std == 0.0
    table = markdown_table(rows)
    assert "| 0 | 77.78 % | 60.00 ± 14.14 % | 50.00, 70.00 | 50.00 % |" in table
    assert "| 6,000 | 81.94 % | not run |" in table
    assert table.count("\n") == 2 + len(PAPER_TABLE)


@needs_shared_data
def test_experiment_on_tiny_data(prepared: Path, tiny_model_path: Path, tmp_path: Path) -> None:
    config = AugmentConfig(counts=(0, 12), seeds=(0, 1), levels=(1.0,), judge=FAST_JUDGE)
    runs, rows, pool = run_experiment(prepared, tiny_model_path, config, tmp_path / "work")
    assert [(r.synthetic, r.seed) for r in runs] == [(0, 0), (12, 0), (0, 1), (12, 1)]  # seed-major
    _, records = read_prepared(prepared)
    train, _ = training_records(records)
    real = len(train)
    assert [r.train_faces for r in runs] == [real, real + 12, real, real + 12]
    assert all(0.0 <= r.accuracy <= 1.0 and r.steps == 10 for r in runs)
    assert [r.synthetic for r in rows] == [0, 12]
    # Synthetic faces: model size greyscale, labelled with the six expressions (never neutral), from training faces only.
    assert pool.images.shape == (12, 64, 64) and pool.images.dtype == np.uint8
    assert sorted(pool.labels.tolist()) == sorted([LABELS.index(e) for e in EXPRESSIONS] * 2)
    assert set(pool.sources) <= {r.file for r in train}
    assert pool.images.std() > 0
    saved = json.loads((tmp_path / "work" / RESULT_NAME).read_text())
    assert len(saved) == 4 and saved[1]["synthetic"] == 12


@needs_shared_data
def test_pool_is_cached_and_refused_beyond_its_size(prepared: Path, tiny_model_path: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, records = read_prepared(prepared)
    train, _ = training_records(records)
    first = make_pool(prepared, train, tiny_model_path, 6, (1.0,), 0, 64, tmp_path)
    assert (tmp_path / POOL_NAME).is_file()

    def no_editing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached pool should have been used")

    monkeypatch.setattr("faceedit.core.editor.ExpressionEditor.render", no_editing)
    again = make_pool(prepared, train, tiny_model_path, 6, (1.0,), 0, 64, tmp_path)
    assert np.array_equal(first.images, again.images) and first.sources == again.sources
    with pytest.raises(FaceeditError, match="synthetic faces asked"):
        make_pool(prepared, train, tiny_model_path, len(train) * 6 + 1, (1.0,), 0, 64, tmp_path)


@needs_shared_data
def test_command_line(prepared: Path, tiny_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main

    out = tmp_path / "out"
    code = main(["augment-experiment", str(prepared), "--model", str(tiny_model_path), "--synthetic", "0,6",
                 "--seeds", "0", "--levels", "1", "--max-steps", "2", "--width", "4", "--out", str(out)])
    stdout, _ = capsys.readouterr()
    assert code == 0
    assert "| 0 | 77.78 % |" in stdout and "| 6 | — |" in stdout
    assert (out / "augment.md").read_text() in stdout and (out / "synthetic-sheet.png").is_file()
    code = main(["augment-experiment", str(prepared), "--model", str(tiny_model_path), "--synthetic", "100000",
                 "--seeds", "0", "--levels", "1", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 1 and err.startswith("faceedit-train: error:") and err.count("\n") == 1


@pytest.mark.parametrize("args", [["--synthetic", "-3"], ["--synthetic", "abc"], ["--levels", "0"], ["--levels", "1.5"]])
def test_bad_arguments_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    from trainer.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["augment-experiment", str(tmp_path), "--out", str(tmp_path / "o"), *args])
    assert exit_info.value.code == 2


def test_not_a_prepared_folder(tmp_path: Path, tiny_model_path: Path) -> None:
    with pytest.raises(FaceeditError, match="not a prepared dataset"):
        run_experiment(tmp_path, tiny_model_path, AugmentConfig(counts=(0,), seeds=(0,), judge=FAST_JUDGE))
