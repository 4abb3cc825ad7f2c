"""The estimator's filters, in NumPy alone, compute what SciPy's did: the band-pass's design (its
frequency response), its zero-phase run with the same edges and initial state, and the straight
line's removal, for each band and rate the estimator uses, on traces of every length it filters.
The thresholds were set on SciPy's output, so they hold only while these agree. And the worker no
longer imports SciPy at all (it took over a second)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal as scipy_signal

from media_workers.rppg import filters
from media_workers.rppg.breathing import BREATHING_BAND_HZ
from media_workers.rppg.pulse import HEART_BAND_HZ

# (order, low, high): the pulse's band, and breathing's widened one (breathing.py).
BANDS = [
    (3, *HEART_BAND_HZ),
    (2, BREATHING_BAND_HZ[0] / 2, BREATHING_BAND_HZ[1] * 1.5),
]


@pytest.mark.parametrize("rate_hz", [10.0, 15.0, 24.0, 29.97, 30.0, 60.0])
@pytest.mark.parametrize(("order", "low_hz", "high_hz"), BANDS)
def test_the_band_pass_is_scipys_to_the_last_bits(
    order: int, low_hz: float, high_hz: float, rate_hz: float
) -> None:
    ours = filters.butterworth_bandpass(order, low_hz, high_hz, rate_hz)
    theirs = scipy_signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=rate_hz, output="sos")
    _, response = scipy_signal.sosfreqz(ours, worN=4096, fs=rate_hz)
    _, expected = scipy_signal.sosfreqz(theirs, worN=4096, fs=rate_hz)
    assert np.max(np.abs(response - expected)) < 1e-10
    rng = np.random.default_rng(7)
    for count in (3, 40, 301, 2_000):
        trace = 100 + rng.normal(size=count).cumsum() + np.sin(np.arange(count) / rate_hz * 2 * np.pi * 1.2)
        padding = min(count - 1, int(3 * rate_hz / low_hz))
        filtered = filters.filtfilt(ours, trace, padding)
        assert filtered.shape == trace.shape
        expected_trace = scipy_signal.sosfiltfilt(theirs, trace, padlen=padding)
        scale = max(float(np.max(np.abs(expected_trace))), 1e-9)
        assert np.max(np.abs(filtered - expected_trace)) <= 1e-9 * scale, count


def test_detrending_removes_scipys_line() -> None:
    rng = np.random.default_rng(3)
    for count in (2, 3, 257, 4_000):
        values = rng.normal(size=count) + 0.3 * np.arange(count)
        expected = scipy_signal.detrend(values, type="linear")
        assert np.allclose(filters.detrend(values), expected, rtol=0, atol=1e-9)


def test_a_band_beyond_nyquist_or_a_padding_as_long_as_the_trace_is_refused() -> None:
    with pytest.raises(ValueError, match="Nyquist"):
        filters.butterworth_bandpass(3, 0.7, 3.5, 6.0)
    sections = filters.butterworth_bandpass(3, 0.7, 3.5, 30.0)
    with pytest.raises(ValueError, match="padding"):
        filters.filtfilt(sections, np.ones(5), 5)


def test_the_estimator_and_its_cli_import_no_scipy() -> None:
    code = (
        "import json, sys; import media_workers.rppg.__main__, media_workers.rppg.estimate; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
