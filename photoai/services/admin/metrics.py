"""The plan's success metrics for a period, computed from our own tables.

A period is a half-open range of UTC days [start, end). Every figure is one aggregate query
over an index (see migration 0010 and the operator guide's EXPLAIN notes), so a month over a
million pictures costs a few index range scans, not a table scan:

- registrations: accounts created (users.created_at);
- model-creation completion: of the models created, how many reached `ready`;
- images per user: pictures made / people who made at least one (generated_images);
- image generation success: generation jobs created in the period that succeeded, out of
  those that succeeded or failed (canceled ones are neither), target > 95 %;
- training completion: the same for training jobs, target > 90 %;
- subscription conversion: people registered in the period who started a subscription;
- MRR: what active (and past-due) subscriptions pay per month now, at the configured plan
  prices (the table keeps today's status, not history, so it is a present-day figure);
- time to first image: median, over people registered in the period who made a picture,
  from registering to their first picture;
- training time: median from queueing to success of the period's succeeded trainings;
- feature adoption: of the people who generated in the period, the share who used a style, a
  pack, Instant (no trained model).
"""

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, distinct, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from photoai.db import session_scope
from photoai.models import (
    GeneratedImage,
    Job,
    JobStatus,
    ModelStatus,
    PersonalModel,
    Subscription,
    User,
)
from photoai.services.admin.audit import AdminError
from photoai.services.generation_runs import KIND as GENERATION
from photoai.services.training_runs import KIND as TRAINING
from photoai.settings import get_settings

MAX_DAYS = 366
PAYING_STATUSES = ("active", "past_due")
# Generation payloads are `json.dumps` of GenerationSpec: these spell an unused field.
_NO_PACK = '%"pack_id": ""%'
_NO_STYLE = '%"style_id": ""%'
_INSTANT = '%"model_id": null%'


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end, time(), UTC)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days)]


def period(start: date, end_inclusive: date) -> Period:
    """The days from `start` to `end_inclusive`, both included; refuses a backwards or
    over-long range with a message for the operator."""
    if end_inclusive < start:
        raise AdminError("The period ends before it starts.")
    if (end_inclusive - start).days + 1 > MAX_DAYS:
        raise AdminError(f"Choose a period of at most {MAX_DAYS} days.")
    return Period(start, end_inclusive + timedelta(days=1))


@dataclass(frozen=True)
class DayFigures:
    day: date
    registrations: int = 0
    images: int = 0
    generations_succeeded: int = 0
    generations_failed: int = 0
    trainings_succeeded: int = 0
    trainings_failed: int = 0


@dataclass(frozen=True)
class ConsoleMetrics:
    period: Period
    registrations: int
    models_created: int
    models_trained: int
    images: int
    image_users: int
    generations_succeeded: int
    generations_failed: int
    trainings_succeeded: int
    trainings_failed: int
    new_subscribers: int
    mrr_cents: int
    mrr_currency: str
    active_subscriptions: int
    median_seconds_to_first_image: float | None
    median_training_seconds: float | None
    generating_users: int
    style_users: int
    pack_users: int
    instant_users: int
    series: list[DayFigures] = field(default_factory=list)

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def model_completion(self) -> float | None:
        return self._share(self.models_trained, self.models_created)

    @property
    def images_per_user(self) -> float | None:
        return self._share(self.images, self.image_users)

    @property
    def generation_success(self) -> float | None:
        return self._share(
            self.generations_succeeded, self.generations_succeeded + self.generations_failed
        )

    @property
    def training_completion(self) -> float | None:
        return self._share(
            self.trainings_succeeded, self.trainings_succeeded + self.trainings_failed
        )

    @property
    def subscription_conversion(self) -> float | None:
        return self._share(self.new_subscribers, self.registrations)

    def adoption(self, users: int) -> float | None:
        return self._share(users, self.generating_users)


