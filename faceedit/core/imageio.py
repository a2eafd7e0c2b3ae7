"""Safe photo input and output: every way a photo can be bad ends in one clear line.

Reading
    The file is read into memory once (one system call; OpenCV's path-based readers
    mishandle non-ASCII paths on Windows, and the same code then serves bytes from the
    clipboard or a drop). Pillow opens the header lazily: it identifies the format,
    gives the size (so a decompression bomb is refused *before* any pixel is decoded),
    the EXIF block and the ICC profile, and it handles greyscale, palette, CMYK and
    alpha conversions. Pillow truncates 16-bit colour to its high byte (65535 → 255
    but 32767 → 127, and 257·k → k only by luck), so 16-bit PNG/TIFF pixels are decoded
    by OpenCV instead and rounded to 8 bits here. EXIF orientation is applied by this
    module with numpy, the same way for both decoders (TIFF is decoded from a copy whose
    Orientation tag is set to 1, because OpenCV and recent Pillow versions rotate TIFF themselves).

Writing
    Pillow writes every format (it writes EXIF and ICC where the format has room for
    them, OpenCV writes neither), through :func:`faceedit.core.atomic.atomic_path` so
    that a half-written photo never appears under the real name.

Nothing is done at import time; OpenCV is imported only when a 16-bit photo needs it.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from faceedit.core.atomic import atomic_path
from faceedit.core.errors import OutputError, PhotoError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "SUPPORTED_SUFFIXES",
    "Photo",
    "decode_photo",
    "is_photo_path",
    "load_photo",
    "save_photo",
]

#: Decompression-bomb limit, checked against the header before decoding. A 100 MP
#: medium-format camera and most stitched panoramas fit; 150 MP is already ~450 MB as
#: 8-bit RGB (several times that while editing), and a 60-byte PNG header can claim
#: 2^31 × 2^31. It is below Pillow's own hard limit (2 × Image.MAX_IMAGE_PIXELS ≈ 179 MP),
#: so this is the limit users meet, with this module's message. Read at call time, so
#: tests (or a future setting) can change it.
MAX_PIXELS: int = 150_000_000

#: Files larger than this are refused before being read into memory (a 150 MP
#: uncompressed 16-bit RGBA TIFF is 1.2 GB; a multi-gigabyte file named .jpg is not a photo).
MAX_FILE_BYTES: int = 2 * 1024**3

#: Suffixes faceedit reads and writes (lower case, with the dot).
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
)

# Output format by suffix (Pillow's format names).
_SAVE_FORMATS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
_EXIF_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})
_ICC_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})

# Pillow reports phone/camera JPEGs with extra frames (depth maps, previews) as MPO.
_READ_FORMATS: dict[str, str] = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "WEBP": "WEBP",
    "BMP": "BMP",
    "TIFF": "TIFF",
}

_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION = 0x0112
# TIFF files carry EXIF as their own tags, mixed with layout tags (strip offsets…) that
# must not be copied into another file; these descriptive ones are what is worth keeping.
_TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is ambiguous; compare fields.
class Photo:
    """A decoded photo, upright and ready to edit.

    ``pixels`` is H×W×3 uint8 RGB, C-contiguous and read-only (edits make copies).
    ``alpha`` is H×W uint8 when the source had transparency, else None.
    ``exif`` is the source's EXIF block (``b"Exif\\0\\0"`` + TIFF data) with Orientation
    reset to 1, because the pixels are already rotated; None when there was none.
    ``icc_profile`` is kept only when it describes RGB data (a greyscale or CMYK profile
    no longer matches the converted pixels).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    source: Path | None
    format: str
    bit_depth: int
    exif: bytes | None
    icc_profile: bytes | None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def is_photo_path(path: str | Path) -> bool:
    """True if ``path`` has a supported suffix (any case) and is not a hidden file.

    Hidden names are skipped because folder scans otherwise pick up macOS ``._x.jpg``
    resource forks and the ``.x.part.jpg`` files an interrupted save leaves behind.
    """
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES


