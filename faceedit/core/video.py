"""Video files through PyAV: probe, read frames upright, and re-encode with the sound copied.

Runs on whichever thread calls it (the CLI's main thread, the engine's export and
preview threads); a :class:`VideoReader` belongs to one thread. Qt-free. PyAV is
imported inside the functions, so importing this module costs nothing.

Contracts
    - Frames stream: :meth:`VideoReader.frames` decodes one frame at a time and
      :func:`transcode` holds at most the codec's own look-ahead, so memory stays flat
      whatever the clip's length.
    - Frames come upright: a rotation in the file's display matrix (phones write one) is
      applied to the pixels, and the output is written upright with no rotation, so it
      shows the same picture at the same displayed size.
    - Time: each output frame keeps its input frame's presentation time (variable frame
      rates survive), in the input stream's time base; frame count and rate are kept.
    - Sound: the first audio stream's packets are remuxed unchanged (no re-encode), so
      its samples are the input's. Other streams (subtitles, data) are left out.
    - Codec: H.264 (libx264, yuv420p) where the output container takes H.264 and the
      frame size is even; otherwise the input's own video codec. The container follows
      the output's file extension.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceedit.core.errors import FaceeditError, OutputError

if TYPE_CHECKING:
    import av

H264_CRF = 18
"""x264's constant rate factor for outputs: visually lossless for most footage."""
H264_PRESET = "veryfast"
"""x264's speed preset: encoding must not dominate the per-frame cost on a 2-core CPU."""


class VideoError(FaceeditError):
    """A video could not be read or written (not a video, no video stream, no frames, codec)."""


class Cancelled(FaceeditError):
    """The caller asked a running transcode to stop; nothing was written."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as faceedit will read it (sizes are upright, after rotation)."""

    path: Path
    container: str  # FFmpeg's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    video_codec: str  # e.g. "h264"
    width: int  # displayed (upright) width
    height: int
    rotation: int  # degrees counter-clockwise the stored frames are turned for display (0, 90, 180, 270)
    fps: float  # the stream's average frame rate
    frames: int  # frame count from the header, or estimated from duration × fps (0 = unknown)
    duration: float  # seconds
    audio_codec: str | None  # None: no sound
    audio_sample_rate: int | None
    pixel_format: str = "yuv420p"  # the decoded frames' (FFmpeg name)

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    def describe(self) -> str:
        sound = f", sound {self.audio_codec} {self.audio_sample_rate} Hz" if self.has_audio else ", no sound"
        return (f"{self.width}×{self.height}, {self.fps:.3g} fps, {self.duration:.2f} s, "
                f"~{self.frames} frames, {self.video_codec}{sound}")


@dataclass(frozen=True, eq=False)  # eq=False: arrays
class VideoFrame:
    """One decoded frame, upright."""

    index: int  # 0-based position in decode order
    pts: int  # presentation time in the stream's time base
    time: float  # seconds from the stream's start
    pixels: np.ndarray  # H×W×3 uint8 RGB


@dataclass(frozen=True)
class TranscodeResult:
    """What :func:`transcode` wrote."""

    frames: int
    video_codec: str
    audio_packets: int


def _av() -> Any:
    try:
        import av
    except ImportError as error:  # pragma: no cover - a dependency
        raise VideoError("video needs PyAV: pip install av") from error
    av.logging.set_level(av.logging.PANIC)  # FFmpeg's own messages would precede our one line
    return av


def _open_input(path: Path) -> av.container.InputContainer:
    av = _av()
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path} is not a file")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise VideoError(f"{path} is not a video faceedit can read") from error
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} has no video stream")
    return container


def _rotation(frame: av.VideoFrame) -> int:
    return int(round(getattr(frame, "rotation", 0) or 0)) % 360 // 90 * 90


