"""Provider webhooks: signatures over the raw body, exactly-once effects, unknown ids ignored.

Most tests post through Starlette's TestClient; the last one serves the routes with granian
over real HTTP, where the fake fal downloads the photos from our provider link and delivers its
own signed webhook.
"""

import json
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.testclient import TestClient

from photoai.api import files, training_webhooks
from photoai.models import ProcessedEvent
from photoai.providers import fal_trainer
from photoai.services import credits, training, training_runs
from photoai.services.storage import get_storage, photo_key
from photoai.services.training_runs import provider_files_url
from photoai.settings import get_settings
from tests.factories import make_user
from tests.fakes.fal_server import FakeFal
from tests.fakes.replicate_server import FakeReplicate
from tests.local_servers import free_port, served_by_granian
from tests.training_support import (
    MIN_PHOTOS,
    captures,
    count,
    draft_with_photos,
    job_row,
    model_row,
    outbox,
    training_settings,
    work_burst,
)

FAL_URL = "/api/webhooks/fal"
REPLICATE_URL = "/api/webhooks/replicate"


@pytest.fixture
def env(pg: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    training_settings(monkeypatch)


@pytest.fixture
def fal(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    fal_trainer.jwks_cache.clear()
    with FakeFal() as fake:
        fake.use(monkeypatch)
        yield fake


@pytest.fixture
def replicate(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeReplicate]:
    with FakeReplicate() as fake:
        fake.use(monkeypatch)
        yield fake


@pytest.fixture
def client() -> TestClient:
    return TestClient(Starlette(routes=[*training_webhooks.routes, *files.routes]))


def training_on(provider_id_of: str) -> tuple[int, int, int, str]:
    """A user with 100 credits whose model is training at the configured provider."""
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    job_id = training.start_training(uid, model_id)
    work_burst()
    external_id = job_row(job_id).external_id
    assert external_id and provider_id_of in job_row(job_id).provider
    return uid, model_id, job_id, external_id


def post_fal(client: TestClient, fal: FakeFal, request_id: str) -> dict[str, object]:
    body = fal.webhook_body(request_id)
    response = client.post(FAL_URL, content=body, headers=fal.sign(request_id, body))
    return {"code": response.status_code, **response.json()}


def test_a_valid_fal_webhook_finishes_the_training_once(fal: FakeFal, client: TestClient) -> None:
    uid, model_id, job_id, request_id = training_on("fal")
    fal.complete(request_id, deliver=False)

    assert post_fal(client, fal, request_id) == {"code": 200, "received": True, "status": "applied"}
    model = model_row(model_id)
    assert model.status == "ready" and get_storage().get(model.weights_key) == fal.weights
    assert credits.balance(uid) == 70 and captures(uid) == [f"job:{job_id}:capture"]
    assert count(ProcessedEvent, ProcessedEvent.source == "fal") == 1

    for _ in range(3):  # fal retries a delivery it thinks failed
        assert post_fal(client, fal, request_id)["status"] == "finished"
    assert credits.balance(uid) == 70 == credits.ledger_sum(uid)
    assert len(captures(uid)) == 1 and len(outbox()) == 1


def test_forged_stale_and_unsigned_deliveries_change_nothing(
    fal: FakeFal, client: TestClient
) -> None:
    uid, model_id, _, request_id = training_on("fal")
    fal.complete(request_id, deliver=False)
    body = fal.webhook_body(request_id)
    good = fal.sign(request_id, body)
    attempts = {
        "unsigned": ({}, body),
        "forged": (fal.sign(request_id, body, key=Ed25519PrivateKey.generate()), body),
        "tampered": (good, body.replace(b'"OK"', b'"ERROR"')),
        "stale": (fal.sign(request_id, body, timestamp=int(time.time()) - 301), body),
    }
    for name, (headers, attempt) in attempts.items():
        response = client.post(FAL_URL, content=attempt, headers=headers)
        assert response.status_code == 400, name
        assert set(response.json()) == {"error"}, name
    assert model_row(model_id).status == "training"
    assert credits.balance(uid) == 70 and count(ProcessedEvent) == 0
    assert client.get(FAL_URL).status_code == 405


def test_unknown_trainings_are_acknowledged_and_ignored(fal: FakeFal, client: TestClient) -> None:
    stranger = str(uuid.uuid4())
    fal.requests[stranger] = {"state": "COMPLETED", "result": {"diffusers_lora_file": {"url": "x"}}}
    assert post_fal(client, fal, stranger) == {"code": 200, "received": True, "status": "unknown"}
    assert count(ProcessedEvent) == 0


def test_news_for_a_finished_training_is_ignored(fal: FakeFal, client: TestClient) -> None:
    uid, model_id, job_id, request_id = training_on("fal")
    training.delete_model(uid, model_id)  # fails the job and refunds
    fal.complete(request_id, deliver=False)
    assert post_fal(client, fal, request_id)["status"] == "finished"
    assert job_row(job_id).status == "failed" and credits.balance(uid) == 100


def test_a_failure_webhook_refunds(fal: FakeFal, client: TestClient) -> None:
    uid, model_id, _, request_id = training_on("fal")
    fal.fail(request_id, "No faces found in images", deliver=False)
    assert post_fal(client, fal, request_id)["status"] == "applied"
    model = model_row(model_id)
    assert model.status == "failed" and "No faces found in images" in model.error
    assert credits.balance(uid) == 100 == credits.ledger_sum(uid)


def test_processing_failure_answers_500_and_the_redelivery_applies(
    fal: FakeFal, client: TestClient
) -> None:
    uid, model_id, _, request_id = training_on("fal")
    fal.complete(request_id, deliver=False)
    fal.fail_next(503, path_prefix="/files/")  # the weights download fails once
    assert post_fal(client, fal, request_id)["code"] == 500
    assert model_row(model_id).status == "training" and count(ProcessedEvent) == 0
    assert post_fal(client, fal, request_id)["status"] == "applied"
    assert model_row(model_id).status == "ready" and credits.balance(uid) == 70


def post_replicate(
    client: TestClient, replicate: FakeReplicate, training_id: str, webhook_id: str
) -> dict[str, object]:
    body = replicate.webhook_body(training_id)
    headers = replicate.sign(body, webhook_id=webhook_id)
    response = client.post(REPLICATE_URL, content=body, headers=headers)
    return {"code": response.status_code, **response.json()}


def test_replicate_start_then_completed_with_duplicates(
    replicate: FakeReplicate, client: TestClient
) -> None:
    uid, model_id, job_id, training_id = training_on("replicate")
    replicate.start(training_id, deliver=False)
    assert post_replicate(client, replicate, training_id, "msg_start")["status"] == "progress"
    assert post_replicate(client, replicate, training_id, "msg_start")["status"] == "duplicate"
    assert model_row(model_id).progress == 0.4 and job_row(job_id).progress == 0.4

    replicate.complete(training_id, deliver=False)
    assert post_replicate(client, replicate, training_id, "msg_done")["status"] == "applied"
    model = model_row(model_id)
    assert model.status == "ready"
    assert get_storage().get(model.weights_key) == replicate.weights, "unpacked from the tar"
    assert model.provider_version == replicate.trainings[training_id]["output"]["version"]
    assert credits.balance(uid) == 70 and count(ProcessedEvent) == 2

    forged = replicate.webhook_body(training_id)
    headers = replicate.sign(forged, secret="whsec_" + "QUJD" * 8)
    assert client.post(REPLICATE_URL, content=forged, headers=headers).status_code == 400


def test_replicate_without_a_secret_asks_for_a_retry(
    replicate: FakeReplicate, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, model_id, _, training_id = training_on("replicate")
    monkeypatch.setenv("PHOTOAI_REPLICATE_WEBHOOK_SECRET", "")
    get_settings.cache_clear()
    replicate.complete(training_id, deliver=False)
    assert post_replicate(client, replicate, training_id, "msg_1")["code"] == 503
    assert model_row(model_id).status == "training"


# --- the link providers download the photos from --------------------------------------------


def test_provider_links_open_only_what_providers_need(env: None, client: TestClient) -> None:
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    job_id = training.start_training(uid, model_id)
    work_burst()
    store = get_storage()
    zip_key = f"users/{uid}/models/{model_id}/training/job-{job_id}.zip"
    link = provider_files_url(store, zip_key, uid, 600)
    assert link.startswith(f"{get_settings().base_url}/provider-files/")
    parts = urlsplit(link)
    path = f"{parts.path}?{parts.query}"

    response = client.get(path)  # no session cookie: providers have none
    assert response.status_code == 200 and response.content == store.get(zip_key)
    assert response.headers["content-type"] == "application/zip"

    tampered = path.replace("sig=", "sig=A")
    photo = path.replace(zip_key, photo_key(uid, model_id, 1))
    user_link = store.signed_url(zip_key, uid)
    assert client.get(tampered).status_code == 403
    assert client.get(photo).status_code == 403, "the signature covers the key"
    assert client.get(user_link.replace("/files/", "/provider-files/")).status_code == 403
    assert (
        client.get(f"/files/{parts.path.split('/provider-files/')[1]}?{parts.query}").status_code
        == 403
    )
    moved_expiry = urlsplit(link.replace("exp=", "exp=9"))
    assert client.get(f"{moved_expiry.path}?{moved_expiry.query}").status_code == 403
    expired = urlsplit(provider_files_url(store, zip_key, uid, -10))
    assert client.get(f"{expired.path}?{expired.query}").status_code == 410

    first_photo = photo_key(uid, model_id, 1)
    photo_link = urlsplit(provider_files_url(store, first_photo, uid, 600))
    served = client.get(f"{photo_link.path}?{photo_link.query}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    thumb = first_photo.replace("/photos/", "/thumbs/").replace(".jpg", ".webp")
    thumb_link = urlsplit(provider_files_url(store, thumb, uid, 600))
    assert client.get(f"{thumb_link.path}?{thumb_link.query}").status_code == 403


def test_provider_links_cannot_be_forged_with_an_empty_secret(
    env: None, client: TestClient
) -> None:
    """The default configuration has no PHOTOAI_SECRET_KEY: links use the generated key."""
    uid = make_user(100)
    model_id = draft_with_photos(uid)
    key = photo_key(uid, model_id, 1)
    exp = int(time.time()) + 600
    forged = training_runs._provider_signature("", key, exp)
    assert client.get(f"/provider-files/{key}?exp={exp}&sig={forged}").status_code == 403


# --- over real HTTP ----------------------------------------------------------------------------


@pytest.fixture
def served_fal(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FakeFal]]:
    """A fake fal that fetches inputs, and our routes served by granian in a child process
    (as in production) which gets the settings pointing at the fake."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fal_trainer.jwks_cache.clear()
    with FakeFal(fetch_inputs=True) as fal:
        fal.use(monkeypatch)
        monkeypatch.setenv("PHOTOAI_PUBLIC_BASE_URL", base)
        get_settings.cache_clear()
        with served_by_granian("tests.api.training_webhook_server:app", port):
            yield base, fal


def test_fal_fetches_the_photos_and_delivers_its_webhook_over_http(
    served_fal: tuple[str, FakeFal],
) -> None:
    served, fal = served_fal
    uid, model_id, job_id, request_id = training_on("fal")
    assert fal.requests[request_id]["webhook"] == f"{served}/api/webhooks/fal"
    assert fal.requests[request_id]["input"]["images_data_url"].startswith(
        f"{served}/provider-files/"
    )
    assert fal.complete(request_id) == 200
    assert fal.images_seen == {request_id: MIN_PHOTOS}
    model = model_row(model_id)
    assert model.status == "ready" and job_row(job_id).status == "succeeded"
    assert credits.balance(uid) == 70 == credits.ledger_sum(uid)
    assert json.loads(fal.webhook_body(request_id))["status"] == "OK"
