"""The Reflex app: our HTTP routes first, then the pages."""

import asyncio

import reflex as rx

from photoai.api.app import build_api
from photoai.observe import startup
from photoai.observe.ui_events import EventObserver, report_backend_exception
from photoai.routes import add_pages
from photoai.services import maintenance
from photoai.services.redis_conn import get_redis
from photoai.settings import get_settings
from photoai.state.event_guard import EventGuard

startup.start()
app = rx.App(api_transformer=build_api(), backend_exception_handler=report_backend_exception)
app.add_middleware(EventGuard())  # first: a dropped event runs no other middleware
app.add_middleware(EventObserver())
add_pages(app)


async def _upkeep_without_redis() -> None:
    """Without Redis, jobs run in this process, so their periodic upkeep must run here too
    (this process never forks, so a thread is safe here). With `redis_required`, refuse to
    start without it instead."""
    if await asyncio.to_thread(get_redis) is None:
        if get_settings().redis_required:
            raise RuntimeError("PHOTOAI_REDIS_REQUIRED is set but Redis does not answer.")
        maintenance.start_thread()


app.register_lifespan_task(_upkeep_without_redis)
