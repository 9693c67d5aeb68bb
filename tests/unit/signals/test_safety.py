"""Tests for winnow.transforms.signals.safety: PII counts and redaction, term lexicons,
demographic counts and skew.

Every PII kind is checked on positives and on near-misses (dates, versions,
plain numbers, Luhn failures, invalid octets, code that looks like IPv6).
Lexicon counting is checked on hand-made cases and against a slow
pure-Python reference (Python `re` has the lookarounds RE2 lacks). All
terms are neutral, made up for the tests.
"""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pyarrow as pa
import pytest

from winnow.transforms.signals import safety
from winnow.transforms.signals.safety import (
    PII_KINDS,
    PLACEHOLDERS,
    demographic_counts,
    lexicon_counts,
    pii_counts,
    redact,
    skew,
)

# Fixture secrets are assembled at run time so no literal key sits in the file.
GHP = "ghp_" + "aB3" * 12
GHO = "gho_" + "Zy9" * 12
GH_PAT = "github_pat_" + "11ABCDEFG0" + "x" * 20
SK_LEGACY = "sk-" + "T3stK3y" * 7
SK_PROJ = "sk-proj-" + "Ab1_-" * 6
XOXB = "xoxb-" + "1234567890-abcdefXYZ"
AIZA = "AIza" + "Sy" + "D" * 33
AKIA = "AKIA" + "IOSFODNN7EXAMPLE"


def counts(texts: list[str | None]) -> dict[str, list[int]]:
    return {k: v.tolist() for k, v in pii_counts(pa.array(texts, type=pa.string())).items()}


def only(text: str) -> dict[str, int]:
    """The non-zero counts of one text."""
    c = pii_counts(pa.array([text]))
    return {k: int(v[0]) for k, v in c.items() if v[0]}


def red(text: str | None, **kw) -> str | None:
    return redact(pa.array([text], type=pa.string()), **kw).to_pylist()[0]


# --------------------------------------------------------------------------
# PII: positives and near-misses per kind
# --------------------------------------------------------------------------


def test_keys_and_dtypes() -> None:
    c = pii_counts(pa.array(["x"]))
    assert tuple(c) == PII_KINDS == ("email", "phone", "ipv4", "ipv6", "card", "secret")
    assert all(v.dtype == np.int64 and v.shape == (1,) for v in c.values())


@pytest.mark.parametrize(
    "text",
    ["john.doe@example.com", "a+tag@sub.example.co.uk", "mailto:x_y@corp.io", "(Write to Ops-Team@mail.example.org.)"],
)
def test_email_positive(text: str) -> None:
    assert only(text) == {"email": 1}


@pytest.mark.parametrize(
    "text",
    ["user@localhost", "@handle on social", "name at example dot com", "a@b.c", "x@y.com123", "email me"],
)
def test_email_near_miss(text: str) -> None:
    assert only(text) == {}


@pytest.mark.parametrize(
    "text",
    [
        "+1 415 555 2671",
        "+1 (415) 555-2671",
        "+14155552671",
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "1-800-555-0199",
        "+44 20 7946 0958",
        "+49 (0)30 1234567",
        "+33 1 23 45 67 89",
        "020 7946 0958",
        "07700 900123",
        "030 1234567",
        "010-1234-5678",
        "01 23 45 67 89",
        "06.12.34.56.78",
    ],
)
def test_phone_positive(text: str) -> None:
    assert only(f"call {text} today") == {"phone": 1}


@pytest.mark.parametrize(
    "text",
    [
        "in 2023 and 2024",
        "1999-2005",
        "on 2023-01-15",
        "on 12/05/2023",
        "python 3.11.4 and v2.10.4",
        "id 1234567890",
        "id 4155552671",
        "at 10:30:45",
        "costs $1,234,567.89",
        "zip 94103-1234",
        "ISBN 978-3-16-148410-0",
        "3 + 4 = 7",
        "+1 2023",
        "000 000 000",
        "room 12 34 56",
    ],
)
def test_phone_near_miss(text: str) -> None:
    assert only(text) == {}


def test_phone_adjacent_numbers_counted_separately() -> None:
    assert only("+1 415-555-2671 415-555-2671, (415) 555-2671") == {"phone": 3}


