"""What the generation service asks of an image generator, and what it gets back.

Every generator (demo, Together, fal, Replicate) takes the same `GenerationRequest`, so the
service can try them in the operator's order without knowing whose API answers. Failures use
the provider taxonomy of `providers.base` (rate limited / unavailable / rejected); a refusal on
content grounds gets its own subclass because it must never be retried elsewhere either: the
same prompt would simply be refused, or worse, accepted by a laxer provider.
"""

import re
from dataclasses import dataclass, field
from math import gcd
from typing import Protocol

from photoai.providers.base import ProviderRejected

MIN_SIDE = 256
MAX_SIDE = 1920
SIDE_STEP = 16  # every provider accepts multiples of 16
MAX_IMAGES = 4
MAX_LORA_SCALE = 2.0

# Named ratios at about one megapixel; the same sizes as fal's presets, so they map exactly.
ASPECT_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "4:5": (896, 1120),
    "3:4": (768, 1024),
    "2:3": (832, 1248),
    "9:16": (576, 1024),
    "4:3": (1024, 768),
    "16:9": (1024, 576),
}


class ContentPolicyViolation(ProviderRejected):
    """The provider refused the prompt or its output on safety grounds."""


class GeneratorConfigError(ValueError):
    """The operator's generator settings cannot work (unknown name, missing key): raised when
    the generators are built, so a misconfiguration stops the start instead of a user's job."""


class PromptRejected(ValueError):
    """Our own prompt checks refused the prompt before any provider saw it."""


@dataclass(frozen=True)
class GenerationRequest:
    """One batch of images.

    The mode follows from what is set: `lora_url` (a personal model's weights at a URL the
    provider can download) or `trained_version` (Replicate's own `owner/model:version`) ask
    for the user's likeness through a trained model; `reference_image_urls` without either ask
    for Instant likeness from uploaded photos; nothing asks for a plain prompt.
    `reference_images` are the same photos as bytes, for the offline demo generator.
    """

    prompt: str
    width: int = 1024
    height: int = 1024
    n: int = 1
    seed: int | None = None
    negative_prompt: str = ""
    lora_url: str | None = None
    lora_scale: float = 1.0
    trigger_word: str = ""
    trained_version: str | None = None
    reference_image_urls: list[str] = field(default_factory=list)
    reference_images: list[bytes] = field(default_factory=list, repr=False)
    # The catalogue style asked for, if any. Real providers read the prompt; the offline demo
    # generator has no model to read it with, so it draws the style's look from this id.
    style_id: str = ""

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise ValueError("the prompt is empty")
        if not 1 <= self.n <= MAX_IMAGES:
            raise ValueError(f"n must be 1-{MAX_IMAGES}, not {self.n}")
        for side in (self.width, self.height):
            if not MIN_SIDE <= side <= MAX_SIDE or side % SIDE_STEP:
                raise ValueError(
                    f"sides must be {MIN_SIDE}-{MAX_SIDE} px in steps of {SIDE_STEP}, not {side}"
                )
        if not 0 < self.lora_scale <= MAX_LORA_SCALE:
            raise ValueError(f"lora_scale must be in (0, {MAX_LORA_SCALE}]")
        if self.seed is not None and self.seed < 0:
            raise ValueError("the seed must not be negative")

    @property
    def aspect_ratio(self) -> str:
        """The ratio in lowest terms as "W:H", e.g. "3:4" for 768x1024."""
        divisor = gcd(self.width, self.height)
        return f"{self.width // divisor}:{self.height // divisor}"

    @property
    def uses_model(self) -> bool:
        return bool(self.lora_url or self.trained_version)

    @property
    def is_instant(self) -> bool:
        return not self.uses_model and bool(self.reference_image_urls)

    @property
    def full_prompt(self) -> str:
        """The prompt with the personal model's trigger word, which a LoRA needs to apply."""
        if not self.uses_model or not self.trigger_word:
            return self.prompt
        if re.search(rf"\b{re.escape(self.trigger_word)}\b", self.prompt):
            return self.prompt
        return f"{self.trigger_word} {self.prompt}"


@dataclass(frozen=True)
class GeneratedOutput:
    """One image: its bytes, or a provider URL to download at once (they expire).

    `seed` is what the provider reports for the batch (None when it does not say); `flagged`
    is the provider's own safety verdict on this image, which may then be blacked out.
    """

    content_type: str
    data: bytes | None = field(default=None, repr=False)
    url: str | None = None
    seed: int | None = None
    flagged: bool = False

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("an output holds either bytes or a URL")


def size_for(aspect_ratio: str) -> tuple[int, int]:
    """(width, height) of one of the named `ASPECT_SIZES`."""
    try:
        return ASPECT_SIZES[aspect_ratio]
    except KeyError:
        raise ValueError(f"unknown aspect ratio {aspect_ratio!r}") from None


class Generator(Protocol):
    name: str

    def supports(self, request: GenerationRequest) -> bool:
        """Whether this generator can honour the request's mode at all."""
        ...

    def generate(self, request: GenerationRequest) -> list[GeneratedOutput]:
        """Make the images. Never retried inside: each call may be billed."""
        ...


def check_prompt(prompt: str, *, max_chars: int, blocked_terms: list[str]) -> str:
    """The prompt, trimmed, or PromptRejected when it is too long or uses a blocked word.

    Checked before submitting, so a refused prompt costs neither credits nor a provider call.
    Words match whole (with a plural s), so "naked" blocks "naked" but not "snaked".
    """
    cleaned = " ".join(prompt.split())
    if not cleaned:
        raise PromptRejected("the prompt is empty")
    if len(cleaned) > max_chars:
        raise PromptRejected(f"the prompt is longer than {max_chars} characters")
    for term in blocked_terms:
        if term.strip() and re.search(
            rf"\b{re.escape(term.strip())}s?\b", cleaned, flags=re.IGNORECASE
        ):
            raise PromptRejected(f"the prompt uses a blocked word: {term.strip()!r}")
    return cleaned
