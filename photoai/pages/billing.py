"""Billing: balance, plan, credit packs, plans, usage and every credit movement; and the page
Stripe Checkout returns to."""

from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from photoai.components.billing import (
    ledger_table,
    pack_card,
    plan_card,
    section_title,
    usage_chart,
)
from photoai.components.forms import error_callout
from photoai.components.layout import app_page
from photoai.state.billing import BillingState, BillingSuccessState


def _icon_badge(icon: str) -> rx.Component:
    return rx.center(
        rx.icon(icon, size=20),
        width="2.5em",
        height="2.5em",
        border_radius="50%",
        background=rx.color("accent", 3),
        color=rx.color("accent", 11),
        flex_shrink="0",
    )


def _balance_card() -> rx.Component:
    return rx.card(
        rx.hstack(
            _icon_badge("coins"),
            rx.vstack(
                rx.text("Credit balance", size="2", color=rx.color("gray", 11)),
                rx.hstack(
                    rx.heading(BillingState.balance, size="8", id="billing-balance"),
                    rx.text("credits", color=rx.color("gray", 11)),
                    align="baseline",
                    spacing="2",
                ),
                rx.text(
                    "A model training costs ",
                    rx.text.strong(BillingState.training_cost),
                    " credits and each image ",
                    rx.text.strong(BillingState.image_cost),
                    ". Credits are held while a job runs and charged only when it succeeds.",
                    size="2",
                    color=rx.color("gray", 11),
                ),
                spacing="1",
            ),
            spacing="3",
            align="start",
        ),
        width="100%",
    )


def _portal_button() -> rx.Component:
    return rx.cond(
        BillingState.billing_on,
        rx.button(
            rx.icon("external-link", size=14),
            rx.cond(BillingState.has_plan, "Manage plan", "Invoices and payment methods"),
            on_click=BillingState.manage_plan,
            loading=BillingState.busy == "portal",
            disabled=BillingState.busy != "",
            variant="soft",
            color_scheme="gray",
            size="1",
            margin_top="0.5em",
            id="manage-billing",
        ),
    )


def _plan_summary() -> rx.Component:
    muted = rx.color("gray", 11)
    return rx.card(
        rx.hstack(
            _icon_badge("calendar-sync"),
            rx.vstack(
                rx.text("Current plan", size="2", color=muted),
                rx.cond(
                    BillingState.has_plan,
                    rx.fragment(
                        rx.hstack(
                            rx.heading(BillingState.plan_name, size="6", id="current-plan"),
                            rx.badge(
                                BillingState.plan_status,
                                color_scheme=rx.cond(BillingState.plan_healthy, "green", "amber"),
                            ),
                            align="center",
                            spacing="2",
                        ),
                        rx.text(BillingState.plan_renewal, size="2", color=muted),
                        rx.text(BillingState.plan_pool, size="2", color=muted, id="plan-pool"),
                    ),
                    rx.fragment(
                        rx.heading("No plan", size="6", id="current-plan"),
                        rx.text(
                            rx.cond(
                                BillingState.billing_on,
                                "Pay as you go with credit packs, or subscribe to a plan below.",
                                "Plans are not available on this server.",
                            ),
                            size="2",
                            color=muted,
                        ),
                    ),
                ),
                _portal_button(),
                spacing="1",
            ),
            spacing="3",
            align="start",
        ),
        width="100%",
    )


def _notices() -> list[rx.Component]:
    """Callouts that take no room when they do not apply."""
    return [
        error_callout(BillingState.error),
        rx.cond(
            BillingState.spending_blocked,
            rx.callout(
                "Spending is paused on this account because a payment was refunded or disputed "
                "after its credits were used. You can still see your history; contact support "
                "to resolve it.",
                icon="octagon-alert",
                color_scheme="red",
                role="alert",
                id="spending-blocked",
                width="100%",
            ),
        ),
        rx.cond(
            # A blocked account is told why it cannot spend; "top up" would not help it.
            (BillingState.balance < BillingState.low_threshold) & ~BillingState.spending_blocked,
            rx.callout(
                rx.text(
                    "You are running low on credits: ",
                    rx.text.strong(BillingState.balance),
                    " left. ",
                    rx.cond(
                        BillingState.billing_on,
                        "Top up with a credit pack below or subscribe to a plan.",
                        "Ask the operator of this server for more credits.",
                    ),
                ),
                icon="battery-low",
                color_scheme="amber",
                high_contrast=True,  # amber text on amber is below 4.5:1 otherwise
                id="low-credits",
                width="100%",
            ),
        ),
    ]


def _billing_off() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("info", size=18, color=rx.color("blue", 11)),
                rx.heading("Buying credits isn't available on this server.", size="4", as_="h2"),
                align="center",
                spacing="2",
            ),
            rx.text(
                "Payments are not set up here, so there are no credit packs or plans to buy. "
                "Every new account starts with ",
                rx.text.strong(BillingState.starter_credits, " free credits"),
                ", enough to try a model training and images.",
            ),
            spacing="3",
        ),
        id="billing-off",
        width="100%",
    )


