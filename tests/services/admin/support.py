"""Admins and generation jobs for the console's tests, written the way the product writes
them."""

import uuid
from dataclasses import replace

from sqlalchemy import update
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import User
from photoai.services import accounts, jobs
from photoai.services.generation_runs import KIND as GENERATION
from photoai.services.generation_runs import GenerationSpec

PASSWORD = "console-pass-42!"

SPEC = GenerationSpec(
    request_key="req-console-0001",
    source="instant",
    source_label="Instant",
    model_id=None,
    photos_model_id=1,
    style_id="linkedin",
    pack_id="",
    label="LinkedIn",
    prompt="portrait",
    negative_prompt="",
    aspect_ratio="1:1",
    width=1024,
    height=1024,
    count=2,
    seed=None,
    unit_cost=1,
)


def make_admin(email: str | None = None) -> int:
    user_id = accounts.register(email or f"admin-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
    with session_scope() as s:
        s.execute(update(User).where(col(User.id) == user_id).values(is_admin=True))
    return user_id


def sign_in(user_id: int) -> str:
    ticket = accounts.create_login_ticket(user_id, "/admin")
    return accounts.redeem_login_ticket(ticket, "pytest", "127.0.0.1").token


def generation_job(user_id: int, *, key: str | None = None, enqueue: bool = False) -> int:
    """A generation request of two pictures holding 2 credits, not run by anyone."""
    spec = replace(SPEC, request_key=key or uuid.uuid4().hex[:16])
    made = jobs.create_many(
        GENERATION,
        user_id=user_id,
        new_jobs=[
            jobs.NewJob(
                hold_reference=f"gen:{user_id}:{spec.request_key}:0",
                credits_to_hold=spec.credits,
                payload=spec.to_payload(),
            )
        ],
        enqueue_now=enqueue,
    )
    return made[0].job_id
