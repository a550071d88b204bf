"""Direct uploads: a ticket, a PUT straight to the bucket (moto's server over HTTP), the check."""

from collections.abc import Iterator

import httpx
import pytest
import redis
from moto.server import ThreadedMotoServer
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from photoai.api import upload_routes
from photoai.db import session_scope
from photoai.models import TrainingPhoto
from photoai.services import accounts, training
from photoai.services.storage import S3Storage, get_storage
from photoai.settings import get_settings
from tests import photos
from tests.factories import make_user
from tests.training_support import training_settings

BUCKET = "photoai-direct"
LIMIT = 600_000


def sign_in(user_id: int) -> str:
    ticket = accounts.create_login_ticket(user_id, "/dashboard")
    return accounts.redeem_login_ticket(ticket, "pytest", "127.0.0.1").token


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(
    pg: str, redis_conn: redis.Redis, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3Storage]:
    training_settings(monkeypatch)
    for name, value in {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": BUCKET,
        "S3_REGION": "eu-west-1",
        "S3_ENDPOINT_URL": moto_endpoint,
        "S3_ACCESS_KEY_ID": "testing",
        "S3_SECRET_ACCESS_KEY": "testing",
        "MAX_UPLOAD_BYTES": str(LIMIT),
    }.items():
        monkeypatch.setenv(f"PHOTOAI_{name}", value)
    get_settings.cache_clear()
    store = get_storage()
    assert isinstance(store, S3Storage)
    store.client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    yield store
    store.delete_prefix("users/")
    store.client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def client(s3: S3Storage) -> Iterator[TestClient]:
    with TestClient(Starlette(routes=upload_routes.routes)) as test_client:
        yield test_client


def as_user(client: TestClient, user_id: int | None) -> TestClient:
    client.cookies.clear()
    if user_id is not None:
        client.cookies.set(get_settings().session_cookie_name, sign_in(user_id))
    return client


def ticket_for(client: TestClient, model_id: int, size: int) -> httpx.Response:
    return client.post(
        upload_routes.TICKET_ROUTE,
        json={"model_id": model_id, "size": size, "content_type": "image/jpeg"},
    )


def incoming(s3: S3Storage) -> list[str]:
    listed = s3.client.list_objects_v2(Bucket=BUCKET, Prefix="users/")
    return [item["Key"] for item in listed.get("Contents", []) if "/incoming/" in item["Key"]]


def test_browser_puts_the_photo_in_the_bucket_and_the_check_reads_it_from_there(
    client: TestClient, s3: S3Storage
) -> None:
    user_id = make_user()
    model_id = training.create_draft(user_id, "Me", "woman")
    data = photos.one_person_jpegs()[0]
    answer = ticket_for(as_user(client, user_id), model_id, len(data))
    assert answer.status_code == 200, answer.text
    ticket = answer.json()
    assert ticket["key"].startswith(f"users/{user_id}/models/{model_id}/incoming/")
    assert answer.headers["cache-control"] == "no-store"
    # The browser's PUT goes to the bucket, not to us.
    put = httpx.put(ticket["url"], content=data, headers=ticket["headers"])
    assert put.status_code == 200
    done = client.post(
        upload_routes.DONE_ROUTE,
        json={"model_id": model_id, "key": ticket["key"], "filename": "C:\\me\\IMG_1.jpg"},
    )
    assert done.status_code == 200, done.text
    photo = done.json()["photo"]
    assert (photo["accepted"], photo["filename"]) == (True, "IMG_1.jpg")
    with session_scope() as s:
        row = s.execute(
            select(TrainingPhoto).where(col(TrainingPhoto.id) == photo["id"])
        ).scalar_one()
        stored_key = row.storage_key
    assert s3.get(stored_key)[:3] == b"\xff\xd8\xff"  # the training copy, a JPEG
    assert incoming(s3) == [], "the uploaded object is removed once checked"


def test_refused_photo_is_reported_and_its_upload_removed(
    client: TestClient, s3: S3Storage
) -> None:
    user_id = make_user()
    model_id = training.create_draft(user_id, "Me", "woman")
    data = photos.cat_photo()
    ticket = ticket_for(as_user(client, user_id), model_id, len(data)).json()
    assert httpx.put(ticket["url"], content=data, headers=ticket["headers"]).is_success
    done = client.post(
        upload_routes.DONE_ROUTE,
        json={"model_id": model_id, "key": ticket["key"], "filename": "cat.jpg"},
    )
    assert done.status_code == 200
    assert done.json()["photo"]["accepted"] is False
    assert "no face" in done.json()["photo"]["reason"]
    assert incoming(s3) == []


