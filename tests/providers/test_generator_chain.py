"""Fallback across real fake providers, the configured order, and the checks before it."""

from collections.abc import Iterator
from io import BytesIO

import pytest
from PIL import Image

from photoai.providers.base import ProviderRejected
from photoai.providers.demo_generator import DemoGenerator
from photoai.providers.fal_generator import FalGenerator
from photoai.providers.generation_base import (
    ContentPolicyViolation,
    GenerationRequest,
    Generator,
    GeneratorConfigError,
    PromptRejected,
    check_prompt,
)
from photoai.providers.generator_chain import (
    AllGeneratorsFailed,
    NoGeneratorSupports,
    build_generators,
    generate_with_fallback,
)
from photoai.providers.replicate_generator import ReplicateGenerator
from photoai.providers.together_generator import TogetherGenerator
from photoai.settings import Settings
from tests.fakes.fal_run_server import FakeFalRun
from tests.fakes.replicate_predictions_server import FakeReplicatePredictions
from tests.fakes.together_server import FakeTogether

LORA = "https://files.example/lora.safetensors"
Fakes = tuple[FakeTogether, FakeFalRun, FakeReplicatePredictions]


@pytest.fixture(scope="module")
def servers() -> Iterator[Fakes]:
    """Shared by the module (each fake takes half a second to stop); every test consumes the
    failures it injects, and the call logs are cleared per test."""
    together, fal, replicate = FakeTogether(), FakeFalRun(), FakeReplicatePredictions()
    with together, fal, replicate:
        yield together, fal, replicate


@pytest.fixture
def fakes(servers: Fakes) -> Fakes:
    for server in servers:
        server.calls.clear()
    return servers


