"""Real photos for tests, made offline from public-domain portraits that ship in packages.

Faces: scikit-image's astronaut (Eileen Collins) and matplotlib's Grace Hopper. A training set
is cut from them the way people's own photos differ (framing, distance, mirror, tilt, light),
then scaled up past the minimum size. Every photo must pass the production checks on its own
merits, duplicate check included: if a recipe here starts failing, change the recipe, never
the check. Bad files are made for each way an upload can go wrong.
"""

import struct
import zlib
from dataclasses import dataclass
from functools import cache
from io import BytesIO

import matplotlib.cbook
import numpy as np
import pillow_heif
import skimage.data
from PIL import Image, ImageCms, ImageDraw, ImageEnhance, ImageFilter, ImageOps

GPS_IFD = 0x8825
ORIENTATION = 0x0112


@cache
def astronaut() -> Image.Image:
    """512x512, one face, upper middle."""
    return Image.fromarray(skimage.data.astronaut())


@cache
def grace_hopper() -> Image.Image:
    """512x600, one large face."""
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as image:
        return image.convert("RGB")


@cache
def camera() -> Image.Image:
    """512x512 grey: a man looking into a camera, his face turned away from us."""
    return Image.fromarray(skimage.data.camera()).convert("RGB")


@cache
def chelsea() -> Image.Image:
    """451x300: a cat, no human face."""
    return Image.fromarray(skimage.data.chelsea())


def jpeg(image: Image.Image, quality: int = 90, **params: object) -> bytes:
    out = BytesIO()
    image.save(out, "JPEG", quality=quality, **params)
    return out.getvalue()


def png(image: Image.Image, **params: object) -> bytes:
    out = BytesIO()
    image.save(out, "PNG", **params)
    return out.getvalue()


