"""HTTP routes that own the session cookie.

Reflex sets cookies from page JavaScript, which cannot make them HttpOnly. So a successful login
form hands the browser a one-use ticket, and this route swaps it for a session whose token lives
in an HttpOnly, SameSite=Lax cookie that page scripts can never read. The websocket sends that
cookie on connect, and state handlers read it from the request headers on the server. The
link in a sign-up email lands here too: it creates the account and signs its owner in.
Failures go back to the login page as error codes, never as text in the address.
"""

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from photoai.api.client_address import client_address
from photoai.services import accounts
from photoai.settings import get_settings


async def complete_login(request: Request) -> Response:
    try:
        new = await asyncio.to_thread(
            accounts.redeem_login_ticket,
            request.query_params.get("ticket", ""),
            request.headers.get("user-agent", ""),
            client_address(request),
        )
    except accounts.AccountBlocked:
        return RedirectResponse("/login?error=blocked", status_code=303)
    except accounts.AccountError:
        return RedirectResponse("/login?error=ticket_expired", status_code=303)
    return _signed_in(new)


async def finish_signup(request: Request) -> Response:
    """The link in the sign-up email: creates the account and signs its owner in."""
    try:
        new = await asyncio.to_thread(
            accounts.finish_signup,
            request.query_params.get("token", ""),
            request.headers.get("user-agent", ""),
            client_address(request),
        )
    except accounts.SignupLinkUsed:
        return RedirectResponse("/login?error=signup_link_used", status_code=303)
    except accounts.AccountError:
        return RedirectResponse("/login?error=signup_link_invalid", status_code=303)
    return _signed_in(new)


def _signed_in(new: accounts.NewSession) -> Response:
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
    Route("/auth/finish-signup", finish_signup, methods=["GET"]),
    Route("/auth/logout", logout, methods=["GET", "POST"]),
]
