"""Tiny generated video clips for the video tests (core, CLI, GUI, bench): PyAV, with sound.

The face is the bundled sample photo (resources/sample/sample.jpg) composited onto a plain
background, drifting slowly; the sound is a sine sweep in AAC (MP4) or PCM (MKV/AVI).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample" / "sample.jpg"


@dataclass(frozen=True)
class Clip:
    path: Path
    frames: int
    fps: int
    size: tuple[int, int]  # stored width, height (before any rotation)


def _face(height: int) -> np.ndarray:
    """The sample face, cropped around the head and scaled to ``height`` pixels tall (RGB)."""
    image = cv2.cvtColor(cv2.imread(str(SAMPLE)), cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top:top + side, left:left + side]
    return cv2.resize(square, (height, height), interpolation=cv2.INTER_AREA)


def frame_pixels(index: int, size: tuple[int, int], face: np.ndarray | None, seed: int = 0) -> np.ndarray:
    """Frame ``index``: a gradient background, the face drifting a pixel a frame (right 20, left 20), mild noise."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.dstack([90 + 60 * xx / width, 110 + 40 * yy / height, np.full((height, width), 140.0)])
    if face is not None:
        side = face.shape[0]
        x0 = max(0, min(width - side, (width - side) // 2 + abs(index % 40 - 20) - 10))
        y0 = max(0, (height - side) // 2)
        frame[y0:y0 + side, x0:x0 + side] = face[: height - y0, : width - x0]
    rng = np.random.default_rng(seed + index)
    return np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8)


def make_clip(
    path: Path,
    *,
    frames: int = 12,
    fps: int = 12,
    size: tuple[int, int] = (480, 360),
    face: bool = True,
    audio: bool = True,
    rotation: int = 0,
    variable_rate: bool = False,
    codec: str = "libx264",
    face_fraction: float = 0.8,
) -> Clip:
    """Write a clip with PyAV. ``variable_rate``: frame gaps alternate 1 and 2 ticks of 1/fps;
    ``face_fraction``: the face picture's side as a fraction of the frame's shorter side."""
    import av

    face_pixels = _face(int(min(size) * face_fraction)) if face else None
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p" if codec != "mjpeg" else "yuvj420p"
        video.codec_context.time_base = Fraction(1, fps)
        if rotation:
            video.set_display_rotation(rotation)
        sound = None
        if audio:
            audio_codec = "aac" if path.suffix in (".mp4", ".mov") else "pcm_s16le"
            sound = out.add_stream(audio_codec, rate=16000)
            sound.layout = "mono"
        tick = 0
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_pixels(i, size, face_pixels), format="rgb24")
            frame.pts, frame.time_base = tick, Fraction(1, fps)
            tick += 1 + (i % 2 if variable_rate else 0)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            seconds = tick / fps
            samples = int(seconds * 16000)
            t = np.arange(samples) / 16000
            wave = 0.3 * np.sin(2 * np.pi * (220 + 200 * t) * t)
            chunk = 1024
            fmt = "fltp" if sound.codec_context.name == "aac" else "s16"
            for start in range(0, samples, chunk):
                part = wave[start:start + chunk]
                data = part.astype(np.float32)[None] if fmt == "fltp" else (part * 32767).astype(np.int16)[None]
                audio_frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
                audio_frame.sample_rate, audio_frame.pts = 16000, start
                for packet in sound.encode(audio_frame):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return Clip(path, frames, fps, size)


def decode_audio(path: Path) -> np.ndarray:
    """Every audio sample of the first audio stream, decoded, concatenated (channels × samples)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros((0, 0))
        parts = [frame.to_ndarray() for frame in container.decode(container.streams.audio[0])]
    return np.concatenate(parts, axis=1) if parts else np.zeros((0, 0))


def audio_packets(path: Path) -> list[bytes]:
    """The raw bytes of every audio packet (remuxing must keep them)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def video_frames(path: Path) -> tuple[list[int], list[np.ndarray], float]:
    """(pts of each frame, upright RGB pixels of each frame, average fps) via faceedit's reader."""
    from faceedit.core.video import VideoReader

    with VideoReader(path) as reader:
        frames = list(reader.frames())
        return [f.pts for f in frames], [f.pixels for f in frames], reader.info.fps
