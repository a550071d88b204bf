"""Both storage backends: a local folder, and S3 through moto's server over real HTTP."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import botocore.auth
import httpx
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.server import ThreadedMotoServer

from photoai.services import storage as st
from photoai.services.storage import (
    InvalidKey,
    LinkCheck,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    Storage,
    get_storage,
    photo_key,
    sign_link,
    thumb_key,
    verify_link,
)
from photoai.settings import Settings

SECRET = "test-secret-for-links"
BUCKET = "photoai-test"
REGION = "eu-west-1"
KEY_ID, KEY_SECRET = "testing-key", "testing-secret"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str) -> Iterator[S3Storage]:
    settings = Settings(
        _env_file=None,
        storage_backend="s3",
        s3_bucket=BUCKET,
        s3_region=REGION,
        s3_endpoint_url=moto_endpoint,
        s3_access_key_id=KEY_ID,
        s3_secret_access_key=KEY_SECRET,
    )
    store = get_storage(settings)
    assert isinstance(store, S3Storage)
    store.client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    yield store
    store.delete_prefix("users/")
    store.client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage", SECRET, link_seconds=300)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> Storage:
    """The same behaviour is required of both backends."""
    backend: Storage = request.getfixturevalue(request.param)
    return backend


def test_keys_follow_the_layout() -> None:
    assert photo_key(7, 3, 42) == "users/7/models/3/photos/42.jpg"
    assert thumb_key(7, 3, 42) == "users/7/models/3/thumbs/42.webp"


def test_put_get_exists_delete(store: Storage) -> None:
    key = photo_key(1, 2, 3)
    assert not store.exists(key)
    store.put(key, b"\xff\xd8jpeg bytes", "image/jpeg")
    assert store.exists(key)
    assert store.get(key) == b"\xff\xd8jpeg bytes"
    store.put(key, b"replaced", "image/jpeg")
    assert store.get(key) == b"replaced"
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # deleting again is fine
    with pytest.raises(ObjectNotFound):
        store.get(key)


def test_delete_prefix_removes_one_folder_only(store: Storage) -> None:
    for photo_id in range(3):
        store.put(photo_key(1, 5, photo_id), b"a", "image/jpeg")
        store.put(thumb_key(1, 5, photo_id), b"b", "image/webp")
    store.put(photo_key(10, 5, 0), b"other user", "image/jpeg")
    store.put(photo_key(1, 50, 0), b"other model", "image/jpeg")

    assert store.delete_prefix("users/1/models/5/") == 6
    assert not store.exists(photo_key(1, 5, 0))
    assert store.exists(photo_key(10, 5, 0))
    assert store.exists(photo_key(1, 50, 0))
    assert store.delete_prefix("users/1/models/5/") == 0
    with pytest.raises(InvalidKey):
        store.delete_prefix("users/1")  # would also match users/10/...


@pytest.mark.parametrize(
    "key",
    [
        "../escape.jpg",
        "users/1/../../escape.jpg",
        "/etc/passwd",
        "users//1.jpg",
        "users/./1.jpg",
        ".hidden",
        "users/1/.env",
        "users\\1.jpg",
        "users/1.jpg\x00.png",
        "",
        "users/" + "a" * 500,
    ],
)
def test_unsafe_keys_are_refused_everywhere(store: Storage, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put(key, b"x", "image/jpeg")
    with pytest.raises(InvalidKey):
        store.get(key)
    with pytest.raises(InvalidKey):
        store.exists(key)
    with pytest.raises(InvalidKey):
        store.signed_url(key, user_id=1)


def test_local_paths_stay_inside_the_folder_even_through_a_symlink(
    local: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("private")
    local.root.mkdir(parents=True)
    (local.root / "users").symlink_to(outside)
    with pytest.raises(InvalidKey):
        local.get("users/secret.txt")
    assert local.path_for("a/b.jpg") == local.root / "a" / "b.jpg"


def test_local_writes_are_atomic_and_leave_no_temp_files(local: LocalStorage) -> None:
    key = photo_key(1, 1, 1)
    local.put(key, b"x" * 100_000, "image/jpeg")
    folder = local.path_for(key).parent
    assert [p.name for p in folder.iterdir()] == ["1.jpg"]


def test_default_storage_is_the_local_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    store = get_storage(settings)
    assert isinstance(store, LocalStorage)
    assert store.root == (tmp_path / "storage").resolve()


def test_s3_without_a_bucket_is_a_clear_configuration_error() -> None:
    settings = Settings(_env_file=None, storage_backend="s3")
    with pytest.raises(RuntimeError, match="PHOTOAI_S3_BUCKET"):
        get_storage(settings)


# --- local signed links ------------------------------------------------------------------------


def link_parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path.removeprefix("/files/"), query["exp"][0], query["sig"][0]


def test_local_link_is_bound_to_key_expiry_and_user(local: LocalStorage) -> None:
    key = photo_key(7, 1, 1)
    url = local.signed_url(key, user_id=7)
    path_key, exp, sig = link_parts(url)
    assert url.startswith("/files/users/7/")
    assert path_key == key
    assert 295 <= int(exp) - time.time() <= 300
    assert verify_link(SECRET, key, exp, sig, 7) is LinkCheck.VALID

    assert verify_link(SECRET, key, exp, sig, 8) is LinkCheck.INVALID  # another user
    assert verify_link(SECRET, key, exp, sig, None) is LinkCheck.INVALID  # nobody signed in
    assert verify_link(SECRET, photo_key(7, 1, 2), exp, sig, 7) is LinkCheck.INVALID
    assert verify_link(SECRET, key, str(int(exp) + 3600), sig, 7) is LinkCheck.INVALID
    assert verify_link("another-secret", key, exp, sig, 7) is LinkCheck.INVALID
    assert verify_link(SECRET, key, "-1", sig, 7) is LinkCheck.INVALID
    assert verify_link(SECRET, key, "²", sig, 7) is LinkCheck.INVALID  # a digit, not ASCII
    assert verify_link(SECRET, key, exp, sig + "A", 7) is LinkCheck.INVALID


def test_a_link_signed_for_another_user_does_not_open_for_the_first(local: LocalStorage) -> None:
    key = photo_key(7, 1, 1)
    exp = str(int(time.time()) + 60)
    for_b = sign_link(SECRET, key, int(exp), 8)
    assert verify_link(SECRET, key, exp, for_b, 8) is LinkCheck.VALID
    assert verify_link(SECRET, key, exp, for_b, 7) is LinkCheck.INVALID


def test_genuine_link_past_its_time_is_expired_not_invalid(local: LocalStorage) -> None:
    key = photo_key(7, 1, 1)
    _, exp, sig = link_parts(local.signed_url(key, user_id=7, expires_in=30))
    assert verify_link(SECRET, key, exp, sig, 7, now=int(exp) - 1) is LinkCheck.VALID
    assert verify_link(SECRET, key, exp, sig, 7, now=int(exp)) is LinkCheck.EXPIRED


# --- S3 specifics --------------------------------------------------------------------------------


def test_s3_objects_are_private(s3: S3Storage, moto_endpoint: str) -> None:
    key = photo_key(1, 1, 1)
    s3.put(key, b"private face", "image/jpeg")
    anonymous = httpx.get(f"{moto_endpoint}/{BUCKET}/{key}")
    assert anonymous.status_code == 403
    assert b"private face" not in anonymous.content
    grants = s3.client.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
    assert [g["Grantee"]["Type"] for g in grants] == ["CanonicalUser"]
    assert s3.client.head_object(Bucket=BUCKET, Key=key)["ContentType"] == "image/jpeg"


def test_s3_presigned_get_works_over_http(s3: S3Storage, moto_endpoint: str) -> None:
    key = thumb_key(1, 1, 1)
    s3.put(key, b"RIFF....WEBP", "image/webp")
    url = s3.signed_url(key, user_id=1)
    # A custom endpoint (R2, MinIO) gets path-style addressing.
    assert url.startswith(f"{moto_endpoint}/{BUCKET}/{key}?")
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"RIFF....WEBP"
    assert response.headers["content-type"] == "image/webp"


def test_s3_presigned_put_uploads_with_the_signed_content_type_and_length(s3: S3Storage) -> None:
    key = photo_key(1, 1, 9)
    url = s3.presigned_put_url(key, "image/jpeg", len(b"uploaded"))
    assert httpx.put(url, content=b"uploaded", headers={"Content-Type": "image/jpeg"}).is_success
    assert s3.get(key) == b"uploaded"
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["300"]
    # S3 refuses a PUT whose headers differ from the signed ones.
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]


def test_s3_links_stay_the_same_within_a_window_and_carry_cache_headers(
    s3: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CDN or a browser can cache a link only if the page hands out the same one again."""
    key = thumb_key(1, 1, 2)
    s3.put(key, b"RIFF....WEBP", "image/webp")
    start = 1_900_000_200  # a window boundary for 300 s links
    clock = [start + 10.0]
    monkeypatch.setattr(st.s3_links.time, "time", lambda: clock[0])
    first = s3.signed_url(key, user_id=1)
    clock[0] = start + 299.0
    assert s3.signed_url(key, user_id=1) == first
    clock[0] = start + 300.0
    following = s3.signed_url(key, user_id=1)
    assert following != first
    query = {k: v[0] for k, v in parse_qs(urlsplit(first).query).items()}
    stated = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert stated.timestamp() == start
    # Stated life: two windows, so a link handed out at a window's end still lives 300 s.
    assert query["X-Amz-Expires"] == "600"
    assert query["response-cache-control"] == "public, max-age=300, immutable"
    assert resign(first, 600) == query["X-Amz-Signature"]  # the cache header is signed in
    monkeypatch.undo()
    response = httpx.get(s3.signed_url(key, user_id=1))
    assert response.status_code == 200
    assert response.content == b"RIFF....WEBP"
    assert response.headers["cache-control"] == "public, max-age=300, immutable"


