"""HTTP plumbing shared by the remote image generators (Together, fal, Replicate).

Status codes are sorted by `providers.http.send`; this module adds what only generation
needs: telling a content-policy refusal apart from other 4xx answers (each provider words it
differently, so each passes its own detector), turning answer items into `GeneratedOutput`s
and fetching a URL output into bytes. Nothing here retries: a repeated POST is a second bill.
"""

import base64
import binascii
import mimetypes
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from photoai.providers import http
from photoai.providers.base import ProviderUnavailable
from photoai.providers.generation_base import (
    ContentPolicyViolation,
    GeneratedOutput,
    GeneratorConfigError,
)

CONNECT_TIMEOUT = 5.0
MAX_IMAGE_BYTES = 50 * 1024 * 1024
_POLICY_WORDS = re.compile(
    r"nsfw|content[ _-]?policy|safety|moderation|content checker|flagged", re.IGNORECASE
)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"RIFF", "image/webp"),  # confirmed by the WEBP tag below
)

# A provider's JSON error body -> the refusal's reason when it is on content grounds.
PolicyDetector = Callable[[Any], str | None]


def mentions_content_policy(text: str) -> bool:
    return bool(_POLICY_WORDS.search(text))


def require(value: str, variable: str) -> str:
    """A provider key that must be set for the generator to be listed at all."""
    if not value.strip():
        raise GeneratorConfigError(f"{variable} is not set")
    return value.strip()


def policy_violation(
    response: httpx.Response, detect_policy: PolicyDetector
) -> ContentPolicyViolation | None:
    """A 4xx answer (not 429) refusing on content grounds, in the provider's own words."""
    if not 400 <= response.status_code < 500 or response.status_code == 429:
        return None
    response.read()
    try:
        body = response.json()
    except ValueError:
        return None
    reason = detect_policy(body)
    if not reason:
        return None
    return ContentPolicyViolation(reason[:300], status_code=response.status_code)


def make_client(timeout: float, detect_policy: PolicyDetector) -> httpx.Client:
    """A client whose 4xx answers on content grounds raise ContentPolicyViolation.

    The check runs as a response hook so that `http.send` stays the one place that maps the
    remaining status codes; it only reads bodies of 4xx answers, which are small.
    """

    def refuse_on_policy(response: httpx.Response) -> None:
        refusal = policy_violation(response, detect_policy)
        if refusal is not None:
            raise refusal

    return httpx.Client(
        timeout=client_timeout(timeout), event_hooks={"response": [refuse_on_policy]}
    )


def client_timeout(timeout: float) -> httpx.Timeout:
    """The whole call may take `timeout`; connecting gives up sooner (nothing was sent yet)."""
    return httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))


def post_billable(
    client: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """The one POST that starts paid work; see `http` for what counts as "maybe submitted"."""
    return http.create(client, "POST", url, json=body, headers=headers)


@contextmanager
def accepted_answer() -> Iterator[None]:
    """Around reading the answer to a billable POST that succeeded: the provider took (and
    billed) the work, so an answer we cannot use is "maybe submitted", never safe to repeat."""
    try:
        yield
    except ProviderUnavailable as exc:
        if exc.maybe_submitted:
            raise
        raise ProviderUnavailable(str(exc), maybe_submitted=True) from exc


def sniff_image_type(data: bytes) -> str | None:
    for magic, content_type in _MAGIC:
        if data.startswith(magic) and (content_type != "image/webp" or data[8:12] == b"WEBP"):
            return content_type
    return None


def output_from_b64(encoded: object, *, seed: int | None) -> GeneratedOutput:
    """An inline image; anything that does not decode to a known image format is garbage."""
    if not isinstance(encoded, str):
        raise ProviderUnavailable("the provider sent an image item without data")
    try:
        data = base64.b64decode(encoded.split(",", 1)[-1], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ProviderUnavailable("the provider sent image data that is not base64") from exc
    content_type = sniff_image_type(data)
    if content_type is None:
        raise ProviderUnavailable("the provider sent data that is not a PNG, JPEG or WebP image")
    return GeneratedOutput(content_type=content_type, data=data, seed=seed)


def output_from_url(
    url: object, *, content_type: object = None, seed: int | None, flagged: bool = False
) -> GeneratedOutput:
    """An image to download; its type is the provider's word, or guessed from the name."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise ProviderUnavailable(f"the provider sent an unusable image address: {url!r:.80}")
    if not isinstance(content_type, str) or not content_type.startswith("image/"):
        guessed, _ = mimetypes.guess_type(urlsplit(url).path)
        content_type = guessed if guessed and guessed.startswith("image/") else "image/jpeg"
    return GeneratedOutput(content_type=content_type, url=url, seed=seed, flagged=flagged)


def fetch_output(client: httpx.Client, output: GeneratedOutput) -> GeneratedOutput:
    """The same output holding its bytes, downloaded at once because provider URLs expire."""
    if output.data is not None:
        return output
    assert output.url is not None  # an output holds one or the other
    data = http.download(client, output.url, limit=MAX_IMAGE_BYTES)
    content_type = sniff_image_type(data)
    if content_type is None:
        raise ProviderUnavailable("the provider's image link did not serve an image")
    return replace(output, data=data, url=None, content_type=content_type)