@pytest.mark.parametrize(
    "text, n",
    [
        ("host 192.168.1.1 up", 1),
        ("reach 10.0.0.1.", 1),
        ("mask 255.255.255.255 any 0.0.0.0", 2),
        ("(8.8.8.8)", 1),
        ("http://1.2.3.4:8080/x", 1),
        ("net 10.0.0.0/8", 1),
        ("1.1.1.1 2.2.2.2", 2),
        ("1.1.1.1,2.2.2.2,3.3.3.3", 3),
        ("range 10.0.0.1-10.0.0.255", 2),
    ],
)
def test_ipv4_positive(text: str, n: int) -> None:
    assert only(text) == {"ipv4": n}


@pytest.mark.parametrize(
    "text",
    [
        "999.1.1.1",
        "256.1.1.1",
        "1.2.300.4",
        "01.02.03.04",
        "1.2.3",
        "192.168.1",
        "v1.2.3.4",
        "build1.2.3.4",
        "1.2.3.4.5",
        "version 2.1.3.4.1 out",
        "1.2.3.4a",
        "pi 3.14159",
    ],
)
def test_ipv4_near_miss(text: str) -> None:
    assert only(text) == {}


@pytest.mark.parametrize(
    "text",
    [
        "2001:db8::1",
        "fe80::1ff:fe23:4567:890a",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "2001:db8:85a3::",
        "::a:b:c",
        "[2001:db8:1::ab9:C0A8:102]:443",
        "::ffff:192.0.2.1",
    ],
)
def test_ipv6_positive(text: str) -> None:
    # An IPv4-mapped address is one IPv6 address, not also an IPv4 one.
    assert only(f"addr {text} end.") == {"ipv6": 1}


@pytest.mark.parametrize(
    "text",
    [
        "a[1::2]",  # Python slices and C++ scopes: compressed forms need 3+ groups
        "x[::2]",
        "std::vector<int>",
        "Foo::bar()",
        "::1",
        "at 12:30:45",
        "mac 00:1A:2B:3C:4D:5E",
        "1:2:3:4:5:6:7:8:9",
    ],
)
def test_ipv6_near_miss(text: str) -> None:
    assert only(text) == {}


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555555555554444",
        "2223003122003222",
        "378282246310005",
        "3782 822463 10005",
        "30569309025904",
        "6011111111111117",
        "4222222222222",
    ],
)
def test_card_positive(text: str) -> None:
    assert only(f"card: {text}.") == {"card": 1}


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112",  # fails Luhn
        "order #5555555555554445",
        "4111 1111 1111 1112",
        "1234567890123456",  # no issuer prefix
        "9999999999999995",
        "41111111111111111111",  # 20 digits
        "id4111111111111111",  # inside a word
        "4111 11111 111 1111",  # odd grouping
        "2023-01-15 2024-02-16",
    ],
)
def test_card_near_miss(text: str) -> None:
    assert only(text) == {}


def test_card_next_to_other_numbers() -> None:
    assert only("4111 1111 1111 1111 12") == {"card": 1}
    assert only("4111111111111111 5555555555554444 4111111111111112") == {"card": 2}


def _luhn_ref(s: str) -> bool:
    digits = [int(c) for c in s if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return bool(digits) and total % 10 == 0


def test_luhn_matches_reference() -> None:
    rng = random.Random(7)
    cands = []
    for _ in range(2000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(12, 19)))
        cands.append("".join(c + (rng.choice(" -") if rng.random() < 0.2 else "") for c in digits))
    got = safety._luhn(pa.array(["4111", *cands]).slice(1))
    assert got.tolist() == [_luhn_ref(c) for c in cands]
    assert 0.05 < got.mean() < 0.15


@pytest.mark.parametrize(
    "text",
    [
        AKIA,
        GHP,
        GHO,
        GH_PAT,
        SK_LEGACY,
        SK_PROJ,
        XOXB,
        AIZA,
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\nhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
        "password = 'hunter2hunter2'",
        'api_key: "abcd1234efgh"',
        "DB_PASSWORD=s3cr3tpassw0rd",
        '{"token": "abc123def456"}',
        "client_secret = x9Y8z7W6v5",
        "OPENAI_API_KEY=" + SK_LEGACY,
    ],
)
def test_secret_positive(text: str) -> None:
    assert only(f"config {text} done") == {"secret": 1}


