"""A backend killed under load (issue 9, "Bad input and faults"): two real `reflex run
--backend-only` processes share Redis state, users submit generations over the websocket
protocol to the first, which gets SIGKILL while their submits are in flight. Nothing queued may
be lost and no credit may move wrongly: every job reaches an end, each user's ledger adds up to
their balance, no hold stays open; the users reconnect, same tab token, to the other backend.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import socketio
from reflex.state import State
from reflex_base.constants import CompileVars
from sqlalchemy import select
from sqlmodel import col

from photoai.db import session_scope
from photoai.models import CreditHold, Job, JobStatus, LedgerKind
from photoai.serve_plan import reflex_state_url
from photoai.services import accounts, credits, queue, training
from photoai.services.privacy import consent
from photoai.settings import PROJECT_ROOT, get_settings
from photoai.state.generate import GenerateState
from tests import photos
from tests.conftest import PG_ADMIN_DSN, migrate
from tests.e2e.conftest import E2E_REDIS_URL
from tests.local_servers import free_port

USERS = 5
SUBMITS_PER_USER = 3
STARTING_CREDITS = 20
ROOT = State.get_full_name()
HYDRATE = f"{ROOT}.{CompileVars.HYDRATE_AND_LOAD}"
GENERATE = GenerateState.get_full_name()
NAMESPACE = "/_event"
FINAL = {JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELED.value}


@dataclass(frozen=True)
class Cluster:
    backends: list[str]
    servers: list[subprocess.Popen[bytes]]
    env: dict[str, str]


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_serving(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"backend exited early:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        time.sleep(1)
    raise RuntimeError(f"backend did not come up:\n{log.read_text()[-4000:]}")


def _kill_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    name = f"photoai_kill_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    db_url = f"{db_url}/{name}"
    migrate(db_url)
    ports = [free_port(), free_port()]
    settings = {
        "PHOTOAI_DATABASE_URL": db_url,
        "PHOTOAI_DATA_DIR": str(tmp_path / "data"),
        "PHOTOAI_REDIS_URL": E2E_REDIS_URL,
        "PHOTOAI_REDIS_REQUIRED": "true",
        "PHOTOAI_QUEUE_NAME": name,
        "PHOTOAI_BASE_URL": f"http://localhost:{ports[0]}",
        "PHOTOAI_BCRYPT_ROUNDS": "4",
        "PHOTOAI_MIN_PHOTOS": "4",
        "PHOTOAI_JOB_HEARTBEAT_SECONDS": "1",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    env = {
        **os.environ,
        **settings,
        "REFLEX_REDIS_URL": reflex_state_url(E2E_REDIS_URL),
        "GRANIAN_WORKERS": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "0",
        "PATH": f"{PROJECT_ROOT / '.tools/node_modules/.bin'}:{os.environ['PATH']}",
    }
    reflex = str(Path(sys.executable).parent / "reflex")
    servers = [
        _start(
            [reflex, "run", "--env", "prod", "--backend-only", "--backend-port", str(port)],
            env,
            tmp_path / f"backend-{port}.log",
        )
        for port in ports
    ]
    worker = _start([sys.executable, "worker.py", "--processes", "2"], env, tmp_path / "worker.log")
    backends = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, proc, port in zip(backends, servers, ports, strict=True):
            _wait_serving(url, proc, tmp_path / f"backend-{port}.log")
        yield Cluster(backends=backends, servers=servers, env=env)
    finally:
        for proc in [*servers, worker]:
            _kill_group(proc, signal.SIGTERM)
            _kill_group(proc, signal.SIGKILL)
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        get_settings.cache_clear()


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


async def _cookie(base: str, uid: int) -> str:
    ticket = await asyncio.to_thread(accounts.create_login_ticket, uid, "/generate")
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.get("/auth/complete", params={"ticket": ticket})
    assert answer.cookies, f"sign-in failed: HTTP {answer.status_code}"
    return "; ".join(f"{k}={v}" for k, v in answer.cookies.items())


class Tab:
    """One browser tab on the Generate page, speaking Reflex's socket.io protocol."""

    def __init__(self, cookie: str) -> None:
        self.cookie = cookie
        self.token = str(uuid.uuid4())
        self.deltas: list[dict[str, Any]] = []
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("event", self._on_update, namespace=NAMESPACE)

    async def _on_update(self, update: dict[str, Any]) -> None:
        self.deltas.append(update.get("delta") or {})

    def _event(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "payload": payload,
            "router_data": {"pathname": "/generate", "asPath": "/generate"},
        }

    def seen(self, state: str, field: str) -> list[Any]:
        key = f"{field}_rx_state_"
        return [d[state][key] for d in self.deltas if key in d.get(state, {})]

    async def until(self, state: str, field: str, wanted: Any = None, within: float = 60.0) -> Any:
        """The field's latest value once the server sent it (equal to `wanted`, if given)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            got = self.seen(state, field)
            if got and (wanted is None or wanted in got):
                return got[-1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {field}={wanted!r} from the server within {within} s")

    async def open(self, base: str) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("event", self._on_update, namespace=NAMESPACE)
        self.deltas.clear()
        await self.sio.connect(
            f"{base}?token={self.token}",
            socketio_path="/_event",
            transports=["websocket"],
            headers={"Cookie": self.cookie},
            auth={"event": self._event(HYDRATE, {})},
            namespaces=[NAMESPACE],
            wait_timeout=60,
        )
        await self.until(ROOT, "is_hydrated")

    async def send(self, name: str, payload: dict[str, Any]) -> None:
        await self.sio.emit("event", self._event(name, payload), NAMESPACE)


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
    _kill_group(cluster.servers[0], signal.SIGKILL)
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
        asyncio.run(_cookie(cluster.backends[0 if n % 2 == 0 else 1], uid))
        for n, (uid, _) in enumerate(users)
    ]
    # Each tab came back on the other backend: its page loaded there, with its own sources.
    acknowledged = asyncio.run(_submit_then_kill(cluster, cookies))

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
