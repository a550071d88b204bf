"""A 64-bit perceptual hash (DCT pHash) for spotting near-duplicate training photos.

Written here with numpy instead of pulling in a hashing library: it is a dozen lines. The hash
survives re-encoding, resizing and light or colour changes, but not a different crop or a
mirror image, which is what we want: those give a training set new information.
"""

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image

_SIZE = 32  # the picture is shrunk to 32x32 grey before the DCT
_LOW = 8  # the 8x8 lowest frequencies become the 64 bits


@lru_cache(maxsize=1)
def _dct_matrix() -> NDArray[np.float64]:
    """DCT-II basis; a constant scale does not matter since bits only compare coefficients."""
    k = np.arange(_SIZE)[:, None]
    n = np.arange(_SIZE)[None, :]
    return np.cos(np.pi * (2 * n + 1) * k / (2 * _SIZE))


def phash(image: Image.Image) -> str:
    """The picture's pHash as 16 hex digits (the form `TrainingPhoto.phash` stores)."""
    grey = image.convert("L").resize((_SIZE, _SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    dct = _dct_matrix()
    low = (dct @ pixels @ dct.T)[:_LOW, :_LOW].flatten()
    bits = low > np.median(low)
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    """How many of the 64 bits differ between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
