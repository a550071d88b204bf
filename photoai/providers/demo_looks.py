"""What each catalogue style looks like in a demo picture: a scene, a grade and a texture.

The demo generator has no AI, so a style is shown the way a photo editor would fake it: the
person is cut out of their photo (OpenCV's GrabCut, seeded with a head-and-shoulders shape and
run on a small copy, about 0.2 s), set in front of a scene drawn for the style (sand, sea and a
palm for "Beach vacation", misty mountain ridges for "Fantasy warrior", neon signs and rain for
"Cyberpunk neon"...), and the whole is graded and textured for the style (teal-and-orange,
faded film, venetian-blind shadows, watercolour paper...). Everything is drawn from the
style id and a seeded random generator, so the same request gives the same picture and no
picture file has to ship with the product.

`LOOKS` maps style ids to their look; the generator falls back to its plain grades for a
prompt without a style.
"""

import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from cv2.data import haarcascades
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

Size = tuple[int, int]
Colour = tuple[int, int, int]
Scene = Callable[[Size, random.Random], Image.Image]
Finish = Callable[[Image.Image, random.Random], Image.Image]

MASK_SIDE = 128
PAINT_SIDE = 448
# The person takes this share of the picture's height, standing at the bottom, so the scene
# shows above and beside them.
PERSON_SCALE = 0.7
DETECT_SIDE = 320
# The frontal cascade photo_checks measured as finding every portrait and no false faces.
FACE_CASCADE = "haarcascade_frontalface_alt2.xml"
_detect_lock = threading.Lock()  # a CascadeClassifier is not safe to share across threads


# --- framing and cutting the person out --------------------------------------------------------


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float


@lru_cache(maxsize=1)
def _face_cascade() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(haarcascades + FACE_CASCADE)


def load_detector() -> None:
    """Read the face cascade now rather than on first use (see `faces.load_models`)."""
    with _detect_lock:
        _face_cascade()


