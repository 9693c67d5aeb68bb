"""`winnow train-quality`: train a fastText quality classifier from labelled rows.

Rows come from any input winnow reads (every format, every compression),
labelled by the corpus they come from (--positive / --negative) or by a
field (--labeled with --label-field). Held-out metrics come from k-fold
cross-validation (folds by content hash, so copies of a row and its corrupted
versions stay in one fold) or from a single held-out split; a small labelled
set needs the folds, since one split of ~60 rows moves an AUC by +-0.07.
The model is written with a card (data, sizes, metrics, hyper-parameters)
next to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from winnow.transforms.config import load_config
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.evaluation import roc_auc
from winnow.transforms.io.canonical import normalize_rows
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.io.inputs import match_inputs
from winnow.transforms.io.readers import read_shard
from winnow.transforms.signals.classifiers import classifier_text, predict_proba, prepare

POSITIVE, NEGATIVE = "good", "bad"
# --cv auto: k-fold below this many examples (cheap, and where one split is too noisy), one split above.
AUTO_CV_FOLDS, AUTO_CV_MAX_EXAMPLES = 5, 10_000


@dataclass
class Example:
    text: str
    label: str
    source: str
    content_hash: str
    group: str = ""  # the row it was made from: a corrupted copy shares its original's group
    weight: int = 1  # times it is repeated in training (never in evaluation)

    @property
    def split_key(self) -> str:
        return self.group or self.content_hash


def read_examples(
    paths: list[str], label: str | None, text: str, max_chars: int, label_field: str | None = None, positive_value: str = "true"
) -> tuple[list[Example], int]:
    """Examples from inputs; with label_field the label comes from each row's field (in meta).

    Returns (examples, rows skipped because they could not be read or had no label).
    """
    config = load_config()
    fm = FieldMap.from_config(config)
    shards, _ = match_inputs(paths)
    out: list[Example] = []
    skipped = 0
    for shard in shards:
        for raw in read_shard(shard.path, 2048, config.input.max_row_bytes):
            batch, rejected = normalize_rows(raw, shard, fm)
            skipped += len(rejected)
            if batch.num_rows == 0:
                continue
            texts = prepare(classifier_text(batch, text), max_chars)
            metas = batch.column("meta").to_pylist()
            for t, h, meta in zip(texts, batch.column("content_hash").to_pylist(), metas):
                if not t:
                    skipped += 1
                    continue
                if label_field:
                    value = json.loads(meta).get(label_field)
                    if value is None:
                        skipped += 1
                        continue
                    row_label = POSITIVE if str(value).lower() == positive_value.lower() else NEGATIVE
                else:
                    row_label = label or NEGATIVE
                out.append(Example(t, row_label, shard.name, h))
    return out, skipped


def corrupt(examples: list[Example], fraction: float, seed: int) -> list[Example]:
    """Negative examples made from positive ones: shuffled, truncated, looped, or mismatched.

    They teach the model what a broken version of a good row looks like,
    not only what another corpus looks like.
    """
    rng = random.Random(seed)
    good = [e for e in examples if e.label == POSITIVE]
    out = []
    for i in range(int(len(good) * fraction)):
        e = good[rng.randrange(len(good))]
        words = e.text.split()
        kind = i % 4
        if kind == 0:
            rng.shuffle(words)
        elif kind == 1:
            words = words[: max(3, len(words) // 4)]
        elif kind == 2:
            span = words[: max(3, min(12, len(words)))]
            words = (span * 8)[: max(len(words), 24)]
        else:
            other = good[rng.randrange(len(good))].text.split()
            words = words[: len(words) // 2] + other[len(other) // 2 :]
        out.append(Example(" ".join(words), NEGATIVE, f"corrupted:{e.source}", f"c{i}:{e.content_hash}", e.split_key))
    return out


def _hash_bucket(key: str, n: int) -> int:
    return int(hashlib.blake2b(key.encode(), digest_size=8).hexdigest(), 16) % n


def split(examples: list[Example], holdout: float) -> tuple[list[Example], list[Example]]:
    """Deterministic train/held-out split by content hash (copies, and corrupted copies, stay on one side)."""
    train: list[Example] = []
    test: list[Example] = []
    for e in examples:
        (test if _hash_bucket(e.split_key, 1000) < holdout * 1000 else train).append(e)
    return train, test


def fold_of(example: Example, folds: int) -> int:
    """The cross-validation fold of an example, by content hash, so copies share a fold."""
    return _hash_bucket(example.split_key, folds)


def cv_folds(requested: str | int, n_examples: int) -> int:
    """Folds to use: `auto` cross-validates small sets (AUTO_CV_FOLDS folds), 0 means one held-out split."""
    if str(requested) == "auto":
        return AUTO_CV_FOLDS if n_examples < AUTO_CV_MAX_EXAMPLES else 0
    folds = int(requested)
    if folds == 1 or folds < 0:
        raise ConfigError(f"--cv must be auto, 0 (one held-out split) or at least 2 folds; got {requested}")
    return folds


def predict_good(model: Any, examples: list[Example]) -> np.ndarray:
    """P(good) of each example."""
    labels, probs = predict_proba(model, [e.text for e in examples])
    return probs[:, labels.index(POSITIVE)]


def evaluate(model: Any, test: list[Example]) -> dict[str, Any]:
    """Held-out metrics of one model."""
    return metrics_of(predict_good(model, test), test)


def metrics_of(p_good: np.ndarray, test: list[Example]) -> dict[str, Any]:
    """Metrics overall, per input that holds both labels (e.g. a --labeled file), and the mean quality of every input."""
    truth = np.array([e.label == POSITIVE for e in test], dtype=bool)
    metrics: dict[str, Any] = _metrics(p_good, truth)
    sources = np.array([e.source for e in test])
    by_source = {}
    for src in sorted(set(sources.tolist())):
        m = sources == src
        if truth[m].any() and not truth[m].all():
            by_source[src] = _metrics(p_good[m], truth[m])
    if by_source:
        metrics["by_source"] = by_source
    metrics["mean_quality"] = {src: float(p_good[sources == src].mean()) for src in sorted(set(sources.tolist()))}
    return metrics


def cross_validate(examples: list[Example], folds: int, fit: Callable[[list[Example]], Any]) -> dict[str, Any]:
    """k-fold metrics: each fold scored by a model trained on the others.

    Returns the pooled out-of-fold metrics (every example scored once, by a
    model that never saw it) with `cv`: mean and sd over folds of ROC-AUC,
    precision, recall and accuracy, overall and per labelled input.
    """
    p_good = np.zeros(len(examples))
    fold = np.array([fold_of(e, folds) for e in examples])
    per_fold = []
    for k in range(folds):
        test_idx = np.flatnonzero(fold == k)
        train = [e for e, f in zip(examples, fold) if f != k]
        test = [examples[i] for i in test_idx]
        if not test or len({e.label for e in train}) < 2:
            continue
        p_good[test_idx] = predict_good(fit(train), test)
        per_fold.append(metrics_of(p_good[test_idx], test))
    pooled = metrics_of(p_good, examples)
    sources = sorted({src for m in per_fold for src in m.get("by_source", {})})
    pooled["cv"] = {
        "folds": folds,
        **{name: _spread([m[name] for m in per_fold]) for name in ("roc_auc", "precision", "recall", "accuracy")},
        "by_source": {
            src: {
                name: _spread([m["by_source"][src][name] for m in per_fold if src in m.get("by_source", {})])
                for name in ("roc_auc", "precision", "recall")
            }
            for src in sources
        },
    }
    return pooled


def _spread(values: list[float]) -> dict[str, Any]:
    """Mean and sample sd over folds (folds where the value is undefined are left out)."""
    v = np.array([x for x in values if not np.isnan(x)], dtype=np.float64)
    return {
        "mean": float(v.mean()) if len(v) else float("nan"),
        "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
        "folds": [round(float(x), 4) for x in values],
    }


def _metrics(p_good: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    pred = p_good >= 0.5
    tp, fp, fn = int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum())
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "accuracy": float((pred == truth).mean()) if len(truth) else 0.0,
        "roc_auc": roc_auc(p_good, truth),
        "held_out": len(truth),
    }


def _write_fasttext(path: str, examples: list[Example]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(f"__label__{e.label} {e.text}\n")


def _weighted(train: list[Example]) -> list[Example]:
    """Each example repeated `weight` times (shuffled afterwards, so the copies are spread over the epoch)."""
    return [e for e in train for _ in range(e.weight)]


def fit_fasttext(train: list[Example], params: dict[str, Any], seed: int) -> Any:
    """A supervised fastText model on these examples, in a seeded shuffled order (reproducible)."""
    import fasttext

    rows = _weighted(train)
    random.Random(seed).shuffle(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        _write_fasttext(path, rows)
        return fasttext.train_supervised(input=path, verbose=0, **params)


def autotune_fasttext(train: list[Example], valid: list[Example], seconds: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """fastText's autotune on a validation set: the tuned model and its hyper-parameters (to reuse in the folds)."""
    import fasttext

    rows = _weighted(train)
    random.Random(seed).shuffle(rows)
    with tempfile.TemporaryDirectory() as tmp:
        train_path, valid_path = os.path.join(tmp, "train.txt"), os.path.join(tmp, "valid.txt")
        _write_fasttext(train_path, rows)
        _write_fasttext(valid_path, valid)
        model = fasttext.train_supervised(
            input=train_path, autotuneValidationFile=valid_path, autotuneDuration=seconds, verbose=0
        )
    a = model.f.getArgs()
    params = {
        "epoch": a.epoch,
        "lr": a.lr,
        "wordNgrams": a.wordNgrams,
        "dim": a.dim,
        "minCount": a.minCount,
        "minn": a.minn,
        "maxn": a.maxn,
        "bucket": a.bucket,
        "loss": a.loss.name,
        "thread": 1,
        "seed": seed,
    }
    return model, params


