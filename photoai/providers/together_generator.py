"""Image generation on Together AI: plain prompts, personal models and Instant likeness.

Together cannot train FLUX LoRAs but runs one from any `.safetensors` URL (`image_loras`), and
its reference-image models give a likeness straight from the uploaded photos: FLUX.2 takes a
list (`reference_images`), Kontext edits a single photo (`image_url`).

It goes through Together's own SDK with `max_retries=0`: by default the SDK retries a POST on
timeouts, 408/409/429 and 5xx, and every repeat could be billed. The SDK's errors are sorted
by the same rules as every other provider's (`providers.http`), from the httpx answer or
error each of them carries, and the answer is read as raw JSON, so an unreadable 2xx is
"maybe submitted" here too.
"""

from typing import Any

import httpx
from together import APIConnectionError, APIStatusError, Together

from photoai.providers import http
from photoai.providers.base import ProviderUnavailable
from photoai.providers.generation_base import GeneratedOutput, GenerationRequest
from photoai.providers.generation_http import (
    accepted_answer,
    client_timeout,
    mentions_content_policy,
    output_from_b64,
    output_from_url,
    policy_violation,
    require,
)
from photoai.settings import Settings

NAME = "together"
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
        self._client = Together(
            api_key=require(settings.together_api_key, "PHOTOAI_TOGETHER_API_KEY"),
            base_url=settings.together_base_url.rstrip("/"),
            timeout=client_timeout(settings.generation_timeout_seconds),
            max_retries=0,
        )
        self._model = settings.together_model
        self._lora_model = settings.together_lora_model
        self._instant_model = settings.together_instant_model

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
        answer = http.json_object(self._post(self._body(request)), creating=True)
        with accepted_answer():
            items = answer.get("data")
            if not isinstance(items, list) or not items:
                raise ProviderUnavailable("Together answered without images")
            return [_output(item, request.seed) for item in items]

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        """The one billable call, as the raw httpx answer; failures sorted like `http.send`."""
        try:
            return self._client.images.with_raw_response.generate(**body).http_response
        except APIStatusError as exc:
            raise (
                policy_violation(exc.response, _policy_reason)
                or http.status_failure(exc.response, creating=True)
                or ProviderUnavailable(f"Together answered {exc.status_code}", maybe_submitted=True)
            ) from exc
        except APIConnectionError as exc:
            raise http.transport_failure(exc.__cause__, creating=True) from exc

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