def _day(s: Session, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp, in the database's own dialect."""
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _in(column: Any, p: Period) -> list[ColumnElement[bool]]:
    return [column >= p.since, column < p.until]


def _job_outcomes(s: Session, kind: str, p: Period) -> tuple[int, int]:
    row = s.execute(
        select(
            func.count().filter(col(Job.status) == JobStatus.SUCCEEDED.value),
            func.count().filter(col(Job.status) == JobStatus.FAILED.value),
        ).where(col(Job.kind) == kind, *_in(col(Job.created_at), p))
    ).one()
    return int(row[0]), int(row[1])


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _first_image_delays(s: Session, p: Period) -> list[float]:
    first = (
        select(func.min(col(GeneratedImage.created_at)))
        .where(col(GeneratedImage.user_id) == col(User.id))
        .correlate(User)
        .scalar_subquery()
    )
    rows = s.execute(select(col(User.created_at), first).where(*_in(col(User.created_at), p))).all()
    return [(made - joined).total_seconds() for joined, made in rows if made is not None]


def _training_durations(s: Session, p: Period) -> list[float]:
    rows = s.execute(
        select(col(Job.created_at), col(Job.finished_at)).where(
            col(Job.kind) == TRAINING,
            col(Job.status) == JobStatus.SUCCEEDED.value,
            *_in(col(Job.created_at), p),
        )
    ).all()
    return [(done - queued).total_seconds() for queued, done in rows if done is not None]


def _mrr(s: Session) -> tuple[int, int]:
    prices = {plan.id: plan.price_cents for plan in get_settings().plans}
    rows = s.execute(
        select(col(Subscription.plan), func.count())
        .where(col(Subscription.status).in_(PAYING_STATUSES))
        .group_by(col(Subscription.plan))
    ).all()
    return sum(prices.get(plan, 0) * n for plan, n in rows), sum(int(n) for _, n in rows)


def _users_where(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.count(distinct(case((condition, col(Job.user_id)))))


def _adoption(s: Session, p: Period) -> tuple[int, int, int, int]:
    payload = col(Job.payload)
    row = s.execute(
        select(
            func.count(distinct(col(Job.user_id))),
            _users_where(~payload.like(_NO_STYLE)),
            _users_where(~payload.like(_NO_PACK)),
            _users_where(payload.like(_INSTANT)),
        ).where(col(Job.kind) == GENERATION, *_in(col(Job.created_at), p))
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _series(s: Session, p: Period) -> list[DayFigures]:
    days: dict[date, dict[str, int]] = {d: {} for d in p.days}

    def count_by_day(name: str, column: Any, *where: ColumnElement[bool]) -> None:
        bucket = _day(s, column)
        for day, n in s.execute(
            select(bucket, func.count()).where(*_in(column, p), *where).group_by(bucket)
        ).all():
            days.setdefault(_as_date(day), {})[name] = int(n)

    count_by_day("registrations", col(User.created_at))
    count_by_day("images", col(GeneratedImage.created_at))
    for kind, prefix in ((GENERATION, "generations"), (TRAINING, "trainings")):
        for status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            count_by_day(
                f"{prefix}_{status.value}",
                col(Job.created_at),
                col(Job.kind) == kind,
                col(Job.status) == status.value,
            )
    return [DayFigures(day, **figures) for day, figures in sorted(days.items())]


def compute(p: Period) -> ConsoleMetrics:
    with session_scope() as s:
        registrations = s.execute(
            select(func.count()).select_from(User).where(*_in(col(User.created_at), p))
        ).scalar_one()
        models = s.execute(
            select(
                func.count(),
                func.count().filter(col(PersonalModel.status) == ModelStatus.READY.value),
            ).where(*_in(col(PersonalModel.created_at), p))
        ).one()
        images = s.execute(
            select(func.count(), func.count(distinct(col(GeneratedImage.user_id)))).where(
                *_in(col(GeneratedImage.created_at), p)
            )
        ).one()
        gen_ok, gen_failed = _job_outcomes(s, GENERATION, p)
        train_ok, train_failed = _job_outcomes(s, TRAINING, p)
        subscribers = s.execute(
            select(func.count(distinct(col(User.id))))
            .join(Subscription, col(Subscription.user_id) == col(User.id))
            .where(*_in(col(User.created_at), p))
        ).scalar_one()
        mrr, active = _mrr(s)
        plans = get_settings().plans
        generating, styles, packs, instant = _adoption(s, p)
        return ConsoleMetrics(
            period=p,
            registrations=int(registrations),
            models_created=int(models[0]),
            models_trained=int(models[1]),
            images=int(images[0]),
            image_users=int(images[1]),
            generations_succeeded=gen_ok,
            generations_failed=gen_failed,
            trainings_succeeded=train_ok,
            trainings_failed=train_failed,
            new_subscribers=int(subscribers),
            mrr_cents=mrr,
            mrr_currency=plans[0].currency.upper() if plans else "",
            active_subscriptions=active,
            median_seconds_to_first_image=_median(_first_image_delays(s, p)),
            median_training_seconds=_median(_training_durations(s, p)),
            generating_users=generating,
            style_users=styles,
            pack_users=packs,
            instant_users=instant,
            series=_series(s, p),
        )
