"""Load benchmark: N signed-in users speaking the app's own websocket protocol.

    .venv/bin/python bench/load_ws.py --users 50 --seconds 60 --url http://127.0.0.1:3000

Run it with the app's settings in the environment (same `.env` / `PHOTOAI_DATABASE_URL` and
`PHOTOAI_REDIS_URL`), against an app whose workers run jobs: it creates its users through the
services (each with a ready demo model to generate from), signs each in through the real
`/auth/complete` ticket route (the session cookie the browser would get), then opens one
socket.io connection per user on `/_event` (path and namespace), as Reflex's frontend does: the
page load is `hydrate_and_load` in the CONNECT packet, a navigation is `on_load_internal` with
the new path; the server runs the page's on_load chain itself. Reflex 0.10 marks no update as
the last one, so an event's time runs from sending it until the update that ends it:
`is_hydrated` turning true for a page load or navigation (set after the on_load handlers), the
chosen style for a pick, `busy` turning false for a submit. Each user then loops, one event
every `--pace` seconds (with jitter): open Generate, pick a style, (once per `--submit-every`
rounds, the first round included) submit a generation, open Models, until `--seconds` have
passed; then every connection closes.

"live update" is the push of a job's change to the Generate page that shows it: the benchmark
listens to the same Redis job-event channels the backends listen to and times each event from
its arrival there until the page's request list shows that status (the page must be open on
Generate at that moment; changes it shows while elsewhere are not counted).

`--idle` measures what watching costs instead: each user has a model in training (no worker
touches it, so nothing changes), opens the Models page, which then follows the user's job
events, and stays; the server CPU is measured over `--seconds` once every page is loaded.

`--cpu-per pick` (a state-only event) or `--cpu-per PAGE` (opening that page: its on_load chain
and one database session; PAGE is one of models, generate, dashboard, gallery, account) sends
only that event, once every page is loaded, and divides the server CPU over that phase by the
number of events: the CPU one such event costs (a mean, queries included).

`--url` may be repeated: users are spread over the backends round-robin. Prints p50/p95/p99 per
event type, errors, and the CPU and RSS of the server processes (those listening on the target
ports and their whole process trees, plus any `--pid` given, e.g. workers) over the run.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

os.environ.setdefault("PHOTOAI_BCRYPT_ROUNDS", "4")  # bench users never type a password

import httpx
import psutil
import redis.asyncio as aioredis
import socketio
from process_stats import cpu_seconds, percentile
from reflex.state import OnLoadInternalState, State
from reflex_base.constants import CompileVars

from photoai.db import session_scope
from photoai.models import ModelStatus, PersonalModel, utcnow
from photoai.services import accounts, styles
from photoai.settings import get_settings
from photoai.state.generate import GenerateState

ROOT = State.get_full_name()
HYDRATE = f"{ROOT}.{CompileVars.HYDRATE_AND_LOAD}"
GENERATE = GenerateState.get_full_name()
NAVIGATE = f"{OnLoadInternalState.get_full_name()}.on_load_internal"
PICK_STYLE = f"{GENERATE}.pick_style"
SUBMIT = f"{GENERATE}.submit"
NAMESPACE = "/_event"  # Reflex's socket lives at /_event, path and namespace alike
EVENT_TIMEOUT_SECONDS = 30.0
# `--cpu-per` pages: the path a navigation opens.
PAGES = {
    "models": "/models",
    "generate": "/generate",
    "dashboard": "/dashboard",
    "gallery": "/gallery",
    "account": "/account",
}
ORDER = (
    "page load (hydrate)",
    "open Generate",
    "pick a style",
    "submit a generation",
    "live update",
    "open Models",
)


def _never(_delta: dict[str, Any]) -> bool:
    return False


def _hydrated(delta: dict[str, Any]) -> bool:
    return delta.get(ROOT, {}).get("is_hydrated_rx_state_") is True


def _style_shown(delta: dict[str, Any]) -> bool:
    return "style_id_rx_state_" in delta.get(GENERATE, {})


def _submitted(delta: dict[str, Any]) -> bool:
    return delta.get(GENERATE, {}).get("busy_rx_state_") is False


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class User:
    """One browser tab: a socket.io connection and the events the page would send."""

    def __init__(self, base: str, user_id: int, cookie: str, results: Results) -> None:
        self.base, self.user_id, self.cookie, self.results = base, user_id, cookie, results
        # (job id, status) -> when its job event arrived, until the page shows that status
        self.pushed: dict[tuple[str, str], float] = {}
        self.token = str(uuid.uuid4())
        self.path = "/dashboard"
        self.sio = socketio.AsyncClient(reconnection=False)
        self.ends: Callable[[dict[str, Any]], bool] = _never
        self.settled = asyncio.Event()
        self.sio.on("event", self._on_update, namespace=NAMESPACE)

    def _routed(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "payload": payload,
            "router_data": {"pathname": self.path, "asPath": self.path},
        }

    def job_changed(self, job_id: int, status: str) -> None:
        if self.path == "/generate":
            self.pushed.setdefault((str(job_id), status), time.perf_counter())

    async def _on_update(self, update: dict[str, Any]) -> None:
        delta = update.get("delta") or {}
        rows = delta.get(GENERATE, {}).get("requests_rx_state_")
        if rows and self.pushed:
            now = time.perf_counter()
            for row in rows:
                since = self.pushed.pop((row.get("id", ""), row.get("status", "")), None)
                if since is not None:
                    self.results.latencies["live update"].append((now - since) * 1000)
        if self.ends(delta):
            self.settled.set()

    async def _timed(
        self, label: str, send: Any, ends: Callable[[dict[str, Any]], bool] = _hydrated
    ) -> None:
        self.settled.clear()
        self.ends = ends
        started = time.perf_counter()
        try:
            await send()
            await asyncio.wait_for(self.settled.wait(), EVENT_TIMEOUT_SECONDS)
        except Exception:
            self.results.errors[label] += 1
            return
        self.results.latencies[label].append((time.perf_counter() - started) * 1000)

    async def load_page(self) -> None:
        async def connect() -> None:
            await self.sio.connect(
                f"{self.base}?token={self.token}",
                socketio_path="/_event",
                transports=["websocket"],
                headers={"Cookie": self.cookie},
                auth={"event": self._routed(HYDRATE, {})},
                namespaces=[NAMESPACE],
                wait_timeout=EVENT_TIMEOUT_SECONDS,
            )

        await self._timed("page load (hydrate)", connect)

    async def send(
        self,
        label: str,
        name: str,
        payload: dict[str, Any],
        ends: Callable[[dict[str, Any]], bool],
    ) -> None:
        await self._timed(
            label, lambda: self.sio.emit("event", self._routed(name, payload), NAMESPACE), ends
        )

    async def navigate(self, label: str, path: str) -> None:
        self.path = path
        self.pushed.clear()
        await self.send(label, NAVIGATE, {}, _hydrated)


def _demo_model(user_id: int, status: ModelStatus) -> None:
    """A demo model written directly: training one per bench user through the photo checks
    would take longer than the run. READY to generate from; TRAINING to be watched."""
    with session_scope() as s:
        s.add(
            PersonalModel(
                user_id=user_id,
                name="Bench",
                status=status.value,
                provider="demo",
                trained_at=utcnow() if status == ModelStatus.READY else None,
            )
        )


async def _follow_job_events(users: dict[int, User]) -> None:
    """Tell each user's tab when one of its jobs changed, as the backends hear it."""
    prefix = f"{get_settings().queue_name}:job-events:"
    client = aioredis.Redis.from_url(get_settings().redis_url)
    try:
        async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.psubscribe(f"{prefix}*")
            async for message in pubsub.listen():
                event = json.loads(message["data"])
                user = users.get(int(event["user_id"]))
                if user is not None:
                    user.job_changed(int(event["job_id"]), str(event["status"]))
    finally:
        await client.aclose()