def load_photo(path: str | Path) -> Photo:
    """Read the photo at ``path``; raise :class:`PhotoError` (one line, naming it) if it can't be.

    The file is only read, never written or touched.
    """
    path = Path(path)
    try:
        if not path.exists():
            raise PhotoError(f"cannot open photo {path}: no such file")
        if path.is_dir():
            raise PhotoError(f"cannot open photo {path}: it is a folder, not a file")
        if not path.is_file():
            # A FIFO or device would block or never end when read.
            raise PhotoError(f"cannot open photo {path}: not a regular file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PhotoError(
                f"cannot open photo {path}: the file is {size / 1024**3:.1f} GB, "
                f"more than the {MAX_FILE_BYTES / 1024**3:.0f} GB limit"
            )
        data = path.read_bytes()
    except PermissionError:
        raise PhotoError(f"cannot open photo {path}: permission denied") from None
    except OSError as error:
        raise PhotoError(f"cannot open photo {path}: {error.strerror or error}") from None
    return _decode(data, str(path), path)


def decode_photo(data: bytes, name: str = "<memory>") -> Photo:
    """Decode a photo from bytes (clipboard, drag-and-drop); ``name`` is used in errors."""
    return _decode(bytes(data), name, None)


def save_photo(
    path: str | Path,
    pixels: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    quality: int = 95,
    overwrite: bool = False,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
) -> None:
    """Write H×W×3 uint8 RGB ``pixels`` to ``path``, format chosen by its suffix.

    Atomic (temporary file + rename). Raises :class:`OutputError` for an unknown suffix,
    an existing file (unless ``overwrite``), or a missing/unwritable folder; ValueError
    for arrays or a quality that are a caller's bug. ``quality`` (1–100) is used by
    JPEG and WebP. ``alpha`` (H×W uint8) is kept by PNG, WebP and TIFF and dropped by
    JPEG and BMP. ``exif`` and ``icc_profile`` are written where the format has room;
    EXIF Orientation is forced to 1 because ``pixels`` are upright.
    """
    path = Path(path)
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        supported = ", ".join(sorted(_SAVE_FORMATS))
        kind = path.suffix or "(no suffix)"
        raise OutputError(f"cannot write {path}: unknown image type {kind!r}; use one of {supported}")
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3 or 0 in pixels.shape:
        raise ValueError(f"pixels must be a non-empty H×W×3 uint8 array, not {pixels.dtype} {pixels.shape}")
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.dtype != np.uint8 or alpha.shape != pixels.shape[:2]:
            raise ValueError(f"alpha must be {pixels.shape[:2]} uint8, not {alpha.dtype} {alpha.shape}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1..100, got {quality}")

    if alpha is not None and fmt in _ALPHA_FORMATS:
        image = Image.fromarray(np.ascontiguousarray(np.dstack([pixels, alpha])))
    else:
        image = Image.fromarray(np.ascontiguousarray(pixels))

    params: dict[str, Any] = {}
    if fmt in ("JPEG", "WEBP"):
        params["quality"] = int(quality)
    # TIFF is written uncompressed by Pillow's own writer: the most widely readable TIFF,
    # and libtiff's compressing writer fails on EXIF sub-IFDs (capture date, exposure).
    if exif and fmt in _EXIF_FORMATS:
        fixed = _reset_orientation(exif)
        if fixed is None:
            raise ValueError("exif is not an EXIF block (expected b'Exif\\0\\0' + TIFF header)")
        params["exif"] = fixed
    if icc_profile and fmt in _ICC_FORMATS:
        params["icc_profile"] = icc_profile

    with atomic_path(path, overwrite=overwrite) as tmp:
        try:
            image.save(tmp, format=fmt, **params)
        except OSError:
            raise  # atomic_path turns it into OutputError and removes the temporary file
        except (ValueError, TypeError, MemoryError) as error:
            raise OutputError(f"cannot write {path}: {_one_line(error)}") from error


# ----------------------------------------------------------------------------- decoding