def settings(fakes: Fakes, *names: str, **overrides: object) -> Settings:
    together, fal, replicate = fakes
    values: dict[str, object] = {
        "generators": list(names),
        "together_api_key": together.key,
        "together_base_url": together.url,
        "fal_key": fal.key,
        "fal_run_base": fal.url,
        "replicate_api_token": replicate.token,
        "replicate_base": replicate.url,
        "generation_timeout_seconds": 0.5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def chain(fakes: Fakes, *names: str) -> list[tuple[str, Generator]]:
    return build_generators(settings(fakes, *names))


def lora_request(n: int = 1) -> GenerationRequest:
    return GenerationRequest(prompt="portrait", lora_url=LORA, trigger_word="TOK", n=n)


def posts(fakes: Fakes) -> tuple[int, int, int]:
    together, fal, replicate = fakes
    return together.posts(), fal.posts(), replicate.posts()


# --- moving on -----------------------------------------------------------------------------------


def test_the_first_provider_answers_when_it_can(fakes: Fakes) -> None:
    name, outputs = generate_with_fallback(lora_request(2), chain(fakes, "together", "fal"))
    assert name == "together" and len(outputs) == 2
    assert posts(fakes) == (1, 0, 0)


@pytest.mark.parametrize("status", [429, 500, 503, 401, 402, 403, 404])
def test_a_provider_side_failure_moves_on_with_one_post_each(fakes: Fakes, status: int) -> None:
    fakes[0].fail_next(status, retry_after=5 if status == 429 else None)
    name, outputs = generate_with_fallback(lora_request(), chain(fakes, "together", "fal"))
    assert name == "fal" and len(outputs) == 1 and outputs[0].url
    assert posts(fakes) == (1, 1, 0)


def test_a_timeout_moves_on_without_repeating_the_post(fakes: Fakes) -> None:
    fakes[0].delay_next(2.0)
    name, _ = generate_with_fallback(lora_request(), chain(fakes, "together", "fal"))
    assert name == "fal" and posts(fakes) == (1, 1, 0)


def test_garbage_from_one_provider_moves_on(fakes: Fakes) -> None:
    fakes[0].fail_next(200, body=b"<html>oops</html>")
    name, _ = generate_with_fallback(lora_request(), chain(fakes, "together", "fal"))
    assert name == "fal"


def test_demo_can_be_the_last_resort(fakes: Fakes) -> None:
    fakes[0].fail_next(503)
    request = GenerationRequest(prompt="a lighthouse", width=768, height=1024)
    name, [output] = generate_with_fallback(request, chain(fakes, "together", "demo"))
    assert name == "demo" and output.data is not None
    assert Image.open(BytesIO(output.data)).size == (768, 1024)


# --- stopping ------------------------------------------------------------------------------------


def test_a_validation_refusal_stops_the_chain(fakes: Fakes) -> None:
    fakes[0].fail_next(400)
    with pytest.raises(ProviderRejected) as caught:
        generate_with_fallback(lora_request(), chain(fakes, "together", "fal"))
    assert caught.value.status_code == 400
    assert posts(fakes) == (1, 0, 0)


def test_a_content_policy_refusal_stops_the_chain(fakes: Fakes) -> None:
    fakes[1].refuse_content_next()
    with pytest.raises(ContentPolicyViolation):
        generate_with_fallback(lora_request(), chain(fakes, "fal", "together", "demo"))
    assert posts(fakes) == (0, 1, 0)


def test_an_nsfw_prediction_at_replicate_stops_the_chain(fakes: Fakes) -> None:
    replicate = fakes[2]
    replicate.fail_next_prediction()
    request = GenerationRequest(prompt="portrait", trained_version=replicate.version)
    with pytest.raises(ContentPolicyViolation):
        generate_with_fallback(request, chain(fakes, "replicate", "demo"))


def test_when_all_fail_the_error_says_why_and_when_to_retry(fakes: Fakes) -> None:
    together, fal, _ = fakes
    together.fail_next(429, retry_after=7)
    fal.delay_next(2.0)
    with pytest.raises(AllGeneratorsFailed) as caught:
        generate_with_fallback(lora_request(), chain(fakes, "together", "fal"))

    error = caught.value
    assert [name for name, _ in error.failures] == ["together", "fal"]
    assert error.retry_after == 7
    assert error.maybe_submitted, "fal timed out after the request went out"
    assert "together" in str(error) and "fal" in str(error)
    assert posts(fakes) == (1, 1, 0)


# --- who can serve what --------------------------------------------------------------------------


def test_generators_that_cannot_serve_the_mode_are_skipped(fakes: Fakes) -> None:
    replicate = fakes[2]
    request = GenerationRequest(prompt="portrait", trained_version=replicate.version)
    name, _ = generate_with_fallback(request, chain(fakes, "together", "fal", "replicate"))
    assert name == "replicate" and posts(fakes) == (0, 0, 1)

    instant = GenerationRequest(prompt="astronaut", reference_image_urls=["https://x/a.jpg"])
    name, _ = generate_with_fallback(instant, chain(fakes, "fal", "together"))
    assert name == "together" and posts(fakes) == (1, 0, 1)


def test_no_generator_for_the_mode_is_a_permanent_refusal(fakes: Fakes) -> None:
    request = GenerationRequest(prompt="portrait", trained_version="acme/m:1")
    with pytest.raises(NoGeneratorSupports):
        generate_with_fallback(request, chain(fakes, "together", "fal"))
    assert posts(fakes) == (0, 0, 0)


# --- building the chain --------------------------------------------------------------------------


def test_the_default_is_the_offline_demo() -> None:
    [(name, generator)] = build_generators(Settings(_env_file=None))
    assert name == "demo" and isinstance(generator, DemoGenerator)


def test_the_configured_order_is_kept(fakes: Fakes) -> None:
    built = chain(fakes, "Replicate", " fal", "together", "demo")
    assert [name for name, _ in built] == ["replicate", "fal", "together", "demo"]
    kinds = [ReplicateGenerator, FalGenerator, TogetherGenerator, DemoGenerator]
    assert all(isinstance(g, kind) for (_, g), kind in zip(built, kinds, strict=True))


def test_the_order_comes_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOAI_GENERATORS", '["together", "demo"]')
    monkeypatch.setenv("PHOTOAI_TOGETHER_API_KEY", "key")
    built = build_generators(Settings(_env_file=None))
    assert [name for name, _ in built] == ["together", "demo"]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["demo", "midjourney"], "unknown generator.*'midjourney'.*known: demo, together"),
        (["demo", "demo"], "twice"),
        (["together"], "PHOTOAI_TOGETHER_API_KEY"),
        (["fal"], "PHOTOAI_FAL_KEY"),
        (["replicate"], "PHOTOAI_REPLICATE_API_TOKEN"),
    ],
)
def test_a_bad_configuration_fails_at_start_up(names: list[str], message: str) -> None:
    with pytest.raises(GeneratorConfigError, match=message):
        build_generators(Settings(_env_file=None, generators=names))


# --- before any provider -------------------------------------------------------------------------


def test_prompts_are_trimmed_and_checked_before_any_provider() -> None:
    rules: dict[str, object] = {"max_chars": 40, "blocked_terms": ["nude", "gore"]}
    assert check_prompt("  a   gorgeous  sunset ", **rules) == "a gorgeous sunset"  # type: ignore[arg-type]
    for prompt in ("NUDE portrait", "two nudes on a beach", "x" * 41, "   "):
        with pytest.raises(PromptRejected):
            check_prompt(prompt, **rules)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": " "},
        {"prompt": "x", "n": 5},
        {"prompt": "x", "n": 0},
        {"prompt": "x", "width": 100},
        {"prompt": "x", "height": 1000},
        {"prompt": "x", "width": 2048},
        {"prompt": "x", "lora_scale": 0},
        {"prompt": "x", "seed": -1},
    ],
)
def test_impossible_requests_never_reach_a_provider(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        GenerationRequest(**fields)  # type: ignore[arg-type]


def test_the_trigger_word_is_added_once_and_only_for_a_personal_model() -> None:
    assert lora_request().full_prompt == "TOK portrait"
    with_word = GenerationRequest(prompt="TOK in Paris", lora_url=LORA, trigger_word="TOK")
    assert with_word.full_prompt == "TOK in Paris"
    assert GenerationRequest(prompt="Paris", trigger_word="TOK").full_prompt == "Paris"
    assert GenerationRequest(prompt="x", width=768, height=1024).aspect_ratio == "3:4"
