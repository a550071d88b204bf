"""Real `reflex run --env prod --backend-only` processes and tabs that speak Reflex's socket.io
`/_event` protocol to them, for tests of what a network peer can do (floods, stolen tokens,
killed backends) without a browser.
"""

import asyncio
import contextlib
import os
import shutil
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

from photoai.serve_plan import reflex_state_url
from photoai.services import accounts
from photoai.settings import PROJECT_ROOT, get_settings
from tests.conftest import PG_ADMIN_DSN, migrate
from tests.e2e.conftest import E2E_REDIS_URL
from tests.local_servers import free_port, start_logged, stop_group, wait_until_serving

ROOT = State.get_full_name()
HYDRATE = f"{ROOT}.{CompileVars.HYDRATE_AND_LOAD}"
NAMESPACE = "/_event"


@dataclass(frozen=True)
class Cluster:
    backends: list[str]
    servers: list[subprocess.Popen[bytes]]
    env: dict[str, str]


def _pings(url: str) -> bool:
    return httpx.get(f"{url}/ping", timeout=2).status_code == 200


def kill_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)


@contextlib.contextmanager
def backend_cluster(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backends: int,
    worker_processes: int = 0,
    extra: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """`backends` backend processes sharing a fresh PostgreSQL database and the e2e Redis (and
    an RQ worker with `worker_processes`, if any); this process uses the same settings."""
    name = f"photoai_ws_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    db_url = f"{db_url}/{name}"
    migrate(db_url)
    ports = [free_port() for _ in range(backends)]
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
        **(extra or {}),
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
    # Every backend deletes Reflex's one-process state files as it starts (the e2e app leaves
    # some); several starting at once race on them and the loser exits. Clear them first.
    shutil.rmtree(PROJECT_ROOT / ".states", ignore_errors=True)
    servers = [
        start_logged(
            [reflex, "run", "--env", "prod", "--backend-only", "--backend-port", str(port)],
            env,
            tmp_path / f"backend-{port}.log",
        )
        for port in ports
    ]
    workers = []
    if worker_processes:
        args = [sys.executable, "worker.py", "--processes", str(worker_processes)]
        workers.append(start_logged(args, env, tmp_path / "worker.log"))
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, proc, port in zip(urls, servers, ports, strict=True):
            log = tmp_path / f"backend-{port}.log"
            wait_until_serving(proc, log, lambda url=url: _pings(url), "backend")
        yield Cluster(backends=urls, servers=servers, env=env)
    finally:
        for proc in [*servers, *workers]:
            stop_group(proc)
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        get_settings.cache_clear()


async def signed_in_cookie(base: str, uid: int, next_path: str = "/generate") -> str:
    """The Cookie header of a browser that signed in as `uid` through the app."""
    ticket = await asyncio.to_thread(accounts.create_login_ticket, uid, next_path)
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.get("/auth/complete", params={"ticket": ticket})
    assert answer.cookies, f"sign-in failed: HTTP {answer.status_code}"
    return "; ".join(f"{k}={v}" for k, v in answer.cookies.items())


class Tab:
    """One browser tab on a page, speaking Reflex's socket.io protocol."""

    def __init__(self, cookie: str, path: str = "/generate", token: str | None = None) -> None:
        self.cookie = cookie
        self.path = path
        self.token = token or str(uuid.uuid4())
        self.deltas: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # frontend events: toasts, redirects, scripts
        self.sio = socketio.AsyncClient(reconnection=False)

    async def _on_update(self, update: dict[str, Any]) -> None:
        self.deltas.append(update.get("delta") or {})
        self.events.extend(update.get("events") or [])

    def _event(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "payload": payload,
            "router_data": {"pathname": self.path, "asPath": self.path},
        }

    def seen(self, state: str, field: str) -> list[Any]:
        key = f"{field}_rx_state_"
        return [d[state][key] for d in self.deltas if key in d.get(state, {})]

    def received_text(self) -> str:
        """Everything the server sent this tab, as text (to look for what must not be there)."""
        return repr(self.deltas) + repr(self.events)

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
        self.events.clear()
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

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()
