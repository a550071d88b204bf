"""The whole product's data model.

Timestamps are timezone-aware UTC; SQLModel's UTCDateTime stores them as such in PostgreSQL and
returns them aware from SQLite too. Status and kind columns hold the string values of the enums
below; services validate them, the database only stores them.
"""

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

# SQLite only auto-increments an INTEGER primary key; PostgreSQL gets a 64-bit one.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class ModelStatus(StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


class LedgerKind(StrEnum):
    STARTER = "starter"
    PURCHASE = "purchase"
    PLAN = "plan"
    EXPIRE = "expire"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_created", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=100)
    credit_balance: int = Field(default=0)
    # The part of the balance that came from plan periods and can expire at a renewal; spent
    # before other credits. Always between 0 and credit_balance.
    plan_credits: int = Field(default=0)
    spending_blocked: bool = Field(default=False)
    # Operators use the console at /admin (`photoai admin grant EMAIL`).
    is_admin: bool = Field(default=False)
    # Set by an operator: no sign-in, no session, until unblocked (see 0010).
    blocked_at: datetime | None = None
    stripe_customer_id: str | None = Field(default=None, max_length=64, index=True)
    low_credit_notified: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AuthSession(SQLModel, table=True):
    """A server-side login: the browser holds the token, we keep only its hash."""

    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    user_agent: str = Field(default="", max_length=300)
    ip: str = Field(default="", max_length=64)


class LoginTicket(SQLModel, table=True):
    """One-use hand-off from a login form to the route that sets the HttpOnly cookie."""

    __tablename__ = "login_tickets"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    next_path: str = Field(default="/dashboard", max_length=500)
    expires_at: datetime
    used_at: datetime | None = None


