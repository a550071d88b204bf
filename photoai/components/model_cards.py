"""Pieces of the Models pages: status badges, model cards, photo tiles, the live ticker.

Handlers are typed `Any`: Reflex's stubs type `@rx.event` methods as EventNamespace.
"""

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from photoai.components.wording import as_number, counted

STATUS_COLOURS: list[tuple[str, str]] = [
    ("draft", "gray"),
    ("queued", "amber"),
    ("training", "blue"),
    ("ready", "green"),
    ("failed", "red"),
]


def status_badge(status: rx.Var[str], label: rx.Var[str]) -> rx.Component:
    return rx.match(
        status,
        *[
            (value, rx.badge(label, color_scheme=colour, size="2", variant="soft"))
            for value, colour in STATUS_COLOURS
        ],
        rx.badge(label, size="2"),
    )


def demo_badge(flag: rx.Var[str]) -> rx.Component:
    return rx.cond(
        flag != "",
        rx.tooltip(
            rx.badge("demo", color_scheme="orange", variant="outline"),
            content="Trained by the offline demo provider: not a real AI model.",
        ),
    )


def progress_line(model: ObjectVar[dict[str, str]]) -> rx.Component:
    """The bar needs a number: a text value makes Radix log an error and animate blindly."""
    return rx.cond(
        model["status"] == "training",
        rx.vstack(
            rx.progress(
                value=as_number(model["progress"]),
                max=100,
                aria_label="Training progress",
                width="100%",
            ),
            rx.text(model["progress"], "% trained", size="1", color=rx.color("gray", 11)),
            spacing="1",
            width="100%",
        ),
    )


def model_card(model: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.link(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading(model["name"], size="4", as_="h3", trim="both"),
                    rx.spacer(),
                    demo_badge(model["demo"]),
                    status_badge(model["status"], model["status_label"]),
                    align="center",
                    width="100%",
                ),
                rx.text(
                    model["subject_label"],
                    " · ",
                    counted(model["photos"], "photo"),
                    size="2",
                    color=rx.color("gray", 11),
                ),
                progress_line(model),
                rx.cond(
                    model["status"] == "failed",
                    rx.text(model["error"], size="2", color=rx.color("red", 11)),
                ),
                rx.text("Created ", model["created"], size="1", color=rx.color("gray", 10)),
                spacing="2",
                width="100%",
            ),
            width="100%",
            height="100%",
        ),
        href="/models/" + model["id"].to(str),
        underline="none",
        width="100%",
        data_testid="model-card",
    )


def photo_tile(
    photo: ObjectVar[dict[str, str]], can_remove: rx.Var[bool], on_remove: Any
) -> rx.Component:
    """One training photo with its verdict; `can_remove` is for accepted photos (refused ones
    can always be removed)."""
    accepted = photo["accepted"] != ""
    return rx.card(
        rx.vstack(
            rx.cond(
                photo["thumb"] != "",
                rx.image(
                    src=photo["thumb"],
                    alt=photo["filename"],
                    width="100%",
                    height="140px",
                    object_fit="cover",
                    border_radius="var(--radius-2)",
                    loading="lazy",
                ),
                rx.center(
                    rx.icon("image-off", size=28, color=rx.color("gray", 9)),
                    width="100%",
                    height="140px",
                    background=rx.color("gray", 3),
                    border_radius="var(--radius-2)",
                ),
            ),
            rx.text(photo["filename"], size="1", trim="both", weight="medium", truncate=True),
            rx.cond(
                accepted,
                rx.badge(rx.icon("check", size=12), "Accepted", color_scheme="green"),
                rx.badge(
                    rx.icon("x", size=12), photo["reason"], color_scheme="red", white_space="normal"
                ),
            ),
            # A refused photo never trained anything, so it can go whatever the model's state.
            rx.cond(
                (can_remove | ~accepted) & (photo["id"].to(str) != ""),
                rx.button(
                    rx.icon("trash-2", size=12),
                    "Remove",
                    size="1",
                    variant="ghost",
                    color_scheme="gray",
                    on_click=on_remove(photo["id"]),
                    aria_label="Remove " + photo["filename"].to(str),
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_testid="photo-tile",
    )
