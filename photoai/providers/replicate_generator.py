"""Image generation on Replicate with a model version trained there.

Replicate's trainer produces a version (`owner/model:id`) of a FLUX LoRA model; generating
with it is one prediction. `Prefer: wait` asks Replicate to answer when the prediction is done
(up to 60 s); a prediction still running after that is polled until our own deadline, then
cancelled, because nobody will ever collect its images and it keeps costing while it runs.
"""

import contextlib
import time
from collections.abc import Callable
from typing import Any

from photoai.providers import http
from photoai.providers.base import ProviderError, ProviderUnavailable
from photoai.providers.generation_base import (
    ContentPolicyViolation,
    GeneratedOutput,
    GenerationRequest,
)
from photoai.providers.generation_http import (
    make_client,
    mentions_content_policy,
    output_from_url,
    post_billable,
    require,
)
from photoai.settings import Settings

NAME = "replicate"
OUTPUT_FORMAT = "jpg"
MAX_PREFER_WAIT = 60
# Replicate's FLUX models name these ratios and render each at a size of their own close to
# it (3:4 is 896x1152); any other size is sent as "custom" with exact width and height.
NAMED_RATIOS = {"1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"}
_RUNNING = {"starting", "processing"}


def _policy_reason(body: Any) -> str | None:
    """Errors are RFC 7807 problems `{type, title, status, detail}`."""
    if not isinstance(body, dict):
        return None
    text = f"{body.get('title') or ''} {body.get('detail') or ''}".strip()
    return text if mentions_content_policy(text) else None


class ReplicateGenerator:
    name = NAME

    def __init__(
        self,
        settings: Settings,
        *,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        token = require(settings.replicate_api_token, "PHOTOAI_REPLICATE_API_TOKEN")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._base = settings.replicate_base.rstrip("/")
        self._timeout = settings.generation_timeout_seconds
        self._wait = max(1, min(MAX_PREFER_WAIT, int(self._timeout / 2)))
        self._poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._client = make_client(self._timeout, _policy_reason)

    def supports(self, request: GenerationRequest) -> bool:
        """Only models trained at Replicate: it does not take LoRA URLs or reference photos."""
        return request.trained_version is not None

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        inputs: dict[str, Any] = {
            "prompt": request.full_prompt,
            "num_outputs": request.n,
            "lora_scale": request.lora_scale,
            "output_format": OUTPUT_FORMAT,
        }
        if request.aspect_ratio in NAMED_RATIOS:
            inputs["aspect_ratio"] = request.aspect_ratio
        else:
            inputs |= {"aspect_ratio": "custom", "width": request.width, "height": request.height}
        if request.seed is not None:
            inputs["seed"] = request.seed
        return {"version": request.trained_version, "input": inputs}

    def generate(self, request: GenerationRequest) -> list[GeneratedOutput]:
        deadline = self._clock() + self._timeout
        prediction = post_billable(
            self._client,
            f"{self._base}/v1/predictions",
            self._body(request),
            {**self._headers, "Prefer": f"wait={self._wait}"},
        )
        prediction_id = prediction.get("id")
        if not isinstance(prediction_id, str) or not prediction_id:
            raise ProviderUnavailable(
                "Replicate accepted the prediction but sent no id", maybe_submitted=True
            )
        try:
            while prediction.get("status") in _RUNNING:
                if self._clock() + self._poll_interval > deadline:
                    raise ProviderUnavailable(
                        f"Replicate's prediction took longer than {self._timeout:g} s",
                        maybe_submitted=True,
                    )
                self._sleep(self._poll_interval)
                prediction = self._get(prediction_id)
        except ProviderError:
            self._cancel(prediction_id)
            raise
        return _outputs(prediction, request.seed)

    def _get(self, prediction_id: str) -> dict[str, Any]:
        url = f"{self._base}/v1/predictions/{prediction_id}"
        return http.json_object(http.send(self._client, "GET", url, headers=self._headers))

    def _cancel(self, prediction_id: str) -> None:
        """Best effort: the failure being reported matters more than this one."""
        url = f"{self._base}/v1/predictions/{prediction_id}/cancel"
        with contextlib.suppress(ProviderError):
            http.send(self._client, "POST", url, headers=self._headers)

    def close(self) -> None:
        self._client.close()


def _outputs(prediction: dict[str, Any], seed: int | None) -> list[GeneratedOutput]:
    status = prediction.get("status")
    if status in ("failed", "canceled"):
        error = str(prediction.get("error") or f"prediction {status}")[:300]
        if mentions_content_policy(error):
            raise ContentPolicyViolation(error)
        raise ProviderUnavailable(f"Replicate's prediction {status}: {error}")
    if status != "succeeded":
        raise ProviderUnavailable(f"Replicate reported an unknown status {status!r}")
    output = prediction.get("output")
    urls = [output] if isinstance(output, str) else output
    if not isinstance(urls, list) or not urls:
        raise ProviderUnavailable("Replicate's prediction succeeded without images")
    return [output_from_url(url, seed=seed) for url in urls]
