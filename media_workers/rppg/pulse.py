"""The heart rate from the skin's colour trace: per sliding window, then fused, with its quality.

Three projections of the trace each give a pulse signal: POS and CHROM, which cancel changes of
brightness by their colour, and the skin's brightness against the whole frame's, which cancels a
change of light that falls on the whole scene. The third is there for compressed video: a codec
spends few bits on colour, so a pulse of under one percent survives in a recording mostly as a
change of brightness, the very thing POS and CHROM are built to discard; on darker skin, whose
pulse is weaker, little else is left.

A window (10 s, every second) is read when two of the three agree on its spectral peak, and
counts in proportion to how far that peak stands out (SNR). The clip's rate comes from the
windows' averaged spectra (Welch's method: noise averages out, the pulse does not), and its
quality is that clarity times the share of all windows whose own reading agrees with it (but see
below for windows too faint to read). Below the gate the rate is refused, not guessed: a weak or
wandering peak is more often noise, a harmonic or a flicker than the pulse.

The rate read must also be blood's: the skin is also read as a grid of patches, and at that rate
the patches must brighten and darken together, as blood makes all skin do at once, both over the
whole face and over its upper part alone. A face that moves on its own (speaking, chewing,
swallowing) makes colour changes too, steady enough to pass every test above; but a fold or a
shadow that moves brightens one patch as it darkens the next, and a jaw moving across smooth
shading, which can change the lower face in step, leaves the brow and the eyes as they were. Such
a rate is refused as the face's movement. The same test vouches for a faint pulse: where the
brightness and a projection of colour peak at the rate (each within 3 bpm of it) and every part of
the face beats with it as closely as any pulse did, that agreement is its clarity, however little
its peak stands out (as on a compressed video, which keeps less of the pulse than of the noise
around it). A codec codes brightness and colour apart, so its noise in one is not its noise in the
other; POS and CHROM both read the colour, and a codec's colour noise can draw one's peak and not
the other's. The patches (and the surroundings, below) are compared in every window with the face
in view and still, those too faint to read included; and where the patches vouch, a window too
faint to read does not count against the rate: it is faint, not elsewhere.

Last, blood changes the skin alone: a light that flickers at the rate changes the face's
surroundings as well, and such a rate is refused as the light's.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

from media_workers.rppg.face import SKIN_PATCH_GRID
from media_workers.rppg.result import Refusal, WindowEstimate
from media_workers.rppg.signal import (
    FloatArray,
    bandpass,
    chrom_pulse,
    fourier,
    pos_pulse,
    power_spectrum,
    relative_change,
    snr_weight,
    spectral_peak,
)
from media_workers.rppg.trace import PATCHES, Column, GridTrace, SlidingWindows, Stretch

HEART_BAND_HZ = (0.7, 3.5)  # 42-210 bpm
WINDOW_S = 10.0
STEP_S = 1.0
# A window needs the face in nearly all of it, and the face not racing about.
MIN_FACE_COVERAGE = 0.9
MAX_SPEED = 0.6  # face widths per second, the window's 90th percentile
# Two projections agree when their peaks are this close; windows agree with the fused rate when
# within the second figure (a heart rate does wander within a minute).
METHODS_AGREE_BPM = 3.0
WINDOWS_AGREE_BPM = 5.0
# A window's SNR maps to a weight: nothing at or below the floor, full at the top.
SNR_FLOOR_DB = 0.0
SNR_FULL_DB = 4.0
# A window whose projections all disagree keeps this fraction of its weight.
DISAGREEMENT_PENALTY = 0.25
# The least quality reported; below it the rate is refused.
QUALITY_GATE = 0.4
# The least pulse read: the skin's brightness (against the frame's) changing by this fraction, rms,
# in the heart-rate band. Below it a peak is more often the codec than blood: a rate-controlled
# encoder's quality swings with its buffer, about once a second, and moves the skin's mean by a
# few hundredths of a percent, which is what a pulse this weak amounts to.
MIN_PULSE_AMPLITUDE = 6e-4
_PEAK_HALFWIDTH_HZ = 0.15
# Where the brightness is among the three projections (see _Changes.pulses); the two before it are
# of colour.
_BRIGHTNESS = 2


@dataclass(frozen=True, slots=True)
class _FacePart:
    """Patches of the skin (as numbered in SKIN_PATCH_GRID, row by row) that must change in step
    at the rate read, the least agreement they must reach (see _in_step, -1 to 1), the agreement
    that vouches for a faint pulse (see PulseReader.reading), and how many patches must be
    readable in a window for it to count."""

    patches: frozenset[int]
    least_in_step: float
    vouching_in_step: float
    least_patches: int


def _rows(first: int, last: int) -> frozenset[int]:
    columns = SKIN_PATCH_GRID[1]
    return frozenset(row * columns + column for row in range(first, last + 1) for column in range(columns))


# The gates are half the least score any pulse of the reference model gave at its own rate, read
# or not, rounded down to a tenth; what vouches for a faint pulse is that least score itself,
# rounded down to a hundredth. Counted over the benchmark's reference clips and 88 more drawn for
# this alone (`python -m tools.bench_rppg --calibrate 4 --seed 101`: 4 per condition with a
# pulse): 173 clips, compressed and dim ones included, where the brightness and a projection of
# colour peaked within 3 bpm of the true rate. The least, 0.871 for the whole skin and 0.8153 for
# the upper face, both from a CRF 28 clip of the 88 (the benchmark's own gave 0.8995 and 0.8642:
# a least over fewer clips stands higher). Noise scores about 0; of the clips
# with nothing to measure (the benchmark's and five searches') whose brightness and colour peak
# together, none but a flickering light's scored over 0.46 on the whole skin. The upper face alone
# vouches for nothing: such clips scored up to 0.96 there.
FACE_PARTS = (
    # The whole skin: a face moving on its own, a fold or a shadow moving across it, brightens one
    # patch as it darkens the next.
    _FacePart(_rows(0, SKIN_PATCH_GRID[0] - 1), least_in_step=0.4, vouching_in_step=0.87, least_patches=4),
    # The upper face (brow, eyes, upper cheeks: the top two rows) alone: the jaw that speaks or
    # chews moves the lower face, and a smooth movement across smooth shading can change all of
    # it in step; the upper face does not share that change, and blood shows there as much as
    # anywhere.
    _FacePart(_rows(0, 1), least_in_step=0.4, vouching_in_step=0.81, least_patches=3),
)
# Fewer readable patches than this and no part can be checked: the window adds nothing to the
# checks, and a clip with no window that did is not read.
_MIN_PATCHES = min(part.least_patches for part in FACE_PARTS)
# A window too faint to read leaves the share only where every part of the face was compared in
# at least this many windows: the windows of the 20 s clips on which the gates above were set.
# Over fewer, noise scores higher, by how much unmeasured.
_LEAST_WINDOWS_COMPARED = 11
# A light flickers at the rate read when the face's surroundings change with the skin at it, as
# much and in step (see _light_flickers): both past halfway from blood (the surroundings of the
# reference model's pulses share at most 0.12 of the skin's change) to a light (1.03 and more, in
# step to 1.00). A face's movement changes the surroundings too, as much but out of step.
LIGHT_SHARE = 0.5
LIGHT_COHERENCE = 0.5
# Samples either side of a window that its filters run over, so that they settle before it.
_CONTEXT_S = 4.0
# Windows filtered together (see SlidingWindows): half a minute's worth.
_BATCH = 30


@dataclass(frozen=True, slots=True)
class PulseReading:
    heart_rate_bpm: float | None
    quality: float
    refusal: Refusal | None
    windows: tuple[WindowEstimate, ...]


@dataclass(frozen=True, slots=True)
class BloodCheck:
    """What the rate the windows' summed spectra give would be vouched by: whether the brightness
    and a projection of colour peak at it, and how far each part of the face (as in FACE_PARTS)
    changes in step at it. What the gates are set from (python -m tools.bench_rppg --calibrate)."""

    rate_bpm: float
    brightness_and_colour_agree: bool
    in_step: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class _Changes:
    """A stretch's signals, as its windows read them."""

    pulses: tuple[FloatArray, FloatArray, FloatArray]  # POS, CHROM, and the brightness
    skin: FloatArray
    surroundings: FloatArray
    patches: tuple[list[int], FloatArray] | None  # the readable patches, and their changes


