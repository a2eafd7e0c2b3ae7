"""Photo-level operations shared by the command line, the batch exporter and the engine.

Each function takes a decoded photo, a face detector and an editor, and returns typed
results; none of them reads or writes files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceedit.core.editor import EncodedFace, ExpressionEditor
from faceedit.core.errors import NoFaceError
from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets, dominant_expression
from faceedit.core.faces import MIN_FACE_WIDTH, DetectedFace, FaceDetector


@dataclass(frozen=True)
class FaceReport:
    """One face: where it is, what the model recognised, what was rendered."""

    index: int  # 0 = largest face in the photo
    box: tuple[int, int, int, int]
    recognised: tuple[float, ...]
    rendered: tuple[float, ...]

    @property
    def expression(self) -> tuple[str, float]:
        """The recognised dominant expression and its intensity ("neutral" below 0.5)."""
        return dominant_expression(self.recognised)

    def recognised_by_name(self) -> dict[str, float]:
        return dict(zip(EXPRESSIONS, self.recognised))


@dataclass(frozen=True)
class PhotoEdit:
    """An edited photo (H×W×3 uint8 RGB) and a report per edited face."""

    pixels: np.ndarray
    faces: tuple[FaceReport, ...]


def select_faces(faces: Sequence[DetectedFace], name: str, face_index: int | None = None) -> list[tuple[int, DetectedFace]]:
    """The faces to edit as (index, face): all usable ones, or the one ``face_index`` picks.

    Raises :class:`NoFaceError` with a clear reason when there is nothing to edit.
    """
    if not faces:
        raise NoFaceError(f"no face found in {name}")
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise NoFaceError(f"--face {face_index} asked for, but {name} has {len(faces)} face(s) (0 = largest)")
        chosen = [(face_index, faces[face_index])]
    else:
        chosen = list(enumerate(faces))
    usable = [(i, f) for i, f in chosen if not f.too_small]
    if not usable:
        widest = max(f.width for _, f in chosen)
        raise NoFaceError(
            f"the face(s) in {name} are too small to edit ({widest} pixels wide; at least {MIN_FACE_WIDTH} needed)"
        )
    return usable


def encode_faces(
    pixels: np.ndarray, detector: FaceDetector, editor: ExpressionEditor, name: str, face_index: int | None = None,
    starting: Sequence[float] | None = None,
) -> list[tuple[int, EncodedFace]]:
    """Detect, select and encode the faces of a photo (taken as showing ``starting`` where given: see ``ExpressionEditor.encode``)."""
    chosen = select_faces(detector.detect(pixels), name, face_index)
    return [(index, editor.encode(pixels, face, starting)) for index, face in chosen]


def _reports(encoded: Sequence[tuple[int, EncodedFace]], targets: Sequence[ExpressionTargets]) -> tuple[FaceReport, ...]:
    return tuple(
        FaceReport(
            index,
            face.face.box,
            tuple(float(v) for v in face.recognised),
            tuple(float(v) for v in t.resolve(face.recognised)),
        )
        for (index, face), t in zip(encoded, targets)
    )


def render_encoded(
    pixels: np.ndarray,
    editor: ExpressionEditor,
    encoded: Sequence[tuple[int, EncodedFace]],
    targets: ExpressionTargets | Sequence[ExpressionTargets],
) -> PhotoEdit:
    """Render already-encoded faces (the batch exporter renders several states per photo)."""
    per_face = [targets] * len(encoded) if isinstance(targets, ExpressionTargets) else list(targets)
    result = editor.render(pixels, [face for _, face in encoded], per_face)
    return PhotoEdit(result, _reports(encoded, per_face))


def edit_photo(
    pixels: np.ndarray,
    detector: FaceDetector,
    editor: ExpressionEditor,
    targets: ExpressionTargets,
    name: str = "the photo",
    face_index: int | None = None,
    starting: Sequence[float] | None = None,
) -> PhotoEdit:
    """Move every face (or the one ``face_index`` picks) to the slider state ``targets``.

    ``starting`` (K,): take the faces as showing it instead of what the model recognises
    (``NEUTRAL_START``: "these faces are neutral", for faces the model misreads)."""
    return render_encoded(pixels, editor, encode_faces(pixels, detector, editor, name, face_index, starting), targets)


def recognise_photo(
    pixels: np.ndarray, detector: FaceDetector, editor: ExpressionEditor, name: str = "the photo"
) -> tuple[FaceReport, ...]:
    """What the model recognises in every usable face of the photo."""
    encoded = encode_faces(pixels, detector, editor, name)
    return _reports(encoded, [ExpressionTargets()] * len(encoded))


def transfer_expression(
    pixels: np.ndarray,
    reference: np.ndarray,
    detector: FaceDetector,
    editor: ExpressionEditor,
    name: str = "the photo",
    reference_name: str = "the reference",
    face_index: int | None = None,
    reference_face: int = 0,
) -> PhotoEdit:
    """Give the faces of ``pixels`` the expression recognised in one face of ``reference``."""
    [(_, ref)] = encode_faces(reference, detector, editor, reference_name, reference_face)
    return edit_photo(pixels, detector, editor, ExpressionTargets.exactly(ref.recognised), name, face_index)
