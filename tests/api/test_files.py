"""`/files/{key}`: local private files, only for the signed-in user a link was made for."""

import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from photoai.api import files
from photoai.services import accounts
from photoai.services.storage import LocalStorage, get_storage, photo_key, sign_link, thumb_key
from photoai.settings import get_settings
from tests import photos
from tests.factories import make_user


def sign_in(user_id: int) -> str:
    ticket = accounts.create_login_ticket(user_id, "/dashboard")
    return accounts.redeem_login_ticket(ticket, "pytest", "127.0.0.1").token


@pytest.fixture
def store(sqlite_db: str) -> LocalStorage:
    backend = get_storage()
    assert isinstance(backend, LocalStorage)
    return backend


@pytest.fixture
def client(sqlite_db: str) -> Iterator[TestClient]:
    with TestClient(Starlette(routes=files.routes)) as test_client:
        yield test_client


def as_user(client: TestClient, token: str | None) -> TestClient:
    client.cookies.clear()
    if token:
        client.cookies.set(get_settings().session_cookie_name, token)
    return client


@pytest.fixture
def owner_photo(store: LocalStorage) -> tuple[int, str, bytes]:
    user_id = make_user()
    key = photo_key(user_id, 1, 1)
    data = photos.training_jpegs()[0]
    store.put(key, data, "image/jpeg")
    return user_id, key, data


def test_owner_gets_the_file_with_private_caching(
    client: TestClient, store: LocalStorage, owner_photo: tuple[int, str, bytes]
) -> None:
    user_id, key, data = owner_photo
    response = as_user(client, sign_in(user_id)).get(store.signed_url(key, user_id))
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/jpeg"
    cache = response.headers["cache-control"]
    assert cache.startswith("private, max-age=")
    assert 0 < int(cache.rsplit("=", 1)[1]) <= get_settings().signed_url_seconds
    assert response.headers["x-content-type-options"] == "nosniff"


def test_thumbnails_are_served_as_webp(client: TestClient, store: LocalStorage) -> None:
    user_id = make_user()
    key = thumb_key(user_id, 1, 1)
    store.put(key, b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp")
    response = as_user(client, sign_in(user_id)).get(store.signed_url(key, user_id))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"


def test_nobody_signed_in_is_forbidden(
    client: TestClient, store: LocalStorage, owner_photo: tuple[int, str, bytes]
) -> None:
    user_id, key, _ = owner_photo
    assert as_user(client, None).get(store.signed_url(key, user_id)).status_code == 403
    assert as_user(client, "forged-token").get(store.signed_url(key, user_id)).status_code == 403


def test_a_link_for_user_a_does_not_work_for_user_b(
    client: TestClient, store: LocalStorage, owner_photo: tuple[int, str, bytes]
) -> None:
    owner, key, _ = owner_photo
    other = make_user()
    link_for_owner = store.signed_url(key, owner)
    assert as_user(client, sign_in(other)).get(link_for_owner).status_code == 403
    # A link re-signed for B only ever opens in B's session, never in A's.
    link_for_other = store.signed_url(key, other)
    assert as_user(client, sign_in(owner)).get(link_for_other).status_code == 403


def test_tampered_links_are_forbidden(
    client: TestClient, store: LocalStorage, owner_photo: tuple[int, str, bytes]
) -> None:
    user_id, key, _ = owner_photo
    as_user(client, sign_in(user_id))
    url = store.signed_url(key, user_id)
    path, query = url.split("?")
    exp = int(query.split("exp=")[1].split("&")[0])
    sig = query.split("sig=")[1]
    assert client.get(f"{path}?exp={exp + 3600}&sig={sig}").status_code == 403
    assert client.get(f"{path}?exp={exp}&sig={sig[:-2]}xx").status_code == 403
    assert client.get(f"{path}?exp={exp}").status_code == 403
    assert client.get(path).status_code == 403
    other_key = photo_key(user_id, 1, 2)
    store.put(other_key, b"another photo", "image/jpeg")
    assert client.get(f"/files/{other_key}?{query}").status_code == 403


def test_expired_link_is_gone(
    client: TestClient, store: LocalStorage, owner_photo: tuple[int, str, bytes]
) -> None:
    user_id, key, _ = owner_photo
    exp = int(time.time()) - 1
    sig = sign_link(get_settings().signing_key, key, exp, user_id)
    response = as_user(client, sign_in(user_id)).get(f"/files/{key}?exp={exp}&sig={sig}")
    assert response.status_code == 410


def test_revoked_session_loses_access(
    client: TestClient, store: LocalStorage, owner_photo: tuple[int, str, bytes]
) -> None:
    user_id, key, _ = owner_photo
    token = sign_in(user_id)
    url = store.signed_url(key, user_id)
    assert as_user(client, token).get(url).status_code == 200
    accounts.revoke_session(token)
    assert as_user(client, token).get(url).status_code == 403


def test_missing_file_is_not_found(client: TestClient, store: LocalStorage) -> None:
    user_id = make_user()
    url = store.signed_url(photo_key(user_id, 1, 404), user_id)
    assert as_user(client, sign_in(user_id)).get(url).status_code == 404


@pytest.mark.parametrize("key", ["../photoai.db", "users/../../photoai.db", ".env"])
def test_even_a_validly_signed_traversal_reaches_nothing(
    client: TestClient, store: LocalStorage, key: str
) -> None:
    """Even with a genuine signature, a key that leaves the storage folder is never opened."""
    user_id = make_user()
    exp = int(time.time()) + 60
    sig = sign_link(get_settings().signing_key, key, exp, user_id)
    as_user(client, sign_in(user_id))
    response = client.get(f"/files/{quote(key, safe='')}?exp={exp}&sig={sig}")
    assert response.status_code == 404
    assert b"SQLite" not in response.content


def test_nothing_to_serve_when_storage_is_s3(
    client: TestClient, owner_photo: tuple[int, str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, key, _ = owner_photo
    exp = int(time.time()) + 60
    sig = sign_link(get_settings().signing_key, key, exp, user_id)
    monkeypatch.setenv("PHOTOAI_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("PHOTOAI_S3_BUCKET", "bucket")
    monkeypatch.setenv("PHOTOAI_S3_REGION", "eu-west-1")
    get_settings.cache_clear()
    response = as_user(client, sign_in(user_id)).get(f"/files/{key}?exp={exp}&sig={sig}")
    assert response.status_code == 404
