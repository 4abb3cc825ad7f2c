"""A patient's photo made safe to show a clinician (store-and-forward): decoded under a pixel limit
with every warning an error, refused with a reason the patient reads when it is not one whole photo
(a decompression bomb, a polyglot, a truncated file, not an image at all, a checksum that does not
match what the browser sent), turned upright by its EXIF orientation, converted through its ICC
profile to sRGB (a Display P3 photo from a phone shown as sRGB would look less red: colour matters
in dermatology), and re-encoded from its pixels alone: no EXIF, no GPS, nothing else of the file
survives into the review copy. The original is kept as it came, encrypted, for the record.

HEIC (iPhones' default) is read through pillow-heif where it is installed; without it a HEIC photo
is refused with a reason that says what to send instead. Pure: bytes in, bytes out, no AWS.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

MAX_PIXELS = 50_000_000  # a 48 MP phone sensor's full-resolution photo; more is refused
REVIEW_EDGE = 2048  # the review copy's longer side, in pixels
REVIEW_QUALITY = 90
FORMATS = ("JPEG", "PNG", "HEIF")
CONTENT_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/heic": "HEIF", "image/heif": "HEIF"}
# Bytes a camera may leave after a JPEG's end-of-image marker (padding), beyond which the file
# carries something else: a second file glued on (a polyglot).
TRAILING_ALLOWANCE = 16
ORIENTATION = 0x0112  # EXIF's tag
# EXIF orientation -> the turn that shows the photo upright (Image.Transpose's values).
TURNS = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}


class PhotoRefusedError(ValueError):
    """A photo that cannot be shown: `code` is stable (the API's), `reason` is what the patient reads."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class ReviewCopy:
    jpeg: bytes
    width: int
    height: int
    source_format: str
    source_pixels: int
    sha256: str  # of the original, as checked
    colour_converted: bool  # an ICC profile other than sRGB was applied


def _heif_registered() -> bool:
    try:
        from pillow_heif import register_heif_opener  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    register_heif_opener()
    return True


def _trailing(data: bytes, kind: str) -> int:
    """Bytes after the image's own end: a JPEG's last EOI marker, a PNG's IEND chunk."""
    if kind == "JPEG":
        end = data.rfind(b"\xff\xd9")
        return len(data) - (end + 2) if end >= 0 else 0
    if kind == "PNG":
        end = data.rfind(b"IEND")
        return len(data) - (end + 8) if end >= 0 else 0  # the chunk's type, then its CRC
    return 0


def _srgb(image: object, icc: bytes | None) -> tuple[object, bool]:
    from PIL import Image, ImageCms

    assert isinstance(image, Image.Image)
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", "I"):
        raise PhotoRefusedError(
            "not-a-photo", "This file is not a photo we can show. Send a JPEG, PNG or HEIC photo."
        )
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        except (OSError, ImageCms.PyCMSError) as error:
            raise PhotoRefusedError(
                "damaged", "The photo's colour information is damaged. Take the photo again."
            ) from error
        description = (ImageCms.getProfileDescription(source) or "").strip().lower()
        if "srgb" not in description:
            mode = "RGB" if image.mode != "CMYK" else "CMYK"
            converted = ImageCms.profileToProfile(
                image.convert(mode),
                source,
                ImageCms.createProfile("sRGB"),
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
                outputMode="RGB",
            )
            assert converted is not None
            return converted, True
    return image.convert("RGB"), False


def review_copy(data: bytes, *, content_type: str, sha256: str | None) -> ReviewCopy:
    """The photo as a clinician sees it, or PhotoRefusedError with the reason."""
    from PIL import Image, UnidentifiedImageError

    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256.lower():
        raise PhotoRefusedError("checksum", "The photo changed on its way to us. Please send it again.")
    expected = CONTENT_TYPES.get(content_type)
    if expected is None:
        raise PhotoRefusedError("not-a-photo", "Send a JPEG, PNG or HEIC photo.")
    if expected == "HEIF" and not _heif_registered():
        raise PhotoRefusedError(
            "heic-unsupported",
            "We cannot read HEIC photos yet. On an iPhone, set Camera > Formats to Most Compatible, "
            "or send a screenshot of the photo.",
        )
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    Image.init()  # every plugin's opener registered (Pillow loads them on a first open otherwise)
    _heif_registered()  # HEIC's opener, where pillow-heif is installed
    readable = [f for f in FORMATS if f in Image.OPEN]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning, a corrupt EXIF...: refused
        try:
            with Image.open(io.BytesIO(data), formats=readable) as probe:
                kind = str(probe.format)
                probe.verify()
            if kind != expected:
                raise PhotoRefusedError("not-a-photo", "The file is not the kind of photo it says it is.")
            if _trailing(data, kind) > TRAILING_ALLOWANCE:
                raise PhotoRefusedError(
                    "not-a-photo", "The file holds more than a photo. Send the photo alone."
                )
            image = Image.open(io.BytesIO(data), formats=[kind])
            pixels = image.width * image.height
            image.load()  # a truncated file fails here
            icc = image.info.get("icc_profile")
            orientation = image.getexif().get(ORIENTATION, 1)
            # Smaller first: turning and colour-converting the review copy's 3 MP, not the 12 MP.
            image.thumbnail((REVIEW_EDGE, REVIEW_EDGE), Image.Resampling.LANCZOS, reducing_gap=3.0)
            turn = TURNS.get(orientation)
            upright = image.transpose(Image.Transpose(turn)) if turn is not None else image
        except PhotoRefusedError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise PhotoRefusedError(
                "too-large", "The photo has too many pixels. Send a smaller photo."
            ) from error
        except UnidentifiedImageError as error:
            raise PhotoRefusedError("not-a-photo", "This file is not a photo we can read.") from error
        except (OSError, SyntaxError, ValueError, Warning) as error:
            raise PhotoRefusedError(
                "damaged", "The photo is incomplete or damaged. Take it again and send it."
            ) from error
    from PIL import ImageCms

    try:
        converted, colour = _srgb(upright, icc if isinstance(icc, bytes) else None)
    except (OSError, ValueError, ImageCms.PyCMSError) as error:  # a profile that does not fit the pixels
        raise PhotoRefusedError(
            "damaged", "The photo's colour information is damaged. Take the photo again."
        ) from error
    assert isinstance(converted, Image.Image)
    out = io.BytesIO()
    # Pixels only: no EXIF, no XMP, no comment; sRGB named so that a browser shows it as meant.
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    converted.save(out, "JPEG", quality=REVIEW_QUALITY, icc_profile=srgb)
    return ReviewCopy(out.getvalue(), converted.width, converted.height, kind, pixels, digest, colour)
