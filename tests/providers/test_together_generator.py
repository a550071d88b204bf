"""The Together generator against a fake Together over real HTTP."""

import base64
import json
import socket
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
from photoai.providers.together_generator import TogetherGenerator
from photoai.settings import Settings
from tests.fakes.together_server import GENERATIONS, FakeTogether, image_bytes

LORA = "https://files.example/lora.safetensors"
PHOTOS = ["https://files.example/a.jpg", "https://files.example/b.jpg"]


@pytest.fixture
def fake() -> Iterator[FakeTogether]:
    server = FakeTogether()
    with server:
        yield server


def make(fake: FakeTogether, **overrides: object) -> TogetherGenerator:
    values: dict[str, object] = {
        "together_api_key": fake.key,
        "together_base_url": fake.url,
        "generation_timeout_seconds": 1.0,
    }
    values.update(overrides)
    return TogetherGenerator(Settings(_env_file=None, **values))  # type: ignore[arg-type]


def sent(fake: FakeTogether) -> dict[str, object]:
    [call] = fake.calls_to("POST", GENERATIONS)
    body: dict[str, object] = json.loads(call.body)
    return body


def test_a_plain_prompt_gives_decodable_images_of_the_requested_size(fake: FakeTogether) -> None:
    request = GenerationRequest(prompt="a lighthouse at dawn", width=768, height=1024, n=3, seed=42)
    outputs = make(fake).generate(request)

    assert sent(fake) == {
        "model": "black-forest-labs/FLUX.1-schnell",
        "prompt": "a lighthouse at dawn",
        "width": 768,
        "height": 1024,
        "n": 3,
        "response_format": "base64",
        "output_format": "jpeg",
        "seed": 42,
    }
    assert fake.calls[0].headers["authorization"] == f"Bearer {fake.key}"
    assert len(outputs) == 3 and len({o.data for o in outputs}) == 3
    for output in outputs:
        assert output.data is not None and output.url is None
        assert output.content_type == "image/jpeg" and output.seed == 42 and not output.flagged
        picture = Image.open(BytesIO(output.data))
        assert picture.format == "JPEG" and picture.size == (768, 1024)


def test_a_personal_model_runs_the_lora_with_its_trigger_word(fake: FakeTogether) -> None:
    request = GenerationRequest(
        prompt="portrait in a suit",
        negative_prompt="blurry",
        lora_url=LORA,
        lora_scale=0.9,
        trigger_word="TOK",
    )
    make(fake).generate(request)

    body = sent(fake)
    assert body["model"] == "black-forest-labs/FLUX.2-dev"
    assert body["image_loras"] == [{"path": LORA, "scale": 0.9}]
    assert body["prompt"] == "TOK portrait in a suit"
    assert body["negative_prompt"] == "blurry"
    assert "reference_images" not in body and "seed" not in body


def test_instant_sends_every_photo_to_flux2_or_the_first_to_kontext(fake: FakeTogether) -> None:
    make(fake).generate(GenerationRequest(prompt="as an astronaut", reference_image_urls=PHOTOS))
    kontext = "black-forest-labs/FLUX.1-kontext-pro"
    make(fake, together_instant_model=kontext).generate(
        GenerationRequest(prompt="as an astronaut", reference_image_urls=PHOTOS)
    )

    flux2, edit = (json.loads(c.body) for c in fake.calls_to("POST", GENERATIONS))
    assert flux2["model"] == "black-forest-labs/FLUX.2-pro"
    assert flux2["reference_images"] == PHOTOS and "image_url" not in flux2
    assert edit["model"] == kontext
    assert edit["image_url"] == PHOTOS[0] and "reference_images" not in edit


def test_url_items_are_returned_as_links_to_fetch(fake: FakeTogether) -> None:
    fake.files["x.png"] = image_bytes(512, 512, fmt="PNG")
    inline = base64.b64encode(image_bytes(512, 512)).decode()
    fake.fail_next(
        200,
        body={
            "id": "gen-1",
            "model": "black-forest-labs/FLUX.1-schnell",
            "object": "list",
            "data": [
                {"index": 0, "type": "url", "url": f"{fake.url}/files/x.png"},
                {"index": 1, "type": "b64_json", "b64_json": inline},
            ],
        },
    )
    linked, embedded = make(fake).generate(GenerationRequest(prompt="a cat", width=512, height=512))

    assert linked.url == f"{fake.url}/files/x.png" and linked.content_type == "image/png"
    assert embedded.content_type == "image/jpeg"
    with httpx.Client() as client:
        fetched = fetch_output(client, linked)
    assert fetched.url is None and fetched.data is not None
    assert Image.open(BytesIO(fetched.data)).size == (512, 512)


