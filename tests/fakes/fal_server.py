"""A local fake of fal.ai's queue API and webhooks, over real HTTP on 127.0.0.1.

Shapes follow the reference (shared/reference/providers.md): `Authorization: Key`, submit to
`/{app}[/{subpath}]?fal_webhook=`, status/result/cancel under the app's first two path
segments, `{"detail": ...}` errors, webhooks `{"request_id","gateway_request_id","status",
"payload"|"error"}` signed with Ed25519 over `request_id\\nuser_id\\ntimestamp\\nsha256(body)`
by a keypair of its own, whose public half it serves as a JWKS. Tests move a request through
its life (`start`, `complete`, `fail`) and the fake delivers the webhook when asked.
"""

import base64
import hashlib
import json
import time
import uuid
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from photoai.providers.demo_trainer import safetensors_bytes
from photoai.settings import get_settings
from tests.fakes.provider_http import FakeProvider, Reply, fetch_zip_images, json_body

JWKS_PATH = "/.well-known/jwks.json"
MIN_IMAGES = 4


def lora_file() -> bytes:
    """A small but genuine .safetensors file, standing in for a trained LoRA."""
    tensors = {
        "lora_unet.a.lora_down.weight": np.ones((4, 16), dtype=np.float32),
        "lora_unet.a.lora_up.weight": np.full((16, 4), 0.5, dtype=np.float32),
    }
    return safetensors_bytes(tensors, {"format": "pt"})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeFal(FakeProvider):
    def __init__(self, key: str = "fal-test-key", *, fetch_inputs: bool = False) -> None:
        super().__init__()
        self.key = key
        self.fetch_inputs = fetch_inputs
        self.signing_key = Ed25519PrivateKey.generate()
        self.user_id = "fake-fal-user"
        self.requests: dict[str, dict[str, Any]] = {}
        self.canceled: list[str] = []
        self.payloads_deleted: list[str] = []
        self.images_seen: dict[str, int] = {}
        self.weights = lora_file()

    def use(
        self, monkeypatch: pytest.MonkeyPatch, app: str = "fal-ai/flux-lora-fast-training"
    ) -> None:
        """Point photoai's settings at this fake and make fal the trainer."""
        monkeypatch.setenv("PHOTOAI_TRAINER", "fal")
        monkeypatch.setenv("PHOTOAI_FAL_KEY", self.key)
        monkeypatch.setenv("PHOTOAI_FAL_QUEUE_BASE", self.url)
        monkeypatch.setenv("PHOTOAI_FAL_API_BASE", self.url)
        monkeypatch.setenv("PHOTOAI_FAL_JWKS_URL", f"{self.url}{JWKS_PATH}")
        monkeypatch.setenv("PHOTOAI_FAL_TRAINER_APP", app)
        get_settings.cache_clear()

    # --- the provider's side of the world -------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        public = self.signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "fake-1", "x": b64url(public)}]}

    def start(self, request_id: str, logs: list[str] | None = None) -> None:
        with self._lock:
            entry = self.requests[request_id]
            entry["state"] = "IN_PROGRESS"
            entry["logs"] = logs or [
                "Downloading images",
                "Training:  25%| | 250/1000 [00:10<00:30]",
            ]

    def complete(self, request_id: str, *, deliver: bool = True) -> int | None:
        """Finish successfully (unless the inputs cannot be fetched); returns the webhook's
        answer status when delivered."""
        with self._lock:
            entry = self.requests[request_id]
            entry["state"] = "COMPLETED"
            if self.fetch_inputs:
                try:
                    count = fetch_zip_images(entry["input"]["images_data_url"])
                except Exception as exc:
                    entry["error"] = f"Could not download images_data_url: {exc}"
                else:
                    self.images_seen[request_id] = count
                    if count < MIN_IMAGES:
                        entry["error"] = f"At least {MIN_IMAGES} images are required."
            if "error" not in entry:
                self.files[f"{request_id}/pytorch_lora_weights.safetensors"] = self.weights
                self.files[f"{request_id}/config.json"] = b'{"steps": 1000}'
                entry["result"] = {
                    "diffusers_lora_file": {
                        "url": f"{self.url}/files/{request_id}/pytorch_lora_weights.safetensors",
                        "content_type": "application/octet-stream",
                        "file_name": "pytorch_lora_weights.safetensors",
                        "file_size": len(self.weights),
                    },
                    "config_file": {"url": f"{self.url}/files/{request_id}/config.json"},
                }
        return self.deliver(request_id) if deliver else None

    def fail(
        self, request_id: str, error: str = "Training crashed", *, deliver: bool = True
    ) -> int | None:
        with self._lock:
            entry = self.requests[request_id]
            entry["state"] = "COMPLETED"
            entry["error"] = error
        return self.deliver(request_id) if deliver else None

    def webhook_body(self, request_id: str) -> bytes:
        entry = self.requests[request_id]
        body: dict[str, Any] = {"request_id": request_id, "gateway_request_id": request_id}
        if "error" in entry:
            body |= {
                "status": "ERROR",
                "error": "Invalid status code: 422",
                "payload": {
                    "detail": [{"loc": ["body"], "msg": entry["error"], "type": "value_error"}]
                },
            }
        else:
            body |= {"status": "OK", "payload": entry["result"]}
        return json.dumps(body).encode()

    def sign(
        self,
        request_id: str,
        body: bytes,
        *,
        timestamp: int | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        message = "\n".join((request_id, self.user_id, stamp, hashlib.sha256(body).hexdigest()))
        signature = (key or self.signing_key).sign(message.encode())
        return {
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": self.user_id,
            "X-Fal-Webhook-Timestamp": stamp,
            "X-Fal-Webhook-Signature": signature.hex(),
        }

    def deliver(self, request_id: str) -> int | None:
        webhook = self.requests[request_id].get("webhook")
        if not webhook:
            return None
        body = self.webhook_body(request_id)
        return self.post_webhook(webhook, self.sign(request_id, body), body)

    # --- HTTP -----------------------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if method == "GET" and path == JWKS_PATH:
            return 200, self.jwks(), {}
        if headers.get("authorization") != f"Key {self.key}":
            return 401, {"detail": "Invalid or missing key"}, {}
        segments = path.strip("/").split("/")
        if method == "DELETE" and segments[:3] == ["v1", "models", "requests"]:
            return self._delete_payloads(segments[3:])
        if len(segments) >= 4 and segments[2] == "requests":
            return self._request_route(method, "/".join(segments[:2]), segments[3], segments[4:])
        if method == "POST" and len(segments) >= 2:
            return self._submit("/".join(segments), query, body)
        return 404, {"detail": "Not found"}, {}

    def _delete_payloads(self, rest: list[str]) -> Reply:
        """Platform API: DELETE /v1/models/requests/{id}/payloads forgets a request's input
        and output and deletes its output files."""
        if len(rest) != 2 or rest[1] != "payloads" or rest[0] not in self.requests:
            return 404, {"detail": "Request not found"}, {}
        with self._lock:
            self.requests[rest[0]]["input"] = None
            self.payloads_deleted.append(rest[0])
        return 200, {"cdn_delete_results": []}, {}

    def _submit(self, app: str, query: dict[str, list[str]], body: bytes) -> Reply:
        arguments = json_body(body)
        if not isinstance(arguments, dict):
            return (
                422,
                {"detail": [{"loc": ["body"], "msg": "expected an object", "type": "type_error"}]},
                {},
            )
        problems = []
        if not isinstance(arguments.get("images_data_url"), str):
            problems.append(
                {
                    "loc": ["body", "images_data_url"],
                    "msg": "field required",
                    "type": "value_error.missing",
                }
            )
        steps = arguments.get("steps", 1000)
        if not isinstance(steps, int) or not 1 <= steps <= 10000:
            problems.append(
                {"loc": ["body", "steps"], "msg": "must be 1..10000", "type": "value_error"}
            )
        if problems:
            return 422, {"detail": problems}, {}
        request_id = str(uuid.uuid4())
        root = "/".join(app.split("/")[:2])
        self.requests[request_id] = {
            "app": app,
            "root": root,
            "input": arguments,
            "webhook": (query.get("fal_webhook") or [""])[0],
            "state": "IN_QUEUE",
            "logs": [],
        }
        base = f"{self.url}/{root}/requests/{request_id}"
        return (
            200,
            {
                "request_id": request_id,
                "gateway_request_id": request_id,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
                "queue_position": 0,
            },
            {},
        )

    def _request_route(self, method: str, root: str, request_id: str, rest: list[str]) -> Reply:
        entry = self.requests.get(request_id)
        if entry is None or entry["root"] != root:
            return 404, {"detail": "Request not found"}, {}
        logs = [
            {"message": line, "level": "INFO", "source": "user", "timestamp": "2026-11-01T00:00:00"}
            for line in entry["logs"]
        ]
        response_url = f"{self.url}/{root}/requests/{request_id}"
        if method == "GET" and rest == ["status"]:
            if entry["state"] == "IN_QUEUE":
                return (
                    200,
                    {"status": "IN_QUEUE", "queue_position": 0, "response_url": response_url},
                    {},
                )
            if entry["state"] == "IN_PROGRESS":
                return (
                    200,
                    {"status": "IN_PROGRESS", "logs": logs, "response_url": response_url},
                    {},
                )
            status: dict[str, Any] = {
                "status": "COMPLETED",
                "logs": logs,
                "metrics": {},
                "response_url": response_url,
            }
            if "error" in entry:
                status |= {"error": entry["error"], "error_type": "RequestError"}
            return 200, status, {}
        if method == "GET" and not rest:
            if entry["state"] != "COMPLETED":
                return 400, {"detail": "Request is still in progress"}, {}
            if "error" in entry:
                return (
                    422,
                    {"detail": [{"loc": ["body"], "msg": entry["error"], "type": "value_error"}]},
                    {},
                )
            return 200, entry["result"], {}
        if method == "PUT" and rest == ["cancel"]:
            if entry["state"] == "COMPLETED":
                return 400, {"status": "ALREADY_COMPLETED"}, {}
            entry["state"] = "COMPLETED"
            entry["error"] = "Request was cancelled"
            self.canceled.append(request_id)
            return 202, {"status": "CANCELLATION_REQUESTED"}, {}
        return 405, {"detail": "Method not allowed"}, {}
