"""`/api/gallery/zip` over HTTP with a real session cookie, and the gallery's download links."""

import io
import os
import zipfile
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from photoai.api import files, gallery_routes
from photoai.services import accounts, gallery
from photoai.services.storage import get_storage
from photoai.settings import get_settings
from tests.factories import make_user
from tests.services.test_gallery import add_image


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
