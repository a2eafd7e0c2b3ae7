"""Expression geometry: how each expression moves the face's 68 landmarks, and the warp that does it.

A model with geometry stores, per expression, the mean displacement of the 68 dlib
landmarks from a neutral face to that expression at full intensity (``K×68×2``, in
fractions of the aligned crop's side; learned by ``faceedit-train geometry``). For one
face, :func:`shape_fields` turns it into one backward displacement field per expression
over the crop, by a thin-plate spline through the face's own landmarks (each pinned to
minus its displacement) and a ring of fixed anchors around the face (pinned to zero, so
the warp fades out before the face's outline and nothing outside it moves). The field
for any slider state is then linear: ``Σ_k (target_k − recognised_k) · field_k``.

The warp is applied to the full-resolution photo (:func:`faceedit.core.compositing.apply_edit`),
so the face keeps its own sharpness and colour. Runs on the model's thread.
"""

from __future__ import annotations

import numpy as np
import torch

from faceedit.core.alignment import similarity_transform

STABLE_POINTS: tuple[int, ...] = (27, 28, 29, 30, 36, 39, 42, 45)
"""Nose bridge and eye corners: what expressions barely move. Shifts are measured in a frame
fitted to these (the crop's own alignment also uses the mouth corners, which a smile moves)."""

RING_SCALE = 1.25
"""Anchors sit on the landmarks' outline scaled by this about its centre (zero displacement)."""
RING_POINTS = 24
SMOOTHING = 1e-3
"""Thin-plate spline regularisation (relative to the crop size squared): near-exact interpolation."""


def _outline_ring(landmarks: np.ndarray, size: int) -> np.ndarray:
    """RING_POINTS anchors around the face: its outline (jaw + brows) scaled about the centre."""
    centre = landmarks.mean(axis=0)
    angles = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
    offsets = landmarks - centre
    radii = np.hypot(offsets[:, 0], offsets[:, 1])
    directions = np.arctan2(offsets[:, 1], offsets[:, 0])
    ring = []
    for angle in angles:
        # The farthest landmark within ±30° of this direction sets the radius there.
        near = np.abs(np.angle(np.exp(1j * (directions - angle)))) < np.pi / 6
        radius = radii[near].max() if near.any() else radii.max()
        ring.append(centre + RING_SCALE * radius * np.array([np.cos(angle), np.sin(angle)]))
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], np.float64)
    return np.vstack([np.asarray(ring), corners])


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The thin-plate spline kernel r² log r² between point sets a (M×2) and b (P×2)."""
    dx = a[:, 0, None] - b[None, :, 0]
    dy = a[:, 1, None] - b[None, :, 1]
    r2 = dx * dx + dy * dy
    # r² log r² → 0 as r → 0: a floor inside the log gives exactly 0 there, without warnings.
    return r2 * np.log(np.maximum(r2, 1e-300))


def shape_fields(landmarks: np.ndarray, shifts: np.ndarray, size: int) -> np.ndarray:
    """Per-expression backward displacement fields for one face (K×2×size×size float32, crop px).

    ``landmarks``: the face's 68 points in crop pixels. ``shifts``: K×68×2 displacements
    at full intensity, in crop pixels. Output pixel (x, y) of expression k takes the face's
    pixel at (x, y) + field_k[:, y, x]; to first order a landmark at p moves to p + shift.
    """
    points = np.asarray(landmarks, np.float64)
    anchors = _outline_ring(points, size)
    control = np.vstack([points, anchors]) / size  # unit square: a well-conditioned system
    count = control.shape[0]
    system = np.zeros((count + 3, count + 3))
    system[:count, :count] = _kernel(control, control) + SMOOTHING * np.eye(count)
    system[:count, count] = 1.0
    system[:count, count + 1 :] = control
    system[count, :count] = 1.0
    system[count + 1 :, :count] = control.T
    k = shifts.shape[0]
    values = np.zeros((count + 3, 2 * k))
    values[: points.shape[0]] = -np.asarray(shifts, np.float64).transpose(1, 0, 2).reshape(points.shape[0], 2 * k)
    weights = np.linalg.solve(system, values)
    axis = (np.arange(size) + 0.0) / size
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)  # (x, y), row-major over y
    basis = np.hstack([_kernel(grid, control), np.ones((grid.shape[0], 1)), grid])
    field = basis @ weights  # S²×2K, crop pixels
    return field.reshape(size, size, k, 2).transpose(2, 3, 0, 1).astype(np.float32)


def to_reference_frame(landmarks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``landmarks`` (68×2) mapped by the similarity that puts their stable points on ``reference``'s."""
    points = np.asarray(landmarks, np.float64)
    stable = list(STABLE_POINTS)
    m = similarity_transform(points[stable], np.asarray(reference, np.float64)[stable])
    return points @ m[:, :2].T + m[:, 2]


def face_shifts(landmarks: torch.Tensor, shifts: torch.Tensor, reference: torch.Tensor) -> np.ndarray:
    """Each face's landmark shifts in its own crop pixels → N×K×68×2 float64.

    ``landmarks``: N×68×2 crop px. ``shifts``: K×68×2 in the frame of ``reference`` (68×2,
    the mean neutral face in crop fractions); each face takes them through the similarity
    from the reference's stable points to its own (so they scale and turn with the face).
    """
    stable = list(STABLE_POINTS)
    reference_np = reference.detach().double().cpu().numpy()
    shifts_np = shifts.detach().double().cpu().numpy()
    result = []
    for face in landmarks.detach().double().cpu().numpy():
        linear = similarity_transform(reference_np[stable], face[stable])[:, :2]
        result.append(shifts_np @ linear.T)
    return np.stack(result)


