"""A patient's photo made safe to show: upright, sRGB, pixels only; and every file that is not one
whole photo refused with a reason the patient reads. The photos are made here (synthetic colour
fields), never real skin."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image

from telehealth.photos.sanitize import REVIEW_EDGE, PhotoRefusedError, review_copy
from tools.synthetic_photos import display_p3_profile


def jpeg(size: tuple[int, int], colour: tuple[int, int, int], **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=95, **save)
    return out.getvalue()


def png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def checked(data: bytes, content_type: str = "image/jpeg") -> object:
    return review_copy(data, content_type=content_type, sha256=hashlib.sha256(data).hexdigest())


def test_a_phone_photo_comes_out_upright_smaller_and_without_its_exif_or_location() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    exif[0x010F] = "Synthetic Phone Co."
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (33.0, 26.0, 51.0)  # a latitude: what must not reach the review copy
    photo = jpeg((4032, 3024), (180, 120, 100), exif=exif.tobytes())  # 12 MP, stored on its side
    copy = checked(photo)
    assert (copy.width, copy.height) == (1536, REVIEW_EDGE)  # type: ignore[attr-defined]  # upright: taller
    shown = Image.open(io.BytesIO(copy.jpeg))  # type: ignore[attr-defined]
    assert dict(shown.getexif()) == {} and b"Synthetic Phone" not in copy.jpeg and b"GPS" not in copy.jpeg  # type: ignore[attr-defined]
    assert copy.source_pixels == 4032 * 3024 and copy.sha256 == hashlib.sha256(photo).hexdigest()  # type: ignore[attr-defined]


def test_a_display_p3_photo_is_converted_to_srgb_not_shown_as_if_it_were() -> None:
    photo = jpeg((64, 64), (200, 120, 100), icc_profile=display_p3_profile())
    copy = checked(photo)
    assert copy.colour_converted  # type: ignore[attr-defined]
    r, g, b = Image.open(io.BytesIO(copy.jpeg)).convert("RGB").getpixel((32, 32))  # type: ignore[attr-defined, misc]
    # Display P3 (200, 120, 100) is about sRGB (214, 116, 95): redder than the numbers read as sRGB.
    assert abs(r - 214) <= 4 and abs(g - 116) <= 4 and abs(b - 95) <= 4, (r, g, b)
    plain = checked(jpeg((64, 64), (200, 120, 100)))
    assert not plain.colour_converted  # type: ignore[attr-defined]


def _bomb() -> bytes:
    """A PNG whose header claims 20,000 × 20,000 pixels (its data is a tiny image's)."""
    data = bytearray(png((8, 8), (1, 2, 3)))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", 20_000, 20_000)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [
        (_bomb(), "image/png", "too-large"),
        (
            jpeg((640, 480), (10, 200, 10)) + b"PK\x03\x04" + b"\0" * 200,
            "image/jpeg",
            "not-a-photo",
        ),  # + a zip
        (png((64, 64), (9, 9, 9)) + b"<script>alert(1)</script>" * 4, "image/png", "not-a-photo"),
        (jpeg((640, 480), (10, 10, 200))[:4000], "image/jpeg", "damaged"),  # truncated
        (b"%PDF-1.7\n" + b"0" * 500, "image/jpeg", "not-a-photo"),
        (png((32, 32), (1, 1, 1)), "image/jpeg", "not-a-photo"),  # says JPEG, is PNG
        (jpeg((32, 32), (1, 1, 1)), "application/pdf", "not-a-photo"),
    ],
    ids=[
        "decompression-bomb",
        "jpeg-zip-polyglot",
        "png-with-script",
        "truncated",
        "pdf",
        "mislabelled",
        "not-an-image-type",
    ],
)
def test_what_is_not_one_whole_photo_is_refused_with_a_reason(
    data: bytes, content_type: str, code: str
) -> None:
    with pytest.raises(PhotoRefusedError) as refused:
        checked(data, content_type)
    assert refused.value.code == code and refused.value.reason.endswith(".")


def test_a_photo_that_changed_on_its_way_is_refused() -> None:
    photo = jpeg((64, 64), (1, 2, 3))
    with pytest.raises(PhotoRefusedError) as refused:
        review_copy(photo, content_type="image/jpeg", sha256=hashlib.sha256(b"another").hexdigest())
    assert refused.value.code == "checksum"


def test_an_iphone_heic_photo_is_read() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), (150, 90, 80)).save(out, "HEIF", quality=90)
    copy = checked(out.getvalue(), "image/heic")
    assert copy.source_format == "HEIF" and (copy.width, copy.height) == (1200, 900)  # type: ignore[attr-defined]


def test_a_fresh_process_reads_a_photo_as_the_function_does() -> None:
    """Pillow registers its formats on a first open: the check must not ask for them before (a
    Lambda's first photo, in a process that had not touched Pillow, was refused as unreadable)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    photo = jpeg((64, 48), (120, 80, 60))
    code = (
        "import hashlib, sys\n"
        "from telehealth.photos.sanitize import review_copy\n"
        "p = sys.stdin.buffer.read()\n"
        "print(review_copy(p, content_type='image/jpeg', sha256=hashlib.sha256(p).hexdigest()).width)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}:{root / 'layers' / 'telehealth'}"}
    done = subprocess.run(
        [sys.executable, "-c", code], input=photo, capture_output=True, env=env, check=False
    )
    assert done.returncode == 0 and done.stdout.decode().strip() == "64", done.stderr.decode()
