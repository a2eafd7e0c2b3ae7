"""``faceedit video`` end to end with a tiny random model on generated clips."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceedit.cli import main
from faceedit.core.video import probe_video
from video_clips import audio_packets, decode_audio, make_clip, video_frames


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "face.mp4").path


def test_video_keeps_frames_rate_size_and_sound(clip: Path, tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out.mp4"
    code, stdout, stderr = _run(capsys, "video", clip, "-o", out, "--happiness", "1", "--model", tiny_model_path)
    assert code == 0, stderr
    assert "12 frames" in stdout and "1 face(s) tracked" in stdout
    before, after = probe_video(clip), probe_video(out)
    assert (after.frames, after.fps, after.width, after.height, after.video_codec) == (12, before.fps, 480, 360, "h264")
    assert after.duration == pytest.approx(before.duration, abs=1e-6)
    assert audio_packets(out) == audio_packets(clip)
    np.testing.assert_array_equal(decode_audio(out), decode_audio(clip))
    assert video_frames(out)[0] == video_frames(clip)[0]
    assert "frame" in stderr  # the progress bar went to stderr


def test_video_keyframes_and_face_choice(clip: Path, tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "ramp.mp4"
    code, stdout, stderr = _run(capsys, "video", clip, "-o", out, "--keyframe", "0:happiness=0", "--keyframe", "1:happiness=1",
                                "--face", "0", "--model", tiny_model_path)
    assert code == 0, stderr and probe_video(out).frames == 12
    code, _, stderr = _run(capsys, "video", clip, "-o", tmp_path / "bad.mp4", "--keyframe", "1:joy=1")
    assert code == 1 and stderr.startswith("faceedit: error: ") and "joy" in stderr and stderr.count("\n") == 1


def test_video_without_a_face_is_copied_and_says_so(tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    empty = make_clip(tmp_path / "room.mp4", face=False).path
    out = tmp_path / "out.mp4"
    code, stdout, _ = _run(capsys, "video", empty, "-o", out, "--happiness", "1", "--model", tiny_model_path)
    assert code == 0 and "no face found in any frame" in stdout and "unchanged" in stdout
    assert out.read_bytes() == empty.read_bytes()


def test_bad_video_input_gives_one_line_and_writes_nothing(clip: Path, tmp_path: Path, tiny_model_path: Path, capsys) -> None:  # noqa: ANN001
    import av

    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    sound_only = tmp_path / "sound.mka"
    with av.open(str(sound_only), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        for packet in stream.encode(frame):
            container.mux(packet)
    empty = tmp_path / "empty.avi"
    with av.open(str(empty), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuvj420p"
        container.start_encoding()
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"keep me")
    cases = [
        (not_video, tmp_path / "o1.mp4", "not a video"),
        (tmp_path / "missing.mp4", tmp_path / "o2.mp4", "no such file"),
        (sound_only, tmp_path / "o3.mp4", "no video stream"),
        (empty, tmp_path / "o4.mp4", "no video frames"),
        (clip, tmp_path / "no" / "folder" / "o5.mp4", "does not exist"),
        (clip, existing, "already exists"),
        (clip, clip, "is the input"),
        (clip, tmp_path / "o6.txt", "not a video format"),
    ]
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases.append((clip, locked / "o7.mp4", "not writable"))
    for source, output, message in cases:
        code, stdout, stderr = _run(capsys, "video", source, "-o", output, "--happiness", "1", "--model", tiny_model_path)
        assert code == 1, (source, stderr)
        assert stderr.startswith("faceedit: error: ") and message in stderr and stderr.count("\n") == 1, stderr
    assert existing.read_bytes() == b"keep me"
    assert not list(tmp_path.rglob("o?.*")) and not list(tmp_path.rglob(".*part*"))


def test_interrupt_leaves_no_output_and_says_so_in_one_line(
    clip: Path, tmp_path: Path, tiny_model_path: Path, capsys, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    from faceedit.core import video_edit

    real = video_edit.edit_video

    def interrupted(job, editor, *, progress=None, should_stop=None):  # noqa: ANN001, ANN202
        def ctrl_c_at_frame_5(done: int, total: int) -> None:
            progress(done, total)
            if done == 5:
                raise KeyboardInterrupt

        return real(job, editor, progress=ctrl_c_at_frame_5, should_stop=should_stop)

    monkeypatch.setattr(video_edit, "edit_video", interrupted)
    out = tmp_path / "out.mp4"
    code, stdout, stderr = _run(capsys, "video", clip, "-o", out, "--happiness", "1", "--model", tiny_model_path)
    assert code == 130 and stdout == ""
    assert stderr.strip().splitlines()[-1] == f"faceedit: interrupted; {out} was not written"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_leaves_no_output_and_says_so_in_one_line(tmp_path: Path, tiny_model_path: Path) -> None:
    """The real signal, in a child process (about 8 s, most of it importing torch)."""
    clip = make_clip(tmp_path / "long.mp4", frames=200, fps=30, audio=True).path
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "faceedit", "video", str(clip), "-o", str(out), "--happiness", "1", "--model", str(tiny_model_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob(".out.*")):
        time.sleep(0.05)  # wait for the temporary output: frames are being written
    assert list(tmp_path.glob(".out.*")), "the edit never started"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last == f"faceedit: interrupted; {out} was not written"
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]
