"""Account settings: name, password, sessions, and deleting the account with all its data."""

import reflex as rx

from photoai.components.forms import (
    error_callout,
    field,
    new_password_fields,
    notice_callout,
    password_field,
    submit_form,
)
from photoai.components.layout import app_page
from photoai.state.account import AccountState


def account_page() -> rx.Component:
    return app_page(
        "Account",
        "/account",
        rx.card(
            rx.vstack(
                rx.heading("Profile", size="4", as_="h2"),
                rx.text("Email: ", rx.text.strong(AccountState.user_email), size="2"),
                rx.form(
                    rx.hstack(
                        field(
                            "Name",
                            "name",
                            default_value=AccountState.user_name,
                            max_length=100,
                            key=AccountState.user_name,
                        ),
                        rx.button("Save name", type="submit"),
                        align="end",
                        width="100%",
                    ),
                    on_submit=AccountState.save_name,
                    reset_on_submit=False,
                    width="100%",
                ),
                notice_callout(AccountState.name_message),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
        rx.card(
            rx.vstack(
                rx.heading("Change password", size="4", as_="h2"),
                error_callout(AccountState.password_error),
                notice_callout(AccountState.password_message),
                rx.box(
                    submit_form(
                        password_field("Current password", "current_password", new=False),
                        *new_password_fields("new_password"),
                        label="Change password",
                        on_submit=AccountState.change_password,
                        reset_on_submit=False,
                        id="password-form",
                    ),
                    width="100%",
                    max_width="420px",
                ),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
        rx.card(
            rx.vstack(
                rx.heading("Sessions", size="4", as_="h2"),
                rx.text(
                    "Signed in on a shared or lost device? Sign out everywhere, this browser too.",
                    size="2",
                    color=rx.color("gray", 11),
                ),
                rx.button(
                    rx.icon("shield-off", size=14),
                    "Log out everywhere",
                    color_scheme="red",
                    variant="soft",
                    on_click=AccountState.logout_everywhere,
                ),
                spacing="3",
            ),
            width="100%",
        ),
        _export_card(),
        _delete_account_card(),
    )


def _export_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Download your data", size="4", as_="h2"),
            rx.text(
                "One ZIP with your training photos, generated pictures, models, credit history, "
                "payments and consents. We email you a link when it is ready.",
                size="2",
                color=rx.color("gray", 11),
            ),
            rx.cond(
                AccountState.export_status != "",
                rx.text(AccountState.export_status, size="2", role="status", id="export-status"),
            ),
            rx.hstack(
                rx.button(
                    rx.icon("package", size=14),
                    "Prepare my data",
                    on_click=AccountState.request_export,
                    loading=AccountState.export_running,
                    variant="soft",
                ),
                rx.cond(
                    AccountState.export_url != "",
                    rx.link(
                        rx.button(rx.icon("download", size=14), "Download the ZIP"),
                        href=AccountState.export_url,
                        id="export-download",
                    ),
                ),
                spacing="3",
                wrap="wrap",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="export",
    )


def _delete_account_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Delete your account", size="4", as_="h2"),
            rx.text(
                "Deletes your account at once and then erases everything it holds: training "
                "photos, models and their weights, generated pictures, sessions. An active plan "
                "is canceled. Credit and payment records are kept without your name or email, "
                "as accounting law requires. This cannot be undone.",
                size="2",
                color=rx.color("gray", 11),
            ),
            rx.link("What we store and for how long", href="/privacy", size="2"),
            error_callout(AccountState.delete_error),
            rx.box(
                submit_form(
                    _confirm_password(),
                    label="Delete my account and all my data",
                    color_scheme="red",
                    on_submit=AccountState.delete_account,
                    busy=AccountState.deleting,
                    reset_on_submit=False,
                    id="delete-account-form",
                ),
                width="100%",
                max_width="420px",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="delete-account",
    )


def _confirm_password() -> rx.Component:
    # A plain <label for>: the shared `field` helper's label is not linked to its input yet.
    return rx.vstack(
        rx.el.label(
            rx.text("Your password, to confirm", as_="span", size="2", weight="medium"),
            html_for="delete_password",
        ),
        rx.input(
            id="delete_password",
            name="delete_password",
            type="password",
            auto_complete="current-password",
            required=True,
            width="100%",
        ),
        spacing="1",
        width="100%",
    )