def test_another_users_key_or_model_is_refused_and_nothing_changes(
    client: TestClient, s3: S3Storage
) -> None:
    owner, intruder = make_user(), make_user()
    model_id = training.create_draft(owner, "Mine", "woman")
    data = photos.one_person_jpegs()[1]
    ticket = ticket_for(as_user(client, owner), model_id, len(data)).json()
    assert httpx.put(ticket["url"], content=data, headers=ticket["headers"]).is_success
    as_user(client, intruder)
    # A ticket for someone else's model.
    refused = ticket_for(client, model_id, len(data))
    assert (refused.status_code, refused.json()["error"]) == (422, "Model not found.")
    # The owner's uploaded key, claimed for the owner's model or for the intruder's own one.
    own_model = training.create_draft(intruder, "Theirs", "woman")
    for claimed in (model_id, own_model):
        done = client.post(
            upload_routes.DONE_ROUTE,
            json={"model_id": claimed, "key": ticket["key"], "filename": "x.jpg"},
        )
        assert done.status_code == 422
    assert incoming(s3) == [ticket["key"]], "the owner's upload is untouched"
    assert training.get_model(owner, model_id).photos == ()
    assert training.get_model(intruder, own_model).photos == ()
    # Keys that climb out of the folder are refused the same way.
    done = client.post(
        upload_routes.DONE_ROUTE,
        json={
            "model_id": own_model,
            "key": f"users/{intruder}/models/{own_model}/incoming/../../../../{owner}/x.jpg",
            "filename": "x.jpg",
        },
    )
    assert done.json()["error"] == "That upload does not belong to this model."


def test_oversized_uploads_are_refused_before_and_after_the_put(
    client: TestClient, s3: S3Storage
) -> None:
    user_id = make_user()
    model_id = training.create_draft(user_id, "Me", "woman")
    as_user(client, user_id)
    too_big = ticket_for(client, model_id, LIMIT + 1)
    assert too_big.status_code == 422
    assert "limit for one photo" in too_big.json()["error"]
    # A store that does not enforce the signed length (moto does not) takes a larger body:
    # the check refuses it without reading it and deletes it.
    ticket = ticket_for(client, model_id, 1000).json()
    big = b"\xff\xd8\xff" + b"\0" * (LIMIT + 10)
    assert httpx.put(ticket["url"], content=big, headers=ticket["headers"]).is_success
    done = client.post(
        upload_routes.DONE_ROUTE,
        json={"model_id": model_id, "key": ticket["key"], "filename": "huge.jpg"},
    )
    assert done.status_code == 422
    assert "limit for one photo" in done.json()["error"]
    assert incoming(s3) == []
    assert training.get_model(user_id, model_id).photos == ()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model_id": "1", "size": 10, "content_type": "image/jpeg"}, 400),
        ({"model_id": 1, "size": True, "content_type": "image/jpeg"}, 400),
        ({"model_id": 1, "size": 10, "content_type": "text/html"}, 422),
        ({"model_id": 1, "size": 0, "content_type": "image/jpeg"}, 400),
        ([1, 2], 400),
    ],
)
def test_bad_requests_get_a_clear_error(
    client: TestClient, s3: S3Storage, body: object, status: int
) -> None:
    user_id = make_user()
    training.create_draft(user_id, "Me", "woman")
    answer = as_user(client, user_id).post(upload_routes.TICKET_ROUTE, json=body)
    assert answer.status_code == status
    assert answer.json()["error"]
    assert incoming(s3) == []


def test_signed_out_and_non_json_requests_are_refused(client: TestClient) -> None:
    user_id = make_user()
    model_id = training.create_draft(user_id, "Me", "woman")
    assert ticket_for(as_user(client, None), model_id, 10).status_code == 403
    form = as_user(client, user_id).post(
        upload_routes.TICKET_ROUTE, data={"model_id": str(model_id), "size": "10"}
    )
    assert form.status_code == 400


def test_no_direct_uploads_with_local_storage(
    pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_STORAGE_BACKEND", "local")
    get_settings.cache_clear()
    user_id = make_user()
    with TestClient(Starlette(routes=upload_routes.routes)) as client:
        answer = ticket_for(as_user(client, user_id), 1, 10)
    assert answer.status_code == 404
