"""Sign in, register, forgotten password and reset pages."""

import reflex as rx

from photoai.components.forms import (
    error_callout,
    field,
    new_password_fields,
    notice_callout,
    password_field,
    submit_form,
)
from photoai.components.layout import auth_card
from photoai.state.auth_forms import (
    ForgotPasswordState,
    LoginState,
    RegisterState,
    ResetPasswordState,
)


def _email_field() -> rx.Component:
    return field("Email", "email", type_="email", auto_complete="email", required=True)


def login_page() -> rx.Component:
    return auth_card(
        "Welcome back",
        "Sign in to your photoai studio.",
        notice_callout(LoginState.notice),
        error_callout(LoginState.error),
        submit_form(
            _email_field(),
            password_field("Password", "password", new=False),
            label="Sign in",
            on_submit=LoginState.submit,
            busy=LoginState.busy,
        ),
        rx.hstack(
            rx.link("Forgot your password?", href="/forgot-password", size="2"),
            rx.spacer(),
            rx.link("Create an account", href="/register", size="2"),
            width="100%",
        ),
    )


def register_page() -> rx.Component:
    return auth_card(
        "Create your account",
        "Start with free credits: train a model of yourself and generate new photos.",
        rx.cond(
            RegisterState.sent != "",
            rx.vstack(
                rx.callout(RegisterState.sent, icon="mail", color_scheme="green", role="status"),
                rx.button("Use another address", variant="soft", on_click=RegisterState.start_over),
                spacing="3",
                width="100%",
            ),
            rx.fragment(
                error_callout(RegisterState.error),
                submit_form(
                    field("Name", "name", auto_complete="name", placeholder="Ada Lovelace"),
                    _email_field(),
                    password_field("Password", "password", new=True),
                    rx.text(
                        "At least 10 characters, mixing letters with numbers or symbols.",
                        size="1",
                        color=rx.color("gray", 10),
                    ),
                    label="Create account",
                    on_submit=RegisterState.submit,
                    busy=RegisterState.busy,
                ),
            ),
        ),
        rx.text(
            "Already have an account? ",
            rx.link("Sign in", href="/login", underline="always"),
            size="2",
        ),
    )


def forgot_password_page() -> rx.Component:
    return auth_card(
        "Reset your password",
        "Enter your email and we will send you a link to choose a new password.",
        rx.cond(
            ForgotPasswordState.sent,
            rx.vstack(
                rx.callout(
                    ForgotPasswordState.message, icon="mail", color_scheme="green", role="status"
                ),
                rx.button(
                    "Send another link",
                    variant="soft",
                    on_click=ForgotPasswordState.send_another,
                ),
                spacing="3",
                width="100%",
            ),
            submit_form(
                _email_field(),
                label="Send reset link",
                on_submit=ForgotPasswordState.submit,
                busy=ForgotPasswordState.busy,
            ),
        ),
        rx.link("Back to sign in", href="/login", size="2"),
    )


def reset_password_page() -> rx.Component:
    return auth_card(
        "Choose a new password",
        "Signing in again will be needed on every device.",
        error_callout(ResetPasswordState.error),
        submit_form(
            *new_password_fields("password"),
            label="Set new password",
            on_submit=ResetPasswordState.submit,
            busy=ResetPasswordState.busy,
        ),
        rx.link("Ask for a new link", href="/forgot-password", size="2"),
    )
