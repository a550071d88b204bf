"""What a user reads about the pictures they generated: the details show their own words, and
the usage figures count what was generated and trained whatever they delete afterwards.

Pictures are made through the real machinery (demo trainer and generator, RQ on the test
Redis worked in this process) on PostgreSQL.
"""

import pytest
import redis

from photoai.services import gallery, generation, training
from photoai.services.billing import overview
from photoai.services.generation import GenerationOptions
from tests.factories import make_user
from tests.training_support import (
    Clock,
    demo_clock,
    draft_with_photos,
    training_settings,
    work_burst,
)


@pytest.fixture
def env(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    training_settings(monkeypatch)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return demo_clock(monkeypatch)


def ready_model(uid: int, clock: Clock, name: str = "Anna") -> int:
    model_id = draft_with_photos(uid, name=name)
    training.start_training(uid, model_id)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    assert training.get_model(uid, model_id).model.status == "ready"
    return model_id


def generate(uid: int, options: GenerationOptions, key: str) -> list[int]:
    [job_id] = generation.submit(uid, options, key)
    work_burst()
    [done] = [r for r in generation.recent_requests(uid) if r.job_id == job_id]
    assert done.status == "succeeded", done.error
    return list(done.image_ids)


def test_picture_details_show_the_users_words_not_the_provider_prompt(
    env: None, clock: Clock
) -> None:
    uid = make_user(100)
    model_id = ready_model(uid, clock)
    styled = GenerationOptions(
        f"model:{model_id}", prompt="  with a red   scarf ", style_id="beach-vacation"
    )
    [styled_id] = generate(uid, styled, "details-styled")
    view = gallery.get_image(uid, styled_id)
    assert view.prompt == "with a red scarf"
    assert view.style_name == "Beach vacation"
    assert "TOK" not in view.prompt and "{subject}" not in view.prompt

    [style_only] = generate(
        uid, GenerationOptions(f"model:{model_id}", style_id="fantasy-warrior"), "details-style"
    )
    assert gallery.get_image(uid, style_only).prompt == ""

    [own] = generate(
        uid, GenerationOptions(f"model:{model_id}", prompt="reading in a library"), "details-own"
    )
    assert gallery.get_image(uid, own).prompt == "reading in a library"
    assert all(
        i.prompt in ("with a red scarf", "", "reading in a library")
        for i in gallery.page(uid).items
    )


def test_usage_figures_do_not_drop_when_pictures_or_models_are_deleted(
    env: None, clock: Clock
) -> None:
    uid = make_user(100)
    model_id = ready_model(uid, clock)
    pictures = generate(
        uid, GenerationOptions(f"model:{model_id}", prompt="at the seaside", count=3), "usage-run-1"
    )

    def totals() -> tuple[int, int, int]:
        days = overview.usage_summary(uid, 30)
        return (
            sum(d.images for d in days),
            sum(d.models for d in days),
            sum(d.credits for d in days),
        )

    assert totals() == (3, 1, 33)
    gallery.delete_images(uid, pictures[:2])
    assert totals() == (3, 1, 33), "deleting pictures does not undo their generation"
    gallery.purge_deleted(older_than_seconds=0)
    assert totals() == (3, 1, 33), "nor does purging them for good"
    training.delete_model(uid, model_id)
    assert totals() == (3, 1, 33), "nor does deleting the model that was trained"
