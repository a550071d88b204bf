"""The Replicate generator against a fake Replicate predictions API over real HTTP."""

import json
from collections.abc import Iterator
from io import BytesIO

import httpx
import pytest
from PIL import Image

from photoai.providers.base import ProviderRateLimited, ProviderRejected, ProviderUnavailable
from photoai.providers.generation_base import (
    ContentPolicyViolation,
    GenerationRequest,
    GeneratorConfigError,
)
from photoai.providers.generation_http import fetch_output
from photoai.providers.replicate_generator import ReplicateGenerator
from photoai.settings import Settings
from tests.fakes.replicate_predictions_server import (
    PREDICTIONS,
    FakeReplicatePredictions,
)


@pytest.fixture
def fake() -> Iterator[FakeReplicatePredictions]:
    server = FakeReplicatePredictions()
    with server:
        yield server


def make(
    fake: FakeReplicatePredictions, *, poll_interval: float = 0.01, **overrides: object
) -> ReplicateGenerator:
    values: dict[str, object] = {
        "replicate_api_token": fake.token,
        "replicate_base": fake.url,
        "generation_timeout_seconds": 2.0,
    }
    values.update(overrides)
    settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
    return ReplicateGenerator(settings, poll_interval=poll_interval)


def request(fake: FakeReplicatePredictions, **fields: object) -> GenerationRequest:
    values: dict[str, object] = {"prompt": "portrait at the beach", "trained_version": fake.version}
    values.update(fields)
    return GenerationRequest(**values)  # type: ignore[arg-type]


def test_a_finished_prediction_gives_images_of_the_requested_shape(
    fake: FakeReplicatePredictions,
) -> None:
    wanted = request(fake, width=768, height=1024, n=2, seed=9, lora_scale=0.9, trigger_word="TOK")
    outputs = make(fake).generate(wanted)

    [call] = fake.calls_to("POST", PREDICTIONS)
    assert call.headers["authorization"] == f"Bearer {fake.token}"
    assert call.headers["prefer"] == "wait=1"
    assert json.loads(call.body) == {
        "version": fake.version,
        "input": {
            "prompt": "TOK portrait at the beach",
            "num_outputs": 2,
            "lora_scale": 0.9,
            "output_format": "jpg",
            "aspect_ratio": "3:4",
            "seed": 9,
        },
    }
    assert [o.seed for o in outputs] == [9, 9]
    assert all(o.content_type == "image/jpeg" and not o.flagged for o in outputs)
    with httpx.Client() as client:
        pictures = [Image.open(BytesIO(fetch_output(client, o).data or b"")) for o in outputs]
    # Replicate renders a named ratio at its own size (896x1152 for 3:4), close to the ratio.
    assert all(abs(p.width / p.height - 3 / 4) < 0.05 for p in pictures)
    assert pictures[0].tobytes() != pictures[1].tobytes()
    assert not fake.calls_to("GET", PREDICTIONS), "answered within Prefer: wait"


def test_an_unnamed_ratio_is_sent_as_custom(fake: FakeReplicatePredictions) -> None:
    [output] = make(fake).generate(request(fake, width=640, height=832))

    inputs = json.loads(fake.calls_to("POST", PREDICTIONS)[0].body)["input"]
    assert (inputs["aspect_ratio"], inputs["width"], inputs["height"]) == ("custom", 640, 832)
    with httpx.Client() as client:
        assert Image.open(BytesIO(fetch_output(client, output).data or b"")).size == (640, 832)


def test_a_slow_prediction_is_polled_until_done(fake: FakeReplicatePredictions) -> None:
    fake.polls_before_done = 3
    outputs = make(fake).generate(request(fake))

    assert len(outputs) == 1 and outputs[0].url
    assert len(fake.calls_to("GET", PREDICTIONS)) == 3
    assert fake.posts() == 1 and not fake.canceled()


