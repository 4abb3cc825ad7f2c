"""The per-frame numbers a video is reduced to, kept compactly.

A video becomes nine floats per frame (72 bytes; an hour at 30 fps is under 8 MB), held in typed
arrays rather than lists of Python floats, which would take four times as much.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from media_workers.rppg.face import SkinSample

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Trace:
    """The per-frame numbers as arrays, one entry per frame, in time order."""

    time_s: FloatArray
    rgb: FloatArray  # (frames, 3); NaN where no face was read
    face_found: npt.NDArray[np.bool_]
    skin_luma: FloatArray
    frame_luma: FloatArray
    vertical_position: FloatArray
    horizontal_position: FloatArray
    speed: FloatArray

    @property
    def frame_interval_s(self) -> float:
        """The typical time between frames (the median: robust to dropped frames)."""
        return float(np.median(np.diff(self.time_s))) if len(self.time_s) > 1 else 0.0

    @property
    def duration_s(self) -> float:
        """From the first frame's start to the last frame's end."""
        return float(self.time_s[-1] - self.time_s[0]) + self.frame_interval_s


class TraceRecorder:
    def __init__(self) -> None:
        self._columns = {name: array("d") for name in _COLUMNS}

    def append(self, time_s: float, sample: SkinSample) -> None:
        columns = self._columns
        columns["time_s"].append(time_s)
        columns["red"].append(sample.red)
        columns["green"].append(sample.green)
        columns["blue"].append(sample.blue)
        columns["skin_luma"].append(sample.skin_luma)
        columns["frame_luma"].append(sample.frame_luma)
        columns["vertical_position"].append(sample.vertical_position)
        columns["horizontal_position"].append(sample.horizontal_position)
        columns["speed"].append(sample.speed)

    def __len__(self) -> int:
        return len(self._columns["time_s"])

    def trace(self) -> Trace:
        def column(name: str) -> FloatArray:
            return np.frombuffer(self._columns[name], dtype=np.float64).copy()

        rgb = np.stack([column("red"), column("green"), column("blue")], axis=1)
        return Trace(
            time_s=column("time_s"),
            rgb=rgb,
            face_found=~np.isnan(rgb[:, 1]),
            skin_luma=column("skin_luma"),
            frame_luma=column("frame_luma"),
            vertical_position=column("vertical_position"),
            horizontal_position=column("horizontal_position"),
            speed=column("speed"),
        )


_COLUMNS = (
    "time_s",
    "red",
    "green",
    "blue",
    "skin_luma",
    "frame_luma",
    "vertical_position",
    "horizontal_position",
    "speed",
)
