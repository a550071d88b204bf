"""Reading .safetensors files back, straight from the format's specification, so tests check
our writer against the spec rather than against itself."""

import json
import struct
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": None, "I64": "<i8"}


def read_safetensors(data: bytes) -> tuple[dict[str, NDArray[Any]], dict[str, str]]:
    """Tensors by name and the `__metadata__` strings; asserts the layout rules on the way."""
    (size,) = struct.unpack("<Q", data[:8])
    assert 8 + size <= len(data), "header runs past the end"
    header = json.loads(data[8 : 8 + size])
    metadata = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in metadata.values()), "metadata values are strings"
    body = data[8 + size :]
    tensors: dict[str, NDArray[Any]] = {}
    spans = []
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        assert dtype is not None
        array = np.frombuffer(body[begin:end], dtype=dtype)
        tensors[name] = array.reshape(info["shape"])
        spans.append((begin, end))
    spans.sort()
    assert spans[0][0] == 0 and spans[-1][1] == len(body), "the data section is fully used"
    assert all(a[1] == b[0] for a, b in pairwise(spans)), "no gaps or overlaps"
    return tensors, metadata
