"""The dashboard: profile, balance and the latest credit movements."""

import asyncio

import reflex as rx
from reflex.event import EventSpec

from photoai import db
from photoai.services import accounts, credit_history
from photoai.services.billing import stripe_api
from photoai.services.credits import EntryView
from photoai.state.display import ledger_row, photo_range
from photoai.state.session import SessionState


def _read(user_id: int) -> tuple[accounts.Profile, list[EntryView]]:
    """The profile and the latest credit movements in one database session."""
    with db.one_session():
        return accounts.get_profile(user_id), credit_history.history(user_id, limit=5)


class DashboardState(SessionState):
    recent: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    photo_range: rx.Field[str] = rx.field("")
    # Without billing there is nothing to buy, so the page does not offer it.
    billing_on: rx.Field[bool] = rx.field(False)

    @rx.event
    async def on_load(self) -> EventSpec | None:
        user = await self._current_user()
        if user is None:
            return self._login_redirect()
        profile, entries = await asyncio.to_thread(_read, user.user_id)
        self._show_profile(profile)
        self.recent = [ledger_row(e) for e in entries]
        self.photo_range = photo_range()
        self.billing_on = stripe_api.billing_enabled()
        return None
