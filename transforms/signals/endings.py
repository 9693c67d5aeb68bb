"""Does an answer end where its writer ended it? A model of one corpus's own endings.

The completeness rule knows sentences; it cannot tell a one-line answer cut
on a noun ("... who developed the theory"), or a calculation cut at "= 36",
from a whole one. A corpus can: its own answers' endings are, nearly all,
whole, and cuts of them after a random word inside a line are what a token
limit leaves. `winnow train-endings` fits a logistic regression on hashed
features of the last words and the shape of the last lines (sentence
punctuation, list items, "=", code fences, script) to tell the two apart.

It is fitted twice, on each half of the answers (by a hash of the answer
text), and each answer is judged by the model of the other half: an answer
is never judged by a model that saw it as an example of a whole ending
(cross-fitting). An answer outside the training corpus is judged the same
way, so a row's score does not depend on whether it was trained on.

`response_cut_score` is the probability that the answer was cut (answers of
min_words+ words; null for shorter ones, too short to judge). The
composite's completeness gate reads it through a ramp (composite.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from winnow.transforms.configfiles import ConfigError
from winnow.transforms.io import files
from winnow.transforms.signals.base import Context, Signal

if TYPE_CHECKING:
    from winnow.transforms.config import Config

FORMAT = "winnow-endings-1"
N_FEATURES = 1 << 20
MIN_WORDS = 8
TAIL_CHARS = 400  # the features read the last characters of an answer only
MIN_TRAINING_ANSWERS = 100  # per half: fewer whole answers teach nothing about a corpus's endings

_WORD = re.compile(r"\S+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_ENDS_SENTENCE = re.compile(r"[.!?。！？:;…]['\")\]”’]*$")
_CLOSED_LINE = re.compile(r"[.!?:;…。！？：；)\]}）】」』\"'”’»`*_~|>]\s*$")
_LIST_ITEM = re.compile(r"^\s*([-*+•#>|]|\d+[.)]|[a-zA-Z][.)]\s)")


class EndingsOptions(BaseModel):
    """`signals.endings`: on when a model is named."""

    model_config = ConfigDict(extra="forbid")

    # A model made by `winnow train-endings` (local or gs://); none: the signal is off.
    model: str | None = None
    # The completeness gate counts an answer as cut from judged_from (P(cut)) and wholly cut at cut_at,
    # linearly between: a confident model only, as most whole answers get a P(cut) well under 0.5.
    judged_from: float = Field(default=0.8, ge=0.0, lt=1.0)
    cut_at: float = Field(default=0.99, gt=0.0, le=1.0)
    # Answers shorter than this (words) are not judged: a label or a one-line answer has no ending to read.
    min_words: int = Field(default=MIN_WORDS, ge=1)


def options(config: Config) -> EndingsOptions:
    opts = config.signal_options("endings")
    return opts if isinstance(opts, EndingsOptions) else EndingsOptions()


# ---- features ---------------------------------------------------------------------------------------------


def _char_class(c: str) -> str:
    if not c:
        return "none"
    if c in ".!?…":
        return "stop"
    if c in "。！？":
        return "cjkstop"
    if c in ",，、":
        return "comma"
    if c in ":;：；":
        return "colon"
    if c in ")]}）】」』":
        return "close"
    if c in "([{（【「『":
        return "open"
    if c in "\"'”’»“‘«`":
        return "quote"
    if c in "=+-*/×÷<>^%":
        return "op"
    if c.isdigit():
        return "digit"
    name = unicodedata.name(c, "")
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")):
        return "cjk"
    if c.isalpha():
        return "upper" if c.isupper() else "lower"
    return "sym_" + unicodedata.category(c)


def _bucket(n: int, edges: Sequence[int]) -> int:
    return max((e for e in edges if n >= e), default=0)


def ending_features(text: str) -> list[str]:
    """Named features of how a text ends: its last tokens and characters, the shape of its last line and
    whether the lines before it closed, crossed with the class of the last character."""
    t = text[-TAIL_CHARS:].rstrip()
    lines = [line for line in t.split("\n") if line.strip()]
    last, earlier = (lines[-1], lines[:-1]) if lines else ("", [])
    tokens = _TOKEN.findall(t.lower())
    words = [w for w in tokens if w[0].isalnum() or w[0] == "_"]
    end = _char_class(t[-1:])
    closed = sum(bool(_CLOSED_LINE.search(line)) for line in earlier)
    share = "none" if not earlier else "0" if not closed else "all" if closed == len(earlier) else "some"
    n_lines = _bucket(len(lines), (0, 1, 2, 3, 4, 6, 10))
    last_words = _bucket(len(last.split()), (0, 1, 2, 3, 5, 8, 13, 21, 34))
    all_words = _bucket(len(_WORD.findall(text)), (0, 8, 16, 32, 64, 128, 256))
    fence = "```" in text
    eq, item = "=" in last, bool(_LIST_ITEM.match(last))
    previous_closed = bool(earlier) and bool(_CLOSED_LINE.search(earlier[-1]))
    w1 = words[-1] if words else ""
    last_tokens = last.split()
    first = last_tokens[0].lower().strip(",:") if last_tokens else ""  # "So", "Therefore", "Yours": a closing line
    titled = bool(last_tokens) and all(w[:1].isupper() for w in last_tokens if w[:1].isalpha())  # a name, a title
    return [
        "bias",
        f"t1={' '.join(tokens[-1:])}",
        f"t2={' '.join(tokens[-2:])}",
        f"t3={' '.join(tokens[-3:])}",
        f"w1={w1}",
        f"w2={' '.join(words[-2:])}",
        f"w3={' '.join(words[-3:])}",
        f"end={end}",
        f"shape={''.join(_char_class(c)[:2] for c in t[-3:])}",
        f"c1={t[-1:].lower()}",
        f"c2={t[-2:].lower()}",
        f"c3={t[-3:].lower()}",
        f"eq={eq}",
        f"eq_end={eq}|{end}",
        f"item={item}",
        f"item_end={item}|{end}",
        f"lines={n_lines}",
        f"closed={share}",
        f"previous_closed={previous_closed}",
        f"last_words={last_words}",
        f"words={all_words}",
        f"fence={fence}",
        f"open_fence={text.count('```') % 2 == 1}",
        f"end_lines={end}|{n_lines}",
        f"end_closed={end}|{share}",
        f"end_last_words={end}|{last_words}",
        f"end_previous={end}|{previous_closed}",
        f"end_fence={end}|{fence}",
        f"end_words={end}|{all_words}",
        f"w1_closed={w1}|{share}",
        f"first={first}",
        f"first_end={first}|{end}",
        f"titled={titled}|{last_words}",
    ]


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from sklearn.feature_extraction import FeatureHasher

    return FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)


def featurize(texts: Iterable[str]) -> Any:
    """A sparse rows x N_FEATURES matrix of ending features (the same hashing in training and scoring)."""
    return _hasher().transform(ending_features(t) for t in texts)


# ---- training examples --------------------------------------------------------------------------------------


def cut_answer(text: str, rng: random.Random, low: float = 0.1, high: float = 0.9, min_words: int = MIN_WORDS) -> str | None:
    """The text cut after a random word k (low <= k/words <= high) that ends no sentence and is followed by a
    space on its line: what a token limit leaves. None for texts under min_words or without such a word."""
    words = list(_WORD.finditer(text))
    n = len(words)
    if n < min_words:
        return None
    cuts = [
        k
        for k in range(max(1, math.ceil(low * n)), min(n - 1, math.floor(high * n)) + 1)
        if not _ENDS_SENTENCE.search(words[k - 1].group()) and "\n" not in text[words[k - 1].end() : words[k].start()]
    ]
    return text[: words[rng.choice(cuts) - 1].end()] if cuts else None


def fold_of(texts: Sequence[str]) -> np.ndarray:
    """0 or 1 per text, from a hash of the text: the half of the corpus it trains (and is not judged by)."""
    return np.array([hashlib.blake2b(t.encode(), digest_size=1).digest()[0] & 1 for t in texts], dtype=np.int8)


def training_examples(texts: Sequence[str], seed: int, cuts_per_text: int = 2) -> tuple[list[str], np.ndarray]:
    """(texts, labels): every answer of min_words+ words whole (0) and cuts_per_text cuts of it (1)."""
    out: list[str] = []
    labels: list[int] = []
    for i, text in enumerate(texts):
        if len(_WORD.findall(text)) < MIN_WORDS:
            continue
        out.append(text)
        labels.append(0)
        rng = random.Random(f"{seed}:{i}")
        for _ in range(cuts_per_text):
            cut = cut_answer(text, rng)
            if cut is not None:
                out.append(cut)
                labels.append(1)
    return out, np.array(labels, dtype=np.int8)


# ---- the model ------------------------------------------------------------------------------------------------


@dataclass
class EndingModel:
    """Two logistic regressions over hashed ending features, one per half of the training answers."""

    weights: list[np.ndarray]  # per fold: N_FEATURES float32
    intercepts: list[float]
    card: dict[str, Any] = field(default_factory=dict)

    def cut_probability(self, texts: Sequence[str]) -> np.ndarray:
        """P(cut) of each text, by the model of the other half than the text's own."""
        if not texts:
            return np.zeros(0)
        x = featurize(texts)
        judge = 1 - fold_of(texts)
        logits = np.empty(len(texts))
        for f in (0, 1):
            rows = np.flatnonzero(judge == f)
            if len(rows):
                logits[rows] = x[rows] @ self.weights[f] + self.intercepts[f]
        return 1.0 / (1.0 + np.exp(-logits))

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"format": np.array(FORMAT), "card": np.array(json.dumps(self.card))}
        for f, (w, b) in enumerate(zip(self.weights, self.intercepts, strict=True)):
            nz = np.flatnonzero(w)
            arrays[f"index{f}"], arrays[f"weight{f}"] = nz.astype(np.int32), w[nz].astype(np.float32)
            arrays[f"intercept{f}"] = np.array([b])
        blob = io.BytesIO()
        np.savez_compressed(blob, **arrays)  # type: ignore[arg-type]
        return blob.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "model") -> EndingModel:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as f:
                if str(f["format"]) != FORMAT:
                    raise ConfigError(f"{name} is an endings model of format {f['format']}, this winnow reads {FORMAT}")
                weights, intercepts = [], []
                for k in (0, 1):
                    w = np.zeros(N_FEATURES, np.float32)
                    w[f[f"index{k}"]] = f[f"weight{k}"]
                    weights.append(w)
                    intercepts.append(float(f[f"intercept{k}"][0]))
                return cls(weights, intercepts, json.loads(str(f["card"])))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise ConfigError(f"{name} is not an endings model made by `winnow train-endings` ({e})") from e


