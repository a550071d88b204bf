"""A local fake of Replicate's training API and webhooks, over real HTTP on 127.0.0.1.

Shapes follow the reference: Bearer auth, `GET /v1/models/{owner}/{name}` with
`latest_version`, `POST /v1/models`, `POST /v1/models/{o}/{n}/versions/{v}/trainings`,
`GET /v1/trainings` (newest first), `GET /v1/trainings/{id}`, `POST /v1/trainings/{id}/cancel`,
RFC 7807 errors, and the training object
`{id,status,input,logs,error,output:{version,weights},urls,...}`. The weights link serves
a tar holding `output/flux_train_replicate/lora.safetensors`, as the ostris trainer produces.
Webhooks are signed standard-webhooks style with a whsec_ secret and honour
`webhook_events_filter`.
"""

import base64
import hashlib
import hmac
import io
import json
import secrets
import tarfile
import time
from typing import Any

import pytest

from photoai.settings import get_settings
from tests.fakes.fal_server import lora_file
from tests.fakes.provider_http import FakeProvider, Reply, fetch_zip_images, json_body

TRAINER = "ostris/flux-dev-lora-trainer"
MIN_IMAGES = 4


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def weights_tar(weights: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in (
            ("output/flux_train_replicate/config.yaml", b"steps: 1000\n"),
            ("output/flux_train_replicate/lora.safetensors", weights),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


class FakeReplicate(FakeProvider):
    def __init__(
        self,
        token: str = "r8_test_token",
        *,
        secret: str | None = None,
        fetch_inputs: bool = False,
    ) -> None:
        super().__init__()
        self.token = token
        self.secret = secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self.fetch_inputs = fetch_inputs
        self.version = secrets.token_hex(32)
        self.trained_versions: list[str] = []
        self.deleted_versions: list[str] = []
        self.models: dict[str, dict[str, Any]] = {
            TRAINER: {"owner": "ostris", "name": "flux-dev-lora-trainer", "visibility": "public"}
        }
        self.trainings: dict[str, dict[str, Any]] = {}
        self.images_seen: dict[str, int] = {}
        self.weights = lora_file()

    def use(self, monkeypatch: pytest.MonkeyPatch, owner: str = "acme") -> None:
        monkeypatch.setenv("PHOTOAI_TRAINER", "replicate")
        monkeypatch.setenv("PHOTOAI_REPLICATE_API_TOKEN", self.token)
        monkeypatch.setenv("PHOTOAI_REPLICATE_BASE", self.url)
        monkeypatch.setenv("PHOTOAI_REPLICATE_WEBHOOK_SECRET", self.secret)
        monkeypatch.setenv("PHOTOAI_REPLICATE_DESTINATION_OWNER", owner)
        get_settings.cache_clear()

    def error_body(self, status: int, message: str) -> Any:
        if status == 429:
            return {"detail": "Request was throttled. Expected available in 1 second."}
        return problem(status, "Error", message)

    # --- the provider's side of the world -------------------------------------------------------

    def start(self, training_id: str, logs: str = "", *, deliver: bool = True) -> int | None:
        with self._lock:
            training = self.trainings[training_id]
            training["status"] = "processing"
            training["logs"] = logs or "flux_train_replicate:  40%|####  | 400/1000 [01:00<01:30]\n"
            training["started_at"] = "2026-11-01T00:00:05Z"
        return self.deliver(training_id, "start") if deliver else None

    def complete(self, training_id: str, *, deliver: bool = True) -> int | None:
        with self._lock:
            training = self.trainings[training_id]
            error = None
            if self.fetch_inputs:
                try:
                    count = fetch_zip_images(training["input"]["input_images"])
                except Exception as exc:
                    error = f"could not download input_images: {exc}"
                else:
                    self.images_seen[training_id] = count
                    error = None if count >= MIN_IMAGES else "too few images"
            if error:
                training |= {"status": "failed", "error": error}
            else:
                self.files[f"{training_id}/trained_model.tar"] = weights_tar(self.weights)
                training |= {
                    "status": "succeeded",
                    "logs": training["logs"] + "100%|##########| 1000/1000 [02:30<00:00]\n",
                    "output": {
                        "version": self._new_version(training["destination"]),
                        "weights": f"{self.url}/files/{training_id}/trained_model.tar",
                    },
                    "completed_at": "2026-11-01T00:10:00Z",
                    "metrics": {"predict_time": 600.0},
                }
        return self.deliver(training_id, "completed") if deliver else None

    def _new_version(self, destination: str) -> str:
        version = f"{destination}:{secrets.token_hex(32)}"
        self.trained_versions.append(version)
        return version

    def fail(
        self, training_id: str, error: str = "CUDA out of memory", *, deliver: bool = True
    ) -> int | None:
        with self._lock:
            self.trainings[training_id] |= {"status": "failed", "error": error}
        return self.deliver(training_id, "completed") if deliver else None

    def sign(
        self,
        body: bytes,
        *,
        webhook_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        wid = webhook_id or f"msg_{secrets.token_hex(12)}"
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        key = base64.b64decode((secret or self.secret).removeprefix("whsec_"))
        digest = hmac.new(key, f"{wid}.{stamp}.".encode() + body, hashlib.sha256).digest()
        return {
            "webhook-id": wid,
            "webhook-timestamp": stamp,
            "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
        }

    def webhook_body(self, training_id: str) -> bytes:
        return json.dumps(self.trainings[training_id]).encode()

    def deliver(self, training_id: str, event: str) -> int | None:
        training = self.trainings[training_id]
        if not training.get("webhook") or event not in training.get("webhook_events_filter", []):
            return None
        body = self.webhook_body(training_id)
        return self.post_webhook(training["webhook"], self.sign(body), body)

    # --- HTTP -----------------------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if headers.get("authorization") != f"Bearer {self.token}":
            return (
                401,
                problem(401, "Unauthenticated", "You did not pass a valid authentication token"),
                {},
            )
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "models"]:
            return self._models(method, parts[2:], body)
        if parts == ["v1", "trainings"] and method == "GET":
            newest_first = list(reversed(self.trainings.values()))
            return 200, {"previous": None, "next": None, "results": newest_first}, {}
        if parts[:2] == ["v1", "trainings"] and len(parts) >= 3:
            training = self.trainings.get(parts[2])
            if training is None:
                return (
                    404,
                    problem(404, "Not found", "The requested resource could not be found."),
                    {},
                )
            if method == "GET" and len(parts) == 3:
                return 200, training, {}
            if method == "POST" and parts[3:] == ["cancel"]:
                if training["status"] in ("starting", "processing"):
                    training |= {"status": "canceled", "error": None}
                return 200, training, {}
        return 404, problem(404, "Not found", "The requested resource could not be found."), {}

    def _models(self, method: str, rest: list[str], body: bytes) -> Reply:
        if method == "POST" and not rest:
            spec = json_body(body)
            if not isinstance(spec, dict) or not spec.get("owner") or not spec.get("name"):
                return 422, problem(422, "Invalid input", "owner and name are required"), {}
            if not spec.get("visibility") or not spec.get("hardware"):
                return (
                    422,
                    problem(422, "Invalid input", "visibility and hardware are required"),
                    {},
                )
            full = f"{spec['owner']}/{spec['name']}"
            if full in self.models:
                return 409, problem(409, "Conflict", "A model with that name already exists"), {}
            self.models[full] = {k: spec[k] for k in ("owner", "name", "visibility", "hardware")}
            return 201, self.models[full], {}
        if len(rest) < 2:
            return 404, problem(404, "Not found", "Not found."), {}
        full = f"{rest[0]}/{rest[1]}"
        model = self.models.get(full)
        if model is None:
            return 404, problem(404, "Not found", "Not found."), {}
        if method == "GET" and len(rest) == 2:
            latest = {"id": self.version} if full == TRAINER else None
            return 200, {**model, "latest_version": latest}, {}
        if method == "POST" and len(rest) == 5 and rest[2] == "versions" and rest[4] == "trainings":
            return self._create_training(full, rest[3], body)
        if method == "DELETE" and len(rest) == 4 and rest[2] == "versions":
            version = f"{full}:{rest[3]}"
            if version not in self.trained_versions:
                return 404, problem(404, "Not found", "The version does not exist."), {}
            with self._lock:
                self.trained_versions.remove(version)
                self.deleted_versions.append(version)
            return 202, {}, {}
        return 404, problem(404, "Not found", "Not found."), {}

    def _create_training(self, model: str, version: str, body: bytes) -> Reply:
        if model != TRAINER or version != self.version:
            return 404, problem(404, "Not found", "The version does not exist."), {}
        request = json_body(body)
        if not isinstance(request, dict) or not isinstance(request.get("input"), dict):
            return 422, problem(422, "Input validation failed", "- input is required"), {}
        destination = request.get("destination")
        if destination not in self.models:
            return (
                404,
                problem(404, "Not found", "The specified training destination does not exist"),
                {},
            )
        arguments = request["input"]
        if not isinstance(arguments.get("input_images"), str):
            return 422, problem(422, "Input validation failed", "- input_images: is required"), {}
        steps = arguments.get("steps", 1000)
        if not isinstance(steps, int) or not 3 <= steps <= 6000:
            return 422, problem(422, "Input validation failed", "- steps: must be 3..6000"), {}
        training_id = secrets.token_hex(13)
        self.trainings[training_id] = {
            "id": training_id,
            "model": TRAINER,
            "version": version,
            "destination": destination,
            "status": "starting",
            "input": arguments,
            "logs": "",
            "error": None,
            "output": None,
            "created_at": "2026-11-01T00:00:00Z",
            "webhook": request.get("webhook"),
            "webhook_events_filter": request.get("webhook_events_filter")
            or ["start", "output", "logs", "completed"],
            "urls": {
                "get": f"{self.url}/v1/trainings/{training_id}",
                "cancel": f"{self.url}/v1/trainings/{training_id}/cancel",
            },
        }
        return 201, self.trainings[training_id], {}
