"""The rPPG benchmark: accuracy, refusals, speed and memory on clips the project makes itself.

`python -m tools.bench_rppg` (or `rppg_figures()` from the project's bench) renders five clips per
condition with a known pulse and breathing rate, in each of two signal models made apart from each
other (media_workers.rppg.synthetic: the reference model the estimator was developed on, and an
independent one, another face, pulse shape and colour signature), runs the estimator on each as a
recording would reach it (an MP4 or WebM file), and prints per model and condition how often it
measured, how often within 5 bpm, its errors, and why it refused, then the goals: every clip of
the ordinary conditions measured, two in five of the hard ones within 5 bpm, no reported rate
more than 10 bpm off, a mean error within 2 bpm. The estimator's thresholds are set on the
reference model only; the independent one measures them. Speed is on one thread (OpenCV, the
decoder and BLAS held to one) at 640x480 and 30 fps. Memory is the peak of a fresh process
measuring a 90 s and a 360 s clip: if frames, or the numbers read from each, were kept, the second
would need four times the first.

`python -m tools.bench_rppg --search N` looks for clips that fool it instead: N more clips per
model of each condition with nothing to measure, drawn with another seed, each printed if a rate
is read from it, to be kept in FOUND.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from itertools import pairwise
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np

from media_workers.rppg.estimate import estimate_vitals, read_video
from media_workers.rppg.pulse import FACE_PARTS, BloodCheck
from media_workers.rppg.result import VitalSigns
from media_workers.rppg.synthetic import (
    ClipSpec,
    SignalModel,
    SyntheticClip,
    clip_suffix,
    varied,
    write_clip,
)

CLIPS_PER_CONDITION = 5
CLIP_SECONDS = 20.0
SEED = 6  # the number: the same clips every run
# Rendered clips are kept here by what they are (their spec), so a change of the estimator is
# measured again in minutes rather than rendered again.
CLIP_CACHE = Path(__file__).resolve().parent.parent / ".build" / "rppg-clips"

Group = Literal["ordinary", "hard", "nothing"]


@dataclass(frozen=True)
class Condition:
    spec: ClipSpec
    group: Group


# Every condition has a little sensor noise (one 8-bit level): without it, the 8-bit
# quantisation of a pulse smaller than one level is not dithered, as no real camera's is.
_CAMERA = ClipSpec(duration_s=CLIP_SECONDS, noise_std=1.0)
_NOISY = replace(_CAMERA, noise_std=2.0)
_DIM = replace(_CAMERA, brightness=0.3, noise_std=3.0)
CONDITIONS: dict[str, Condition] = {
    # What a visit usually brings: every clip is to be measured.
    "clean": Condition(_CAMERA, "ordinary"),
    "sensor noise": Condition(replace(_CAMERA, noise_std=5.0), "ordinary"),
    "head motion": Condition(replace(_CAMERA, head_motion_px=12.0), "ordinary"),
    "H.264 High CRF 20": Condition(replace(_NOISY, codec="h264-high", crf=20), "ordinary"),
    "H.264 High CRF 24": Condition(replace(_NOISY, codec="h264-high", crf=24), "ordinary"),
    "H.264 High CRF 28": Condition(replace(_NOISY, codec="h264-high", crf=28), "ordinary"),
    "H.264 call 1 Mbit/s": Condition(replace(_NOISY, bitrate_kbps=1000), "ordinary"),
    "VP8 1 Mbit/s": Condition(replace(_NOISY, codec="vp8", bitrate_kbps=1000), "ordinary"),
    "VP9 CRF 32": Condition(replace(_NOISY, codec="vp9", crf=32), "ordinary"),
    # Mains light at 30 fps (100 Hz aliases to 10 Hz) with a slow drift of daylight.
    "mains + slow flicker": Condition(replace(_CAMERA, flicker=0.03, flicker_hz=(10.0, 0.15)), "ordinary"),
    "darker skin": Condition(replace(_CAMERA, skin_darkness=0.6), "ordinary"),
    "variable frame rate": Condition(replace(_CAMERA, timestamp_jitter=0.3), "ordinary"),
    # What makes a reading hard: at least two in five to be measured within 5 bpm.
    "in-band flicker": Condition(replace(_CAMERA, flicker=0.03, flicker_hz=(1.3, 0.25)), "hard"),
    "weak pulse (0.3 %)": Condition(replace(_CAMERA, pulse_amplitude=0.003), "hard"),
    "fast head motion": Condition(replace(_CAMERA, head_motion_px=20.0, motion_speed=2.0), "hard"),
    "motion + H.264 600k": Condition(replace(_NOISY, head_motion_px=12.0, bitrate_kbps=600), "hard"),
    "H.264 300 kbit/s": Condition(replace(_NOISY, bitrate_kbps=300), "hard"),
    "VP8 300 kbit/s": Condition(replace(_NOISY, codec="vp8", bitrate_kbps=300), "hard"),
    "medium skin, dim room": Condition(replace(_DIM, skin_darkness=0.4), "hard"),
    "dark skin, dim room": Condition(replace(_DIM, skin_darkness=0.8), "hard"),
    "darkest skin, dim room": Condition(replace(_DIM, skin_darkness=1.0), "hard"),
    # Nothing to measure: any number reported is wrong.
    "no face": Condition(replace(_CAMERA, face=False), "nothing"),
    "no pulse": Condition(replace(_CAMERA, pulse_amplitude=0.0), "nothing"),
    "tiny pulse (0.05 %)": Condition(replace(_CAMERA, pulse_amplitude=0.0005), "nothing"),
    # Added later, so kept last: the clips above are drawn in this order. A face moving on its own
    # (each model its own way: the reference face speaks, the independent one warps and turns).
    "face moving on its own": Condition(replace(_CAMERA, lively=True), "hard"),
    "moving face, no pulse": Condition(replace(_CAMERA, lively=True, pulse_amplitude=0.0), "nothing"),
    # What else can make skin change in step in the heart-rate band without a pulse: light
    # flickering in the band, a codec's own swings, a head's regular movement.
    "in-band flicker, no pulse": Condition(
        replace(_CAMERA, flicker=0.03, flicker_hz=(1.3, 0.25), pulse_amplitude=0.0), "nothing"
    ),
    "H.264 High CRF 28, no pulse": Condition(
        replace(_NOISY, codec="h264-high", crf=28, pulse_amplitude=0.0), "nothing"
    ),
    "H.264 call 1 Mbit/s, no pulse": Condition(
        replace(_NOISY, bitrate_kbps=1000, pulse_amplitude=0.0), "nothing"
    ),
    "head motion, no pulse": Condition(replace(_CAMERA, head_motion_px=12.0, pulse_amplitude=0.0), "nothing"),
}
# Clips found, outside the drawn ones, to fool the estimator, kept so that the figures do not forget
# them: each of its own signal model, measured as it is (not drawn again), with nothing to measure.
FOUND: dict[str, ClipSpec] = {
    # A twin of an independent no-pulse clip that was read 21.6 bpm off (breathing at 14.3 rather
    # than 14.32 a minute): its face's own movement, which changes its lower face in step (read
    # 21.8 bpm off until the upper face was checked on its own).
    "found: moving, no pulse": replace(
        _CAMERA,
        signal_model="independent",
        pulse_amplitude=0.0,
        heart_rate_bpm=70.0,
        respiratory_rate_bpm=14.3,
        seed=1667850725,
    ),
    # Found by `--search` (seed 2026): an independent clip with a 0.05 % pulse, read 52.8 bpm off
    # (54.9 for 107.7) once two agreeing projections were weighed by the clearer of their peaks,
    # and refused again when they were weighed by the fainter.
    "found: tiny pulse": replace(
        _CAMERA,
        signal_model="independent",
        pulse_amplitude=0.0005,
        heart_rate_bpm=107.71554205302186,
        respiratory_rate_bpm=18.883954263166768,
        seed=1662607948,
    ),
}
_GROUPS: tuple[Group, ...] = ("ordinary", "hard", "nothing")
_EVERY_CONDITION = CONDITIONS | {name: Condition(spec, "nothing") for name, spec in FOUND.items()}
MODELS: tuple[SignalModel, ...] = ("reference", "independent")
# The goals: every ordinary clip measured; on the hard ones, at least this share measured
# within HARD_WITHIN_BPM; no reported rate more than MAX_ERROR_BPM off anywhere; the mean error of
# what is reported within MAX_MAE_BPM.
HARD_SHARE = 0.4
HARD_WITHIN_BPM = 5.0
MAX_ERROR_BPM = 10.0
MAX_MAE_BPM = 2.0
SPEED_GOAL = 20.0
_PASSES = 3
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Measurement:
    clip: SyntheticClip
    vitals: VitalSigns
    seconds: float

    @property
    def error_bpm(self) -> float | None:
        rate = self.vitals.heart_rate_bpm
        return None if rate is None else abs(rate - self.clip.heart_rate_bpm)

    @property
    def breathing_error(self) -> float | None:
        rate = self.vitals.respiratory_rate_bpm
        return None if rate is None else abs(rate - self.clip.respiratory_rate_bpm)


def _benchmark_draw() -> list[tuple[str, ClipSpec]]:
    """The benchmark's clips, by condition, before a signal model is chosen: the same true rates
    and seeds for both models, so that only the signal model differs."""
    rng = np.random.default_rng(SEED)
    return [
        (name, varied(condition.spec, rng))
        for name, condition in CONDITIONS.items()
        for _ in range(CLIPS_PER_CONDITION)
    ]


def rppg_figures() -> None:
    drawn = _benchmark_draw()
    jobs = [(model, name, replace(spec, signal_model=model)) for model in MODELS for name, spec in drawn]
    jobs += [(spec.signal_model, name, spec) for name, spec in FOUND.items()]
    CLIP_CACHE.mkdir(parents=True, exist_ok=True)
    with _one_thread_for_children():
        started = time.perf_counter()
        # Rendering and encoding the clips may use both cores (each clip once: they are kept).
        with ProcessPoolExecutor(max_workers=2) as pool:
            clips = list(pool.map(_rendered, [spec for _, _, spec in jobs]))
        rendered = time.perf_counter() - started
        # Measured in fresh processes that started with one BLAS thread (the variable is read
        # when numpy loads), one OpenCV thread and one decoder thread, two clips at a time.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as workers:
            measurements = list(workers.map(_measure, clips))
        # Speed alone on the clean clips of the reference model, each its best of three passes
        # minutes apart, one at a time: other work on the machine only adds time, in bursts.
        timed = [
            c
            for (model, name, _), c in zip(jobs, clips, strict=True)
            if model == "reference" and name == "clean"
        ]
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as worker:
            passes = [list(worker.map(_measure, timed)) for _ in range(_PASSES)]
        speeds = [min(runs, key=lambda run: run.seconds) for runs in zip(*passes, strict=True)]
    results: dict[SignalModel, dict[str, list[Measurement]]] = {
        m: {n: [] for n in _EVERY_CONDITION} for m in MODELS
    }
    for (model, name, _), measurement in zip(jobs, measurements, strict=True):
        results[model][name].append(measurement)
    print(
        f"rPPG on {len(clips)} synthetic clips: {len(CONDITIONS)} conditions x {CLIPS_PER_CONDITION} clips x "
        f"{len(MODELS)} signal models and {len(FOUND)} found ({CLIP_SECONDS:.0f} s, 640x480, 30 fps; "
        "true HR 55-110 bpm, "
        f"RR 10-20/min; rendered in {rendered:.0f} s, kept in {CLIP_CACHE.name}/)"
    )
    for model in MODELS:
        print(f"  signal model: {model}")
        _print_table(results[model])
        _print_goals(results[model])
    _print_speed(speeds)
    with tempfile.TemporaryDirectory(prefix="bench-rppg-") as folder:
        _print_memory(Path(folder))
    _print_start_up()
    _print_half_hour()


def _rendered(spec: ClipSpec) -> SyntheticClip:
    """The clip of `spec`, rendered once and kept with its truth beside it."""
    digest = hashlib.sha256(_cache_key(spec).encode()).hexdigest()[:20]
    path = CLIP_CACHE / f"{digest}{clip_suffix(spec)}"
    truth = path.with_suffix(".json")
    if path.exists() and truth.exists():
        known = json.loads(truth.read_text())
        return SyntheticClip(path, spec, known["heart_rate_bpm"], known["respiratory_rate_bpm"], ())
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    clip = write_clip(spec, partial)
    partial.replace(path)
    truth.write_text(
        json.dumps({"heart_rate_bpm": clip.heart_rate_bpm, "respiratory_rate_bpm": clip.respiratory_rate_bpm})
    )
    return replace(clip, path=path)


# ClipSpec's fields added after clips were first kept: left out of the key while at their default,
# so that a clip rendered before they existed is still found (it is the same clip).
_FIELDS_ADDED_LATER = ("lively",)


def _cache_key(spec: ClipSpec) -> str:
    defaults = ClipSpec()
    later = [name for name in _FIELDS_ADDED_LATER if getattr(spec, name) == getattr(defaults, name)]
    shown = ", ".join(
        f"{field.name}={getattr(spec, field.name)!r}" for field in fields(spec) if field.name not in later
    )
    return f"{type(spec).__name__}({shown})"


@contextmanager
def _one_thread_for_children() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _measure(clip: SyntheticClip) -> Measurement:
    """The estimate and its time, on one thread."""
    cv2.setNumThreads(1)
    started = time.perf_counter()
    vitals = estimate_vitals(clip.path, threads=1)
    return Measurement(clip, vitals, time.perf_counter() - started)


def _print_table(results: dict[str, list[Measurement]]) -> None:
    width = max(len(name) for name in _EVERY_CONDITION)
    header = (
        f"    {'condition':<{width}} {'group':<8} {'measured':>8} {'<=5 bpm':>7}  "
        f"{'HR MAE':>6} {'HR max':>6}  {'RR read':>7} {'RR MAE':>6}  refusal reasons"
    )
    print(header)
    measured = [(name, measurements) for name, measurements in results.items() if measurements]
    in_groups = sorted(measured, key=lambda item: _GROUPS.index(_EVERY_CONDITION[item[0]].group))
    for name, measurements in in_groups:
        errors = [m.error_bpm for m in measurements if m.error_bpm is not None]
        breathing = [m.breathing_error for m in measurements if m.breathing_error is not None]
        mae = float(np.mean(errors)) if errors else None
        breathing_mae = float(np.mean(breathing)) if breathing else None
        reasons = Counter(str(m.vitals.reason) for m in measurements if m.vitals.reason is not None)
        within = sum(e <= HARD_WITHIN_BPM for e in errors)
        print(
            f"    {name:<{width}} {_EVERY_CONDITION[name].group:<8} {len(errors):>4}/{len(measurements):<3} "
            f"{within:>4}/{len(measurements):<2}  {_figure(mae):>6} {_figure(max(errors, default=None)):>6}  "
            f"{len(breathing):>4}/{len(measurements):<2} {_figure(breathing_mae):>6}  "
            f"{', '.join(f'{reason} x{count}' for reason, count in sorted(reasons.items()))}"
        )


def _print_goals(results: dict[str, list[Measurement]]) -> None:
    def of(group: Group) -> list[Measurement]:
        return [m for name, ms in results.items() if _EVERY_CONDITION[name].group == group for m in ms]

    ordinary, hard, nothing = of("ordinary"), of("hard"), of("nothing")
    measured_ordinary = sum(m.error_bpm is not None for m in ordinary)
    hard_within = sum(m.error_bpm is not None and m.error_bpm <= HARD_WITHIN_BPM for m in hard)
    reported = [m.error_bpm for m in ordinary + hard if m.error_bpm is not None]
    wrong = sum(m.vitals.heart_rate_bpm is not None for m in nothing)
    # Anywhere: a rate where there is no pulse (or a 0.05 % one) counts, against its clip's truth.
    worst = max((m.error_bpm for m in ordinary + hard + nothing if m.error_bpm is not None), default=0.0)
    mae = float(np.mean(reported)) if reported else 0.0

    def verdict(met: bool) -> str:
        return "met" if met else "NOT MET"

    print("    goals:")
    print(
        f"      ordinary conditions: {measured_ordinary}/{len(ordinary)} clips measured "
        f"(goal: all): {verdict(measured_ordinary == len(ordinary))}"
    )
    print(
        f"      hard conditions: {hard_within}/{len(hard)} measured within {HARD_WITHIN_BPM:g} bpm "
        f"({hard_within / len(hard):.0%}; goal >= {HARD_SHARE:.0%}): "
        f"{verdict(hard_within >= HARD_SHARE * len(hard))}"
    )
    print(
        f"      largest error of any reported heart rate, anywhere: {worst:.1f} bpm "
        f"(goal <= {MAX_ERROR_BPM:g}): "
        f"{verdict(worst <= MAX_ERROR_BPM)}"
    )
    print(
        f"      mean error of the {len(reported)} reported: {mae:.2f} bpm (goal <= {MAX_MAE_BPM:g}): "
        f"{verdict(mae <= MAX_MAE_BPM)}"
    )
    print(
        f"      heart rates reported where there is nothing to measure: {wrong} (goal 0): "
        f"{verdict(wrong == 0)}"
    )


def _print_speed(speeds: list[Measurement]) -> None:
    rates = sorted(m.clip.spec.duration_s / m.seconds for m in speeds)
    print(
        f"  speed on one thread (the reference model's clean clips, best of {_PASSES}): "
        f"slowest {rates[0]:.1f}x real time, median {rates[len(rates) // 2]:.1f}x (goal >= {SPEED_GOAL:g}x)"
    )


def _print_memory(folder: Path) -> None:
    """Peak memory of a fresh process measuring a clip and one four times longer, both longer than
    the stretch of samples the estimator keeps (about 70 s).

    Resident size is what the container needs (mostly libraries: OpenCV, FFmpeg, SciPy); the
    traced peak (Python and numpy allocations) is where anything kept per frame would show.
    """
    figures = []
    readings = []
    for seconds in _MEMORY_CLIPS_S:
        spec = replace(_CAMERA, duration_s=seconds, heart_rate_bpm=76.0)
        clip = write_clip(spec, folder / f"memory{seconds:.0f}.mp4")
        resident, traced, rate = _peak_memory_mb(clip.path)
        figures.append((resident, traced))
        readings.append(f"{rate} bpm of {clip.heart_rate_bpm:.1f}")
    (resident_short, traced_short), (resident_long, traced_long) = figures
    short, long = _MEMORY_CLIPS_S
    print(
        f"  memory: peak RSS {resident_short:.0f} MB for a {short:.0f} s clip, {resident_long:.0f} MB for "
        f"{long:.0f} s; traced peak {traced_short:.2f} MB and {traced_long:.2f} MB "
        f"({1e6 * (traced_long - traced_short) / ((long - short) * 30):.1f} bytes per frame more; "
        f"read {' and '.join(readings)})"
    )


_MEMORY_CLIPS_S = (90.0, 360.0)
_MEMORY_PROBE = """
import resource, sys, tracemalloc
from media_workers.rppg.estimate import estimate_vitals
tracemalloc.start()
rate = estimate_vitals(sys.argv[1]).heart_rate_bpm
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, tracemalloc.get_traced_memory()[1], rate)
"""


def _peak_memory_mb(path: Path) -> tuple[float, float, str]:
    """Peak resident and peak traced memory (MB) of a fresh process measuring the clip, and the
    heart rate it read."""
    completed = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(path)], check=True, capture_output=True, text=True
    )
    resident_kib, traced_bytes, rate = completed.stdout.split()[-3:]
    reading = "no reading" if rate == "None" else f"{float(rate):.1f}"
    return int(resident_kib) / 1024.0, int(traced_bytes) / 1e6, reading  # ru_maxrss is KiB on Linux


_STARTUP_RUNS = 5


def _print_start_up() -> None:
    """The whole CLI on a 30 s clip, in a fresh process, against what importing it costs (the
    median of five runs each), and what SciPy's signal module alone would add."""
    clip = _rendered(replace(_CAMERA, duration_s=30.0, heart_rate_bpm=74.0))
    cli = [sys.executable, "-m", "media_workers.rppg", str(clip.path), "--json"]
    imports = [sys.executable, "-c", "import media_workers.rppg.__main__, media_workers.rppg.estimate"]
    scipy = [sys.executable, "-c", "import scipy.signal"]
    whole, imported, scipy_alone = (
        statistics.median(_wall_seconds(command) for _ in range(_STARTUP_RUNS))
        for command in (cli, imports, scipy)
    )
    print(
        f"  start-up: the CLI on a 30 s clip takes {whole:.2f} s in a fresh process, of which importing "
        f"it {imported:.2f} s ({imported / whole:.0%}); `import scipy.signal` alone, which it no longer "
        f"needs, would add {scipy_alone:.2f} s"
    )