def _fit(x: Any, y: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(solver="liblinear", C=1.0, class_weight="balanced")
    lr.fit(x, y)
    return lr.coef_[0].astype(np.float32), float(lr.intercept_[0])


def _fit_halves(answers: Sequence[str], folds: np.ndarray, seed: int, cuts_per_text: int) -> tuple[EndingModel, list[Any]]:
    """A model per half, and each half's (features, labels) for judging it with the other half's model."""
    weights, intercepts, held = [], [], []
    for f in (0, 1):
        texts, y = training_examples([a for a, k in zip(answers, folds, strict=True) if k == f], seed + f, cuts_per_text)
        whole = int((y == 0).sum())
        if whole < MIN_TRAINING_ANSWERS or len(set(y.tolist())) < 2:
            raise ValueError(
                f"too few answers of {MIN_WORDS}+ words to learn their endings: {whole:,} in half {f} of the corpus, "
                f"{MIN_TRAINING_ANSWERS:,} needed in each"
            )
        x = featurize(texts)
        w, b = _fit(x, y)
        weights.append(w)
        intercepts.append(b)
        held.append((x, y))
    return EndingModel(weights, intercepts), held


def train_endings(answers: Sequence[str], seed: int = 0, cuts_per_text: int = 2, clean_above: float = 0.5) -> EndingModel:
    """Fit the two halves' models on a corpus's answers.

    A corpus holds some cut answers of its own, which would teach that their endings are whole: after a
    first fit, the answers the other half's model judges cut (P > clean_above) are left out of the whole
    examples, and the models are fitted again. The card holds the cross-fitted validation: each half's whole
    answers (all of them) and cuts judged by the model that did not see them.
    """
    from sklearn.metrics import roc_auc_score

    answers = [a for a in answers if a]
    folds = fold_of(answers)
    first, _ = _fit_halves(answers, folds, seed, cuts_per_text)
    suspect = first.cut_probability(answers) > clean_above
    kept = [a for a, s in zip(answers, suspect, strict=True) if not s]
    model, held = _fit_halves(kept, fold_of(kept), seed, cuts_per_text)
    # Validation on every answer (the left-out ones too) and the cuts, each judged by the model that did not see it.
    judged = [a for a in answers if len(_WORD.findall(a)) >= MIN_WORDS]
    whole = model.cut_probability(judged)
    cut = np.concatenate(
        [1.0 / (1.0 + np.exp(-(x[y == 1] @ model.weights[1 - f] + model.intercepts[1 - f]))) for f, (x, y) in enumerate(held)]
    )
    model.card = {
        "answers": len(answers),
        "left_out_as_cut": int(suspect.sum()),
        "examples": sum(len(y) for _, y in held),
        "seed": seed,
        "cv": {
            "roc_auc": float(roc_auc_score(np.r_[np.zeros(len(whole)), np.ones(len(cut))], np.r_[whole, cut])),
            "answers_over_0.8": float((whole > 0.8).mean()),
            "cut_over_0.8": float((cut > 0.8).mean()),
        },
    }
    return model


@lru_cache(maxsize=4)
def load_model(path: str) -> EndingModel:
    if not files.exists(path):
        raise ConfigError(f"signals.endings.model: {path} does not exist (make one with `winnow train-endings`)")
    return EndingModel.from_bytes(files.read_bytes(path), path)


# ---- the signal ---------------------------------------------------------------------------------------------


def cut_scores(responses: pa.Array, model: EndingModel, min_words: int) -> pa.Array:
    """response_cut_score: P(cut) of each response of min_words+ words, null for the others."""
    filled = pc.fill_null(responses, "")
    judged = pc.list_value_length(pc.utf8_split_whitespace(filled)).to_numpy(zero_copy_only=False) >= min_words
    texts = filled.to_pylist()
    out = np.full(len(texts), np.nan)
    rows = np.flatnonzero(judged)
    if len(rows):
        out[rows] = model.cut_probability([texts[i] for i in rows])
    return pa.array(out.astype(np.float32), pa.float32(), mask=~judged)


def _endings_signals(ctx: Context) -> dict[str, Any]:
    return {"response_cut_score": cut_scores(ctx.cols["response"], ctx.resource, options(ctx.config).min_words)}


ENDINGS = Signal(
    name="endings",
    label="cut answers (a corpus-fitted model of endings)",
    cost="expensive",
    switch="signals.endings.model",
    enabled=lambda config: options(config).model is not None,
    columns=lambda config: [pa.field("response_cut_score", pa.float32())],
    compute=_endings_signals,
    load=lambda config: load_model(str(options(config).model)),
    options=EndingsOptions,
    summary="P(the answer was cut), by a model of the corpus's own endings (winnow train-endings), cross-fitted",
)
