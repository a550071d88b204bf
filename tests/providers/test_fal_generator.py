"""The fal generator against a fake fal.run over real HTTP."""

import json
from collections.abc import Iterator
from io import BytesIO

import httpx
import pytest
from PIL import Image

from photoai.providers.base import ProviderRateLimited, ProviderRejected, ProviderUnavailable
from photoai.providers.fal_generator import APP, FalGenerator, image_size
from photoai.providers.generation_base import (
    ASPECT_SIZES,
    ContentPolicyViolation,
    GeneratedOutput,
    GenerationRequest,
    GeneratorConfigError,
    size_for,
)
from photoai.providers.generation_http import fetch_output
from photoai.settings import Settings
from tests.fakes.fal_run_server import APP_PATH, PRESETS, FakeFalRun

LORA = "https://files.example/lora.safetensors"


@pytest.fixture
def fake() -> Iterator[FakeFalRun]:
    server = FakeFalRun()
    with server:
        yield server


def make(fake: FakeFalRun, **overrides: object) -> FalGenerator:
    values: dict[str, object] = {
        "fal_key": fake.key,
        "fal_run_base": fake.url,
        "generation_timeout_seconds": 1.0,
    }
    values.update(overrides)
    return FalGenerator(Settings(_env_file=None, **values))  # type: ignore[arg-type]


def fetched(outputs: list[GeneratedOutput]) -> list[Image.Image]:
    with httpx.Client() as client:
        return [Image.open(BytesIO(fetch_output(client, o).data or b"")) for o in outputs]


def test_app_path_matches_the_reference() -> None:
    assert f"/{APP}" == APP_PATH


@pytest.mark.parametrize("ratio", sorted(ASPECT_SIZES))
def test_every_named_ratio_is_sent_as_a_preset_or_an_exact_size(ratio: str) -> None:
    """fal has presets for 1:1, 3:4, 9:16, 4:3 and 16:9; other ratios go as width/height."""
    sent = image_size(*size_for(ratio))
    if isinstance(sent, str):
        assert PRESETS[sent] == size_for(ratio)
    else:
        assert ratio in ("4:5", "2:3")
        assert (sent["width"], sent["height"]) == size_for(ratio)


def test_a_personal_model_gives_linked_images_of_the_requested_size(fake: FakeFalRun) -> None:
    request = GenerationRequest(
        prompt="portrait in a library",
        width=768,
        height=1024,
        n=2,
        seed=5,
        lora_url=LORA,
        lora_scale=0.8,
        trigger_word="TOK",
    )
    outputs = make(fake).generate(request)

    [call] = fake.calls_to("POST", APP_PATH)
    assert call.headers["authorization"] == f"Key {fake.key}"
    assert json.loads(call.body) == {
        "prompt": "TOK portrait in a library",
        "image_size": "portrait_4_3",
        "num_images": 2,
        "output_format": "jpeg",
        "enable_safety_checker": True,
        "seed": 5,
        "loras": [{"path": LORA, "scale": 0.8}],
    }
    assert [o.seed for o in outputs] == [5, 5] and not any(o.flagged for o in outputs)
    assert all(o.url and o.content_type == "image/jpeg" for o in outputs)
    pictures = fetched(outputs)
    assert [p.size for p in pictures] == [(768, 1024)] * 2
    assert pictures[0].tobytes() != pictures[1].tobytes()


def test_an_unnamed_size_is_sent_explicitly_and_the_seed_is_reported(fake: FakeFalRun) -> None:
    [output] = make(fake).generate(GenerationRequest(prompt="a fox", width=640, height=832))

    body = json.loads(fake.calls_to("POST", APP_PATH)[0].body)
    assert body["image_size"] == {"width": 640, "height": 832}
    assert "loras" not in body and "seed" not in body
    assert isinstance(output.seed, int)
    assert fetched([output])[0].size == (640, 832)


def test_the_safety_checkers_verdict_flags_each_image(fake: FakeFalRun) -> None:
    fake.flag_next(1)
    outputs = make(fake).generate(GenerationRequest(prompt="a beach", n=2))

    assert [o.flagged for o in outputs] == [True, False]
    flagged, clean = fetched(outputs)
    assert flagged.getextrema() == ((0, 0), (0, 0), (0, 0))  # blacked out
    assert clean.getextrema() != flagged.getextrema()


def test_a_content_policy_refusal_is_not_an_ordinary_validation_error(fake: FakeFalRun) -> None:
    fake.refuse_content_next()
    with pytest.raises(ContentPolicyViolation, match="content checker") as caught:
        make(fake).generate(GenerationRequest(prompt="a beach"))
    assert caught.value.status_code == 422
    fake.fail_next(422)
    with pytest.raises(ProviderRejected) as validation:
        make(fake).generate(GenerationRequest(prompt="a beach"))
    assert not isinstance(validation.value, ContentPolicyViolation)
    assert validation.value.status_code == 422


def test_supports_plain_prompts_and_lora_urls_only(fake: FakeFalRun) -> None:
    generator = make(fake)
    assert generator.supports(GenerationRequest(prompt="x"))
    assert generator.supports(GenerationRequest(prompt="x", lora_url=LORA))
    assert not generator.supports(GenerationRequest(prompt="x", reference_image_urls=["u"]))
    assert not generator.supports(GenerationRequest(prompt="x", trained_version="acme/m:1"))


def test_rate_limits_server_errors_and_refusals_are_told_apart(fake: FakeFalRun) -> None:
    generator = make(fake)
    request = GenerationRequest(prompt="a fox")
    fake.fail_next(429, retry_after=3)
    with pytest.raises(ProviderRateLimited) as limited:
        generator.generate(request)
    fake.fail_next(503)
    with pytest.raises(ProviderUnavailable):
        generator.generate(request)
    with pytest.raises(ProviderRejected) as refused:
        make(fake, fal_key="wrong").generate(request)

    assert limited.value.retry_after == 3 and refused.value.status_code == 401
    assert fake.posts() == 3, "one POST per call, never retried inside"


def test_a_slow_answer_times_out_once(fake: FakeFalRun) -> None:
    fake.delay_next(2.0)
    with pytest.raises(ProviderUnavailable) as caught:
        make(fake, generation_timeout_seconds=0.5).generate(GenerationRequest(prompt="a fox"))
    assert caught.value.maybe_submitted and fake.posts() == 1


@pytest.mark.parametrize(
    "body",
    [b"\x00\x01 not json", {"seed": 1}, {"images": ["a"]}, {"images": [{"url": None}]}],
    ids=["not-json", "no-images", "not-objects", "no-url"],
)
def test_garbage_answers_are_unavailability(fake: FakeFalRun, body: object) -> None:
    fake.fail_next(200, body=body)
    with pytest.raises(ProviderUnavailable):
        make(fake).generate(GenerationRequest(prompt="a fox"))


def test_a_link_that_serves_no_image_is_caught_when_fetched(fake: FakeFalRun) -> None:
    fake.files["broken.jpeg"] = b"<html>expired</html>"
    fake.fail_next(200, body={"images": [{"url": f"{fake.url}/files/broken.jpeg"}]})
    [output] = make(fake).generate(GenerationRequest(prompt="a fox"))
    with httpx.Client() as client, pytest.raises(ProviderUnavailable):
        fetch_output(client, output)


def test_a_missing_key_stops_the_start() -> None:
    with pytest.raises(GeneratorConfigError, match="PHOTOAI_FAL_KEY"):
        FalGenerator(Settings(_env_file=None, fal_key=" "))