async def _sign_in(base: str, email: str, model: ModelStatus) -> tuple[int, str]:
    """Create the account and sign it in through the ticket route, as the login form does."""
    uid = await asyncio.to_thread(accounts.register, email, uuid.uuid4().hex)
    await asyncio.to_thread(_demo_model, uid, model)
    ticket = await asyncio.to_thread(accounts.create_login_ticket, uid, "/dashboard")
    async with httpx.AsyncClient(base_url=base, timeout=EVENT_TIMEOUT_SECONDS) as client:
        answer = await client.get("/auth/complete", params={"ticket": ticket})
    if answer.status_code >= 400 or not answer.cookies:
        raise RuntimeError(f"sign-in failed for {email}: HTTP {answer.status_code}")
    return uid, "; ".join(f"{k}={v}" for k, v in answer.cookies.items())


async def _run_user(
    user: User, deadline: float, pace: float, style_ids: list[str], submit_every: int
) -> None:
    rng = random.Random()
    await asyncio.sleep(rng.uniform(0, pace))
    await user.load_page()
    if not user.sio.connected:
        return
    rounds = 0
    while time.monotonic() < deadline:
        steps: list[Any] = [
            lambda: user.navigate("open Generate", "/generate"),
            lambda: user.send(
                "pick a style", PICK_STYLE, {"style_id": rng.choice(style_ids)}, _style_shown
            ),
        ]
        if submit_every and rounds % submit_every == 0:
            steps.append(lambda: user.send("submit a generation", SUBMIT, {}, _submitted))
        steps.append(lambda: user.navigate("open Models", "/models"))
        rounds += 1
        for step in steps:
            if time.monotonic() >= deadline:
                break
            await step()
            await asyncio.sleep(pace * rng.uniform(0.5, 1.5))
    await user.sio.disconnect()


