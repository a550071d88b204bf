"""Checks and prepares one uploaded training photo: pure functions, no database, no Reflex.

Upload checks are where the products we compete with are weakest, so every upload goes
through `inspect_photo` before anything is stored. It trusts the bytes, never the file name:
the format is read from the file's signature and Pillow may open only that format. Sizes are
read from the header and refused before any pixel is decoded, and so is a picture whose
decoding would cost more memory than the operator's budget (see `photo_decode`), so a
decompression bomb costs nothing. What comes out is a clean sRGB training JPEG and a WebP
thumbnail with no metadata at all (GPS included), plus the measurements the duplicate, blur
and face checks need.
"""

import hashlib
import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

import cv2
import numpy as np
import pillow_heif
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageOps

from photoai.services import faces as face_model
from photoai.services.image_hash import hamming, phash
from photoai.services.photo_decode import OverBudget, check_slots, decode_reduced, working_size
from photoai.settings import Settings

pillow_heif.register_heif_opener()

log = logging.getLogger(__name__)

NOT_AN_IMAGE = "not an image"
EMPTY = "file is empty"
DAMAGED = "file is damaged or truncated"
TOO_LARGE = "image is too large"
TOO_BLURRY = "too blurry"
NO_FACE = "no face found"
MANY_FACES = "more than one face"
FACE_TOO_SMALL = "face too small"

# Blur and face size are measured on a copy whose shorter side is this long, so that one
# threshold means the same for a 512 px scan and a 48 MP phone photo.
ANALYSIS_SIDE = 512
TRAINING_JPEG_QUALITY = 92
THUMB_WEBP_QUALITY = 80
# A second face about half as wide as the main one or wider is another subject; smaller ones
# are people far behind and do not confuse training. dlib's face boxes come in pyramid steps
# (each 5/6 of the last), so a face half as wide measures 0.44-0.5 of the first and one a
# third as wide up to 0.41 (tests/photos.py: second_face_half_as_wide, face_far_behind).
SECOND_FACE_SHARE = 0.45
# Blur is judged as if the region had this contrast (standard deviation of grey levels).
REFERENCE_CONTRAST = 50.0
ORIENTATION_TAG = 0x0112
# EXIF orientations 2-8 and the turn that makes each upright (as ImageOps.exif_transpose does).
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def too_small(min_side_px: int) -> str:
    return f"too small (min {min_side_px} px)"


def too_large_to_check(fmt: str, max_megapixels: float) -> str:
    """Decoding this picture would exceed the memory budget; JPEG decodes at reduced scale."""
    advice = "" if fmt == "JPEG" else "; save it as JPEG"
    return f"too large to check (max {max_megapixels:g} MP as {fmt}{advice})"


@dataclass(frozen=True)
class PhotoLimits:
    """The operator's limits, passed in so this module never reads global settings."""

    max_upload_bytes: int
    max_pixels: int
    max_decode_bytes: int
    check_concurrency: int
    min_side_px: int
    training_side_px: int
    thumb_side_px: int
    blur_threshold: float
    min_face_ratio: float
    dedupe_max_distance: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "PhotoLimits":
        return cls(
            max_upload_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_pixels,
            max_decode_bytes=settings.photo_decode_budget_mb * 1024 * 1024,
            check_concurrency=settings.photo_check_concurrency,
            min_side_px=settings.min_side_px,
            training_side_px=settings.training_side_px,
            thumb_side_px=settings.thumb_side_px,
            blur_threshold=settings.blur_threshold,
            min_face_ratio=settings.min_face_ratio,
            dedupe_max_distance=settings.dedupe_max_distance,
        )


@dataclass(frozen=True)
class PhotoVerdict:
    """What `inspect_photo` found. No reasons means the photo is accepted.

    A photo that decodes but fails a quality check still gets its outputs and measurements, so
    the UI can show the thumbnail next to the reason. `width`/`height` are the upright
    original's; `sha256` is of the uploaded bytes, which is what an exact re-upload repeats.
    """

    reasons: tuple[str, ...]
    sha256: str = ""
    format: str = ""
    width: int = 0
    height: int = 0
    phash: str = ""
    blur_score: float = 0.0
    face_count: int = 0
    face_ratio: float = 0.0
    # The face's 128-d embedding (`faces.to_bytes`) of an accepted photo of a person; empty
    # when there is none or it could not be computed (which never refuses the photo).
    embedding: bytes = b""
    training_jpeg: bytes = b""
    thumbnail_webp: bytes = b""

    @property
    def accepted(self) -> bool:
        return not self.reasons

    @property
    def reason(self) -> str:
        """The first reason, the one worth showing when there is room for only one."""
        return self.reasons[0] if self.reasons else ""


