"""Gallery: all pictures with infinite scroll, sort and filters, a detail modal, ZIP."""

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from photoai.components.forms import error_callout, field_label
from photoai.components.gallery_grid import gallery_grid
from photoai.components.layout import app_page
from photoai.state.gallery import GalleryState


def _current() -> ObjectVar[dict[str, str]]:
    # Reflex's stubs match a dict field to the sequence overload; it is an object var.
    return cast(ObjectVar[dict[str, str]], GalleryState.current)


def _filter_select(
    name: str, placeholder: str, options: Any, value: rx.Var[str], all_label: str
) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(
            placeholder=placeholder, id=f"filter-{name}", aria_label=f"Filter by {name}"
        ),
        rx.select.content(
            rx.select.item(all_label, value="all"),
            rx.foreach(options, lambda o: rx.select.item(o["label"], value=o["value"])),
        ),
        value=value,
        on_change=lambda v: GalleryState.set_filter(name, v),  # type: ignore[operator]
    )


def _sort_select() -> rx.Component:
    return rx.hstack(
        field_label("Sort", "gallery-sort"),
        rx.select.root(
            rx.select.trigger(id="gallery-sort"),
            rx.select.content(
                rx.select.item("Newest first", value="newest"),
                rx.select.item("Best likeness first", value="likeness"),
            ),
            value=GalleryState.sort,
            on_change=lambda v: GalleryState.set_filter("sort", v),  # type: ignore[operator]
        ),
        align="center",
    )


def _toolbar() -> rx.Component:
    return rx.hstack(
        _sort_select(),
        _filter_select(
            "model", "Model", GalleryState.model_options, GalleryState.model_filter, "All models"
        ),
        _filter_select(
            "style", "Style", GalleryState.style_options, GalleryState.style_filter, "All styles"
        ),
        rx.hstack(
            rx.switch(
                checked=GalleryState.favourites_only,
                on_change=lambda on: GalleryState.set_filter(  # type: ignore[operator]
                    "favourites", rx.cond(on, "yes", "no")
                ),
                id="favourites-only",
            ),
            field_label("Favourites only", "favourites-only"),
            align="center",
        ),
        rx.hstack(
            rx.switch(
                checked=GalleryState.hide_not_you,
                on_change=lambda on: GalleryState.set_filter(  # type: ignore[operator]
                    "hide_not_you", rx.cond(on, "yes", "no")
                ),
                id="hide-not-you",
            ),
            field_label('Hide "doesn\'t look like you"', "hide-not-you"),
            align="center",
        ),
        rx.spacer(),
        rx.cond(
            GalleryState.selected.length() > 0,
            rx.hstack(
                rx.text(GalleryState.selected.length(), " selected", size="2"),
                rx.button(
                    rx.icon("download", size=14),
                    "Download ZIP",
                    size="2",
                    # A plain download, not a page navigation: the server names the file.
                    on_click=rx.download(url=GalleryState.zip_url),
                    id="download-zip",
                ),
                rx.button(
                    rx.icon("trash-2", size=14),
                    "Delete",
                    size="2",
                    color_scheme="red",
                    variant="soft",
                    on_click=GalleryState.ask_delete_selected,
                    id="delete-selected",
                ),
                rx.button(
                    "Clear", size="2", variant="ghost", on_click=GalleryState.clear_selection
                ),
                align="center",
            ),
        ),
        width="100%",
        align="center",
        wrap="wrap",
        spacing="3",
    )


def _fact(label: str, value: rx.Var[str] | str) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value))