@dataclass(frozen=True, slots=True)
class _Window:
    start_s: float
    end_s: float
    problem: Refusal | None
    heart_rate_bpm: float  # the window's own reading (NaN with a problem)
    weight: float


class PulseReader:
    """Reads each 10 s window as soon as its samples are in; keeps a few numbers per window."""

    def __init__(self, rate_hz: float) -> None:
        self._rate_hz = rate_hz
        # The running mean a brightness is read against (see relative_change): a beat at the
        # slowest rate read.
        self._contrast_length = round(1.6 * rate_hz)
        length = round(WINDOW_S * rate_hz)
        step = max(round(STEP_S * rate_hz), 1)
        self.windows = SlidingWindows(length, step, round(_CONTEXT_S * rate_hz), batch=_BATCH)
        self._frequencies = power_spectrum(np.zeros(length), rate_hz)[0]
        # The windows' spectra are summed as they are read, not kept.
        self._summed = [np.zeros_like(self._frequencies) for _ in range(3)]
        low, high = HEART_BAND_HZ
        self._band = (self._frequencies >= low - 0.1) & (self._frequencies <= high + 0.1)
        # And per part of the face, each patch of skin against the rest of the part, per frequency
        # (see _in_step).
        self._patch_cross = np.zeros((len(FACE_PARTS), PATCHES, int(self._band.sum())), dtype=np.complex128)
        self._windows_compared = [0] * len(FACE_PARTS)
        # And the surroundings' brightness changes against the skin's, and each one's power.
        self._light_cross = np.zeros(int(self._band.sum()), dtype=np.complex128)
        self._light_power = np.zeros((2, int(self._band.sum())))
        self._log = _WindowLog()

    def read_due(self, trace: GridTrace, *, final: bool = False) -> None:
        """Read the windows whose samples `trace` now holds (at the end, all that remain)."""
        while (due := self.windows.due(trace.count, final=final)) is not None:
            context, windows = due
            self._read(trace.stretch(context.start, context.stop), windows, context.start)

    def reading(self) -> PulseReading:
        """The clip's rate and its quality: the windows' agreement with it times its clarity.

        Its clarity is how far the weaker of two agreeing projections' peaks stands out in the
        summed spectra; or, when the brightness and a projection of colour peak at the rate and
        the skin's patches change in step at it at least as far as every pulse on the reference
        model did (see FACE_PARTS), the lesser of the parts' scores, if higher, and the share
        leaves out the windows too faint to read (see _LEAST_WINDOWS_COMPARED). A compressed
        pulse can be as faint as the noise around it in each projection and still be blood's:
        chrominance and brightness, which a codec keeps apart, beat together, and so does every
        part of the face, over every window.
        """
        windows = self._log.windows()
        if not windows:
            return PulseReading(None, 0.0, Refusal.TOO_SHORT, ())

        def refused(reason: Refusal, quality: float) -> PulseReading:
            return PulseReading(None, quality, reason, _estimates(windows, reported=False))

        fused = _fuse(windows, self._frequencies, tuple(self._summed))
        if fused is None:
            return refused(_refusal(windows), 0.0)
        frequencies = self._frequencies[self._band]
        in_step = self._parts_in_step(fused.rate_bpm)
        clarity, share = fused.clarity, fused.agreeing_share
        if fused.brightness_and_colour_agree and all(
            score >= part.vouching_in_step for part, score in zip(FACE_PARTS, in_step, strict=True)
        ):
            clarity = max(clarity, min(in_step))
            if min(self._windows_compared) >= _LEAST_WINDOWS_COMPARED:
                share = fused.agreeing_share_but_the_faint
        quality = clarity * share
        if quality < QUALITY_GATE:
            return refused(_refusal(windows), quality)
        if any(score < part.least_in_step for part, score in zip(FACE_PARTS, in_step, strict=True)):
            return refused(Refusal.TOO_MUCH_MOTION, quality)
        if _light_flickers(frequencies, self._light_cross, self._light_power, fused.rate_bpm):
            return refused(Refusal.FLICKERING_LIGHT, quality)
        return PulseReading(fused.rate_bpm, quality, None, _estimates(windows, reported=True))

    def blood_check(self) -> BloodCheck | None:
        """The checks of blood at the rate read, or None with no window read."""
        fused = _fuse(self._log.windows(), self._frequencies, tuple(self._summed))
        if fused is None:
            return None
        in_step = self._parts_in_step(fused.rate_bpm)
        return BloodCheck(fused.rate_bpm, fused.brightness_and_colour_agree, tuple(in_step))

    def _parts_in_step(self, rate_bpm: float) -> list[float]:
        """Each part of the face's score at `rate_bpm` (see _in_step)."""
        frequencies = self._frequencies[self._band]
        return [_in_step(frequencies, cross, rate_bpm) for cross in self._patch_cross]

    def _read(self, stretch: Stretch, windows: list[slice], first_sample: int) -> None:
        """Read windows (slices of `stretch`, whose first sample is `first_sample`)."""
        rate_hz = self._rate_hz
        problems = [_problem(stretch[Column.FACE_FOUND][w], stretch[Column.SPEED][w]) for w in windows]
        changes = None if all(problems) else self._changes(stretch)
        for window, problem in zip(windows, problems, strict=True):
            start_s = (first_sample + window.start) / rate_hz
            end_s = (first_sample + window.stop - 1) / rate_hz
            if changes is None or problem is not None:
                self._log.add(_Window(start_s, end_s, problem, float("nan"), 0.0))
                continue
            # Whether the patches beat together, and the surroundings with them, is asked of every
            # window with the face in view and still, a pulse too faint to read included: asked of
            # a few windows only, the patches' test is the easier for a codec's noise to pass; and
            # a light that flickers in the band, which the skin's brightness against the frame's
            # cancels, leaves most windows too faint to read.
            if changes.patches is not None:
                self._add_patches(changes.patches[0], changes.patches[1][:, window])
            if not np.isnan(changes.surroundings[window]).any():
                self._add_light(changes.skin[window], changes.surroundings[window])
            if changes.pulses[_BRIGHTNESS][window].std() < MIN_PULSE_AMPLITUDE:
                self._log.add(_Window(start_s, end_s, Refusal.WEAK_PULSE, float("nan"), 0.0))
                continue
            spectra = tuple(_normalised(*power_spectrum(pulse[window], rate_hz)) for pulse in changes.pulses)
            for total, spectrum in zip(self._summed, spectra, strict=True):
                total += spectrum
            rate, weight, _ = _reading(self._frequencies, spectra)
            self._log.add(_Window(start_s, end_s, None, rate, weight))

    def _changes(self, stretch: Stretch) -> _Changes:
        """The three pulse signals (POS, CHROM, skin against frame brightness), band-passed; and
        the brightness changes of the skin, its patches and its surroundings."""
        rate_hz = self._rate_hz
        low, high = HEART_BAND_HZ
        contrast_length = self._contrast_length
        skin = relative_change(stretch[Column.SKIN_LUMA], contrast_length)
        frame = relative_change(stretch[Column.FRAME_LUMA], contrast_length)
        pulses = (
            bandpass(pos_pulse(stretch.rgb, rate_hz), rate_hz, low, high),
            chrom_pulse(stretch.rgb, rate_hz, low, high),
            bandpass(skin - frame, rate_hz, low, high),
        )
        surroundings = relative_change(stretch[Column.SURROUNDINGS_LUMA], contrast_length)
        return _Changes(pulses, skin, surroundings, self._patch_changes(stretch))

    def _patch_changes(self, stretch: Stretch) -> tuple[list[int], FloatArray] | None:
        """The readable patches, and each one's brightness changes (patches, samples)."""
        patches = stretch.patch_luma
        readable = [patch for patch in range(PATCHES) if not np.isnan(patches[:, patch]).any()]
        if len(readable) < _MIN_PATCHES:
            return None
        # Not band-passed: only the Fourier coefficients near the rate are read, and the running
        # mean already takes out what is slower than a heartbeat.
        changes = [relative_change(patches[:, patch], self._contrast_length) for patch in readable]
        return readable, np.array(changes)

    def _band_coefficients(self, values: FloatArray) -> npt.NDArray[np.complex128]:
        """The Fourier coefficients of one window's `values` in and near the heart-rate band."""
        coefficients: npt.NDArray[np.complex128] = fourier(values, self._rate_hz)[1][self._band]
        return coefficients

    def _add_light(self, skin: FloatArray, surroundings: FloatArray) -> None:
        """One window's surroundings' brightness changes against the skin's, summed over windows."""
        skin_coefficients, around = self._band_coefficients(skin), self._band_coefficients(surroundings)
        self._light_cross += around * np.conj(skin_coefficients)
        self._light_power += np.abs([skin_coefficients, around]) ** 2

    def _add_patches(self, readable: list[int], changes: FloatArray) -> None:
        """One window's patches: each one's change against the rest of its part's, summed over
        windows."""
        coefficients = np.array([self._band_coefficients(change) for change in changes])
        for number, (part, part_cross) in enumerate(zip(FACE_PARTS, self._patch_cross, strict=True)):
            chosen = [index for index, patch in enumerate(readable) if patch in part.patches]
            if len(chosen) < part.least_patches:
                continue
            own = coefficients[chosen]
            cross = own * np.conj(own.sum(axis=0) - own)
            scale = 1.0 / max(float(np.abs(cross).sum()), 1e-30)
            part_cross[[readable[index] for index in chosen]] += scale * cross
            self._windows_compared[number] += 1


