"""`winnow review calibrate --retrain`: the run's quality model retrained with the human labels added.

The labelled rows' text comes from the run's records/ (the same text view and
preparation the classifier read when scoring). The original training rows come
from the current model's card (`data`: the --positive, --negative, --labeled and
--pairs inputs of `winnow train-quality`, read again with train.py's readers, and
the generated negatives it made); inputs that no longer exist are listed as not
recovered, and without a card the model is trained on the human labels alone. A
human label wins over an original row with the same content (and keeps a held-out
row out of training).

Held-out figures are on the human-labelled rows only, k-fold by row id: each
fold is predicted by a model trained on the original rows and the other folds'
human rows, and by the current model (which never needed the human labels), so
before and after are over the same rows. The model is trained by train.py's
functions (fit_fasttext, predict_good, metrics_of, validation_record); this
module only decides what goes in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from winnow.pipelines.train import (
    NEGATIVE,
    POSITIVE,
    Example,
    auto_bucket,
    fit_fasttext,
    fold_of,
    metrics_of,
    read_examples,
    read_pairs,
    synthesize,
    validation_record,
    warnings_of,
)
from winnow.transforms.evaluation import roc_auc
from winnow.transforms.io.inputs import InputError, match_inputs
from winnow.transforms.review.labels import ReviewError
from winnow.transforms.signals import fasttext_models
from winnow.transforms.signals.classifiers import classifier_text, model_card, predict_proba, prepare

# fastText's own training arguments among a card's hyper-parameters.
FASTTEXT_KEYS = ("epoch", "lr", "wordNgrams", "dim", "minCount", "minn", "maxn", "bucket", "loss", "thread", "seed")
# Without a card: train-quality's defaults.
DEFAULT_PARAMS: dict[str, Any] = {
    "epoch": 25,
    "lr": 0.5,
    "wordNgrams": 2,
    "dim": 16,
    "minCount": 1,
    "loss": "softmax",
    "thread": 1,
}
DEFAULT_FOLDS = 5
# --label-weight auto: the human rows are repeated until they are at least this share of the training rows.
HUMAN_SHARE = 0.25
HUMAN_SOURCE = "human review"
# records/ columns the classifier text views read.
TEXT_COLUMNS = ("turns", "system", "instruction", "input", "response", "content_hash")


@dataclass
class Retrained:
    """The retrained model (not yet saved), its card (size filled in when saved) and the before/after report."""

    model: Any
    card: dict[str, Any]
    report: dict[str, Any]


def quality_classifier(config: dict[str, Any], run_dir: str) -> tuple[str, dict[str, Any]]:
    """(model path, classifier settings) of the run's quality model; a ReviewError when it had none."""
    spec = (config.get("classifiers") or {}).get("quality")
    if not isinstance(spec, dict) or not spec.get("model"):
        raise ReviewError(
            f"{run_dir}/run.json: the run had no quality model (classifiers.quality), so there is nothing to retrain; "
            "score with --quality-model MODEL first"
        )
    return str(spec["model"]), spec


def human_examples(records: pa.Table, ids: list[str], bad: np.ndarray, view: str, max_chars: int, run_dir: str) -> list[Example]:
    """One Example per labelled row (in the order of `ids`), its text taken from records/ as the classifier read it."""
    lacking = [c for c in TEXT_COLUMNS if c not in records.column_names]
    if lacking:
        raise ReviewError(
            f"{run_dir}/records/ has no text columns ({', '.join(lacking)}): the run was made with output.include_text "
            "off, so the labelled rows' text is not there to retrain on; re-score with output.include_text: true"
        )
    at = {row_id: i for i, row_id in enumerate(records.column("id").to_pylist())}
    table = records.take(pa.array([at[i] for i in ids], pa.int64())).combine_chunks()
    batch = table.to_batches()[0] if table.num_rows else None
    texts = prepare(classifier_text(batch, view), max_chars) if batch is not None else []
    hashes = table.column("content_hash").to_pylist()
    out = []
    for row_id, text, is_bad, h in zip(ids, texts, bad.tolist(), hashes):
        if not text:
            raise ReviewError(f"{run_dir}/records/: row {row_id!r} has no {view} text to train on")
        out.append(Example(text, NEGATIVE if is_bad else POSITIVE, HUMAN_SOURCE, h or row_id, group=f"id:{row_id}"))
    return out


def _existing(paths: list[str]) -> tuple[list[str], list[str]]:
    found, missing = [], []
    for p in paths:
        try:
            match_inputs([p])
            found.append(p)
        except (InputError, OSError):
            missing.append(p)
    return found, missing


