"""The ``faceedit`` command line. Calls core, never the GUI.

The contract: docs/ARCHITECTURE.md, "The command line".

Every command that fails for a reason the user can act on prints one line
``faceedit: error: …`` to stderr and exits 1 (2 for wrong usage), without a traceback.
Heavy modules (torch, dlib) are imported inside the commands, so ``--help`` and
``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from faceedit import __version__
from faceedit.core.errors import FaceeditError, OutputError, run_reporting_errors
from faceedit.core.expressions import EXPRESSIONS, NEUTRAL_START, ExpressionTargets

if TYPE_CHECKING:
    import numpy as np

    from faceedit.core.imageio import Photo
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.faces import FaceDetector
    from faceedit.core.pipeline import FaceReport, PhotoEdit

DEFAULT_LEVELS = (0.25, 0.5, 0.75, 1.0)


def _intensity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is outside [0, 1]")
    return value


def _levels(text: str) -> tuple[float, ...]:
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if not parts:
        raise argparse.ArgumentTypeError("give at least one level, e.g. 0.5,1.0")
    return tuple(_intensity(p) for p in parts)


def _face_index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a face number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("face numbers start at 0 (the largest face)")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("give 0 (all) or more")
    return value


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="FILE", help="faceedit model file (default: $FACEEDIT_MODEL or the bundled model)")
    parser.add_argument("--device", metavar="DEV", help="auto (default, or $FACEEDIT_DEVICE), cpu, cuda or cuda:N")
    parser.add_argument(
        "--precision", metavar="P",
        help="auto (default, or $FACEEDIT_PRECISION), fp32 or bf16; auto is bf16 where the CPU or GPU computes it natively",
    )


def _add_expression_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("expression targets (0–1; an expression not named keeps its recognised intensity)")
    group.add_argument(
        "--preset", metavar="NAME|FILE",
        help="start from a slider preset: built in (neutral, slight smile, big smile, surprised), "
        "saved in the app, or a .json file; expression flags override its values",
    )
    for name in EXPRESSIONS:
        group.add_argument(f"--{name}", type=_intensity, metavar="S")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    parser.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG/WebP quality, 1–100 (default 95)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceedit",
        description="Edit the facial expression of every face in a photo. Without a command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"faceedit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    edit = commands.add_parser("edit", help="edit the expression of the faces in a photo")
    edit.add_argument("input", metavar="IN", type=Path)
    edit.add_argument("-o", "--output", metavar="OUT", type=Path, required=True)
    edit.add_argument("--face", type=_face_index, metavar="N", help="edit only face N (0 = largest); default: all")
    edit.add_argument("--as-neutral", action="store_true",
                      help="take the faces as neutral whatever the model reads (for faces it misreads): "
                      "expressions count from zero, and one not named stays at zero")
    _add_expression_options(edit)
    _add_output_options(edit)
    _add_model_options(edit)

    batch = commands.add_parser("batch", help="edit every photo in a folder (resumable; writes outputs.csv)")
    batch.add_argument("input_dir", metavar="IN_DIR", type=Path)
    batch.add_argument("output_dir", metavar="OUT_DIR", type=Path)
    batch.add_argument("--all-expressions", action="store_true", help="write each face at each expression and level")
    batch.add_argument("--levels", type=_levels, metavar="L,L", help=f"levels for --all-expressions (default {','.join(map(str, DEFAULT_LEVELS))})")
    batch.add_argument("--format", dest="output_format", choices=("jpg", "png", "webp", "bmp", "tif"), help="output format (default: as input)")
    batch.add_argument("--face", type=_face_index, metavar="N", help="edit only face N of each photo (0 = largest)")
    batch.add_argument("--as-neutral", action="store_true",
                       help="take every face as neutral whatever the model reads (e.g. a folder of neutral portraits "
                       "for labelled synthetic data): intensities count from zero")
    _add_expression_options(batch)
    _add_output_options(batch)
    _add_model_options(batch)

    recognize = commands.add_parser("recognize", help="print the expression recognised in each face")
    recognize.add_argument("images", metavar="IMAGE", nargs="+", type=Path)
    recognize.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_model_options(recognize)

    transfer = commands.add_parser("transfer", help="give the faces of IN the expression of a face in REFERENCE")
    transfer.add_argument("input", metavar="IN", type=Path)
    transfer.add_argument("reference", metavar="REFERENCE", type=Path)
    transfer.add_argument("-o", "--output", metavar="OUT", type=Path, required=True)
    transfer.add_argument("--face", type=_face_index, metavar="N", help="edit only face N of IN (0 = largest)")
    transfer.add_argument("--reference-face", type=_face_index, default=0, metavar="N", help="face of REFERENCE to copy (default 0)")
    _add_output_options(transfer)
    _add_model_options(transfer)

    video = commands.add_parser(
        "video", help="edit the faces of every frame of a video; the sound is copied unchanged",
        description="Edit the faces of every frame of a video (tracked, smoothed); frame count, rate, size and sound are "
        "kept. Slider values are constant, or change linearly between --keyframe values.",
    )
    video.add_argument("input", metavar="IN", type=Path)
    video.add_argument("-o", "--output", metavar="OUT", type=Path, required=True,
                       help="output video (.mp4 gives H.264 where the input allows it; else use the input's extension)")
    video.add_argument("--face", type=_face_index, metavar="N", help="edit only face N (0 = largest when it first appears)")
    video.add_argument(
        "--keyframe", action="append", default=[], metavar="T:EXPRESSION=S",
        help="EXPRESSION is S at T seconds, linear between keyframes (held before the first and after the last); "
        "repeat it; overrides that expression's flag",
    )
    video.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    _add_expression_options(video)
    _add_model_options(video)

    identity = commands.add_parser("identity", help="identity distance of the faces in two photos (dlib's network, in torch)")
    identity.add_argument("photo_a", metavar="A", type=Path)
    identity.add_argument("photo_b", metavar="B", type=Path)
    identity.add_argument("--face-a", type=_face_index, default=0, metavar="N", help="face of A (default 0 = largest)")
    identity.add_argument("--face-b", type=_face_index, default=0, metavar="N", help="face of B (default 0 = largest)")
    identity.add_argument("--json", action="store_true", help="print JSON instead of text")
    identity.add_argument("--device", metavar="DEV", help="auto (default), cpu, cuda or cuda:N")

    search = commands.add_parser("search", help="rank every face in a folder by how alike its expression is to a query face's")
    search.add_argument("query", metavar="QUERY", type=Path, help="photo with the query face")
    search.add_argument("folder", metavar="FOLDER", type=Path, help="folder of photos (searched recursively; its index is cached)")
    search.add_argument("--top", type=_count, default=10, metavar="N", help="show the N most similar faces (default 10; 0 = all)")
    search.add_argument("--face", type=_face_index, default=0, metavar="N", help="face of QUERY (default 0 = largest)")
    search.add_argument("--json", action="store_true", help="print a JSON list, best first: path, face, score, box, expression")
    search.add_argument("--sheet", metavar="OUT", type=Path, help="also write a contact sheet image (query, then the hits)")
    search.add_argument("--no-cache", action="store_true", help="read every photo again and leave the cached index alone")
    search.add_argument("--overwrite", action="store_true", help="replace an existing --sheet file")
    _add_model_options(search)

    info = commands.add_parser("info", help="describe a model file")
    info.add_argument("model_file", metavar="MODEL", nargs="?", type=Path)
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_model_options(info)

    return parser


# --- helpers -------------------------------------------------------------------------


def _open_editor(args: argparse.Namespace) -> tuple[FaceDetector, ExpressionEditor]:
    from faceedit.core.models.file import load_model
    from faceedit.core.device import resolve_device
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.faces import face_detector
    from faceedit.core.resources import default_model_path

    device = resolve_device(args.device)
    model = load_model(default_model_path(args.model), device, args.precision)
    if not model.info.verified:
        print(f"faceedit: note: {model.info.path} was written before model files carried a digest; "
              "it cannot be checked for damage", file=sys.stderr)
    return face_detector(), ExpressionEditor(model)


def _targets(args: argparse.Namespace) -> ExpressionTargets:
    """The preset's slider state (if any), with each expression flag given set over it."""
    targets = ExpressionTargets()
    if getattr(args, "preset", None):
        from faceedit.core.presets import find_preset

        targets = find_preset(args.preset).targets
    for name in EXPRESSIONS:
        if getattr(args, name) is not None:
            targets = targets.with_value(name, getattr(args, name))
    return targets


