"""The signed-in home: profile, credits and where to go next."""

import reflex as rx
from reflex.vars import ObjectVar

from photoai.components.billing import movement_cell
from photoai.components.layout import app_page
from photoai.state.dashboard import DashboardState


def _stat_card(label: str, value: rx.Component, icon: str) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.center(
                rx.icon(icon, size=20),
                width="2.5em",
                height="2.5em",
                border_radius="50%",
                background=rx.color("accent", 3),
                color=rx.color("accent", 11),
            ),
            rx.vstack(rx.text(label, size="2", color=rx.color("gray", 11)), value, spacing="0"),
            align="center",
            spacing="3",
        ),
        width="100%",
    )


def _next_step(title: str, text: str | rx.Component, href: str, icon: str) -> rx.Component:
    return rx.link(
        rx.card(
            rx.vstack(
                rx.icon(icon, size=22, color=rx.color("accent", 10)),
                rx.text(title, weight="bold"),
                rx.text(text, size="2", color=rx.color("gray", 11)),
                spacing="2",
            ),
            width="100%",
            height="100%",
        ),
        href=href,
        underline="none",
        width="100%",
    )


def _recent_row(entry: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        movement_cell(entry),
        rx.table.cell(entry["change"], text_align="right", white_space="nowrap"),
    )


def dashboard_page() -> rx.Component:
    return app_page(
        "Dashboard",
        "/dashboard",
        rx.grid(
            _stat_card(
                "Signed in as",
                rx.vstack(
                    rx.text(DashboardState.user_name, weight="bold", id="profile-name"),
                    rx.text(DashboardState.user_email, size="2", id="profile-email"),
                    spacing="0",
                ),
                "user-round",
            ),
            _stat_card(
                "Credit balance",
                rx.heading(DashboardState.balance, size="7", id="credit-balance"),
                "coins",
            ),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="4",
            width="100%",
        ),
        rx.heading("Next steps", size="4", as_="h2"),
        rx.grid(
            _next_step(
                "Train your model",
                rx.fragment(
                    "Upload ",
                    DashboardState.photo_range,
                    " photos of yourself to create a personal model.",
                ),
                "/models",
                "user-round-plus",
            ),
            _next_step(
                "Generate photos",
                "Pick a style pack or write a prompt and get new photos of you.",
                "/generate",
                "sparkles",
            ),
            rx.cond(
                DashboardState.billing_on,
                _next_step(
                    "Buy credits",
                    "Credit packs and monthly plans for more models and images.",
                    "/billing",
                    "credit-card",
                ),
            ),
            columns=rx.breakpoints(initial="1", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.heading("Recent credit activity", size="4", as_="h2"),
        rx.card(
            rx.cond(
                DashboardState.recent.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Movement"),
                            rx.table.column_header_cell("Credits", text_align="right"),
                        )
                    ),
                    rx.table.body(rx.foreach(DashboardState.recent, _recent_row)),
                    width="100%",
                ),
                rx.text("No credit activity yet.", color=rx.color("gray", 11)),
            ),
            width="100%",
        ),
    )
