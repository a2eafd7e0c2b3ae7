"""Search a folder of photos by facial *expression* (ExprGAN's retrieval use).

Every face in the folder is described by the model's expression reading: the intensities
its recognition head reads (``FaceReading.recognised``, K = 6 values in [0, 1], the same
numbers the app's sliders start from). Faces are ranked by the distance between those
vectors, so two different people smiling alike come before the same person's neutral
photo; the identity code z is never used. Score = 1 − ‖a − b‖ / √K, in [0, 1], 1 for the
same reading. (Measured on the bundled model, this beat the recognition head's hidden
features, its logits and cosine similarity on the training split: docs/search.md.)

The index of a folder is cached (``$FACEEDIT_CACHE_DIR/search`` or the platformdirs user
cache) under a key of the folder and the model's digest; each photo's entry is kept while
its relative path, size and modification time stay the same, so a second search reads
only new or changed photos, and forgets removed ones. Photos that cannot be read are
remembered as such (and skipped until they change) and reported.

Ranking is one numpy matrix product over the index (:func:`rank`): ~10,000 faces in a few
milliseconds (bench/bench_search.py). Everything here runs on the calling thread; the
editor and detector passed in must belong to it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceedit.core.errors import FaceeditError, PhotoError

if TYPE_CHECKING:
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.faces import DetectedFace, FaceDetector

INDEX_FORMAT = "faceedit-expression-index"
INDEX_VERSION = 1  # bump when the representation or the file changes
CACHE_ENV_VAR = "FACEEDIT_CACHE_DIR"

Progress = Callable[[int, int, Path], None]
"""Called after each photo read for the index: (photos read, photos to read, path)."""


@dataclass(frozen=True)
class FileStamp:
    """One photo as the index saw it: relative path, size, mtime, and what came of it."""

    path: str  # relative to the folder, '/'-separated
    size: int
    mtime_ns: int
    faces: int  # faces indexed from it
    error: str = ""  # why it could not be read ("" when it was)


@dataclass(frozen=True)
class SearchHit:
    """One face of the folder, ranked."""

    rank: int  # 1 = most similar
    path: Path
    face: int  # index among the photo's faces (0 = largest, as `faceedit edit --face`)
    score: float  # 1 − distance/√K in [0, 1]
    box: tuple[int, int, int, int]
    expression: dict[str, float]  # the face's reading, by expression name

    def to_json(self) -> dict:
        return {"rank": self.rank, "path": str(self.path), "face": self.face, "score": round(self.score, 6),
                "box": list(self.box), "expression": {k: round(v, 4) for k, v in self.expression.items()}}


@dataclass
class ExpressionIndex:
    """Every face of one folder: where it is and its expression vector (rows align)."""

    folder: Path
    model_digest: str
    expressions: tuple[str, ...]
    files: list[FileStamp] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # per face: relative path of its photo
    faces: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # per face: its index in the photo
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int32))
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # N×K

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def unreadable(self) -> list[FileStamp]:
        return [f for f in self.files if f.error]

    def search(self, query: np.ndarray, top: int | None = None, exclude: tuple[Path, int] | None = None) -> list[SearchHit]:
        """The ``top`` faces (all when None) most similar in expression to ``query`` (K,), best first.

        ``exclude`` = (photo path, face index) leaves out the query face itself when it is in the folder.
        """
        skip = None
        if exclude is not None:
            path, face = exclude
            try:  # absolute, not resolved: a link in the folder is that folder's photo
                relative = _relative(Path(os.path.abspath(path)), Path(os.path.abspath(self.folder)))
            except ValueError:
                relative = None
            if relative is not None:
                matches = [i for i, p in enumerate(self.paths) if p == relative and int(self.faces[i]) == face]
                skip = matches[0] if matches else None
        wanted = len(self) if top is None else min(len(self), top + (skip is not None))
        order, scores = rank(self.vectors, query, wanted)
        hits = []
        for i, score in zip(order, scores):
            if i == skip:
                continue
            hits.append(SearchHit(len(hits) + 1, self.folder / self.paths[i], int(self.faces[i]), float(score),
                                  tuple(int(v) for v in self.boxes[i]), dict(zip(self.expressions, map(float, self.vectors[i])))))
        return hits if top is None else hits[:top]


@dataclass(frozen=True)
class IndexUpdate:
    """What :func:`update_index` did."""

    index: ExpressionIndex
    read: int  # photos read now (new or changed)
    reused: int  # photos whose cached entries were kept
    removed: int  # photos gone from the folder since the cache was written
    cache_path: Path | None
    cancelled: bool = False


# --------------------------------------------------------------------------- ranking


def rank(vectors: np.ndarray, query: np.ndarray, top: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``top`` rows of ``vectors`` (N×K) nearest ``query`` (K,), best first, and their scores.

    ‖v − q‖² = ‖v‖² + ‖q‖² − 2 v·q: one matrix-vector product. Score = 1 − ‖v − q‖/√K.
    Ties keep index order (stable).
    """
    vectors = np.asarray(vectors, np.float32)
    query = np.asarray(query, np.float32).reshape(-1)
    if len(vectors) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if vectors.shape[1] != query.shape[0]:
        raise FaceeditError(f"the query has {query.shape[0]} expression values but the index has {vectors.shape[1]}")
    squared = np.einsum("ij,ij->i", vectors, vectors) + float(query @ query) - 2.0 * (vectors @ query)
    scores = 1.0 - np.sqrt(np.maximum(squared, 0.0) / vectors.shape[1])
    n = len(scores) if top is None else max(0, min(int(top), len(scores)))
    if n < len(scores):
        candidates = np.argpartition(-scores, n - 1)[:n] if n else np.zeros(0, np.int64)
        # Stable among equals: sort candidates by (−score, index).
        candidates = np.sort(candidates)
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
    else:
        order = np.argsort(-scores, kind="stable")
    return order, scores[order]


