"""``faceedit-train compare MODEL... --data PREPARED``: models of any family on one table (issue 14).

Every model is measured in one process, on the same prepared data, the same held-out test
identities and the same frozen judge (``judge.pt`` of PREPARED, trained once if it is not
there and then loaded by every evaluation), so the numbers are comparable:

- the edit metrics are :func:`trainer.evaluate.evaluate_model`'s, unchanged: recognised as
  the target expression at 1.0 (per expression), identity distance (mean and per
  expression), monotonicity, colour per face, sharpness outside the mouth;
- *neutral read as neutral*: the share of the test split's neutral faces whose every
  recognised intensity (``FaceReading.recognised``, where the app's sliders start) is below
  :data:`trainer.recognition.NEUTRAL_BELOW`, and of its expressive faces read as their own
  expression; read through the editor as the evaluation reads them;
- *time per training step*, measured here on this machine: a :class:`trainer.loop.Trainer`
  built from the family's preset (the one the model's provenance names, as
  ``faceedit-train export`` writes it, else the family's default) with the model's own
  architecture config, its geometry, appearance and mouth-interior options off (those are
  fitted after training, by ``faceedit-train geometry``), on PREPARED's training split; steps
  taken at the start of the preset's last stage (where every part trains), one warm-up step,
  then ``--timing-steps``; in a temporary run folder that is removed;
- *slider latency*: an :class:`~faceedit.core.editor.ExpressionEditor` on the bundled sample
  photo placed on a 640×480 canvas, its face read once, then ``change`` (the model's render
  and its conversion to pixels) and the whole slider move (``render``: change + paste onto
  the photo) timed over :data:`SLIDER_POSITIONS` slider positions, in-process, not through
  the window;
- a side-by-side contact sheet: a few held-out faces, one block each, a row per model,
  input + the six expressions at 1.0.

Nothing here knows a family's layers: models are used through the family contract, their
``ModelInfo`` and the trainer's family objectives (docs/ARCHITECTURE.md, "The model package").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from faceedit.core.alignment import already_aligned
from faceedit.core.atomic import write_text_atomic
from faceedit.core.editor import EncodedFace, ExpressionEditor
from faceedit.core.errors import FaceeditError, OutputError
from faceedit.core.expressions import EXPRESSIONS, NEUTRAL, ExpressionTargets
from faceedit.core.faces import DetectedFace
from faceedit.core.imageio import load_photo, save_photo
from faceedit.core.models.file import LoadedModel, ModelInfo, read_model_info
from trainer.evaluate import (
    SHEET_FOOTER,
    SHEET_GAP,
    SHEET_HEADER,
    EvaluationResult,
    JudgeSummary,
    _fit_crop,
    _lies_under,
    _load_checked_model,
    _one_hot,
    _put_centred,
    _round,
    _spread,
    evaluate_model,
    sheet_cell_size,
)
from trainer.judge import JudgeConfig, load_crop, load_or_train_judge
from trainer.manifest import FaceRecord, PreparedInfo, read_prepared
from trainer.recognition import NEUTRAL_BELOW

COMPARISON_FORMAT = "faceedit-comparison"
COMPARISON_VERSION = 1
TABLE_NAME = "comparison.md"
JSON_NAME = "comparison.json"
SHEET_NAME = "comparison-sheet.jpg"
DEFAULT_OUT = Path("comparison")
DEFAULT_MAX_FACES = 100  # as evaluate: edited test faces per model
DEFAULT_TIMING_STEPS = 5
WARMUP_STEPS = 1
SLIDER_POSITIONS = 20
SLIDER_WARMUP = 2
SHEET_FACES = 3
PHOTO_SIZE = (640, 480)  # width, height of the slider-latency photo
LABEL_WIDTH = 150  # the contact sheet's row-label column
BLOCK_CAPTION = 20  # the line above each face's block
JUDGE_CONFIG = JudgeConfig()  # the judge every evaluation uses (tests put a faster one here)
ABBREVIATIONS = tuple(e[:2] for e in EXPRESSIONS)  # an, di, fe, ha, sa, su

Progress = Callable[[str], None]

TIMING_METHOD = (
    "Time per training step: measured by `faceedit-train compare` on this machine, per model: a Trainer built from "
    "its family's preset (the one its provenance names, else the family's default) with the model's own architecture "
    "(geometry, appearance and mouth-interior options off: they are fitted after training), on the --data prepared "
    "folder's training split, at the start of the preset's last stage, {warmup} warm-up step then {steps} timed steps; "
    "median and min–max. Estimated training time = training steps × median step time."
)
SLIDER_METHOD = (
    "Slider latency: in-process (not through the window), an ExpressionEditor on the bundled sample photo placed on a "
    "640×480 canvas, its face read once, then {positions} slider positions after {warmup} warm-up ones: `change` (the "
    "model's render as pixels) and the whole move (`render`: change + paste onto the photo); median and 5–95 %."
)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Spread:
    """Repeated timings: median and spread, in ``unit``."""

    median: float
    low: float  # minimum, or the 5th percentile
    high: float  # maximum, or the 95th percentile
    runs: int
    unit: str
    percentiles: bool = False  # low/high: 5th and 95th percentiles (as bench/machine.py), else min and max

    @classmethod
    def of(cls, samples: Sequence[float], unit: str, *, percentiles: bool = False) -> Spread:
        values = sorted(float(s) for s in samples)
        if not values:
            raise ValueError("no samples to summarise")
        pick = lambda q: values[min(len(values) - 1, int(round(q * (len(values) - 1))))]  # noqa: E731
        low, high = (pick(0.05), pick(0.95)) if percentiles else (values[0], values[-1])
        return cls(statistics.median(values), low, high, len(values), unit, percentiles)

    @property
    def spread_name(self) -> str:
        return "5–95 %" if self.percentiles else "min–max"

    def to_json(self) -> dict[str, Any]:
        return {"median": _round(self.median), "low": _round(self.low), "high": _round(self.high), "runs": self.runs,
                "unit": self.unit, "spread": self.spread_name}


@dataclass(frozen=True)
class StepTiming:
    """Time per training step of a model's family and architecture on this machine."""

    preset: str
    preset_from: str  # "provenance" (the preset the model was trained with) or "family default"
    batch_size: int
    stage: str  # the stage the steps were timed in (the preset's last)
    precision: str
    seconds: Spread

    def to_json(self) -> dict[str, Any]:
        return {"preset": self.preset, "preset_from": self.preset_from, "batch_size": self.batch_size, "stage": self.stage,
                "precision": self.precision, "seconds": self.seconds.to_json()}