def find_face(photo: Image.Image) -> Box | None:
    """The largest frontal face in the photo, in its pixels (OpenCV's Haar cascade)."""
    scale = min(1.0, DETECT_SIDE / min(photo.size))
    small = photo.convert("L").resize(
        (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
    )
    side = max(24, min(small.size) // 12)
    with _detect_lock:
        found = _face_cascade().detectMultiScale(
            np.asarray(small), scaleFactor=1.1, minNeighbors=4, minSize=(side, side)
        )
    if len(found) == 0:
        return None
    x, y, w, h = max(found, key=lambda f: int(f[2]) * int(f[3]))
    return Box(x / scale, y / scale, w / scale, h / scale)


def frame_person(
    photo: Image.Image, size: Size, rng: random.Random
) -> tuple[Image.Image, Box] | None:
    """A head-and-shoulders frame of the photo's person at `size`, and where the face is in
    it; None when no face is found (the caller frames the photo its own way)."""
    face = find_face(photo)
    if face is None:
        return None
    width, height = size
    box_h = min(face.height * rng.uniform(3.0, 3.8), photo.height)
    box_w = min(box_h * width / height, photo.width)
    box_h = box_w * height / width
    centre_x = face.x + face.width / 2 + face.width * rng.uniform(-0.15, 0.15)
    left = min(max(0.0, centre_x - box_w / 2), photo.width - box_w)
    top = min(max(0.0, face.y + face.height * 0.45 - box_h * 0.36), photo.height - box_h)
    region = photo.crop((round(left), round(top), round(left + box_w), round(top + box_h)))
    framed = region.resize(size, Image.Resampling.LANCZOS)
    ratio = width / box_w
    return framed, Box(
        (face.x - left) * ratio, (face.y - top) * ratio, face.width * ratio, face.height * ratio
    )


def _silhouette(shape: Size, face: Box) -> NDArray[np.uint8]:
    """A head over neck and shoulders, drawn from where the face is."""
    width, height = shape
    out = np.zeros((height, width), np.uint8)
    cx, fw, fh = face.x + face.width / 2, face.width, face.height
    head = (round(cx), round(face.y + fh * 0.42))
    cv2.ellipse(out, head, (round(fw * 0.64), round(fh * 0.82)), 0, 0, 360, 255, -1)
    neck_top, shoulders = face.y + fh * 0.95, face.y + fh * 1.55
    body = np.array(
        [
            (cx - fw * 0.38, neck_top),
            (cx + fw * 0.38, neck_top),
            (cx + fw * 0.5, shoulders - fh * 0.2),
            (cx + fw * 1.6, shoulders),
            (cx + fw * 2.0, height),
            (cx - fw * 2.0, height),
            (cx - fw * 1.6, shoulders),
            (cx - fw * 0.5, shoulders - fh * 0.2),
        ],
        np.int32,
    )
    cv2.fillPoly(out, [body], 255)
    return out


def person_mask(picture: Image.Image, face: Box) -> Image.Image:
    """A soft-edged mask ("L") of the person around `face`, at the picture's size.

    GrabCut refines a drawn head-and-shoulders shape on a small copy: what it finds is kept
    only near the shape (so a badge or a flag far away never floats into the scene), and the
    shape's core always stays (so a suit the colour of the wall is not cut away).
    """
    scale = MASK_SIDE / max(picture.size)
    small_size = (max(8, round(picture.width * scale)), max(8, round(picture.height * scale)))
    small = np.asarray(picture.convert("RGB").resize(small_size, Image.Resampling.BILINEAR))
    small_face = Box(face.x * scale, face.y * scale, face.width * scale, face.height * scale)
    shape = _silhouette(small_size, small_face)
    reach = max(3, round(small_face.width * 0.35)) | 1
    core = cv2.erode(shape, np.ones((reach, reach), np.uint8))
    near = cv2.dilate(shape, np.ones((reach, reach), np.uint8))
    mask: NDArray[np.uint8] = np.full((shape.shape[0], shape.shape[1]), cv2.GC_BGD, np.uint8)
    mask[near > 0] = cv2.GC_PR_BGD
    mask[shape > 0] = cv2.GC_PR_FGD
    mask[core > 0] = cv2.GC_FGD
    # GrabCut seeds its colour models from OpenCV's per-thread generator; reseed it so the
    # same request cuts the same shape whatever ran on this thread before.
    cv2.setRNGSeed(0)
    with contextlib.suppress(cv2.error):  # on failure the drawn shape stays as it is
        cv2.grabCut(
            small[:, :, ::-1].copy(),
            mask,
            (0, 0, 1, 1),  # unused: the mask is the start
            np.zeros((1, 65), np.float64),
            np.zeros((1, 65), np.float64),
            2,
            cv2.GC_INIT_WITH_MASK,
        )
    found = np.where(np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)), 255, 0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    alpha = np.asarray(cv2.morphologyEx(found, cv2.MORPH_CLOSE, kernel), np.uint8)
    soft = Image.fromarray(alpha).resize(picture.size, Image.Resampling.BILINEAR)
    return soft.filter(ImageFilter.GaussianBlur(max(1.5, picture.width / 300)))


def guessed_face(size: Size) -> Box:
    """Where a face usually is in a portrait framed without finding it."""
    width, height = size
    side = min(width, height) * 0.3
    return Box(width / 2 - side / 2, height * 0.22, side, side * 1.2)


# --- drawing helpers ---------------------------------------------------------------------------


def _vertical(size: Size, stops: list[tuple[float, Colour]]) -> Image.Image:
    """A top-to-bottom gradient through colour stops at fractions of the height."""
    width, height = size
    ys = np.linspace(0.0, 1.0, height)
    positions = [p for p, _ in stops]
    rows = np.stack(
        [np.interp(ys, positions, [c[channel] for _, c in stops]) for channel in range(3)],
        axis=1,
    )
    return Image.fromarray(np.repeat(rows[:, None, :], width, axis=1).astype(np.uint8))


def _radial(size: Size, centre: Colour, edge: Colour) -> Image.Image:
    ramp = Image.radial_gradient("L").resize(size)
    return ImageOps.colorize(ramp, black=centre, white=edge)


def _glows(
    picture: Image.Image,
    rng: random.Random,
    colours: list[Colour],
    count: int,
    radius: tuple[float, float],
    alpha: tuple[int, int],
    blur: float,
    region: tuple[float, float] = (0.0, 1.0),
) -> Image.Image:
    """Soft discs of light (bokeh, street lights, foliage) over part of the height."""
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    width, height = picture.size
    for _ in range(count):
        r = rng.uniform(*radius) * width
        x = rng.uniform(0, width)
        y = rng.uniform(region[0] * height, region[1] * height)
        colour = rng.choice(colours)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(*colour, rng.randint(*alpha)))
    layer = layer.filter(ImageFilter.GaussianBlur(blur * width / 400))
    return Image.alpha_composite(picture.convert("RGBA"), layer).convert("RGB")


