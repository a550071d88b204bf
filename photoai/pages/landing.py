"""The public front page: what photoai does and how to start."""

import reflex as rx

from photoai.components.layout import public_header
from photoai.state.landing import LandingState
from photoai.state.session import SessionState

FEATURES: list[tuple[str, str, str | rx.Component]] = [
    (
        "user-round-plus",
        "Your own AI model",
        rx.fragment(
            "Upload ",
            LandingState.photo_range,
            " photos of yourself. We check every photo, then train a personal model that "
            "knows your face.",
        ),
    ),
    (
        "sparkles",
        "Photos in any style",
        "Studio headshots, LinkedIn portraits, cinematic stills, fashion editorials: pick a "
        "style pack or write your own prompt.",
    ),
    (
        "shield-check",
        "Private and fair",
        "Your photos stay private. Credits are only charged for images you receive; failed "
        "jobs give every credit back.",
    ),
]

STEPS: list[tuple[str, str]] = [
    ("1", "Create an account and get free starter credits."),
    ("2", "Upload your photos and train your personal model."),
    ("3", "Generate new photos of yourself from styles and prompts."),
]


def _feature(icon: str, title: str, text: str | rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.center(
                rx.icon(icon, size=22),
                width="2.75em",
                height="2.75em",
                border_radius="var(--radius-3)",
                background=rx.color("accent", 3),
                color=rx.color("accent", 11),
            ),
            rx.heading(title, size="4", as_="h3"),
            rx.text(text, color=rx.color("gray", 11)),
            spacing="3",
        ),
        size="3",
    )


def landing_page() -> rx.Component:
    return rx.box(
        public_header(),
        rx.vstack(
            rx.badge("Self-hosted AI photo studio", size="2", variant="soft"),
            rx.heading(
                "New photos of you, in any style, without a photo shoot",
                size="9",
                text_align="center",
                max_width="16em",
            ),
            rx.text(
                "photoai turns a handful of your selfies into a personal AI model, then creates "
                "professional headshots and creative portraits of you from prompts and "
                "ready-made style packs.",
                size="5",
                color=rx.color("gray", 11),
                text_align="center",
                max_width="38em",
            ),
            rx.cond(
                SessionState.signed_in,
                rx.link(rx.button("Open your dashboard", size="4"), href="/dashboard"),
                rx.hstack(
                    rx.link(rx.button("Get started free", size="4"), href="/register"),
                    rx.link(rx.button("Sign in", size="4", variant="outline"), href="/login"),
                    spacing="3",
                ),
            ),
            align="center",
            spacing="5",
            padding_top="4em",
            padding_bottom="3em",
            padding_x="1.5em",
        ),
        rx.grid(
            *[_feature(*f) for f in FEATURES],
            columns=rx.breakpoints(initial="1", md="3"),
            spacing="5",
            max_width="1100px",
            margin_x="auto",
            padding_x="1.5em",
        ),
        rx.vstack(
            rx.heading("How it works", size="6", as_="h2"),
            rx.hstack(
                *[
                    rx.hstack(
                        rx.badge(number, size="3", radius="full"),
                        rx.text(text),
                        align="center",
                        spacing="2",
                        max_width="18em",
                    )
                    for number, text in STEPS
                ],
                spacing="6",
                wrap="wrap",
                justify="center",
            ),
            align="center",
            spacing="4",
            padding_y="4em",
            padding_x="1.5em",
        ),
        min_height="100vh",
        background=(
            f"linear-gradient(180deg, {rx.color('accent', 2)} 0%, {rx.color('gray', 1)} 60%)"
        ),
    )
