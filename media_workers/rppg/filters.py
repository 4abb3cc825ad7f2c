"""The three filters the estimator uses, in NumPy alone: a Butterworth band-pass as second-order
sections, run forwards and backwards (zero phase), and a straight line's removal.

They were SciPy's (`butter`, `sosfiltfilt`, `detrend`), and compute what SciPy computes, to the
last few bits: the same design (the analog prototype's poles, the band-pass transform, the
bilinear transform with pre-warping), the same odd extension at the edges and the same initial
conditions (each section at rest for the first sample held forever), so the estimator's
thresholds, set on SciPy's output, hold unchanged (tests/unit/test_rppg_filters.py compares the
two). Importing `scipy.signal` alone took over a second, most of a short clip's run.

A section's recurrence runs sample by sample in Python floats (about a microsecond a sample and a
section): a 10 s window's filters take milliseconds, a half-hour recording's a few seconds.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@cache
def butterworth_bandpass(order: int, low_hz: float, high_hz: float, rate_hz: float) -> FloatArray:
    """A digital Butterworth band-pass of `order` (so 2 x order poles), as `order` second-order
    sections `[b0, b1, b2, 1, a1, a2]`, the gain in the first: SciPy's `butter(order, [low, high],
    btype="bandpass", fs=rate, output="sos")`, up to how its poles are paired into sections."""
    nyquist = rate_hz / 2
    if not 0 < low_hz < high_hz < nyquist:
        raise ValueError("the band must lie between 0 and the Nyquist frequency")
    # Pre-warped band edges for the bilinear transform at an internal sampling rate of 2.
    fs = 2.0
    low, high = (2 * fs * math.tan(math.pi * (f / nyquist) / fs) for f in (low_hz, high_hz))
    centre, width = math.sqrt(low * high), high - low
    # The analog low-pass prototype: poles on the left half of the unit circle, no zeros.
    prototype = -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order))
    # Low-pass to band-pass: each pole becomes two; `order` zeros at the origin.
    scaled = prototype * width / 2
    root = np.sqrt(scaled**2 - centre**2)
    poles = np.concatenate((scaled + root, scaled - root))
    gain = width**order
    # Bilinear transform: the origin's zeros go to z = 1, the ones at infinity to z = -1.
    fs2 = 2 * fs
    digital_poles = (fs2 + poles) / (fs2 - poles)
    gain *= float(np.real(fs2**order / np.prod(fs2 - poles)))
    # One section per pair of poles, each with one zero at 1 and one at -1: a conjugate pair, or
    # two real poles (a wide band's prototype real pole becomes two).
    real = sorted(float(p.real) for p in digital_poles if p.imag == 0)
    pairs = [(2 * p.real, abs(p) ** 2) for p in digital_poles if p.imag > 0]
    pairs += [(real[i] + real[i + 1], real[i] * real[i + 1]) for i in range(0, len(real) - 1, 2)]
    if len(pairs) != order or len(real) % 2:
        raise ValueError("the band-pass's poles did not pair")
    sections = np.zeros((order, 6))
    for i, (total, product) in enumerate(pairs):
        sections[i] = [1.0, 0.0, -1.0, 1.0, -total, product]
    sections[0, :3] *= gain
    return sections


def filtfilt(sections: FloatArray, values: FloatArray, padding: int) -> FloatArray:
    """`values` (one dimension) through the sections forwards, then backwards, after an odd
    extension of `padding` samples at each end: SciPy's `sosfiltfilt(..., padtype="odd",
    padlen=padding)`."""
    count = len(values)
    if values.ndim != 1 or not 0 <= padding < count:
        raise ValueError("one dimension, longer than its padding")
    if padding:
        head = 2 * values[0] - values[padding:0:-1]
        tail = 2 * values[-1] - values[-2 : -(padding + 2) : -1]
        extended = np.concatenate((head, values, tail))
    else:
        extended = np.asarray(values, dtype=np.float64)
    rest = _at_rest(sections)
    forwards = _cascade(sections, extended.tolist(), rest * float(extended[0]))
    backwards = _cascade(sections, forwards[::-1], rest * forwards[-1])[::-1]
    filtered = np.asarray(backwards, dtype=np.float64)
    return filtered[padding : padding + count] if padding else filtered


def detrend(values: FloatArray) -> FloatArray:
    """The values less their least-squares straight line."""
    count = len(values)
    if count < 2:
        return np.zeros(count) if count else np.asarray(values, dtype=np.float64)
    t = np.arange(count, dtype=np.float64) - (count - 1) / 2
    centred = values - values.mean()
    slope = float(np.dot(t, centred) / np.dot(t, t))
    line: FloatArray = centred - slope * t
    return line


def _at_rest(sections: FloatArray) -> FloatArray:
    """Each section's state after a unit input held forever (SciPy's `sosfilt_zi`)."""
    states = np.zeros((len(sections), 2))
    scale = 1.0
    for i, (b0, b1, b2, a0, a1, a2) in enumerate(sections):
        if a0 != 1.0:
            raise ValueError("sections are normalised: a0 = 1")
        # Solve (I - A^T) z = b[1:] - a[1:] b0 for the transposed direct form's two states.
        r0, r1 = b1 - a1 * b0, b2 - a2 * b0
        determinant = (1 + a1) + a2
        z0 = (r0 + r1) / determinant
        z1 = r1 - a2 * z0
        states[i] = (scale * z0, scale * z1)
        scale *= (b0 + b1 + b2) / (1 + a1 + a2)
    return states


def _cascade(sections: FloatArray, samples: list[float], states: FloatArray) -> list[float]:
    """The samples through each section in turn (transposed direct form II), from `states`."""
    out = samples
    for (b0, b1, b2, _, a1, a2), (z0, z1) in zip(sections.tolist(), states.tolist(), strict=True):
        filtered: list[float] = []
        append = filtered.append
        for x in out:
            y = b0 * x + z0
            z0 = b1 * x - a1 * y + z1
            z1 = b2 * x - a2 * y
            append(y)
        out = filtered
    return out