@dataclass(frozen=True)
class SliderLatency:
    change_ms: Spread  # ExpressionEditor.change: the model's render, as crop pixels
    move_ms: Spread  # ExpressionEditor.render: change + paste onto the photo (what a slider move costs)
    photo: str

    def to_json(self) -> dict[str, Any]:
        return {"change_ms": self.change_ms.to_json(), "slider_move_ms": self.move_ms.to_json(), "photo": self.photo,
                "in_process": True}


@dataclass(frozen=True)
class HeldOutReading:
    """How the model reads the test split's real faces (where its sliders start)."""

    neutral_read_neutral: float | None  # share of neutral faces read with every intensity < NEUTRAL_BELOW
    neutral_faces: int
    expression_read_right: float | None  # share of expressive faces whose strongest intensity is their label
    expressive_faces: int

    def to_json(self) -> dict[str, Any]:
        return {"neutral_read_neutral": _round(self.neutral_read_neutral), "neutral_faces": self.neutral_faces,
                "expression_read_right": _round(self.expression_read_right), "expressive_faces": self.expressive_faces,
                "neutral_below": NEUTRAL_BELOW}


@dataclass(frozen=True)
class ModelComparison:
    """One model's row."""

    info: ModelInfo
    evaluation: EvaluationResult
    reading: HeldOutReading
    slider: SliderLatency
    timing: StepTiming | None
    timing_note: str = ""  # why there is no timing

    @property
    def training_seconds(self) -> float | None:
        """The training budget in wall time on this machine: the model's steps × the median step time."""
        if self.timing is None or self.info.provenance.steps <= 0:
            return None
        return self.info.provenance.steps * self.timing.seconds.median

    def to_json(self) -> dict[str, Any]:
        info = self.info
        return {
            "family": info.family.name,
            "title": info.family.title,
            "paper": info.family.paper,
            "file": str(info.path),
            "architecture": info.describe(),
            "parameters": info.parameters,
            "provenance": dataclasses.asdict(info.provenance),
            "training_steps": info.provenance.steps,
            "evaluation": self.evaluation.to_json(),
            "held_out_reading": self.reading.to_json(),
            "training_step": None if self.timing is None else self.timing.to_json(),
            "training_step_note": self.timing_note or None,
            "estimated_training_seconds": _round(self.training_seconds),
            "slider_latency": self.slider.to_json(),
        }


