"""Made-up words, sentences and edited copies for the near-duplicate tests (no real corpus text)."""

from __future__ import annotations

import random

from winnow.transforms.dedup.shingles import ShingleSpec

SPEC = ShingleSpec(mode="word")
WORDS = (  # noqa: SIM905 - prose reads better than a list of words
    "amber basin cobalt delta ember fjord garnet harbor indigo juniper kestrel lagoon meadow nectar orchid pebble quartz "
    "raven saffron thistle umber valley willow xenon yarrow zephyr anchor bramble cinder dune falcon glacier heron island"
).split()


def sentence(rng: random.Random, n: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def edit(text: str, rate: float, rng: random.Random) -> str:
    """A copy with `rate` of its words replaced by words no row has."""
    words = text.split()
    for i in rng.sample(range(len(words)), max(1, int(rate * len(words)))):
        words[i] = rng.choice(WORDS) + "x"
    return " ".join(words)
