"""Pieces of the Billing page: pack and plan cards, the credit history table, the usage chart."""

import reflex as rx
from reflex.vars import ObjectVar

from photoai.state.billing import BillingState


def section_title(title: str, subtitle: str | rx.Var[str]) -> rx.Component:
    return rx.vstack(
        rx.heading(title, size="4", as_="h2"),
        rx.text(subtitle, size="2", color=rx.color("gray", 11)),
        spacing="1",
    )


def _offer_card(
    name: rx.Var,
    badge: rx.Component,
    amount: rx.Var,
    amount_unit: str,
    price: rx.Var,
    price_note: rx.Component,
    *below: rx.Component,
) -> rx.Component:
    """The common frame of a pack and a plan: name, credits, price, then its own parts."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(name, weight="bold", size="4"),
                rx.spacer(),
                badge,
                align="center",
                width="100%",
            ),
            rx.hstack(
                rx.heading(amount, size="8"),
                rx.text(amount_unit, size="3", color=rx.color("gray", 11)),
                align="baseline",
                spacing="2",
            ),
            rx.hstack(
                rx.text(price, size="5", weight="medium"),
                price_note,
                align="baseline",
                spacing="2",
            ),
            *below,
            spacing="3",
            height="100%",
            width="100%",
        ),
        width="100%",
        size="2",
    )


def pack_card(pack: ObjectVar[dict[str, str]]) -> rx.Component:
    return _offer_card(
        pack["name"],
        rx.cond(
            pack["best"] != "",
            rx.badge("Best value", color_scheme="green", variant="soft"),
        ),
        pack["credits"],
        "credits",
        pack["price"],
        rx.text(pack["per_credit"], " per credit", size="2", color=rx.color("gray", 11)),
        rx.spacer(),
        rx.button(
            rx.icon("shopping-cart", size=16),
            "Buy",
            # mypy reads rx.event's __new__ as returning EventNamespace, not a callback.
            on_click=BillingState.buy_pack(pack["id"]),  # type: ignore[operator]
            loading=BillingState.busy == "pack:" + pack["id"].to(str),
            disabled=BillingState.busy != "",
            aria_label="Buy " + pack["name"].to(str),
            id="buy-" + pack["id"].to(str),
            size="3",
            width="100%",
        ),
    )


def plan_card(plan: ObjectVar[dict[str, str]]) -> rx.Component:
    is_current = plan["current"] != ""
    return _offer_card(
        plan["name"],
        rx.cond(is_current, rx.badge("Your plan", color_scheme="violet")),
        plan["credits"],
        "credits a month",
        plan["price"],
        rx.text("a month", size="2", color=rx.color("gray", 11)),
        rx.text(plan["rollover"], size="2", color=rx.color("gray", 11)),
        rx.spacer(),
        rx.cond(
            BillingState.has_plan,
            rx.button(
                rx.icon("settings-2", size=16),
                rx.cond(is_current, "Manage plan", "Change plan"),
                on_click=BillingState.manage_plan,
                loading=BillingState.busy == "portal",
                disabled=BillingState.busy != "",
                variant="soft",
                size="3",
                width="100%",
            ),
            rx.button(
                rx.icon("repeat", size=16),
                "Subscribe",
                on_click=BillingState.subscribe(plan["id"]),  # type: ignore[operator]
                loading=BillingState.busy == "plan:" + plan["id"].to(str),
                disabled=BillingState.busy != "",
                aria_label="Subscribe to " + plan["name"].to(str),
                id="subscribe-" + plan["id"].to(str),
                variant="outline",
                size="3",
                width="100%",
            ),
        ),
    )


def _change_cell(entry: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.cell(
        rx.text(
            entry["change"],
            weight="medium",
            color=rx.match(
                entry["tone"],
                ("plus", rx.color("green", 11)),
                ("minus", rx.color("red", 11)),
                rx.color("gray", 11),
            ),
            white_space="nowrap",
        ),
        text_align="right",
    )


def movement_cell(entry: ObjectVar[dict[str, str]]) -> rx.Component:
    """What happened first (it is what the reader looks for), then its kind and time: one
    cell, so a phone shows the whole row without scrolling sideways."""
    return rx.table.cell(
        rx.vstack(
            rx.text(entry["description"], size="2"),
            rx.hstack(
                rx.badge(entry["label"], color_scheme=entry["color"].to(str), variant="soft"),
                rx.text(entry["when"], size="1", color=rx.color("gray", 11)),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            spacing="1",
        ),
    )


def _ledger_row(entry: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        movement_cell(entry),
        _change_cell(entry),
        rx.table.cell(entry["balance_after"], text_align="right"),
        data_kind=entry["kind"],
        class_name="ledger-row",
    )


def ledger_table() -> rx.Component:
    return rx.card(
        rx.cond(
            BillingState.entries.length() > 0,
            rx.vstack(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Movement"),
                            rx.table.column_header_cell("Amount", text_align="right"),
                            rx.table.column_header_cell("Balance", text_align="right"),
                        )
                    ),
                    rx.table.body(rx.foreach(BillingState.entries, _ledger_row)),
                    id="ledger",
                    width="100%",
                    # As wide as its columns: the card scrolls it (and can be focused to
                    # scroll by keyboard), not Radix's own scroll area, which takes no focus.
                    min_width="max-content",
                ),
                rx.cond(
                    BillingState.has_more,
                    rx.button(
                        "Load more",
                        on_click=BillingState.load_more,
                        loading=BillingState.loading_more,
                        variant="soft",
                        color_scheme="gray",
                    ),
                ),
                align="center",
                spacing="3",
                width="100%",
            ),
            rx.text("No credit movements yet.", color=rx.color("gray", 11)),
        ),
        width="100%",
        overflow_x="auto",
        tab_index=0,
        role="region",
        aria_label="Credit history",
    )


def _usage_stat(label: str, value: rx.Var[int] | rx.Var[str], hint: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", color=rx.color("gray", 11)),
        rx.heading(value, size="6"),
        rx.text(hint, size="1", color=rx.color("gray", 10)),
        spacing="0",
    )


_TICK = {"fontSize": 12, "fill": "var(--gray-11)"}


def _count_bar(key: str, name: str, colour: rx.Color) -> rx.Component:
    return rx.recharts.bar(
        data_key=key,
        name=name,
        y_axis_id="counts",
        fill=colour,
        radius=[4, 4, 0, 0],
        is_animation_active=False,
    )


def usage_chart() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                _usage_stat("Credits spent", BillingState.spent_30d, "last 30 days"),
                _usage_stat("Images generated", BillingState.images_30d, "last 30 days"),
                _usage_stat("Models trained", BillingState.models_30d, "last 30 days"),
                rx.spacer(),
                rx.cond(
                    BillingState.spent_30d == 0,
                    rx.text(
                        "Nothing spent in the last 30 days. Trainings and images you make "
                        "will show up here.",
                        size="2",
                        color=rx.color("gray", 11),
                        max_width="28em",
                    ),
                ),
                spacing="6",
                align="start",
                width="100%",
                wrap="wrap",
            ),
            rx.box(
                rx.recharts.bar_chart(
                    rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False),
                    rx.recharts.x_axis(
                        data_key="day",
                        interval="preserveStartEnd",
                        tick_line=False,
                        tick=_TICK,
                    ),
                    rx.recharts.y_axis(
                        y_axis_id="credits",
                        allow_decimals=False,
                        width=40,
                        tick_line=False,
                        tick=_TICK,
                    ),
                    rx.recharts.y_axis(
                        y_axis_id="counts",
                        orientation="right",
                        allow_decimals=False,
                        width=40,
                        tick_line=False,
                        tick=_TICK,
                    ),
                    rx.recharts.bar(
                        data_key="credits",
                        name="Credits spent",
                        y_axis_id="credits",
                        fill=rx.color("accent", 9),
                        radius=[4, 4, 0, 0],
                        is_animation_active=False,
                    ),
                    _count_bar("images", "Images generated", rx.color("cyan", 9)),
                    _count_bar("models", "Models trained", rx.color("amber", 9)),
                    rx.recharts.graphing_tooltip(),
                    rx.recharts.legend(),
                    data=BillingState.usage,
                    bar_gap=2,
                    width="100%",
                    height=260,
                ),
                width="100%",
                id="usage-chart",
            ),
            spacing="4",
            width="100%",
        ),
        width="100%",
    )
