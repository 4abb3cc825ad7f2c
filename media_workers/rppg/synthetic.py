"""Synthetic test clips with a known pulse and breathing rate, made from real face photographs.

The tests and the benchmark need videos whose true heart and breathing rates are known. A clip here
is a portrait whose skin is modulated multiplicatively by a blood-volume pulse. The pulse has a
colour signature of blood under skin (green strongest) and is applied to the skin alone: a
uniform brightness change is exactly what POS and CHROM are built to cancel, so a pulse painted as
a global brightness change would test nothing. On top come the conditions a real visit brings:
breathing motion, sensor noise, head motion, light flicker, a dim room, darker skin, and lossy
compression by the same codecs a recording uses.

There are two signal models, so that the estimator is not tuned to one generator:

- `reference`, the one the estimator was developed on: scikit-image's astronaut portrait, a pulse
  of a cosine and its harmonic, and de Haan and Jeanne's signature (red 0.33, green 0.77, blue
  0.53), moved rigidly (breathing, sways and nods); asked for a face that moves on its own
  (`lively`), it speaks: the jaw opens and closes at a syllable's pace, in phrases.
- `independent`, made apart from it: Grace Hopper's official portrait (public domain, shipped as
  sample data by matplotlib: another face, older skin, glasses), a pulse of two Gaussian waves
  (the systolic peak and the later, weaker diastolic wave), a signature with relatively less red
  and more blue, chosen inside the spread reported across skin types and cameras rather than taken
  from any one source, and darker skin's own tint and tilt; the face is not a still photograph: it
  turns a little in the image plane and its lower half moves on its own (a smooth, changing warp,
  as speaking and swallowing move a face).

The two ways of moving on their own are made apart too, so that a check for them can be set on
one and measured on the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
import numpy.typing as npt

Codec = Literal["h264", "h264-high", "h264-lossless", "vp8", "vp9"]
SignalModel = Literal["reference", "independent"]

Float32Array = npt.NDArray[np.float32]

# Relative strength of the pulse in red, green and blue reflected from skin (haemoglobin absorbs
# green most); normalised so that green is 1 and the clip's amplitude is the green modulation.
PULSE_SIGNATURE_RGB = np.array([0.33, 0.77, 0.53], dtype=np.float32) / np.float32(0.77)


def _cosine_pulse(phase: float) -> float:
    """A blood-volume pulse: a fundamental and a weaker second harmonic (the dicrotic shape)."""
    return (math.cos(phase) + 0.35 * math.cos(2 * phase - 0.9)) / 1.3


def _two_wave_shape(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The systolic wave early in the beat and the weaker diastolic wave after it (x: 0-1 of a
    beat), each a Gaussian, repeated either side so the beat joins the next smoothly."""
    total = np.zeros_like(x)
    for shift in (-1.0, 0.0, 1.0):
        total += np.exp(-0.5 * ((x + shift - 0.22) / 0.07) ** 2)
        total += 0.4 * np.exp(-0.5 * ((x + shift - 0.50) / 0.10) ** 2)
    return total


_TWO_WAVE_SAMPLES = _two_wave_shape(np.linspace(0.0, 1.0, 1000, endpoint=False))
_TWO_WAVE_MEAN = float(_TWO_WAVE_SAMPLES.mean())
_TWO_WAVE_HALF_RANGE = float(np.ptp(_TWO_WAVE_SAMPLES)) / 2


def _two_wave_pulse(phase: float) -> float:
    """The independent model's pulse, zero-mean and of the same peak-to-peak as the reference's."""
    x = np.array([(phase / (2 * math.pi)) % 1.0])
    return float((_two_wave_shape(x)[0] - _TWO_WAVE_MEAN) / _TWO_WAVE_HALF_RANGE)


