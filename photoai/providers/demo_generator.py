"""The demo generator: real, distinct pictures made offline from the user's own photos.

It needs no key and no network, so every generation flow (credits, jobs, storage, gallery)
works on a first run and in tests. Each picture is one of the user's photos, chosen by the
seed and cropped to the requested size. A catalogue style gets its own look (`demo_looks`:
the person set in a scene drawn for the style, then graded and textured for it); a prompt of
the user's own gets a grade read from its words, with a soft pattern. Then a vignette and a
visible "DEMO" label: the same seed, prompt and style always give the same picture, and nobody
mistakes it for AI output.
"""

import hashlib
import random
import secrets
from collections.abc import Callable
from functools import lru_cache
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont, ImageOps

from photoai.providers.base import ProviderRejected
from photoai.providers.demo_looks import LOOKS, apply_look, frame_person
from photoai.providers.generation_base import GeneratedOutput, GenerationRequest

NAME = "demo"
LABEL = "DEMO"
JPEG_QUALITY = 88
MAX_SEED = 2**31 - 1

Grade = Callable[[Image.Image, random.Random], Image.Image]


def _mono(image: Image.Image, rng: random.Random) -> Image.Image:
    return ImageOps.autocontrast(ImageOps.grayscale(image), cutoff=1).convert("RGB")


def _duotone(dark: tuple[int, int, int], light: tuple[int, int, int]) -> Grade:
    def grade(image: Image.Image, rng: random.Random) -> Image.Image:
        return ImageOps.colorize(ImageOps.grayscale(image), black=dark, white=light)

    return grade


def _tint(colour: tuple[int, int, int], strength: float) -> Grade:
    def grade(image: Image.Image, rng: random.Random) -> Image.Image:
        return Image.blend(image, Image.new("RGB", image.size, colour), strength)

    return grade


def _random_tint(image: Image.Image, rng: random.Random) -> Image.Image:
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    return _tint(colour, rng.uniform(0.12, 0.3))(image, rng)


# The first style whose words appear in the prompt wins; otherwise a tint from the hash.
_STYLES: tuple[tuple[tuple[str, ...], Grade], ...] = (
    (("black and white", "black & white", "monochrome", "noir", "b&w"), _mono),
    (("vintage", "retro", "sepia", "film", "polaroid"), _duotone((40, 26, 13), (245, 222, 179))),
    (("neon", "cyberpunk", "synthwave", "night city"), _duotone((30, 0, 60), (0, 240, 255))),
    (("sunset", "golden hour", "warm", "beach", "autumn"), _tint((255, 140, 40), 0.25)),
    (("winter", "snow", "ice", "cold", "arctic"), _tint((90, 160, 255), 0.25)),
)


def _grade_for(prompt: str) -> Grade:
    lowered = prompt.lower()
    for words, grade in _STYLES:
        if any(word in lowered for word in words):
            return grade
    return _random_tint


class DemoGenerator:
    name = NAME

    def supports(self, request: GenerationRequest) -> bool:
        """Every mode: a trained model or reference photos only change which photos it uses."""
        return True

    def generate(self, request: GenerationRequest) -> list[GeneratedOutput]:
        first_seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED)
        seeds = [(first_seed + index) % (MAX_SEED + 1) for index in range(request.n)]
        photos = request.reference_images
        decoded: dict[int, Image.Image] = {}
        outputs = []
        for seed in seeds:
            base = None
            if photos:
                index = seed % len(photos)
                if index not in decoded:
                    decoded[index] = _decode(photos[index], request.width, request.height)
                base = decoded[index]
            data = render(
                base, request.prompt, seed, request.width, request.height, request.style_id
            )
            outputs.append(GeneratedOutput(content_type="image/jpeg", data=data, seed=seed))
        return outputs


def _decode(data: bytes, width: int, height: int) -> Image.Image:
    """An upright RGB copy no larger than twice the target, so grading stays fast."""
    try:
        with Image.open(BytesIO(data)) as opened:
            opened.draft("RGB", (width * 2, height * 2))
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ProviderRejected("a reference photo is not a readable image") from exc
    image.thumbnail((width * 2, height * 2))
    return image