def train_quality(args: Any, out: TextIO | None = None) -> dict[str, Any]:
    out = out or sys.stdout
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        raise ConfigError(
            "the installed `fasttext` module cannot train (the predict-only fasttext-predict package overwrote it); "
            "fix with: pip install --force-reinstall --no-deps fasttext-wheel"
        )
    examples: list[Example] = []
    skipped = 0
    if args.labeled_weight < 1:
        raise ConfigError(f"--labeled-weight must be at least 1; got {args.labeled_weight}")
    if args.labeled:
        if not args.label_field:
            raise ConfigError("--labeled needs --label-field NAME (the field that holds each row's label)")
        ex, sk = read_examples(args.labeled, None, args.text, args.max_chars, args.label_field, args.positive_value)
        examples += [dataclasses.replace(e, weight=args.labeled_weight) for e in ex]
        skipped += sk
    for paths, label in ((args.positive, POSITIVE), (args.negative, NEGATIVE)):
        if paths:
            ex, sk = read_examples(paths, label, args.text, args.max_chars)
            examples += ex
            skipped += sk
    examples += corrupt(examples, args.corrupted_negatives, args.seed)
    counts = {lab: sum(e.label == lab for e in examples) for lab in (POSITIVE, NEGATIVE)}
    if min(counts.values()) == 0:
        raise ConfigError(f"training needs rows of both labels; got {counts} (use --positive and --negative, or --labeled)")
    folds = cv_folds(args.cv, len(examples))
    # bucket bounds the n-gram table: fastText's default (2M x dim floats) makes 512 MB models.
    params = {
        "epoch": args.epoch,
        "lr": args.lr,
        "wordNgrams": args.word_ngrams,
        "dim": args.dim,
        "minCount": 1,
        "bucket": args.bucket,
        "loss": "softmax",
        "thread": 1,
        "seed": args.seed,
    }
    train, test = split(examples, args.holdout)
    tuned = None
    if args.autotune:
        tuned, params = autotune_fasttext(train, test, args.autotune, args.seed)
        params["autotune_seconds"] = args.autotune
    fit_params = {k: v for k, v in params.items() if k != "autotune_seconds"}

    def fit(rows: list[Example]) -> Any:
        return fit_fasttext(rows, fit_params, args.seed)

    if folds:
        print(
            f"train-quality: {len(examples):,} examples {counts}, {folds}-fold cross-validation, "
            f"then one model on all of them; {skipped:,} rows skipped",
            file=out,
        )
        metrics = cross_validate(examples, folds, fit)
        train, test = examples, []
        model = fit(examples)
    else:
        print(
            f"train-quality: {len(examples):,} examples {counts}, {len(train):,} train / {len(test):,} held out; {skipped:,} rows skipped",
            file=out,
        )
        model = tuned or fit(train)
        metrics = evaluate(model, test)
    model.save_model(args.output)
    card = {
        "model": os.path.basename(args.output),
        "trained": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "labels": [POSITIVE, NEGATIVE],
        "positive": POSITIVE,
        "text": args.text,
        "max_chars": args.max_chars,
        "data": {
            "positive": args.positive or [],
            "negative": args.negative or [],
            "labeled": args.labeled or [],
            "label_field": args.label_field,
            "positive_value": args.positive_value,
            "corrupted_negatives": args.corrupted_negatives,
            "labeled_weight": args.labeled_weight,
            "examples": counts,
            "skipped_rows": skipped,
            "train": len(train),
            "held_out": len(test),
            "holdout_fraction": 0.0 if folds else args.holdout,
            "cv_folds": folds,
        },
        "hyperparameters": params,
        "metrics": metrics,
        "use": f"classifiers: {{quality: {{model: {args.output}, positive: {POSITIVE}, text: {args.text}, max_chars: {args.max_chars}}}}}",
    }
    with open(args.output + ".card.json", "w") as f:
        json.dump(card, f, indent=2)
    for line in metrics_lines(metrics):
        print(line, file=out)
    print(f"model: {args.output}   card: {args.output}.card.json", file=out)
    return card


