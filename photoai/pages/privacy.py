"""The public privacy page: what this installation stores, where, how long, and who gets it."""

import reflex as rx

from photoai.components.layout import public_header
from photoai.components.privacy import disclosure
from photoai.state.privacy import PrivacyState


def privacy_page() -> rx.Component:
    return rx.box(
        public_header(),
        rx.vstack(
            rx.heading("Privacy", size="7", as_="h1"),
            rx.text(
                "This page is generated from this server's settings, so it says what this "
                "installation really does with your photos.",
                color=rx.color("gray", 11),
            ),
            disclosure(PrivacyState.rows),
            rx.heading("Your rights", size="3", as_="h3", margin_top="0.5em"),
            rx.text(
                "• On your Account page you can download all your data as one ZIP, and delete "
                "your account and everything it holds. Deleting a model removes its photos "
                "and weights, here and at the provider where its API allows.",
                size="2",
            ),
            max_width="760px",
            margin_x="auto",
            padding_x="1.5em",
            padding_y="2em",
            spacing="3",
        ),
        min_height="100vh",
    )
