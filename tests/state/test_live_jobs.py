"""A page opened again keeps its tab's job follower when that follower runs in this process:
a second one would subscribe and read the page's data again right after the page load did."""

import asyncio
from typing import Any

from reflex.event import EventSpec

from photoai.state import live_jobs
from photoai.state.generate import GenerateState
from tests.async_support import run
from tests.factories import make_user
from tests.services.admin.support import generation_job, sign_in
from tests.state.tabs import tab_state


class _Lock:
    """What a background event's state is to the follower: an async context manager."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _follows(spec: EventSpec | None) -> bool:
    return spec is not None and spec.handler.fn.__name__ == "follow_jobs"


def test_opening_generate_again_keeps_the_follower_that_runs_here(db: None) -> None:
    uid = make_user(5)
    generation_job(uid)  # queued: the page follows the user's jobs
    token = sign_in(uid)
    page = tab_state(GenerateState, token, "/generate")

    async def scenario() -> list[bool]:
        seen = [_follows(await page.on_load())]
        watch = page._watch_id
        reading = asyncio.Event()

        async def load(_user_id: int) -> None:
            reading.set()
            await asyncio.Event().wait()  # the follower waits here until it is canceled

        def show(_data: Any) -> bool:
            return True

        follower = asyncio.create_task(
            live_jobs.follow_jobs(_Lock(), watch, token, load, show)  # type: ignore[arg-type]
        )
        await asyncio.wait_for(reading.wait(), 10)
        seen.append(live_jobs.following_here(watch))
        seen.append(_follows(await page.on_load()))
        seen.append(page._watch_id == watch)
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        seen.append(live_jobs.following_here(watch))
        seen.append(_follows(await page.on_load()))
        seen.append(page._watch_id != watch)
        return seen

    first, running, again, same, still_running, after, new_watch = run(scenario())
    assert first and running and not again and same
    assert not still_running and after and new_watch
