"""What happens to a user's data on this installation, stated from the operator's settings.

The consent step and the public privacy page show the same sections, so what a user agrees to
is what the privacy page says. Nothing here is hand-written per installation: storage,
retention and the providers in use come from `Settings`.
"""

from dataclasses import dataclass

from photoai.settings import Settings

_TRAINERS = {
    "demo": "No AI provider: this server runs in demo mode and trains nothing outside it.",
    "fal": "fal.ai receives your accepted training photos (resized, as one ZIP) to train your "
    "model, and returns the trained weights to us.",
    "replicate": "Replicate receives your accepted training photos (resized, as one ZIP) to "
    "train your model; the trained model version is kept in this operator's Replicate account.",
}
_GENERATORS = {
    "demo": "demo mode on this server (no provider)",
    "together": "Together AI",
    "fal": "fal.ai",
    "replicate": "Replicate",
}


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[str, ...]


def storage_place(settings: Settings) -> str:
    if settings.storage_backend == "s3":
        where = settings.s3_endpoint_url or (
            f"Amazon S3, region {settings.s3_region}" if settings.s3_region else "Amazon S3"
        )
        return f"a private S3 bucket ({settings.s3_bucket or 'unnamed'} at {where})"
    return "this server's own disk"


def retention_line(settings: Settings) -> str:
    days = settings.photo_retention_days
    if days <= 0:
        return "Training photos are kept until you delete them, their model or your account."
    return (
        f"Training photos are deleted automatically {days} days after their model finishes "
        "training; the trained model keeps working without them."
    )


def sections(settings: Settings) -> tuple[Section, ...]:
    generators = ", ".join(_GENERATORS.get(name, name) for name in settings.generators)
    return (
        Section(
            "What we store",
            (
                "The training photos you upload, resized to at most "
                f"{settings.training_side_px} px, with a small thumbnail of each.",
                "Face detection runs on this server to check each photo. It keeps measurements "
                "of each face (128 numbers, not a picture) to check your photos show one person "
                "and that generated pictures look like you.",
                "The personal model trained from your photos (its LoRA weights), the pictures "
                "you generate, your credit history and payments.",
            ),
        ),
        Section("Where", (f"Files are kept in {storage_place(settings)}.",)),
        Section(
            "For how long",
            (
                retention_line(settings),
                "The face measurements of a model are kept as long as the model.",
                f"Models you never train are deleted {settings.draft_retention_days} days after "
                "you last changed them, with their photos.",
                "Models and generated pictures are kept until you delete them or your account. "
                "Deleting your account erases all of it; credit and payment records are kept "
                "without your name or email, as accounting law requires.",
            ),
        ),
        Section(
            "Who receives your photos",
            (
                _TRAINERS.get(settings.trainer, settings.trainer),
                f"Picture generation uses {generators}: they receive your prompt and a link to "
                "your model's weights, and for Instant pictures some of your training photos.",
            ),
        ),
    )


def as_text(settings: Settings) -> str:
    """The whole disclosure as one text, hashed into each consent record."""
    return "\n".join(
        f"{section.title}:\n" + "\n".join(f"- {line}" for line in section.lines)
        for section in sections(settings)
    )
