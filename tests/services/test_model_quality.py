"""Model quality: a sample batch scored right after training, and a free retrain for a model
whose sample does not look like its person, told by the ledger.

A real demo training and demo generation (RQ on the test Redis, worked in this process),
PostgreSQL and real faces. The weak model is the demo generator handed someone else's photos,
standing in for a provider whose LoRA drifted.
"""

import pytest
import redis
from sqlalchemy import func, select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import CreditEntry, GeneratedImage, Job, ModelStatus
from photoai.services import credits, generation_runs, model_quality, training
from photoai.settings import get_settings
from tests.factories import make_user
from tests.services.test_likeness_scoring import SomeoneElsesLora, train
from tests.training_support import (
    Clock,
    demo_clock,
    model_row,
    training_settings,
    work_burst,
)

COST = 30  # training_settings' price


@pytest.fixture
def clock(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Clock:
    training_settings(monkeypatch)
    monkeypatch.setenv("PHOTOAI_MODEL_QUALITY_SAMPLES", "2")
    get_settings.cache_clear()
    return demo_clock(monkeypatch)


def ledger(uid: int) -> list[tuple[str, int, str]]:
    with session_scope() as s:
        return [
            (str(kind), int(delta), str(description))
            for kind, delta, description in s.execute(
                select(col(CreditEntry.kind), col(CreditEntry.delta), col(CreditEntry.description))
                .where(col(CreditEntry.user_id) == uid)
                .order_by(col(CreditEntry.id))
            ).all()
        ]


def trained_and_sampled(uid: int, clock: Clock) -> int:
    model_id, _ = train(uid, clock)
    work_burst()  # the quality sample queued when the training finished
    return model_id


def test_a_good_model_shows_its_sample_likeness_and_the_sample_costs_nothing(
    clock: Clock,
) -> None:
    uid = make_user(100)
    model_id = trained_and_sampled(uid, clock)
    row = model_row(model_id)
    threshold = get_settings().likeness_threshold
    assert row.quality_likeness is not None and row.quality_likeness <= threshold
    assert row.quality_checked_at is not None
    view = training.get_model(uid, model_id).model
    assert view.quality_line == f"Model quality: Strong likeness ({row.quality_likeness:.2f})"
    assert not view.quality_weak and not view.can_retrain_free
    print(view.quality_line)
    assert credits.balance(uid) == 100 - COST == credits.ledger_sum(uid)
    assert [kind for kind, _, _ in ledger(uid)] == ["adjustment", "hold", "capture"]
    with session_scope() as s:
        pictures = s.execute(select(func.count()).select_from(GeneratedImage)).scalar_one()
        kinds = set(s.execute(select(col(Job.kind))).scalars())
    assert pictures == 0, "samples never reach the gallery"
    assert kinds == {"training", model_quality.KIND}
    with pytest.raises(training.TrainingError, match="did not look like you"):
        training.retrain_for_free(uid, model_id)


def test_a_weak_model_is_retrained_for_free_once_and_the_ledger_says_so(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = make_user(100)
    monkeypatch.setattr(generation_runs, "DemoGenerator", SomeoneElsesLora)
    model_id = trained_and_sampled(uid, clock)
    threshold = get_settings().likeness_threshold
    row = model_row(model_id)
    assert row.quality_likeness is not None and row.quality_likeness > threshold
    view = training.get_model(uid, model_id).model
    assert view.quality_line == f"Model quality: Weak likeness ({row.quality_likeness:.2f})"
    assert view.quality_weak and view.can_retrain_free
    assert credits.balance(uid) == 100 - COST

    with pytest.raises(training.TrainingError, match="Model not found"):
        training.retrain_for_free(make_user(100), model_id)
    job_id = training.retrain_for_free(uid, model_id)
    assert model_row(model_id).status == ModelStatus.QUEUED
    assert credits.balance(uid) == 100 - COST, "refunded, then held again for the new training"
    entries = ledger(uid)
    refund = [e for e in entries if e[0] == "refund"]
    assert refund == [
        (
            "refund",
            COST,
            f"Training of “Me” refunded: its sample pictures did not look like you "
            f"(likeness {row.quality_likeness:.2f}, threshold {threshold:.2f})",
        )
    ]
    with pytest.raises(training.TrainingError):
        training.retrain_for_free(uid, model_id)  # training: not offered
    assert len([e for e in ledger(uid) if e[0] == "refund"]) == 1

    monkeypatch.setattr(generation_runs, "DemoGenerator", generation_runs.DemoGenerator)
    work_burst()
    clock.now += 1
    training.reconcile_trainings()
    assert model_row(model_id).job_id == job_id
    assert model_row(model_id).status == ModelStatus.READY
    with pytest.raises(training.TrainingError, match="already retrained for free once"):
        training.retrain_for_free(uid, model_id)
    assert credits.balance(uid) == 100 - COST == credits.ledger_sum(uid), "one training paid"
    print("ledger of a free retrain:", *ledger(uid), sep="\n  ")
    assert [kind for kind, _, _ in ledger(uid)] == [
        "adjustment",
        "hold",
        "capture",
        "refund",
        "hold",
        "capture",
    ]
