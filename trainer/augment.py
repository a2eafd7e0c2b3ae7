"""``faceedit-train augment-experiment``: do the model's synthetic faces help an expression recogniser?

ExprGAN's data-augmentation experiment (Ding et al. 2018, Table 4: Oulu-CASIA 77.78 % with
no synthetic faces, 78.47 / 81.94 / 84.72 / 84.72 % with 3k / 6k / 30k / 60k), repeated
with this project's recogniser (the judge of :mod:`trainer.judge`: the same network,
preprocessing, class-balanced sampling and step rule) on a PREPARED folder:

1. Synthetic faces are made by a model from the **training split only**: every training
   face is read once by the app's editor (:class:`~faceedit.core.editor.ExpressionEditor`
   on the prepared crop, as ``evaluate`` does) and rendered at one expression (level L,
   every other expression 0), labelled with that expression. The pool is ordered level by
   level (1.0 first, then the next levels), within a level by a fixed shuffle of the
   source faces, each source giving all six expressions; the first N are used. So 3k and
   6k are all at 1.0, balanced over expressions; larger counts add weaker levels, as the
   paper varies intensity.
2. For each count N and seed, a recogniser is trained on the real training faces plus the
   first N synthetic ones and scored on the **real** test faces (accuracy over the seven
   labels, and balanced accuracy). N = 0 is the baseline.

The pool is cached in the work folder (``synthetic.npz``, keyed by the model's digest, the
manifest and the levels), so a second run only trains. Runs on the calling thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from faceedit.core.atomic import write_bytes_atomic, write_text_atomic
from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import EXPRESSIONS
from trainer.judge import JudgeConfig
from trainer.manifest import LABELS, MANIFEST_NAME, FaceRecord

Progress = Callable[[str], None]

PAPER_TABLE: tuple[tuple[int, float], ...] = ((0, 77.78), (3000, 78.47), (6000, 81.94), (30000, 84.72), (60000, 84.72))
"""ExprGAN's Table 4 (Oulu-CASIA, their recogniser): synthetic faces → accuracy %."""

POOL_NAME = "synthetic.npz"
RESULT_NAME = "augment.json"
TABLE_NAME = "augment.md"
SHEET_NAME = "synthetic-sheet.png"


@dataclass(frozen=True)
class AugmentConfig:
    """What the experiment runs."""

    counts: tuple[int, ...] = (0, 3000, 6000, 30000)
    seeds: tuple[int, ...] = (0, 1, 2)
    levels: tuple[float, ...] = (1.0, 0.75, 0.5)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    pool_seed: int = 0  # the shuffle of source faces (fixed across recogniser seeds)


@dataclass(frozen=True)
class RunResult:
    """One recogniser: N synthetic faces, one seed, its score on the real test faces."""

    synthetic: int
    seed: int
    accuracy: float
    balanced_accuracy: float
    steps: int
    train_faces: int
    seconds: float


@dataclass(frozen=True)
class Row:
    """All seeds of one synthetic count."""

    synthetic: int
    mean: float
    std: float
    accuracies: tuple[float, ...]
    balanced_mean: float


@dataclass(frozen=True)
class Pool:
    """Synthetic faces (greyscale crops), their label indices (into LABELS) and where they came from."""

    images: np.ndarray  # N×S×S uint8
    labels: np.ndarray  # N int64
    sources: tuple[str, ...]  # the training record's file
    levels: np.ndarray  # N float32


# --------------------------------------------------------------------------- the synthetic pool


def pool_order(train: Sequence[FaceRecord], levels: Sequence[float], seed: int) -> list[tuple[int, float, str]]:
    """(record index, level, expression) in pool order: level by level, shuffled sources, six expressions each."""
    sources = list(range(len(train)))
    random.Random(seed).shuffle(sources)
    return [(i, float(level), expression) for level in levels for i in sources for expression in EXPRESSIONS]


def _pool_key(model_digest: str, folder: Path, levels: Sequence[float], seed: int, size: int) -> str:
    digest = hashlib.sha256()
    digest.update(model_digest.encode())
    digest.update((folder / MANIFEST_NAME).read_bytes())
    digest.update(json.dumps({"levels": list(levels), "seed": seed, "size": size, "version": 1}).encode())
    return digest.hexdigest()


