"""Finding the face, following it between detections, and averaging the colour of its skin.

A Haar cascade bundled with OpenCV 4 finds the face (another of them, on the contrast raised,
where the first finds none: see _DETECTORS): once a second, over the whole frame until it is
found, then near where it is followed (detection is the costliest step). Between detections,
Lucas-Kanade optical flow of a few corners inside the face moves the box. A detection does not
move the box at once: it sets a target the box eases towards, because a box that jumped at every
detection would put a step into the colour trace at a steady rhythm, a tone (1 Hz and its
harmonics: 60, 120, 180 bpm) in the very band the pulse is read from. A skin mask, a YCbCr range
learnt from the middle of the face, keeps hair, eyes, brows and background out of the average.

Per frame, the tracker reduces the image to a handful of numbers (`SkinSample`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import cache

import cv2
import cv2.data
import numpy as np
import numpy.typing as npt

from media_workers.rppg.video import Frame, ycbcr_to_rgb

# How often to look for the face: while following one, and while none is found.
DETECT_INTERVAL_S = 1.0
SEARCH_INTERVAL_S = 1.0
# After this many searches in a row that find nothing, the search slows to the second interval:
# a search over the whole frame costs a tenth of a second's budget (twice that when it finds
# nothing, both of _DETECTORS having looked), and a camera with no one in front of it would spend
# it every second.
EMPTY_SEARCHES_BEFORE_IDLE = 3
IDLE_SEARCH_INTERVAL_S = 2.0
# A followed face is given up after this many detections in a row that miss it.
MISSES_BEFORE_LOST = 3
# Time constant with which the box eases towards a new detection.
EASING_S = 1.0
# Detections this close to the box (centre offset and size change, relative to the size) are
# treated as the same box, so that a detector's jitter does not move it at all.
SAME_BOX_TOLERANCE = 0.06
# The part of the detector's box averaged (fractions of width and height): the detector's box
# reaches beyond the cheeks at the sides, so its margins are left out.
_SKIN_REGION = (0.15, 0.08, 0.85, 0.95)
# Less than this share of the frame outside the skin's region, and its surroundings are not read.
_MIN_SURROUNDINGS_SHARE = 0.1
# Where the skin's colour is learnt: below the eyes, between the cheeks, above the mouth.
_MODEL_REGION = (0.3, 0.45, 0.7, 0.72)
# Half-widths of the skin colour range around the learnt colour, in chroma levels, and the
# luma range relative to the learnt luma (a shaded cheek still counts; a highlight or clipped
# pixel, which carries no pulse, does not).
_CHROMA_TOLERANCE = 12
_LUMA_RANGE = (0.45, 1.7)
_SATURATED_LUMA = 250
# A pixel joins the skin this far inside the range and leaves it only this far outside (levels of
# luma, of chroma): a few times what a pulse changes a pixel by (a 1 % pulse on skin of luma 150
# is 1.5 levels; its chroma, less than one), so a pixel near the range's edge (a brow's, the
# hairline's) does not drop out and come back with every beat, against the pulse.
_HYSTERESIS = (3.0, 2.0)
# The part of the frame optical flow looks at, relative to the box: the face and a margin.
_FLOW_REGION = (-0.3, -0.3, 1.3, 1.3)
# The share of the averaged region, at each edge, over which pixels fade in (see Box.taper).
_TAPER_FRACTION = 0.2
# A face shorter than this fraction of the frame's height is too small to read.
_MIN_FACE_FRACTION = 0.12
_MIN_TRACKED_POINTS = 6
# Around a followed face, the detector looks this far beyond its box (in face widths), for
# a face between these sizes (relative to the box): the tracker keeps the box close between
# detections, and every pixel and size scanned costs time.
_NEAR_MARGIN = 0.25
_NEAR_SIZES = (0.8, 1.25)
# The least size, in pixels, a face is looked for at (the cascade's own window is 24).
_DETECTION_PX = 1000
# Candidate windows that must overlap for the detector to call it a face.
_MIN_NEIGHBOURS = 3
# The detectors tried in turn until one finds a face (the second costs nothing where the first
# finds one, and as much again where it does not): OpenCV's bundled cascades, each on the frame's
# brightness equalised locally with this clip limit. The default cascade, gently equalised, sees a
# face in dim light and a dark face against a bright background; but a dark face in a dim room is
# lost in it (the benchmark's darkest skin in a dim room was found in no more than one frame in
# twenty). Equalised strongly, the "alt2" cascade finds it in most (16 to 18 in twenty, on the
# independent model) and, unlike the default cascade equalised as strongly, found no face in the
# frames of the clips without one. A face already followed is looked for the same way: where the
# first misses it, the second's box (framed a little differently) is the target the box eases
# towards. And where the first finds only what is not skin-coloured, the second does not look.
_DETECTORS = (
    ("haarcascade_frontalface_default.xml", 2.0),
    ("haarcascade_frontalface_alt2.xml", 8.0),
)
# A face found by a search is taken when the next search finds it again within this tolerance.
_CONFIRM_TOLERANCE = 0.25
# Least difference of red and blue chroma (levels) in the middle of a face (see _skin_colour).
_MIN_SKIN_CHROMA_SPREAD = 6
# The averaged region is also read as a grid of patches (rows, columns), whose brightness the pulse
# changes in step and a moving face does not (see media_workers.rppg.pulse). A patch with less than
# this share of the region's skin is not read (an eye, the mouth).
SKIN_PATCH_GRID = (4, 3)
_MIN_PATCH_SHARE = 0.03


@dataclass(frozen=True, slots=True)
class SkinSample:
    """What one frame contributes to the measurement."""

    face_found: bool
    red: float  # mean colour of the face's skin, 0-255 (NaN without a face)
    green: float
    blue: float
    skin_luma: float  # mean brightness of that skin, 0-1 (NaN without a face)
    frame_luma: float  # mean brightness of the whole frame, 0-1
    vertical_position: float  # the face's vertical displacement so far, in face heights
    horizontal_position: float  # and its horizontal displacement, in face widths
    speed: float  # how fast the face moves, in face widths per second (0 without a face)
    # Mean brightness (0-1) of the skin in each patch of SKIN_PATCH_GRID, row by row (NaN where a
    # patch has too little skin; empty without a face, which the trace keeps as NaN).
    patch_luma: tuple[float, ...] = ()
    # Mean brightness (0-1) of the frame outside the skin's region: lit by the same light, with
    # little blood in it (NaN without a face, or with too little of the frame outside it).
    surroundings_luma: float = math.nan


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    def moved(self, dx: float, dy: float) -> Box:
        return Box(self.x + dx, self.y + dy, self.width, self.height)

    def eased_towards(self, target: Box, fraction: float) -> Box:
        return Box(
            self.x + fraction * (target.x - self.x),
            self.y + fraction * (target.y - self.y),
            self.width + fraction * (target.width - self.width),
            self.height + fraction * (target.height - self.height),
        )

    def close_to(self, other: Box, tolerance: float) -> bool:
        size = max(self.width, 1.0)
        centre_offset = math.hypot(
            (self.x + self.width / 2) - (other.x + other.width / 2),
            (self.y + self.height / 2) - (other.y + other.height / 2),
        )
        return centre_offset <= tolerance * size and abs(self.width - other.width) <= tolerance * size

    def edges(self, fractions: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Left, top, right and bottom of a part of the box, in pixels (to a fraction of one)."""
        left, top, right, bottom = fractions
        return (
            self.x + left * self.width,
            self.y + top * self.height,
            self.x + right * self.width,
            self.y + bottom * self.height,
        )

    def region(
        self, fractions: tuple[float, float, float, float], shape: tuple[int, ...]
    ) -> tuple[slice, slice]:
        """Rows and columns of a part of the box, clipped to the image."""
        left, top, right, bottom = self.edges(fractions)
        rows, columns = shape[0], shape[1]
        x0 = min(max(int(left), 0), columns)
        x1 = min(max(int(right), 0), columns)
        y0 = min(max(int(top), 0), rows)
        y1 = min(max(int(bottom), 0), rows)
        return slice(y0, y1), slice(x0, x1)

    def taper(
        self, fractions: tuple[float, float, float, float], region: tuple[slice, slice]
    ) -> npt.NDArray[np.float64]:
        """Weights over `region` that fall smoothly to zero at the edges of that part of the box.

        The box moves by fractions of a pixel; the region it covers can only move by whole
        pixels. With hard edges, each whole-pixel step would swap a row of face for another, a
        step in the colour trace; with edges that fade in and out, placed to the fraction of a
        pixel, the average moves as smoothly as the face does.
        """
        left, top, right, bottom = self.edges(fractions)
        rows, columns = region
        return np.outer(_edge_taper(rows, top, bottom), _edge_taper(columns, left, right))

    def patch_shares(
        self, fractions: tuple[float, float, float, float], region: tuple[slice, slice]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """How much of each row and each column of `region` falls in each row and each column of
        SKIN_PATCH_GRID over that part of the box (grid rows by region rows, grid columns by
        region columns).

        As with the taper: the boundaries between patches are placed to the fraction of a pixel,
        so a pixel straddling one counts in both. Were they whole pixels, each whole-pixel step of
        a moving box would move a row of face (a brow, an eyelid) from one patch to its neighbour,
        a step up in one and down in the other, which is how a moving face looks (see
        media_workers.rppg.pulse), and at the very rate a pulse is read if the box moves steadily.
        """
        left, top, right, bottom = self.edges(fractions)
        rows, columns = region
        grid_rows, grid_columns = SKIN_PATCH_GRID
        return _pixel_shares(rows, top, bottom, grid_rows), _pixel_shares(columns, left, right, grid_columns)


@dataclass(frozen=True, slots=True)
class SkinColour:
    luma: float
    blue_chroma: float
    red_chroma: float


class FaceTracker:
    """Follows one face through a video, frame by frame; holds only the previous frame."""

    def __init__(self) -> None:
        self._box: Box | None = None
        self._target: Box | None = None
        self._skin: SkinColour | None = None
        self._points: npt.NDArray[np.float32] | None = None
        self._previous_luma: npt.NDArray[np.uint8] | None = None
        self._previous_time = 0.0
        self._next_detection_s = 0.0
        self._misses = 0
        self._candidate: Box | None = None
        self._empty_searches = 0
        self._vertical_position = 0.0
        self._horizontal_position = 0.0
        # Which pixels of the frame were skin in the last frame (see _skin_mask).
        self._mask: npt.NDArray[np.uint8] | None = None

    def update(self, frame: Frame) -> SkinSample:
        elapsed = max(frame.time_s - self._previous_time, 1e-3)
        previous_box = self._box
        if self._box is not None:
            self._follow(frame.luma)
        if frame.time_s >= self._next_detection_s:
            self._detect(frame)
        if self._box is not None and self._target is not None:
            self._box = self._box.eased_towards(self._target, 1 - math.exp(-elapsed / EASING_S))
        self._previous_luma = frame.luma
        self._previous_time = frame.time_s
        frame_mean = cv2.mean(frame.luma)[0]
        frame_luma = _normalised_luma(frame_mean, full_range=frame.full_range)
        sample = self._skin_sample(frame, frame_luma)
        if sample is None:
            return SkinSample(False, *(math.nan,) * 4, frame_luma, math.nan, math.nan, 0.0)
        colour, patches = sample
        speed = 0.0
        if previous_box is not None and self._box is not None:
            shift = math.hypot(self._box.x - previous_box.x, self._box.y - previous_box.y)
            speed = shift / self._box.width / elapsed
        return SkinSample(
            True,
            *colour,
            frame_luma,
            self._vertical_position,
            self._horizontal_position,
            speed,
            patches,
            self._surroundings_luma(frame, frame_mean),
        )

    def _surroundings_luma(self, frame: Frame, frame_mean: float) -> float:
        """Mean brightness of the frame outside the skin's region, or NaN if too little is."""
        assert self._box is not None
        luma = frame.luma
        rows, columns = self._box.region(_SKIN_REGION, luma.shape)
        inside = (rows.stop - rows.start) * (columns.stop - columns.start)
        outside = luma.size - inside
        if outside < _MIN_SURROUNDINGS_SHARE * luma.size:
            return math.nan
        total = frame_mean * luma.size - cv2.sumElems(luma[rows, columns])[0]
        return _normalised_luma(total / outside, full_range=frame.full_range)

    def _follow(self, luma: npt.NDArray[np.uint8]) -> None:
        """Move the box by the median optical flow of the corners inside it."""
        assert self._box is not None
        if self._previous_luma is None or self._points is None or len(self._points) < _MIN_TRACKED_POINTS:
            self._seed_points(luma if self._previous_luma is None else self._previous_luma)
        if self._previous_luma is None or self._points is None or len(self._points) < _MIN_TRACKED_POINTS:
            return
        # Flow is computed on the face and a margin only: the image pyramid of the whole frame
        # would cost more than the flow itself.
        region = self._box.region(_FLOW_REGION, luma.shape)
        origin = np.array([region[1].start, region[0].start], dtype=np.float32)
        moved, status, _error = cv2.calcOpticalFlowPyrLK(
            np.ascontiguousarray(self._previous_luma[region]),
            np.ascontiguousarray(luma[region]),
            self._points - origin,
            self._points - origin,  # the output's buffer: its values are not used
            winSize=(11, 11),
            # One pyramid level follows up to about 10 pixels a frame, ten times a head moving
            # as fast as is read (MAX_SPEED); each level more costs a third again.
            maxLevel=1,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03),
        )
        moved += origin
        tracked = status.ravel() == 1
        if tracked.sum() < _MIN_TRACKED_POINTS:
            self._lose_face()
            return
        shifts = (moved - self._points)[tracked].reshape(-1, 2)
        # The median of a score of points: Python's is many times quicker than numpy's at this size.
        dx, dy = (statistics.median(shifts[:, axis].tolist()) for axis in (0, 1))
        # Corners that moved unlike the face (an eye blinking, a strand of hair) are dropped.
        consistent = np.hypot(shifts[:, 0] - dx, shifts[:, 1] - dy) < 1.0
        self._points = moved[tracked][consistent].reshape(-1, 1, 2)
        self._box = self._box.moved(dx, dy)
        if self._target is not None:
            self._target = self._target.moved(dx, dy)
        self._vertical_position += dy / self._box.height
        self._horizontal_position += dx / self._box.width

    def _detect(self, frame: Frame) -> None:
        if self._box is None:
            self._search(frame)
        else:
            self._redetect(frame, self._box)

    def _search(self, frame: Frame) -> None:
        """Look for a face in the whole frame; follow it once two searches in a row agree on it.

        A detector finds a face-like patch now and then (a collar, a pattern on a wall); such a
        patch rarely comes back in the same place, a face does. So the second search looks only
        where the first found one (a tenth of the cost of the whole frame); if it is not there,
        the next search is over the whole frame again.
        """
        near = self._candidate
        faces = [face for face in _detect_faces(frame.luma, near) if _skin_colour(frame, face[0]) is not None]
        self._empty_searches = 0 if faces else self._empty_searches + 1
        idle = self._empty_searches >= EMPTY_SEARCHES_BEFORE_IDLE
        self._next_detection_s = frame.time_s + (IDLE_SEARCH_INTERVAL_S if idle else SEARCH_INTERVAL_S)
        # The most certain face (the first) or, on a second search, the one nearest the first's.
        found = _nearest(faces, near or faces[0][0]) if faces else None
        candidate, self._candidate = self._candidate, found
        if found is None or candidate is None or not candidate.close_to(found, _CONFIRM_TOLERANCE):
            return
        self._box = self._target = found
        self._skin = _skin_colour(frame, found)
        self._misses = 0
        self._seed_points(frame.luma)

    def _redetect(self, frame: Frame, box: Box) -> None:
        """Look for the face near where it is followed, to correct the box's drift and size."""
        self._next_detection_s = frame.time_s + DETECT_INTERVAL_S
        detection = _nearest(_detect_faces(frame.luma, box), box)
        if detection is None:
            self._misses += 1
            if self._misses >= MISSES_BEFORE_LOST:
                self._lose_face()
            return
        self._misses = 0
        if self._target is None or not self._target.close_to(detection, SAME_BOX_TOLERANCE):
            self._target = detection
        self._seed_points(frame.luma)

    def _seed_points(self, luma: npt.NDArray[np.uint8]) -> None:
        assert self._box is not None
        region = self._box.region(_SKIN_REGION, luma.shape)
        mask = np.zeros(luma.shape, np.uint8)
        mask[region] = 255
        corners = cv2.goodFeaturesToTrack(luma, maxCorners=20, qualityLevel=0.01, minDistance=3, mask=mask)
        self._points = None if corners is None else corners.astype(np.float32)

    def _lose_face(self) -> None:
        self._mask = None
        self._box = None
        self._target = None
        self._points = None
        self._skin = None
        self._candidate = None
        self._misses = 0

    def _skin_mask(
        self, frame: Frame, region: tuple[slice, slice], *, skin: SkinColour
    ) -> npt.NDArray[np.uint8]:
        """Which pixels of `region` are skin (255) and which not (0): those of the skin's colour
        range, with the hysteresis of _HYSTERESIS against the last frame."""
        luma, blue, red = (plane[region] for plane in (frame.luma, frame.blue_chroma, frame.red_chroma))
        black = 0.0 if frame.full_range else 16.0

        def within(luma_margin: float, chroma_margin: float) -> npt.NDArray[np.uint8]:
            low_luma = black + _LUMA_RANGE[0] * (skin.luma - black) - luma_margin
            high_luma = min(black + _LUMA_RANGE[1] * (skin.luma - black) + luma_margin, _SATURATED_LUMA)
            tolerance = _CHROMA_TOLERANCE + chroma_margin
            inside = cv2.bitwise_and(
                cv2.inRange(luma, low_luma, high_luma),
                cv2.bitwise_and(
                    cv2.inRange(blue, skin.blue_chroma - tolerance, skin.blue_chroma + tolerance),
                    cv2.inRange(red, skin.red_chroma - tolerance, skin.red_chroma + tolerance),
                ),
            )
            return np.asarray(inside, dtype=np.uint8)

        luma_margin, chroma_margin = _HYSTERESIS
        entering = within(-luma_margin, -chroma_margin)
        if self._mask is None or self._mask.shape != frame.luma.shape:
            self._mask = np.zeros(frame.luma.shape, np.uint8)
        staying = cv2.bitwise_and(within(luma_margin, chroma_margin), self._mask[region])
        mask = np.asarray(cv2.bitwise_or(entering, staying), dtype=np.uint8)
        self._mask.fill(0)
        self._mask[region] = mask
        return mask

    def _skin_sample(
        self, frame: Frame, frame_luma: float
    ) -> tuple[tuple[float, float, float, float], tuple[float, ...]] | None:
        """Mean RGB and brightness of the skin inside the box, and each patch's brightness; None
        if there is no skin to read."""
        if self._box is None or self._skin is None:
            return None
        region = self._box.region(_SKIN_REGION, frame.luma.shape)
        luma = frame.luma[region]
        if luma.shape[0] < SKIN_PATCH_GRID[0] or luma.shape[1] < SKIN_PATCH_GRID[1]:
            return None
        blue, red = frame.blue_chroma[region], frame.red_chroma[region]
        mask = self._skin_mask(frame, region, skin=self._skin)
        # Fewer than a fifth of the region's pixels: the box is not on the face any more.
        if cv2.countNonZero(mask) < 0.2 * luma.size:
            return None
        weights = self._box.taper(_SKIN_REGION, region) * (mask > 0)
        weighted_luma = weights * luma
        down, across = self._box.patch_shares(_SKIN_REGION, region)
        patch_weights, patch_sums = (down @ values @ across.T for values in (weights, weighted_luma))
        total = float(patch_weights.sum())
        mean_luma = float(patch_sums.sum()) / total
        mean_blue, mean_red = (float(np.vdot(weights, plane)) / total for plane in (blue, red))
        rgb = ycbcr_to_rgb(mean_luma, mean_blue, mean_red, full_range=frame.full_range)
        readable = patch_weights >= _MIN_PATCH_SHARE * total
        patch_luma = np.where(readable, patch_sums / np.maximum(patch_weights, 1e-9), np.nan)
        full_range = frame.full_range
        return (
            (*rgb, _normalised_luma(mean_luma, full_range=full_range)),
            tuple(_normalised_luma(value, full_range=full_range) for value in patch_luma.ravel().tolist()),
        )