@dataclass(frozen=True)
class _Person:
    """A portrait and how its pulse is painted: where the scene and the face are in it (x0, y0, x1,
    y1 cropped to 4:3; the skin within an ellipse, centre and semi-axes, found by looking at it,
    and within a chroma range), the pulse's colour signature (green 1) and waveform, and what
    darker skin does: its pixel gains (less reflectance, relatively more red), how much weaker its
    relative pulse is (melanin absorbs light before it reaches the blood), and the tilt it gives
    the signature."""

    photo: str
    scene_crop: tuple[int, int, int, int]
    face_centre: tuple[int, int]
    face_axes: tuple[int, int]
    skin_chroma: tuple[int, int, int, int]  # Cr low, Cr high, Cb low, Cb high
    signature_rgb: Float32Array
    waveform: Callable[[float], float]
    dark_gain_rgb: Float32Array
    dark_pulse_factor: float
    dark_signature_tilt_rgb: Float32Array
    lively: bool  # the face moves on its own unless a clip says otherwise
    moves: Callable[[ClipSpec, tuple[float, float], tuple[float, float], np.random.Generator], _FaceMotion]


_PEOPLE: dict[str, _Person] = {
    "reference": _Person(
        photo="astronaut",
        scene_crop=(35, 0, 435, 300),
        face_centre=(226, 120),
        face_axes=(50, 66),
        skin_chroma=(138, 175, 85, 125),
        signature_rgb=PULSE_SIGNATURE_RGB,
        waveform=_cosine_pulse,
        dark_gain_rgb=np.array([0.42, 0.34, 0.30], dtype=np.float32),
        dark_pulse_factor=0.6,
        dark_signature_tilt_rgb=np.ones(3, dtype=np.float32),
        lively=False,
        moves=lambda spec, centre, axes, rng: _Speaking(spec, centre, axes, rng),
    ),
    "independent": _Person(
        photo="hopper",
        scene_crop=(0, 40, 512, 424),
        face_centre=(266, 240),
        face_axes=(78, 98),
        skin_chroma=(150, 190, 80, 120),
        signature_rgb=np.array([0.275, 1.0, 0.775], dtype=np.float32),
        waveform=_two_wave_pulse,
        dark_gain_rgb=np.array([0.50, 0.36, 0.29], dtype=np.float32),
        dark_pulse_factor=0.5,
        dark_signature_tilt_rgb=np.array([1.3, 1.0, 0.8], dtype=np.float32),
        lively=True,
        moves=lambda spec, centre, axes, rng: _FaceMoves(spec, centre, rng),
    ),
}


@dataclass(frozen=True)
class ClipSpec:
    """What to render: the truth (rates) and the conditions."""

    duration_s: float = 20.0
    width: int = 640
    height: int = 480
    fps: float = 30.0
    heart_rate_bpm: float = 72.0
    respiratory_rate_bpm: float = 15.0
    # Relative modulation of the green channel on skin (0.006 is 0.6 %); zero means no pulse.
    pulse_amplitude: float = 0.006
    # Heart-rate variability: sinus arrhythmia at the breathing rate plus a slow drift, in bpm.
    hrv_bpm: float = 2.0
    # Vertical movement of head and shoulders with each breath, in pixels of a 480-line frame.
    breathing_px: float = 2.0
    noise_std: float = 0.0  # sensor noise, in 8-bit levels per channel
    head_motion_px: float = 0.0  # amplitude of the head's wandering, in pixels of a 480-line frame
    flicker: float = 0.0  # relative amplitude of illumination flicker (uniform over the scene)
    brightness: float = 1.0  # scene illumination; 0.3 is a dim room
    # 0 keeps the photograph's light skin; 1 is a dark skin (Fitzpatrick VI), less reflective,
    # relatively redder, with a weaker relative pulse; values between blend the two.
    skin_darkness: float = 0.0
    face: bool = True  # False: a scene without a face, with the pulse painted on it all the same
    codec: Codec = "h264"
    bitrate_kbps: int = 0  # 0: high quality (constant quality); otherwise a lossy target bitrate
    # H.264's High profile (a laptop's or a phone's recorder) at this constant rate factor, for
    # codec "h264-high"; VP9's constant quality for "vp9" (0: the defaults below).
    crf: int = 0
    # The flicker's two frequencies (Hz): None draws one in the heart-rate band and one slow, as
    # before; mains light seen at 30 fps aliases to 10 Hz (100 Hz) or to the frame rate's zero (120 Hz).
    flicker_hz: tuple[float, float] | None = None
    # How fast the head's sways and nods go: 1 is 0.1-1 Hz; 2 is twice as fast.
    motion_speed: float = 1.0
    signal_model: SignalModel = "reference"
    # A face that moves on its own (the signal model's own way: see the module's docstring); None
    # is the model's default (the reference face is still, the independent one moves).
    lively: bool | None = None
    # Variable frame rate: each frame interval is stretched or shrunk by up to this fraction, and
    # some frames are dropped, as a phone or a congested call does.
    timestamp_jitter: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class SyntheticClip:
    path: Path
    spec: ClipSpec
    heart_rate_bpm: float  # the mean rate over the clip, which is what the estimate should return
    respiratory_rate_bpm: float
    frame_times_s: tuple[float, ...] = field(repr=False)


