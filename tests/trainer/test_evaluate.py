"""faceedit-train evaluate: metric helpers, the judge, and an evaluation of a tiny prepared set.

The prepared set is built here (not by the prepare step): London and Lisa photos from
../shared/data aligned at 64 px, labels partly real (London neutral/smiling) and partly
made up for the other classes. The model is random: these tests check mechanics, ranges
and caching, not quality.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.core.alignment import TEMPLATE_5, align_face
from faceedit.core.models.file import Provenance, save_model
from faceedit.core.errors import FaceeditError, OutputError
from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.imageio import load_photo, save_photo
from faceedit.core.models.exprgan import Generator, ExprGANConfig
from trainer import evaluate as evaluate_module
from trainer.evaluate import (
    SHEET_FOOTER,
    SHEET_GAP,
    SHEET_HEADER,
    EvaluationResult,
    add_evaluate_arguments,
    evaluate_model,
    laplacian_variance,
    mean_hue,
    mean_saturation,
    mouth_excluded,
    output_paths,
    psnr,
    run_evaluate,
    sheet_cell_size,
    spearman,
    ssim,
    write_outputs,
)
from trainer.judge import JUDGE_NAME, Judge, JudgeConfig, JudgeTraining, judge_inputs, train_judge
from trainer.manifest import LABELS, MANIFEST_NAME, FaceRecord, PreparedInfo, read_prepared, write_prepared

from conftest import SHARED_DATA as DATA, needs_shared_data as needs_data  # noqa: E402

SIZE = 64
# A judge that trains in a second or two: enough to exercise the code, not to be accurate.
FAST_JUDGE = JudgeConfig(width=8, min_steps=40, max_steps=40, batch_size=32)
# Made-up labels for the classes London has no photos of (the tests check mechanics only).
LISA_LABELS = {"lisa1": "anger", "lisa2": "disgust", "lisa3": "fear", "lisa4": "sadness"}


# ---------------------------------------------------------------------------------------
# fixtures


def _aligned_record(source: Path, folder: Path, name: str, label: str, subject: str, split: str) -> FaceRecord:
    from faceedit.core.faces import face_detector

    pixels = load_photo(source).pixels
    face = face_detector().detect(pixels)[0]
    aligned = align_face(pixels, face.landmarks, SIZE, TEMPLATE_5)
    save_photo(folder / "faces" / f"{name}.png", aligned.crop)
    return FaceRecord(
        file=f"faces/{name}.png",
        source=str(source),
        label=label,
        intensity=0.0 if label == "neutral" else 1.0,
        subject=subject,
        split=split,
        landmarks=aligned.landmarks.tolist(),
        source_landmarks=face.landmarks.tolist(),
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny PREPARED folder: 18 training faces covering all 7 labels, 8 London test faces."""
    if not DATA.is_dir():
        pytest.skip(f"shared photo data not found at {DATA}")
    folder = tmp_path_factory.mktemp("prepared")
    (folder / "faces").mkdir()
    london = DATA / "london"
    ids = sorted(p.stem for p in (london / "neutral").glob("*.jpg"))[:13]
    records = []
    for number, subject in enumerate(ids):
        split = "train" if number < 9 else "test"
        for kind, label in (("neutral", "neutral"), ("smiling", "happiness")):
            if number == 8 and kind == "smiling":
                continue
            if number == 8:  # the one training "surprise" face (a made-up label)
                label = "surprise"
            records.append(_aligned_record(london / kind / f"{subject}.jpg", folder, f"{subject}_{kind}", label, subject, split))
    for stem, label in LISA_LABELS.items():
        records.append(_aligned_record(DATA / "lisa" / f"{stem}.jpg", folder, stem, label, "lisa", "train"))
    info = PreparedInfo(kind="pairs", root=str(DATA), size=SIZE, template=TEMPLATE_5.tolist())
    write_prepared(folder, info, records)
    return folder


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(path, Generator(ExprGANConfig(image_size=SIZE, width=0.25)), provenance=Provenance(data="random weights"))
    return path


def _copy(prepared: Path, tmp_path: Path) -> Path:
    target = tmp_path / "prepared"
    shutil.copytree(prepared, target)
    (target / JUDGE_NAME).unlink(missing_ok=True)
    return target


