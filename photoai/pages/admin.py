"""The operator console at /admin: metrics, jobs, users, providers, Stripe events, audit log.

Every page renders the not-found view until the server has confirmed the caller is an admin
(`AdminState.allowed`), so a non-admin sees exactly what an unknown address shows.
"""

from collections.abc import Callable
from typing import Any, cast

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from photoai.components.forms import error_callout, field, labelled, notice_callout
from photoai.components.layout import PAGE_PADDING, navbar
from photoai.state.admin import (
    JOB_KINDS,
    JOB_STATUSES,
    AdminAuditState,
    AdminJobsState,
    AdminOverviewState,
    AdminProvidersState,
    AdminState,
    AdminStripeState,
    AdminUsersState,
    AdminUserState,
)

RowVar = ObjectVar[dict[str, str]]

ADMIN_NAV = [
    ("Overview", "/admin"),
    ("Jobs", "/admin/jobs"),
    ("Users", "/admin/users"),
    ("Providers", "/admin/providers"),
    ("Stripe events", "/admin/stripe"),
    ("Audit log", "/admin/audit"),
]


def not_found() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.heading("404", size="9", as_="h1"),
            rx.text("This page could not be found."),
            rx.link("Go to the home page", href="/"),
            align="center",
            spacing="3",
        ),
        min_height="100vh",
        id="not-found",
    )


def _admin_nav(current: str) -> rx.Component:
    return rx.el.nav(
        rx.flex(
            *[
                rx.link(
                    label,
                    href=href,
                    weight="medium",
                    size="2",
                    aria_current="page" if href == current else None,
                    underline="always" if href == current else "hover",
                )
                for label, href in ADMIN_NAV
            ],
            wrap="wrap",
            spacing="4",
        ),
        aria_label="Console",
    )


def admin_page(title: str, current: str, *children: rx.Component) -> rx.Component:
    shell = rx.box(
        navbar(current),
        rx.box(
            rx.vstack(
                rx.text("Operator console", size="2", color=rx.color("gray", 11)),
                rx.heading(title, size="7", as_="h1", id="page-title"),
                _admin_nav(current),
                error_callout(AdminState.error),
                notice_callout(AdminState.notice),
                *children,
                spacing="4",
                width="100%",
            ),
            max_width="1200px",
            margin_x="auto",
            padding_x=PAGE_PADDING,
            padding_y="2em",
        ),
        min_height="100vh",
        background=rx.color("gray", 2),
    )
    return rx.cond(
        AdminState.checked,
        rx.cond(AdminState.allowed, shell, not_found()),
        rx.center(rx.spinner(size="3"), padding="4em", min_height="100vh"),
    )


CELL = {"padding": "0.5em 0.75em", "text_align": "left", "vertical_align": "top"}


def table(
    label: str,
    headers: list[str],
    rows: ArrayVar[Any],
    cells: Callable[[RowVar], list[rx.Component]],
    table_id: str,
) -> rx.Component:
    """A plain table under a caption, in a region that scrolls sideways on a phone; the
    region is focusable so the keyboard can scroll it too."""
    return rx.box(
        rx.el.table(
            rx.el.caption(label, style={**CELL, "font_weight": "500"}),
            rx.el.thead(
                rx.el.tr(
                    *[
                        rx.el.th(h, scope="col", style={**CELL, "white_space": "nowrap"})
                        for h in headers
                    ],
                    style={"background": rx.color("gray", 3)},
                )
            ),
            rx.el.tbody(
                rx.foreach(
                    rows,
                    lambda row: rx.el.tr(
                        *cells(row), style={"border_top": f"1px solid {rx.color('gray', 5)}"}
                    ),
                )
            ),
            id=table_id,
            style={"width": "100%", "border_collapse": "collapse", "font_size": "14px"},
        ),
        overflow_x="auto",
        width="100%",
        tab_index=0,
        role="region",
        aria_label=label,
        background=rx.color("gray", 1),
        border=f"1px solid {rx.color('gray', 5)}",
        border_radius="var(--radius-3)",
    )


