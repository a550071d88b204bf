"""How well dlib's face embeddings tell people apart, on real faces that ship in packages.

Identities: scikit-image's astronaut (Eileen Collins) and matplotlib's Grace Hopper, each in
variants a user's own photos differ by (framing, mirror, tilt, light, colour, grey, a cheap
phone's JPEG, a small face, dark glasses) and run through the upload path's face code
(`faces.detect_faces` on a 512 px copy, then `faces.embed`). Every same-person pair and every
different-person pair is measured; the table gives the distributions and the false accepts
(different people within the threshold) and false rejects (one person beyond it).

A third row measures scikit-image's 100 LFW face thumbnails against each other (25 px each,
scaled up; identities are not labelled there, so a few pairs may be one person): a pessimistic
look at how often strangers at low resolution come within the threshold.

    .venv/bin/python bench/likeness_eval.py [--threshold 0.6]
"""

import argparse
import itertools
from collections.abc import Callable
from io import BytesIO

import matplotlib.cbook
import numpy as np
import skimage.data
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from photoai.services import faces
from photoai.settings import get_settings

ANALYSIS_SIDE = 512
SWEEP = (0.45, 0.5, 0.55, 0.6, 0.65)
Variant = Callable[[Image.Image], Image.Image]


def astronaut() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut())


def grace_hopper() -> Image.Image:
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as image:
        return image.convert("RGB")


def crop(share: float, x: float, y: float) -> Variant:
    def apply(image: Image.Image) -> Image.Image:
        w, h = round(image.width * share), round(image.height * share)
        left, top = round((image.width - w) * x), round((image.height - h) * y)
        return image.crop((left, top, left + w, top + h))

    return apply


def light(factor: float) -> Variant:
    return lambda image: ImageEnhance.Brightness(image).enhance(factor)


def cheap_jpeg(image: Image.Image) -> Image.Image:
    out = BytesIO()
    image.save(out, "JPEG", quality=25)
    with Image.open(BytesIO(out.getvalue())) as again:
        return again.convert("RGB")


