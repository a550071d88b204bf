"""A user's data export: one ZIP of everything we hold about them, built by a background job.

The ZIP is written to a temporary file one stored object at a time and then handed to storage
as a file (a multipart upload on S3), so an export of any size never sits in memory. It holds
the training photos, generated pictures (originals), model metadata, the credit ledger,
payments (Stripe ids and amounts), consents and a README saying what each file is; never other
users' data or secrets (no password hash, no tokens, no weights links). One export per user
runs at a time; the emailed download link expires after `export_link_hours`, and upkeep
deletes the ZIP then.
"""

import csv
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import (
    Consent,
    CreditEntry,
    GeneratedImage,
    Job,
    JobStatus,
    PersonalModel,
    Subscription,
    TrainingPhoto,
    User,
    utcnow,
)
from photoai.services import jobs, maintenance
from photoai.services.email import send_email
from photoai.services.storage import ObjectNotFound, Storage, get_storage
from photoai.settings import get_settings

KIND = "data_export"
CLEANUP_EVERY_SECONDS = 900.0
_UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)

README = """\
Your data from {app}, exported {when} (UTC).

account.json         your account: email, name, when it was created, your credit balance
consents.json        each consent you gave: version, time and the exact text you agreed to
models.json          your personal models: name, subject, status, provider, dates, and the
                     training photos of each (file name you uploaded, verdict, path below)
models/<id>/photos/  the training photos we keep (resized as they were sent for training)
generated.json       your generated pictures: prompt, style, model, seed, size, date, path
generated/           the generated pictures, as delivered (originals, not thumbnails)
credit_ledger.csv    every change of your credit balance, oldest first
payments.json        your subscriptions and paid purchases: Stripe ids, plans, amounts

Not included: trained model weights (large files you can regenerate by training again),
passwords (we only keep a hash) and anything about other people.
"""


@dataclass(frozen=True)
class ExportView:
    job_id: int
    status: str
    progress: float
    download_url: str
    expires_at: datetime | None


def export_key(user_id: int, job_id: int) -> str:
    return f"users/{user_id}/exports/export-{job_id}.zip"


def request_export(user_id: int) -> int:
    """Queue an export; while one is being prepared, asking again returns that one.

    The user row is locked (FOR NO KEY UPDATE, which the job row's foreign key check does not
    wait for) so two clicks at once still make one job.
    """
    with session_scope() as s:
        s.execute(
            select(col(User.id)).where(col(User.id) == user_id).with_for_update(key_share=True)
        )
        running = s.execute(
            select(col(Job.id)).where(
                col(Job.user_id) == user_id,
                col(Job.kind) == KIND,
                col(Job.status).in_(_UNFINISHED),
            )
        ).scalar_one_or_none()
        if running is not None:
            return int(running)
        return jobs.create(KIND, user_id=user_id, payload={})


def latest_export(user_id: int) -> ExportView | None:
    """The user's newest export, with a fresh download link while it has not expired."""
    with session_scope() as s:
        job = s.execute(
            select(Job)
            .where(col(Job.user_id) == user_id, col(Job.kind) == KIND)
            .order_by(col(Job.id).desc())
            .limit(1)
        ).scalar_one_or_none()
    if job is None or job.id is None:
        return None
    payload = json.loads(job.payload or "{}")
    expires_at = datetime.fromisoformat(payload["expires_at"]) if "expires_at" in payload else None
    url = ""
    if payload.get("key") and expires_at is not None and expires_at > utcnow():
        seconds = int((expires_at - utcnow()).total_seconds())
        url = get_storage().signed_url(payload["key"], user_id, expires_in=max(seconds, 1))
    return ExportView(job.id, job.status, job.progress, url, expires_at)


def _rows(model: Any, user_id: int, order: Any) -> list[Any]:
    with session_scope() as s:
        return list(
            s.execute(select(model).where(model.user_id == user_id).order_by(order)).scalars()
        )


def _copy(zf: zipfile.ZipFile, storage: Storage, key: str, name: str) -> bool:
    """One stored object into the ZIP (as it is: pictures do not compress)."""
    try:
        data = storage.get(key)
    except ObjectNotFound:
        return False
    with zf.open(zipfile.ZipInfo(name, date_time=utcnow().timetuple()[:6]), "w") as dest:
        dest.write(data)
    return True


def _json(zf: zipfile.ZipFile, name: str, value: object) -> None:
    zf.writestr(name, json.dumps(value, indent=2, default=str), zipfile.ZIP_DEFLATED)