def original_examples(card: dict[str, Any] | None, view: str, max_chars: int, seed: int) -> tuple[list[Example], dict[str, Any]]:
    """The current model's training rows, read again from the inputs its card names, with the generated
    negatives it was trained with; and what was (and was not) recovered."""
    info: dict[str, Any] = {"card": card is not None, "recovered": [], "not_recovered": [], "examples": 0}
    if card is None:
        info["note"] = "the current model has no card: its training rows are unknown; trained on the human labels only"
        return [], info
    data = card.get("data") or {}
    examples: list[Example] = []
    label_field, positive_value = data.get("label_field"), str(data.get("positive_value") or "true")
    for key, label in (("positive", POSITIVE), ("negative", NEGATIVE), ("labeled", None), ("pairs", None)):
        found, missing = _existing([str(p) for p in data.get(key) or []])
        info["recovered"] += [{"input": key, "path": p} for p in found]
        info["not_recovered"] += [{"input": key, "path": p, "why": "no longer matches a file"} for p in missing]
        if not found:
            continue
        if key == "pairs":
            examples += read_pairs(found, view, max_chars, label_field, positive_value)[0].examples
        elif key == "labeled":
            weight = int(data.get("labeled_weight") or 1)
            ex, _ = read_examples(found, None, view, max_chars, label_field or "label", positive_value)
            examples += [dataclasses.replace(e, weight=weight) for e in ex]
        else:
            examples += read_examples(found, label, view, max_chars)[0]
    if info["not_recovered"] and not info["recovered"]:
        info["note"] = "the training inputs named by the card are gone; trained on the human labels only"
    elif info["not_recovered"]:
        info["note"] = "some training inputs named by the card are gone; trained on the rest and the human labels"
    elif not info["recovered"]:
        info["note"] = "the card names no training inputs; trained on the human labels only"
    info["examples"] = len(examples)
    info["generated_fractions"] = dict(data.get("synthetic_fractions") or {})
    return examples, info


def fasttext_params(card: dict[str, Any] | None, seed: int) -> tuple[dict[str, Any], bool, bool]:
    """(fastText arguments, recompute the bucket from the data, quantize) from the card, or train-quality's defaults."""
    hp = (card or {}).get("hyperparameters") or {}
    params = {k: hp[k] for k in FASTTEXT_KEYS if k in hp} or dict(DEFAULT_PARAMS)
    params["seed"] = seed
    params.setdefault("thread", 1)
    auto = "bucket" not in params or hp.get("bucket_rule", "auto") == "auto"
    return params, auto, bool(hp.get("quantized", False))


def _p_positive(model: Any, examples: list[Example], positive: str, what: str) -> np.ndarray:
    labels, probs = predict_proba(model, [e.text for e in examples])
    if positive not in labels:
        raise ReviewError(f"{what}: the model has no label {positive!r} (labels: {', '.join(labels)})")
    return np.asarray(probs[:, labels.index(positive)], dtype=np.float64)


