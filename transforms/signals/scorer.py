"""Score canonical record batches: text statistics, language ID, rules.

`Scorer` is built once per worker from the config; `score` is a pure
function of a batch (plus the loaded models) and returns the batch with
signal columns, `flags` and `severity` appended.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.arrow_bytes import hex_u64
from winnow.transforms.signals import classifiers as classify
from winnow.transforms.signals import code_checks
from winnow.transforms.signals import composite
from winnow.transforms.signals import fasttext_models as models
from winnow.transforms.signals import overlap
from winnow.transforms.signals import rules
from winnow.transforms.signals import safety
from winnow.transforms.signals import taxonomy
from winnow.transforms.signals import textstats
from winnow.transforms.config import ConfigError
from winnow.transforms.schema import CANONICAL
from winnow.transforms.textviews import conversation_text

TEXT_COLUMNS = ("turns", "system", "instruction", "input", "response", "meta")
DERIVED_TEXT = ("conversation",)


def signal_fields(config: dict[str, Any]) -> list[pa.Field]:
    """The signal columns a config produces, in output order."""
    fields = [pa.field("n_media", pa.int32())]
    for role in ("instruction", "response"):
        fields += [
            pa.field(f"{role}_chars", pa.int64()),
            pa.field(f"{role}_words", pa.int64()),
            pa.field(f"{role}_non_alpha_frac", pa.float32()),
        ]
    if config["signals"]["repetition"]:
        fields += [pa.field(f"response_{k}", pa.float32()) for k in ("dup_line_frac", "top_2gram_frac", "dup_5gram_frac")]
    if config["signals"]["langid"]["enabled"]:
        fields += [
            pa.field("lang", pa.string()),
            pa.field("lang_instruction", pa.string()),
            pa.field("lang_instruction_score", pa.float32()),
            pa.field("lang_response", pa.string()),
            pa.field("lang_response_score", pa.float32()),
        ]
    if config["signals"]["code_checks"]:
        for name in code_checks.COLUMNS:
            if name == "code_languages":
                fields.append(pa.field(name, pa.list_(pa.string())))
            elif name in ("code_fence_unbalanced", "media_placeholder_mismatch"):
                fields.append(pa.field(name, pa.bool_()))
            else:
                fields.append(pa.field(name, pa.int32()))
    if config["overlap"]["enabled"]:
        fields += [pa.field(n, pa.float32()) for n in ("rouge_l_instruction", "bleu_instruction", "response_token_entropy",
                                                         "response_token_entropy_norm")]
        if config["overlap"]["reference_field"]:
            fields += [pa.field("rouge_l_reference", pa.float32()), pa.field("bleu_reference", pa.float32())]
    if config["contamination"]["benchmarks"]:
        fields.append(pa.field("contamination_ngrams", pa.int32()))
    saf = config["safety"]
    if saf["pii"]:
        fields += [pa.field(f"pii_{k}", pa.int32()) for k in safety.PII_KINDS]
    fields += [pa.field(f"lexicon_{k}", pa.int32()) for k in saf["lexicons"]]
    fields += [pa.field(f"demographic_{k}", pa.int32()) for k in saf["demographics"]]
    if config["taxonomy"]["enabled"]:
        fields += [pa.field("topics", pa.list_(pa.string())), pa.field("relevance", pa.float32())]
    for spec in classify.specs_from_config(config):
        fields += [pa.field(spec.column, pa.float32()), pa.field(spec.entropy_column, pa.float32())]
    if config["composite"]["enabled"]:
        fields += [pa.field("composite", pa.float32()), pa.field("composite_explain", pa.string())]
    return fields


def scored_schema(config: dict[str, Any]) -> pa.Schema:
    base = [f for f in CANONICAL if config["output"]["include_text"] or f.name not in TEXT_COLUMNS]
    tail = [pa.field("flags", pa.list_(pa.string())), pa.field("severity", pa.string())]
    return pa.schema(base + signal_fields(config) + tail)


def check_rules_against_signals(rule_list: list[rules.Rule], config: dict[str, Any]) -> None:
    """Fail before reading data when a rule reads a column no enabled signal makes."""
    available = set(CANONICAL.names) | set(DERIVED_TEXT) | {f.name for f in signal_fields(config)}
    for rule in rule_list:
        missing = rules.columns_needed(rule.when) - available
        if missing:
            hint = ""
            if any(m.startswith("lang") for m in missing):
                hint = " (enable signals.langid.enabled)"
            elif any("dup" in m or "gram" in m for m in missing):
                hint = " (enable signals.repetition)"
            raise ConfigError(
                f"rule {rule.name} (pack {rule.pack}) reads {sorted(missing)}, which no enabled signal produces{hint}; "
                f"or switch the rule off with disable_rules: [{rule.name}]"
            )


class Scorer:
    """Everything needed to score batches, built once per worker."""

    def __init__(self, config: dict[str, Any], rule_list: list[rules.Rule]):
        self.config = config
        self.rules = rule_list
        self.schema = scored_schema(config)
        self._lid = None
        self.taxonomy = taxonomy.load_taxonomy(config["taxonomy"]["path"]) if config["taxonomy"]["enabled"] else None
        con = config["contamination"]
        self._contamination = (
            overlap.ContaminationIndex.from_files(con["benchmarks"], con["fields"] or None, con["ngram"])
            if con["benchmarks"]
            else None
        )
        # Seconds spent per stage, for the benchmark's per-stage table.
        self.timings: dict[str, float] = defaultdict(float)

    def _lid_model(self):
        if self._lid is None:
            self._lid = models.load_fasttext(self.config["signals"]["langid"]["model"])
        return self._lid

    def score(self, batch: pa.RecordBatch, base_dir: str | None = None) -> pa.RecordBatch:
        """Signals, flags and severity for one canonical batch.

        `base_dir` is the directory of the batch's input file: relative media
        paths are checked against it.
        """
        n = batch.num_rows
        cfg = self.config["signals"]
        cols: dict[str, pa.Array] = {name: batch.column(name) for name in batch.schema.names}
        t = time.perf_counter()
        cols["conversation"] = conversation_text(batch)
        cols["n_media"] = pc.list_value_length(batch.column("media")).cast(pa.int32())
        for role in ("instruction", "response"):
            stats = textstats.basic_stats(batch.column(role))
            cols[f"{role}_chars"] = pa.array(stats["chars"], pa.int64())
            cols[f"{role}_words"] = pa.array(stats["words"], pa.int64())
            cols[f"{role}_non_alpha_frac"] = pa.array(stats["non_alpha_frac"], pa.float32())
        t = self._tick("text_stats", t)
        if cfg["repetition"]:
            rep = textstats.repetition_stats(batch.column("response"))
            for key, values in rep.items():
                cols[f"response_{key}"] = pa.array(values, pa.float32())
            t = self._tick("repetition", t)
        if cfg["langid"]["enabled"]:
            self._language(batch, cols)
            t = self._tick("langid", t)
        if cfg["code_checks"]:
            types = {f.name: f.type for f in self.schema}
            for name, values in code_checks.code_and_tool_stats(batch, base_dir).items():
                cols[name] = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, types[name])
            t = self._tick("code and tool checks", t)
        if self.config["overlap"]["enabled"]:
            self._overlap(batch, cols)
            t = self._tick("overlap", t)
        if self._contamination is not None:
            cols["contamination_ngrams"] = pa.array(self._contamination.matches(cols["conversation"]), pa.int32())
            t = self._tick("contamination", t)
        saf = self.config["safety"]
        if saf["pii"]:
            for kind, counts in safety.pii_counts(cols["conversation"]).items():
                cols[f"pii_{kind}"] = pa.array(counts, pa.int32())
        for kind, counts in safety.lexicon_counts(cols["conversation"], saf["lexicons"]).items() if saf["lexicons"] else ():
            cols[f"lexicon_{kind}"] = pa.array(counts, pa.int32())
        for kind, counts in safety.demographic_counts(cols["conversation"], saf["demographics"]).items() if saf["demographics"] else ():
            cols[f"demographic_{kind}"] = pa.array(counts, pa.int32())
        if saf["pii"] or saf["lexicons"] or saf["demographics"]:
            t = self._tick("safety", t)
        if self.taxonomy is not None:
            cols["topics"], cols["relevance"] = taxonomy.match_topics(cols[self.config["taxonomy"]["field"]], self.taxonomy)
            t = self._tick("topics", t)
        fired = rules.evaluate_rules(self.rules, cols, n)
        cols["flags"], cols["severity"] = rules.flag_columns(self.rules, fired)
        t = self._tick("rules", t)
        specs = classify.specs_from_config(self.config)
        if specs:
            # The cascade: rows already condemned by a rule skip the expensive classifiers.
            skip_sev = self.config["cascade"]["skip_severities"]
            skip = pc.is_in(cols["severity"], value_set=pa.array(skip_sev, pa.string())).to_numpy(zero_copy_only=False)
            for spec in specs:
                cols[spec.column], cols[spec.entropy_column] = classify.classify(batch, spec, skip)
            t = self._tick("classifiers", t)
        comp = self.config["composite"]
        if comp["enabled"]:
            cols["composite"], cols["composite_explain"] = composite.composite(cols, comp["weights"], comp["warn_factor"])
            t = self._tick("composite", t)
        if saf["redact"] and self.config["output"]["include_text"]:
            _redact_text_columns(cols)
        return pa.RecordBatch.from_arrays([cols[f.name] for f in self.schema], schema=self.schema)

    def _overlap(self, batch: pa.RecordBatch, cols: dict[str, pa.Array]) -> None:
        """ROUGE-L (all rows) and BLEU (a stable sample) of the answer against the prompt, and
        against a reference answer when configured; token entropy of the answer."""
        ov = self.config["overlap"]
        n = batch.num_rows
        instruction, response = cols["instruction"], cols["response"]
        has_prompt = pc.not_equal(pc.utf8_trim_whitespace(pc.fill_null(instruction, "")), "").to_numpy(zero_copy_only=False)
        rl = overlap.rouge_l(response, instruction)
        cols["rouge_l_instruction"] = pa.array(rl, pa.float32(), mask=~has_prompt)
        buckets = (hex_u64(batch.column("content_hash")) >> np.uint64(32)) % np.uint64(10_000)
        sampled = (buckets < ov["bleu_sample"] * 10_000) & has_prompt
        bl = np.full(n, np.nan)
        if sampled.any():
            idx = pa.array(np.flatnonzero(sampled))
            bl[sampled] = overlap.bleu(response.take(idx), instruction.take(idx))
        cols["bleu_instruction"] = pa.array(bl, pa.float32(), mask=np.isnan(bl))
        cols["response_token_entropy"] = pa.array(overlap.token_entropy(response), pa.float32())
        cols["response_token_entropy_norm"] = pa.array(overlap.normalized_token_entropy(response), pa.float32())
        if ov["reference_field"]:
            refs = _meta_strings(batch.column("meta"), ov["reference_field"])
            known = pc.is_valid(refs).to_numpy(zero_copy_only=False)
            filled = pc.fill_null(refs, "")
            cols["rouge_l_reference"] = pa.array(overlap.rouge_l(response, filled), pa.float32(), mask=~known)
            cols["bleu_reference"] = pa.array(overlap.bleu(response, filled), pa.float32(), mask=~known)

    def _language(self, batch: pa.RecordBatch, cols: dict[str, pa.Array]) -> None:
        model = self._lid_model()
        max_chars = self.config["signals"]["langid"]["max_chars"]
        for role in ("instruction", "response"):
            texts = models.prepare_texts(batch.column(role).to_pylist(), max_chars)
            labels, probs = models.predict_top(model, texts)
            cols[f"lang_{role}"] = pa.array(labels, pa.string())
            cols[f"lang_{role}_score"] = pa.array(probs, pa.float32())
        # The row's language: the response's, unless the response is a few words
        # (or nothing) and the instruction says more: LID on "Ottawa." is noise.
        use_response = pc.and_(
            pc.not_equal(cols["lang_response"], ""),
            pc.or_(
                pc.greater_equal(cols["response_words"], 5),
                pc.greater_equal(cols["response_chars"], cols["instruction_chars"]),
            ),
        )
        cols["lang"] = pc.if_else(use_response, cols["lang_response"], cols["lang_instruction"])

    def _tick(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.timings[stage] += now - start
        return now


def _meta_strings(meta: pa.Array, field: str) -> pa.Array:
    """A string field of each row's meta JSON (null when absent or not a string)."""
    import orjson

    out = []
    for m in meta.to_pylist():
        value = orjson.loads(m).get(field) if m else None
        out.append(value if isinstance(value, str) else None)
    return pa.array(out, pa.string())


def _redact_text_columns(cols: dict[str, pa.Array]) -> None:
    """PII replaced by placeholders in every text column written to records/ (after all signals ran)."""
    for name in ("instruction", "input", "response", "system"):
        cols[name] = safety.redact(cols[name])
    turns = cols["turns"]
    values = turns.flatten()
    content = safety.redact(values.field("content"))
    structs = pa.StructArray.from_arrays([values.field("role"), content], names=["role", "content"])
    cols["turns"] = pa.ListArray.from_arrays(turns.offsets, structs)


def fired_counts(scored: pa.RecordBatch) -> dict[str, int]:
    """How many rows each rule flagged in a scored batch."""
    flat = pc.list_flatten(scored.column("flags"))
    if len(flat) == 0:
        return {}
    vc = pc.value_counts(flat)
    return {v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"))}