def test_a_prediction_past_the_deadline_is_cancelled(fake: FakeReplicatePredictions) -> None:
    fake.polls_before_done = 1000
    generator = make(fake, poll_interval=0.05, generation_timeout_seconds=0.3)
    with pytest.raises(ProviderUnavailable, match="longer than") as caught:
        generator.generate(request(fake))

    assert caught.value.maybe_submitted
    [prediction_id] = fake.predictions
    assert fake.canceled() == [prediction_id]
    assert fake.predictions[prediction_id]["status"] == "canceled"
    assert fake.posts() == 1


def test_a_poll_that_fails_cancels_the_prediction(fake: FakeReplicatePredictions) -> None:
    fake.polls_before_done = 5
    fake.fail_next(503, method="GET", path_prefix=PREDICTIONS)
    with pytest.raises(ProviderUnavailable):
        make(fake).generate(request(fake))
    assert len(fake.canceled()) == 1


def test_an_nsfw_failure_is_a_content_policy_violation(fake: FakeReplicatePredictions) -> None:
    fake.fail_next_prediction()
    with pytest.raises(ContentPolicyViolation, match="NSFW"):
        make(fake).generate(request(fake))


def test_another_failure_is_worth_trying_elsewhere(fake: FakeReplicatePredictions) -> None:
    fake.fail_next_prediction("CUDA out of memory")
    with pytest.raises(ProviderUnavailable, match="CUDA") as caught:
        make(fake).generate(request(fake))
    assert not isinstance(caught.value, ContentPolicyViolation)


def test_only_models_trained_at_replicate_are_supported(fake: FakeReplicatePredictions) -> None:
    generator = make(fake)
    assert generator.supports(request(fake))
    assert not generator.supports(GenerationRequest(prompt="x"))
    assert not generator.supports(GenerationRequest(prompt="x", lora_url="https://x/l.safetensors"))


def test_validation_errors_are_permanent_rfc7807_refusals(fake: FakeReplicatePredictions) -> None:
    with pytest.raises(ProviderRejected, match="Invalid version") as caught:
        make(fake).generate(request(fake, trained_version="acme/other:0"))
    assert caught.value.status_code == 422
    with pytest.raises(ProviderRejected) as unauthenticated:
        make(fake, replicate_api_token="r8_wrong").generate(request(fake))
    assert unauthenticated.value.status_code == 401


def test_throttling_server_errors_and_timeouts_post_once_each(
    fake: FakeReplicatePredictions,
) -> None:
    generator = make(fake, generation_timeout_seconds=0.5)
    fake.fail_next(429, retry_after=4)
    with pytest.raises(ProviderRateLimited, match="throttled") as limited:
        generator.generate(request(fake))
    fake.fail_next(500)
    with pytest.raises(ProviderUnavailable):
        generator.generate(request(fake))
    fake.delay_next(2.0, method="POST")
    with pytest.raises(ProviderUnavailable) as slow:
        generator.generate(request(fake))

    assert limited.value.retry_after == 4 and slow.value.maybe_submitted
    assert fake.posts() == 3


@pytest.mark.parametrize(
    "body",
    [
        b"upstream connect error",
        {"status": "succeeded", "output": ["https://x/1.jpg"]},
        {"id": "p1", "status": "succeeded", "output": []},
        {"id": "p1", "status": "exploded"},
    ],
    ids=["not-json", "no-id", "no-output", "unknown-status"],
)
def test_garbage_answers_are_unavailability(fake: FakeReplicatePredictions, body: object) -> None:
    fake.fail_next(201, body=body)
    with pytest.raises(ProviderUnavailable):
        make(fake).generate(request(fake))


def test_a_missing_token_stops_the_start() -> None:
    with pytest.raises(GeneratorConfigError, match="PHOTOAI_REPLICATE_API_TOKEN"):
        ReplicateGenerator(Settings(_env_file=None, replicate_api_token=""))
