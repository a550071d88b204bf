"""Finding the face to score in a delivered picture: a face too small to describe is no face.

A face that dlib finds only in a 4x enlarged copy (under about 40 px at the 512 px analysis
size) gives an embedding of a few dozen pixels blown up to a 150 px chip: no evidence of who it
is, and looking for it cost about 0.45 s of a work horse for every picture with no face at all.
"""

import pytest
from PIL import Image

from photoai.services import likeness_score
from tests import photos


def far_away(portrait_side: int) -> Image.Image:
    """The astronaut's portrait shrunk to `portrait_side` on a plain 512 px picture (her face
    is about a quarter of her portrait's width)."""
    canvas = Image.new("RGB", (512, 512), (128, 128, 128))
    canvas.paste(photos.astronaut().resize((portrait_side, portrait_side)), (150, 150))
    return canvas


def test_a_face_found_only_four_times_enlarged_is_not_scored() -> None:
    assert likeness_score.embed_picture(far_away(150)) is None


@pytest.mark.parametrize("portrait_side", [230, 512])
def test_a_face_big_enough_to_describe_is_scored(portrait_side: int) -> None:
    embedding = likeness_score.embed_picture(far_away(portrait_side))
    assert embedding is not None and embedding.shape == (128,)
