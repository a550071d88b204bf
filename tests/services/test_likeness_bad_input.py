"""The issue's bad input, each with a clear verdict and nothing crashing: sunglasses, extreme
light, a photo of a photo, the same photo twice, a set of one photo, and an embedding that
fails in the middle of a set. (No face, tiny faces, a face turned away and two people in
equal numbers are in test_photo_checks.py and test_likeness.py.)

Real photos of real faces, real dlib, PostgreSQL.
"""

from collections.abc import Callable

import pytest
import redis

from photoai.services import faces, training
from photoai.services import photo_checks as pc
from photoai.services.likeness import DIFFERENT_PERSON
from photoai.services.photo_checks import PhotoLimits, inspect_photo
from photoai.services.training import DUPLICATE, TrainingError
from photoai.settings import get_settings
from tests import photos
from tests.factories import make_user
from tests.training_support import MIN_PHOTOS, training_settings

ASTRONAUT = photos.one_person_jpegs()


@pytest.fixture
def limits() -> PhotoLimits:
    return PhotoLimits.from_settings(get_settings())


@pytest.fixture
def env(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    training_settings(monkeypatch)


@pytest.mark.parametrize(
    "make",
    [photos.sunglasses, lambda: photos.lit(0.08), lambda: photos.lit(2.6)],
    ids=["dark-sunglasses", "near-black", "blown-out"],
)
def test_a_face_hidden_by_glasses_or_light_is_no_face(
    make: Callable[[], bytes], limits: PhotoLimits
) -> None:
    """dlib finds no face with its eyes covered or its features washed out: refused as such,
    with no embedding (so it never takes part in the set's identity)."""
    verdict = inspect_photo(make(), "photo.jpg", limits)
    assert verdict.reasons == (pc.NO_FACE,)
    assert verdict.embedding == b""


@pytest.mark.parametrize(
    "make",
    [lambda: photos.lit(0.2), photos.photo_of_a_photo],
    ids=["dim-room", "photo-of-a-photo"],
)
def test_a_dim_photo_or_a_photo_of_a_print_is_still_the_person(
    make: Callable[[], bytes], limits: PhotoLimits
) -> None:
    verdict = inspect_photo(make(), "photo.jpg", limits)
    assert verdict.accepted, verdict.reasons
    mine = faces.from_bytes(inspect_photo(ASTRONAUT[1], "me.jpg", limits).embedding)
    theirs = faces.from_bytes(verdict.embedding)
    assert mine is not None and theirs is not None
    assert faces.distance(mine, theirs) <= get_settings().likeness_threshold


def test_a_set_with_every_kind_of_bad_photo_says_why_for_each(env: None) -> None:
    uid = make_user(100)
    model_id = training.create_draft(uid, "Me", "woman")
    uploads = {
        "me-1.jpg": ASTRONAUT[1],
        "me-2.jpg": ASTRONAUT[2],
        "me-3.jpg": ASTRONAUT[3],
        "me-1-again.jpg": ASTRONAUT[1],
        "glasses.jpg": photos.sunglasses(),
        "black.jpg": photos.lit(0.08),
        "dim.jpg": photos.lit(0.2),
        "print.jpg": photos.photo_of_a_photo(),
    }
    for name, data in uploads.items():
        training.add_photo(uid, model_id, name, data)
    verdicts = {
        p.filename: (p.accepted, p.reason) for p in training.get_model(uid, model_id).photos
    }
    assert verdicts == {
        "me-1.jpg": (True, ""),
        "me-2.jpg": (True, ""),
        "me-3.jpg": (True, ""),
        "me-1-again.jpg": (False, DUPLICATE),
        "glasses.jpg": (False, pc.NO_FACE),
        "black.jpg": (False, pc.NO_FACE),
        "dim.jpg": (True, ""),
        "print.jpg": (True, ""),
    }


def test_a_set_of_one_photo_is_its_person_but_cannot_train_yet(env: None) -> None:
    uid = make_user(100)
    model_id = training.create_draft(uid, "Me", "woman")
    assert training.add_photo(uid, model_id, "me.jpg", ASTRONAUT[0]).accepted
    detail = training.get_model(uid, model_id)
    assert (detail.can_train, detail.identity_problem) == (False, "")
    with pytest.raises(TrainingError, match=f"Add at least {MIN_PHOTOS} good photos"):
        training.start_training(uid, model_id)


def test_an_embedding_that_fails_never_blocks_the_rest_of_the_set(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlib raising on one photo's face leaves that photo judged on everything else (and out
    of the likeness check); the photos after it are embedded and checked as usual."""
    uid = make_user(100)
    model_id = training.create_draft(uid, "Me", "woman")
    real_embed = faces.embed
    calls: list[int] = []

    def embed_failing_once(rgb: object, face: faces.Face) -> faces.Embedding:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("dlib could not describe this face")
        return real_embed(rgb, face)  # type: ignore[arg-type]

    monkeypatch.setattr(faces, "embed", embed_failing_once)
    views = [
        training.add_photo(uid, model_id, f"me-{i}.jpg", data)
        for i, data in enumerate(ASTRONAUT[:MIN_PHOTOS])
    ]
    assert all(view.accepted for view in views), [view.reason for view in views]
    stranger = training.add_photo(uid, model_id, "someone.jpg", photos.training_jpegs()[8])
    assert (stranger.accepted, stranger.reason) == (False, DIFFERENT_PERSON)
    detail = training.get_model(uid, model_id)
    assert detail.can_train and detail.identity_problem == ""
    assert training.start_training(uid, model_id) > 0
