"""A local fake of Replicate's predictions API, over real HTTP on 127.0.0.1.

Kept apart from the training fake in `replicate_server.py`, whose error shapes it reuses.
Shapes follow the reference: `POST /v1/predictions {version, input}` with Bearer auth and an
optional `Prefer: wait=N`, `GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`,
the prediction object `{id, version, status, input, output, error, logs, urls, ...}` with status
`starting|processing|succeeded|failed|canceled`, output a list of image URLs (served by the
fake), RFC 7807 errors and the throttling 429 `{"detail": ...}`.

A prediction finishes inside the POST unless `polls_before_done` asks for that many GETs first;
`fail_next_prediction` makes the next one fail with a given error (e.g. the NSFW refusal).
"""

import secrets
import uuid
from typing import Any

from tests.fakes.provider_http import FakeProvider, Reply, json_body
from tests.fakes.replicate_server import problem
from tests.fakes.together_server import image_bytes

PREDICTIONS = "/v1/predictions"
TOKEN = "r8_test_token"
NSFW_ERROR = "NSFW content detected. Try running it again, or try a different prompt."
NAMED_RATIOS = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}


class FakeReplicatePredictions(FakeProvider):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.version = f"acme/photoai-loras:{secrets.token_hex(32)}"
        self.predictions: dict[str, dict[str, Any]] = {}
        self.polls_before_done = 0
        self.next_failure: str | None = None
        self._polls_left: dict[str, int] = {}

    def error_body(self, status: int, message: str) -> Any:
        if status == 429:
            return {"detail": "Request was throttled. Expected available in 1 second."}
        return problem(status, "Error", message)

    def fail_next_prediction(self, error: str = NSFW_ERROR) -> None:
        with self._lock:
            self.next_failure = error

    def posts(self) -> int:
        return len([c for c in self.calls_to("POST", PREDICTIONS) if c.path == PREDICTIONS])

    def canceled(self) -> list[str]:
        return [c.path.split("/")[3] for c in self.calls if c.path.endswith("/cancel")]

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, problem(401, "Unauthenticated", "You did not pass a valid token"), {}
        parts = path.strip("/").split("/")
        if (method, path) == ("POST", PREDICTIONS):
            return self._create(json_body(body))
        if parts[:2] == ["v1", "predictions"] and len(parts) >= 3:
            prediction = self.predictions.get(parts[2])
            if prediction is None:
                return 404, problem(404, "Not found", "The requested resource does not exist"), {}
            if method == "GET" and len(parts) == 3:
                return 200, self._poll(prediction), {}
            if method == "POST" and parts[3:] == ["cancel"]:
                if prediction["status"] in ("starting", "processing"):
                    prediction["status"] = "canceled"
                return 200, prediction, {}
        return 404, problem(404, "Not found", f"no route {method} {path}"), {}

    def _create(self, request: Any) -> Reply:
        if not isinstance(request, dict) or not isinstance(request.get("input"), dict):
            return 422, problem(422, "Invalid input", "input is required"), {}
        if request.get("version") != self.version:
            return 422, problem(422, "Invalid version", "Invalid version or not permitted"), {}
        inputs = request["input"]
        size = self._size(inputs)
        count = inputs.get("num_outputs", 1)
        if not isinstance(inputs.get("prompt"), str) or not inputs["prompt"].strip():
            return 422, problem(422, "Input validation failed", "prompt is required"), {}
        if not isinstance(count, int) or not 1 <= count <= 4:
            return 422, problem(422, "Input validation failed", "num_outputs: 1-4"), {}
        if size is None:
            return 422, problem(422, "Input validation failed", "aspect_ratio is invalid"), {}
        prediction_id = uuid.uuid4().hex[:20]
        prediction: dict[str, Any] = {
            "id": prediction_id,
            "version": self.version,
            "status": "starting",
            "input": inputs,
            "output": None,
            "error": None,
            "logs": "",
            "created_at": "2026-11-01T00:00:00Z",
            "urls": {
                "get": f"{self.url}{PREDICTIONS}/{prediction_id}",
                "cancel": f"{self.url}{PREDICTIONS}/{prediction_id}/cancel",
            },
        }
        self.predictions[prediction_id] = prediction
        self._polls_left[prediction_id] = self.polls_before_done
        if self.polls_before_done == 0:
            self._finish(prediction, size)
        return 201, prediction, {}

    def _size(self, inputs: dict[str, Any]) -> tuple[int, int] | None:
        ratio = inputs.get("aspect_ratio", "1:1")
        if ratio == "custom":
            width, height = inputs.get("width"), inputs.get("height")
            if isinstance(width, int) and isinstance(height, int):
                return width, height
            return None
        return NAMED_RATIOS.get(ratio)

    def _poll(self, prediction: dict[str, Any]) -> dict[str, Any]:
        if prediction["status"] in ("starting", "processing"):
            left = self._polls_left[prediction["id"]] - 1
            self._polls_left[prediction["id"]] = left
            prediction["status"] = "processing"
            if left <= 0:
                size = self._size(prediction["input"])
                assert size is not None  # checked when it was created
                self._finish(prediction, size)
        return prediction

    def _finish(self, prediction: dict[str, Any], size: tuple[int, int]) -> None:
        if self.next_failure is not None:
            prediction |= {"status": "failed", "error": self.next_failure}
            self.next_failure = None
            return
        inputs = prediction["input"]
        fmt = {"png": "PNG", "webp": "WEBP"}.get(inputs.get("output_format"), "JPEG")
        suffix = {"JPEG": "jpg"}.get(fmt, fmt.lower())
        urls = []
        for index in range(inputs.get("num_outputs", 1)):
            name = f"{prediction['id']}/out-{index}.{suffix}"
            salt = f"{inputs.get('seed')}:{index}:{inputs['prompt']}"
            self.files[name] = image_bytes(*size, fmt=fmt, salt=salt)
            urls.append(f"{self.url}/files/{name}")
        prediction |= {"status": "succeeded", "output": urls, "metrics": {"predict_time": 2.5}}
