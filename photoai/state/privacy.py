"""The public privacy page, and the disclosure rows the consent step shows too."""

import reflex as rx

from photoai.services.privacy import disclosure
from photoai.settings import get_settings
from photoai.state.session import SessionState


def disclosure_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for section in disclosure.sections(get_settings()):
        rows.append({"kind": "title", "text": section.title})
        rows.extend({"kind": "line", "text": line} for line in section.lines)
    return rows


class PrivacyState(SessionState):
    rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)

    @rx.event
    async def on_load(self) -> None:
        self.rows = disclosure_rows()
        await self._load_if_signed_in()