@pytest.mark.parametrize(
    "text",
    [
        "sk-learn-compatible-estimators-list",
        "the task-force met",
        "AKIA1234",
        "ghp_short",
        "api_key = os.getenv('OPENAI_API_KEY')",
        "token = YOUR_TOKEN_HERE",
        "password: <your password>",
        "password = ${DB_PASSWORD}",
        "max_tokens = 4096000000",
        "tokenizer = Tokenizer123abc",
        "password is hunter2hunter2",
        "the secret to success is practice",
        "password = 'short1'",
        "-----BEGIN PUBLIC KEY-----",
    ],
)
def test_secret_near_miss(text: str) -> None:
    assert only(text) == {}


# --------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail john.doe@example.com or x@y.co.uk.", "mail [EMAIL] or [EMAIL]."),
        ("call (415) 555-2671 or +44 20 7946 0958!", "call [PHONE] or [PHONE]!"),
        ("hosts 1.1.1.1 2.2.2.2,10.0.0.1. Not 1.2.3.4.5", "hosts [IP] [IP],[IP]. Not 1.2.3.4.5"),
        ("[2001:db8::1]:80 and fe80::1ff:fe23:4567:890a", "[[IP]]:80 and [IP]"),
        ("pay 4111-1111-1111-1111, not order 4111111111111112", "pay [CARD], not order 4111111111111112"),
        ("password = 'hunter2hunter2' and api_key: os.getenv('K')", "password = '[SECRET]' and api_key: os.getenv('K')"),
        ("export OPENAI_API_KEY=" + SK_LEGACY + "\n", "export OPENAI_API_KEY=[SECRET]\n"),
        ("k=" + AKIA + ", t=" + GHP, "k=[SECRET], t=[SECRET]"),
        ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\nok", "[SECRET]\nok"),
        ("nothing here: 2023-01-15, v1.2.3.4, 1234567890", "nothing here: 2023-01-15, v1.2.3.4, 1234567890"),
        ("Größe: café@例え.jp? no; café x@y.de", "Größe: café@例え.jp? no; café [EMAIL]"),
    ],
)
def test_redact_exact(text: str, expected: str) -> None:
    assert red(text) == expected


def test_redact_kinds_subset() -> None:
    text = "x@y.com 10.0.0.1 4111111111111111 415-555-2671 " + AKIA
    assert red(text, kinds=["email"]) == "[EMAIL] 10.0.0.1 4111111111111111 415-555-2671 " + AKIA
    assert red(text, kinds=("ipv4", "card")) == "x@y.com [IP] [CARD] 415-555-2671 " + AKIA
    assert red(text, kinds=[]) == text
    with pytest.raises(ValueError, match="unknown PII kinds"):
        redact(pa.array([text]), kinds=["ssn"])


PII_FIXTURES = [
    "mail john.doe@example.com, call +1 415 555 2671 or (415) 555-2671.",
    "hosts 192.168.1.1 2.2.2.2 and 2001:db8::1, not 999.1.1.1 or 1.2.3.4.5",
    "cards 4111 1111 1111 1111, 378282246310005; order 4111111111111112",
    f"keys {AKIA} {GHP} {SK_PROJ} {XOXB} {AIZA} password='hunter2hunter2'",
    "already redacted: [EMAIL] [IP] [CARD] password = '[SECRET]' [PHONE]",
    "plain 2023-01-15 v3.11 1234567890 12:30:45 std::vector a[1::2]",
    "mixed x@y.com,10.0.0.1,4111111111111111,+44 20 7946 0958",
    "",
    None,
]


def test_counts_are_what_redact_inserts() -> None:
    texts = pa.array(PII_FIXTURES)
    c = pii_counts(texts)
    out = redact(texts)
    for ph in set(PLACEHOLDERS.values()):
        kinds = [k for k in PII_KINDS if PLACEHOLDERS[k] == ph]
        want = sum(c[k] for k in kinds)
        before = np.array([(t or "").count(ph) for t in PII_FIXTURES])
        after = np.array([(t or "").count(ph) for t in out.to_pylist()])
        assert (after - before).tolist() == want.tolist(), ph
    assert counts(PII_FIXTURES)["secret"][3] == 6
    assert counts(PII_FIXTURES)["card"][2] == 2


def test_redact_is_idempotent_and_leaves_nothing() -> None:
    out = redact(pa.array(PII_FIXTURES))
    assert redact(out).to_pylist() == out.to_pylist()
    assert all(v.sum() == 0 for v in pii_counts(out).values())