@dataclass(frozen=True)
class Comparison:
    models: tuple[ModelComparison, ...]
    prepared: str
    prepared_info: PreparedInfo
    train_faces: int
    test_faces: int
    test_subjects: int
    edit_from: str | None
    max_faces: int
    judge: JudgeSummary
    machine: dict[str, Any]
    timing_steps: int
    sheet_faces: tuple[str, ...]
    seconds: float
    sheet: np.ndarray = field(repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        judge = self.judge
        return {
            "format": COMPARISON_FORMAT,
            "format_version": COMPARISON_VERSION,
            "machine": self.machine,
            "prepared": self.prepared,
            "data": {"kind": self.prepared_info.kind, "root": self.prepared_info.root, "size": self.prepared_info.size,
                     "train_faces": self.train_faces, "test_faces": self.test_faces, "test_subjects": self.test_subjects,
                     "edit_from": self.edit_from, "max_faces": self.max_faces},
            "judge": {**dataclasses.asdict(judge), "test_accuracy": _round(judge.test_accuracy),
                      "balanced_accuracy": _round(judge.balanced_accuracy),
                      "per_class": {k: _round(v) for k, v in judge.per_class.items()}},
            "method": {"training_step": TIMING_METHOD.format(warmup=WARMUP_STEPS, steps=self.timing_steps),
                       "slider_latency": SLIDER_METHOD.format(positions=SLIDER_POSITIONS, warmup=SLIDER_WARMUP),
                       "metrics": "trainer/evaluate.py (faceedit-train evaluate), one frozen judge for every model"},
            "sheet_faces": list(self.sheet_faces),
            "models": [m.to_json() for m in self.models],
            "seconds": round(self.seconds, 2),
        }

    def markdown(self) -> str:
        return _markdown(self)


# --------------------------------------------------------------------------- the machine


def machine_description(device: torch.device) -> dict[str, Any]:
    """CPU model and cores, OS, Python, torch version and threads, the device used."""
    from faceedit.core.device import describe_device

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "device": describe_device(device)}


def machine_line(machine: dict[str, Any]) -> str:
    return (f"{machine['cpu']}; {machine['cores']} cores; {machine['os']}; Python {machine['python']}; "
            f"torch {machine['torch']}, {machine['torch_threads']} torch thread(s); device {machine['device']}")


# --------------------------------------------------------------------------- time per training step


_PRESET_NOTE = re.compile(r"^preset ([\w.-]+);")