def _upright(frame: av.VideoFrame, rotation: int) -> np.ndarray:
    pixels = frame.to_ndarray(format="rgb24")
    if rotation:
        pixels = np.ascontiguousarray(np.rot90(pixels, k=rotation // 90))  # counter-clockwise
    return pixels


def _seconds(value: Any, time_base: Fraction | None) -> float:
    return float(value * time_base) if value is not None and time_base else 0.0


def _fps(stream: Any) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def probe_video(path: Path | str) -> VideoInfo:
    """Open ``path``, check it has a video stream with at least one frame, describe it.

    Decodes the first frame (to learn the rotation and prove the file is readable).
    Raises :class:`VideoError` with one line for the person otherwise.
    """
    av = _av()
    path = Path(path)
    container = _open_input(path)
    try:
        stream = container.streams.video[0]
        first = _first_frame(container, stream, path)
        rotation = _rotation(first)
        width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        fps = _fps(stream)
        if stream.duration is not None and stream.time_base:
            duration = _seconds(stream.duration, stream.time_base)
        else:
            duration = container.duration / av.time_base if container.duration else 0.0
        frames = int(stream.frames) or (int(round(duration * fps)) if fps and duration else 0)
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path, container.format.name, stream.codec_context.name, width, height, rotation, fps, frames, duration,
            None if audio is None else audio.codec_context.name,
            None if audio is None else int(audio.codec_context.sample_rate or 0),
            first.format.name,
        )
    finally:
        container.close()


def _first_frame(container: Any, stream: Any, path: Path) -> Any:
    av = _av()
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as error:
        raise VideoError(f"{path}: its video cannot be decoded ({error.strerror or error})") from error
    raise VideoError(f"{path} has no video frames")


class VideoReader:
    """Sequential and random access to a video's frames, upright RGB. One thread; close it.

    ``frames()`` streams every frame in order; ``frame_at(t)`` seeks (the app's timeline).
    """

    def __init__(self, path: Path | str) -> None:
        self.info = probe_video(path)
        self._container = _open_input(Path(path))
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def frames(self) -> Iterator[VideoFrame]:
        """Every frame from the start, in presentation order."""
        av = _av()
        self._container.seek(0, backward=True, any_frame=False, stream=self._stream)
        rotation = self.info.rotation
        try:
            for index, frame in enumerate(self._container.decode(self._stream)):
                pts = frame.pts if frame.pts is not None else index
                yield VideoFrame(index, pts, self._time(frame, index), _upright(frame, rotation))
        except av.FFmpegError as error:
            raise VideoError(f"{self.info.path}: decoding failed ({error.strerror or error})") from error

    def _time(self, frame: Any, index: int) -> float:
        if frame.pts is None:
            return index / self.info.fps if self.info.fps else 0.0
        start = self._stream.start_time or 0
        return _seconds(frame.pts - start, self._stream.time_base)

    def frame_at(self, seconds: float) -> VideoFrame:
        """The frame shown at ``seconds`` (the last one at or before it; the first before 0)."""
        av = _av()
        stream, base = self._stream, self._stream.time_base
        start = stream.start_time or 0
        target = start + int(math.floor(max(0.0, seconds) / base)) if base else 0
        self._container.seek(max(target, start), backward=True, any_frame=False, stream=stream)
        chosen = None
        try:
            for frame in self._container.decode(stream):
                if chosen is not None and frame.pts is not None and frame.pts > target:
                    break
                chosen = frame
                if frame.pts is not None and frame.pts >= target:
                    break
        except av.FFmpegError as error:
            raise VideoError(f"{self.info.path}: decoding failed ({error.strerror or error})") from error
        if chosen is None:
            raise VideoError(f"{self.info.path}: no frame at {seconds:.2f} s")
        index = int(round(self._time(chosen, 0) * self.info.fps)) if self.info.fps else 0
        pts = chosen.pts if chosen.pts is not None else 0
        return VideoFrame(index, pts, self._time(chosen, 0), _upright(chosen, self.info.rotation))


@dataclass(frozen=True)
class EncodingPlan:
    """How :func:`transcode` will write an output: container by extension, codecs."""

    video_codec: str  # encoder name: "libx264" or the input's codec
    pixel_format: str
    copy_audio: bool


def plan_encoding(info: VideoInfo, output: Path | str) -> EncodingPlan:
    """Choose the output's codecs, or raise :class:`VideoError` (before any work is done).

    H.264 where the container takes it and the size is even, else the input's codec;
    the sound must fit the output container unchanged.
    """
    import tempfile

    av = _av()
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="faceedit-probe-") as folder:
        try:
            container = av.open(str(Path(folder) / f"probe{output.suffix.lower()}"), "w")
        except (av.FFmpegError, ValueError) as error:
            raise OutputError(
                f"cannot write {output}: {output.suffix or 'no extension'} is not a video format "
                f"(use .mp4, or the input's {info.path.suffix})"
            ) from error
        try:
            supported = set(container.supported_codecs)
        finally:
            container.close()
    even = info.width % 2 == 0 and info.height % 2 == 0
    if "h264" in supported and even and "libx264" in av.codecs_available:
        codec, pixel_format = "libx264", "yuv420p"
    elif info.video_codec in supported and _can_encode(info.video_codec):
        codec, pixel_format = info.video_codec, _encoder_pixel_format(info.video_codec, info.pixel_format)
    else:
        raise VideoError(
            f"cannot write {output}: {output.suffix} takes neither H.264 at {info.width}×{info.height} "
            f"nor the input's {info.video_codec}; use the input's extension {info.path.suffix}"
        )
    if info.audio_codec is not None and info.audio_codec not in supported:
        raise VideoError(
            f"cannot write {output}: its sound ({info.audio_codec}) cannot go into {output.suffix} unchanged; "
            f"use the input's extension {info.path.suffix}"
        )
    return EncodingPlan(codec, pixel_format, info.audio_codec is not None)


