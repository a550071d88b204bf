"""How much memory checking one photo costs, per format, and twenty at once.

Pillow's own allocations happen in C, so tracemalloc cannot see them: every figure here is the
peak resident set size (VmHWM) of a fresh child process, reset just before the check, minus
its size at that moment. The worst cases are the largest pictures the header checks let
through, small on disk: a flat 7000x7000 picture (49 MP, under the 50 MP limit) in each format
we take, a 16-bit grey PNG, a palette PNG with transparency, and a 49000x1000 JPEG strip (too
thin for JPEG's reduced decoding to help); and, for each format that decodes whole, the
largest picture the decode budget (PHOTOAI_PHOTO_DECODE_BUDGET_MB) still admits.

    .venv/bin/python bench/photo_memory.py                 # every case, then 20 in parallel
    .venv/bin/python bench/photo_memory.py --case png-rgba  # one case, as JSON (used by tests)
    .venv/bin/python bench/photo_memory.py --parallel 4     # only N checks at once, as JSON
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pillow_heif
from PIL import Image

from photoai.services.photo_checks import PhotoLimits, inspect_photo
from photoai.settings import get_settings

pillow_heif.register_heif_opener()

SIDE = 7000
PARALLEL = 20
CACHE = Path(tempfile.gettempdir()) / "photoai-bench-memory"


def _flat(mode: str, size: tuple[int, int]) -> Image.Image:
    """A flat picture with one darker band, so it is not entirely uniform."""
    colours = {"RGBA": (200, 170, 150, 255), "RGB": (200, 170, 150), "I;16": 40000}
    image = Image.new(mode, size, colours.get(mode, 128))
    image.paste(Image.new(mode, (size[0], size[1] // 10), 0), (0, size[1] // 2))
    return image


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _palette_png(side: int = SIDE) -> bytes:
    image = _flat("L", (side, side)).convert("P")
    return _encode(image, "PNG", transparency=0)


def _budget_side(fmt: str, mode: str) -> int:
    """The side of the largest square picture of this format and mode the decode budget
    admits: the worst case that is checked rather than refused."""
    from photoai.services import photo_decode  # here, so the other cases run on older code

    budget = get_settings().photo_decode_budget_mb * 1024 * 1024
    return math.isqrt(budget // photo_decode.decode_cost(fmt, mode, (1, 1)))


CASES: dict[str, Callable[[], bytes]] = {
    "jpeg-49mp": lambda: _encode(_flat("RGB", (SIDE, SIDE)), "JPEG", quality=90),
    "jpeg-strip": lambda: _encode(_flat("RGB", (49_000, 1000)), "JPEG", quality=90),
    "png-rgba": lambda: _encode(_flat("RGBA", (SIDE, SIDE)), "PNG"),
    "png-16bit-grey": lambda: _encode(_flat("I;16", (SIDE, SIDE)), "PNG"),
    "png-palette-alpha": _palette_png,
    "webp-rgba": lambda: _encode(_flat("RGBA", (SIDE, SIDE)), "WEBP", lossless=True),
    "heic": lambda: _encode(_flat("RGB", (SIDE, SIDE)), "HEIF", quality=50),
    # The largest of each that the decode budget admits, so they are decoded and checked.
    "png-rgba-budget": lambda: _encode(_flat("RGBA", (_budget_side("PNG", "RGBA"),) * 2), "PNG"),
    "png-palette-budget": lambda: _palette_png(_budget_side("PNG", "P")),
    "webp-rgba-budget": lambda: _encode(
        _flat("RGBA", (_budget_side("WEBP", "RGBA"),) * 2), "WEBP", lossless=True
    ),
    "heic-budget": lambda: _encode(
        _flat("RGB", (_budget_side("HEIF", "RGB"),) * 2), "HEIF", quality=50
    ),
}


def case_file(name: str) -> Path:
    """The case's file, made once and kept in the temp folder (a 49 MP HEIC takes seconds)."""
    path = CACHE / f"{name}.bin"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        part = path.with_suffix(f".{os.getpid()}.part")
        part.write_bytes(CASES[name]())
        part.replace(path)
    return path


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets this process's peak RSS (VmHWM) to its RSS."""
    Path("/proc/self/clear_refs").write_text("5")


def _warm_up(limits: PhotoLimits) -> None:
    """Load the face models and the libraries once, as a running web process has: a real
    portrait, so the detector, landmark and embedding models are all in memory."""
    from skimage import data

    portrait = Image.fromarray(data.astronaut())
    inspect_photo(_encode(portrait, "JPEG"), "warm-up.jpg", limits)


def measure_one(name: str) -> dict[str, object]:
    limits = PhotoLimits.from_settings(get_settings())
    data = case_file(name).read_bytes()
    _warm_up(limits)
    _reset_peak()
    base = _status_kb("VmRSS")
    verdict = inspect_photo(data, name, limits)
    peak = _status_kb("VmHWM")
    return {
        "case": name,
        "file_kb": len(data) // 1024,
        "peak_mb": round((peak - base) / 1024, 1),
        "reasons": list(verdict.reasons),
    }


def measure_parallel(names: list[str], count: int) -> dict[str, object]:
    """`count` uploads of the worst cases handed over at once, as the upload handler does:
    to the photo-check threads, which take as many at a time as there are check slots."""
    from photoai.services import photo_decode  # here, so the other cases run on older code

    limits = PhotoLimits.from_settings(get_settings())
    files = [case_file(names[n % len(names)]).read_bytes() for n in range(count)]
    _warm_up(limits)
    _reset_peak()
    base = _status_kb("VmRSS")
    began = time.perf_counter()
    pool = photo_decode.check_pool(limits.check_concurrency)
    verdicts = list(pool.map(lambda data: inspect_photo(data, "parallel", limits), files))
    peak = _status_kb("VmHWM")
    return {
        "uploads": len(verdicts),
        "concurrency": limits.check_concurrency,
        "base_mb": round(base / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "seconds": round(time.perf_counter() - began, 1),
    }


def _in_child(*args: str) -> dict[str, object]:
    """Run this script in a fresh interpreter, so no earlier case's peak is counted."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--parallel", type=int, metavar="N", help="only N checks in parallel")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(measure_one(args.case)))
        return
    if args.parallel:
        print(json.dumps(measure_parallel(sorted(CASES), args.parallel)))
        return
    for name in CASES:
        case_file(name)
    print(f"{'case':<20}{'file KB':>9}{'peak MB':>9}  verdict")
    for name in CASES:
        row = _in_child("--case", name)
        verdict = ", ".join(row["reasons"]) or "accepted"  # type: ignore[arg-type]
        print(f"{name:<20}{row['file_kb']:>9}{row['peak_mb']:>9}  {verdict}")
    row = _in_child("--parallel", str(PARALLEL))
    print(
        f"{row['uploads']} worst-case uploads at once in one process, {row['concurrency']} "
        f"checked at a time: peak RSS {row['peak_rss_mb']} MB (from {row['base_mb']} MB), "
        f"{row['seconds']} s"
    )


if __name__ == "__main__":
    main()
