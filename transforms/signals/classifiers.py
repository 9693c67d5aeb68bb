"""fastText classifiers applied to whole batches: positive-label probability and entropy.

Any supervised fastText model plugs in by config (`classifiers:`): which
label is positive, which text it reads, how many characters. The same text
preparation is used when `winnow train-quality` trains a model, so a model
sees at inference what it saw in training.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.configfiles import ConfigError
from winnow.transforms.io import files
from winnow.transforms.signals import fasttext_models as models
from winnow.transforms.signals.base import Context, Signal
from winnow.transforms.textviews import texts_of

if TYPE_CHECKING:
    from winnow.transforms.config import Config


@dataclass(frozen=True)
class ClassifierSpec:
    name: str
    model: str
    positive: str
    text: str
    max_chars: int

    @property
    def column(self) -> str:
        return self.name

    @property
    def entropy_column(self) -> str:
        return f"{self.name}_entropy"


def specs_from_config(config: Config) -> list[ClassifierSpec]:
    return [ClassifierSpec(name, c.model, c.positive, c.text, c.max_chars) for name, c in sorted(config.classifiers.items())]


def classifier_text(batch: pa.RecordBatch, which: str) -> pa.Array:
    """The text a classifier reads, before `prepare`."""
    if which == "prompt_answer":
        prompt, answer = texts_of(batch, "prompt_answer")
        return pc.binary_join_element_wise(prompt, answer, " __answer__ ")
    return texts_of(batch, which)[0]


def prepare(texts: pa.Array, max_chars: int) -> list[str]:
    """One lower-cased line per text, punctuation split off words, cut to max_chars."""
    t = pc.utf8_slice_codeunits(pc.fill_null(texts, ""), 0, max_chars)
    t = pc.utf8_lower(t)
    t = pc.replace_substring_regex(t, r"([^\pL\pN\pM\s_])", r" \1 ")
    t = pc.replace_substring_regex(t, r"\s+", " ")
    return pc.utf8_trim_whitespace(t).to_pylist()


def entropy_bits(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each row of a probability matrix."""
    p = np.clip(probs, 1e-12, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return -(p * np.log2(p)).sum(axis=1)


def predict_proba(model: Any, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Labels and a rows x labels probability matrix.

    Two-label softmax models (what train-quality makes) use fastText's batch
    predict with k=1 and the complement; other models ask for every label of
    each row (fastText's k>1 batch predict returns aliased arrays under numpy 2).
    """
    prefix = len(model.f.getArgs().label)
    labels = [lab[prefix:] for lab in model.f.getLabels("replace")[0]]
    index = {lab: i for i, lab in enumerate(labels)}
    out = np.zeros((len(texts), len(labels)), dtype=np.float64)
    if not texts:
        return labels, out
    loss = str(model.f.getArgs().loss)
    if len(labels) == 2 and "softmax" in loss:
        top, prob = models.predict_top(model, texts)
        for i, (lab, p) in enumerate(zip(top, prob)):
            if lab:
                j = index[lab]
                out[i, j] = p
                out[i, 1 - j] = 1.0 - p
            else:
                out[i, :] = 0.5
        return labels, out
    for i, text in enumerate(texts):
        predicted = model.f.predict(text, -1, 0.0, "replace")
        if not predicted:
            out[i, :] = 1.0 / len(labels)  # no known word: no opinion, as in the two-label case
        for p, lab in predicted:
            out[i, index[lab[prefix:]]] = min(p, 1.0)
    return labels, out


def classify(batch: pa.RecordBatch, spec: ClassifierSpec, skip: np.ndarray | None = None) -> tuple[pa.Array, pa.Array]:
    """(positive-label probability, label entropy) per row; null where `skip` is true."""
    n = batch.num_rows
    rows = np.flatnonzero(~skip) if skip is not None else np.arange(n)
    prob = np.full(n, np.nan)
    ent = np.full(n, np.nan)
    if len(rows):
        model = models.load_fasttext(spec.model)
        texts = prepare(classifier_text(batch, spec.text).take(pa.array(rows)), spec.max_chars)
        labels, probs = predict_proba(model, texts)
        if spec.positive not in labels:
            raise ValueError(f"classifier {spec.name}: model {spec.model} has no label {spec.positive!r} (labels: {labels})")
        prob[rows] = probs[:, labels.index(spec.positive)]
        ent[rows] = entropy_bits(probs)
    mask = np.isnan(prob)
    return pa.array(prob, pa.float32(), mask=mask), pa.array(ent, pa.float32(), mask=mask)


# ---- model cards ----------------------------------------------------------------------

CARD_SUFFIX = ".card.json"
# The weight factor of a model with no card, or a card without a usable validation record: unvalidated, half weight.
UNVALIDATED_WEIGHT = 0.5
VALIDATION_METRICS = ("roc_auc", "pairwise_accuracy")


def model_card(model_path: str) -> dict[str, Any] | None:
    """The card `winnow train-quality` wrote beside a model (`<model_path>.card.json`, local or gs://).

    None when there is no card (a model from elsewhere, or 'builtin'); ConfigError naming the
    card's path when it exists but cannot be read or is not a JSON object.
    """
    path = model_path + CARD_SUFFIX
    try:
        if not files.exists(path):
            return None
        card = json.loads(files.read_bytes(path).decode("utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"model card {path}: cannot read it: {e}") from e
    if not isinstance(card, dict):
        raise ConfigError(f"model card {path}: expected a JSON object, got {type(card).__name__}")
    return card


def validation_weight(card: dict[str, Any] | None) -> float:
    """The factor the composite scales a classifier's weight by, from its card's `validation`.

    For ROC-AUC or pairwise accuracy v (0.5 = chance): max(0, min(1, (v - 0.5) / 0.4)), so 0.9 and
    above count fully, 0.7 half, 0.5 and below not at all. No card, or a card without a usable
    `validation` (older cards, no value): UNVALIDATED_WEIGHT (0.5).
    """
    validation = card.get("validation") if isinstance(card, dict) else None
    if not isinstance(validation, dict) or validation.get("metric") not in VALIDATION_METRICS:
        return UNVALIDATED_WEIGHT
    value = validation.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return UNVALIDATED_WEIGHT
    return round(max(0.0, min(1.0, (float(value) - 0.5) / 0.4)), 6)  # 0.7 -> 0.5, not 0.49999999999999994


# ---- registration -----------------------------------------------------------------------


def _classifier_columns(config: Config) -> list[pa.Field]:
    fields = []
    for spec in specs_from_config(config):
        fields += [pa.field(spec.column, pa.float32()), pa.field(spec.entropy_column, pa.float32())]
    return fields


def classify_all(ctx: Context) -> dict[str, Any]:
    """Every configured classifier; rows whose worst rule severity the cascade skips get nulls."""
    skip_sev = ctx.config.cascade.skip_severities
    skip = pc.is_in(ctx.cols["severity"], value_set=pa.array(skip_sev, pa.string())).to_numpy(zero_copy_only=False)
    out: dict[str, Any] = {}
    for spec in specs_from_config(ctx.config):
        out[spec.column], out[spec.entropy_column] = classify(ctx.batch, spec, skip)
    return out


CLASSIFIERS = Signal(
    name="classifiers",
    label="classifiers",
    cost="expensive",
    switch="classifiers, --quality-model",
    enabled=lambda config: bool(config.classifiers),
    columns=_classifier_columns,
    compute=classify_all,
    means=("quality", "quality_entropy"),
    phase="after_rules",
    summary="fastText classifiers: probability of the positive label and label entropy (quality = the quality model)",
)
