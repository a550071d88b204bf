"""Sign-in, registration and password-reset forms: thin wrappers around the accounts service."""

import asyncio
import json
from collections.abc import AsyncIterator

import reflex as rx
from reflex.event import EventSpec

from photoai.services import accounts
from photoai.state.session import SessionState


def _go_to(url: str) -> EventSpec:
    """A full page load, so the next websocket connection carries the new session cookie."""
    return rx.call_script(f"window.location.assign({json.dumps(url)})")


async def _start_session(user_id: int, next_path: str | None) -> EventSpec:
    ticket = await asyncio.to_thread(accounts.create_login_ticket, user_id, next_path)
    return _go_to(f"/auth/complete?ticket={ticket}")


class LoginState(SessionState):
    error: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")
    busy: rx.Field[bool] = rx.field(False)

    @rx.event
    async def on_load(self) -> EventSpec | None:
        params = self.router.url.query_parameters
        self.busy = False
        self.error = accounts.login_page_error(params.get("error", ""))
        self.notice = "You are signed out." if params.get("signed_out") else ""
        if params.get("reset"):
            self.notice = "Your password was changed. Sign in with the new one."
        if await self._current_user() is not None:
            return rx.redirect(accounts.safe_next_path(params.get("next")), replace=True)
        return None

    @rx.event
    async def submit(self, form: dict[str, str]) -> AsyncIterator[EventSpec | None]:
        if self.busy:
            return
        self.busy = True
        self.error = self.notice = ""
        yield None
        # Reflex resolves client_ip, from X-Forwarded-For only behind REFLEX_TRUSTED_PROXY_HOPS
        # proxies. A busy address waits here, on the event loop without a thread; the wait
        # holds only this tab's state, which has nothing else to do while signing in.
        client_ip = self.router.session.client_ip
        delay = await asyncio.to_thread(accounts.login_delay_seconds, client_ip)
        if delay:
            await asyncio.sleep(delay)
        try:
            user_id = await asyncio.to_thread(
                accounts.authenticate,
                form.get("email", ""),
                form.get("password", ""),
                client_ip,
            )
        except accounts.AccountError as exc:
            self.error = str(exc)
            self.busy = False
            return
        yield await _start_session(user_id, self.router.url.query_parameters.get("next"))


class RegisterState(SessionState):
    """Registration never signs in directly: the emailed link does, so the page answers the
    same whether or not the email already has an account. on_load leaves `sent` alone, as a
    fast submit can reach the server before it; "Use another address" brings the form back."""

    error: rx.Field[str] = rx.field("")
    sent: rx.Field[str] = rx.field("")
    busy: rx.Field[bool] = rx.field(False)

    @rx.event
    async def on_load(self) -> None:
        self.busy = False
        self.error = ""
        await self._load_if_signed_in()

    @rx.event
    async def submit(self, form: dict[str, str]) -> AsyncIterator[None]:
        if self.busy:
            return
        self.busy = True
        self.error = ""
        yield None
        try:
            self.sent = await asyncio.to_thread(
                accounts.request_registration,
                form.get("email", ""),
                form.get("password", ""),
                form.get("name", ""),
            )
        except accounts.AccountError as exc:
            self.error = str(exc)
        self.busy = False

    @rx.event
    def start_over(self) -> None:
        self.sent = ""
        self.error = ""


class ForgotPasswordState(SessionState):
    """No on_load reset: a fast submit can reach the server before the page's on_load event,
    which would then hide the confirmation. "Send another link" brings the form back."""

    sent: rx.Field[bool] = rx.field(False)
    busy: rx.Field[bool] = rx.field(False)

    @rx.event
    async def submit(self, form: dict[str, str]) -> AsyncIterator[None]:
        self.busy = True
        yield None
        await asyncio.to_thread(accounts.request_password_reset, form.get("email", ""))
        self.sent = True
        self.busy = False

    @rx.event
    def send_another(self) -> None:
        self.sent = False
        self.busy = False

    @rx.var
    def message(self) -> str:
        return accounts.RESET_SENT


class ResetPasswordState(SessionState):
    error: rx.Field[str] = rx.field("")
    busy: rx.Field[bool] = rx.field(False)

    @rx.event
    def on_load(self) -> None:
        self.error = ""
        self.busy = False

    @rx.event
    async def submit(self, form: dict[str, str]) -> AsyncIterator[EventSpec | None]:
        if form.get("password", "") != form.get("confirm", ""):
            self.error = "The two passwords do not match."
            return
        self.busy = True
        yield None
        try:
            await asyncio.to_thread(
                accounts.reset_password,
                self.router.url.query_parameters.get("token", ""),
                form.get("password", ""),
            )
        except accounts.AccountError as exc:
            self.error = str(exc)
            self.busy = False
            return
        self.busy = False
        yield _go_to("/login?reset=1")
