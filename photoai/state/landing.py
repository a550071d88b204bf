"""The public front page: who is signed in, and the photo counts it quotes."""

import reflex as rx

from photoai.state.display import photo_range
from photoai.state.session import SessionState


class LandingState(SessionState):
    photo_range: rx.Field[str] = rx.field("")

    @rx.event
    async def on_load(self) -> None:
        self.photo_range = photo_range()
        await self._load_if_signed_in()