def _td(child: rx.Component | rx.Var[str] | str, **style: str) -> rx.Component:
    return rx.el.td(child, style={**CELL, **style})


def _cell(text: rx.Component | rx.Var[str] | str) -> rx.Component:
    return _td(text, white_space="nowrap")


def _text_cells(row: RowVar, *keys: str) -> list[rx.Component]:
    """One unwrapped text cell per key, for the plain columns of a console table."""
    return [_cell(row[key]) for key in keys]


def _select(
    label: str, name: str, options: list[str] | ArrayVar[Any], value: rx.Var[str]
) -> rx.Component:
    choices = (
        [rx.el.option(o, value=o) for o in options]
        if isinstance(options, list)
        else [rx.foreach(options, lambda o: rx.el.option(o, value=o))]
    )
    return labelled(
        label,
        name,
        rx.el.select(
            rx.el.option("any", value=""),
            *choices,
            id=name,
            name=name,
            default_value=value,
            style={"padding": "0.35em", "border_radius": "var(--radius-2)", "min_width": "10em"},
        ),
        width="auto",
    )


# --- overview ----------------------------------------------------------------------------------


def _figure(row: RowVar) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(row["label"], size="2", color=rx.color("gray", 11)),
            rx.text(row["value"], size="6", weight="bold", id=row["id"]),
            rx.text(row["note"], size="1", color=rx.color("gray", 11)),
            spacing="1",
        ),
    )


def _chart(label: str, chart: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(label, size="3", as_="h2"),
            rx.box(chart, width="100%", role="img", aria_label=label),
            width="100%",
        ),
        width="100%",
    )


def overview_page() -> rx.Component:
    period = rx.form(
        rx.flex(
            rx.box(
                field("From", "start", type_="date", default_value=AdminOverviewState.start),
                width="11em",
            ),
            rx.box(
                field("To", "end", type_="date", default_value=AdminOverviewState.end),
                width="11em",
            ),
            rx.button("Show", type="submit"),
            align="end",
            spacing="3",
            wrap="wrap",
        ),
        on_submit=AdminOverviewState.choose_period,
        key=AdminOverviewState.start + AdminOverviewState.end,
        aria_label="Period",
    )
    return admin_page(
        "Overview",
        "/admin",
        period,
        rx.grid(
            rx.foreach(AdminOverviewState.figures, _figure),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="3",
            width="100%",
        ),
        _chart(
            "Registrations and images per day",
            rx.recharts.line_chart(
                rx.recharts.line(data_key="registrations", stroke="#3e63dd"),
                rx.recharts.line(data_key="images", stroke="#e5484d"),
                rx.recharts.x_axis(data_key="day"),
                rx.recharts.y_axis(),
                rx.recharts.legend(),
                rx.recharts.graphing_tooltip(),
                data=AdminOverviewState.series,
                width="100%",
                height=260,
            ),
        ),
        _chart(
            "Jobs per day",
            rx.recharts.bar_chart(
                rx.recharts.bar(data_key="generations ok", stack_id="g", fill="#30a46c"),
                rx.recharts.bar(data_key="generations failed", stack_id="g", fill="#e5484d"),
                rx.recharts.bar(data_key="trainings ok", stack_id="t", fill="#3e63dd"),
                rx.recharts.bar(data_key="trainings failed", stack_id="t", fill="#f76b15"),
                rx.recharts.x_axis(data_key="day"),
                rx.recharts.y_axis(),
                rx.recharts.legend(),
                rx.recharts.graphing_tooltip(),
                data=AdminOverviewState.series,
                width="100%",
                height=260,
            ),
        ),
    )


# --- jobs --------------------------------------------------------------------------------------


def _job_action(row: RowVar, action: str) -> rx.Component:
    """A button that opens a dialog asking the reason, then retries or cancels the job."""
    handler = AdminJobsState.retry if action == "Retry" else AdminJobsState.cancel
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button(action, size="1", variant="soft", id=f"{action.lower()}-" + row["id"])
        ),
        rx.dialog.content(
            rx.dialog.title(f"{action} job #" + row["id"]),
            rx.dialog.description(
                row["kind"] + " for " + row["user"] + ". The reason goes to the audit log.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    rx.el.input(type="hidden", name="job_id", value=row["id"]),
                    field("Reason", "reason", required=True),
                    rx.hstack(
                        rx.dialog.close(rx.button("Back", variant="soft", color_scheme="gray")),
                        rx.dialog.close(rx.button(action, type="submit", id="confirm-action")),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=handler,
                reset_on_submit=True,
            ),
        ),
    )