def _ridge(
    draw: ImageDraw.ImageDraw,
    size: Size,
    rng: random.Random,
    base: float,
    peak: float,
    fill: Colour,
) -> None:
    """A jagged mountain ridge between `base` and `peak` (fractions of the height)."""
    width, height = size
    points = [(0.0, float(height))]
    x = 0.0
    while x <= width:
        points.append((x, height * rng.uniform(peak, base)))
        x += width * rng.uniform(0.08, 0.2)
    points += [(float(width), height * rng.uniform(peak, base)), (float(width), float(height))]
    draw.polygon(points, fill=fill)


def _grain(picture: Image.Image, rng: random.Random, amount: float) -> Image.Image:
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, amount, (*picture.size[::-1], 1))
    pixels = np.asarray(picture, dtype=np.float32) + noise
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def _curve(
    picture: Image.Image, shadows: Colour, highlights: Colour, strength: float
) -> Image.Image:
    """Split toning: shadows pulled towards one colour, highlights towards another.

    Each channel becomes p * (1 - 0.65 s) + 0.65 s * (shadow + (highlight - shadow) * L), with
    L the pixel's mean light (r + g + b) / 765: linear in r, g and b, so one colour matrix in
    Pillow's C code does it (not float arrays of the whole picture, about 8x the time)."""
    keep, tone = 1 - 0.65 * strength, 0.65 * strength
    rows: list[float] = []
    for channel in range(3):
        slope = tone * (highlights[channel] - shadows[channel]) / 765
        weights = [slope + (keep if other == channel else 0.0) for other in range(3)]
        rows += [*weights, tone * shadows[channel]]
    return picture.convert("RGB", tuple(rows))


def _fade(picture: Image.Image, black: int, white: int) -> Image.Image:
    """Lifted blacks and dimmed whites, the look of old prints."""
    return picture.point(lambda v: int(black + v * (white - black) / 255))


def _saturate(picture: Image.Image, factor: float) -> Image.Image:
    grey = ImageOps.grayscale(picture).convert("RGB")
    return Image.blend(grey, picture, factor)


def _mono(picture: Image.Image, cutoff: int = 2) -> Image.Image:
    return ImageOps.autocontrast(ImageOps.grayscale(picture), cutoff=cutoff).convert("RGB")


# --- scenes ------------------------------------------------------------------------------------


def _studio(size: Size, rng: random.Random) -> Image.Image:
    return _radial(size, (176, 178, 182), (70, 72, 78))


def _office(size: Size, rng: random.Random) -> Image.Image:
    wall = _vertical(size, [(0, (214, 224, 234)), (1, (168, 184, 200))])
    draw = ImageDraw.Draw(wall)
    width, height = size
    for column in range(4):
        left = width * (0.04 + column * 0.26)
        draw.rectangle(
            (left, height * 0.08, left + width * 0.2, height * 0.6), fill=(236, 244, 252)
        )
    wall = wall.filter(ImageFilter.GaussianBlur(width / 60))
    return _glows(wall, rng, [(255, 255, 255), (200, 220, 240)], 10, (0.03, 0.07), (60, 120), 6)


def _white(size: Size, rng: random.Random) -> Image.Image:
    return _radial(size, (252, 252, 252), (226, 228, 232))


