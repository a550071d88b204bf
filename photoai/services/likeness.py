"""Who a training set is of: the majority identity of its photos. Pure functions, no database.

The rule, simple enough to explain to a user: two photos show the same person when their face
embeddings are within the threshold (`faces.distance`). Photos linked that way, directly or
through others, form a group. The largest group is "you" when it holds more than half of the
photos that have a face embedding; the photos outside it are "a different person from your
other photos". When no group holds more than half (two people with as many photos each, or
every photo a stranger to the others), the set has no clear person: nobody's photo is called
the odd one out, and training waits until the set says who it is of.

Photos without an embedding (a pet, or a face dlib could not describe) take no part: they are
neither counted nor flagged, so one failed embedding never blocks the rest of the set.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from photoai.services.faces import Embedding, distance

DIFFERENT_PERSON = "a different person from your other photos"
NO_CLEAR_PERSON = (
    "These photos do not show one clear person: no one is in more than half of them. "
    "Keep photos of one person only (remove the others, or add more of the right person)."
)


@dataclass(frozen=True)
class Identity:
    """The verdict on a set: `majority` holds the ids of the photos of the set's person,
    `strangers` those of someone else; `clear` is False when no group is a majority (then
    `majority` and `strangers` are both empty)."""

    majority: frozenset[int]
    strangers: frozenset[int]
    clear: bool


def majority_identity(embeddings: Mapping[int, Embedding], threshold: float) -> Identity:
    """Group the photos (id -> embedding) and name the majority, as the module says."""
    ids = sorted(embeddings)
    if not ids:
        return Identity(frozenset(), frozenset(), clear=True)
    parent = {photo_id: photo_id for photo_id in ids}

    def root(photo_id: int) -> int:
        while parent[photo_id] != photo_id:
            parent[photo_id] = parent[parent[photo_id]]
            photo_id = parent[photo_id]
        return photo_id

    for i, first in enumerate(ids):
        for second in ids[i + 1 :]:
            if distance(embeddings[first], embeddings[second]) <= threshold:
                parent[root(second)] = root(first)
    groups: dict[int, set[int]] = {}
    for photo_id in ids:
        groups.setdefault(root(photo_id), set()).add(photo_id)
    largest = max(groups.values(), key=len)
    if 2 * len(largest) <= len(ids):
        return Identity(frozenset(), frozenset(), clear=False)
    return Identity(frozenset(largest), frozenset(ids) - largest, clear=True)
