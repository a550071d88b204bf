from datetime import UTC, datetime

from photoai.services.credits import EntryView
from photoai.state.display import ledger_row, when

MOMENT = datetime(2026, 11, 24, 15, 7, tzinfo=UTC)


def entry(kind: str, amount: int, delta: int) -> EntryView:
    return EntryView(
        id=7,
        kind=kind,
        amount=amount,
        delta=delta,
        balance_after=1234,
        reference="job:7",
        description="Training",
        created_at=MOMENT,
    )


def test_movements_read_the_same_on_every_page() -> None:
    assert ledger_row(entry("purchase", 50, 50))["change"] == "+50"
    held = ledger_row(entry("hold", 30, -30))
    assert (held["change"], held["tone"], held["label"]) == ("-30", "minus", "Reserved")
    charged = ledger_row(entry("capture", 4, 0))
    assert (charged["change"], charged["tone"], charged["label"]) == ("0", "neutral", "Charged")
    assert "reference" not in charged, "idempotency references are not for users"
    assert charged["balance_after"] == "1,234"
    assert ledger_row(entry("mystery", 1, 1))["label"] == "Mystery"


def test_times_say_they_are_utc() -> None:
    assert when(MOMENT) == "24 Nov 2026, 15:07 UTC"
    assert when(None) == ""
