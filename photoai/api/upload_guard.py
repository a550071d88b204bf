"""`POST /_upload` goes through only for the signed-in user whose tab it names.

Reflex's upload endpoint finds the tab's state by the `reflex-client-token` header alone, and
the upload handler then sees the cookie the tab's websocket carried, not the upload request's
own. So a POST carrying another user's tab token and no cookie at all put a photo in that
user's model. This middleware checks the upload request's own HttpOnly session cookie and
compares its user with the user the tab is signed in as; a missing, unknown or other user's
session gets a 403 before Reflex reads a byte of the body, and nothing is stored.
"""

import asyncio

from reflex import constants
from reflex.config import get_config
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from photoai.services import accounts
from photoai.services.accounts import SessionUser
from photoai.settings import get_settings
from photoai.state.session import tab_session_token

SIGN_IN = "Sign in to upload photos."
NOT_YOURS = "This page belongs to another session; reload it and upload again."


async def _user_of(token: str | None) -> SessionUser | None:
    return await asyncio.to_thread(accounts.resolve_session, token) if token else None


async def upload_refusal(request: Request) -> JSONResponse | None:
    """Why this upload request may not go on (a 403 to send), or None if it may."""
    user = await _user_of(request.cookies.get(get_settings().session_cookie_name))
    if user is None:
        return JSONResponse({"error": SIGN_IN}, status_code=403)
    client_token = request.headers.get("reflex-client-token")
    if not client_token:
        return None  # Reflex answers 400 for a request without a tab
    tab_user = await _user_of(await tab_session_token(client_token))
    if tab_user is None or tab_user.user_id != user.user_id:
        return JSONResponse({"error": NOT_YOURS}, status_code=403)
    return None


class UploadGuard:
    """ASGI middleware around the whole app: only `POST /_upload` is looked at."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.path = get_config().prepend_backend_path(str(constants.Endpoint.UPLOAD))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            refusal = await upload_refusal(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
