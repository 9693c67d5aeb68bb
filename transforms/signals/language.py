"""Language ID of the instruction and the response with fastText (lid.176.ftz by default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.signals import fasttext_models as models
from winnow.transforms.signals.base import Context, Signal

if TYPE_CHECKING:
    from winnow.transforms.config import Config


def _columns(config: Config) -> list[pa.Field]:
    return [
        pa.field("lang", pa.string()),
        pa.field("lang_instruction", pa.string()),
        pa.field("lang_instruction_score", pa.float32()),
        pa.field("lang_response", pa.string()),
        pa.field("lang_response_score", pa.float32()),
    ]


def languages(ctx: Context) -> dict[str, Any]:
    """Top label and its probability per role on the first max_chars characters; the row's language."""
    max_chars = ctx.config.signals.langid.max_chars
    out: dict[str, Any] = {}
    for role in ("instruction", "response"):
        texts = models.prepare_texts(ctx.batch.column(role).to_pylist(), max_chars)
        labels, probs = models.predict_top(ctx.resource, texts)
        out[f"lang_{role}"] = pa.array(labels, pa.string())
        out[f"lang_{role}_score"] = pa.array(probs, pa.float32())
    # The row's language: the response's, unless the response is a few words
    # (or nothing) and the instruction says more: LID on "Ottawa." is noise.
    cols = ctx.cols
    use_response = pc.and_(
        pc.not_equal(out["lang_response"], ""),
        pc.or_(
            pc.greater_equal(cols["response_words"], 5),
            pc.greater_equal(cols["response_chars"], cols["instruction_chars"]),
        ),
    )
    out["lang"] = pc.if_else(use_response, out["lang_response"], out["lang_instruction"])
    return out


LANGUAGE = Signal(
    name="langid",
    label="language id",
    cost="expensive",
    switch="signals.langid.enabled",
    enabled=lambda config: config.signals.langid.enabled,
    columns=_columns,
    compute=languages,
    load=lambda config: models.load_fasttext(config.signals.langid.model),
    summary="fastText language of the instruction and the response, and the row's language",
    extra_reserved=("lang",),
)
