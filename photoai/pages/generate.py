"""Generate: choose who, what style or prompt, how many; see the cost; watch the queue."""

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from photoai.components.forms import (
    error_callout,
    labelled,
    labelled_group,
    notice_callout,
)
from photoai.components.layout import app_page
from photoai.components.wording import counted, noun_for
from photoai.services.generation import ASPECT_RATIOS, MAX_IMAGES_PER_REQUEST
from photoai.state.generate import PACK_CARDS, STYLE_CARDS, GenerateState

QUEUE_COLOURS: list[tuple[str, str]] = [
    ("queued", "amber"),
    ("running", "blue"),
    ("succeeded", "green"),
    ("failed", "red"),
    ("canceled", "gray"),
]
QUEUE_LABELS = {
    "queued": "Queued",
    "running": "Generating",
    "succeeded": "Done",
    "failed": "Failed",
    "canceled": "Canceled",
}


def _set(name: str) -> Any:
    return lambda value: GenerateState.set_option(name, value)  # type: ignore[operator]


def _choice_card(
    selected: rx.Var[bool], on_click: Any, body: rx.Component, test_id: str
) -> rx.Component:
    return rx.card(
        body,
        on_click=on_click,
        cursor="pointer",
        width="100%",
        border=rx.cond(selected, f"2px solid {rx.color('accent', 9)}", "2px solid transparent"),
        background=rx.cond(selected, rx.color("accent", 2), rx.color("gray", 1)),
        role="button",
        aria_pressed=rx.cond(selected, "true", "false"),
        data_testid=test_id,
    )


def _style_card(style: ObjectVar[dict[str, str]]) -> rx.Component:
    return _choice_card(
        GenerateState.style_id == style["id"],
        GenerateState.pick_style(style["id"]),  # type: ignore[operator]
        rx.vstack(
            rx.image(
                src=style["preview"],
                alt=style["name"],
                width="100%",
                height="120px",
                object_fit="cover",
                border_radius="var(--radius-2)",
                loading="lazy",
            ),
            rx.text(style["name"], weight="bold", size="2"),
            rx.text(style["description"], size="1", color=rx.color("gray", 11)),
            spacing="1",
        ),
        "style-card",
    )


def _pack_card(pack: ObjectVar[dict[str, str]]) -> rx.Component:
    return _choice_card(
        GenerateState.pack_id == pack["id"],
        GenerateState.pick_pack(pack["id"]),  # type: ignore[operator]
        rx.vstack(
            rx.hstack(
                rx.icon("layers", size=16),
                rx.text(pack["name"], weight="bold", size="2"),
                rx.badge(pack["size"], " styles"),
                align="center",
            ),
            rx.text(pack["styles"], size="1", color=rx.color("gray", 11)),
            spacing="1",
        ),
        "pack-card",
    )


def _text_option(label: str, name: str, placeholder: str, element_id: str) -> rx.Component:
    return labelled(
        label,
        element_id,
        rx.input(
            value=getattr(GenerateState, name),
            on_change=_set(name),
            placeholder=placeholder,
            id=element_id,
            width="100%",
        ),
    )


def _advanced() -> rx.Component:
    return rx.accordion.root(
        rx.accordion.item(
            header="Advanced",
            content=rx.grid(
                _text_option("Seed (optional, for repeatable results)", "seed", "random", "seed"),
                _text_option(
                    "Negative prompt (what to avoid)",
                    "negative_prompt",
                    "blurry, extra fingers",
                    "negative-prompt",
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
        ),
        collapsible=True,
        type="single",
        variant="ghost",
        width="100%",
    )


def _form() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.cond(
                GenerateState.sources.length() > 0,
                labelled(
                    "Who",
                    "source",
                    rx.select.root(
                        rx.select.trigger(placeholder="Choose a model", id="source"),
                        rx.select.content(
                            rx.foreach(
                                GenerateState.sources,
                                lambda s: rx.select.item(s["label"], value=s["value"]),
                            )
                        ),
                        value=GenerateState.source,
                        on_change=_set("source"),
                    ),
                    width="auto",
                ),
                rx.callout(
                    rx.text(
                        "You need a trained model, or enough accepted photos for Instant. ",
                        rx.link("Create a model", href="/models/new"),
                    ),
                    icon="info",
                    width="100%",
                ),
            ),
            labelled(
                "Prompt",
                "prompt",
                rx.text_area(
                    value=GenerateState.prompt,
                    on_change=_set("prompt"),
                    placeholder="Describe the photo, or pick a style below and leave this empty",
                    id="prompt",
                    rows="3",
                    width="100%",
                ),
            ),
            rx.flex(
                labelled_group(
                    "Aspect ratio",
                    "aspect-label",
                    # Radix shares the width out evenly and the small size fits six on a phone.
                    rx.segmented_control.root(
                        *[rx.segmented_control.item(r, value=r) for r in ASPECT_RATIOS],
                        value=GenerateState.aspect_ratio,
                        on_change=_set("aspect_ratio"),
                        id="aspect",
                        aria_labelledby="aspect-label",
                        size=rx.breakpoints(initial="1", sm="2"),
                        width="100%",
                    ),
                    width=rx.breakpoints(initial="100%", sm="auto"),
                ),
                labelled_group(
                    "Images",
                    "count-label",
                    rx.segmented_control.root(
                        *[
                            rx.segmented_control.item(str(n), value=str(n))
                            for n in range(1, MAX_IMAGES_PER_REQUEST + 1)
                        ],
                        value=GenerateState.count,
                        on_change=_set("count"),
                        id="count",
                        aria_labelledby="count-label",
                        size=rx.breakpoints(initial="1", sm="2"),
                    ),
                ),
                spacing=rx.breakpoints(initial="4", sm="6"),
                wrap="wrap",
                width="100%",
            ),
            _advanced(),
            error_callout(GenerateState.error),
            rx.cond(
                GenerateState.need_credits,
                rx.link(rx.button(rx.icon("coins", size=16), "Buy credits"), href="/billing"),
            ),
            notice_callout(GenerateState.notice),
            rx.hstack(
                rx.button(
                    rx.icon("sparkles", size=16),
                    "Generate",
                    size="3",
                    on_click=GenerateState.submit,
                    loading=GenerateState.busy,
                    disabled=GenerateState.sources.length() == 0,
                    id="generate",
                ),
                rx.text(
                    "Costs ",
                    rx.text.strong(GenerateState.cost, id="cost"),
                    " ",
                    noun_for(GenerateState.cost, "credit"),
                    " · you have ",
                    counted(GenerateState.balance, "credit"),
                    size="2",
                    color=rx.color("gray", 11),
                    id="cost-line",
                ),
                align="center",
                spacing="4",
                wrap="wrap",
            ),
            spacing="4",
            width="100%",
        ),
        width="100%",
    )