def _wall_seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


_HALF_HOUR_S = 1800.0
_LOOPED_S = 60.0


def _print_half_hour() -> None:
    """The worker's method on a 30-minute recording: a minute's clip, its packets repeated thirty
    times into one file (remuxed, not rendered again), measured in a fresh process."""
    spec = replace(_CAMERA, duration_s=_LOOPED_S, heart_rate_bpm=70.0, hrv_bpm=0.0)
    minute = _rendered(spec)
    path = CLIP_CACHE / f"half-hour-{minute.path.name}"
    if not path.exists():
        partial = path.with_name(f"partial-{path.name}")
        _repeated(minute.path, partial, round(_HALF_HOUR_S / _LOOPED_S))
        partial.replace(path)
    started = time.perf_counter()
    resident, traced, rate = _peak_memory_mb(path)
    seconds = time.perf_counter() - started
    print(
        f"  a 30-minute recording (640x480, 30 fps, H.264): {seconds:.0f} s in a fresh process "
        f"({_HALF_HOUR_S / seconds:.0f}x real time, every thread the machine gives), peak RSS "
        f"{resident:.0f} MB, traced peak {traced:.2f} MB; read {rate} bpm of {minute.heart_rate_bpm:.1f}"
    )


def _repeated(source: Path, target: Path, times: int) -> None:
    """`source`'s video packets `times` over, each repeat's timestamps after the last."""
    with av.open(str(source)) as reading, av.open(str(target), "w") as writing:
        stream_in = reading.streams.video[0]
        stream_out = writing.add_stream_from_template(stream_in)
        packets = [p for p in reading.demux(stream_in) if p.dts is not None and p.pts is not None]
        stamps = sorted(int(p.pts or 0) for p in packets)
        step = int(statistics.median(later - earlier for earlier, later in pairwise(stamps)))
        span = stamps[-1] - stamps[0] + step  # one repeat, in the stream's time base
        for repeat in range(times):
            for packet in packets:
                copy = av.Packet(bytes(packet))
                copy.pts = int(packet.pts or 0) + repeat * span
                copy.dts = int(packet.dts or 0) + repeat * span
                copy.time_base = packet.time_base
                copy.is_keyframe = packet.is_keyframe
                copy.stream = stream_out
                writing.mux(copy)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def search(count: int, seed: int) -> list[Measurement]:
    """Draw `count` clips per signal model of each condition with nothing to measure, apart from
    the benchmark's (another seed), and print every one that is read: a clip to keep in FOUND."""
    rng = np.random.default_rng(seed)
    nothing = [name for name, condition in CONDITIONS.items() if condition.group == "nothing"]
    specs = [
        replace(varied(CONDITIONS[name].spec, rng), signal_model=model)
        for _ in range(count)
        for name in nothing
        for model in MODELS
    ]
    with tempfile.TemporaryDirectory(prefix="bench-rppg-search-") as folder, _one_thread_for_children():
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as workers:
            measured = list(workers.map(_rendered_and_measured, specs, [Path(folder)] * len(specs)))
    read = [m for m in measured if m.vitals.heart_rate_bpm is not None]
    # Per reason, how many and how near the gate they came: a light or a moving face can be
    # refused at any quality, a weak pulse only below the gate.
    refused: dict[str, list[float]] = {}
    for m in measured:
        if m.vitals.reason is not None:
            refused.setdefault(str(m.vitals.reason), []).append(m.vitals.quality)
    reasons = ", ".join(
        f"{reason} x{len(qualities)} (quality up to {max(qualities):.2f})"
        for reason, qualities in sorted(refused.items())
    )
    print(
        f"searched {len(measured)} clips with nothing to measure (seed {seed}; {count} per model of "
        f"{', '.join(nothing)}): {len(read)} read; refused: {reasons}"
    )
    for m in read:
        print(f"  read {m.vitals.heart_rate_bpm:.1f} bpm (quality {m.vitals.quality:.2f}): {m.clip.spec!r}")
    return read


