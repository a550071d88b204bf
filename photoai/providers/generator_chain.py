"""The operator's ordered generators, and one batch tried across them.

A provider that is rate limited, down, slow or refusing our account is no reason to fail the
user's batch while another configured provider may answer, so those move on to the next one.
A refusal of the request itself (validation, content policy) stops at once: the next provider
would refuse it as well, or accept what should have been refused. Each provider is called at
most once per batch, so a batch never costs more than one billable call per provider.
"""

import logging
from collections.abc import Callable, Sequence

from photoai.providers.base import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from photoai.providers.demo_generator import DemoGenerator
from photoai.providers.fal_generator import FalGenerator
from photoai.providers.generation_base import (
    ContentPolicyViolation,
    GeneratedOutput,
    GenerationRequest,
    Generator,
    GeneratorConfigError,
)
from photoai.providers.replicate_generator import ReplicateGenerator
from photoai.providers.together_generator import TogetherGenerator
from photoai.settings import Settings

log = logging.getLogger(__name__)

# Refusals about our account or model at one provider (bad key, spend limit, unknown model),
# not about the request: another provider may well serve it.
ACCOUNT_REFUSALS = frozenset({401, 402, 403, 404})

_FACTORIES: dict[str, Callable[[Settings], Generator]] = {
    "demo": lambda settings: DemoGenerator(),
    "together": TogetherGenerator,
    "fal": FalGenerator,
    "replicate": ReplicateGenerator,
}


class NoGeneratorSupports(ProviderRejected):
    """None of the configured generators can make this kind of request."""


class AllGeneratorsFailed(ProviderUnavailable):
    """Every generator that could serve the batch failed in a way worth retrying later.

    `retry_after` is the shortest wait a rate-limited provider asked for (None when none was
    rate limited); `maybe_submitted` is set when any provider may still be making images.
    """

    def __init__(self, failures: list[tuple[str, ProviderError]]) -> None:
        summary = "; ".join(f"{name}: {error}" for name, error in failures)
        super().__init__(
            f"every generator failed ({summary})",
            maybe_submitted=any(
                isinstance(error, ProviderUnavailable) and error.maybe_submitted
                for _, error in failures
            ),
        )
        self.failures = failures
        waits = [e.retry_after for _, e in failures if isinstance(e, ProviderRateLimited)]
        self.retry_after = min(waits) if waits else None


def build_generators(settings: Settings) -> list[tuple[str, Generator]]:
    """The configured generators in order; raises GeneratorConfigError on any unknown or
    duplicate name and on a provider whose key is missing, so the app fails at start-up."""
    names = [name.strip().lower() for name in settings.generators]
    unknown = [name for name in names if name not in _FACTORIES]
    if unknown:
        raise GeneratorConfigError(
            f"unknown generator(s) {', '.join(map(repr, unknown))} in PHOTOAI_GENERATORS; "
            f"known: {', '.join(_FACTORIES)}"
        )
    if len(set(names)) != len(names):
        raise GeneratorConfigError("PHOTOAI_GENERATORS names a generator twice")
    return [(name, _FACTORIES[name](settings)) for name in names]


def _moves_on(error: ProviderError) -> bool:
    if isinstance(error, ContentPolicyViolation):
        return False
    if isinstance(error, ProviderRejected):
        return error.status_code in ACCOUNT_REFUSALS
    return True


def generate_with_fallback(
    request: GenerationRequest, generators: Sequence[tuple[str, Generator]]
) -> tuple[str, list[GeneratedOutput]]:
    """(name of the generator that answered, its outputs).

    Raises the refusal itself when a provider refuses the request, NoGeneratorSupports when
    no generator can serve its mode, and AllGeneratorsFailed when all that could have failed.
    """
    failures: list[tuple[str, ProviderError]] = []
    tried = False
    for name, generator in generators:
        if not generator.supports(request):
            continue
        tried = True
        try:
            return name, generator.generate(request)
        except ProviderError as error:
            if not _moves_on(error):
                raise
            log.warning("generator %s failed, trying the next one: %s", name, error)
            failures.append((name, error))
    if not tried:
        raise NoGeneratorSupports("no configured generator can make this kind of picture")
    raise AllGeneratorsFailed(failures)