def write_clip(spec: ClipSpec, path: Path) -> SyntheticClip:
    """Render the clip to `path` (.mp4 for H.264, .webm for VP8/VP9) and return its truth."""
    rng = np.random.default_rng(spec.seed)
    frame_times = _frame_times(spec, rng)
    scene = _Scene(spec, rng)
    heart_phase = _heart_phase(spec, rng)
    with av.open(str(path), "w") as container:
        stream = _video_stream(container, spec)
        time_base = stream.codec_context.time_base
        assert time_base is not None
        for time_s in frame_times:
            image = scene.render(time_s, float(np.interp(time_s, heart_phase[0], heart_phase[1])))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = round(time_s / time_base)
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    duration = spec.duration_s
    mean_rate = 60.0 * float(np.interp(duration, heart_phase[0], heart_phase[1])) / (2 * math.pi * duration)
    return SyntheticClip(
        path=path,
        spec=spec,
        heart_rate_bpm=mean_rate,
        respiratory_rate_bpm=spec.respiratory_rate_bpm,
        frame_times_s=tuple(frame_times),
    )


def clip_suffix(spec: ClipSpec) -> str:
    return ".webm" if spec.codec in ("vp8", "vp9") else ".mp4"


def varied(spec: ClipSpec, rng: np.random.Generator) -> ClipSpec:
    """The same conditions with a random true heart rate (55-110 bpm) and breathing rate (10-20)."""
    return replace(
        spec,
        heart_rate_bpm=float(rng.uniform(55, 110)),
        respiratory_rate_bpm=float(rng.uniform(10, 20)),
        seed=int(rng.integers(2**31)),
    )


def _frame_times(spec: ClipSpec, rng: np.random.Generator) -> list[float]:
    interval = 1.0 / spec.fps
    if spec.timestamp_jitter <= 0:
        return [index * interval for index in range(int(spec.duration_s * spec.fps))]
    times: list[float] = []
    time_s = 0.0
    while time_s < spec.duration_s:
        times.append(time_s)
        step = interval * (1 + spec.timestamp_jitter * rng.uniform(-1, 1))
        if rng.random() < 0.05:  # a dropped frame
            step += interval
        time_s += step
    return times


def _heart_phase(spec: ClipSpec, rng: np.random.Generator) -> tuple[npt.NDArray[np.float64], ...]:
    """The pulse's phase (radians) on a fine time grid: the integral of the instantaneous rate."""
    grid = np.arange(0.0, spec.duration_s + 1.0, 1e-3)
    breathing_hz = spec.respiratory_rate_bpm / 60.0
    drift_phase, arrhythmia_phase = rng.uniform(0, 2 * math.pi, size=2)
    rate_bpm = spec.heart_rate_bpm + spec.hrv_bpm * (
        0.6 * np.sin(2 * math.pi * breathing_hz * grid + arrhythmia_phase)
        + 0.4 * np.sin(2 * math.pi * 0.03 * grid + drift_phase)
    )
    phase = 2 * math.pi * np.cumsum(rate_bpm / 60.0) * 1e-3
    return grid, phase - phase[0]