def _in_step(frequencies: FloatArray, cross: npt.NDArray[np.complex128], rate_bpm: float) -> float:
    """How far the skin's patches change in step at `rate_bpm`, -1 to 1.

    Each patch's change is compared with the rest's, window by window, and the products summed:
    where every patch brightens and darkens with the others, as blood makes all skin do at once,
    the sums point the same way (1); noise, whose phase is random from window to window, sums
    towards nothing; and a face that moves on its own, where a shadow or a fold that moves
    brightens one patch as it darkens the next, leaves patches opposed to the rest (towards -1).
    """
    near = _near(frequencies, rate_bpm)
    per_patch = cross[:, near].sum(axis=1)
    magnitude = float(np.abs(per_patch).sum())
    return float(per_patch.real.sum()) / magnitude if magnitude > 0 else 0.0


def _near(frequencies: FloatArray, rate_bpm: float) -> npt.NDArray[np.bool_]:
    """The frequencies of the summed cross-spectra that count as `rate_bpm`: within a third of a
    spectral peak's half-width."""
    mask: npt.NDArray[np.bool_] = np.abs(frequencies - rate_bpm / 60.0) <= _PEAK_HALFWIDTH_HZ / 3
    return mask


def _light_flickers(
    frequencies: FloatArray, cross: npt.NDArray[np.complex128], power: FloatArray, rate_bpm: float
) -> bool:
    """Whether the face's surroundings change with the skin at `rate_bpm`, as much and in step.

    Window by window, the surroundings' brightness change is projected on the skin's: relative to
    the skin's power, how much of its change they share (1 where the light itself changes, which
    brightens everything it lights alike; about 0 for blood, which changes the skin alone); and
    relative to both powers, how far in step they are (1 for a light; for a face's movement,
    which changes the surroundings at the box's edges, about 0). Never where the surroundings
    could not be read (a face filling the frame).
    """
    near = _near(frequencies, rate_bpm)
    shared = float(cross[near].real.sum())
    skin, surroundings = (float(p) for p in power[:, near].sum(axis=1))
    if skin <= 0 or surroundings <= 0:
        return False
    return shared / skin > LIGHT_SHARE and shared / math.sqrt(skin * surroundings) > LIGHT_COHERENCE


