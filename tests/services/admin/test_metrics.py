"""The console's success metrics for a period, on a small set whose answers are known."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from photoai.db import session_scope
from photoai.models import GeneratedImage, Job, PersonalModel, Subscription, User
from photoai.services.admin import metrics
from photoai.services.admin.audit import AdminError
from tests.services.admin.support import SPEC

START = date(2026, 3, 1)
END = date(2026, 3, 7)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=day - 1, hours=hour)


def _user(email: str, joined: datetime) -> int:
    with session_scope() as s:
        user = User(email=email, password_hash="x", created_at=joined)
        s.add(user)
        s.flush()
        assert user.id is not None
        return user.id


def _generation(user_id: int, status: str, created: datetime, **spec: object) -> None:
    payload = json.dumps(replace(SPEC, **spec).to_payload())  # type: ignore[arg-type]
    with session_scope() as s:
        s.add(
            Job(
                kind="generation",
                user_id=user_id,
                status=status,
                payload=payload,
                created_at=created,
                finished_at=created + timedelta(minutes=1),
            )
        )


def _training(user_id: int, status: str, created: datetime, minutes: int) -> None:
    with session_scope() as s:
        s.add(
            Job(
                kind="training",
                user_id=user_id,
                status=status,
                created_at=created,
                finished_at=created + timedelta(minutes=minutes),
            )
        )


def _image(user_id: int, made: datetime) -> None:
    with session_scope() as s:
        s.add(GeneratedImage(user_id=user_id, created_at=made))


@pytest.fixture
def seeded(any_db: str) -> dict[str, int]:
    old = _user("old@example.com", at(-10))
    ada = _user("ada@example.com", at(1))
    bob = _user("bob@example.com", at(1, 6))
    cy = _user("cy@example.com", at(3))
    _user("dee@example.com", at(5))  # no picture
    _user("late@example.com", at(8))  # after the period
    with session_scope() as s:
        for owner, status, day in ((ada, "ready", 1), (bob, "ready", 2), (cy, "failed", 3)):
            s.add(PersonalModel(user_id=owner, name="m", status=status, created_at=at(day)))
        s.add(PersonalModel(user_id=old, name="m", status="ready", created_at=at(-3)))
        s.add(
            Subscription(
                user_id=ada, stripe_subscription_id="sub_1", plan="creator", status="active"
            )
        )
        s.add(
            Subscription(user_id=old, stripe_subscription_id="sub_2", plan="pro", status="past_due")
        )
        s.add(
            Subscription(user_id=bob, stripe_subscription_id="sub_3", plan="pro", status="canceled")
        )
    # Ada: first picture 1 h after joining, 3 in all; Bob: 2 h after; Cy and Dee: none.
    for hour in (1, 2, 3):
        _image(ada, at(1, hour))
    _image(bob, at(1, 8))
    _image(old, at(2))
    _image(old, at(9))  # after the period
    _generation(ada, "succeeded", at(1, 1))  # a style
    _generation(ada, "succeeded", at(1, 2), style_id="", pack_id="")  # a prompt
    _generation(bob, "succeeded", at(1, 8), pack_id="professional")  # a pack, with a style
    _generation(old, "failed", at(2), model_id=7, style_id="")  # a trained model, no style
    _generation(old, "canceled", at(2), model_id=7, style_id="")
    _generation(old, "succeeded", at(9))  # after the period
    _training(ada, "succeeded", at(1), 10)
    _training(bob, "succeeded", at(2), 30)
    _training(cy, "failed", at(3), 5)
    return {"old": old, "ada": ada, "bob": bob}


def test_figures_for_a_period_match_what_was_seeded(seeded: dict[str, int]) -> None:
    m = metrics.compute(metrics.period(START, END))
    assert m.registrations == 4
    assert (m.models_created, m.models_trained) == (3, 2)
    assert (m.images, m.image_users, m.images_per_user) == (5, 3, 5 / 3)
    assert (m.generations_succeeded, m.generations_failed) == (3, 1)
    assert m.generation_success == 0.75
    assert (m.trainings_succeeded, m.trainings_failed, m.training_completion) == (2, 1, 2 / 3)
    assert (m.new_subscribers, m.subscription_conversion) == (2, 0.5)  # Ada, and Bob (canceled)
    assert (m.mrr_cents, m.active_subscriptions) == (1200 + 3500, 2)
    assert m.median_seconds_to_first_image == 5400  # 1 h and 2 h
    assert m.median_training_seconds == 1200  # 10 and 30 minutes
    # Generating users: Ada, Bob, old. Styles: Ada, Bob; packs: Bob; Instant: Ada, Bob.
    assert (m.generating_users, m.style_users, m.pack_users, m.instant_users) == (3, 2, 1, 2)
    by_day = {d.day: d for d in m.series}
    assert len(m.series) == 7
    assert by_day[START].registrations == 2 and by_day[START].images == 4
    assert by_day[START].generations_succeeded == 3
    assert by_day[date(2026, 3, 2)].generations_failed == 1
    assert by_day[date(2026, 3, 3)].trainings_failed == 1
    assert sum(d.images for d in m.series) == m.images


def test_an_empty_period_has_no_rates(any_db: str) -> None:
    m = metrics.compute(metrics.period(START, START))
    assert m.registrations == 0 and m.generation_success is None and m.images_per_user is None
    assert m.median_seconds_to_first_image is None and len(m.series) == 1


def test_periods_are_checked() -> None:
    with pytest.raises(AdminError, match="ends before it starts"):
        metrics.period(END, START)
    with pytest.raises(AdminError, match="at most 366 days"):
        metrics.period(date(2025, 1, 1), date(2026, 3, 1))