def _decode(data: bytes, name: str, source: Path | None) -> Photo:
    def fail(reason: str) -> PhotoError:
        return PhotoError(f"cannot open photo {name}: {reason}")

    if not data:
        raise fail("the file is empty")
    width, height = _png_header_size(data)
    if width == 0 or height == 0:
        # Pillow rejects these as unidentified; say what is actually wrong.
        raise fail("the image has zero width or height")

    # TIFF keeps Orientation in its own header, and some readers (OpenCV, recent Pillow)
    # apply it while decoding, others don't. Decode a copy with the tag set to 1 and
    # apply the recorded value once, here, so every reader and version agrees.
    tiff_orientation = 1
    if (patched := _patch_orientation(data)) is not None:
        data, tiff_orientation = patched
    try:
        with warnings.catch_warnings():
            # Pillow warns above ~89 MP; MAX_PIXELS is the limit that counts, checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise fail(f"the image is larger than the {MAX_PIXELS / 1e6:.0f}-megapixel limit") from None
    except UnidentifiedImageError:
        raise fail("not an image, or a damaged one") from None
    except Exception as error:  # noqa: BLE001 - untrusted bytes: plugins raise all sorts
        raise fail(f"damaged image header ({_one_line(error)})") from None

    with image:
        fmt = _READ_FORMATS.get(image.format or "")
        if fmt is None:
            raise fail(f"{image.format} images are not supported (use JPEG, PNG, WebP, BMP or TIFF)")
        width, height = image.size
        if width <= 0 or height <= 0:
            raise fail("the image has zero width or height")
        if width * height > MAX_PIXELS:
            raise fail(
                f"{width}×{height} pixels is more than the {MAX_PIXELS / 1e6:.0f}-megapixel limit"
            )

        bit_depth = 16 if _bits_per_channel(image, data, fmt) == 16 else 8
        try:
            if bit_depth == 16:
                rgb, alpha = _decode_16bit(data)
            else:
                rgb, alpha = _decode_8bit(image)
        except PhotoError as error:
            raise fail(str(error)) from None
        except Exception as error:  # noqa: BLE001 - truncated/corrupt data, any decoder
            raise fail(f"the image data is truncated or damaged ({_one_line(error)})") from None

        orientation, exif = _exif_of(image, fmt)
        if fmt == "TIFF":
            orientation = tiff_orientation if 1 <= tiff_orientation <= 8 else 1
        icc = image.info.get("icc_profile")

    if rgb.shape[:2] != (height, width):
        raise fail("the image data does not match its header")
    rgb, alpha = _apply_orientation(rgb, orientation), (
        None if alpha is None else _apply_orientation(alpha, orientation)
    )
    # Profiles describe the source colour space; after grey→RGB or CMYK→RGB only an
    # RGB profile (ICC header bytes 16..20 = data colour space) still fits the pixels.
    if not (isinstance(icc, bytes) and len(icc) >= 128 and icc[16:20] == b"RGB "):
        icc = None
    return Photo(
        pixels=_frozen(rgb),
        alpha=None if alpha is None else _frozen(alpha),
        source=source,
        format=fmt,
        bit_depth=bit_depth,
        exif=exif,
        icc_profile=icc,
    )


def _png_header_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height from a PNG IHDR, or (None, None) for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    return None, None


def _bits_per_channel(image: Image.Image, data: bytes, fmt: str) -> int:
    """The source's bits per channel, read from the header (Pillow's mode hides 16-bit RGB)."""
    if image.mode.startswith("I;16"):
        return 16
    if fmt == "PNG" and len(data) > 24:
        return data[24]  # IHDR bit depth
    if fmt == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258, 8)  # BitsPerSample
        return max(bits) if isinstance(bits, tuple) and bits else int(bits)
    return 8


def _decode_8bit(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode with Pillow into (RGB, alpha or None)."""
    image.load()  # raises OSError on truncated data (LOAD_TRUNCATED_IMAGES stays False)
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;"):
        raise PhotoError(f"{mode} pixels (32-bit or float) are not supported")
    # tRNS in an RGB/L/P image is transparency too; convert("RGBA") applies it.
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"))
        return rgba[..., :3], rgba[..., 3]
    # CMYK is converted naively (no colour management); its CMYK profile is dropped later.
    rgb = image if mode == "RGB" else image.convert("RGB")
    return np.asarray(rgb), None


def _decode_16bit(data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode a 16-bit PNG/TIFF with OpenCV and round it to 8 bits; pixels as stored (not rotated)."""
    import cv2  # only here: importing OpenCV costs startup time the 8-bit path never needs

    # IMREAD_UNCHANGED keeps 16 bits and alpha, and ignores PNG EXIF orientation (TIFF
    # arrives here with its Orientation already neutralised, see _decode).
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise PhotoError("the image data is truncated or damaged")
    if array.dtype == np.uint16:
        # Nearest 8-bit value: v·255/65535 rounded, i.e. 257·k → k exactly and 65535 → 255.
        array = ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise PhotoError(f"{array.dtype} pixels are not supported")
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2), None
    channels = array.shape[2]
    if channels == 1:
        return np.repeat(array, 3, axis=2), None
    if channels == 2:  # grey + alpha
        return np.repeat(array[..., :1], 3, axis=2), array[..., 1]
    if channels == 3:
        return array[..., ::-1], None  # OpenCV is BGR
    return array[..., 2::-1], array[..., 3]