@cache
def _photo_rgb(name: str) -> npt.NDArray[np.uint8]:
    """A portrait that ships with a package the tests install (nothing is downloaded)."""
    if name == "hopper":
        from importlib.resources import files

        jpeg = (files("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg").read_bytes()
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise ValueError("matplotlib's sample portrait did not decode")
        return np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    from skimage import data  # the photograph ships with scikit-image; only tests import this module

    image: npt.NDArray[np.uint8] = data.astronaut()  # type: ignore[no-untyped-call]  # untyped in skimage
    return image


@cache
def _coffee_rgb() -> npt.NDArray[np.uint8]:
    from skimage import data

    image: npt.NDArray[np.uint8] = data.coffee()  # type: ignore[no-untyped-call]  # untyped in skimage
    return image


def _skin_weight(person: _Person) -> npt.NDArray[np.float32]:
    """Where the pulse shows, in photograph coordinates: face skin, softened at its edges."""
    photo = _photo_rgb(person.photo)
    ycrcb = cv2.cvtColor(photo, cv2.COLOR_RGB2YCrCb)
    luma, red_chroma, blue_chroma = cv2.split(ycrcb)
    ellipse = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(ellipse, person.face_centre, person.face_axes, 0, 0, 360, 255, -1)
    cr_low, cr_high, cb_low, cb_high = person.skin_chroma
    skin = (
        (red_chroma > cr_low)
        & (red_chroma < cr_high)
        & (blue_chroma > cb_low)
        & (blue_chroma < cb_high)
        & (luma > 70)
    )
    weight = (skin & (ellipse > 0)).astype(np.float32)
    return np.asarray(cv2.GaussianBlur(weight, (0, 0), 2.0), dtype=np.float32)


class _Scene:
    """The still scene and the per-frame changes laid on it."""

    def __init__(self, spec: ClipSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        person = self.person = _PEOPLE[spec.signal_model]
        scale_to_frame = spec.height / 480.0
        darkness = spec.skin_darkness
        if spec.face:
            photo = _photo_rgb(person.photo).astype(np.float32)
            weight = _skin_weight(person)
            if darkness > 0:
                photo *= 1 + weight[..., None] * (darkness * (person.dark_gain_rgb - 1))
            x0, y0, x1, y1 = person.scene_crop
            photo, weight = photo[y0:y1, x0:x1], weight[y0:y1, x0:x1]
            centre = ((person.face_centre[0] - x0) / (x1 - x0), (person.face_centre[1] - y0) / (y1 - y0))
            axes_px = (
                person.face_axes[0] * spec.width / (x1 - x0),
                person.face_axes[1] * spec.height / (y1 - y0),
            )
        else:
            # No face: a cup of coffee, its middle pulsing as skin would, so that only the missing
            # face can be the reason to refuse.
            photo = _coffee_rgb().astype(np.float32)
            height, width = photo.shape[:2]
            weight = np.zeros((height, width), np.float32)
            cv2.ellipse(weight, (width // 2, height // 2), (width // 5, height // 4), 0, 0, 360, 1.0, -1)
            centre = (0.5, 0.5)
            axes_px = (spec.width / 5, spec.height / 4)
        size = (spec.width, spec.height)
        resized_photo = np.asarray(cv2.resize(photo, size, interpolation=cv2.INTER_AREA), dtype=np.float32)
        self.base = resized_photo * np.float32(spec.brightness)
        weight = np.asarray(cv2.resize(weight, size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)
        rows, columns = np.nonzero(weight > 1e-3)
        self.box = (slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1))
        pulse_amplitude = spec.pulse_amplitude * (1 - darkness * (1 - person.dark_pulse_factor))
        signature = person.signature_rgb * (1 + darkness * (person.dark_signature_tilt_rgb - 1))
        signature = signature / signature[1]
        # The modulation per unit pulse, per pixel and channel, inside the skin's bounding box.
        self.pulse_gain = (weight[self.box][..., None] * (pulse_amplitude * signature)).astype(np.float32)
        self.centre_px = (centre[0] * spec.width, centre[1] * spec.height)
        self.scale_px = scale_to_frame
        self.breathing_phase = float(rng.uniform(0, 2 * math.pi))
        # Head motion: a few slow sways and nods at random frequencies (0.1-1 Hz) and phases,
        # larger at the slower frequencies as a person's movements are.
        self.motion_hz = rng.uniform(0.1, 1.0, size=(2, 4))
        self.motion_phase = rng.uniform(0, 2 * math.pi, size=(2, 4))
        self.motion_weight = 1 / np.sqrt(self.motion_hz * 10)
        self.motion_hz = self.motion_hz * spec.motion_speed
        drawn = (float(rng.uniform(0.8, 2.5)), float(rng.uniform(0.1, 0.4)))
        self.flicker_hz = spec.flicker_hz or drawn
        self.rng = rng
        self.noise_bank = _noise_bank(spec, rng)
        self.canvas = np.empty((spec.height, spec.width, 3), np.float32)
        lively = person.lively if spec.lively is None else spec.lively
        self.face_moves = person.moves(spec, self.centre_px, axes_px, rng) if lively and spec.face else None

    def render(self, time_s: float, heart_phase: float) -> npt.NDArray[np.uint8]:
        spec = self.spec
        np.multiply(self.base, np.float32(self._illumination(time_s)), out=self.canvas)
        self.canvas[self.box] *= 1 + self.pulse_gain * np.float32(self.person.waveform(heart_phase))
        shift_x, shift_y, zoom = self._movement(time_s)
        # Move head and shoulders about the face: a translation, a small zoom, and (a lively face)
        # a slight turn in the image plane.
        turn = self.face_moves.turn_degrees(time_s) if self.face_moves else 0.0
        affine = np.asarray(cv2.getRotationMatrix2D(self.centre_px, turn, zoom), dtype=np.float64)
        affine[:, 2] += np.array([shift_x, shift_y])
        moved = cv2.warpAffine(
            self.canvas,
            affine,
            (spec.width, spec.height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        if self.face_moves:
            moved = self.face_moves.warped(np.asarray(moved, dtype=np.float32), time_s)
        if len(self.noise_bank):
            # Fresh Gaussian noise for every frame costs more than the rest of the rendering; a
            # random frame of a pre-drawn bank at a random offset is as random to the estimator.
            row, column = (int(offset) for offset in self.rng.integers(0, _NOISE_MARGIN, size=2))
            noise = self.noise_bank[int(self.rng.integers(len(self.noise_bank)))]
            moved += noise[row : row + spec.height, column : column + spec.width]
        np.clip(moved, 0, 255, out=moved)
        return (moved + 0.5).astype(np.uint8)

    def _illumination(self, time_s: float) -> float:
        spec = self.spec
        if spec.flicker == 0:
            return 1.0
        fast, slow = self.flicker_hz
        # One flicker component sits inside the heart-rate band on purpose: a method that mistakes
        # a brightness change for a pulse would report it.
        return 1.0 + spec.flicker * (
            0.6 * math.sin(2 * math.pi * fast * time_s) + 0.4 * math.sin(2 * math.pi * slow * time_s + 1.0)
        )

    def _movement(self, time_s: float) -> tuple[float, float, float]:
        spec = self.spec
        breath = math.sin(2 * math.pi * spec.respiratory_rate_bpm / 60.0 * time_s + self.breathing_phase)
        shift_y = -spec.breathing_px * self.scale_px * breath
        zoom = 1.0 + 0.002 * breath
        shift_x = 0.0
        if spec.head_motion_px > 0:
            sway = self.motion_weight * np.sin(2 * math.pi * self.motion_hz * time_s + self.motion_phase)
            amplitude = spec.head_motion_px * self.scale_px / float(self.motion_weight[0].sum())
            shift_x += amplitude * float(sway[0].sum())
            shift_y += amplitude * float(sway[1].sum())
        return shift_x, shift_y, zoom


class _FaceMotion:
    """A face's movement of its own: a turn in the image plane, and a warp of the image (over the
    frame's pixel grid, kept for cv2.remap)."""

    def __init__(self, spec: ClipSpec) -> None:
        self.columns, self.rows = np.meshgrid(
            np.arange(spec.width, dtype=np.float32), np.arange(spec.height, dtype=np.float32)
        )

    def turn_degrees(self, time_s: float) -> float:
        return 0.0

    def warped(self, image: Float32Array, time_s: float) -> Float32Array:
        raise NotImplementedError


class _Speaking(_FaceMotion):
    """The reference model's face speaking: the jaw opens and closes, up to 5 px at 480 lines, at a
    syllable's pace (2-3.5 Hz, wandering), in phrases of a few seconds with pauses between. The skin
    below the mouth moves down with the jaw, the more the nearer the chin; the face above it stays."""

    def __init__(
        self,
        spec: ClipSpec,
        centre_px: tuple[float, float],
        axes_px: tuple[float, float],
        rng: np.random.Generator,
    ) -> None:
        super().__init__(spec)
        columns, rows = self.columns, self.rows
        centre_x, centre_y = centre_px
        half_width, half_height = axes_px
        # 0 at the mouth, rising to 1 at the chin and fading out below it; across, the jaw's width.
        mouth, chin = centre_y + 0.35 * half_height, centre_y + half_height
        rising = np.clip((rows - mouth) / (chin - mouth), 0.0, 1.0)
        below = np.exp(-0.5 * (np.maximum(rows - chin, 0.0) / (0.3 * half_height)) ** 2)
        across = np.exp(-0.5 * ((columns - centre_x) / (0.7 * half_width)) ** 2)
        self.jaw = (rising * below * across).astype(np.float32)
        self.opening_px = 5.0 * spec.height / 480.0
        self.syllable_hz = float(rng.uniform(2.0, 3.5))
        self.wander_hz, self.wander_phase = float(rng.uniform(0.2, 0.5)), float(rng.uniform(0, 2 * math.pi))
        # The syllables' pace wanders by a fifth either way: this is the phase's swing, in cycles.
        self.wander = 0.2 * self.syllable_hz / (2 * math.pi * self.wander_hz)
        self.phrase_hz, self.phrase_phase = float(rng.uniform(0.15, 0.3)), float(rng.uniform(0, 2 * math.pi))

    def warped(self, image: Float32Array, time_s: float) -> Float32Array:
        # The syllables' phase: the integral of their wandering pace.
        phase = 2 * math.pi * self.syllable_hz * time_s - 2 * math.pi * self.wander * math.cos(
            2 * math.pi * self.wander_hz * time_s + self.wander_phase
        )
        speaking = min(
            max(1.5 * math.sin(2 * math.pi * self.phrase_hz * time_s + self.phrase_phase) + 0.5, 0.0), 1.0
        )
        opening = self.opening_px * speaking * 0.5 * (1 - math.cos(phase))
        map_y = self.rows - np.float32(opening) * self.jaw
        warped = cv2.remap(image, self.columns, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return np.asarray(warped, dtype=np.float32)


class _FaceMoves(_FaceMotion):
    """A face that is not a still photograph: it turns a little in the image plane (up to 2
    degrees, slowly), and its lower half moves on its own, as speaking and swallowing move a face:
    two smooth random displacement fields (up to 1.5 px at 480 lines), each swung back and forth
    at its own pace (0.3-0.9 Hz), strongest around the mouth and jaw."""

    def __init__(self, spec: ClipSpec, centre_px: tuple[float, float], rng: np.random.Generator) -> None:
        super().__init__(spec)
        height, width = spec.height, spec.width
        scale = spec.height / 480.0
        columns, rows = self.columns, self.rows
        # Around the mouth and jaw: below the face's centre, about a face's width across.
        mouth_x, mouth_y = centre_px[0], centre_px[1] + 60 * scale
        reach = 55 * scale
        envelope = np.exp(-(((columns - mouth_x) ** 2 + (rows - mouth_y) ** 2) / (2 * reach**2)))
        self.fields = []
        for _ in range(2):
            field_xy = rng.normal(size=(2, height, width)).astype(np.float32)
            smooth = [cv2.GaussianBlur(f, (0, 0), 20 * scale) for f in field_xy]
            peak = max(float(np.abs(f * envelope).max()) for f in smooth)
            self.fields.append(
                [np.float32(1.5 * scale / peak) * f * envelope.astype(np.float32) for f in smooth]
            )
        self.field_hz = rng.uniform(0.3, 0.9, size=2)
        self.field_phase = rng.uniform(0, 2 * math.pi, size=2)
        self.turn_hz = float(rng.uniform(0.08, 0.2))
        self.turn_phase = float(rng.uniform(0, 2 * math.pi))

    def turn_degrees(self, time_s: float) -> float:
        return 2.0 * math.sin(2 * math.pi * self.turn_hz * time_s + self.turn_phase)

    def warped(self, image: Float32Array, time_s: float) -> Float32Array:
        swing = np.sin(2 * math.pi * self.field_hz * time_s + self.field_phase).astype(np.float32)
        map_x = self.columns + swing[0] * self.fields[0][0] + swing[1] * self.fields[1][0]
        map_y = self.rows + swing[0] * self.fields[0][1] + swing[1] * self.fields[1][1]
        warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return np.asarray(warped, dtype=np.float32)


_NOISE_FRAMES = 12
_NOISE_MARGIN = 32


def _noise_bank(spec: ClipSpec, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    if spec.noise_std <= 0:
        return np.zeros((0, 0, 0, 3), np.float32)
    shape = (_NOISE_FRAMES, spec.height + _NOISE_MARGIN, spec.width + _NOISE_MARGIN, 3)
    return rng.normal(0.0, spec.noise_std, size=shape).astype(np.float32)


def _video_stream(container: av.container.OutputContainer, spec: ClipSpec) -> av.VideoStream:
    codec_name = {
        "h264": "libx264",
        "h264-high": "libx264",
        "h264-lossless": "libx264",
        "vp8": "libvpx",
        "vp9": "libvpx-vp9",
    }
    stream = container.add_stream(codec_name[spec.codec], rate=Fraction(spec.fps).limit_denominator(1001))
    assert isinstance(stream, av.VideoStream)
    stream.width = spec.width
    stream.height = spec.height
    stream.pix_fmt = "yuv420p"
    # Timestamps in milliseconds: enough for jittered frame times, and what WebM stores anyway.
    stream.codec_context.time_base = Fraction(1, 1000)
    options: dict[str, object] = {}
    if spec.codec == "h264-lossless":
        options = {"qp": "0", "preset": "ultrafast"}
    elif spec.codec == "h264-high":
        # What a laptop's or a phone's recorder writes: High profile (B-frames, CABAC, 8x8
        # transforms) at a constant rate factor.
        options = {"preset": "medium", "profile": "high", "crf": str(spec.crf or 23)}
    elif spec.codec == "h264":
        # Constrained Baseline, the H.264 profile WebRTC clients send (profile-level-id 42e01f) and
        # so the one Chime's media capture records: no B-frames, CAVLC rather than CABAC.
        options = {"preset": "veryfast", "profile": "baseline"}
        if spec.bitrate_kbps:
            stream.bit_rate = spec.bitrate_kbps * 1000
        else:
            # Near-transparent quality, but capped at what a video call carries (a few Mbit/s at
            # 640x480): heavy sensor noise would otherwise make files no call ever records.
            options |= {"crf": "12", "maxrate": f"{spec.width * spec.height * 8 // 1000}k"}
            options["bufsize"] = options["maxrate"]
    else:
        options = {"deadline": "realtime", "cpu-used": "8"}
        if spec.bitrate_kbps:
            stream.bit_rate = spec.bitrate_kbps * 1000
        else:
            options |= {"crf": str(spec.crf or 8), "b": "0"}
    # One encoder thread: x264's rate control with several threads (and libvpx's realtime mode)
    # gives other bytes from one run to the next, so a clip of a given seed was another clip.
    stream.codec_context.thread_count = 1
    stream.options = options
    return stream
