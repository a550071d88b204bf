"""`/api/gallery/zip` over HTTP with a real session cookie, and the gallery's download links."""

import io
import os
import zipfile
from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from photoai.api import files, gallery_routes
from photoai.services import accounts, gallery
from photoai.services.storage import get_storage
from photoai.settings import get_settings
from tests.factories import make_user
from tests.services.test_gallery import T0, add_image


def sign_in(user_id: int) -> str:
    ticket = accounts.create_login_ticket(user_id, "/gallery")
    return accounts.redeem_login_ticket(ticket, "pytest", "127.0.0.1").token


@pytest.fixture
def client(sqlite_db: str) -> Iterator[TestClient]:
    app = Starlette(routes=[*gallery_routes.routes, *files.routes])
    with TestClient(app) as test_client:
        yield test_client


def as_user(client: TestClient, user_id: int | None) -> TestClient:
    client.cookies.clear()
    if user_id is not None:
        client.cookies.set(get_settings().session_cookie_name, sign_in(user_id))
    return client


def zip_url(image_ids: list[int]) -> str:
    return f"/api/gallery/zip?ids={','.join(map(str, image_ids))}"


def test_zip_holds_the_stored_originals(client: TestClient) -> None:
    user = make_user()
    image_ids = [add_image(user, style_id="noir", data=os.urandom(150_000)) for _ in range(3)]
    response = as_user(client, user).get(zip_url(image_ids))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="photoai-images.zip"'
    assert response.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    storage = get_storage()
    assert archive.namelist() == [f"photoai-{i}-noir.jpg" for i in image_ids]
    for image_id in image_ids:
        expected = storage.get(f"users/{user}/images/{image_id}.jpg")
        assert archive.read(f"photoai-{image_id}-noir.jpg") == expected


def test_another_users_ids_make_the_whole_request_404(client: TestClient) -> None:
    me, other = make_user(), make_user()
    mine, theirs = add_image(me), add_image(other)
    response = as_user(client, me).get(zip_url([mine, theirs]))
    assert response.status_code == 404
    assert str(theirs) not in response.text
    assert as_user(client, me).get(zip_url([987654])).status_code == 404


def test_no_session_is_401(client: TestClient) -> None:
    user = make_user()
    image = add_image(user)
    assert as_user(client, None).get(zip_url([image])).status_code == 401
    client.cookies.set(get_settings().session_cookie_name, "forged-token")
    assert client.get(zip_url([image])).status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?ids=",
        "?ids=1,,2",
        "?ids=1,x",
        "?ids=-1",
        "?ids=1.5",
        "?ids=" + "9" * 19,
        "?ids=" + ",".join(str(n) for n in range(1, 202)),
    ],
)
def test_malformed_or_too_many_ids_are_400(client: TestClient, query: str) -> None:
    user = make_user()
    assert as_user(client, user).get(f"/api/gallery/zip{query}").status_code == 400


def test_repeated_ids_give_one_entry(client: TestClient) -> None:
    user = make_user()
    image = add_image(user)
    response = as_user(client, user).get(zip_url([image, image]))
    assert zipfile.ZipFile(io.BytesIO(response.content)).namelist() == [f"photoai-{image}.jpg"]


def test_download_link_saves_the_original_as_an_attachment(client: TestClient) -> None:
    user = make_user()
    image = add_image(user, style_id="noir", data=b"original bytes")
    view = gallery.get_image(user, image)
    response = as_user(client, user).get(view.download_url)
    assert response.status_code == 200
    assert response.content == b"original bytes"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="photoai-{image}-noir.jpg"'
    # The plain link still shows the file inline, as before.
    assert "content-disposition" not in client.get(view.original_url).headers
    # A name a browser could misread falls back to the stored file's own name.
    odd = client.get(view.original_url + "&download=../x%22.jpg")
    assert odd.headers["content-disposition"] == f'attachment; filename="{image}.jpg"'


# --- /api/gallery/page -------------------------------------------------------------------------


