"""Vital signs from a video file: decode, follow the face, read pulse and breathing, and decide.

`estimate_vitals` is the whole method behind one call. The checks that refuse a measurement run
in the order a person would give the reason: too short to tell, too dark to see, no face, a face
moving too much, and last a pulse too weak or unsteady to read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from media_workers.rppg.breathing import read_breathing
from media_workers.rppg.face import FaceTracker
from media_workers.rppg.pulse import MAX_SPEED, WINDOW_S, read_pulse
from media_workers.rppg.result import Refusal, VitalSigns
from media_workers.rppg.signal import resample, uniform_grid
from media_workers.rppg.trace import Trace, TraceRecorder
from media_workers.rppg.video import read_frames

# The traces are resampled to this rate from the frame timestamps, whatever the video's rate.
ANALYSIS_RATE_HZ = 30.0
MIN_DURATION_S = WINDOW_S
# A face is needed in this share of the frames.
MIN_FACE_SHARE = 0.5
# Too dark: the face's skin (or, with no face found, the whole frame) below this brightness
# (0-1). Darker than this, 8-bit levels are too coarse for a pulse of under one percent.
MIN_SKIN_LUMA = 0.06
MIN_FRAME_LUMA = 0.06


def estimate_vitals(path: Path | str, *, threads: int = 1) -> VitalSigns:
    """Heart and breathing rate from a video file, or None with a reason for each.

    Raises `media_workers.rppg.video.VideoError` if the file cannot be read as a video. Memory
    stays bounded by the few numbers kept per frame; frames themselves are not kept.
    """
    tracker = FaceTracker()
    recorder = TraceRecorder()
    for frame in read_frames(Path(path), threads=threads):
        recorder.append(frame.time_s, tracker.update(frame))
    if len(recorder) < 2:
        return _refused(Refusal.TOO_SHORT, 0.0)
    return vitals_from_trace(recorder.trace())


def vitals_from_trace(trace: Trace) -> VitalSigns:
    """The measurement from the per-frame numbers (the part after decoding and tracking)."""
    duration = trace.duration_s
    unreadable = _unreadable(trace)
    if unreadable is not None:
        return _refused(unreadable, duration)
    found = trace.face_found
    times = trace.time_s
    grid = uniform_grid(float(times[0]), float(times[0]) + duration, ANALYSIS_RATE_HZ)
    # Frames without a face are bridged from their neighbours (colour and position interpolated
    # between frames with a face) and marked, so the windows that depend on them are left out.
    rgb = resample(grid, times[found], trace.rgb[found])
    vertical = resample(grid, times[found], trace.vertical_position[found])
    horizontal = resample(grid, times[found], trace.horizontal_position[found])
    face_found = resample(grid, times, found.astype(np.float64))
    speed = resample(grid, times, np.nan_to_num(trace.speed))
    skin_luma = resample(grid, times[found], trace.skin_luma[found])
    frame_luma = resample(grid, times, trace.frame_luma)
    pulse = read_pulse(grid, rgb, skin_luma, frame_luma, face_found, speed, ANALYSIS_RATE_HZ)
    breathing = read_breathing(grid, vertical, horizontal, face_found, ANALYSIS_RATE_HZ)
    return VitalSigns(
        heart_rate_bpm=pulse.heart_rate_bpm,
        respiratory_rate_bpm=breathing.rate_per_min,
        quality=pulse.quality,
        reason=pulse.refusal,
        windows=pulse.windows,
        respiratory_quality=breathing.quality,
        respiratory_reason=breathing.refusal,
        duration_s=duration,
    )


def _unreadable(trace: Trace) -> Refusal | None:
    """Why the video cannot be read at all, or None."""
    if trace.duration_s < MIN_DURATION_S:
        return Refusal.TOO_SHORT
    found = trace.face_found
    if float(found.mean()) >= MIN_FACE_SHARE:
        return Refusal.TOO_DARK if float(np.median(trace.skin_luma[found])) < MIN_SKIN_LUMA else None
    # Without a face, a picture too dark to find one in is the reason to give; and a face seen now
    # and then, racing while it was, is a face moving too fast to follow.
    if float(np.median(trace.frame_luma)) < MIN_FRAME_LUMA:
        return Refusal.TOO_DARK
    if found.any() and float(np.percentile(trace.speed[found], 90)) > MAX_SPEED:
        return Refusal.TOO_MUCH_MOTION
    return Refusal.NO_FACE


def _refused(reason: Refusal, duration_s: float) -> VitalSigns:
    return VitalSigns(
        heart_rate_bpm=None,
        respiratory_rate_bpm=None,
        quality=0.0,
        reason=reason,
        respiratory_reason=reason,
        duration_s=duration_s,
    )