def _check_output(output: Path, inputs: Sequence[Path], overwrite: bool) -> None:
    """Fail before any work if the output cannot or must not be written."""
    from faceedit.core.atomic import check_writable
    from faceedit.core.imageio import is_photo_path

    if not is_photo_path(output):
        raise OutputError(f"cannot write {output}: use a .jpg, .png, .webp, .bmp or .tif name")
    for source in inputs:
        if source.exists() and output.resolve() == source.resolve():
            raise OutputError(f"{output} is an input: faceedit never writes over its inputs")
    check_writable(output, overwrite=overwrite)


def _describe(report: FaceReport) -> str:
    name, strength = report.expression
    changed = [
        f"{n} {a:.2f}→{b:.2f}" for n, a, b in zip(EXPRESSIONS, report.recognised, report.rendered) if abs(a - b) > 1e-6
    ]
    text = f"face {report.index} at {report.box[:2]}: {name} ({strength:.2f})"
    return text + (f"; {', '.join(changed)}" if changed else "; unchanged")


def _write_result(source: Path, photo: Photo, pixels: np.ndarray, output: Path, *, quality: int, overwrite: bool) -> None:
    """Save an edit. If nothing changed and the format is kept, copy the input's bytes."""
    import numpy as np

    from faceedit.core.atomic import atomic_path
    from faceedit.core.imageio import save_photo

    if np.array_equal(pixels, photo.pixels) and output.suffix.lower() == source.suffix.lower():
        with atomic_path(output, overwrite=overwrite) as tmp:
            shutil.copyfile(source, tmp)
        return
    save_photo(output, pixels, alpha=photo.alpha, quality=quality, overwrite=overwrite, exif=photo.exif, icc_profile=photo.icc_profile)


