"""The face tracker and its One-Euro filter (core, no Qt), on the fake camera video."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import BACK, GONE, MOVING, STILL, VIDEO_FPS, read_rgb


def test_tracker_follows_smooths_and_redetects(video: Path) -> None:
    from faceedit.core.faces import face_detector
    from faceedit.core.tracking import FaceTracker

    frames = read_rgb(video)
    assert len(frames) == len(STILL) + len(MOVING) + len(GONE) + len(BACK)
    tracker = FaceTracker()
    results = [tracker.update(frame, index / VIDEO_FPS) for index, frame in enumerate(frames)]

    # Tracking, not detecting: the full detector runs on the first frame and every 10th.
    present = [results[i] for i in (*STILL, *MOVING)]
    assert all(len(r.faces) == 1 for r in present)
    assert sum(r.detected for r in present) <= 4
    assert len({r.faces[0].track_id for r in present}) == 1

    # A still face: the smoothed landmarks jitter far less than the raw shape-predictor fit.
    still = [results[i].faces[0] for i in STILL[3:]]  # after the filter settles
    smoothed_std = np.array([f.landmarks for f in still]).std(axis=0).mean()
    raw_std = np.array([f.raw_landmarks for f in still]).std(axis=0).mean()
    assert raw_std > 0.05, "the noisy frames should make the raw fit jitter"
    assert smoothed_std < 0.6 * raw_std, (smoothed_std, raw_std)

    # A moving face: followed within a couple of pixels of a fresh detection's landmarks.
    detector = face_detector()
    for i in MOVING:
        reference = detector.detect(frames[i])[0].landmarks
        assert np.abs(results[i].faces[0].landmarks - reference).mean() < 2.5, i
        assert np.abs(results[i].faces[0].raw_landmarks - reference).mean() < 1.0, i

    # Gone: dropped within two frames of the next detection; back: found again at once.
    assert all(not results[i].faces for i in GONE[2:])
    assert results[BACK[0]].detected and len(results[BACK[0]].faces) == 1
    assert results[BACK[0]].faces[0].track_id != present[0].faces[0].track_id
    back = results[BACK[-1]].faces[0]
    assert np.abs(back.landmarks - detector.detect(frames[BACK[-1]])[0].landmarks).mean() < 1.5
    assert not back.landmarks.flags.writeable  # results cross threads: read-only


def test_one_euro_filter_smooths_noise_but_follows_motion() -> None:
    from faceedit.core.tracking import OneEuroFilter

    rng = np.random.default_rng(0)
    still = OneEuroFilter(1.0, 4.0, 1.0)
    out = np.array([still(np.array([[100.0, 50.0]]) + rng.normal(0, 1.0, (1, 2)), t / 30, scale=50) for t in range(90)])
    assert out[30:].std(axis=0).mean() < 0.5  # half the raw jitter of 1 px
    moving = OneEuroFilter(1.0, 4.0, 1.0)
    track = [moving(np.array([[100.0 + 5 * t, 50.0]]), t / 30, scale=50) for t in range(30)]  # 150 px/s
    assert abs(track[-1][0, 0] - (100 + 5 * 29)) < 8  # lag well under two frames' motion