class _WindowLog:
    """The windows read so far, in typed arrays (about 40 bytes a window) rather than objects."""

    _PROBLEMS = (None, *Refusal)

    def __init__(self) -> None:
        self._numbers = array("d")  # start_s, end_s, rate, weight per window
        self._problems = array("b")

    def add(self, window: _Window) -> None:
        self._numbers.extend((window.start_s, window.end_s, window.heart_rate_bpm, window.weight))
        self._problems.append(self._PROBLEMS.index(window.problem))

    def windows(self) -> list[_Window]:
        rows = np.frombuffer(self._numbers, dtype=np.float64).reshape(-1, 4).tolist()
        return [
            _Window(start_s, end_s, self._PROBLEMS[code], rate, weight)
            for (start_s, end_s, rate, weight), code in zip(rows, self._problems, strict=True)
        ]


def _problem(face_found: FloatArray, speed: FloatArray) -> Refusal | None:
    """What keeps a window from being read, if anything."""
    # Speed is judged while the face is seen: a face moving fast enough is often lost, and that
    # window's trouble is the movement, not a missing face.
    seen = face_found > 0.5
    if seen.any() and np.percentile(speed[seen], 90) > MAX_SPEED:
        return Refusal.TOO_MUCH_MOTION
    if face_found.mean() < MIN_FACE_COVERAGE:
        return Refusal.NO_FACE
    return None


