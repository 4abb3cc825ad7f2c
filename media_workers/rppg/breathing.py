"""The breathing rate from the face's vertical movement.

Each breath lifts head and shoulders a little; the tracker's optical flow follows the face to a
fraction of a pixel, and the low band (0.1-0.5 Hz, 6-30 breaths a minute) of that movement holds
the breathing. Windows of 30 s (or the whole video when shorter) are read separately; the rate is
reported only where the peak stands clear of the band and the windows agree: swaying and nodding
fall in the same band, and the gate refuses rather than count them as breaths.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from media_workers.rppg.result import Refusal
from media_workers.rppg.signal import bandpass, power_spectrum, snr_weight, spectral_peak
from media_workers.rppg.trace import Column, GridTrace, SlidingWindows, Stretch

BREATHING_BAND_HZ = (0.1, 0.5)
WINDOW_S = 30.0
STEP_S = 10.0
MIN_DURATION_S = 12.0
MIN_FACE_COVERAGE = 0.9
SNR_FLOOR_DB = 2.0
SNR_FULL_DB = 8.0
WINDOWS_AGREE_PER_MIN = 2.0
QUALITY_GATE = 0.5
MAX_SIDEWAYS_RATIO = 0.5
# Samples either side of a window that its filter runs over: a breath or two, so it settles.
_CONTEXT_S = 15.0


@dataclass(frozen=True, slots=True)
class BreathingReading:
    rate_per_min: float | None
    quality: float
    refusal: Refusal | None


class BreathingReader:
    """Reads each 30 s window as soon as its samples (and a margin either side) are in."""

    def __init__(self, rate_hz: float) -> None:
        self._rate_hz = rate_hz
        self.windows = SlidingWindows(
            round(WINDOW_S * rate_hz), round(STEP_S * rate_hz), round(_CONTEXT_S * rate_hz)
        )
        self._rates = array("d")  # of the windows read, and their weights
        self._weights = array("d")
        self._count = 0  # windows, read or not
        self._swaying = 0  # windows left out for sideways movement

    def read_due(self, trace: GridTrace, *, final: bool = False) -> None:
        """Read the windows whose samples `trace` now holds; at the end, a video shorter than one
        window (but long enough) is read whole."""
        while (due := self.windows.due(trace.count, final=final)) is not None:
            context, windows = due
            self._read(trace.stretch(context.start, context.stop), windows)
        if final and self._count == 0 and trace.count >= MIN_DURATION_S * self._rate_hz:
            self._read(trace.stretch(0, trace.count), [slice(0, trace.count)])

    def reading(self) -> BreathingReading:
        if self._count == 0:
            return BreathingReading(None, 0.0, Refusal.TOO_SHORT)
        if self._swaying > self._count / 2:
            return BreathingReading(None, 0.0, Refusal.TOO_MUCH_MOTION)
        if not self._rates or sum(self._weights) == 0:
            return BreathingReading(None, 0.0, Refusal.WEAK_BREATHING)
        rate_array, weight_array = np.array(self._rates), np.array(self._weights)
        centre = float(np.median(rate_array))
        agreeing = np.abs(rate_array - centre) <= WINDOWS_AGREE_PER_MIN
        quality = float(weight_array[agreeing].sum() / self._count)
        if quality < QUALITY_GATE or weight_array[agreeing].sum() == 0:
            return BreathingReading(None, quality, Refusal.WEAK_BREATHING)
        rate = float(np.average(rate_array[agreeing], weights=weight_array[agreeing]))
        return BreathingReading(rate, quality, None)

    def _read(self, stretch: Stretch, windows: list[slice]) -> None:
        """Read windows (slices of `stretch`, which is filtered once for all of them)."""
        rate_hz = self._rate_hz
        low, high = BREATHING_BAND_HZ
        # A wider pass band than is read, so the filter's slopes do not shape the peak.
        vertical, horizontal = (
            bandpass(stretch[column], rate_hz, low / 2, high * 1.5, order=2)
            for column in (Column.VERTICAL, Column.HORIZONTAL)
        )
        for window in windows:
            self._count += 1
            if stretch[Column.FACE_FOUND][window].mean() < MIN_FACE_COVERAGE:
                continue
            movement, sideways = vertical[window], horizontal[window]
            # Breathing lifts the head; it does not sway it. Sideways movement in the breathing
            # band as large as a fraction of the vertical is a head moving on its own, and its
            # nods would be counted as breaths.
            if float(np.std(sideways)) > MAX_SIDEWAYS_RATIO * float(np.std(movement)):
                self._swaying += 1
                continue
            length = window.stop - window.start
            halfwidth = 1.5 / (length / rate_hz)  # the core of a Hann window's main lobe
            peak = spectral_peak(
                *power_spectrum(movement, rate_hz, resolution_hz=0.002),
                low,
                high,
                halfwidth,
                with_harmonic=False,
            )
            self._rates.append(60.0 * peak.frequency_hz)
            self._weights.append(snr_weight(peak.snr_db, SNR_FLOOR_DB, SNR_FULL_DB))
