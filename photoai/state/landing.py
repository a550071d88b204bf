"""The public front page's own fact: how many photos a training takes."""

import reflex as rx

from photoai.state import page_load
from photoai.state.display import photo_range
from photoai.state.session import SessionState


class LandingState(SessionState):
    photo_range: rx.Field[str] = rx.field("")

    @rx.event
    @page_load.hydrates
    async def on_load(self) -> None:
        """One handler, so the page loads in two events (see page_load): the photo range, and
        "Dashboard" instead of "Sign in" for a signed-in visitor."""
        self.photo_range = photo_range()
        await self._load_if_signed_in()
