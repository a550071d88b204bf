"""The credit history as the person paying reads it: one plain sentence per ledger row.

Ledger rows keep idempotency references (`gen:3:13a6…:0`, `job:7:capture`) and the short
notes written when the money moved; neither is meant for users, and a note written at the time
("Training of model 2") goes stale when the model is renamed. So the sentence is made here, on
reading, from the row and what it is linked to: a hold, capture or release leads through its
hold to the job (its kind, its status and, for generations, the request's label and size), and
a training's model is looked up by id for its current name.

A page is two queries whatever its length: the ledger rows with their holds and jobs, then the
names of the models those jobs trained.
"""

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import CreditEntry, CreditHold, Job, JobStatus, LedgerKind, PersonalModel
from photoai.services.credits import EntryView, entry_view
from photoai.services.generation_runs import KIND as GENERATION_KIND
from photoai.services.training_runs import KIND as TRAINING_KIND

__all__ = ["describe", "history"]

_IMAGE_INDEX = re.compile(r":img:(\d+)$")
DELETED_MODEL = "a deleted model"


@dataclass(frozen=True)
class _Job:
    """What a hold's job tells about it: kind, final status, and the request it carried."""

    kind: str
    status: str
    payload: dict[str, Any]
    model_name: str = ""


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _generation(entry: EntryView, job: _Job) -> str:
    label = str(job.payload.get("label") or "your prompt")
    count = int(job.payload.get("count") or 1)
    if entry.kind == LedgerKind.HOLD:
        return f"Generating {_plural(count, 'picture')} — {label}"
    if entry.kind == LedgerKind.CAPTURE:
        found = _IMAGE_INDEX.search(entry.reference)
        which = f" {int(found[1]) + 1} of {count}" if found and count > 1 else ""
        used = _plural(entry.amount, "reserved credit")
        return f"Generated picture{which} — {label} ({used} used)"
    if job.status == JobStatus.FAILED:
        return f"Refund for a failed job — {label}"
    if job.status == JobStatus.CANCELED:
        return f"Refund for a cancelled request — {label}"
    unit = max(1, int(job.payload.get("unit_cost") or 1))
    missing = max(1, entry.amount // unit)
    return f"Returned for {_plural(missing, 'picture')} not delivered — {label}"


def _training(entry: EntryView, job: _Job) -> str:
    name = f"“{job.model_name}”" if job.model_name else DELETED_MODEL
    if entry.kind == LedgerKind.HOLD:
        return f"Training {name}"
    if entry.kind == LedgerKind.CAPTURE:
        return f"Training {name} finished"
    if job.status == JobStatus.FAILED:
        return f"Refund for a failed training — {name}"
    return f"Training {name} stopped — credits returned"


_UNLINKED = {
    LedgerKind.HOLD.value: "Credits reserved",
    LedgerKind.CAPTURE.value: "Reserved credits used",
    LedgerKind.RELEASE.value: "Reserved credits returned",
}


def describe(entry: EntryView, job: _Job | None = None) -> str:
    """The sentence for one ledger row; `job` is the job its hold belongs to, if any."""
    kind = entry.kind
    if kind in _UNLINKED:
        if job is not None and job.kind == GENERATION_KIND:
            return _generation(entry, job)
        if job is not None and job.kind == TRAINING_KIND:
            return _training(entry, job)
        return _UNLINKED[kind]
    if kind == LedgerKind.STARTER:
        return "Welcome credits"
    if kind == LedgerKind.PURCHASE:
        return f"Credit pack: {_plural(entry.amount, 'credit')}"
    if kind == LedgerKind.PLAN:
        return f"Monthly plan credits: {_plural(entry.amount, 'credit')}"
    if kind == LedgerKind.EXPIRE:
        return "Unused plan credits expired at renewal"
    if kind == LedgerKind.REFUND:
        if entry.reference.startswith("stripe:dispute:"):
            return "Payment disputed — its credits were taken back"
        return "Payment refunded — its credits were taken back"
    if kind == LedgerKind.ADJUSTMENT:
        return entry.description or "Adjustment by support"  # the operator's own words
    return kind.capitalize()


def _payload(raw: str) -> dict[str, Any]:
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _trained_model_id(job: _Job | None) -> int | None:
    """The model a training job trained (its payload says which), if it is one."""
    if job is None or job.kind != TRAINING_KIND:
        return None
    model_id = str(job.payload.get("model_id", ""))
    return int(model_id) if model_id.isdigit() else None


def history(user_id: int, *, limit: int = 50, before_id: int | None = None) -> list[EntryView]:
    """The user's ledger rows, newest first and keyset-paged by id like
    `credits.recent_entries`, each with its `description` written for the user."""
    query = (
        select(CreditEntry, col(Job.kind), col(Job.status), col(Job.payload))
        .outerjoin(CreditHold, col(CreditHold.id) == col(CreditEntry.hold_id))
        .outerjoin(
            Job,
            (col(Job.hold_reference) == col(CreditHold.reference)) & (col(Job.user_id) == user_id),
        )
        .where(col(CreditEntry.user_id) == user_id)
    )
    if before_id is not None:
        query = query.where(col(CreditEntry.id) < before_id)
    with session_scope() as s:
        rows = s.execute(query.order_by(col(CreditEntry.id).desc()).limit(limit)).all()
        jobs = [
            _Job(kind, status, _payload(payload)) if kind is not None else None
            for _, kind, status, payload in rows
        ]
        model_ids = {found for job in jobs if (found := _trained_model_id(job)) is not None}
        names = dict(
            s.execute(
                select(col(PersonalModel.id), col(PersonalModel.name)).where(
                    col(PersonalModel.id).in_(model_ids), col(PersonalModel.user_id) == user_id
                )
            ).all()
        )
        views = [entry_view(entry) for entry, *_ in rows]
    described = []
    for view, job in zip(views, jobs, strict=True):
        model_id = _trained_model_id(job)
        if job is not None and model_id is not None:
            job = replace(job, model_name=names.get(model_id, ""))
        described.append(replace(view, description=describe(view, job)))
    return described