def _finish_edit(args: argparse.Namespace, photo: Photo, edit: PhotoEdit) -> int:
    """Write an edit to ``args.output`` and report each face (edit and transfer)."""
    _write_result(args.input, photo, edit.pixels, args.output, quality=args.quality, overwrite=args.overwrite)
    for report in edit.faces:
        print(_describe(report))
    print(f"wrote {args.output}")
    return 0


# --- commands ------------------------------------------------------------------------


def _cmd_edit(args: argparse.Namespace) -> int:
    from faceedit.core.imageio import load_photo
    from faceedit.core.pipeline import edit_photo

    photo = load_photo(args.input)
    _check_output(args.output, [args.input], args.overwrite)
    targets = _targets(args)  # a bad preset fails before the model loads
    detector, editor = _open_editor(args)
    starting = NEUTRAL_START if args.as_neutral else None
    edit = edit_photo(photo.pixels, detector, editor, targets, str(args.input), args.face, starting)
    return _finish_edit(args, photo, edit)


def _cmd_transfer(args: argparse.Namespace) -> int:
    from faceedit.core.imageio import load_photo
    from faceedit.core.pipeline import transfer_expression

    photo = load_photo(args.input)
    reference = load_photo(args.reference)
    _check_output(args.output, [args.input, args.reference], args.overwrite)
    detector, editor = _open_editor(args)
    edit = transfer_expression(
        photo.pixels, reference.pixels, detector, editor, str(args.input), str(args.reference), args.face, args.reference_face
    )
    return _finish_edit(args, photo, edit)


