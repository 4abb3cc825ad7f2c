"""Synthetic photos for the store-and-forward tests and bench: colour fields and textures, never
real skin, tagged as phones tag theirs (Display P3, an EXIF orientation)."""

from __future__ import annotations

import io
import struct


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def display_p3_profile() -> bytes:
    """A minimal ICC v2 display profile with Display P3's primaries (D50-adapted, as Apple's
    profile has them) and a 2.2 gamma: what an iPhone photo is tagged with, near enough."""

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)

    def text(s: str) -> bytes:
        return b"text" + b"\0" * 4 + s.encode() + b"\0"

    def desc(s: str) -> bytes:
        ascii_ = s.encode() + b"\0"
        return b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * 12 + b"\0" * 67

    curve = b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", round(2.2 * 256)) + b"\0\0"
    tags = [
        (b"desc", desc("Display P3 (test)")),
        (b"cprt", text("No copyright, synthetic")),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
        (b"gXYZ", xyz(0.2920, 0.6922, 0.0419)),
        (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        while len(body) % 4:
            body += b"\0"
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def phone_photo(width: int = 4032, height: int = 3024, *, seed: int = 7, kind: str = "JPEG") -> bytes:
    """A 12 MP photo as a phone sends it: a textured field (a camera's noise, so it is the size a
    real photo is), Display P3, stored on its side with an EXIF orientation."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [170 + 40 * np.sin(x / 300), 110 + 30 * np.cos(y / 250), 95 + 20 * np.sin((x + y) / 400)], -1
    )
    pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image = Image.fromarray(pixels, "RGB")
    if kind == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
        image.save(out, "HEIF", quality=85, exif=exif.tobytes(), icc_profile=display_p3_profile())
    else:
        image.save(out, "JPEG", quality=92, exif=exif.tobytes(), icc_profile=display_p3_profile())
    return out.getvalue()