def _job_cells(row: RowVar) -> list[rx.Component]:
    return [
        _cell("#" + row["id"]),
        _cell(row["kind"]),
        _td(rx.badge(row["status"], variant="soft")),
        _cell(row["provider"]),
        _cell(rx.link(row["user"], href="/admin/users/" + row["user_id"])),
        _cell(row["attempts"]),
        _cell(row["credits"]),
        _cell(row["created"]),
        _td(rx.text(row["error"], size="1"), min_width="14em"),
        rx.el.td(
            rx.cond(row["status"] == "failed", _job_action(row, "Retry")),
            rx.cond(row["status"] == "queued", _job_action(row, "Cancel")),
            style=CELL,
        ),
    ]


def jobs_page() -> rx.Component:
    filters = rx.form(
        rx.flex(
            _select("Kind", "kind", list(JOB_KINDS), AdminJobsState.kind),
            _select("Status", "status", list(JOB_STATUSES), AdminJobsState.status),
            _select("Provider", "provider", AdminJobsState.providers, AdminJobsState.provider),
            rx.button("Filter", type="submit"),
            align="end",
            spacing="3",
            wrap="wrap",
        ),
        on_submit=AdminJobsState.filter,
        aria_label="Filter jobs",
    )
    return admin_page(
        "Jobs",
        "/admin/jobs",
        filters,
        table(
            "Jobs, newest first",
            [
                "Job",
                "Kind",
                "Status",
                "Provider",
                "User",
                "Attempts",
                "Credits held",
                "Created",
                "Error",
                "Action",
            ],
            AdminJobsState.rows,
            _job_cells,
            "jobs-table",
        ),
        _pager(AdminJobsState.next_before, AdminJobsState.first_page, AdminJobsState.next_page),
    )


def _pager(next_before: rx.Var[int], first: Any, following: Any) -> rx.Component:
    return rx.hstack(
        rx.button("First page", variant="soft", on_click=first),
        rx.cond(next_before != 0, rx.button("Older", variant="soft", on_click=following)),
        spacing="3",
    )


# --- users -------------------------------------------------------------------------------------


def _user_cells(row: RowVar) -> list[rx.Component]:
    return [
        _cell(rx.link(row["email"], href="/admin/users/" + row["id"])),
        *_text_cells(row, "name", "balance", "role", "state", "created"),
    ]


def users_page() -> rx.Component:
    return admin_page(
        "Users",
        "/admin/users",
        rx.form(
            rx.flex(
                field("Email contains, or #id", "query", default_value=AdminUsersState.query),
                rx.button("Search", type="submit"),
                align="end",
                spacing="3",
            ),
            on_submit=AdminUsersState.search,
            aria_label="Search users",
        ),
        table(
            "Accounts, newest first",
            ["Email", "Name", "Credits", "Role", "State", "Registered"],
            AdminUsersState.rows,
            _user_cells,
            "users-table",
        ),
    )


def _user() -> RowVar:
    return cast(RowVar, AdminUserState.user)


def _fact(label: str, key: str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label),
        rx.data_list.value(_user()[key], id=f"user-{key.replace('_', '-')}"),
    )


def _ledger_cells(row: RowVar) -> list[rx.Component]:
    return [
        *_text_cells(row, "when", "kind", "change", "balance_after"),
        _td(row["description"], min_width="14em"),
    ]


def _audit_cells(row: RowVar) -> list[rx.Component]:
    return [
        *_text_cells(row, "when", "actor", "action", "target"),
        _td(row["reason"], min_width="12em"),
        _td(row["details"], min_width="10em"),
    ]


AUDIT_HEADERS = ["When", "Admin", "Action", "Target", "Reason", "Details"]


