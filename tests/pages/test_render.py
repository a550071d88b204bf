"""Every page builds and renders to a component tree: compile errors show here in seconds,
long before a browser journey would start the server."""

import pytest

from photoai.routes import PAGES, PageRoute


@pytest.mark.parametrize("route", PAGES, ids=lambda r: r.path)
def test_page_renders(route: PageRoute) -> None:
    rendered = route.page().render()
    assert rendered["name"]  # a real element tree, not an empty fragment


def test_every_route_is_unique() -> None:
    assert len({route.path for route in PAGES}) == len(PAGES)


def test_billing_page_speaks_to_users_not_operators() -> None:
    """With billing off the page says so plainly; setting names are for the operator's docs."""
    billing = next(route for route in PAGES if route.path == "/billing")
    text = str(billing.page().render())
    assert "Buying credits isn" in text and "t available on this server." in text
    assert "PHOTOAI_" not in text and "STRIPE_SECRET" not in text
