"""Vital signs from video files, end to end, on short synthetic clips with a known truth.

The clips are the astronaut portrait with a pulse in its skin (media_workers.rppg.synthetic),
14 s at 320x240 or 480x360 so the whole module runs in about half a minute, and one clip of the
independent signal model (another face, pulse shape and colour signature); the benchmark
(tools/bench_rppg.py) runs these conditions and more at 640x480, 20 s and five clips each, in
both signal models.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest

from media_workers.rppg import Refusal, VideoError, estimate_vitals
from media_workers.rppg.__main__ import main
from media_workers.rppg.face import FaceTracker
from media_workers.rppg.synthetic import ClipSpec, SyntheticClip, clip_suffix, write_clip
from media_workers.rppg.video import read_frames

# A small camera with a little sensor noise (without any, an 8-bit pulse of under one level is
# not dithered, as no real camera's is). Compression and dark skin leave the pulse weaker, and a
# frame this small has too few skin pixels to average it out in 14 s; those are read at 480x360.
SMALL = ClipSpec(width=320, height=240, duration_s=14.0, noise_std=1.0)
MEDIUM = replace(SMALL, width=480, height=360)


def _clip(folder: Path, spec: ClipSpec) -> SyntheticClip:
    return write_clip(spec, folder / f"clip-{spec.seed}{clip_suffix(spec)}")


@pytest.fixture(scope="module")
def clean_clip(tmp_path_factory: pytest.TempPathFactory) -> SyntheticClip:
    spec = replace(SMALL, heart_rate_bpm=93.0, respiratory_rate_bpm=12.0, seed=11)
    return _clip(tmp_path_factory.mktemp("rppg"), spec)


# Each condition with its own true rate, so a method stuck on one number cannot pass them all,
# and the error allowed (the goals: 2 bpm clean, 5 bpm under motion and compression).
# Compressed at 500 kbit/s for 480x360 (about 900 kbit/s at 640x480, within what a video call
# sends); the benchmark also runs 600 kbit/s at 640x480, where some clips are refused.
ACCURACY_CASES = {
    "head motion": (replace(SMALL, head_motion_px=12.0, heart_rate_bpm=68.0, seed=12), 5.0),
    "H.264 at 500 kbit/s": (
        replace(MEDIUM, noise_std=2.0, bitrate_kbps=500, heart_rate_bpm=104.0, seed=13),
        5.0,
    ),
    "VP8 WebM at 500 kbit/s": (
        replace(MEDIUM, noise_std=2.0, codec="vp8", bitrate_kbps=500, heart_rate_bpm=61.0, seed=14),
        5.0,
    ),
    "dark skin": (replace(MEDIUM, skin_darkness=0.8, heart_rate_bpm=79.0, seed=15), 5.0),
    # Made apart from the clips the estimator was developed on: Grace Hopper's portrait, turning
    # and moving its lower face, a two-wave pulse, another colour signature.
    "the independent model": (
        replace(MEDIUM, signal_model="independent", heart_rate_bpm=86.0, seed=16),
        5.0,
    ),
}


def test_clean_clip_heart_and_breathing_rate_within_2_bpm(clean_clip):
    vitals = estimate_vitals(clean_clip.path)

    assert vitals.reason is None
    assert vitals.heart_rate_bpm == pytest.approx(clean_clip.heart_rate_bpm, abs=2.0)
    assert vitals.respiratory_rate_bpm == pytest.approx(clean_clip.respiratory_rate_bpm, abs=2.0)
    assert vitals.quality >= 0.4
    assert vitals.windows and all(window.end_s - window.start_s > 9 for window in vitals.windows)


@pytest.mark.parametrize("condition", list(ACCURACY_CASES))
def test_heart_rate_within_the_goal_under(condition, tmp_path):
    spec, allowed_bpm = ACCURACY_CASES[condition]
    clip = _clip(tmp_path, spec)

    vitals = estimate_vitals(clip.path)

    assert vitals.reason is None, f"refused: {vitals.reason}"
    assert vitals.heart_rate_bpm == pytest.approx(clip.heart_rate_bpm, abs=allowed_bpm)


def test_variable_frame_rate_is_read_from_the_timestamps(tmp_path):
    # Frame intervals vary by up to 40 % and some frames are dropped: a method that assumed a
    # steady 30 fps would misplace the pulse in time and its rate by as much.
    clip = _clip(tmp_path, replace(SMALL, timestamp_jitter=0.4, heart_rate_bpm=86.0, seed=16))
    times = clip.frame_times_s
    intervals = [later - earlier for earlier, later in pairwise(times)]
    assert max(intervals) > 2 * min(intervals)
    assert len(times) / clip.spec.duration_s < 29  # dropped frames: fewer than 30 fps would have

    vitals = estimate_vitals(clip.path)

    assert vitals.reason is None, f"refused: {vitals.reason}"
    assert vitals.heart_rate_bpm == pytest.approx(clip.heart_rate_bpm, abs=2.0)


REFUSAL_CASES = {
    "no face": (replace(SMALL, face=False, seed=21), Refusal.NO_FACE),
    "too short": (replace(SMALL, duration_s=6.0, seed=22), Refusal.TOO_SHORT),
    "too dark": (replace(SMALL, brightness=0.04, seed=23), Refusal.TOO_DARK),
    "no pulse": (replace(SMALL, pulse_amplitude=0.0, noise_std=2.0, seed=24), Refusal.WEAK_PULSE),
    "violent shaking": (replace(SMALL, head_motion_px=120.0, seed=25), Refusal.TOO_MUCH_MOTION),
}


@pytest.mark.parametrize("case", list(REFUSAL_CASES))
def test_refuses_with_its_reason_when(case, tmp_path):
    spec, reason = REFUSAL_CASES[case]
    clip = _clip(tmp_path, spec)

    vitals = estimate_vitals(clip.path)

    assert vitals.heart_rate_bpm is None
    assert vitals.reason is reason
    assert all(window.heart_rate_bpm is None for window in vitals.windows)


@pytest.mark.parametrize("signal_model", ["reference", "independent"])
def test_the_darkest_skin_in_a_dim_room_is_found(signal_model, tmp_path):
    # Fitzpatrick VI skin in a room lit at three tenths, with a dim camera's noise: a face that
    # gently equalised contrast loses, as a detector that found only lighter faces in dim rooms
    # would refuse every reading of the darkest skin as "no face". Found within the first three
    # searches (one a second; two in a row must agree), and followed from then on.
    spec = ClipSpec(
        duration_s=6.0, brightness=0.3, noise_std=3.0, skin_darkness=1.0, signal_model=signal_model, seed=31
    )
    clip = _clip(tmp_path, spec)
    tracker = FaceTracker()

    found = [tracker.update(frame).face_found for frame in read_frames(clip.path)]

    first = found.index(True) if any(found) else len(found)
    assert first <= 60
    assert all(found[first:])


def test_not_a_video_raises_video_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n")

    with pytest.raises(VideoError):
        estimate_vitals(text)


def _cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "media_workers.rppg", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_prints_json_with_the_schema(clean_clip):
    completed = _cli(str(clean_clip.path), "--json")

    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert isinstance(document["heart_rate_bpm"], float)
    assert abs(document["heart_rate_bpm"] - clean_clip.heart_rate_bpm) <= 2.0
    assert isinstance(document["respiratory_rate_bpm"], float)
    assert 0.0 <= document["quality"] <= 1.0
    assert document["reason"] is None
    assert document["windows"]
    for window in document["windows"]:
        assert set(window) == {"start_s", "end_s", "heart_rate_bpm", "quality"}
        assert window["start_s"] < window["end_s"]


def test_cli_summary_for_a_person(clean_clip, capsys):
    assert main([str(clean_clip.path)]) == 0

    printed = capsys.readouterr().out
    assert "heart rate:" in printed and "bpm" in printed


def test_cli_fails_cleanly_on_a_file_that_is_not_a_video(tmp_path):
    bogus = tmp_path / "recording.mp4"
    bogus.write_bytes(b"not a video at all\n")

    completed = _cli(str(bogus), "--json")

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "recording.mp4" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize("name", ["empty.mp4", "absent.webm"])
def test_cli_fails_cleanly_on_an_empty_or_missing_file(tmp_path, capsys, name):
    if name.startswith("empty"):
        (tmp_path / name).write_bytes(b"")

    assert main([str(tmp_path / name), "--json"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert name in captured.err