def _scores(p_good: np.ndarray, good: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    """Accuracy (p >= 0.5 means good), its Horvitz-Thompson weighted version, and ROC-AUC."""
    right = (p_good >= 0.5) == good
    auc = roc_auc(p_good, good)
    return {
        "rows": len(good),
        "good": int(good.sum()),
        "bad": int((~good).sum()),
        "accuracy": round(float(right.mean()), 6) if len(good) else None,
        "accuracy_weighted": round(float((w * right).sum() / w.sum()), 6) if len(good) else None,
        "roc_auc": None if math.isnan(auc) else round(auc, 6),
    }


def label_weight(requested: str | int, n_original: int, n_human: int) -> int:
    """--label-weight: a number, or auto = the repeats that make the human rows HUMAN_SHARE of the training rows
    (of `n_original` original rows: those recovered, or the number the card records when none are)."""
    if str(requested) != "auto":
        try:
            weight = int(requested)
        except ValueError as e:
            raise ReviewError(f"--label-weight must be auto or a whole number >= 1; got {requested!r}") from e
        if weight < 1:
            raise ReviewError(f"--label-weight must be auto or a whole number >= 1; got {requested}")
        return weight
    if not n_original or not n_human:
        return 1
    return max(1, math.ceil(HUMAN_SHARE / (1 - HUMAN_SHARE) * n_original / n_human))


def retrain(
    config: dict[str, Any],
    run_dir: str,
    records: pa.Table,
    ids: list[str],
    bad: np.ndarray,
    weights: np.ndarray,
    model_out: str,
    folds: int = DEFAULT_FOLDS,
    seed: int = 1,
    requested_weight: str | int = "auto",
    provenance: dict[str, Any] | None = None,
) -> Retrained:
    """Retrain the run's quality model with the human verdicts (`ids`, `bad`) added; see the module docstring."""
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        raise ReviewError(
            "the installed `fasttext` module cannot train (the predict-only fasttext-predict package overwrote it); "
            "fix with: pip install --force-reinstall --no-deps fasttext-wheel"
        )
    if folds < 2:
        raise ReviewError(f"--folds must be at least 2; got {folds}")
    model_path, spec = quality_classifier(config, run_dir)
    view, max_chars, positive = (
        str(spec.get("text", "conversation")),
        int(spec.get("max_chars", 4000)),
        str(spec.get("positive", "good")),
    )
    humans = human_examples(records, ids, bad, view, max_chars, run_dir)
    good = ~np.asarray(bad, dtype=bool)
    if good.all() or not good.any():
        raise ReviewError(
            f"retraining needs rows people labelled good and rows they labelled bad; all {len(ids)} are {'good' if good.all() else 'bad'}"
        )
    card = model_card(model_path)
    originals, origin = original_examples(card, view, max_chars, seed)
    labelled = {e.content_hash for e in humans}
    replaced = [e for e in originals if e.content_hash in labelled]
    originals = [e for e in originals if e.content_hash not in labelled]
    generated, generated_counts, _ = synthesize(originals, origin.get("generated_fractions", {}), view, max_chars, seed)
    originals += generated
    origin.update(replaced_by_human_labels=len(replaced), generated_negatives=generated_counts)
    # Without the original rows, the card's count of them stands in, so human rows weigh as they would have.
    recorded = (card or {}).get("data", {}).get("train")
    n_original = len(originals) or (recorded if isinstance(recorded, int) else 0)
    weight = label_weight(requested_weight, n_original, len(humans))
    humans = [dataclasses.replace(e, weight=weight) for e in humans]
    params, auto, quantize = fasttext_params(card, seed)
    if auto and params.get("wordNgrams", 1) > 1:
        params["bucket"] = auto_bucket([e.text for e in originals + humans], int(params["wordNgrams"]), seed)[0]

    # Before: the current model, on every labelled row.
    current = fasttext_models.load_fasttext(model_path)
    before = _p_positive(current, humans, positive, f"current quality model {model_path}")
    # After: out of fold, by row id; a fold's rows are never trained on by the model that predicts them.
    fold = np.array([fold_of(e, folds) for e in humans])
    after = np.full(len(humans), np.nan)
    for k in range(folds):
        test = np.flatnonzero(fold == k)
        if not len(test):
            continue
        train = originals + [e for e, f in zip(humans, fold) if f != k]
        if len({e.label for e in train}) < 2:
            raise ReviewError(
                f"fold {k + 1} of {folds}: the rows left to train on hold one verdict only; label more rows or use fewer --folds"
            )
        after[test] = _p_positive(
            fit_fasttext(train, params, seed, quantize), [humans[i] for i in test], POSITIVE, "retrained model"
        )
    model = fit_fasttext(originals + humans, params, seed, quantize)

    metrics = metrics_of(after, humans)
    validation = validation_record(metrics, after, humans, None, seed)
    validation["cv_folds"] = folds
    validation["on"] = "human-labelled rows of the run, out of fold by id"
    scores_before, scores_after = _scores(before, good, weights), _scores(after, good, weights)
    warnings = warnings_of(validation, metrics, 0, 1)
    if (scores_after["accuracy"] or 0) < (scores_before["accuracy"] or 0) or (scores_after["roc_auc"] or 0) < (
        scores_before["roc_auc"] or 0
    ):
        warnings.insert(
            0,
            "the retrained model does worse than the current one on the held-out human-labelled rows "
            f"(accuracy {scores_before['accuracy']} -> {scores_after['accuracy']}, ROC-AUC {scores_before['roc_auc']} -> "
            f"{scores_after['roc_auc']}); keep the current model, or label more rows",
        )
    report = {
        "model": model_out,
        "current_model": model_path,
        "text": view,
        "held_out": f"{folds}-fold by row id over the human-labelled rows; after = out-of-fold predictions",
        "before": scores_before,
        "after": scores_after,
        "warnings": warnings,
        "training": {
            "original": origin,
            "human_rows": len(humans),
            "human_weight": weight,
            "rows": sum(e.weight for e in originals + humans),
        },
        "note": "keep.min thresholds in calibrated.yaml are for the current model's scores; re-score with the new model "
        "and calibrate again before changing classifiers.quality.model",
    }
    new_card = {
        "model": os.path.basename(model_out),
        "trained": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "labels": [POSITIVE, NEGATIVE],
        "positive": POSITIVE,
        "text": view,
        "max_chars": max_chars,
        "validation": validation,
        "warnings": warnings,
        "data": {
            **((card or {}).get("data") or {}),
            "retrained_from": model_path,
            "human_labels": {
                **(provenance or {}),
                "rows": len(humans),
                "weight": weight,
                "good": int(good.sum()),
                "bad": int((~good).sum()),
            },
            "original_recovered": origin,
        },
        "hyperparameters": {**params, "bucket_rule": "auto" if auto else "card", "quantized": quantize},
        "metrics": {"before": report["before"], "after": report["after"], "out_of_fold": metrics},
        "use": f"classifiers: {{quality: {{model: {model_out}, positive: {POSITIVE}, text: {view}, max_chars: {max_chars}}}}}",
    }
    return Retrained(model, new_card, report)


def model_bytes(model: Any) -> bytes:
    """The fastText model file's bytes (fastText writes only to a local path)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.bin")
        model.save_model(path)
        with open(path, "rb") as f:
            return f.read()