def _can_encode(codec: str) -> bool:
    av = _av()
    try:
        av.Codec(codec, "w")
    except (av.FFmpegError, ValueError):  # UnknownCodecError is a ValueError
        return False
    return True


def _encoder_pixel_format(codec: str, input_format: str) -> str:
    av = _av()
    formats = [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    for preferred in (input_format, "yuv420p", "yuvj420p", "yuv422p", "yuv444p", "rgb24", "bgr24"):
        if preferred in formats:
            return preferred
    return formats[0] if formats else "yuv420p"


def _mux_video(out: Any, packet: Any, durations: dict[int, int]) -> None:
    """Mux an encoded packet with its input frame's duration (encoders guess the last one)."""
    duration = durations.pop(packet.pts, None) if packet.pts is not None else None
    if duration:
        packet.duration = duration
    out.mux(packet)


FrameEdit = Callable[[VideoFrame], np.ndarray]
"""Gets each decoded frame, returns the pixels to encode (same shape; may be the frame's own)."""


def transcode(
    source: Path | str,
    destination: Path | str,
    edit: FrameEdit,
    *,
    plan: EncodingPlan | None = None,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TranscodeResult:
    """Decode ``source``, pass every frame through ``edit``, encode to ``destination``.

    ``destination`` is written directly (callers wrap it in :func:`~faceedit.core.atomic.atomic_path`).
    ``progress(frames_done)`` is called after each frame; ``should_stop()`` is polled per
    frame and, when true, ends with :class:`Cancelled`. Runs on the calling thread.
    """
    av = _av()
    info = probe_video(source)
    plan = plan or plan_encoding(info, destination)
    source, destination = Path(source), Path(destination)
    frames = audio_packets = 0
    with _open_input(source) as inp:
        video_in = inp.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in = inp.streams.audio[0] if plan.copy_audio and inp.streams.audio else None
        try:
            out = av.open(str(destination), "w")
        except (av.FFmpegError, OSError) as error:
            raise OutputError(f"cannot write {destination}: {error}") from error
        with out:
            time_base = video_in.time_base or Fraction(1, 90000)
            rate = video_in.average_rate or video_in.guessed_rate or Fraction(25)
            video_out = out.add_stream(plan.video_codec, rate=rate)
            video_out.width, video_out.height, video_out.pix_fmt = info.width, info.height, plan.pixel_format
            video_out.time_base = time_base
            video_out.codec_context.time_base = time_base
            if plan.video_codec == "libx264":
                video_out.options = {"crf": str(H264_CRF), "preset": H264_PRESET}
            elif video_in.bit_rate:
                video_out.bit_rate = video_in.bit_rate
            audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
            start = video_in.start_time or 0
            last_pts = None
            durations: dict[int, int] = {}  # pts → the input frame's duration, until its packet is out
            streams = [s for s in (video_in, audio_in) if s is not None]
            try:
                for packet in inp.demux(streams):
                    if should_stop is not None and should_stop():
                        raise Cancelled("cancelled; nothing was written")
                    if packet.stream is audio_in:
                        if packet.dts is None:  # the demuxer's end-of-stream marker
                            continue
                        packet.stream = audio_out
                        out.mux(packet)
                        audio_packets += 1
                        continue
                    for frame in packet.decode():
                        pts = frame.pts if frame.pts is not None else (
                            start + int(round(frames / float(rate) / time_base)))
                        if last_pts is not None and pts <= last_pts:
                            pts = last_pts + 1  # encoders need increasing times
                        last_pts = pts
                        pixels = _upright(frame, info.rotation)
                        decoded = VideoFrame(frames, pts, _seconds(pts - start, time_base), pixels)
                        edited = edit(decoded)
                        if edited.shape != pixels.shape:
                            raise ValueError(f"edit returned {edited.shape}, expected {pixels.shape}")
                        encoded = av.VideoFrame.from_ndarray(np.ascontiguousarray(edited), format="rgb24")
                        encoded.pts, encoded.time_base = pts, time_base
                        if frame.duration:
                            durations[pts] = frame.duration
                        for out_packet in video_out.encode(encoded):
                            _mux_video(out, out_packet, durations)
                        frames += 1
                        if progress is not None:
                            progress(frames)
                for out_packet in video_out.encode(None):
                    _mux_video(out, out_packet, durations)
            except av.FFmpegError as error:
                raise VideoError(f"{source}: re-encoding as {plan.video_codec} failed ({error.strerror or error})") from error
    if frames == 0:
        raise VideoError(f"{source} has no video frames")
    return TranscodeResult(frames, plan.video_codec, audio_packets)