def metrics_lines(metrics: dict[str, Any]) -> list[str]:
    """What train-quality prints: fold spread (with --cv), pooled or held-out metrics, per labelled input, mean quality."""
    cv = metrics.get("cv")
    lines = []
    if cv:
        r = cv["roc_auc"]
        lines.append(
            f"cross-validation ({cv['folds']} folds): ROC-AUC {r['mean']:.3f} ± {r['sd']:.3f}, "
            f"precision {cv['precision']['mean']:.3f}, recall {cv['recall']['mean']:.3f} (mean ± sd over folds)"
        )
    head = "out of fold" if cv else "held out"
    lines.append(
        f"{head}: precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}, "
        f"accuracy {metrics['accuracy']:.3f}, ROC-AUC {metrics['roc_auc']:.3f} on {metrics['held_out']:,} rows"
    )
    for src, m in metrics.get("by_source", {}).items():
        spread = cv["by_source"].get(src, {}).get("roc_auc") if cv else None
        folds = f"ROC-AUC {spread['mean']:.3f} ± {spread['sd']:.3f} over folds, " if spread else ""
        lines.append(
            f"  {src}: {folds}ROC-AUC {m['roc_auc']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f} on {m['held_out']:,} rows"
        )
    if metrics.get("mean_quality"):
        lines.append("mean quality: " + ", ".join(f"{src} {q:.3f}" for src, q in metrics["mean_quality"].items()))
    return lines
