"""Decoding an upload at working size, within a memory budget, a few at a time.

A 200 KB PNG can hold 49 megapixels, and Pillow decodes PNG, WebP and HEIC whole: that one
file cost 790 MB to check, four at once took a web process to 3.3 GB. So the cost of decoding
is worked out from the header before any pixel is decoded and refused above the operator's
budget; JPEG is first asked to decode at a reduced scale (`draft`), which is free. Right after
decoding, the picture is reduced to the working size (the training size and the analysis size
are all the checks need) and the full-size copy is dropped. Every check in a process takes a
slot from one semaphore, so the budget times the slots bounds what checks cost a process.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from math import ceil

from PIL import Image

# Bytes per decoded pixel on top of Pillow's own copy, measured with bench/photo_memory.py:
# libwebp's animation decoder keeps two RGBA canvases and hands Pillow a third copy as bytes;
# libheif keeps its YUV planes and an RGB(A) buffer while Pillow copies from it.
_DECODER_BYTES_PER_PIXEL = {"JPEG": 0, "PNG": 0, "WEBP": 12, "HEIF": 5}
# Modes that cannot be averaged down as they are (palette indices, bits): converted first,
# at full size, which the cost estimate counts.
_CONVERT_BEFORE_REDUCING = {"1": "L", "P": "RGBA", "PA": "RGBA"}
# Modes `Image.reduce` refuses; they go straight to `resize`, whose passes are small anyway.
_NOT_REDUCIBLE = ("I;16", "I;16L", "I;16B", "I;16N")
# Rows reduced at a time (a few MB even for the widest picture the pixel limit lets through).
_BAND_ROWS = 256


class OverBudget(Exception):
    """Decoding this picture would cost more memory than the budget allows."""

    def __init__(self, max_megapixels: float) -> None:
        super().__init__(f"at most {max_megapixels:g} MP")
        self.max_megapixels = max_megapixels


@cache
def check_slots(concurrency: int) -> threading.BoundedSemaphore:
    """The process's one semaphore for photo checks (one per configured size): the bound
    holds whoever calls, a thread pool, a script or a test."""
    return threading.BoundedSemaphore(concurrency)


@cache
def check_pool(concurrency: int) -> ThreadPoolExecutor:
    """Threads of their own for photo checks, as many as there are slots.

    Waiting for a slot in the shared `asyncio.to_thread` pool would hold threads every other
    request needs; and the same few threads doing every decode reuse the same malloc arenas,
    where twenty threads each leave their own arena's freed megabytes in the process.
    """
    return ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="photo-check")


def pixel_bytes(mode: str) -> int:
    """What Pillow stores per pixel: one byte for 1/L/P, two for 16-bit grey, else four
    (Pillow keeps every multi-band pixel, RGB included, in four bytes)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode in _NOT_REDUCIBLE:
        return 2
    return 4


def working_size(width: int, height: int, long_side: int, short_side: int) -> tuple[int, int]:
    """The smallest size, same shape, whose long side reaches `long_side` and short side
    reaches `short_side`; never larger than the picture itself."""
    scale = min(1.0, max(long_side / max(width, height), short_side / min(width, height)))
    return max(1, ceil(width * scale)), max(1, ceil(height * scale))


def decode_cost(fmt: str, mode: str, size: tuple[int, int]) -> int:
    """Peak bytes of decoding a picture of this format, mode and (drafted) size whole."""
    per_pixel = pixel_bytes(mode) + _DECODER_BYTES_PER_PIXEL[fmt]
    if mode in _CONVERT_BEFORE_REDUCING:
        per_pixel += pixel_bytes(_CONVERT_BEFORE_REDUCING[mode])
    return size[0] * size[1] * per_pixel


def decode_reduced(
    image: Image.Image, fmt: str, target: tuple[int, int], budget_bytes: int
) -> Image.Image:
    """Decode `image`, close it, and return a copy of `target` size.

    Raises OverBudget, naming the largest picture of this format and mode that fits, before
    decoding anything; Pillow's decoding errors (OSError, ValueError...) pass through. Each
    full-size copy is closed as soon as the next, smaller one exists, so the peak is the
    decode itself (which the budget bounds) plus copies at most twice the target's sides.
    """
    if fmt == "JPEG" and target != image.size:
        image.draft(None, target)
    cost = decode_cost(fmt, image.mode, image.size)
    if cost > budget_bytes:
        per_pixel = cost / (image.size[0] * image.size[1])
        raise OverBudget(max_megapixels=round(budget_bytes / per_pixel / 1e6, 1))
    image.load()
    full = image
    if image.mode in _CONVERT_BEFORE_REDUCING:
        wanted = _CONVERT_BEFORE_REDUCING[image.mode]
        if image.mode == "P" and "transparency" not in image.info:
            wanted = "RGB"
        full = image.convert(wanted)
        image.close()
    info = dict(full.info)
    # Box-average by a whole factor first: cheap, and the copy is at most twice the target's
    # sides, so the resample after it (which copies pictures with alpha once more) is small.
    factor = min(full.size[0] // target[0], full.size[1] // target[1])
    if factor > 1 and full.mode not in _NOT_REDUCIBLE:
        reduced = _reduce_in_bands(full, factor)
        full.close()
        full = reduced
    # BICUBIC, not LANCZOS: on a JPEG drafted to 2000x1500 for a 1024x768 target it costs two
    # thirds (43 ms instead of 64) and stays within 0.7-0.9 dB PSNR of a full decode through
    # LANCZOS; BILINEAR would cost 24 ms but loses 5 dB and a quarter of the edge energy.
    small = full.resize(target, Image.Resampling.BICUBIC) if full.size != target else full.copy()
    full.close()
    small.info = info
    return small


def _reduce_in_bands(full: Image.Image, factor: int) -> Image.Image:
    """`full.reduce(factor)` a band of rows at a time: Pillow premultiplies a picture with
    alpha into a full-size copy before reducing it, which here costs only a band."""
    width, height = full.size[0] // factor, full.size[1] // factor
    out = Image.new(full.mode, (width, height))
    rows = factor * max(1, _BAND_ROWS // factor)
    for top in range(0, height * factor, rows):
        bottom = min(top + rows, height * factor)
        with full.crop((0, top, width * factor, bottom)) as band, band.reduce(factor) as small:
            out.paste(small, (0, top // factor))
    return out
