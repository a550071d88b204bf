"""Page frames: the public header and the signed-in shell with its navigation bar."""

import reflex as rx

from photoai.state.session import SessionState

NAV_ITEMS: list[tuple[str, str, str]] = [
    ("Dashboard", "/dashboard", "layout-dashboard"),
    ("Models", "/models", "user-round"),
    ("Generate", "/generate", "sparkles"),
    ("Gallery", "/gallery", "images"),
    ("Billing", "/billing", "credit-card"),
    ("Account", "/account", "settings"),
]


def brand() -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon("camera", size=22, color=rx.color("accent", 10)),
            rx.text("photoai", weight="bold", size="5", color=rx.color("gray", 12)),
            align="center",
            spacing="2",
        ),
        href="/",
        underline="none",
    )


def _nav_link(label: str, href: str, icon: str, current: str) -> rx.Component:
    active = href == current
    return rx.link(
        rx.hstack(rx.icon(icon, size=16), rx.text(label, size="2"), align="center", spacing="1"),
        href=href,
        underline="none",
        padding_x="0.6em",
        padding_y="0.35em",
        border_radius="var(--radius-3)",
        color=rx.color("accent", 11) if active else rx.color("gray", 11),
        background=rx.color("accent", 3) if active else "transparent",
        weight="medium",
        aria_current="page" if active else None,
    )


def navbar(current: str) -> rx.Component:
    return rx.box(
        rx.flex(
            brand(),
            rx.el.nav(
                rx.flex(
                    *[_nav_link(label, href, icon, current) for label, href, icon in NAV_ITEMS],
                    spacing="1",
                    wrap="wrap",
                ),
                aria_label="Main",
            ),
            rx.spacer(),
            rx.hstack(
                rx.badge(
                    rx.icon("coins", size=14),
                    rx.text(SessionState.balance, id="nav-balance"),
                    rx.text("credits"),
                    size="2",
                    variant="soft",
                    color_scheme="amber",
                ),
                rx.button(
                    rx.icon("log-out", size=14),
                    "Log out",
                    on_click=SessionState.logout,
                    variant="soft",
                    color_scheme="gray",
                    size="2",
                ),
                align="center",
            ),
            align="center",
            gap="4",
            wrap="wrap",
            max_width="1200px",
            margin_x="auto",
        ),
        padding_x="1.5em",
        padding_y="0.75em",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        # On phones the wrapped bar is three rows tall: let it scroll away there.
        position=rx.breakpoints(initial="static", md="sticky"),
        top="0",
        z_index="10",
    )


def app_page(title: str, current: str, *children: rx.Component) -> rx.Component:
    """The frame of every signed-in page; the page's on_load must check the session."""
    return rx.box(
        navbar(current),
        rx.box(
            rx.cond(
                SessionState.signed_in,
                rx.vstack(rx.heading(title, size="7"), *children, spacing="5", width="100%"),
                rx.center(rx.spinner(size="3"), padding="4em"),
            ),
            max_width="1200px",
            margin_x="auto",
            padding_x="1.5em",
            padding_y="2em",
        ),
        min_height="100vh",
        background=rx.color("gray", 2),
    )


def public_header() -> rx.Component:
    return rx.flex(
        brand(),
        rx.spacer(),
        rx.cond(
            SessionState.signed_in,
            rx.link(rx.button("Go to dashboard"), href="/dashboard"),
            rx.hstack(
                rx.link("Sign in", href="/login", weight="medium"),
                rx.link(rx.button("Get started"), href="/register"),
                align="center",
                spacing="4",
            ),
        ),
        align="center",
        padding_x="1.5em",
        padding_y="1em",
        max_width="1200px",
        margin_x="auto",
        width="100%",
    )


def auth_card(title: str, subtitle: str, *children: rx.Component) -> rx.Component:
    """A centred card for the sign-in and password pages."""
    return rx.box(
        public_header(),
        rx.center(
            rx.card(
                rx.vstack(
                    rx.heading(title, size="6"),
                    rx.text(subtitle, color=rx.color("gray", 11), size="2"),
                    *children,
                    spacing="4",
                    width="100%",
                ),
                size="4",
                width="100%",
                max_width="420px",
            ),
            padding_x="1em",
            padding_y="3em",
        ),
        min_height="100vh",
        background=rx.color("gray", 2),
    )
