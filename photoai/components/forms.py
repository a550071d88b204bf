"""Form pieces shared by every page: labelled fields, grouped controls, messages, submit.

Every control gets a visible label that assistive technology reads as its name: a `<label
for=id>` for a single control, `aria-labelledby` for a group (radio buttons, segmented
controls), which no `<label for>` can name.
"""

from typing import Any

import reflex as rx

LABEL_STYLE: dict[str, str] = {
    "font_size": "var(--font-size-2)",
    "line_height": "var(--line-height-2)",
    "font_weight": "var(--font-weight-medium)",
}


def field_label(text: str, control_id: str) -> rx.Component:
    return rx.el.label(text, html_for=control_id, **LABEL_STYLE)


def labelled(label: str, control_id: str, control: rx.Component, **props: Any) -> rx.Component:
    """A label above its control; `control_id` must be the control's own id."""
    layout: dict[str, Any] = {"spacing": "1", "width": "100%"} | props
    return rx.vstack(field_label(label, control_id), control, **layout)


def group_label(text: str, label_id: str) -> rx.Component:
    """The visible name of a group of controls; the group points here by aria-labelledby."""
    return rx.text(text, id=label_id, **LABEL_STYLE)


def labelled_group(label: str, label_id: str, group: rx.Component, **props: Any) -> rx.Component:
    """A group of controls under its name; `group` must carry aria_labelledby=label_id."""
    return rx.vstack(group_label(label, label_id), group, spacing="1", **props)


def field(
    label: str, name: str, *, type_: str = "text", placeholder: str = "", **props: object
) -> rx.Component:
    """A text input named `name` (the form key), with `name` as its id for the label."""
    return labelled(
        label,
        name,
        rx.input(id=name, name=name, type=type_, placeholder=placeholder, width="100%", **props),
    )


def error_callout(message: rx.Var[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", width="100%"),
    )


def notice_callout(message: rx.Var[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="info", color_scheme="green", role="status", width="100%"),
    )


def password_field(label: str, name: str, *, new: bool) -> rx.Component:
    return field(
        label,
        name,
        type_="password",
        auto_complete="new-password" if new else "current-password",
        required=True,
    )


def new_password_fields(name: str, confirm_name: str = "confirm") -> list[rx.Component]:
    """A new password typed twice; the handler compares the two."""
    return [
        password_field("New password", name, new=True),
        password_field("Repeat the new password", confirm_name, new=True),
    ]


def submit_form(
    *fields: rx.Component,
    label: str,
    on_submit: Any,  # an @rx.event handler; Reflex's stubs type those as EventNamespace
    busy: rx.Var[bool] | bool = False,
    color_scheme: str | None = None,
    **props: object,
) -> rx.Component:
    """A column of fields with a full-width submit button that shows progress while busy;
    `color_scheme="red"` marks a destructive one.

    The button stays disabled until the page is hydrated: a click before that would submit
    the form natively, putting its fields (passwords too) into the URL.
    """
    return rx.form(
        rx.vstack(
            *fields,
            rx.button(
                label,
                type="submit",
                width="100%",
                size="3",
                loading=busy,
                disabled=~rx.State.is_hydrated,
                color_scheme=color_scheme,
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=on_submit,
        width="100%",
        **props,
    )