def test_supports_everything_but_a_replicate_only_model(fake: FakeTogether) -> None:
    generator = make(fake)
    assert generator.supports(GenerationRequest(prompt="x"))
    assert generator.supports(GenerationRequest(prompt="x", reference_image_urls=PHOTOS))
    assert generator.supports(GenerationRequest(prompt="x", lora_url=LORA, trained_version="a:b"))
    assert not generator.supports(GenerationRequest(prompt="x", trained_version="acme/m:1"))


def test_a_rate_limit_says_how_long_to_wait(fake: FakeTogether) -> None:
    fake.fail_next(429, retry_after=7)
    with pytest.raises(ProviderRateLimited) as caught:
        make(fake).generate(GenerationRequest(prompt="a cat"))
    assert caught.value.retry_after == 7
    assert fake.posts() == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_worth_another_try(fake: FakeTogether, status: int) -> None:
    fake.fail_next(status)
    with pytest.raises(ProviderUnavailable) as caught:
        make(fake).generate(GenerationRequest(prompt="a cat"))
    assert not caught.value.maybe_submitted
    assert fake.posts() == 1


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_the_sdk_never_repeats_the_billable_post(fake: FakeTogether, status: int) -> None:
    """Together's SDK retries these twice by default; each repeat could be billed."""
    fake.fail_next(status, times=3, retry_after=0)
    with pytest.raises((ProviderUnavailable, ProviderRateLimited, ProviderRejected)) as caught:
        make(fake).generate(GenerationRequest(prompt="a cat"))
    assert fake.posts() == 1
    gateway = status in (502, 504)
    assert getattr(caught.value, "maybe_submitted", False) is gateway


def test_an_unreachable_server_was_not_sent_anything() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(_env_file=None, together_api_key="k", together_base_url=closed)  # type: ignore[call-arg]
    with pytest.raises(ProviderUnavailable) as caught:
        TogetherGenerator(settings).generate(GenerationRequest(prompt="a cat"))
    assert not caught.value.maybe_submitted, "nothing was sent: another try is safe"


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
def test_refusals_are_permanent_and_keep_their_status(fake: FakeTogether, status: int) -> None:
    fake.fail_next(status)
    with pytest.raises(ProviderRejected) as caught:
        make(fake).generate(GenerationRequest(prompt="a cat"))
    assert caught.value.status_code == status
    assert not isinstance(caught.value, ContentPolicyViolation)
    assert fake.posts() == 1


def test_a_wrong_key_or_unknown_model_is_refused_by_the_fake_itself(fake: FakeTogether) -> None:
    with pytest.raises(ProviderRejected) as wrong_key:
        make(fake, together_api_key="nope").generate(GenerationRequest(prompt="a cat"))
    with pytest.raises(ProviderRejected) as unknown_model:
        make(fake, together_model="acme/none").generate(GenerationRequest(prompt="a cat"))
    assert (wrong_key.value.status_code, unknown_model.value.status_code) == (401, 404)


def test_a_safety_refusal_is_a_content_policy_violation(fake: FakeTogether) -> None:
    fake.refuse_content_next()
    with pytest.raises(ContentPolicyViolation, match="NSFW") as caught:
        make(fake).generate(GenerationRequest(prompt="a cat"))
    assert caught.value.status_code == 400


def test_a_slow_answer_times_out_as_maybe_submitted_without_a_second_post(
    fake: FakeTogether,
) -> None:
    fake.delay_next(2.0)
    with pytest.raises(ProviderUnavailable) as caught:
        make(fake, generation_timeout_seconds=0.5).generate(GenerationRequest(prompt="a cat"))
    assert caught.value.maybe_submitted
    assert fake.posts() == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        {"id": "gen-1", "object": "list"},
        {"data": [{"index": 0, "type": "b64_json"}]},
        {"data": [{"index": 0, "type": "b64_json", "b64_json": "not base64!"}]},
        {"data": [{"index": 0, "type": "b64_json", "b64_json": "aGVsbG8="}]},
        {"data": [{"index": 0, "type": "url", "url": "ftp://files.example/x.png"}]},
    ],
    ids=["not-json", "no-data", "no-image", "bad-base64", "not-an-image", "bad-url"],
)
def test_garbage_answers_are_unavailability_not_success(fake: FakeTogether, body: object) -> None:
    fake.fail_next(200, body=body)
    with pytest.raises(ProviderUnavailable):
        make(fake).generate(GenerationRequest(prompt="a cat"))


def test_a_missing_key_stops_the_start() -> None:
    with pytest.raises(GeneratorConfigError, match="PHOTOAI_TOGETHER_API_KEY"):
        TogetherGenerator(Settings(_env_file=None, together_api_key=""))
