"""The fal adapter against a fake fal over real HTTP: queue calls, failures, webhook signatures."""

import json
import socket
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from photoai.providers import fal_trainer
from photoai.providers.base import (
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    TrainingRequest,
    TrainingState,
    WebhookRejected,
)
from photoai.providers.fal_trainer import FalTrainer
from photoai.settings import Settings
from tests.fakes.fal_server import JWKS_PATH, FakeFal

APP = "fal-ai/flux-lora-fast-training"


@pytest.fixture
def fake() -> Iterator[FakeFal]:
    fal_trainer.jwks_cache.clear()
    with FakeFal() as server:
        yield server
    fal_trainer.jwks_cache.clear()


def make_trainer(fake: FakeFal, **overrides: object) -> FalTrainer:
    values: dict[str, object] = {
        "fal_key": fake.key,
        "fal_queue_base": fake.url,
        "fal_jwks_url": f"{fake.url}{JWKS_PATH}",
        "fal_trainer_app": APP,
        "provider_timeout_seconds": 1.0,
    }
    values.update(overrides)
    return FalTrainer(Settings(_env_file=None, **values))  # type: ignore[arg-type]


def request(steps: int = 1000) -> TrainingRequest:
    return TrainingRequest(
        reference="job-1",
        images_url="https://files.example/photos.zip",
        images_key="users/1/models/1/training/job-1.zip",
        trigger_word="TOK",
        subject="woman",
        steps=steps,
        webhook_url="https://photoai.example/api/webhooks/fal",
    )


def test_a_training_from_submit_to_weights(fake: FakeFal) -> None:
    trainer = make_trainer(fake)
    request_id = trainer.submit(request()).external_id

    [submit] = fake.calls_to("POST", f"/{APP}")
    assert submit.headers["authorization"] == f"Key {fake.key}"
    assert submit.query["fal_webhook"] == ["https://photoai.example/api/webhooks/fal"]
    assert json.loads(submit.body) == {
        "images_data_url": "https://files.example/photos.zip",
        "steps": 1000,
        "trigger_word": "TOK",
        "create_masks": True,
        "is_style": False,
    }

    queued = trainer.status(request_id)
    assert (queued.state, queued.progress) == (TrainingState.QUEUED, 0.0)
    fake.start(request_id)
    running = trainer.status(request_id)
    assert (running.state, running.progress) == (TrainingState.RUNNING, 0.25)
    fake.complete(request_id, deliver=False)
    done = trainer.status(request_id)
    assert done.state is TrainingState.SUCCEEDED
    assert done.weights_url.endswith(f"/files/{request_id}/pytorch_lora_weights.safetensors")
    assert trainer.fetch_weights(done.weights_url) == fake.weights
    download = fake.calls_to("GET", f"/files/{request_id}/")[0]
    assert "authorization" not in download.headers, "our key never goes to a file host"


def test_portrait_trainer_and_subpaths(fake: FakeFal) -> None:
    trainer = make_trainer(fake, fal_trainer_app="fal-ai/flux-lora-portrait-trainer/v2")
    request_id = trainer.submit(request()).external_id
    [submit] = fake.calls_to("POST", "/fal-ai/flux-lora-portrait-trainer/v2")
    body = json.loads(submit.body)
    assert body["trigger_phrase"] == "TOK" and "trigger_word" not in body
    trainer.status(request_id)
    assert fake.calls_to("GET", f"/fal-ai/flux-lora-portrait-trainer/requests/{request_id}/status")


def test_failed_trainings_are_failures(fake: FakeFal) -> None:
    trainer = make_trainer(fake)
    request_id = trainer.submit(request()).external_id
    fake.fail(request_id, "Not enough faces found", deliver=False)
    status = trainer.status(request_id)
    assert status.state is TrainingState.FAILED and "Not enough faces" in status.error


def test_failure_classes_and_no_blind_retries(fake: FakeFal) -> None:
    trainer = make_trainer(fake)

    fake.fail_next(429, retry_after=7, method="POST")
    with pytest.raises(ProviderRateLimited) as limited:
        trainer.submit(request())
    assert limited.value.retry_after == 7.0

    fake.fail_next(503, method="POST")
    with pytest.raises(ProviderUnavailable) as outage:
        trainer.submit(request())
    assert outage.value.maybe_submitted is False

    fake.delay_next(2.0, method="POST")
    with pytest.raises(ProviderUnavailable) as slow:
        trainer.submit(request())
    assert slow.value.maybe_submitted is True, "it may have been queued: never resend"

    with pytest.raises(ProviderRejected) as invalid:
        trainer.submit(request(steps=0))
    assert invalid.value.status_code == 422 and "body.steps" in str(invalid.value)

    fake.fail_next(504, method="POST")
    with pytest.raises(ProviderUnavailable) as gateway:
        trainer.submit(request())
    assert gateway.value.maybe_submitted is True, "a gateway lost a backend that may have it"

    fake.garble_next(method="POST")
    with pytest.raises(ProviderUnavailable) as garbled:
        trainer.submit(request())
    assert garbled.value.maybe_submitted is True, "accepted, answer unreadable: never resend"

    assert len(fake.calls_to("POST", f"/{APP}")) == 6, "every failure was tried exactly once"

    with pytest.raises(ProviderRejected) as refused:
        make_trainer(fake, fal_key="wrong").submit(request())
    assert refused.value.status_code == 401

    fake.delay_next(2.0, method="GET")
    with pytest.raises(ProviderUnavailable) as slow_poll:
        trainer.status("anything")
    assert slow_poll.value.maybe_submitted is False, "a GET creates nothing"

    with pytest.raises(ProviderRejected) as unknown:
        trainer.status("no-such-request")
    assert unknown.value.status_code == 404