def make_pool(
    folder: Path,
    train: Sequence[FaceRecord],
    model_path: Path,
    count: int,
    levels: Sequence[float],
    seed: int,
    size: int,
    work: Path | None = None,
    progress: Progress | None = None,
) -> Pool:
    """The first ``count`` synthetic faces (greyscale ``size`` px), from the cache in ``work`` when it has them."""
    import cv2
    import torch

    from faceedit.core.alignment import already_aligned
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import ExpressionTargets
    from faceedit.core.faces import DetectedFace
    from faceedit.core.models.file import load_model
    from trainer.evaluate import _fit_crop
    from trainer.judge import load_crop

    order = pool_order(train, levels, seed)
    if count > len(order):
        raise FaceeditError(
            f"{count} synthetic faces asked, but {len(train)} training faces × 6 expressions × {len(levels)} "
            f"levels give {len(order)}; add levels (--levels) or ask fewer"
        )
    model = load_model(model_path, "cpu", "fp32")
    key = _pool_key(_file_digest(model_path), folder, levels, seed, size)
    cache = work / POOL_NAME if work else None
    if cache and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as stored:
                if str(stored["key"]) == key and len(stored["labels"]) >= count:
                    if progress:
                        progress(f"synthetic faces: {count} from the cache {cache}")
                    return Pool(stored["images"][:count], stored["labels"][:count],
                                tuple(str(s) for s in stored["sources"][:count]), stored["levels"][:count])
        except (OSError, KeyError, ValueError):
            pass  # unreadable or stale: made again
    editor = ExpressionEditor(model)
    wanted = order[:count]
    by_source: dict[int, list[int]] = {}
    for position, (record_index, _, _) in enumerate(wanted):
        by_source.setdefault(record_index, []).append(position)
    images = np.zeros((count, size, size), np.uint8)
    start = time.perf_counter()
    with torch.inference_mode():
        for done, (record_index, positions) in enumerate(by_source.items(), 1):
            record = train[record_index]
            crop, landmarks = _fit_crop(load_crop(folder, record), np.asarray(record.landmarks, np.float64), editor.size)
            face = DetectedFace((0, 0, editor.size, editor.size), landmarks, 1.0)
            encoded = editor.encode_aligned(face, already_aligned(crop, landmarks))
            for position in positions:
                _, level, expression = wanted[position]
                values = [0.0] * len(EXPRESSIONS)
                values[EXPRESSIONS.index(expression)] = level
                edited = editor.render(crop, [encoded], ExpressionTargets.exactly(values))
                grey = cv2.cvtColor(np.ascontiguousarray(edited), cv2.COLOR_RGB2GRAY)
                if grey.shape[0] != size:
                    grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
                images[position] = grey
            if progress and (done % 200 == 0 or done == len(by_source)):
                progress(f"synthetic faces: {done}/{len(by_source)} source faces read, {time.perf_counter() - start:.0f} s")
    pool = Pool(
        images,
        np.array([LABELS.index(e) for _, _, e in wanted], np.int64),
        tuple(train[i].file for i, _, _ in wanted),
        np.array([level for _, level, _ in wanted], np.float32),
    )
    if cache:
        import io

        buffer = io.BytesIO()
        np.savez(buffer, key=np.array(key), images=pool.images, labels=pool.labels,
                 sources=np.array(pool.sources), levels=pool.levels)
        write_bytes_atomic(cache, buffer.getvalue(), overwrite=True)
    return pool


def _file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pool_sheet(pool: Pool, rows: int = 6) -> np.ndarray:
    """A grey grid: one row per source face, its synthetic faces in pool order (a quick look at what was trained on)."""
    sources = list(dict.fromkeys(pool.sources))[:rows]
    size = pool.images.shape[1] if len(pool.images) else 64
    grid = np.full((rows * (size + 2), len(EXPRESSIONS) * (size + 2)), 255, np.uint8)
    for r, source in enumerate(sources):
        cells = [i for i, s in enumerate(pool.sources) if s == source][: len(EXPRESSIONS)]
        for c, i in enumerate(cells):
            grid[r * (size + 2) : r * (size + 2) + size, c * (size + 2) : c * (size + 2) + size] = pool.images[i]
    return grid


