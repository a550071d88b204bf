"""A local fake of fal.ai's synchronous inference host (fal.run) for `fal-ai/flux-lora`.

Kept apart from the queue fake in `fal_server.py`: the synchronous API answers the model's
result in the POST itself. Shapes follow the reference: `Authorization: Key`, input `prompt`,
`image_size` (preset name or `{width,height}`), `num_images` 1-4, `seed`, `loras:[{path,scale}]`,
`enable_safety_checker`, `output_format`; result `{"images":[{url,width,height,content_type}],
"seed","prompt","has_nsfw_concepts":[bool],"timings"}`; errors `{"detail": str | [{loc,msg,
type}]}` with the type `content_policy_violation` for safety refusals. Images are real files of
the requested size served by the fake; a flagged image is black, as fal's checker makes it.
"""

import io
import secrets
import uuid
from typing import Any

from PIL import Image

from tests.fakes.provider_http import FakeProvider, Reply, json_body
from tests.fakes.together_server import image_bytes

APP_PATH = "/fal-ai/flux-lora"
PRESETS = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


def invalid(field: str, message: str, kind: str = "value_error") -> dict[str, Any]:
    return {"detail": [{"loc": ["body", field], "msg": message, "type": kind}]}


def black_image(width: int, height: int, *, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height)).save(out, format=fmt)
    return out.getvalue()


def _size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, str):
        return PRESETS.get(value)
    if isinstance(value, dict):
        width, height = value.get("width"), value.get("height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            return width, height
    return None


class FakeFalRun(FakeProvider):
    def __init__(self, key: str = "fal-test-key") -> None:
        super().__init__()
        self.key = key
        self.flag_next_images = 0

    def flag_next(self, images: int = 1) -> None:
        """The next `images` images come back blacked out with has_nsfw_concepts true."""
        with self._lock:
            self.flag_next_images = images

    def refuse_content_next(self) -> None:
        self.fail_next(
            422,
            path_prefix=APP_PATH,
            body=invalid(
                "prompt",
                "The content could not be processed because it contained material flagged "
                "by a content checker.",
                "content_policy_violation",
            ),
        )

    def posts(self) -> int:
        return len(self.calls_to("POST", APP_PATH))

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if (method, path) != ("POST", APP_PATH):
            return 404, {"detail": "Application not found"}, {}
        if headers.get("authorization") != f"Key {self.key}":
            return 401, {"detail": "No user found for Key ID and Secret"}, {}
        request = json_body(body)
        if not isinstance(request, dict):
            return 422, invalid("body", "Input should be a valid dictionary"), {}
        if not isinstance(request.get("prompt"), str) or not request["prompt"].strip():
            return 422, invalid("prompt", "Field required"), {}
        size = _size(request.get("image_size", "landscape_4_3"))
        if size is None:
            return 422, invalid("image_size", "Input should be a preset or {width, height}"), {}
        count = request.get("num_images", 1)
        if not isinstance(count, int) or not 1 <= count <= 4:
            return 422, invalid("num_images", "Input should be between 1 and 4"), {}
        loras = request.get("loras", [])
        if not isinstance(loras, list) or not all(
            isinstance(lora, dict) and isinstance(lora.get("path"), str) for lora in loras
        ):
            return 422, invalid("loras", "Input should be a list of {path, scale}"), {}
        return 200, self._result(request, size, count), {}

    def _result(self, request: dict[str, Any], size: tuple[int, int], count: int) -> Any:
        fmt = "PNG" if request.get("output_format") == "png" else "JPEG"
        seed = request.get("seed")
        seed = seed if isinstance(seed, int) else secrets.randbelow(2**31)
        images, flags = [], []
        for index in range(count):
            flagged = self.flag_next_images > 0
            self.flag_next_images -= int(flagged)
            name = f"{uuid.uuid4().hex}.{fmt.lower()}"
            self.files[name] = (
                black_image(*size, fmt=fmt)
                if flagged
                else image_bytes(*size, fmt=fmt, salt=f"{seed}:{index}:{request['prompt']}")
            )
            images.append(
                {
                    "url": f"{self.url}/files/{name}",
                    "width": size[0],
                    "height": size[1],
                    "content_type": f"image/{fmt.lower()}",
                }
            )
            flags.append(flagged)
        return {
            "images": images,
            "seed": seed,
            "prompt": request["prompt"],
            "has_nsfw_concepts": flags,
            "timings": {"inference": 0.05},
        }