def face_vector(editor: ExpressionEditor, pixels: np.ndarray, face: DetectedFace) -> np.ndarray:
    """The expression vector (K,) float32 of one detected face: the model's recognised intensities."""
    return np.asarray(editor.recognise(pixels, face), np.float32)


def query_vector(editor: ExpressionEditor, detector: FaceDetector, path: Path, face: int = 0) -> tuple[np.ndarray, DetectedFace, np.ndarray]:
    """The query face's vector, the face, and the photo's pixels; one-line errors for a bad photo or face."""
    from faceedit.core.imageio import load_photo
    from faceedit.core.pipeline import select_faces

    pixels = load_photo(path).pixels
    [(_, chosen)] = select_faces(detector.detect(pixels), str(path), face)
    return face_vector(editor, pixels, chosen), chosen, pixels


# --------------------------------------------------------------------------- the cache


def model_digest(path: Path | str, precision: str = "") -> str:
    """SHA-256 of the model file's bytes and the precision it runs at (the index's key: another
    model, or bf16 instead of fp32, reads faces differently)."""
    digest = hashlib.sha256(precision.encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir(explicit: Path | None = None) -> Path:
    """``explicit``, else ``$FACEEDIT_CACHE_DIR/search``, else platformdirs' user cache + search."""
    if explicit is not None:
        return Path(explicit)
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]) / "search"
    import platformdirs

    return Path(platformdirs.user_cache_dir("faceedit")) / "search"


def index_path(folder: Path, digest: str, directory: Path | None = None) -> Path:
    """Where the index of ``folder`` (resolved) read by the model ``digest`` is cached."""
    key = hashlib.sha256(f"{Path(folder).resolve()}\n{digest}\n{INDEX_VERSION}".encode()).hexdigest()[:32]
    return cache_dir(directory) / f"{key}.npz"


