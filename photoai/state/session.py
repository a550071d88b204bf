"""Who is signed in. Every protected handler asks the server-side session, not the page."""

import asyncio
import functools
from http.cookies import SimpleCookie
from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec
from reflex.istate.manager import get_state_manager
from reflex.state import BaseState

from photoai.observe import context
from photoai.services import accounts, session_check
from photoai.services.accounts import SessionUser
from photoai.settings import get_settings


def session_token_in(cookie_header: str) -> str | None:
    """The session token in a Cookie header, if it carries one."""
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:
        return None
    morsel = jar.get(get_settings().session_cookie_name)
    return morsel.value if morsel else None


@functools.lru_cache(maxsize=4096)
def session_key_in(cookie_header: str) -> str:
    """The hash of the session token in a Cookie header ("" without one): which session a
    connection speaks for. Cached: a tab sends the same header with every event."""
    token = session_token_in(cookie_header)
    return accounts.token_hash(token) if token else ""


async def tab_session_token(client_token: str) -> str | None:
    """The session token the tab's own websocket carried: whose page an event for this
    client token acts on. Read without the state lock; nothing is changed."""
    state = await get_state_manager().get_state(
        rx.BaseStateToken(ident=client_token, cls=SessionState)
    )
    return session_token_in(state.router.headers.cookie)


class SessionState(rx.State):
    """Base for every page state; holds only what the navigation bar shows."""

    signed_in: rx.Field[bool] = rx.field(False)
    user_name: rx.Field[str] = rx.field("")
    user_email: rx.Field[str] = rx.field("")
    balance: rx.Field[int] = rx.field(0)
    # Only shows the console link; every admin page and event checks the role on the server.
    is_admin: rx.Field[bool] = rx.field(False)
    # The session as resolved at this tab's first event; later events re-check only its
    # revocation epoch in Redis (photoai.services.session_check).
    _auth: session_check.Resolved | None = None
    # The session (its key, "" signed out) this tab's data was built for; None: nothing built
    # yet. A connection with another cookie (another account, or a client token taken from
    # someone else's tab) gets the tab's pages reset before any of it is sent or used.
    _built_for: str | None = None

    async def _bind_to_connection(self) -> None:
        """Forget every page's data when this connection's session is not the one the tab's
        data was built for, so nothing of one account ever reaches another."""
        key = session_key_in(self.router.headers.cookie)
        if self._built_for == key:
            return
        if self._built_for is not None:
            for cls in _descendants(SessionState):
                await self.get_state(cls)  # load every page's state, so each is reset
            self.reset()
        self._built_for = key

    def _session_token(self) -> str | None:
        return session_token_in(self.router.headers.cookie)

    async def _current_user(self) -> SessionUser | None:
        """The signed-in user: resolved once per connection, then re-checked cheaply; a
        revocation anywhere takes effect at the next event."""
        resolved = await session_check.check(self._session_token(), self._auth)
        if resolved is not self._auth:  # an unchanged cache leaves the state clean
            self._auth = resolved
        user = resolved.user if resolved else None
        context.bind_user(user.user_id if user else None)
        if user is None:
            self.signed_in = False
            self.user_name = self.user_email = ""
            self.balance = 0
            self.is_admin = False
        return user

    def _login_redirect(self) -> EventSpec:
        path = self.router.url.path or "/dashboard"
        query = self.router.url.query
        target = f"{path}?{query}" if query else path
        next_path = quote(accounts.safe_next_path(target), safe="")
        return rx.redirect(f"/login?next={next_path}", replace=True)

    async def _refresh_profile(self, user: SessionUser) -> None:
        self._show_profile(await asyncio.to_thread(accounts.get_profile, user.user_id))

    def _show_profile(self, profile: accounts.Profile) -> None:
        """Assign only what changed: an untouched state is neither saved nor sent again."""
        shown = (self.signed_in, self.user_name, self.user_email, self.balance, self.is_admin)
        wanted = (True, profile.name, profile.email, profile.credit_balance, profile.is_admin)
        if shown != wanted:
            self.signed_in = True
            self.user_name = profile.name
            self.user_email = profile.email
            self.balance = profile.credit_balance
            self.is_admin = profile.is_admin

    async def _ensure_signed_in(self) -> EventSpec | None:
        """Signed-out visitors go to login, and come back here afterwards."""
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        await self._refresh_profile(user)
        return None

    async def _load_if_signed_in(self) -> None:
        user = await self._current_user()
        if user is not None:
            await self._refresh_profile(user)

    @rx.event
    async def require_login(self) -> EventSpec | None:
        """on_load of every protected page."""
        return await self._ensure_signed_in()

    @rx.event
    async def check_session(self) -> None:
        """on_load of public pages: show "Dashboard" instead of "Sign in" when signed in."""
        await self._load_if_signed_in()

    def _signed_out(self) -> EventSpec:
        """The logout route revokes the session and clears the HttpOnly cookie."""
        self.signed_in = False
        return rx.call_script("window.location.assign('/auth/logout')")

    @rx.event
    def logout(self) -> EventSpec:
        return self._signed_out()


def _descendants(cls: type[BaseState]) -> list[type[BaseState]]:
    children = list(cls.get_substates())
    return children + [d for child in children for d in _descendants(child)]
