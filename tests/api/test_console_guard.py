"""`/admin...` answers 404 before anything is served, unless the request's own session
cookie belongs to an admin."""

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from photoai.api.console_guard import ConsoleGuard
from photoai.settings import get_settings
from tests.factories import make_user
from tests.services.admin.support import make_admin, sign_in


async def _page(_request: object) -> PlainTextResponse:
    return PlainTextResponse("the page")


@pytest.fixture
def client(sqlite_db: str) -> Iterator[TestClient]:
    app = Starlette(routes=[Route("/{path:path}", _page)], middleware=[Middleware(ConsoleGuard)])
    with TestClient(app) as test_client:
        yield test_client


def test_console_paths_are_not_found_except_for_admins(client: TestClient) -> None:
    cookie = get_settings().session_cookie_name
    paths = ["/admin", "/admin/", "/admin/jobs", "/admin/users/3", "/admin.html"]
    for token in (None, "forged", sign_in(make_user())):
        client.cookies.clear()
        if token:
            client.cookies.set(cookie, token)
        for path in paths:
            answer = client.get(path)
            assert (answer.status_code, path) == (404, path)
            assert "could not be found" in answer.text
    client.cookies.set(cookie, sign_in(make_admin()))
    assert all(client.get(path).text == "the page" for path in paths)


def test_other_paths_are_left_alone(client: TestClient) -> None:
    client.cookies.clear()
    for path in ("/", "/dashboard", "/administration", "/models/admin"):
        assert client.get(path).text == "the page"