def save_index(index: ExpressionIndex, path: Path) -> None:
    """Write the index atomically (numpy arrays only, no pickles)."""
    from faceedit.core.atomic import write_bytes_atomic

    buffer = io.BytesIO()
    files = index.files
    np.savez(
        buffer,
        format=np.array(INDEX_FORMAT), version=np.array(INDEX_VERSION),
        folder=np.array(str(index.folder.resolve())), digest=np.array(index.model_digest),
        expressions=np.array(index.expressions, dtype=str),
        file_paths=np.array([f.path for f in files], dtype=str), file_sizes=np.array([f.size for f in files], np.int64),
        file_mtimes=np.array([f.mtime_ns for f in files], np.int64), file_faces=np.array([f.faces for f in files], np.int32),
        file_errors=np.array([f.error for f in files], dtype=str),
        paths=np.array(index.paths, dtype=str), faces=index.faces.astype(np.int32),
        boxes=index.boxes.astype(np.int32), vectors=index.vectors.astype(np.float32),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buffer.getvalue(), overwrite=True)


def load_index(path: Path, folder: Path, digest: str) -> ExpressionIndex | None:
    """The cached index, or None where it is missing, damaged, stale or for another folder/model."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != INDEX_FORMAT or int(data["version"]) != INDEX_VERSION:
                return None
            if str(data["digest"]) != digest or str(data["folder"]) != str(folder.resolve()):
                return None
            files = [FileStamp(str(p), int(s), int(m), int(n), str(e)) for p, s, m, n, e in zip(
                data["file_paths"], data["file_sizes"], data["file_mtimes"], data["file_faces"], data["file_errors"])]
            vectors = np.array(data["vectors"], np.float32)
            expressions = tuple(str(e) for e in data["expressions"])
            index = ExpressionIndex(folder, digest, expressions, files, [str(p) for p in data["paths"]],
                                    np.array(data["faces"], np.int32), np.array(data["boxes"], np.int32).reshape(-1, 4),
                                    vectors.reshape(-1, len(expressions)))
    except Exception:  # noqa: BLE001 - any unreadable cache is simply rebuilt
        return None
    if not (len(index.paths) == len(index.faces) == len(index.boxes) == len(index.vectors)):
        return None
    return index


# --------------------------------------------------------------------------- building


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _read_photo(editor: ExpressionEditor, detector: FaceDetector, path: Path) -> list[tuple[int, DetectedFace, np.ndarray]]:
    """(face number, face, vector) for every face of the photo large enough to read (largest first)."""
    from faceedit.core.imageio import load_photo

    pixels = load_photo(path).pixels
    return [(i, f, face_vector(editor, pixels, f)) for i, f in enumerate(detector.detect(pixels)) if not f.too_small]


def update_index(
    folder: Path | str,
    editor: ExpressionEditor,
    detector: FaceDetector,
    digest: str,
    *,
    directory: Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> IndexUpdate:
    """The folder's index, brought up to date: cached entries of unchanged photos kept, the rest read.

    Raises :class:`FaceeditError` when ``folder`` is not a folder. The cache is written
    (atomically) when anything changed; a cache that cannot be written costs only the
    next search's time. A stop request ends reading early and returns what is indexed
    (``cancelled``), with the photos not yet read left out of the index and the cache.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceeditError(f"{folder} is not a folder")
    expressions = tuple(editor.model.info.expressions)
    cache = index_path(folder, digest, directory) if use_cache else None
    old = load_index(cache, folder, digest) if cache else None
    if old is not None and old.expressions != expressions:
        old = None
    old_files = {f.path: f for f in old.files} if old else {}
    old_rows: dict[str, list[int]] = {}
    if old:
        for row, path in enumerate(old.paths):
            old_rows.setdefault(path, []).append(row)

    stamps = scan_folder(folder)
    seen = {rel for _, rel, _, _ in stamps}
    removed = sum(1 for path in old_files if path not in seen)

    files: list[FileStamp] = []
    kept: list[int] = []  # rows of the old index still current
    paths: list[str] = []  # new rows …
    faces: list[int] = []
    boxes: list[tuple[int, int, int, int]] = []
    vectors: list[np.ndarray] = []
    to_read = [s for s in stamps if not _current(old_files.get(s[1]), s[2], s[3])]
    read = reused = 0
    cancelled = False
    for photo, rel, size, mtime in stamps:
        cached = old_files.get(rel)
        if old is not None and cached is not None and _current(cached, size, mtime):
            files.append(cached)
            kept.extend(old_rows.get(rel, ()))
            reused += 1
            continue
        if should_stop is not None and should_stop():
            cancelled = True
            continue
        try:
            found = _read_photo(editor, detector, photo)
            files.append(FileStamp(rel, size, mtime, len(found)))
            for number, face, vector in found:
                paths.append(rel)
                faces.append(number)
                boxes.append(tuple(int(v) for v in face.box))
                vectors.append(vector)
        except PhotoError as error:
            files.append(FileStamp(rel, size, mtime, 0, str(error) or "unreadable"))
        read += 1
        if progress is not None:
            progress(read, len(to_read), photo)
    k = len(expressions)
    rows = np.array(kept, np.int64)
    all_paths = np.array(([old.paths[i] for i in kept] if old else []) + paths, dtype=str)
    all_faces = np.concatenate([old.faces[rows] if old else np.zeros(0, np.int32), np.array(faces, np.int32)])
    all_boxes = np.concatenate([old.boxes[rows] if old else np.zeros((0, 4), np.int32), np.array(boxes, np.int32).reshape(-1, 4)])
    all_vectors = np.concatenate([old.vectors[rows] if old else np.zeros((0, k), np.float32),
                                  np.array(vectors, np.float32).reshape(-1, k)])
    # One order whatever the cache held (photo path, then face): ties rank alike every time.
    order = np.lexsort((all_faces, all_paths)) if len(all_paths) else np.zeros(0, np.int64)
    index = ExpressionIndex(folder, digest, expressions, files, all_paths[order].tolist(), all_faces[order].astype(np.int32),
                            all_boxes[order].astype(np.int32), all_vectors[order].astype(np.float32))
    if cache is not None and (read or removed or old is None):
        try:
            save_index(index, cache)
        except (OSError, FaceeditError):
            pass  # a cache that cannot be written only costs time next search
    return IndexUpdate(index, read, reused, removed, cache, cancelled)


