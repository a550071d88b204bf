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

from collections.abc import Mapping, Sequence
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


# Every HOLD_OUT_EVERY-th photo of the person is kept back from the provider to score the
# pictures against: one in five keeps 80 % for training and, from 5 photos on, at least one
# photo the model never saw (a copy of a reference's pose and light must not score as likeness).
HOLD_OUT_EVERY = 5


def held_out(person_ids: Sequence[int], accepted: int, fewest: int) -> frozenset[int]:
    """Which photos of the person (ids in upload order) are held out of training.

    Every fifth one, spread over the set, but never so many that fewer than `fewest` of the
    `accepted` photos are left for the trainer: a set at the trainer's minimum holds out
    none, and its pictures are then scored against the photos it was trained on.
    """
    room = max(0, accepted - fewest)
    picked = list(person_ids)[HOLD_OUT_EVERY - 1 :: HOLD_OUT_EVERY]
    return frozenset(picked[:room])