# Where the brightness and a projection of colour peak this close to a clip's true rate, its
# pulse is there to be vouched for: its scores count in the gates.
_AT_ITS_RATE_BPM = 3.0


def calibrate(count: int, seed: int) -> None:
    """Print the least score each part of the face gave a pulse of the reference model at its own
    rate, read or not, and the gates that follow (see media_workers.rppg.pulse.FACE_PARTS): over
    the benchmark's reference clips and `count` more per condition with a pulse, drawn with
    `seed`."""
    drawn = _benchmark_draw()
    rng = np.random.default_rng(seed)
    drawn += [
        (name, varied(condition.spec, rng))
        for _ in range(count)
        for name, condition in CONDITIONS.items()
        if condition.group != "nothing"
    ]
    with_a_pulse = [
        (name, replace(spec, signal_model="reference"))
        for name, spec in drawn
        if CONDITIONS[name].group != "nothing"
    ]
    with _one_thread_for_children():
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as workers:
            checked = list(workers.map(_blood_checked, [spec for _, spec in with_a_pulse]))
    counted = [
        (name, check)
        for (name, _), (truth, check) in zip(with_a_pulse, checked, strict=True)
        if check is not None
        and check.brightness_and_colour_agree
        and abs(check.rate_bpm - truth) <= _AT_ITS_RATE_BPM
    ]
    print(
        f"gates from {len(counted)} of {len(with_a_pulse)} reference clips with a pulse (the "
        f"benchmark's, and {count} per condition with seed {seed}) where the brightness and colour "
        f"peak within {_AT_ITS_RATE_BPM:g} bpm of the true rate:"
    )
    for number, part in enumerate(FACE_PARTS):
        name, least = min(counted, key=lambda row: row[1].in_step[number])
        score = least.in_step[number]
        print(
            f"  part {number} ({len(part.patches)} patches): least {score:.4f} ({name}); vouching "
            f"{math.floor(score * 100) / 100:.2f} (code: {part.vouching_in_step}), veto "
            f"{math.floor(score * 5) / 10:.1f} (code: {part.least_in_step})"
        )


