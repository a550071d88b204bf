"""How long one upload's checks take on phone-sized photos.

Makes 20 different 12-megapixel JPEGs (4000x3000) from matplotlib's Grace Hopper portrait
(crops, mirror, light; scaled up to phone size) and runs `inspect_photo` on each with every
check on, as the upload path does. Making the files is not timed.

    .venv/bin/python bench/photo_processing.py
"""

import statistics
import time
from io import BytesIO

import matplotlib.cbook
from PIL import Image, ImageEnhance, ImageOps

from photoai.services.photo_checks import PhotoLimits, inspect_photo
from photoai.settings import get_settings

COUNT = 20
SIZE = (4000, 3000)


def portrait() -> Image.Image:
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as image:
        return image.convert("RGB")


def phone_photo(source: Image.Image, n: int) -> bytes:
    """The n-th variation: a 4:3 window that slides and shrinks, mirrored every other time.

    The window keeps the whole face in view (her face spans rows 90-300 of the portrait), so
    every photo should be accepted: a refusal here is a bug, not a variation.
    """
    share = 1.0 - 0.02 * (n % 8)
    width = round(source.width * share)
    height = round(width * SIZE[1] / SIZE[0])
    x = round((source.width - width) * ((n * 37) % 100) / 100)
    y = round(60 * ((n * 53) % 100) / 100)
    image = source.crop((x, y, x + width, y + height)).resize(SIZE, Image.Resampling.BICUBIC)
    if n % 2:
        image = ImageOps.mirror(image)
    image = ImageEnhance.Brightness(image).enhance(0.85 + 0.015 * n)
    out = BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def main() -> None:
    limits = PhotoLimits.from_settings(get_settings())
    source = portrait()
    files = [phone_photo(source, n) for n in range(COUNT)]
    megabytes = sum(len(f) for f in files) / COUNT / 1e6
    print(f"{COUNT} JPEGs of {SIZE[0]}x{SIZE[1]}, {megabytes:.1f} MB on average")

    inspect_photo(files[0], "warm-up.jpg", limits)  # loads the cascade once, as a worker would
    seconds: list[float] = []
    accepted = 0
    for n, data in enumerate(files):
        started = time.perf_counter()
        verdict = inspect_photo(data, f"IMG_{n:04d}.jpg", limits)
        seconds.append(time.perf_counter() - started)
        accepted += verdict.accepted
        if not verdict.accepted:
            print(f"  photo {n}: {', '.join(verdict.reasons)}")
    print(f"accepted {accepted} of {COUNT}")
    print(
        f"seconds per photo: mean {statistics.mean(seconds):.3f}, "
        f"max {max(seconds):.3f}; total {sum(seconds):.2f}"
    )


if __name__ == "__main__":
    main()
