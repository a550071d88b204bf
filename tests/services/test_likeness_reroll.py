"""The operator's re-roll: a delivered picture that does not look like the user is asked for
once more instead of being released at once (PHOTOAI_LIKENESS_REROLL), never charged twice.

A real demo training and demo generation (RQ on the test Redis, worked in this process),
PostgreSQL and real faces; the generator is the demo generator handed someone else's photos
for the calls the test chooses, standing in for a provider whose picture drifted.
"""

from dataclasses import replace

import pytest
import redis
from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import CreditEntry
from photoai.providers.demo_generator import DemoGenerator
from photoai.providers.generation_base import GeneratedOutput, GenerationRequest
from photoai.services import credits, generation_runs
from photoai.settings import get_settings
from tests import photos
from tests.factories import make_user
from tests.services.test_likeness_scoring import generate, train
from tests.training_support import Clock, demo_clock, training_settings


class Drifting(DemoGenerator):
    """Shows Grace Hopper for the calls numbered in `strangers` (1 is the first call)."""

    calls: list[int] = []
    strangers: frozenset[int] = frozenset()

    def generate(self, request: GenerationRequest) -> list[GeneratedOutput]:
        Drifting.calls.append(request.n)
        if len(Drifting.calls) in Drifting.strangers:
            request = replace(request, reference_images=list(photos.training_jpegs()[8:10]))
        return super().generate(request)


@pytest.fixture
def clock(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Clock:
    training_settings(monkeypatch)  # no quality sample after training (tests/conftest.py)
    monkeypatch.setattr(generation_runs, "DemoGenerator", Drifting)
    Drifting.calls = []
    return demo_clock(monkeypatch)


def reroll_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOAI_LIKENESS_REROLL", "1")
    get_settings.cache_clear()


def released_for_likeness(uid: int) -> list[tuple[str, int]]:
    with session_scope() as s:
        return [
            (str(description), int(delta))
            for description, delta in s.execute(
                select(col(CreditEntry.description), col(CreditEntry.delta)).where(
                    col(CreditEntry.user_id) == uid,
                    col(CreditEntry.kind) == "release",
                    col(CreditEntry.description).contains("doesn't look like you"),
                )
            ).all()
        ]


def test_a_picture_of_someone_else_is_asked_for_again_and_the_better_one_charged_once(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = make_user(100)
    model_id, _ = train(uid, clock)
    reroll_on(monkeypatch)
    Drifting.strangers = frozenset({1})
    balance = credits.balance(uid)
    [image], hold = generate(uid, model_id, "reroll-recovers", count=1)
    threshold = get_settings().likeness_threshold
    assert Drifting.calls == [1, 1], "the batch, then one more picture in place of the stranger"
    assert image.likeness is not None and image.likeness <= threshold, image.likeness
    assert (hold.captured, hold.released) == (1, 0)
    assert credits.balance(uid) == balance - 1 == credits.ledger_sum(uid)
    assert released_for_likeness(uid) == []


def test_a_re_roll_that_is_someone_else_too_is_kept_marked_and_not_charged(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = make_user(100)
    model_id, _ = train(uid, clock)
    reroll_on(monkeypatch)
    Drifting.strangers = frozenset({1, 2, 3, 4})
    balance = credits.balance(uid)
    images, hold = generate(uid, model_id, "reroll-twice-someone-else", count=2)
    threshold = get_settings().likeness_threshold
    assert Drifting.calls == [2, 1, 1], "one batch, one re-roll per picture, no more"
    assert len(images) == 2, "the pictures are kept"
    assert all(i.likeness is not None and i.likeness > threshold for i in images)
    assert (hold.captured, hold.released) == (0, 2)
    assert credits.balance(uid) == balance == credits.ledger_sum(uid)
    ledger = released_for_likeness(uid)
    assert len(ledger) == 2 and all(delta == 1 for _, delta in ledger), ledger
    assert all(
        description.endswith("doesn't look like you (asked twice)") for description, _ in ledger
    )
    print(f"re-rolled twice, someone else: ledger {ledger}")


def test_without_the_setting_a_picture_of_someone_else_is_released_at_once(
    clock: Clock,
) -> None:
    uid = make_user(100)
    model_id, _ = train(uid, clock)
    Drifting.strangers = frozenset({1, 2})
    _, hold = generate(uid, model_id, "no-reroll", count=1)
    assert Drifting.calls == [1], "no second provider call"
    assert (hold.captured, hold.released) == (0, 1)
    [(description, delta)] = released_for_likeness(uid)
    assert delta == 1 and description.endswith(": doesn't look like you"), description
