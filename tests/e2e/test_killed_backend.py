"""A backend killed under load (issue 9, "Bad input and faults"): two real `reflex run
--backend-only` processes share Redis state, users submit generations over the websocket
protocol to the first, which gets SIGKILL while their submits are in flight. Nothing queued may
be lost and no credit may move wrongly: every job reaches an end, each user's ledger adds up to
their balance, no hold stays open; the users reconnect, same tab token, to the other backend.
"""

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import CreditHold, Job, JobStatus, LedgerKind
from photoai.services import accounts, credits, queue, training
from photoai.services.privacy import consent
from photoai.state.generate import GenerateState
from tests import async_support, photos
from tests.e2e.reflex_ws import Cluster, Tab, backend_cluster, kill_group, signed_in_cookie

USERS = 5
SUBMITS_PER_USER = 3
STARTING_CREDITS = 20
GENERATE = GenerateState.get_full_name()
FINAL = {JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELED.value}


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    with backend_cluster(tmp_path, monkeypatch, backends=2, worker_processes=2) as running:
        yield running


def _user_with_photos(n: int) -> tuple[int, int]:
    """A signed-up user (starter credits, plus a grant) with four photos: (id, balance)."""
    email = f"kill-{n}-{uuid.uuid4().hex[:6]}@example.com"
    uid = accounts.register(email, uuid.uuid4().hex)
    credits.grant(uid, STARTING_CREDITS, kind=LedgerKind.ADJUSTMENT, reference=f"seed:{uid}")
    consent.record_consent(uid)
    model_id = training.create_draft(uid, "Me", "woman")
    for number, data in enumerate(photos.one_person_jpegs()[:4]):
        assert training.add_photo(uid, model_id, f"IMG_{number}.jpg", data).accepted
    return uid, credits.balance(uid)


async def _submit_then_kill(cluster: Cluster, cookies: list[str]) -> list[int]:
    """Each tab submits; the first backend is killed with later submits in flight; each tab
    reconnects to the other. How many submits each saw acknowledged ("Request queued.")."""
    tabs = [Tab(cookie) for cookie in cookies]
    await asyncio.gather(*(tab.open(cluster.backends[0]) for tab in tabs))
    for tab in tabs:
        await tab.until(GENERATE, "source", "instant")
    for round_ in range(SUBMITS_PER_USER):
        for tab in tabs:
            await tab.send(f"{GENERATE}.set_option", {"name": "prompt", "value": f"take {round_}"})
            await tab.send(f"{GENERATE}.submit", {})
        if round_ == 0:
            await asyncio.gather(
                *(tab.until(GENERATE, "notice", "Request queued.") for tab in tabs)
            )
    await asyncio.sleep(0.3)  # later submits are being handled: the backend dies under them
    kill_group(cluster.servers[0], signal.SIGKILL)
    acknowledged = [tab.seen(GENERATE, "notice").count("Request queued.") for tab in tabs]
    for tab in tabs:
        with contextlib.suppress(Exception):
            await tab.sio.disconnect()
    # The same tabs come back on the other backend: their own state, their own account.
    for tab in tabs:
        await tab.open(cluster.backends[1])  # waits for the page load to finish
        await tab.until(GENERATE, "source", "instant")
        await tab.sio.disconnect()
    return acknowledged


def _jobs_of(uid: int) -> list[Job]:
    with session_scope() as s:
        rows = list(s.execute(select(Job).where(col(Job.user_id) == uid)).scalars())
        s.expunge_all()
    return rows


def _open_holds(uid: int) -> list[CreditHold]:
    with session_scope() as s:
        holds = list(s.execute(select(CreditHold).where(col(CreditHold.user_id) == uid)).scalars())
        s.expunge_all()
    return [h for h in holds if h.captured + h.released != h.amount]


def test_a_backend_killed_under_load_loses_no_job_and_no_credit(cluster: Cluster) -> None:
    users = [_user_with_photos(n) for n in range(USERS)]
    cookies = [
        async_support.run(signed_in_cookie(cluster.backends[0 if n % 2 == 0 else 1], uid))
        for n, (uid, _) in enumerate(users)
    ]
    # Each tab came back on the other backend: its page loaded there, with its own sources.
    acknowledged = async_support.run(_submit_then_kill(cluster, cookies))

    # Every job that was written reaches an end; lost queue entries are re-sent by the upkeep.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if all(j.status in FINAL for uid, _ in users for j in _jobs_of(uid)):
            break
        time.sleep(1)
    for (uid, starting), seen in zip(users, acknowledged, strict=True):
        rows = _jobs_of(uid)
        assert 1 <= seen <= len(rows) <= SUBMITS_PER_USER, "every acknowledged submit has its job"
        assert {j.status for j in rows} == {JobStatus.SUCCEEDED.value}, [
            (j.id, j.status, j.error) for j in rows
        ]
        assert _open_holds(uid) == []
        assert credits.balance(uid) == credits.ledger_sum(uid) == starting - len(rows)
    rq = queue.rq_queue()
    assert rq is not None and rq.count == 0
