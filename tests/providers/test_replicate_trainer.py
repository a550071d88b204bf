"""The Replicate adapter against a fake Replicate over real HTTP."""

import base64
import json
import time
from collections.abc import Iterator

import pytest

from photoai.providers.base import (
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    TrainingRequest,
    TrainingState,
    WebhookRejected,
)
from photoai.providers.replicate_trainer import ReplicateTrainer
from photoai.settings import Settings
from tests.fakes.replicate_server import TRAINER, FakeReplicate

DESTINATION = "acme/photoai-loras"


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate() as server:
        yield server


def make_trainer(fake: FakeReplicate, **overrides: object) -> ReplicateTrainer:
    values: dict[str, object] = {
        "replicate_api_token": fake.token,
        "replicate_base": fake.url,
        "replicate_webhook_secret": fake.secret,
        "replicate_destination_owner": "acme",
        "provider_timeout_seconds": 1.0,
    }
    values.update(overrides)
    return ReplicateTrainer(Settings(_env_file=None, **values))  # type: ignore[arg-type]


def request(steps: int = 1000) -> TrainingRequest:
    return TrainingRequest(
        reference="job-1",
        images_url="https://files.example/photos.zip",
        images_key="users/1/models/1/training/job-1.zip",
        trigger_word="TOK",
        subject="man",
        steps=steps,
        webhook_url="https://photoai.example/api/webhooks/replicate",
    )


def trainings_path(fake: FakeReplicate) -> str:
    return f"/v1/models/{TRAINER}/versions/{fake.version}/trainings"


def test_submit_looks_up_the_version_and_creates_the_destination_once(fake: FakeReplicate) -> None:
    trainer = make_trainer(fake)
    first = trainer.submit(request()).external_id
    second = trainer.submit(request()).external_id
    assert first != second

    assert len(fake.calls_to("GET", f"/v1/models/{TRAINER}")) == 1, "version looked up once"
    [created] = [c for c in fake.calls_to("POST", "/v1/models") if c.path == "/v1/models"]
    assert json.loads(created.body) == {
        "owner": "acme",
        "name": "photoai-loras",
        "visibility": "private",
        "hardware": "cpu",
    }
    assert fake.models[DESTINATION]["visibility"] == "private"
    posts = fake.calls_to("POST", trainings_path(fake))
    assert len(posts) == 2 and posts[0].headers["authorization"] == f"Bearer {fake.token}"
    assert json.loads(posts[0].body) == {
        "input": {
            "input_images": "https://files.example/photos.zip",
            "trigger_word": "TOK",
            "steps": 1000,
            "autocaption": True,
        },
        "destination": DESTINATION,
        "webhook": "https://photoai.example/api/webhooks/replicate",
        "webhook_events_filter": ["start", "completed"],
    }


def test_an_existing_destination_is_used_as_is(fake: FakeReplicate) -> None:
    fake.models[DESTINATION] = {"owner": "acme", "name": "photoai-loras", "visibility": "private"}
    make_trainer(fake).submit(request())
    assert not [c for c in fake.calls_to("POST", "/v1/models") if c.path == "/v1/models"]


def test_status_through_to_weights(fake: FakeReplicate) -> None:
    trainer = make_trainer(fake)
    training_id = trainer.submit(request()).external_id
    queued = trainer.status(training_id)
    assert (queued.state, queued.progress) == (TrainingState.QUEUED, 0.0)
    fake.start(training_id, deliver=False)
    running = trainer.status(training_id)
    assert (running.state, running.progress) == (TrainingState.RUNNING, 0.4)
    fake.complete(training_id, deliver=False)
    done = trainer.status(training_id)
    assert done.state is TrainingState.SUCCEEDED and done.weights_url.endswith(".tar")
    assert done.trained_version == fake.trainings[training_id]["output"]["version"]
    assert done.trained_version.startswith("acme/")
    assert trainer.fetch_weights(done.weights_url) == fake.weights, "the LoRA out of the tar"


def test_failed_and_canceled(fake: FakeReplicate) -> None:
    trainer = make_trainer(fake)
    failing = trainer.submit(request()).external_id
    fake.fail(failing, "CUDA out of memory", deliver=False)
    failed = trainer.status(failing)
    assert failed.state is TrainingState.FAILED and failed.error == "CUDA out of memory"

    canceling = trainer.submit(request()).external_id
    trainer.cancel(canceling)
    assert trainer.status(canceling).state is TrainingState.CANCELED
    trainer.cancel(failing)  # finished: nothing to do, no error
    trainer.cancel("no-such-training")
    assert trainer.status(failing).state is TrainingState.FAILED


