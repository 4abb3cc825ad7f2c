"""Synthetic test clips with a known pulse and breathing rate, made from a real face photograph.

The tests and the benchmark need videos whose true heart and breathing rates are known. A clip here
is scikit-image's astronaut portrait (a real face, shipped by the package, nothing downloaded),
whose skin is modulated multiplicatively by a blood-volume pulse. The pulse has the colour
signature of blood under skin (green strongest, red weakest) and is applied to the skin alone: a
uniform brightness change is exactly what POS and CHROM are built to cancel, so a pulse painted as
a global brightness change would test nothing. On top come the conditions a real visit brings:
breathing motion, sensor noise, head motion, light flicker, a dim room, darker skin, and lossy
compression by the same codecs a recording uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
import numpy.typing as npt

Codec = Literal["h264", "h264-lossless", "vp8", "vp9"]

# Relative strength of the pulse in red, green and blue reflected from skin (haemoglobin absorbs
# green most); normalised so that green is 1 and the clip's amplitude is the green modulation.
PULSE_SIGNATURE_RGB = np.array([0.33, 0.77, 0.53], dtype=np.float32) / np.float32(0.77)

# The part of the astronaut photograph used as the scene (x0, y0, x1, y1; 4:3), and the face's
# skin as an ellipse in photograph coordinates (centre, semi-axes), found by looking at it.
_SCENE_CROP = (35, 0, 435, 300)
_FACE_CENTRE = (226, 120)
_FACE_AXES = (50, 66)

# Pixel gains that turn the photograph's light skin into a darker tone (less reflectance overall,
# relatively more red), and how much the pulse weakens with it: melanin absorbs light before it
# reaches the blood, so darker skin carries a smaller relative pulse.
_DARK_SKIN_GAIN_RGB = np.array([0.42, 0.34, 0.30], dtype=np.float32)
_DARK_SKIN_PULSE_FACTOR = 0.6


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


def _pulse_waveform(phase: float) -> float:
    """A blood-volume pulse: a fundamental and a weaker second harmonic (the dicrotic shape)."""
    return (math.cos(phase) + 0.35 * math.cos(2 * phase - 0.9)) / 1.3


@cache
def _astronaut_rgb() -> npt.NDArray[np.uint8]:
    from skimage import data  # the photograph ships with scikit-image; only tests import this module

    image: npt.NDArray[np.uint8] = data.astronaut()  # type: ignore[no-untyped-call]  # untyped in skimage
    return image


@cache
def _coffee_rgb() -> npt.NDArray[np.uint8]:
    from skimage import data

    image: npt.NDArray[np.uint8] = data.coffee()  # type: ignore[no-untyped-call]  # untyped in skimage
    return image


def _astronaut_skin_weight() -> npt.NDArray[np.float32]:
    """Where the pulse shows, in photograph coordinates: face skin, softened at its edges."""
    photo = _astronaut_rgb()
    ycrcb = cv2.cvtColor(photo, cv2.COLOR_RGB2YCrCb)
    luma, red_chroma, blue_chroma = cv2.split(ycrcb)
    ellipse = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(ellipse, _FACE_CENTRE, _FACE_AXES, 0, 0, 360, 255, -1)
    skin = (red_chroma > 138) & (red_chroma < 175) & (blue_chroma > 85) & (blue_chroma < 125) & (luma > 70)
    weight = (skin & (ellipse > 0)).astype(np.float32)
    return np.asarray(cv2.GaussianBlur(weight, (0, 0), 2.0), dtype=np.float32)


class _Scene:
    """The still scene and the per-frame changes laid on it."""

    def __init__(self, spec: ClipSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        scale_to_frame = spec.height / 480.0
        if spec.face:
            photo = _astronaut_rgb().astype(np.float32)
            weight = _astronaut_skin_weight()
            if spec.skin_darkness > 0:
                photo *= 1 + weight[..., None] * (spec.skin_darkness * (_DARK_SKIN_GAIN_RGB - 1))
            x0, y0, x1, y1 = _SCENE_CROP
            photo, weight = photo[y0:y1, x0:x1], weight[y0:y1, x0:x1]
            centre = ((_FACE_CENTRE[0] - x0) / (x1 - x0), (_FACE_CENTRE[1] - y0) / (y1 - y0))
        else:
            # No face: a cup of coffee, its middle pulsing as skin would, so that only the missing
            # face can be the reason to refuse.
            photo = _coffee_rgb().astype(np.float32)
            height, width = photo.shape[:2]
            weight = np.zeros((height, width), np.float32)
            cv2.ellipse(weight, (width // 2, height // 2), (width // 5, height // 4), 0, 0, 360, 1.0, -1)
            centre = (0.5, 0.5)
        size = (spec.width, spec.height)
        resized_photo = np.asarray(cv2.resize(photo, size, interpolation=cv2.INTER_AREA), dtype=np.float32)
        self.base = resized_photo * np.float32(spec.brightness)
        weight = np.asarray(cv2.resize(weight, size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)
        rows, columns = np.nonzero(weight > 1e-3)
        self.box = (slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1))
        pulse_amplitude = spec.pulse_amplitude * (1 - spec.skin_darkness * (1 - _DARK_SKIN_PULSE_FACTOR))
        # The modulation per unit pulse, per pixel and channel, inside the skin's bounding box.
        self.pulse_gain = (weight[self.box][..., None] * (pulse_amplitude * PULSE_SIGNATURE_RGB)).astype(
            np.float32
        )
        self.centre_px = (centre[0] * spec.width, centre[1] * spec.height)
        self.scale_px = scale_to_frame
        self.breathing_phase = float(rng.uniform(0, 2 * math.pi))
        # Head motion: a few slow sways and nods at random frequencies (0.1-1 Hz) and phases,
        # larger at the slower frequencies as a person's movements are.
        self.motion_hz = rng.uniform(0.1, 1.0, size=(2, 4))
        self.motion_phase = rng.uniform(0, 2 * math.pi, size=(2, 4))
        self.motion_weight = 1 / np.sqrt(self.motion_hz * 10)
        self.flicker_hz = (float(rng.uniform(0.8, 2.5)), float(rng.uniform(0.1, 0.4)))
        self.rng = rng
        self.noise_bank = _noise_bank(spec, rng)
        self.canvas = np.empty((spec.height, spec.width, 3), np.float32)

    def render(self, time_s: float, heart_phase: float) -> npt.NDArray[np.uint8]:
        spec = self.spec
        np.multiply(self.base, np.float32(self._illumination(time_s)), out=self.canvas)
        self.canvas[self.box] *= 1 + self.pulse_gain * np.float32(_pulse_waveform(heart_phase))
        shift_x, shift_y, zoom = self._movement(time_s)
        # Move head and shoulders about the face: a translation and a small zoom.
        centre_x, centre_y = self.centre_px
        affine = np.array(
            [[zoom, 0, centre_x * (1 - zoom) + shift_x], [0, zoom, centre_y * (1 - zoom) + shift_y]],
            dtype=np.float64,
        )
        moved = cv2.warpAffine(
            self.canvas,
            affine,
            (spec.width, spec.height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
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


_NOISE_FRAMES = 12
_NOISE_MARGIN = 32


def _noise_bank(spec: ClipSpec, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    if spec.noise_std <= 0:
        return np.zeros((0, 0, 0, 3), np.float32)
    shape = (_NOISE_FRAMES, spec.height + _NOISE_MARGIN, spec.width + _NOISE_MARGIN, 3)
    return rng.normal(0.0, spec.noise_std, size=shape).astype(np.float32)


def _video_stream(container: av.container.OutputContainer, spec: ClipSpec) -> av.VideoStream:
    codec_name = {"h264": "libx264", "h264-lossless": "libx264", "vp8": "libvpx", "vp9": "libvpx-vp9"}
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
            options |= {"crf": "8", "b": "0"}
    # One encoder thread: x264's rate control with several threads (and libvpx's realtime mode)
    # gives other bytes from one run to the next, so a clip of a given seed was another clip.
    stream.codec_context.thread_count = 1
    stream.options = options
    return stream
