"""Decoding a recording into small YCbCr frames, each with its presentation time.

Frames stay in the decoder's own YCbCr planes: the skin mask is a YCbCr range, the face detector
and the tracker want luma, and the mean colour of the skin converts to RGB after averaging (the
conversion is affine, so the mean commutes with it). That spares a full-frame colour conversion,
which would cost about as much as decoding. Frames come one at a time; nothing is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

# Processing images are the frame shrunk by a whole factor to no less than this width: enough for
# a face to cover thousands of pixels, small enough to make detection and masking cheap.
MIN_PROCESSING_WIDTH = 300

# Formats whose planes are used as they come; anything else is converted to the first one.
_PLANAR_420 = ("yuv420p", "yuvj420p")


class VideoError(Exception):
    """The file cannot be read as a video."""


@dataclass(frozen=True, slots=True)
class Frame:
    time_s: float  # presentation time, from the first frame
    luma: npt.NDArray[np.uint8]  # Y, at processing size
    blue_chroma: npt.NDArray[np.uint8]  # Cb, at processing size
    red_chroma: npt.NDArray[np.uint8]  # Cr, at processing size
    full_range: bool  # JPEG range (0-255) rather than video range (16-235)


def read_frames(path: Path, *, threads: int = 1) -> Iterator[Frame]:
    """The video's frames in presentation order, with times taken from their timestamps.

    Frame rates are never assumed: a variable-rate recording yields uneven times, and the caller
    resamples. Frames whose timestamp does not advance are skipped. `threads` is the decoder's
    thread count (1 keeps the whole worker on one core).
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as error:
        raise VideoError(f"cannot open {path.name} as a video: {_describe(error)}") from error
    with container:
        if not container.streams.video:
            raise VideoError(f"{path.name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_count = threads
        if threads != 1:
            stream.thread_type = "AUTO"
        first_time: float | None = None
        last_time = -np.inf
        fallback_interval = 1.0 / float(stream.average_rate) if stream.average_rate else 1.0 / 30.0
        try:
            for decoded in container.decode(stream):
                # A frame without a timestamp follows its predecessor by the nominal interval.
                time_s = decoded.time if decoded.time is not None else last_time + fallback_interval
                if first_time is None:
                    first_time = time_s
                if time_s <= last_time:
                    continue
                last_time = time_s
                yield _processing_frame(decoded, time_s - first_time)
        except av.FFmpegError as error:
            raise VideoError(f"cannot decode {path.name}: {_describe(error)}") from error
        if first_time is None:
            raise VideoError(f"{path.name} has no decodable video frames")


def ycbcr_to_rgb(
    luma: float, blue_chroma: float, red_chroma: float, *, full_range: bool
) -> tuple[float, float, float]:
    """RGB (0-255) of a YCbCr colour, by ITU-R BT.601, the FFmpeg default for untagged video."""
    if full_range:
        y, scale_y, scale_c = luma, 1.0, 1.0
    else:
        y, scale_y, scale_c = luma - 16.0, 255.0 / 219.0, 255.0 / 224.0
    cb = (blue_chroma - 128.0) * scale_c
    cr = (red_chroma - 128.0) * scale_c
    y *= scale_y
    return y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb


def _processing_frame(decoded: av.VideoFrame, time_s: float) -> Frame:
    if decoded.format.name not in _PLANAR_420:
        decoded = decoded.reformat(format="yuv420p")
    full_range = decoded.format.name == "yuvj420p"
    luma, blue_chroma, red_chroma = (_plane(decoded, index) for index in range(3))
    factor = max(1, luma.shape[1] // MIN_PROCESSING_WIDTH)
    size = (luma.shape[1] // factor, luma.shape[0] // factor)
    return Frame(
        time_s=time_s,
        luma=_resized(luma, size),
        blue_chroma=_resized(blue_chroma, size),
        red_chroma=_resized(red_chroma, size),
        full_range=full_range,
    )


def _plane(decoded: av.VideoFrame, index: int) -> npt.NDArray[np.uint8]:
    """A plane as an array over the decoder's buffer (rows padded to line_size; no copy)."""
    plane = decoded.planes[index]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def _resized(plane: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    if (plane.shape[1], plane.shape[0]) == size:
        return plane
    # Shrinking averages (INTER_AREA), which also lowers sensor noise; chroma of a small frame
    # is enlarged to luma size by interpolation.
    interpolation = cv2.INTER_AREA if plane.shape[1] > size[0] else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(plane, size, interpolation=interpolation), dtype=np.uint8)


def _describe(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)
