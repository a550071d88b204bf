"""Live job updates for a page: a background task per tab that waits for the user's job events.

While something runs, a page starts `follow_jobs` from a background event. It re-reads the
page's data when an event arrives (a burst is read once) and never while nothing changes,
except for a re-read every `RECHECK_SECONDS` that covers an event lost while Redis reconnected.
It ends by itself once nothing runs any more, when a newer task replaced it (each task has an
id kept in the state: the newest wins), or when the tab's session no longer resolves (a
revocation stops it at the next re-read; the session is re-checked through its revocation
epoch, `photoai.services.session_check`, not the database). The database is read outside the
state lock; only the assignment holds it. A page opened again while its tab's task still runs
in this process keeps that task (`following_here`) instead of starting another, which would
subscribe and read the page's data a second time right after the page load read it.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import reflex as rx

from photoai.services import job_events, session_check

RECHECK_SECONDS = 90.0
BURST_SECONDS = 0.05
# A task counts as gone when it has not reported for this long (its backend stopped).
ALIVE_SECONDS = RECHECK_SECONDS * 1.5

T = TypeVar("T")

# The watch ids whose task runs in this process (each backend process has its own).
_following: set[str] = set()


def new_watch_id() -> str:
    return uuid.uuid4().hex


def watch_alive(alive_at: float) -> bool:
    return time.time() - alive_at < ALIVE_SECONDS


def following_here(watch_id: str) -> bool:
    """Whether the task of this watch id runs in this process now."""
    return bool(watch_id) and watch_id in _following


async def follow_jobs(
    state: rx.State,
    watch_id: str,
    session_token: str | None,
    load: Callable[[int], Awaitable[T]],
    show: Callable[[T], bool],
) -> None:
    """Re-read with `load(user_id)` (no lock held) and apply with `show` (under the state
    lock) at start and after each job event; `show` says whether to go on following."""
    _following.add(watch_id)
    try:
        await _follow(state, session_token, load, show)
    finally:
        _following.discard(watch_id)


async def _follow(
    state: rx.State,
    session_token: str | None,
    load: Callable[[int], Awaitable[T]],
    show: Callable[[T], bool],
) -> None:
    first = await session_check.check(session_token, None)
    if first is None:
        return
    user_id, known = first.user.user_id, first
    async with job_events.listen(user_id) as events:
        while True:
            again = await session_check.check(session_token, known)
            if again is None or again.user.user_id != user_id:
                return
            known = again
            data = await load(user_id)
            locked: Any = state  # a background event's state is an async context manager
            async with locked:
                if not show(data):
                    return
            try:
                await asyncio.wait_for(events.get(), RECHECK_SECONDS)
            except TimeoutError:
                continue
            await asyncio.sleep(BURST_SECONDS)
            while not events.empty():
                events.get_nowait()