def small_face(image: Image.Image) -> Image.Image:
    """The portrait at a quarter of its size in the middle of a plain wall."""
    canvas = Image.new("RGB", (image.width * 2, image.height * 2), (180, 175, 165))
    small = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    canvas.paste(small, (image.width // 2, image.height // 2))
    return canvas


def warm(image: Image.Image) -> Image.Image:
    r, g, b = image.split()
    r = r.point(lambda v: min(255, v * 1.12))
    return Image.merge("RGB", (r, g, b.point(lambda v: v * 0.88)))


VARIANTS: dict[str, Variant] = {
    "original": lambda image: image,
    "mirror": ImageOps.mirror,
    "crop 85% top-left": crop(0.85, 0.0, 0.0),
    "crop 70% centre": crop(0.7, 0.5, 0.3),
    "tilt 10": lambda image: image.rotate(10, Image.Resampling.BICUBIC),
    "tilt -10": lambda image: image.rotate(-10, Image.Resampling.BICUBIC),
    "dark 0.5": light(0.5),
    "bright 1.5": light(1.5),
    "low contrast": lambda image: ImageEnhance.Contrast(image).enhance(0.6),
    "warm": warm,
    "grey": lambda image: ImageOps.grayscale(image).convert("RGB"),
    "soft blur": lambda image: image.filter(ImageFilter.GaussianBlur(1.5)),
    "JPEG q25": cheap_jpeg,
    "small face": small_face,
}


def with_glasses(image: Image.Image, face: faces.Face) -> Image.Image:
    """Dark glasses drawn over the eyes of the face found (an occlusion, not a new person)."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    eye_y = face.y + face.height * 0.38
    for centre in (face.x + face.width * 0.3, face.x + face.width * 0.7):
        r = face.width * 0.16
        draw.ellipse((centre - r, eye_y - r * 0.7, centre + r, eye_y + r * 0.7), fill=(15, 15, 20))
    return out


def analysis_copy(image: Image.Image) -> np.ndarray:
    factor = ANALYSIS_SIDE / min(image.size)
    size = (round(image.width * factor), round(image.height * factor))
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR).convert("RGB"))


def embedding(image: Image.Image) -> tuple[faces.Embedding | None, faces.Face | None]:
    pixels = analysis_copy(image)
    found = faces.detect_faces(pixels)
    return (faces.embed(pixels, found[0]), found[0]) if found else (None, None)


def identity_embeddings(source: Image.Image) -> tuple[dict[str, faces.Embedding], list[str]]:
    embeddings: dict[str, faces.Embedding] = {}
    missed = []
    for name, variant in VARIANTS.items():
        vector, face = embedding(variant(source))
        if vector is None:
            missed.append(name)
            continue
        embeddings[name] = vector
        if name == "original" and face is not None:
            factor = min(source.size) / ANALYSIS_SIDE
            box = (face.x, face.y, face.width, face.height)
            scaled = faces.Face(*(round(v * factor) for v in box))
            glasses, _ = embedding(with_glasses(source, scaled))
            if glasses is None:
                missed.append("dark glasses")
            else:
                embeddings["dark glasses"] = glasses
    return embeddings, missed


def lfw_embeddings() -> list[faces.Embedding]:
    """scikit-image's LFW thumbnails (the first 100 of `lfw_subset` are faces), scaled up and
    framed the way the detector expects; the whole thumbnail is the face box when the
    detector misses it."""
    out = []
    for thumb in skimage.data.lfw_subset()[:100]:
        face = Image.fromarray((thumb * 255).astype(np.uint8)).convert("RGB")
        canvas = Image.new("RGB", (300, 300), (128, 128, 128))
        canvas.paste(face.resize((200, 200), Image.Resampling.LANCZOS), (50, 50))
        pixels = np.asarray(canvas)
        found = faces.detect_faces(pixels)
        out.append(faces.embed(pixels, found[0] if found else faces.Face(50, 50, 200, 200)))
    return out


def describe(label: str, distances: list[float], threshold: float, same: bool) -> str:
    values = np.array(distances)
    errors = values > threshold if same else values <= threshold
    kind = "false reject" if same else "false accept"
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return (
        f"| {label:<34} | {len(values):>5} | {values.min():.3f} | {p5:.3f} | {p50:.3f} | "
        f"{p95:.3f} | {values.max():.3f} | {kind} {errors.mean() * 100:5.1f} % ({errors.sum()}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=get_settings().likeness_threshold)
    threshold = parser.parse_args().threshold

    people = {"astronaut": astronaut(), "grace_hopper": grace_hopper()}
    embedded = {}
    for person, source in people.items():
        embedded[person], missed = identity_embeddings(source)
        print(f"{person}: {len(embedded[person])} variants embedded; no face found in: {missed}")

    same = {
        person: [faces.distance(a, b) for a, b in itertools.combinations(vectors.values(), 2)]
        for person, vectors in embedded.items()
    }
    different = [
        faces.distance(a, b)
        for a in embedded["astronaut"].values()
        for b in embedded["grace_hopper"].values()
    ]
    lfw = lfw_embeddings()
    strangers = [faces.distance(a, b) for a, b in itertools.combinations(lfw, 2)]
    ours = [v for vectors in embedded.values() for v in vectors.values()]
    ours_vs_lfw = [faces.distance(a, b) for a in ours for b in lfw]

    print(f"\nthreshold {threshold}\n")
    print(
        "| pairs                              |     n |  min  |  p5   |  p50  |  p95  |  max  "
        "| errors at threshold     |"
    )
    print("|" + "---|" * 8)
    for person, distances in same.items():
        print(describe(f"same: {person} variants", distances, threshold, same=True))
    print(describe("different: astronaut vs grace_hopper", different, threshold, same=False))
    print(describe("different: ours vs LFW 25 px faces", ours_vs_lfw, threshold, same=False))
    print(describe("LFW 25 px faces, unlabelled pairs", strangers, threshold, same=False))
    same_all = np.array([d for distances in same.values() for d in distances])
    print("\n| threshold | false reject (same) | false accept (ours) | false accept (vs LFW) |")
    print("|---|---|---|---|")
    for t in SWEEP:
        print(
            f"| {t:.2f} | {(same_all > t).mean() * 100:.1f} % | "
            f"{(np.array(different) <= t).mean() * 100:.1f} % | "
            f"{(np.array(ours_vs_lfw) <= t).mean() * 100:.1f} % |"
        )
    print("\nhardest pairs (same person, farthest; different people, nearest):")
    named_same = [
        (faces.distance(vectors[a], vectors[b]), person, a, b)
        for person, vectors in embedded.items()
        for a, b in itertools.combinations(vectors, 2)
    ]
    for value, person, a, b in sorted(named_same, reverse=True)[:3]:
        print(f"  {value:.3f}  {person}: {a} / {b}")
    named_different = [
        (faces.distance(embedded["astronaut"][a], embedded["grace_hopper"][b]), a, b)
        for a in embedded["astronaut"]
        for b in embedded["grace_hopper"]
    ]
    for value, a, b in sorted(named_different)[:3]:
        print(f"  {value:.3f}  astronaut {a} / grace_hopper {b}")


if __name__ == "__main__":
    main()
