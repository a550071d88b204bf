"""Who a training set is of: the majority rule on real faces, rechecked as photos come and go.

Real portraits (the astronaut and Grace Hopper, cropped, mirrored, relit), real dlib
embeddings, PostgreSQL; a pet set (the cat) needs no face at all.
"""

import numpy as np
import pytest
import redis
from sqlalchemy import update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import TrainingPhoto
from photoai.services import training
from photoai.services.likeness import DIFFERENT_PERSON, NO_CLEAR_PERSON, majority_identity
from photoai.services.training import TrainingError
from tests import photos
from tests.factories import make_user
from tests.training_support import training_settings

ASTRONAUT = photos.training_jpegs()[:8]
HOPPER = photos.training_jpegs()[8:14]


@pytest.fixture
def env(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    training_settings(monkeypatch)


def verdicts(uid: int, model_id: int) -> list[tuple[bool, str]]:
    return [(p.accepted, p.reason) for p in training.get_model(uid, model_id).photos]


def test_the_rule_names_a_strict_majority_only() -> None:
    a, b = np.zeros(128, np.float32), np.full(128, 0.1, np.float32)  # 1.13 apart
    near_a = a + 0.01
    assert majority_identity({}, 0.6).clear
    lone = majority_identity({1: a}, 0.6)
    assert (lone.majority, lone.strangers, lone.clear) == ({1}, set(), True)
    odd_one = majority_identity({1: a, 2: near_a, 3: b}, 0.6)
    assert (odd_one.majority, odd_one.strangers) == ({1, 2}, {3})
    assert not majority_identity({1: a, 2: b}, 0.6).clear
    assert not majority_identity({1: a, 2: near_a, 3: b, 4: b + 0.01}, 0.6).clear


def test_someone_else_is_refused_and_taken_back_when_the_set_changes(env: None) -> None:
    uid = make_user()
    model_id = training.create_draft(uid, "Me", "woman")
    mine = [training.add_photo(uid, model_id, f"me{i}.jpg", d) for i, d in enumerate(ASTRONAUT[:3])]
    assert all(view.accepted for view in mine)
    other = [training.add_photo(uid, model_id, f"x{i}.jpg", d) for i, d in enumerate(HOPPER[:2])]
    assert [(v.accepted, v.reason) for v in other] == [(False, DIFFERENT_PERSON)] * 2
    assert verdicts(uid, model_id) == [(True, "")] * 3 + [(False, DIFFERENT_PERSON)] * 2

    # Two of the three astronaut photos go: Grace Hopper is now the person of the set.
    training.remove_photo(uid, mine[0].id)
    training.remove_photo(uid, mine[1].id)
    assert verdicts(uid, model_id) == [(False, DIFFERENT_PERSON), (True, ""), (True, "")]

    # Clearing the refused photos removes their training copies too.
    assert training.clear_refused(uid, model_id) == 1
    assert verdicts(uid, model_id) == [(True, ""), (True, "")]


def test_two_people_in_equal_numbers_cannot_train_and_are_told_why(env: None) -> None:
    uid = make_user(100)
    model_id = training.create_draft(uid, "Us", "person")
    for i in range(3):
        training.add_photo(uid, model_id, f"a{i}.jpg", ASTRONAUT[i])
        training.add_photo(uid, model_id, f"h{i}.jpg", HOPPER[i])
    detail = training.get_model(uid, model_id)
    assert all(p.accepted for p in detail.photos), "no one is singled out without a majority"
    assert (detail.can_train, detail.identity_problem) == (False, NO_CLEAR_PERSON)
    with pytest.raises(TrainingError, match="do not show one clear person"):
        training.start_training(uid, model_id)


def test_a_photo_without_an_embedding_never_blocks_the_set(env: None) -> None:
    uid = make_user()
    model_id = training.create_draft(uid, "Me", "woman")
    mine = [training.add_photo(uid, model_id, f"me{i}.jpg", d) for i, d in enumerate(ASTRONAUT[:2])]
    with session_scope() as s:  # as for a face dlib could not describe, or an older photo
        s.execute(
            update(TrainingPhoto)
            .where(col(TrainingPhoto.id).in_([v.id for v in mine]))
            .values(face_embedding=b"")
        )
    hopper = training.add_photo(uid, model_id, "h.jpg", HOPPER[0])
    assert hopper.accepted, "the one photo with an embedding is the set's person"
    training.add_photo(uid, model_id, "me2.jpg", ASTRONAUT[2])
    detail = training.get_model(uid, model_id)
    assert [p.accepted for p in detail.photos] == [True, True, True, True]
    assert (detail.can_train, detail.identity_problem) == (False, NO_CLEAR_PERSON)


def test_a_pet_model_needs_no_face_and_can_train(env: None) -> None:
    uid = make_user(100)
    model_id = training.create_draft(uid, "Chelsea", "pet")
    views = [
        training.add_photo(uid, model_id, f"cat{i}.jpg", d)
        for i, d in enumerate(photos.pet_jpegs())
    ]
    assert [(v.accepted, v.reason) for v in views] == [(True, "")] * len(views)
    assert training.get_model(uid, model_id).can_train
    assert training.start_training(uid, model_id) > 0