def _queue_row(req: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.hstack(
        rx.match(
            req["status"],
            *[
                (value, rx.badge(QUEUE_LABELS[value], color_scheme=colour))
                for value, colour in QUEUE_COLOURS
            ],
            rx.badge(req["status"]),
        ),
        rx.vstack(
            rx.text(req["label"], size="2", weight="medium", trim="both"),
            rx.text(
                req["source"],
                " · ",
                req["delivered"],
                "/",
                req["count"],
                " ",
                noun_for(req["count"], "image"),
                " · ",
                req["when"],
                size="1",
                color=rx.color("gray", 11),
            ),
            rx.cond(req["error"] != "", rx.text(req["error"], size="1", color=rx.color("red", 11))),
            spacing="0",
            flex="1",
        ),
        rx.cond(
            req["status"] == "queued",
            rx.button(
                "Cancel",
                size="1",
                variant="soft",
                color_scheme="gray",
                on_click=GenerateState.cancel(req["id"]),  # type: ignore[operator]
            ),
        ),
        align="center",
        width="100%",
        data_testid="queue-row",
    )


def _results() -> rx.Component:
    return rx.grid(
        rx.foreach(
            GenerateState.recent,
            lambda img: rx.link(
                rx.cond(
                    img["thumb"] != "",
                    rx.image(
                        src=img["thumb"],
                        alt=img["alt"],
                        width="100%",
                        aspect_ratio="1",
                        object_fit="cover",
                        border_radius="var(--radius-3)",
                    ),
                    rx.center(
                        rx.text("Hidden: flagged by the safety check", size="1"),
                        aspect_ratio="1",
                        background=rx.color("gray", 4),
                        border_radius="var(--radius-3)",
                    ),
                ),
                href="/gallery",
                data_testid="recent-image",
            ),
        ),
        columns=rx.breakpoints(initial="3", md="6"),
        spacing="2",
        width="100%",
    )


def generate_page() -> rx.Component:
    return app_page(
        "Generate",
        "/generate",
        _form(),
        rx.heading("Styles", size="5", as_="h2"),
        rx.text(
            "Pick a style (click again to unpick) or a pack that runs several styles at once.",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.grid(
            rx.foreach(rx.Var.create(PACK_CARDS), _pack_card),
            columns=rx.breakpoints(initial="1", sm="2", md="4"),
            spacing="3",
            width="100%",
        ),
        rx.grid(
            rx.foreach(rx.Var.create(STYLE_CARDS), _style_card),
            columns=rx.breakpoints(initial="2", sm="3", md="4", lg="6"),
            spacing="3",
            width="100%",
        ),
        rx.heading("Your requests", size="5", as_="h2"),
        rx.card(
            rx.cond(
                GenerateState.requests.length() > 0,
                rx.vstack(rx.foreach(GenerateState.requests, _queue_row), spacing="3"),
                rx.text("Nothing generated yet.", color=rx.color("gray", 11)),
            ),
            width="100%",
        ),
        rx.heading("Latest pictures", size="5", as_="h2"),
        rx.cond(
            GenerateState.recent.length() > 0,
            _results(),
            rx.card(
                rx.text(
                    "No pictures yet. Pick a style or write a prompt above, then press "
                    "Generate: your pictures appear here as they are made.",
                    color=rx.color("gray", 11),
                ),
                width="100%",
                data_testid="recent-empty",
            ),
        ),
    )