def _normalised(frequencies: FloatArray, power: FloatArray) -> FloatArray:
    low, high = HEART_BAND_HZ
    in_band = float(power[(frequencies >= low) & (frequencies <= high)].sum())
    normalised: FloatArray = power / max(in_band, 1e-30)
    return normalised


def _reading(frequencies: FloatArray, spectra: tuple[FloatArray, ...]) -> tuple[float, float, bool]:
    """Rate (bpm), weight (0-1) and whether the brightness and a projection of colour both peak at
    it, from one spectrum each (in _Changes.pulses' order: POS, CHROM, brightness).

    The pair of projections that agree on their peak with the clearest weaker peak decides; with
    no pair in agreement the clearest single peak stands, at a fraction of its weight.
    """
    low, high = HEART_BAND_HZ
    peaks = [spectral_peak(frequencies, power, low, high, _PEAK_HALFWIDTH_HZ) for power in spectra]
    best_pair: tuple[int, int] | None = None
    best_snr = -np.inf
    for first, second in combinations(range(len(peaks)), 2):
        close = abs(peaks[first].frequency_hz - peaks[second].frequency_hz) * 60 <= METHODS_AGREE_BPM
        weaker = min(peaks[first].snr_db, peaks[second].snr_db)
        if close and weaker > best_snr:
            best_pair, best_snr = (first, second), weaker
    if best_pair is None:
        clearest = max(peaks, key=lambda peak: peak.snr_db)
        weight = snr_weight(clearest.snr_db, SNR_FLOOR_DB, SNR_FULL_DB)
        return 60 * clearest.frequency_hz, DISAGREEMENT_PENALTY * weight, False
    both = spectral_peak(
        frequencies, spectra[best_pair[0]] + spectra[best_pair[1]], low, high, _PEAK_HALFWIDTH_HZ
    )
    rate = 60 * both.frequency_hz
    at_rate = [abs(60 * peak.frequency_hz - rate) <= METHODS_AGREE_BPM for peak in peaks]
    brightness_and_colour_agree = at_rate[_BRIGHTNESS] and any(at_rate[:_BRIGHTNESS])
    return rate, snr_weight(best_snr, SNR_FLOOR_DB, SNR_FULL_DB), brightness_and_colour_agree


