"""Tests for faceedit.core.imageio: every image is generated in tmp_path."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import sys
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from faceedit.core import imageio
from faceedit.core.errors import OutputError, PhotoError
from faceedit.core.imageio import (
    SUPPORTED_SUFFIXES,
    Photo,
    decode_photo,
    is_photo_path,
    load_photo,
    save_photo,
)

# ----------------------------------------------------------------------------- helpers


def smooth_rgb(h: int = 24, w: int = 32) -> np.ndarray:
    """A smooth asymmetric RGB image (lossy codecs keep it close)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack(
        [x * 255 // (w - 1), y * 255 // (h - 1), (x + 2 * y) * 255 // (w + 2 * h - 3)], axis=2
    ).astype(np.uint8)


def asymmetric(h: int = 3, w: int = 5) -> np.ndarray:
    """Every pixel distinct, so any flip/rotation mistake changes the array."""
    return (np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3) * 5).astype(np.uint8)


def exif_bytes(orientation: int | None = None, make: str = "TestCam") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    if orientation is not None:
        exif[0x0112] = orientation
    exif[0x8769] = {0x9003: "2024:05:06 07:08:09"}  # DateTimeOriginal in the Exif IFD
    return exif.tobytes()


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but has no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(path: Path | str, match: str | None = None) -> str:
    """Load ``path``, expect PhotoError naming it on one line; return the message."""
    with pytest.raises(PhotoError) as info:
        load_photo(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    if match is not None:
        assert match in message
    return message


# ----------------------------------------------------------------------------- round trips

LOSSLESS = [".png", ".bmp", ".tif", ".tiff", ".PNG", ".TIFF"]
LOSSY = [".jpg", ".jpeg", ".webp", ".JPG", ".JpEg"]
EXPECTED_FORMAT = {
    ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
    ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
}


@pytest.mark.parametrize("suffix", LOSSLESS)
def test_lossless_round_trip(tmp_path: Path, suffix: str) -> None:
    pixels = smooth_rgb()
    out = tmp_path / f"photo{suffix}"
    save_photo(out, pixels)
    photo = load_photo(out)
    assert photo.format == EXPECTED_FORMAT[suffix.lower()]
    assert np.array_equal(photo.pixels, pixels)
    assert photo.alpha is None and photo.bit_depth == 8
    assert (photo.width, photo.height) == (32, 24)
    assert photo.source == out


@pytest.mark.parametrize("suffix", LOSSY)
def test_lossy_round_trip(tmp_path: Path, suffix: str) -> None:
    pixels = smooth_rgb()
    out = tmp_path / f"photo{suffix}"
    save_photo(out, pixels, quality=95)
    photo = load_photo(out)
    assert photo.format == EXPECTED_FORMAT[suffix.lower()]
    assert photo.pixels.shape == pixels.shape and photo.pixels.dtype == np.uint8
    assert np.abs(photo.pixels.astype(int) - pixels).mean() < 3


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_quality_changes_output(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    save_photo(tmp_path / f"low{suffix}", pixels, quality=10)
    save_photo(tmp_path / f"high{suffix}", pixels, quality=95)
    assert (tmp_path / f"low{suffix}").stat().st_size < (tmp_path / f"high{suffix}").stat().st_size


def test_photo_pixels_are_read_only_contiguous_rgb(tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    Image.fromarray(asymmetric()).save(out)
    photo = load_photo(out)
    assert isinstance(photo, Photo)
    assert photo.pixels.flags.c_contiguous
    with pytest.raises(ValueError):
        photo.pixels[0, 0, 0] = 1
    assert np.array_equal(photo.pixels, asymmetric())


def test_decode_photo_from_bytes(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(asymmetric()).save(buf, format="PNG")
    photo = decode_photo(buf.getvalue(), "clipboard")
    assert np.array_equal(photo.pixels, asymmetric())
    assert photo.source is None and photo.format == "PNG"
    with pytest.raises(PhotoError, match="clipboard"):
        decode_photo(b"hello, not an image", "clipboard")
    with pytest.raises(PhotoError, match="<memory>"):
        decode_photo(b"")


# ----------------------------------------------------------------------------- alpha on save


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif"])
def test_alpha_kept(tmp_path: Path, suffix: str) -> None:
    pixels = smooth_rgb()
    alpha = (np.arange(24 * 32).reshape(24, 32) % 256).astype(np.uint8)
    out = tmp_path / f"a{suffix}"
    save_photo(out, pixels, alpha=alpha)
    photo = load_photo(out)
    assert photo.alpha is not None
    assert np.array_equal(photo.alpha, alpha)


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
def test_alpha_dropped(tmp_path: Path, suffix: str) -> None:
    pixels = smooth_rgb()
    out = tmp_path / f"a{suffix}"
    save_photo(out, pixels, alpha=np.zeros((24, 32), np.uint8))
    photo = load_photo(out)
    assert photo.alpha is None
    assert np.abs(photo.pixels.astype(int) - pixels).mean() < 3  # not blacked out by alpha


# ----------------------------------------------------------------------------- input modes


def test_greyscale_becomes_rgb(tmp_path: Path) -> None:
    grey = np.arange(15, dtype=np.uint8).reshape(3, 5) * 17
    out = tmp_path / "grey.png"
    Image.fromarray(grey).save(out)
    photo = load_photo(out)
    assert photo.pixels.shape == (3, 5, 3)
    for c in range(3):
        assert np.array_equal(photo.pixels[..., c], grey)
    assert photo.alpha is None


def test_rgba_input(tmp_path: Path) -> None:
    rgba = np.dstack([asymmetric(), np.arange(15, dtype=np.uint8).reshape(3, 5) * 10])
    out = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(out)
    photo = load_photo(out)
    assert np.array_equal(photo.pixels, rgba[..., :3])
    assert photo.alpha is not None and np.array_equal(photo.alpha, rgba[..., 3])


def test_la_input(tmp_path: Path) -> None:
    grey = np.full((3, 5), 200, np.uint8)
    alpha = np.arange(15, dtype=np.uint8).reshape(3, 5) * 11
    out = tmp_path / "la.png"
    Image.merge("LA", [Image.fromarray(grey), Image.fromarray(alpha)]).save(out)
    photo = load_photo(out)
    assert np.all(photo.pixels == 200)
    assert photo.alpha is not None and np.array_equal(photo.alpha, alpha)


def palette_image() -> tuple[Image.Image, np.ndarray]:
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    image = Image.new("P", (3, 2))
    image.putdata(indices.flatten().tolist())
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (253 * 3))
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    return image, colours[indices]


def test_palette_with_transparency(tmp_path: Path) -> None:
    image, expected = palette_image()
    out = tmp_path / "pal.png"
    image.save(out, transparency=1)  # index 1 (green) is transparent
    photo = load_photo(out)
    assert np.array_equal(photo.pixels, expected)
    assert photo.alpha is not None
    assert np.array_equal(photo.alpha, np.array([[255, 0, 255], [255, 0, 255]], np.uint8))


def test_palette_without_transparency(tmp_path: Path) -> None:
    image, expected = palette_image()
    out = tmp_path / "pal.bmp"
    image.save(out)
    photo = load_photo(out)
    assert np.array_equal(photo.pixels, expected)
    assert photo.alpha is None


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    out = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(out, quality=95)  # pure red
    photo = load_photo(out)
    assert photo.pixels.shape == (16, 16, 3)
    assert np.abs(photo.pixels.astype(int) - [255, 0, 0]).max() <= 8


SIXTEEN = np.array([0, 128, 129, 257, 257 * 100, 257 * 254, 65534, 65535], np.uint16)
SIXTEEN_AS_8 = np.array([0, 0, 1, 1, 100, 254, 255, 255], np.uint8)


def test_rounding_reference() -> None:
    # The expected values above are the nearest 8-bit value to v/257.
    assert np.array_equal(np.round(SIXTEEN / 257).astype(np.uint8), SIXTEEN_AS_8)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_grey(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"g16{suffix}"
    assert cv2.imwrite(str(out), SIXTEEN.reshape(2, 4))
    photo = load_photo(out)
    assert photo.bit_depth == 16
    for c in range(3):
        assert np.array_equal(photo.pixels[..., c], SIXTEEN_AS_8.reshape(2, 4))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgb_keeps_channel_order(tmp_path: Path, suffix: str) -> None:
    red = SIXTEEN.reshape(2, 4)
    green = np.full((2, 4), 257 * 7, np.uint16)
    blue = np.full((2, 4), 65535, np.uint16)
    out = tmp_path / f"c16{suffix}"
    assert cv2.imwrite(str(out), np.dstack([blue, green, red]))  # OpenCV writes BGR
    photo = load_photo(out)
    assert photo.bit_depth == 16 and photo.alpha is None
    assert np.array_equal(photo.pixels[..., 0], SIXTEEN_AS_8.reshape(2, 4))
    assert np.all(photo.pixels[..., 1] == 7)
    assert np.all(photo.pixels[..., 2] == 255)


def test_16bit_rgba_png(tmp_path: Path) -> None:
    colour = np.full((2, 4), 257 * 50, np.uint16)
    alpha = SIXTEEN.reshape(2, 4)
    out = tmp_path / "rgba16.png"
    assert cv2.imwrite(str(out), np.dstack([colour, colour, colour, alpha]))
    photo = load_photo(out)
    assert photo.bit_depth == 16
    assert np.all(photo.pixels == 50)
    assert photo.alpha is not None and np.array_equal(photo.alpha, SIXTEEN_AS_8.reshape(2, 4))


def test_8bit_png_reports_bit_depth_8(tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    Image.fromarray(asymmetric()).save(out)
    assert load_photo(out).bit_depth == 8


# ----------------------------------------------------------------------------- orientation

# What a camera stores for an upright scene U under each EXIF orientation value.
STORED_FROM_UPRIGHT = {
    1: lambda u: u,
    2: lambda u: np.fliplr(u),
    3: lambda u: np.rot90(u, 2),
    4: lambda u: np.flipud(u),
    5: lambda u: np.transpose(u, (1, 0, 2)),
    6: lambda u: np.rot90(u, 1),  # stored turned 90° CCW; the viewer turns it CW
    7: lambda u: np.transpose(np.rot90(u, 2), (1, 0, 2)),
    8: lambda u: np.rot90(u, -1),
}


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_exif_orientations(tmp_path: Path, orientation: int, suffix: str) -> None:
    upright = asymmetric(3, 5)
    stored = np.ascontiguousarray(STORED_FROM_UPRIGHT[orientation](upright))
    out = tmp_path / f"o{orientation}{suffix}"
    Image.fromarray(stored).save(out, exif=exif_bytes(orientation))
    photo = load_photo(out)
    assert np.array_equal(photo.pixels, upright)
    if suffix == ".png":  # independent cross-check against Pillow's own implementation
        with Image.open(out) as image:
            assert np.array_equal(photo.pixels, np.asarray(ImageOps.exif_transpose(image)))
    reread = Image.Exif()
    reread.load(photo.exif)
    assert reread.get(0x0112, 1) == 1


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_exif_orientations_16bit(tmp_path: Path, orientation: int, suffix: str) -> None:
    upright = asymmetric(3, 5)[..., 0]  # distinct grey values
    stored = np.ascontiguousarray(STORED_FROM_UPRIGHT[orientation](upright[..., None])[..., 0])
    out = tmp_path / f"o{orientation}{suffix}"
    Image.fromarray(stored.astype(np.uint16) * 257).save(out, exif=exif_bytes(orientation))
    photo = load_photo(out)
    assert photo.bit_depth == 16
    for c in range(3):
        assert np.array_equal(photo.pixels[..., c], upright)


@pytest.mark.parametrize("orientation", [6, 8])
def test_orientation_alpha_rotates_with_pixels(tmp_path: Path, orientation: int) -> None:
    upright = np.dstack([asymmetric(3, 5), np.arange(15, dtype=np.uint8).reshape(3, 5)])
    stored = np.ascontiguousarray(STORED_FROM_UPRIGHT[orientation](upright))
    out = tmp_path / "o.png"
    Image.fromarray(stored).save(out, exif=exif_bytes(orientation))
    photo = load_photo(out)
    assert np.array_equal(photo.pixels, upright[..., :3])
    assert photo.alpha is not None and np.array_equal(photo.alpha, upright[..., 3])


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".tif"])
def test_orientation_in_other_formats(tmp_path: Path, suffix: str) -> None:
    upright = np.zeros((16, 32, 3), np.uint8)
    upright[:8, :16] = 255  # white block in the top-left corner only
    out = tmp_path / f"o{suffix}"
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(out, exif=exif_bytes(6))
    photo = load_photo(out)
    assert photo.pixels.shape == (16, 32, 3)
    assert photo.pixels[:8, :16].mean() > 200 and photo.pixels[8:, :].mean() < 30
    assert photo.pixels[:, 16:].mean() < 30


# ----------------------------------------------------------------------------- EXIF and ICC


def test_loaded_exif_keeps_tags_and_resets_orientation(tmp_path: Path) -> None:
    out = tmp_path / "e.jpg"
    source_exif = exif_bytes(6, make="Kodak")
    Image.fromarray(smooth_rgb()).save(out, exif=source_exif)
    photo = load_photo(out)
    assert photo.exif is not None and photo.exif.startswith(b"Exif\x00\x00")
    assert len(photo.exif) == len(source_exif)  # patched in place, nothing lost
    tags = Image.Exif()
    tags.load(photo.exif)
    assert tags[0x0112] == 1 and tags[0x010F] == "Kodak"
    assert tags.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"


def test_patch_orientation_changes_only_that_value(tmp_path: Path) -> None:
    out = tmp_path / "t.tif"
    Image.fromarray(asymmetric()).save(out, exif=exif_bytes(6))
    raw = out.read_bytes()
    result = imageio._patch_orientation(raw)
    assert result is not None
    patched, original = result
    assert original == 6 and len(patched) == len(raw)
    assert sum(a != b for a, b in zip(raw, patched)) == 1  # 6 → 1 in one byte of a SHORT
    with Image.open(io.BytesIO(patched)) as image:
        assert image.getexif().get(0x0112) == 1
    assert imageio._patch_orientation(patched) == (patched, 1)
    assert imageio._patch_orientation(b"\x89PNG\r\n\x1a\n") is None
    assert imageio._patch_orientation(b"II*\x00\xff\xff\xff\x7f") is None  # IFD beyond the end


def test_no_exif_gives_none(tmp_path: Path) -> None:
    out = tmp_path / "plain.png"
    Image.fromarray(asymmetric()).save(out)
    assert load_photo(out).exif is None


def test_damaged_exif_does_not_block_photo(tmp_path: Path) -> None:
    out = tmp_path / "bad_exif.jpg"
    Image.fromarray(smooth_rgb()).save(out, exif=b"Exif\x00\x00garbage-not-tiff")
    photo = load_photo(out)
    assert photo.exif is None and photo.pixels.shape == (24, 32, 3)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_saved_exif_has_orientation_1(tmp_path: Path, suffix: str) -> None:
    pixels = smooth_rgb()
    out = tmp_path / f"s{suffix}"
    save_photo(out, pixels, exif=exif_bytes(6, make="Nikon"))  # a caller's stale tag
    with Image.open(out) as image:
        tags = image.getexif()
        assert tags.get(0x0112) == 1 and tags.get(0x010F) == "Nikon"
        assert tags.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"  # sub-IFD kept
    assert load_photo(out).pixels.shape == pixels.shape  # not rotated on reload


def test_exif_survives_load_edit_save(tmp_path: Path) -> None:
    src = tmp_path / "in.jpg"
    upright = smooth_rgb(16, 32)
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(src, exif=exif_bytes(6, "Canon"))
    photo = load_photo(src)
    out = tmp_path / "out.jpg"
    save_photo(out, photo.pixels, exif=photo.exif, icc_profile=photo.icc_profile)
    again = load_photo(out)
    assert again.pixels.shape == (16, 32, 3)  # rotated once, not twice
    tags = Image.Exif()
    tags.load(again.exif)
    assert tags[0x010F] == "Canon" and tags[0x0112] == 1


def test_tiff_exif_keeps_descriptive_tags_only(tmp_path: Path) -> None:
    out = tmp_path / "t.tif"
    Image.fromarray(smooth_rgb()).save(out, exif=exif_bytes(3, make="Leica"))
    photo = load_photo(out)
    tags = Image.Exif()
    tags.load(photo.exif)
    assert tags[0x010F] == "Leica" and 0x0112 not in tags
    assert 273 not in tags and 256 not in tags  # no strip offsets or sizes from the source


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_icc_profile_round_trip(tmp_path: Path, suffix: str) -> None:
    profile = srgb_profile()
    out = tmp_path / f"icc{suffix}"
    save_photo(out, smooth_rgb(), icc_profile=profile)
    assert load_photo(out).icc_profile == profile


def test_bmp_silently_drops_exif_and_icc(tmp_path: Path) -> None:
    out = tmp_path / "x.bmp"
    save_photo(out, smooth_rgb(), exif=exif_bytes(1), icc_profile=srgb_profile())
    photo = load_photo(out)
    assert photo.exif is None and photo.icc_profile is None


def test_non_rgb_icc_profile_dropped(tmp_path: Path) -> None:
    grey_profile = bytearray(srgb_profile())
    grey_profile[16:20] = b"GRAY"
    out = tmp_path / "g.png"
    Image.fromarray(np.zeros((3, 5), np.uint8)).save(out, icc_profile=bytes(grey_profile))
    with Image.open(out) as image:
        assert image.info["icc_profile"] == bytes(grey_profile)  # it is in the file
    assert load_photo(out).icc_profile is None


# ----------------------------------------------------------------------------- refusals


def test_missing_file(tmp_path: Path) -> None:
    refused(tmp_path / "nope.jpg", "no such file")


def test_folder(tmp_path: Path) -> None:
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    refused(folder, "folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    refused(fifo, "not a regular file")


def test_permission_denied_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "locked.png"
    Image.fromarray(asymmetric()).save(out)

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    refused(out, "permission denied")


@pytest.mark.skipif(
    sys.platform == "win32" or (hasattr(os, "geteuid") and os.geteuid() == 0),
    reason="root (and Windows) can read a chmod 000 file",
)
def test_permission_denied_real(tmp_path: Path) -> None:
    out = tmp_path / "locked.png"
    Image.fromarray(asymmetric()).save(out)
    out.chmod(0)
    try:
        refused(out, "permission denied")
    finally:
        out.chmod(0o644)


def test_empty_file(tmp_path: Path) -> None:
    out = tmp_path / "empty.jpg"
    out.write_bytes(b"")
    refused(out, "empty")


def test_text_file_named_jpg(tmp_path: Path) -> None:
    out = tmp_path / "notes.jpg"
    out.write_text("shopping list: eggs, milk\n")
    refused(out, "not an image")


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_truncated_image(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    full = tmp_path / f"full{suffix}"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(full)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    refused(cut)


def test_truncated_16bit_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    full = tmp_path / "full16.png"
    cv2.imwrite(str(full), rng.integers(0, 65536, (64, 64, 3), dtype=np.uint16))
    cut = tmp_path / "cut16.png"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    refused(cut, "truncated or damaged")


def test_unsupported_format(tmp_path: Path) -> None:
    out = tmp_path / "anim.gif"
    Image.fromarray(asymmetric()).save(out, format="GIF")
    refused(out, "GIF")


def test_unsupported_format_with_photo_suffix(tmp_path: Path) -> None:
    out = tmp_path / "disguised.png"
    Image.fromarray(asymmetric()).save(out, format="GIF")
    refused(out, "GIF images are not supported")


def test_float_tiff_refused(tmp_path: Path) -> None:
    out = tmp_path / "float.tif"
    Image.fromarray(np.zeros((3, 5), np.float32)).save(out)
    refused(out, "not supported")


def test_zero_size_image(tmp_path: Path) -> None:
    out = tmp_path / "zero.png"
    out.write_bytes(png_header_only(0, 5))
    refused(out, "zero width or height")


def test_pixel_data_missing(tmp_path: Path) -> None:
    out = tmp_path / "hollow.png"
    out.write_bytes(png_header_only(8, 8))
    refused(out)


def test_input_bytes_unchanged(tmp_path: Path) -> None:
    paths = []
    for suffix in (".jpg", ".png", ".webp", ".bmp", ".tif"):
        path = tmp_path / f"in{suffix}"
        Image.fromarray(np.ascontiguousarray(np.rot90(smooth_rgb(), 1))).save(
            path, **({} if suffix == ".bmp" else {"exif": exif_bytes(6)})
        )
        paths.append(path)
    g16 = tmp_path / "in16.png"
    cv2.imwrite(str(g16), np.full((4, 4, 3), 1000, np.uint16))
    paths.append(g16)
    before = {p: (sha(p), p.stat().st_mtime_ns) for p in paths}
    for p in paths:
        load_photo(p)
    assert {p: (sha(p), p.stat().st_mtime_ns) for p in paths} == before
    assert sorted(tmp_path.iterdir()) == sorted(paths)


# ----------------------------------------------------------------------------- decompression bombs


def test_bomb_header_far_over_limit(tmp_path: Path) -> None:
    out = tmp_path / "bomb.png"
    out.write_bytes(png_header_only(100_000, 100_000))  # 10 gigapixels, 57 bytes
    refused(out, "megapixel limit")


def test_bomb_between_pillow_warning_and_our_limit(tmp_path: Path) -> None:
    # 13000² = 169 MP: over MAX_PIXELS, under Pillow's hard error; Pillow only warns.
    out = tmp_path / "bomb.png"
    out.write_bytes(png_header_only(13_000, 13_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning leaks out either
        message = refused(out, "megapixel limit")
    assert "13000×13000" in message


@pytest.mark.parametrize("bits", [8, 16])
def test_bomb_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bits: int) -> None:
    out = tmp_path / f"big{bits}.png"
    dtype = np.uint8 if bits == 8 else np.uint16
    cv2.imwrite(str(out), np.zeros((20, 30, 3), dtype))
    monkeypatch.setattr(imageio, "MAX_PIXELS", 599)

    def explode(*args: object, **kwargs: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", explode)
    monkeypatch.setattr(Image.Image, "convert", explode)
    monkeypatch.setattr(cv2, "imdecode", explode)
    message = refused(out, "30×20 pixels")
    assert "megapixel limit" in message


def test_exactly_at_limit_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ok.png"
    Image.fromarray(smooth_rgb(20, 30)).save(out)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 600)
    assert load_photo(out).width == 30


def test_import_does_no_work() -> None:
    import subprocess

    # Compare with the package alone, so a sibling module's imports don't count against us.
    code = (
        "import sys, faceedit.core; before = set(sys.modules); import faceedit.core.imageio; "
        "print('cv2' in set(sys.modules) - before)"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.strip() == "False"  # OpenCV is imported only for 16-bit photos


def test_max_pixels_is_sane() -> None:
    assert 50_000_000 <= imageio.MAX_PIXELS < 2 * Image.MAX_IMAGE_PIXELS


# ----------------------------------------------------------------------------- saving


def test_overwrite_refused_then_allowed(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    with pytest.raises(OutputError, match="already exists"):
        save_photo(out, smooth_rgb())
    assert out.read_bytes() == b"precious"
    save_photo(out, smooth_rgb(), overwrite=True)
    assert np.array_equal(load_photo(out).pixels, smooth_rgb())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp", ".tif"])
def test_atomic_save_leaves_no_temp_files(tmp_path: Path, suffix: str) -> None:
    save_photo(tmp_path / f"a{suffix}", smooth_rgb())
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]


def test_failed_save_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        Path(fp).write_bytes(b"half a pho")  # type: ignore[arg-type]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        save_photo(tmp_path / "a.png", smooth_rgb())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["a.gif", "a.txt", "noext", "a.jpg.bak"])
def test_unknown_output_suffix(tmp_path: Path, name: str) -> None:
    with pytest.raises(OutputError) as info:
        save_photo(tmp_path / name, smooth_rgb())
    message = str(info.value)
    assert name in message and ".png" in message and ".jpg" in message and ".tiff" in message
    assert list(tmp_path.iterdir()) == []


def test_missing_output_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        save_photo(tmp_path / "no" / "such" / "a.png", smooth_rgb())


def test_unwritable_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path else real_access(p, mode))
    with pytest.raises(OutputError, match="not writable"):
        save_photo(tmp_path / "a.png", smooth_rgb())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
    ],
)
def test_bad_pixels_are_a_caller_bug(tmp_path: Path, pixels: np.ndarray) -> None:
    with pytest.raises(ValueError):
        save_photo(tmp_path / "a.png", pixels)


def test_bad_alpha_and_quality(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_photo(tmp_path / "a.png", smooth_rgb(), alpha=np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError):
        save_photo(tmp_path / "a.jpg", smooth_rgb(), quality=0)
    with pytest.raises(ValueError):
        save_photo(tmp_path / "a.jpg", smooth_rgb(), exif=b"not exif")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- suffixes


def test_supported_suffixes() -> None:
    assert SUPPORTED_SUFFIXES == {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
    assert all(s == s.lower() and s.startswith(".") for s in SUPPORTED_SUFFIXES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", True), ("A.JPEG", True), ("dir/b.Png", True), ("c.webp", True),
        ("d.BMP", True), ("e.tif", True), ("f.TIFF", True),
        ("g.gif", False), ("h.txt", False), ("jpg", False), ("i.jpg.txt", False),
        ("._i.jpg", False), (".i.abc123.part.jpg", False),
    ],
)
def test_is_photo_path(name: str, expected: bool) -> None:
    assert is_photo_path(name) is expected
    assert is_photo_path(Path(name)) is expected
