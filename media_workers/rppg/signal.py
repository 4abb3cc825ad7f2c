"""Signal processing for the colour trace: resampling, filtering, the POS and CHROM projections,
and reading a rate off a spectrum.

POS (Wang, den Brinker, Stuijk and de Haan, 2017) and CHROM (de Haan and Jeanne, 2013) both turn
the skin's mean RGB into a pulse signal by projecting out what is not blood: each channel is first
divided by its recent mean, so the trace is relative change; a change of brightness then moves all
three channels alike, and both projections cancel that direction. They differ in the plane they
project onto and in how they weigh their two axes, so their agreement is a check on each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from media_workers.rppg.filters import butterworth_bandpass, detrend, filtfilt

FloatArray = npt.NDArray[np.float64]

# POS's plane, orthogonal to the skin tone in normalised RGB (Wang et al., eq. 9).
_POS_PROJECTION = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])
# Windows processed at once in POS's overlap-add: bounds the memory a long video needs.
_POS_CHUNK = 512


@dataclass(frozen=True, slots=True)
class Peak:
    frequency_hz: float
    snr_db: float  # power at the peak and its harmonic against the rest of the band


def bandpass(values: FloatArray, rate_hz: float, low_hz: float, high_hz: float, order: int = 3) -> FloatArray:
    """Zero-phase Butterworth band-pass of a trace (its design made once per band and rate)."""
    # Padding reaches a few periods of the lowest frequency, so the edges settle.
    padding = min(len(values) - 1, int(3 * rate_hz / low_hz))
    return filtfilt(butterworth_bandpass(order, low_hz, high_hz, rate_hz), values, padding)


def relative_change(values: FloatArray, length: int) -> FloatArray:
    """Each value against its running mean over `length` samples, less one (0.01 is 1 % above)."""
    kernel = np.ones(length) / length
    means = np.convolve(values, kernel, mode="same")
    edge = length // 2
    if len(values) > 2 * edge + 1:
        # The running mean of the first and last half-window is taken from whole windows.
        means[:edge] = means[edge]
        means[len(means) - edge :] = means[len(means) - edge - 1]
    changes: FloatArray = values / np.maximum(means, 1e-9) - 1.0
    return changes


def pos_pulse(rgb: FloatArray, rate_hz: float, window_s: float = 1.6) -> FloatArray:
    """The pulse by POS: per short sliding window, normalise, project, tune, and overlap-add.

    The window is about one heartbeat at the slowest rate read (1.6 s); it slides one sample at a
    time, as in the method's paper.
    """
    length = max(round(window_s * rate_hz), 2)
    count = len(rgb)
    pulse = np.zeros(count)
    if count < length:
        return pulse
    windows = sliding_window_view(rgb, length, axis=0)  # (starts, 3, length), no copy
    starts = len(windows)
    for first in range(0, starts, _POS_CHUNK):
        chunk = windows[first : first + _POS_CHUNK]
        normalised = chunk / np.maximum(chunk.mean(axis=2, keepdims=True), 1e-9)
        projected = np.einsum("pc,wcl->wpl", _POS_PROJECTION, normalised)
        spread = projected.std(axis=2)
        alpha = spread[:, 0] / np.maximum(spread[:, 1], 1e-12)
        combined = projected[:, 0] + alpha[:, None] * projected[:, 1]
        combined -= combined.mean(axis=1, keepdims=True)
        # Overlap-add: each window's signal lands on the samples it covers.
        chunk_starts = len(chunk)
        for offset in range(length):
            pulse[first + offset : first + offset + chunk_starts] += combined[:, offset]
    return pulse


def chrom_pulse(
    rgb: FloatArray, rate_hz: float, low_hz: float, high_hz: float, window_s: float = 1.6
) -> FloatArray:
    """The pulse by CHROM: two chrominance signals, band-passed, mixed per half-overlapping window."""
    length = max(round(window_s * rate_hz), 4)
    length += length % 2
    count = len(rgb)
    pulse = np.zeros(count)
    if count < 2 * length:
        return pulse
    # Normalised by a running mean one window long, so the trace is relative change.
    red, green, blue = (relative_change(rgb[:, channel], length) + 1.0 for channel in range(3))
    chroma_x = bandpass(3 * red - 2 * green, rate_hz, low_hz, high_hz)
    chroma_y = bandpass(1.5 * red + green - 1.5 * blue, rate_hz, low_hz, high_hz)
    taper = np.hanning(length)
    step = length // 2
    for start in range(0, count - length + 1, step):
        x = chroma_x[start : start + length]
        y = chroma_y[start : start + length]
        alpha = x.std() / max(float(y.std()), 1e-12)
        pulse[start : start + length] += taper * (x - alpha * y)
    return pulse


def power_spectrum(
    values: FloatArray, rate_hz: float, resolution_hz: float = 0.01
) -> tuple[FloatArray, FloatArray]:
    """Power spectrum of a Hann-tapered, zero-padded stretch (padding only interpolates)."""
    frequencies, coefficients = fourier(values, rate_hz, resolution_hz)
    return frequencies, np.asarray(np.abs(coefficients) ** 2, dtype=np.float64)


def fourier(
    values: FloatArray, rate_hz: float, resolution_hz: float = 0.01
) -> tuple[FloatArray, npt.NDArray[np.complex128]]:
    """Fourier coefficients of a Hann-tapered, zero-padded stretch."""
    length = len(values)
    size = 1 << max(math.ceil(math.log2(max(rate_hz / resolution_hz, length))), 1)
    tapered = detrend(values) * np.hanning(length)
    coefficients = np.asarray(np.fft.rfft(tapered, n=size), dtype=np.complex128)
    return np.asarray(np.fft.rfftfreq(size, 1.0 / rate_hz), dtype=np.float64), coefficients


def spectral_peak(
    frequencies: FloatArray,
    power: FloatArray,
    low_hz: float,
    high_hz: float,
    peak_halfwidth_hz: float,
    with_harmonic: bool = True,
) -> Peak:
    """The strongest frequency in a band, and how far it stands out.

    The SNR follows de Haan and Jeanne: power within `peak_halfwidth_hz` of the peak (and of its
    first harmonic, where a pulse's shape puts energy too) against the rest of the band.
    """
    band = (frequencies >= low_hz) & (frequencies <= high_hz)
    indices = np.flatnonzero(band)
    best = int(indices[np.argmax(power[indices])])
    peak_hz = _refined_peak(frequencies, power, best)
    near_peak = np.abs(frequencies - peak_hz) <= peak_halfwidth_hz
    if with_harmonic:
        near_peak |= np.abs(frequencies - 2 * peak_hz) <= 2 * peak_halfwidth_hz
    # The harmonic may lie above the band; the noise is counted inside the band only.
    signal_power = float(power[near_peak & (frequencies <= 2 * high_hz)].sum())
    noise_power = float(power[band & ~near_peak].sum())
    snr_db = 10 * math.log10(max(signal_power, 1e-30) / max(noise_power, 1e-30))
    return Peak(peak_hz, snr_db)


def snr_weight(snr_db: float, floor_db: float, full_db: float) -> float:
    """How much a peak counts (0-1): nothing at or below `floor_db`, in full from `full_db`."""
    return float(np.clip((snr_db - floor_db) / (full_db - floor_db), 0.0, 1.0))


def _refined_peak(frequencies: FloatArray, power: FloatArray, index: int) -> float:
    """Peak frequency between bins, from a parabola through the peak bin and its neighbours."""
    if index <= 0 or index >= len(power) - 1:
        return float(frequencies[index])
    before, at, after = power[index - 1], power[index], power[index + 1]
    curvature = before - 2 * at + after
    offset = 0.0 if curvature == 0 else 0.5 * (before - after) / curvature
    step = float(frequencies[1] - frequencies[0])
    return float(frequencies[index]) + float(np.clip(offset, -0.5, 0.5)) * step