def _modal() -> rx.Component:
    image = _current()
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(image["style"]),
            rx.grid(
                rx.cond(
                    image["original"] != "",
                    rx.image(
                        src=image["original"],
                        alt=image["alt"],
                        width="100%",
                        border_radius="var(--radius-3)",
                        id="modal-image",
                    ),
                    rx.center(rx.text("Hidden: flagged by the safety check"), padding="3em"),
                ),
                rx.vstack(
                    rx.cond(
                        image["demo"] != "",
                        rx.badge("demo", color_scheme="orange", variant="outline"),
                    ),
                    rx.cond(
                        image["prompt"] != "",
                        rx.text(image["prompt"], size="2", id="modal-prompt"),
                    ),
                    rx.cond(
                        image["likeness"] != "",
                        rx.badge(image["likeness"], variant="soft", id="likeness-badge"),
                    ),
                    rx.data_list.root(
                        _fact("Model", image["model"]),
                        _fact("Seed", image["seed"]),
                        _fact("Size", image["size"]),
                        _fact("Aspect", image["aspect"]),
                        _fact("Created", image["when"]),
                        _fact("Provider", image["provider"]),
                        size="1",
                    ),
                    rx.vstack(
                        rx.button(
                            rx.icon("heart", size=14),
                            rx.cond(image["favourite"] != "", "Unfavourite", "Favourite"),
                            variant="soft",
                            on_click=GalleryState.toggle_favourite,
                            id="toggle-favourite",
                            width="100%",
                        ),
                        rx.button(
                            rx.icon("download", size=14),
                            "Download original",
                            on_click=rx.download(url=image["download"]),
                            id="download-original",
                            width="100%",
                        ),
                        rx.link(
                            rx.button(
                                rx.icon("repeat", size=14),
                                "Generate again with these settings",
                                variant="outline",
                                width="100%",
                            ),
                            href="/generate?from=" + image["id"].to(str),
                            width="100%",
                        ),
                        rx.button(
                            rx.icon("trash-2", size=14),
                            "Delete",
                            color_scheme="red",
                            variant="soft",
                            on_click=GalleryState.ask_delete_current,
                            id="delete-image",
                            width="100%",
                        ),
                        rx.dialog.close(
                            rx.button("Close", variant="ghost", color_scheme="gray", width="100%")
                        ),
                        spacing="2",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="4",
            ),
            max_width="960px",
        ),
        open=GalleryState.modal_open,
        on_open_change=GalleryState.set_modal_open,
    )


def _confirm_delete() -> rx.Component:
    """Asks before deleting; Radix's alert dialog is a labelled, focus-trapped modal."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(GalleryState.confirm_title),
            rx.alert_dialog.description(
                "You can undo this for ",
                GalleryState.undo_minutes,
                ". After that, deleted pictures are removed for good.",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Delete",
                        color_scheme="red",
                        on_click=GalleryState.confirm_delete,
                        id="confirm-delete",
                    )
                ),
                justify="end",
                spacing="3",
                margin_top="1em",
            ),
        ),
        open=GalleryState.confirm_open,
        on_open_change=GalleryState.set_confirm_open,
    )


def _undo_bar() -> rx.Component:
    """A toast that stays until used or dismissed: a screen reader hears it (role=status)."""
    return rx.cond(
        GalleryState.undo_message != "",
        rx.box(
            rx.hstack(
                rx.icon("trash-2", size=16),
                rx.text(GalleryState.undo_message, size="2", white_space="nowrap"),
                rx.button(
                    rx.icon("undo-2", size=14),
                    "Undo",
                    size="2",
                    variant="solid",
                    on_click=GalleryState.undo_delete,
                    id="undo-delete",
                ),
                rx.icon_button(
                    rx.icon("x", size=14),
                    size="2",
                    variant="ghost",
                    color_scheme="gray",
                    aria_label="Dismiss",
                    on_click=GalleryState.dismiss_undo,
                ),
                align="center",
                spacing="3",
            ),
            role="status",
            position="fixed",
            bottom="1.5em",
            left="50%",
            transform="translateX(-50%)",
            z_index="60",
            padding="0.6em 1em",
            background=rx.color("gray", 1),
            border=f"1px solid {rx.color('gray', 6)}",
            border_radius="var(--radius-4)",
            box_shadow="var(--shadow-5)",
            max_width="calc(100vw - 2em)",
            id="undo-toast",
        ),
    )


def gallery_page() -> rx.Component:
    return app_page(
        "Gallery",
        "/gallery",
        error_callout(GalleryState.error),
        _toolbar(),
        # After the page's on_load (which clears the selection), so that a picture selected
        # at once stays selected.
        rx.cond(
            rx.State.is_hydrated,
            gallery_grid(
                src=GalleryState.page_url,
                reload=GalleryState.reload,
                selected=GalleryState.selected,
                removed=GalleryState.removed,
                favourites=GalleryState.favourite_marks,
                on_open=GalleryState.open_image,
                on_reveal=GalleryState.reveal_image,
                on_toggle=GalleryState.toggle_select,
            ),
        ),
        _modal(),
        _confirm_delete(),
        _undo_bar(),
    )