def _exif_of(image: Image.Image, fmt: str) -> tuple[int, bytes | None]:
    """(orientation 1..8, EXIF block with Orientation 1 or None). Bad EXIF never blocks a photo."""
    orientation = 1
    exif: bytes | None = None
    try:
        if fmt == "TIFF":
            tags = image.getexif()  # Orientation: read by the caller from the raw header
            kept = Image.Exif()
            for tag in _TIFF_DESCRIPTIVE_TAGS:
                if tag in tags:
                    kept[tag] = tags[tag]
            for ifd in (_EXIF_IFD, _GPS_IFD):
                if sub := tags.get_ifd(ifd):
                    kept[ifd] = dict(sub)
            exif = kept.tobytes() if len(kept) else None
        else:
            raw = image.info.get("exif")
            if isinstance(raw, bytes) and raw:
                parsed = Image.Exif()
                parsed.load(raw if raw.startswith(_EXIF_HEADER) else _EXIF_HEADER + raw)
                orientation = int(parsed.get(_ORIENTATION, 1))
                exif = _reset_orientation(raw)
    except Exception:  # noqa: BLE001 - damaged metadata: keep the pixels, drop the EXIF
        return 1, None
    return (orientation if 1 <= orientation <= 8 else 1), exif


def _reset_orientation(exif: bytes) -> bytes | None:
    """Return ``b"Exif\\0\\0"`` + TIFF data with IFD0 Orientation set to 1, or None if unparseable."""
    patched = _patch_orientation(exif[len(_EXIF_HEADER):] if exif.startswith(_EXIF_HEADER) else exif)
    return None if patched is None else _EXIF_HEADER + patched[0]


def _patch_orientation(tiff: bytes) -> tuple[bytes, int] | None:
    """(the bytes with IFD0 Orientation set to 1, the original Orientation; 1 when absent).

    Works on an EXIF body or a whole TIFF file, and copies only when a change is needed.
    Patched in place rather than re-serialised by Pillow, so maker notes (whose internal
    offsets break when the block is rebuilt) and every other byte stay as they were.
    None when the bytes are not classic TIFF structure.
    """
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return None
    try:
        (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd0)
        for i in range(count):
            entry = ifd0 + 2 + 12 * i
            tag, kind, n = struct.unpack_from(order + "HHI", tiff, entry)
            if tag == _ORIENTATION and n == 1 and kind in (3, 4):  # SHORT (or a stray LONG)
                value = order + ("H" if kind == 3 else "I")
                (original,) = struct.unpack_from(value, tiff, entry + 8)
                if original == 1:
                    break
                patched = bytearray(tiff)
                struct.pack_into(value, patched, entry + 8, 1)
                return bytes(patched), original
    except struct.error:
        return None
    return tiff, 1


def _apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright for EXIF orientation 1..8 (works on H×W and H×W×C)."""
    if orientation == 2:  # mirrored left-right
        return array[:, ::-1]
    if orientation == 3:  # rotated 180°
        return array[::-1, ::-1]
    if orientation == 4:  # mirrored top-bottom
        return array[::-1]
    if orientation == 5:  # transposed (row 0 is the left edge, column 0 the top)
        return array.swapaxes(0, 1)
    if orientation == 6:  # stored rotated 90° counter-clockwise: turn clockwise
        return np.rot90(array, -1)
    if orientation == 7:  # transversed (row 0 is the right edge, column 0 the bottom)
        return array[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:  # stored rotated 90° clockwise: turn counter-clockwise
        return np.rot90(array, 1)
    return array


def _frozen(array: np.ndarray) -> np.ndarray:
    """A C-contiguous, read-only copy (views from rotation/slicing are not contiguous)."""
    out = np.array(array, dtype=np.uint8, order="C", copy=True)
    out.setflags(write=False)
    return out


def _one_line(error: BaseException) -> str:
    return re.sub(r"\s+", " ", str(error)).strip() or type(error).__name__