def _write_zip(zf: zipfile.ZipFile, user_id: int, job_id: int) -> None:
    storage = get_storage()
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise jobs.PermanentJobError("The account is gone.")
        account = {
            "email": user.email,
            "name": user.name,
            "created_at": user.created_at,
            "credit_balance": user.credit_balance,
        }
    zf.writestr(
        "README.txt",
        README.format(app=get_settings().app_name, when=utcnow().strftime("%Y-%m-%d %H:%M")),
    )
    _json(zf, "account.json", account)
    consents = _rows(Consent, user_id, col(Consent.id))
    _json(
        zf,
        "consents.json",
        [
            {
                "version": c.version,
                "accepted_at": c.accepted_at,
                "sha256": c.text_sha256,
                "text": c.summary,
            }
            for c in consents
        ],
    )
    models = _rows(PersonalModel, user_id, col(PersonalModel.id))
    photos = _rows(TrainingPhoto, user_id, col(TrainingPhoto.id))
    images = _rows(GeneratedImage, user_id, col(GeneratedImage.id))
    total = max(1, len(photos) + len(images))
    done = 0
    described = []
    for model in models:
        entries = []
        for photo in (p for p in photos if p.model_id == model.id):
            path = f"models/{model.id}/photos/{photo.id}.jpg"
            stored = bool(photo.storage_key) and _copy(zf, storage, photo.storage_key, path)
            entries.append(
                {
                    "uploaded_as": photo.original_filename,
                    "accepted": photo.accepted,
                    "reason": photo.reject_reason,
                    "file": path if stored else None,
                }
            )
            done += 1
            jobs.heartbeat(job_id, 0.9 * done / total)
        described.append(
            {
                "id": model.id,
                "name": model.name,
                "subject": model.subject,
                "status": model.status,
                "provider": model.provider,
                "created_at": model.created_at,
                "trained_at": model.trained_at,
                "photos": entries,
            }
        )
    _json(zf, "models.json", described)
    pictures = []
    for image in images:
        suffix = PurePosixPath(image.storage_key).suffix or ".png"
        path = f"generated/{image.id}{suffix}"
        stored = bool(image.storage_key) and _copy(zf, storage, image.storage_key, path)
        pictures.append(
            {
                "file": path if stored else None,
                "prompt": image.prompt,
                "style": image.style_id,
                "model_id": image.model_id,
                "seed": image.seed,
                "size": f"{image.width}x{image.height}",
                "created_at": image.created_at,
            }
        )
        done += 1
        jobs.heartbeat(job_id, 0.9 * done / total)
    _json(zf, "generated.json", pictures)
    ledger = _rows(CreditEntry, user_id, col(CreditEntry.id))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(
        ["created_at", "kind", "amount", "delta", "balance_after", "reference", "description"]
    )
    for e in ledger:
        writer.writerow(
            [e.created_at, e.kind, e.amount, e.delta, e.balance_after, e.reference, e.description]
        )
    zf.writestr("credit_ledger.csv", text.getvalue(), zipfile.ZIP_DEFLATED)
    subscriptions = _rows(Subscription, user_id, col(Subscription.id))
    _json(
        zf,
        "payments.json",
        {
            "subscriptions": [
                {
                    "stripe_subscription_id": sub.stripe_subscription_id,
                    "stripe_customer_id": sub.stripe_customer_id,
                    "plan": sub.plan,
                    "status": sub.status,
                    "current_period_end": sub.current_period_end,
                    "created_at": sub.created_at,
                }
                for sub in subscriptions
            ],
            "purchases_and_refunds": [
                {
                    "created_at": e.created_at,
                    "kind": e.kind,
                    "credits": e.amount,
                    "reference": e.reference,
                    "description": e.description,
                }
                for e in ledger
                if e.kind in ("purchase", "plan", "refund")
            ],
        },
    )


def run_export(job_id: int) -> jobs.Outcome:
    view = jobs.get(job_id)
    if view is None or view.user_id is None:
        raise jobs.PermanentJobError("The export job is gone.")
    user_id = view.user_id
    settings = get_settings()
    key = export_key(user_id, job_id)
    with tempfile.TemporaryDirectory(prefix="photoai-export-") as folder:
        path = Path(folder) / "export.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            _write_zip(zf, user_id, job_id)
        get_storage().put_file(key, path, "application/zip")
    expires_at = utcnow() + timedelta(hours=settings.export_link_hours)
    with session_scope() as s:
        s.execute(
            update(Job)
            .where(col(Job.id) == job_id)
            .values(payload=json.dumps({"key": key, "expires_at": expires_at.isoformat()}))
        )
        user = s.get(User, user_id)
        email = user.email if user else ""
    if email:
        link = get_storage().signed_url(key, user_id, expires_in=settings.export_link_hours * 3600)
        if link.startswith("/"):  # our /files route: it opens only in the user's signed-in browser
            link = settings.base_url.rstrip("/") + link
        send_email(
            email,
            f"Your {settings.app_name} data export is ready",
            f"Your data export is ready:\n\n{link}\n\nThe link works until "
            f"{expires_at:%d %b %Y, %H:%M} UTC, then the file is deleted. You find it on your "
            "Account page too.",
        )
    return jobs.Outcome.DONE


def remove_expired() -> dict[str, int]:
    """Delete export ZIPs whose link has expired (periodic upkeep)."""
    now = utcnow()
    removed = 0
    with session_scope() as s:
        done = s.execute(
            select(col(Job.id), col(Job.payload)).where(
                col(Job.kind) == KIND, col(Job.status) == JobStatus.SUCCEEDED.value
            )
        ).all()
    for job_id, raw in done:
        payload = json.loads(raw or "{}")
        if not payload.get("key") or datetime.fromisoformat(payload["expires_at"]) > now:
            continue
        get_storage().delete(payload["key"])
        with session_scope() as s:
            s.execute(
                update(Job)
                .where(col(Job.id) == job_id)
                .values(payload=json.dumps({"expires_at": payload["expires_at"]}))
            )
        removed += 1
    return {"exports_removed": removed} if removed else {}


jobs.register(KIND, run_export)
maintenance.register("remove expired exports", remove_expired, CLEANUP_EVERY_SECONDS)
