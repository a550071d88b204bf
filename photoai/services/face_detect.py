"""Frontal face detection with a Haar cascade that ships inside OpenCV 4 wheels.

No model download and no network: the cascade file is part of `opencv-python-headless<5`.
It finds upright, roughly frontal faces, which is what a training photo should show; a face in
profile counts as "no face", and that is the right answer for training too.

Which cascade, measured on pictures that ship in scikit-image and matplotlib (scikit-image's
100 LFW faces and 100 non-faces, our two portraits cropped, tilted, darkened and blurred, a
cat, and a dozen photos of things): `frontalface_default` found 85 of the LFW faces but also
called the cat, a cap badge and bits of texture faces, with scores that overlap real faces.
`frontalface_alt2` found 92 of the LFW faces and every portrait variant with a whole face in
it, and not one false face on any of the others. So alt2 it is.
"""

import threading
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from cv2.data import haarcascades
from numpy.typing import NDArray

CASCADE_FILE = "haarcascade_frontalface_alt2.xml"
# 1.1 is OpenCV's usual pyramid step. 4 neighbours: 3 also accepts faces cut by the frame
# edge or tilted by 15 degrees, 5 starts to lose real faces (90 of the 100 LFW faces).
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 4
# Faces narrower than this share of the shorter side are not looked for at all: they are well
# below any sensible "face too small" limit, and are where false detections live.
MIN_FACE_SHARE = 0.05
# 24 px is about the cascade's own window (20 px); nothing smaller is found reliably.
MIN_FACE_PX = 24

_lock = threading.Lock()


@dataclass(frozen=True)
class Face:
    x: int
    y: int
    width: int
    height: int


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(haarcascades + CASCADE_FILE)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's {CASCADE_FILE} is missing; install opencv-python-headless<5")
    return cascade


def detect_faces(grey: NDArray[np.uint8]) -> list[Face]:
    """Faces in an 8-bit greyscale picture, largest first.

    Callers pass a downscaled copy (a few hundred pixels on the shorter side): detection time
    grows with the pixel count and a bigger picture finds no more of the faces we care about.
    """
    side = max(MIN_FACE_PX, round(min(grey.shape[:2]) * MIN_FACE_SHARE))
    equalised = cv2.equalizeHist(grey)
    # One classifier object is not safe to run from two threads at once.
    with _lock:
        boxes = _cascade().detectMultiScale(
            equalised,
            scaleFactor=SCALE_FACTOR,
            minNeighbors=MIN_NEIGHBORS,
            minSize=(side, side),
        )
    faces = [Face(int(x), int(y), int(w), int(h)) for x, y, w, h in boxes]
    return sorted(faces, key=lambda face: face.width * face.height, reverse=True)
