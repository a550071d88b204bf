"""What the face embeddings cost: per uploaded 12 MP photo and per delivered 1024 px picture.

Ingest: 12-megapixel JPEGs (4000x3000) made from both portraits (the astronaut's face is small
in her picture, so hers take the detector's upsampled look; Grace Hopper's is large) through
`inspect_photo` with every check on, embedding included, as the upload path does.
Delivery: 1024x1024 pictures through `likeness_score.embed_picture`, as the delivery job does.
Targets (issue 11): ingest <= 0.30 s per photo, scoring <= 0.15 s per picture, on one core;
run it pinned to one core (on a busy machine compare the CPU column, the process's own CPU
time, which other processes inflate far less than the wall clock). "met" compares the CPU mean
with the target; "face embedded" counts the photos and pictures that gave an embedding:

    taskset -c 0 .venv/bin/python bench/likeness_cost.py
"""

import os
import statistics
import time
from collections.abc import Callable
from io import BytesIO

import matplotlib.cbook
import skimage.data
from PIL import Image, ImageEnhance, ImageOps

from photoai.services.likeness_score import embed_picture
from photoai.services.photo_checks import PhotoLimits, inspect_photo
from photoai.settings import get_settings

COUNT = 10
PHONE = (4000, 3000)
DELIVERED = (1024, 1024)


def portraits() -> dict[str, Image.Image]:
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as grace:
        hopper = grace.convert("RGB")
    return {"astronaut": Image.fromarray(skimage.data.astronaut()), "grace": hopper}


def variant(source: Image.Image, n: int, size: tuple[int, int]) -> bytes:
    """The n-th framing of the portrait at `size`: a sliding window, mirrored every other
    time, a little lighter each time; the whole face stays in view."""
    share = 1.0 - 0.02 * (n % 6)
    width = round(source.width * share)
    height = min(source.height, round(width * size[1] / size[0]))
    x = round((source.width - width) * ((n * 37) % 100) / 100)
    image = source.crop((x, 0, x + width, height)).resize(size, Image.Resampling.BICUBIC)
    if n % 2:
        image = ImageOps.mirror(image)
    image = ImageEnhance.Brightness(image).enhance(0.9 + 0.02 * n)
    out = BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def timed(label: str, work: Callable[[bytes], bool], files: list[bytes], target: float) -> None:
    work(files[0])  # warm-up: loads the dlib models once, as a worker would
    seconds = []
    cpu = []
    found = 0
    for data in files:
        started, cpu_started = time.perf_counter(), time.process_time()
        found += work(data)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    print(
        f"| {label:<28} | {len(files):>3} | {statistics.mean(seconds):.3f} s | "
        f"{statistics.median(seconds):.3f} s | {max(seconds):.3f} s | "
        f"{statistics.mean(cpu):.3f} s | {target:.2f} s | "
        f"{'yes' if statistics.mean(cpu) <= target else 'no'} | {found}/{len(files)} |"
    )


def main() -> None:
    print(f"CPUs this process may use: {len(os.sched_getaffinity(0))}")
    limits = PhotoLimits.from_settings(get_settings())
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        "| what                         |   n |  mean   | median  |   max   | CPU mean | target "
        "| met | face embedded |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, source in portraits().items():
        phone = [variant(source, n, PHONE) for n in range(COUNT)]
        timed(
            f"ingest 12 MP, {name}",
            lambda data: bool(inspect_photo(data, "x.jpg", limits).embedding),
            phone,
            0.30,
        )
        delivered = [variant(source, n, DELIVERED) for n in range(COUNT)]

        def score(data: bytes) -> bool:
            with Image.open(BytesIO(data)) as picture:
                return embed_picture(picture) is not None

        timed(f"score 1024 px, {name}", score, delivered, 0.15)


if __name__ == "__main__":
    main()