def test_unreachable_provider(fake: FakeFal) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    trainer = make_trainer(fake, fal_queue_base=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(ProviderUnavailable) as down:
        trainer.submit(request())
    assert down.value.maybe_submitted is False, "nothing was sent, a retry is safe"


def test_cancel(fake: FakeFal) -> None:
    trainer = make_trainer(fake)
    running = trainer.submit(request()).external_id
    fake.start(running)
    trainer.cancel(running)
    assert fake.canceled == [running]
    assert trainer.status(running).state is TrainingState.FAILED

    finished = trainer.submit(request()).external_id
    fake.complete(finished, deliver=False)
    trainer.cancel(finished)  # ALREADY_COMPLETED is not an error
    trainer.cancel("no-such-request")
    assert fake.canceled == [running]


def signed(fake: FakeFal, request_id: str) -> tuple[dict[str, str], bytes]:
    body = fake.webhook_body(request_id)
    return fake.sign(request_id, body), body


def test_valid_webhooks(fake: FakeFal) -> None:
    trainer = make_trainer(fake)
    ok_id = trainer.submit(request()).external_id
    fake.complete(ok_id, deliver=False)
    event = trainer.verify_webhook(*signed(fake, ok_id))
    assert (event.event_id, event.external_id) == (f"{ok_id}:OK", ok_id)
    assert event.status is not None and event.status.state is TrainingState.SUCCEEDED
    assert event.status.weights_url.endswith(".safetensors")

    bad_id = trainer.submit(request()).external_id
    fake.fail(bad_id, "images_data_url unreachable", deliver=False)
    failed = trainer.verify_webhook(*signed(fake, bad_id))
    assert failed.status is not None and failed.status.state is TrainingState.FAILED
    assert "images_data_url unreachable" in failed.status.error

    body = json.dumps(
        {
            "request_id": ok_id,
            "gateway_request_id": ok_id,
            "status": "OK",
            "payload": None,
            "payload_error": "Response payload is not JSON serializable",
        }
    ).encode()
    unserialisable = trainer.verify_webhook(fake.sign(ok_id, body), body)
    assert unserialisable.status is None, "the queue API must be asked instead"

    lowercase = {k.lower(): v for k, v in fake.sign(ok_id, body).items()}
    assert trainer.verify_webhook(lowercase, body).external_id == ok_id
    assert len(fake.calls_to("GET", JWKS_PATH)) == 1, "the JWKS is fetched once and cached"


def test_forged_stale_and_malformed_webhooks_are_rejected(fake: FakeFal) -> None:
    trainer = make_trainer(fake)
    request_id = trainer.submit(request()).external_id
    fake.complete(request_id, deliver=False)
    headers, body = signed(fake, request_id)
    attacker = Ed25519PrivateKey.generate()
    tampered = body.replace(b'"OK"', b'"ERROR"')
    attempts = {
        "no headers": ({}, body),
        "other key": (fake.sign(request_id, body, key=attacker), body),
        "tampered body": (headers, tampered),
        "stale": (fake.sign(request_id, body, timestamp=int(time.time()) - 301), body),
        "future": (fake.sign(request_id, body, timestamp=int(time.time()) + 330), body),
        "not hex": ({**headers, "X-Fal-Webhook-Signature": "zz"}, body),
        "other request": (fake.sign("someone-else", body), body),
        "not json": (fake.sign(request_id, b"nope"), b"nope"),
    }
    for name, (attempt_headers, attempt_body) in attempts.items():
        with pytest.raises(WebhookRejected):
            trainer.verify_webhook(attempt_headers, attempt_body)
            pytest.fail(f"{name} was accepted")
    assert trainer.verify_webhook(headers, body).external_id == request_id


def test_rotated_keys_are_refetched(fake: FakeFal, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = make_trainer(fake)
    request_id = trainer.submit(request()).external_id
    fake.complete(request_id, deliver=False)
    trainer.verify_webhook(*signed(fake, request_id))  # caches the first key
    fake.signing_key = Ed25519PrivateKey.generate()  # fal rotates its key
    with pytest.raises(WebhookRejected):
        trainer.verify_webhook(*signed(fake, request_id))  # refetch allowed once a minute only
    monkeypatch.setattr(fal_trainer, "JWKS_MIN_REFRESH_SECONDS", 0)
    assert trainer.verify_webhook(*signed(fake, request_id)).external_id == request_id
    assert len(fake.calls_to("GET", JWKS_PATH)) == 2


def test_unreachable_jwks_is_not_a_forgery(fake: FakeFal) -> None:
    trainer = make_trainer(fake)
    request_id = trainer.submit(request()).external_id
    fake.complete(request_id, deliver=False)
    fake.fail_next(503, path_prefix=JWKS_PATH)
    with pytest.raises(ProviderUnavailable):
        trainer.verify_webhook(*signed(fake, request_id))