def _without_shape_options(config: Any) -> Any:
    """The architecture config with geometry and the mouth interior off and appearance at its default
    (where the family has those options): they are fitted after training, not trained."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    if "geometry" in fields:
        changes["geometry"] = False
    if "mouth_interior" in fields:
        changes["mouth_interior"] = False
    if "appearance" in fields and fields["appearance"].default is not dataclasses.MISSING:
        changes["appearance"] = fields["appearance"].default
    return dataclasses.replace(config, **changes)


def timing_config(info: ModelInfo, preset: str | None = None) -> tuple[Any, str]:
    """The TrainConfig whose steps are timed for this model, and where its preset came from.

    The preset: ``preset`` when given; else the one the model's provenance names
    (``faceedit-train export`` notes "preset NAME; run …") where the family has it; else the
    family's default. KeyError when the trainer has no objective for the family.
    """
    from trainer.families import objective_for

    objective = objective_for(info.family.name)
    source = "given"
    if preset is None:
        named = _PRESET_NOTE.match(info.provenance.notes.strip())
        if named and named.group(1) in objective.presets:
            preset, source = named.group(1), "provenance"
        else:
            preset, source = objective.default_preset, "family default"
    if preset not in objective.presets:
        raise FaceeditError(f"the {info.family.name} family has no preset {preset!r}; it has {', '.join(objective.presets)}")
    return dataclasses.replace(objective.presets[preset], model=_without_shape_options(info.config)), source


def time_training_steps(info: ModelInfo, prepared: Path, steps: int, device: torch.device,
                        preset: str | None = None) -> StepTiming:
    """Median and spread of ``steps`` training steps (after :data:`WARMUP_STEPS`) of this model's
    family and architecture on ``prepared``, in a temporary run folder that is removed."""
    from faceedit.core.device import resolve_precision
    from trainer.loop import Trainer

    config, source = timing_config(info, preset)
    precision = resolve_precision(config.precision, device)  # as train_run resolves it for a new run
    config = dataclasses.replace(config, precision=precision.name)
    first_of_last = config.total_steps - config.stages[-1].steps
    samples: list[float] = []
    # The Trainer seeds torch's generator; the caller's random state is left as it was.
    with torch.random.fork_rng(devices=[]), tempfile.TemporaryDirectory(prefix="faceedit-compare-") as run:
        trainer = Trainer(config, prepared, Path(run), device)
        trainer.step = first_of_last
        for index in range(WARMUP_STEPS + steps):
            if trainer.step >= config.total_steps:
                trainer.step = first_of_last
            began = time.perf_counter()
            trainer.train_step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if index >= WARMUP_STEPS:
                samples.append(time.perf_counter() - began)
        del trainer
    return StepTiming(config.preset, source, config.batch_size, config.stages[-1].name, precision.name,
                      Spread.of(samples, "s"))


# --------------------------------------------------------------------------- slider latency


def latency_photo() -> tuple[np.ndarray, DetectedFace]:
    """The bundled sample photo, scaled to 480 px tall and centred on a 640×480 grey canvas, and its face."""
    from faceedit.core.faces import face_detector
    from faceedit.core.resources import sample_photo_path

    base = load_photo(sample_photo_path()).pixels
    width, height = PHOTO_SIZE
    scale = min(height / base.shape[0], width / base.shape[1])
    resized = cv2.resize(base, (round(base.shape[1] * scale), round(base.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 128, np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    faces = face_detector().detect(canvas)
    if not faces:
        raise FaceeditError(f"no face found in the sample photo {sample_photo_path()} (needed for the slider latency)")
    return canvas, faces[0]


def slider_latency(model: LoadedModel, photo: np.ndarray, face: DetectedFace, positions: int = SLIDER_POSITIONS) -> SliderLatency:
    """``change`` and the whole slider move timed over ``positions`` slider states, the face read once."""
    editor = ExpressionEditor(model)
    encoded = editor.encode(photo, face)
    states = []
    for index, level in enumerate(np.linspace(0.05, 1.0, positions + SLIDER_WARMUP)):
        values = encoded.recognised.copy()
        k = index % len(values)
        values[k] = np.float32(level) if not np.isclose(level, values[k]) else np.float32(min(1.0, level + 0.02))
        states.append(values)

    def timed(call: Callable[[np.ndarray], object]) -> Spread:
        samples = []
        for index, values in enumerate(states):
            began = time.perf_counter()
            call(values)
            if index >= SLIDER_WARMUP:
                samples.append((time.perf_counter() - began) * 1000.0)
        return Spread.of(samples, "ms", percentiles=True)

    change = timed(lambda values: editor.change(encoded, values))
    move = timed(lambda values: editor.render(photo, [encoded], ExpressionTargets.exactly(values.tolist())))
    return SliderLatency(change, move, f"bundled sample photo on {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]}")


# --------------------------------------------------------------------------- held-out faces


def _encode_record(editor: ExpressionEditor, folder: Path, record: FaceRecord) -> tuple[np.ndarray, EncodedFace]:
    """A prepared test crop at the model's size and the editor's reading of it (as evaluate reads it)."""
    size = editor.size
    crop, landmarks = _fit_crop(load_crop(folder, record), np.asarray(record.landmarks, np.float64), size)
    return crop, editor.encode_aligned(DetectedFace((0, 0, size, size), landmarks, 1.0), already_aligned(crop, landmarks))


def held_out_reading(editor: ExpressionEditor, folder: Path, test: Sequence[FaceRecord]) -> HeldOutReading:
    neutral, right = [], []
    for record in test:
        recognised = _encode_record(editor, folder, record)[1].recognised
        if record.label == NEUTRAL:
            neutral.append(float(recognised.max() < NEUTRAL_BELOW))
        elif record.label in EXPRESSIONS:
            right.append(float(int(np.argmax(recognised)) == EXPRESSIONS.index(record.label)))
    return HeldOutReading(float(np.mean(neutral)) if neutral else None, len(neutral),
                          float(np.mean(right)) if right else None, len(right))


def sheet_row(editor: ExpressionEditor, folder: Path, record: FaceRecord) -> list[np.ndarray]:
    """The face at the model's size and its edits to each expression at 1.0 (the others 0), as evaluate renders them."""
    crop, encoded = _encode_record(editor, folder, record)
    return [crop] + [editor.render(crop, [encoded], _one_hot(e, 1.0)) for e in EXPRESSIONS]


