"""How the pages show dates and credit movements: one wording for every page."""

from datetime import datetime

from photoai.services import training
from photoai.services.credits import EntryView

KIND_LABELS = {
    "starter": "Welcome",
    "purchase": "Purchase",
    "plan": "Plan credits",
    "expire": "Expired",
    "hold": "Reserved",
    "capture": "Charged",
    "release": "Returned",
    "refund": "Refund",
    "adjustment": "Adjustment",
}

# Radix colour of each kind's badge: money in is green, spending violet/gray, take-backs red.
KIND_COLORS = {
    "starter": "green",
    "purchase": "green",
    "plan": "green",
    "expire": "gray",
    "hold": "amber",
    "capture": "violet",
    "release": "gray",
    "refund": "red",
    "adjustment": "blue",
}


def when(moment: datetime | None) -> str:
    """A moment to the minute; every time we store and show is UTC."""
    return moment.strftime("%d %b %Y, %H:%M UTC") if moment else ""


def photo_range() -> str:
    """How many photos a training takes, "8-30", as every page that mentions it says it."""
    low, high = training.photo_range()
    return f"{low}-{high}"


def day(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y") if moment else ""


def ledger_row(entry: EntryView) -> dict[str, str]:
    """One credit movement as the Dashboard and Billing tables show it.

    `entry` comes from `credit_history.history`, whose description is written for the user;
    the ledger's reference is never shown. A charge of reserved credits moves no balance (the
    reservation already did), so its change reads "0" and its description says what it used.
    """
    if entry.delta:
        change, tone = f"{entry.delta:+,}", ("plus" if entry.delta > 0 else "minus")
    else:
        change, tone = "0", "neutral"
    return {
        "id": str(entry.id),
        "when": when(entry.created_at),
        "kind": entry.kind,
        "label": KIND_LABELS.get(entry.kind, entry.kind.capitalize()),
        "color": KIND_COLORS.get(entry.kind, "gray"),
        "change": change,
        "tone": tone,
        "balance_after": f"{entry.balance_after:,}",
        "description": entry.description,
    }
