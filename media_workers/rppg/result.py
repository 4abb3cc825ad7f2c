"""What a measurement returns: rates where they can be read honestly, and why not where not."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum


class Refusal(StrEnum):
    """Why a rate was not reported."""

    TOO_SHORT = "too_short"
    NO_FACE = "no_face"
    TOO_DARK = "too_dark"
    TOO_MUCH_MOTION = "too_much_motion"
    FLICKERING_LIGHT = "flickering_light"
    WEAK_PULSE = "weak_pulse"
    WEAK_BREATHING = "weak_breathing"
    # Oxygen saturation is never estimated: no method that reads it from an ordinary (RGB) camera
    # is cleared, and how such methods err with darker skin is unresolved. A wrong SpO2 can send a
    # hypoxic patient home, so none is reported, whatever the video.
    NOT_ESTIMATED = "not_estimated"

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    Refusal.TOO_SHORT: "the video is too short to measure",
    Refusal.NO_FACE: "no face was found in enough of the video",
    Refusal.TOO_DARK: "the face is too dark to read",
    Refusal.TOO_MUCH_MOTION: "the face moves too much",
    Refusal.FLICKERING_LIGHT: "the light flickers at the rate the skin changes",
    Refusal.WEAK_PULSE: "no pulse strong and steady enough to read",
    Refusal.WEAK_BREATHING: "no breathing movement clear enough to read",
    Refusal.NOT_ESTIMATED: (
        "not estimated from video: no camera method is cleared for it, and its error with darker "
        "skin is unresolved"
    ),
}


@dataclass(frozen=True, slots=True)
class WindowEstimate:
    """The heart rate read from one stretch of the video (None where it could not be read)."""

    start_s: float
    end_s: float
    heart_rate_bpm: float | None
    quality: float


@dataclass(frozen=True, slots=True)
class VitalSigns:
    heart_rate_bpm: float | None
    respiratory_rate_bpm: float | None
    quality: float  # of the heart rate, 0-1
    reason: Refusal | None  # why the heart rate is None
    windows: tuple[WindowEstimate, ...] = ()
    respiratory_quality: float = 0.0
    respiratory_reason: Refusal | None = None  # why the breathing rate is None
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """The JSON-ready form (rates to 0.1 per minute, qualities to 0.01)."""
        return {
            "heart_rate_bpm": _rounded(self.heart_rate_bpm, 1),
            "respiratory_rate_bpm": _rounded(self.respiratory_rate_bpm, 1),
            "quality": round(self.quality, 2),
            "reason": None if self.reason is None else self.reason.value,
            "respiratory_quality": round(self.respiratory_quality, 2),
            "respiratory_reason": None if self.respiratory_reason is None else self.respiratory_reason.value,
            "duration_s": round(self.duration_s, 2),
            "spo2": None,
            "spo2_reason": Refusal.NOT_ESTIMATED.value,
            "windows": [
                {
                    "start_s": round(window.start_s, 2),
                    "end_s": round(window.end_s, 2),
                    "heart_rate_bpm": _rounded(window.heart_rate_bpm, 1),
                    "quality": round(window.quality, 2),
                }
                for window in self.windows
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def summary(self) -> str:
        """A few lines for a person."""
        if self.heart_rate_bpm is None:
            heart = f"heart rate: not measured ({self._why(self.reason)})"
        else:
            heart = f"heart rate: {self.heart_rate_bpm:.0f} bpm (quality {self.quality:.2f})"
        if self.respiratory_rate_bpm is None:
            breathing = f"breathing rate: not measured ({self._why(self.respiratory_reason)})"
        else:
            breathing = (
                f"breathing rate: {self.respiratory_rate_bpm:.0f} per minute "
                f"(quality {self.respiratory_quality:.2f})"
            )
        read = sum(window.heart_rate_bpm is not None for window in self.windows)
        windows = f"{read} of {len(self.windows)} windows read over {self.duration_s:.1f} s"
        oxygen = f"oxygen saturation: {Refusal.NOT_ESTIMATED.explanation}"
        return "\n".join((heart, breathing, oxygen, windows))

    @staticmethod
    def _why(reason: Refusal | None) -> str:
        return "no reason given" if reason is None else reason.explanation


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