def user_page() -> rx.Component:
    adjust = rx.form(
        rx.vstack(
            rx.heading("Adjust credits", size="4", as_="h2"),
            rx.flex(
                field("Credits (negative removes)", "delta", type_="number", required=True),
                field("Reason", "adjust-reason", required=True),
                rx.button("Adjust", type="submit", id="adjust-submit"),
                align="end",
                spacing="3",
                wrap="wrap",
            ),
        ),
        on_submit=AdminUserState.adjust,
        reset_on_submit=True,
        aria_label="Adjust credits",
    )
    block = rx.form(
        rx.vstack(
            rx.heading(
                rx.cond(AdminUserState.blocked, "Unblock account", "Block account"),
                size="4",
                as_="h2",
            ),
            rx.el.input(
                type="hidden", name="block", value=rx.cond(AdminUserState.blocked, "0", "1")
            ),
            rx.flex(
                field("Reason", "block-reason", required=True),
                rx.button(
                    rx.cond(AdminUserState.blocked, "Unblock", "Block"),
                    type="submit",
                    color_scheme=rx.cond(AdminUserState.blocked, "green", "red"),
                    id="block-submit",
                ),
                align="end",
                spacing="3",
                wrap="wrap",
            ),
        ),
        on_submit=AdminUserState.set_blocked,
        reset_on_submit=True,
        aria_label="Block or unblock",
    )
    return admin_page(
        "Account",
        "/admin/users",
        rx.card(
            rx.data_list.root(
                _fact("Email", "email"),
                _fact("Name", "name"),
                _fact("Account", "id"),
                _fact("Credits", "balance"),
                _fact("of which plan credits", "plan_credits"),
                _fact("Role", "role"),
                _fact("State", "state"),
                _fact("Spending", "spending"),
                _fact("Registered", "created"),
                orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
            ),
            width="100%",
        ),
        rx.card(adjust, width="100%"),
        rx.card(block, width="100%"),
        table(
            "Credit ledger, newest first",
            ["When", "Kind", "Change", "Balance", "Description"],
            AdminUserState.ledger,
            _ledger_cells,
            "ledger-table",
        ),
        table(
            "Admin actions on this account",
            AUDIT_HEADERS,
            AdminUserState.history,
            _audit_cells,
            "user-audit-table",
        ),
    )


# --- providers, Stripe, audit ------------------------------------------------------------------


def _provider_cells(row: RowVar) -> list[rx.Component]:
    return _text_cells(row, "window", "provider", "kind", "success", "done", "median", "p95")


def providers_page() -> rx.Component:
    return admin_page(
        "Providers",
        "/admin/providers",
        rx.text(
            "Jobs that finished in the last hour and day, by the provider that ran them; "
            "run time is the last attempt's.",
            size="2",
        ),
        table(
            "Provider health",
            ["Window", "Provider", "Kind", "Success", "Jobs", "Median time", "p95 time"],
            AdminProvidersState.rows,
            _provider_cells,
            "providers-table",
        ),
    )


def _stripe_cells(row: RowVar) -> list[rx.Component]:
    return [*_text_cells(row, "when", "type", "event"), _cell("applied")]


def stripe_page() -> rx.Component:
    return admin_page(
        "Stripe events",
        "/admin/stripe",
        rx.text(
            "Events applied exactly once, by webhook or by `photoai billing reconcile`. "
            "Refused and failed deliveries are counted in /metrics.",
            size="2",
        ),
        table(
            "Stripe events, newest first",
            ["Received", "Type", "Event id", "Outcome"],
            AdminStripeState.rows,
            _stripe_cells,
            "stripe-table",
        ),
    )


def audit_page() -> rx.Component:
    return admin_page(
        "Audit log",
        "/admin/audit",
        rx.text("Every admin action, as written at the time; nobody can edit it.", size="2"),
        table(
            "Audit log, newest first",
            AUDIT_HEADERS,
            AdminAuditState.rows,
            _audit_cells,
            "audit-table",
        ),
        _pager(AdminAuditState.next_before, AdminAuditState.first_page, AdminAuditState.next_page),
    )
