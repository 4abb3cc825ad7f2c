"""The per-frame numbers a video is reduced to: on a uniform time grid, and kept only while needed.

Frames come at the camera's pace, unevenly on a variable-rate recording; the analysis wants a
uniform grid. `GridTrace` interpolates each frame's numbers onto the grid as frames arrive (this is
how a variable frame rate is handled: from the frames' own timestamps) and keeps only what the
windows still to be read need, about 70 seconds: pulse and breathing are read from sliding windows
(`SlidingWindows`) as soon as a window's samples are in, so an hour of video needs no more memory
than a minute. Whole-video
figures (brightness, the share of frames with a face, the typical frame interval) are kept as
fixed-size histograms (`Distribution`) for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from media_workers.rppg.face import SKIN_PATCH_GRID, SkinSample

FloatArray = npt.NDArray[np.float64]

PATCHES = SKIN_PATCH_GRID[0] * SKIN_PATCH_GRID[1]


class Column(IntEnum):
    """The numbers kept per grid sample."""

    RED = 0
    GREEN = 1
    BLUE = 2
    SKIN_LUMA = 3
    VERTICAL = 4
    HORIZONTAL = 5
    PATCH_LUMA = 6  # the first of PATCHES columns, one per patch of the skin
    SURROUNDINGS_LUMA = 6 + PATCHES  # the frame's brightness around the face
    FRAME_LUMA = 7 + PATCHES  # the columns from here on are read with or without a face
    FACE_FOUND = 8 + PATCHES  # 0-1: the share of the neighbouring frames that had one
    SPEED = 9 + PATCHES


_COLUMNS = Column.SPEED + 1


_FACE_COLUMNS = slice(Column.RED, Column.FRAME_LUMA)


@dataclass(frozen=True)
class Stretch:
    """Consecutive grid samples, with the gaps where no face was seen bridged from either side.

    A short gap (a blink of the tracker) is interpolated over; the windows that depend on a long
    one are left out by their face coverage, so what the bridge holds there is never read.
    """

    rows: FloatArray  # (samples, columns)

    @property
    def rgb(self) -> FloatArray:
        return self.rows[:, Column.RED : Column.BLUE + 1]

    @property
    def patch_luma(self) -> FloatArray:
        """(samples, PATCHES): each patch's brightness, NaN where it had too little skin."""
        return self.rows[:, Column.PATCH_LUMA : Column.PATCH_LUMA + PATCHES]

    def __getitem__(self, column: Column) -> FloatArray:
        values: FloatArray = self.rows[:, column]
        return values


class GridTrace:
    """Frames' numbers resampled to `rate_hz`, the most recent `history_s` of them kept."""

    def __init__(self, rate_hz: float, history_s: float) -> None:
        self.rate_hz = rate_hz
        self._history = math.ceil(history_s * rate_hz)
        # Twice the history: rows are appended at the end, and when it is full the last history's
        # worth moves to the front, once per history rather than once per sample.
        self._rows = np.full((2 * self._history, _COLUMNS), np.nan)
        self._used = 0
        self._dropped = 0  # samples moved out of the buffer
        self._start_s: float | None = None
        self._last_time = 0.0
        self._last_row = np.full(_COLUMNS, np.nan)

    @property
    def count(self) -> int:
        """Grid samples so far."""
        return self._dropped + self._used

    def add(self, time_s: float, sample: SkinSample) -> None:
        row = np.array(
            [
                sample.red,
                sample.green,
                sample.blue,
                sample.skin_luma,
                sample.vertical_position,
                sample.horizontal_position,
                *(sample.patch_luma or (math.nan,) * PATCHES),
                sample.surroundings_luma,
                sample.frame_luma,
                1.0 if sample.face_found else 0.0,
                sample.speed if sample.face_found else 0.0,
            ]
        )
        if self._start_s is None:
            self._start_s = time_s
            self._append(row)
        else:
            # Grid points since the last frame, each between that frame and this one; a number
            # missing on either side (no face) stays missing until a stretch bridges it.
            for time in self._grid_times(time_s, inclusive=True):
                fraction = (time - self._last_time) / (time_s - self._last_time)
                self._append(self._last_row + fraction * (row - self._last_row))
        self._last_time, self._last_row = time_s, row

    def finish(self, end_s: float) -> None:
        """Grid points up to `end_s` (the last frame's end), holding the last frame's numbers."""
        for _ in self._grid_times(end_s, inclusive=False):
            self._append(self._last_row)

    def stretch(self, start: int, stop: int) -> Stretch:
        """Samples `start` to `stop` (counted from the first), which must still be kept."""
        if start < self._dropped or stop > self.count:
            raise ValueError(f"samples {start}-{stop} are not held (held: {self._dropped}-{self.count})")
        rows = self._rows[start - self._dropped : stop - self._dropped].copy()
        face = rows[:, _FACE_COLUMNS]
        missing = np.isnan(face[:, 0])
        if missing.any() and not missing.all():
            positions = np.arange(len(rows))
            seen = ~missing
            for column in range(face.shape[1]):
                face[missing, column] = np.interp(positions[missing], positions[seen], face[seen, column])
        return Stretch(rows)

    def _grid_times(self, until_s: float, *, inclusive: bool) -> Iterator[float]:
        assert self._start_s is not None
        while True:
            time = self._start_s + self.count / self.rate_hz
            if time > until_s or (time == until_s and not inclusive):
                return
            yield time

    def _append(self, row: FloatArray) -> None:
        if self._used == len(self._rows):
            self._rows[: self._history] = self._rows[self._used - self._history : self._used]
            self._dropped += self._used - self._history
            self._used = self._history
        self._rows[self._used] = row
        self._used += 1