def test_failure_classes_and_no_blind_retries(fake: FakeReplicate) -> None:
    trainer = make_trainer(fake)
    trainer.submit(request())  # version and destination are now known
    path = trainings_path(fake)

    fake.fail_next(429, retry_after=3, path_prefix=path)
    with pytest.raises(ProviderRateLimited) as limited:
        trainer.submit(request())
    assert limited.value.retry_after == 3.0 and "throttled" in str(limited.value)

    fake.fail_next(500, path_prefix=path)
    with pytest.raises(ProviderUnavailable) as outage:
        trainer.submit(request())
    assert outage.value.maybe_submitted is False

    fake.delay_next(2.0, path_prefix=path)
    with pytest.raises(ProviderUnavailable) as slow:
        trainer.submit(request())
    assert slow.value.maybe_submitted is True

    with pytest.raises(ProviderRejected) as invalid:
        trainer.submit(request(steps=1))
    assert invalid.value.status_code == 422 and "steps" in str(invalid.value)
    assert len(fake.calls_to("POST", path)) == 5, "each attempt exactly once"

    with pytest.raises(ProviderRejected) as refused:
        make_trainer(fake, replicate_api_token="r8_wrong").status("x")
    assert refused.value.status_code == 401

    with pytest.raises(ProviderRejected) as no_owner:
        make_trainer(fake, replicate_destination_owner="").submit(request())
    assert "DESTINATION_OWNER" in str(no_owner.value)


def test_webhooks(fake: FakeReplicate) -> None:
    trainer = make_trainer(fake)
    training_id = trainer.submit(request()).external_id
    fake.start(training_id, deliver=False)
    body = fake.webhook_body(training_id)
    headers = fake.sign(body, webhook_id="msg_1")
    event = trainer.verify_webhook(headers, body)
    assert (event.event_id, event.external_id) == ("msg_1", training_id)
    assert event.status is not None and event.status.state is TrainingState.RUNNING

    fake.complete(training_id, deliver=False)
    body = fake.webhook_body(training_id)
    # Several signatures (e.g. during a secret rotation): one valid v1 entry is enough.
    old = fake.sign(body, secret="whsec_" + base64.b64encode(b"old secret").decode())
    current = fake.sign(body, webhook_id=old["webhook-id"], timestamp=int(old["webhook-timestamp"]))
    both = {
        **old,
        "webhook-signature": f"{old['webhook-signature']} {current['webhook-signature']}",
    }
    done = trainer.verify_webhook(both, body)
    assert done.status is not None and done.status.state is TrainingState.SUCCEEDED


def test_forged_stale_and_malformed_webhooks_are_rejected(fake: FakeReplicate) -> None:
    trainer = make_trainer(fake)
    training_id = trainer.submit(request()).external_id
    body = fake.webhook_body(training_id)
    good = fake.sign(body)
    attempts = {
        "no headers": ({}, body),
        "wrong secret": (
            fake.sign(body, secret="whsec_" + base64.b64encode(b"x" * 24).decode()),
            body,
        ),
        "tampered": (good, body.replace(b'"starting"', b'"succeeded"')),
        "stale": (fake.sign(body, timestamp=int(time.time()) - 301), body),
        "future": (fake.sign(body, timestamp=int(time.time()) + 330), body),
        "other id": ({**good, "webhook-id": "msg_other"}, body),
        "v2 only": (
            {**good, "webhook-signature": good["webhook-signature"].replace("v1,", "v2,")},
            body,
        ),
        "not a training": (fake.sign(b'{"hello": 1}'), b'{"hello": 1}'),
    }
    for name, (attempt_headers, attempt_body) in attempts.items():
        with pytest.raises(WebhookRejected):
            trainer.verify_webhook(attempt_headers, attempt_body)
            pytest.fail(f"{name} was accepted")
    assert trainer.verify_webhook(good, body).external_id == training_id

    with pytest.raises(ProviderRejected, match="WEBHOOK_SECRET"):
        make_trainer(fake, replicate_webhook_secret="").verify_webhook(good, body)
