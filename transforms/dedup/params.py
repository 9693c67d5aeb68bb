"""Near-duplicate settings, the duplicates/ schema, and signatures shared across runs.

`DedupParams` is built once from the config and travels with every stage;
`reference_files` checks that an earlier run's exported signatures were
made with settings that make them comparable to this run's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from winnow.transforms.configfiles import ConfigError
from winnow.transforms.dedup import minhash
from winnow.transforms.dedup.shingles import ShingleSpec
from winnow.transforms.io import files
from winnow.transforms.textviews import text_parts

if TYPE_CHECKING:
    from winnow.transforms.config import Config

# Shard indices from here on name files of an earlier run's exported signatures.
REFERENCE_BASE = 1 << 22
# Parameters that must match for signatures of two runs to be comparable.
COMPATIBLE = ("text", "shingle", "ngram", "char_ngram", "char_mode_share", "num_perm", "seed", "verify", "side_columns")
# Verifiers that need each row's token sequences, and the side-file columns holding them:
# exact compares shingle sets, then the word order of the pairs that pass; rouge_l the word order.
SEQUENCE_COLUMNS = {"exact": ("shingles", "tokens"), "rouge_l": ("tokens",)}

DUPLICATES = pa.schema(
    [
        ("id", pa.string()),
        ("key", pa.int64()),
        ("shard", pa.string()),
        ("row", pa.int64()),
        ("cluster_id", pa.int64()),  # the smallest row key in the cluster
        ("cluster_size", pa.int64()),
        ("keep", pa.bool_()),
        ("kept_id", pa.string()),
        (
            "similarity",
            pa.float32(),
        ),  # Jaccard to the kept row (of the answer in two-part modes; exact and template-aware with verify: exact, else estimated)
        ("exact", pa.bool_()),  # same content hash as the kept row
    ]
)


@dataclass(frozen=True)
class DedupParams:
    text: str
    spec: ShingleSpec
    num_perm: int
    seed: int
    threshold: float
    bands: int
    rows: int
    verify: str
    verify_threshold: float
    partitions: int
    max_rounds: int
    keep: tuple[str, ...]
    export_signatures: bool
    part_threshold: float = 0.1
    reference: tuple[str, ...] = ()
    row_threshold: float = 0.0
    short_shingles: int = 0
    short_answer_shingles: int = 0
    short_prompt_shingles: int = 0
    template_share: float = 0.0
    template_min_rows: int = 0
    order_threshold: float = 0.0

    @property
    def finds_templates(self) -> bool:
        """The exact test drops template shingles, which a count over the dataset finds first."""
        return self.verify == "exact" and (self.template_share > 0 or self.template_min_rows > 0)

    @property
    def parts(self) -> int:
        """Signature parts: prompt (or input) and answer are hashed (and must match) separately."""
        return text_parts(self.text)

    @property
    def width(self) -> int:
        return self.parts * self.num_perm

    @classmethod
    def from_config(cls, config: Config) -> DedupParams:
        d = config.dedup
        bands, rows = d.bands, d.rows
        if not bands:
            bands, rows = minhash.optimal_bands(d.threshold, d.num_perm)
        verify_threshold = d.verify_threshold if d.verify_threshold is not None else d.threshold
        return cls(
            d.text,
            ShingleSpec(d.shingle, d.ngram, d.char_ngram, d.char_mode_share),
            d.num_perm,
            d.seed,
            d.threshold,
            bands,
            rows,
            d.verify,
            verify_threshold,
            d.partitions,
            d.max_rounds,
            tuple(d.keep),
            d.export_signatures,
            d.part_threshold,
            tuple(d.reference),
            d.row_threshold,
            d.short_shingles,
            d.short_answer_shingles,
            d.short_prompt_shingles,
            d.template_share,
            d.template_min_rows,
            d.order_threshold,
        )


def signature_params(params: DedupParams) -> dict[str, Any]:
    """What a later run needs to know to compare its signatures with these."""
    s = params.spec
    return {
        "text": params.text,
        "shingle": s.mode,
        "ngram": s.word_n,
        "char_ngram": s.char_n,
        "char_mode_share": s.spaceless_share,
        "num_perm": params.num_perm,
        "seed": params.seed,
        "verify": params.verify,  # exact and rouge_l need the reference rows' shingles or tokens
        "side_columns": list(SEQUENCE_COLUMNS.get(params.verify, ())),  # what the side files hold besides signatures
    }


def write_signature_params(output: str, params: DedupParams) -> None:
    files.write_atomically(
        files.join(output, "signatures", "params.json"), json.dumps(signature_params(params), indent=2).encode()
    )


def reference_files(params: DedupParams) -> dict[int, str]:
    """Shard indices for the signature files of `dedup.reference`, checked for compatibility."""
    found_files: list[str] = []
    mine = signature_params(params)
    for ref in params.reference:
        base = ref[: -len("params.json")] if ref.endswith("params.json") else ref
        try:
            theirs = json.loads(files.read_bytes(files.join(base, "params.json")))
        except Exception as e:
            raise ConfigError(
                f"config key dedup.reference: {base} has no params.json; give the signatures/ directory of a run "
                f"made with dedup.export_signatures: true ({e})"
            ) from e
        diff = {k: (theirs.get(k), mine[k]) for k in COMPATIBLE if theirs.get(k) != mine[k]}
        if diff:
            raise ConfigError(
                f"config key dedup.reference: signatures in {base} were made with other settings "
                f"({', '.join(f'{k}: {a!r} there, {b!r} here' for k, (a, b) in diff.items())}); use the same dedup settings"
            )
        found = files.match(files.join(base, "s*.parquet"))
        if not found:
            raise ConfigError(f"config key dedup.reference: no signature files (s*.parquet) in {base}")
        found_files.extend(found)
    return {REFERENCE_BASE + i: path for i, path in enumerate(found_files)}