def scan_folder(folder: Path) -> list[tuple[Path, str, int, int]]:
    """(path, relative path, size, mtime_ns) of every photo under ``folder``, recursively, sorted.

    Hidden files and folders are skipped, as ``faceedit batch`` skips them. ``os.scandir``
    gives each entry's stat with the listing, which keeps a warm search of a large folder
    quick.
    """
    from faceedit.core.imageio import SUPPORTED_SUFFIXES

    found: list[tuple[Path, str, int, int]] = []
    pending = [(str(folder), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # unreadable or vanished folder: nothing to index there
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    pending.append((entry.path, f"{prefix}{entry.name}/"))
                elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in SUPPORTED_SUFFIXES:
                    stat = entry.stat()
                    found.append((Path(entry.path), prefix + entry.name, stat.st_size, stat.st_mtime_ns))
            except OSError:
                continue  # vanished while listing
    found.sort(key=lambda item: item[1])
    return found


def _current(stamp: FileStamp | None, size: int, mtime_ns: int) -> bool:
    return stamp is not None and stamp.size == size and stamp.mtime_ns == mtime_ns


def hits_json(hits: Sequence[SearchHit]) -> list[dict]:
    """The ``--json`` shape: a list, best first, of objects with rank, path, face, score, box, expression."""
    return [hit.to_json() for hit in hits]
