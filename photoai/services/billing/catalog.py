"""What billing sells: credit packs and monthly plans.

The models live apart from settings.py so settings only holds configured values, while services
and pages import the shapes without pulling in the settings machinery. Operators override the
defaults with JSON in `PHOTOAI_CREDIT_PACKS` / `PHOTOAI_PLANS`.
"""

from typing import Annotated, Literal, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, Field

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class CreditPack(BaseModel):
    """A one-off purchase. Without a Stripe price id, checkout sends the price inline."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1, max_length=60)
    credits: int = Field(gt=0)
    price_cents: int = Field(gt=0)
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    stripe_price_id: str = ""


class Plan(BaseModel):
    """A monthly subscription; each paid invoice adds `monthly_credits` to the plan pool.

    At each renewal the plan credits still unused expire ("reset"), or up to `rollover_cap` of
    them carry over ("rollover"). Credits from packs never expire.
    """

    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1, max_length=60)
    monthly_credits: int = Field(gt=0)
    price_cents: int = Field(gt=0)
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    stripe_price_id: str = ""
    rollover: Literal["reset", "rollover"] = "rollover"
    rollover_cap: int = Field(default=0, ge=0)

    @property
    def kept_credits(self) -> int:
        """The most unused plan credits a renewal carries over."""
        return self.rollover_cap if self.rollover == "rollover" else 0


class _HasId(Protocol):
    id: str


_T = TypeVar("_T", bound=_HasId)


def _unique_ids(items: list[_T]) -> list[_T]:
    """Ids end up in Stripe metadata and URLs: two items with one id would be ambiguous."""
    ids = [item.id for item in items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate ids: {', '.join(duplicates)}")
    return items


CreditPacks = Annotated[list[CreditPack], AfterValidator(_unique_ids)]
Plans = Annotated[list[Plan], AfterValidator(_unique_ids)]


def default_packs() -> list[CreditPack]:
    return [
        CreditPack(id="starter", name="Starter", credits=50, price_cents=500),
        CreditPack(id="studio", name="Studio", credits=150, price_cents=1200),
        CreditPack(id="agency", name="Agency", credits=400, price_cents=2900),
    ]


def default_plans() -> list[Plan]:
    return [
        Plan(id="creator", name="Creator", monthly_credits=120, price_cents=1200, rollover="reset"),
        Plan(
            id="pro",
            name="Pro",
            monthly_credits=400,
            price_cents=3500,
            rollover="rollover",
            rollover_cap=400,
        ),
    ]
