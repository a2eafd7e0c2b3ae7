"""Video reading and writing (core/video.py) and the video edit (core/video_edit.py) on tiny generated clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceedit.core.errors import FaceeditError, OutputError
from faceedit.core.expressions import ExpressionTargets
from faceedit.core.video import (
    Cancelled, VideoError, VideoReader, plan_encoding, probe_video, transcode,
)
from faceedit.core.video_edit import Keyframe, Timeline, VideoEditJob, edit_video
from video_clips import audio_packets, decode_audio, make_clip, video_frames

HAPPY = ExpressionTargets().with_value("happiness", 1.0)


def _identity(frame):  # noqa: ANN001, ANN202
    return frame.pixels


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "face.mp4").path


@pytest.fixture(scope="module")
def editor(tiny_model_path: Path):  # noqa: ANN201
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.models.file import load_model

    return ExpressionEditor(load_model(tiny_model_path, "cpu", "fp32"))


def test_transcode_keeps_frames_rate_size_times_and_sound(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = transcode(clip, out, _identity)
    before, after = probe_video(clip), probe_video(out)
    assert result.frames == 12 and result.video_codec == "libx264"
    assert (after.width, after.height, after.fps, after.frames) == (before.width, before.height, before.fps, before.frames)
    assert after.duration == pytest.approx(before.duration, abs=1e-6)
    pts_in, frames_in, _ = video_frames(clip)
    pts_out, frames_out, _ = video_frames(out)
    assert pts_out == pts_in and len(frames_out) == 12
    assert np.abs(frames_out[5].astype(int) - frames_in[5]).mean() < 3  # re-encoded, near-lossless
    assert audio_packets(out) == audio_packets(clip) and len(audio_packets(clip)) > 0
    np.testing.assert_array_equal(decode_audio(out), decode_audio(clip))


def test_variable_frame_rate_keeps_each_frames_time(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "vfr.mp4", variable_rate=True).path
    out = tmp_path / "out.mp4"
    transcode(clip, out, _identity)
    pts_in, _, _ = video_frames(clip)
    pts_out, _, _ = video_frames(out)
    assert len(set(np.diff(pts_in))) == 2  # really variable
    assert pts_out == pts_in
    assert probe_video(out).duration == pytest.approx(probe_video(clip).duration, abs=1e-6)


def test_rotation_is_applied_and_the_output_is_upright(tmp_path: Path) -> None:
    plain = make_clip(tmp_path / "plain.mp4", audio=False).path
    turned = make_clip(tmp_path / "turned.mp4", audio=False, rotation=90).path
    info = probe_video(turned)
    assert (info.rotation, info.width, info.height) == (90, 360, 480)
    _, upright, _ = video_frames(turned)
    _, stored, _ = video_frames(plain)
    np.testing.assert_array_equal(upright[0], np.rot90(stored[0]))  # counter-clockwise
    out = tmp_path / "out.mp4"
    transcode(turned, out, _identity)
    written = probe_video(out)
    assert (written.rotation, written.width, written.height) == (0, 360, 480)
    assert np.abs(video_frames(out)[1][0].astype(int) - upright[0]).mean() < 3


def test_codec_falls_back_to_the_inputs_where_h264_does_not_fit(tmp_path: Path) -> None:
    odd = make_clip(tmp_path / "odd.mkv", size=(161, 121), codec="mjpeg").path  # yuv420p H.264 needs even sizes
    plan = plan_encoding(probe_video(odd), tmp_path / "out.mkv")
    assert plan.video_codec == "mjpeg"
    out = tmp_path / "out.mkv"
    assert transcode(odd, out, _identity).frames == 12
    np.testing.assert_array_equal(decode_audio(out), decode_audio(odd))
    assert plan_encoding(probe_video(make_clip(tmp_path / "even.mkv").path), out).video_codec == "libx264"
    with pytest.raises(OutputError, match="not a video format"):
        plan_encoding(probe_video(odd), tmp_path / "out.txt")


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    import av

    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match="not a video"):
        probe_video(text)
    with pytest.raises(VideoError, match="no such file"):
        probe_video(tmp_path / "missing.mp4")
    sound = tmp_path / "sound.mka"
    with av.open(str(sound), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        for packet in stream.encode(frame):
            out.mux(packet)
    with pytest.raises(VideoError, match="no video stream"):
        probe_video(sound)
    empty = tmp_path / "empty.avi"
    with av.open(str(empty), "w") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuvj420p"
        out.start_encoding()
    with pytest.raises(VideoError, match="no video frames"):
        probe_video(empty)


def test_frame_at_seeks_to_the_frame_shown(clip: Path) -> None:
    _, frames, _ = video_frames(clip)
    with VideoReader(clip) as reader:
        for seconds, index in ((0.0, 0), (0.5, 6), (0.54, 6), (10.0, 11), (0.25, 3)):
            frame = reader.frame_at(seconds)
            assert frame.index == index
            np.testing.assert_array_equal(frame.pixels, frames[index])


def test_keyframes_interpolate_linearly() -> None:
    timeline = Timeline(HAPPY.with_value("anger", 0.2), (Keyframe(1.0, "happiness", 0.0), Keyframe(3.0, "happiness", 1.0)))
    assert timeline.at(0.0).values[3] == 0.0  # held before the first keyframe
    assert timeline.at(2.0).values[3] == pytest.approx(0.5)
    assert timeline.at(2.5).values[3] == pytest.approx(0.75)
    assert timeline.at(9.0).values[3] == 1.0
    assert timeline.at(2.0).values[0] == pytest.approx(0.2)  # the base for expressions without keyframes
    assert timeline.at(2.0).values[5] is None
    assert Keyframe.parse("2.5:Surprise=0.4") == Keyframe(2.5, "surprise", 0.4)
    for bad in ("2.5-happiness=1", "x:happiness=1", "1:joy=1", "1:happiness=2", "-1:happiness=1"):
        with pytest.raises(FaceeditError):
            Keyframe.parse(bad)
    replaced = timeline.with_keyframe(Keyframe(1.0005, "happiness", 0.3))
    assert len(replaced.keyframes) == 2 and replaced.at(1.0).values[3] == pytest.approx(0.3, abs=1e-3)


def test_edit_video_changes_the_face_and_keeps_the_rest(clip: Path, tmp_path: Path, editor) -> None:  # noqa: ANN001
    out = tmp_path / "edited.mp4"
    reference = tmp_path / "plain.mp4"
    transcode(clip, reference, _identity)  # the same encoder's loss, without the edit
    result = edit_video(VideoEditJob(clip, out, Timeline(HAPPY)), editor)
    assert result.frames == 12 and result.frames_with_faces == 12 and result.frames_changed == 12
    assert result.faces_seen == 1 and not result.copied_unchanged
    _, edited, _ = video_frames(out)
    _, plain, _ = video_frames(reference)
    difference = np.abs(edited[6].astype(int) - plain[6]).max(axis=2)
    assert difference.max() > 20  # the face changed
    # ... and little else: x264 moves a level or two where a neighbouring macroblock changed.
    assert difference[:, :30].mean() < 0.5 and difference[:, -30:].mean() < 0.5
    np.testing.assert_array_equal(decode_audio(out), decode_audio(clip))
    assert not list(tmp_path.glob(".*part*"))


def test_frame_editor_follows_the_keyframes_and_leaves_the_background(clip: Path, editor) -> None:  # noqa: ANN001
    from faceedit.core.video_edit import FrameEditor

    _, frames, _ = video_frames(clip)
    ramp = FrameEditor(editor, Timeline(keyframes=(Keyframe(0.0, "happiness", 0.0), Keyframe(1.0, "happiness", 1.0))))
    half = FrameEditor(editor, Timeline(ExpressionTargets().with_value("happiness", 0.5)))
    full = FrameEditor(editor, Timeline(HAPPY))
    for i, pixels in enumerate(frames[:7]):
        seconds = i / 12
        ramped, halfway, whole = ramp.edit(pixels, seconds), half.edit(pixels, seconds), full.edit(pixels, seconds)
    # Frame 6 is at 0.5 s: the ramp is at 0.5 there, the same edit as a constant 0.5.
    np.testing.assert_array_equal(ramped, halfway)
    assert not np.array_equal(ramped, whole)
    changed = np.abs(whole.astype(int) - frames[6]).max(axis=2) > 0
    assert changed.any() and not changed[:, :40].any() and not changed[:, -40:].any() and not changed[:20].any()


def test_no_face_is_copied_through_unchanged(tmp_path: Path, editor) -> None:  # noqa: ANN001
    clip = make_clip(tmp_path / "empty-room.mp4", face=False).path
    out = tmp_path / "out.mp4"
    result = edit_video(VideoEditJob(clip, out, Timeline(HAPPY)), editor)
    assert result.copied_unchanged and result.frames_with_faces == 0
    assert "no face" in result.line()
    assert out.read_bytes() == clip.read_bytes()


def test_cancel_and_interrupt_leave_no_output(clip: Path, tmp_path: Path, editor) -> None:  # noqa: ANN001
    out = tmp_path / "out.mp4"
    with pytest.raises(Cancelled):
        edit_video(VideoEditJob(clip, out, Timeline(HAPPY)), editor, should_stop=lambda: True)
    assert list(tmp_path.iterdir()) == []

    def interrupt(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        edit_video(VideoEditJob(clip, out, Timeline(HAPPY)), editor, progress=interrupt)
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"old")  # an existing output is kept unless overwrite
    with pytest.raises(OutputError, match="already exists"):
        edit_video(VideoEditJob(clip, out, Timeline(HAPPY)), editor)
    with pytest.raises(KeyboardInterrupt):
        edit_video(VideoEditJob(clip, out, Timeline(HAPPY), overwrite=True), editor, progress=interrupt)
    assert out.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1
