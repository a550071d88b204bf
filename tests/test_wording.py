"""Counts read the same in every message: one credit, two credits."""

from photoai.services.generation import INSTANT, INSTANT_LABEL, SourceOption
from photoai.state.generate import source_label
from photoai.wording import counted


def test_counts_are_pluralised() -> None:
    assert counted(1, "credit") == "1 credit"
    assert counted(0, "credit") == "0 credits"
    assert counted(2, "photo") == "2 photos"
    assert counted(1500, "credit") == "1,500 credits"


def test_demo_sources_are_marked_once() -> None:
    assert source_label(SourceOption(INSTANT, INSTANT_LABEL, is_demo=True)) == (
        "Instant, no training (demo)"
    )
    assert source_label(SourceOption("model:1", "Summer me", is_demo=False)) == "Summer me"
