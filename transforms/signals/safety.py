"""Safety signals over a column of strings: PII, unsafe-term lexicons and
demographic term balance.

Everything works on whole Arrow arrays with RE2 (pyarrow.compute) and numpy.
RE2 has no lookaround, so a pattern that must check the character after a
match either uses ``\\b`` (ASCII) or consumes that character in a group that
the replacement writes back. Detectors run in a fixed order (secrets, email,
IPv6, IPv4, cards, phones) and each replaces what it found with a
placeholder before the next one runs, so an item is counted once, by the
first kind that claims it, and counting is exactly what `redact` does.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import utf8_buffer
from winnow.transforms.signals.base import Context, Signal

if TYPE_CHECKING:
    from winnow.transforms.config import Config

PII_KINDS = ("email", "phone", "ipv4", "ipv6", "card", "secret")
PLACEHOLDERS = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "ipv4": "[IP]",
    "ipv6": "[IP]",
    "card": "[CARD]",
    "secret": "[SECRET]",
}

# --------------------------------------------------------------------------
# Patterns (RE2). \w and \b are ASCII in RE2.
# --------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"  # 0-255, no leading zeros
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = r"[0-9A-Fa-f]{1,4}"
# Compressed forms need three groups or more, so that Python slices
# (`a[1::2]`) and C++ scopes (`a::b`) stay silent; "::1" is not counted.
_IPV6 = "|".join(
    [
        rf"(?:{_H}:){{7}}{_H}",
        rf"(?:{_H}:){{6}}{_IPV4}",
        rf"(?:{_H}:){{3,7}}:",
        rf"{_H}:(?::{_H}){{2,6}}",
        rf"(?:{_H}:){{2}}(?::{_H}){{1,5}}",
        rf"(?:{_H}:){{3}}(?::{_H}){{1,4}}",
        rf"(?:{_H}:){{4}}(?::{_H}){{1,3}}",
        rf"(?:{_H}:){{5}}(?::{_H}){{1,2}}",
        rf"(?:{_H}:){{6}}:{_H}",
        rf":(?::{_H}){{3,7}}",
        rf"::(?:[fF]{{4}}(?::0{{1,4}})?:)?{_IPV4}",
        rf"(?:{_H}:){{1,4}}:{_IPV4}",
    ]
)
# Context is consumed and written back (groups 1 and 3). The trailing group
# rejects a following ".digit", so "1.2.3.4.5" (a version) is not an address,
# while a sentence-final "10.0.0.1." is; "v1.2.3.4" is not one either, but a
# bare four-part version "1.2.3.4" cannot be told from an address.
_IPV4_RE = rf"(^|[^\w.])(?:{_IPV4})($|[^\w.]|\.(?:$|\W))"
_IPV6_RE = rf"(^|[^\w:.])(?:{_IPV6})($|[^\w:.]|\.(?:$|\W))"

_EMAIL_RE = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"

# Phones: +1 NANP, other international numbers (+CC and 6+ more digits in
# groups; greedy, so a number right after one may be absorbed), NANP with
# area code and separators, national numbers with a trunk 0 and separators
# (UK/DE/KR style, French pairs). Plain digit runs, years, dates (4-2-2),
# versions and IPs fit none of them.
_PHONE_RE = "|".join(
    [
        r"\+1[ .-]?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}\b",
        r"\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}\b",
        r"(?:\b1[ .-]?)?(?:\(\d{3}\)[ .-]?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b",
        r"\b0[1-9]\d{1,3}[ -]\d{3,4}[ -]?\d{3,4}\b",
        r"\b0[1-9](?:[ .-]\d{2}){4}\b",
    ]
)

# Cards: issuer prefixes 2[2-7], 3-6; 13-19 digits contiguous, in groups of
# four, or Amex/Diners 4-6-4/5 grouping. Luhn is checked afterwards.
_CARD_RE = (
    r"\b(?:(?:[3-6]\d|2[2-7])\d{11,17}"
    r"|(?:[3-6]\d|2[2-7])\d{2}[ -]\d{4}[ -]\d{4}[ -]\d{1,7}"
    r"|3\d{3}[ -]\d{6}[ -]\d{4,5})\b"
)

_SECRET_RE = "|".join(
    [
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:(?s:.*?)-----END [A-Z0-9 ]*PRIVATE KEY-----)?",
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        r"\bsk-(?:(?:proj|svcacct|admin|ant)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})",
        r"\bxox[baprs]-[A-Za-z0-9-]{10,}",
        r"\bAIza[0-9A-Za-z_-]{35}",
    ]
)
# `api_key = value`, `"password": "value"`, `DB_TOKEN=value`: the key is kept
# (group 1), the value (group 2) is a candidate checked by _secret_like.
_ASSIGN_RE = (
    r"(\b(?i:[\w-]*?(?:api[_-]?key|secret(?:[_-]?key)?|token|password|passwd|pwd))[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s\"'<>()\[\]{},;]{8,})"
)

# Unicode noncharacters ("for internal use"): marks around candidates that a
# validator must see. One absent from a row is picked for that row.
_MARKERS = tuple(chr(c) for c in range(0xFDD0, 0xFDF0))


def _luhn(cands: pa.Array) -> np.ndarray:
    """Luhn check of digit strings (spaces and dashes ignored), vectorized over the bytes."""
    digits = pc.replace_substring(pc.replace_substring(cands, " ", ""), "-", "")
    buf, offsets = utf8_buffer(digits)
    lengths = np.diff(offsets)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    from_right = offsets[1:][owner] - 1 - np.arange(len(buf))
    d = buf.astype(np.int64) - 48
    doubled = np.where(from_right % 2 == 1, 2 * d, d)
    doubled -= 9 * (doubled > 9)
    sums = np.bincount(owner, weights=doubled, minlength=len(lengths))
    return (sums.astype(np.int64) % 10 == 0) & (lengths > 0)


def _secret_like(cands: pa.Array) -> np.ndarray:
    """A generic secret value has a letter and a digit: `os.getenv` and `YOUR_KEY` do not."""
    has_digit = pc.match_substring_regex(cands, r"\d")
    has_letter = pc.match_substring_regex(cands, r"[A-Za-z]")
    return pc.and_(has_digit, has_letter).to_numpy(zero_copy_only=False).astype(bool)


@dataclass(frozen=True)
class _Detector:
    kind: str
    pattern: str
    # Without a validator: the RE2 replacement. With one: the candidate's
    # group (r"\0" or r"\2"), and what is written back before it (r"\1").
    template: str
    passes: int = 1  # 2 when trailing context is consumed (adjacent items)
    validate: Callable[[pa.Array], np.ndarray] | None = None
    keep: str = ""


_DETECTORS = (
    _Detector("secret", _SECRET_RE, "[SECRET]"),
    _Detector("secret", _ASSIGN_RE, r"\2", validate=_secret_like, keep=r"\1"),
    _Detector("email", _EMAIL_RE, "[EMAIL]"),
    _Detector("ipv6", _IPV6_RE, r"\1[IP]\2", passes=2),
    _Detector("ipv4", _IPV4_RE, r"\1[IP]\2", passes=2),
    _Detector("card", _CARD_RE, r"\0", validate=_luhn),
    _Detector("phone", _PHONE_RE, "[PHONE]"),
)


def _np_int(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _apply_template(sub: pa.Array, det: _Detector) -> tuple[pa.Array, np.ndarray]:
    """Replace every match; the count is how many placeholders appeared."""
    placeholder = PLACEHOLDERS[det.kind]
    before = _np_int(pc.count_substring(sub, placeholder))
    out = sub
    for _ in range(det.passes):
        out = pc.replace_substring_regex(out, det.pattern, det.template)
    return out, _np_int(pc.count_substring(out, placeholder)) - before


def _apply_validated(sub: pa.Array, det: _Detector, marker: str) -> tuple[pa.Array, np.ndarray]:
    """Mark candidates, split on the marks, validate the candidates, join back.

    Splitting gives [text, candidate, text, candidate, ..., text] per row, so
    candidates are the odd pieces: only they are validated (Luhn runs on
    regex candidates, never on whole rows) and the valid ones replaced.
    """
    marked = pc.replace_substring_regex(sub, det.pattern, f"{det.keep}{marker}{det.template}{marker}")
    pieces = pc.split_pattern(marked, marker)
    flat = pieces.flatten()
    lengths = _np_int(pc.list_value_length(pieces))
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    is_cand = (np.arange(len(flat)) - starts) % 2 == 1
    valid = np.zeros(len(flat), dtype=bool)
    if is_cand.any() and det.validate is not None:
        valid[is_cand] = det.validate(flat.filter(pa.array(is_cand)))
    flat = pc.if_else(pa.array(valid), pa.scalar(PLACEHOLDERS[det.kind], flat.type), flat)
    offsets = pa.array(np.concatenate(([0], np.cumsum(lengths))).astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, flat), pa.scalar("", flat.type))
    parents = np.repeat(np.arange(len(sub)), lengths)
    return joined.cast(sub.type), np.bincount(parents[valid], minlength=len(sub)).astype(np.int64)


def _put(texts: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """`texts` with the (sorted) `rows` replaced by `values`."""
    mask = np.zeros(len(texts), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(texts, pa.array(mask), values)


def _apply(sub: pa.Array, det: _Detector) -> tuple[pa.Array, np.ndarray]:
    """Rewrite rows that have a hit; validated kinds pick a marker absent from each row."""
    if det.validate is None:
        return _apply_template(sub, det)
    out, counts = sub, np.zeros(len(sub), dtype=np.int64)
    pending = np.arange(len(sub))
    for marker in _MARKERS:
        part = sub if len(pending) == len(sub) else sub.take(pa.array(pending))
        clash = pc.match_substring(part, marker).to_numpy(zero_copy_only=False).astype(bool)
        if not clash.any():
            new, counts[pending] = _apply_validated(part, det, marker)
            return (new, counts) if len(pending) == len(sub) else (_put(out, pending, new), counts)
        rows = pending[~clash]
        if len(rows):
            new, counts[rows] = _apply_validated(sub.take(pa.array(rows)), det, marker)
            out = _put(out, rows, new)
        pending = pending[clash]
    if len(pending):
        # A row holding all 32 noncharacters: no mark is safe, so every
        # candidate counts (over-redacting is the safe side).
        rest = sub.take(pa.array(pending))
        before = _np_int(pc.count_substring(rest, PLACEHOLDERS[det.kind]))
        new = pc.replace_substring_regex(rest, det.pattern, det.keep + PLACEHOLDERS[det.kind])
        out = _put(out, pending, new)
        counts[pending] = _np_int(pc.count_substring(new, PLACEHOLDERS[det.kind])) - before
    return out, counts


def _scan(texts: pa.Array, kinds: Iterable[str]) -> tuple[pa.Array, dict[str, np.ndarray]]:
    """Run the detectors of `kinds` in order; only rows with a regex hit are rewritten."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    unknown = kinds - set(PII_KINDS)
    if unknown:
        raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {', '.join(PII_KINDS)}")
    n = len(texts)
    counts = {k: np.zeros(n, dtype=np.int64) for k in PII_KINDS if k in kinds}
    for det in _DETECTORS:
        if det.kind not in kinds:
            continue
        hit = pc.fill_null(pc.match_substring_regex(texts, det.pattern), False)
        rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
        if not len(rows):
            continue
        new, c = _apply(texts.take(pa.array(rows)), det)
        texts = _put(texts, rows, new)
        counts[det.kind][rows] += c
    return texts, counts