def _cmd_video(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from faceedit.core.video_edit import Keyframe, Timeline, VideoEditJob, edit_video, prepare_video_job

    job = VideoEditJob(args.input, args.output, Timeline(_targets(args), tuple(Keyframe.parse(k) for k in args.keyframe)),
                       args.face, args.overwrite)
    info, _ = prepare_video_job(job)  # bad input and output fail here, before the model loads
    print(f"{args.input}: {info.describe()}", file=sys.stderr)
    _, editor = _open_editor(args)
    with tqdm(total=info.frames or None, unit="frame", file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            result = edit_video(job, editor, progress=progress)
        except KeyboardInterrupt:
            bar.close()
            print(f"faceedit: interrupted; {args.output} was not written", file=sys.stderr)
            return 130
    print(result.line())
    return 0


def _cmd_recognize(args: argparse.Namespace) -> int:
    from faceedit.core.imageio import load_photo
    from faceedit.core.pipeline import recognise_photo

    detector, editor = _open_editor(args)
    results, failures = [], 0
    for image in args.images:
        try:
            reports = recognise_photo(load_photo(image).pixels, detector, editor, str(image))
        except FaceeditError as error:
            failures += 1
            results.append({"image": str(image), "error": str(error)})
            if not args.json:
                print(f"faceedit: error: {error}", file=sys.stderr)
            continue
        faces = [
            {
                "index": r.index,
                "box": list(r.box),
                "expression": r.expression[0],
                "strength": round(r.expression[1], 4),
                "intensities": {k: round(v, 4) for k, v in r.recognised_by_name().items()},
            }
            for r in reports
        ]
        results.append({"image": str(image), "faces": faces})
        if not args.json:
            for face in faces:
                levels = " ".join(f"{k} {v:.2f}" for k, v in face["intensities"].items())
                print(f"{image} face {face['index']}: {face['expression']} ({face['strength']:.2f}) | {levels}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failures else 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from faceedit.core.batch import BatchJob, run_batch

    if args.levels is not None and not args.all_expressions:
        raise FaceeditError("--levels needs --all-expressions")
    if args.all_expressions and (args.preset or any(getattr(args, name) is not None for name in EXPRESSIONS)):
        raise FaceeditError("--all-expressions sets every expression itself; leave out --preset and the expression flags")
    if not args.input_dir.is_dir():
        raise FaceeditError(f"input folder {args.input_dir} does not exist")
    job = BatchJob(
        input_dir=args.input_dir,
        output_dir=args.output_dir,
        targets=_targets(args),
        levels=(args.levels or DEFAULT_LEVELS) if args.all_expressions else None,
        output_suffix=f".{args.output_format}" if args.output_format else None,
        overwrite=args.overwrite,
        face_index=args.face,
        quality=args.quality,
        as_neutral=args.as_neutral,
    )
    detector, editor = _open_editor(args)
    with tqdm(total=None, unit="photo", file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int, path: Path) -> None:
            bar.total = total
            bar.set_postfix_str(path.name, refresh=False)
            bar.update(done - bar.n)

        summary = run_batch(job, detector, editor, progress=progress)
    for path, reason in summary.problems:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(summary.line())
    print(f"list of outputs: {summary.csv_path}")
    return 1 if summary.failed else 0


def _cmd_info(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from faceedit.core.device import describe_device, resolve_device, resolve_precision
    from faceedit.core.model_summary import shorten_paths
    from faceedit.core.models.file import read_model_info
    from faceedit.core.resources import default_model_path

    info = read_model_info(default_model_path(args.model_file or args.model))
    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    if args.json:
        data = {
            "path": str(info.path),
            "family": info.family.name,
            "config": info.config.to_dict(),
            "expressions": list(info.expressions),
            "parameters": info.parameters,
            "storage": info.storage_dtype,
            "provenance": asdict(info.provenance),
            "metrics": info.metrics,
            "verified": info.verified,
            "device": describe_device(device),
            "precision": precision.name,
        }
        print(json.dumps(data, indent=2))
        return 0
    print(f"model       {info.path}")
    print(f"family      {info.family.title} ({info.family.paper})")
    print(f"network     {info.describe()}, {info.parameters:,} parameters ({info.storage_dtype})")
    print(f"device      {describe_device(device)}, {precision.describe()}")
    print(f"integrity   {'verified by its digest' if info.verified else 'not verifiable (written before model files carried a digest)'}")
    print(f"expressions {', '.join(info.expressions)}")
    p = info.provenance
    # The build machine's paths (/work/b6/...) mean nothing here: their last component only.
    print(f"trained on  {shorten_paths(p.data)}; {p.steps:,} steps; commit {p.commit}; {p.date}")
    if p.notes:
        print(f"notes       {shorten_paths(p.notes)}")
    for name, value in sorted(info.metrics.items()):
        print(f"metric      {name} = {value:.4g}")
    return 0


def _cmd_identity(args: argparse.Namespace) -> int:
    from faceedit.core.device import resolve_device
    from faceedit.core.faces import face_detector
    from faceedit.core.identity import SAME_PERSON_THRESHOLD, descriptor_distance, face_descriptor
    from faceedit.core.imageio import load_photo
    from faceedit.core.pipeline import select_faces

    device = resolve_device(args.device)
    descriptors = []
    for path, index in ((args.photo_a, args.face_a), (args.photo_b, args.face_b)):
        pixels = load_photo(path).pixels
        [(_, face)] = select_faces(face_detector().detect(pixels), str(path), index)
        descriptors.append(face_descriptor(pixels, face.landmarks, device))
    distance = descriptor_distance(*descriptors)
    same = distance < SAME_PERSON_THRESHOLD
    if args.json:
        print(json.dumps({"distance": round(distance, 6), "same_person": same, "threshold": SAME_PERSON_THRESHOLD}))
    else:
        verdict = "same person" if same else "different people"
        print(f"distance {distance:.4f}: {verdict} (dlib's threshold {SAME_PERSON_THRESHOLD})")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from faceedit.core.atomic import check_writable
    from faceedit.core.search import hits_json, model_digest, query_vector, update_index

    if not args.folder.is_dir():
        raise FaceeditError(f"{args.folder} is not a folder" if args.folder.exists() else f"folder {args.folder} does not exist")
    if not args.query.is_file():
        raise FaceeditError(f"query photo {args.query} does not exist" if not args.query.exists() else f"{args.query} is not a file")
    if args.sheet is not None:
        from faceedit.core.imageio import is_photo_path

        if not is_photo_path(args.sheet):
            raise OutputError(f"--sheet {args.sheet}: give an image file name (.jpg, .png, .webp, .bmp or .tif)")
        check_writable(args.sheet, overwrite=args.overwrite)
    detector, editor = _open_editor(args)
    vector, face, pixels = query_vector(editor, detector, args.query, args.face)
    show_progress = not args.json and sys.stderr.isatty()

    def progress(done: int, total: int, path: Path) -> None:
        if show_progress:
            print(f"\rindexing {done}/{total} {path.name[:40]:<40}", end="", file=sys.stderr, flush=True)

    update = update_index(args.folder, editor, detector, model_digest(editor.model.info.path, editor.model.precision.name),
                          use_cache=not args.no_cache, progress=progress)
    if show_progress and update.read:
        print(file=sys.stderr)
    index = update.index
    for stamp in index.unreadable:
        print(f"faceedit: skipped {args.folder / stamp.path}: {stamp.error}", file=sys.stderr)
    hits = index.search(vector, None if args.top == 0 else args.top, exclude=(args.query, args.face))
    if args.sheet is not None:
        from faceedit.core.imageio import save_photo
        from faceedit.core.search_sheet import search_sheet

        save_photo(args.sheet, search_sheet(pixels, face.box, hits), overwrite=args.overwrite)
    if args.json:
        print(json.dumps(hits_json(hits), indent=2))
    else:
        photos = sum(1 for f in index.files if not f.error)
        print(f"{len(index)} faces in {photos} photos of {args.folder} ({update.read} read now, {update.reused} from the cache"
              f"{f', {len(index.unreadable)} unreadable skipped' if index.unreadable else ''})", file=sys.stderr)
        for hit in hits:
            strongest = max(hit.expression, key=hit.expression.get) if hit.expression else ""
            level = hit.expression.get(strongest, 0.0)
            reading = f"{strongest} {level:.2f}" if level >= 0.3 else "neutral"  # every intensity below 0.3
            print(f"{hit.rank:>3}  {hit.score:.3f}  {hit.path} face {hit.face}  ({reading})")
    return 0


COMMANDS = {
    "edit": _cmd_edit,
    "batch": _cmd_batch,
    "recognize": _cmd_recognize,
    "transfer": _cmd_transfer,
    "video": _cmd_video,
    "info": _cmd_info,
    "identity": _cmd_identity,
    "search": _cmd_search,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 failed, 2 usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if not 1 <= getattr(args, "quality", 95) <= 100:
        parser.error("--quality must be between 1 and 100")
    return run_reporting_errors("faceedit", lambda: COMMANDS[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
