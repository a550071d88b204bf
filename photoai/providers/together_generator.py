"""Image generation on Together AI: plain prompts, personal models and Instant likeness.

Together cannot train FLUX LoRAs but runs one from any `.safetensors` URL (`image_loras`), and
its reference-image models give a likeness straight from the uploaded photos: FLUX.2 takes a
list (`reference_images`), Kontext edits a single photo (`image_url`). Plain httpx instead of
the SDK because the SDK retries POSTs on 429/5xx, and each of those could be billed.
"""

from typing import Any

from photoai.providers.base import ProviderUnavailable
from photoai.providers.generation_base import GeneratedOutput, GenerationRequest
from photoai.providers.generation_http import (
    accepted_answer,
    make_client,
    mentions_content_policy,
    output_from_b64,
    output_from_url,
    post_billable,
    require,
)
from photoai.settings import Settings

NAME = "together"
GENERATIONS_PATH = "/v1/images/generations"
OUTPUT_FORMAT = "jpeg"


def _policy_reason(body: Any) -> str | None:
    """Together errors are `{"error": {"message", "type", "param", "code"}}`."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    message = str(error.get("message") or "")
    words = " ".join(str(error.get(key) or "") for key in ("type", "code"))
    if not mentions_content_policy(f"{message} {words}"):
        return None
    return message or words


class TogetherGenerator:
    name = NAME

    def __init__(self, settings: Settings) -> None:
        key = require(settings.together_api_key, "PHOTOAI_TOGETHER_API_KEY")
        self._headers = {"Authorization": f"Bearer {key}"}
        self._url = settings.together_base_url.rstrip("/") + GENERATIONS_PATH
        self._model = settings.together_model
        self._lora_model = settings.together_lora_model
        self._instant_model = settings.together_instant_model
        self._client = make_client(settings.generation_timeout_seconds, _policy_reason)

    def supports(self, request: GenerationRequest) -> bool:
        """Anything but a model that lives only at Replicate (a trained version, no LoRA URL)."""
        return request.lora_url is not None or request.trained_version is None

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "prompt": request.full_prompt,
            "width": request.width,
            "height": request.height,
            "n": request.n,
            "response_format": "base64",
            "output_format": OUTPUT_FORMAT,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if request.lora_url is not None:
            body["model"] = self._lora_model
            body["image_loras"] = [{"path": request.lora_url, "scale": request.lora_scale}]
        elif request.is_instant:
            body["model"] = self._instant_model
            if "kontext" in self._instant_model.lower():
                body["image_url"] = request.reference_image_urls[0]
            else:
                body["reference_images"] = request.reference_image_urls
        return body

    def generate(self, request: GenerationRequest) -> list[GeneratedOutput]:
        answer = post_billable(self._client, self._url, self._body(request), self._headers)
        with accepted_answer():
            items = answer.get("data")
            if not isinstance(items, list) or not items:
                raise ProviderUnavailable("Together answered without images")
            return [_output(item, request.seed) for item in items]

    def close(self) -> None:
        self._client.close()


def _output(item: object, seed: int | None) -> GeneratedOutput:
    """An item is `{"type": "b64_json", "b64_json"}` or `{"type": "url", "url"}`."""
    if not isinstance(item, dict):
        raise ProviderUnavailable("Together sent an image item that is not an object")
    kind = item.get("type") or ("url" if "url" in item else "b64_json")
    if kind == "url":
        return output_from_url(item.get("url"), seed=seed)
    return output_from_b64(item.get("b64_json"), seed=seed)