def pii_counts(texts: pa.Array) -> dict[str, np.ndarray]:
    """Per-row counts of each PII kind: email, phone, ipv4, ipv6, card, secret.

    Cards count only when Luhn-valid; an item is counted once, by the first
    kind in detection order (secret, email, ipv6, ipv4, card, phone). Nulls
    count 0. The counts are the placeholders `redact` would insert.
    """
    return _scan(texts, PII_KINDS)[1]


def redact(texts: pa.Array, kinds: Iterable[str] = PII_KINDS) -> pa.Array:
    """Replace detected items with [EMAIL], [PHONE], [IP], [CARD], [SECRET].

    Context around an item is kept (`password = [SECRET]` keeps the key);
    nulls stay null and the string type is kept.
    """
    return _scan(texts, kinds)[0]


# --------------------------------------------------------------------------
# Term lexicons
# --------------------------------------------------------------------------

_SEP = r"[^\pL\pN\pM_]"


def _is_sep(ch: str) -> bool:
    return ch != "_" and unicodedata.category(ch)[0] not in "LNM"


def _escape(ch: str) -> str:
    return f"\\x{{{ord(ch):x}}}" if ch.isascii() and not (ch.isalnum() or ch == "_") else ch


def _term_regex(term: str) -> str | None:
    """A term as RE2 over separator-doubled text: separators twice, spaces any whitespace run."""
    words = term.split()
    if not words:
        return None
    return r"[\s\pZ]+".join("".join(_escape(c) * (2 if _is_sep(c) else 1) for c in w) for w in words)