def _blood_checked(spec: ClipSpec) -> tuple[float, BloodCheck | None]:
    """A clip's true rate, and the checks of blood behind what it reads."""
    cv2.setNumThreads(1)
    clip = _rendered(spec)
    reader = read_video(clip.path, threads=1)
    reader.vital_signs()
    return clip.heart_rate_bpm, reader.blood_check()


def _rendered_and_measured(spec: ClipSpec, folder: Path) -> Measurement:
    clip = write_clip(spec, folder / f"{spec.signal_model}-{spec.seed}{clip_suffix(spec)}")
    try:
        return _measure(clip)
    finally:
        clip.path.unlink()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description="The rPPG benchmark's figures, or a search for clips that fool it."
    )
    parser.add_argument(
        "--search",
        type=int,
        metavar="N",
        help="draw N clips per model of each condition with nothing to measure",
    )
    parser.add_argument(
        "--calibrate",
        type=int,
        metavar="N",
        help="print the vouching gates from the benchmark's reference clips and N more per condition",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=2026,
        help="the search's seed (default %(default)s; the benchmark's clips are drawn with SEED)",
    )
    arguments = parser.parse_args()
    if arguments.calibrate:
        calibrate(arguments.calibrate, arguments.seed)
    elif arguments.search:
        search(arguments.search, arguments.seed)
    else:
        rppg_figures()