async def _one_kind(
    users: list[User], args: argparse.Namespace, urls: list[str], style_ids: list[str]
) -> None:
    """Only one kind of event, after every page is loaded: the server CPU each one costs."""
    pick = args.cpu_per == "pick"
    label = "pick a style" if pick else f"open {args.cpu_per.capitalize()}"
    await asyncio.gather(*(u.load_page() for u in users))
    if pick:
        await asyncio.gather(*(u.navigate("open Generate", "/generate") for u in users))
    procs = _server_processes(urls, args.pid)
    cpu_before = cpu_seconds(procs)
    done_before = len(users[0].results.latencies[label])
    started = time.monotonic()
    deadline = started + args.seconds

    async def loop(user: User) -> None:
        rng = random.Random()
        await asyncio.sleep(rng.uniform(0, args.pace))
        while time.monotonic() < deadline:
            if pick:
                style = {"style_id": rng.choice(style_ids)}
                await user.send(label, PICK_STYLE, style, _style_shown)
            else:
                await user.navigate(label, PAGES[args.cpu_per])
            await asyncio.sleep(args.pace * rng.uniform(0.5, 1.5))

    await asyncio.gather(*(loop(u) for u in users))
    wall = time.monotonic() - started
    cpu = cpu_seconds(procs) - cpu_before
    done = len(users[0].results.latencies[label]) - done_before
    _print_table(users[0].results, len(users), wall, cpu, _rss_mb(procs))
    print(f"server CPU per '{label}': {cpu / max(done, 1) * 1000:.2f} ms ({done} events)")
    await asyncio.gather(*(u.sio.disconnect() for u in users), return_exceptions=True)


def _server_processes(urls: list[str], pids: list[int]) -> list[psutil.Process]:
    ports = {urlsplit(u).port for u in urls}
    roots = {p for p in pids}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port in ports and conn.pid:
            roots.add(conn.pid)
    found: dict[int, psutil.Process] = {}
    for pid in roots:
        proc = psutil.Process(pid)
        top = proc
        # A listening worker of a server (Granian forks them) brings its main process along.
        while (parent := top.parent()) is not None and parent.cmdline() == proc.cmdline():
            top = parent
        for member in [top, *top.children(recursive=True)]:
            found[member.pid] = member
    return list(found.values())


