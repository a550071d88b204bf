from photoai.services.billing.catalog import Plan
from photoai.state.billing import _pool_text, _rollover_text

RESET = Plan(id="r", name="R", monthly_credits=120, price_cents=1, rollover="reset")
KEEP = Plan(id="k", name="K", monthly_credits=400, price_cents=1, rollover_cap=400)


def test_the_plan_card_says_what_happens_to_unused_credits() -> None:
    assert _pool_text(RESET, 60) == "60 plan credits left; they expire at renewal."
    assert _pool_text(KEEP, 300) == "300 plan credits left; they carry over at renewal."
    assert _pool_text(KEEP, 800) == (
        "800 plan credits left; up to 400 carry over at renewal, the rest expire."
    )
    assert _pool_text(RESET, 0) == "" and _pool_text(None, 60) == ""


def test_plan_offers_state_the_rollover_rule() -> None:
    assert "unused plan credits expire at renewal" in _rollover_text(RESET)
    assert "up to 400 unused plan credits carry over" in _rollover_text(KEEP)
    assert "Pack credits never expire" in _rollover_text(RESET)
