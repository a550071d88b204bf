"""HTTP routes that own the session cookie.

Reflex sets cookies from page JavaScript, which cannot make them HttpOnly. So a successful login
form hands the browser a one-use ticket, and this route swaps it for a session whose token lives
in an HttpOnly, SameSite=Lax cookie that page scripts can never read. The websocket sends that
cookie on connect, and state handlers read it from the request headers on the server.
"""

import asyncio
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from photoai.services import accounts
from photoai.settings import get_settings


async def complete_login(request: Request) -> Response:
    ticket = request.query_params.get("ticket", "")
    client_ip = request.client.host if request.client else ""
    try:
        new = await asyncio.to_thread(
            accounts.redeem_login_ticket,
            ticket,
            request.headers.get("user-agent", ""),
            client_ip,
        )
    except accounts.AccountError as exc:
        return RedirectResponse(f"/login?error={quote(str(exc))}", status_code=303)
    settings = get_settings()
    response = RedirectResponse(new.next_path, status_code=303)
    response.set_cookie(
        settings.session_cookie_name,
        new.token,
        max_age=settings.session_days * 86400,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def logout(request: Request) -> Response:
    """Revoke the session server-side and drop the cookie; works even without JavaScript."""
    settings = get_settings()
    token = request.cookies.get(settings.session_cookie_name)
    if token:
        await asyncio.to_thread(accounts.revoke_session, token)
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(settings.session_cookie_name, path="/")
    return response


routes = [
    Route("/auth/complete", complete_login, methods=["GET"]),
    Route("/auth/logout", logout, methods=["GET", "POST"]),
]
