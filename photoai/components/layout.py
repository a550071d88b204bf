"""Page frames: the public header and the signed-in shell with its navigation bar."""

import reflex as rx

from photoai.components.wording import noun_for
from photoai.state.session import SessionState

NAV_ITEMS: list[tuple[str, str, str]] = [
    ("Dashboard", "/dashboard", "layout-dashboard"),
    ("Models", "/models", "user-round"),
    ("Generate", "/generate", "sparkles"),
    ("Gallery", "/gallery", "images"),
    ("Billing", "/billing", "credit-card"),
    ("Account", "/account", "settings"),
]

ADMIN_HREF = "/admin"  # shown to admins only


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
        padding_x="0.5em",
        padding_y="0.35em",
        border_radius="var(--radius-3)",
        color=rx.color("accent", 11) if active else rx.color("gray", 11),
        background=rx.color("accent", 3) if active else "transparent",
        weight="medium",
        aria_current="page" if active else None,
    )


def _main_nav(current: str, direction: str) -> rx.Component:
    return rx.el.nav(
        rx.flex(
            *[_nav_link(label, href, icon, current) for label, href, icon in NAV_ITEMS],
            rx.cond(
                SessionState.is_admin,
                _nav_link("Admin", ADMIN_HREF, "shield", current),
            ),
            direction=direction,
            align="stretch",
            spacing="1",
        ),
        aria_label="Main",
    )


def _log_out_button(**props: object) -> rx.Component:
    return rx.button(
        rx.icon("log-out", size=14),
        "Log out",
        on_click=SessionState.logout,
        variant="soft",
        color_scheme="gray",
        size="2",
        **props,
    )


def _phone_menu(current: str) -> rx.Component:
    """Below the wide breakpoint the links and Log out fold into one menu button, so the
    bar stays one row; Radix's popover opens it by keyboard and closes it on Escape."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.icon_button(
                rx.icon("menu", size=18),
                aria_label="Open menu",
                variant="soft",
                color_scheme="gray",
                size="2",
            )
        ),
        rx.popover.content(
            rx.vstack(
                _main_nav(current, "column"),
                rx.separator(size="4"),
                _log_out_button(width="100%"),
                spacing="3",
                width="100%",
            ),
            side="bottom",
            align="end",
            width="min(88vw, 260px)",
        ),
    )


WIDE = "md"  # from 62em (992 px) the whole navigation fits on one row


def _only_wide(child: rx.Component) -> rx.Component:
    return rx.box(child, display=rx.breakpoints({"initial": "none", WIDE: "block"}))


def _only_narrow(child: rx.Component) -> rx.Component:
    return rx.box(child, display=rx.breakpoints({"initial": "block", WIDE: "none"}))


def navbar(current: str) -> rx.Component:
    return rx.el.header(
        rx.flex(
            brand(),
            _only_wide(_main_nav(current, "row")),
            rx.spacer(),
            rx.badge(
                rx.icon("coins", size=14),
                rx.text(SessionState.balance, id="nav-balance"),
                rx.text(noun_for(SessionState.balance, "credit")),
                size="2",
                variant="soft",
                color_scheme="amber",
                high_contrast=True,  # amber on amber is below 4.5:1 otherwise
            ),
            _only_wide(_log_out_button()),
            _only_narrow(_phone_menu(current)),
            align="center",
            spacing="3",
            max_width="1200px",
            margin_x="auto",
        ),
        padding_x=PAGE_PADDING,
        padding_y="0.75em",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        position="sticky",
        top="0",
        z_index="10",
    )


PAGE_PADDING = rx.breakpoints(initial="1em", sm="1.5em")


def app_page(title: str | rx.Var[str], current: str, *children: rx.Component) -> rx.Component:
    """The frame of every signed-in page; the page's on_load must check the session."""
    return rx.box(
        navbar(current),
        rx.box(
            rx.cond(
                SessionState.signed_in,
                rx.vstack(
                    rx.heading(title, size="7", id="page-title"),
                    *children,
                    spacing="5",
                    width="100%",
                ),
                rx.center(rx.spinner(size="3"), padding="4em"),
            ),
            max_width="1200px",
            margin_x="auto",
            padding_x=PAGE_PADDING,
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