def _section(title: str, subtitle: str, *children: rx.Component) -> rx.Component:
    return rx.vstack(section_title(title, subtitle), *children, spacing="3", width="100%")


def _card_grid(
    items: ArrayVar[Any],
    card: Callable[[ObjectVar[dict[str, str]]], rx.Component],
) -> rx.Component:
    return rx.grid(
        rx.foreach(items, card),
        columns=rx.breakpoints(initial="1", sm="2", md="3"),
        spacing="4",
        width="100%",
    )


def _shop() -> rx.Component:
    return rx.vstack(
        _section(
            "Credit packs",
            "One-off purchases. Pack credits never expire.",
            _card_grid(BillingState.packs, pack_card),
        ),
        _section(
            "Monthly plans",
            "Credits every month, billed by Stripe. Change or cancel at any time.",
            _card_grid(BillingState.plans, plan_card),
        ),
        spacing="5",
        width="100%",
    )


def billing_page() -> rx.Component:
    return app_page(
        "Billing",
        "/billing",
        rx.cond(
            BillingState.loaded,
            rx.vstack(
                *_notices(),
                rx.grid(
                    _balance_card(),
                    _plan_summary(),
                    columns=rx.breakpoints(initial="1", md="2"),
                    spacing="4",
                    width="100%",
                ),
                rx.cond(BillingState.billing_on, _shop(), _billing_off()),
                _section(
                    "Usage",
                    "Credits spent per day over the last 30 days (UTC).",
                    usage_chart(),
                ),
                _section(
                    "Credit history",
                    "Every movement of your credits, newest first.",
                    ledger_table(),
                ),
                spacing="5",
                width="100%",
            ),
            rx.center(rx.spinner(size="3"), padding="4em", width="100%"),
        ),
    )


def _result_icon(icon: str, color: str) -> rx.Component:
    return rx.center(
        rx.icon(icon, size=28),
        width="3.5em",
        height="3.5em",
        border_radius="50%",
        background=rx.color(color, 3),
        color=rx.color(color, 11),
    )


def _result(icon: str, color: str, title: str, *body: rx.Component) -> rx.Component:
    return rx.vstack(
        _result_icon(icon, color),
        rx.heading(title, size="6", id="checkout-title"),
        *body,
        align="center",
        text_align="center",
        spacing="3",
        width="100%",
    )


def _message() -> rx.Component:
    return rx.text(BillingSuccessState.message, color=rx.color("gray", 11), id="checkout-message")


def _balance_line() -> rx.Component:
    return rx.text(
        "Your balance: ",
        rx.text.strong(BillingSuccessState.balance, id="success-balance"),
        " credits",
        size="4",
    )


def billing_success_page() -> rx.Component:
    status = BillingSuccessState.status
    return app_page(
        "Payment",
        "/billing",
        rx.center(
            rx.card(
                rx.vstack(
                    rx.match(
                        status,
                        (
                            "paid",
                            _result(
                                "circle-check",
                                "green",
                                "Thank you, your payment went through",
                                rx.cond(
                                    BillingSuccessState.credits_added > 0,
                                    rx.text(
                                        rx.text.strong(
                                            "+",
                                            BillingSuccessState.credits_added,
                                            " credits",
                                            id="credits-added",
                                        ),
                                        rx.cond(
                                            BillingSuccessState.mode == "subscription",
                                            " from your new plan.",
                                            " added to your account.",
                                        ),
                                        size="4",
                                    ),
                                    _message(),
                                ),
                                _balance_line(),
                            ),
                        ),
                        (
                            "pending",
                            _result(
                                "hourglass",
                                "amber",
                                "Payment pending",
                                _message(),
                                _balance_line(),
                            ),
                        ),
                        (
                            "open",
                            _result(
                                "circle-dashed",
                                "amber",
                                "Checkout not finished",
                                _message(),
                                _balance_line(),
                            ),
                        ),
                        (
                            "expired",
                            _result(
                                "clock-alert",
                                "gray",
                                "Checkout expired",
                                _message(),
                                _balance_line(),
                            ),
                        ),
                        (
                            "error",
                            _result(
                                "shield-x",
                                "red",
                                "We could not confirm this payment",
                                rx.callout(
                                    BillingSuccessState.message,
                                    icon="triangle-alert",
                                    color_scheme="red",
                                    role="alert",
                                    width="100%",
                                ),
                                _balance_line(),
                            ),
                        ),
                        rx.vstack(
                            rx.spinner(size="3"),
                            rx.text("Confirming your payment with Stripe…"),
                            align="center",
                            spacing="3",
                            padding_y="2em",
                        ),
                    ),
                    rx.link(
                        rx.button(rx.icon("arrow-left", size=16), "Back to Billing", size="3"),
                        href="/billing",
                        id="back-to-billing",
                    ),
                    align="center",
                    spacing="5",
                    width="100%",
                ),
                size="4",
                width="100%",
                max_width="520px",
            ),
            width="100%",
            padding_y="1em",
        ),
    )