def sniff_format(data: bytes) -> str | None:
    """The Pillow format name the file's signature announces, or None if we do not take it."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


def inspect_photo(
    data: bytes, filename: str, limits: PhotoLimits, *, face_needed: bool = True
) -> PhotoVerdict:
    """Check one upload and make its training JPEG and thumbnail.

    `filename` is the user's label and nothing more: a name proves nothing about the content
    (a text file called photo.jpg is still text), so no decision here depends on it.
    `face_needed` is False for a pet: no human face is looked for (nor embedded), and
    sharpness is judged on the whole picture.
    """
    del filename
    if not data:
        return PhotoVerdict(reasons=(EMPTY,))
    digest = hashlib.sha256(data).hexdigest()
    if len(data) > limits.max_upload_bytes:
        return PhotoVerdict(reasons=(TOO_LARGE,), sha256=digest)
    fmt = sniff_format(data)
    if fmt is None:
        return PhotoVerdict(reasons=(NOT_AN_IMAGE,), sha256=digest)

    # Pillow's own bomb guard (process-wide, so set to the operator's one limit) is a second
    # line behind the explicit header check below.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    with check_slots(limits.check_concurrency):
        return _inspect_decodable(data, digest, fmt, limits, face_needed)


def _inspect_decodable(
    data: bytes, digest: str, fmt: str, limits: PhotoLimits, face_needed: bool
) -> PhotoVerdict:
    try:
        image = Image.open(BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        return PhotoVerdict(reasons=(TOO_LARGE,), sha256=digest, format=fmt)
    except (OSError, SyntaxError, ValueError, struct.error):
        return PhotoVerdict(reasons=(DAMAGED,), sha256=digest, format=fmt)
    with image:
        width, height = image.size
        if width * height > limits.max_pixels:
            return PhotoVerdict(reasons=(TOO_LARGE,), sha256=digest, format=fmt)
        try:
            upright, sideways = _decode_upright(image, fmt, limits)
        except OverBudget as exc:
            reason = too_large_to_check(fmt, exc.max_megapixels)
            return PhotoVerdict(reasons=(reason,), sha256=digest, format=fmt)
        except (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError):
            return PhotoVerdict(reasons=(DAMAGED,), sha256=digest, format=fmt)
    if sideways:
        width, height = height, width
    return _judge(upright, digest, fmt, (width, height), limits, face_needed)


def find_duplicate(
    phash_hex: str,
    sha256: str,
    existing: Iterable[tuple[int, str, str]],
    *,
    max_distance: int,
) -> int | None:
    """The id of an earlier photo that this one repeats, exactly or nearly, else None.

    `existing` holds (id, phash, sha256) of the model's earlier photos; rows without a hash
    (photos that never decoded) are skipped. `max_distance` is `PhotoLimits.dedupe_max_distance`.
    """
    for photo_id, other_phash, other_sha in existing:
        if sha256 and other_sha == sha256:
            return photo_id
        if phash_hex and other_phash and hamming(phash_hex, other_phash) <= max_distance:
            return photo_id
    return None


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1, upright, when there is none or it cannot be read."""
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, struct.error):
        return 1
    return value if value in _TURNS else 1


def _decode_upright(image: Image.Image, fmt: str, limits: PhotoLimits) -> tuple[Image.Image, bool]:
    """Decode at working size, turn the picture upright and bring it to 8-bit sRGB.

    The working size covers both the training size and the analysis size; everything after
    this works on that copy, never on the full-size picture. Also says whether the EXIF
    orientation turned the picture by 90 degrees (swapping width and height).
    """
    target = working_size(*image.size, limits.training_side_px, ANALYSIS_SIDE)
    small = decode_reduced(image, fmt, target, limits.max_decode_bytes)
    orientation = _orientation(small)  # the small copy keeps the decoded picture's EXIF
    if orientation in _TURNS:
        small = small.transpose(_TURNS[orientation])
    return _to_srgb(small), orientation in (5, 6, 7, 8)


@lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB in sRGB, honouring an embedded ICC profile; transparency is flattened onto white."""
    icc = image.info.get("icc_profile")
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16-bit grey PNG: Pillow's own conversion clips at 255, keep the high byte instead.
        high = np.asarray(image, dtype=np.uint32) >> 8
        image = Image.fromarray(high.clip(0, 255).astype(np.uint8))
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, "white")
        image.paste(rgba, mask=rgba.getchannel("A"))
    if icc and image.mode in ("RGB", "L", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _srgb_profile(), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # a broken profile is ignored, the pixels are still good
        if converted is not None:
            image = converted
    return image.convert("RGB") if image.mode != "RGB" else image


def _judge(
    upright: Image.Image,
    digest: str,
    fmt: str,
    size: tuple[int, int],
    limits: PhotoLimits,
    face_needed: bool,
) -> PhotoVerdict:
    width, height = size
    reasons: list[str] = []
    if min(width, height) < limits.min_side_px:
        reasons.append(too_small(limits.min_side_px))

    small = upright
    short = min(small.size)
    if short > ANALYSIS_SIDE:
        factor = ANALYSIS_SIDE / short
        small = small.resize(
            (round(small.width * factor), round(small.height * factor)),
            Image.Resampling.BILINEAR,
            reducing_gap=2.0,
        )
    grey = small.convert("L")
    pixels = np.asarray(grey, dtype=np.uint8)
    rgb = np.asarray(small, dtype=np.uint8)
    faces = face_model.detect_faces(rgb) if face_needed else []
    ratio = faces[0].width / min(pixels.shape[:2]) if faces else 0.0
    if face_needed:
        reasons.extend(_face_reasons(faces, ratio, limits.min_face_ratio))

    # Sharpness of the face if there is one (a blurred background is a portrait style, not a
    # defect), of the whole picture otherwise.
    region = pixels
    if faces:
        face = faces[0]
        region = pixels[face.y : face.y + face.height, face.x : face.x + face.width]
    blur = sharpness(region)
    if blur < limits.blur_threshold:
        reasons.append(TOO_BLURRY)
    embedding = _embedding(rgb, faces[0]) if faces and not reasons else b""

    training = upright
    if max(upright.size) > limits.training_side_px:
        training = ImageOps.contain(
            upright, (limits.training_side_px, limits.training_side_px), Image.Resampling.LANCZOS
        )
    # `thumbnail` box-averages by a whole factor before its LANCZOS pass (reducing_gap 2):
    # a third of the cost of LANCZOS over the whole training copy, no visible difference at
    # thumbnail size.
    thumb = training.copy()
    thumb.thumbnail((limits.thumb_side_px, limits.thumb_side_px), Image.Resampling.LANCZOS)
    return PhotoVerdict(
        reasons=tuple(reasons),
        sha256=digest,
        format=fmt,
        width=width,
        height=height,
        phash=phash(grey),
        blur_score=round(blur, 2),
        face_count=len(faces),
        face_ratio=round(ratio, 4),
        embedding=embedding,
        training_jpeg=_encode(training, "JPEG", quality=TRAINING_JPEG_QUALITY),
        thumbnail_webp=_encode(thumb, "WEBP", quality=THUMB_WEBP_QUALITY),
    )


def _face_reasons(faces: list[face_model.Face], ratio: float, min_ratio: float) -> list[str]:
    if not faces:
        return [NO_FACE]
    if ratio < min_ratio:
        return [FACE_TOO_SMALL]
    if any(face.width >= faces[0].width * SECOND_FACE_SHARE for face in faces[1:]):
        return [MANY_FACES]
    return []


def _embedding(rgb: NDArray[np.uint8], face: face_model.Face) -> bytes:
    """The face's embedding as stored, or b"" if dlib fails on it: the likeness check then
    leaves this photo out, and the photo itself is still judged on everything else."""
    try:
        return face_model.to_bytes(face_model.embed(rgb, face))
    except (RuntimeError, ValueError):
        log.exception("could not compute a face embedding")
        return b""


def sharpness(grey: NDArray[np.uint8]) -> float:
    """Variance of the Laplacian, scaled to a fixed contrast.

    The raw variance also falls with contrast, so a dark or low-contrast but sharp face (dim
    light, dark skin) would read as blurry; dividing by the region's own grey-level variance
    measures edges, not lighting. A flat region has no edges and scores 0.
    """
    spread = float(grey.std())
    if spread < 1.0:
        return 0.0
    laplacian = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return laplacian * (REFERENCE_CONTRAST / spread) ** 2


def _encode(image: Image.Image, fmt: str, *, quality: int) -> bytes:
    """Encode with no metadata: Pillow copies a JPEG comment from `info`, so that goes too."""
    image.info = {}
    out = BytesIO()
    image.save(out, fmt, quality=quality)
    return out.getvalue()
