"""Image generation on fal.ai with `fal-ai/flux-lora`, synchronously through fal.run.

The synchronous host answers with the result in one POST, which suits a batch of a few images
inside a job that already has its own timeout; the queue API is kept for trainings. fal runs
our own LoRA from any URL and reports its safety checker's verdict per image
(`has_nsfw_concepts`), which becomes `GeneratedOutput.flagged`. fal has no reference-image
mode, so Instant requests are left to other generators.
"""

from typing import Any

from photoai.providers.base import ProviderUnavailable
from photoai.providers.generation_base import GeneratedOutput, GenerationRequest
from photoai.providers.generation_http import (
    accepted_answer,
    make_client,
    mentions_content_policy,
    output_from_url,
    post_billable,
    require,
)
from photoai.settings import Settings

NAME = "fal"
APP = "fal-ai/flux-lora"
OUTPUT_FORMAT = "jpeg"
POLICY_ERROR_TYPE = "content_policy_violation"
_PRESETS = {
    (1024, 1024): "square_hd",
    (512, 512): "square",
    (768, 1024): "portrait_4_3",
    (576, 1024): "portrait_16_9",
    (1024, 768): "landscape_4_3",
    (1024, 576): "landscape_16_9",
}


def image_size(width: int, height: int) -> str | dict[str, int]:
    """fal's preset name for the size when there is one, else the explicit size."""
    return _PRESETS.get((width, height)) or {"width": width, "height": height}


def _policy_reason(body: Any) -> str | None:
    """fal errors are `{"detail": str | [{loc, msg, type}]}`; a refusal has its own type."""
    detail = body.get("detail") if isinstance(body, dict) else None
    items = detail if isinstance(detail, list) else [{"msg": detail}]
    for item in items:
        if not isinstance(item, dict):
            continue
        message = str(item.get("msg") or "")
        if item.get("type") == POLICY_ERROR_TYPE or mentions_content_policy(message):
            return message or POLICY_ERROR_TYPE
    return None


class FalGenerator:
    name = NAME

    def __init__(self, settings: Settings) -> None:
        self._headers = {"Authorization": f"Key {require(settings.fal_key, 'PHOTOAI_FAL_KEY')}"}
        self._url = f"{settings.fal_run_base.rstrip('/')}/{APP}"
        self._client = make_client(settings.generation_timeout_seconds, _policy_reason)

    def supports(self, request: GenerationRequest) -> bool:
        """Plain prompts and LoRA URLs; not Instant, not Replicate-only trained versions."""
        if request.lora_url is not None:
            return True
        return request.trained_version is None and not request.is_instant

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": request.full_prompt,
            "image_size": image_size(request.width, request.height),
            "num_images": request.n,
            "output_format": OUTPUT_FORMAT,
            "enable_safety_checker": True,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.lora_url is not None:
            body["loras"] = [{"path": request.lora_url, "scale": request.lora_scale}]
        return body

    def generate(self, request: GenerationRequest) -> list[GeneratedOutput]:
        answer = post_billable(self._client, self._url, self._body(request), self._headers)
        with accepted_answer():
            images = answer.get("images")
            if not isinstance(images, list) or not images:
                raise ProviderUnavailable("fal answered without images")
            flags = answer.get("has_nsfw_concepts")
            flags = flags if isinstance(flags, list) else []
            seed = answer.get("seed")
            seed = seed if isinstance(seed, int) else request.seed
            outputs = []
            for index, image in enumerate(images):
                if not isinstance(image, dict):
                    raise ProviderUnavailable("fal sent an image entry that is not an object")
                outputs.append(
                    output_from_url(
                        image.get("url"),
                        content_type=image.get("content_type"),
                        seed=seed,
                        flagged=index < len(flags) and flags[index] is True,
                    )
                )
            return outputs

    def close(self) -> None:
        self._client.close()