@cache
def _face_cascade(name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's bundled face cascade {name} did not load")
    return cascade


@cache
def _contrast_equaliser(clip_limit: float) -> cv2.CLAHE:
    return cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(4, 4))


def _detect_faces(luma: npt.NDArray[np.uint8], near: Box | None) -> list[tuple[Box, int]]:
    """Faces in the whole frame, or only around a known box (cheaper, and sized like it), by the
    first of _DETECTORS to find any."""
    rows, columns = luma.shape
    if near is None:
        x0, y0, x1, y1 = 0, 0, columns, rows
        smallest = max(24, int(_MIN_FACE_FRACTION * rows))
        largest = rows
    else:
        margin = _NEAR_MARGIN * near.width
        x0, y0 = max(int(near.x - margin), 0), max(int(near.y - margin), 0)
        x1, y1 = (
            min(int(near.x + near.width + margin), columns),
            min(int(near.y + near.height + margin), rows),
        )
        smallest = max(24, int(_NEAR_SIZES[0] * near.width))
        largest = int(_NEAR_SIZES[1] * near.width)
    if x1 - x0 < smallest or y1 - y0 < smallest:
        return []
    # The detector's cost grows with the pixels it scans at each scale; a face it already knows the
    # size of is looked for in a crop shrunk until the smallest size sought is about _DETECTION_PX.
    scale = min(1.0, _DETECTION_PX / smallest)
    for cascade, clip_limit in _DETECTORS:
        # Equalised over the whole frame: on a crop around the face its tiles would see another
        # picture, and the face is missed.
        search = _contrast_equaliser(clip_limit).apply(luma)[y0:y1, x0:x1]
        if scale < 1.0:
            search = cv2.resize(search, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found, neighbours = _face_cascade(cascade).detectMultiScale2(
            np.ascontiguousarray(search, np.uint8),
            scaleFactor=1.1,
            minNeighbors=_MIN_NEIGHBOURS,
            minSize=(round(smallest * scale), round(smallest * scale)),
            maxSize=(round(largest * scale), round(largest * scale)),
        )
        if len(found):
            detections = [
                (Box(x0 + x / scale, y0 + y / scale, w / scale, h / scale), int(count))
                for (x, y, w, h), count in zip(found, neighbours, strict=True)
            ]
            # Most certain first: the detection the most overlapping candidates agreed on.
            return sorted(detections, key=lambda detection: -detection[1])
    return []


def _skin_colour(frame: Frame, box: Box) -> SkinColour | None:
    """The colour of the skin in the middle of a face box, or None if it is not skin-coloured.

    Skin of every tone is reddish-yellow: red chroma above neutral, blue chroma below it, by a
    margin that shrinks with the light but does not vanish. A grey or blue patch is no face.
    """
    region = box.region(_MODEL_REGION, frame.luma.shape)
    planes = (frame.luma[region], frame.blue_chroma[region], frame.red_chroma[region])
    if planes[0].size == 0:
        return None
    luma, blue, red = (float(np.median(plane)) for plane in planes)
    if red - blue < _MIN_SKIN_CHROMA_SPREAD or red <= 128:
        return None
    return SkinColour(luma, blue, red)


def _nearest(detections: list[tuple[Box, int]], to: Box) -> Box | None:
    def distance(detection: tuple[Box, int]) -> float:
        return math.hypot(detection[0].x - to.x, detection[0].y - to.y)

    nearest = min(detections, key=distance, default=None)
    return None if nearest is None else nearest[0]


def _edge_taper(pixels: slice, start: float, end: float) -> npt.NDArray[np.float64]:
    """A raised-cosine ramp over the outer fifth at each end of [start, end), per pixel centre."""
    centres = np.arange(pixels.start, pixels.stop) + 0.5
    distance_in = np.minimum(centres - start, end - centres) / max(_TAPER_FRACTION * (end - start), 1e-6)
    ramp = np.clip(distance_in, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * ramp)


def _pixel_shares(pixels: slice, start: float, end: float, parts: int) -> npt.NDArray[np.float64]:
    """The length of each pixel of `pixels` that lies in each of `parts` equal parts of [start, end)
    (parts by pixels)."""
    edges = start + (end - start) * np.arange(parts + 1) / parts
    lows = np.arange(pixels.start, pixels.stop, dtype=np.float64)
    overlap = np.minimum(lows + 1, edges[1:, None]) - np.maximum(lows, edges[:-1, None])
    shares: npt.NDArray[np.float64] = np.clip(overlap, 0.0, 1.0)
    return shares


def _normalised_luma(luma: float, *, full_range: bool) -> float:
    return luma / 255.0 if full_range else (luma - 16.0) / 219.0