def _rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def _print_table(results: Results, users: int, wall: float, cpu: float, rss: float) -> None:
    print(f"\n{users} users, {wall:.0f} s")
    print("| event | n | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    seen = set(results.latencies) | set(results.errors)
    labels = [label for label in ORDER if label in seen] + sorted(seen - set(ORDER))
    for label in labels:
        got = results.latencies.get(label, [])
        if got:
            print(
                f"| {label} | {len(got)} | {statistics.median(got):.0f} "
                f"| {percentile(got, 0.95):.0f} | {percentile(got, 0.99):.0f} "
                f"| {results.errors.get(label, 0)} |"
            )
        else:
            print(f"| {label} | 0 | - | - | - | {results.errors.get(label, 0)} |")
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"server CPU: {cpu / wall * 100:.0f} % of one core; RSS at the end (sum over its "
        f"processes): {rss:.0f} MB; this client: {(own.ru_utime + own.ru_stime) / wall * 100:.0f}"
        " % of one core"
    )


async def _idle(users: list[User], seconds: float, urls: list[str], pids: list[int]) -> None:
    """Every user on a Models page that follows a training nobody advances: the cost of
    watching while nothing changes."""
    for user in users:
        user.path = "/models"
    await asyncio.gather(*(u.load_page() for u in users))
    await asyncio.sleep(5.0)  # the pages' followers start and settle
    procs = _server_processes(urls, pids)
    cpu_before = cpu_seconds(procs)
    started = time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - started
    cpu = cpu_seconds(procs) - cpu_before
    connected = sum(1 for u in users if u.sio.connected)
    print(
        f"\n{len(users)} idle users ({connected} connected), each watching a training, {wall:.0f}"
        f" s: server CPU {cpu / wall * 100:.1f} % of one core; RSS {_rss_mb(procs):.0f} MB"
    )
    await asyncio.gather(*(u.sio.disconnect() for u in users), return_exceptions=True)


async def main(args: argparse.Namespace) -> None:
    urls = [u.rstrip("/") for u in args.url]
    results = Results()
    run = uuid.uuid4().hex[:8]
    model = ModelStatus.TRAINING if args.idle else ModelStatus.READY
    users = []
    for i in range(args.users):
        base = urls[i % len(urls)]
        uid, cookie = await _sign_in(base, f"bench-{run}-{i}@example.com", model)
        users.append(User(base, uid, cookie, results))
    style_ids = [s.id for s in styles.STYLES]
    if args.idle:
        await _idle(users, args.seconds, urls, args.pid)
        return
    if args.cpu_per:
        await _one_kind(users, args, urls, style_ids)
        return
    pushes = asyncio.create_task(_follow_job_events({u.user_id: u for u in users}))
    procs = _server_processes(urls, args.pid)
    cpu_before = cpu_seconds(procs)
    started = time.monotonic()
    deadline = started + args.seconds
    await asyncio.gather(
        *(_run_user(u, deadline, args.pace, style_ids, args.submit_every) for u in users),
        return_exceptions=True,
    )
    wall = time.monotonic() - started
    pushes.cancel()
    _print_table(results, args.users, wall, cpu_seconds(procs) - cpu_before, _rss_mb(procs))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", action="append", default=[], help="a backend (repeatable)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long users keep going")
    parser.add_argument("--pace", type=float, default=2.0, help="seconds between a user's events")
    parser.add_argument(
        "--submit-every",
        type=int,
        default=5,
        help="submit a generation in the first round and every this many rounds (0: never)",
    )
    parser.add_argument(
        "--idle", action="store_true", help="measure idle watchers instead (see above)"
    )
    parser.add_argument(
        "--cpu-per",
        choices=["pick", *PAGES],
        help="only this event (a pick, or opening a page): its server CPU each",
    )
    parser.add_argument("--pid", type=int, action="append", default=[], help="also measure")
    args = parser.parse_args()
    if not args.url:
        args.url = ["http://127.0.0.1:3000"]
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