def upscale(image: Image.Image, short_side: int) -> Image.Image:
    """Scale so the shorter side is `short_side` (our sources are smaller than real photos)."""
    factor = short_side / min(image.size)
    size = (round(image.width * factor), round(image.height * factor))
    return image.resize(size, Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class Shot:
    """One way to make a distinct photo from a portrait.

    `crop` is (share of the side kept, x position 0..1, y position 0..1) of the source.
    """

    source: str
    crop: tuple[float, float, float] = (1.0, 0.5, 0.5)
    mirror: bool = False
    tilt: float = 0.0
    brightness: float = 1.0
    contrast: float = 1.0
    warmth: float = 0.0
    short_side: int = 1024


TRAINING_SHOTS: tuple[Shot, ...] = (
    Shot("astronaut"),
    Shot("astronaut", crop=(0.85, 0.0, 0.0), brightness=1.1),
    Shot("astronaut", crop=(0.85, 1.0, 0.0), warmth=0.08, short_side=900),
    Shot("astronaut", crop=(0.7, 0.0, 0.0), contrast=1.15),
    Shot("astronaut", crop=(0.7, 1.0, 0.0), brightness=0.85, short_side=800),
    Shot("astronaut", mirror=True, brightness=0.9, warmth=-0.05),
    Shot("astronaut", tilt=10.0, short_side=1100),
    Shot("astronaut", crop=(0.55, 0.0, 0.0), mirror=True, warmth=0.05),
    Shot("grace"),
    Shot("grace", crop=(0.85, 0.5, 0.5), brightness=1.1, short_side=900),
    Shot("grace", crop=(0.7, 0.5, 0.5), warmth=0.06),
    Shot("grace", mirror=True, contrast=0.9),
    Shot("grace", crop=(0.7, 1.0, 0.0), mirror=True, short_side=800),
    Shot("grace", tilt=-8.0, brightness=0.9, short_side=1100),
    Shot("astronaut", tilt=-8.0, crop=(0.85, 0.5, 0.0), short_side=900),
    Shot("astronaut", crop=(0.6, 0.5, 0.0), mirror=True, brightness=1.05, warmth=0.04),
)


def _source(name: str) -> Image.Image:
    return astronaut() if name == "astronaut" else grace_hopper()


def shoot(shot: Shot) -> Image.Image:
    image = _source(shot.source)
    keep, px, py = shot.crop
    w, h = round(image.width * keep), round(image.height * keep)
    x, y = round((image.width - w) * px), round((image.height - h) * py)
    image = image.crop((x, y, x + w, y + h))
    if shot.mirror:
        image = ImageOps.mirror(image)
    if shot.tilt:
        # Crop away the corners the turn leaves empty, as a phone's straighten tool does.
        turned = image.rotate(shot.tilt, Image.Resampling.BICUBIC, expand=False)
        inset = round(min(image.size) * 0.1)
        image = turned.crop((inset, inset, image.width - inset, image.height - inset))
    if shot.brightness != 1.0:
        image = ImageEnhance.Brightness(image).enhance(shot.brightness)
    if shot.contrast != 1.0:
        image = ImageEnhance.Contrast(image).enhance(shot.contrast)
    if shot.warmth:
        r, g, b = image.split()
        image = Image.merge(
            "RGB",
            (
                r.point(lambda v: min(255, round(v * (1 + shot.warmth)))),
                g,
                b.point(lambda v: min(255, round(v * (1 - shot.warmth)))),
            ),
        )
    return upscale(image, shot.short_side)


@cache
def training_jpegs() -> tuple[bytes, ...]:
    """Distinct, valid training photos (JPEG), one per recipe in `TRAINING_SHOTS`."""
    return tuple(jpeg(shoot(shot)) for shot in TRAINING_SHOTS)


def one_person_jpegs() -> tuple[bytes, ...]:
    """The training photos of the astronaut only: a set of one person."""
    return tuple(
        data
        for shot, data in zip(TRAINING_SHOTS, training_jpegs(), strict=True)
        if shot.source == "astronaut"
    )


# --- files that must be refused -------------------------------------------------------------


def text_named_jpg() -> bytes:
    return b"This is a shopping list, not a photo.\nmilk\neggs\n"


def truncated_jpeg() -> bytes:
    whole = training_jpegs()[0]
    return whole[: len(whole) // 2]


def huge_png(side: int = 20000) -> bytes:
    """A real, valid PNG of side x side grey pixels in a few hundred KB: a decompression bomb.

    Written chunk by chunk with zlib streaming, so making it needs no big buffer either.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    packer = zlib.compressobj(1)
    rows = b"\x00" * (side + 1) * 100  # 100 rows of a filter byte + black pixels
    data = b"".join(packer.compress(rows) for _ in range(side // 100)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def blurred_photo() -> bytes:
    """A good photo out of focus: sigma of 3 px at 1024 px is plainly soft."""
    return jpeg(shoot(TRAINING_SHOTS[0]).filter(ImageFilter.GaussianBlur(3)))


def near_duplicate() -> bytes:
    """Training photo 0 again, as a messenger app sends it back: trimmed by 3 % at the top and
    left, shrunk, brightened and recompressed."""
    image = shoot(TRAINING_SHOTS[0])
    trim = round(image.width * 0.03)
    image = image.crop((trim, trim, image.width, image.height))
    image = image.resize((image.width * 4 // 5, image.height * 4 // 5), Image.Resampling.BICUBIC)
    return jpeg(ImageEnhance.Brightness(image).enhance(1.08), quality=72)


def too_small_photo() -> bytes:
    return jpeg(upscale(astronaut(), 400))


def two_faces() -> bytes:
    """Both portraits side by side, scaled so the two faces are about the same width."""
    left = upscale(astronaut(), 1024)
    right = upscale(grace_hopper().crop((0, 0, 512, 512)), 512)
    canvas = Image.new("RGB", (left.width + right.width, left.height), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 200))
    return jpeg(canvas)


def face_far_behind() -> bytes:
    """The astronaut with Grace Hopper small in the background, her face a third as wide."""
    canvas = upscale(astronaut(), 1024)
    behind = grace_hopper().crop((0, 0, 512, 512)).resize((160, 160), Image.Resampling.LANCZOS)
    canvas.paste(behind, (844, 564))
    return jpeg(canvas)


def second_face_half_as_wide() -> bytes:
    """The astronaut with Grace Hopper beside her, Hopper's face half as wide as hers."""
    canvas = upscale(astronaut(), 1024)
    beside = grace_hopper().crop((0, 0, 512, 512)).resize((216, 216), Image.Resampling.LANCZOS)
    canvas.paste(beside, (790, 600))
    return jpeg(canvas)


def small_face() -> bytes:
    """The astronaut far away: her portrait small in the middle of a wide, plain wall."""
    canvas = Image.new("RGB", (2400, 1600), (182, 176, 166))
    canvas.paste(astronaut(), (944, 544))
    return jpeg(canvas)


def sunglasses() -> bytes:
    """The astronaut in dark round glasses, drawn where her eyes are."""
    image = upscale(astronaut(), 1024)
    draw = ImageDraw.Draw(image)
    # Her face in this framing (dlib's box at 1024 px): x 360-554, y 166-361.
    left, top, width, height = 360, 166, 194, 195
    for centre in (0.3, 0.7):
        x, y = left + width * centre, top + height * 0.38
        box = (x - width * 0.17, y - height * 0.1, x + width * 0.17, y + height * 0.1)
        draw.ellipse(box, fill=(12, 12, 14))
    draw.line(
        (left + width * 0.45, top + height * 0.38, left + width * 0.55, top + height * 0.38),
        fill=(12, 12, 14),
        width=4,
    )
    return jpeg(image)


def lit(brightness: float) -> bytes:
    """The astronaut under extreme light: 0.2 is a dim room, 0.08 near black, 2.6 blown out."""
    return jpeg(ImageEnhance.Brightness(upscale(astronaut(), 1024)).enhance(brightness))


def photo_of_a_photo() -> bytes:
    """Her portrait printed with a white border, lying turned on a table, a lamp's glare on it."""
    table = Image.new("RGB", (760, 680), (120, 104, 90))
    portrait = astronaut()
    border = Image.new("RGB", (portrait.width + 60, portrait.height + 60), (250, 250, 248))
    border.paste(portrait, (30, 30))
    turned = border.rotate(6, Image.Resampling.BICUBIC, expand=True, fillcolor=(120, 104, 90))
    table.paste(turned, ((table.width - turned.width) // 2, (table.height - turned.height) // 2))
    glare = Image.new("L", table.size, 0)
    ImageDraw.Draw(glare).ellipse((450, 60, 740, 300), fill=60)
    return jpeg(Image.composite(Image.new("RGB", table.size, "white"), table, glare))


def cat_photo() -> bytes:
    return jpeg(upscale(chelsea(), 768))


@cache
def pet_jpegs() -> tuple[bytes, ...]:
    """Distinct photos of the cat, as a pet model's training set: framings, a mirror, light."""
    cat = chelsea()
    shots = (
        cat,
        cat.crop((0, 0, 400, 270)),
        ImageOps.mirror(cat.crop((51, 30, 451, 300))),
        ImageEnhance.Brightness(cat.crop((60, 0, 391, 300))).enhance(1.15),
        ImageOps.mirror(cat),
    )
    return tuple(jpeg(upscale(shot, 768)) for shot in shots)


def camera_photo() -> bytes:
    return jpeg(upscale(camera(), 768))


def heic_photo() -> bytes:
    """A training photo (Grace Hopper, uncropped) as an iPhone would send it."""
    out = BytesIO()
    pillow_heif.from_pillow(shoot(TRAINING_SHOTS[8])).save(out, quality=85)
    return out.getvalue()


def rotated_jpeg_with_gps() -> bytes:
    """A portrait stored lying on its side with EXIF orientation 6 and a GPS position.

    The pixels are the upright photo turned 90 degrees left; a viewer that honours the tag
    turns it back. Without that the face lies sideways and no face is found.
    """
    upright = shoot(TRAINING_SHOTS[8])
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (52.0, 22.0, 12.5), 3: "E", 4: (4.0, 53.0, 36.0)})
    return jpeg(upright.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())


def swapped_primaries_profile() -> bytes:
    """An RGB ICC profile whose red and blue primaries are exchanged.

    It is LittleCMS's own sRGB profile with the rXYZ and bXYZ tag offsets swapped, so a pixel
    stored as pure red means pure blue. Honouring the profile is then plain to test.
    """
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[84:100] = bytes(16)  # the profile ID (an MD5) no longer matches; zero means unset
    (count,) = struct.unpack(">I", profile[128:132])
    entries = {bytes(profile[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
    profile[red + 4 : red + 12], profile[blue + 4 : blue + 12] = (
        profile[blue + 4 : blue + 12],
        profile[red + 4 : red + 12],
    )
    return bytes(profile)


def red_with_swapped_profile() -> bytes:
    """A pure red picture (as stored) tagged with `swapped_primaries_profile`."""
    return png(Image.new("RGB", (640, 640), (255, 0, 0)), icc_profile=swapped_primaries_profile())


def mean_rgb(data: bytes) -> tuple[float, float, float]:
    with Image.open(BytesIO(data)) as image:
        means = np.asarray(image.convert("RGB"), dtype=np.float64).mean(axis=(0, 1))
    return (float(means[0]), float(means[1]), float(means[2]))
