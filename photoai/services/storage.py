"""Private file storage: a local folder (the embedded default) or any S3-compatible bucket.

Everything users upload or we generate is private. Links are short-lived and signed: S3 signs
its own (presigned GET/PUT); local files are served by our own route, `/files/{key}`, which
checks an HMAC over the key, the expiry and the id of the user the link was made for, and
only for that user's signed-in session (see `photoai.api.files`). Nothing private is ever put
in Reflex's upload folder, which is public static serving.

Keys are plain relative paths built by `photo_key`/`thumb_key` and checked by `check_key`, so
a key can never climb out of the storage folder or the bucket prefix.
"""

import base64
import hashlib
import hmac
import os
import re
import shutil
import tempfile
import time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from photoai.services import s3_links
from photoai.settings import Settings, get_settings

FILES_ROUTE = "/files"
MAX_KEY_LENGTH = 500  # the storage_key columns' size
# Each segment starts with a letter or digit, so "." , ".." and hidden names are impossible.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*")
_LINK_PURPOSE = b"photoai:file-link:v1"
_S3_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


class InvalidKey(ValueError):
    """A key that is not a clean relative path: refused before it reaches a disk or a bucket."""


class ObjectNotFound(LookupError):
    pass


def check_key(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidKey(f"invalid storage key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A prefix must name a whole folder: "users/1/" must not also match "users/10/..."."""
    if not prefix.endswith("/"):
        raise InvalidKey(f"a prefix must end with '/': {prefix!r}")
    check_key(prefix[:-1])
    return prefix


def photo_key(user_id: int, model_id: int, photo_id: int) -> str:
    return f"users/{user_id}/models/{model_id}/photos/{photo_id}.jpg"


def thumb_key(user_id: int, model_id: int, photo_id: int) -> str:
    return f"users/{user_id}/models/{model_id}/thumbs/{photo_id}.webp"


class Storage(Protocol):
    """What the services need from a store; both backends behave the same way."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store a file from disk without reading it into memory (large exports)."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; `ObjectNotFound` if there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing one that is not there is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under a folder prefix ("users/7/"); returns how many."""
        ...

    def exists(self, key: str) -> bool: ...

    def signed_url(self, key: str, user_id: int, expires_in: int | None = None) -> str:
        """A short-lived link for `user_id` to read the object (default life from settings)."""
        ...


# --- signed links to our own /files route -----------------------------------------------------


class LinkCheck(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    EXPIRED = "expired"


def sign_link(secret: str, key: str, expires_at: int, user_id: int) -> str:
    """HMAC-SHA256 over purpose, key, expiry and user id, URL-safe base64 without padding.

    The purpose prefix keeps these MACs apart from anything else signed with the same secret.
    """
    message = b"\n".join(
        (_LINK_PURPOSE, key.encode(), str(expires_at).encode(), str(user_id).encode())
    )
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify_link(
    secret: str,
    key: str,
    expires_at: str,
    signature: str,
    user_id: int | None,
    *,
    now: float | None = None,
) -> LinkCheck:
    """Check a /files link for the signed-in user (None when nobody is signed in).

    The signature is checked first, so a forged or someone else's link is INVALID whatever
    its expiry says; only a genuine link past its time is EXPIRED.
    """
    well_formed = expires_at.isascii() and expires_at.isdigit() and len(expires_at) <= 12
    if user_id is None or not well_formed:
        return LinkCheck.INVALID
    expected = sign_link(secret, key, int(expires_at), user_id)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return LinkCheck.INVALID
    if int(expires_at) <= (time.time() if now is None else now):
        return LinkCheck.EXPIRED
    return LinkCheck.VALID


# --- backends ----------------------------------------------------------------------------------


class LocalStorage:
    """Files under one folder; served only through the signed, session-checked /files route."""

    def __init__(self, root: Path, secret: str, link_seconds: int) -> None:
        self.root = root.resolve()
        self._secret = secret
        self._link_seconds = link_seconds

    def path_for(self, key: str) -> Path:
        """The file behind a key. `check_key` already forbids "..", this is a second lock."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidKey(f"invalid storage key: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write atomically (temp file + rename) so a reader never sees half a file.

        The content type is not stored: the route derives it from the key's extension.
        """
        del content_type
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        del content_type
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFound(key) from exc

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        folder = self.path_for(check_prefix(prefix)[:-1])
        if not folder.is_dir():
            return 0
        count = sum(1 for path in folder.rglob("*") if path.is_file())
        shutil.rmtree(folder)
        return count

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def signed_url(self, key: str, user_id: int, expires_in: int | None = None) -> str:
        """A site-relative link to /files; it works only in `user_id`'s signed-in browser."""
        check_key(key)
        expires_at = int(time.time()) + (expires_in or self._link_seconds)
        query = urlencode(
            {"exp": expires_at, "sig": sign_link(self._secret, key, expires_at, user_id)}
        )
        return f"{FILES_ROUTE}/{quote(key)}?{query}"


class S3Storage:
    """A private bucket on AWS S3, Cloudflare R2, MinIO or anything else that speaks S3.

    Objects are written without an ACL, so they stay private (the bucket's default); reads
    from a browser go through presigned URLs that live `link_seconds`. A presigned URL is a
    bearer link: S3 cannot tie it to our user, which is why its life is kept short.
    """

    def __init__(
        self, client: Any, bucket: str, link_seconds: int, link_client: Any = None
    ) -> None:
        self.client = client
        self.bucket = bucket
        self._link_seconds = link_seconds
        # Signs the default-life GET links pinned to a window (see photoai.services.s3_links).
        self._link_client = link_client

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type
        )

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """boto3's managed transfer: a multipart upload in chunks for large files."""
        self.client.upload_file(
            str(path), self.bucket, check_key(key), ExtraArgs={"ContentType": content_type}
        )

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise ObjectNotFound(key) from exc
            raise
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    def delete_prefix(self, prefix: str) -> int:
        paginator = self.client.get_paginator("list_objects_v2")
        keys = [
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=check_prefix(prefix))
            for item in page.get("Contents", [])
        ]
        for start in range(0, len(keys), _S3_DELETE_BATCH):
            batch = keys[start : start + _S3_DELETE_BATCH]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise RuntimeError(f"S3 refused to delete {first['Key']}: {first['Message']}")
        return len(keys)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def get_prefix_bytes(self, key: str, most: int) -> bytes:
        """At most the first `most` bytes of the object (a ranged GET): memory stays bounded
        whatever was put there."""
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=check_key(key), Range=f"bytes=0-{most - 1}"
            )
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise ObjectNotFound(key) from exc
            raise
        body: bytes = response["Body"].read(most)
        return body

    def size(self, key: str) -> int:
        """The object's size in bytes, from its headers; `ObjectNotFound` if there is none."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise ObjectNotFound(key) from exc
            raise
        return int(head["ContentLength"])

    def signed_url(self, key: str, user_id: int, expires_in: int | None = None) -> str:
        """A presigned GET. `user_id` is not part of it (see the class docstring).

        Links of the default life are the same for a whole window and carry cache headers,
        so browsers and a CDN reuse them (`s3_links`); a link with its own life (exports) is
        signed as it is asked.
        """
        del user_id
        if expires_in is None and self._link_client is not None:
            window = self._link_seconds
            cached: str = self._link_client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": check_key(key),
                    "ResponseCacheControl": s3_links.cache_control(window),
                },
                ExpiresIn=s3_links.link_life(window),
            )
            return cached
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": check_key(key)},
            ExpiresIn=expires_in or self._link_seconds,
        )
        return url

    def presigned_put_url(
        self, key: str, content_type: str, content_length: int, expires_in: int | None = None
    ) -> str:
        """A presigned PUT for a browser to upload straight to the bucket.

        The content type and length are signed in: S3 refuses an upload whose Content-Type
        or Content-Length header differs from what was announced. The object's size is
        still checked after the upload (`direct_uploads`), as not every S3-compatible store
        enforces signed headers.
        """
        url: str = self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": check_key(key),
                "ContentType": content_type,
                "ContentLength": content_length,
            },
            ExpiresIn=expires_in or self._link_seconds,
        )
        return url


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@lru_cache(maxsize=4)
def _s3_client(region: str, endpoint_url: str, access_key_id: str, secret_access_key: str) -> Any:
    """One client per configuration: building a boto3 client costs tens of milliseconds.

    Empty keys leave credentials to boto3's own chain (env, instance role, ...). A custom
    endpoint (R2, MinIO) gets path-style addressing, which all of them accept.
    """
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return boto3.client(
        "s3",
        region_name=region or None,
        endpoint_url=endpoint_url or None,
        aws_access_key_id=access_key_id or None,
        aws_secret_access_key=secret_access_key or None,
        config=config,
    )


@lru_cache(maxsize=4)
def _link_client(
    window: int, region: str, endpoint_url: str, access_key_id: str, secret_access_key: str
) -> Any:
    return s3_links.link_client(window, region, endpoint_url, access_key_id, secret_access_key)


def get_storage(settings: Settings | None = None) -> Storage:
    """The backend the operator chose; the local folder when nothing is configured."""
    settings = settings or get_settings()
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise RuntimeError("PHOTOAI_STORAGE_BACKEND=s3 needs PHOTOAI_S3_BUCKET")
        client = _s3_client(
            settings.s3_region,
            settings.s3_endpoint_url,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
        )
        links = _link_client(
            settings.signed_url_seconds,
            settings.s3_region,
            settings.s3_endpoint_url,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
        )
        return S3Storage(client, settings.s3_bucket, settings.signed_url_seconds, links)
    return LocalStorage(settings.storage_dir, settings.signing_key, settings.signed_url_seconds)