class PasswordResetToken(SQLModel, table=True):
    __tablename__ = "password_reset_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class PendingRegistration(SQLModel, table=True):
    """A sign-up waiting for its emailed link: the account exists only once the link is opened,
    so registering tells nobody but the mailbox's owner whether the email was taken."""

    __tablename__ = "pending_registrations"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class PersonalModel(SQLModel, table=True):
    """A user's trained identity (a LoRA) or a draft collecting training photos."""

    __tablename__ = "personal_models"
    __table_args__ = (
        Index("ix_personal_models_user_created", "user_id", "created_at"),
        Index("ix_personal_models_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    name: str = Field(max_length=80)
    subject: str = Field(default="person", max_length=16)
    status: str = Field(default=ModelStatus.DRAFT.value, max_length=16)
    trigger_word: str = Field(default="TOK", max_length=32)
    provider: str = Field(default="", max_length=32)
    cost_credits: int = Field(default=0)
    progress: float = Field(default=0.0)
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    weights_key: str = Field(default="", max_length=500)
    provider_version: str = Field(default="", max_length=200)
    job_id: int | None = Field(default=None, foreign_key="jobs.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    trained_at: datetime | None = None
    # The faces its pictures are scored against, set at training start: `faces.to_bytes` of each
    # held-out photo (or of every embedded accepted photo when none is held out), concatenated.
    # Kept on the model because retention removes its training photos (see 0009).
    likeness_references: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )
    # The model quality check (services/model_quality.py): the mean likeness of a few sample
    # pictures made right after training; NULL until measured (or when no sample showed a
    # face). `quality_refunded_at` is set once its training was refunded for a free retrain.
    quality_likeness: float | None = None
    quality_checked_at: datetime | None = None
    quality_refunded_at: datetime | None = None


class TrainingPhoto(SQLModel, table=True):
    __tablename__ = "training_photos"
    __table_args__ = (Index("ix_training_photos_model", "model_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="personal_models.id")
    user_id: int = Field(foreign_key="users.id", index=True)
    original_filename: str = Field(default="", max_length=255)
    accepted: bool = Field(default=False)
    reject_reason: str = Field(default="", max_length=200)
    storage_key: str = Field(default="", max_length=500)
    thumb_key: str = Field(default="", max_length=500)
    width: int = 0
    height: int = 0
    sha256: str = Field(default="", max_length=64)
    phash: str = Field(default="", max_length=16)
    blur_score: float = 0.0
    face_count: int = 0
    face_ratio: float = 0.0
    # dlib's 128-d face embedding (`faces.to_bytes`); b"" when there is none (see 0008).
    face_embedding: bytes = Field(
        default=b"", sa_column=Column(LargeBinary, nullable=False, default=b"")
    )
    # Kept back from the trainer to score the model's pictures against (set at training start).
    held_out: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)


class GeneratedImage(SQLModel, table=True):
    __tablename__ = "generated_images"
    __table_args__ = (
        Index("ix_generated_images_user_feed", "user_id", "created_at", "id"),
        Index("ix_generated_images_user_model_feed", "user_id", "model_id", "created_at", "id"),
        Index("ix_generated_images_user_style_feed", "user_id", "style_id", "created_at", "id"),
        Index(
            "ix_generated_images_user_favourites",
            "user_id",
            "created_at",
            "id",
            postgresql_where=text("favourite"),
            sqlite_where=text("favourite = 1"),
        ),
        Index("ix_generated_images_user_likeness", "user_id", "likeness", "id"),
        # The console's metrics: pictures and picturing users of a period, from the index alone.
        Index("ix_generated_images_created_user", "created_at", "user_id"),
        # Only deleted pictures, for the upkeep that purges them once their undo window ends.
        Index(
            "ix_generated_images_deleted",
            "deleted_at",
            postgresql_where=text("deleted_at IS NOT NULL"),
            sqlite_where=text("deleted_at IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    user_id: int = Field(foreign_key="users.id")
    model_id: int | None = Field(default=None, foreign_key="personal_models.id")
    job_id: int | None = Field(default=None, foreign_key="jobs.id", index=True)
    style_id: str = Field(default="", max_length=64)
    # What was sent to the provider (the style's template, the model's trigger word, ...).
    prompt: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # What the user typed, the only prompt the UI shows; "" for a style without extra words.
    user_prompt: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    negative_prompt: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    seed: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    width: int = 0
    height: int = 0
    aspect_ratio: str = Field(default="1:1", max_length=8)
    provider: str = Field(default="", max_length=32)
    storage_key: str = Field(default="", max_length=500)
    thumb_key: str = Field(default="", max_length=500)
    favourite: bool = Field(default=False)
    flagged: bool = Field(default=False)
    # Mean face distance to the user's reference faces (`likeness_score`); lower is more
    # alike. None when not scored (no face found, Instant without embeddings, a pet).
    likeness: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # Set when the user deletes the picture: hidden everywhere, restorable until purged.
    deleted_at: datetime | None = None


class Job(SQLModel, table=True):
    """Every long operation: the row is the truth, the RQ job only carries it out."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_heartbeat", "status", "heartbeat_at"),
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_provider_external", "provider", "external_id"),
        # The console: a period's jobs of a kind, newest-first listings filtered by kind and
        # status or by status alone.
        Index("ix_jobs_kind_created", "kind", "created_at"),
        Index("ix_jobs_kind_status_id", "kind", "status", "id"),
        Index("ix_jobs_status_id", "status", "id"),
        # Provider health: jobs finished in the last hour or day.
        Index("ix_jobs_finished", "finished_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    kind: str = Field(max_length=32)
    status: str = Field(default=JobStatus.QUEUED.value, max_length=16)
    progress: float = Field(default=0.0)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=3)
    provider: str = Field(default="", max_length=32)
    external_id: str = Field(default="", max_length=128)
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    credits_held: int = Field(default=0)
    hold_reference: str = Field(default="", max_length=128)
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None
    deadline_at: datetime | None = None
    # Who runs the current attempt (`liveness.Claimant` as JSON), so a dead worker's job is
    # recovered as soon as that worker is provably gone.
    claimed_by: str = Field(default="", max_length=255)


class CreditHold(SQLModel, table=True):
    """Credits set aside for a job: captured per delivered result, the rest released."""

    __tablename__ = "credit_holds"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    reference: str = Field(max_length=128, unique=True)
    amount: int
    captured: int = Field(default=0)
    released: int = Field(default=0)
    # Plan credits among what is still held: they go back to the plan pool on release.
    plan_amount: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)


class CreditEntry(SQLModel, table=True):
    """One ledger row per balance change; `sum(delta)` per user always equals the balance."""

    __tablename__ = "credit_entries"
    __table_args__ = (Index("ix_credit_entries_user_created", "user_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    kind: str = Field(max_length=16)
    amount: int = Field(description="Credits concerned, always positive")
    delta: int = Field(description="Change of the spendable balance")
    balance_after: int
    reference: str = Field(max_length=160, unique=True)
    hold_id: int | None = Field(default=None, foreign_key="credit_holds.id")
    description: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class Subscription(SQLModel, table=True):
    __tablename__ = "subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    stripe_subscription_id: str = Field(max_length=64, unique=True)
    stripe_customer_id: str = Field(default="", max_length=64)
    plan: str = Field(default="", max_length=32)
    status: str = Field(default="", max_length=32)
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ProcessedEvent(SQLModel, table=True):
    """Webhook deliveries already applied (Stripe and AI providers), for exactly-once effects."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("source", "event_id", name="uq_processed_events"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)
    event_id: str = Field(max_length=255)
    event_type: str = Field(default="", max_length=80)
    processed_at: datetime = Field(default_factory=utcnow)


class Consent(SQLModel, table=True):
    """A user's explicit consent to processing their face photos: which version of the summary
    they accepted, when, and a hash of the exact text they were shown (GDPR Art. 9, BIPA)."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_user_version", "user_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    version: str = Field(max_length=32)
    text_sha256: str = Field(max_length=64)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    accepted_at: datetime = Field(default_factory=utcnow)


class AuditEntry(SQLModel, table=True):
    """One admin action: who did what to which target, why and when. Append-only: a trigger
    refuses UPDATE and DELETE (see 0010), and no service edits a row."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    # No foreign keys and no emails: the record outlives what it names, and holds ids only
    # (an account deleted later shows as its tombstone when the log is read).
    actor_id: int | None = None
    action: str = Field(max_length=48)
    target_type: str = Field(default="", max_length=16)
    target_id: str = Field(default="", max_length=64)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    created_at: datetime = Field(default_factory=utcnow)
