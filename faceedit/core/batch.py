"""Batch export: edit every photo of a folder, resumably, with a CSV of what was written.

Used by ``faceedit batch`` and by the GUI's export dialog (off the GUI thread). Two modes:

- one slider state for every photo: ``OUT/<relative path>`` (format kept, or chosen);
- ``all_expressions``: each face at each expression and level, as labelled synthetic
  data for training expression recognisers: ``OUT/<expression>/<relative stem>_<level>``,
  so the output is itself a folder-of-expressions dataset.

Bad files are skipped and reported and the run goes on; outputs are written atomically;
existing outputs are kept (a re-run resumes) unless ``overwrite`` is set; the CSV
(``outputs.csv`` in OUT) lists every planned output with its status and labels.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faceedit.core.atomic import write_text_atomic
from faceedit.core.editor import ExpressionEditor
from faceedit.core.errors import FaceeditError, NoFaceError
from faceedit.core.expressions import EXPRESSIONS, NEUTRAL_START, ExpressionTargets
from faceedit.core.faces import FaceDetector
from faceedit.core.imageio import is_photo_path, load_photo, save_photo
from faceedit.core.pipeline import encode_faces, render_encoded

CSV_NAME = "outputs.csv"
CSV_COLUMNS = ("input", "output", "status", "expression", "level", "faces", "detail")


@dataclass(frozen=True)
class BatchJob:
    """What to export. ``levels`` set means all-expressions mode (``targets`` is then unused)."""

    input_dir: Path
    output_dir: Path
    targets: ExpressionTargets = ExpressionTargets()
    levels: tuple[float, ...] | None = None
    output_suffix: str | None = None  # e.g. ".png"; None keeps each input's format
    overwrite: bool = False
    face_index: int | None = None
    quality: int = 95
    as_neutral: bool = False  # take every face as neutral, whatever the model reads (levels then count from zero)


@dataclass(frozen=True)
class PlannedOutput:
    path: Path
    targets: ExpressionTargets
    expression: str  # "" in single-state mode
    level: float | None


@dataclass
class BatchSummary:
    """Counts per outcome, and the failures with their reasons."""

    total: int = 0
    processed: int = 0  # photos with at least one output written
    existing: int = 0  # photos whose outputs were all there already (resumed)
    no_face: int = 0
    failed: int = 0
    problems: list[tuple[Path, str]] = field(default_factory=list)
    csv_path: Path | None = None
    cancelled: bool = False

    @property
    def examined(self) -> int:
        """Photos searched for faces in this run (not those resumed, nor those that failed)."""
        return self.processed + self.no_face

    @property
    def face_share(self) -> float | None:
        """Share of the examined photos with a usable face, or None when none was examined."""
        return self.processed / self.examined if self.examined else None

    def faces_line(self) -> str:
        """E.g. "faces found in 79 of 150 photos (53 %)"; empty when no photo was examined."""
        share = self.face_share
        if share is None:
            return ""
        return f"faces found in {self.processed} of {self.examined} photos ({share * 100:.0f} %)"

    def line(self) -> str:
        text = (
            f"{self.processed} processed, {self.existing} already done, "
            f"{self.no_face} without a usable face, {self.failed} failed (of {self.total})"
        )
        faces = self.faces_line()
        return text + (f"; {faces}" if faces else "") + (" — cancelled" if self.cancelled else "")


ProgressFn = Callable[[int, int, Path], None]
"""Called after each photo with (photos done, total, photo path)."""


def find_photos(input_dir: Path, exclude: Path | None = None) -> list[Path]:
    """Photos under ``input_dir`` (recursively, sorted), skipping ``exclude`` and hidden files."""
    excluded = exclude.resolve() if exclude else None
    found = []
    for path in sorted(input_dir.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(input_dir).parts):
            continue
        if excluded and (path.resolve() == excluded or excluded in path.resolve().parents):
            continue
        if path.is_file() and is_photo_path(path):
            found.append(path)
    return found


def _level_text(level: float) -> str:
    return f"{level:.2f}"


def plan_outputs(job: BatchJob, photo: Path) -> list[PlannedOutput]:
    """Every output file one input photo leads to, with its slider state and labels."""
    relative = photo.relative_to(job.input_dir)
    suffix = job.output_suffix or photo.suffix
    if job.levels is None:
        return [PlannedOutput(job.output_dir / relative.with_suffix(suffix), job.targets, "", None)]
    outputs = []
    for expression in EXPRESSIONS:
        for level in job.levels:
            # The expression asked for at this level, every other one at zero.
            values = {name: (level if name == expression else 0.0) for name in EXPRESSIONS}
            name = f"{relative.with_suffix('').as_posix().replace('/', '__')}_{_level_text(level)}{suffix}"
            outputs.append(
                PlannedOutput(job.output_dir / expression / name, ExpressionTargets.from_mapping(values), expression, level)
            )
    return outputs


def _rows(photo: Path, outputs: Sequence[PlannedOutput], status: str, faces: int | None, detail: str) -> Iterator[list[str]]:
    for out in outputs:
        level = "" if out.level is None else _level_text(out.level)
        yield [str(photo), str(out.path), status, out.expression, level, "" if faces is None else str(faces), detail]


def run_batch(
    job: BatchJob,
    detector: FaceDetector,
    editor: ExpressionEditor,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BatchSummary:
    """Export ``job``. Never raises for a bad photo: it is counted, reported and skipped.

    Raises :class:`FaceeditError` only when the job itself cannot run (no input folder,
    output folder not creatable). The CSV is written at the end, also when cancelled.
    """
    if not job.input_dir.is_dir():
        raise FaceeditError(f"input folder {job.input_dir} does not exist")
    try:
        job.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FaceeditError(f"cannot create output folder {job.output_dir}: {error.strerror}") from error
    photos = find_photos(job.input_dir, exclude=job.output_dir)
    summary = BatchSummary(total=len(photos))
    rows: list[list[str]] = []
    summary.csv_path = job.output_dir / CSV_NAME
    try:
        for done, photo in enumerate(photos, start=1):
            if should_stop is not None and should_stop():
                summary.cancelled = True
                break
            outputs = plan_outputs(job, photo)
            todo = [o for o in outputs if job.overwrite or not o.path.exists()]
            if not todo:
                summary.existing += 1
                rows.extend(_rows(photo, outputs, "existing", None, ""))
            else:
                try:
                    faces = _export_photo(job, photo, todo, detector, editor)
                except NoFaceError as error:
                    summary.no_face += 1
                    summary.problems.append((photo, str(error)))
                    rows.extend(_rows(photo, todo, "no_face", 0, str(error)))
                except FaceeditError as error:
                    summary.failed += 1
                    summary.problems.append((photo, str(error)))
                    rows.extend(_rows(photo, todo, "failed", 0, str(error)))
                else:
                    summary.processed += 1
                    rows.extend(_rows(photo, [o for o in outputs if o not in todo], "existing", faces, ""))
                    rows.extend(_rows(photo, todo, "written", faces, ""))
            if progress is not None:
                progress(done, len(photos), photo)
    finally:
        # Also on Ctrl-C: the CSV then lists what was done, and a re-run resumes.
        _write_csv(summary.csv_path, rows)
    return summary


def _export_photo(
    job: BatchJob, photo_path: Path, outputs: Sequence[PlannedOutput], detector: FaceDetector, editor: ExpressionEditor
) -> int:
    photo = load_photo(photo_path)
    starting = NEUTRAL_START if job.as_neutral else None
    encoded = encode_faces(photo.pixels, detector, editor, str(photo_path), job.face_index, starting)
    for out in outputs:
        edit = render_encoded(photo.pixels, editor, encoded, out.targets)
        out.path.parent.mkdir(parents=True, exist_ok=True)
        save_photo(
            out.path, edit.pixels, alpha=photo.alpha, quality=job.quality, overwrite=job.overwrite,
            exif=photo.exif, icc_profile=photo.icc_profile,
        )
    return len(encoded)


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue(), overwrite=True)

