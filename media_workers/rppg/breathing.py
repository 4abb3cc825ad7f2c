"""The breathing rate from the face's vertical movement.

Each breath lifts head and shoulders a little; the tracker's optical flow follows the face to a
fraction of a pixel, and the low band (0.1-0.5 Hz, 6-30 breaths a minute) of that movement holds
the breathing. Windows of 30 s (or the whole video when shorter) are read separately; the rate is
reported only where the peak stands clear of the band and the windows agree: swaying and nodding
fall in the same band, and the gate refuses rather than count them as breaths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from media_workers.rppg.result import Refusal
from media_workers.rppg.signal import FloatArray, bandpass, power_spectrum, spectral_peak

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


@dataclass(frozen=True, slots=True)
class BreathingReading:
    rate_per_min: float | None
    quality: float
    refusal: Refusal | None


def read_breathing(
    grid: FloatArray,
    vertical_position: FloatArray,
    horizontal_position: FloatArray,
    face_found: FloatArray,
    rate_hz: float,
) -> BreathingReading:
    duration = float(grid[-1] - grid[0]) if len(grid) > 1 else 0.0
    if duration < MIN_DURATION_S:
        return BreathingReading(None, 0.0, Refusal.TOO_SHORT)
    low, high = BREATHING_BAND_HZ
    # A wider pass band than is read, so the filter's slopes do not shape the peak.
    movement = bandpass(vertical_position, rate_hz, low / 2, high * 1.5, order=2)
    # Breathing lifts the head; it does not sway it. Sideways movement in the breathing band as
    # large as a fraction of the vertical is a head moving on its own, and its nods would be
    # counted as breaths.
    sideways = bandpass(horizontal_position, rate_hz, low / 2, high * 1.5, order=2)
    if float(np.std(sideways)) > MAX_SIDEWAYS_RATIO * float(np.std(movement)):
        return BreathingReading(None, 0.0, Refusal.TOO_MUCH_MOTION)
    length = min(round(WINDOW_S * rate_hz), len(grid))
    step = round(STEP_S * rate_hz)
    rates: list[float] = []
    weights: list[float] = []
    windows = 0
    for start in range(0, len(grid) - length + 1, step):
        windows += 1
        stretch = slice(start, start + length)
        if face_found[stretch].mean() < MIN_FACE_COVERAGE:
            continue
        halfwidth = 1.5 / (length / rate_hz)  # the core of a Hann window's main lobe
        peak = spectral_peak(
            *power_spectrum(movement[stretch], rate_hz, resolution_hz=0.002),
            low,
            high,
            halfwidth,
            with_harmonic=False,
        )
        rates.append(60.0 * peak.frequency_hz)
        weights.append(float(np.clip((peak.snr_db - SNR_FLOOR_DB) / (SNR_FULL_DB - SNR_FLOOR_DB), 0, 1)))
    if not rates or sum(weights) == 0:
        return BreathingReading(None, 0.0, Refusal.WEAK_BREATHING)
    rate_array, weight_array = np.array(rates), np.array(weights)
    centre = float(np.median(rate_array))
    agreeing = np.abs(rate_array - centre) <= WINDOWS_AGREE_PER_MIN
    quality = float(weight_array[agreeing].sum() / windows)
    if quality < QUALITY_GATE or weight_array[agreeing].sum() == 0:
        return BreathingReading(None, quality, Refusal.WEAK_BREATHING)
    rate = float(np.average(rate_array[agreeing], weights=weight_array[agreeing]))
    return BreathingReading(rate, quality, None)