@dataclass(frozen=True, slots=True)
class _Fused:
    rate_bpm: float
    clarity: float  # of the summed spectra's peak (see _reading)
    # The brightness's and a colour projection's summed spectra peak at the rate.
    brightness_and_colour_agree: bool
    agreeing_share: float  # of all windows, those whose own reading is the rate's
    # The same, leaving out the windows too faint to read (see MIN_PULSE_AMPLITUDE).
    agreeing_share_but_the_faint: float


def _fuse(windows: list[_Window], frequencies: FloatArray, summed: tuple[FloatArray, ...]) -> _Fused | None:
    """The rate the windows' summed spectra give, or None with no window read."""
    usable = [window for window in windows if window.problem is None]
    if not usable:
        return None
    # Summed spectra peak where averaged ones do; the SNR is a ratio, so the scale is moot.
    rate, clarity, brightness_and_colour_agree = _reading(frequencies, summed)
    agreeing = sum(abs(window.heart_rate_bpm - rate) <= WINDOWS_AGREE_BPM for window in usable)
    faint = sum(window.problem is Refusal.WEAK_PULSE for window in windows)
    return _Fused(
        rate, clarity, brightness_and_colour_agree, agreeing / len(windows), agreeing / (len(windows) - faint)
    )


def _refusal(windows: list[_Window]) -> Refusal:
    """The reason to give: a problem that spoilt most windows, else a weak pulse."""
    problems = [window.problem for window in windows if window.problem is not None]
    for problem in (Refusal.NO_FACE, Refusal.TOO_MUCH_MOTION):
        if problems.count(problem) > len(windows) / 2:
            return problem
    return Refusal.WEAK_PULSE


def _estimates(windows: list[_Window], *, reported: bool) -> tuple[WindowEstimate, ...]:
    """Windows for the result: a window's own rate only where it is clear and the clip's rate stands."""

    def shown(window: _Window) -> float | None:
        clear = window.problem is None and window.weight >= QUALITY_GATE
        return window.heart_rate_bpm if reported and clear else None

    return tuple(
        WindowEstimate(window.start_s, window.end_s, shown(window), window.weight) for window in windows
    )