def _lexicon_regex(terms: Iterable[str]) -> str | None:
    """One alternation per lexicon, longest term first so "new york" beats "new"."""
    unique: dict[str, str] = {}
    for t in terms:
        key = " ".join(t.split()).casefold()
        if key and key not in unique:
            unique[key] = t
    alts = [r for r in (_term_regex(t) for t in sorted(unique.values(), key=lambda t: (-len(t), t))) if r]
    if not alts:
        return None
    return rf"(?:^|{_SEP})(?:{'|'.join(alts)})(?:{_SEP}|$)"


def _term_counts(texts: pa.Array, lexicons: Mapping[str, Iterable[str]]) -> dict[str, np.ndarray]:
    """Whole-word, case-insensitive match counts of each lexicon's terms.

    A match must not touch a letter, digit, mark or _ on either side. RE2's
    \\b is ASCII-only, so the boundaries are separators (or the text's
    edges) consumed by the match. Doubling every separator in the text first
    leaves one for the next match, so "foo foo" counts 2, and a term edge
    that is punctuation ("c++", ".net") must match a whole doubled pair,
    never half of one.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    n = len(texts)
    patterns = {name: _lexicon_regex(terms) for name, terms in lexicons.items()}
    out = {name: np.zeros(n, dtype=np.int64) for name in lexicons}
    if n == 0 or not any(patterns.values()):
        return out
    doubled = pc.replace_substring_regex(pc.fill_null(texts, ""), f"({_SEP})", r"\1\1")
    for name, pattern in patterns.items():
        if pattern:
            out[name] = _np_int(pc.count_substring_regex(doubled, pattern, ignore_case=True))
    return out


def lexicon_counts(texts: pa.Array, lexicons: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Per-row counts of whole-word, case-insensitive matches of each lexicon.

    Terms may span words ("new york" matches any whitespace between the
    words) and contain punctuation (escaped for RE2). Hundreds of terms cost
    one RE2 pass per lexicon. Nulls count 0.
    """
    return _term_counts(texts, lexicons)