class SlidingWindows:
    """Windows of `length` samples every `step`, handed out in batches of `batch` that share their
    context: up to `margin` samples either side, so that filters settle before the first window
    begins and after the last one ends. Filtering a batch once, rather than each window with its
    own context, spares most of the work where windows overlap."""

    def __init__(self, length: int, step: int, margin: int, batch: int = 1) -> None:
        self.length, self.step, self.margin, self.batch = length, step, margin, batch
        self._next_start = 0

    def due(self, count: int, *, final: bool = False) -> tuple[slice, list[slice]] | None:
        """The next batch whose samples (and, before the end, their context) are in: its context
        and its windows within the context; None while it is incomplete. At the end (`final`),
        whatever windows fit."""
        starts = []
        start = self._next_start
        while start + self.length <= count and (final or start + self.length + self.margin <= count):
            starts.append(start)
            start += self.step
        if not starts or (len(starts) < self.batch and not final):
            return None
        self._next_start = start
        context = slice(max(starts[0] - self.margin, 0), min(starts[-1] + self.length + self.margin, count))
        return context, [
            slice(first - context.start, first - context.start + self.length) for first in starts
        ]

    @property
    def history(self) -> int:
        """Samples a trace must hold for these windows."""
        return self.batch * self.step + self.length + 2 * self.margin


class Distribution:
    """A histogram on fixed bins: quantiles of a whole video's values in constant memory."""

    def __init__(self, low: float, high: float, bins: int = 1000) -> None:
        self._low, self._width = low, (high - low) / bins
        self._counts = np.zeros(bins, dtype=np.int64)
        self.count = 0

    def add(self, value: float) -> None:
        if math.isnan(value):
            return
        index = min(max(int((value - self._low) / self._width), 0), len(self._counts) - 1)
        self._counts[index] += 1
        self.count += 1

    def quantile(self, fraction: float) -> float:
        """The value below which `fraction` of those added lie, to the bin's middle (NaN if none)."""
        if self.count == 0:
            return math.nan
        index = int(np.searchsorted(np.cumsum(self._counts), fraction * self.count, side="left"))
        return self._low + (index + 0.5) * self._width


class VideoSummary:
    """What the checks for an unreadable video need, from every frame, in constant memory."""

    def __init__(self) -> None:
        self.frames = 0
        self.faces = 0
        self.first_time_s = math.nan
        self.last_time_s = math.nan
        self.frame_interval = Distribution(0.0, 1.0, 2000)  # seconds, to half a millisecond
        self.skin_luma = Distribution(0.0, 1.0)  # where a face was found
        self.frame_luma = Distribution(0.0, 1.0)
        self.speed = Distribution(0.0, 5.0)  # face widths per second, where a face was found

    def add(self, time_s: float, sample: SkinSample) -> None:
        if self.frames:
            self.frame_interval.add(time_s - self.last_time_s)
        else:
            self.first_time_s = time_s
        self.frames += 1
        self.last_time_s = time_s
        self.frame_luma.add(sample.frame_luma)
        if sample.face_found:
            self.faces += 1
            self.skin_luma.add(sample.skin_luma)
            self.speed.add(sample.speed)

    @property
    def frame_interval_s(self) -> float:
        """The typical time between frames (the median: robust to dropped frames)."""
        return self.frame_interval.quantile(0.5) if self.frame_interval.count else 0.0

    @property
    def duration_s(self) -> float:
        """From the first frame's start to the last frame's end."""
        return self.last_time_s - self.first_time_s + self.frame_interval_s if self.frames else 0.0

    @property
    def face_share(self) -> float:
        return self.faces / self.frames if self.frames else 0.0