# --------------------------------------------------------------------------- the experiment


def _score(net: object, images: np.ndarray, labels: np.ndarray, classes: Sequence[int]) -> tuple[float, float]:
    """Accuracy and balanced accuracy (mean per-class recall over labels present) of a trained JudgeNet."""
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(images)
        known = torch.full((len(LABELS),), float("-inf"))
        known[list(classes)] = 0.0
        logits = torch.stack([net(x), net(x.flip(-1))])  # type: ignore[operator]
        predicted = torch.softmax(logits + known, dim=2).mean(dim=0).argmax(dim=1).numpy()
    hits = predicted == labels
    recalls = [float(hits[labels == c].mean()) for c in np.unique(labels)]
    return float(hits.mean()), float(np.mean(recalls))


def run_experiment(
    folder: Path | str,
    model_path: Path | str,
    config: AugmentConfig = AugmentConfig(),
    work: Path | str | None = None,
    progress: Progress | None = None,
) -> tuple[list[RunResult], list[Row], Pool]:
    """Train and score one recogniser per (synthetic count, seed); returns runs, rows (per count) and the pool."""
    from trainer.judge import judge_inputs, load_crop, train_judge, training_records
    from trainer.manifest import read_prepared

    folder = Path(folder)
    work_dir = Path(work) if work is not None else None
    if work_dir:
        work_dir.mkdir(parents=True, exist_ok=True)
    _, records = read_prepared(folder)
    train, _ = training_records(records)
    test = [r for r in records if r.split == "test"]
    if not train or not test:
        raise FaceeditError(f"{folder} needs faces in both splits (train {len(train)}, test {len(test)})")
    if any(n < 0 for n in config.counts) or not config.seeds:
        raise FaceeditError("synthetic counts must be ≥ 0 and at least one seed given")
    size = config.judge.size
    pool = make_pool(folder, train, Path(model_path), max(config.counts), config.levels, config.pool_seed, size,
                     work_dir, progress)
    real_x = judge_inputs([load_crop(folder, r) for r in train], size)
    real_y = np.array([r.label_index for r in train], np.int64)
    test_x = judge_inputs([load_crop(folder, r) for r in test], size)
    test_y = np.array([r.label_index for r in test], np.int64)
    classes = sorted(set(real_y.tolist()))
    synthetic_x = judge_inputs(list(pool.images), size) if len(pool.images) else np.zeros((0, 1, size, size), np.float32)
    runs: list[RunResult] = []
    # Seed-major: a run stopped early still has every count for the seeds it finished.
    for seed in config.seeds:
        for count in config.counts:
            x = np.concatenate([real_x, synthetic_x[:count]])
            y = np.concatenate([real_y, pool.labels[:count]])
            start = time.perf_counter()
            judge_config = replace(config.judge, seed=seed)
            net, steps, _ = train_judge(x, y, judge_config, "cpu")
            accuracy, balanced = _score(net, test_x, test_y, classes)
            run = RunResult(count, seed, accuracy, balanced, steps, len(y), round(time.perf_counter() - start, 1))
            runs.append(run)
            if progress:
                progress(f"synthetic {count:>6}, seed {seed}: accuracy {100 * accuracy:.2f} % "
                         f"(balanced {100 * balanced:.2f} %), {steps} steps on {len(y)} faces, {run.seconds:.0f} s")
            if work_dir:
                write_text_atomic(work_dir / RESULT_NAME, json.dumps([asdict(r) for r in runs], indent=1) + "\n", overwrite=True)
    return runs, summarise(runs), pool