def demographic_counts(texts: pa.Array, groups: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Per-row mentions of each demographic group's terms (e.g. gender terms).

    Same matching as `lexicon_counts`. Sum each array over a dataset and pass
    the totals to `skew` to measure how unevenly the groups are mentioned.
    """
    return _term_counts(texts, groups)


def skew(totals: Mapping[str, int]) -> float:
    """Imbalance of mentions across groups: 1 - H(p) / log(k), in [0, 1].

    p is each group's share of all mentions, H its Shannon entropy and k the
    number of groups (those with no mention included). 0 means every group
    is mentioned equally, 1 means all mentions fall in one group. With no
    mention at all, or fewer than two groups, there is no imbalance: 0.
    """
    counts = np.array(list(totals.values()), dtype=np.float64)
    if (counts < 0).any():
        raise ValueError("skew: totals must be non-negative")
    total = counts.sum()
    if len(counts) < 2 or total == 0:
        return 0.0
    p = counts[counts > 0] / total
    h = float(-(p * np.log(p)).sum())
    return float(min(max(1.0 - h / math.log(len(counts)), 0.0), 1.0))


# ---- registration -----------------------------------------------------------------------


def _safety_columns(config: Config) -> list[pa.Field]:
    saf = config.safety
    fields = [pa.field(f"pii_{k}", pa.int32()) for k in PII_KINDS] if saf.pii else []
    fields += [pa.field(f"lexicon_{k}", pa.int32()) for k in saf.lexicons]
    fields += [pa.field(f"demographic_{k}", pa.int32()) for k in saf.demographics]
    return fields


def safety_signals(ctx: Context) -> dict[str, Any]:
    saf = ctx.config.safety
    text = ctx.cols["conversation"]
    out: dict[str, Any] = {}
    if saf.pii:
        out.update({f"pii_{kind}": counts for kind, counts in pii_counts(text).items()})
    if saf.lexicons:
        out.update({f"lexicon_{kind}": counts for kind, counts in lexicon_counts(text, saf.lexicons).items()})
    if saf.demographics:
        out.update({f"demographic_{kind}": counts for kind, counts in demographic_counts(text, saf.demographics).items()})
    return out


SAFETY = Signal(
    name="safety",
    label="PII, lexicons and demographic mentions",
    cost="moderate",
    switch="safety.pii, safety.lexicons, safety.demographics",
    enabled=lambda config: config.safety.pii or bool(config.safety.lexicons) or bool(config.safety.demographics),
    columns=_safety_columns,
    compute=safety_signals,
    summary="e-mails, phones, IPs, cards and secrets; lexicon and demographic-term counts",
)
