"""Render the style previews into assets/styles/{id}.webp, offline, with the demo generator.

The portrait is scikit-image's astronaut (Eileen Collins, NASA, public domain), so the files
can ship with the product. Each preview goes through the same path as a user's Instant demo
picture (the style's prompt, the style's shape), then is shrunk to a small WebP for the style
picker. Seeds come from the style id, so running the script again gives the same files; run it
after adding or changing a style (needs the dev dependencies):

    .venv/bin/python scripts/make_style_previews.py
"""

import zlib
from io import BytesIO
from pathlib import Path

import skimage.data
from PIL import Image, ImageOps

from photoai.providers.demo_generator import DemoGenerator
from photoai.providers.generation_base import GenerationRequest, size_for
from photoai.services.styles import STYLES, instant_subject
from photoai.settings import PROJECT_ROOT

OUT_DIR = PROJECT_ROOT / "assets" / "styles"
PREVIEW_WIDTH = 320
WEBP_QUALITY = 75


def portrait_jpeg() -> bytes:
    out = BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(out, "JPEG", quality=92)
    return out.getvalue()


def render_preview(style_id: str, prompt: str, aspect_ratio: str, seed: int, photo: bytes) -> bytes:
    width, height = size_for(aspect_ratio)
    request = GenerationRequest(
        prompt=prompt,
        width=width,
        height=height,
        seed=seed,
        reference_images=[photo],
        style_id=style_id,
    )
    [output] = DemoGenerator().generate(request)
    assert output.data is not None
    with Image.open(BytesIO(output.data)) as picture:
        small = ImageOps.contain(
            picture, (PREVIEW_WIDTH, PREVIEW_WIDTH * 4), Image.Resampling.LANCZOS
        )
    out = BytesIO()
    small.save(out, "WEBP", quality=WEBP_QUALITY, method=6)
    return out.getvalue()


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    photo = portrait_jpeg()
    subject = instant_subject("woman")
    for style in STYLES:
        data = render_preview(
            style.id,
            style.render(subject),
            style.aspect_ratio,
            zlib.crc32(style.id.encode()),
            photo,
        )
        path = OUT_DIR / f"{style.id}.webp"
        path.write_bytes(data)
        print(f"{path.relative_to(PROJECT_ROOT)}: {len(data) / 1024:.1f} KB")
    known = {f"{style.id}.webp" for style in STYLES}
    for stale in sorted(Path(OUT_DIR).glob("*.webp")):
        if stale.name not in known:
            stale.unlink()
            print(f"removed {stale.relative_to(PROJECT_ROOT)} (no such style)")


if __name__ == "__main__":
    main()
