"""Helpers shared by the training service and webhook tests."""

import time
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from functools import partial

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select, update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import CreditEntry, CreditHold, Job, PersonalModel, utcnow
from photoai.providers.demo_trainer import DemoTrainer
from photoai.services import queue, training, training_runs
from photoai.settings import get_settings
from tests import photos

MIN_PHOTOS = 4


def training_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Few photos (each real inspection costs ~0.3 s), a fast demo trainer, a known price."""
    monkeypatch.setenv("PHOTOAI_MIN_PHOTOS", str(MIN_PHOTOS))
    monkeypatch.setenv("PHOTOAI_MAX_PHOTOS", "6")
    monkeypatch.setenv("PHOTOAI_DEMO_TRAINING_SECONDS", "1")
    monkeypatch.setenv("PHOTOAI_TRAINING_COST_CREDITS", "30")
    monkeypatch.setenv("PHOTOAI_PROVIDER_TIMEOUT_SECONDS", "2")
    get_settings.cache_clear()


class Clock:
    """A wall clock the demo trainer reads, moved by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def demo_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(training_runs, "DemoTrainer", partial(DemoTrainer, now=clock))
    return clock


def draft_with_photos(user_id: int, count: int = MIN_PHOTOS, name: str = "Me") -> int:
    model_id = training.create_draft(user_id, name, "woman")
    for number, data in enumerate(photos.one_person_jpegs()[:count]):
        view = training.add_photo(user_id, model_id, f"IMG_{number}.jpg", data)
        assert view.accepted, view.reason
    return model_id


def work_burst() -> None:
    """Run everything queued, in this process, the way an RQ worker would."""
    rq = queue.rq_queue()
    assert rq is not None
    SimpleWorker([rq], connection=rq.connection).work(burst=True)


def job_row(job_id: int) -> Job:
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def model_row(model_id: int) -> PersonalModel:
    with session_scope() as s:
        model = s.get(PersonalModel, model_id)
        assert model is not None
        return model


def age_job(
    job_id: int, *, silent_for: float | None = None, overdue_by: float | None = None
) -> None:
    """Pretend time passed: no news for `silent_for` s, or the deadline `overdue_by` s ago."""
    values = {}
    if silent_for is not None:
        values["heartbeat_at"] = utcnow() - timedelta(seconds=silent_for)
    if overdue_by is not None:
        values["deadline_at"] = utcnow() - timedelta(seconds=overdue_by)
    with session_scope() as s:
        s.execute(update(Job).where(col(Job.id) == job_id).values(**values))


def count(model: type, *where: object) -> int:
    with session_scope() as s:
        return int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def hold_of(job_id: int) -> CreditHold:
    with session_scope() as s:
        return s.execute(
            select(CreditHold).where(col(CreditHold.reference) == f"job:{job_id}")
        ).scalar_one()


def captures(user_id: int) -> list[str]:
    with session_scope() as s:
        return list(
            s.execute(
                select(col(CreditEntry.reference)).where(
                    col(CreditEntry.user_id) == user_id, col(CreditEntry.kind) == "capture"
                )
            ).scalars()
        )


def outbox() -> list[EmailMessage]:
    folder = get_settings().outbox_dir
    if not folder.is_dir():
        return []
    messages: list[Message] = [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]
    return [m for m in messages if isinstance(m, EmailMessage)]
