"""How a count reads, in every message and on every page: "1 credit", "2 credits"."""


def plural(count: int, noun: str) -> str:
    """The noun as it goes after `count`; photoai's nouns (credit, photo, image) add an s."""
    return noun if count == 1 else f"{noun}s"


def counted(count: int, noun: str) -> str:
    return f"{count:,} {plural(count, noun)}"