def test_s3_links_with_their_own_life_are_not_windowed(s3: S3Storage) -> None:
    url = s3.signed_url(photo_key(1, 1, 1), user_id=1, expires_in=3600)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["3600"]
    assert "response-cache-control" not in query


def test_s3_ranged_read_stops_at_the_limit(s3: S3Storage) -> None:
    key = photo_key(1, 1, 3)
    s3.put(key, b"0123456789", "image/jpeg")
    assert s3.get_prefix_bytes(key, 4) == b"0123"
    assert s3.get_prefix_bytes(key, 100) == b"0123456789"
    assert s3.size(key) == 10
    with pytest.raises(ObjectNotFound):
        s3.size(photo_key(1, 1, 4))


def resign(url: str, expires: int) -> str:
    """Sign the URL's request again, as S3 checks it, at the time the URL itself states."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    stamp = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    unsigned = {k: v for k, v in query.items() if not k.startswith("X-Amz-")}
    request = AWSRequest(
        method="GET", url=f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(unsigned)}"
    )
    auth = botocore.auth.S3SigV4QueryAuth(
        Credentials(KEY_ID, KEY_SECRET), "s3", REGION, expires=expires
    )
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: stamp.replace(tzinfo=None)
    try:
        auth.add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original
    return str(parse_qs(urlsplit(request.url).query)["X-Amz-Signature"][0])


def test_s3_presigned_get_expires(s3: S3Storage) -> None:
    """The link states a short life and its signature covers it, so it cannot be stretched.

    S3 refuses the link once X-Amz-Date + X-Amz-Expires has passed. moto (5.2) does not
    enforce presigned expiry at all, so instead of waiting for a refusal that would never
    come we prove the URL carries the short expiry under a valid signature.
    """
    key = photo_key(1, 1, 1)
    s3.put(key, b"x", "image/jpeg")
    url = s3.signed_url(key, user_id=1, expires_in=60)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["X-Amz-Expires"] == "60"
    stated = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(stated.timestamp() - time.time()) < 60
    assert resign(url, 60) == query["X-Amz-Signature"]
    assert resign(url, 3600) != query["X-Amz-Signature"]  # a longer life needs our secret


def test_s3_delete_prefix_works_in_batches(s3: S3Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(st, "_S3_DELETE_BATCH", 2)
    for photo_id in range(5):
        s3.put(photo_key(3, 1, photo_id), b"a", "image/jpeg")
    assert s3.delete_prefix("users/3/") == 5
    assert s3.client.list_objects_v2(Bucket=BUCKET, Prefix="users/3/")["KeyCount"] == 0
