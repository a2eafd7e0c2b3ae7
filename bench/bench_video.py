"""End-to-end speed and memory of ``faceedit video`` (issue 15), with the bundled model.

    nice -n 10 .venv/bin/python bench/bench_video.py [--runs 3] [--seconds 10] [--hd-seconds 4]
                                                      [--long-seconds 300] [--long-size 640x360]

Clips are generated with PyAV (tests/video_clips.py): the sample face (resources/sample)
drifting on a gradient with sensor-like noise, 30 fps, H.264 + AAC sound in MP4; the face
picture is 60 % of the frame's height. For each size it prints:

1. frames/s end to end (decode → track → edit → encode → mux, the sound remuxed), as
   ``edit_video`` runs it for ``faceedit video --happiness 1``, with the model already
   loaded: median and range over ``--runs`` runs;
2. the same pipeline without the edit (decode → encode, the floor set by the codecs) and
   with tracking but no edit, to show where the time goes;
3. checks: output frame count and time stamps equal to the input's, decoded audio samples
   identical.

Then memory over a long clip (``--long-seconds``, default the issue's 5 minutes, at
``--long-size``): resident memory sampled every 250 frames, its growth from the first
sample to the last, and the process's peak (ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from machine import machine_line  # noqa: E402
from video_clips import decode_audio, make_clip  # noqa: E402

from faceedit.core.expressions import ExpressionTargets  # noqa: E402
from faceedit.core.video import probe_video, transcode  # noqa: E402
from faceedit.core.video_edit import VIDEO_DETECT_EVERY, Timeline, VideoEditJob, edit_video  # noqa: E402

FPS = 30
HAPPY = Timeline(ExpressionTargets().with_value("happiness", 1.0))


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def _pts(path: Path) -> list[int]:
    """Every frame's time stamp, frames streamed (holding a long clip's pixels would be the peak memory)."""
    from faceedit.core.video import VideoReader

    with VideoReader(path) as reader:
        return [frame.pts for frame in reader.frames()]


def _check(source: Path, output: Path) -> str:
    before, after = probe_video(source), probe_video(output)
    pts_in, pts_out = _pts(source), _pts(output)
    audio_in, audio_out = decode_audio(source), decode_audio(output)
    same_audio = audio_in.shape == audio_out.shape and bool((audio_in == audio_out).all())
    return (f"frames {after.frames}/{before.frames} ({'equal' if pts_in == pts_out else 'DIFFERENT'} time stamps), "
            f"audio {'identical' if same_audio else 'DIFFERENT'} ({audio_in.shape[1]} samples), "
            f"duration {after.duration:.3f}/{before.duration:.3f} s")


def _fps_runs(clip: Path, folder: Path, runs: int, run) -> list[float]:  # noqa: ANN001
    rates = []
    frames = probe_video(clip).frames
    for i in range(runs):
        out = folder / f"out-{i}.mp4"
        start = time.perf_counter()
        run(clip, out)
        rates.append(frames / (time.perf_counter() - start))
        out.unlink()
    return rates


def _track_only(source: Path, out: Path) -> None:
    from faceedit.core.tracking import FaceTracker, TrackerConfig

    tracker = FaceTracker(TrackerConfig(detect_every=VIDEO_DETECT_EVERY))  # as FrameEditor

    def track(frame):  # noqa: ANN001, ANN202
        tracker.update(frame.pixels, frame.time)
        return frame.pixels

    transcode(source, out, track)


def _steadiness(edited: Path, plain: Path) -> str:
    """How much the edit changes from frame to frame: per frame, the mean |edited − unedited|
    over the pixels the edit touches; a pop (a re-encode that shifts the edit) or a frame
    where the face was lost shows as a large step."""
    import numpy as np

    from faceedit.core.video import VideoReader

    strengths = []
    with VideoReader(edited) as a, VideoReader(plain) as b:
        for fa, fb in zip(a.frames(), b.frames()):
            delta = np.abs(fa.pixels.astype(np.int16) - fb.pixels).max(axis=2)
            touched = delta > 8
            strengths.append(float(delta[touched].mean()) if touched.any() else 0.0)
    values = np.array(strengths)
    steps = np.abs(np.diff(values))
    return (f"edit strength per frame {values.mean():.1f} levels (min {values.min():.1f}, max {values.max():.1f}); "
            f"frame-to-frame step median {np.median(steps):.2f}, 99th percentile {np.percentile(steps, 99):.2f}, "
            f"max {steps.max():.2f}; frames with no edit {int((values == 0).sum())}")


def _line(name: str, rates: list[float]) -> str:
    return (f"  {name:<34} median {statistics.median(rates):6.1f} frames/s   "
            f"(range {min(rates):.1f}–{max(rates):.1f}, n={len(rates)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length at 640×480")
    parser.add_argument("--hd-seconds", type=float, default=4.0, help="clip length at 1920×1080")
    parser.add_argument("--long-seconds", type=float, default=300.0, help="the memory clip's length (0 = skip)")
    parser.add_argument("--long-size", type=_size, default=(640, 360), help="the memory clip's size, WxH")
    parser.add_argument("--skip-speed", action="store_true", help="only the long clip's memory (a clean peak)")
    parser.add_argument("--model", metavar="FILE", help="model file (default: the bundled model)")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    import torch

    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.models.file import load_model
    from faceedit.core.resources import default_model_path

    editor = ExpressionEditor(load_model(default_model_path(args.model), "cpu", args.precision))
    print(f"machine: {machine_line()}")
    print(f"load average at start (other processes share these cores): {os.getloadavg()[0]:.1f}")
    print(f"model: {editor.model.info.path.name} ({editor.model.info.describe()}), precision {editor.model.precision.name}, "
          f"torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        folder = Path(tmp)
        sizes = () if args.skip_speed else (("640×480", (640, 480), args.seconds), ("1920×1080", (1920, 1080), args.hd_seconds))
        for name, size, seconds in sizes:
            clip = make_clip(folder / f"clip-{size[0]}.mp4", frames=int(seconds * FPS), fps=FPS, size=size,
                             face_fraction=0.6).path
            print(f"\n[{name}, {int(seconds * FPS)} frames at {FPS} fps, H.264 + AAC]")
            result = {}

            def edit(source: Path, out: Path, timeline: Timeline = HAPPY) -> None:
                result["last"] = edit_video(VideoEditJob(source, out, timeline, overwrite=True), editor)

            rates = _fps_runs(clip, folder, args.runs, edit)
            print(_line("end to end, --happiness 1", rates))
            print(f"    {result['last'].line()}")
            codec_rates = _fps_runs(clip, folder, args.runs, lambda s, o: transcode(s, o, lambda f: f.pixels))
            print(_line("decode → encode only (no tracking)", codec_rates))
            tracked = _fps_runs(clip, folder, args.runs, _track_only)
            print(_line("decode → track → encode (no edit)", tracked))
            out, plain = folder / "check.mp4", folder / "plain.mp4"
            edit(clip, out)
            print(f"  check: {_check(clip, out)}")
            transcode(clip, plain, lambda f: f.pixels)
            print(f"  steadiness: {_steadiness(out, plain)}")
            print(f"  load average now: {os.getloadavg()[0]:.1f}")
            clip.unlink()

        if args.long_seconds > 0:
            frames = int(args.long_seconds * FPS)
            width, height = args.long_size
            print(f"\n[memory: {args.long_seconds:.0f} s at {width}×{height}, {frames} frames]")
            started = time.perf_counter()
            clip = make_clip(folder / "long.mp4", frames=frames, fps=FPS, size=args.long_size, face_fraction=0.6).path
            print(f"  clip written in {time.perf_counter() - started:.0f} s ({clip.stat().st_size / 2**20:.1f} MiB)")
            samples: list[tuple[int, float]] = []

            def progress(done: int, total: int) -> None:
                if done % 250 == 0 or done == total:
                    samples.append((done, _rss_mb()))

            started = time.perf_counter()
            result = edit_video(VideoEditJob(clip, folder / "long-out.mp4", HAPPY, overwrite=True), editor, progress=progress)
            elapsed = time.perf_counter() - started
            first, last = samples[0], samples[-1]
            middle = samples[len(samples) // 2]
            print(f"  {result.frames} frames in {elapsed:.0f} s ({result.frames / elapsed:.1f} frames/s); {result.line()}")
            print(f"  resident memory: {first[1]:.0f} MiB at frame {first[0]}, {middle[1]:.0f} MiB at {middle[0]}, "
                  f"{last[1]:.0f} MiB at {last[0]} (growth {last[1] - first[1]:+.1f} MiB, "
                  f"max over samples {max(s[1] for s in samples):.0f} MiB)")
            print(f"  peak resident (ru_maxrss, whole run): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
            print(f"  check: {_check(clip, folder / 'long-out.mp4')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