def _evaluate(model: Path, prepared: Path, **kwargs: object) -> EvaluationResult:
    return evaluate_model(model, prepared, device="cpu", judge_config=FAST_JUDGE, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def first_run(model_path: Path, prepared: Path) -> EvaluationResult:
    return _evaluate(model_path, prepared)


# ---------------------------------------------------------------------------------------
# metric helpers


def test_psnr_known_values() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(20, 200, (32, 32, 3))
    assert psnr(a, a + 10.0) == pytest.approx(10 * math.log10(255**2 / 100.0))  # 28.13 dB
    assert psnr(a, a) == pytest.approx(evaluate_module.PSNR_CAP_DB)
    with pytest.raises(ValueError):
        psnr(a, a[:16])


def test_ssim_known_values() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (40, 40, 3))
    assert ssim(a, a) == pytest.approx(1.0)
    # Constant images: no structure, SSIM is the luminance term (2ab + C1) / (a² + b² + C1).
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 140 + c1) / (100**2 + 140**2 + c1)
    assert ssim(np.full((32, 32), 100.0), np.full((32, 32), 140.0)) == pytest.approx(expected)
    assert abs(ssim(a, rng.uniform(0, 255, a.shape))) < 0.1  # unrelated noise
    assert ssim(a, 255 - a) < 0  # inverted structure
    blurred = (a + np.roll(a, 1, 0) + np.roll(a, 1, 1)) / 3
    assert 0.0 < ssim(a, blurred) < 1.0


def test_spearman_known_values() -> None:
    assert spearman([0, 0.25, 0.5, 1.0], [0.1, 0.2, 0.3, 0.9]) == pytest.approx(1.0)
    assert spearman([0, 0.25, 0.5, 1.0], [0.9, 0.2, 0.1, 0.0]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [0.5, 0.5, 0.5]) == 0.0  # nothing changes: no monotone effect
    # Ties share their average rank: y ranks 1, 2, 3.5, 5, 3.5 → 8 / √95.
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))


def test_sharpness_and_saturation_helpers() -> None:
    flat = np.full((32, 32, 3), 128, np.uint8)
    assert laplacian_variance(flat) == 0.0
    checker = (np.indices((32, 32)).sum(axis=0) % 2 * 255).astype(np.uint8)
    sharp = np.dstack([checker] * 3)
    assert laplacian_variance(sharp) > laplacian_variance(np.full_like(sharp, 100)) + 1000
    assert mean_saturation(flat) == 0.0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    mask = np.zeros((8, 8), bool)
    mask[:4] = True
    half = red.copy()
    half[4:] = 128
    assert mean_saturation(half, mask) == pytest.approx(1.0)
    assert mean_saturation(half) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------
# the judge


