"""How much a delivered picture looks like the user: its face against their held-out photos.

The score is the mean face-embedding distance (`faces.distance`) between the picture's
largest face and the user's reference embeddings: the photos held out of training when the
model has some, else its accepted photos. Lower is more alike; at or below the operator's
PHOTOAI_LIKENESS_THRESHOLD it is the same person. A picture with no face found gets no score
(a back view or a painted style is not evidence of a stranger) and is charged as usual.
"""

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from PIL import Image

from photoai.services import faces
from photoai.services.faces import Embedding

# The picture is looked at with its shorter side this long, as the upload checks do.
SCORE_SIDE = 512
# Below this a likeness is "strong": the median distance between two photos of one person in
# bench/likeness_eval.py is 0.16-0.19 and 95 % of such pairs are within 0.51.
STRONG_BELOW = 0.4
NOT_YOU = "doesn't look like you"


class Badge(StrEnum):
    STRONG = "Strong likeness"
    GOOD = "Good likeness"
    WEAK = "Weak likeness"


def embed_picture(picture: Image.Image) -> Embedding | None:
    """The embedding of the largest face in a delivered picture (decoded small; JPEGs at a
    reduced scale), None when no face is found or dlib cannot describe it."""
    picture.draft("RGB", (SCORE_SIDE, SCORE_SIDE))
    rgb = picture.convert("RGB")
    factor = SCORE_SIDE / min(rgb.size)
    if factor < 1:
        size = (round(rgb.width * factor), round(rgb.height * factor))
        rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    try:
        return faces.embed_largest(np.asarray(rgb, dtype=np.uint8))
    except (RuntimeError, ValueError):
        return None


def score(picture: Embedding, references: Sequence[Embedding]) -> float:
    """Mean distance from the picture's face to the user's reference faces (lower: more alike)."""
    return round(float(np.mean([faces.distance(picture, ref) for ref in references])), 3)


def badge(distance: float, threshold: float) -> Badge:
    if distance <= min(STRONG_BELOW, threshold):
        return Badge.STRONG
    return Badge.GOOD if distance <= threshold else Badge.WEAK