def render(
    base: Image.Image | None, prompt: str, seed: int, width: int, height: int, style_id: str = ""
) -> bytes:
    """One demo picture as JPEG bytes; a pure function of its arguments."""
    digest = hashlib.sha256(f"{seed}\n{prompt}".encode()).digest()
    rng = random.Random(digest)  # noqa: S311 - picture variety, not security
    size = (width, height)
    framed, face = None, None
    if base is not None and style_id in LOOKS:
        found = frame_person(base, size, rng)
        framed, face = found if found is not None else (_crop(base, size, rng), None)
    elif base is not None:
        framed = _crop(base, size, rng)
    styled = apply_look(style_id, framed, face, size, rng)
    if styled is not None:
        picture = _vignette(styled, rng, weak=True)
    else:
        picture = framed if framed is not None else _backdrop(size, rng)
        picture = _vignette(_pattern(_grade_for(prompt)(picture, rng), rng), rng)
    _stamp(picture)
    out = BytesIO()
    picture.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _crop(photo: Image.Image, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A zoomed, off-centre crop to the requested shape, so one photo yields many frames.

    Bicubic, with Pillow's reducing gap when the crop is larger than the picture: at 1024 px
    a third of Lanczos's time for no difference a viewer of a demo picture could see."""
    zoom = rng.uniform(0.75, 1.0)
    box_w, box_h = max(1, int(photo.width * zoom)), max(1, int(photo.height * zoom))
    left = rng.randint(0, photo.width - box_w)
    top = rng.randint(0, photo.height - box_h)
    region = photo.crop((left, top, left + box_w, top + box_h))
    return ImageOps.fit(region, size, method=Image.Resampling.BICUBIC)


def _backdrop(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A two-colour gradient for a request that came without photos."""
    colours = [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(2)]
    ramp = Image.linear_gradient("L").rotate(rng.uniform(0, 360)).resize(size)
    return ImageOps.colorize(ramp, black=colours[0], white=colours[1])


def _pattern(picture: Image.Image, rng: random.Random) -> Image.Image:
    """Soft translucent discs ("bokeh") or diagonal bands, placed by the hash: blended
    straight into the picture (an RGBA pen), not drawn on a layer composited over all of it.
    Draws into the picture it is given, which `render` has just made for it."""
    draw = ImageDraw.Draw(picture, "RGBA")
    width, height = picture.size
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    if rng.random() < 0.5:
        for _ in range(rng.randint(6, 14)):
            radius = rng.randint(min(width, height) // 30, min(width, height) // 8)
            x, y = rng.randrange(width), rng.randrange(height)
            alpha = rng.randint(25, 70)
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(*colour, alpha))
    else:
        step = rng.randint(width // 12, width // 5)
        band = max(2, step // rng.randint(3, 6))
        for start in range(-height, width, step):
            draw.line(
                ((start, height), (start + height, 0)),
                fill=(*colour, rng.randint(20, 45)),
                width=band,
            )
    return picture


@lru_cache(maxsize=16)
def _radial(size: tuple[int, int]) -> Image.Image:
    """A radial ramp (black centre, white corners) at `size`: the few picture sizes made
    again and again, each made once per process."""
    return Image.radial_gradient("L").resize(size)


def _vignette(picture: Image.Image, rng: random.Random, *, weak: bool = False) -> Image.Image:
    strength = rng.uniform(0.2, 0.35) if weak else rng.uniform(0.45, 0.8)
    mask = _radial(picture.size).point(lambda value: int(value * strength))
    return Image.composite(Image.new("RGB", picture.size, (0, 0, 0)), picture, mask)


def _stamp(picture: Image.Image) -> None:
    """A small white-on-black "DEMO" tag in the bottom-right corner."""
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(12, min(picture.size) // 28))
    left, top, right, bottom = draw.textbbox((0, 0), LABEL, font=font)
    pad = max(4, (bottom - top) // 3)
    x1 = picture.width - pad * 2
    y1 = picture.height - pad * 2
    x0 = x1 - (right - left) - pad * 2
    y0 = y1 - (bottom - top) - pad * 2
    draw.rectangle((x0, y0, x1, y1), fill=(0, 0, 0))
    draw.text((x0 + pad - left, y0 + pad - top), LABEL, font=font, fill=(255, 255, 255))