def _synthetic_faces(count: int, rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """Noisy grey 'faces'; class happiness has a dark open mouth (a bar low in the middle)."""
    crops, labels = [], []
    for i in range(count):
        image = rng.normal(150 + rng.uniform(-40, 40), 20, (SIZE, SIZE)).clip(0, 255)
        happy = i % 2 == 0
        if happy:
            y, x = 44 + rng.integers(-2, 3), 20 + rng.integers(-3, 4)
            image[y : y + 6, x : x + 24] = rng.uniform(10, 50)
        crops.append(np.dstack([image.astype(np.uint8)] * 3))
        labels.append(LABELS.index("happiness" if happy else "neutral"))
    return crops, np.array(labels)


def test_hue_and_the_mouth_free_mask() -> None:
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200
    assert mean_hue(red) == pytest.approx(0.0, abs=1.0)
    green = red[..., [1, 0, 2]]
    assert mean_hue(green) == pytest.approx(120.0, abs=2.0)
    half = np.concatenate([red, green], axis=1)
    assert mean_hue(half, np.concatenate([np.ones((8, 8), bool), np.zeros((8, 8), bool)], axis=1)) == pytest.approx(0.0, abs=1.0)
    landmarks = np.zeros((68, 2))
    landmarks[48:68] = [(20 + 10 * math.cos(a), 40 + 4 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 20, endpoint=False)]
    mask = mouth_excluded(np.ones((64, 64), bool), landmarks)
    assert not mask[40, 20] and not mask[40, 33] and mask[40, 40] and mask[20, 20]


def test_judge_learns_a_learnable_problem() -> None:
    rng = np.random.default_rng(3)
    train_crops, train_labels = _synthetic_faces(80, rng)
    test_crops, test_labels = _synthetic_faces(60, rng)
    config = JudgeConfig(width=8, min_steps=60, max_steps=60, batch_size=32)
    net, steps, loss = train_judge(judge_inputs(train_crops, config.size), train_labels, config)
    assert steps == 60 and math.isfinite(loss)
    judge = Judge(net, config, JudgeTraining("k", ("happiness", "neutral"), {}, steps, 0.0, loss), torch.device("cpu"))
    probabilities = judge.probabilities(test_crops)
    assert probabilities.shape == (60, len(LABELS))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # Classes it never saw are never named.
    unseen = [i for i, label in enumerate(LABELS) if label not in ("happiness", "neutral")]
    assert np.all(probabilities[:, unseen] == 0.0)
    assert (judge.predict(test_crops) == test_labels).mean() >= 0.9


def test_judge_inputs_treat_colour_and_grey_alike() -> None:
    rng = np.random.default_rng(4)
    grey = rng.integers(0, 256, (128, 128), dtype=np.uint8)
    colour = np.dstack([grey] * 3)
    a, b = judge_inputs([grey, colour], 64)
    assert a.shape == (1, 64, 64) and np.allclose(a, b)
    assert abs(float(a.mean())) < 1e-4 and float(a.std()) == pytest.approx(1.0, abs=1e-3)


# ---------------------------------------------------------------------------------------
# the evaluation


@needs_data
def test_metrics_are_complete_and_in_range(first_run: EvaluationResult, model_path: Path, prepared: Path) -> None:
    r = first_run
    assert r.counts.test_faces == 8 and r.counts.edited_faces == 4 and r.counts.edited_from == "neutral"
    assert r.counts.renders == 4 * 6 * 5
    # The 4 edited faces are neutral: how many the model reads so, and the others' highest intensity.
    reading = r.neutral_reading
    assert reading is not None and reading.faces == 4
    assert reading.read_neutral == pytest.approx(1 - len(reading.misread) / 4)
    assert all(value >= 0.3 for value in reading.misread.values())
    assert set(r.judge.classes) == set(LABELS)  # every label has training faces here
    assert r.judge.test_faces == 8 and 0.0 <= r.judge.test_accuracy <= 1.0
    assert not r.judge.cached
    for group in (r.expression_accuracy, r.identity_distance, r.monotonicity):
        assert set(group.values) == set(EXPRESSIONS)
        assert all(v is not None and math.isfinite(v) for v in group.values.values())
    assert all(0.0 <= v <= 1.0 for v in r.expression_accuracy.values.values())
    # What each expression's edits were read as: shares of the 4 edited faces, and the
    # share read as the asked expression is its accuracy.
    assert set(r.read_as) == set(EXPRESSIONS)
    for expression, shares in r.read_as.items():
        assert set(shares) <= set(LABELS) and sum(shares.values()) == pytest.approx(1.0)
        assert shares.get(expression, 0.0) == pytest.approx(r.expression_accuracy.values[expression])
    assert all(-1.0 <= v <= 1.0 for v in r.monotonicity.values.values())
    assert all(0.0 <= v < 1.5 for v in r.identity_distance.values.values())
    assert r.identity_space == "photo"  # the London sources are readable: the app's photo path
    assert 0.0 <= r.identity_same_person_rate <= 1.0
    assert 0.0 < r.psnr < 60.0 and -1.0 <= r.ssim <= 1.0
    assert r.sharpness.before > 0 and r.sharpness.after > 0
    assert 0.0 < r.saturation.before <= 1.0 and 0.0 <= r.saturation.after <= 1.0
    assert r.colour is not None and r.colour.worst_saturation_change >= 0.0 and 0.0 <= r.colour.worst_hue_shift <= 180.0
    assert 0.0 <= r.colour.faces_within <= 1.0
    assert r.template_matches

    paths = output_paths(model_path, None)
    assert paths.folder == model_path.parent / "tiny-eval"
    write_outputs(r, paths)
    saved = json.loads(paths.metrics.read_text())
    for key in ("expression_accuracy", "identity_distance", "reconstruction", "monotonicity", "sharpness", "saturation",
                "colour_per_face", "judge", "counts", "model", "summary", "expression_read_as"):
        assert key in saved, key
    assert saved["prepared"] == str(prepared.resolve())
    assert saved["model"]["image_size"] == SIZE
    assert saved["identity_distance"]["space"] == "photo"
    assert all(math.isfinite(v) for v in saved["summary"].values())
    assert set(saved["summary"]) >= {"expression_accuracy", "identity_distance", "psnr", "ssim", "monotonicity", "judge_test_accuracy"}

    sheet = load_photo(paths.contact_sheet).pixels
    columns, rows = 1 + 6 * 2, 4
    cell = sheet_cell_size(SIZE, columns)
    assert cell == 128
    assert sheet.shape == (SHEET_HEADER + SHEET_GAP + rows * (cell + SHEET_GAP) + SHEET_FOOTER, SHEET_GAP + columns * (cell + SHEET_GAP), 3)
    assert sheet.shape[1] <= 2000
    assert np.array_equal(sheet, r.contact_sheet)
    with pytest.raises(OutputError, match="overwrite"):
        write_outputs(r, paths)  # never replaced without asking
    write_outputs(r, paths, overwrite=True)


@needs_data
def test_judge_is_cached_and_retrained_when_the_manifest_changes(first_run: EvaluationResult, model_path: Path, prepared: Path, tmp_path: Path) -> None:
    assert (prepared / JUDGE_NAME).is_file()
    again = _evaluate(model_path, prepared)
    assert again.judge.cached
    assert again.judge.test_accuracy == first_run.judge.test_accuracy
    assert again.psnr == pytest.approx(first_run.psnr)

    # A changed manifest (one training face fewer; sources moved away) means a new judge.
    changed = _copy(prepared, tmp_path)
    shutil.copy(prepared / JUDGE_NAME, changed / JUDGE_NAME)
    info, records = read_prepared(changed)
    records = [dataclasses.replace(r, source=f"/nonexistent/{Path(r.source).name}") for r in records[1:]]
    write_prepared(changed, info, records)
    retrained = _evaluate(model_path, changed)
    assert not retrained.judge.cached
    assert retrained.identity_space == "crop"  # no source photos: measured on the crops
    assert all(v is not None and math.isfinite(v) for v in retrained.identity_distance.values.values())

    # A damaged cache is retrained, not an error.
    (changed / JUDGE_NAME).write_bytes(b"not a torch file")
    assert not _evaluate(model_path, changed).judge.cached
    assert _evaluate(model_path, changed).judge.cached


@needs_data
def test_run_evaluate_command(monkeypatch: pytest.MonkeyPatch, model_path: Path, prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fast = functools.partial(evaluate_module.evaluate_model, judge_config=FAST_JUDGE)
    monkeypatch.setattr(evaluate_module, "evaluate_model", fast)
    parser = argparse.ArgumentParser()
    add_evaluate_arguments(parser)
    out = tmp_path / "eval"
    args = parser.parse_args([str(model_path), str(prepared), "--out", str(out), "--device", "cpu", "--levels", "0,0.5,1", "--max-faces", "2"])
    assert run_evaluate(args) == 0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["monotonicity"]["levels"] == [0.0, 0.5, 1.0]
    assert saved["counts"]["edited_faces"] == 2
    assert (out / "contact-sheet.png").is_file()
    assert "expression accuracy" in capsys.readouterr().out
    with pytest.raises(OutputError, match="overwrite"):
        run_evaluate(args)  # refused before any work
    assert run_evaluate(parser.parse_args([*map(str, (model_path, prepared)), "--out", str(out), "--overwrite", "--max-faces", "1"])) == 0
    with pytest.raises(SystemExit):
        parser.parse_args([str(model_path), str(prepared), "--levels", "0.5"])  # one level cannot rank
    with pytest.raises(FaceeditError, match="--judge-steps must be 1 or more"):
        run_evaluate(parser.parse_args([*map(str, (model_path, prepared)), "--out", str(out), "--judge-steps", "0"]))
    # --judge-steps trains (and caches) a judge of its own setting; in a copy, so that the
    # module's cached judge stays for the other tests.
    own = shutil.copytree(prepared, tmp_path / "own-judge")
    assert run_evaluate(parser.parse_args([*map(str, (model_path, own)), "--out", str(out), "--overwrite", "--max-faces", "1",
                                           "--judge-steps", "7"])) == 0
    assert json.loads((out / "metrics.json").read_text())["judge"]["steps"] == 7


@needs_data
def test_from_neutral_edits_every_face_from_zero(first_run: EvaluationResult, model_path: Path, prepared: Path) -> None:
    neutral = _evaluate(model_path, prepared, from_neutral=True)
    assert neutral.counts.edited_from_neutral and not first_run.counts.edited_from_neutral
    assert neutral.to_json()["counts"]["edited_from_neutral"] is True
    assert neutral.counts.edited_faces == first_run.counts.edited_faces
    # The same faces and judge, other edits: the tiny model reads some expression into them.
    assert neutral.judge.test_accuracy == first_run.judge.test_accuracy
    assert neutral.identity_distance.values != first_run.identity_distance.values
    assert neutral.psnr == first_run.psnr  # reconstruction is the model's reading, not the edit's start


@needs_data
def test_edit_from_edits_only_faces_of_that_source(first_run: EvaluationResult, model_path: Path, prepared: Path) -> None:
    smiling = _evaluate(model_path, prepared, edit_from=DATA / "london" / "smiling", max_faces=1)
    counts = smiling.counts
    assert counts.test_faces == 8 and counts.test_faces_under == 4 and counts.edited_faces == 1
    assert counts.edited_from == "all"  # no neutral face among the smiling ones: all of them
    assert counts.edited_under == str((DATA / "london" / "smiling").resolve())
    # The judge is trained and scored exactly as without the filter.
    assert smiling.judge.cached and smiling.judge.test_faces == first_run.judge.test_faces == 8
    assert smiling.judge.test_accuracy == first_run.judge.test_accuracy
    assert smiling.identity_space == "photo"
    assert smiling.to_json()["counts"]["edited_under"] == counts.edited_under
    assert first_run.to_json()["counts"]["edited_under"] is None

    london = _evaluate(model_path, prepared, edit_from=DATA / "london", max_faces=1)
    assert london.counts.test_faces_under == 8 and london.counts.edited_from == "neutral"
    assert "edited only those from" in evaluate_module._sheet_footer("m", "/data", DATA / "london")

    with pytest.raises(FaceeditError, match="no test face .* comes from .*lisa"):
        _evaluate(model_path, prepared, edit_from=DATA / "lisa")  # Lisa's faces are all in the training split


@needs_data
def test_a_merged_folder_evaluates_in_photo_space(
    monkeypatch: pytest.MonkeyPatch, model_path: Path, prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trainer.merge import merge_prepared

    # The second set names its sources relative to its root, as a hand-made set may.
    relative = tmp_path / "relative"
    shutil.copytree(prepared, relative)
    (relative / JUDGE_NAME).unlink(missing_ok=True)
    info, records = read_prepared(relative)
    write_prepared(relative, info, [dataclasses.replace(r, source=str(Path(r.source).relative_to(DATA))) for r in records])
    merged = tmp_path / "merged"
    merge_prepared([prepared, relative], merged)

    fast = functools.partial(evaluate_module.evaluate_model, judge_config=FAST_JUDGE)
    monkeypatch.setattr(evaluate_module, "evaluate_model", fast)
    parser = argparse.ArgumentParser()
    add_evaluate_arguments(parser)
    out = tmp_path / "eval"
    neutral = DATA / "london" / "neutral"
    args = parser.parse_args([str(model_path), str(merged), "--out", str(out), "--device", "cpu", "--max-faces", "2", "--edit-from", str(neutral)])
    assert run_evaluate(args) == 0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["counts"]["test_faces"] == 16 and saved["counts"]["test_faces_under"] == 8
    assert saved["counts"]["edited_faces"] == 2 and saved["counts"]["edited_under"] == str(neutral.resolve())
    assert saved["identity_distance"]["space"] == "photo"  # every merged source still resolves
    assert saved["judge"]["test_faces"] == 16
    assert f"from {neutral.resolve()}" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# bad inputs


@needs_data
def test_bad_inputs_raise_clear_errors(model_path: Path, prepared: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a model" * 10)
    with pytest.raises(FaceeditError, match="not a readable model"):
        _evaluate(garbage, prepared)

    nan_model = Generator(ExprGANConfig(image_size=SIZE, width=0.25))
    with torch.no_grad():
        nan_model.decoder.fc.weight.fill_(float("nan"))
    save_model(tmp_path / "nan.pt", nan_model)
    with pytest.raises(FaceeditError, match="not finite"):  # refused when it loads, before any face
        _evaluate(tmp_path / "nan.pt", prepared)

    with pytest.raises(FaceeditError, match="not a prepared dataset"):
        _evaluate(model_path, tmp_path)
    with pytest.raises(FaceeditError, match="levels"):
        _evaluate(model_path, prepared, levels=(1.0,))

    no_test = _copy(prepared, tmp_path)
    info, records = read_prepared(no_test)
    write_prepared(no_test, info, [dataclasses.replace(r, split="train") for r in records])
    with pytest.raises(FaceeditError, match="no test faces"):
        _evaluate(model_path, no_test)

    one_class = tmp_path / "one-class"
    shutil.copytree(no_test, one_class)
    write_prepared(one_class, info, [dataclasses.replace(r, label="neutral") for r in records])
    with pytest.raises(FaceeditError, match="two expression classes"):
        _evaluate(model_path, one_class)

    missing_crop = tmp_path / "missing-crop"
    shutil.copytree(prepared, missing_crop)
    (missing_crop / records[-1].file).unlink()
    (missing_crop / MANIFEST_NAME).write_text((missing_crop / MANIFEST_NAME).read_text() + "\n")  # a new key: retrain
    with pytest.raises(FaceeditError, match="incomplete"):
        _evaluate(model_path, missing_crop)