def face_shape_fields(
    landmarks: torch.Tensor, per_face_shifts: np.ndarray, size: int, appearance: torch.Tensor | None = None,
    reference: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`shape_fields` for a batch → (N×K×2×S×S fields, N×K×S×S appearance maps or None).

    ``per_face_shifts`` come from :func:`face_shifts`. With ``appearance`` (K×S×S maps in
    the frame of ``reference``, 68×2 crop fractions, or N×K×S×S: one set per face) the maps
    are also carried onto each face, through the same spline solve: both warps have the
    face's landmarks as control points, so one solve serves the expressions' fields and the
    reference-to-face map.
    """
    import cv2

    faces = landmarks.detach().double().cpu().numpy()
    reference_px = None if reference is None else reference.detach().double().cpu().numpy() * size
    maps_np = None if appearance is None else appearance.detach().float().cpu().numpy()
    if maps_np is not None and maps_np.ndim == 3:
        maps_np = np.broadcast_to(maps_np, (len(faces), *maps_np.shape))
    fields, maps = [], []
    for n, (face, shifts) in enumerate(zip(faces, per_face_shifts)):
        if maps_np is None or reference_px is None:
            fields.append(shape_fields(face, shifts, size))
            continue
        solved = shape_fields(face, np.concatenate([shifts, (face - reference_px)[None]]), size)
        fields.append(solved[:-1])
        grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)
        map_x, map_y = grid_x + solved[-1, 0], grid_y + solved[-1, 1]
        maps.append(np.stack([cv2.remap(m, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                              for m in maps_np[n]]))
    device = landmarks.device
    return torch.from_numpy(np.stack(fields)).to(device), (torch.from_numpy(np.stack(maps)).to(device) if maps else None)


def reference_to_face_maps(landmarks: np.ndarray, reference_px: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps that carry an image in the reference face's frame onto this face's crop.

    The face's pixel p takes the reference frame's value at the point that the thin-plate
    spline through the landmarks (face → reference) sends p to.
    """
    field = shape_fields(landmarks, (np.asarray(landmarks, np.float64) - reference_px)[None], size)[0]
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)
    return grid_x + field[0], grid_y + field[1]


def face_to_reference_maps(landmarks: np.ndarray, reference_px: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps that carry this face's crop into the reference face's frame (the inverse direction)."""
    return reference_to_face_maps(reference_px, np.asarray(landmarks, np.float64), size)


LUMA_OFFSET = 8.0
"""Log ratios are of (luminance + this, in grey levels): dark pixels (pupils, nostrils) do not give huge ratios."""
MAX_LOG_RATIO = 0.8
"""Appearance log ratios are clipped to ±this (a factor of about 2.2)."""
RATIO_SMOOTHING = 0.6
"""Gaussian sigma, in crop pixels, that lightly smooths an appearance map."""


def finish_log_ratio(ratio: np.ndarray, reference_px: np.ndarray) -> np.ndarray:
    """An appearance map (S×S log luminance ratio in the reference face's frame) made ready to carry.

    Lightly smoothed; only *local* change kept (its median over the face is taken out: an
    overall change of exposure is not an expression); faded to zero outside the face (the
    face's background is not the expression's); clipped to ±:data:`MAX_LOG_RATIO`. The
    learned mean maps (``faceedit-train geometry --appearance``) and the maps a
    warped-frame decoder draws per face go through this one function.
    """
    import cv2

    from faceedit.core.compositing import face_mask

    size = ratio.shape[-1]
    mask = face_mask(reference_px, size)
    smoothed = cv2.GaussianBlur(np.asarray(ratio, np.float32), (0, 0), RATIO_SMOOTHING)
    local = (smoothed - np.median(smoothed[mask > 0.5])) * mask
    return np.clip(local, -MAX_LOG_RATIO, MAX_LOG_RATIO).astype(np.float32)


def warp_to_reference(pixels: np.ndarray, landmarks: np.ndarray, reference_px: np.ndarray, back: bool = False) -> np.ndarray:
    """One S×S (×C) crop warped into the reference face's frame (``landmarks`` and
    ``reference_px``: 68×2 crop pixels): the face's shape taken out; ``back``: the other
    way, a crop in the reference frame carried onto the face. Edges are replicated; the
    dtype is kept. What a warped-frame network is trained on (``faceedit-train warp``) and
    what it is shown (:func:`to_reference_images`)."""
    import cv2

    maps = reference_to_face_maps if back else face_to_reference_maps
    map_x, map_y = maps(np.asarray(landmarks, np.float64), reference_px, pixels.shape[0])
    return cv2.remap(pixels, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def to_reference_images(
    images: torch.Tensor, landmarks: torch.Tensor, reference: torch.Tensor, back: bool = False
) -> torch.Tensor:
    """:func:`warp_to_reference` for N×C×S×S model images (``landmarks`` N×68×2 crop px,
    ``reference`` 68×2 crop fractions)."""
    reference_px = reference.detach().double().cpu().numpy() * images.shape[-1]
    pixels = images.detach().float().cpu().numpy().transpose(0, 2, 3, 1)  # N×S×S×C: what cv2 warps
    warped = [warp_to_reference(np.ascontiguousarray(image), face, reference_px, back).reshape(image.shape)
              for image, face in zip(pixels, landmarks.detach().double().cpu().numpy())]
    return torch.from_numpy(np.stack(warped).transpose(0, 3, 1, 2).copy()).to(images)
