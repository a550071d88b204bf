"""Form pieces shared by the account pages."""

from typing import Any

import reflex as rx


def field(
    label: str, name: str, *, type_: str = "text", placeholder: str = "", **props: object
) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", html_for=name, size="2", weight="medium"),
        rx.input(id=name, name=name, type=type_, placeholder=placeholder, width="100%", **props),
        spacing="1",
        width="100%",
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
    **props: object,
) -> rx.Component:
    """A column of fields with a full-width submit button that shows progress while busy.

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
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=on_submit,
        width="100%",
        **props,
    )