def _text(canvas: np.ndarray, text: str, x: int, baseline: int, scale: float, colour: tuple[int, int, int] = (0, 0, 0)) -> None:
    cv2.putText(canvas, text, (x, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _fit_text(text: str, width: int, scale: float) -> str:
    """``text`` shortened with "…"-like dots until it fits ``width`` pixels."""
    while text and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width:
        text = text[:-4] + "..." if len(text) > 4 else text[:-1]
    return text


def comparison_sheet(
    blocks: Sequence[tuple[str, Sequence[tuple[str, str, Sequence[np.ndarray]]]]], footer: str = ""
) -> np.ndarray:
    """Blocks of rows: per face a caption, then per model (title, file, [input, six edits at 1.0]).

    Columns and headers as evaluate's contact sheet (:func:`trainer.evaluate.contact_sheet`),
    with a label column naming each row's family and file. H×W×3 uint8 RGB.
    """
    columns = 1 + len(EXPRESSIONS)
    size = max((image.shape[0] for _, rows in blocks for _, _, images in rows for image in images), default=64)
    cell = sheet_cell_size(size, columns)
    step = cell + SHEET_GAP
    left = LABEL_WIDTH + SHEET_GAP
    height = SHEET_HEADER + sum(BLOCK_CAPTION + len(rows) * step for _, rows in blocks) + SHEET_GAP + SHEET_FOOTER
    canvas = np.full((height, left + columns * step, 3), 255, np.uint8)
    for column, (title, level) in enumerate([("input", "")] + [(e, "1.0") for e in EXPRESSIONS]):
        centre = left + SHEET_GAP + column * step + cell // 2
        _put_centred(canvas, title, centre, 15)
        _put_centred(canvas, level, centre, 31)
    y = SHEET_HEADER
    for caption, rows in blocks:
        _text(canvas, _fit_text(caption, canvas.shape[1] - 8, 0.4), SHEET_GAP + 2, y + BLOCK_CAPTION - 6, 0.4, (60, 60, 60))
        y += BLOCK_CAPTION
        for title, file, images in rows:
            _text(canvas, _fit_text(title, LABEL_WIDTH - 6, 0.5), SHEET_GAP + 2, y + cell // 2 - 2, 0.5)
            _text(canvas, _fit_text(file, LABEL_WIDTH - 6, 0.35), SHEET_GAP + 2, y + cell // 2 + 16, 0.35, (90, 90, 90))
            for column, image in enumerate(images):
                x = left + SHEET_GAP + column * step
                interpolation = cv2.INTER_CUBIC if cell > image.shape[0] else cv2.INTER_AREA
                canvas[y : y + cell, x : x + cell] = cv2.resize(image, (cell, cell), interpolation=interpolation)
            y += step
    if footer:
        _text(canvas, footer[:200], SHEET_GAP + 2, height - 6, 0.35, (90, 90, 90))
    return canvas


# --------------------------------------------------------------------------- the comparison


def check_inputs(model_paths: Sequence[Path | str], prepared: Path | str) -> tuple[list[ModelInfo], PreparedInfo, list[FaceRecord]]:
    """Every model's header and the prepared folder, read before any work (one clear error each)."""
    if not model_paths:
        raise FaceeditError("name at least one model file to compare")
    infos = [read_model_info(path) for path in model_paths]
    folder = Path(prepared)
    if not folder.is_dir():
        raise FaceeditError(f"prepared dataset {folder} does not exist; run `faceedit-train prepare` first")
    info, records = read_prepared(folder)
    if not any(r.split == "test" for r in records):
        raise FaceeditError(f"{folder} has no test faces: the comparison needs a held-out test split")
    return infos, info, records


def _judge_identity(judge: JudgeSummary) -> tuple[Any, ...]:
    """What names one trained judge (the same judge.pt gives the same values)."""
    return judge.classes, tuple(sorted(judge.train_counts.items())), judge.steps, judge.train_seconds


def compare_models(
    model_paths: Sequence[Path | str],
    prepared: Path | str,
    *,
    edit_from: Path | str | None = None,
    max_faces: int = DEFAULT_MAX_FACES,
    timing_steps: int = DEFAULT_TIMING_STEPS,
    timing_preset: str | None = None,
    device: str | torch.device | None = None,
    judge_config: JudgeConfig | None = None,
    sheet_faces: int = SHEET_FACES,
    progress: Progress | None = None,
) -> Comparison:
    """Measure every model on the same data, test identities and judge; see the module's docstring.

    ``timing_preset`` overrides the preset whose steps are timed (tests: "smoke").
    Raises :class:`FaceeditError` (a bad model file, a missing or unusable prepared folder,
    no test face under ``edit_from``) before the first model is measured where it can.
    """
    from faceedit.core.device import resolve_device

    start = time.perf_counter()
    say = progress or (lambda _message: None)
    if timing_steps < 1:
        raise FaceeditError("--timing-steps must be 1 or more")
    if max_faces < 0:
        raise FaceeditError("--max-faces must be 0 (all) or more")
    infos, info, records = check_inputs(model_paths, prepared)
    folder = Path(prepared)
    test = [r for r in records if r.split == "test"]
    candidates, under = test, None
    if edit_from is not None:
        under = Path(edit_from).resolve()
        candidates = [r for r in test if _lies_under(info, r, under)]
        if not candidates:
            raise FaceeditError(f"no test face of {folder} comes from {edit_from} (--edit-from)")
    on_sheet = _spread([r for r in candidates if r.label == NEUTRAL] or candidates, sheet_faces)
    torch_device = resolve_device(str(device) if device is not None else None)
    judge_config = judge_config or JUDGE_CONFIG
    # One judge for all: trained here once if PREPARED has none, then every evaluation loads the same judge.pt.
    judge = load_or_train_judge(folder, records, judge_config, torch_device, say)
    say(f"judge: {'judge.pt of ' + str(folder) if judge.cached else 'trained and cached in ' + str(folder)}")
    photo, face = latency_photo()

    measured: list[tuple[ModelInfo, EvaluationResult, HeldOutReading, SliderLatency, list[list[np.ndarray]]]] = []
    for number, model_info in enumerate(infos, 1):
        say(f"model {number}/{len(infos)}: {model_info.path} ({model_info.family.title}): evaluating")
        evaluation = evaluate_model(model_info.path, folder, device=torch_device, max_faces=max_faces,
                                    judge_config=judge_config, progress=say, edit_from=edit_from)
        if measured and _judge_identity(evaluation.judge) != _judge_identity(measured[0][1].judge):
            raise FaceeditError(f"the judge of {folder} changed during the comparison; run it again")
        model = _load_checked_model(model_info.path, torch_device)
        editor = ExpressionEditor(model)
        with torch.inference_mode():
            reading = held_out_reading(editor, folder, test)
            rows = [sheet_row(editor, folder, record) for record in on_sheet]
        say(f"model {number}/{len(infos)}: slider latency")
        slider = slider_latency(model, photo, face)
        measured.append((model_info, evaluation, reading, slider, rows))
        del editor, model

    results = []
    for number, (model_info, evaluation, reading, slider, _) in enumerate(measured, 1):
        say(f"model {number}/{len(infos)}: timing {timing_steps} training steps of the {model_info.family.title} family")
        try:
            timing, note = time_training_steps(model_info, folder, timing_steps, torch_device, timing_preset), ""
        except KeyError as error:  # the core knows the family, the trainer has no objective for it
            timing, note = None, str(error.args[0])
        results.append(ModelComparison(model_info, evaluation, reading, slider, timing, note))

    blocks = [
        (f"held-out face {index + 1} of {len(on_sheet)}: {record.file} ({record.label}, subject {record.subject or '?'})",
         [(m[0].family.title, m[0].path.name, m[4][index]) for m in measured])
        for index, record in enumerate(on_sheet)
    ]
    # Paths as the command line gave them (not resolved): the table and sheet are committed to docs/ and
    # should read like the command that made them, not name the build machine's folders.
    footer = f"held-out faces of {info.root}" + (f", from {edit_from}" if under else "") + "; every model edited through the app's editor"
    return Comparison(
        models=tuple(results),
        prepared=str(prepared),
        prepared_info=info,
        train_faces=sum(r.split == "train" for r in records),
        test_faces=len(test),
        test_subjects=len({r.subject for r in test}),
        edit_from=None if edit_from is None else str(edit_from),
        max_faces=max_faces,
        judge=measured[0][1].judge,
        machine=machine_description(torch_device),
        timing_steps=timing_steps,
        sheet_faces=tuple(r.file for r in on_sheet),
        seconds=time.perf_counter() - start,
        sheet=comparison_sheet(blocks, footer),
    )


# --------------------------------------------------------------------------- the table


def _number(value: float | None, fmt: str = ".2f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, fmt)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _row(m: ModelComparison) -> list[str]:
    e = m.evaluation
    accuracy = e.expression_accuracy
    identity = e.identity_distance
    colour = e.colour
    timing = m.timing
    return [
        m.info.family.title,
        f"`{m.info.path.name}`",
        f"{m.info.provenance.steps:,}",
        f"{_percent(accuracy.mean)} ({' · '.join(_percent(accuracy.values[x]) for x in EXPRESSIONS)})",
        f"{_number(identity.mean)} ({' · '.join(_number(identity.values[x]) for x in EXPRESSIONS)})",
        _number(e.monotonicity.mean),
        "n/a" if colour is None else
        f"{100 * colour.worst_saturation_change:.0f} % / {colour.worst_hue_shift:.1f}° / {100 * colour.faces_within:.0f} %",
        f"×{e.sharpness.ratio:.2f}",
        f"{_percent(m.reading.neutral_read_neutral)} % of {m.reading.neutral_faces}" if m.reading.neutral_faces else "n/a",
        "n/a" if timing is None else
        f"{timing.seconds.median:.3f} ({timing.seconds.low:.3f}–{timing.seconds.high:.3f}; {timing.preset}, batch {timing.batch_size})",
        _duration(m.training_seconds),
        f"{m.slider.change_ms.median:.1f} ({m.slider.change_ms.low:.1f}–{m.slider.change_ms.high:.1f})",
        f"{m.slider.move_ms.median:.1f} ({m.slider.move_ms.low:.1f}–{m.slider.move_ms.high:.1f})",
    ]


HEADERS = (
    "family", "file", "training steps",
    f"recognised as target at 1.0, % (mean; {' · '.join(ABBREVIATIONS)})",
    f"identity distance (mean; {' · '.join(ABBREVIATIONS)})",
    "monotonicity",
    "colour: worst saturation change / worst hue shift / faces within ±10 %, ±5°",
    "sharpness outside the mouth (after/before)",
    "neutral read as neutral",
    "training step, s (median; min–max)",
    "≈ training time (steps × step)",
    "slider `change`, ms (median; 5–95 %)",
    "slider move → photo, ms",
)


def _markdown(c: Comparison) -> str:
    judge = c.judge
    lines = [
        "# Model comparison (`faceedit-train compare`)",
        "",
        f"Data: `{c.prepared}` ({c.prepared_info.kind}, {c.prepared_info.size} px): {c.train_faces} training faces; "
        f"held out: {c.test_faces} test faces of {c.test_subjects} identities, the same for every model"
        + (f"; edited only test faces from `{c.edit_from}`" if c.edit_from else "")
        + (f"; at most {c.max_faces} of them edited per model." if c.max_faces else "; every one of them edited by every model."),
        f"Judge: the prepared folder's frozen judge (`judge.pt`, classes {', '.join(judge.classes)}), the same for every "
        f"model; its accuracy on the real test faces {_number(judge.test_accuracy)} "
        f"(balanced {_number(judge.balanced_accuracy)}).",
        f"Machine: {machine_line(c.machine)}.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" for _ in HEADERS) + "|",
        *("| " + " | ".join(_row(m)) + " |" for m in c.models),
        "",
        "Models (what each file holds, as `faceedit info` says it):",
        "",
        *(f"- `{m.info.path.name}`: {m.info.describe()}" for m in c.models),
        "",
    ]
    steps = {m.info.provenance.steps for m in c.models}
    if len(steps) > 1:
        lines += [f"Note: the models were trained for different numbers of steps ({', '.join(f'{s:,}' for s in sorted(steps))}): "
                  "not the same training budget.", ""]
    for m in c.models:
        if m.timing is None:
            lines += [f"No training-step time for `{m.info.path.name}`: {m.timing_note}.", ""]
        elif m.timing.preset_from != "provenance":
            lines += [f"`{m.info.path.name}`: its provenance names no preset of its family; steps timed with the "
                      f"{m.timing.preset_from} preset `{m.timing.preset}`.", ""]
    lines += [
        "How it was measured:",
        "",
        "- Edit metrics: `faceedit-train evaluate`'s code (trainer/evaluate.py), every edit through the app's "
        "`ExpressionEditor`; recognised as target = the judge names the target of faces edited to it at 1.0 (others 0); "
        "identity distance = dlib descriptor distance between a face and its edits at 1.0 (< 0.6: same person); "
        "monotonicity = Spearman correlation of slider level and the judge's probability; colour = worst face over every "
        "edit above 0; sharpness = variance of the Laplacian inside the face mask without the mouth; '–' = a class the "
        "judge never saw.",
        f"- Neutral read as neutral: the test split's neutral faces whose every recognised intensity is below {NEUTRAL_BELOW} "
        "(where the app's sliders start).",
        "- " + TIMING_METHOD.format(warmup=WARMUP_STEPS, steps=c.timing_steps),
        "- " + SLIDER_METHOD.format(positions=SLIDER_POSITIONS, warmup=SLIDER_WARMUP),
        f"- Contact sheet: `{SHEET_NAME}`, held-out faces {', '.join(f'`{f}`' for f in c.sheet_faces)}; a row per model, "
        "input and the six expressions at 1.0.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class ComparisonPaths:
    folder: Path
    table: Path
    json: Path
    sheet: Path

    @classmethod
    def under(cls, folder: Path | str) -> ComparisonPaths:
        folder = Path(folder)
        return cls(folder, folder / TABLE_NAME, folder / JSON_NAME, folder / SHEET_NAME)


def check_outputs(paths: ComparisonPaths, *, overwrite: bool) -> None:
    """Refuse early (before any work) to replace existing outputs without ``overwrite``."""
    if paths.folder.exists() and not paths.folder.is_dir():
        raise OutputError(f"{paths.folder} exists and is not a folder")
    for path in (paths.table, paths.json, paths.sheet):
        if path.exists() and not overwrite:
            raise OutputError(f"{path} already exists (use --overwrite to replace it)")


def write_comparison(comparison: Comparison, paths: ComparisonPaths, *, overwrite: bool = False) -> None:
    """comparison.md, comparison.json and the contact sheet, each written atomically."""
    check_outputs(paths, overwrite=overwrite)
    try:
        paths.folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {paths.folder}: {error.strerror or error}") from error
    write_text_atomic(paths.json, json.dumps(comparison.to_json(), indent=2) + "\n", overwrite=overwrite)
    save_photo(paths.sheet, comparison.sheet, quality=92, overwrite=overwrite)
    write_text_atomic(paths.table, comparison.markdown(), overwrite=overwrite)


# --------------------------------------------------------------------------- command line


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``compare`` sub-command's arguments (the trainer's CLI owns the parser)."""
    parser.add_argument("models", metavar="MODEL", type=Path, nargs="+", help="faceedit model files, of any family")
    parser.add_argument("--data", metavar="PREPARED", type=Path, required=True,
                        help="prepared dataset (faceedit-train prepare): its test split and judge serve every model")
    parser.add_argument("--edit-from", type=Path, metavar="DIR",
                        help="edit only test faces whose source photo lies under DIR (the judge still uses the whole splits)")
    parser.add_argument("--max-faces", type=int, default=DEFAULT_MAX_FACES, metavar="N",
                        help=f"edit at most N test faces per model, spread over the split (default {DEFAULT_MAX_FACES}; 0 = all)")
    parser.add_argument("--out", metavar="FOLDER", type=Path, default=DEFAULT_OUT,
                        help=f"where comparison.md, comparison.json and {SHEET_NAME} go (default ./{DEFAULT_OUT})")
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs if they exist")
    parser.add_argument("--timing-steps", type=int, default=DEFAULT_TIMING_STEPS, metavar="N",
                        help=f"training steps timed per model after {WARMUP_STEPS} warm-up step (default {DEFAULT_TIMING_STEPS})")
    parser.add_argument("--device", metavar="DEV", help="auto (default, or $FACEEDIT_DEVICE), cpu, cuda or cuda:N")


def run_compare(args: argparse.Namespace) -> int:
    """Run ``faceedit-train compare`` from parsed arguments; FaceeditError propagates to the CLI."""
    if args.timing_steps < 1:
        raise FaceeditError("--timing-steps must be 1 or more")
    if args.max_faces < 0:
        raise FaceeditError("--max-faces must be 0 (all) or more")
    paths = ComparisonPaths.under(args.out)
    check_outputs(paths, overwrite=args.overwrite)  # compare_models reads every input before its first measurement

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    comparison = compare_models(args.models, args.data, edit_from=args.edit_from, max_faces=args.max_faces,
                                timing_steps=args.timing_steps, device=args.device, progress=progress)
    write_comparison(comparison, paths, overwrite=args.overwrite)
    print(comparison.markdown())
    print(f"wrote {paths.table}, {paths.json} and {paths.sheet}")
    return 0
