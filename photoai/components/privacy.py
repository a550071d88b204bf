"""The privacy disclosure as a list of sections, and the consent step before the first upload.

Both read rows made by `photoai.state.privacy.disclosure_rows`: one row per section title or
line, so the page shows whatever the operator's settings say without any text of its own.
"""

from typing import Any

import reflex as rx
from reflex.event import EventType
from reflex.vars import ArrayVar

from photoai.components.forms import error_callout


def disclosure(rows: ArrayVar[Any]) -> rx.Component:
    return rx.vstack(
        rx.foreach(
            rows,
            lambda row: rx.cond(
                row["kind"] == "title",
                rx.heading(row["text"], size="3", as_="h3", margin_top="0.5em"),
                rx.text("• ", row["text"], size="2"),
            ),
        ),
        spacing="1",
        width="100%",
    )


def consent_step(
    rows: ArrayVar[Any], on_submit: EventType[dict[str, Any]], error: rx.Var[str]
) -> rx.Component:
    """Shown instead of the upload area until the user agrees; the upload service refuses
    photos without a recorded consent anyway."""
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Before you add photos of a face", size="4", as_="h2"),
                rx.text(
                    "Face photos are sensitive personal data. Here is what happens to them on "
                    "this server:",
                    size="2",
                ),
                disclosure(rows),
                rx.link("Read the privacy page", href="/privacy", size="2"),
                error_callout(error),
                rx.hstack(
                    rx.el.input(type="checkbox", id="consent", name="consent", value="yes"),
                    rx.el.label(
                        "I agree to the processing of my face photos and face data as described "
                        "above.",
                        html_for="consent",
                    ),
                    align="center",
                    spacing="2",
                ),
                rx.button("Agree and add photos", type="submit", id="give-consent"),
                spacing="3",
                width="100%",
            ),
            on_submit=on_submit,
            reset_on_submit=False,
            width="100%",
        ),
        width="100%",
        id="consent-step",
    )