def test_nulls_empty_slices_and_types() -> None:
    base = pa.array([None, "x@y.com", "", "call 415-555-2671", None, "4111111111111111"])
    c = pii_counts(base)
    assert c["email"].tolist() == [0, 1, 0, 0, 0, 0]
    assert c["phone"].tolist() == [0, 0, 0, 1, 0, 0]
    assert c["card"].tolist() == [0, 0, 0, 0, 0, 1]
    out = redact(base)
    assert out.to_pylist() == [None, "[EMAIL]", "", "call [PHONE]", None, "[CARD]"]

    sl = base.slice(3, 3)
    assert pii_counts(sl)["phone"].tolist() == [1, 0, 0]
    assert pii_counts(sl)["card"].tolist() == [0, 0, 1]
    assert redact(sl).to_pylist() == ["call [PHONE]", None, "[CARD]"]

    large = base.cast(pa.large_string())
    assert redact(large).type == pa.large_string()
    assert redact(large).to_pylist() == out.to_pylist()
    chunked = pa.chunked_array([base.slice(0, 2), base.slice(2)])
    assert pii_counts(chunked)["email"].tolist() == c["email"].tolist()

    empty = pa.array([], type=pa.string())
    assert all(len(v) == 0 for v in pii_counts(empty).values())
    assert len(redact(empty)) == 0
    nulls = pa.array([None, None], type=pa.string())
    assert all(v.tolist() == [0, 0] for v in pii_counts(nulls).values())
    assert redact(nulls).to_pylist() == [None, None]


def test_internal_marker_characters_in_text() -> None:
    # Validated kinds mark candidates with a Unicode noncharacter; a row that
    # already holds one gets another, and a row holding all of them falls
    # back to counting every candidate (over-redacting).
    one = "\ufdd0 4111111111111111 \ufdd0 4111111111111112 password='abc12345'"
    assert red(one) == "\ufdd0 [CARD] \ufdd0 4111111111111112 password='[SECRET]'"
    mixed = pa.array(["4111111111111111 \ufdd0", "x 4111111111111112", "\ufdd0 4111111111111112 5555555555554444"])
    assert pii_counts(mixed)["card"].tolist() == [1, 0, 1]
    assert redact(mixed).to_pylist() == ["[CARD] \ufdd0", "x 4111111111111112", "\ufdd0 4111111111111112 [CARD]"]
    every = "".join(safety._MARKERS)
    row = every + " 4111111111111111 4111111111111112"
    c = pii_counts(pa.array([row, "4111111111111112"]))
    assert c["card"].tolist() == [2, 0]
    assert red(row) == every + " [CARD] [CARD]"


# --------------------------------------------------------------------------
# Lexicons
# --------------------------------------------------------------------------


def lex(texts: list[str | None], terms: list[str]) -> list[int]:
    return lexicon_counts(pa.array(texts, type=pa.string()), {"l": terms})["l"].tolist()


def test_lexicon_whole_word_case_insensitive() -> None:
    texts = ["Blorp blorp,BLORP. blorp!", "blorpy unblorp blorp_x blorp2 2blorp", "blorp-blorp", "", None]
    assert lex(texts, ["blorp"]) == [4, 0, 2, 0, 0]


def test_lexicon_multiword_and_longest_first() -> None:
    terms = ["zim", "zim zam", "zim zam zoo"]
    texts = ["zim zam zoo", "zim  zam\nzoo zim", "Zim\tZam, zim", "zimzam zoo", "zim-zam"]
    assert lex(texts, terms) == [1, 2, 2, 0, 1]
    # Counted as one mention each, not also as their parts.
    assert lexicon_counts(pa.array(["zim zam"]), {"a": ["zim zam"], "b": ["zim"]})["b"].tolist() == [1]


@pytest.mark.parametrize(
    "term, text, n",
    [
        ("c++", "I like c++ and C++.", 2),
        ("c++", "c+ and xc++ and c++builder", 0),
        ("c++", "c+++", 1),  # the next character is a separator
        (".net", "use .net, not asp.net", 1),
        ("a.b", "a.b axb a.bc", 1),
        ("(x)", "see (x) and x", 1),
        ("[y]", "[y] y [y]", 2),
        ("p|q", "p|q p q", 1),
        ("^$", "^$ and $^", 1),
        ("back\\slash", "a back\\slash b backslash", 1),
        ("x{2}", "x{2} xx", 1),
        ("why?", "why? why", 1),
        ("*star*", "a *star* star", 1),
        ("50%", "50% of 50", 1),
        ("o'dell", "O'Dell and odell", 1),
        ("#tag", "#tag tag x#tag", 1),
    ],
)
def test_lexicon_escaping(term: str, text: str, n: int) -> None:
    assert lex([text], [term]) == [n]


