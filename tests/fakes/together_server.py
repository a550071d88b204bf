"""A local fake of Together AI's image generation API, over real HTTP on 127.0.0.1.

Shapes follow the reference (shared/reference/providers.md): `POST /v1/images/generations`
with `Authorization: Bearer`, `response_format` "base64" or "b64_json" (both accepted, the
official name is unconfirmed) or "url", answers `{"id","model","object":"list","data":[{"index",
"type":"b64_json","b64_json"} | {"index","type":"url","url"}]}` and errors
`{"error":{"message","type","param","code"}}`. Images are real JPEG/PNG files of the requested
size whose colour follows the seed; URL outputs are served by the fake itself.
Failures come from `FakeProvider` (`fail_next`, `delay_next`) and `refuse_content_next`.
"""

import base64
import hashlib
import io
import uuid
from typing import Any

from PIL import Image

from tests.fakes.provider_http import FakeProvider, Reply, json_body

GENERATIONS = "/v1/images/generations"
MODELS = {
    "black-forest-labs/FLUX.1-schnell",
    "black-forest-labs/FLUX.1.1-pro",
    "black-forest-labs/FLUX.1-kontext-pro",
    "black-forest-labs/FLUX.1-kontext-max",
    "black-forest-labs/FLUX.2-pro",
    "black-forest-labs/FLUX.2-dev",
    "black-forest-labs/FLUX.2-flex",
    "black-forest-labs/FLUX.2-max",
}
CONTENT_REFUSAL = "Image generation blocked: the prompt was flagged as NSFW by our safety system."
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


def image_bytes(width: int, height: int, *, fmt: str = "JPEG", salt: str = "") -> bytes:
    """A real picture: a two-tone split whose colours come from `salt`."""
    digest = hashlib.sha256(salt.encode()).digest()
    image = Image.new("RGB", (width, height), tuple(digest[:3]))
    image.paste(tuple(digest[3:6]), (0, 0, width // 2, height))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def error(status: int, message: str, *, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": _TYPES.get(status, "server_error"),
            "param": param,
            "code": None,
        }
    }


def _invalid(body: dict[str, Any]) -> str | None:
    """The first parameter the real API would refuse, or None."""
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        return "prompt"
    for side in ("width", "height"):
        if not isinstance(body.get(side), int) or not 256 <= body[side] <= 1920:
            return side
    if not isinstance(body.get("n", 1), int) or not 1 <= body.get("n", 1) <= 4:
        return "n"
    if body.get("response_format", "url") not in ("base64", "b64_json", "url"):
        return "response_format"
    loras = body.get("image_loras", [])
    if not isinstance(loras, list) or len(loras) > 2:
        return "image_loras"
    for lora in loras:
        if not isinstance(lora, dict) or not isinstance(lora.get("path"), str):
            return "image_loras"
        if not isinstance(lora.get("scale", 1.0), int | float):
            return "image_loras"
    refs = body.get("reference_images", [])
    if not isinstance(refs, list) or not all(isinstance(ref, str) for ref in refs):
        return "reference_images"
    return None


class FakeTogether(FakeProvider):
    def __init__(self, key: str = "together-test-key") -> None:
        super().__init__()
        self.key = key

    def error_body(self, status: int, message: str) -> Any:
        return error(status, message)

    def refuse_content_next(self) -> None:
        """The next generation is refused by the safety system, as Together words it."""
        self.fail_next(400, path_prefix=GENERATIONS, body=error(400, CONTENT_REFUSAL))

    def posts(self) -> int:
        return len(self.calls_to("POST", GENERATIONS))

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if (method, path) != ("POST", GENERATIONS):
            return 404, error(404, f"no route {method} {path}"), {}
        if headers.get("authorization") != f"Bearer {self.key}":
            return 401, error(401, "Invalid API key provided"), {}
        request = json_body(body)
        if not isinstance(request, dict):
            return 400, error(400, "the body is not a JSON object"), {}
        if request.get("model") not in MODELS:
            return 404, error(404, f"Unable to access model {request.get('model')}"), {}
        invalid = _invalid(request)
        if invalid:
            return 400, error(400, f"invalid value for {invalid}", param=invalid), {}
        return 200, self._generation(request), {}

    def _generation(self, request: dict[str, Any]) -> dict[str, Any]:
        fmt = "PNG" if request.get("output_format") == "png" else "JPEG"
        wants_url = request.get("response_format", "url") == "url"
        data = []
        for index in range(request.get("n", 1)):
            salt = f"{request.get('seed')}:{index}:{request['prompt']}"
            picture = image_bytes(request["width"], request["height"], fmt=fmt, salt=salt)
            if wants_url:
                name = f"{uuid.uuid4().hex}.{fmt.lower()}"
                self.files[name] = picture
                data.append({"index": index, "type": "url", "url": f"{self.url}/files/{name}"})
            else:
                encoded = base64.b64encode(picture).decode()
                data.append({"index": index, "type": "b64_json", "b64_json": encoded})
        return {"id": uuid.uuid4().hex, "model": request["model"], "object": "list", "data": data}