def _park(size: Size, rng: random.Random) -> Image.Image:
    scene = _vertical(size, [(0, (200, 218, 226)), (0.45, (120, 160, 110)), (1, (60, 96, 50))])
    greens = [(46, 110, 40), (86, 140, 60), (130, 170, 80), (30, 80, 36)]
    scene = _glows(scene, rng, greens, 60, (0.05, 0.14), (120, 220), 10, (0.0, 0.8))
    return _glows(scene, rng, [(240, 250, 220)], 12, (0.02, 0.05), (40, 100), 4, (0.0, 0.5))


def _night_city(size: Size, rng: random.Random) -> Image.Image:
    scene = _vertical(size, [(0, (10, 30, 46)), (1, (24, 40, 52))])
    lights = [(255, 170, 80), (80, 200, 220), (255, 220, 160)]
    return _glows(scene, rng, lights, 40, (0.01, 0.05), (90, 200), 5)


def _editorial(size: Size, rng: random.Random) -> Image.Image:
    colour = rng.choice([(232, 72, 110), (240, 110, 60), (40, 120, 220)])
    darker = tuple(int(c * 0.55) for c in colour)
    return _radial(size, colour, darker)  # type: ignore[arg-type]


def _sepia_room(size: Size, rng: random.Random) -> Image.Image:
    scene = _vertical(size, [(0, (170, 140, 100)), (1, (110, 80, 56))])
    return _glows(scene, rng, [(240, 200, 140)], 8, (0.06, 0.14), (40, 90), 12)


def _grey_backdrop(size: Size, rng: random.Random) -> Image.Image:
    return _vertical(size, [(0, (200, 200, 200)), (1, (120, 120, 120))])


def _noir_office(size: Size, rng: random.Random) -> Image.Image:
    scene = _radial(size, (120, 120, 120), (20, 20, 20))
    draw = ImageDraw.Draw(scene)
    width, height = size
    draw.rectangle((width * 0.62, height * 0.1, width * 0.98, height * 0.55), fill=(150, 150, 150))
    draw.line((width * 0.8, height * 0.1, width * 0.8, height * 0.55), fill=(30, 30, 30), width=6)
    return scene.filter(ImageFilter.GaussianBlur(width / 120))


def _sunset(size: Size, rng: random.Random) -> Image.Image:
    stops = [
        (0, (250, 120, 90)),
        (0.55, (255, 190, 110)),
        (0.7, (255, 214, 150)),
        (1, (90, 60, 50)),
    ]
    scene = _vertical(size, stops)
    width, height = size
    sun = Image.new("RGBA", size, (0, 0, 0, 0))
    r = width * 0.16
    x, y = width * rng.uniform(0.15, 0.3), height * 0.6
    ImageDraw.Draw(sun).ellipse((x - r, y - r, x + r, y + r), fill=(255, 245, 200, 255))
    sun = sun.filter(ImageFilter.GaussianBlur(width / 40))
    scene = Image.alpha_composite(scene.convert("RGBA"), sun).convert("RGB")
    return _glows(scene, rng, [(255, 220, 160), (255, 160, 120)], 6, (0.02, 0.05), (60, 120), 2)


def _towers(size: Size, rng: random.Random) -> Image.Image:
    scene = _vertical(size, [(0, (190, 214, 236)), (1, (150, 170, 190))])
    draw = ImageDraw.Draw(scene)
    width, height = size
    x = -width * 0.05
    while x < width:
        tower_w = width * rng.uniform(0.14, 0.26)
        top = height * rng.uniform(0.02, 0.3)
        shade = rng.randint(90, 150)
        draw.rectangle((x, top, x + tower_w, height), fill=(shade - 30, shade, shade + 40))
        for wy in np.arange(top + 8, height, height / 28):
            draw.line((x + 4, wy, x + tower_w - 4, wy), fill=(shade + 40, shade + 70, 220), width=2)
        x += tower_w + width * 0.02
    return scene.filter(ImageFilter.GaussianBlur(width / 150))