def page_of(client: TestClient, query: str = "") -> dict[str, object]:
    response = client.get(f"/api/gallery/page{query}")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert isinstance(body, dict)
    return body


def test_pages_walk_the_users_pictures_with_their_cursors(client: TestClient) -> None:
    user = make_user()
    made = [add_image(user, at=T0 + timedelta(seconds=n)) for n in range(5)]
    as_user(client, user)
    first = page_of(client, "?limit=2")
    assert [i["id"] for i in first["items"]] == [str(made[4]), str(made[3])]  # type: ignore[union-attr]
    seen = [i["id"] for i in first["items"]]  # type: ignore[union-attr]
    cursor = first["next"]
    while cursor is not None:
        body = page_of(client, f"?limit=2&cursor={cursor}")
        seen += [i["id"] for i in body["items"]]  # type: ignore[union-attr]
        cursor = body["next"]
    assert seen == [str(i) for i in reversed(made)]


def test_a_page_holds_only_what_a_tile_shows(client: TestClient) -> None:
    user = make_user()
    image = add_image(user, favourite=True)
    item = page_of(as_user(client, user))["items"][0]  # type: ignore[index]
    assert set(item) == {"id", "thumb", "alt", "favourite", "flagged", "likeness"}
    assert item["id"] == str(image)
    assert item["favourite"] is True
    assert client.get(item["thumb"]).status_code == 200


def test_filters_and_likeness_sort_reach_the_query(client: TestClient) -> None:
    user = make_user()
    noir = add_image(user, style_id="noir")
    add_image(user, style_id="beach")
    favourite = add_image(user, favourite=True)
    as_user(client, user)
    assert [i["id"] for i in page_of(client, "?style=noir")["items"]] == [str(noir)]  # type: ignore[union-attr]
    assert [i["id"] for i in page_of(client, "?favourites=1")["items"]] == [str(favourite)]  # type: ignore[union-attr]
    assert len(page_of(client, "?sort=likeness&hide_not_you=1")["items"]) == 3  # type: ignore[arg-type]


def test_another_users_pictures_never_come_back(client: TestClient) -> None:
    me, other = make_user(), make_user()
    mine = add_image(me, at=T0)
    theirs = [add_image(other, at=T0 + timedelta(seconds=n)) for n in range(3)]
    their_cursor = page_of(as_user(client, other), "?limit=1")["next"]
    assert their_cursor is not None
    as_user(client, me)
    items = page_of(client, f"?limit=100&cursor={their_cursor}")["items"]
    assert [i["id"] for i in items] == [str(mine)]  # type: ignore[union-attr]
    everything = page_of(client, "?limit=100")["items"]
    assert not {i["id"] for i in everything} & {str(t) for t in theirs}  # type: ignore[union-attr]


def test_no_session_is_401_for_pages(client: TestClient) -> None:
    add_image(make_user())
    response = as_user(client, None).get("/api/gallery/page")
    assert response.status_code == 401
    assert "items" not in response.json()
    client.cookies.set(get_settings().session_cookie_name, "forged-token")
    assert client.get("/api/gallery/page").status_code == 401


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=100000000000000000000", "limit"),
        ("?limit=-3", "limit"),
        ("?limit=ten", "limit"),
        ("?limit=1.5", "limit"),
        ("?sort=oldest", "sort"),
        ("?model=abc", "model"),
        ("?model=-1", "model"),
        ("?model=" + "9" * 19, "model"),
        ("?style=" + "x" * 65, "style"),
        ("?favourites=yes", "favourites"),
        ("?hide_not_you=2", "hide_not_you"),
        ("?cursor=garbage!", "cursor"),
        ("?cursor=" + "x" * 65, "cursor"),
        ("?sort=likeness&cursor=MTIzOjQ", "cursor"),  # a newest-first cursor
    ],
)
def test_bad_page_requests_are_400_and_say_why(client: TestClient, query: str, says: str) -> None:
    user = make_user()
    add_image(user)
    response = as_user(client, user).get(f"/api/gallery/page{query}")
    assert response.status_code == 400
    assert says in response.json()["error"].lower()
