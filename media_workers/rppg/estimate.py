"""Vital signs from a video file: decode, follow the face, read pulse and breathing, and decide.

`estimate_vitals` is the whole method behind one call. The checks that refuse a measurement run
in the order a person would give the reason: too short to tell, too dark to see, no face, a face
moving too much, a pulse too weak or unsteady to read, a colour change the whole skin does not
share (the face moving on its own), and last one its surroundings share (a light flickering: see
media_workers.rppg.pulse).
"""

from __future__ import annotations

from pathlib import Path

from media_workers.rppg.breathing import BreathingReader
from media_workers.rppg.face import FaceTracker, SkinSample
from media_workers.rppg.pulse import MAX_SPEED, WINDOW_S, BloodCheck, PulseReader
from media_workers.rppg.result import Refusal, VitalSigns
from media_workers.rppg.trace import GridTrace, VideoSummary
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
    does not grow with the video's length: frames are not kept, and of the per-frame numbers only
    the last 70 seconds or so (see `media_workers.rppg.trace`).
    """
    return read_video(path, threads=threads).vital_signs()


def read_video(path: Path | str, *, threads: int = 1) -> VitalsReader:
    """A VitalsReader fed every frame of the video (see estimate_vitals)."""
    tracker = FaceTracker()
    reader = VitalsReader()
    for frame in read_frames(Path(path), threads=threads):
        reader.add(frame.time_s, tracker.update(frame))
    return reader


class VitalsReader:
    """The measurement, fed one frame's numbers at a time; pulse and breathing windows are read
    as their samples come in."""

    def __init__(self) -> None:
        self._summary = VideoSummary()
        self._pulse = PulseReader(ANALYSIS_RATE_HZ)
        self._breathing = BreathingReader(ANALYSIS_RATE_HZ)
        history = max(self._pulse.windows.history, self._breathing.windows.history)
        self._trace = GridTrace(ANALYSIS_RATE_HZ, history / ANALYSIS_RATE_HZ)

    def add(self, time_s: float, sample: SkinSample) -> None:
        self._summary.add(time_s, sample)
        self._trace.add(time_s, sample)
        self._pulse.read_due(self._trace)
        self._breathing.read_due(self._trace)

    def vital_signs(self) -> VitalSigns:
        summary = self._summary
        if summary.frames < 2:
            return _refused(Refusal.TOO_SHORT, 0.0)
        duration = summary.duration_s
        unreadable = _unreadable(summary)
        if unreadable is not None:
            return _refused(unreadable, duration)
        self._trace.finish(summary.last_time_s + summary.frame_interval_s)
        self._pulse.read_due(self._trace, final=True)
        self._breathing.read_due(self._trace, final=True)
        pulse, breathing = self._pulse.reading(), self._breathing.reading()
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

    def blood_check(self) -> BloodCheck | None:
        """The checks of blood behind the pulse read (after vital_signs), or None where no window
        was read."""
        return self._pulse.blood_check()


def _unreadable(summary: VideoSummary) -> Refusal | None:
    """Why the video cannot be read at all, or None."""
    if summary.duration_s < MIN_DURATION_S:
        return Refusal.TOO_SHORT
    if summary.face_share >= MIN_FACE_SHARE:
        return Refusal.TOO_DARK if summary.skin_luma.quantile(0.5) < MIN_SKIN_LUMA else None
    # Without a face, a picture too dark to find one in is the reason to give; and a face seen now
    # and then, racing while it was, is a face moving too fast to follow.
    if summary.frame_luma.quantile(0.5) < MIN_FRAME_LUMA:
        return Refusal.TOO_DARK
    if summary.faces and summary.speed.quantile(0.9) > MAX_SPEED:
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
