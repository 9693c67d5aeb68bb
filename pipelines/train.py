"""`winnow train-quality`: train a fastText quality classifier from labelled rows.

Rows come from any input winnow reads (every format, every compression),
labelled by the corpus they come from (--positive / --negative) or by a
field (--labeled with --label-field). A deterministic split by content hash
holds out rows for precision, recall and ROC-AUC; the model is written with
a card (data, sizes, metrics, hyper-parameters) next to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from transforms.classify import classifier_text, predict_proba, prepare
from transforms.config import ConfigError, load_config
from transforms.formats import FieldMap
from transforms.normalize import normalize_rows
from transforms.sources import match_inputs, read_shard

POSITIVE, NEGATIVE = "good", "bad"


@dataclass
class Example:
    text: str
    label: str
    source: str
    content_hash: str


def read_examples(paths: list[str], label: str | None, text: str, max_chars: int, label_field: str | None = None,
                  positive_value: str = "true") -> tuple[list[Example], int]:
    """Examples from inputs; with label_field the label comes from each row's field (in meta).

    Returns (examples, rows skipped because they could not be read or had no label).
    """
    config = load_config()
    fm = FieldMap.from_config(config)
    shards, _ = match_inputs(paths)
    out: list[Example] = []
    skipped = 0
    for shard in shards:
        for raw in read_shard(shard.path, 2048, config["input"]["max_row_bytes"]):
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
                    row_label = label
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
        out.append(Example(" ".join(words), NEGATIVE, f"corrupted:{e.source}", f"c{i}:{e.content_hash}"))
    return out


def split(examples: list[Example], holdout: float) -> tuple[list[Example], list[Example]]:
    """Deterministic train/held-out split by content hash (copies stay on one side)."""
    train, test = [], []
    for e in examples:
        bucket = int(hashlib.blake2b(e.content_hash.encode(), digest_size=8).hexdigest(), 16) % 1000
        (test if bucket < holdout * 1000 else train).append(e)
    return train, test


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2  # 1-based, ties share their mean rank
    ranks = average_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(model: Any, test: list[Example]) -> dict[str, Any]:
    """Held-out metrics overall, and per input that holds both labels (e.g. a --labeled file)."""
    labels, probs = predict_proba(model, [e.text for e in test])
    p_good = probs[:, labels.index(POSITIVE)]
    truth = np.array([e.label == POSITIVE for e in test])
    metrics = _metrics(p_good, truth)
    sources = np.array([e.source for e in test])
    by_source = {}
    for src in sorted(set(sources.tolist())):
        m = sources == src
        if truth[m].any() and not truth[m].all():
            by_source[src] = _metrics(p_good[m], truth[m])
    if by_source:
        metrics["by_source"] = by_source
    return metrics


def _metrics(p_good: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    pred = p_good >= 0.5
    tp, fp, fn = int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum())
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "accuracy": float((pred == truth).mean()) if len(truth) else 0.0,
        "roc_auc": roc_auc(p_good, truth),
        "held_out": int(len(truth)),
    }


def _write_fasttext(path: str, examples: list[Example]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(f"__label__{e.label} {e.text}\n")


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
    if args.labeled:
        if not args.label_field:
            raise ConfigError("--labeled needs --label-field NAME (the field that holds each row's label)")
        ex, sk = read_examples(args.labeled, None, args.text, args.max_chars, args.label_field, args.positive_value)
        examples += ex
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
    train, test = split(examples, args.holdout)
    print(f"train-quality: {len(examples):,} examples {counts}, {len(train):,} train / {len(test):,} held out; {skipped:,} rows skipped", file=out)
    # bucket bounds the n-gram table: fastText's default (2M x dim floats) makes 512 MB models.
    params = {"epoch": args.epoch, "lr": args.lr, "wordNgrams": args.word_ngrams, "dim": args.dim, "minCount": 1,
              "bucket": args.bucket, "loss": "softmax", "thread": 1, "seed": args.seed}
    with tempfile.TemporaryDirectory() as tmp:
        train_path = os.path.join(tmp, "train.txt")
        valid_path = os.path.join(tmp, "valid.txt")
        random.Random(args.seed).shuffle(train)
        _write_fasttext(train_path, train)
        _write_fasttext(valid_path, test)
        if args.autotune:
            model = fasttext.train_supervised(input=train_path, autotuneValidationFile=valid_path,
                                              autotuneDuration=args.autotune, verbose=0)
            a = model.f.getArgs()
            params = {"epoch": a.epoch, "lr": a.lr, "wordNgrams": a.wordNgrams, "dim": a.dim, "minCount": a.minCount,
                      "loss": str(a.loss), "autotune_seconds": args.autotune}
        else:
            model = fasttext.train_supervised(input=train_path, verbose=0, **params)
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
            "positive": args.positive or [], "negative": args.negative or [], "labeled": args.labeled or [],
            "label_field": args.label_field, "positive_value": args.positive_value,
            "corrupted_negatives": args.corrupted_negatives, "examples": counts, "skipped_rows": skipped,
            "train": len(train), "held_out": len(test), "holdout_fraction": args.holdout,
        },
        "hyperparameters": params,
        "metrics": metrics,
        "use": f"classifiers: {{quality: {{model: {args.output}, positive: {POSITIVE}, text: {args.text}, max_chars: {args.max_chars}}}}}",
    }
    with open(args.output + ".card.json", "w") as f:
        json.dump(card, f, indent=2)
    print(
        f"held out: precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}, "
        f"accuracy {metrics['accuracy']:.3f}, ROC-AUC {metrics['roc_auc']:.3f} on {metrics['held_out']:,} rows",
        file=out,
    )
    for src, m in metrics.get("by_source", {}).items():
        print(f"  {src}: ROC-AUC {m['roc_auc']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f} on {m['held_out']:,} rows", file=out)
    print(f"model: {args.output}   card: {args.output}.card.json", file=out)
    return card