def _neon_city(size: Size, rng: random.Random) -> Image.Image:
    scene = _vertical(size, [(0, (14, 6, 34)), (1, (30, 10, 50))])
    glow = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(glow)
    width, height = size
    for _ in range(9):
        colour = rng.choice([(255, 40, 200), (0, 240, 255), (180, 60, 255)])
        x, y = rng.uniform(0, width), rng.uniform(0, height * 0.85)
        w, h = width * rng.uniform(0.08, 0.25), height * rng.uniform(0.02, 0.06)
        draw.rounded_rectangle((x, y, x + w, y + h), radius=h / 2, outline=(*colour, 255), width=4)
    halo = glow.filter(ImageFilter.GaussianBlur(width / 50))
    scene = Image.alpha_composite(scene.convert("RGBA"), halo)
    scene = Image.alpha_composite(scene, halo)
    scene = Image.alpha_composite(scene, glow).convert("RGB")
    rain = ImageDraw.Draw(scene)
    for _ in range(int(width * 0.6)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        rain.line((x, y, x - 4, y + height * 0.04), fill=(150, 170, 220), width=1)
    return scene


def _paper(size: Size, rng: random.Random) -> Image.Image:
    paper = _grain(Image.new("RGB", size, (246, 240, 228)), rng, 6)
    washes = [(150, 190, 230), (240, 170, 170), (170, 220, 190)]
    return _glows(paper, rng, washes, 7, (0.12, 0.25), (50, 110), 14)


def _umber(size: Size, rng: random.Random) -> Image.Image:
    return _radial(size, (96, 66, 38), (24, 16, 10))


def _space(size: Size, rng: random.Random) -> Image.Image:
    scene = Image.new("RGB", size, (4, 6, 18))
    draw = ImageDraw.Draw(scene)
    width, height = size
    for _ in range(int(width * height / 900)):
        x, y, level = rng.uniform(0, width), rng.uniform(0, height), rng.randint(120, 255)
        r = rng.choice([0.6, 0.8, 1.2, 1.8])
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(level, level, min(255, level + 20)))
    earth = Image.new("RGBA", size, (0, 0, 0, 0))
    glow = ImageDraw.Draw(earth)
    r = width * 1.1
    cx, cy = width * 0.5, height + r * 0.78
    glow.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(40, 110, 200, 255))
    glow.ellipse((cx - r * 0.97, cy - r * 0.97, cx + r * 0.97, cy + r * 0.97), fill=(20, 70, 150))
    earth = earth.filter(ImageFilter.GaussianBlur(width / 120))
    return Image.alpha_composite(scene.convert("RGBA"), earth).convert("RGB")


def _mountains_mist(size: Size, rng: random.Random) -> Image.Image:
    scene = _vertical(size, [(0, (60, 66, 82)), (0.6, (120, 120, 126)), (1, (40, 40, 46))])
    draw = ImageDraw.Draw(scene)
    for base, peak, shade in ((0.55, 0.15, 100), (0.7, 0.3, 72), (0.85, 0.5, 44)):
        _ridge(draw, size, rng, base, peak, (shade, shade + 4, shade + 14))
    mist = _vertical(size, [(0, (200, 200, 210)), (1, (200, 200, 210))]).convert("RGBA")
    mist.putalpha(
        _vertical(size, [(0, (0, 0, 0)), (0.55, (110, 110, 110)), (1, (20, 20, 20))]).convert("L")
    )
    scene = Image.alpha_composite(scene.convert("RGBA"), mist).convert("RGB")
    width, height = size
    cloak = [  # a dark red cloak blown out behind the shoulders
        (width * 0.5, height * 0.55),
        (width * 0.02, height * 0.72),
        (width * 0.1, height),
        (width * 0.92, height),
        (width * 0.98, height * 0.66),
    ]
    ImageDraw.Draw(scene).polygon(cloak, fill=(96, 18, 22))
    return scene


def _lasers(size: Size, rng: random.Random) -> Image.Image:
    scene = _vertical(size, [(0, (30, 40, 140)), (1, (110, 40, 160))])
    beams = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(beams)
    width, height = size
    for _ in range(14):
        colour = rng.choice([(120, 230, 255), (255, 120, 230), (255, 255, 255)])
        y0 = rng.uniform(0, height)
        draw.line((0, y0, width, y0 + rng.uniform(-height, height)), fill=(*colour, 220), width=3)
    glow = beams.filter(ImageFilter.GaussianBlur(width / 80))
    scene = Image.alpha_composite(scene.convert("RGBA"), glow)
    return Image.alpha_composite(scene, beams).convert("RGB")