def summarise(runs: Sequence[RunResult]) -> list[Row]:
    """Mean, spread (sample std; 0 for one seed) and per-seed accuracies per synthetic count, in order of count."""
    rows = []
    for count in sorted({r.synthetic for r in runs}):
        values = tuple(r.accuracy for r in runs if r.synthetic == count)
        balanced = [r.balanced_accuracy for r in runs if r.synthetic == count]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(Row(count, statistics.fmean(values), std, values, statistics.fmean(balanced)))
    return rows


def markdown_table(rows: Sequence[Row]) -> str:
    """Our rows beside the paper's (by synthetic count; a count only one side has shows '—' on the other)."""
    paper = dict(PAPER_TABLE)
    ours = {r.synthetic: r for r in rows}
    lines = ["| synthetic faces | paper (Oulu-CASIA, 6 classes) | here: accuracy, mean ± std over seeds | per seed | balanced accuracy |",
             "|---:|---:|---:|---|---:|"]
    for count in sorted(set(paper) | set(ours)):
        row = ours.get(count)
        here = f"{100 * row.mean:.2f} ± {100 * row.std:.2f} %" if row else "not run"
        seeds = ", ".join(f"{100 * a:.2f}" for a in row.accuracies) if row else "—"
        balanced = f"{100 * row.balanced_mean:.2f} %" if row else "—"
        theirs = f"{paper[count]:.2f} %" if count in paper else "—"
        lines.append(f"| {count:,} | {theirs} | {here} | {seeds} | {balanced} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(float(v.strip().lower().replace("k", "e3"))) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers (3k allowed), got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected numbers ≥ 0, got {text!r}")
    return values


def _levels(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated levels in (0, 1], got {text!r}") from None
    if not values or not all(0.0 < v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"levels must lie in (0, 1], got {text!r}")
    return values


def add_augment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prepared", metavar="PREPARED", help="prepared folder: its train split trains, its test split scores")
    parser.add_argument("--model", metavar="MODEL", default=None, help="model that makes the synthetic faces (default: the bundled one)")
    parser.add_argument("--synthetic", type=_ints, default=AugmentConfig.counts, metavar="N,N,…",
                        help="synthetic counts to compare, 0 = real faces only (default 0,3k,6k,30k)")
    parser.add_argument("--seeds", type=_ints, default=AugmentConfig.seeds, metavar="S,S,…", help="recogniser seeds (default 0,1,2)")
    parser.add_argument("--levels", type=_levels, default=AugmentConfig.levels, metavar="L,L,…",
                        help="expression levels of the synthetic faces, in pool order (default 1,0.75,0.5)")
    parser.add_argument("--max-steps", type=int, default=None, metavar="N", help="cap the recogniser's training steps (default: the judge's rule)")
    parser.add_argument("--width", type=int, default=None, metavar="C", help="recogniser width (default: the judge's)")
    parser.add_argument("--out", required=True, metavar="DIR", help="work folder: synthetic pool cache, augment.json, augment.md")


def run_augment(args: argparse.Namespace) -> int:
    """The command: run, print the table, write augment.json / augment.md / a sheet of synthetic faces in --out."""
    import sys

    from faceedit.core.imageio import save_photo
    from faceedit.core.resources import default_model_path

    judge = JudgeConfig()
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise FaceeditError("--max-steps must be at least 1")
        judge = replace(judge, max_steps=args.max_steps, min_steps=min(judge.min_steps, args.max_steps))
    if args.width is not None:
        if args.width < 1:
            raise FaceeditError("--width must be at least 1")
        judge = replace(judge, width=args.width)
    config = AugmentConfig(counts=tuple(args.synthetic), seeds=tuple(args.seeds), levels=tuple(args.levels), judge=judge)
    model = default_model_path(args.model)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FaceeditError(f"--out {out} is a file, not a folder")

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    runs, rows, pool = run_experiment(args.prepared, model, config, out, progress)
    table = markdown_table(rows)
    write_text_atomic(out / TABLE_NAME, table, overwrite=True)
    if len(pool.images):
        grid = pool_sheet(pool)
        save_photo(out / SHEET_NAME, np.dstack([grid] * 3), overwrite=True)
    print(table, end="")
    return 0 if all(math.isfinite(r.accuracy) for r in runs) else 1
