"""The public front page's own fact: how many photos a training takes."""

import reflex as rx

from photoai.state.display import photo_range
from photoai.state.session import SessionState


class LandingState(SessionState):
    photo_range: rx.Field[str] = rx.field("")

    @rx.event
    def load_photo_range(self) -> None:
        self.photo_range = photo_range()