def test_lexicon_unicode() -> None:
    assert lex(["Ça va? ÉCOLE école écoles", "naïve naïveté"], ["école", "ça va?", "naïve"]) == [3, 1]
    # Letters with a combining mark are part of the word.
    assert lex(["cafe\u0301 cafe"], ["cafe"]) == [1]


def test_lexicon_terms_cleanup() -> None:
    assert lex(["glim glim"], ["Glim", "glim", "  GLIM  ", "", "   "]) == [2]
    assert lex(["glim"], []) == [0]
    out = lexicon_counts(pa.array(["glim"]), {"a": [], "b": ["glim"]})
    assert out["a"].tolist() == [0] and out["b"].tolist() == [1]
    assert lexicon_counts(pa.array(["x"]), {}) == {}


def _lex_ref(text: str | None, terms: list[str]) -> int:
    alts = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in sorted(set(terms), key=lambda t: (-len(t), t)))
    return len(re.findall(rf"(?<![^\W])(?:{alts})(?![^\W])", text or "", flags=re.IGNORECASE))


def test_lexicon_many_terms_against_reference() -> None:
    rng = random.Random(3)
    syll = ["ka", "lo", "mi", "zu", "re", "po", "ne"]
    terms = sorted({"".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(600)})
    terms += [f"{a} {b}" for a, b in zip(terms[:40], terms[40:80], strict=True)]
    terms += ["c++", ".net", "a.b", "zim-zam", "o'dell", "(x)", "50%"]
    vocab = terms[:200] + terms[-9:] + ["the", "and", "kaka_lo", "x1", "c+", "axb", "zim", "+", "."]
    vocab += [t.upper() for t in terms[:20]]
    texts = []
    for _ in range(400):
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 30))]
        texts.append("".join(w + rng.choice([" ", ", ", ".", "\n", " - ", "  ", "", "+", "_"]) for w in words))
    texts[5] = None
    got = lexicon_counts(pa.array(["blorp", *texts]).slice(1), {"l": terms})["l"]
    assert got.tolist() == [_lex_ref(t, terms) for t in texts]
    assert got.sum() > 1000


def test_lexicon_slice() -> None:
    arr = pa.array(["blorp", None, "a blorp b blorp", "no"]).slice(1, 3)
    assert lexicon_counts(arr, {"l": ["blorp"]})["l"].tolist() == [0, 2, 0]


# --------------------------------------------------------------------------
# Demographic counts and skew
# --------------------------------------------------------------------------

GROUPS = {"g1": ["she", "her", "hers", "woman", "women"], "g2": ["he", "him", "his", "man", "men"]}


def test_demographic_counts() -> None:
    texts = [
        "She said he would call her.",
        "The men and women met; the shepherd came. Other themes.",
        "HIS book, hers too, and the man's hat",
        None,
        "",
    ]
    c = demographic_counts(pa.array(texts), GROUPS)
    assert list(c) == ["g1", "g2"]
    assert c["g1"].tolist() == [2, 1, 1, 0, 0]
    assert c["g2"].tolist() == [1, 1, 2, 0, 0]
    totals = {g: int(v.sum()) for g, v in c.items()}
    assert totals == {"g1": 4, "g2": 4}
    assert skew(totals) == 0.0


@pytest.mark.parametrize(
    "totals, expected",
    [
        ({"a": 5, "b": 5}, 0.0),
        ({"a": 2, "b": 2, "c": 2}, 0.0),
        ({"a": 7, "b": 0}, 1.0),
        ({"a": 0, "b": 0, "c": 9}, 1.0),
        ({"a": 3, "b": 1}, 1 - (-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2))),
        ({"a": 1, "b": 1, "c": 0}, 1 - math.log(2) / math.log(3)),
        ({"a": 0, "b": 0}, 0.0),
        ({"a": 4}, 0.0),
        ({}, 0.0),
    ],
)
def test_skew_values(totals: dict[str, int], expected: float) -> None:
    assert skew(totals) == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= skew(totals) <= 1.0


def test_skew_grows_with_imbalance() -> None:
    values = [skew({"a": 10 + k, "b": 10 - k}) for k in range(11)]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0
    assert skew({"a": 3, "b": 1}) == pytest.approx(0.18872, abs=1e-5)
    with pytest.raises(ValueError):
        skew({"a": -1, "b": 2})
