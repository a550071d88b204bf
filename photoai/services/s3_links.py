"""Presigned S3 GET links that stay the same for a while, so browsers and a CDN can cache them.

A presigned URL normally carries the second it was signed (`X-Amz-Date`), so every page view
makes a new URL and no cache ever hits: each thumbnail is fetched from the bucket again on
every visit. Here the signing time is pinned to the start of the current window (a window is
one link life, `PHOTOAI_SIGNED_URL_SECONDS`) and the link is made to live one window longer,
so every link handed out during one window is byte-for-byte the same and still lives at
least one full link life after it was handed out. The link also asks S3 to answer with
`Cache-Control: public, max-age=<link life>, immutable` (the signed `response-cache-control`
parameter): objects never change under their key (photo, thumbnail and picture keys carry
their row's id), so a browser, or a CDN in front of the bucket that keys on the full URL,
serves repeats itself. Whoever holds the link can read the object until it expires, which is
already true of any presigned link; a CDN only remembers what such a holder fetched.

botocore takes the signing time from the clock inside `add_auth`; the one place to pin it is
the query signer's `_modify_request_before_signing`, which runs after the time is taken and
before anything reads it. The signer is registered under its own signature-version name and
chosen only for presigned GETs of the link client (`choose-signer` event), so every other
request is signed as usual.
"""

import time
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config

MAX_PRESIGNED_SECONDS = 7 * 24 * 3600  # SigV4's longest presigned life


def window_start(now: float, window_seconds: int) -> int:
    return int(now) - int(now) % window_seconds


def link_life(window_seconds: int) -> int:
    """What a windowed link states as its life: one window more than a link must last."""
    return min(2 * window_seconds, MAX_PRESIGNED_SECONDS)


def cache_control(window_seconds: int) -> str:
    return f"public, max-age={window_seconds}, immutable"


def _signer_name(window_seconds: int) -> str:
    return f"photoai-window{window_seconds}-s3v4-query"


def _register_signer(window_seconds: int) -> str:
    name = _signer_name(window_seconds)
    if name in botocore.auth.AUTH_TYPE_MAPS:
        return name

    class WindowedQueryAuth(botocore.auth.S3SigV4QueryAuth):
        def _modify_request_before_signing(self, request: AWSRequest) -> None:
            pinned = window_start(time.time(), window_seconds)
            request.context["timestamp"] = datetime.fromtimestamp(pinned, UTC).strftime(
                botocore.auth.SIGV4_TIMESTAMP
            )
            super()._modify_request_before_signing(request)

    botocore.auth.AUTH_TYPE_MAPS[name] = WindowedQueryAuth
    return name


def link_client(
    window_seconds: int,
    region: str,
    endpoint_url: str,
    access_key_id: str,
    secret_access_key: str,
) -> Any:
    """An S3 client whose presigned GET URLs are pinned to the current window."""
    signer = _register_signer(window_seconds)
    client = boto3.client(
        "s3",
        region_name=region or None,
        endpoint_url=endpoint_url or None,
        aws_access_key_id=access_key_id or None,
        aws_secret_access_key=secret_access_key or None,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        ),
    )

    def choose(signature_version: str, **_: Any) -> str | None:
        return signer if signature_version.endswith("-query") else None

    client.meta.events.register("choose-signer.s3.GetObject", choose)
    return client
