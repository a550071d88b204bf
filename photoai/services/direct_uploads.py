"""Training photos uploaded by the browser straight to the S3 bucket (presigned PUT).

With S3 storage the bytes of an upload need not pass through a web backend at all: the page
asks for a ticket (`issue`: a presigned PUT for one file, its type and exact length signed
in, under a fresh key in the user's own model folder, `.../incoming/`), PUTs the file to the
bucket, then reports the key (`accept`). Only then is the object read back, within the
per-photo size limit, and put through the same checks as any upload (`training.add_photo`,
with its decoding memory budget); the incoming object is deleted whatever the verdict.

What a client can get wrong changes nothing: a key outside its own model's incoming folder
is refused without touching the bucket, an object over the size limit is deleted unread (a
store that does not enforce the signed length cannot sneak a large file past), and an
unknown key is "not found". Local storage has no direct uploads; its pages keep streaming
uploads through the backend.
"""

import re
import secrets
from dataclasses import dataclass

from photoai.services import training
from photoai.services.storage import ObjectNotFound, S3Storage, check_key, get_storage
from photoai.services.training import PhotoView, TrainingError
from photoai.settings import get_settings

# What browsers send for the photo formats the checks read (photo_checks decodes these).
CONTENT_TYPES = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/heif": "heif",
}
_INCOMING_NAME = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|webp|heic|heif)")


class DirectUploadError(TrainingError):
    """A ticket or a finished upload refused; the message is for the user."""


@dataclass(frozen=True)
class UploadTicket:
    key: str
    url: str
    headers: dict[str, str]  # what the PUT must carry (the browser adds Content-Length)


def enabled() -> bool:
    """Whether pages upload straight to the bucket (S3 storage); no I/O, cheap per event."""
    return get_settings().storage_backend == "s3"


def incoming_prefix(user_id: int, model_id: int) -> str:
    return f"users/{user_id}/models/{model_id}/incoming/"


def _s3() -> S3Storage:
    storage = get_storage()
    if not isinstance(storage, S3Storage):
        raise DirectUploadError("Direct uploads need S3 storage; upload through the page.")
    return storage


def issue(user_id: int, model_id: int, size: int, content_type: str) -> UploadTicket:
    """A presigned PUT for one photo of `size` bytes, if the model may take a photo now."""
    storage = _s3()
    limit = get_settings().max_upload_bytes
    if content_type not in CONTENT_TYPES:
        raise DirectUploadError("Only JPEG, PNG, WebP and HEIC photos can be uploaded.")
    if size <= 0:
        raise DirectUploadError("The file is empty.")
    if size > limit:
        raise DirectUploadError(f"Larger than the {limit // (1024 * 1024)} MB limit for one photo.")
    training.check_room_for_photo(user_id, model_id)
    name = f"{secrets.token_hex(16)}.{CONTENT_TYPES[content_type]}"
    key = incoming_prefix(user_id, model_id) + name
    url = storage.presigned_put_url(key, content_type, size)
    return UploadTicket(key=key, url=url, headers={"Content-Type": content_type})


def accept(user_id: int, model_id: int, key: str, filename: str) -> PhotoView:
    """Check the photo the browser put at `key` and record it; the object is then removed."""
    prefix = incoming_prefix(user_id, model_id)
    if not key.startswith(prefix) or not _INCOMING_NAME.fullmatch(key[len(prefix) :]):
        raise DirectUploadError("That upload does not belong to this model.")
    storage = _s3()
    check_key(key)
    limit = get_settings().max_upload_bytes
    too_large = DirectUploadError(
        f"Larger than the {limit // (1024 * 1024)} MB limit for one photo."
    )
    try:
        try:
            if storage.size(key) > limit:
                raise too_large
            # At most one byte past the limit, should the object have grown since.
            data = storage.get_prefix_bytes(key, limit + 1)
        except ObjectNotFound:
            raise DirectUploadError("The upload did not arrive; try again.") from None
        if len(data) > limit:
            raise too_large
        return training.add_photo(user_id, model_id, filename, data)
    finally:
        storage.delete(key)
