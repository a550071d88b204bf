"""The console's pages answer 404 to anyone but an admin, before a byte of them is sent.

Reflex serves its compiled pages as static files (in production, from this app), so without
this anyone could fetch `/admin/...` and learn the console exists. The pages themselves also
show the not-found view until the server confirms an admin, and every console event checks
again (photoai/state/admin.py); this closes the first request too.
"""

import asyncio

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from photoai.services.admin.access import admin_for_session
from photoai.settings import get_settings

PREFIX = "/admin"
NOT_FOUND = HTMLResponse(
    "<!doctype html><title>404</title><h1>404</h1><p>This page could not be found.</p>",
    status_code=404,
)


def is_console_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/") or path.startswith(PREFIX + ".")


class ConsoleGuard:
    """ASGI middleware around the whole app: only requests for `/admin...` are looked at."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_console_path(scope["path"]):
            token = Request(scope).cookies.get(get_settings().session_cookie_name)
            if await asyncio.to_thread(admin_for_session, token) is None:
                await NOT_FOUND(scope, receive, send)
                return
        await self.app(scope, receive, send)
