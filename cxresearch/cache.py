"""A folder of fitted models, keyed by (model, config, data fingerprint, seed).

The cache lives in ``$CXRESEARCH_CACHE`` (default ``~/.cache/cxresearch``) and can
be deleted at any time: a miss only costs a refit. ``CXRESEARCH_NO_CACHE=1``
turns it off (``cxresearch report/run --no-cache`` set it).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd


def cache_root() -> Path:
    root = os.environ.get("CXRESEARCH_CACHE") or Path.home() / ".cache" / "cxresearch"
    return Path(root)


def enabled() -> bool:
    return os.environ.get("CXRESEARCH_NO_CACHE", "") not in ("1", "true", "yes")


def data_fingerprint(*parts: object) -> str:
    """A stable hash of model inputs (frames, arrays, dicts of them, plain values)."""
    digest = hashlib.sha256()
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()[:16]


def _feed(digest, part: object) -> None:
    if isinstance(part, dict):
        for key in sorted(part, key=str):
            digest.update(str(key).encode())
            _feed(digest, part[key])
    elif isinstance(part, pd.DataFrame | pd.Series):
        digest.update(pd.util.hash_pandas_object(part, index=True).to_numpy().tobytes())
        cols = part.columns if isinstance(part, pd.DataFrame) else [part.name]
        digest.update(repr(list(cols)).encode())
    elif isinstance(part, np.ndarray) and part.dtype != object:
        digest.update(str(part.dtype).encode() + repr(part.shape).encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    else:
        digest.update(json.dumps(part, sort_keys=True, default=repr).encode())


def fit_key(model: str, config: dict, data: str, seed: int | None) -> str:
    blob = json.dumps({"model": model, "config": config, "data": data, "seed": seed},
                      sort_keys=True, default=str)
    return f"{model}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"


def fit_dir(key: str) -> Path:
    return cache_root() / "fits" / key