def _beach(size: Size, rng: random.Random) -> Image.Image:
    width, height = size
    stops = [
        (0, (90, 170, 235)),
        (0.45, (170, 215, 245)),
        (0.46, (40, 190, 200)),
        (0.62, (90, 215, 210)),
        (0.63, (238, 222, 180)),
        (1, (222, 196, 150)),
    ]
    scene = _vertical(size, stops)
    draw = ImageDraw.Draw(scene)
    for _ in range(12):  # foam lines on the water
        y = height * rng.uniform(0.48, 0.62)
        x = rng.uniform(0, width)
        draw.line((x, y, x + width * rng.uniform(0.05, 0.2), y), fill=(235, 250, 250), width=2)
    sun_x, r = width * 0.82, width * 0.07
    draw.ellipse((sun_x - r, height * 0.1 - r, sun_x + r, height * 0.1 + r), fill=(255, 250, 215))
    trunk_x = width * rng.choice([0.08, 0.9])
    lean = width * 0.08 * (1 if trunk_x < width / 2 else -1)
    top = (trunk_x + lean, height * 0.14)
    draw.line(((trunk_x, height * 0.8), top), fill=(110, 80, 50), width=max(6, width // 45))
    for side in (-1, 1):  # fronds arching out to each side and drooping at the tips
        for lift in (0.9, 0.4, -0.1):
            frond = [
                (
                    top[0] + side * width * 0.2 * t,
                    top[1] - height * 0.05 * lift * t + height * 0.09 * t * t,
                )
                for t in (0.0, 0.25, 0.5, 0.75, 1.0)
            ]
            draw.line(frond, fill=(34, 110, 52), width=max(5, width // 60), joint="curve")
    return scene


def _cafe(size: Size, rng: random.Random) -> Image.Image:
    scene = _vertical(size, [(0, (120, 80, 50)), (1, (60, 36, 22))])
    draw = ImageDraw.Draw(scene)
    width, height = size
    draw.rectangle((width * 0.05, height * 0.05, width * 0.45, height * 0.5), fill=(230, 214, 180))
    scene = scene.filter(ImageFilter.GaussianBlur(width / 80))
    ambers = [(255, 190, 100), (255, 220, 150), (240, 150, 70)]
    return _glows(scene, rng, ambers, 24, (0.015, 0.04), (120, 220), 3, (0.0, 0.6))


def _snow_peaks(size: Size, rng: random.Random) -> Image.Image:
    scene = _vertical(size, [(0, (70, 130, 210)), (0.6, (180, 210, 240)), (1, (235, 240, 248))])
    draw = ImageDraw.Draw(scene)
    _ridge(draw, size, rng, 0.6, 0.2, (226, 232, 242))
    _ridge(draw, size, rng, 0.75, 0.45, (170, 184, 204))
    _ridge(draw, size, rng, 0.95, 0.7, (244, 247, 252))
    width, height = size
    for _ in range(int(width * 0.4)):
        x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(1, 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255))
    return scene


# --- finishes ----------------------------------------------------------------------------------


def _letterbox(picture: Image.Image, rng: random.Random) -> Image.Image:
    picture = _curve(picture, (0, 90, 110), (255, 170, 90), 0.55)
    bar = picture.height // 9
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, picture.width, bar), fill=(0, 0, 0))
    draw.rectangle((0, picture.height - bar, picture.width, picture.height), fill=(0, 0, 0))
    return picture


def _masthead(picture: Image.Image, rng: random.Random) -> Image.Image:
    picture = ImageOps.autocontrast(_saturate(picture, 1.3), cutoff=1)
    font = ImageFont.load_default(size=max(18, picture.width // 7))
    corner = (picture.width * 0.05, picture.height * 0.02)
    ImageDraw.Draw(picture).text(corner, "EDITORIAL", font=font, fill=(255, 255, 255))
    return picture


def _film(picture: Image.Image, rng: random.Random) -> Image.Image:
    warm = _curve(picture, (60, 40, 30), (250, 220, 170), 0.5)
    return _grain(_fade(_saturate(warm, 0.7), 40, 232), rng, 9)


def _classic_mono(picture: Image.Image, rng: random.Random) -> Image.Image:
    return _grain(_mono(picture, 2), rng, 7)


def _blinds(picture: Image.Image, rng: random.Random) -> Image.Image:
    mono = _mono(picture, 3)
    shade = Image.new("L", picture.size, 0)
    draw = ImageDraw.Draw(shade)
    step = max(8, picture.height // 14)
    for y in range(-picture.width, picture.height, step):
        draw.line((0, y, picture.width, y + picture.width * 0.35), fill=150, width=step // 2)
    shade = shade.filter(ImageFilter.GaussianBlur(step / 6))
    dark = Image.new("RGB", picture.size, (0, 0, 0))
    return _grain(Image.composite(dark, mono, shade), rng, 8)


def _warm_glow(picture: Image.Image, rng: random.Random) -> Image.Image:
    return _curve(_saturate(picture, 1.15), (90, 40, 40), (255, 200, 120), 0.45)


def _cool_crisp(picture: Image.Image, rng: random.Random) -> Image.Image:
    return ImageOps.autocontrast(_curve(picture, (30, 50, 80), (230, 240, 255), 0.3), cutoff=1)


def _neon_grade(picture: Image.Image, rng: random.Random) -> Image.Image:
    return _curve(picture, (60, 0, 110), (0, 240, 255), 0.6)


def _painted(picture: Image.Image, paint: Callable[[NDArray[np.uint8]], Any]) -> Image.Image:
    """Run an OpenCV painting filter on a copy of at most PAINT_SIDE pixels (they cost seconds
    at full size), then bring it back to the picture's size: brush strokes are soft anyway."""
    scale = min(1.0, PAINT_SIDE / max(picture.size))
    small = picture.resize((round(picture.width * scale), round(picture.height * scale)))
    painted = np.asarray(paint(np.asarray(small)[:, :, ::-1].copy()), np.uint8)[:, :, ::-1]
    return Image.fromarray(np.ascontiguousarray(painted)).resize(
        picture.size, Image.Resampling.BICUBIC
    )


def _watercolour(picture: Image.Image, rng: random.Random) -> Image.Image:
    soft = _painted(picture, lambda bgr: cv2.stylization(bgr, sigma_s=40, sigma_r=0.45))
    return _watercolour_face(soft, rng)


def _watercolour_face(picture: Image.Image, rng: random.Random) -> Image.Image:
    """The watercolour's colours without its wash: a painter's finer strokes on the face."""
    return _fade(_saturate(picture, 0.85), 30, 252)


def _brushed(bgr: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Blotches of one colour, like paint laid with a brush (a mode filter)."""
    return np.asarray(Image.fromarray(bgr).filter(ImageFilter.ModeFilter(3)))


def _oil(picture: Image.Image, rng: random.Random) -> Image.Image:
    smooth = _painted(
        picture,
        lambda bgr: _brushed(
            np.asarray(
                cv2.edgePreservingFilter(bgr, flags=cv2.RECURS_FILTER, sigma_s=30, sigma_r=0.3),
                np.uint8,
            )
        ),
    )
    toned = _curve(smooth, (40, 24, 10), (250, 210, 150), 0.5)
    canvas = _grain(Image.new("RGB", picture.size, (128, 128, 128)), rng, 18)
    return Image.blend(toned, canvas, 0.08)


def _armour(picture: Image.Image, rng: random.Random) -> Image.Image:
    """Low-key and steely, the lower half turned to dark metal: armour below the face."""
    dramatic = ImageOps.autocontrast(_saturate(picture, 0.6), cutoff=2)
    graded = _curve(dramatic, (14, 20, 34), (232, 196, 150), 0.45)
    metal = ImageOps.colorize(ImageOps.grayscale(graded), black=(10, 12, 18), white=(200, 208, 220))
    below = _vertical(picture.size, [(0, (0, 0, 0)), (0.62, (0, 0, 0)), (0.8, (230, 230, 230))])
    armoured = Image.composite(metal, graded, below.convert("L"))
    return armoured.point(lambda v: int(255 * (v / 255) ** 1.1))


def _dreamy(picture: Image.Image, rng: random.Random) -> Image.Image:
    glow = picture.filter(ImageFilter.GaussianBlur(picture.width / 90))
    return Image.blend(_fade(picture, 20, 245), glow, 0.45)


def _sunny(picture: Image.Image, rng: random.Random) -> Image.Image:
    return ImageOps.autocontrast(
        _curve(_saturate(picture, 1.25), (0, 80, 110), (255, 230, 170), 0.25)
    )


def _as_is(picture: Image.Image, rng: random.Random) -> Image.Image:
    return picture


def _soft_neutral(picture: Image.Image, rng: random.Random) -> Image.Image:
    return _curve(_saturate(picture, 0.9), (40, 44, 52), (250, 246, 240), 0.25)


# Finishes that hide a face (a painting filter smeared it to "doesn't look like you" at
# 0.64-0.72 whatever its size; the blinds' shadow bars left no face to find) and the lighter
# finish the face gets instead, as a painter renders a face with finer strokes than the
# background and a noir key light falls on the face.
FACE_FINISHES: dict[Finish, Finish] = {_watercolour: _watercolour_face, _blinds: _classic_mono}
# Each style: (scene behind the person, finish over the whole picture).
LOOKS: dict[str, tuple[Scene, Finish]] = {
    "studio-headshot": (_studio, _soft_neutral),
    "linkedin": (_office, _as_is),
    "corporate-team": (_white, _soft_neutral),
    "outdoor-portrait": (_park, _as_is),
    "cinematic": (_night_city, _letterbox),
    "fashion-editorial": (_editorial, _masthead),
    "vintage-film": (_sepia_room, _film),
    "black-and-white": (_grey_backdrop, _classic_mono),
    "film-noir": (_noir_office, _blinds),
    "golden-hour": (_sunset, _warm_glow),
    "corporate-outdoor": (_towers, _cool_crisp),
    "cyberpunk-neon": (_neon_city, _neon_grade),
    "watercolor": (_paper, _watercolour),
    "oil-painting": (_umber, _oil),
    "astronaut": (_space, _cool_crisp),
    "fantasy-warrior": (_mountains_mist, _armour),
    "yearbook-90s": (_lasers, _dreamy),
    "beach-vacation": (_beach, _sunny),
    "coffee-shop": (_cafe, _warm_glow),
    "snowy-mountains": (_snow_peaks, _cool_crisp),
}


def apply_look(
    style_id: str, picture: Image.Image | None, face: Box | None, size: Size, rng: random.Random
) -> Image.Image | None:
    """The person's framed photo (`picture`, at `size`, its face at `face` or guessed) set in
    the style's scene and finished in its look; the scene alone without a photo. None for a
    style without a look, so the caller keeps its plain grades."""
    look = LOOKS.get(style_id)
    if look is None:
        return None
    scene, finish = look
    composed = scene(size, rng)
    if picture is not None:
        mask = person_mask(picture, face or guessed_face(size))
        width, height = size
        scaled = (round(width * PERSON_SCALE), round(height * PERSON_SCALE))
        where = ((width - scaled[0]) // 2, height - scaled[1])
        person = picture.convert("RGB").resize(scaled, Image.Resampling.LANCZOS)
        composed.paste(person, where, mask.resize(scaled, Image.Resampling.BILINEAR))
        face_finish = FACE_FINISHES.get(finish)
        if face is not None and face_finish is not None:
            placed = Box(
                where[0] + face.x * PERSON_SCALE,
                where[1] + face.y * PERSON_SCALE,
                face.width * PERSON_SCALE,
                face.height * PERSON_SCALE,
            )
            finished = finish(composed, rng)
            return Image.composite(face_finish(composed, rng), finished, _face_oval(size, placed))
    return finish(composed, rng)


def _face_oval(size: Size, face: Box) -> Image.Image:
    """A soft oval mask ("L") a little larger than the face, fading out over its edge."""
    mask = Image.new("L", size, 0)
    cx, cy = face.x + face.width / 2, face.y + face.height / 2
    rx, ry = face.width * 0.75, face.height * 0.85
    ImageDraw.Draw(mask).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(float(face.width) / 8))
